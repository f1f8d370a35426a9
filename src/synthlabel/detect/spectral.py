"""Periodic-pattern signature: what identifies a grating, a checkerboard or a tiled pattern
after it was cropped, resized and re-encoded.

PDQ and ORB fail on strongly periodic images: a crop of a periodic pattern is the same pattern
at another phase (PDQ, a global DCT hash, changes completely), and its corners are many and all
alike (the geometric check of the local features cannot tell which one is which). What does
survive is the pattern itself and its colours:

* **structure**: the magnitude spectrum is blind to translation, so a crop only changes it
  through the window; a resize shifts it along log-radius. The spectrum of the grey image
  (projected on its principal colour axis, so patterns of two equally bright colours keep
  their contrast), normalised to :data:`~synthlabel.detect.hashes.HASH_SIDE` on the long
  side, Hann-windowed, is resampled on a log-polar grid (:data:`NT` orientations over
  0-180 degrees, :data:`NR` log-radius bins from :data:`R_MIN` to :data:`R_MAX` cycles per
  long side) and whitened (each radius minus its median over the orientations). Its peaks
  above :data:`FLOOR`, blurred by one bin, are the *peak map*; two peak maps are compared by
  normalised correlation at the radial shift that fits best within the crop-and-scale range
  the local features accept (:data:`SHIFTS`, scales 0.70-1.08; no rotation).
* **colour**: the mean colour, the principal colour axis (its direction, sign-free) and the
  spread along it. Crops keep them (a pattern is stationary), JPEG moves the mean by a level
  or two; downscaling a fine pattern lowers the spread (pixels average), so the spread is
  only checked loosely.

``strength`` (the highest whitened peak, in natural-log units) says how periodic an image is:
measured on the generated benchmark, photos and text screenshots stay under 4.6, gratings
and checkerboards are above 5.4 (:data:`PERIODIC`). Only such images are indexed as patterns.

The index keys are the strongest peaks' positions (orientation in 32 bins, log-radius in
half-octaves); a query probes the neighbouring orientations and every radius its scale range
allows (see :func:`probe_keys`).

This signature identifies *patterns*, which carry little information: a single grating is an
orientation, a period (known only up to the crop-and-scale range) and two colours. How the
registry turns an agreement into a conclusive match (and when it refuses to) is described in
:mod:`synthlabel.detect.hashregistry`.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

U8 = npt.NDArray[np.uint8]
F32 = npt.NDArray[np.float32]

#: Orientation bins over [0, 180) degrees and log-radius bins.
NT = 64
NR = 72
#: Frequency range sampled, in cycles per long side of the normalised image (512 px).
R_MIN = 4.0
R_MAX = 256.0
_OCTAVES = float(np.log2(R_MAX / R_MIN))
#: Whitened log-magnitude above which the spectrum counts as a peak.
FLOOR = 2.0
#: Quantisation of the stored peak map (value * scale, clipped to a byte).
_QUANT = 24.0
#: Strength for an image to be indexed as a pattern / for a query to be looked up as one.
PERIODIC = 5.0
QUERY_PERIODIC = 4.0
#: Radial shifts tried (query bin = registered bin + k): scales 0.70-1.08, as ORB_SCALES.
SHIFTS = range(
    int(np.floor(np.log2(0.70) * NR / _OCTAVES)), int(np.ceil(np.log2(1.08) * NR / _OCTAVES)) + 1
)
#: Peaks used as index keys.
INDEX_PEAKS = 6
#: Index key grid: orientation bins of 2 NT-bins, radius bins of 6 NR-bins (half an octave).
_KT, _KR = 2, 6
_GREY = np.array([1.0, 1.0, 1.0]) / np.sqrt(3.0)

_VERSION = 1
_HEAD = struct.Struct("<BffffffffH")  # version, strength, mean(3), axis(3), spread, n peaks


@dataclass(frozen=True)
class PatternSignature:
    """The periodic-pattern signature of one image."""

    strength: float
    mean: tuple[float, float, float]
    axis: tuple[float, float, float]  # unit principal colour axis (sign is arbitrary)
    spread: float  # standard deviation along the axis
    peaks: tuple[tuple[int, int], ...]  # (orientation bin, radius bin), strongest first
    peakmap: U8  # (NT, NR)

    @property
    def periodic(self) -> bool:
        return self.strength >= PERIODIC

    @property
    def achromatic(self) -> bool:
        """A grey pattern: its colours say little (black and white stripes are everywhere)."""
        m = np.asarray(self.mean)
        return abs(float(np.dot(self.axis, _GREY))) >= 0.98 and float(m.max() - m.min()) <= 24.0

    def to_bytes(self) -> bytes:
        head = _HEAD.pack(
            _VERSION, self.strength, *self.mean, *self.axis, self.spread, len(self.peaks)
        )
        pk = np.asarray(self.peaks, dtype=np.uint8).reshape(-1, 2).tobytes()
        return head + pk + zlib.compress(np.ascontiguousarray(self.peakmap).tobytes(), 6)

    @classmethod
    def from_bytes(cls, blob: bytes) -> PatternSignature:
        v, strength, m0, m1, m2, a0, a1, a2, spread, n = _HEAD.unpack_from(blob)
        if v != _VERSION:
            raise ValueError(f"pattern signature version {v}, expected {_VERSION}")
        off = _HEAD.size
        pk = np.frombuffer(blob, dtype=np.uint8, count=2 * n, offset=off).reshape(-1, 2)
        pm = np.frombuffer(zlib.decompress(blob[off + 2 * n :]), dtype=np.uint8)
        return cls(
            float(strength),
            (float(m0), float(m1), float(m2)),
            (float(a0), float(a1), float(a2)),
            float(spread),
            tuple((int(t), int(r)) for t, r in pk),
            pm.reshape(NT, NR),
        )


_GRID: dict[int, tuple[F32, F32]] = {}


def _grid(side: int) -> tuple[F32, F32]:
    """Where each log-polar bin samples the (unshifted) spectrum of a side x side DFT."""
    if side not in _GRID:
        th = (np.arange(NT) + 0.5) * np.pi / NT
        lr = R_MIN * 2 ** ((np.arange(NR) + 0.5) * _OCTAVES / NR) * side / 512.0
        gx = np.mod(lr[None, :] * np.cos(th)[:, None], side).astype(np.float32)
        gy = np.mod(-lr[None, :] * np.sin(th)[:, None], side).astype(np.float32)
        _GRID[side] = (gx, gy)
    return _GRID[side]


def _blur(x: F32) -> F32:
    import cv2

    pad = np.concatenate([x[-4:], x, x[:4]], axis=0)  # orientation wraps around
    out = np.asarray(cv2.GaussianBlur(pad, (0, 0), 1.0)[4:-4], dtype=np.float32)
    return out


def local_peaks(pm: F32, k: int) -> list[tuple[int, int]]:
    import cv2

    pad = np.concatenate([pm[-1:], pm, pm[:1]], axis=0)
    mx = cv2.dilate(pad, np.ones((3, 3), np.uint8))[1:-1]
    top = float(pm.max())
    if top <= 0:
        return []
    cand = np.argwhere((pm >= mx) & (pm >= 0.2 * top))
    vals = pm[cand[:, 0], cand[:, 1]]
    order = np.argsort(-vals, kind="stable")[:k]
    return [(int(cand[i, 0]), int(cand[i, 1])) for i in order]


def pattern_signature(rgb: npt.NDArray[Any]) -> PatternSignature:
    """The signature of an (H, W, 3) uint8 RGB image already normalised to 512 px on its long
    side (:func:`synthlabel.detect.hashes.normalised`)."""
    import cv2

    a = np.asarray(rgb)
    h, w = a.shape[:2]
    side = 512
    x = np.ascontiguousarray(a[::2, ::2]).reshape(-1, 3).astype(np.float32)  # colour stats
    mean = x.mean(axis=0)
    x -= mean
    cov = (x.T @ x) / max(1, len(x) - 1)
    evals, evecs = np.linalg.eigh(cov.astype(np.float64))
    axis = evecs[:, -1].astype(np.float32)
    if axis[int(np.argmax(np.abs(axis)))] < 0:
        axis = -axis
    spread = float(np.sqrt(max(float(evals[-1]), 0.0)))
    grey = cv2.transform(np.ascontiguousarray(a, dtype=np.float32), axis.reshape(1, 3))
    grey = grey.reshape(h, w) - float(np.dot(mean, axis))
    buf = np.zeros((side, side), np.float32)
    buf[:h, :w] = grey * np.hanning(h).astype(np.float32)[:, None]
    buf[:h, :w] *= np.hanning(w).astype(np.float32)[None, :]
    spec = cv2.dft(buf, flags=cv2.DFT_COMPLEX_OUTPUT)
    mag = cv2.magnitude(spec[..., 0], spec[..., 1])
    gx, gy = _grid(side)  # around frequency 0, wrapping: no fftshift needed
    lp = np.log1p(cv2.remap(mag, gx, gy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP))
    lp = lp - np.median(lp, axis=0, keepdims=True)
    strength = float(lp.max()) if spread > 1.0 else 0.0
    pm = _blur(np.clip(lp - FLOOR, 0.0, None).astype(np.float32))
    q = np.clip(np.rint(pm * _QUANT), 0, 255).astype(np.uint8)
    return PatternSignature(
        strength,
        (float(mean[0]), float(mean[1]), float(mean[2])),
        (float(axis[0]), float(axis[1]), float(axis[2])),
        spread,
        tuple(local_peaks(pm, INDEX_PEAKS)),
        q,
    )


def structure_similarity(q: PatternSignature, r: PatternSignature) -> tuple[float, float]:
    """(normalised correlation of the peak maps at the best radial shift, the scale it
    implies: registered pixel = scale x query pixel)."""
    a = q.peakmap.astype(np.float32)
    b = r.peakmap.astype(np.float32)
    best, best_k = 0.0, 0
    for k in SHIFTS:
        if k >= 0:
            x, y = a[:, k:], b[:, : NR - k]
        else:
            x, y = a[:, : NR + k], b[:, -k:]
        den = float(np.sqrt(float((x * x).sum()) * float((y * y).sum())))
        c = float((x * y).sum()) / den if den > 0 else 0.0
        if c > best:
            best, best_k = c, k
    return best, float(2.0 ** (best_k * _OCTAVES / NR))


def colour_difference(q: PatternSignature, r: PatternSignature) -> tuple[float, float, float]:
    """(largest per-channel difference of the mean colours, angle in degrees between the
    principal colour axes, spread ratio query / registered)."""
    dm = float(np.abs(np.subtract(q.mean, r.mean)).max())
    cos = min(1.0, abs(float(np.dot(q.axis, r.axis))))
    ratio = q.spread / r.spread if r.spread > 0 else 0.0
    return dm, float(np.degrees(np.arccos(cos))), ratio


def index_keys(sig: PatternSignature) -> list[int]:
    """Keys under which a registered pattern is indexed."""
    return sorted({(t // _KT) * 64 + r // _KR for t, r in sig.peaks})


def probe_keys(sig: PatternSignature) -> list[tuple[int, list[int]]]:
    """For each of the query's peaks, the keys a registered copy's peak can have: the
    neighbouring orientations, every radius its scale range allows (one bin of slack)."""
    nkr = -(-NR // _KR)
    out: list[tuple[int, list[int]]] = []
    for t, r in sig.peaks:
        tbs = {((t + d) % NT) // _KT for d in (-1, 0, 1)}
        lo = max(0, r - max(SHIFTS) - 1) // _KR
        hi = min(NR - 1, r - min(SHIFTS) + 1) // _KR
        keys = [tb * 64 + rb for tb in sorted(tbs) for rb in range(lo, min(hi, nkr - 1) + 1)]
        out.append((len(out), keys))
    return out
