"""IPTC DigitalSourceType values as findings.

``trainedAlgorithmicMedia`` (made by a trained model) and
``compositeWithTrainedAlgorithmicMedia`` (edited with one) are AI claims; ``algorithmicMedia``
(made by an algorithm *without* a trained model, e.g. a fractal or a procedural render) and
``compositeSynthetic`` are not claims of trained-model AI and count as weak. Values are read
from XMP (``Iptc4xmpExt:DigitalSourceType``) by the metadata inspection.
"""

from __future__ import annotations

from synthlabel.detect.base import Asset, DetectOptions
from synthlabel.model.findings import Finding, Strength

SOURCE = "IPTC NewsCodes digitalsourcetype (2023-2024 terms); IPTC Photo Metadata 2023.1"
NS = "http://cv.iptc.org/newscodes/digitalsourcetype/"

#: term -> (code, strength, plain words)
TERMS: dict[str, tuple[str, Strength, str]] = {
    "trainedAlgorithmicMedia": ("iptc.dst.trained", Strength.STRONG, "made by a trained model"),
    "compositeWithTrainedAlgorithmicMedia": (
        "iptc.dst.composite",
        Strength.STRONG,
        "edited with a trained model",
    ),
    "algorithmicMedia": ("iptc.dst.algorithmic", Strength.WEAK, "algorithmic, no trained model"),
    "compositeSynthetic": ("iptc.dst.algorithmic", Strength.WEAK, "composite of synthetic parts"),
}


def term_of(value: str) -> str:
    v = value.strip()
    return v[len(NS) :] if v.startswith(NS) else v.rsplit("/", 1)[-1]


class IptcDetector:
    id = "iptc"
    name = "IPTC DigitalSourceType"
    media_kinds = None
    cost = "cheap"
    codes = ("iptc.dst.trained", "iptc.dst.composite", "iptc.dst.algorithmic")

    def detect(self, asset: Asset, options: DetectOptions) -> list[Finding]:
        out: list[Finding] = []
        seen: set[str] = set()
        for value in asset.report.digital_source_types:
            term = term_of(value)
            if term not in TERMS or term in seen:
                continue
            seen.add(term)
            code, strength, words = TERMS[term]
            out.append(
                Finding(
                    self.id,
                    code,
                    f"IPTC DigitalSourceType {term} ({words})",
                    strength,
                    "XMP Iptc4xmpExt:DigitalSourceType",
                    SOURCE,
                    details={"value": value},
                )
            )
        return out


DETECTOR = IptcDetector()
