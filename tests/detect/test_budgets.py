"""Per-file time and size budgets of the detector runner, and hostile files end to end.

The time budget stops a detector that is still running at its deadline (a SIGALRM timer in
the main thread, ``asset.check_time()`` anywhere), not only the detectors that would start
after it; the size budget skips the content-decoding detectors of large files. The hostile
files (zip bomb, zTXt bomb, deep JSON, huge XMP, 4 GB JUMBF and MP4 boxes, truncated MP4) are
inspected with every detector up to ``medium`` and watermarks on, in a child process whose
peak memory is measured.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from synthlabel.detect import traces
from synthlabel.detect.base import Asset, BudgetExceeded, DetectOptions
from synthlabel.detect.run import run_detectors
from synthlabel.formats import registry as formats
from synthlabel.model.findings import Finding, Strength
from synthlabel.model.results import InspectionReport
from tests.detect import _hostile
from tests.fixtures import traces as tfx

ROOT = Path(__file__).resolve().parents[2]


def _asset(data: bytes | None = None) -> Asset:
    data = data if data is not None else tfx.png()
    return Asset("x.png", formats.get("png"), InspectionReport(path="x.png"), data)


class _Det:
    id = "base"
    name = "test detector"
    media_kinds = None
    cost = "medium"
    codes = ("trace.test.*",)

    def detect(self, asset: Asset, options: DetectOptions) -> list[Finding]:
        return [Finding(self.id, "trace.test.hit", "hit", Strength.WEAK, "here", "test")]


class _Busy(_Det):
    """Burns CPU in pure Python and swallows every Exception (as defensive detectors do)."""

    id = "busy"

    def detect(self, asset: Asset, options: DetectOptions) -> list[Finding]:
        end = time.monotonic() + 30
        while time.monotonic() < end:
            try:  # noqa: SIM105 - the shape of a defensive detector's loop
                sum(range(1000))
            except Exception:
                pass
        return super().detect(asset, options)


class _Sleeper(_Det):
    id = "sleeper"

    def detect(self, asset: Asset, options: DetectOptions) -> list[Finding]:
        time.sleep(30)
        return super().detect(asset, options)


class _Checker(_Det):
    """Cooperative: calls asset.check_time() in its loop."""

    id = "checker"

    def detect(self, asset: Asset, options: DetectOptions) -> list[Finding]:
        end = time.monotonic() + 30
        while time.monotonic() < end:
            asset.check_time()
            time.sleep(0.005)
        return super().detect(asset, options)


class _Cheap(_Det):
    id = "cheap"
    cost = "cheap"


class _Later(_Det):
    id = "zz-later"  # sorts after the slow ones


def _timed(asset: Asset, options: DetectOptions, dets: list[Any]) -> tuple[Any, float]:
    t0 = time.monotonic()
    run = run_detectors(asset, options, dets)
    return run, time.monotonic() - t0


@pytest.mark.parametrize("slow", [_Busy, _Sleeper, _Checker])
def test_a_running_detector_is_stopped_at_the_per_file_deadline(slow: type[_Det]) -> None:
    asset = _asset()
    run, took = _timed(asset, DetectOptions(time_budget=0.5), [_Cheap(), slow(), _Later()])
    assert took < 10.0, took
    assert run.skipped[slow.id].startswith("time budget of 0.5 s per file spent: stopped after")
    assert slow.id not in run.ran and slow.id not in run.errors
    # the next medium detector does not start; the cheap one ran first and kept its finding
    assert run.skipped["zz-later"] == "time budget of 0.5 s per file spent"
    assert "cheap" in run.ran and [f.detector for f in run.findings] == ["cheap"]
    assert any("stopped after" in w and slow.id in w for w in asset.report.warnings)
    # the timer is disarmed and the handler restored
    assert signal.getsignal(signal.SIGALRM) is signal.SIG_DFL
    assert signal.getitimer(signal.ITIMER_REAL)[0] == 0
    assert asset.deadline is None


def test_off_the_main_thread_the_cooperative_check_still_bounds_a_detector() -> None:
    asset = _asset()
    out: dict[str, Any] = {}

    def work() -> None:
        out["run"], out["took"] = _timed(asset, DetectOptions(time_budget=0.4), [_Checker()])

    t = threading.Thread(target=work)
    t.start()
    t.join(10)
    assert not t.is_alive()
    assert out["took"] < 10.0
    assert "stopped after" in out["run"].skipped["checker"]


def test_a_foreign_sigalrm_handler_is_left_alone() -> None:
    def mine(signum: int, frame: Any) -> None:  # pragma: no cover - never fires
        raise AssertionError("the runner armed our alarm")

    previous = signal.signal(signal.SIGALRM, mine)
    try:
        asset = _asset()
        run, took = _timed(asset, DetectOptions(time_budget=0.3), [_Checker()])
        assert took < 10.0 and "stopped after" in run.skipped["checker"]
        assert signal.getsignal(signal.SIGALRM) is mine
    finally:
        signal.signal(signal.SIGALRM, previous)


def test_cheap_detectors_get_their_own_budget_and_fast_ones_are_untouched() -> None:
    asset = _asset()
    asset.started -= 1000  # the shared budget of the content detectors is long spent
    run = run_detectors(asset, DetectOptions(time_budget=1.0), [_Cheap(), _Det()])
    assert "cheap" in run.ran and run.findings and run.findings[0].detector == "cheap"
    assert run.skipped["base"] == "time budget of 1 s per file spent"
    # no budget at all: nothing is stopped
    asset = _asset()
    run = run_detectors(asset, DetectOptions(time_budget=None), [_Cheap(), _Det()])
    assert set(run.ran) == {"cheap", "base"} and not run.skipped


def test_check_time_raises_the_typed_exception_only_past_the_deadline() -> None:
    asset = _asset()
    asset.check_time()  # no deadline: never raises
    assert asset.time_left() is None
    asset.deadline = time.monotonic() + 60
    asset.check_time()
    assert 0 < (asset.time_left() or 0) <= 60
    asset.deadline = time.monotonic() - 1
    with pytest.raises(BudgetExceeded):
        asset.check_time()
    assert not issubclass(BudgetExceeded, Exception)  # `except Exception` cannot swallow it


def test_the_size_budget_skips_content_decoding_detectors_with_a_note() -> None:
    data = tfx.png()
    asset = _asset(data)
    assert asset.size == len(data)
    run = run_detectors(asset, DetectOptions(size_budget=len(data) - 1), [_Cheap(), _Det()])
    assert "cheap" in run.ran
    assert run.skipped["base"].startswith("size budget: the file is")
    assert any("size budget" in w for w in asset.report.warnings)
    run = run_detectors(_asset(data), DetectOptions(size_budget=len(data)), [_Cheap(), _Det()])
    assert set(run.ran) == {"cheap", "base"}


def test_a_real_watermark_search_is_bounded_by_the_budget(tmp_path: Path) -> None:
    import io

    import numpy as np
    from PIL import Image

    from synthlabel.pipeline.inspecting import InspectOptions, inspect_file

    rng = np.random.default_rng(0)
    img = Image.fromarray(rng.integers(0, 255, (1500, 2000, 3), dtype=np.uint8))
    buf = io.BytesIO()
    img.save(buf, "PNG", compress_level=1)
    path = tmp_path / "big.png"
    path.write_bytes(buf.getvalue())
    t0 = time.monotonic()
    report = inspect_file(path, InspectOptions(detect=True, watermarks=True, time_budget=0.02))
    assert time.monotonic() - t0 < 10
    assert not report.error
    reason = report.detectors["skipped"]["watermark"]
    assert reason.startswith("time budget of 0.02 s per file spent")
    assert any("watermark" in w and "time budget" in w for w in report.warnings)


# -- hostile files, inspected end to end in a child process ------------------------------------


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    folder = tmp_path_factory.mktemp("hostile")
    res = subprocess.run(
        [sys.executable, "-m", "tests.detect._hostile", str(folder)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    rows = [json.loads(line) for line in res.stdout.splitlines() if line.startswith("{")]
    return {r["case"]: r for r in rows}


#: What each case must report: (where, text) — where: error | warning | c2pa.
EXPECT = {
    "zip-bomb-docx": ("error", "declares"),
    "ztxt-bomb-png": ("ok", ""),
    "deep-json-png": ("ok", ""),
    "huge-xmp-png": ("warning", "too large"),
    "big-xmp-png": ("warning", "too large"),
    "jumbf-4gb-png": ("c2pa", "could not be read"),
    "jumbf-4gb-jpeg": ("c2pa", "could not be read"),
    "truncated-mp4": ("error", "runs past the end"),
    "moov-4gb-mp4": ("error", "runs past the end"),
}


@pytest.mark.parametrize("case", sorted(_hostile.CASES))
def test_hostile_files_return_quickly_with_a_clear_message(
    hostile: dict[str, dict[str, Any]], case: str
) -> None:
    row = hostile[case]
    assert "traceback" not in row, row.get("traceback")
    assert row["seconds"] < 30.0, row  # a hang guard (loaded CI machines), not a speed test
    where, text = EXPECT[case]
    if where == "error":
        assert text in row["error"]
    else:
        assert not row["error"], row["error"]
        det = row["detectors"]
        assert not det["errors"], det["errors"]  # no detector blew up on it
        assert {"aigc", "c2pa", "traces", "watermark"} <= set(det["ran"]) | set(det["skipped"])
        if where == "warning":
            assert any(text in w for w in row["warnings"]), row["warnings"]
        if where == "c2pa":
            assert text in row["c2pa_error"]
    # memory: the child's peak stays a few hundred MB over its baseline (files up to 42 MB)
    grown_mb = (row["maxrss_kb"] - hostile["baseline"]["maxrss_kb"]) / 1024
    assert grown_mb < 512, grown_mb


def test_png_text_fields_copy_at_most_the_value_cap() -> None:
    """Regression: every chunk body (IDAT too) was copied, and a 40 MB iTXt was held four
    times over (body, rest, raw, a UCS-2 str: ~200 MB) before the value was cut to 4 M chars."""
    big = "\ufeff" + "x" * (40 << 20)
    data = tfx.png([("iTXt", "parameters", big)])
    col = traces._Collector()
    tracemalloc.start()
    try:
        traces._png_fields(data, col)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [f.key for f in col.out] == ["parameters"]
    assert len(col.out[0].value) == traces.MAX_VALUE_CHARS
    assert peak < 64 << 20, peak >> 20
