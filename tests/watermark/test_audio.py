"""sl-aud-1: round trips, attacks the design claims to survive, errors, and no false alarms.

Signals are small and generated here (a few seconds of harmonic "voice", noise, tones), so
the whole file runs in well under a minute.
"""

from __future__ import annotations

import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from scipy.signal import resample_poly  # type: ignore[import-untyped]

from synthlabel.watermark.audio import ALGORITHM, BLOCK_SAMPLES, WORK_RATE
from synthlabel.watermark.base import (
    DEFAULT_P_THRESHOLD,
    AudioSignal,
    AudioWatermark,
    WatermarkCapacityError,
    WatermarkError,
)
from synthlabel.watermark.payload import payload_for, watermark_key

PAYLOAD = payload_for(watermark_key("TESTPRODUCER", "id-0001"), 32)
OTHER = payload_for(watermark_key("TESTPRODUCER", "id-0002"), 32)


def voice(sr: int, seconds: float, seed: int = 0) -> npt.NDArray[np.float32]:
    """A crude voiced signal: a gliding harmonic series, syllable envelope, pauses."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(sr * seconds)) / sr
    f0 = 120 + 30 * np.sin(2 * np.pi * 0.7 * t + rng.uniform(0, 6))
    ph = 2 * np.pi * np.cumsum(f0) / sr
    y = np.zeros(t.size)
    for k in range(1, 25):
        if k * 140 < sr / 2:
            y += np.sin(k * ph) / k
    env = np.clip(np.sin(2 * np.pi * 2.5 * t + rng.uniform(0, 6)), 0, None) ** 0.5
    env *= (np.sin(2 * np.pi * 0.3 * t) > -0.6).astype(float)  # pauses
    y = y * env + 0.01 * rng.standard_normal(t.size)
    out: npt.NDArray[np.float32] = (0.5 * y / float(np.abs(y).max())).astype(np.float32)
    return out


def noise(sr: int, seconds: float, seed: int = 1) -> npt.NDArray[np.float32]:
    rng = np.random.default_rng(seed)
    return (0.1 * rng.standard_normal(int(sr * seconds))).astype(np.float32)


def snr_db(x: npt.NDArray[np.float32], y: npt.NDArray[np.float32]) -> float:
    e = float(np.sum((x.astype(np.float64) - y) ** 2))
    return 10 * math.log10(float(np.sum(x.astype(np.float64) ** 2)) / e)


@pytest.fixture(scope="module")
def marked_voice() -> tuple[AudioSignal, AudioSignal]:
    src = AudioSignal(voice(16000, 6.5), 16000)
    return src, ALGORITHM.embed(src, PAYLOAD)


def test_protocol_and_identity() -> None:
    assert isinstance(ALGORITHM, AudioWatermark)
    assert (ALGORITHM.id, ALGORITHM.media_kind, ALGORITHM.payload_bits) == ("sl-aud-1", "audio", 32)


def test_round_trip_keeps_shape_and_quality(marked_voice: tuple[AudioSignal, AudioSignal]) -> None:
    src, marked = marked_voice
    assert marked.samples.shape == src.samples.shape
    assert marked.samples.dtype == np.float32
    assert marked.sample_rate == src.sample_rate
    assert 30.0 <= snr_db(src.samples, marked.samples) <= 31.0
    det = ALGORITHM.detect(marked)
    assert det.present, det
    assert det.payload == PAYLOAD and det.payload != OTHER
    assert det.p_value <= DEFAULT_P_THRESHOLD
    assert det.details["speed"] == pytest.approx(1.0, abs=0.003)
    assert det.details["crc_ok"] is True


def test_unmarked_signals_are_not_detected(marked_voice: tuple[AudioSignal, AudioSignal]) -> None:
    src, _ = marked_voice
    for audio in (src, AudioSignal(noise(8000, 5.0), 8000)):
        det = ALGORITHM.detect(audio)
        assert not det.present
        assert det.payload is None
        assert det.p_value > 1e-4  # calibrated: an unmarked signal is not even close
        assert det.reason


def test_survives_speed_change_noise_crop_and_volume(
    marked_voice: tuple[AudioSignal, AudioSignal],
) -> None:
    _, marked = marked_voice
    y = marked.samples.astype(np.float64)
    sped = resample_poly(y, 20, 21)  # 1.05x faster: tempo and pitch
    det = ALGORITHM.detect(AudioSignal(sped.astype(np.float32), 16000))
    assert det.present and det.payload == PAYLOAD
    assert det.details["speed"] == pytest.approx(1.05, abs=0.004)
    rng = np.random.default_rng(5)
    p = float(np.mean(y**2))
    noisy = y + rng.standard_normal(y.size) * math.sqrt(p / 1000)  # 30 dB SNR (20 dB: no)
    det = ALGORITHM.detect(AudioSignal((0.5 * noisy).astype(np.float32), 16000))
    assert det.present and det.payload == PAYLOAD
    start = int(1.3 * 16000)  # an excerpt that starts mid-block and holds one block
    excerpt = y[start : start + int(3.4 * 16000)]
    det = ALGORITHM.detect(AudioSignal(excerpt.astype(np.float32), 16000))
    assert det.present and det.payload == PAYLOAD


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs the ffmpeg binary")
def test_survives_mp3_64k(marked_voice: tuple[AudioSignal, AudioSignal], tmp_path: Path) -> None:
    _, marked = marked_voice
    pcm = (np.clip(marked.samples, -1, 1) * 32767).astype("<i2").tobytes()
    mp3 = tmp_path / "m.mp3"
    common = ["ffmpeg", "-y", "-loglevel", "error"]
    raw_in = ["-f", "s16le", "-ar", "16000", "-ac", "1"]
    subprocess.run([*common, *raw_in, "-i", "-", "-b:a", "64k", str(mp3)], input=pcm, check=True)
    out = subprocess.run(
        [*common, "-i", str(mp3), "-f", "s16le", "-ar", "16000", "-ac", "1", "-"],
        capture_output=True,
        check=True,
    ).stdout
    decoded = (np.frombuffer(out, dtype="<i2") / 32768).astype(np.float32)
    det = ALGORITHM.detect(AudioSignal(decoded, 16000))
    assert det.present and det.payload == PAYLOAD


def test_stereo_44k_marks_every_channel_coherently() -> None:
    left = voice(44100, 4.0, seed=3)
    right = 0.7 * voice(44100, 4.0, seed=4)
    src = AudioSignal(np.stack([left, right], axis=1), 44100)
    marked = ALGORITHM.embed(src, PAYLOAD)
    assert marked.samples.shape == (left.size, 2)
    residual = marked.samples.astype(np.float64) - src.samples
    assert np.allclose(residual[:, 0], residual[:, 1], atol=1e-6)  # same mark in both
    downmix = marked.samples.mean(axis=1).astype(np.float32)
    det = ALGORITHM.detect(AudioSignal(downmix, 44100))
    assert det.present and det.payload == PAYLOAD
    only_right = AudioSignal(np.ascontiguousarray(marked.samples[:, 1]), 44100)
    assert ALGORITHM.detect(only_right).payload == PAYLOAD


def test_strength_trades_quality() -> None:
    src = AudioSignal(voice(16000, 4.0), 16000)
    weak = ALGORITHM.embed(src, PAYLOAD, strength=0.5)
    strong = ALGORITHM.embed(src, PAYLOAD, strength=2.0)
    assert snr_db(src.samples, weak.samples) == pytest.approx(36.2, abs=0.3)
    assert snr_db(src.samples, strong.samples) == pytest.approx(24.2, abs=0.3)
    # white noise is the hardest host: the self-check raises the strength, by 3 dB at most
    hard = AudioSignal(noise(16000, 3.5), 16000)
    raised = snr_db(hard.samples, ALGORITHM.embed(hard, PAYLOAD, strength=0.5).samples)
    assert 36.2 - 3.0 - 0.3 <= raised < 36.2 - 0.5


def test_too_short_silent_and_bad_input_are_errors() -> None:
    block_s = BLOCK_SAMPLES / WORK_RATE
    short = AudioSignal(voice(16000, block_s - 0.2), 16000)
    with pytest.raises(WatermarkCapacityError, match="too short"):
        ALGORITHM.embed(short, PAYLOAD)
    with pytest.raises(WatermarkCapacityError, match="silent"):
        ALGORITHM.embed(AudioSignal(np.zeros(16000 * 5, np.float32), 16000), PAYLOAD)
    with pytest.raises(WatermarkCapacityError, match="silent"):
        ALGORITHM.embed(AudioSignal(noise(16000, 5.0) * 1e-5, 16000), PAYLOAD)
    with pytest.raises(WatermarkCapacityError, match="sample rate"):
        ALGORITHM.embed(AudioSignal(noise(4000, 5.0), 4000), PAYLOAD)
    with pytest.raises(WatermarkError, match="bits"):
        ALGORITHM.embed(AudioSignal(noise(16000, 5.0), 16000), b"\x01")
    bad = noise(16000, 5.0)
    bad[100] = np.nan
    with pytest.raises(WatermarkError, match="NaN"):
        ALGORITHM.embed(AudioSignal(bad, 16000), PAYLOAD)


@pytest.mark.parametrize(
    "samples, rate",
    [
        (np.zeros(0, np.float32), 16000),
        (np.zeros(10, np.float32), 16000),
        (np.zeros(16000 * 4, np.float32), 16000),
        (np.full(16000 * 4, np.nan, np.float32), 16000),
        (np.ones((16000 * 4, 0), np.float32), 16000),
        (np.ones((2, 3, 4), np.float32), 16000),
        (np.ones(16000 * 4, np.float32), 0),
        (np.ones(100, np.float32), 7),
    ],
)
def test_detect_never_raises(samples: npt.NDArray[np.float32], rate: int) -> None:
    det = ALGORITHM.detect(AudioSignal(samples, rate))
    assert not det.present
    assert det.reason


def _wav16(x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """What writing a 16-bit WAV and reading it back does to the samples."""
    pcm = (np.clip(x, -1, 1) * 32767).round().astype(np.int16)
    return (pcm.astype(np.float32) / 32768.0).astype(np.float32)


def _coloured(rng: np.random.Generator, n: int, sr: int, expo: float) -> npt.NDArray[np.float64]:
    w = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / sr)
    f[0] = f[1]
    y: npt.NDArray[np.float64] = np.fft.irfft(w / f**expo, n)
    return y / float(np.std(y))


def battery_sample(i: int) -> tuple[npt.NDArray[np.float32], int]:
    """A small, fast cousin of bench/bench_wm_audio.py's round-trip battery."""
    rng = np.random.default_rng([11, i])
    sr = int(rng.choice([8000, 16000, 22050, 44100, 48000]))
    n = int(float(rng.uniform(3.5, 6.0)) * sr)
    t = np.arange(n) / sr
    kind = i % 5
    if kind == 0:  # coloured noise
        y = _coloured(rng, n, sr, float(rng.choice([0.0, 0.5, 1.0])))
    elif kind == 1:  # noise + loud tones (the case that used to fail)
        y = _coloured(rng, n, sr, float(rng.choice([0.0, 0.5, 1.0])))
        for _ in range(int(rng.integers(1, 4))):
            f0 = float(rng.uniform(300, 3600))
            y += float(rng.uniform(1.0, 4.0)) * np.sin(2 * np.pi * f0 * t)
    elif kind == 2:  # voiced "speech"
        y = voice(sr, n / sr, seed=i).astype(np.float64)
    elif kind == 3:  # chords with decaying notes and noise-burst drums
        y = np.zeros(n)
        for k in range(int(n / sr / 0.5)):
            s = slice(int(k * 0.5 * sr), min(n, int((k + 1) * 0.5 * sr)))
            tt = t[s] - k * 0.5
            f0 = 110.0 * 2 ** (int(rng.integers(0, 24)) / 12)
            for h in range(1, 6):
                y[s] += np.sin(2 * np.pi * f0 * h * tt) / h * np.exp(-3 * tt)
            y[s] += 0.7 * rng.standard_normal(tt.size) * np.exp(-tt * 25)
    else:  # sparse single notes with rests
        y = np.zeros(n)
        for k in range(int(n / sr / 0.6)):
            if rng.random() < 0.4:
                continue
            s = slice(int(k * 0.6 * sr), min(n, int((k + 1) * 0.6 * sr)))
            tt = t[s] - k * 0.6
            y[s] += np.sin(2 * np.pi * float(rng.uniform(200, 1500)) * tt) * np.exp(-4 * tt)
    peak = float(rng.choice([0.03, 0.4, 0.98]))
    out = (peak * y / float(np.abs(y).max())).astype(np.float32)
    if rng.random() < 0.3:
        out = np.stack([out, 0.7 * out], axis=1)
    return out, sr


def test_clean_round_trip_battery_sample() -> None:
    snrs = []
    failed = []
    for i in range(20):
        x, sr = battery_sample(i)
        y = ALGORITHM.embed(AudioSignal(x, sr), PAYLOAD).samples
        det = ALGORITHM.detect(AudioSignal(_wav16(y), sr))
        if not (det.present and det.payload == PAYLOAD):
            failed.append((i, sr, x.shape, det.reason))
        snrs.append(snr_db(x, y))
    # Known weak spot: short (< 5 s) white noise, where the host's own tile-to-tile
    # fluctuation is as large as the mark even at +3 dB (clip 0 here). Everything else decodes.
    assert len(failed) <= 1 and all(f[0] == 0 for f in failed), failed
    # the self-check may raise the strength by up to 3 dB, never more; most clips need none
    assert min(snrs) >= 27.0 and float(np.median(snrs)) >= 30.0, snrs


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs the ffmpeg binary")
def test_clean_round_trip_loud_pink_noise_and_tone(tmp_path: Path) -> None:
    """The reported clip: 8 s of pink noise + a 330 Hz tone used to fail with a CRC mismatch
    (the tone's group took 95 % of the watermark energy)."""
    wav = tmp_path / "n.wav"
    src = ["-f", "lavfi", "-i"]
    noise_src = [*src, "anoisesrc=color=pink:amplitude=0.2:duration=8:seed=4"]
    tone_src = [*src, "sine=frequency=330:duration=8"]
    mix = ["-filter_complex", "amix=inputs=2", "-ar", "22050", "-ac", "2", str(wav)]
    subprocess.run(["ffmpeg", "-y", "-loglevel", "error", *noise_src, *tone_src, *mix], check=True)
    from scipy.io import wavfile  # type: ignore[import-untyped]

    sr, pcm = wavfile.read(wav)
    x = (pcm / 32768.0).astype(np.float32)
    y = ALGORITHM.embed(AudioSignal(x, sr), PAYLOAD).samples
    det = ALGORITHM.detect(AudioSignal(_wav16(y), sr))
    assert det.present and det.payload == PAYLOAD, det
    assert det.details["sync_z"] > 10.0  # was 6.3 before the loud-group cap
    assert 30.0 <= snr_db(x, y) <= 31.0  # no strength raise needed
