"""Policies: from findings to the Labeling Measures' verdict, as data.

A policy is a TOML file (two ship with the package, see ``docs/verdict.md``)::

    id = "synthlabel-default"
    version = 1
    description = "..."
    declaration = "possible"          # what the uploader's own declaration counts as

    [[rules]]
    name = "valid implicit label"
    verdict = "confirmed"
    when = ["aigc.record.valid", "aigc.record.unsigned"]   # globs on Finding.code
    min_strength = "strong"                                  # optional
    why = "GB 45438 record in the file metadata (Labeling Measures Art. 6(1))"

Every rule whose ``when`` matches a finding of at least ``min_strength`` fires; the verdict is
the strongest class any rule reaches (``no_trace`` when none fires). The decision keeps every
finding as evidence and names the rules that fired at the winning class, so a reviewer sees
why. Policies are versioned: a stored decision says which policy and version produced it.
"""

from __future__ import annotations

import fnmatch
import functools
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from synthlabel.errors import SynthlabelError
from synthlabel.model.findings import Decision, Finding, Strength, Verdict

#: Policies shipped with the package (``synthlabel/model/policies/<name>.toml``).
BUILTIN_POLICIES = ("default", "measures-strict")


class PolicyError(SynthlabelError):
    """A policy file is missing, unreadable or malformed."""


@dataclass(frozen=True)
class Rule:
    name: str
    verdict: Verdict
    when: tuple[str, ...]
    min_strength: Strength = Strength.WEAK
    why: str = ""

    def matches(self, finding: Finding) -> bool:
        return finding.strength.rank >= self.min_strength.rank and any(
            fnmatch.fnmatchcase(finding.code, pattern) for pattern in self.when
        )


@dataclass(frozen=True)
class Policy:
    id: str
    version: int
    rules: tuple[Rule, ...]
    declaration: Verdict = Verdict.POSSIBLE
    description: str = ""

    @property
    def ref(self) -> str:
        return f"{self.id}/{self.version}"

    def decide(self, findings: Iterable[Finding], *, declared: bool = False) -> Decision:
        """The verdict for ``findings`` (plus the uploader's declaration, if any)."""
        evidence = tuple(sorted(findings, key=lambda f: -f.strength.rank))
        best = Verdict.NO_TRACE
        reasons: dict[Verdict, list[str]] = {}
        for rule in self.rules:
            hits = [f for f in evidence if rule.matches(f)]
            if not hits:
                continue
            codes = ", ".join(sorted({f.code for f in hits}))
            why = f" — {rule.why}" if rule.why else ""
            reasons.setdefault(rule.verdict, []).append(f"{rule.name}: {codes}{why}")
            if rule.verdict.rank > best.rank:
                best = rule.verdict
        if declared:
            reasons.setdefault(self.declaration, []).append(
                "the uploader declared the content AI-generated (Labeling Measures Art. 6(2))"
            )
            if self.declaration.rank > best.rank:
                best = self.declaration
        return Decision(
            verdict=best,
            policy=self.ref,
            reasons=tuple(reasons.get(best, [])),
            evidence=evidence,
            declared=declared,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "version": self.version,
            "description": self.description,
            "declaration": self.declaration.value,
            "rules": [
                {
                    "name": r.name,
                    "verdict": r.verdict.value,
                    "when": list(r.when),
                    "min_strength": r.min_strength.value,
                    "why": r.why,
                }
                for r in self.rules
            ],
        }


def _enum(cls: type[Verdict] | type[Strength], value: Any, where: str) -> Any:
    try:
        return cls(value)
    except ValueError:
        allowed = ", ".join(m.value for m in cls)
        raise PolicyError(f"{where}: {value!r} is not one of {allowed}") from None


def parse_policy(text: str, *, name: str = "<policy>") -> Policy:
    """Parse a policy from TOML text; errors name the file and the rule."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{name}: not valid TOML: {exc}") from None
    pid = doc.get("id")
    version = doc.get("version")
    if not isinstance(pid, str) or not pid:
        raise PolicyError(f"{name}: 'id' (a non-empty string) is required")
    if not isinstance(version, int) or version < 1:
        raise PolicyError(f"{name}: 'version' (a positive integer) is required")
    raw_rules = doc.get("rules")
    if not isinstance(raw_rules, list) or not raw_rules:
        raise PolicyError(f"{name}: at least one [[rules]] table is required")
    rules: list[Rule] = []
    for i, r in enumerate(raw_rules, 1):
        where = f"{name}: rule {i}"
        if not isinstance(r, dict):
            raise PolicyError(f"{where}: must be a table")
        when = r.get("when")
        if isinstance(when, str):
            when = [when]
        if not isinstance(when, list) or not when or not all(isinstance(w, str) for w in when):
            raise PolicyError(f"{where}: 'when' must be a code pattern or a list of them")
        unknown = set(r) - {"name", "verdict", "when", "min_strength", "why"}
        if unknown:
            raise PolicyError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
        verdict = _enum(Verdict, r.get("verdict"), where)
        if verdict is Verdict.NO_TRACE:
            raise PolicyError(f"{where}: a rule cannot conclude 'no_trace'")
        rules.append(
            Rule(
                name=str(r.get("name") or f"rule {i}"),
                verdict=verdict,
                when=tuple(when),
                min_strength=_enum(Strength, r.get("min_strength", "weak"), where),
                why=str(r.get("why", "")),
            )
        )
    return Policy(
        id=pid,
        version=version,
        rules=tuple(rules),
        declaration=_enum(Verdict, doc.get("declaration", "possible"), f"{name}: declaration"),
        description=str(doc.get("description", "")),
    )


@cache
def builtin_policy(name: str = "default") -> Policy:
    if name not in BUILTIN_POLICIES:
        raise PolicyError(
            f"no built-in policy {name!r} (built in: {', '.join(BUILTIN_POLICIES)}; or a path)"
        )
    text = resources.files("synthlabel.model").joinpath(f"policies/{name}.toml").read_text("utf-8")
    return parse_policy(text, name=f"{name}.toml")


def load_policy(ref: str | Path | None = None) -> Policy:
    """A built-in policy by name, or a policy file by path (None: the default policy)."""
    if ref is None or (isinstance(ref, str) and ref in BUILTIN_POLICIES):
        return builtin_policy(ref or "default")
    path = Path(ref)
    try:
        st = path.stat()
        stamp = (st.st_mtime_ns, st.st_size)
    except OSError:
        stamp = (-1, -1)  # reported by the read below
    return _policy_file(str(path), stamp)


@functools.lru_cache(maxsize=16)
def _policy_file(ref: str, stamp: tuple[int, int]) -> Policy:
    """A policy file, parsed once per modification (inspection calls this for every file)."""
    path = Path(ref)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        if "/" not in ref and not ref.endswith(".toml"):
            raise PolicyError(
                f"no built-in policy {ref!r} (built in: {', '.join(BUILTIN_POLICIES)}; or a path)"
            ) from None
        raise PolicyError(f"{path}: cannot read the policy: {exc.strerror}") from None
    return parse_policy(text, name=str(path))


def decide(
    findings: Sequence[Finding], *, policy: Policy | None = None, declared: bool = False
) -> Decision:
    return (policy or builtin_policy()).decide(findings, declared=declared)
