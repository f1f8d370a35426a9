"""``sl-img-1``: a tiled spread-spectrum luminance watermark with a self-synchronising template.

Design (numbers from ``bench/bench_wm_image.py`` and the wmbench harness, see
``bench/results/wm_image.md`` and ``bench/results/wmbench/SUMMARY.md``):

* **Where**: luminance only. The same integer delta is added to R, G and B, so grayscale
  conversion keeps the mark and the detector works on ``0.299 R + 0.587 G + 0.114 B``.
* **Geometry relative to the image**: the pattern lives on a grid of *chips* whose size is a
  fixed fraction of the image's short side (the *working resolution* has a short side of
  :data:`WORK` pixels and a chip is :data:`CHIP` working pixels). Resizing therefore does not
  change the pattern relative to the image: a 0.5x copy or a screenshot scaled by 0.8 reads at
  scale 1 (crops do change it: the detector searches scales). Large images are as cheap to
  detect as small ones (everything happens after one area-downscale), and the chips are
  smooth blobs (4 px at 512 px) that survive JPEG, blur and rescaling.
* **What**: a tile of :data:`TILE` x :data:`TILE` chips repeats over the image. Each chip holds
  ``a * S + b * PN * c`` where ``S`` is a keyed +-1 synchronisation pattern, ``c`` is one of the
  258 channel bits of the shared code (:mod:`synthlabel.watermark._ecc`: 64 payload bits +
  CRC-16 XOR a keyed mask, rate-1/3 convolutional code, soft Viterbi) spread over ~4 chips per
  bit and tile, ``PN`` a keyed +-1 sign. Chips are rendered to pixels with a raised-cosine
  interpolation kernel (smooth, partition of unity), computed separably as
  ``A_y @ tile @ A_x.T`` with periodic interpolation matrices: exact geometry at any size.
* **How strong** (:func:`_embed_luma`): an amplitude map in grey levels, computed at a short
  side of at most 512 px and upsampled: a floor on flat areas chosen so that SSIM (7x7
  window) stays >= 0.98 on a completely flat image at every size (:func:`_flat_floor`),
  growing with the local activity up to :data:`_GAIN_CAP` x, fading near black (SSIM's
  luminance term and the eye are most sensitive there), then scaled down if needed so the
  PSNR is at least :data:`TARGET_PSNR` at strength 1. Near 0/255 the delta is shifted away
  from the clipped side so the pattern survives on white backgrounds; a guard keeps the total
  energy (shift included) at the target.
* **Detection**: downscale to the working resolution; whiten (luminance minus a 5x5 median
  prediction, high-passed, divided by the local deviation and clipped) to remove the host;
  fold (sum) the residual modulo the tile under a fixed set of geometry hypotheses (identity,
  a ladder of scales for crops down to ~0.7, a ladder of rotations to +-6 degrees, and the
  lattice vectors of the plain and spectrally whitened autocorrelation for anything else),
  so crops become cyclic shifts; the shift and the 8 dihedral orientations (flips,
  90-degree turns) are found by FFT cross-correlation with the rendered sync pattern; the
  best hypothesis is refined locally; chips are read with the matched (adjoint) filter,
  despread into soft channel values and decoded (soft Viterbi + keyed CRC).
* **Calibration**: the sync peak's z-score (peak minus the mean of all shifts, over their
  standard deviation) gives a Gaussian tail probability, multiplied (Bonferroni) by the number
  of positions x orientations x *every* geometry hypothesis of the search (:data:`N_GEOMETRIES`,
  whether or not the search stopped early), then by 2^-16 for the CRC: the decoded bits at a
  position chosen by the sync search on an unmarked image are independent of that search, so
  they pass the keyed CRC with probability 2^-16. ``bench/bench_wm_image.py`` checks this on
  10,000 generated unmarked images (0 detections) and the calibration of the sync p-value
  alone.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import scipy.fft as sfft  # type: ignore[import-untyped]

from synthlabel.watermark import _ecc
from synthlabel.watermark.base import (
    DEFAULT_P_THRESHOLD,
    Detection,
    SoftReading,
    WatermarkCapacityError,
    WatermarkError,
    absent,
)
from synthlabel.watermark.payload import bits_to_bytes, bytes_to_bits

ALGORITHM_ID = "sl-img-1"
PAYLOAD_BITS = 64
CRC_WIDTH = 16
CODED_BITS = _ecc.coded_length(PAYLOAD_BITS + CRC_WIDTH)  # 258

#: Short side of the working resolution (pixels) on which the pattern geometry is defined.
WORK = 256
#: Chip size in working pixels.
CHIP = 2
#: Chips per tile side.
TILE = 32
#: Tile period in working pixels.
PERIOD = TILE * CHIP
#: Smallest short side (pixels) that still gives one pixel per chip.
MIN_SIDE = WORK // CHIP
#: Energy split between the sync template and the data (a^2 + b^2 = 1).
SYNC_AMP = math.sqrt(0.2)
DATA_AMP = math.sqrt(0.8)
#: Target PSNR (dB) of the embedded luminance delta at strength 1.
TARGET_PSNR = 42.6
#: Mask floor relative to the median activity (so flat images still carry the mark).
_KEY = b"synthlabel/sl-img-1/v1"
#: Geometry ladders of the detector: crops up to ~0.7 of the short side, small rotations.
_SCALES = tuple(float(v) for v in np.exp(np.arange(1, 25) * math.log(1.015)))
_ANGLES = tuple(
    float(a) for a in np.concatenate([np.arange(-6, 0, 0.8), np.arange(0.8, 6.01, 0.8)])
)
_MAX_ACF = 24
#: Hypotheses counted in the Bonferroni correction (identity, ladders, ACF, 3 x 8 refinements).
N_GEOMETRIES = 1 + len(_SCALES) + len(_ANGLES) + _MAX_ACF + 24
#: The refinement and the autocorrelation candidates search a continuum of geometries chosen
#: from the data, so they count for more than the hypotheses actually folded: on 10,000
#: unmarked images the sync p-value with the plain count came out ~2x too small at every
#: level from 1e-1 to 1e-4 (identity alone: calibrated), up to ~4x on pure noise. This factor
#: keeps it conservative (bench/results/wm_image.md has the check per image family).
_SEARCH_FACTOR = 8.0
#: A sync z-score so high that the search stops (the p-value still counts every hypothesis).
_Z_SURE = 7.0

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
U8 = npt.NDArray[np.uint8]


def _rng(label: str) -> np.random.Generator:
    seed = int.from_bytes(hashlib.sha256(_KEY + b"/" + label.encode()).digest()[:8], "big")
    return np.random.default_rng(seed)


def _keyed_patterns() -> tuple[F64, F64, npt.NDArray[np.intp]]:
    """The sync pattern S, the spreading signs PN (TILE x TILE, +-1) and the chip->bit map."""
    sync = _rng("sync").choice([-1.0, 1.0], size=(TILE, TILE))
    pn = _rng("pn").choice([-1.0, 1.0], size=(TILE, TILE))
    perm = _rng("perm").permutation(TILE * TILE)
    bit_of_chip = (perm % CODED_BITS).reshape(TILE, TILE).astype(np.intp)
    return sync, pn, bit_of_chip


_SYNC, _PN, _BIT_OF_CHIP = _keyed_patterns()
_CRC_MASK = np.unpackbits(np.frombuffer(hashlib.sha256(_KEY + b"/crc").digest()[:2], np.uint8))


def _interp_matrix(n_px: int, chips_per_px: float, period: int = TILE) -> F32:
    """(n_px, period) raised-cosine interpolation weights of a periodic chip sequence.

    Pixel ``i`` sits at chip coordinate ``u = (i + 0.5) * chips_per_px - 0.5``; it takes
    ``0.5 (1 + cos(pi f))`` of chip ``floor(u)`` and the rest of the next chip (``f`` the
    fractional part): a smooth (C1) partition of unity.
    """
    u = (np.arange(n_px, dtype=np.float64) + 0.5) * chips_per_px - 0.5
    k0 = np.floor(u)
    f = u - k0
    w0 = 0.5 * (1.0 + np.cos(np.pi * f))
    a = np.zeros((n_px, period), dtype=np.float64)
    rows = np.arange(n_px)
    k = k0.astype(np.int64)
    np.add.at(a, (rows, k % period), w0)
    np.add.at(a, (rows, (k + 1) % period), 1.0 - w0)
    return a.astype(np.float32)


# Rendering of one tile at working resolution (PERIOD x PERIOD pixels) and its adjoint.
_A_TILE = _interp_matrix(PERIOD, 1.0 / CHIP)
_SYNC_PX = (_A_TILE @ _SYNC.astype(np.float32) @ _A_TILE.T).astype(np.float64)
_SYNC_PX -= _SYNC_PX.mean()


def _dihedral(t: F64, k: int) -> F64:
    """The k-th of the 8 dihedral transforms (k & 4: transpose; k & 3: quarter turns)."""
    if k & 4:
        t = t.T
    return np.rot90(t, k & 3)


def _undihedral(t: F64, k: int) -> F64:
    """Inverse of :func:`_dihedral`."""
    t = np.rot90(t, -(k & 3))
    return t.T if k & 4 else t


# conj spectra of the 8 dihedral pre-images S_k of the sync pattern (D_k(S_k) = S)
_SYNC_RF8 = np.conj(
    sfft.rfft2(np.stack([_undihedral(_SYNC_PX, k) for k in range(8)]).astype(np.float32))
)
_SYNC_PX_NORM = float(np.sqrt(np.sum(_SYNC_PX**2)))


def _tile_values(coded: npt.NDArray[np.uint8]) -> F32:
    """Chip amplitudes of one tile for these channel bits."""
    signs = 2.0 * coded.astype(np.float64)[_BIT_OF_CHIP] - 1.0
    return (SYNC_AMP * _SYNC + DATA_AMP * _PN * signs).astype(np.float32)


def _coded_bits(payload: bytes) -> npt.NDArray[np.uint8]:
    if not isinstance(payload, (bytes, bytearray)) or len(payload) * 8 < PAYLOAD_BITS:
        raise WatermarkError(
            f"{ALGORITHM_ID} payload must be {PAYLOAD_BITS // 8} bytes, got {len(payload)!r}"
        )
    bits = bytes_to_bits(bytes(payload), PAYLOAD_BITS)
    return _ecc.encode(np.concatenate([bits, _ecc.crc_bits(bits, CRC_WIDTH) ^ _CRC_MASK]))


def _unframe(soft: F64) -> tuple[npt.NDArray[np.uint8], bool, int]:
    """Soft Viterbi + keyed CRC check: (payload bits, CRC ok, channel bits corrected).

    The CRC field is XORed with a keyed non-zero mask: an input without any mark (all-zero
    soft values on a flat image) makes the decoder return the all-zero word, whose plain
    CRC would check.
    """
    y = np.asarray(soft, dtype=np.float64).ravel()
    info = _ecc.viterbi(y, PAYLOAD_BITS + CRC_WIDTH)
    bits, crc = info[:PAYLOAD_BITS], info[PAYLOAD_BITS:]
    ok = bool(np.array_equal(crc ^ _CRC_MASK, _ecc.crc_bits(bits, CRC_WIDTH)))
    hard = (y > 0).astype(np.uint8)
    corrected = int(np.count_nonzero(hard != _ecc.encode(info)))
    return bits, ok, corrected


def _check_size(h: int, w: int) -> None:
    if min(h, w) < MIN_SIDE:
        raise WatermarkCapacityError(
            f"image {w}x{h} is too small for a {PAYLOAD_BITS}-bit watermark "
            f"(needs at least {MIN_SIDE}x{MIN_SIDE})"
        )


def _work_shape(h: int, w: int) -> tuple[int, int]:
    s = WORK / min(h, w)
    return max(1, round(h * s)), max(1, round(w * s))


def render_pattern(h: int, w: int, payload: bytes) -> F32:
    """The unit-amplitude pattern (chip values +-(a+-b)) at full resolution, H x W float32."""
    _check_size(h, w)
    tile = _tile_values(_coded_bits(payload))
    cpp = WORK / min(h, w) / CHIP  # chips per full-resolution pixel
    ay = _interp_matrix(h, cpp)
    ax = _interp_matrix(w, cpp)
    out: F32 = ((ay @ tile) @ ax.T).astype(np.float32)
    return out


# ----------------------------------------------------------------------------- masking
_MASK_SIDE = 512  # short side at which the perceptual mask is computed
#: Pattern amplitude (grey levels, rms) on flat areas: low enough that SSIM holds on a flat
#: image (the smooth chips put about half of their variance inside SSIM's 7x7 window).
_FLAT_AMP = 1.3
#: Activity (grey levels) at which the gain starts to grow, and its cap relative to the floor.
_ACT_KNEE = 4.0
_GAIN_CAP = 2.6
#: Grey level over which the amplitude fades in from black, and the fraction kept at black.
_DARK_KNEE = 14.0
_DARK_FLOOR = 0.12
_TILE_RMS = float(np.sqrt(np.mean(_tile_values(_coded_bits(bytes(8))).astype(np.float64) ** 2)))


def _pattern_rms(h: int, w: int) -> float:
    """RMS of :func:`render_pattern` at this size (independent chips: the chip power times the
    mean squared interpolation weights along each axis); it grows as chips get smaller."""
    cpp = WORK / min(h, w) / CHIP
    ay = _interp_matrix(min(h, 4096), cpp).astype(np.float64)
    ax = _interp_matrix(min(w, 4096), cpp).astype(np.float64)
    return _TILE_RMS * math.sqrt(float(np.mean(np.sum(ay * ay, 1)) * np.mean(np.sum(ax * ax, 1))))


_PATTERN_RMS = _pattern_rms(WORK, WORK)


def _mask_scale(h: int, w: int) -> float:
    return min(1.0, _MASK_SIDE / min(h, w))


def _small(y: npt.NDArray[Any], s: float) -> F32:
    h, w = y.shape
    if s >= 1.0:
        return np.asarray(y, dtype=np.float32)
    sz = (max(1, round(w * s)), max(1, round(h * s)))
    out: F32 = cv2.resize(y, sz, interpolation=cv2.INTER_AREA).astype(np.float32)
    return out


#: Gain floor on flat areas by short side (pixels): SSIM sees the part of the pattern's variance
#: inside its 7x7 window, and chips are ``short_side / 128`` pixels, so smaller images put more
#: of it there. Measured on flat images so that SSIM stays >= 0.98 at every size.
_FLOOR_SIDES = (128.0, 160.0, 192.0, 256.0, 320.0, 384.0, 512.0, 768.0, 1024.0)
_FLOOR_VALUES = (0.62, 0.72, 0.72, 0.75, 0.81, 0.88, 0.95, 1.08, 1.2)


def _flat_floor(short_side: int) -> float:
    """Floor of the gain on flat areas for an image of this short side (0.95 at 512 px)."""
    return float(np.interp(short_side, _FLOOR_SIDES, _FLOOR_VALUES))


def _amplitude(ys: F32, floor: float = 1.0, prms: float = _PATTERN_RMS) -> F32:
    """Pattern amplitude (grey levels per unit pattern) from the local activity of ``ys``.

    ``floor`` x :data:`_FLAT_AMP` on flat areas (so flat and synthetic images carry the mark
    at a level SSIM accepts), growing with texture up to :data:`_GAIN_CAP` x
    :data:`_FLAT_AMP` (texture hides more; beyond the cap the detector's whitening would
    discount it anyway).
    """
    hp = ys - cv2.GaussianBlur(ys, (0, 0), 1.5)
    act = np.sqrt(cv2.GaussianBlur(hp * hp, (0, 0), 4.0))
    g = np.minimum(np.sqrt(floor * floor + (act / _ACT_KNEE) ** 2), _GAIN_CAP)
    # near black any change of the local mean is visible (and SSIM's luminance term collapses)
    g *= np.clip((cv2.GaussianBlur(ys, (0, 0), 2.0) - 2.0) / _DARK_KNEE, _DARK_FLOOR, 1.0)
    out: F32 = (g * (_FLAT_AMP / prms)).astype(np.float32)
    return out


def _embed_luma(y: npt.NDArray[Any], pattern: F32, strength: float) -> F32:
    """The luminance delta (float32, H x W) for host luminance ``y``.

    The amplitude map and the clipping guard are computed at a short side of at most
    :data:`_MASK_SIDE` and upsampled (they are smooth), so the cost at full resolution is one
    multiply-add. At strength 1 the delta's PSNR is at least :data:`TARGET_PSNR`.
    """
    h, w = y.shape
    s = _mask_scale(h, w)
    ys = _small(y, s)
    prms = _pattern_rms(h, w)
    amp = _amplitude(ys, _flat_floor(min(h, w)), prms)
    # rms of pattern * amp, estimated at mask resolution (the pattern's local power is flat)
    target = 255.0 * 10.0 ** (-TARGET_PSNR / 20.0)
    rms = prms * float(np.sqrt(np.mean(amp * amp))) or 1.0
    amp *= strength * min(1.0, target / rms)
    # Clipping guard: near 0/255 shift the delta away from the saturated side (by about its
    # local peak) so that the pattern is not cut in half on white or black backgrounds.
    env = 1.6 * prms * amp
    hi = np.clip(ys + env - 255.0, 0.0, None)
    lo = np.clip(env - ys, 0.0, None)
    shift = None
    if float(hi.max()) > 0.0 or float(lo.max()) > 0.0:
        sig = max(0.7, 2.0 * s)
        shift = cv2.GaussianBlur(lo, (0, 0), sig) - cv2.GaussianBlur(hi, (0, 0), sig)
    if shift is not None:
        # PSNR guard (at mask resolution): the shift costs energy; keep the expected delta
        # power (pattern power + shift^2, clipping ignored) at the target
        lim = (target * strength) ** 2
        mse = float(np.mean((prms * amp) ** 2 + shift * shift))
        if mse > lim:
            k = math.sqrt(lim / mse)
            amp *= k
            shift *= k
    if s < 1.0:
        amp = np.asarray(cv2.resize(amp, (w, h), interpolation=cv2.INTER_LINEAR), np.float32)
        if shift is not None:
            shift = cv2.resize(shift, (w, h), interpolation=cv2.INTER_LINEAR)
    d: F32 = np.multiply(pattern, amp, dtype=np.float32)
    if shift is not None:
        d += shift
    return d


def _as_luma(img: npt.NDArray[Any]) -> tuple[U8, str]:
    if img.ndim == 2:
        return np.ascontiguousarray(img, dtype=np.uint8), "gray"
    if img.ndim == 3 and img.shape[2] in (3, 4):
        rgb = np.ascontiguousarray(img[..., :3], dtype=np.uint8)
        y: U8 = np.asarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), dtype=np.uint8)
        return y, "rgb" if img.shape[2] == 3 else "rgba"
    raise WatermarkError(f"expected an HxW, HxWx3 or HxWx4 uint8 image, got shape {img.shape}")


def _apply_delta(img: U8, d: F32) -> U8:
    # integer delta first: the same change on R, G and B (cv2 rounds half to even per sum)
    d = np.rint(d)
    if img.ndim == 2:
        gray: U8 = np.asarray(cv2.add(img, d, dtype=cv2.CV_8U), np.uint8)
        return gray
    d3 = cv2.merge([d, d, d])
    if img.shape[2] == 3:
        rgb: U8 = np.asarray(cv2.add(np.ascontiguousarray(img), d3, dtype=cv2.CV_8U), np.uint8)
        return rgb
    out: U8 = img.copy()
    out[..., :3] = np.asarray(
        cv2.add(np.ascontiguousarray(img[..., :3]), d3, dtype=cv2.CV_8U), np.uint8
    )
    return out


# ----------------------------------------------------------------------------- detection
@dataclass
class _Geom:
    scale: float
    angle: float  # degrees
    source: str


@dataclass
class _Sync:
    z: float
    geom: _Geom
    dihedral: int
    shift: tuple[float, float]
    folded: F64 = field(repr=False)


def _whiten(yw: F32) -> F32:
    """Host removal: luminance minus a median prediction (edges stay out of the residual),
    high-passed, divided by the local deviation and clipped (robust to what is left)."""
    med = cv2.medianBlur(np.clip(np.rint(yw), 0, 255).astype(np.uint8), 5).astype(np.float32)
    hp = yw - med
    hp -= cv2.GaussianBlur(hp, (0, 0), 4.0)
    dev = np.sqrt(cv2.GaussianBlur(hp * hp, (0, 0), 1.5))
    out: F32 = np.clip(hp / (dev + 0.5), -1.5, 1.5).astype(np.float32)
    return out


_RING_CACHE: dict[tuple[int, int], tuple[npt.NDArray[np.bool_], F32]] = {}


def _ring(h: int, w: int) -> tuple[npt.NDArray[np.bool_], F32]:
    """Lags (half plane) where a lattice vector of the tile can be, and a Hann window."""
    key = (h, w)
    if key not in _RING_CACHE:
        dy = np.arange(h)[:, None] - h // 2
        dx = np.arange(w)[None, :] - w // 2
        rad = np.hypot(dy, dx)
        rmax = min(2.3 * PERIOD, 0.48 * min(h, w))
        ring = (rad >= 0.6 * PERIOD) & (rad <= rmax) & ((dy > 0) | ((dy == 0) & (dx > 0)))
        win = np.outer(np.hanning(h), np.hanning(w)).astype(np.float32)
        if len(_RING_CACHE) > 16:
            _RING_CACHE.clear()
        _RING_CACHE[key] = (ring, win)
    return _RING_CACHE[key]


def _acf_peaks(acf: F32, ring: npt.NDArray[np.bool_], n_peaks: int) -> list[tuple[float, float]]:
    h, w = acf.shape
    cy, cx = h // 2, w // 2
    local_max = acf >= cv2.dilate(acf, np.ones((5, 5), np.uint8))
    cand = np.flatnonzero((local_max & ring).ravel())
    if cand.size == 0:
        return []
    order = cand[np.argsort(acf.ravel()[cand])[::-1][:n_peaks]]

    def _sub(c: float, m: float, p_: float) -> float:
        den = m - 2 * c + p_
        return 0.0 if den >= 0 else float(np.clip(0.5 * (m - p_) / den, -0.5, 0.5))

    out = []
    for idx in order:
        py, px = divmod(int(idx), w)
        oy = _sub(acf[py, px], acf[py - 1, px], acf[(py + 1) % h, px])
        ox = _sub(acf[py, px], acf[py, px - 1], acf[py, (px + 1) % w])
        out.append((py - cy + oy, px - cx + ox))
    return out


def _lattice_candidates(r: F32, n_peaks: int = 4) -> list[_Geom]:
    """Scale/rotation hypotheses from the peaks of the residual's autocorrelation.

    Two autocorrelations: the plain one, and one of the spectrally whitened residual (each
    frequency divided by the local spectral level, so the comb of the tiling stands out of
    the host's spectrum); the strongest peaks of both are candidate lattice vectors.
    """
    h, w = r.shape
    ring, win = _ring(h, w)
    p = np.abs(sfft.rfft2(r * win, workers=1)) ** 2
    vecs: list[tuple[float, float]] = []
    acf = np.fft.fftshift(sfft.irfft2(p, s=(h, w), workers=1)).astype(np.float32)
    vecs += _acf_peaks(acf, ring, n_peaks)
    full = np.fft.fftshift(np.abs(sfft.fft2(r * win, workers=1)) ** 2).astype(np.float32)
    full = np.clip(full / (cv2.GaussianBlur(full, (0, 0), 2.0) + 1e-6) - 1.5, 0.0, None)
    acf2 = np.fft.fftshift(np.real(sfft.ifft2(np.fft.ifftshift(full), workers=1)))
    vecs += _acf_peaks(acf2.astype(np.float32), ring, n_peaks)
    out: list[_Geom] = []
    for vy, vx in vecs:
        length = math.hypot(vy, vx)
        ang = math.degrees(math.atan2(vy, vx))
        for mult, dang in ((1.0, 0.0), (math.sqrt(2.0), 45.0), (2.0, 0.0)):
            sc = length / (PERIOD * mult)
            an = ((ang - dang + 45.0) % 90.0) - 45.0
            if 0.45 <= sc <= 2.2:
                out.append(_Geom(sc, an, "acf"))
    return out


def _fold(r: F32, geom: _Geom) -> F64:
    """Undo scale/rotation (output lattice axis-aligned with period PERIOD) and fold."""
    h, w = r.shape
    if abs(geom.scale - 1.0) < 1e-6 and abs(geom.angle) < 1e-6:
        ho, wo = -(-h // PERIOD) * PERIOD, -(-w // PERIOD) * PERIOD
        rr = np.zeros((ho, wo), np.float32)
        rr[:h, :w] = r
    else:
        ho = -(-math.ceil(h / geom.scale) // PERIOD) * PERIOD
        wo = -(-math.ceil(w / geom.scale) // PERIOD) * PERIOD
        th = math.radians(geom.angle)
        c, s = geom.scale * math.cos(th), geom.scale * math.sin(th)
        # input = centre_in + [[c, -s], [s, c]] @ (output - centre_out)
        cxi, cyi, cxo, cyo = (w - 1) / 2, (h - 1) / 2, (wo - 1) / 2, (ho - 1) / 2
        m = np.array(
            [[c, -s, cxi - c * cxo + s * cyo], [s, c, cyi - s * cxo - c * cyo]], dtype=np.float64
        )
        rr = np.asarray(
            cv2.warpAffine(
                r,
                m,
                (wo, ho),
                flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                borderMode=cv2.BORDER_CONSTANT,
                borderValue=0.0,
            ),
            np.float32,
        )
    folded: F64 = (
        rr.reshape(ho // PERIOD, PERIOD, wo // PERIOD, PERIOD).sum(axis=(0, 2)).astype(np.float64)
    )
    return folded


def _sync_search(folded: F64, geom: _Geom) -> _Sync:
    """Best (dihedral, cyclic shift) of the sync template in a folded tile, with its z-score."""
    # row and column means hold host structure that folds coherently (text lines, UI bars)
    folded = folded - folded.mean(axis=0, keepdims=True)
    folded = folded - folded.mean(axis=1, keepdims=True)
    spec = sfft.rfft2(folded.astype(np.float32), workers=1)
    # corrs[k, d] = sum_x folded(x) S_k(x - d)
    corrs = sfft.irfft2(spec[None] * _SYNC_RF8, s=(PERIOD, PERIOD), workers=1)
    # each orientation against its own spread: the residual's spectrum is not white, so the
    # 8 templates see different variances and a pooled one would favour the widest
    mu = corrs.mean(axis=(1, 2), keepdims=True)
    sd = corrs.std(axis=(1, 2), keepdims=True)
    zs = (corrs - mu) / np.where(sd > 0, sd, 1.0)
    k, iy, ix = (int(v) for v in np.unravel_index(int(np.argmax(zs)), zs.shape))
    c = corrs[k]

    def _sub(cm: float, c0: float, cp: float) -> float:
        den = cm - 2 * c0 + cp
        return 0.0 if den >= 0 else float(np.clip(0.5 * (cm - cp) / den, -0.5, 0.5))

    oy = _sub(c[(iy - 1) % PERIOD, ix], c[iy, ix], c[(iy + 1) % PERIOD, ix])
    ox = _sub(c[iy, (ix - 1) % PERIOD], c[iy, ix], c[iy, (ix + 1) % PERIOD])
    z = float(zs[k, iy, ix])
    return _Sync(z, geom, int(k), (float(iy) + oy, float(ix) + ox), folded)


def _aligned_tile(s: _Sync) -> F64:
    """The folded tile shifted and transformed so that it lines up with the embedded tile."""
    f = np.fft.fft2(s.folded)
    ky = np.fft.fftfreq(PERIOD)[:, None]
    kx = np.fft.fftfreq(PERIOD)[None, :]
    # correlation peak at d means folded(x) ~ S_k(x - d): shift back by d, then D_k
    ramp = np.exp(2j * np.pi * (ky * s.shift[0] + kx * s.shift[1]))
    out: F64 = _dihedral(np.real(np.fft.ifft2(f * ramp)), s.dihedral)
    return out


def _soft_bits(tile_px: F64) -> tuple[F64, float]:
    """Matched-filter chip values -> soft channel values (LLR scale) and an SNR estimate."""
    a = _A_TILE.astype(np.float64)
    chips = a.T @ tile_px @ a
    # row and column means: host structure that folds coherently (text lines, stripes, UI
    # bars aligned with the tile); the mark keeps all but 1/16 of its energy
    chips = chips - chips.mean(axis=0, keepdims=True)
    chips = chips - chips.mean(axis=1, keepdims=True)
    # remove the sync component (its amplitude estimated by projection)
    sync_amp = float(np.sum(chips * _SYNC) / _SYNC.size)
    data = (chips - sync_amp * _SYNC) * _PN
    sums = np.bincount(_BIT_OF_CHIP.ravel(), weights=data.ravel(), minlength=CODED_BITS)
    counts = np.bincount(_BIT_OF_CHIP.ravel(), minlength=CODED_BITS).astype(np.float64)
    soft = np.asarray(sums / np.sqrt(counts), dtype=np.float64)
    mu = float(np.mean(np.abs(soft)))
    var = max(float(np.mean(soft * soft)) - mu * mu, 1e-3 * mu * mu + 1e-12)
    llr: F64 = soft * (2.0 * mu / var)
    return llr, mu / math.sqrt(var)


def _log10_gauss_sf(z: float) -> float:
    """log10 P[N(0,1) >= z], stable for large z."""
    if z < 5.0:
        return math.log10(max(0.5 * math.erfc(z / math.sqrt(2.0)), 1e-300))
    # asymptotic expansion of the Mills ratio
    ln = -0.5 * z * z - math.log(z * math.sqrt(2 * math.pi)) + math.log1p(-1.0 / (z * z))
    return ln / math.log(10.0)


def _to_work(y: npt.NDArray[Any]) -> F32:
    h, w = y.shape
    hw, ww = _work_shape(h, w)
    interp = cv2.INTER_AREA if hw < h else cv2.INTER_CUBIC
    out: F32 = cv2.resize(y, (ww, hw), interpolation=interp).astype(np.float32)
    return out


@dataclass
class ImageWatermarkAlgo:
    """The ``sl-img-1`` image watermark (see the module docstring for the design)."""

    id: str = ALGORITHM_ID
    name: str = "synthlabel tiled spread-spectrum luminance watermark"
    media_kind: str = "image"
    payload_bits: int = PAYLOAD_BITS
    #: geometry candidates tried from the autocorrelation (besides the identity)
    n_acf_peaks: int = 4

    # ---------------------------------------------------------------- embedding
    def embed(self, rgb: U8, payload: bytes, *, strength: float = 1.0) -> U8:
        """Watermark an RGB (HxWx3), RGBA (alpha untouched) or grayscale (HxW) uint8 image."""
        img = np.asarray(rgb)
        if img.dtype != np.uint8:
            raise WatermarkError(f"expected a uint8 image, got {img.dtype}")
        if not strength > 0:
            raise WatermarkError(f"strength must be positive, got {strength}")
        y, _kind = _as_luma(img)
        h, w = y.shape
        pattern = render_pattern(h, w, payload)
        d = _embed_luma(y, pattern, strength)
        return _apply_delta(img, d)

    def luma_embedder(
        self, height: int, width: int, payload: bytes, *, strength: float = 1.0
    ) -> Callable[[U8], U8]:
        """A per-frame embedder for Y planes of a fixed size (pattern precomputed once)."""
        pattern = render_pattern(height, width, payload)

        def _embed(y: U8) -> U8:
            if y.shape != (height, width):
                raise WatermarkError(f"expected a {height}x{width} Y plane, got {y.shape}")
            return _apply_delta(np.asarray(y, dtype=np.uint8), _embed_luma(y, pattern, strength))

        return _embed

    # ---------------------------------------------------------------- detection
    def _search(self, y: npt.NDArray[Any]) -> tuple[_Sync, int]:
        """Best sync over a fixed set of geometry hypotheses (+ local refinement).

        Hypotheses: the identity; a ladder of scales (crops make the image's short side
        smaller, so the pattern reads larger); a ladder of small rotations; the lattice
        vectors of the autocorrelation (any scale/rotation, 90-degree turns and flips are
        handled by the dihedral search). The count used for the p-value is always the full
        :data:`N_GEOMETRIES`, whether or not the search stopped early.
        """
        yw = _to_work(y)
        r = _whiten(yw)
        best = _sync_search(_fold(r, _Geom(1.0, 0.0, "identity")), _Geom(1.0, 0.0, "identity"))
        tried = 1
        if best.z >= _Z_SURE:
            return best, tried
        geoms = [_Geom(sc, 0.0, "scale") for sc in _SCALES]
        geoms += [_Geom(1.0, an, "angle") for an in _ANGLES]
        geoms += _lattice_candidates(r, self.n_acf_peaks)[:_MAX_ACF]
        results = [best]
        for g in geoms:
            s = _sync_search(_fold(r, g), g)
            tried += 1
            results.append(s)
            if s.z > best.z:
                best = s
            if best.z >= _Z_SURE:
                break
        # local refinement around the two best hypotheses (the best only after an early
        # stop), then a finer step around the winner
        results.sort(key=lambda v: -v.z)
        seeds = [best] if best.z >= _Z_SURE else results[:2]
        for s0 in seeds:
            best, tried = self._refine(r, s0.geom, best, tried, 0.006, 0.3)
        best, tried = self._refine(r, best.geom, best, tried, 0.003, 0.15)
        return best, tried

    @staticmethod
    def _refine(
        r: F32, g0: _Geom, best: _Sync, tried: int, ds: float, da: float
    ) -> tuple[_Sync, int]:
        for ks in (-1, 0, 1):
            for ka in (-1, 0, 1):
                if ks == 0 and ka == 0:
                    continue
                g = _Geom(g0.scale * (1 + ks * ds), g0.angle + ka * da, "refine")
                s = _sync_search(_fold(r, g), g)
                tried += 1
                if s.z > best.z:
                    best = s
        return best, tried

    def _n_tests(self, tried: int) -> float:
        return float(_SEARCH_FACTOR * N_GEOMETRIES * 8 * PERIOD * PERIOD)

    def read_luma(self, y: U8) -> SoftReading:
        """Soft channel values of one luminance plane (for combining many frames)."""
        arr = np.asarray(y)
        if arr.ndim != 2 or min(arr.shape) < 16:
            return SoftReading(np.zeros(CODED_BITS), 0.0, {"reason": "unusable plane"})
        best, tried = self._search(arr.astype(np.uint8) if arr.dtype != np.uint8 else arr)
        llr, snr = _soft_bits(_aligned_tile(best))
        log10_p = min(0.0, _log10_gauss_sf(best.z) + math.log10(self._n_tests(tried)))
        weight = 1.0 if log10_p < -2.0 else 0.0
        return SoftReading(
            llr,
            weight,
            {
                "sync_z": best.z,
                "log10_p_sync": log10_p,
                "scale": best.geom.scale,
                "angle": best.geom.angle,
                "dihedral": best.dihedral,
                "snr": snr,
            },
        )

    def combine(self, readings: list[SoftReading]) -> Detection:
        """Weighted soft combination of readings, Viterbi + CRC, Fisher-combined p-value."""
        used = [r for r in readings if r.weight > 0]
        if not used:
            return absent(self.id, "no synchronisation found", frames=len(readings))
        soft = np.sum([r.weight * np.asarray(r.soft, dtype=np.float64) for r in used], axis=0)
        # Fisher's method on the per-reading sync p-values (each already Bonferroni-bounded).
        stat = -2.0 * sum(float(r.details.get("log10_p_sync", 0.0)) * math.log(10.0) for r in used)
        log10_p_sync = _log10_chi2_sf(stat, 2 * len(used))
        return self._decide(soft, log10_p_sync, {"frames": len(readings), "frames_used": len(used)})

    def _decide(self, soft: F64, log10_p_sync: float, details: dict[str, Any]) -> Detection:
        bits, crc_ok, corrected = _unframe(soft)
        log10_p = log10_p_sync + (-CRC_WIDTH * math.log10(2.0) if crc_ok else 0.0)
        p = 10.0**log10_p
        details = dict(details, log10_p=log10_p, crc_ok=crc_ok)
        if not crc_ok:
            return absent(self.id, "CRC mismatch (no valid mark)", p_value=1.0, **details)
        if p > DEFAULT_P_THRESHOLD:
            return absent(self.id, "sync too weak", p_value=min(1.0, p), **details)
        return Detection(
            self.id,
            True,
            p,
            max(0.0, min(1.0, 1.0 - p)),
            bits_to_bytes(bits),
            PAYLOAD_BITS,
            corrected,
            None,
            details,
        )

    def detect(self, rgb: npt.NDArray[Any]) -> Detection:
        """Find and decode the mark; never raises on an array input."""
        try:
            img = np.asarray(rgb)
            if img.dtype != np.uint8:
                img = np.clip(np.nan_to_num(img.astype(np.float64)), 0, 255).astype(np.uint8)
            y, _ = _as_luma(img)
        except Exception as exc:
            return absent(self.id, f"unusable input: {exc}")
        h, w = y.shape
        if min(h, w) < MIN_SIDE // 2:
            return absent(self.id, f"image {w}x{h} is too small to carry {self.id}")
        if int(y.max()) == int(y.min()):
            return absent(self.id, "constant image (nothing can carry a mark)")
        best, tried = self._search(y)
        llr, snr = _soft_bits(_aligned_tile(best))
        log10_p_sync = min(0.0, _log10_gauss_sf(best.z) + math.log10(self._n_tests(tried)))
        details = {
            "sync_z": round(best.z, 3),
            "scale": round(best.geom.scale, 4),
            "angle": round(best.geom.angle, 3),
            "dihedral": best.dihedral,
            "shift": (round(best.shift[0], 2), round(best.shift[1], 2)),
            "geometries_tried": tried,
            "log10_p_sync": round(log10_p_sync, 3),
            "snr": round(snr, 3),
        }
        return self._decide(llr, log10_p_sync, details)


def _log10_chi2_sf(x: float, dof: int) -> float:
    """log10 P[chi2(dof) >= x] for even dof (closed form: Poisson sum)."""
    k = dof // 2
    half = x / 2.0
    term = 1.0
    total = 1.0
    for i in range(1, k):
        term *= half / i
        total += term
    return (-half + math.log(total)) / math.log(10.0)


ALGORITHM = ImageWatermarkAlgo()
