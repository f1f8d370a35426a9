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
            # A built-in not written yet, or a plug-in whose dependency is missing.
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
    return found


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


def sniff(head: bytes) -> FormatHandler:
    """The handler whose magic bytes match ``head``; raises :class:`UnsupportedFormat`."""
    if not head:
        raise UnsupportedFormat("empty file")
    for handler in handlers():
        try:
            if handler.sniff(head[: handler.sniff_bytes]):
                return handler
        except SynthlabelError:
            continue
    raise UnsupportedFormat("not a supported format (" + _describe(head) + ")")


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
