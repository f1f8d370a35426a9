"""Video frames for OCR (``detect._frames``) and captions that come up after the opening.

The detector once asked ffmpeg's ``fps`` filter for ``start_time=start`` after seeking the
input to ``start``; the seek had already made that time 0, so every decode from a start > 0
came back empty and ``inspect --deep`` never looked past the opening 3.25 s. After that it read
only two frames past the opening (the middle and a second before the end), so a caption shown
from 6 s to 9 s of a 20 s clip was never seen; the later frames now cover the whole clip.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from synthlabel.detect import _frames, _ocr, visible
from synthlabel.detect.base import Asset, DetectOptions
from synthlabel.detect.visible import DETECTOR, later_times
from synthlabel.formats import registry as formats
from synthlabel.inspect.reader import inspect_bytes
from synthlabel.label.visible import VisibleOptions, draw_label
from synthlabel.model.findings import Finding

FPS = 10
W, H = 320, 240


def _encode(path: Path, frames: list[np.ndarray]) -> None:
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo",
         "-pix_fmt", "rgb24", "-s", f"{W}x{H}", "-r", str(FPS), "-i", "pipe:0",
         "-c:v", "libx264", "-preset", "ultrafast", "-crf", "18", "-pix_fmt", "yuv420p",
         str(path)],
        input=b"".join(f.tobytes() for f in frames),
        check=True,
        capture_output=True,
        timeout=60,
    )  # fmt: skip


def _counter_clip(path: Path, seconds: float = 8.0) -> None:
    """Frame i shows i in binary: eight 40 px wide bands, band b white when bit b is set."""
    frames = []
    for i in range(round(seconds * FPS)):
        f = np.zeros((H, W, 3), np.uint8)
        for b in range(8):
            if i >> b & 1:
                f[:, 40 * b : 40 * b + 40] = 255
        frames.append(f)
    _encode(path, frames)


def _number(frame: np.ndarray) -> int:
    return sum(1 << b for b in range(8) if frame[:, 40 * b + 10 : 40 * b + 30].mean() > 128)


def test_decode_frames_from_a_later_start(tmp_path: Path) -> None:
    """Frame k of a decode from ``start`` is the one shown at ``start + k / fps`` (the first
    one, k = 0, is the first frame that begins at or after ``start``)."""
    clip = tmp_path / "count.mp4"
    _counter_clip(clip)
    size, duration = _frames.video_geometry(clip, "mp4")
    assert size == (W, H) and duration == pytest.approx(8.0, abs=0.05)
    every = _frames.decode_frames(clip, "mp4", size, seconds=8.0, fps=FPS)
    assert [_number(f) for _t, f in every] == list(range(80))
    cases = {
        (0.0, 1.0, 4): [0, 2, 5, 7],
        (4.0, 1.0, 2): [40, 45],
        (6.3, 0.5, 10): [63, 64, 65, 66, 67],
        (3.05, 1.0, 4): [31, 33, 35, 38],
        (7.5, 2.0, 4): [75, 77],  # the clip ends at 8 s
    }
    for (start, seconds, fps), want in cases.items():
        got = _frames.decode_frames(clip, "mp4", size, start=start, seconds=seconds, fps=fps)
        assert [t for t, _ in got] == pytest.approx([start + k / fps for k in range(len(want))])
        assert [_number(f) for _t, f in got] == want, (start, fps)
        assert all(f.shape == (H, W, 3) for _t, f in got)
    one = _frames.frame_at(clip, "mp4", 5.0, size)
    assert one is not None and _number(one) == 50
    assert _frames.frame_at(clip, "mp4", 9.0, size) is None  # past the end


def _captioned_clip(path: Path, seconds: float, shown: tuple[float, float]) -> int:
    """A clip whose caption (drawn by our labeller) shows only from ``shown[0]`` to
    ``shown[1]`` seconds; the labeller's ink height."""
    rng = np.random.default_rng(5)
    small = (rng.random((H // 16 + 1, W // 16 + 1, 3)) * 255).astype(np.uint8)
    bg = Image.fromarray(small).resize((W, H), Image.Resampling.BICUBIC)
    captioned, _box, ink = draw_label(bg, VisibleOptions(position="bottom-right"))
    plain = np.asarray(bg)
    marked = np.asarray(captioned.convert("RGB"))
    lo, hi = shown
    _encode(path, [marked if lo <= i / FPS < hi else plain for i in range(round(seconds * FPS))])
    return int(ink)


def _deep(clip: Path) -> tuple[list[Finding], Asset]:
    data = clip.read_bytes()
    report = inspect_bytes(data, path=str(clip), c2pa=False)
    handler = formats.get(report.format) if report.format else None
    asset = Asset(str(clip), handler, report, data, file=clip)
    return DETECTOR.detect(asset, DetectOptions(max_cost="expensive", time_budget=None)), asset


def test_later_frames_cover_the_clip_coarse_to_fine() -> None:
    """Evenly spaced from the opening window to a second before the end, about one every 2 s
    (at least 2, at most 10), the middle first and each next one furthest from those read."""
    assert later_times(None) == [] and later_times(4.0) == []
    assert sorted(later_times(6.0)) == pytest.approx([4.125, 5.0])
    t20 = later_times(20.0)
    assert len(t20) == 8
    assert sorted(t20) == pytest.approx([3.25 + 15.75 * (i + 1) / 8 for i in range(8)])
    assert t20[0] == pytest.approx(sorted(t20)[3]) and t20[1] == pytest.approx(19.0)
    gaps = np.diff([3.25, *sorted(t20)])
    assert gaps.max() <= visible.VIDEO_LATER_SPACING_S
    # each prefix is spread out: its largest gap is at most twice the smallest
    for k in range(3, 9):
        pts = sorted([3.25, *t20[:k]])
        assert max(np.diff(pts)) <= 2 * 15.75 / 8 * 2.01, (k, pts)
    long = later_times(3600.0)
    assert len(long) == visible.VIDEO_LATER_MAX and max(long) == pytest.approx(3599.0)


@pytest.mark.skipif(not _ocr.available(), reason="synthlabel[ocr] not installed")
def test_caption_only_in_the_middle_is_found(tmp_path: Path) -> None:
    """A 10 s clip whose caption shows only from 4 s to 6 s: the opening frames have none, a
    later frame has it; it is reported as a caption in the middle that fails the
    opening-frames rule."""
    clip = tmp_path / "late.mp4"
    ink = _captioned_clip(clip, 10.0, (4.0, 6.0))
    found, _asset = _deep(clip)
    caps = [f for f in found if f.code == "visible.caption"]
    assert len(caps) == 1, found
    d = caps[0].details
    assert 4.0 <= d["frame_time"] < 6.0 and d["location"] == "middle or end"
    assert d["text"] == "AI生成" and abs(d["height_px"] - ink) <= 1
    assert d["compliant"] == "no" and "not on the opening frames" in d["failing"]
    assert caps[0].location.startswith(f"frame at {d['frame_time']:.2f} s")


@pytest.mark.skipif(not _ocr.available(), reason="synthlabel[ocr] not installed")
def test_caption_between_the_middle_and_the_opening_is_found(tmp_path: Path) -> None:
    """A 20 s clip whose caption shows only from 6 s to 9 s (neither at the opening, nor in
    the middle, nor at the end): once missed, now read on one of the 8 later frames."""
    clip = tmp_path / "quarter.mp4"
    ink = _captioned_clip(clip, 20.0, (6.0, 9.0))
    found, asset = _deep(clip)
    caps = [f for f in found if f.code == "visible.caption"]
    assert len(caps) == 1, found
    d = caps[0].details
    assert 6.0 <= d["frame_time"] < 9.0 and d["location"] == "middle or end", d
    assert abs(d["height_px"] - ink) <= 1
    ocr = asset.memo["ocr"][1]  # the OcrResult the detector cached
    times = [t for t, _s, _l in ocr.frames]
    assert times == sorted(times) and len(times) == 2 + 8


@pytest.mark.skipif(not _ocr.available(), reason="synthlabel[ocr] not installed")
def test_later_frames_stop_at_their_time_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the later frames' budget spent at once, only the first two (the middle and the
    end) are read, and the OCR result says so; the opening caption is still reported."""
    monkeypatch.setattr(visible, "VIDEO_LATER_BUDGET_S", 0.0)
    clip = tmp_path / "open.mp4"
    _captioned_clip(clip, 20.0, (0.0, 3.0))
    found, asset = _deep(clip)
    assert [f.details["location"] for f in found if f.code == "visible.caption"] == ["start"]
    ocr = asset.memo["ocr"][1]  # the OcrResult the detector cached
    later = [t for t, _s, _l in ocr.frames if t is not None and t >= visible.VIDEO_OPENING_S]
    assert later == pytest.approx(sorted(later_times(20.0)[:2]))
    assert any("time budget of 0 s spent" in n for n in ocr.notes), ocr.notes
