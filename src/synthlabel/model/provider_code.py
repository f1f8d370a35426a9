"""Service-provider codes (服务提供者编码, TC260-PG-20252A): build, parse, validate, classify.

Layout (27 characters, ``[0-9A-Z]``)::

    00  T  B  SSSSSSSSSSSSSSSSSS  V  MMMM
    fmt    |  subject code (18)   |  model/application code
       subject type               service type (1 generation, 2 dissemination)
          binding method

The subject code is a Unified Social Credit Code (GB 32100-2015) for organisations
(subject type ``1``) or a resident ID number (GB 11643-1999) for individuals (type ``2``).
Positions 23-27 are ``00000`` when the provider does not use the service extension.

This module assembles and checks codes; it never fabricates a subject code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from synthlabel.errors import ProviderCodeError

__all__ = [
    "CODE_LENGTH",
    "ProviderCode",
    "ProviderCodeParts",
    "classify",
    "id_number_check_char",
    "is_valid_id_number",
    "is_valid_uscc",
    "mask_personal",
    "uscc_check_char",
    "validate",
]

CODE_LENGTH = 27
FORMAT_CODE = "00"

SUBJECT_ORGANISATION = "1"
SUBJECT_INDIVIDUAL = "2"
SERVICE_GENERATION = "1"
SERVICE_DISSEMINATION = "2"
NO_EXTENSION = "00000"

_SUBJECT_NAMES = {SUBJECT_ORGANISATION: "organisation", SUBJECT_INDIVIDUAL: "individual"}
_SERVICE_NAMES = {SERVICE_GENERATION: "generation", SERVICE_DISSEMINATION: "dissemination"}

_CODE_CHARS = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")

# GB 32100-2015: 31-symbol alphabet (no I, O, Z, S, V); weights 3^(i-1) mod 31.
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_VALUE = {c: i for i, c in enumerate(USCC_ALPHABET)}
_USCC_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))

# GB 11643-1999.
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"

Role = Literal["producer", "propagator"]
Classification = Literal["code_valid", "code_invalid", "name"]


# ---------------------------------------------------------------------------------------
# Subject-code check characters
# ---------------------------------------------------------------------------------------
def uscc_check_char(first17: str) -> str:
    """The GB 32100 check character for the first 17 characters of a USCC."""
    if len(first17) != 17:
        raise ValueError("a USCC body has 17 characters")
    total = 0
    for i, c in enumerate(first17):
        if c not in _USCC_VALUE:
            raise ValueError(f"{c!r} is not a USCC character")
        total += _USCC_VALUE[c] * _USCC_WEIGHTS[i]
    return USCC_ALPHABET[(31 - total % 31) % 31]


def _uscc_problem(value: str) -> str | None:
    if len(value) != 18:
        return f"USCC must have 18 characters, got {len(value)}"
    for i, c in enumerate(value):
        if c not in _USCC_VALUE:
            return (
                f"USCC character {i + 1} is {c!r}, which is not in the GB 32100 alphabet "
                f"{USCC_ALPHABET} (I, O, S, V, Z are never used)"
            )
    expected = uscc_check_char(value[:17])
    if value[17] != expected:
        return f"wrong USCC check character: expected {expected} got {value[17]}"
    return None


def is_valid_uscc(value: str) -> bool:
    """True when ``value`` is an 18-character USCC with a correct GB 32100 check character."""
    return _uscc_problem(value) is None


def id_number_check_char(first17: str) -> str:
    """The GB 11643 check character for the first 17 digits of a resident ID number."""
    if len(first17) != 17 or not first17.isascii() or not first17.isdigit():
        raise ValueError("a resident ID body has 17 digits")
    total = sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11]


def _id_problem(value: str) -> str | None:
    if len(value) != 18:
        return f"resident ID number must have 18 characters, got {len(value)}"
    body = value[:17]
    if not (body.isascii() and body.isdigit()):
        bad = next(i for i, c in enumerate(body) if not ("0" <= c <= "9"))
        return f"resident ID character {bad + 1} is {body[bad]!r}, expected a digit"
    expected = id_number_check_char(body)
    if value[17] != expected:
        return f"wrong resident ID check character: expected {expected} got {value[17]}"
    return None


def is_valid_id_number(value: str) -> bool:
    """True when ``value`` is an 18-character resident ID number with a correct check char."""
    return _id_problem(value) is None


# ---------------------------------------------------------------------------------------
# Parts
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ProviderCodeParts:
    """A decoded provider code."""

    format: str  # positions 1-2, "00"
    subject_type: str  # position 3: "1" organisation, "2" individual
    binding: str  # position 4: "1" bound to USCC / ID number
    subject_id: str  # positions 5-22: USCC or resident ID number
    service_type: str | None  # position 23: "1", "2"; None when the extension is "00000"
    model_code: str | None  # positions 24-27; None when the extension is "00000"
    warnings: tuple[str, ...] = field(default_factory=tuple)

    @property
    def code(self) -> str:
        ext = (
            NO_EXTENSION
            if self.service_type is None
            else (self.service_type + (self.model_code or "0000"))
        )
        return self.format + self.subject_type + self.binding + self.subject_id + ext

    @property
    def is_personal(self) -> bool:
        """True for an individual's code (embeds a resident ID number: personal data)."""
        return self.subject_type == SUBJECT_INDIVIDUAL

    @property
    def subject_kind(self) -> str:
        return _SUBJECT_NAMES.get(self.subject_type, "unknown")

    @property
    def service_kind(self) -> str:
        if self.service_type is None:
            return "none"
        return _SERVICE_NAMES.get(self.service_type, "unknown")

    def masked(self) -> str:
        """The code with an individual's ID number masked (see :func:`mask_personal`)."""
        return mask_personal(self.code)


def _norm_digit(value: int | str, what: str, part: str) -> str:
    s = str(value).strip()
    if len(s) != 1 or s not in _CODE_CHARS:
        raise ProviderCodeError(f"{what} must be one character [0-9A-Z], got {value!r}", part=part)
    return s


class ProviderCode:
    """Namespace for building and parsing provider codes."""

    @staticmethod
    def build(
        subject_type: int | str,
        binding: int | str,
        subject_id: str,
        service_type: int | str | None = None,
        model_code: str | None = None,
        *,
        normalise: bool = False,
    ) -> str:
        """Assemble a 27-character code from operator-supplied parts.

        ``subject_id`` must be a real, valid USCC (``subject_type`` 1) or resident ID number
        (``subject_type`` 2). ``service_type`` None gives the extension ``00000``; otherwise
        ``model_code`` (4 characters ``[0-9A-Z]``, default ``0000``) follows it. Lower-case
        model codes are rejected unless ``normalise=True``.
        """
        st = _norm_digit(subject_type, "subject type", "subject_type")
        if st not in _SUBJECT_NAMES:
            raise ProviderCodeError(
                f"subject type must be 1 (organisation) or 2 (individual), got {st!r}",
                part="subject_type",
            )
        bd = _norm_digit(binding, "binding method", "binding")
        if bd != "1":
            raise ProviderCodeError(
                f"binding method must be 1 (bound to USCC / ID number), got {bd!r}",
                part="binding",
            )
        sid = subject_id.strip()
        if normalise:
            sid = sid.upper()
        problem = _uscc_problem(sid) if st == SUBJECT_ORGANISATION else _id_problem(sid)
        if problem:
            raise ProviderCodeError(problem, part="subject_code")
        if service_type is None:
            if model_code not in (None, "", "0000"):
                raise ProviderCodeError(
                    "a model code needs a service type (1 generation or 2 dissemination)",
                    part="service_type",
                )
            ext = NO_EXTENSION
        else:
            sv = _norm_digit(service_type, "service type", "service_type")
            if sv not in _SERVICE_NAMES:
                raise ProviderCodeError(
                    f"service type must be 1 (generation) or 2 (dissemination), got {sv!r}",
                    part="service_type",
                )
            mc = "0000" if model_code is None else model_code
            if normalise:
                mc = mc.strip().upper()
            if len(mc) != 4:
                raise ProviderCodeError(
                    f"model code must have exactly 4 characters, got {len(mc)} ({mc!r})",
                    part="model_code",
                )
            bad = [c for c in mc if c not in _CODE_CHARS]
            if bad:
                hint = (
                    " (use normalise=True to upper-case)"
                    if all(c.upper() in _CODE_CHARS for c in bad)
                    else ""
                )
                raise ProviderCodeError(
                    f"model code {mc!r} may only contain digits and upper-case letters; "
                    f"bad character {bad[0]!r}{hint}",
                    part="model_code",
                )
            ext = sv + mc
        code = FORMAT_CODE + st + bd + sid + ext
        assert len(code) == CODE_LENGTH
        return code

    @staticmethod
    def parse(code: str) -> ProviderCodeParts:
        """Decode a code. Raises :class:`ProviderCodeError` when the length/charset or the
        subject code is wrong; unknown format, subject type, binding or service type become
        warnings."""
        return _parse(code, strict=False)

    @staticmethod
    def validate(code: str, *, role: Role | None = None) -> ProviderCodeParts:
        """Strict check; see :func:`validate`."""
        return validate(code, role=role)


def _charset_problem(code: str) -> str | None:
    if len(code) != CODE_LENGTH:
        return f"provider code must have {CODE_LENGTH} characters, got {len(code)}"
    for i, c in enumerate(code):
        if c not in _CODE_CHARS:
            return (
                f"provider code character {i + 1} is {c!r}; only digits and upper-case "
                "letters are allowed"
            )
    return None


def _parse(code: str, *, strict: bool) -> ProviderCodeParts:
    problem = _charset_problem(code)
    if problem:
        raise ProviderCodeError(problem, part="length/charset", code=code)
    warnings: list[str] = []

    def issue(message: str, part: str) -> None:
        if strict:
            raise ProviderCodeError(message, part=part, code=code)
        warnings.append(message)

    fmt, st, bd, sid, ext = code[0:2], code[2], code[3], code[4:22], code[22:27]
    if fmt != FORMAT_CODE:
        issue(f"unknown format-definition code {fmt!r} (expected '00')", "format")
    if st == SUBJECT_ORGANISATION:
        p = _uscc_problem(sid)
        if p:
            raise ProviderCodeError(p, part="subject_code", code=code)
    elif st == SUBJECT_INDIVIDUAL:
        p = _id_problem(sid)
        if p:
            raise ProviderCodeError(p, part="subject_code", code=code)
    else:
        issue(
            f"unknown subject type {st!r} (expected 1 organisation or 2 individual)",
            "subject_type",
        )
    if bd != "1":
        # Not fatal even in strict mode: only "1" is documented, others may come later.
        warnings.append(f"unknown binding method {bd!r} (only 1 is documented)")
    service: str | None
    model: str | None
    if ext == NO_EXTENSION:
        service, model = None, None
    else:
        service, model = ext[0], ext[1:]
        if service == "0":
            issue(
                f"model code {model!r} given without a service type (extension {ext!r}; "
                "use 00000 or a service type 1/2)",
                "model_code",
            )
        elif service not in _SERVICE_NAMES:
            issue(
                f"unknown service type {service!r} (expected 1 generation or 2 dissemination)",
                "service_type",
            )
    return ProviderCodeParts(
        format=fmt,
        subject_type=st,
        binding=bd,
        subject_id=sid,
        service_type=service,
        model_code=model,
        warnings=tuple(warnings),
    )


def validate(code: str, *, role: Role | None = None) -> ProviderCodeParts:
    """Strict validation. Raises :class:`ProviderCodeError` whose ``part`` is one of
    ``length/charset``, ``format``, ``subject_type``, ``subject_code``, ``service_type``,
    ``model_code``. An unknown binding method and a role mismatch (``role="producer"`` with
    service type 2, or ``"propagator"`` with 1; seen in real files) are returned as warnings.
    """
    parts = _parse(code, strict=True)
    if role is not None and parts.service_type is not None:
        expected = SERVICE_GENERATION if role == "producer" else SERVICE_DISSEMINATION
        if parts.service_type != expected:
            warnings = (
                *parts.warnings,
                f"code has service type {parts.service_type} "
                f"({parts.service_kind}) but is used as {role}",
            )
            parts = ProviderCodeParts(
                format=parts.format,
                subject_type=parts.subject_type,
                binding=parts.binding,
                subject_id=parts.subject_id,
                service_type=parts.service_type,
                model_code=parts.model_code,
                warnings=warnings,
            )
    return parts


_CODE_LIKE = re.compile(r"[0-9A-Za-z]{20,34}")


def _looks_like_code(value: str) -> bool:
    if len(value) == CODE_LENGTH and all(c in _CODE_CHARS for c in value):
        return True
    if not _CODE_LIKE.fullmatch(value):
        return False
    digits = sum(c.isdigit() for c in value)
    return value.startswith("00") or digits * 2 >= len(value)


def classify(value: str) -> Classification:
    """``code_valid`` (passes :func:`validate`), ``code_invalid`` (looks like a code but
    fails), or ``name`` (a provider name such as ``doubao``)."""
    v = value.strip()
    if not _looks_like_code(v):
        return "name"
    try:
        validate(v)
    except ProviderCodeError:
        return "code_invalid"
    return "code_valid"


def mask_personal(code: str) -> str:
    """Mask the ID number inside an individual's code (subject type 2) for display and logs:
    the first 6 and last 4 characters of the subject code stay, the 8 between become ``*``.
    Other values are returned unchanged."""
    if len(code) != CODE_LENGTH or code[2] != SUBJECT_INDIVIDUAL:
        return code
    sid = code[4:22]
    return code[:4] + sid[:6] + "*" * 8 + sid[14:] + code[22:]
