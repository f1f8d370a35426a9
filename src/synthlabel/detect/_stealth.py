"""Stealth PNG info: generation parameters hidden in the least significant bits of the pixels.

The ``sd_webui_stealth_pnginfo`` extension for AUTOMATIC1111 (and NovelAI since late 2023,
which publishes a reader for its own images) writes, in the LSBs of the alpha channel
(``alpha`` mode) or of R, G and B in turn (``rgb`` mode), column by column (x outer, y inner):

* a 15-byte ASCII signature: ``stealth_pnginfo`` / ``stealth_pngcomp`` (alpha) or
  ``stealth_rgbinfo`` / ``stealth_rgbcomp`` (rgb); ``comp`` means gzip-compressed payload;
* a 32-bit big-endian length, in bits, of the payload;
* the payload: UTF-8 text (the A1111 ``parameters`` text, or NovelAI's JSON).

This module only reads (a fixture writer lives in the tests). Work and memory are bounded:
only the columns that hold the announced bits are unpacked, the payload is capped and
decompression is bounded.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

SIGNATURE_BYTES = 15
HEADER_BITS = SIGNATURE_BYTES * 8 + 32
#: signature -> (mode, compressed)
SIGNATURES: dict[bytes, tuple[str, bool]] = {
    b"stealth_pnginfo": ("alpha", False),
    b"stealth_pngcomp": ("alpha", True),
    b"stealth_rgbinfo": ("rgb", False),
    b"stealth_rgbcomp": ("rgb", True),
}
#: Largest payload we extract (a generation's parameters are a few KiB).
MAX_PAYLOAD_BYTES = 1 << 20
#: Largest decompressed payload.
MAX_TEXT_BYTES = 4 << 20


@dataclass(frozen=True, slots=True)
class StealthInfo:
    signature: str  # e.g. "stealth_pngcomp"
    mode: str  # "alpha" or "rgb"
    compressed: bool
    text: str  # the decoded payload ("" when it could not be decoded)
    problem: str = ""  # why the payload is unreadable, when it is


def _bits(arr: npt.NDArray[np.uint8], mode: str, nbits: int) -> npt.NDArray[np.uint8]:
    """The first ``nbits`` LSBs in the extension's order (x outer, y inner, then channel)."""
    h = arr.shape[0]
    per_column = h * (1 if mode == "alpha" else 3)
    cols = min(arr.shape[1], -(-nbits // per_column))
    if mode == "alpha":
        sub = arr[:, :cols, 3]
        flat = np.ascontiguousarray(sub.T).reshape(-1)
    else:
        sub = arr[:, :cols, :3]
        flat = np.ascontiguousarray(sub.transpose(1, 0, 2)).reshape(-1)
    return (flat[:nbits] & 1).astype(np.uint8)


def _gunzip(raw: bytes) -> bytes | None:
    d = zlib.decompressobj(wbits=47)  # gzip or zlib header
    try:
        out = d.decompress(raw, MAX_TEXT_BYTES + 1)
    except zlib.error:
        return None
    if len(out) > MAX_TEXT_BYTES or d.unconsumed_tail:
        return None
    return out


def read(arr: npt.NDArray[np.uint8]) -> StealthInfo | None:
    """Look for a stealth signature in an (H, W, 3|4) uint8 array; None when there is none."""
    if arr.ndim != 3 or arr.shape[2] not in (3, 4) or arr.dtype != np.uint8:
        return None
    modes = ("alpha", "rgb") if arr.shape[2] == 4 else ("rgb",)
    total = arr.shape[0] * arr.shape[1]
    for mode in modes:
        capacity = total * (1 if mode == "alpha" else 3)
        if capacity < HEADER_BITS:
            continue
        head = _bits(arr, mode, HEADER_BITS)
        sig = np.packbits(head[: SIGNATURE_BYTES * 8]).tobytes()
        found = SIGNATURES.get(sig)
        if found is None or found[0] != mode:
            continue
        compressed = found[1]
        nbits = int.from_bytes(np.packbits(head[SIGNATURE_BYTES * 8 :]).tobytes(), "big")
        name = sig.decode("ascii")
        if nbits <= 0 or nbits % 8 or nbits > capacity - HEADER_BITS:
            return StealthInfo(name, mode, compressed, "", f"bad payload length {nbits} bits")
        if nbits > MAX_PAYLOAD_BYTES * 8:
            return StealthInfo(name, mode, compressed, "", f"payload of {nbits // 8} bytes")
        bits = _bits(arr, mode, HEADER_BITS + nbits)[HEADER_BITS:]
        raw = np.packbits(bits).tobytes()
        if compressed:
            inflated = _gunzip(raw)
            if inflated is None:
                return StealthInfo(name, mode, compressed, "", "payload does not decompress")
            raw = inflated
        return StealthInfo(name, mode, compressed, raw.decode("utf-8", errors="replace"))
    return None
