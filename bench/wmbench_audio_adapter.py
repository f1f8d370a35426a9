"""wmbench audio adapter for ``sl-aud-1`` (contract: wmbench/adapters_audio.py).

``embed(x, sr, bits)`` takes the harness's 32 payload bits; ``decode(x, sr)`` returns
``(bits, score)`` with ``score = -log10(p_value)``, or ``(None, None)`` when nothing is
detected (the harness then counts a miss, never a false positive).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from synthlabel.watermark.audio import ALGORITHM, PAYLOAD_BITS
from synthlabel.watermark.base import AudioSignal
from synthlabel.watermark.payload import bits_to_bytes, bytes_to_bits


class SynthlabelAudioWM:
    name = "synthlabel_sl_aud_1"
    payload_bits = PAYLOAD_BITS

    def load(self) -> None:
        pass

    def embed(self, x: npt.NDArray[Any], sr: int, bits: npt.NDArray[Any]) -> npt.NDArray[Any]:
        payload = bits_to_bytes(np.asarray(bits, dtype=np.uint8)[:PAYLOAD_BITS])
        audio = AudioSignal(np.asarray(x, dtype=np.float32), int(sr))
        return ALGORITHM.embed(audio, payload).samples

    def decode(
        self, x: npt.NDArray[Any], sr: int
    ) -> tuple[npt.NDArray[np.uint8] | None, float | None]:
        det = ALGORITHM.detect(AudioSignal(np.asarray(x, dtype=np.float32), int(sr)))
        if not det.present or det.payload is None:
            return None, None
        score = -math.log10(max(det.p_value, 1e-300))
        return bytes_to_bits(det.payload, PAYLOAD_BITS), score
