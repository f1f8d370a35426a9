"""Error control shared by the watermark algorithms: CRC and a soft-decision convolutional code.

Every mark is framed the same way: ``payload bits + CRC`` encoded with a rate-1/3,
constraint-length-7 convolutional code (generators 133, 171, 165 octal), zero-terminated, and
decoded with a soft-decision Viterbi decoder. The CRC makes "the decoder returned some bits"
and "the decoder returned *the* bits" two different things: a random input passes a 16-bit CRC
with probability 2^-16, which multiplies into the detector's p-value.

Soft values follow one convention everywhere: positive means "bit 1", magnitude is confidence.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

K = 7  # constraint length
_GENERATORS = (0o133, 0o171, 0o165)
RATE = len(_GENERATORS)
_NSTATES = 1 << (K - 1)
_CRC_POLYS = {8: 0x07, 12: 0x80F, 16: 0x1021, 24: 0x864CFB}

# _OUT[reg] = the three coded bits for the 7-bit register ``reg`` (bit 6 = newest input).
_OUT = np.array(
    [[bin(reg & g).count("1") & 1 for g in _GENERATORS] for reg in range(1 << K)], dtype=np.uint8
)
_SIGN = 2.0 * _OUT.astype(np.float64) - 1.0  # +1 for a coded 1, -1 for a coded 0

# For each next state ns, its two predecessors and the register values of both branches.
_NS = np.arange(_NSTATES)
_PRED = np.stack([((_NS & 31) << 1), ((_NS & 31) << 1) | 1], axis=1)  # (64, 2)
_REG = ((_NS >> 5)[:, None] << 6) | _PRED  # (64, 2)


def crc_bits(bits: npt.ArrayLike, width: int = 16) -> npt.NDArray[np.uint8]:
    """CRC of a bit sequence (MSB-first), returned as ``width`` bits. Init 0, no reflection."""
    poly = _CRC_POLYS[width]
    top = 1 << (width - 1)
    mask = (1 << width) - 1
    reg = 0
    for b in np.asarray(bits, dtype=np.uint8).ravel():
        fb = ((reg & top) != 0) ^ bool(b)
        reg = (reg << 1) & mask
        if fb:
            reg ^= poly
    return np.array([(reg >> (width - 1 - i)) & 1 for i in range(width)], dtype=np.uint8)


def coded_length(info_bits: int) -> int:
    """Channel bits used by ``info_bits`` information bits (tail included)."""
    return RATE * (info_bits + K - 1)


def encode(info: npt.ArrayLike) -> npt.NDArray[np.uint8]:
    """Convolutionally encode ``info`` (0/1) with a zero tail."""
    bits = np.concatenate([np.asarray(info, dtype=np.uint8).ravel(), np.zeros(K - 1, np.uint8)])
    out = np.empty((bits.size, RATE), dtype=np.uint8)
    state = 0
    for t, u in enumerate(bits):
        reg = (int(u) << (K - 1)) | state
        out[t] = _OUT[reg]
        state = reg >> 1
    return out.ravel()


def viterbi(soft: npt.ArrayLike, info_bits: int) -> npt.NDArray[np.uint8]:
    """Maximum-likelihood info bits for soft channel values (positive = 1)."""
    y = np.asarray(soft, dtype=np.float64).ravel()
    steps = info_bits + K - 1
    if y.size != RATE * steps:
        raise ValueError(f"expected {RATE * steps} soft values, got {y.size}")
    scale = float(np.mean(np.abs(y))) or 1.0
    y2 = y.reshape(steps, RATE) / scale
    metric = np.full(_NSTATES, -np.inf)
    metric[0] = 0.0
    decisions = np.empty((steps, _NSTATES), dtype=np.uint8)
    for t in range(steps):
        branch = _SIGN @ y2[t]  # (128,) metric of each register value
        cand = metric[_PRED] + branch[_REG]  # (64, 2)
        choice = np.argmax(cand, axis=1)
        decisions[t] = choice
        metric = cand[_NS, choice]
    state = 0  # zero-terminated
    bits = np.empty(steps, dtype=np.uint8)
    for t in range(steps - 1, -1, -1):
        bits[t] = state >> (K - 2)  # newest input bit of this state
        state = int(_PRED[state, decisions[t, state]])
    return bits[:info_bits]


def frame(payload: npt.ArrayLike, crc_width: int = 16) -> npt.NDArray[np.uint8]:
    """Payload bits + CRC, convolutionally encoded: the channel bits of one mark."""
    p = np.asarray(payload, dtype=np.uint8).ravel()
    return encode(np.concatenate([p, crc_bits(p, crc_width)]))


def unframe(
    soft: npt.ArrayLike, payload_bits: int, crc_width: int = 16
) -> tuple[npt.NDArray[np.uint8], bool, int]:
    """Decode soft channel values: (payload bits, CRC ok, channel bits the code corrected)."""
    y = np.asarray(soft, dtype=np.float64).ravel()
    info = viterbi(y, payload_bits + crc_width)
    payload, crc = info[:payload_bits], info[payload_bits:]
    ok = bool(np.array_equal(crc, crc_bits(payload, crc_width)))
    hard = (y > 0).astype(np.uint8)
    corrected = int(np.count_nonzero(hard != encode(info)))
    return payload, ok, corrected
