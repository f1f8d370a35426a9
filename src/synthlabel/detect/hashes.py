"""Perceptual hashes: PDQ for images, a PDQ frame sequence for video, a fingerprint for audio.

* **Image**: PDQ (Meta's published 256-bit DCT hash, ``hashing.pdf`` in ThreatExchange):
  luminance, two passes of a Jarosz box filter (a tent), decimation to 64x64, the 16x16
  low-frequency DCT block without the DC row/column, one bit per coefficient above the median.
  The ``pdqhash`` package (the reference C++ code) is used when it is installed; otherwise a
  numpy implementation of the same algorithm (:func:`pdq_numpy`, within a few bits of it).
  Images are first reduced to at most 512 px on the long side (speed; it changes few bits).
  ``quality`` (0-100) is PDQ's gradient measure: below :data:`MIN_QUALITY` the hash of a flat
  image is unreliable and never gives a conclusive match. Besides PDQ an image gets ORB local
  features (:func:`orb_features`, for crops) and a periodic-pattern signature
  (:mod:`synthlabel.detect.spectral`, for gratings and tilings), both computed on the image
  normalised to :data:`HASH_SIDE` px (:func:`normalised`).
* **Video**: frames sampled at :data:`VIDEO_FPS` (first :data:`VIDEO_SECONDS`), scaled to a
  fixed square grey frame and PDQ-hashed: a sequence that survives re-encoding, rescaling and
  trims (matched by aligning the sequences, see :mod:`synthlabel.detect.hashregistry`).
* **Audio**: the Haitsma-Kalker (Philips) fingerprint: mono at 5512 Hz, 2048-sample frames
  every 64 samples (11.6 ms), 33 log-spaced bands from 300 to 2000 Hz, one 32-bit
  sub-fingerprint per frame from the signs of the time-and-frequency energy differences.
  Survives MP3, resampling and trims (the hop is small, so any cut lines up within 6 ms).
* **Baselines** for the benchmark: 64-bit average hash and difference hash.

Every function here works on decoded samples; :func:`hash_bytes` / :func:`hash_file` decode a
file (bounded: at most :data:`MAX_PIXELS` pixels, :data:`VIDEO_SECONDS` /
:data:`AUDIO_SECONDS` of media) and raise :class:`~synthlabel.errors.SynthlabelError` on
anything they cannot read.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from synthlabel.detect.spectral import PatternSignature, pattern_signature
from synthlabel.errors import MalformedInput, SynthlabelError, UnsupportedFormat

Kind = Literal["image", "video", "audio"]
U8 = npt.NDArray[np.uint8]
F64 = npt.NDArray[np.float64]

#: Images above this many pixels are refused (bombs are refused earlier by the decoder).
MAX_PIXELS = 80_000_000
#: Long side the image is reduced to before hashing.
HASH_SIDE = 512
#: PDQ quality below which a hash is too unreliable for a conclusive match.
MIN_QUALITY = 50
#: Video: frames per second sampled, seconds read, side of the grey frame hashed.
VIDEO_FPS = 4.0
VIDEO_SECONDS = 60.0
VIDEO_SIDE = 160
#: Audio: sample rate, frame, hop, bands and seconds read.
AUDIO_RATE = 5512
AUDIO_FRAME = 2048
AUDIO_HOP = 64
AUDIO_BANDS = 33
AUDIO_SECONDS = 60.0

IMAGE_FORMATS = ("jpeg", "png", "webp", "tiff", "heif", "gif")
AUDIO_FORMATS = ("wav", "mp3", "flac", "ogg", "m4a")
VIDEO_FORMATS = ("mp4", "mkv")

_POP8 = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


# ------------------------------------------------------------------------------------- bits
def pack_bits(bits: npt.NDArray[Any]) -> bytes:
    """0/1 vector (first bit = most significant of byte 0) to bytes."""
    return np.packbits(np.asarray(bits, dtype=np.uint8)).tobytes()


def hamming(a: bytes, b: bytes) -> int:
    """Bit distance between two equal-length byte strings."""
    x = np.frombuffer(a, dtype=np.uint8) ^ np.frombuffer(b, dtype=np.uint8)
    return int(_POP8[x].sum())


def hamming_many(query: bytes, matrix: U8) -> npt.NDArray[np.int64]:
    """Distances from ``query`` to each row of an (n, nbytes) uint8 matrix."""
    q = np.frombuffer(query, dtype=np.uint8)
    out: npt.NDArray[np.int64] = _POP8[np.bitwise_xor(matrix, q)].sum(axis=1, dtype=np.int64)
    return out


# -------------------------------------------------------------------------------------- PDQ
def _luma(rgb: npt.NDArray[Any]) -> F64:
    a = np.asarray(rgb, dtype=np.float64)
    if a.ndim == 2:
        return a
    if a.ndim != 3 or a.shape[2] < 3:
        raise MalformedInput("expected an (H, W) or (H, W, 3) pixel array")
    return 0.299 * a[..., 0] + 0.587 * a[..., 1] + 0.114 * a[..., 2]


def _box_1d(x: F64, window: int, axis: int) -> F64:
    """PDQ's box filter: centred window, averaged over the samples that exist at the edges."""
    if window <= 1:
        return x
    half_hi = (window + 2) // 2 - 1  # samples after the centre
    half_lo = window - half_hi - 1  # samples before it
    x = np.moveaxis(x, axis, -1)
    n = x.shape[-1]
    c = np.concatenate([np.zeros((*x.shape[:-1], 1)), np.cumsum(x, axis=-1)], axis=-1)
    idx = np.arange(n)
    lo = np.clip(idx - half_lo, 0, n)
    hi = np.clip(idx + half_hi + 1, 0, n)
    out = (c[..., hi] - c[..., lo]) / (hi - lo)
    return np.moveaxis(out, -1, axis)


_DCT16: F64 | None = None


def _dct_matrix() -> F64:
    global _DCT16
    if _DCT16 is None:
        i = np.arange(1, 17)[:, None]
        j = np.arange(64)[None, :]
        _DCT16 = np.sqrt(2.0 / 64.0) * np.cos(np.pi / 128.0 * i * (2 * j + 1))
    return _DCT16


def pdq_numpy(rgb: npt.NDArray[Any]) -> tuple[bytes, int]:
    """PDQ in numpy: (32-byte hash, quality 0-100)."""
    y = _luma(rgb)
    h, w = y.shape
    if h < 1 or w < 1:
        raise MalformedInput("empty image")
    for axis, dim in ((1, w), (0, h)):
        win = (dim + 2 * 64 - 1) // (2 * 64)
        y = _box_1d(_box_1d(y, win, axis), win, axis)
    rows = ((np.arange(64) + 0.5) * h / 64).astype(int).clip(0, h - 1)
    cols = ((np.arange(64) + 0.5) * w / 64).astype(int).clip(0, w - 1)
    a = y[np.ix_(rows, cols)]
    d = _dct_matrix()
    b = d @ a @ d.T
    bits = (b > np.median(b)).astype(np.uint8).ravel()
    grad = np.trunc(np.abs(np.diff(a, axis=0)) * 100 / 255).sum()
    grad += np.trunc(np.abs(np.diff(a, axis=1)) * 100 / 255).sum()
    quality = min(100, int(grad) // 90)
    # The reference stores bit k (k = 16 i + j) as bit k % 16 of 16-bit word 15 - k // 16,
    # printed big-endian: in our MSB-first byte string that is position 255 - k.
    return pack_bits(bits[::-1]), quality


def _reduce(rgb: npt.NDArray[Any]) -> U8:
    a = np.asarray(rgb)
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    if a.dtype != np.uint8:
        a = np.clip(a, 0, 255).astype(np.uint8)
    h, w = a.shape[:2]
    if h * w > MAX_PIXELS:
        raise MalformedInput(f"image of {w}x{h} pixels is over the hashing limit")
    side = max(h, w)
    if side > HASH_SIDE:
        import cv2

        s = HASH_SIDE / side
        a = cv2.resize(
            a, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA
        )
    return np.ascontiguousarray(a[..., :3])


def pdq(rgb: npt.NDArray[Any]) -> tuple[bytes, int]:
    """PDQ hash of an (H, W, 3) uint8 RGB (or (H, W) grey) image: (32 bytes, quality)."""
    a = _reduce(rgb)
    try:
        import pdqhash  # type: ignore[import-untyped]
    except ImportError:
        return pdq_numpy(a)
    vec, quality = pdqhash.compute(a)
    return pack_bits(np.asarray(vec)), int(quality)


def average_hash(rgb: npt.NDArray[Any]) -> bytes:
    """Baseline: 64-bit average hash (8x8 grey, bit = above the mean)."""
    import cv2

    g = _luma(_reduce(rgb)).astype(np.float32)
    s = cv2.resize(g, (8, 8), interpolation=cv2.INTER_AREA)
    return pack_bits((s > s.mean()).ravel())


def difference_hash(rgb: npt.NDArray[Any]) -> bytes:
    """Baseline: 64-bit difference hash (9x8 grey, bit = left brighter than right)."""
    import cv2

    g = _luma(_reduce(rgb)).astype(np.float32)
    s = cv2.resize(g, (9, 8), interpolation=cv2.INTER_AREA)
    return pack_bits((s[:, :-1] > s[:, 1:]).ravel())


# ------------------------------------------------------------------------- local features
#: ORB keypoints kept per image (on the image reduced to HASH_SIDE): the crop-tolerant hash.
ORB_FEATURES = 256
#: Scales (query pixel -> registered pixel, both normalised to HASH_SIDE) the geometric
#: check accepts: a copy cropped by up to ~30 % (0.70) or padded by a few per cent (1.08).
ORB_SCALES = np.arange(0.70, 1.0801, 0.005)
#: Registered descriptors each query descriptor proposes to the geometric vote. With 2, a
#: checkerboard's true partner was often outvoted by identical-looking corners (60 % of its
#: cropped copies verified); 8 verifies 69 %, and unrelated pairs still reach at most 12 inliers.
ORB_CANDIDATES = 8
#: Reprojection tolerance of the geometric check (pixels of the normalised image).
ORB_TOLERANCE = 3.0


def _stretch(g: U8) -> U8:
    """Stretch grey levels to the full range (1st-99th percentile): low-contrast textures
    otherwise give FAST no corners at all."""
    lo, hi = np.percentile(g, (1.0, 99.0))
    if hi - lo < 1.0:
        return g
    out = (g.astype(np.float32) - float(lo)) * (255.0 / float(hi - lo))
    res: U8 = np.clip(out, 0, 255).astype(np.uint8)
    return res


def normalised(rgb: npt.NDArray[Any]) -> U8:
    """The image at :data:`HASH_SIDE` px on its long side (reduced, or enlarged when smaller):
    the same scale for every copy, whatever its size. Already normalised images are returned
    as they are."""
    import cv2

    a = _reduce(rgb)
    h, w = a.shape[:2]
    if max(h, w) < HASH_SIDE:
        s = HASH_SIDE / max(h, w)
        a = np.asarray(
            cv2.resize(
                a, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_LINEAR
            ),
            dtype=np.uint8,
        )
    return a


def orb_features(rgb: npt.NDArray[Any]) -> tuple[npt.NDArray[np.float32], U8]:
    """ORB keypoints of the reduced image, strongest first: (points (n, 2), descriptors (n, 32)).

    PDQ is a global hash: a crop of 2 % already moves it by 25-40 bits. Local binary features
    (ORB, Rublee et al. 2011) with a geometric check survive crops, resizes and JPEG; they are
    indexed on 32-bit pieces of the strongest descriptors (see the registry). The grey image
    is contrast-stretched and FAST's threshold is low so that soft textures get corners."""
    import cv2

    a = normalised(rgb)
    g = _stretch(np.asarray(cv2.cvtColor(a, cv2.COLOR_RGB2GRAY), dtype=np.uint8))
    orb = cv2.ORB_create(nfeatures=ORB_FEATURES, fastThreshold=5)  # type: ignore[attr-defined]
    kp, desc = orb.detectAndCompute(g, None)
    if not kp or desc is None:
        return np.zeros((0, 2), np.float32), np.zeros((0, 32), np.uint8)
    order = np.argsort([-k.response for k in kp], kind="stable")
    pts = np.array([kp[i].pt for i in order], dtype=np.float32)
    return pts, np.ascontiguousarray(desc[order], dtype=np.uint8)


def _hough(
    a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]
) -> tuple[int, float, tuple[int, int]]:
    """The crop-and-scale transform (registered = s x query + t) most point pairs agree on:
    (pairs in its cell, s, the translation cell)."""
    cell = 2.0 * ORB_TOLERANCE
    if len(a) * len(ORB_SCALES) <= 40_000:  # few pairs: every scale in one sort
        k = np.floor((b[None] - ORB_SCALES[:, None, None] * a[None]) / cell).astype(np.int64)
        k += 4096
        scale_idx = np.arange(len(ORB_SCALES), dtype=np.int64)[:, None] << 26
        u, c = np.unique((scale_idx | (k[..., 0] << 13) | k[..., 1]).ravel(), return_counts=True)
        j = int(np.argmax(c))  # the first maximum: the smallest scale, then the smallest cell
        v = int(u[j])
        return int(c[j]), float(ORB_SCALES[v >> 26]), (((v >> 13) & 8191) - 4096, (v & 8191) - 4096)
    best_n, best_s, best_key = 0, 1.0, (0, 0)
    span = 256  # translation cells per axis counted with bincount (+-768 px)
    for s in ORB_SCALES:
        key = np.floor((b - s * a) / cell).astype(np.int64)
        if key.min() >= -span // 2 and key.max() < span // 2:
            counts = np.bincount((key[:, 0] + span // 2) * span + key[:, 1] + span // 2)
            j = int(np.argmax(counts))  # the smallest cell with the most pairs, as unique's
            if counts[j] > best_n:
                best_n, best_s = int(counts[j]), float(s)
                best_key = (j // span - span // 2, j % span - span // 2)
            continue
        flat = (key[:, 0] + 4096) * 8192 + (key[:, 1] + 4096)
        u, c = np.unique(flat, return_counts=True)
        j = int(np.argmax(c))
        if c[j] > best_n:
            best_n, best_s = int(c[j]), float(s)
            best_key = (int(u[j]) // 8192 - 4096, int(u[j]) % 8192 - 4096)
    return best_n, best_s, best_key


def orb_pair_agreement(
    q_points: npt.NDArray[np.float32],
    r_points: npt.NDArray[np.float32],
    pairs: npt.NDArray[np.int64],
) -> int:
    """How many of the given (query keypoint, registered keypoint) pairs agree on one
    crop-and-scale transform: a cheap geometric ranking of index candidates (the pairs are
    those whose descriptors share an indexed piece)."""
    if len(pairs) < 2:
        return len(pairs)
    a = q_points[pairs[:, 0]].astype(np.float64)
    b = r_points[pairs[:, 1]].astype(np.float64)
    return _hough(a, b)[0]


def orb_inliers(
    q: tuple[npt.NDArray[np.float32], U8], r: tuple[npt.NDArray[np.float32], U8]
) -> int:
    """How many query keypoints agree on one crop-and-scale transform with the registered ones.

    Each query descriptor proposes its :data:`ORB_CANDIDATES` nearest registered descriptors
    (Hamming <= 64: on repeated patterns the true partner is often not the nearest); a
    Hough vote over the allowed scales (:data:`ORB_SCALES`, no rotation: copies are cropped
    and resized, not turned) and translations in bins of twice :data:`ORB_TOLERANCE` finds
    the transform most matches agree on; the count is the number of distinct query (and
    registered) keypoints within the tolerance of it. Unlike a free similarity RANSAC, a
    repeated pattern cannot win with a wrong scale or angle, and unrelated images rarely
    agree on a near-identity transform."""
    import cv2

    (p1, d1), (p2, d2) = q, r
    if len(d1) < 3 or len(d2) < 3:
        return 0
    bf = cv2.BFMatcher(cv2.NORM_HAMMING)
    pairs = [
        (m.queryIdx, m.trainIdx)
        for ms in bf.knnMatch(d1, d2, k=ORB_CANDIDATES)
        for m in ms
        if m.distance <= 64
    ]
    if len(pairs) < 3:
        return 0
    idx = np.array(pairs, dtype=np.int64)
    qi, ri = idx[:, 0], idx[:, 1]
    a = p1[qi].astype(np.float64)
    b = p2[ri].astype(np.float64)
    cell = 2.0 * ORB_TOLERANCE
    best_n, best_s, best_key = _hough(a, b)
    if best_n < 3:
        return 0
    t_all = b - best_s * a
    in_bin = (np.floor(t_all[:, 0] / cell) == best_key[0]) & (
        np.floor(t_all[:, 1] / cell) == best_key[1]
    )
    t = np.median(t_all[in_bin], axis=0)
    ok = np.hypot(*(b - (best_s * a + t)).T) <= ORB_TOLERANCE
    return min(len(set(qi[ok].tolist())), len(set(ri[ok].tolist())))


# ------------------------------------------------------------------------------------ video
def video_frame_hashes(frames: npt.NDArray[Any]) -> tuple[list[bytes], list[int]]:
    """PDQ of each grey frame of an (n, H, W) array: (hashes, qualities)."""
    hashes, quals = [], []
    for f in frames:
        h, q = pdq(np.asarray(f))
        hashes.append(h)
        quals.append(q)
    return hashes, quals


# ------------------------------------------------------------------------------------ audio
_BAND_CACHE: dict[int, npt.NDArray[np.int64]] = {}


def _band_edges() -> npt.NDArray[np.int64]:
    if AUDIO_FRAME not in _BAND_CACHE:
        edges_hz = np.geomspace(300.0, 2000.0, AUDIO_BANDS + 1)
        _BAND_CACHE[AUDIO_FRAME] = np.round(edges_hz * AUDIO_FRAME / AUDIO_RATE).astype(np.int64)
    return _BAND_CACHE[AUDIO_FRAME]


def audio_fingerprint(
    samples: npt.NDArray[Any], rate: int
) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.bool_]]:
    """Haitsma-Kalker fingerprint of mono (or (n, ch)) samples at ``rate``.

    Returns (one uint32 per 11.6 ms frame, a mask of frames loud enough to be indexed).
    Samples at another rate are resampled to :data:`AUDIO_RATE` first.
    """
    x = np.asarray(samples, dtype=np.float64)
    if x.ndim == 2:
        x = x.mean(axis=1)
    if rate != AUDIO_RATE:
        from math import gcd

        from scipy.signal import resample_poly  # type: ignore[import-untyped]

        g = gcd(int(rate), AUDIO_RATE)
        x = resample_poly(x, AUDIO_RATE // g, int(rate) // g)
    n = 1 + (len(x) - AUDIO_FRAME) // AUDIO_HOP if len(x) >= AUDIO_FRAME else 0
    if n < 2:
        return np.zeros(0, dtype=np.uint32), np.zeros(0, dtype=bool)
    edges = _band_edges()
    win = np.hanning(AUDIO_FRAME)
    energies = np.empty((n, AUDIO_BANDS))
    rms = np.empty(n)
    step = 2048  # frames per FFT batch: bounded memory
    for s in range(0, n, step):
        idx = np.arange(s, min(n, s + step))[:, None] * AUDIO_HOP + np.arange(AUDIO_FRAME)
        fr = x[idx]
        rms[s : s + len(fr)] = np.sqrt((fr**2).mean(axis=1))
        spec = np.abs(np.fft.rfft(fr * win, axis=1)) ** 2
        c = np.concatenate([np.zeros((len(fr), 1)), np.cumsum(spec, axis=1)], axis=1)
        energies[s : s + len(fr)] = c[:, edges[1:]] - c[:, edges[:-1]]
    diff = energies[:, :-1] - energies[:, 1:]  # (n, 32)
    bits = (diff[1:] - diff[:-1]) > 0  # (n - 1, 32)
    weights = (np.uint64(1) << np.arange(31, -1, -1, dtype=np.uint64)).astype(np.uint64)
    fp = (bits.astype(np.uint64) * weights).sum(axis=1).astype(np.uint32)
    loud = rms[1:] > max(1e-3, 0.02 * float(np.median(rms[rms > 0])) if (rms > 0).any() else 1)
    return fp, loud


def bit_error_rate(a: npt.NDArray[np.uint32], b: npt.NDArray[np.uint32]) -> float:
    """Fraction of differing bits between two aligned equal-length fingerprints."""
    if len(a) == 0:
        return 1.0
    x = np.bitwise_xor(a, b).view(np.uint8)
    return float(_POP8[x].sum()) / (32.0 * len(a))


# ----------------------------------------------------------------------------------- decode
@dataclass
class ContentHash:
    """The perceptual hash of one file."""

    kind: Kind
    algorithm: str  # "pdq", "pdq-frames", "hk-audio"
    hashes: list[bytes] = field(default_factory=list)  # image: one; video: one per frame
    qualities: list[int] = field(default_factory=list)
    audio: npt.NDArray[np.uint32] | None = None  # audio sub-fingerprints
    loud: npt.NDArray[np.bool_] | None = None
    step: float = 0.0  # seconds between frames / sub-fingerprints
    points: npt.NDArray[np.float32] | None = None  # image: ORB keypoints
    descriptors: U8 | None = None  # image: ORB descriptors (n, 32)
    pattern: PatternSignature | None = None  # image: periodic-pattern signature

    @property
    def quality(self) -> int:
        return int(np.median(self.qualities)) if self.qualities else 0


def kind_of_format(format_id: str) -> Kind | None:
    fid = format_id.lower()
    if fid in IMAGE_FORMATS:
        return "image"
    if fid in AUDIO_FORMATS:
        return "audio"
    if fid in VIDEO_FORMATS:
        return "video"
    return None


def hash_image_array(rgb: npt.NDArray[Any], *, local: bool = True) -> ContentHash:
    """PDQ, and unless ``local`` is false the ORB local features and the periodic-pattern
    signature (:mod:`synthlabel.detect.spectral`), of an (H, W, 3) RGB image."""
    h, q = pdq(rgb)
    if not local:
        return ContentHash("image", "pdq", [h], [q])
    norm = normalised(rgb)
    pts, desc = orb_features(norm)
    return ContentHash(
        "image", "pdq", [h], [q], points=pts, descriptors=desc, pattern=pattern_signature(norm)
    )


def hash_image_bytes(data: bytes, format_id: str) -> ContentHash:
    from synthlabel.label.visible import decode_first_frame

    return hash_image_array(decode_first_frame(data, format_id, max_pixels=MAX_PIXELS))


def _probe(src: Path, format_id: str) -> tuple[str, Any, Any]:
    from synthlabel.label import _ffmpeg as ff

    demuxer = ff.demuxer_for(format_id)
    return demuxer, ff.probe(src, demuxer), ff


def _video_frames(src: Path, format_id: str, max_seconds: float) -> U8:
    demuxer, info, ff = _probe(src, format_id)
    v = info.first("video")
    if v is None:
        raise MalformedInput(f"no video stream in the {format_id} data")
    duration = min(v.duration or info.duration or max_seconds, max_seconds)
    proc = ff.run_ffmpeg(
        [
            *ff.input_args(src, demuxer),
            "-map",
            f"0:{v.index}",
            "-t",
            f"{max_seconds:.3f}",
            "-vf",
            f"fps={VIDEO_FPS:g},scale={VIDEO_SIDE}:{VIDEO_SIDE}:flags=area,format=gray",
            "-f",
            "rawvideo",
            "pipe:1",
        ],
        timeout=ff.media_timeout(duration, factor=2.0),
        what="decoding video frames for hashing",
    )
    raw = np.frombuffer(proc.stdout, dtype=np.uint8)
    n = len(raw) // (VIDEO_SIDE * VIDEO_SIDE)
    if n == 0:
        raise MalformedInput(f"the {format_id} data holds no decodable video frames")
    return raw[: n * VIDEO_SIDE * VIDEO_SIDE].reshape(n, VIDEO_SIDE, VIDEO_SIDE)


def hash_video_file(src: Path, format_id: str, max_seconds: float = VIDEO_SECONDS) -> ContentHash:
    frames = _video_frames(src, format_id, max_seconds)
    hashes, quals = video_frame_hashes(frames)
    return ContentHash("video", "pdq-frames", hashes, quals, step=1.0 / VIDEO_FPS)


def _audio_samples(src: Path, format_id: str, max_seconds: float) -> npt.NDArray[np.float32]:
    demuxer, info, ff = _probe(src, format_id)
    a = info.first("audio")
    if a is None:
        raise MalformedInput(f"no audio stream in the {format_id} data")
    duration = min(a.duration or info.duration or max_seconds, max_seconds)
    proc = ff.run_ffmpeg(
        [
            *ff.input_args(src, demuxer),
            "-map",
            f"0:{a.index}",
            "-t",
            f"{max_seconds:.3f}",
            "-ac",
            "1",
            "-ar",
            str(AUDIO_RATE),
            "-f",
            "f32le",
            "-acodec",
            "pcm_f32le",
            "pipe:1",
        ],
        timeout=ff.media_timeout(duration, factor=2.0),
        what="decoding audio for fingerprinting",
    )
    x = np.frombuffer(proc.stdout, dtype="<f4")
    if x.size == 0:
        raise MalformedInput(f"the {format_id} data holds no audio samples")
    return x


def hash_audio_samples(samples: npt.NDArray[Any], rate: int) -> ContentHash:
    fp, loud = audio_fingerprint(samples, rate)
    if len(fp) == 0:
        raise MalformedInput("audio too short to fingerprint (under 0.4 s)")
    return ContentHash("audio", "hk-audio", audio=fp, loud=loud, step=AUDIO_HOP / AUDIO_RATE)


def hash_audio_file(src: Path, format_id: str, max_seconds: float = AUDIO_SECONDS) -> ContentHash:
    return hash_audio_samples(_audio_samples(src, format_id, max_seconds), AUDIO_RATE)


def hash_media_file(src: Path, format_id: str) -> ContentHash:
    """Hash an audio or video file in place: its video frames, else its audio."""
    _, info, _ = _probe(src, format_id)
    if kind_of_format(format_id) == "video" and info.first("video") is not None:
        return hash_video_file(src, format_id)
    return hash_audio_file(src, format_id)


#: Image files above this size are not hashed.
MAX_IMAGE_BYTES = 256 * 1024 * 1024


def hash_bytes(data: bytes | None, format_id: str, *, path: Path | None = None) -> ContentHash:
    """Hash a file given as bytes or (for large audio and video) as a path.

    Raises :class:`~synthlabel.errors.SynthlabelError` for anything it cannot read."""
    kind = kind_of_format(format_id)
    if kind is None:
        raise UnsupportedFormat(f"no perceptual hash for {format_id!r} files")
    if kind == "image":
        if data is None:
            if path is None or path.stat().st_size > MAX_IMAGE_BYTES:
                raise MalformedInput("no image bytes to hash (missing or over 256 MiB)")
            data = path.read_bytes()
        return hash_image_bytes(data, format_id)
    if path is not None and path.is_file():
        return hash_media_file(path, format_id)
    if data is None:
        raise MalformedInput("nothing to hash")
    with tempfile.TemporaryDirectory(prefix="synthlabel-hash-") as tmp:
        src = Path(tmp) / f"in.{format_id}"
        src.write_bytes(data)
        return hash_media_file(src, format_id)


def hash_file(path: Path) -> ContentHash:
    """Sniff a file's format and hash it (raises SynthlabelError, with the path)."""
    from synthlabel.formats import registry

    try:
        with open(path, "rb") as fh:
            head = fh.read(registry.max_sniff_bytes())
        handler = registry.sniff(head, path.name)
        return hash_bytes(None, handler.id, path=path)
    except OSError as exc:
        raise MalformedInput(f"cannot read: {exc.strerror}", path=str(path)) from None
    except SynthlabelError as exc:
        raise exc.with_path(str(path)) from None
