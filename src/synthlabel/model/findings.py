"""Evidence and verdicts: what detectors found, and what it means under the Labeling Measures.

Detectors (``synthlabel.detect``) never decide: each returns :class:`Finding` objects (what
was seen, where, how strong, and on which documented rule it rests). A versioned, configurable
:class:`~synthlabel.model.policy.Policy` turns the findings into a :class:`Verdict`, so a
verdict can be recomputed under another policy and every verdict lists its evidence.

The verdict classes are the Labeling Measures' (Art. 6): ``confirmed`` (属于 AI-generated),
``possible`` (可能), ``suspected`` (疑似) and ``no_trace``. There is deliberately no "human"
class: the absence of every trace proves nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Verdict(StrEnum):
    """The Labeling Measures' outcomes, strongest first."""

    CONFIRMED = "confirmed"
    POSSIBLE = "possible"
    SUSPECTED = "suspected"
    NO_TRACE = "no_trace"

    @property
    def rank(self) -> int:
        """3 for confirmed ... 0 for no trace (higher is stronger)."""
        return _VERDICT_RANK[self]

    @property
    def label_value(self) -> str:
        """The GB 45438 ``Label`` value a platform writes for this outcome ("" for none).

        ``1`` generated, ``2`` possibly generated, ``3`` suspected (gb45438-labels.md §4.4).
        """
        return {"confirmed": "1", "possible": "2", "suspected": "3"}.get(self.value, "")


_VERDICT_RANK = {
    Verdict.NO_TRACE: 0,
    Verdict.SUSPECTED: 1,
    Verdict.POSSIBLE: 2,
    Verdict.CONFIRMED: 3,
}


class Strength(StrEnum):
    """How much one finding proves on its own (a detector's claim, not a verdict)."""

    CONCLUSIVE = "conclusive"  # cryptographic or statistical proof (signature, p <= 1e-6 mark)
    STRONG = "strong"  # specific, hard to produce by accident (a generator's parameters chunk)
    MODERATE = "moderate"  # specific but easy to add or remove (a software tag, a caption)
    WEAK = "weak"  # a hint (a resolution typical of a model, a classifier score)

    @property
    def rank(self) -> int:
        return _STRENGTH_RANK[self]


_STRENGTH_RANK = {
    Strength.WEAK: 1,
    Strength.MODERATE: 2,
    Strength.STRONG: 3,
    Strength.CONCLUSIVE: 4,
}


@dataclass(frozen=True)
class Finding:
    """One piece of evidence.

    ``code`` is a dotted identifier the policy matches on, stable across versions, e.g.
    ``aigc.record.valid``, ``c2pa.ai_claim.untrusted``, ``iptc.dst.trained``,
    ``trace.a1111.parameters``, ``watermark.sl-img-1``. ``detector`` is the plug-in id that
    produced it; ``location`` says where in the file (``XMP TC260:AIGC``, ``PNG tEXt
    parameters``, ``frame 12``); ``source`` says on what the rule rests (a standard clause, a
    vendor's documentation, samples we reproduced); ``confidence`` is an optional number in
    [0, 1] (a detector score, ``1 - p``).
    """

    detector: str
    code: str
    summary: str
    strength: Strength
    location: str = ""
    source: str = ""
    confidence: float | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "detector": self.detector,
            "code": self.code,
            "summary": self.summary,
            "strength": self.strength.value,
            "location": self.location,
            "source": self.source,
            "confidence": self.confidence,
            "details": dict(self.details),
        }


@dataclass(frozen=True)
class Decision:
    """A verdict with the evidence and the policy rules that led to it."""

    verdict: Verdict
    policy: str  # "<id>/<version>"
    reasons: tuple[str, ...] = ()  # one line per rule that fired at the winning class
    evidence: tuple[Finding, ...] = ()  # every finding, strongest first
    declared: bool = False  # the uploader declared the content AI-generated

    @property
    def label_value(self) -> str:
        return self.verdict.label_value

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict.value,
            "label_value": self.label_value,
            "policy": self.policy,
            "reasons": list(self.reasons),
            "declared": self.declared,
        }
