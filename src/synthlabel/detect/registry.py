"""The detector registry: built-in and third-party detectors through entry points.

Group ``synthlabel.detectors``; each entry point names an object satisfying
:class:`~synthlabel.detect.base.Detector`. Detectors whose optional dependencies are missing
(for example OCR without ``synthlabel[ocr]``) are listed by :func:`load_errors`.
"""

from __future__ import annotations

from synthlabel.detect.base import COST_RANK, Detector
from synthlabel.errors import SynthlabelError
from synthlabel.plugins import PluginPoint

ENTRY_POINT_GROUP = "synthlabel.detectors"

_BUILTIN: tuple[str, ...] = (
    "synthlabel.detect.aigc:DETECTOR",
    "synthlabel.detect.c2pa:DETECTOR",
    "synthlabel.detect.iptc:DETECTOR",
    "synthlabel.detect.watermarks:DETECTOR",
    "synthlabel.detect.traces:METADATA_DETECTOR",
    "synthlabel.detect.traces:PIXEL_DETECTOR",
    "synthlabel.detect.registry_match:DETECTOR",
    "synthlabel.detect.visible:DETECTOR",
    "synthlabel.detect.visible:TEXT_DETECTOR",
)


def _order(items: list[Detector]) -> list[Detector]:
    return sorted(items, key=lambda d: (COST_RANK.get(d.cost, 9), d.id))


_point: PluginPoint[Detector] = PluginPoint(
    ENTRY_POINT_GROUP,
    _BUILTIN,
    lambda obj: isinstance(obj, Detector),
    kind="detector",
    order=_order,
)


class UnknownDetector(SynthlabelError):
    """No detector with that id."""


def detectors() -> list[Detector]:
    """Registered detectors, cheapest first."""
    return _point.all()


def get(detector_id: str) -> Detector:
    try:
        return _point.registry()[detector_id]
    except KeyError:
        known = ", ".join(sorted(_point.registry())) or "none installed"
        raise UnknownDetector(f"no detector {detector_id!r} (known: {known})") from None


def register(detector: Detector, *, replace: bool = False) -> None:
    _point.register(detector, replace=replace)


def unregister(detector_id: str) -> None:
    _point.unregister(detector_id)


def load_errors() -> list[str]:
    return _point.load_errors()
