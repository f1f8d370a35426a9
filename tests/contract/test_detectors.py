"""The conformance suite every registered detector runs.

A new detector (built in or a third party's, through the ``synthlabel.detectors`` entry point
group) passes this file unchanged: it implements the Protocol, declares the finding codes it
emits and the default policy gives each of them a verdict class, and it never raises on
hostile or truncated content (it returns no findings instead).
"""

from __future__ import annotations

import fnmatch
import io
import random
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from synthlabel import plugins
from synthlabel.detect import registry
from synthlabel.detect.base import COST_RANK, Asset, DetectOptions, Detector
from synthlabel.detect.run import run_detectors
from synthlabel.errors import SynthlabelError
from synthlabel.formats import registry as formats
from synthlabel.inspect.reader import inspect_bytes
from synthlabel.model.findings import Finding, Strength
from synthlabel.model.policy import builtin_policy
from tests.fixtures import all_samples

DETECTORS = registry.detectors()
PARAMS = [pytest.param(d, id=d.id) for d in DETECTORS]
SAMPLES = all_samples()


def asset_for(data: bytes, path: str = "<bytes>") -> Asset:
    report = inspect_bytes(data, path=path, c2pa=False)
    try:
        handler = formats.get(report.format) if report.format else None
    except SynthlabelError:
        handler = None
    return Asset(path, handler, report, data)


def test_builtin_detectors_load() -> None:
    ids = {d.id for d in DETECTORS}
    assert {"aigc", "c2pa", "iptc", "watermark"} <= ids, registry.load_errors()
    missing = [e for e in registry.load_errors() if "No module named 'synthlabel" in e]
    assert not missing, missing


@pytest.mark.parametrize("det", PARAMS)
def test_protocol_and_declared_codes(det: Detector) -> None:
    assert isinstance(det, Detector)
    assert det.id and det.name and det.cost in COST_RANK
    assert det.media_kinds is None or det.media_kinds <= {
        "image", "audio", "video", "text", "document"
    }  # fmt: skip
    assert det.codes, "a detector declares the finding codes it can emit"
    policy = builtin_policy()
    for code in det.codes:
        probe = code.replace("*", "x")
        hit = [r for r in policy.rules if any(fnmatch.fnmatchcase(probe, w) for w in r.when)]
        assert hit, f"{det.id}: no rule of the default policy gives {code!r} a verdict"


@pytest.mark.parametrize("det", PARAMS)
def test_findings_on_real_samples_are_well_formed(det: Detector) -> None:
    options = DetectOptions(max_cost="medium", time_budget=None)
    for sample in SAMPLES[:: max(1, len(SAMPLES) // 12)]:
        asset = asset_for(sample.make(), f"sample.{sample.name}")
        run = run_detectors(asset, options, [det])
        assert not run.errors, run.errors
        for finding in run.findings:
            check_finding(det, finding)


def check_finding(det: Detector, finding: Finding) -> None:
    assert isinstance(finding, Finding)
    assert finding.detector == det.id
    assert isinstance(finding.strength, Strength)
    assert finding.summary and finding.source
    assert any(fnmatch.fnmatchcase(finding.code, c) for c in det.codes), finding.code
    finding.to_dict()


def _hostile() -> list[tuple[str, bytes]]:
    rng = random.Random(7)
    png = io.BytesIO()
    Image.new("RGB", (64, 48), (10, 200, 30)).save(png, "PNG")
    jpg = io.BytesIO()
    Image.new("RGB", (64, 48), (10, 20, 230)).save(jpg, "JPEG")
    cases = [
        ("empty", b""),
        ("noise", bytes(rng.getrandbits(8) for _ in range(4096))),
        ("png-truncated", png.getvalue()[: len(png.getvalue()) // 2]),
        ("jpeg-truncated", jpg.getvalue()[:300]),
        ("png-flipped", bytes(b ^ 0xFF if 40 < i < 80 else b for i, b in enumerate(png.getvalue()))),  # noqa: E501
    ]  # fmt: skip
    for sample in SAMPLES[:: max(1, len(SAMPLES) // 8)]:
        data = sample.make()
        cut = rng.randrange(16, max(17, len(data)))
        cases.append((f"{sample.name}-cut", data[:cut]))
    return cases


@pytest.mark.parametrize("det", PARAMS)
def test_never_raises_on_hostile_input(det: Detector) -> None:
    options = DetectOptions(max_cost="medium", time_budget=None)
    for name, data in _hostile():
        asset = asset_for(data, name)
        try:
            found = det.detect(asset, options)
        except SynthlabelError:
            continue  # a typed, explained refusal is acceptable (the runner reports it)
        assert isinstance(found, list), name
        for finding in found:
            check_finding(det, finding)


def test_runner_isolates_a_failing_detector_and_respects_cost_and_budget() -> None:
    class Boom:
        id = "boom"
        name = "always fails"
        media_kinds = None
        cost = "cheap"
        codes = ("trace.boom",)

        def detect(self, asset: Asset, options: DetectOptions) -> list[Finding]:
            raise RuntimeError("kaboom")

    class Costly(Boom):
        id = "costly"
        cost = "expensive"

    asset = asset_for(SAMPLES[0].make())
    run = run_detectors(asset, DetectOptions(), [Boom(), Costly()])  # type: ignore[list-item]
    assert run.errors == {"boom": "RuntimeError: kaboom"}
    assert "costly" in run.skipped and "expensive" in run.skipped["costly"]
    asset.started -= 1000  # the per-file budget is spent
    run = run_detectors(asset, DetectOptions(max_cost="expensive", time_budget=1.0),
                        [Costly()])  # type: ignore[list-item]  # fmt: skip
    assert "time budget" in run.skipped["costly"]


class _FakeEP:
    def __init__(self, name: str, value: str) -> None:
        self.name, self.value = name, value


class _ThirdParty:
    id = "thirdparty"
    name = "an example third-party detector"
    media_kinds = frozenset({"image"})
    cost = "cheap"
    codes = ("trace.example.*",)

    def detect(self, asset: Asset, options: DetectOptions) -> list[Finding]:
        return []


THIRD_PARTY = _ThirdParty()


def test_third_party_detectors_load_through_entry_points(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    eps = [
        _FakeEP("aigc", "synthlabel.detect.aigc:DETECTOR"),
        _FakeEP("mine", f"{__name__}:THIRD_PARTY"),
        _FakeEP("broken", "no_such_detector_module:DETECTOR"),
    ]
    monkeypatch.setattr(plugins, "entry_points", lambda group: eps)
    point: plugins.PluginPoint[Any] = plugins.PluginPoint(
        registry.ENTRY_POINT_GROUP, (), lambda o: isinstance(o, Detector), kind="detector"
    )
    assert set(point.registry()) == {"aigc", "thirdparty"}
    assert any("no_such_detector_module" in e for e in point.load_errors())


def test_register_at_run_time(tmp_path: Path) -> None:
    registry.register(THIRD_PARTY)
    try:
        assert registry.get("thirdparty") is THIRD_PARTY
    finally:
        registry.unregister("thirdparty")
    with pytest.raises(registry.UnknownDetector, match="known: "):
        registry.get("thirdparty")
