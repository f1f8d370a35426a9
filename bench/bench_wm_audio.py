"""sl-aud-1 bench: false positives on unmarked clips, embed/detect speed, SNR, PESQ.

Run: ``OMP_NUM_THREADS=1 .venv/bin/python bench/bench_wm_audio.py [--n 240] [--seconds 4]``.
Writes ``bench/results/wm_audio.md`` and ``bench/results/wm_audio.csv``.

Unmarked clips: espeak-ng speech (several sentences, voices, speeds), synthetic music,
white/pink/brown noise, tone mixtures and digital silence, each at 8, 16, 44.1 or 48 kHz,
half of them passed through an attack (resample, low-pass, noise, volume). A false positive is
any ``present`` detection. Marked clips (one per kind) give SNR, PESQ (when the ``pesq``
package is importable) and the embed / detect real-time factors on one core.
"""

from __future__ import annotations

import argparse
import csv
import math
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import numpy.typing as npt
from scipy.io import wavfile  # type: ignore[import-untyped]
from scipy.signal import butter, resample_poly, sosfiltfilt  # type: ignore[import-untyped]

from synthlabel.watermark.audio import ALGORITHM
from synthlabel.watermark.base import AudioSignal, WatermarkCapacityError

F32 = npt.NDArray[np.float32]
RESULTS = Path(__file__).resolve().parent / "results"
SENTENCES = [
    "The weather today is mild with a light breeze from the west.",
    "Please remember to send the quarterly report before Friday afternoon.",
    "Seven small boats drifted slowly across the quiet harbour at dawn.",
    "An artificial voice reads the news while the kettle starts to boil.",
    "Numbers like forty two and nineteen eighty four are easy to say.",
    "She opened the window and listened to the rain on the old roof.",
]
VOICES = ["en", "en-us", "en+f3", "en+m3", "de", "fr"]


def _resample(x: npt.NDArray[np.float64], sr_in: int, sr_out: int) -> npt.NDArray[np.float64]:
    if sr_in == sr_out:
        return x
    g = math.gcd(sr_in, sr_out)
    out: npt.NDArray[np.float64] = resample_poly(x, sr_out // g, sr_in // g)
    return out


def _norm(y: npt.NDArray[np.float64], peak: float) -> F32:
    out: F32 = (peak * y / (float(np.abs(y).max()) + 1e-9)).astype(np.float32)
    return out


def speech(rng: np.random.Generator, sr: int, n: int) -> F32 | None:
    exe = shutil.which("espeak-ng")
    if exe is None:
        return None
    text = " ".join(rng.choice(SENTENCES, size=2, replace=False))
    voice = str(rng.choice(VOICES))
    rate = int(rng.integers(120, 190))
    with tempfile.TemporaryDirectory() as td:
        p = Path(td) / "s.wav"
        subprocess.run([exe, "-v", voice, "-s", str(rate), "-w", str(p), text], check=True)
        s0, x = wavfile.read(p)
    y = _resample(x.astype(np.float64) / 32768.0, s0, sr)
    y = np.tile(y, math.ceil(n / max(1, y.size)))[:n]
    return _norm(y, 0.6)


def music(rng: np.random.Generator, sr: int, n: int) -> F32:
    t = np.arange(n) / sr
    y = np.zeros(n)
    beat = float(rng.uniform(0.2, 0.6))
    scale = 110.0 * 2.0 ** (np.array([0, 2, 4, 5, 7, 9, 11, 12, 14, 16]) / 12.0)
    for k in range(int(n / sr / beat) + 1):
        s = (t >= k * beat) & (t < (k + 1) * beat + 0.3)
        tt = t[s] - k * beat
        f = float(rng.choice(scale)) * float(rng.choice([1, 2, 4]))
        nh = int(rng.integers(2, 9))
        y[s] += sum(np.sin(2 * np.pi * f * h * tt) / h for h in range(1, nh + 1)) * np.exp(-3 * tt)
        if rng.random() < 0.5:
            m = min(int(s.sum()), int(0.04 * sr))
            idx = np.where(s)[0][:m]
            y[idx] += 0.5 * rng.standard_normal(m) * np.exp(-np.arange(m) / (0.008 * sr))
    y += 0.2 * np.sin(2 * np.pi * float(rng.choice(scale)) / 2 * t)
    return _norm(y, 0.5)


def coloured_noise(rng: np.random.Generator, sr: int, n: int) -> F32:
    w = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / sr)
    f[0] = 1.0
    y = np.fft.irfft(w / f ** float(rng.choice([0.0, 0.5, 1.0])), n)
    return _norm(y, 0.3)


def tones(rng: np.random.Generator, sr: int, n: int) -> F32:
    t = np.arange(n) / sr
    y = np.zeros(n)
    for _ in range(int(rng.integers(1, 5))):
        f0 = float(rng.uniform(100, 3500))
        sweep = float(rng.uniform(0, 300)) * np.sin(2 * np.pi * float(rng.uniform(0.05, 1)) * t)
        y += float(rng.uniform(0.1, 0.5)) * np.sin(2 * np.pi * np.cumsum(f0 + sweep) / sr)
    return _norm(y, 0.8)


def attack(rng: np.random.Generator, x: F32, sr: int) -> tuple[F32, str]:
    kind = str(rng.choice(["resample8k", "lowpass4k", "noise20", "volume-6", "speed1.05"]))
    y = x.astype(np.float64)
    if kind == "resample8k":
        y = _resample(_resample(y, sr, 8000), 8000, sr)
    elif kind == "lowpass4k" and sr > 8000:
        y = sosfiltfilt(butter(8, 4000, "low", fs=sr, output="sos"), y)
    elif kind == "noise20":
        y = y + rng.standard_normal(y.size) * math.sqrt(float(np.mean(y**2)) / 100 + 1e-12)
    elif kind == "volume-6":
        y = y * 0.5
    elif kind == "speed1.05":
        y = resample_poly(y, 20, 21)
    return np.clip(y, -1, 1).astype(np.float32), kind


def pesq_score(ref: F32, deg: F32, sr: int) -> float | None:
    try:
        from pesq import pesq  # type: ignore[import-not-found]
    except ImportError:
        return None
    r = _resample(ref.astype(np.float64), sr, 16000)
    d = _resample(deg.astype(np.float64), sr, 16000)
    return float(pesq(16000, r, d, "wb"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=240, help="unmarked clips")
    ap.add_argument("--seconds", type=float, default=4.0)
    a = ap.parse_args()
    rng = np.random.default_rng(20260)
    rates = [8000, 16000, 44100, 48000]
    makers = {"speech": speech, "music": music, "noise": coloured_noise, "tones": tones}
    rows: list[dict[str, object]] = []
    fp = 0
    min_p = 1.0
    t_det = 0.0
    audio_s = 0.0
    for i in range(a.n):
        sr = int(rng.choice(rates))
        n = int(a.seconds * sr)
        kind = "silence" if i % 40 == 39 else str(rng.choice(list(makers)))
        x = np.zeros(n, np.float32) if kind == "silence" else makers[kind](rng, sr, n)
        if x is None:
            continue
        att = "none"
        if i % 2 == 1:
            x, att = attack(rng, x, sr)
        t = time.perf_counter()
        det = ALGORITHM.detect(AudioSignal(x, sr))
        t_det += time.perf_counter() - t
        audio_s += x.shape[0] / sr
        fp += int(det.present)
        min_p = min(min_p, det.p_value)
        rows.append(
            {
                "set": "unmarked",
                "kind": kind,
                "sr": sr,
                "attack": att,
                "present": det.present,
                "p_value": f"{det.p_value:.3g}",
                "reason": det.reason or "",
            }
        )
    marked: list[dict[str, object]] = []
    payload = bytes.fromhex("5a17c0de")
    for kind, maker in makers.items():
        for sr in (16000, 44100):
            n = int(10.0 * sr)
            x = maker(rng, sr, n)
            if x is None:
                continue
            t = time.perf_counter()
            try:
                y = ALGORITHM.embed(AudioSignal(x, sr), payload).samples
            except WatermarkCapacityError as exc:
                marked.append({"kind": kind, "sr": sr, "error": str(exc)})
                continue
            te = time.perf_counter() - t
            t = time.perf_counter()
            det = ALGORITHM.detect(AudioSignal(y, sr))
            td = time.perf_counter() - t
            snr = 10 * math.log10(
                np.sum(x.astype(np.float64) ** 2) / np.sum((y - x).astype(np.float64) ** 2)
            )
            pq = pesq_score(x, y, sr) if kind == "speech" else None
            marked.append(
                {
                    "kind": kind,
                    "sr": sr,
                    "snr_db": round(snr, 2),
                    "pesq_wb": pq,
                    "embed_rt": round(10.0 / te, 1),
                    "detect_rt": round(10.0 / td, 1),
                    "detected": det.present and det.payload == payload,
                }
            )
    RESULTS.mkdir(parents=True, exist_ok=True)
    with open(RESULTS / "wm_audio.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    by_kind: dict[str, list[int]] = {}
    for r in rows:
        k = str(r["kind"])
        by_kind.setdefault(k, [0, 0])
        by_kind[k][0] += int(bool(r["present"]))
        by_kind[k][1] += 1
    lines = [
        "# sl-aud-1 bench (bench/bench_wm_audio.py)",
        "",
        f"Unmarked clips: {len(rows)} x {a.seconds:g} s at 8/16/44.1/48 kHz, half attacked "
        "(resample 8k, low-pass 4k, noise 20 dB, volume -6 dB, speed 1.05x).",
        f"**False positives: {fp} / {len(rows)}**; smallest p-value seen {min_p:.3g} "
        "(threshold 1e-6).",
        "",
        "| kind | clips | false positives |",
        "|---|---|---|",
        *[f"| {k} | {v[1]} | {v[0]} |" for k, v in sorted(by_kind.items())],
        "",
        f"Detect speed on unmarked clips: {audio_s / max(t_det, 1e-9):.1f}x real time (one core).",
        "",
        "Marked 10 s clips (default strength):",
        "",
        "| kind | sr | SNR dB | PESQ-WB | embed x RT | detect x RT | detected |",
        "|---|---|---|---|---|---|---|",
    ]
    for m in marked:
        if "error" in m:
            lines.append(f"| {m['kind']} | {m['sr']} | error: {m['error']} | | | | |")
            continue
        pq_s = "" if m["pesq_wb"] is None else f"{m['pesq_wb']:.2f}"
        lines.append(
            f"| {m['kind']} | {m['sr']} | {m['snr_db']} | {pq_s} | {m['embed_rt']} | "
            f"{m['detect_rt']} | {m['detected']} |"
        )
    (RESULTS / "wm_audio.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
