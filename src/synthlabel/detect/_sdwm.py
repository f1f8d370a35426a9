"""The Stable Diffusion reference scripts' invisible watermark ("dwtDct"), read back.

The CompVis/Stability txt2img scripts pass every output through the ``invisible-watermark``
package, method ``dwtDct``, with the bytes ``StableDiffusionV1`` (136 bits); SDXL (Stability's
``generative-models`` and diffusers' ``StableDiffusionXLWatermarker``) embeds a fixed 48-bit
message the same way. The package's README describes the method as DWT then DCT of 4x4 blocks;
what its released code (0.2.0) actually does, which we observed by round-tripping images
through it, is:

1. convert the BGR image to YUV (OpenCV's formula), cropped to a multiple of 4 pixels; with
   the default scales ``[0, 36, 36]`` only channel 1 (U) is marked (its loop covers channels
   0 and 1, and channel 0 has scale 0);
2. one-level Haar DWT of that channel; keep the approximation (LL) band;
3. cut LL into 4x4 blocks, row by row; block ``k`` carries bit ``k mod n``;
4. within the block, the entry of largest magnitude (the first entry excluded) is quantised
   with step 36 so that ``|c| mod 36`` is about 9 (bit 0) or 27 (bit 1) -- on the LL values
   themselves, no DCT is applied.

This is our own decoder written from that behaviour: it reads ``|c| mod 36 > 18`` per block,
averages the votes of every block per bit, and compares the decoded word with each known
message. Because diffusers hands RGB arrays to an encoder that expects BGR, both channel
orders are tried. A match is reported with the binomial tail probability of that many
agreeing bits by chance, Bonferroni-corrected for the hypotheses tried (2 orders x 2
messages). The mark is fragile: JPEG re-encoding, resizing or cropping erase it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

SCALE = 36.0
BLOCK = 4

#: The messages the reference scripts embed, as bit lists (MSB first).
SD1_BYTES = b"StableDiffusionV1"
SDXL_MESSAGE = 0b101100111110110010010000011110111011000110011110


def _bits_of_bytes(b: bytes) -> npt.NDArray[np.uint8]:
    return np.unpackbits(np.frombuffer(b, dtype=np.uint8))


MESSAGES: dict[str, npt.NDArray[np.uint8]] = {
    "sd1": _bits_of_bytes(SD1_BYTES),
    "sdxl": np.array([int(c) for c in bin(SDXL_MESSAGE)[2:]], dtype=np.uint8),
}
#: Reported only when the chance agreement probability is at most this.
MAX_P = 1e-6
#: Smallest image side (in pixels) worth decoding: every bit needs a few blocks.
MIN_SIDE = 64


def _yuv(rgb: npt.NDArray[np.uint8], swap: bool) -> npt.NDArray[np.float64]:
    """YUV as OpenCV computes it (``COLOR_BGR2YUV`` on the encoder's BGR input), rounded to
    uint8 the way the encoder's array is. ``swap``: the encoder got RGB as if it were BGR."""
    x = rgb.astype(np.float64)
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    if swap:
        r, b = b, r
    y = 0.299 * r + 0.587 * g + 0.114 * b
    u = (b - y) * 0.492 + 128.0
    v = (r - y) * 0.877 + 128.0
    return np.clip(np.rint(np.stack([y, u, v], axis=-1)), 0, 255)


def _u(rgb: npt.NDArray[np.uint8], swap: bool) -> npt.NDArray[np.float32]:
    """Only the U plane of :func:`_yuv` (the one the encoder marks), in float32: the pixel
    check runs on every inspected image. With OpenCV installed this is the encoder's own
    conversion (``cvtColor``, SIMD on uint8: ~20x faster than the float arithmetic)."""
    try:
        import cv2
    except ImportError:
        pass
    else:
        # swap=False: the encoder got proper BGR, i.e. our RGB array through RGB2YUV.
        code = cv2.COLOR_BGR2YUV if swap else cv2.COLOR_RGB2YUV
        yuv = cv2.cvtColor(np.ascontiguousarray(rgb[..., :3]), code)
        plane: npt.NDArray[np.float32] = yuv[..., 1].astype(np.float32)
        return plane
    r = rgb[..., 2 if swap else 0].astype(np.float32)
    g = rgb[..., 1].astype(np.float32)
    b = rgb[..., 0 if swap else 2].astype(np.float32)
    y = np.float32(0.299) * r + np.float32(0.587) * g + np.float32(0.114) * b
    u = (b - y) * np.float32(0.492) + np.float32(128.0)
    out: npt.NDArray[np.float32] = np.clip(np.rint(u), 0, 255).astype(np.float32)
    return out


def block_bits(chan: npt.NDArray[np.floating]) -> npt.NDArray[np.float64]:
    """The hard bit of every 4x4 block of the channel's Haar LL band, in the encoder's
    row-major block order (the same for every message length)."""
    h, w = (chan.shape[0] // 4) * 4, (chan.shape[1] // 4) * 4
    c = chan[:h, :w]
    ll = (c[0::2, 0::2] + c[0::2, 1::2] + c[1::2, 0::2] + c[1::2, 1::2]) / 2.0
    bh, bw = ll.shape[0] // BLOCK, ll.shape[1] // BLOCK
    tiles = ll[: bh * BLOCK, : bw * BLOCK].reshape(bh, BLOCK, bw, BLOCK).transpose(0, 2, 1, 3)
    coef = tiles.reshape(bh * bw, BLOCK * BLOCK)
    pos = np.argmax(np.abs(coef[:, 1:]), axis=1) + 1
    val = np.abs(coef[np.arange(len(coef)), pos])
    hard: npt.NDArray[np.float64] = (np.mod(val, SCALE) > 0.5 * SCALE).astype(np.float64)
    return hard


def votes(
    hard: npt.NDArray[np.float64], n: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Per bit index (0..n-1): the sum of the hard bits of the blocks carrying it (block
    ``k`` carries bit ``k mod n``), and how many blocks carry it."""
    idx = np.arange(len(hard)) % n
    sums = np.bincount(idx, weights=hard, minlength=n)[:n].astype(np.float64)
    counts = np.bincount(idx, minlength=n)[:n].astype(np.float64)
    return sums, counts


def binomial_tail(n: int, k: int) -> float:
    """P(X >= k) for X ~ Binomial(n, 1/2)."""
    return sum(math.comb(n, j) for j in range(k, n + 1)) / 2.0**n


@dataclass(frozen=True, slots=True)
class SdMark:
    message: str  # "sd1" or "sdxl"
    agree: int  # bits equal to the message
    bits: int
    p_value: float  # chance probability, corrected for the hypotheses tried
    swapped: bool  # found with R and B swapped (diffusers' RGB-as-BGR)


def detect(rgb: npt.NDArray[np.uint8]) -> SdMark | None:
    """The best-matching known message when it is significant (p <= MAX_P), else None."""
    if rgb.ndim != 3 or rgb.shape[2] < 3 or min(rgb.shape[:2]) < MIN_SIDE:
        return None
    rgb = rgb[..., :3]
    hypotheses = 2 * len(MESSAGES)
    best: SdMark | None = None
    for swap in (False, True):
        hard = block_bits(_u(rgb, swap))
        for name, msg in MESSAGES.items():
            n = len(msg)
            sums, counts = votes(hard, n)
            if counts.min() < 1:
                continue
            per_bit = sums / counts
            decoded = (per_bit > 0.5).astype(np.uint8)
            agree = int(np.sum(decoded == msg))
            p = min(1.0, binomial_tail(n, agree) * hypotheses)
            if best is None or p < best.p_value:
                best = SdMark(name, agree, n, p, swap)
    if best is None or best.p_value > MAX_P:
        return None
    return best
