"""The detector plug-in contract.

A detector looks at one :class:`Asset` and returns :class:`~synthlabel.model.findings.Finding`
objects: what it saw, where, how strong, on which documented rule. It never decides the
verdict (the policy does) and never raises for bad content: a file it cannot read simply
yields no findings (the runner records anything unexpected as a detector error).

The asset is shared by every detector of a run, so expensive things are computed once
(:meth:`Asset.cached`: decoded pixels, the container's metadata, OCR text). The metadata
inspection (records, signatures, C2PA, IPTC) has already run and is ``asset.report``.

``cost`` lets the runner skip expensive detectors unless asked (``cheap``: metadata only;
``medium``: decodes the content, e.g. watermarks, hashes; ``expensive``: OCR, speech).

Budgets (``DetectOptions.time_budget``, ``size_budget``): while a detector runs,
``asset.deadline`` holds the time it must stop by; a long loop calls :meth:`Asset.check_time`,
which raises :class:`BudgetExceeded` once it has passed (the runner records the detector as
stopped by the time budget). In the main thread the runner also arms a timer that raises
:class:`BudgetExceeded` in a detector that never checks, so a slow detector is bounded either way.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar, runtime_checkable

from synthlabel.errors import SynthlabelError
from synthlabel.formats.base import ContainerMetadata, FormatHandler
from synthlabel.model.findings import Finding
from synthlabel.model.results import InspectionReport

Cost = Literal["cheap", "medium", "expensive"]
COST_RANK: dict[str, int] = {"cheap": 0, "medium": 1, "expensive": 2}
#: Default per-file size budget of the content-decoding detectors (bytes).
SIZE_BUDGET = 1 << 30  # the largest file the pipeline loads in memory (pipeline.io)
T = TypeVar("T")


class BudgetExceeded(BaseException):
    """The per-file time budget is spent: the detector must stop now.

    A ``BaseException`` on purpose: the ``except Exception`` blocks that keep detectors alive
    on hostile input must not swallow the deadline (only the runner catches it)."""


@dataclass
class DetectOptions:
    """What the caller allows the detectors to do.

    ``max_cost``: skip detectors above this cost (``expensive`` turns OCR on);
    ``only`` / ``skip``: detector ids; ``time_budget``: seconds per file for the medium and
    expensive detectors together (one still running then is stopped, the remaining ones are
    skipped: reported, never silent; each cheap detector gets this much on its own);
    ``size_budget``: files larger than this many bytes skip the content-decoding (medium and
    expensive) detectors, with a note;
    ``watermark_seconds``: how much audio/video the watermark detectors read;
    ``text_watermark_key``: a provider's secret text-watermark key;
    ``extra``: free-form settings for third-party detectors (``{"my-detector": {...}}``).
    """

    max_cost: Cost = "medium"
    only: frozenset[str] | None = None
    skip: frozenset[str] = frozenset()
    time_budget: float | None = 30.0
    size_budget: int | None = SIZE_BUDGET
    watermark_seconds: float = 20.0
    text_watermark_key: bytes | None = None
    registry_path: str | None = None  # the perceptual-hash registry to match against
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Asset:
    """One file under inspection, with a cache shared by the detectors of a run."""

    path: str
    handler: FormatHandler | None
    report: InspectionReport
    data: bytes | None = None  # None for large files inspected in place (see ``file``)
    file: Path | None = None  # the file on disk, when there is one
    memo: dict[str, Any] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    #: ``time.monotonic()`` value the running detector must stop by (None: no limit); set by
    #: the runner around each detector.
    deadline: float | None = None

    @property
    def format(self) -> str:
        return self.handler.id if self.handler else ""

    @property
    def media_kind(self) -> str:
        return self.handler.media_kind.value if self.handler else ""

    @property
    def size(self) -> int | None:
        """Size of the file in bytes (None when unknown)."""
        if self.data is not None:
            return len(self.data)
        if self.file is not None:
            try:
                return self.file.stat().st_size
            except OSError:
                return None
        return None

    def time_left(self) -> float | None:
        """Seconds left before the deadline (None: no deadline; never negative)."""
        if self.deadline is None:
            return None
        return max(0.0, self.deadline - time.monotonic())

    def check_time(self) -> None:
        """Raise :class:`BudgetExceeded` when the running detector's deadline has passed
        (call it in long loops; cheap when there is no deadline)."""
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise BudgetExceeded("time budget spent")

    def cached(self, key: str, compute: Callable[[], T]) -> T:
        """``compute()`` once per asset (a failure is cached too and raised again)."""
        if key not in self.memo:
            try:
                self.memo[key] = (True, compute())
            except SynthlabelError as exc:
                self.memo[key] = (False, exc)
        ok, value = self.memo[key]
        if not ok:
            raise value
        return value  # type: ignore[no-any-return]

    def metadata(self) -> ContainerMetadata | None:
        """The container's metadata carriers (None when the bytes are not in memory)."""
        if self.handler is None or self.data is None:
            return None
        handler, data = self.handler, self.data
        return self.cached("metadata", lambda: handler.read(data))


@runtime_checkable
class Detector(Protocol):
    id: str  # stable, used in findings, --only/--skip and the policy's docs
    name: str
    media_kinds: frozenset[str] | None  # None: every kind
    cost: Cost
    #: The finding codes this detector can emit (globs allowed, e.g. ``trace.a1111.*``):
    #: documentation, and the conformance test checks the default policy covers each.
    codes: tuple[str, ...]

    def detect(self, asset: Asset, options: DetectOptions) -> list[Finding]: ...
