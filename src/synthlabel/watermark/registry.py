"""The watermark registry: built-in and third-party algorithms through entry points.

Group ``synthlabel.watermarks``; each entry point names an object that satisfies
:class:`~synthlabel.watermark.base.WatermarkAlgorithm` plus the Protocol of its media kind.
Algorithms whose optional dependencies are missing (``pip install 'synthlabel[watermark]'``)
are listed by :func:`load_errors` instead of failing.
"""

from __future__ import annotations

from synthlabel.errors import SynthlabelError
from synthlabel.plugins import PluginPoint
from synthlabel.watermark.base import MediaKind, WatermarkAlgorithm

ENTRY_POINT_GROUP = "synthlabel.watermarks"

_BUILTIN: tuple[str, ...] = (
    "synthlabel.watermark.image:ALGORITHM",
    "synthlabel.watermark.audio:ALGORITHM",
    "synthlabel.watermark.video:ALGORITHM",
    "synthlabel.watermark.text:ALGORITHM",
)

#: The algorithm used for each media kind when the caller names none.
DEFAULTS: dict[str, str] = {
    "image": "sl-img-1",
    "audio": "sl-aud-1",
    "video": "sl-vid-1",
    "text": "sl-txt-1",
}

_point: PluginPoint[WatermarkAlgorithm] = PluginPoint(
    ENTRY_POINT_GROUP,
    _BUILTIN,
    lambda obj: isinstance(obj, WatermarkAlgorithm),
    kind="watermark algorithm",
)


class UnknownWatermark(SynthlabelError):
    """No watermark algorithm with that id (or none for that media kind)."""


def algorithms(media_kind: MediaKind | None = None) -> list[WatermarkAlgorithm]:
    """Registered algorithms, optionally only those of one media kind."""
    items = _point.all()
    return [a for a in items if media_kind is None or a.media_kind == media_kind]


def get(algorithm_id: str) -> WatermarkAlgorithm:
    found = _point.get(algorithm_id)
    if found is None:
        known = ", ".join(sorted(_point.registry())) or "none installed"
        msg = f"no watermark algorithm {algorithm_id!r} (known: {known})"
        raise UnknownWatermark(msg)
    return found


def default_for(media_kind: str) -> WatermarkAlgorithm:
    """The default algorithm for a media kind, or the first registered one."""
    wanted = DEFAULTS.get(media_kind)
    if wanted is not None:
        found = _point.get(wanted)
        if found is not None and found.media_kind == media_kind:
            return found
    reg = _point.registry()
    for algo in reg.values():
        if algo.media_kind == media_kind:
            return algo
    hint = " ".join(f"({e})" for e in _point.load_errors())
    raise UnknownWatermark(
        f"no {media_kind} watermark algorithm is installed; install synthlabel[watermark]"
        + (f" {hint}" if hint else "")
    )


def register(algorithm: WatermarkAlgorithm, *, replace: bool = False) -> None:
    _point.register(algorithm, replace=replace)


def unregister(algorithm_id: str) -> None:
    _point.unregister(algorithm_id)


def load_errors() -> list[str]:
    return _point.load_errors()
