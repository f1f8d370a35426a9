"""Audio attacks: lossy codecs (MP3, AAC, Opus through ffmpeg), resampling, low-pass, speed,
noise, volume, trimming, metadata stripping.

In memory a signal attack maps ``(samples, rate)`` to ``(samples, rate)``: float samples,
shape ``(n,)`` or ``(n, channels)``, nominally in [-1, 1] (not clipped: callers clip when
they quantise). On files, signal attacks decode the input with ffmpeg and write a 16-bit WAV
at the rate they end with; codec attacks run ffmpeg from the input file to the codec's file.
"""

from __future__ import annotations

import math
import tempfile
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from synthlabel.assess.attacks.base import Attack, AttackError, AttackSet, ffmpeg, write_atomic

F64 = npt.NDArray[np.float64]
Rng = np.random.Generator


# ----------------------------------------------------------------------------- transforms
def resample(x: F64, rate_in: int, rate_out: int) -> F64:
    """Polyphase resampling (scipy's ``resample_poly``) along the time axis."""
    if rate_in == rate_out:
        return x
    from scipy.signal import resample_poly  # type: ignore[import-untyped]

    g = math.gcd(rate_in, rate_out)
    out: F64 = resample_poly(x, rate_out // g, rate_in // g, axis=0)
    return out


def lowpass(x: F64, rate: int, cutoff: float, order: int = 8) -> F64:
    """Zero-phase Butterworth low-pass (a no-op when ``cutoff`` is at or above Nyquist)."""
    if rate <= 2 * cutoff:
        return x
    from scipy.signal import butter, sosfiltfilt

    out: F64 = sosfiltfilt(butter(order, cutoff, "low", fs=rate, output="sos"), x, axis=0)
    return out


def add_noise(x: F64, rng: Rng, snr_db: float) -> F64:
    """White Gaussian noise ``snr_db`` below the signal's mean power."""
    scale = math.sqrt(float(np.mean(x**2)) / 10 ** (snr_db / 10) + 1e-12)
    out: F64 = x + rng.standard_normal(x.shape) * scale
    return out


def speed(x: F64, factor: float) -> F64:
    """Play ``factor`` times faster (pitch moves too, as a sped-up tape): resampled by
    ``1/factor`` and played at the same rate."""
    from scipy.signal import resample_poly

    f = Fraction(factor).limit_denominator(1000)
    out: F64 = resample_poly(x, f.denominator, f.numerator, axis=0)
    return out


# ----------------------------------------------------------------------------- file I/O
def load(path: Path) -> tuple[F64, int]:
    """Decode any audio ffmpeg reads (first audio stream) to float samples and its rate."""
    from scipy.io import wavfile  # type: ignore[import-untyped]

    with tempfile.TemporaryDirectory(prefix="synthlabel-attack-") as tmp:
        wav = Path(tmp) / "decoded.wav"
        ffmpeg(path, wav, ["-vn", "-map", "0:a:0", "-c:a", "pcm_f32le"])
        rate, data = wavfile.read(wav)
    x = np.asarray(data, dtype=np.float64)
    if x.size == 0:
        raise AttackError("no audio samples", path=str(path))
    return x, int(rate)


def wav16(x: F64, rate: int) -> bytes:
    """16-bit PCM WAV bytes of float samples (clipped to [-1, 1])."""
    import io

    from scipy.io import wavfile

    buf = io.BytesIO()
    wavfile.write(buf, rate, (np.clip(x, -1.0, 1.0) * 32767).round().astype(np.int16))
    return buf.getvalue()


# ---------------------------------------------------------------------- attack builders
def _m_resample_roundtrip(x: F64, rate: int, rng: Rng, *, to: int, **_: Any) -> tuple[F64, int]:
    return resample(resample(x, rate, to), to, rate), rate


def _m_lowpass(x: F64, rate: int, rng: Rng, *, cutoff: float, **_: Any) -> tuple[F64, int]:
    return lowpass(x, rate, cutoff), rate


def _m_noise(x: F64, rate: int, rng: Rng, *, snr_db: float, **_: Any) -> tuple[F64, int]:
    return add_noise(x, rng, snr_db), rate


def _m_volume(x: F64, rate: int, rng: Rng, *, gain: float, **_: Any) -> tuple[F64, int]:
    return x * gain, rate


def _m_speed(x: F64, rate: int, rng: Rng, *, factor: float, **_: Any) -> tuple[F64, int]:
    return speed(x, factor), rate


def signal_attack(
    attack_id: str, description: str, memory: Any, *, family: str = "signal", **params: Any
) -> Attack:
    """An audio attack from an in-memory transform; on files: decode, transform, 16-bit WAV."""

    def run(src: Path, base: Path, rng: Rng, **p: Any) -> Path:
        x, rate = load(src)
        y, rate_out = memory(x, rate, rng, **p)
        return write_atomic(base.with_name(base.name + ".wav"), wav16(y, rate_out))

    return Attack(attack_id, "audio", description, run, dict(params), memory, family)


_CODECS: dict[str, tuple[list[str], str]] = {
    "mp3": (["-c:a", "libmp3lame"], ".mp3"),
    "aac": (["-c:a", "aac"], ".m4a"),
    "opus": (["-c:a", "libopus"], ".ogg"),
    "pcm": (["-c:a", "pcm_s16le"], ".wav"),
}


def ffmpeg_args(
    codec: str,
    *,
    bitrate: str | None = None,
    rate: int | None = None,
    start: float | None = None,
    duration: float | None = None,
) -> tuple[list[str], list[str], str]:
    """(input options, output options, extension) of an ffmpeg transcode: ``start`` seeks on
    the input side (sample-accurate for PCM), ``duration`` cuts the output."""
    if codec not in _CODECS:
        raise AttackError(f"unknown audio codec {codec!r} ({', '.join(_CODECS)})")
    args, ext = _CODECS[codec]
    pre = ["-ss", f"{start:g}"] if start else []
    out = ["-vn", *args, "-fflags", "+bitexact"]  # bitexact: no random Ogg serial numbers
    if bitrate:
        out += ["-b:a", bitrate]
    if rate:
        out += ["-ar", str(rate)]
    if duration:
        out += ["-t", f"{duration:g}"]
    return pre, out, ext


def _run_codec(src: Path, base: Path, rng: Rng, *, codec: str, **p: Any) -> Path:
    pre, args, ext = ffmpeg_args(codec, **p)
    return ffmpeg(src, base.with_name(base.name + ext), args, pre=pre)


def _memory_codec(x: F64, rate: int, rng: Rng, **p: Any) -> tuple[F64, int]:
    with tempfile.TemporaryDirectory(prefix="synthlabel-attack-") as tmp:
        src = Path(tmp) / "in.wav"
        src.write_bytes(wav16(x, rate))
        out = _run_codec(src, Path(tmp) / "out", rng, **p)
        return load(out)


def codec_attack(
    attack_id: str, description: str, *, family: str = "codec", **params: Any
) -> Attack:
    """An ffmpeg transcode (``codec``: mp3, aac, opus, pcm; ``bitrate``, ``rate``, ``start``,
    ``duration``)."""
    return Attack(attack_id, "audio", description, _run_codec, params, _memory_codec, family)


def _run_strip(src: Path, base: Path, rng: Rng, **_: Any) -> Path:
    dest = base.with_name(base.name + (src.suffix.lower() or ".wav"))
    args = ["-map", "0", "-map_metadata", "-1", "-c", "copy", "-fflags", "+bitexact"]
    return ffmpeg(src, dest, args)


def _memory_identity(x: F64, rate: int, rng: Rng, **_: Any) -> tuple[F64, int]:
    return x, rate


ATTACKS = AttackSet(
    "synthlabel-audio",
    (
        Attack(
            "audio.strip", "audio",
            "metadata strip: remux with ffmpeg without tags or unknown chunks (samples kept)",
            _run_strip, {}, _memory_identity, "metadata",
        ),
        codec_attack("audio.mp3_128k", "MP3 128 kbit/s (LAME)", codec="mp3", bitrate="128k"),
        codec_attack("audio.mp3_64k", "MP3 64 kbit/s (LAME)", codec="mp3", bitrate="64k"),
        codec_attack("audio.aac_64k", "AAC 64 kbit/s in M4A", codec="aac", bitrate="64k"),
        codec_attack("audio.opus_32k", "Opus 32 kbit/s in Ogg", codec="opus", bitrate="32k"),
        codec_attack(
            "audio.resample22k", "resample to 22.05 kHz (16-bit WAV)", codec="pcm", rate=22050,
            family="signal",
        ),
        codec_attack(
            "audio.trim", "cut the first 1.5 s (16-bit WAV)", codec="pcm", start=1.5,
            family="geometry",
        ),
        signal_attack(
            "audio.resample8k", "down to 8 kHz and back (telephone band)",
            _m_resample_roundtrip, to=8000,
        ),
        signal_attack("audio.lowpass4k", "low-pass at 4 kHz", _m_lowpass, cutoff=4000.0),
        signal_attack("audio.noise20", "white noise at 20 dB SNR", _m_noise, snr_db=20.0),
        signal_attack("audio.volume-6", "volume -6 dB", _m_volume, gain=0.5),
        signal_attack(
            "audio.speed1.05", "5 % faster (pitch up, as a resampled tape)", _m_speed,
            factor=1.05,
        ),
    ),
)  # fmt: skip
