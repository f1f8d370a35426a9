"""``sl-vid-1``: per-frame luma marks streamed through ffmpeg, voted over frames.

Inputs are small clips generated with ffmpeg's lavfi sources (``testsrc2`` / ``mandelbrot``
video, ``sine`` audio), 256x144 to 640x360, 1-4 s. Robustness is asserted on 640x360: below
about 400x225 a half-size copy has chips of under 3 px and the mark does not survive it.
Attacks are real ffmpeg re-encodes (H.264/H.265 CRF 28, half resolution, 24/25 fps, a 3 s
excerpt from the middle); stream properties are read back with ffprobe and audio packets
compared by ``framemd5``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from tests.fixtures.video import ffprobe_json

from synthlabel.watermark import payload as pl
from synthlabel.watermark.base import (
    DEFAULT_P_THRESHOLD,
    WatermarkCapacityError,
    WatermarkError,
)
from synthlabel.watermark.video import ALGORITHM, MIN_FRAMES

_CI = bool(os.environ.get("CI"))
pytestmark = pytest.mark.skipif(
    not (shutil.which("ffmpeg") and shutil.which("ffprobe")) and not _CI,
    reason="ffmpeg not installed (Debian: apt-get install ffmpeg)",
)

PAYLOAD = pl.payload_for(pl.watermark_key("synthlabel-test", "video-0001"), 64)


def ffmpeg(*args: str) -> None:
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args],
        capture_output=True,
        check=True,
    )


def probe(path: Path) -> dict:  # type: ignore[type-arg]
    return ffprobe_json(path)


def audio_md5(path: Path) -> list[str]:
    """Per-packet MD5s of the audio stream, copied without decoding."""
    out = subprocess.run(
        [
            "ffmpeg",
            "-hide_banner",
            "-nostdin",
            "-loglevel",
            "error",
            "-i",
            str(path),
            "-map",
            "0:a:0",
            "-c",
            "copy",
            "-f",
            "framemd5",
            "-",
        ],
        capture_output=True,
        check=True,
    ).stdout.decode()
    return [ln.rsplit(",", 1)[-1].strip() for ln in out.splitlines() if ln and ln[0] != "#"]


def make_clip(
    path: Path,
    *,
    size: str = "640x360",
    rate: str = "30",
    seconds: float = 4.0,
    source: str = "testsrc2",
    extra: tuple[str, ...] = (),
) -> Path:
    ffmpeg(
        "-f", "lavfi", "-i", f"{source}=s={size}:r={rate}",
        "-f", "lavfi", "-i", "sine=f=440:sample_rate=48000",
        "-t", f"{seconds}", "-map", "0:v", "-map", "1:a",
        "-c:v", "libx264", "-preset", "veryfast", "-crf", "16", "-pix_fmt", "yuv420p",
        "-color_primaries", "bt709", "-color_trc", "bt709", "-colorspace", "bt709",
        "-color_range", "tv", "-c:a", "aac", "-b:a", "96k",
        "-metadata", "title=sl-vid-1 test", *extra, str(path),
    )  # fmt: skip
    return path


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("vid")
    src = make_clip(d / "src.mp4")
    marked = d / "marked.mp4"
    stats = ALGORITHM.embed_file(src, marked, PAYLOAD)
    (d / "stats.json").write_text(json.dumps(stats))
    return {"src": src, "marked": marked, "stats": d / "stats.json", "dir": d}


def assert_found(path: Path, **kw: float) -> None:
    det = ALGORITHM.detect_file(path, **kw)
    assert det.present, det
    assert det.payload == PAYLOAD
    assert det.p_value <= DEFAULT_P_THRESHOLD
    assert det.algorithm == "sl-vid-1"


def test_round_trip_and_figures(clips: dict[str, Path]) -> None:
    stats = json.loads(clips["stats"].read_text())
    assert stats["frames"] == 120
    assert (stats["width"], stats["height"]) == (640, 360)
    assert stats["encoder"] == "libx264" and stats["crf"] == 18
    assert stats["grid"] == "64x36"
    assert 42.0 <= stats["psnr_y_mark_db"] < 45.0
    det = ALGORITHM.detect_file(clips["marked"])
    assert det.present and det.payload == PAYLOAD, det
    assert det.details["frames_read"] >= 10
    assert det.p_value <= DEFAULT_P_THRESHOLD
    assert det.details["pilot_z"] > 5.0


def test_unmarked_not_detected(clips: dict[str, Path], tmp_path: Path) -> None:
    det = ALGORITHM.detect_file(clips["src"])
    assert not det.present and det.payload is None
    assert det.p_value > DEFAULT_P_THRESHOLD
    other = make_clip(tmp_path / "m.mp4", size="320x240", source="mandelbrot", seconds=2)
    assert not ALGORITHM.detect_file(other).present


def test_streams_and_metadata_kept(clips: dict[str, Path]) -> None:
    a, b = probe(clips["src"]), probe(clips["marked"])
    va = next(s for s in a["streams"] if s["codec_type"] == "video")
    vb = next(s for s in b["streams"] if s["codec_type"] == "video")
    for key in (
        "width",
        "height",
        "pix_fmt",
        "r_frame_rate",
        "avg_frame_rate",
        "nb_frames",
        "color_range",
        "color_space",
        "color_primaries",
        "color_transfer",
    ):
        assert va.get(key) == vb.get(key), key
    assert b["format"]["tags"]["title"] == "sl-vid-1 test"
    assert [s["codec_type"] for s in b["streams"]] == ["video", "audio"]
    assert audio_md5(clips["src"]) == audio_md5(clips["marked"])  # audio copied bit for bit
    assert oct(clips["marked"].stat().st_mode & 0o777) == oct(clips["src"].stat().st_mode & 0o666)


def _has_encoder(name: str) -> bool:
    out = subprocess.run(["ffmpeg", "-hide_banner", "-encoders"], capture_output=True).stdout
    return f" {name} ".encode() in out


ATTACKS: dict[str, tuple[str, ...]] = {
    "h264_crf28": ("-c:v", "libx264", "-preset", "veryfast", "-crf", "28"),
    "h265_crf28": ("-c:v", "libx265", "-preset", "veryfast", "-crf", "28",
                   "-x265-params", "log-level=error"),
    "half_res": ("-vf", "scale=320:180", "-c:v", "libx264", "-preset", "veryfast", "-crf", "23"),
    "fps24": ("-r", "24", "-c:v", "libx264", "-preset", "veryfast", "-crf", "23"),
    "fps25": ("-vf", "fps=25", "-c:v", "libx264", "-preset", "veryfast", "-crf", "23"),
    "trim3s_middle": ("-ss", "0.5", "-t", "3", "-c:v", "libx264", "-preset", "veryfast",
                      "-crf", "23"),
}  # fmt: skip


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_survives_attack(clips: dict[str, Path], tmp_path: Path, attack: str) -> None:
    if attack.startswith("h265") and not _has_encoder("libx265"):
        pytest.skip("this ffmpeg has no libx265")
    out = tmp_path / f"{attack}.mp4"
    ffmpeg("-i", str(clips["marked"]), *ATTACKS[attack], "-c:a", "copy", str(out))
    assert_found(out)


def test_matroska_round_trip(tmp_path: Path) -> None:
    src = tmp_path / "src.mkv"
    ffmpeg(
        "-f", "lavfi", "-i", "mandelbrot=s=320x240:r=25", "-f", "lavfi", "-i", "sine=f=220",
        "-t", "2", "-c:v", "libx264", "-preset", "veryfast", "-c:a", "libopus", str(src),
    )  # fmt: skip
    out = tmp_path / "out.mkv"
    stats = ALGORITHM.embed_file(src, out, PAYLOAD)
    assert stats["container"] == "matroska" and stats["frames"] == 50
    assert probe(out)["format"]["format_name"].startswith("matroska")
    assert audio_md5(src) == audio_md5(out)
    assert_found(out)


def test_too_few_frames_is_a_capacity_error(tmp_path: Path) -> None:
    src = tmp_path / "one.mp4"
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "testsrc2=s=320x240:r=30",
        "-frames:v",
        str(MIN_FRAMES - 1),
        "-c:v",
        "libx264",
        str(src),
    )
    with pytest.raises(WatermarkCapacityError, match="frame"):
        ALGORITHM.embed_file(src, tmp_path / "out.mp4", PAYLOAD)
    assert not (tmp_path / "out.mp4").exists()


def test_tiny_frames_are_a_capacity_error(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "tiny.mp4", size="48x32", seconds=1)
    with pytest.raises(WatermarkCapacityError):
        ALGORITHM.embed_file(src, tmp_path / "out.mp4", PAYLOAD)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.mp4"]  # no temp left over


def test_bad_inputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00\x00\x00\x18ftypisom" + os.urandom(3000))
    with pytest.raises(WatermarkError, match=r"junk\.mp4"):
        ALGORITHM.embed_file(junk, tmp_path / "o.mp4", PAYLOAD)
    text = tmp_path / "notes.mp4"
    text.write_text("hello")
    with pytest.raises(WatermarkError, match=r"notes\.mp4"):
        ALGORITHM.embed_file(text, tmp_path / "o.mp4", PAYLOAD)
    with pytest.raises(WatermarkError, match="8 bytes"):
        ALGORITHM.embed_file(junk, tmp_path / "o.mp4", b"\x01\x02")
    for path in (junk, text, tmp_path / "missing.mp4", tmp_path):
        det = ALGORITHM.detect_file(path)
        assert not det.present and det.reason
    assert not list(tmp_path.glob(".o.mp4*"))


def test_missing_ffmpeg_is_a_clear_error(
    clips: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNTHLABEL_FFMPEG", str(tmp_path / "no-ffmpeg"))
    monkeypatch.setenv("SYNTHLABEL_FFPROBE", str(tmp_path / "no-ffprobe"))
    with pytest.raises(WatermarkError, match="ffmpeg"):
        ALGORITHM.embed_file(clips["src"], tmp_path / "o.mp4", PAYLOAD)
    det = ALGORITHM.detect_file(clips["marked"])
    assert not det.present and "ffmpeg" in (det.reason or "")


def test_memory_is_bounded(tmp_path: Path) -> None:
    """A 12 s clip (360 frames, 20 MB of raw YUV) is marked with a few frames in memory."""
    src = make_clip(tmp_path / "long.mp4", size="256x144", seconds=12)
    ALGORITHM.embed_file(src, tmp_path / "warm.mp4", PAYLOAD)  # imports, caches
    frame = 256 * 144 * 3 // 2
    tracemalloc.start()
    try:
        stats = ALGORITHM.embed_file(src, tmp_path / "out.mp4", PAYLOAD)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert stats["frames"] == 360
    assert peak < 40 * frame, peak  # the whole video would be 360 frames
    assert np.isfinite(stats["psnr_y_mark_db"])


def test_dest_suffix_picks_the_container(clips: dict[str, Path], tmp_path: Path) -> None:
    """MP4 in, WebM out: VP9 video, the AAC audio re-encoded to Opus (WebM cannot hold AAC)."""
    out = tmp_path / "out.webm"
    stats = ALGORITHM.embed_file(clips["src"], out, PAYLOAD)
    assert stats["container"] == "webm" and stats["encoder"] == "libvpx-vp9"
    assert any("audio" in n for n in stats["notes"])
    info = probe(out)
    assert "webm" in info["format"]["format_name"]
    assert [s["codec_name"] for s in info["streams"]] == ["vp9", "opus"]
    assert_found(out)


def test_hevc_source_keeps_its_codec_family(tmp_path: Path) -> None:
    if not _has_encoder("libx265"):
        pytest.skip("this ffmpeg has no libx265")
    src = tmp_path / "src.mp4"
    ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=s=256x144:r=25", "-t", "2", "-c:v", "libx265",
        "-x265-params", "log-level=error", "-pix_fmt", "yuv420p", str(src),
    )  # fmt: skip
    out = tmp_path / "out.mp4"
    stats = ALGORITHM.embed_file(src, out, PAYLOAD)
    assert stats["encoder"] == "libx265"
    assert probe(out)["streams"][0]["codec_tag_string"] == "hvc1"
    assert_found(out)


def test_truncated_and_audio_only_inputs(clips: dict[str, Path], tmp_path: Path) -> None:
    data = clips["marked"].read_bytes()
    head = tmp_path / "head.mp4"  # moov at the end (ffmpeg default): the index is lost
    head.write_bytes(data[: len(data) // 2])
    with pytest.raises(WatermarkError, match=r"head\.mp4"):
        ALGORITHM.embed_file(head, tmp_path / "o.mp4", PAYLOAD)
    faststart = tmp_path / "fs.mp4"
    ffmpeg("-i", str(clips["src"]), "-c", "copy", "-movflags", "+faststart", str(faststart))
    cut = tmp_path / "cut.mp4"  # index intact, media data cut short
    blob = faststart.read_bytes()
    cut.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(WatermarkError, match="truncated"):
        ALGORITHM.embed_file(cut, tmp_path / "o.mp4", PAYLOAD)
    audio = tmp_path / "audio.mp4"
    ffmpeg("-f", "lavfi", "-i", "sine=f=440", "-t", "1", "-c:a", "aac", str(audio))
    with pytest.raises(WatermarkError, match="no video stream"):
        ALGORITHM.embed_file(audio, tmp_path / "o.mp4", PAYLOAD)
    for path in (head, audio):
        det = ALGORITHM.detect_file(path)
        assert not det.present and det.reason
    assert not list(tmp_path.glob(".o.mp4*")) and not (tmp_path / "o.mp4").exists()


def test_p_values_of_unmarked_clips_are_not_small(tmp_path: Path) -> None:
    """The pilot statistic of unmarked clips behaves like noise (|z| small, CRC fails)."""
    for i, source in enumerate(("testsrc2", "mandelbrot", "cellauto", "life")):
        clip = make_clip(tmp_path / f"u{i}.mp4", size="256x144", seconds=1, source=source)
        det = ALGORITHM.detect_file(clip)
        assert not det.present, det
        assert abs(det.details["pilot_z"]) < 4.5, det.details


def test_embed_reads_its_own_output_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The encoded output must carry the payload; a mark too weak to survive its own encode
    is retried 3 dB stronger, then refused (no file written), never shipped silently."""
    import synthlabel.watermark.video as vid

    src = make_clip(tmp_path / "small.mp4", size="320x240", seconds=3.0)
    stats = ALGORITHM.embed_file(src, tmp_path / "ok.mp4", PAYLOAD)
    assert stats["strength_used"] in (1.0, 1.41) and stats["self_check_p"] <= 1e-6
    monkeypatch.setattr(vid, "SELF_CHECK_GAINS", (1e-3, 2e-3))  # far too weak to survive
    with pytest.raises(WatermarkCapacityError, match="too small or too short"):
        ALGORITHM.embed_file(src, tmp_path / "weak.mp4", PAYLOAD)
    assert not (tmp_path / "weak.mp4").exists()
    assert not list(tmp_path.glob(".weak.mp4.*"))  # no temp file left behind
