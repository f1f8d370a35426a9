"""Run the detectors on one asset: cost filter, time and size budgets, isolation of failures.

Budgets (see :class:`~synthlabel.detect.base.DetectOptions`):

* **time**: the medium and expensive detectors share ``time_budget`` seconds per file (counted
  from the asset's creation); each cheap detector gets ``time_budget`` seconds on its own. A
  detector is stopped at its deadline: cooperatively (``asset.check_time()`` raises
  :class:`~synthlabel.detect.base.BudgetExceeded`) and, in the main thread, by a one-shot
  ``SIGALRM`` timer that raises the same exception in a detector that never checks (a thread
  cannot be interrupted from outside, so off the main thread only the cooperative check
  applies). A stopped detector is listed under ``skipped`` with the reason and a warning is
  added to the report; detectors that would start after the budget is spent are skipped.
* **size**: a file over ``size_budget`` bytes skips the content-decoding (medium, expensive)
  detectors, with a note.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from synthlabel.detect import registry
from synthlabel.detect.base import COST_RANK, Asset, BudgetExceeded, DetectOptions, Detector
from synthlabel.errors import SynthlabelError
from synthlabel.model.findings import Finding


@dataclass
class DetectionRun:
    """What a run did: findings, per-detector timings, what was skipped and why."""

    findings: list[Finding] = field(default_factory=list)
    ran: dict[str, float] = field(default_factory=dict)  # detector id -> seconds
    skipped: dict[str, str] = field(default_factory=dict)  # detector id -> reason
    errors: dict[str, str] = field(default_factory=dict)  # detector id -> message

    def to_dict(self) -> dict[str, Any]:
        return {
            "ran": {k: round(v, 4) for k, v in self.ran.items()},
            "skipped": dict(self.skipped),
            "errors": dict(self.errors),
        }


def applicable(det: Detector, asset: Asset) -> bool:
    kinds = det.media_kinds
    return kinds is None or asset.media_kind in kinds


class _Alarm:
    """The state of the deadline timer (one per process: signals go to the main thread)."""

    armed = False


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    if _Alarm.armed:
        _Alarm.armed = False
        raise BudgetExceeded("time budget spent (timer)")


def _timer_usable() -> bool:
    """A SIGALRM timer is ours to use: main thread, no other handler, no timer running."""
    if (
        not hasattr(signal, "setitimer")
        or threading.current_thread() is not threading.main_thread()
    ):
        return False
    try:
        handler = signal.getsignal(signal.SIGALRM)
        running = signal.getitimer(signal.ITIMER_REAL)[0] > 0
    except (ValueError, OSError):
        return False
    # None: a handler installed outside Python (libFuzzer's, for one): not ours to replace
    return handler in (signal.SIG_DFL, signal.SIG_IGN) and not running


@contextlib.contextmanager
def _timer_scope() -> Iterator[bool]:
    """Our SIGALRM handler installed for one file's detectors (when the timer is ours to use);
    yields whether :func:`_deadline` may arm it. Installing it once per file instead of once
    per detector saves most of the signal calls (they were 10 % of a metadata inspect)."""
    if not _timer_usable():
        yield False
        return
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    try:
        yield True
    finally:
        try:
            _Alarm.armed = False
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)


@contextlib.contextmanager
def _deadline(asset: Asset, deadline: float | None, timer: bool = False) -> Iterator[None]:
    """``asset.deadline`` set, and the timer armed when ``timer`` (inside :func:`_timer_scope`),
    for the body's duration."""
    asset.deadline = deadline
    armed = timer and deadline is not None
    if armed:
        assert deadline is not None
        _Alarm.armed = True
        signal.setitimer(signal.ITIMER_REAL, max(deadline - time.monotonic(), 0.001))
    try:
        yield
    finally:
        try:
            _Alarm.armed = False  # the handler ignores a late signal from here on
        finally:
            if armed:
                signal.setitimer(signal.ITIMER_REAL, 0)
            asset.deadline = None


def _mb(n: float) -> str:
    return f"{n / (1 << 20):.1f} MiB"


def run_detectors(
    asset: Asset,
    options: DetectOptions | None = None,
    detectors: list[Detector] | None = None,
) -> DetectionRun:
    """Every applicable detector, cheapest first; never raises."""
    options = options or DetectOptions()
    run = DetectionRun()
    chosen = detectors if detectors is not None else registry.detectors()
    chosen = sorted(chosen, key=lambda d: (COST_RANK.get(d.cost, 9), d.id))
    limit = COST_RANK[options.max_cost]
    budget = options.time_budget
    size = asset.size
    with _timer_scope() as timer:
        _run_each(asset, options, chosen, run, timer, limit, budget, size)
    return run


def _run_each(
    asset: Asset,
    options: DetectOptions,
    chosen: list[Detector],
    run: DetectionRun,
    timer: bool,
    limit: int,
    budget: float | None,
    size: int | None,
) -> None:
    for det in chosen:
        if options.only is not None and det.id not in options.only:
            continue
        if det.id in options.skip:
            run.skipped[det.id] = "skipped by the caller"
            continue
        if not applicable(det, asset):
            continue
        if COST_RANK.get(det.cost, 9) > limit:
            run.skipped[det.id] = f"{det.cost} detector (allowed: up to {options.max_cost})"
            continue
        heavy = det.cost != "cheap"
        cap = options.size_budget
        if heavy and cap is not None and size is not None and size > cap:
            run.skipped[det.id] = (
                f"size budget: the file is {_mb(size)}, over the {_mb(cap)}"
                " allowed for content-decoding detectors"
            )
            _warn(asset, f"detector {det.id} skipped: {run.skipped[det.id]}")
            continue
        now = time.monotonic()
        if heavy and budget is not None and now - asset.started > budget:
            run.skipped[det.id] = f"time budget of {budget:g} s per file spent"
            _warn(asset, f"detector {det.id} skipped: {run.skipped[det.id]}")
            continue
        deadline = None
        if budget is not None:
            deadline = asset.started + budget if heavy else now + budget
        t0 = time.monotonic()
        found: list[Any] = []
        try:
            with _deadline(asset, deadline, timer):
                found = det.detect(asset, options)
        except BudgetExceeded:
            spent = time.monotonic() - t0
            run.skipped[det.id] = (
                f"time budget of {budget:g} s per file spent: stopped after {spent:.1f} s"
            )
            _warn(asset, f"detector {det.id} {run.skipped[det.id]}")
        except SynthlabelError as exc:
            run.errors[det.id] = exc.message
            run.ran[det.id] = time.monotonic() - t0
        except Exception as exc:  # a detector plug-in must never take inspection down
            run.errors[det.id] = f"{type(exc).__name__}: {exc}"
            run.ran[det.id] = time.monotonic() - t0
        else:
            run.ran[det.id] = time.monotonic() - t0
        if not isinstance(found, list):
            found = []
        run.findings.extend(f for f in found if isinstance(f, Finding))


def _warn(asset: Asset, message: str) -> None:
    """A budget note in the report's warnings (once)."""
    warnings = getattr(asset.report, "warnings", None)
    if isinstance(warnings, list) and message not in warnings:
        warnings.append(message)
