"""Conformance profiles: YAML files naming the rules a generation service's outputs must meet.

A profile is data only; every rule names a registered check (:mod:`synthlabel.assess._checks`)
and sets its severity, the media kinds it applies to and its parameters. The format
(``docs/assess.md``)::

    schema: synthlabel.profile/1
    id: gb45438
    version: 1
    title: {en: GB 45438-2025 labels, zh: GB 45438-2025 标识}
    extends: other-profile          # optional: a built-in name or a path (relative to this file)
    rules:
      - id: explicit.caption.size   # the check of that id, unless ``check:`` names another
        title: {en: Caption size, zh: 文字提示高度}
        clause: GB 45438-2025 §5.2
        severity: error             # error | warning
        applies_to: [image, video]  # default: every kind the check supports
        params: {min_ratio: 0.05}

With ``extends``, a rule whose id the parent has changes only the fields given (``params``
merge key by key); new ids are added after the parent's rules; ``remove: [ids]`` drops
parent rules. Every error names the file and the key.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from synthlabel.assess._checks import CHECKS, KINDS, CheckSpec, Param
from synthlabel.errors import SynthlabelError

PROFILE_SCHEMA = "synthlabel.profile/1"
DEFAULT_PROFILE = "gb45438"
SEVERITIES = ("error", "warning")
MAX_PROFILE_BYTES = 1024 * 1024
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")
_TOP_KEYS = {"schema", "id", "version", "title", "description", "extends", "remove", "rules"}
_RULE_KEYS = {"id", "check", "title", "clause", "severity", "applies_to", "params"}


class ProfileError(SynthlabelError):
    """A profile that cannot be used: unreadable, not YAML, or breaking the format."""


@dataclass(frozen=True)
class Rule:
    id: str
    check: str
    title_en: str
    title_zh: str
    clause: str
    severity: str
    applies_to: tuple[str, ...]
    params: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "check": self.check,
            "title": {"en": self.title_en, "zh": self.title_zh},
            "clause": self.clause,
            "severity": self.severity,
            "applies_to": list(self.applies_to),
            "params": dict(self.params),
        }


@dataclass(frozen=True)
class Profile:
    id: str
    version: int
    title_en: str
    title_zh: str
    description: str
    source: str  # "built-in" or the file path
    rules: tuple[Rule, ...]

    @property
    def ref(self) -> str:
        return f"{self.id}/{self.version}"

    def rule(self, rule_id: str) -> Rule:
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise KeyError(rule_id)

    def to_dict(self) -> dict[str, Any]:
        """The resolved profile (parents merged, defaults filled): loadable again as YAML."""
        return {
            "schema": PROFILE_SCHEMA,
            "id": self.id,
            "version": self.version,
            "title": {"en": self.title_en, "zh": self.title_zh},
            "description": self.description,
            "rules": [r.to_dict() for r in self.rules],
        }


def builtin_profiles() -> list[str]:
    """Names of the profiles shipped with synthlabel."""
    folder = resources.files("synthlabel.assess").joinpath("profiles")
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def _is_builtin(ref: str) -> bool:
    return "/" not in ref and "\\" not in ref and not ref.endswith((".yaml", ".yml"))


def _read(ref: str, base: Path | None) -> tuple[str, str, Path | None]:
    """(text, source name, directory for relative ``extends``)."""
    if _is_builtin(ref):
        if ref not in builtin_profiles():
            known = ", ".join(builtin_profiles())
            raise ProfileError(f"unknown profile {ref!r} (built-in: {known}; or a .yaml path)")
        res = resources.files("synthlabel.assess").joinpath("profiles", f"{ref}.yaml")
        return res.read_text(encoding="utf-8"), f"{ref} (built-in)", None
    path = Path(ref)
    if base is not None and not path.is_absolute():
        path = base / path
    try:
        if path.stat().st_size > MAX_PROFILE_BYTES:
            raise ProfileError(f"{path}: profile larger than {MAX_PROFILE_BYTES} bytes")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProfileError(f"{path}: no such profile file") from None
    except UnicodeDecodeError:
        raise ProfileError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise ProfileError(f"{path}: cannot read: {exc.strerror}") from None
    return text, str(path), path.parent


def _parse_yaml(text: str, source: str) -> dict[str, Any]:
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ProfileError(f"{source}: not valid YAML{where}: {problem}") from None
    if not isinstance(doc, dict):
        raise ProfileError(f"{source}: a profile is a YAML mapping (id, version, rules, ...)")
    return doc


def _title(value: Any, source: str, key: str) -> tuple[str, str]:
    if isinstance(value, str) and value.strip():
        return value, value
    if isinstance(value, dict):
        bad = set(value) - {"en", "zh"}
        if bad:
            raise ProfileError(f"{source}: {key}: unknown language(s) {sorted(map(str, bad))}")
        en, zh = value.get("en"), value.get("zh")
        if not isinstance(en, str) or not en.strip():
            raise ProfileError(f"{source}: {key}.en: an English title is required")
        if zh is not None and not isinstance(zh, str):
            raise ProfileError(f"{source}: {key}.zh: expected text")
        return en, zh or en
    raise ProfileError(f"{source}: {key}: expected a title {{en: ..., zh: ...}}")


def coerce_param(spec: Param, value: Any, where: str) -> Any:
    """``value`` checked against ``spec`` (numbers widened to float); ProfileError otherwise."""
    t = spec.type
    if t == "bool":
        if not isinstance(value, bool):
            raise ProfileError(f"{where}: expected true or false, got {value!r}")
        return value
    if t in ("float", "int"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ProfileError(f"{where}: expected a number, got {value!r}")
        if t == "int" and not float(value).is_integer():
            raise ProfileError(f"{where}: expected a whole number, got {value!r}")
        num: float | int = int(value) if t == "int" else float(value)
        low = spec.min is not None and num < spec.min
        high = spec.max is not None and num > spec.max
        if low or high:
            lo = "" if spec.min is None else f"{spec.min:g}"
            hi = "" if spec.max is None else f"{spec.max:g}"
            raise ProfileError(f"{where}: {value!r} is outside the range {lo}..{hi}")
        return num
    if t == "str":
        if not isinstance(value, str):
            raise ProfileError(f"{where}: expected text, got {value!r}")
        if spec.choices and value not in spec.choices:
            raise ProfileError(f"{where}: {value!r} is not one of {', '.join(spec.choices)}")
        return value
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise ProfileError(f"{where}: expected a non-empty list, got {value!r}")
    out = []
    for item in value:
        s = str(item) if isinstance(item, int) and not isinstance(item, bool) else item
        if not isinstance(s, str):
            raise ProfileError(f"{where}: list items are text, got {item!r}")
        if spec.choices and s not in spec.choices:
            raise ProfileError(f"{where}: {s!r} is not one of {', '.join(spec.choices)}")
        out.append(s)
    return out


def _raw_rules(doc: dict[str, Any], source: str) -> list[dict[str, Any]]:
    rules = doc.get("rules", [])
    if not isinstance(rules, list):
        raise ProfileError(f"{source}: rules: expected a list of rules")
    out = []
    seen: set[str] = set()
    for i, r in enumerate(rules):
        where = f"{source}: rules[{i}]"
        if not isinstance(r, dict):
            raise ProfileError(f"{where}: expected a mapping with id, title, severity, ...")
        rid = r.get("id")
        if not isinstance(rid, str) or not _ID.match(rid):
            raise ProfileError(f"{where}.id: expected an id such as explicit.caption.size")
        if rid in seen:
            raise ProfileError(f"{where}.id: rule {rid!r} is listed twice")
        seen.add(rid)
        unknown = set(r) - _RULE_KEYS
        if unknown:
            raise ProfileError(
                f"{where} ({rid}): unknown key(s) {', '.join(sorted(map(str, unknown)))} "
                f"(known: {', '.join(sorted(_RULE_KEYS))})"
            )
        if "params" in r and not isinstance(r["params"], dict):
            raise ProfileError(f"{where} ({rid}).params: expected a mapping")
        out.append({**r, "_where": f"{where} ({rid})"})
    return out


def _merge(parent: list[dict[str, Any]], child: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by_id = {r["id"]: i for i, r in enumerate(parent)}
    merged = [dict(r) for r in parent]
    for r in child:
        i = by_id.get(r["id"])
        if i is None:
            merged.append(r)
            continue
        base = merged[i]
        params = {**dict(base.get("params") or {}), **dict(r.get("params") or {})}
        merged[i] = {**base, **r, "params": params}
    return merged


def _load_doc(
    ref: str, base: Path | None, depth: int = 0
) -> tuple[dict[str, Any], str, list[dict[str, Any]]]:
    if depth > 5:
        raise ProfileError(f"{ref}: 'extends' nests more than 5 deep (a cycle?)")
    text, source, folder = _read(ref, base)
    doc = _parse_yaml(text, source)
    unknown = set(doc) - _TOP_KEYS
    if unknown:
        raise ProfileError(
            f"{source}: unknown key(s) {', '.join(sorted(map(str, unknown)))} "
            f"(known: {', '.join(sorted(_TOP_KEYS))})"
        )
    schema = doc.get("schema", PROFILE_SCHEMA)
    if schema != PROFILE_SCHEMA:
        raise ProfileError(f"{source}: schema: {schema!r} is not {PROFILE_SCHEMA!r}")
    rules = _raw_rules(doc, source)
    parent_ref = doc.get("extends")
    if parent_ref is None:
        if "remove" in doc:
            raise ProfileError(f"{source}: remove: only a profile that extends another removes")
        return doc, source, rules
    if not isinstance(parent_ref, str) or not parent_ref.strip():
        raise ProfileError(f"{source}: extends: expected a profile name or path")
    parent, _psource, prules = _load_doc(parent_ref, folder, depth + 1)
    remove = doc.get("remove", [])
    if not isinstance(remove, list) or not all(isinstance(x, str) for x in remove):
        raise ProfileError(f"{source}: remove: expected a list of rule ids")
    missing = [x for x in remove if x not in {r["id"] for r in prules}]
    if missing:
        raise ProfileError(f"{source}: remove: {missing[0]!r} is not a rule of {parent_ref}")
    prules = [r for r in prules if r["id"] not in remove]
    merged = {**{k: v for k, v in parent.items() if k not in ("extends", "remove")}, **doc}
    return merged, source, _merge(prules, rules)


def _rule(raw: dict[str, Any], overrides: Mapping[str, Any]) -> Rule:
    where = str(raw["_where"])
    rid = str(raw["id"])
    check_id = raw.get("check", rid)
    if not isinstance(check_id, str) or check_id not in CHECKS:
        known = ", ".join(sorted(CHECKS))
        named = "check" if "check" in raw else "rule"
        raise ProfileError(
            f"{where}: unknown {named} {check_id!r}: no check is registered under that id "
            f"(known: {known})"
        )
    spec: CheckSpec = CHECKS[check_id]
    en, zh = _title(raw.get("title"), where, "title")
    clause = raw.get("clause", "")
    if not isinstance(clause, str):
        raise ProfileError(f"{where}.clause: expected text")
    severity = overrides.get("severity", raw.get("severity", "error"))
    if severity not in SEVERITIES:
        raise ProfileError(f"{where}.severity: {severity!r} is not error or warning")
    kinds = raw.get("applies_to", sorted(spec.kinds, key=KINDS.index))
    if isinstance(kinds, str):
        kinds = [kinds]
    if not isinstance(kinds, list) or not kinds:
        raise ProfileError(f"{where}.applies_to: expected a list of media kinds")
    for k in kinds:
        if k not in KINDS:
            raise ProfileError(
                f"{where}.applies_to: {k!r} is not a media kind ({', '.join(KINDS)})"
            )
        if k not in spec.kinds:
            raise ProfileError(
                f"{where}.applies_to: check {check_id} cannot judge {k} files "
                f"(it supports {', '.join(sorted(spec.kinds, key=KINDS.index))})"
            )
    given = {
        **dict(raw.get("params") or {}),
        **{k: v for k, v in overrides.items() if k != "severity"},
    }
    params: dict[str, Any] = {}
    for name, value in given.items():
        if name not in spec.params:
            known = ", ".join(spec.params) or "none"
            raise ProfileError(
                f"{where}.params.{name}: unknown parameter of check {check_id} (known: {known})"
            )
        params[name] = coerce_param(spec.params[name], value, f"{where}.params.{name}")
    for name, p in spec.params.items():
        params.setdefault(name, p.default)
    return Rule(rid, check_id, en, zh, clause, severity, tuple(kinds), params)


def parse_overrides(items: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``RULE.PARAM=VALUE`` strings (VALUE read as YAML: 0.06, true, [corner]) as
    ``{rule: {param: value}}``; ``RULE.severity=warning`` changes a severity."""
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        key, eq, value = item.partition("=")
        rule, dot, param = key.strip().rpartition(".")
        if not eq or not dot or not rule or not param:
            raise ProfileError(f"--set {item!r}: expected RULE.PARAM=VALUE")
        try:
            parsed = yaml.safe_load(value) if value.strip() else ""
        except yaml.YAMLError:
            parsed = value
        out.setdefault(rule, {})[param] = parsed
    return out


def load_profile(
    ref: str | Path | None = None, *, overrides: Mapping[str, Mapping[str, Any]] | None = None
) -> Profile:
    """A profile by built-in name (``gb45438``, ``eu-ai-act-art50``, ``example-company``) or
    YAML path, with its parents merged and every rule checked against the check registry.
    ``overrides``: ``{rule id: {param: value}}`` applied on top (see :func:`parse_overrides`).
    Raises :class:`ProfileError` naming the file and the key."""
    name = str(ref) if ref is not None else DEFAULT_PROFILE
    doc, source, raw_rules = _load_doc(name, None)
    pid = doc.get("id")
    if not isinstance(pid, str) or not _ID.match(pid):
        raise ProfileError(f"{source}: id: expected an identifier such as acme-policy")
    version = doc.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ProfileError(f"{source}: version: expected a whole number >= 1")
    en, zh = _title(doc.get("title"), source, "title")
    description = doc.get("description", "")
    if not isinstance(description, str):
        raise ProfileError(f"{source}: description: expected text")
    if not raw_rules:
        raise ProfileError(f"{source}: rules: a profile needs at least one rule")
    overrides = overrides or {}
    ids = {r["id"] for r in raw_rules}
    for rid in overrides:
        if rid not in ids:
            raise ProfileError(f"--set: profile {pid} has no rule {rid!r}")
    rules = tuple(_rule(r, overrides.get(r["id"], {})) for r in raw_rules)
    return Profile(
        pid,
        version,
        en,
        zh,
        description.strip(),
        "built-in" if source.endswith("(built-in)") else source,
        rules,
    )


def profile_yaml(profile: Profile) -> str:
    """The resolved profile as YAML (what ``synthlabel assess --show-profile`` prints)."""
    return str(yaml.safe_dump(profile.to_dict(), allow_unicode=True, sort_keys=False, width=100))
