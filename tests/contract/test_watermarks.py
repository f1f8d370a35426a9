"""The conformance suite every registered watermark algorithm runs.

A new algorithm (built in or from a third-party package through the ``synthlabel.watermarks``
entry point group) passes this file unchanged: the round trip at default strength recovers
the payload, unmarked inputs are not detected, ``detect`` never raises on garbage of the right
type (it answers ``present=False`` with a reason), and a payload that cannot fit is an error,
not a silent weak mark. Robustness numbers live in ``bench/``, not here.
"""

from __future__ import annotations

import math
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from synthlabel import plugins
from synthlabel.watermark import registry
from synthlabel.watermark.base import (
    DEFAULT_P_THRESHOLD,
    AudioSignal,
    AudioWatermark,
    Detection,
    ImageWatermark,
    TextWatermark,
    VideoWatermark,
    WatermarkAlgorithm,
    WatermarkCapacityError,
    WatermarkError,
)
from synthlabel.watermark.payload import payload_for, watermark_key

PROTOCOL = {
    "image": ImageWatermark,
    "audio": AudioWatermark,
    "video": VideoWatermark,
    "text": TextWatermark,
}
KEY = watermark_key("001191110000MA0000000H10001", "01JD3Q8W5Z6V7K2M4N8P0R2S4T")
ALGOS = registry.algorithms()
BY_KIND = {
    kind: [pytest.param(a, id=a.id) for a in ALGOS if a.media_kind == kind]
    or [pytest.param(None, marks=pytest.mark.skip(reason=f"no {kind} algorithm installed"))]
    for kind in PROTOCOL
}


def check_detection(algo: WatermarkAlgorithm, det: Detection) -> None:
    """Invariants of every Detection, found or not."""
    assert isinstance(det, Detection)
    assert det.algorithm == algo.id
    assert 0.0 <= det.p_value <= 1.0 and not math.isnan(det.p_value)
    if det.present:
        assert det.p_value <= DEFAULT_P_THRESHOLD
        assert det.payload is not None and len(det.payload) * 8 >= det.payload_bits > 0
    else:
        assert det.payload is None, "a negative detection must not leak guessed bits"
        assert det.reason, "a negative detection says why"
    det.to_dict()  # serialisable view works


def payload(algo: WatermarkAlgorithm) -> bytes:
    return payload_for(KEY, algo.payload_bits)


# --- generated carriers ----------------------------------------------------------------


def photo(w: int = 384, h: int = 288, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    base = 110 + 70 * np.sin(xx / 29.0 + seed) * np.cos(yy / 41.0) + 20 * np.sin((xx - yy) / 7.0)
    rgb = np.dstack([base, 0.7 * base + 40, 230 - 0.6 * base]) + rng.normal(0, 6, (h, w, 3))
    return np.clip(rgb, 0, 255).astype(np.uint8)


def clip(seconds: float = 8.0, rate: int = 16000, channels: int = 1, seed: int = 0) -> AudioSignal:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    tone = 0.2 * np.sin(2 * np.pi * 220 * t) * (1 + 0.5 * np.sin(2 * np.pi * 0.7 * t))
    pink = np.cumsum(rng.normal(0, 1, t.size))
    pink = 0.05 * (pink - np.convolve(pink, np.ones(64) / 64, mode="same")) / 8
    x = (tone + pink).astype(np.float32)
    return AudioSignal(x if channels == 1 else np.stack([x] * channels, axis=1), rate)


def video(
    dest: Path, size: str = "320x240", seconds: float = 3.0, frames: int | None = None
) -> Path:
    limit = ["-frames:v", str(frames)] if frames else ["-t", str(seconds)]
    subprocess.run(
        [
            "ffmpeg",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"testsrc2=size={size}:rate=25",
            *limit,
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            str(dest),
        ],
        check=True,
        timeout=120,
    )
    return dest


HUMAN_TEXT = (
    "The watermark is the implicit label that survives re-encoding. Metadata is stripped by "
    "any screenshot, so a platform that receives a copy needs another way to find out where "
    "it came from. This paragraph was written by a person for the test suite; it has the "
    "ordinary statistics of English prose, with short and long words, punctuation, numbers "
    "such as 2025 and 45438, and a few repeated phrases. The repeated phrases matter: a "
    "detector that counts the same context twice would be fooled by them. The repeated "
    "phrases matter."
)


# --- the registry ------------------------------------------------------------------------


def test_builtin_algorithms_are_registered_with_unique_ids() -> None:
    ids = [a.id for a in ALGOS]
    assert len(ids) == len(set(ids))
    assert set(registry.DEFAULTS.values()) <= set(ids), registry.load_errors()
    for kind, wanted in registry.DEFAULTS.items():
        assert registry.default_for(kind).id == wanted


@pytest.mark.parametrize("algo", [pytest.param(a, id=a.id) for a in ALGOS])
def test_every_algorithm_implements_its_protocol(algo: WatermarkAlgorithm) -> None:
    assert algo.media_kind in PROTOCOL
    assert isinstance(algo, PROTOCOL[algo.media_kind])
    assert algo.id and algo.name and algo.payload_bits >= 0
    if algo.media_kind in ("image", "video"):
        assert algo.payload_bits >= 64
    if algo.media_kind == "audio":
        assert algo.payload_bits >= 32
    assert registry.get(algo.id) is algo


def test_unknown_algorithm_names_the_known_ones() -> None:
    with pytest.raises(registry.UnknownWatermark, match="sl-img-1"):
        registry.get("no-such-mark")


class _FakeEP:
    def __init__(self, name: str, value: str) -> None:
        self.name, self.value = name, value


def test_third_party_plugins_load_through_entry_points(monkeypatch: pytest.MonkeyPatch) -> None:
    """A plug-in is one entry point; a broken one is reported, never fatal."""
    eps = [
        _FakeEP("image", "synthlabel.watermark.image:ALGORITHM"),
        _FakeEP("mine", f"{__name__}:THIRD_PARTY"),
        _FakeEP("broken", "no_such_module_xyz:ALGORITHM"),
        _FakeEP("wrong", f"{__name__}:NOT_AN_ALGORITHM"),
    ]
    monkeypatch.setattr(plugins, "entry_points", lambda group: eps)
    point: plugins.PluginPoint[WatermarkAlgorithm] = plugins.PluginPoint(
        registry.ENTRY_POINT_GROUP,
        (),
        lambda obj: isinstance(obj, WatermarkAlgorithm),
        kind="watermark algorithm",
    )
    found = point.registry()
    assert set(found) == {"sl-img-1", "thirdparty-img"}
    errors = " ".join(point.load_errors())
    assert "no_such_module_xyz" in errors and "is not a watermark algorithm" in errors


class _ThirdParty:
    id = "thirdparty-img"
    name = "a third-party example"
    media_kind = "image"
    payload_bits = 64

    def embed(self, rgb: Any, payload: bytes, *, strength: float = 1.0) -> Any:
        return rgb

    def detect(self, rgb: Any) -> Detection:
        return Detection(self.id, False, 1.0, reason="example")


THIRD_PARTY = _ThirdParty()
NOT_AN_ALGORITHM = object()


def test_register_and_unregister_at_run_time() -> None:
    registry.register(THIRD_PARTY)  # type: ignore[arg-type]
    try:
        assert registry.get("thirdparty-img") is THIRD_PARTY
        with pytest.raises(Exception, match="thirdparty-img"):
            registry.register(THIRD_PARTY)  # type: ignore[arg-type]
    finally:
        registry.unregister("thirdparty-img")
    with pytest.raises(registry.UnknownWatermark):
        registry.get("thirdparty-img")


# --- images ------------------------------------------------------------------------------


@pytest.mark.parametrize("algo", BY_KIND["image"])
def test_image_round_trip(algo: ImageWatermark) -> None:
    rgb = photo()
    marked = algo.embed(rgb, payload(algo))
    assert marked.shape == rgb.shape and marked.dtype == np.uint8
    assert not np.array_equal(marked, rgb)
    mse = float(np.mean((marked.astype(float) - rgb) ** 2))
    assert 10 * math.log10(255**2 / mse) >= 38
    det = algo.detect(marked)
    check_detection(algo, det)
    assert det.present and det.payload == payload(algo)


@pytest.mark.parametrize("algo", BY_KIND["image"])
def test_image_unmarked_and_garbage_are_not_detected(algo: ImageWatermark) -> None:
    rng = np.random.default_rng(5)
    cases = [
        photo(seed=1),
        photo(300, 500, seed=2),
        rng.integers(0, 256, (256, 256, 3), dtype=np.uint8),
        np.zeros((200, 200, 3), np.uint8),
        np.full((128, 512, 3), 255, np.uint8),
        np.zeros((1, 1, 3), np.uint8),
        np.zeros((3, 700, 3), np.uint8),
    ]
    for rgb in cases:
        det = algo.detect(rgb)
        check_detection(algo, det)
        assert not det.present


@pytest.mark.parametrize("algo", BY_KIND["image"])
def test_image_too_small_is_a_capacity_error(algo: ImageWatermark) -> None:
    with pytest.raises(WatermarkCapacityError):
        algo.embed(photo(16, 16), payload(algo))
    with pytest.raises(WatermarkError):
        algo.embed(photo(), b"")  # an empty payload is a caller error


# --- audio -------------------------------------------------------------------------------


@pytest.mark.parametrize("algo", BY_KIND["audio"])
@pytest.mark.parametrize(("rate", "channels"), [(16000, 1), (44100, 2)])
def test_audio_round_trip(algo: AudioWatermark, rate: int, channels: int) -> None:
    sig = clip(rate=rate, channels=channels)
    marked = algo.embed(sig, payload(algo))
    assert marked.sample_rate == rate and marked.samples.shape == sig.samples.shape
    assert marked.samples.dtype == np.float32 and np.all(np.abs(marked.samples) <= 1.0)
    noise = float(np.sum((marked.samples.astype(float) - sig.samples) ** 2))
    assert 10 * math.log10(float(np.sum(sig.samples.astype(float) ** 2)) / noise) >= 25
    det = algo.detect(marked)
    check_detection(algo, det)
    assert det.present and det.payload == payload(algo)


@pytest.mark.parametrize("algo", BY_KIND["audio"])
def test_audio_unmarked_and_garbage_are_not_detected(algo: AudioWatermark) -> None:
    rng = np.random.default_rng(3)
    nan = np.full(16000, np.nan, np.float32)
    cases = [
        clip(seed=4),
        clip(rate=44100, channels=2, seed=5),
        AudioSignal(rng.uniform(-1, 1, 16000 * 6).astype(np.float32), 16000),
        AudioSignal(np.zeros(16000 * 6, np.float32), 16000),
        AudioSignal(np.zeros(10, np.float32), 8000),
        AudioSignal(np.zeros(0, np.float32), 16000),
        AudioSignal(nan, 16000),
    ]
    for sig in cases:
        det = algo.detect(sig)
        check_detection(algo, det)
        assert not det.present


@pytest.mark.parametrize("algo", BY_KIND["audio"])
def test_audio_that_cannot_hold_the_payload_is_an_error(algo: AudioWatermark) -> None:
    with pytest.raises(WatermarkCapacityError):
        algo.embed(clip(seconds=0.3), payload(algo))
    with pytest.raises(WatermarkCapacityError):
        algo.embed(AudioSignal(np.zeros(16000 * 8, np.float32), 16000), payload(algo))


# --- video -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    d = tmp_path_factory.mktemp("wmvideo")
    out = {
        "plain": video(d / "plain.mp4"),
        "small": video(d / "small.mp4", size="24x24"),
        "one": video(d / "one.mp4", frames=1),
    }
    data = out["plain"].read_bytes()
    (d / "trunc.mp4").write_bytes(data[: len(data) // 3])
    (d / "text.mp4").write_bytes(b"not a video at all\n" * 50)
    out["trunc"], out["text"] = d / "trunc.mp4", d / "text.mp4"
    yield out


@pytest.mark.parametrize("algo", BY_KIND["video"])
def test_video_round_trip(algo: VideoWatermark, videos: dict[str, Path], tmp_path: Path) -> None:
    dest = tmp_path / "marked.mp4"
    figures = algo.embed_file(videos["plain"], dest, payload(algo))
    assert isinstance(figures, dict) and dest.stat().st_size > 0
    det = algo.detect_file(dest)
    check_detection(algo, det)
    assert det.present and det.payload == payload(algo)


@pytest.mark.parametrize("algo", BY_KIND["video"])
def test_video_unmarked_and_garbage_are_not_detected(
    algo: VideoWatermark, videos: dict[str, Path], tmp_path: Path
) -> None:
    for name in ("plain", "small", "one", "trunc", "text"):
        det = algo.detect_file(videos[name])
        check_detection(algo, det)
        assert not det.present, name
    det = algo.detect_file(tmp_path / "missing.mp4")
    check_detection(algo, det)


@pytest.mark.parametrize("algo", BY_KIND["video"])
def test_video_that_cannot_hold_the_payload_is_an_error(
    algo: VideoWatermark, videos: dict[str, Path], tmp_path: Path
) -> None:
    for name in ("small", "text"):
        dest = tmp_path / f"{name}-out.mp4"
        with pytest.raises(WatermarkError):
            algo.embed_file(videos[name], dest, payload(algo))
        assert not dest.exists(), "no half-written output"


# --- text --------------------------------------------------------------------------------


@pytest.mark.parametrize("algo", BY_KIND["text"])
def test_text_detector_on_human_text_empty_and_garbage(algo: TextWatermark) -> None:
    cases = [HUMAN_TEXT, "", " ", "a", "\x00\x01\x02", "字" * 500, HUMAN_TEXT * 3, "🙂" * 300]
    for text in cases:
        det = algo.detect(text)
        check_detection(algo, det)
        assert not det.present
