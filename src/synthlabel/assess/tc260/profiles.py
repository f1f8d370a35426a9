"""Versioned threshold profiles: asset sizes (K1, Q1–Q3) and gates (E1–E5) as data.

A profile is a TOML file (``profiles/<id>.toml`` shipped, or a user's path), so a new edition
of GB/T 45654 is a new file and no code change. :func:`load_profile` validates every key and
names the file and the key in its errors.
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from synthlabel.assess.tc260.taxonomy import CATEGORIES, CORE_RISKS, RISKS
from synthlabel.errors import SynthlabelError

BANK_KINDS = ("generated", "must_refuse", "must_not_refuse")
BankKind = Literal["generated", "must_refuse", "must_not_refuse"]
Method = Literal["human", "keywords", "classifier", "refusal"]
METHODS = ("human", "keywords", "classifier", "refusal")
DEFAULT_PROFILE = "tc260-003-2024"


class ProfileError(SynthlabelError):
    """A profile is missing, unreadable or has a bad key."""


@dataclass(frozen=True)
class AssetRule:
    """Size and coverage a bank (or the keyword library) must reach."""

    asset: str  # "keywords" | a bank kind
    min_total: int
    risks: tuple[str, ...] = ()  # risk ids that must be covered
    min_per_risk: dict[str, int] = field(default_factory=dict)  # risk id -> minimum
    min_per_aspect: int = 0  # Q3: minimum per aspect (0: not checked)


@dataclass(frozen=True)
class Gate:
    id: str  # "E1"
    name_zh: str
    name_en: str
    bank: BankKind
    method: Method
    min_sample: int
    measure: Literal["qualified", "refused"]
    threshold: float  # a fraction, 0.9 for 90 %
    direction: Literal["min", "max"]  # the rate must be >= (min) or <= (max) the threshold

    @property
    def label(self) -> str:
        return f"{self.id} {self.name_zh} / {self.name_en}"

    def meets(self, rate: float) -> bool:
        # The standard's gate uses the point estimate; compare with a little slack for floats.
        if self.direction == "min":
            return rate >= self.threshold - 1e-12
        return rate <= self.threshold + 1e-12

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name_zh": self.name_zh,
            "name_en": self.name_en,
            "bank": self.bank,
            "method": self.method,
            "min_sample": self.min_sample,
            "measure": self.measure,
            "threshold": self.threshold,
            "direction": self.direction,
        }


@dataclass(frozen=True)
class Profile:
    id: str
    standard: str
    edition: str
    version: int
    assets: dict[str, AssetRule]
    gates: dict[str, Gate]
    source: str  # where it was loaded from
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "standard": self.standard,
            "edition": self.edition,
            "profile_version": self.version,
            "source": self.source,
            "sha256": self.sha256,
            "gates": [g.to_dict() for g in self.gates.values()],
        }


def builtin_profiles() -> list[str]:
    root = resources.files("synthlabel.assess.tc260") / "profiles"
    return sorted(p.name[:-5] for p in root.iterdir() if p.name.endswith(".toml"))


def load_profile(ref: str | Path | None = None) -> Profile:
    """A shipped profile by id (``tc260-003-2024``, ``gbt45654-2025``) or a TOML file."""
    ref = ref or DEFAULT_PROFILE
    text: bytes
    source: str
    if isinstance(ref, Path) or str(ref).endswith(".toml") or "/" in str(ref):
        path = Path(ref)
        source = str(path)
        try:
            text = path.read_bytes()
        except OSError as exc:
            raise ProfileError(f"cannot read the profile: {exc.strerror}", path=source) from None
    else:
        name = str(ref)
        res = resources.files("synthlabel.assess.tc260") / "profiles" / f"{name}.toml"
        if not res.is_file():
            known = ", ".join(builtin_profiles())
            raise ProfileError(f"unknown profile {name!r} (known: {known}; or a .toml file)")
        text = res.read_bytes()
        source = f"builtin:{name}"
    try:
        doc = tomllib.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ProfileError(f"not valid TOML: {exc}", path=source) from None
    return _parse(doc, source, hashlib.sha256(text).hexdigest())


def _parse(doc: dict[str, Any], source: str, sha: str) -> Profile:
    def bad(key: str, problem: str) -> ProfileError:
        return ProfileError(f"{key}: {problem}", path=source)

    def get(d: dict[str, Any], key: str, typ: type, where: str, default: Any = ...) -> Any:
        if key not in d:
            if default is ...:
                raise bad(f"{where}{key}", "missing")
            return default
        v = d[key]
        if typ is float and isinstance(v, int) and not isinstance(v, bool):
            v = float(v)
        if not isinstance(v, typ) or (isinstance(v, bool) and typ is not bool):
            raise bad(f"{where}{key}", f"expected {typ.__name__}, found {type(v).__name__}")
        return v

    pid = get(doc, "id", str, "")
    assets: dict[str, AssetRule] = {}
    for name, a in dict(get(doc, "assets", dict, "")).items():
        where = f"assets.{name}."
        if name not in ("keywords", *BANK_KINDS):
            raise bad(f"assets.{name}", "unknown asset (keywords, generated, must_refuse, ...)")
        if not isinstance(a, dict):
            raise bad(f"assets.{name}", "expected a table")
        min_total = get(a, "min_total", int, where)
        scope = get(a, "risks", str, where, "none")
        if scope not in ("core", "all", "none"):
            raise bad(f"{where}risks", f"expected core, all or none, found {scope!r}")
        risks = CORE_RISKS if scope == "core" else tuple(RISKS) if scope == "all" else ()
        per_cat = dict(get(a, "min_per_risk", dict, where, {}))
        per_risk: dict[str, int] = {}
        for key, n in per_cat.items():
            if not isinstance(n, int) or isinstance(n, bool) or n < 0:
                raise bad(f"{where}min_per_risk.{key}", "expected a non-negative integer")
            if key in CATEGORIES:
                per_risk.update({r: n for r in risks if RISKS[r].category == key})
            elif key in RISKS:
                per_risk[key] = n
            else:
                raise bad(f"{where}min_per_risk.{key}", "not a risk category (A1..A5) or risk id")
        per_aspect = get(a, "min_per_aspect", int, where, 0)
        unknown = set(a) - {"min_total", "risks", "min_per_risk", "min_per_aspect"}
        if unknown:
            raise bad(f"{where}{sorted(unknown)[0]}", "unknown key")
        assets[name] = AssetRule(name, min_total, risks, per_risk, per_aspect)
    gates: dict[str, Gate] = {}
    for gid, g in dict(get(doc, "gates", dict, "")).items():
        where = f"gates.{gid}."
        if not isinstance(g, dict):
            raise bad(f"gates.{gid}", "expected a table")
        bank = get(g, "bank", str, where)
        if bank not in BANK_KINDS:
            raise bad(f"{where}bank", f"expected one of {', '.join(BANK_KINDS)}, found {bank!r}")
        method = get(g, "method", str, where)
        if method not in METHODS:
            raise bad(f"{where}method", f"expected one of {', '.join(METHODS)}, found {method!r}")
        measure = get(g, "measure", str, where)
        if measure not in ("qualified", "refused"):
            raise bad(f"{where}measure", f"expected qualified or refused, found {measure!r}")
        if (method == "refusal") != (measure == "refused"):
            raise bad(f"{where}measure", "refusal gates measure 'refused', the others 'qualified'")
        threshold = get(g, "threshold", float, where)
        if not 0.0 <= threshold <= 1.0:
            raise bad(f"{where}threshold", f"a fraction between 0 and 1, found {threshold}")
        direction = get(g, "direction", str, where)
        if direction not in ("min", "max"):
            raise bad(f"{where}direction", f"expected min or max, found {direction!r}")
        min_sample = get(g, "min_sample", int, where)
        if min_sample < 1:
            raise bad(f"{where}min_sample", "must be at least 1")
        unknown = set(g) - {
            "name_zh",
            "name_en",
            "bank",
            "method",
            "min_sample",
            "measure",
            "threshold",
            "direction",
        }
        if unknown:
            raise bad(f"{where}{sorted(unknown)[0]}", "unknown key")
        gates[gid] = Gate(
            id=gid,
            name_zh=get(g, "name_zh", str, where, gid),
            name_en=get(g, "name_en", str, where, gid),
            bank=bank,
            method=method,
            min_sample=min_sample,
            measure=measure,
            threshold=threshold,
            direction=direction,
        )
    if not gates:
        raise bad("gates", "a profile needs at least one gate")
    return Profile(
        id=pid,
        standard=get(doc, "standard", str, "", pid),
        edition=get(doc, "edition", str, "", ""),
        version=get(doc, "profile_version", int, "", 1),
        assets=assets,
        gates=gates,
        source=source,
        sha256=sha,
    )
