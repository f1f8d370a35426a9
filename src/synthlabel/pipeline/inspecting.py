"""Inspect and verify files (one or many, in parallel processes when there are many)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from synthlabel.detect.base import SIZE_BUDGET, Cost
from synthlabel.errors import SynthlabelError
from synthlabel.inspect.reader import inspect_bytes, inspect_path
from synthlabel.model.keys import KeyStore, TrustStore
from synthlabel.model.results import Compliance, InspectionReport
from synthlabel.pipeline.io import SIDECAR_SUFFIX, STREAM_THRESHOLD, read_file
from synthlabel.pipeline.parallel import run_jobs


@dataclass(frozen=True)
class InspectOptions:
    trust_file: str | None = None  # None: the default trust file in the key store home
    key_home: str | None = None
    c2pa: bool = True
    c2pa_trust_anchors: str | None = None  # PEM bundle path
    verify: bool = True  # check signatures and content binding
    # Look for robust watermarks (decodes pixels/samples: slower than metadata). The CLI and
    # synthlabel.inspect() turn it on; batch metadata scans leave it off.
    watermarks: bool = False
    watermark_seconds: float = 20.0  # audio/video: how much of the file to search
    text_watermark_key: bytes | None = None  # a provider's secret text-watermark key
    # Run the detector plug-ins and give the Labeling Measures' verdict with its evidence.
    detect: bool = False
    max_cost: Cost = "medium"  # cheap (metadata), medium (+ watermarks, hashes), expensive (+ OCR)
    only: frozenset[str] | None = None  # detector ids
    skip: frozenset[str] = frozenset()
    policy: str | None = None  # a built-in policy name or a TOML file (None: default)
    declared: bool = False  # the uploader declared the content AI-generated
    time_budget: float | None = 30.0  # seconds per file for the medium/expensive detectors
    size_budget: int | None = SIZE_BUDGET  # bigger files skip the content-decoding detectors
    registry_path: str | None = None  # perceptual-hash registry to match against


_trust_cache: dict[tuple[str | None, str | None], TrustStore] = {}


def _trust(options: InspectOptions) -> TrustStore:
    key = (options.trust_file, options.key_home)
    if key not in _trust_cache:
        if options.trust_file:
            _trust_cache[key] = TrustStore(Path(options.trust_file))
        else:
            _trust_cache[key] = KeyStore(Path(options.key_home) if options.key_home else None).trust
    return _trust_cache[key]


def inspect_file(path: Path, options: InspectOptions | None = None) -> InspectionReport:
    """Inspect one file. Never raises: problems are reported in the result.

    Files over STREAM_THRESHOLD are read through the plug-in's streaming methods when it has
    them (records, signatures and content binding without loading the file)."""
    options = options or InspectOptions()
    anchors = None
    if options.c2pa_trust_anchors:
        try:
            anchors = Path(options.c2pa_trust_anchors).read_bytes()
            from synthlabel.inspect.c2pa import check_trust_anchors

            check_trust_anchors(anchors)
        except SynthlabelError as exc:
            return _failed(path, str(exc))
        except OSError as exc:
            return _failed(
                path, f"cannot read trust anchors {options.c2pa_trust_anchors}: {exc.strerror}"
            )
    try:
        trust = _trust(options)
    except SynthlabelError as exc:
        return _failed(path, str(exc))
    sidecar = None
    side = path.with_name(path.name + SIDECAR_SUFFIX)
    if side.is_file():
        try:
            sidecar = read_file(side, limit=1024 * 1024)
        except SynthlabelError:
            sidecar = None
    try:
        if path.is_file() and path.stat().st_size > STREAM_THRESHOLD:
            streamed = inspect_path(path, trust=trust, verify=options.verify, sidecar=sidecar)
            if streamed is not None:
                if not streamed.error:
                    add_detection(streamed, None, path, options)
                return streamed
        data = read_file(path)
    except SynthlabelError as exc:
        return _failed(path, exc.message)
    except OSError as exc:
        return _failed(path, f"cannot read: {exc.strerror}")
    report = inspect_bytes(
        data,
        path=str(path),
        sidecar=sidecar,
        trust=trust,
        c2pa=options.c2pa,
        trust_anchors_pem=anchors,
        verify=options.verify,
    )
    if not report.error:
        add_detection(report, data, path, options)
    return report


def add_detection(
    report: InspectionReport, data: bytes | None, path: Path | None, options: InspectOptions
) -> None:
    """Run the detectors (or only the watermark ones) and the verdict policy on a report."""
    if not (options.detect or options.watermarks):
        return
    from synthlabel.detect.base import Asset, DetectOptions
    from synthlabel.detect.run import run_detectors
    from synthlabel.detect.watermarks import asset_watermarks
    from synthlabel.formats import registry
    from synthlabel.model.policy import load_policy

    try:
        handler = registry.get(report.format) if report.format else None
    except SynthlabelError:
        handler = None
    file = path if path is not None and path.is_file() else None
    asset = Asset(str(path) if path else report.path, handler, report, data, file)
    skip = set(options.skip)
    if not options.watermarks:
        skip.add("watermark")
    dopts = DetectOptions(
        max_cost=options.max_cost,
        only=options.only if options.detect else frozenset({"watermark"}),
        skip=frozenset(skip),
        time_budget=options.time_budget,
        size_budget=options.size_budget,
        watermark_seconds=options.watermark_seconds,
        text_watermark_key=options.text_watermark_key,
        registry_path=options.registry_path,
    )
    run = run_detectors(asset, dopts)
    if "watermarks" in asset.memo:
        report.watermarks = asset_watermarks(asset, dopts)
    for w in report.watermarks:
        if w.get("present") and w.get("matches_record") is False:
            report.warnings.append(
                f"watermark {w['algorithm']} carries payload {w['payload']}, which is not the "
                "watermark key of this file's AIGC record (copied or re-labelled content?)"
            )
    if not options.detect:
        return
    policy = load_policy(options.policy)
    report.decision = policy.decide(run.findings, declared=options.declared)
    report.detectors = run.to_dict()


def _failed(path: Path, error: str) -> InspectionReport:
    return InspectionReport(path=str(path), error=error, compliance=Compliance.INCONCLUSIVE)


def _job(path: str, options: InspectOptions) -> InspectionReport:
    return inspect_file(Path(path), options)


def inspect_many(
    paths: Iterable[Path],
    options: InspectOptions | None = None,
    *,
    workers: int | None = None,
    on_result: Callable[[InspectionReport], None] | None = None,
) -> list[InspectionReport]:
    """Inspect many files, in parallel processes when there are enough of them."""
    items = [str(p) for p in paths]
    return run_jobs(
        _job,
        items,
        options or InspectOptions(),
        workers=workers,
        on_result=on_result,
        min_parallel=16,
        warm_key=lambda p: Path(p).suffix.lower(),
    )
