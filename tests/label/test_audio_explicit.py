"""Explicit audio labels (GB 45438 §5.3): voice and rhythm prompts in WAV, MP3, FLAC, Ogg, M4A.

Inputs are generated with ffmpeg's lavfi sources; every property of the output is read back
with ffprobe / ffmpeg directly (not through the code under test), except the rhythm detector,
which is itself under test.
"""

from __future__ import annotations

import io
import math
import os
import re
import shutil
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest

from synthlabel.errors import MalformedInput, SynthlabelError, UnsupportedFormat
from synthlabel.label import _ffmpeg as ff
from synthlabel.label.audio import (
    DEFAULT_TEXTS,
    AudioPromptOptions,
    InvalidAudioOptions,
    RhythmProfile,
    SpeechSynthesisError,
    detect_rhythm_prompt,
    render_audio_prompt,
    rhythm_samples,
    synthesize_voice,
)
from tests.fixtures.video import ffprobe_json

_CI = bool(os.environ.get("CI"))
pytestmark = pytest.mark.skipif(
    not (shutil.which("ffmpeg") and shutil.which("ffprobe")) and not _CI,
    reason="ffmpeg not installed (Debian: apt-get install ffmpeg)",
)
needs_espeak = pytest.mark.skipif(
    not (shutil.which("espeak-ng") or shutil.which("espeak")) and not _CI,
    reason="espeak-ng not installed (Debian: apt-get install espeak-ng)",
)

FORMATS = ("wav", "mp3", "flac", "ogg", "m4a")
CONTENT_S = 3.0
SR = 44100


def ffmpeg(*args: str) -> bytes:
    proc = subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args],
        capture_output=True,
        check=True,
    )
    return proc.stdout


def probe(path: Path) -> dict:  # type: ignore[type-arg]
    return ffprobe_json(path)


def audio_stream(doc: dict) -> dict:  # type: ignore[type-arg]
    return next(s for s in doc["streams"] if s["codec_type"] == "audio")


def decode(path: Path, rate: int = SR, start: float = 0.0, dur: float | None = None) -> np.ndarray:
    args = ["-ss", f"{start}", "-i", str(path)]
    if dur is not None:
        args += ["-t", f"{dur}"]
    raw = ffmpeg(*args, "-map", "0:a:0", "-ac", "1", "-ar", str(rate), "-f", "f32le", "pipe:1")
    return np.frombuffer(raw, dtype="<f4").astype(np.float64)


def lufs(path: Path, start: float = 0.0, dur: float | None = None) -> float:
    args = ["ffmpeg", "-hide_banner", "-nostdin", "-nostats", "-ss", f"{start}", "-i", str(path)]
    if dur is not None:
        args += ["-t", f"{dur}"]
    err = subprocess.run(
        [*args, "-map", "0:a:0", "-af", "ebur128=framelog=verbose", "-f", "null", "-"],
        capture_output=True,
        check=True,
    ).stderr.decode()
    return float(re.findall(r"I:\s*(-?[\d.]+) LUFS", err)[-1])


def write(tmp: Path, name: str, data: bytes) -> Path:
    p = tmp / name
    p.write_bytes(data)
    return p


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """3 s of pink noise (about -20 LUFS) in each format, plus a few special inputs."""
    d = tmp_path_factory.mktemp("audio")
    out: dict[str, Path] = {}
    noise = f"anoisesrc=d={CONTENT_S}:c=pink:a=0.25:r={SR}:seed=7"
    codecs = {
        "wav": ["-c:a", "pcm_s16le"],
        "mp3": ["-c:a", "libmp3lame", "-b:a", "128k", "-metadata", "title=Pink Test"],
        "flac": ["-c:a", "flac", "-metadata", "title=Pink Test"],
        "ogg": ["-c:a", "libvorbis", "-b:a", "128k", "-metadata", "title=Pink Test"],
        "m4a": ["-c:a", "aac", "-b:a", "128k", "-metadata", "title=Pink Test"],
    }
    for fmt, args in codecs.items():
        out[fmt] = d / f"noise.{fmt}"
        ffmpeg("-f", "lavfi", "-i", noise, "-ac", "2", *args, str(out[fmt]))
    out["opus"] = d / "sine.opus.ogg"
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        f"sine=f=330:d={CONTENT_S}:r=48000",
        "-af",
        "volume=0.5",
        "-c:a",
        "libopus",
        "-b:a",
        "64k",
        str(out["opus"]),
    )
    out["silent"] = d / "silent.wav"
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "anullsrc=r=22050:cl=mono",
        "-t",
        f"{CONTENT_S}",
        "-c:a",
        "pcm_s16le",
        str(out["silent"]),
    )
    out["wav24"] = d / "noise24.wav"
    ffmpeg("-f", "lavfi", "-i", noise, "-ac", "2", "-c:a", "pcm_s24le", str(out["wav24"]))
    out["flac24"] = d / "noise24.flac"
    ffmpeg("-i", str(out["wav24"]), "-c:a", "flac", str(out["flac24"]))
    out["long"] = d / "long.wav"
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        f"anoisesrc=d=12:c=pink:a=0.25:r={SR}:seed=3",
        "-c:a",
        "pcm_s16le",
        str(out["long"]),
    )
    return out


def _fmt_id(name: str) -> str:
    extra = {"opus": "ogg", "silent": "wav", "long": "wav", "wav24": "wav", "flac24": "flac"}
    return extra.get(name, name)


# ---------------------------------------------------------------------------------------------
# Rhythm prompt


def test_rhythm_samples_profile() -> None:
    p = RhythmProfile()
    x = rhythm_samples(p, 48000)
    assert len(x) == round(1.08 * 48000)
    assert abs(p.seconds - 1.08) < 1e-9  # S g L g S g S with 1-unit gaps, unit 120 ms
    assert abs(np.max(np.abs(x)) - 10 ** (-6 / 20)) < 0.002  # -6 dBFS
    assert x[0] == 0.0  # 5 ms linear fade-in: starts at zero (no click)
    strict = RhythmProfile(strict_morse=True)
    assert abs(strict.seconds - 1.32) < 1e-9


@pytest.mark.parametrize("name", [*FORMATS, "opus"])
def test_rhythm_each_format_keeps_codec_and_is_detected(
    media: dict[str, Path], name: str, tmp_path: Path
) -> None:
    src = media[name]
    fid = _fmt_id(name)
    before = audio_stream(probe(src))
    r = render_audio_prompt(src.read_bytes(), fid, AudioPromptOptions(mode="rhythm"))
    out = write(tmp_path, f"out.{fid}", r.data)
    doc = probe(out)
    after = audio_stream(doc)
    assert after["codec_name"] == before["codec_name"] == r.codec
    assert int(after["sample_rate"]) == int(before["sample_rate"]) == r.sample_rate
    assert after["channels"] == before["channels"] == r.channels
    assert abs(r.prompt_seconds - 1.48) < 0.002  # 200 ms + 1.08 s + 200 ms
    dur_in = float(probe(src)["format"]["duration"])
    dur_out = float(doc["format"]["duration"])
    assert abs(dur_out - (dur_in + r.prompt_seconds)) < 0.08
    if fid in ("mp3", "ogg", "m4a"):
        assert r.bitrate is not None
        src_br = int(before.get("bit_rate") or probe(src)["format"]["bit_rate"])
        assert abs(r.bitrate - src_br) / src_br < 0.25
    else:
        assert r.bitrate is None
    found = detect_rhythm_prompt(r.data, fid)
    assert found.found and found.where == "start" and found.pattern == "SLSS"
    assert found.onset_seconds is not None and abs(found.onset_seconds - 0.2) < 0.03
    assert found.unit_seconds is not None and abs(found.unit_seconds - 0.12) < 0.02
    assert found.tone_hz is not None and abs(found.tone_hz - 800) < 20
    # prompt loudness within 2 LU of the content's
    assert abs(lufs(out, 0, r.prompt_seconds) - lufs(src)) <= 2.0
    assert r.positions == (0.0,)
    if name in ("mp3", "flac", "ogg", "m4a"):  # tags are kept
        tags = {k.lower(): v for k, v in doc["format"].get("tags", {}).items()}
        tags.update({k.lower(): v for k, v in after.get("tags", {}).items()})
        assert tags.get("title") == "Pink Test"


def test_rhythm_not_found_in_plain_content(media: dict[str, Path]) -> None:
    for name in ("wav", "opus", "silent"):
        assert not detect_rhythm_prompt(media[name].read_bytes(), _fmt_id(name)).found


def test_detector_rejects_other_patterns() -> None:
    """Four equal beeps (Morse H) or L S L L are not the AI rhythm."""
    sr = 16000
    u = int(0.12 * sr)
    t = np.arange(3 * u) / sr
    tone = 0.5 * np.sin(2 * np.pi * 800 * t)

    def pattern(units: list[int]) -> bytes:
        parts = [np.zeros(u * 2)]
        for n in units:
            parts += [tone[: n * u], np.zeros(u)]
        x = np.concatenate([*parts, np.zeros(u * 4)])
        buf = io.BytesIO()
        with wave.open(buf, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(sr)
            w.writeframes((x * 32767).astype("<i2").tobytes())
        return buf.getvalue()

    assert detect_rhythm_prompt(pattern([1, 3, 1, 1]), "wav").found
    assert not detect_rhythm_prompt(pattern([1, 1, 1, 1]), "wav").found
    assert not detect_rhythm_prompt(pattern([3, 1, 3, 3]), "wav").found
    assert not detect_rhythm_prompt(pattern([1, 3, 3, 1]), "wav").found


def test_rhythm_end_middle_and_strict_spacing(media: dict[str, Path], tmp_path: Path) -> None:
    src = media["long"]  # 12 s
    opts = AudioPromptOptions(
        mode="rhythm",
        where=("start", "interval:5", "end"),
        rhythm=RhythmProfile(strict_morse=True),
    )
    r = render_audio_prompt(src.read_bytes(), "wav", opts)
    p = r.prompt_seconds
    assert abs(p - 1.72) < 0.002
    assert r.positions == pytest.approx((0.0, p + 5, 2 * p + 10, 3 * p + 12), abs=1e-4)
    out = write(tmp_path, "o.wav", r.data)
    assert abs(float(probe(out)["format"]["duration"]) - (12 + 4 * p)) < 0.01
    head = detect_rhythm_prompt(r.data, "wav")
    assert head.found and head.where == "start"
    tail = detect_rhythm_prompt(r.data, "wav", window_s=4.0)
    assert tail.found
    # A, then the I three units later (strict Morse word spacing)
    b = head.beeps
    assert b[2][0] - (b[1][0] + b[1][1]) > 2.5 * (head.unit_seconds or 0)
    # each middle prompt is really there: the tone sits at the reported positions
    for pos in r.positions[1:3]:
        x = decode(out, 16000, pos + 0.2, 0.1)
        spec = np.abs(np.fft.rfft(x * np.hanning(x.size)))
        assert abs(np.argmax(spec) * 16000 / x.size - 800) < 30


@pytest.mark.parametrize("name", ["wav", "wav24", "flac24"])
def test_lossless_content_is_bit_exact(media: dict[str, Path], name: str, tmp_path: Path) -> None:
    src = media[name]
    fid = _fmt_id(name)
    r = render_audio_prompt(src.read_bytes(), fid, AudioPromptOptions(mode="rhythm"))
    out = write(tmp_path, f"o.{fid}", r.data)
    a = np.frombuffer(ffmpeg("-i", str(src), "-f", "s32le", "-c:a", "pcm_s32le", "pipe:1"), "<i4")
    b = np.frombuffer(ffmpeg("-i", str(out), "-f", "s32le", "-c:a", "pcm_s32le", "pipe:1"), "<i4")
    n = round(r.prompt_seconds * SR) * 2
    assert np.array_equal(b[n:], a)
    s_in, s_out = audio_stream(probe(src)), audio_stream(probe(out))
    for key in ("codec_name", "sample_fmt", "bits_per_raw_sample", "bits_per_sample"):
        assert s_in.get(key) == s_out.get(key), key


# ---------------------------------------------------------------------------------------------
# Voice prompt


@needs_espeak
def test_voice_rate_is_normal_speech() -> None:
    speech = synthesize_voice(DEFAULT_TEXTS["zh"], "zh", 140)
    assert speech.units == 10
    assert 130 <= speech.rate_per_minute <= 150
    assert abs(speech.seconds - 10 * 60 / 140) < 0.3
    slow = synthesize_voice(DEFAULT_TEXTS["zh"], "zh", 120)
    assert slow.seconds > speech.seconds + 0.4
    en = synthesize_voice(DEFAULT_TEXTS["en"], "en", 150)
    assert en.units == 6 and 140 <= en.rate_per_minute <= 160


@needs_espeak
def test_voice_on_silent_content(media: dict[str, Path], tmp_path: Path) -> None:
    src = media["silent"]
    r = render_audio_prompt(src.read_bytes(), "wav", AudioPromptOptions())
    assert r.loudness_lufs_content is None  # silence: default level
    assert any("default" in n for n in r.notes)
    out = write(tmp_path, "o.wav", r.data)
    s = audio_stream(probe(out))
    assert (s["codec_name"], int(s["sample_rate"]), s["channels"]) == ("pcm_s16le", 22050, 1)
    x = decode(out, 22050)
    head = x[: 2 * 22050]
    assert 20 * math.log10(np.sqrt(np.mean(head**2)) + 1e-12) > -40  # speech where was silence
    assert np.max(np.abs(x[round(r.prompt_seconds * 22050) + 10 :])) < 1e-4  # content silent
    # speech span (trimmed) matches 10 characters at 140 per minute
    loud = np.flatnonzero(np.abs(x) > 0.01 * np.max(np.abs(x)))
    span = (loud[-1] - loud[0]) / 22050
    assert abs(span - 10 * 60 / 140) < 0.45
    assert abs(r.speech_seconds - span) < 0.1
    assert 0.18 <= loud[0] / 22050 <= 0.25  # 200 ms pad before the speech
    assert abs(lufs(out, 0, r.prompt_seconds) - (-23.0)) <= 1.0
    assert not detect_rhythm_prompt(r.data, "wav").found


@needs_espeak
@pytest.mark.parametrize("name", FORMATS)
def test_voice_loudness_matches_content(media: dict[str, Path], name: str, tmp_path: Path) -> None:
    src = media[name]
    r = render_audio_prompt(src.read_bytes(), name, AudioPromptOptions(where=("start", "end")))
    out = write(tmp_path, f"o.{name}", r.data)
    content = lufs(src)
    assert r.loudness_lufs_content is not None and abs(r.loudness_lufs_content - content) < 0.3
    assert abs(lufs(out, 0, r.prompt_seconds) - content) <= 2.0
    assert abs(lufs(out, r.positions[1], r.prompt_seconds) - content) <= 2.0
    dur = float(probe(out)["format"]["duration"])
    assert abs(dur - (CONTENT_S + 2 * r.prompt_seconds)) < 0.1
    assert r.positions[1] == pytest.approx(r.prompt_seconds + CONTENT_S, abs=0.03)


@needs_espeak
def test_voice_english_and_no_loudness_match(media: dict[str, Path], tmp_path: Path) -> None:
    opts = AudioPromptOptions(language="en", loudness_match=False)
    assert opts.text == DEFAULT_TEXTS["en"]
    r = render_audio_prompt(media["wav"].read_bytes(), "wav", opts)
    out = write(tmp_path, "o.wav", r.data)
    assert abs(lufs(out, 0, r.prompt_seconds) - (-23.0)) <= 1.0
    assert 2.0 < r.speech_seconds < 3.2  # six words at 140 per minute


# ---------------------------------------------------------------------------------------------
# Options and errors


@pytest.mark.parametrize(
    "kw",
    [
        {"mode": "beep"},
        {"language": "fr"},
        {"where": ()},
        {"where": ("begin",)},
        {"where": ("interval:1",)},
        {"where": ("interval:x",)},
        {"rate_cpm": 200},
        {"rate_cpm": 20, "strict": False},
        {"text": "本内容由机器生成"},  # no AI element
        {"text": "人工智能"},  # no generation element
        {"pad_ms": -1},
    ],
)
def test_invalid_options(kw: dict[str, object]) -> None:
    with pytest.raises(InvalidAudioOptions):
        AudioPromptOptions(**kw)  # type: ignore[arg-type]


def test_relaxed_options_allowed() -> None:
    AudioPromptOptions(rate_cpm=200, strict=False)
    AudioPromptOptions(text="hello", strict=False)
    AudioPromptOptions(mode="rhythm", rate_cpm=200)  # the rate only concerns speech
    assert AudioPromptOptions(where="end").where == ("end",)  # type: ignore[arg-type]


@pytest.mark.parametrize("fid", FORMATS)
def test_not_media_is_malformed(fid: str) -> None:
    with pytest.raises(MalformedInput) as e:
        render_audio_prompt(b"this is not audio at all " * 40, fid, AudioPromptOptions("rhythm"))
    assert "not a readable" in str(e.value) or "no audio" in str(e.value)
    with pytest.raises(MalformedInput):
        render_audio_prompt(b"", fid)


def test_empty_wav_and_unknown_format(media: dict[str, Path]) -> None:
    header_only = ffmpeg(
        "-f", "lavfi", "-i", "anullsrc=r=8000:cl=mono", "-t", "0", "-f", "wav", "pipe:1"
    )
    with pytest.raises(MalformedInput):
        render_audio_prompt(header_only, "wav", AudioPromptOptions(mode="rhythm"))
    with pytest.raises(UnsupportedFormat):
        render_audio_prompt(media["wav"].read_bytes(), "aiff")


def test_video_file_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "v.mp4"
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "testsrc=s=64x48:d=1",
        "-f",
        "lavfi",
        "-i",
        "sine=d=1",
        "-c:v",
        "libx264",
        "-c:a",
        "aac",
        "-shortest",
        str(p),
    )
    with pytest.raises(UnsupportedFormat, match="render_video_caption"):
        render_audio_prompt(p.read_bytes(), "mp4", AudioPromptOptions(mode="rhythm"))


def test_missing_tools_and_timeouts(
    media: dict[str, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    data = media["wav"].read_bytes()
    monkeypatch.setenv(ff.FFMPEG_ENV, str(tmp_path / "no-ffmpeg"))
    with pytest.raises(ff.MediaToolMissing):
        render_audio_prompt(data, "wav", AudioPromptOptions(mode="rhythm"))
    monkeypatch.delenv(ff.FFMPEG_ENV)
    monkeypatch.setenv("SYNTHLABEL_ESPEAK", str(tmp_path / "no-espeak"))
    with pytest.raises(SpeechSynthesisError):
        render_audio_prompt(data, "wav", AudioPromptOptions(text="AI生成了这段音频"))
    monkeypatch.delenv("SYNTHLABEL_ESPEAK")
    with pytest.raises(ff.MediaTimeout, match="ran longer"):
        render_audio_prompt(data, "wav", AudioPromptOptions(mode="rhythm", timeout_s=0.001))


def test_ffmpeg_failure_reports_stderr_tail(media: dict[str, Path]) -> None:
    with pytest.raises(ff.MediaToolError) as e:
        ff.run_ffmpeg(
            [*ff.input_args(media["wav"], "wav"), "-af", "nosuchfilter", "-f", "null", "-"],
            timeout=30,
            what="a test",
        )
    msg = str(e.value)
    assert msg.startswith("a test failed (ffmpeg exit") and "nosuchfilter" in msg
    assert isinstance(e.value, SynthlabelError)


def test_protocols_are_restricted(tmp_path: Path) -> None:
    """A concat script or playlist disguised as media cannot pull in other files."""
    secret = tmp_path / "secret.wav"
    ffmpeg("-f", "lavfi", "-i", "sine=d=1", str(secret))
    playlist = f"#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\nfile:{secret}\n#EXT-X-ENDLIST\n"
    for fid in ("wav", "mp3", "m4a"):
        with pytest.raises(MalformedInput):
            render_audio_prompt(playlist.encode(), fid, AudioPromptOptions(mode="rhythm"))
