"""Explicit video labels (GB 45438 §5.4): caption on the opening frames, by timestamps.

Inputs: 3 s 160x120 testsrc clips made with ffmpeg (H.264 + AAC in MP4, VP9 + Opus in WebM,
a variable-frame-rate Matroska file). Frames are extracted with ffmpeg and the caption region
is compared with the source; stream properties are read back with ffprobe.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from synthlabel.errors import MalformedInput, SynthlabelError, UnsupportedFormat
from synthlabel.label.audio import AudioPromptOptions
from synthlabel.label.video import (
    InvalidVideoOptions,
    VideoCaptionOptions,
    VideoTooShort,
    has_video,
    render_video_caption,
)
from synthlabel.label.visible import required_text_px
from tests.fixtures.video import ffprobe_json

_CI = bool(os.environ.get("CI"))
pytestmark = pytest.mark.skipif(
    not (shutil.which("ffmpeg") and shutil.which("ffprobe")) and not _CI,
    reason="ffmpeg not installed (Debian: apt-get install ffmpeg)",
)
needs_espeak = pytest.mark.skipif(
    not shutil.which("espeak-ng") and not _CI, reason="espeak-ng not installed"
)
W, H = 160, 120


def ffmpeg(*args: str) -> bytes:
    return subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args],
        capture_output=True,
        check=True,
    ).stdout


def probe(path: Path) -> dict:  # type: ignore[type-arg]
    return ffprobe_json(path)


def stream(doc: dict, kind: str) -> dict:  # type: ignore[type-arg]
    return next(s for s in doc["streams"] if s["codec_type"] == kind)


def frame_at(path: Path, t: float, w: int = W, h: int = H) -> np.ndarray:
    """The frame displayed at time ``t`` (decoded, accurate seek) as RGB."""
    raw = ffmpeg(
        "-i",
        str(path),
        "-ss",
        f"{t}",
        "-frames:v",
        "1",
        "-f",
        "rawvideo",
        "-pix_fmt",
        "rgb24",
        "pipe:1",
    )
    return np.frombuffer(raw, np.uint8).reshape(h, w, 3).astype(np.int16)


def region_diff(a: np.ndarray, b: np.ndarray, box: tuple[int, int, int, int]) -> float:
    x0, y0, x1, y1 = box
    return float(np.mean(np.abs(a[y0:y1, x0:x1] - b[y0:y1, x0:x1])))


def audio_md5s(path: Path) -> list[str]:
    text = ffmpeg("-i", str(path), "-map", "0:a:0", "-c", "copy", "-f", "framemd5", "pipe:1")
    return [
        ln.rsplit(",", 1)[1].strip()
        for ln in text.decode().splitlines()
        if ln and not ln.startswith("#")
    ]


def write(tmp: Path, name: str, data: bytes) -> Path:
    p = tmp / name
    p.write_bytes(data)
    return p


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("video")
    src = [
        "-f",
        "lavfi",
        "-i",
        f"testsrc=s={W}x{H}:r=25:d=3",
        "-f",
        "lavfi",
        "-i",
        "sine=f=440:d=3:r=48000",
    ]
    out = {
        "mp4": d / "clip.mp4",
        "webm": d / "clip.webm",
        "vfr": d / "vfr.mkv",
        "silent": d / "silent.mp4",
        "one": d / "one.mp4",
        "short": d / "short.mp4",
        "mute": d / "mute.mp4",
    }
    ffmpeg(
        *src, "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(out["mp4"])
    )
    ffmpeg(
        *src,
        "-c:v",
        "libvpx-vp9",
        "-pix_fmt",
        "yuv420p",
        "-deadline",
        "realtime",
        "-c:a",
        "libopus",
        "-shortest",
        str(out["webm"]),
    )
    # 50 frames in the first second, then 12.5 frames/s: frame counts would mistime the caption
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        f"testsrc=s={W}x{H}:r=25:d=4",
        "-vf",
        "setpts='if(lt(N,50),N*0.02,1+(N-50)*0.08)/TB'",
        "-fps_mode",
        "passthrough",
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        str(out["vfr"]),
    )
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        f"testsrc=s={W}x{H}:r=25:d=3",
        "-f",
        "lavfi",
        "-i",
        "anullsrc=r=44100:cl=stereo",
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-shortest",
        str(out["silent"]),
    )
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        f"testsrc=s={W}x{H}:r=25:d=1",
        "-frames:v",
        "1",
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        str(out["one"]),
    )
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        f"testsrc=s={W}x{H}:r=25:d=1",
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        str(out["short"]),
    )
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        f"testsrc=s={W}x{H}:r=25:d=3",
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        str(out["mute"]),
    )
    return out


FAMILY = {"mp4": ("mp4", "h264", "aac"), "webm": ("mkv", "vp9", "opus")}


@pytest.mark.parametrize("name", ["mp4", "webm"])
def test_caption_on_opening_frames_only(clips: dict[str, Path], name: str, tmp_path: Path) -> None:
    fid, vcodec, acodec = FAMILY[name]
    src = clips[name]
    r = render_video_caption(src.read_bytes(), fid, VideoCaptionOptions(seconds=2.0))
    out = write(tmp_path, f"out.{name}", r.data)
    # the caption is there at 0.5 s and gone at 2.5 s (compared with the source frames)
    box = r.box
    control = (0, 0, 40, 30)  # a region far from the bottom-right label
    on = region_diff(frame_at(src, 0.5), frame_at(out, 0.5), box)
    off = region_diff(frame_at(src, 2.5), frame_at(out, 2.5), box)
    noise = region_diff(frame_at(src, 2.5), frame_at(out, 2.5), control)
    assert on > 25, on
    assert off < noise + 4, (off, noise)
    assert box[2] > W * 0.6 and box[3] > H * 0.6  # bottom-right
    # text height >= 5 % of the short side, like the image label
    assert r.text_px >= required_text_px(W, H) == math.ceil(0.05 * H) == r.min_px
    # same resolution, frame rate, pixel format and codec family; audio packets identical
    a, b = probe(src), probe(out)
    va, vb = stream(a, "video"), stream(b, "video")
    for key in ("width", "height", "pix_fmt", "codec_name", "avg_frame_rate"):
        assert va[key] == vb[key], key
    assert (r.width, r.height, r.codec) == (W, H, vcodec) and r.fps == 25.0
    assert stream(b, "audio")["codec_name"] == acodec
    assert audio_md5s(src) == audio_md5s(out)
    assert r.audio == "copied" and r.caption_seconds == 2.0
    assert r.crf_or_bitrate.startswith("crf ")
    assert abs(float(b["format"]["duration"]) - float(a["format"]["duration"])) < 0.1


def test_variable_frame_rate_is_timed_by_timestamps(clips: dict[str, Path], tmp_path: Path) -> None:
    src = clips["vfr"]
    r = render_video_caption(src.read_bytes(), "mkv", VideoCaptionOptions(seconds=2.0))
    out = write(tmp_path, "out.mkv", r.data)
    assert r.variable_frame_rate
    box = r.box
    assert region_diff(frame_at(src, 1.8), frame_at(out, 1.8), box) > 25
    assert region_diff(frame_at(src, 2.3), frame_at(out, 2.3), box) < 8
    pts = lambda p: ffmpeg("-i", str(p), "-map", "0:v", "-f", "framemd5", "pipe:1")  # noqa: E731
    stamps = [
        [ln.split(",")[2].strip() for ln in pts(p).decode().splitlines() if ln[:1] != "#"]
        for p in (src, out)
    ]
    assert stamps[0] == stamps[1]  # every frame keeps its timestamp


def test_persistent_corner_and_end_caption(clips: dict[str, Path], tmp_path: Path) -> None:
    src = clips["mp4"]
    data = src.read_bytes()
    corner = (0, 0, 60, 30)
    opts = VideoCaptionOptions(seconds=2.0, persistent_corner=True, corner_position="top-left")
    r = render_video_caption(data, "mp4", opts)
    out = write(tmp_path, "o.mp4", r.data)
    for t in (0.5, 2.5):  # the corner label stays; the opening caption goes
        assert region_diff(frame_at(src, t), frame_at(out, t), corner) > 15, t
    assert region_diff(frame_at(src, 2.5), frame_at(out, 2.5), r.box) < 8
    # end caption: the last 2 s of the 3 s clip, i.e. from 1.0 s; nothing else at 2.5 s
    end = render_video_caption(
        data, "mp4", VideoCaptionOptions(seconds=2.0, end_caption=True, position="top-right")
    )
    out = write(tmp_path, "e.mp4", end.data)
    assert region_diff(frame_at(src, 2.9), frame_at(out, 2.9), end.box) > 25
    assert region_diff(frame_at(src, 2.9), frame_at(out, 2.9), (0, 60, 160, 120)) < 8
    # persistent label in the caption's own position: one label for the whole clip
    same = render_video_caption(
        data, "mp4", VideoCaptionOptions(seconds=2.0, persistent_corner=True)
    )
    assert same.caption_seconds == pytest.approx(3.0, abs=0.05)
    o = frame_at(write(tmp_path, "p.mp4", same.data), 2.7)
    assert region_diff(frame_at(src, 2.7), o, same.box) > 25


def test_larger_frame_text_height(tmp_path: Path) -> None:
    p = tmp_path / "wide.mp4"
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "testsrc2=s=640x360:r=30:d=2.5",
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        str(p),
    )
    r = render_video_caption(p.read_bytes(), "mp4", VideoCaptionOptions(seconds=2.0))
    assert r.text_px >= 18 == r.min_px  # ceil(0.05 * 360)
    assert (r.width, r.height, r.fps) == (640, 360, 30.0)


@needs_espeak
def test_voice_prompt_mixed_into_audio(clips: dict[str, Path], tmp_path: Path) -> None:
    src = clips["silent"]
    r = render_video_caption(
        src.read_bytes(), "mp4", VideoCaptionOptions(voice_prompt=True, seconds=2.0)
    )
    out = write(tmp_path, "o.mp4", r.data)
    assert r.audio == "voice prompt mixed, re-encoded"
    raw = ffmpeg("-i", str(out), "-map", "0:a", "-ac", "1", "-ar", "16000", "-f", "f32le", "pipe:1")
    x = np.frombuffer(raw, "<f4")
    assert 20 * math.log10(float(np.sqrt(np.mean(x[: 2 * 16000] ** 2))) + 1e-12) > -40
    a, b = probe(src), probe(out)
    sa, sb = stream(a, "audio"), stream(b, "audio")
    for key in ("codec_name", "sample_rate", "channels"):
        assert sa[key] == sb[key], key
    # the audio keeps its length (mixed in, not prepended): lip sync is unchanged
    assert abs(float(sb["duration"]) - float(sa["duration"])) < 0.05
    assert any("cut off" in w for w in r.warnings)  # 4.7 s prompt on a 3 s clip
    # The encoder spent almost nothing on the silent source track; the re-encode with the
    # speech in it must not copy that bitrate (a 1 kbit/s AAC track leaves no words).
    assert int(sa["bit_rate"]) < 16_000 <= 30_000 <= int(sb["bit_rate"])


@needs_espeak
def test_voice_prompt_without_audio_adds_a_track(clips: dict[str, Path], tmp_path: Path) -> None:
    r = render_video_caption(
        clips["mute"].read_bytes(),
        "mp4",
        VideoCaptionOptions(voice_prompt=True, prompt=AudioPromptOptions(mode="rhythm")),
    )
    doc = probe(write(tmp_path, "o.mp4", r.data))
    assert stream(doc, "audio")["codec_name"] == "aac"
    assert r.audio == "prompt track added"


def test_bad_inputs(clips: dict[str, Path]) -> None:
    with pytest.raises(VideoTooShort, match="1 frame"):
        render_video_caption(clips["one"].read_bytes(), "mp4")
    with pytest.raises(VideoTooShort, match="2 s"):
        render_video_caption(clips["short"].read_bytes(), "mp4")
    r = render_video_caption(
        clips["short"].read_bytes(), "mp4", VideoCaptionOptions(allow_short=True)
    )
    assert r.caption_seconds == pytest.approx(1.0, abs=0.05) and r.warnings
    for fid in ("mp4", "mkv"):
        with pytest.raises(MalformedInput):
            render_video_caption(b"\x00\x00\x00\x18ftypisom" + b"junk" * 50, fid)
        with pytest.raises(MalformedInput):
            render_video_caption(b"", fid)
    with pytest.raises(UnsupportedFormat):
        render_video_caption(clips["mp4"].read_bytes(), "wav")
    # a truncated WebM announces 3 s but holds about one: refused, not silently under-captioned
    with pytest.raises(VideoTooShort, match="truncated"):
        webm = clips["webm"].read_bytes()
        render_video_caption(webm[: len(webm) // 4], "mkv")


def test_audio_only_mp4_is_not_video(tmp_path: Path, clips: dict[str, Path]) -> None:
    p = tmp_path / "a.m4a"
    ffmpeg("-f", "lavfi", "-i", "sine=d=1", "-c:a", "aac", "-f", "mp4", str(p))
    assert not has_video(p.read_bytes(), "mp4")
    assert has_video(clips["mp4"].read_bytes(), "mp4")
    with pytest.raises(MalformedInput, match="no video stream"):
        render_video_caption(p.read_bytes(), "mp4")


@pytest.mark.parametrize(
    "kw",
    [
        {"seconds": 1.5},
        {"seconds": float("nan")},
        {"position": "center"},
        {"corner_position": "middle"},
        {"text": "生成内容"},
        {"crf": 99},
        {"theme": "neon"},
    ],
)
def test_invalid_options(kw: dict[str, object]) -> None:
    with pytest.raises(InvalidVideoOptions):
        VideoCaptionOptions(**kw)  # type: ignore[arg-type]
    assert issubclass(InvalidVideoOptions, SynthlabelError)


def test_overlay_blends_in_the_source_pixel_format() -> None:
    """No per-frame RGB round trip: ffmpeg's format=auto picks RGBA for an RGBA overlay."""
    from synthlabel.label.video import _overlay_format

    assert _overlay_format("yuv420p") == "yuv420"
    assert _overlay_format("yuv420p10le") == "yuv420p10"
    assert _overlay_format("yuv422p") == "yuv422"
    assert _overlay_format("gbrp") == "gbrp"
