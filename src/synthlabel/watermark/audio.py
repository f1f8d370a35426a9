"""``sl-aud-1``: a robust audio watermark carrying 32 bits every 3 seconds.

Design
======

The mark lives in the 312-3688 Hz band of a 8 kHz working copy of the signal, because that
band survives everything a distribution chain does to audio: MP3/AAC/Opus at low bit rates,
8 kHz telephone resampling, a 4 kHz low-pass, a 300 Hz high-pass.

* **Grid.** A 512-point STFT (64 ms, hop 32 ms, sqrt-Hann) of the 8 kHz copy. The band is
  cut into 54 groups of 4 bins (125 Hz), paired into 27 *pairs* of neighbouring groups
  (A = lower, B = upper). Time is cut into *slots* of 2 frames (64 ms). One block is 47 slots
  (3.008 s) x 27 pairs = 1269 *tiles*.
* **Feature.** A tile's value is ``d = ln(E_A / E_B)``: the log ratio of the energies of its
  two groups. Both groups are neighbours in time and frequency, so the spectral envelope,
  the volume, any static filter (EQ, low/high-pass) and most of a codec's error cancel; the
  feature only sees what the watermark did. Each tile carries one *chip* (+1: A louder,
  -1: B louder).
* **Payload.** 32 payload bits + CRC-16 go through the shared rate-1/3 convolutional code
  (:mod:`._ecc`): 162 channel bits, each spread over 6 keyed tiles with keyed signs
  (972 tiles); the other 297 tiles carry a fixed keyed *sync* pattern. The same block
  repeats for the whole signal, so any 3 s excerpt holds a full copy and longer signals vote.
* **Embedding (gently informed).** For every tile the embedder knows the host's own ``d``
  (centred on the pair's median over time, as the detector sees it): the boosted group is
  scaled by ``1 + a``, the other by ``1 - a``, with ``a`` between ``A_MIN`` (the tile
  already carries its chip) and ``A_MAX`` (it does not). The cap is low on purpose: big
  pushes on tiles whose host fights the chip take energy from all the others once the
  residual is scaled to the target SNR (measured on speech, music and tones). Groups that are
  nearly silent get a little keyed noise (a *floor*) in the boosted group, so that silence,
  pauses and sparse tonal music carry the mark too. A group much louder than the slot's
  median group (``LOUD_CAP`` = 30x in power: a tone over noise, a strong formant) gets the
  change a group at that cap would get: without it a loud tone took most of the residual
  energy for a single pair (95 % for pink noise + a 330 Hz tone, which then failed a clean
  round trip with a CRC mismatch). The whole residual is then scaled to a fixed
  signal-to-watermark ratio (30.2 dB at ``strength=1``); it is added to every channel (a
  downmix keeps it).
* **Self-check (adaptive strength).** The embedder reads its own mark back with the
  detector's features at the known alignment (speed 1, offset 0; ~20 ms per 10 s). If the CRC
  fails, the per-bit margins are weak (mean/std < ``CHECK_Q``) or the sync correlation is
  below ``CHECK_SYNC``, the strength rises in 1 dB steps, at most ``MAX_EXTRA_DB`` = 3 dB. So
  the SNR is 30.2 dB for most inputs and never below 27.2 dB at ``strength=1``; on the
  300-clip round-trip battery (bench/results/wm_audio.md) the median stays 30.2 dB and the
  raised clips are mostly short white or brown noise, the hardest host (its own tile-to-tile
  fluctuation is as large as the mark). Any SNR measured on the output is the true one.
* **Detection.** The detector does not know the alignment nor the playback speed. It tries 81
  speed factors (0.90-1.10 in 0.25 % steps: a speed change moves time and frequency together,
  stretching the spectrogram in both undoes it), computes the tile features at an 8 ms time
  resolution from one spectrogram (read at each speed by interpolation; each group's steady
  noise floor is subtracted first, then per pair it reads the steadiest of the ratio ``d`` and
  the two groups' own log levels, each centred on its median and scaled by its MAD: a lone
  tone next to an empty group is read from its own level), folds all blocks of the signal onto
  one (voting), and correlates the sync pattern at every offset. The best (speed, offset)
  candidate's sync score is turned into a z-score against the spread of all other candidates
  (a robust, per-signal null: median and MAD), and the data tiles of the best few candidates
  go through soft Viterbi + CRC (the first that passes wins).

p-value
=======

``p = min(1, M * Q(z)) * T * 2**-16`` where ``M`` is the number of (speed, offset) candidates
searched (Bonferroni), ``Q`` the Gaussian tail, ``z`` the best candidate's sync z-score and
``T * 2**-16`` bounds the probability that one of the ``T = DECODE_TRIES`` best hypotheses of
an unmarked signal passes the 16-bit CRC (independent of the sync score under the null).
``present`` requires ``p <= 1e-6`` and a valid CRC.
The false-positive rate was measured on unmarked speech, music, tones and noise, clean and
attacked (bench/bench_wm_audio.py, bench/results/wm_audio.md).
"""

from __future__ import annotations

import hashlib
import math
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.signal import resample_poly  # type: ignore[import-untyped]

from synthlabel.watermark import _ecc
from synthlabel.watermark.base import (
    DEFAULT_P_THRESHOLD,
    AudioSignal,
    AudioWatermark,
    Detection,
    MediaKind,
    WatermarkCapacityError,
    WatermarkError,
    absent,
)
from synthlabel.watermark.payload import bits_to_bytes, bytes_to_bits

F64 = npt.NDArray[np.float64]

ALGORITHM_ID = "sl-aud-1"
PAYLOAD_BITS = 32
CRC_WIDTH = 16

WORK_RATE = 8000  # the mark is built and read on an 8 kHz copy
NFFT = 512
HOP = 256
LO_BIN = 20  # 312.5 Hz
GROUP = 4  # bins per group (62.5 Hz... 125 Hz at 31.25 Hz/bin = 4 bins)
NGROUPS = 54
NPAIRS = NGROUPS // 2
HI_BIN = LO_BIN + GROUP * NGROUPS  # 236 -> 3687.5 Hz
SLOT_FRAMES = 2
NSLOTS = 47
BLOCK_FRAMES = SLOT_FRAMES * NSLOTS  # 94 frames
BLOCK_SAMPLES = BLOCK_FRAMES * HOP  # 24064 samples = 3.008 s at 8 kHz
CHANNEL_BITS = _ecc.coded_length(PAYLOAD_BITS + CRC_WIDTH)  # 162
REPEAT = 6  # tiles per channel bit
NTILES = NSLOTS * NPAIRS  # 1269
NSYNC = NTILES - CHANNEL_BITS * REPEAT  # 297

# Detection grid.
DET_HOP = 64  # 8 ms: 4 analysis offsets per embedding hop
SUB = HOP // DET_HOP
TILE_DET = SLOT_FRAMES * SUB  # detection frames per slot
SPEED_STEP = 0.0025
SUBTRACT = 0.95  # share of each group's noise floor taken off before the logs
SUB_Q = 0.05  # the floor: this quantile of the group's tile energy over time
DECODE_TRIES = 8  # best (speed, phase) hypotheses decoded
SPEEDS: tuple[float, ...] = tuple(round(1.0 + SPEED_STEP * k, 4) for k in range(-40, 41))

# Embedding parameters (relative: the residual is scaled to the target SNR afterwards).
TARGET_SNR_DB = 30.2
MARGIN = 1.0  # wanted chip * ln(E_A/E_B) in nepers
A_MAX = 0.07  # largest relative amplitude change of a group (before SNR scaling)
A_MIN = 0.05  # smallest relative change, on tiles that already carry their chip
FLOOR = 0.01  # floor power per cell, relative to the mean in-band cell power
# (the floor is most of what PESQ hears: 0.02 -> PESQ-WB 2.7, 0.01 -> 2.9, 0.005 -> 3.2 on
# espeak speech, at some cost in robustness; 0 leaves speech undetectable)
# Self-check after embedding (see _self_check): the mark must decode at the known alignment
# with margin; if not, the strength rises in 1 dB steps, at most MAX_EXTRA_DB.
CHECK_Q = 1.0  # mean / std of the per-bit margins
CHECK_SYNC = 8.0  # sync correlation at the true alignment (in sigmas of a null)
MAX_EXTRA_DB = 3.0
LOUD_CAP = 30.0
MIN_RMS = 1e-4  # below this (-80 dBFS) the input counts as silent

_SEED = b"synthlabel/sl-aud-1/layout/v1"


def _rng(tag: str) -> np.random.Generator:
    digest = hashlib.sha256(_SEED + tag.encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "big"))


@lru_cache(maxsize=1)
def _layout() -> tuple[F64, npt.NDArray[np.int64], F64]:
    """The keyed tile layout.

    Returns ``sync`` (NSLOTS, NPAIRS) with +-1 on sync tiles and 0 elsewhere, ``bit_of``
    (NSLOTS, NPAIRS) with the channel bit of each data tile (-1 on sync tiles), and
    ``spread`` (NSLOTS, NPAIRS) with the keyed sign of each data tile.
    """
    rng = _rng("layout")
    perm = rng.permutation(NTILES)
    sync = np.zeros(NTILES)
    bit_of = np.full(NTILES, -1, dtype=np.int64)
    spread = np.zeros(NTILES)
    sync_idx = perm[:NSYNC]
    sync[sync_idx] = rng.choice([-1.0, 1.0], size=NSYNC)
    data_idx = perm[NSYNC:]
    bit_of[data_idx] = np.repeat(np.arange(CHANNEL_BITS), REPEAT)
    spread[data_idx] = rng.choice([-1.0, 1.0], size=data_idx.size)
    shape = (NSLOTS, NPAIRS)
    return sync.reshape(shape), bit_of.reshape(shape), spread.reshape(shape)


def _chips(payload_bits: npt.NDArray[np.uint8]) -> F64:
    """+-1 per tile (NSLOTS, NPAIRS): the sync pattern and the spread channel bits."""
    sync, bit_of, spread = _layout()
    coded = _ecc.frame(payload_bits, CRC_WIDTH).astype(np.float64) * 2.0 - 1.0
    data = np.where(bit_of >= 0, coded[np.clip(bit_of, 0, None)] * spread, 0.0)
    out: F64 = sync + data
    return out


@lru_cache(maxsize=1)
def _window() -> F64:
    return np.sqrt(np.hanning(NFFT + 1)[:NFFT])


def _resample(x: F64, sr_in: int, sr_out: int) -> F64:
    if sr_in == sr_out:
        return x
    g = math.gcd(sr_in, sr_out)
    out: F64 = resample_poly(x, sr_out // g, sr_in // g)
    return out


def _mono(samples: npt.NDArray[Any]) -> F64:
    x = np.asarray(samples, dtype=np.float64)
    if x.ndim == 2:
        x = x.mean(axis=1)
    return x


def _frames(x: F64, hop: int, count: int) -> F64:
    """``count`` windowed frames at ``hop`` (zero-padded at the end)."""
    need = (count - 1) * hop + NFFT
    if x.size < need:
        x = np.concatenate([x, np.zeros(need - x.size)])
    idx = np.arange(count)[:, None] * hop + np.arange(NFFT)[None, :]
    out: F64 = x[idx] * _window()[None, :]
    return out


# --------------------------------------------------------------------------- embedding


def _embed_residual(x8: F64, bits: npt.NDArray[np.uint8]) -> F64:
    """The watermark residual (8 kHz, same length as ``x8``), before SNR scaling."""
    n = x8.size
    nframes = max(1, -(-(n - NFFT) // HOP) + 1) if n > NFFT else 1
    nblocks = -(-nframes // BLOCK_FRAMES)
    total = nblocks * BLOCK_FRAMES
    spec = np.fft.rfft(_frames(x8, HOP, nframes), axis=1)[:, LO_BIN:HI_BIN]
    band = np.zeros((total, HI_BIN - LO_BIN), dtype=np.complex128)
    band[:nframes] = spec
    power = band.real**2 + band.imag**2
    mean_cell = float(power[:nframes].mean()) + 1e-30
    # Per (block, slot, group): summed cell power over the slot's frames and the group's bins.
    gpow = power.reshape(nblocks, NSLOTS, SLOT_FRAMES, NGROUPS, GROUP).sum(axis=(2, 4))
    valid = np.zeros(total)
    valid[:nframes] = 1.0
    vcount = valid.reshape(nblocks, NSLOTS, SLOT_FRAMES).sum(axis=2)[:, :, None]  # cells/group
    chips = _chips(bits)  # (ns, np)
    a_is_boosted = (chips > 0)[None]  # (1, ns, np)
    ga = gpow[:, :, 0::2]  # (nb, ns, np) lower group of each pair
    gb = gpow[:, :, 1::2]
    p_boost = np.where(a_is_boosted, ga, gb)
    p_cut = np.where(a_is_boosted, gb, ga)
    cell_floor = FLOOR * mean_cell * vcount * GROUP  # a group's floor power
    f_add = np.where(vcount > 0, np.maximum(0.0, cell_floor - p_boost), 0.0)
    eps = 1e-9 * mean_cell
    # The detector centres every pair's feature on its median over time (that removes the
    # spectral tilt and static filters); the margin is measured from the same centre.
    raw = np.log(ga + eps) - np.log(gb + eps)  # (nb, ns, np)
    live = np.broadcast_to(vcount > 0, raw.shape)
    centre = np.median(np.where(live, raw, np.nan).reshape(-1, NPAIRS), axis=0)
    centre = np.nan_to_num(centre)[None, None, :]
    sign = np.where(a_is_boosted, 1.0, -1.0)
    d0 = np.log((p_boost + f_add + eps) / (p_cut + eps)) - sign * centre
    # Informed but gentle: a tile that already carries its chip gets the smallest change, one
    # that does not gets a little more. Larger pushes on hopeless tiles would only take
    # energy from the rest once the residual is scaled to the target SNR (measured: capping
    # the push near the floor detects best on speech, music and tones, clean and noisy).
    a = np.clip(np.tanh((MARGIN - d0) / 4.0), A_MIN, A_MAX)
    cells = np.maximum(vcount * GROUP, 1.0)
    gain_a = np.where(a_is_boosted, a, -a)
    gain_b = -gain_a
    noise_amp = np.sqrt(f_add / cells) * (1.0 + a)
    noise_a = np.where(a_is_boosted, noise_amp, 0.0)
    noise_b = np.where(a_is_boosted, 0.0, noise_amp)
    gains = np.stack([gain_a, gain_b], axis=-1).reshape(nblocks, NSLOTS, NGROUPS)
    # A group far louder than the slot's typical group (a tone over noise, a strong formant)
    # would take most of the residual energy for a single tile once the residual is scaled
    # to the target SNR; its change is capped at what a group LOUD_CAP times the slot's
    # median power would get, which leaves the budget to the other 53 groups.
    slot_med = np.median(gpow, axis=2, keepdims=True)
    gains = gains * np.minimum(1.0, np.sqrt(LOUD_CAP * slot_med / (gpow + eps)))
    noise = np.stack([noise_a, noise_b], axis=-1).reshape(nblocks, NSLOTS, NGROUPS)
    # expand to frames x bins
    g_fb = np.repeat(np.repeat(gains, SLOT_FRAMES, axis=1), GROUP, axis=2).reshape(total, -1)
    n_fb = np.repeat(np.repeat(noise, SLOT_FRAMES, axis=1), GROUP, axis=2).reshape(total, -1)
    rng = _rng("floor-noise")
    phase = rng.random(size=(nframes, HI_BIN - LO_BIN)) * (2.0 * np.pi)
    resid = band[:nframes] * g_fb[:nframes] + n_fb[:nframes] * np.exp(1j * phase)
    full = np.zeros((nframes, NFFT // 2 + 1), dtype=np.complex128)
    full[:, LO_BIN:HI_BIN] = resid
    frames = np.fft.irfft(full, n=NFFT, axis=1) * _window()[None, :]
    out = np.zeros((nframes - 1) * HOP + NFFT)
    # HOP = NFFT / 2: even frames tile the signal without overlap, odd frames too.
    for k in (0, 1):
        seg = frames[k::2].reshape(-1)
        out[k * HOP : k * HOP + seg.size] += seg
    res: F64 = out[:n]
    return res


def _self_check(y8: F64, coded: F64) -> bool:
    """Whether the mark in ``y8`` reads back at the known alignment with margin.

    The detector's own features at speed 1 and offset 0: the CRC must pass, the per-bit
    margins ``coded * soft`` must have mean / std >= CHECK_Q, and the sync correlation must be
    >= CHECK_SYNC (so that it wins the detector's search over speeds and offsets).
    """
    sync, bit_of, spread = _layout()
    g = _groups_at_speed(_spectrogram(y8), 1.0)
    if g is None:
        return True
    folded, counts = _fold(_tile_features(g), 0)
    mask = bit_of >= 0
    soft = np.zeros(CHANNEL_BITS)
    np.add.at(soft, bit_of[mask], (folded * spread)[mask])
    bit_m = soft * coded
    bit_m = bit_m / (float(np.sqrt(np.mean(bit_m**2))) + 1e-12)
    sync_score = float(np.sum(folded * sync)) / math.sqrt(float(np.sum(counts[:, None] * sync**2)))
    _, crc_ok, _ = _ecc.unframe(soft, PAYLOAD_BITS, CRC_WIDTH)
    q = float(np.mean(bit_m)) / (float(np.std(bit_m)) + 1e-12)
    return bool(crc_ok and q >= CHECK_Q and sync_score >= CHECK_SYNC)


class SlAud1:
    """The ``sl-aud-1`` algorithm object (see the module docstring for the design)."""

    id: str = ALGORITHM_ID
    name: str = "synthlabel audio tile-ratio watermark v1"
    media_kind: MediaKind = "audio"
    payload_bits: int = PAYLOAD_BITS
    # detection reads a mono copy at this rate: inspect decodes straight to it
    detect_sample_rate: int = WORK_RATE

    def embed(self, audio: AudioSignal, payload: bytes, *, strength: float = 1.0) -> AudioSignal:
        """Watermark ``audio`` with ``payload`` (32 bits, MSB first); same shape and rate."""
        if not isinstance(audio, AudioSignal):
            raise WatermarkError("audio must be an AudioSignal")
        if not (strength > 0.0 and math.isfinite(strength)):
            raise WatermarkError(f"strength must be a positive number, got {strength!r}")
        if len(payload) * 8 < PAYLOAD_BITS:
            raise WatermarkError(f"payload holds {len(payload) * 8} bits, {PAYLOAD_BITS} needed")
        sr = int(audio.sample_rate)
        samples = np.asarray(audio.samples)
        if samples.ndim not in (1, 2) or (samples.ndim == 2 and samples.shape[1] == 0):
            raise WatermarkError(
                f"audio samples must be (n,) or (n, channels), got {samples.shape}"
            )
        if sr < WORK_RATE:
            raise WatermarkCapacityError(
                f"sample rate {sr} Hz is too low for {ALGORITHM_ID} (needs at least {WORK_RATE} Hz)"
            )
        if not np.all(np.isfinite(samples)):
            raise WatermarkError("audio contains NaN or infinite samples")
        need = BLOCK_SAMPLES / WORK_RATE
        if samples.shape[0] < math.ceil(need * sr) + 1:
            raise WatermarkCapacityError(
                f"audio of {samples.shape[0] / sr:.2f} s is too short for a {PAYLOAD_BITS}-bit "
                f"{ALGORITHM_ID} watermark (needs at least {need:.2f} s)"
            )
        x = _mono(samples)
        rms = float(np.sqrt(np.mean(x**2)))
        if rms < MIN_RMS:
            raise WatermarkCapacityError(
                f"audio is silent (RMS {20 * math.log10(rms + 1e-12):.0f} dBFS): a watermark "
                "cannot hide in silence"
            )
        bits = bytes_to_bits(payload, PAYLOAD_BITS)
        x8 = _resample(x, sr, WORK_RATE)
        snr = TARGET_SNR_DB - 20.0 * math.log10(strength)
        sig = np.asarray(samples, dtype=np.float64)
        target_pow = float(np.mean(sig**2)) / 10.0 ** (snr / 10.0)
        coded = _ecc.frame(bits, CRC_WIDTH).astype(np.float64) * 2.0 - 1.0
        r8 = _embed_residual(x8, bits)
        # Self-check: read the mark back at the known alignment; raise the strength in 1 dB
        # steps (at most MAX_EXTRA_DB) until it decodes with margin. The SNR reported by any
        # measurement of the output is the true one: the extra dB are spent in the output.
        s8 = math.sqrt(target_pow / (float(np.mean(r8**2)) + 1e-30))
        extra_db = 0.0
        while not _self_check(x8 + s8 * 10.0 ** (extra_db / 20.0) * r8, coded):
            if extra_db >= MAX_EXTRA_DB:
                break
            extra_db += 1.0
        snr -= extra_db
        r = _resample(r8, WORK_RATE, sr)
        if r.size < x.size:
            r = np.concatenate([r, np.zeros(x.size - r.size)])
        r = r[: x.size]
        sig_energy = float(np.sum(sig**2))
        r_energy = float(np.sum(r**2)) * (1 if sig.ndim == 1 else sig.shape[1])
        if r_energy <= 0.0:
            raise WatermarkCapacityError("audio has no energy in the 300-3700 Hz band")
        scale = math.sqrt(sig_energy / (r_energy * 10.0 ** (snr / 10.0)))
        y = sig + scale * (r if sig.ndim == 1 else r[:, None])
        out = np.clip(y, -1.0, 1.0).astype(np.float32)
        return AudioSignal(out, sr)

    def detect(self, audio: AudioSignal) -> Detection:
        try:
            return _detect(audio)
        except Exception as exc:  # detect never raises
            return absent(ALGORITHM_ID, f"detector error: {type(exc).__name__}: {exc}")


# --------------------------------------------------------------------------- detection


def _spectrogram(x8: F64) -> F64:
    """Cumulative power over frequency (frames x 1 + bins) of the 8 kHz copy, detection hop."""
    nframes = (x8.size - NFFT) // DET_HOP + 1
    spec = np.fft.rfft(_frames(x8, DET_HOP, nframes), axis=1)
    power = spec.real**2 + spec.imag**2
    out: F64 = np.concatenate([np.zeros((nframes, 1)), np.cumsum(power, axis=1)], axis=1)
    return out


def _groups_at_speed(csum: F64, speed: float) -> F64 | None:
    """Group energies (frames x NGROUPS) of the signal stretched by ``speed``.

    Stretching by ``s`` maps time ``t`` to ``t / s`` and frequency ``f`` to ``f * s`` in the
    observed signal, so the stretched spectrogram is read off the observed one: frames by
    linear interpolation (the 64 ms window is 8 hops long, the spectrogram is smooth in time)
    and group edges at fractional bins through the cumulative sum. Much cheaper than
    resampling and transforming the signal for each of the 81 speeds.
    """
    n0 = csum.shape[0]
    n = int((n0 - 1) * speed) + 1
    if n < TILE_DET * 4 + SUB:
        return None
    edges = (LO_BIN - 0.5 + GROUP * np.arange(NGROUPS + 1)) * speed + 0.5  # in cumsum units
    lo = np.floor(edges).astype(np.int64)
    fr = edges - lo
    lo = np.clip(lo, 0, csum.shape[1] - 2)
    at_edges = csum[:, lo] * (1.0 - fr) + csum[:, lo + 1] * fr  # (n0, NGROUPS + 1)
    g0 = np.diff(at_edges, axis=1)
    pos = np.minimum(np.arange(n) / speed, n0 - 1.0)
    i0 = np.minimum(np.floor(pos).astype(np.int64), n0 - 2)
    w = (pos - i0)[:, None]
    out: F64 = g0[i0] * (1.0 - w) + g0[i0 + 1] * w
    return out


def _tile_features(g: F64) -> F64:
    """Normalised pair features d[j, p] at every detection frame j (hop 8 ms)."""
    t = g[:-SUB] + g[SUB:]  # a tile spans two embedding frames = SUB detection frames apart
    # Spectral subtraction: a steady floor in a group (added noise, hiss, the embedder's own
    # floor when that group is cut) dilutes the relative change the chip made; take most of
    # it off. Clean z +30 % on speech and music, 20 dB white noise z +20 %.
    floor = np.quantile(t[::4], SUB_Q, axis=0, keepdims=True)
    t = np.maximum(t - SUBTRACT * floor, 0.05 * floor)
    eps = 1e-9 * float(t.mean()) + 1e-30
    la = np.log(t[:, 0::2] + eps)
    lb = np.log(t[:, 1::2] + eps)
    # medians and MADs over every 4th frame: as good a centre, four times cheaper
    la -= np.median(la[::4], axis=0, keepdims=True)
    lb -= np.median(lb[::4], axis=0, keepdims=True)
    d = la - lb
    d -= np.median(d[::4], axis=0, keepdims=True)
    # Per pair, read whichever of the ratio (the chip moves it by 4a) or one group's own
    # level (2a) is the steadiest: the ratio cancels a speech or music envelope, a lone group
    # wins when its neighbour holds only noise (a tone, a sparse spectrum).
    cands = np.stack([d / 2.0, la, -lb])  # (3, J, P), signal per unit a equalised
    mads = np.median(np.abs(cands[:, ::4]), axis=1, keepdims=True) * 1.4826 + 1e-9  # (3, 1, P)
    pick = np.argmin(mads, axis=0)  # (1, P)
    f = np.take_along_axis(cands / mads, pick[None], axis=0)[0]
    out: F64 = np.clip(f, -3.0, 3.0)
    return out


def _gauss_tail(z: float) -> float:
    """P[N(0, 1) >= z]."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def _fold(d: F64, phase: int) -> tuple[F64, F64]:
    """Sum the tiles starting at detection frame ``phase`` modulo the block (voting)."""
    tiles = d[phase::TILE_DET]
    m = tiles.shape[0]
    folded = np.zeros((NSLOTS, NPAIRS))
    counts = np.zeros(NSLOTS)
    q = np.arange(m) % NSLOTS
    np.add.at(folded, q, tiles)
    np.add.at(counts, q, 1.0)
    return folded, counts


def _detect(audio: AudioSignal) -> Detection:
    if not isinstance(audio, AudioSignal):
        return absent(ALGORITHM_ID, "not an AudioSignal")
    sr = int(audio.sample_rate)
    samples = np.asarray(audio.samples)
    if sr <= 0 or samples.ndim not in (1, 2) or samples.size == 0:
        return absent(ALGORITHM_ID, "empty or malformed audio")
    x = _mono(samples)
    x = np.where(np.isfinite(x), x, 0.0)
    if float(np.sqrt(np.mean(x**2))) < 1e-6:
        return absent(ALGORITHM_ID, "silent audio")
    x8 = _resample(x, sr, WORK_RATE)
    if x8.size < NFFT + BLOCK_SAMPLES // 2:
        return absent(ALGORITHM_ID, "too short to hold a watermark block", duration=x.size / sr)
    sync, bit_of, spread = _layout()
    scores = []
    tops: list[tuple[float, float, int, int, F64]] = []  # (score, speed, phase, shift, folded)
    # sync template rolled for every shift k: tile m belongs to slot (m - k) mod NSLOTS
    rolled = np.stack([np.roll(sync, k, axis=0) for k in range(NSLOTS)])  # (k, ns, np)
    csum = _spectrogram(x8)
    for speed in SPEEDS:
        g = _groups_at_speed(csum, speed)
        if g is None:
            continue
        d = _tile_features(g)
        for phase in range(TILE_DET):
            folded, counts = _fold(d, phase)
            s = np.einsum("kij,ij->k", rolled, folded)
            norm = math.sqrt(float(np.sum(counts[None, :, None] * rolled**2, axis=(1, 2)).mean()))
            s = s / max(norm, 1e-9)
            scores.append(s)
            k = int(np.argmax(s))
            tops.append((float(s[k]), speed, phase, k, folded))
    if not tops:
        return absent(ALGORITHM_ID, "too short after speed search")
    tops.sort(key=lambda c: -c[0])
    best = tops[0]
    allscores = np.concatenate(scores)
    med = float(np.median(allscores))
    mad = float(np.median(np.abs(allscores - med))) * 1.4826 + 1e-12
    z = (best[0] - med) / mad
    m_candidates = allscores.size
    p_sync = min(1.0, m_candidates * _gauss_tail(z))
    # Decode the best few (speed, phase) hypotheses: the true one and its neighbours score
    # alike, and under noise a neighbour 8 ms or 0.25 % off can win the sync by chance while
    # the data read there is too smeared to pass the CRC. Each decode is one more chance for
    # garbage to pass the CRC, hence the factor DECODE_TRIES in the p-value.
    mask = bit_of >= 0
    for cand in tops[:DECODE_TRIES]:
        _, speed, phase, k, folded = cand
        aligned = np.roll(folded, -k, axis=0)  # aligned[slot] = folded[(slot + k) mod NSLOTS]
        soft = np.zeros(CHANNEL_BITS)
        np.add.at(soft, bit_of[mask], (aligned * spread)[mask])
        bits, crc_ok, corrected = _ecc.unframe(soft, PAYLOAD_BITS, CRC_WIDTH)
        if crc_ok:
            break
    else:
        _, speed, phase, k, _ = best
    p_value = p_sync * DECODE_TRIES * (2.0**-CRC_WIDTH) if crc_ok else p_sync
    details: dict[str, Any] = {
        "sync_z": round(z, 3),
        "speed": speed,
        "offset_s": round((phase + TILE_DET * k) * DET_HOP / WORK_RATE / speed, 4),
        "blocks": round(x8.size / speed / BLOCK_SAMPLES, 2),
        "candidates": m_candidates,
        "p_sync": p_sync,
        "crc_ok": crc_ok,
    }
    present = crc_ok and p_value <= DEFAULT_P_THRESHOLD
    if not present:
        reason = "no sync" if p_sync > 1e-3 else ("CRC mismatch" if not crc_ok else "weak sync")
        return absent(ALGORITHM_ID, reason, p_value=min(1.0, p_value), **details)
    return Detection(
        algorithm=ALGORITHM_ID,
        present=True,
        p_value=p_value,
        confidence=max(0.0, min(1.0, 1.0 - p_value)),
        payload=bits_to_bytes(bits),
        payload_bits=PAYLOAD_BITS,
        corrected_bits=corrected,
        reason=None,
        details=details,
    )


ALGORITHM: AudioWatermark = SlAud1()
