"""Run the detectors on one asset: cost filter, time budget, isolation of failures."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from synthlabel.detect import registry
from synthlabel.detect.base import COST_RANK, Asset, DetectOptions, Detector
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
        elapsed = time.monotonic() - asset.started
        if (
            options.time_budget is not None
            and det.cost != "cheap"
            and elapsed > options.time_budget
        ):
            run.skipped[det.id] = f"time budget of {options.time_budget:g} s per file spent"
            continue
        t0 = time.monotonic()
        try:
            found = det.detect(asset, options)
        except SynthlabelError as exc:
            run.errors[det.id] = exc.message
            found = []
        except Exception as exc:  # a detector plug-in must never take inspection down
            run.errors[det.id] = f"{type(exc).__name__}: {exc}"
            found = []
        run.ran[det.id] = time.monotonic() - t0
        run.findings.extend(f for f in found if isinstance(f, Finding))
    return run
