"""One loader for every plug-in point (formats, watermark algorithms, detectors).

A plug-in point is an entry-point group plus a built-in list used when the package metadata is
missing (running from a source tree). Built-ins are declared in ``pyproject.toml`` exactly as a
third-party package declares its own. A plug-in that fails to import, or is not of the right
type, is recorded in :meth:`PluginPoint.load_errors` and skipped: a broken third-party package
never breaks the tool. ``SYNTHLABEL_TRACE_PLUGINS=1`` prints where each plug-in came from.
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Generic, TypeVar

T = TypeVar("T")


def load_ref(ref: str) -> object:
    """Import ``module:attribute``."""
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


class PluginPoint(Generic[T]):
    """Lazily discovered, thread-safe registry of plug-ins of one kind, keyed by ``id``."""

    def __init__(
        self,
        group: str,
        builtins: tuple[str, ...],
        accept: Callable[[object], bool],
        *,
        kind: str,
        order: Callable[[list[T]], list[T]] | None = None,
    ) -> None:
        self.group = group
        self.builtins = builtins
        self._accept = accept
        self._kind = kind
        self._order = order
        self._lock = threading.Lock()
        self._items: dict[str, T] | None = None
        self._lazy: dict[str, T] = {}  # loaded one by one through get() before discovery
        self._errors: list[str] = []

    def _discover(self) -> dict[str, T]:
        refs: list[tuple[str, str]]
        try:
            refs = [(ep.name, ep.value) for ep in entry_points(group=self.group)]
        except Exception:  # pragma: no cover - broken metadata
            refs = []
        if not any(v.startswith("synthlabel.") for _, v in refs):
            refs = [(r.split(":")[0].split(".")[-1], r) for r in self.builtins] + refs
        found: dict[str, T] = {}
        for name, ref in refs:
            try:
                obj = load_ref(ref)
            except ImportError as exc:
                # An optional dependency is missing (an extra not installed).
                self._errors.append(f"{name}: {exc}")
                continue
            except Exception as exc:  # a broken third-party plug-in must not break the tool
                self._errors.append(f"{name}: {type(exc).__name__}: {exc}")
                continue
            if not self._accept(obj):
                self._errors.append(f"{name}: {ref} is not a {self._kind}")
                continue
            if os.environ.get("SYNTHLABEL_TRACE_PLUGINS"):
                print(f"synthlabel: {self._kind} plug-in {obj.id} from {ref}", file=sys.stderr)  # type: ignore[attr-defined]
            found.setdefault(obj.id, obj)  # type: ignore[attr-defined,arg-type]
        items = list(found.values())
        if self._order is not None:
            items = self._order(items)
        return {item.id: item for item in items}  # type: ignore[attr-defined]

    def registry(self) -> dict[str, T]:
        if self._items is None:
            with self._lock:
                if self._items is None:
                    self._items = self._discover()
        return self._items

    def all(self) -> list[T]:
        return list(self.registry().values())

    def get(self, item_id: str) -> T | None:
        """One plug-in by id, importing only its module when an entry point is named after
        it (labelling an image must not import the audio stack); else full discovery."""
        if self._items is not None:
            return self._items.get(item_id)
        with self._lock:
            if item_id in self._lazy:
                return self._lazy[item_id]
        try:
            refs = [ep.value for ep in entry_points(group=self.group) if ep.name == item_id]
        except Exception:  # pragma: no cover - broken metadata
            refs = []
        if len(refs) == 1:
            try:
                obj = load_ref(refs[0])
            except Exception:
                obj = None
            if obj is not None and self._accept(obj) and getattr(obj, "id", None) == item_id:
                with self._lock:
                    self._lazy[item_id] = obj  # type: ignore[assignment]
                return obj  # type: ignore[return-value]
        return self.registry().get(item_id)

    def load_errors(self) -> list[str]:
        self.registry()
        return list(self._errors)

    def register(self, item: T, *, replace: bool = False) -> None:
        reg = self.registry()
        item_id = item.id  # type: ignore[attr-defined]
        if item_id in reg and not replace:
            raise ValueError(f"{self._kind} {item_id!r} is already registered")
        reg[item_id] = item

    def unregister(self, item_id: str) -> None:
        self.registry().pop(item_id, None)
