"""The format registry: built-ins and third-party handlers, all found through entry points.

Built-in handlers are declared in ``pyproject.toml`` under ``synthlabel.formats`` exactly as a
third-party package would declare its own. If the package metadata is missing (running from a
source tree without ``pip install``) the built-in list below is used instead.
"""

from __future__ import annotations

import importlib
import os
import threading
from collections.abc import Iterable
from importlib.metadata import entry_points

from synthlabel.errors import SynthlabelError, UnsupportedFormat
from synthlabel.formats.base import FormatHandler

ENTRY_POINT_GROUP = "synthlabel.formats"

_BUILTIN: tuple[str, ...] = (
    "synthlabel.formats.jpeg:HANDLER",
    "synthlabel.formats.png:HANDLER",
    "synthlabel.formats.gif:HANDLER",
    "synthlabel.formats.webp:HANDLER",
    "synthlabel.formats.tiff:HANDLER",
    "synthlabel.formats.heif:HANDLER",
    "synthlabel.formats.wav:HANDLER",
    "synthlabel.formats.mp3:HANDLER",
    "synthlabel.formats.flac:HANDLER",
    "synthlabel.formats.ogg:HANDLER",
    "synthlabel.formats.mp4:HANDLER",
    "synthlabel.formats.mp4:M4A_HANDLER",
    "synthlabel.formats.mkv:HANDLER",
    "synthlabel.formats.pdf:HANDLER",
    "synthlabel.formats.ooxml:HANDLER",
    "synthlabel.formats.jsondoc:HANDLER",
    "synthlabel.formats.html:HANDLER",
    "synthlabel.formats.markdown:HANDLER",
    "synthlabel.formats.text:HANDLER",
)

_lock = threading.Lock()
_handlers: dict[str, FormatHandler] | None = None
_load_errors: list[str] = []


def _load_ref(ref: str) -> object:
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


def _discover() -> dict[str, FormatHandler]:
    found: dict[str, FormatHandler] = {}
    refs: list[tuple[str, str]] = []
    try:
        refs = [(ep.name, ep.value) for ep in entry_points(group=ENTRY_POINT_GROUP)]
    except Exception:  # pragma: no cover - broken metadata
        refs = []
    if not any(v.startswith("synthlabel.") for _, v in refs):
        refs = [(r.split(".")[-1].split(":")[0], r) for r in _BUILTIN] + refs
    for name, ref in refs:
        try:
            obj = _load_ref(ref)
        except ModuleNotFoundError as exc:
            # A plug-in whose optional dependency is missing (or a built-in not written yet).
            _load_errors.append(f"{name}: {exc}")
            continue
        except Exception as exc:  # a broken third-party plug-in must not break the tool
            _load_errors.append(f"{name}: {type(exc).__name__}: {exc}")
            continue
        if not isinstance(obj, FormatHandler):
            _load_errors.append(f"{name}: {ref} is not a FormatHandler")
            continue
        if os.environ.get("SYNTHLABEL_TRACE_PLUGINS"):
            print(f"synthlabel: format plug-in {obj.id} from {ref}")
        found.setdefault(obj.id, obj)
    # Specific magic first; catch-all sniffers (plain text accepts any UTF-8) declare a
    # negative ``sniff_priority`` so they are asked last. Stable: ties keep entry-point order.
    ordered = sorted(found.values(), key=lambda h: -int(getattr(h, "sniff_priority", 0)))
    return {h.id: h for h in ordered}


def _registry() -> dict[str, FormatHandler]:
    global _handlers
    if _handlers is None:
        with _lock:
            if _handlers is None:
                _handlers = _discover()
    return _handlers


def register(handler: FormatHandler, *, replace: bool = False) -> None:
    """Register a handler at run time (tests, embedding applications)."""
    reg = _registry()
    if handler.id in reg and not replace:
        raise ValueError(f"format {handler.id!r} is already registered")
    reg[handler.id] = handler


def unregister(format_id: str) -> None:
    _registry().pop(format_id, None)


def handlers() -> list[FormatHandler]:
    """All registered handlers, in registration order."""
    return list(_registry().values())


def load_errors() -> list[str]:
    """Plug-ins that failed to load, one line each."""
    _registry()
    return list(_load_errors)


def get(format_id: str) -> FormatHandler:
    try:
        return _registry()[format_id]
    except KeyError:
        raise UnsupportedFormat(f"no format handler {format_id!r}") from None


def max_sniff_bytes() -> int:
    return max((h.sniff_bytes for h in handlers()), default=64)


def sniff(head: bytes, name: str | None = None) -> FormatHandler:
    """The handler whose magic bytes match ``head``; raises :class:`UnsupportedFormat`.

    Content decides, never the extension alone; when several handlers accept the same bytes
    (text formats: Markdown, HTML, JSON and plain text can all be valid UTF-8), the file
    name's extension breaks the tie, else registration order does.
    """
    if not head:
        raise UnsupportedFormat("empty file")
    matches: list[FormatHandler] = []
    for handler in handlers():
        try:
            if handler.sniff(head[: handler.sniff_bytes]):
                matches.append(handler)
        except SynthlabelError:
            continue
    if not matches:
        raise UnsupportedFormat("not a supported format (" + _describe(head) + ")")
    if len(matches) > 1 and name and "." in name:
        ext = name.rsplit(".", 1)[1].lower()
        for handler in matches:
            if ext in handler.extensions:
                return handler
    return matches[0]


def _describe(head: bytes) -> str:
    shown = head[:8]
    printable = "".join(chr(b) if 32 <= b < 127 else "." for b in shown)
    return f"starts with {shown.hex(' ')} '{printable}'"


def by_extension(ext: str) -> FormatHandler | None:
    ext = ext.lower().lstrip(".")
    for handler in handlers():
        if ext in handler.extensions:
            return handler
    return None


def supported_extensions() -> Iterable[str]:
    for handler in handlers():
        yield from handler.extensions
