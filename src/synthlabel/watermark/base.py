"""The watermark plug-in contract: one Protocol per media kind over a shared core.

A watermark is the implicit label that survives re-encoding. Every algorithm embeds a
*payload* (a prefix of the record's watermark key, see :mod:`synthlabel.watermark.payload`)
and detects it again with a calibrated p-value: the probability that an unmarked input would
score at least as high. ``present`` is decided by comparing that p-value with
:data:`DEFAULT_P_THRESHOLD` (or the caller's own threshold) *and* an integrity check of the
payload (CRC), so a decoder never reports garbage bits as a detection.

Signals are plain values with explicit conventions (no cv2 BGR surprises):

* image: ``numpy.ndarray`` uint8, shape (H, W, 3), RGB;
* audio: :class:`AudioSignal` (float32 samples in [-1, 1], shape (n,) or (n, channels));
* video: file paths, streamed through ffmpeg (never a whole video in memory);
* text: ``str`` to detect; embedding happens at generation time (a logits processor).

Contract (tests/contract/test_watermarks.py runs it on every registered algorithm): the
default-strength round trip recovers the payload; unmarked inputs are not detected; ``detect``
never raises on arbitrary input of the right type (it returns ``present=False`` with a
``reason``); a payload that cannot fit in the signal raises :class:`WatermarkCapacityError`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from synthlabel.errors import SynthlabelError

MediaKind = Literal["image", "audio", "video", "text"]

#: Default decision threshold on the calibrated p-value (false-positive rate per input).
DEFAULT_P_THRESHOLD = 1e-6


class WatermarkError(SynthlabelError):
    """A watermark could not be embedded (bad input, wrong parameters)."""


class WatermarkCapacityError(WatermarkError):
    """The payload does not fit in this signal (too small, too short, silent, empty)."""


@dataclass(frozen=True)
class AudioSignal:
    """PCM audio: float32 samples in [-1, 1], shape (n,) mono or (n, channels)."""

    samples: npt.NDArray[np.float32]
    sample_rate: int

    @property
    def duration(self) -> float:
        return float(self.samples.shape[0]) / float(self.sample_rate) if self.sample_rate else 0.0

    @property
    def channels(self) -> int:
        return 1 if self.samples.ndim == 1 else int(self.samples.shape[1])


@dataclass(frozen=True)
class Detection:
    """What a detector found. ``payload`` is only set when ``present`` is true."""

    algorithm: str
    present: bool
    p_value: float  # P[score >= observed | unmarked input]; 1.0 when nothing was found
    confidence: float = 0.0  # 1 - p_value, clipped; for display
    payload: bytes | None = None  # the decoded key prefix (payload_bits bits, MSB first)
    payload_bits: int = 0
    corrected_bits: int | None = None  # channel bits the error-correcting code fixed
    reason: str | None = None  # why nothing was found (too small, no sync, CRC mismatch, ...)
    details: dict[str, Any] = field(default_factory=dict)  # geometry, frames voted, scores

    @property
    def payload_hex(self) -> str | None:
        return self.payload.hex() if self.payload is not None else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "algorithm": self.algorithm,
            "present": self.present,
            "p_value": self.p_value,
            "confidence": self.confidence,
            "payload": self.payload_hex,
            "payload_bits": self.payload_bits,
            "corrected_bits": self.corrected_bits,
            "reason": self.reason,
            "details": dict(self.details),
        }


def absent(algorithm: str, reason: str, *, p_value: float = 1.0, **details: Any) -> Detection:
    """A negative detection with its reason (the common way detectors say "not found")."""
    return Detection(algorithm, False, p_value, 0.0, None, 0, None, reason, dict(details))


@dataclass(frozen=True)
class SoftReading:
    """One frame's (or one block's) evidence before the decision, for temporal voting.

    ``soft`` holds the channel soft values (positive = bit 1) aligned to the algorithm's code;
    ``weight`` is how much to trust them (0 when no synchronisation was found). Readings of
    many frames are combined by the algorithm's ``combine`` into one :class:`Detection`.
    """

    soft: npt.NDArray[np.float64]
    weight: float
    details: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class WatermarkAlgorithm(Protocol):
    """What every watermark plug-in has, whatever its media kind."""

    id: str  # stable identifier used on the command line and in reports, e.g. "sl-img-1"
    name: str  # human-readable name
    media_kind: MediaKind
    payload_bits: int  # bits carried (a prefix of the watermark key)


@runtime_checkable
class ImageWatermark(WatermarkAlgorithm, Protocol):
    def embed(
        self, rgb: npt.NDArray[np.uint8], payload: bytes, *, strength: float = 1.0
    ) -> npt.NDArray[np.uint8]: ...

    def detect(self, rgb: npt.NDArray[np.uint8]) -> Detection: ...


@runtime_checkable
class AudioWatermark(WatermarkAlgorithm, Protocol):
    """Optional attribute ``detect_sample_rate: int``: the algorithm's detector works on a
    mono copy at that rate, so inspection may hand it samples decoded straight to it (one
    ffmpeg call, no probe) instead of every channel at the source rate."""

    def embed(
        self, audio: AudioSignal, payload: bytes, *, strength: float = 1.0
    ) -> AudioSignal: ...

    def detect(self, audio: AudioSignal) -> Detection: ...


@runtime_checkable
class VideoWatermark(WatermarkAlgorithm, Protocol):
    def embed_file(
        self, src: Path, dest: Path, payload: bytes, *, strength: float = 1.0
    ) -> dict[str, Any]:
        """Watermark ``src`` into ``dest`` (streamed); returns quality figures (PSNR, frames)."""
        ...

    def detect_file(self, path: Path, *, max_seconds: float | None = None) -> Detection: ...


@runtime_checkable
class TextWatermark(WatermarkAlgorithm, Protocol):
    """Text is marked while a model generates; detection needs the text and the key.

    ``key=None`` means the algorithm's own default key (a provider passes its secret).
    """

    def detect(self, text: str, *, key: bytes | None = None) -> Detection: ...
