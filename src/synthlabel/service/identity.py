"""Real-identity binding (实名) of providers' users, with pluggable verifiers.

A :class:`Verifier` checks an identifier (a resident ID number, a mobile number, a unified
social credit code) and says whether it is verified. Verifiers are found by name: the built-in
``format-check`` plus any installed under the entry point group
``synthlabel.identity_verifiers`` (an object or a zero-argument factory returning one), e.g.
an adapter to a carrier's or the national network-identity service.

:func:`bind` stores only a keyed hash of the identifier (HMAC-SHA256 under the service secret:
the same number gives the same pseudonym, so duplicate bindings can be found, but the number
cannot be read back), its last 4 characters, and the verification result. The raw number is
never written to the database, the audit log or a log line, and no error message repeats it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from importlib.metadata import entry_points
from typing import Protocol, runtime_checkable

from sqlalchemy.orm import Session

from synthlabel.service.db.models import IdentityBinding
from synthlabel.service.db.types import utcnow

ENTRY_POINT_GROUP = "synthlabel.identity_verifiers"
ID_KINDS = ("resident_id", "mobile", "credit_code")


@dataclass(frozen=True)
class VerificationResult:
    ok: bool
    reason: str  # a plain-language reason; never contains the identifier
    reference: str | None = None  # the verifier's own reference (a transaction id), if any


@runtime_checkable
class Verifier(Protocol):
    """Checks an identifier of one of its ``id_kinds``."""

    name: str
    id_kinds: tuple[str, ...]

    def verify(self, id_kind: str, value: str) -> VerificationResult: ...


class IdentityError(ValueError):
    """The binding cannot be made as asked (never names the identifier)."""


# --- the built-in format check ------------------------------------------------------------------

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_MOBILE_RE = re.compile(r"^(?:\+?86)?1[3-9]\d{9}$")


def resident_id_check(value: str) -> str | None:
    """None when ``value`` is a well-formed GB 11643 citizen ID number, else why not."""
    if len(value) != 18:
        return "a resident ID number has 18 characters"
    if not value[:17].isdigit() or not (value[17].isdigit() or value[17] == "X"):
        return "a resident ID number is 17 digits and a digit or X"
    try:
        born = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return "the date of birth in the ID number is not a date"
    if born.year < 1880 or born > date.today():
        return "the date of birth in the ID number is out of range"
    total = sum(int(c) * w for c, w in zip(value[:17], _ID_WEIGHTS, strict=True))
    if _ID_CHECK[total % 11] != value[17]:
        return "the check digit of the ID number is wrong"
    return None


def credit_code_check(value: str) -> str | None:
    """None when ``value`` is a well-formed GB 32100 unified social credit code."""
    if len(value) != 18 or any(c not in _USCC_CHARS for c in value):
        return "a unified social credit code has 18 characters of 0-9 and A-Y (no I O S V Z)"
    total = sum(_USCC_CHARS.index(c) * w for c, w in zip(value[:17], _USCC_WEIGHTS, strict=True))
    if _USCC_CHARS[(31 - total % 31) % 31] != value[17]:
        return "the check character of the credit code is wrong"
    return None


def normalise(id_kind: str, value: str) -> str:
    value = re.sub(r"[\s-]", "", value).upper()
    if id_kind == "mobile":
        value = value.removeprefix("+86").removeprefix("86") if len(value) > 11 else value
    return value


class FormatCheckVerifier:
    """Checks the format and check digit only (GB 11643 ID numbers, GB 32100 credit codes,
    mainland mobile numbers): it proves a number is well formed, not that it is the user's."""

    name = "format-check"
    id_kinds: tuple[str, ...] = ID_KINDS

    def verify(self, id_kind: str, value: str) -> VerificationResult:
        if id_kind == "resident_id":
            why = resident_id_check(value)
        elif id_kind == "credit_code":
            why = credit_code_check(value)
        elif id_kind == "mobile":
            why = None if _MOBILE_RE.match(value) else "not a mainland mobile number (1[3-9] + 9)"
        else:
            why = f"format-check does not check {id_kind!r}"
        return VerificationResult(why is None, why or "well formed (format and check digit)")


# --- discovery ----------------------------------------------------------------------------------


def verifiers() -> dict[str, Verifier]:
    """Every verifier by name: the built-in and those of the entry point group."""
    found: dict[str, Verifier] = {FormatCheckVerifier.name: FormatCheckVerifier()}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in found:
            continue
        try:
            obj = ep.load()
            inst = (
                obj()
                if isinstance(obj, type) or (callable(obj) and not hasattr(obj, "verify"))
                else obj
            )
        except Exception:  # a broken plug-in must not take the service down
            continue
        if isinstance(inst, Verifier):
            found[ep.name] = inst
    return found


def get_verifier(name: str) -> Verifier:
    found = verifiers()
    if name not in found:
        raise IdentityError(
            f"verifier: {name!r} is not installed (have {', '.join(sorted(found))})"
        )
    return found[name]


# --- binding ----------------------------------------------------------------------------------


def pseudonym(secret: str, id_kind: str, value: str) -> str:
    """HMAC-SHA256 of the normalised identifier under the service secret (hex)."""
    msg = f"synthlabel-identity:{id_kind}:{normalise(id_kind, value)}".encode()
    return hmac.new(secret.encode(), msg, hashlib.sha256).hexdigest()


def hint(value: str) -> str:
    """The last 4 characters, the rest masked."""
    return "*" * 4 + value[-4:] if len(value) > 4 else "*" * 4


@dataclass(frozen=True)
class BindingOutcome:
    binding: IdentityBinding
    reason: str


def bind(
    session: Session,
    secret: str,
    *,
    subject_ref: str,
    id_kind: str,
    value: str,
    verifier: str = FormatCheckVerifier.name,
    user_id: int | None = None,
    provider_id: int | None = None,
    now: datetime | None = None,
    lookup: Callable[[str], Verifier] = get_verifier,
) -> BindingOutcome:
    """Verify ``value`` and record the binding (verified or failed); the raw value is dropped."""
    if id_kind not in ID_KINDS:
        raise IdentityError(f"id_kind: {id_kind!r} is not one of {', '.join(ID_KINDS)}")
    v = lookup(verifier)
    if id_kind not in v.id_kinds:
        raise IdentityError(f"verifier {verifier!r} does not check {id_kind}")
    clean = normalise(id_kind, value)
    try:
        result = v.verify(id_kind, clean)
    except Exception as exc:  # a plug-in's failure is a failed verification, not a 500
        result = VerificationResult(False, f"the verifier failed: {type(exc).__name__}")
    now = now or utcnow()
    binding = IdentityBinding(
        subject_ref=subject_ref,
        user_id=user_id,
        provider_id=provider_id,
        verifier=verifier,
        id_kind=id_kind,
        id_hash=pseudonym(secret, id_kind, clean),
        id_hint=hint(clean),
        status="verified" if result.ok else "failed",
        verifier_ref=result.reference,
        verified_at=now if result.ok else None,
        created_at=now,
    )
    session.add(binding)
    session.flush()
    return BindingOutcome(binding, result.reason)
