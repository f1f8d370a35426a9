"""wmbench adapter for ``sl-img-1`` (the harness in /work/shared/wmbench, see its README).

The harness hands 64 bits (uint8 0/1) per image; they are packed MSB-first into the 8-byte
payload that ``sl-img-1`` carries. ``decode`` returns ``(None, None)`` when the detector finds
no mark (p-value above 1e-6 or CRC mismatch), so the harness counts a miss instead of scoring
random bits; otherwise the decoded bits and ``-log10 p`` as the score.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from synthlabel.watermark.image import ALGORITHM
from synthlabel.watermark.payload import bits_to_bytes, bytes_to_bits


class SynthlabelImageWM:
    name = "synthlabel_sl-img-1"
    payload_bits = 64

    def load(self) -> None:
        ALGORITHM.detect(np.zeros((8, 8, 3), np.uint8))  # import + warm-up

    def embed(
        self, rgb: npt.NDArray[np.uint8], bits: npt.NDArray[np.uint8]
    ) -> npt.NDArray[np.uint8]:
        payload = bits_to_bytes(np.asarray(bits, dtype=np.uint8)[: self.payload_bits])
        return ALGORITHM.embed(np.ascontiguousarray(rgb, dtype=np.uint8), payload)

    def decode(
        self, rgb: npt.NDArray[np.uint8]
    ) -> tuple[npt.NDArray[np.uint8] | None, float | None]:
        det = ALGORITHM.detect(np.ascontiguousarray(rgb))
        if not det.present or det.payload is None:
            return None, None
        score = -math.log10(max(det.p_value, 1e-300))
        return bytes_to_bits(det.payload, self.payload_bits), score
