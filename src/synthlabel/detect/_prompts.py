"""Audio prompt detection (GB 45438 §5.3): the rhythm label and synthesized voice labels.

Both look at the first and the last :data:`WINDOW_S` seconds (mono, 16 kHz).

Rhythm label (short-long-short-short, the Morse code of "AI"), by envelope analysis: the
frequencies where single spectral peaks dominate become candidate tones; for each, the energy
envelope of a narrow band around the tone is thresholded half-way (in dB) between its noise
floor and its peak level; the on-runs are beeps; four consecutive beeps whose durations split
into short/long (2-means, long/short >= 2) as S L S S with gaps of one to three short units is
a match. Tone frequency, unit and level are not fixed by the standard, so none is assumed.

Voice label: there is no speech recogniser here. The prompt texts our labeller speaks (and
any given in ``DetectOptions.extra["visible"]["voice_texts"]``) are synthesized with espeak-ng
(the same engine, voice and rate the labeller uses) and looked for in two ways; either is a
match:

* **waveform**: the labeller splices (or mixes) the synthesizer's exact samples, so the
  rendered prompt is correlated with the audio (normalised cross-correlation, a matched
  filter); the best place must correlate as a whole *and* in each quarter of the prompt (a
  sentence that shares only its opening words with the prompt correlates in the first
  quarters only). This survives the robust audio watermark, MP3/Opus/AAC and content mixed
  under the prompt, not a change of tempo or pitch;
* **MFCC**: subsequence dynamic time warping on MFCCs 1-13 (tempo 0.5x-2x; no mean
  normalisation: the channel is the synthesizer's), with the log mel energies floored at
  :data:`MEL_FLOOR_DB` below the signal's loud level so that quiet stretches (pauses, the
  watermark or a noise floor under them) do not dominate the distance; the score is the
  worst distance of the prompt's four quarters matched in place. This survives a change of
  tempo;
* **retimed waveform**, where the MFCC match came close (distance at most
  :data:`RETIMED_MFCC_GATE`) but not close enough (a retimed prompt mixed over other sound):
  the prompt's loud 25 ms pieces are correlated one by one along a tempo of 0.8x-1.25x from
  where the MFCC match placed it, each allowed 25 ms either way (time-stretching filters such
  as ffmpeg's atempo copy pieces of the waveform and splice them); the mean best correlation,
  as a whole and in each quarter, must reach :data:`TEMPO_THRESHOLD`. Alone it would take
  other sentences of the same voice for the prompt (0.56-0.67: a piece of voiced speech finds
  a pitch period of the same voice to match), hence the MFCC gate.

This recognises synthesized prompts of known wording only: a human voice, another TTS engine
or voice, or other wording is not found.
"""

from __future__ import annotations

import functools
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from synthlabel.detect.base import Asset
from synthlabel.errors import SynthlabelError
from synthlabel.label.audio import slss_split

RATE = 16000
WINDOW_S = 12.0
FloatArray = npt.NDArray[np.float64]

#: MFCC match: the worst quarter's normalised DTW distance (MFCC 1-13, per frame, divided by
#: sqrt(13)) at or below which a voice template matches. Measured
#: (bench/bench_voice_prompt.py): our prompts labelled by the pipeline (with the audio
#: watermark), in WAV, MP3, Opus, retimed 1.1x, at the start or end: 0.25-1.75; mixed over a
#: video's sound (AAC): 2.0-2.2; other espeak-ng sentences (also ones sharing most of the
#: prompt's words, whose whole-prompt distance can be 0.9), music and noise: 2.79 and above.
VOICE_THRESHOLD = 2.4
#: Log mel energies are floored this many dB below the signal's 99th-percentile band energy.
MEL_FLOOR_DB = 50.0
#: Waveform match: normalised cross-correlation the whole prompt and each of its quarters must
#: reach. Measured: our prompts (watermarked, lossy, mixed over sound) 0.93-1.0; other
#: sentences, music and noise at most 0.10 for the worst quarter.
CORRELATION_THRESHOLD = 0.5
#: Parts of the prompt checked separately (both methods).
QUARTERS = 4


@dataclass(frozen=True)
class Window:
    where: str  # "start" or "end"
    offset_s: float  # time of the window's first sample in the file
    samples: FloatArray


def load_windows(asset: Asset) -> list[Window]:
    """The first and last WINDOW_S seconds of the first audio stream (mono, 16 kHz)."""
    from synthlabel.label import _ffmpeg as ff

    demuxer = ff.demuxer_for(asset.format)
    with tempfile.TemporaryDirectory(prefix="synthlabel-prompt-") as tmp:
        if asset.file is not None:
            src = asset.file
        elif asset.data:
            src = Path(tmp) / "in.media"
            src.write_bytes(asset.data)
        else:
            return []
        info = ff.probe(src, demuxer, timeout=30.0)
        if info.first("audio") is None:
            return []
        duration = info.duration or 0.0
        out = []
        plan = [("start", False)] + ([("end", True)] if duration > WINDOW_S else [])
        for where, from_end in plan:
            opts = ["-sseof", f"-{WINDOW_S:g}"] if from_end else []
            proc = ff.run_ffmpeg(
                [
                    *ff.input_args(src, demuxer, *opts),
                    "-map",
                    "0:a:0",
                    "-t",
                    f"{WINDOW_S:g}",
                    "-ac",
                    "1",
                    "-ar",
                    str(RATE),
                    "-f",
                    "f32le",
                    "pipe:1",
                ],
                timeout=60.0,
                what="decoding audio for prompt detection",
            )
            x = np.frombuffer(proc.stdout, dtype="<f4").astype(np.float64)
            x = np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)
            offset = max(0.0, duration - x.size / RATE) if from_end else 0.0
            out.append(Window(where, offset, x))
        return out


# ---------------------------------------------------------------------------------------------
# Rhythm

_NFFT = 512  # 32 ms
_HOP = 80  # 5 ms


@dataclass(frozen=True)
class RhythmHit:
    where: str
    onset_s: float
    tone_hz: float
    unit_s: float
    beeps: tuple[tuple[float, float], ...]
    score: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "location": self.where,
            "onset_s": round(self.onset_s, 3),
            "tone_hz": round(self.tone_hz, 1),
            "unit_ms": round(self.unit_s * 1000, 1),
            "beeps": [[round(s, 3), round(d, 3)] for s, d in self.beeps],
            "pattern": "SLSS",
        }


def _stft_power(x: FloatArray) -> FloatArray:
    if x.size < _NFFT:
        return np.zeros((0, _NFFT // 2 + 1))
    n = 1 + (x.size - _NFFT) // _HOP
    idx = np.arange(_NFFT)[None, :] + _HOP * np.arange(n)[:, None]
    frames = x[idx] * np.hanning(_NFFT)[None, :]
    return np.asarray(np.abs(np.fft.rfft(frames, axis=1)) ** 2)


def _runs(on: npt.NDArray[np.bool_]) -> list[tuple[int, int]]:
    d = np.diff(np.concatenate([[0], on.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1), strict=True))


def _match(beeps: list[tuple[float, float]]) -> tuple[int, float, float] | None:
    """Index of the first S L S S run of beeps, its unit and a fit score."""
    for i in range(len(beeps) - 3):
        group = beeps[i : i + 4]
        d = np.array([b[1] for b in group])
        split = slss_split(d)
        if split is None:
            continue
        u = split[0]
        gaps = [group[k + 1][0] - (group[k][0] + group[k][1]) for k in range(3)]
        if not all(0.3 * u <= g <= 4.0 * u for g in gaps):
            continue
        if not 0.03 <= u <= 0.6:
            continue
        # nothing beep-like right before or after (a longer Morse message is not the label)
        if i > 0 and group[0][0] - (beeps[i - 1][0] + beeps[i - 1][1]) < 2 * u:
            continue
        if i + 4 < len(beeps) and beeps[i + 4][0] - (group[3][0] + group[3][1]) < 2 * u:
            continue
        ideal = np.array([1, 3, 1, 1]) * u
        score = max(0.0, 1.0 - float(np.mean(np.abs(d - ideal) / ideal)))
        return i, u, score
    return None


def rhythm_in(x: FloatArray) -> list[tuple[float, float, list[tuple[float, float]], float]]:
    """(tone Hz, unit s, beeps, score) for every S L S S pattern found in ``x`` (16 kHz)."""
    p = _stft_power(x)
    if p.shape[0] < 10:
        return []
    total = p.sum(axis=1) + 1e-20
    lo_bin, hi_bin = int(150 * _NFFT / RATE), int(5000 * _NFFT / RATE)
    band = p[:, lo_bin:hi_bin]
    peak = np.argmax(band, axis=1) + lo_bin
    rows = np.arange(p.shape[0])
    peak_energy = sum(p[rows, np.clip(peak + k, 0, p.shape[1] - 1)] for k in (-2, -1, 0, 1, 2))
    tonal = peak_energy / total > 0.5
    level_db = 10 * np.log10(total)
    tonal &= level_db > level_db.max() - 50
    if tonal.sum() < 6:
        return []
    counts = np.bincount(peak[tonal], minlength=p.shape[1])
    candidates = [int(b) for b in np.argsort(counts)[::-1][:3] if counts[b] >= 6]
    found = []
    used: list[int] = []
    for b in candidates:
        if any(abs(b - u) <= 2 for u in used):
            continue
        used.append(b)
        e = p[:, max(0, b - 2) : b + 3].sum(axis=1)
        e_db = 10 * np.log10(e + 1e-20)
        floor, top = np.percentile(e_db, 20), np.percentile(e_db, 99.5)
        if top - floor < 12:
            continue
        on = (e_db > floor + 0.5 * (top - floor)) & (e / total > 0.3)
        beeps = []
        last = e_db.size - 1
        for a, z in _runs(on):
            dur = (z - a) * _HOP / RATE
            if dur < 0.02:
                continue
            # a beep starts and stops sharply: 30 ms outside it the band is >= 15 dB quieter
            level = float(np.median(e_db[a:z]))
            around = max(e_db[max(0, a - 6)], e_db[min(last, z + 5)])
            if level - around < 15:
                continue
            beeps.append((a * _HOP / RATE + _NFFT / 2 / RATE, dur))
        # join beeps split by a dropout shorter than 10 ms
        merged: list[tuple[float, float]] = []
        for s, d in beeps:
            if merged and s - (merged[-1][0] + merged[-1][1]) < 0.01:
                ps, _ = merged[-1]
                merged[-1] = (ps, s + d - ps)
            else:
                merged.append((s, d))
        hit = _match(merged)
        if hit is not None:
            i, u, score = hit
            found.append((b * RATE / _NFFT, u, merged[i : i + 4], score))
    return found


def find_rhythm(windows: list[Window]) -> list[RhythmHit]:
    out: list[RhythmHit] = []
    for w in windows:
        for tone, unit, beeps, score in rhythm_in(w.samples):
            onset = w.offset_s + beeps[0][0]
            if any(abs(h.onset_s - onset) < 0.5 for h in out):
                continue
            out.append(RhythmHit(w.where, onset, tone, unit, tuple(beeps), score))
            break
    return out


# ---------------------------------------------------------------------------------------------
# Voice (template matching against espeak-ng speech)


@dataclass(frozen=True)
class VoiceHit:
    where: str
    onset_s: float
    text: str
    language: str
    distance: float  # MFCC: worst quarter's DTW distance (inf when not computed)
    correlation: float = 0.0  # waveform: worst of the whole and the quarters' correlation
    method: str = "mfcc-dtw"  # "waveform", "waveform-retimed" or "mfcc-dtw": the one that matched
    tempo: float | None = None  # waveform-retimed: the tempo it was found at

    @property
    def score(self) -> float:
        by_corr = self.correlation
        by_dist = 1.0 - self.distance / VOICE_THRESHOLD / 2 if np.isfinite(self.distance) else 0.0
        return float(max(0.0, min(1.0, max(by_corr, by_dist))))

    def to_dict(self) -> dict[str, Any]:
        return {
            "location": self.where,
            "onset_s": round(self.onset_s, 3),
            "text": self.text,
            "language": self.language,
            "method": self.method,
            "correlation": round(self.correlation, 4),
            "correlation_threshold": (
                TEMPO_THRESHOLD if self.method == "waveform-retimed" else CORRELATION_THRESHOLD
            ),
            **({"tempo": round(self.tempo, 3)} if self.tempo is not None else {}),
            "distance": round(self.distance, 4) if np.isfinite(self.distance) else None,
            "threshold": VOICE_THRESHOLD,
            "matched_against": "espeak-ng rendering of the prompt text",
        }


@functools.lru_cache(maxsize=1)
def _mel_basis(n_fft: int = 400, n_mels: int = 40) -> FloatArray:
    def hz2mel(f: FloatArray | float) -> Any:
        return 2595 * np.log10(1 + np.asarray(f) / 700)

    mels = np.linspace(hz2mel(80), hz2mel(7600), n_mels + 2)
    hz = 700 * (10 ** (mels / 2595) - 1)
    bins = np.fft.rfftfreq(n_fft, 1 / RATE)
    fb = np.zeros((n_mels, bins.size))
    for m in range(n_mels):
        lo, c, hi = hz[m], hz[m + 1], hz[m + 2]
        up = (bins - lo) / (c - lo)
        down = (hi - bins) / (hi - c)
        fb[m] = np.maximum(0, np.minimum(up, down))
    return fb


def mfcc(x: FloatArray) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
    """MFCC 1..13 (25 ms / 10 ms) of log mel energies floored :data:`MEL_FLOOR_DB` below the
    signal's 99th-percentile band energy, and the voiced mask (frames within 35 dB of the
    loudest)."""
    from scipy.fft import dct  # type: ignore[import-untyped]

    n_fft, hop = 400, 160
    if x.size < n_fft:
        return np.zeros((0, 13)), np.zeros(0, dtype=bool)
    x = np.append(x[0], x[1:] - 0.97 * x[:-1])
    n = 1 + (x.size - n_fft) // hop
    idx = np.arange(n_fft)[None, :] + hop * np.arange(n)[:, None]
    spec = np.abs(np.fft.rfft(x[idx] * np.hamming(n_fft)[None, :], axis=1)) ** 2
    mel = spec @ _mel_basis().T
    floor = float(np.percentile(mel, 99)) * 10 ** (-MEL_FLOOR_DB / 10)
    c = dct(np.log(mel + floor + 1e-10), type=2, axis=1, norm="ortho")[:, 1:14]
    energy = 10 * np.log10(spec.sum(axis=1) + 1e-12)
    voiced = energy > energy.max() - 35
    return c, voiced


def subsequence_dtw(template: FloatArray, query: FloatArray) -> tuple[float, int, int]:
    """Best match of ``template`` anywhere in ``query``: (normalised cost, start, end frame).

    Steps (1,1), (1,2), (2,1) (tempo 0.5x-2x); local cost is the Euclidean distance of the
    frames divided by sqrt(dimensions); the path cost is divided by the template length.
    """
    m, n = template.shape[0], query.shape[0]
    if m < 5 or n < m // 2:
        return float("inf"), 0, 0
    d = np.sqrt(
        np.maximum(
            (template**2).sum(1)[:, None] + (query**2).sum(1)[None, :] - 2 * template @ query.T,
            0,
        )
    ) / np.sqrt(template.shape[1])
    inf = np.inf
    acc = np.full((m, n), inf)
    start = np.zeros((m, n), dtype=np.int64)
    acc[0] = d[0]
    start[0] = np.arange(n)
    for j in range(1, n):
        col = d[:, j]
        # (i-1, j-1)
        best = np.full(m, inf)
        src = np.zeros(m, dtype=np.int64)
        best[1:] = acc[:-1, j - 1]
        src[1:] = start[:-1, j - 1]
        # (i-2, j-1)
        if m > 2:
            alt = np.full(m, inf)
            alt[2:] = acc[:-2, j - 1] + d[1:-1, j]
            better = alt < best
            best = np.where(better, alt, best)
            src[2:] = np.where(better[2:], start[:-2, j - 1], src[2:])
        # (i-1, j-2)
        if j >= 2:
            alt = np.full(m, inf)
            alt[1:] = acc[:-1, j - 2] + d[1:, j - 1]
            better = alt < best
            best = np.where(better, alt, best)
            src[1:] = np.where(better[1:], start[:-1, j - 2], src[1:])
        acc[1:, j] = best[1:] + col[1:]
        start[1:, j] = src[1:]
        acc[0, j] = col[0]
        start[0, j] = j
    end = int(np.argmin(acc[-1]))
    return float(acc[-1, end] / m), int(start[-1, end]), end


_DEFAULT_TEXTS = (("zh", "本内容由人工智能生成"), ("en", "This content is generated by AI"))


@dataclass(frozen=True)
class Template:
    """A prompt text as the labeller speaks it: its samples at :data:`RATE` and its MFCCs."""

    language: str
    text: str
    samples: FloatArray
    features: FloatArray


@functools.lru_cache(maxsize=16)
def _template(text: str, language: str, rate: int) -> Template:
    from scipy.signal import resample_poly  # type: ignore[import-untyped]

    from synthlabel.label.audio import synthesize_voice

    speech = synthesize_voice(text, language, rate_cpm=rate)
    x = np.asarray(resample_poly(speech.samples, RATE, speech.sample_rate), dtype=np.float64)
    feats, _voiced = mfcc(x)
    return Template(language, text, x, feats)


def voice_texts(extra: dict[str, Any] | None = None) -> list[tuple[str, str]]:
    texts = list(_DEFAULT_TEXTS)
    if extra:
        for t in extra.get("voice_texts", ()) or ():
            if isinstance(t, str) and 0 < len(t) <= 200:
                lang = "zh" if any("\u4e00" <= c <= "\u9fff" for c in t) else "en"
                texts.append((lang, t))
    return texts


def _unit(v: FloatArray) -> float:
    return float(np.sqrt(v @ v)) + 1e-12


def correlate(x: FloatArray, template: FloatArray) -> tuple[float, int]:
    """Waveform match of ``template`` in ``x``: (the worst of the whole prompt's and each
    quarter's normalised correlation at the best place, that place's first sample).

    The place is the peak of the whole prompt's normalised cross-correlation; each quarter is
    then correlated where it falls, allowing 2 ms either way (resampling and codec delay)."""
    from scipy.signal import fftconvolve

    m = template.size
    if m < QUARTERS * 160 or x.size < m // 2:
        return 0.0, 0
    if x.size < m:
        x = np.concatenate([x, np.zeros(m - x.size)])
    energy = np.concatenate([[0.0], np.cumsum(x * x)])
    norms = np.sqrt(np.maximum(energy[m:] - energy[:-m], 0.0)) + 1e-12
    ncc = fftconvolve(x, template[::-1], mode="valid") / (norms * _unit(template))
    at = int(np.argmax(ncc))
    worst = float(ncc[at])
    slack = round(0.002 * RATE)
    for j in range(QUARTERS):
        a, b = j * m // QUARTERS, (j + 1) * m // QUARTERS
        part = template[a:b]
        best = -1.0
        for d in range(-slack, slack + 1):
            lo = at + a + d
            if lo < 0 or lo + b - a > x.size:
                continue
            seg = x[lo : lo + b - a]
            best = max(best, float(seg @ part) / (_unit(seg) * _unit(part)))
        worst = min(worst, best)
    return worst, at


def match_mfcc(template: FloatArray, query: FloatArray) -> tuple[float, int]:
    """MFCC match of ``template`` in ``query``: (the worst distance of the whole prompt and of
    each quarter, each quarter matched near the whole prompt's best place; start frame)."""
    worst, start, _end = _match_mfcc(template, query)
    return worst, start


def _match_mfcc(template: FloatArray, query: FloatArray) -> tuple[float, int, int]:
    """:func:`match_mfcc` with the end frame of the whole prompt's best place too."""
    dist, start, end = subsequence_dtw(template, query)
    if not dist <= VOICE_THRESHOLD:
        return dist, start, end  # the worst quarter is no better than the whole
    m = template.shape[0]
    lo, hi = max(0, start - 20), min(query.shape[0], end + 21)
    worst = dist
    for j in range(QUARTERS):
        part = template[j * m // QUARTERS : (j + 1) * m // QUARTERS]
        worst = max(worst, subsequence_dtw(part, query[lo:hi])[0])
    return worst, start, end


# ---------------------------------------------------------------------------------------------
# Retimed prompts: short pieces of the waveform along a tempo

#: Rate of the retimed-waveform match (speech below 4 kHz is enough, and it halves the work).
CHUNK_RATE = 8000
#: Pieces of the prompt's waveform matched one by one (25 ms: shorter than the windows of
#: time-stretching filters such as ffmpeg's atempo, which copy pieces of the waveform).
CHUNK_S = 0.025
#: Each piece may sit this far from where the tempo puts it (the filter's splices).
CHUNK_SLACK_S = 0.025
#: Pieces this far below the loudest one (dB) are left out (pauses).
CHUNK_FLOOR_DB = 25.0
#: Tempo range searched (1.25: the prompt plays in 0.8 of its time), its step, and how far
#: from the place the MFCC match found the prompt's start is searched (seconds).
TEMPO_RANGE = (0.8, 1.25)
TEMPO_STEP = 0.005
TEMPO_ONSET_S = 0.3
#: Retimed-waveform match: the mean best correlation of the pieces, as a whole and in each
#: quarter, at or above which a retimed prompt matches ...
TEMPO_THRESHOLD = 0.6
#: ... tried only where the MFCC match came this close (worst of whole and quarters). Other
#: espeak-ng sentences spoken by the same voice reach 0.56-0.67 piece correlation alone (a
#: 25 ms piece of voiced speech finds a pitch period of the same voice to match within its
#: slack; the pieces' lags jump by whole periods in a real retimed copy too, so their
#: consistency does not tell them apart), but their MFCC distance is 3.41 or more; our
#: prompts mixed over a video's sound then retimed 0.8x-1.25x: 2.0-2.53 (and 0.78-0.84).
RETIMED_MFCC_GATE = 3.0


@dataclass(frozen=True)
class _Chunks:
    """The loud 25 ms pieces of a template at CHUNK_RATE: their offsets (samples) and their
    zero-mean unit-norm samples."""

    offsets: npt.NDArray[np.int64]
    pieces: FloatArray
    length: int  # the template's length in samples at CHUNK_RATE


@functools.lru_cache(maxsize=16)
def _chunks(text: str, language: str, rate: int) -> _Chunks:
    from scipy.signal import resample_poly

    x = np.asarray(resample_poly(_template(text, language, rate).samples, CHUNK_RATE, RATE))
    n = round(CHUNK_S * CHUNK_RATE)
    count = x.size // n
    parts = x[: count * n].reshape(count, n)
    energy = (parts**2).sum(axis=1)
    keep = np.flatnonzero(energy > energy.max() * 10 ** (-CHUNK_FLOOR_DB / 10))
    pieces = parts[keep] - parts[keep].mean(axis=1, keepdims=True)
    pieces /= np.linalg.norm(pieces, axis=1, keepdims=True) + 1e-12
    return _Chunks(keep * n, pieces, x.size)


def match_retimed(
    x8: FloatArray, chunks: _Chunks, onset: int, tempo: float
) -> tuple[float, int, float]:
    """The prompt's waveform, retimed, near ``onset`` (samples of ``x8``, at CHUNK_RATE) at
    about ``tempo`` (both from the MFCC match): (the worst of the whole prompt's and each
    quarter's mean piece correlation, the start found, the tempo found).

    Each loud 25 ms piece of the template is correlated (normalised) with the audio and may
    sit up to CHUNK_SLACK_S from where a tempo puts it; tempos within 10 % of ``tempo`` (and
    within TEMPO_RANGE) and starts within TEMPO_ONSET_S of ``onset`` are tried, and the best
    mean correlation wins."""
    from scipy.ndimage import maximum_filter1d  # type: ignore[import-untyped]
    from scipy.signal import fftconvolve

    lo_t = max(TEMPO_RANGE[0], tempo / 1.1)
    hi_t = min(TEMPO_RANGE[1], tempo * 1.1)
    k = chunks.pieces.shape[0]
    if k < 2 * QUARTERS or lo_t > hi_t:
        return 0.0, onset, tempo
    tempos = np.arange(lo_t, hi_t + 1e-9, TEMPO_STEP)
    n = chunks.pieces.shape[1]
    slack = round(CHUNK_SLACK_S * CHUNK_RATE)
    reach = round(TEMPO_ONSET_S * CHUNK_RATE)
    # the audio the search can touch
    a = max(0, onset - reach - slack)
    b = min(x8.size, onset + reach + slack + n + int(chunks.offsets[-1] / lo_t) + 1)
    seg = x8[a:b]
    if seg.size < n + 2 * slack:
        return 0.0, onset, tempo
    # the norm of each n-sample stretch of the audio less its mean (the pieces are zero-mean)
    energy = np.concatenate([[0.0], np.cumsum(seg * seg)])
    sums = np.concatenate([[0.0], np.cumsum(seg)])
    spread = energy[n:] - energy[:-n] - (sums[n:] - sums[:-n]) ** 2 / n
    norms = np.sqrt(np.maximum(spread, 0.0)) + 1e-9
    width = norms.size
    best = np.empty((k, width), dtype=np.float32)
    for j in range(0, k, 32):  # 32 pieces at a time bounds the FFT buffers (~20 MB)
        block = chunks.pieces[j : j + 32, ::-1]
        ncc = fftconvolve(seg[None, :], block, mode="valid", axes=1) / norms
        best[j : j + 32] = maximum_filter1d(ncc, 2 * slack + 1, axis=1, mode="constant", cval=0)
    # starts every 0.5 ms: each piece's best within its slack is already taken
    starts = np.arange(max(0, onset - reach - a), onset + reach - a + 1, 4)
    quarter = np.arange(k) * QUARTERS // k
    found = (-1.0, onset, tempo)
    for t in tempos:
        pos = starts[:, None] + np.round(chunks.offsets / t).astype(np.int64)[None, :]
        valid = pos[:, -1] < width
        if not valid.any():
            continue
        pos = pos[valid]
        got = best[np.arange(k)[None, :], pos]  # (starts, pieces)
        whole = got.mean(axis=1)
        i = int(np.argmax(whole))
        worst = min(
            float(whole[i]),
            min(float(got[i, quarter == q].mean()) for q in range(QUARTERS)),
        )
        if worst > found[0]:
            found = (worst, int(starts[valid][i]) + a, float(t))
    return found


def find_voice(
    windows: list[Window], extra: dict[str, Any] | None = None
) -> tuple[list[VoiceHit], str]:
    """Voice prompt matches, and a note when the check could not run (espeak-ng missing)."""
    try:
        templates = [_template(t, lang, 140) for lang, t in voice_texts(extra)]
    except SynthlabelError as exc:
        return [], f"voice prompts not checked: {exc.message}"
    out: list[VoiceHit] = []
    for w in windows:
        q, voiced = mfcc(w.samples)
        if not voiced.any():
            continue
        cache: dict[str, FloatArray] = {}
        best: VoiceHit | None = None
        for tpl in templates:
            corr, at = correlate(w.samples, tpl.samples)
            if corr >= CORRELATION_THRESHOLD:
                onset = w.offset_s + at / RATE
                hit = VoiceHit(w.where, onset, tpl.text, tpl.language, math.inf, corr, "waveform")
            else:
                dist, s, e = _match_mfcc(tpl.features, q)
                if dist <= VOICE_THRESHOLD:
                    hit = VoiceHit(
                        w.where, w.offset_s + s * 0.01, tpl.text, tpl.language, dist, max(0.0, corr)
                    )
                elif dist <= RETIMED_MFCC_GATE:
                    retimed = _retimed_hit(w, tpl, s, e, cache)
                    if retimed is None:
                        continue
                    hit = retimed
                else:
                    continue
            if best is None or hit.score > best.score:
                best = hit
        if best is not None and not any(abs(h.onset_s - best.onset_s) < 1 for h in out):
            out.append(best)
    return out, ""


def _retimed_hit(
    w: Window, tpl: Template, start: int, end: int, cache: dict[str, FloatArray]
) -> VoiceHit | None:
    """A retimed prompt where the MFCC match put the template (frames ``start``-``end``),
    close (at most :data:`RETIMED_MFCC_GATE`) but not close enough: the waveform pieces along
    the tempo that place implies."""
    tempo = tpl.features.shape[0] / max(1, end - start)
    if not TEMPO_RANGE[0] / 1.1 <= tempo <= TEMPO_RANGE[1] * 1.1:
        return None
    if "x8" not in cache:
        from scipy.signal import resample_poly

        cache["x8"] = np.asarray(resample_poly(w.samples, CHUNK_RATE, RATE), dtype=np.float64)
    chunks = _chunks(tpl.text, tpl.language, 140)
    score, at, found = match_retimed(cache["x8"], chunks, round(start * 0.01 * CHUNK_RATE), tempo)
    if score < TEMPO_THRESHOLD:
        return None
    onset = w.offset_s + at / CHUNK_RATE
    return VoiceHit(
        w.where, onset, tpl.text, tpl.language, math.inf, score, "waveform-retimed", found
    )
