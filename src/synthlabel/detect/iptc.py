"""IPTC DigitalSourceType values as findings, from XMP and from IPTC-IIM.

``trainedAlgorithmicMedia`` (made by a trained model) and
``compositeWithTrainedAlgorithmicMedia`` (edited with one) are AI claims; ``algorithmicMedia``
(made by an algorithm *without* a trained model, e.g. a fractal or a procedural render) and
``compositeSynthetic`` are not claims of trained-model AI and count as weak.

Where the value is read:

* XMP ``Iptc4xmpExt:DigitalSourceType`` (the property's only home in the IPTC Photo
  Metadata Standard), read by the metadata inspection into ``report.digital_source_types``;
* IPTC-IIM: the standard defines no IIM dataset for Digital Source Type (its TechReference
  entry has an XMP id only), so tools that have only IIM put the NewsCodes URI, or the bare
  term, in free-text datasets: Keywords (2:25), Caption-Abstract (2:120), Special
  Instructions (2:40), Source (2:115), Credit (2:110), Headline (2:105), ObjectName (2:05),
  Supplemental Categories (2:20). This detector reads the IIM stream itself from the file
  bytes (``formats._iim``: JPEG APP13 Photoshop 8BIM 0x0404, TIFF tags 33723/34377, PSD
  resources) and reports the dataset that carries the value. A full NewsCodes URI keeps the
  XMP strength; a bare term (a whole keyword equal to the term) is one step weaker.

``location`` says which: ``XMP Iptc4xmpExt:DigitalSourceType`` or
``IPTC-IIM 2:25 Keywords (JPEG APP13 Photoshop 8BIM 0x0404)``.
"""

from __future__ import annotations

import re

from synthlabel.detect.base import Asset, DetectOptions
from synthlabel.formats._iim import Dataset, IimBlock, find_iim
from synthlabel.model.findings import Finding, Strength

SOURCE = "IPTC NewsCodes digitalsourcetype (2023-2024 terms); IPTC Photo Metadata 2023.1"
IIM_SOURCE = (
    "IPTC NewsCodes digitalsourcetype; IPTC-IIM 4.2 (no dedicated dataset: the URI or term "
    "written into a free-text dataset)"
)
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
_LOWER = {t.lower(): t for t in TERMS}

#: IIM datasets (record 2) searched for a digital source type.
IIM_TEXT_DATASETS = frozenset({5, 20, 25, 40, 105, 110, 115, 120})
_URI = re.compile(r"cv\.iptc\.org/newscodes/digitalsourcetype/([A-Za-z]{3,60})", re.IGNORECASE)
#: How much of the file head is read for IIM when the bytes are not in memory.
IIM_HEAD_BYTES = 8 * 1024 * 1024
MAX_IIM_FINDINGS = 8


def term_of(value: str) -> str:
    v = value.strip()
    return v[len(NS) :] if v.startswith(NS) else v.rsplit("/", 1)[-1]


def _weaker(s: Strength) -> Strength:
    order = [Strength.WEAK, Strength.MODERATE, Strength.STRONG, Strength.CONCLUSIVE]
    return order[max(0, order.index(s) - 1)]


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
                    f"IPTC DigitalSourceType {term} ({words}) in XMP",
                    strength,
                    "XMP Iptc4xmpExt:DigitalSourceType",
                    SOURCE,
                    details={"value": value, "carrier": "xmp"},
                )
            )
        out.extend(self._iim(asset))
        return out

    def _iim(self, asset: Asset) -> list[Finding]:
        blocks = asset.cached("iim", lambda: _read_iim(asset))
        out: list[Finding] = []
        seen: set[str] = set()
        for block in blocks:
            for ds in block.datasets:
                if ds.record != 2 or ds.number not in IIM_TEXT_DATASETS:
                    continue
                for term, exact in _terms_in(block.text(ds)):
                    if term in seen:
                        continue
                    seen.add(term)
                    out.append(self._iim_finding(block, ds, term, exact))
                    if len(out) >= MAX_IIM_FINDINGS:
                        return out
        return out

    def _iim_finding(self, block: IimBlock, ds: Dataset, term: str, uri: bool) -> Finding:
        code, strength, words = TERMS[term]
        if not uri:
            strength = _weaker(strength)
        value = block.text(ds)
        return Finding(
            self.id,
            code,
            f"IPTC DigitalSourceType {term} ({words}) in IPTC-IIM {ds.name} "
            + ("(NewsCodes URI)" if uri else "(bare term)"),
            strength,
            f"IPTC-IIM {ds.tag} {ds.name} ({block.location})",
            IIM_SOURCE,
            details={
                "carrier": "iim",
                "dataset": ds.tag,
                "dataset_name": ds.name,
                "value": value[:500],
                "uri": uri,
                "iim_location": block.location,
            },
        )


def _terms_in(text: str) -> list[tuple[str, bool]]:
    """(term, written as a NewsCodes URI) pairs in one dataset's text.

    IIM caps dataset lengths (Keywords: 64 bytes) and exiftool truncates longer values with
    only a minor warning, so ``.../digitalsourcetype/trainedAlgorithmi`` at the very end of
    a value counts when it is the start of exactly one term (at least 6 letters)."""
    found: list[tuple[str, bool]] = []
    text = text[:100_000]
    end = len(text.rstrip())
    for m in _URI.finditer(text):
        frag = m.group(1).lower()
        term = _LOWER.get(frag)
        if term is None and m.end() == end and len(frag) >= 6:
            starts = [t for low, t in _LOWER.items() if low.startswith(frag)]
            term = starts[0] if len(starts) == 1 else None
        if term:
            found.append((term, True))
    if not found:
        term = _LOWER.get(text.strip().lower())
        if term:
            found.append((term, False))
    return found


def _read_iim(asset: Asset) -> list[IimBlock]:
    data = asset.data
    if data is None and asset.file is not None:
        try:
            with open(asset.file, "rb") as fh:
                data = fh.read(IIM_HEAD_BYTES)
        except OSError:
            return []
    return find_iim(data) if data else []


DETECTOR = IptcDetector()
