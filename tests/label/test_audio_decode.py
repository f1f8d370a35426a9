"""Sample readers used by watermark detection: the in-process WAV PCM reader and the
one-call mono decode agree with a full ffmpeg decode of the same files."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from synthlabel.label.audio import decode_mono, decode_samples, wav_pcm

pytestmark = pytest.mark.skipif(not shutil.which("ffmpeg"), reason="ffmpeg not installed")


def _make(tmp: Path, codec: str, channels: int, ext: str = "wav", rate: int = 22050) -> bytes:
    out = tmp / f"x-{codec}-{channels}.{ext}"
    subprocess.run(
        [
            "ffmpeg", "-v", "error", "-nostdin", "-y", "-f", "lavfi", "-i",
            f"sine=frequency=440:duration=1.5:sample_rate={rate}",
            "-af", "volume=0.7", "-ac", str(channels), "-c:a", codec, str(out),
        ],
        check=True,
    )  # fmt: skip
    return out.read_bytes()


@pytest.mark.parametrize(
    ("codec", "channels", "tol"),
    [
        ("pcm_u8", 1, 1 / 128),
        ("pcm_s16le", 2, 1e-6),
        ("pcm_s24le", 1, 1e-6),
        ("pcm_s24le", 3, 1e-6),  # ffmpeg writes WAVE_FORMAT_EXTENSIBLE for 3 channels
        ("pcm_s32le", 2, 1e-6),
        ("pcm_f32le", 1, 0.0),
        ("pcm_f64le", 2, 1e-7),
    ],
)
def test_wav_pcm_matches_ffmpeg(tmp_path: Path, codec: str, channels: int, tol: float) -> None:
    data = _make(tmp_path, codec, channels)
    got = wav_pcm(data)
    assert got is not None
    x, rate = got
    ref, ref_rate = decode_samples(data, "wav")
    assert rate == ref_rate == 22050 and x.shape == ref.shape and x.shape[1] == channels
    assert np.max(np.abs(x - ref)) <= tol + 1e-7
    head, _ = wav_pcm(data, max_seconds=0.5) or (None, 0)
    assert head is not None and abs(len(head) - 11025) <= 1


def test_wav_pcm_declines_what_it_cannot_read(tmp_path: Path) -> None:
    assert wav_pcm(_make(tmp_path, "pcm_alaw", 1)) is None  # needs a decoder
    assert wav_pcm(b"RIFF\x04\x00\x00\x00WAVE") is None  # no fmt/data chunks
    assert wav_pcm(b"garbage") is None
    data = bytearray(_make(tmp_path, "pcm_s16le", 1))
    pos = data.find(b"fmt ") + 8
    data[pos + 12 : pos + 14] = (7).to_bytes(2, "little")  # block align that lies
    assert wav_pcm(bytes(data)) is None


def test_decode_mono_is_the_downmixed_resampled_signal(tmp_path: Path) -> None:
    data = _make(tmp_path, "libmp3lame", 2, ext="mp3", rate=44100)
    src = tmp_path / "x.mp3"
    src.write_bytes(data)
    mono = decode_mono(src, "mp3", 8000, max_seconds=1.0)
    assert abs(len(mono) - 8000) <= 1200  # 1 s (plus up to the encoder delay)
    spec = np.abs(np.fft.rfft(mono[:8000] * np.hanning(min(8000, len(mono)))))
    assert abs(np.argmax(spec) * 8000 / (2 * (len(spec) - 1)) - 440) < 5
    ref, _ = decode_samples(data, "mp3")
    peak = float(np.max(np.abs(ref.mean(axis=1))))
    # ffmpeg's stereo downmix adds each channel at -3 dB (the mean of two equal channels,
    # times sqrt 2); the detector reads band-energy ratios, so the level does not matter.
    assert 0.95 < float(np.max(np.abs(mono))) / peak < 1.5
