"""Robust invisible watermarks: the content implicit label that survives re-encoding.

See :mod:`synthlabel.watermark.base` for the plug-in contract, :mod:`.payload` for how the
payload links back to the AIGC record, and docs/watermark.md for the algorithms and their
measured robustness.
"""

from synthlabel.watermark.base import (
    DEFAULT_P_THRESHOLD,
    AudioSignal,
    Detection,
    WatermarkAlgorithm,
    WatermarkCapacityError,
    WatermarkError,
)
from synthlabel.watermark.payload import key_for_record, payload_for, watermark_key

__all__ = [
    "DEFAULT_P_THRESHOLD",
    "AudioSignal",
    "Detection",
    "WatermarkAlgorithm",
    "WatermarkCapacityError",
    "WatermarkError",
    "key_for_record",
    "payload_for",
    "watermark_key",
]
