"""Robust watermarks in the label and inspect pipelines.

Labelling: the watermark goes in after the explicit label (so it covers the final pixels or
samples) and before the metadata record is written and signed (so the content binding covers
the watermarked content). Its payload is the prefix of the record's watermark key
(:mod:`synthlabel.watermark.payload`), so a stripped copy still leads back to the record.

Inspection: every installed algorithm for the file's media kind looks for its mark; when the
file also carries a record, the decoded payload is compared with that record's key
(``matches_record``).
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image

from synthlabel.detect.watermarks import (
    AUDIO_FORMATS,
    DETECT_SECONDS,
    IMAGE_FORMATS,
    TEXT_FORMATS,
    VIDEO_FORMATS,
    detect_watermarks,
    media_kind_of,
)
from synthlabel.errors import UnsupportedFormat
from synthlabel.formats.base import FormatHandler
from synthlabel.model.aigc import AIGCRecord
from synthlabel.watermark import registry as wm_registry
from synthlabel.watermark.base import (
    AudioSignal,
    AudioWatermark,
    ImageWatermark,
    VideoWatermark,
    WatermarkAlgorithm,
    WatermarkError,
)
from synthlabel.watermark.payload import key_for_record, payload_for


@dataclass(frozen=True)
class WatermarkRequest:
    """``algorithm``: an id, or ``auto`` for the default of the file's media kind."""

    algorithm: str = "auto"
    strength: float = 1.0


def choose(request: WatermarkRequest, kind: str) -> WatermarkAlgorithm:
    if request.algorithm in ("", "auto"):
        return wm_registry.default_for(kind)
    algo = wm_registry.get(request.algorithm)
    if algo.media_kind != kind:
        raise WatermarkError(f"watermark {algo.id!r} is for {algo.media_kind}, this file is {kind}")
    return algo


def _psnr(a: npt.NDArray[Any], b: npt.NDArray[Any], peak: float = 255.0) -> float:
    """PSNR in dB, in row chunks (a 12 MP image must not allocate two float64 copies)."""
    fa, fb = a.reshape(a.shape[0], -1), b.reshape(b.shape[0], -1)
    total = 0.0
    for r in range(0, fa.shape[0], 256):
        d = fa[r : r + 256].astype(np.float32) - fb[r : r + 256]
        total += float(np.vdot(d, d))
    mse = total / max(1, fa.size)
    return math.inf if mse == 0 else 10.0 * math.log10(peak * peak / mse)


class _FrameMarker:
    """Watermarks PIL frames in place (RGB, RGBA, L, LA); records quality as it goes."""

    def __init__(self, algo: ImageWatermark, payload: bytes, strength: float) -> None:
        self.algo = algo
        self.payload = payload
        self.strength = strength
        self.psnr: list[float] = []
        self.frames = 0

    def __call__(self, frame: Image.Image) -> None:
        mode = frame.mode
        if mode not in ("RGB", "RGBA", "L", "LA"):
            raise WatermarkError(f"cannot watermark {mode} pixels (RGB, RGBA or greyscale only)")
        arr = np.asarray(frame)
        rgb = arr[..., :3] if mode in ("RGB", "RGBA") else arr[..., 0] if mode == "LA" else arr
        marked = self.algo.embed(np.ascontiguousarray(rgb), self.payload, strength=self.strength)
        self.psnr.append(_psnr(rgb, marked))
        if mode == "RGBA":
            marked = np.dstack([marked, arr[..., 3]])
        elif mode == "LA":
            marked = np.dstack([marked, arr[..., 1]])
        frame.paste(Image.fromarray(np.ascontiguousarray(marked.astype(np.uint8)), mode))
        self.frames += 1


def apply_watermark(
    data: bytes,
    handler: FormatHandler,
    record: AIGCRecord,
    request: WatermarkRequest,
    *,
    visible: Any | None = None,
) -> tuple[bytes, dict[str, Any], list[str], Any]:
    """Embed the record's watermark in ``data``.

    ``visible`` (image files only): VisibleOptions to draw the visible label in the same
    decode/encode pass. Returns (bytes, watermark info, warnings, visible result or None).
    """
    kind = media_kind_of(handler, data)
    if kind is None:
        raise UnsupportedFormat(
            f"{handler.id} files cannot carry a robust watermark"
            + (" (palette images)" if handler.id == "gif" else "")
        )
    algo = choose(request, kind)
    if kind == "text":
        raise WatermarkError(
            "text watermarks are embedded while the model generates (the logits processor in "
            "synthlabel.watermark.text_hf), not added to finished text; see docs/watermark.md"
        )
    key = key_for_record(record)
    payload = payload_for(key, algo.payload_bits) if algo.payload_bits else b""
    info: dict[str, Any] = {
        "algorithm": algo.id,
        "payload": payload.hex(),
        "payload_bits": algo.payload_bits,
        "strength": request.strength,
    }
    warnings: list[str] = []
    if kind == "image":
        assert isinstance(algo, ImageWatermark)
        from synthlabel.label.visible import render_visible, rewrite_pixels

        marker = _FrameMarker(algo, payload, request.strength)
        vis = None
        if visible is not None:
            vis = render_visible(data, handler.id, visible, after=marker)
            out = vis.data
        else:
            out, notes = rewrite_pixels(data, handler.id, marker)
            warnings.extend(n for n in notes if n)
        finite = [p for p in marker.psnr if math.isfinite(p)]
        info["psnr_db"] = round(min(finite), 2) if finite else None
        info["frames"] = marker.frames
        return out, info, warnings, vis
    if kind == "audio":
        assert isinstance(algo, AudioWatermark)
        from synthlabel.label.audio import rewrite_samples

        snr: list[float] = []

        def op(x: npt.NDArray[np.float32], rate: int) -> npt.NDArray[np.float32]:
            marked = algo.embed(AudioSignal(x, rate), payload, strength=request.strength)
            y = np.asarray(marked.samples, dtype=np.float32).reshape(x.shape)
            noise = float(np.sum((y.astype(np.float64) - x) ** 2))
            snr.append(
                math.inf
                if noise == 0
                else 10 * math.log10(float(np.sum(x.astype(np.float64) ** 2)) / noise)
            )
            return y

        rw = rewrite_samples(data, handler.id, op)
        info["snr_db"] = round(snr[0], 2) if snr and math.isfinite(snr[0]) else None
        warnings.extend(rw.notes)
        return rw.data, info, warnings, None
    assert isinstance(algo, VideoWatermark)
    with tempfile.TemporaryDirectory(prefix="synthlabel-wm-") as tmp:
        ext = "webm" if handler.id == "mkv" and b"webm" in data[:64] else handler.extensions[0]
        src, dest = Path(tmp) / f"in.{ext}", Path(tmp) / f"out.{ext}"
        src.write_bytes(data)
        figures = algo.embed_file(src, dest, payload, strength=request.strength)
        info.update({k: v for k, v in figures.items() if isinstance(v, (int, float, str))})
        return dest.read_bytes(), info, warnings, None


__all__ = [
    "AUDIO_FORMATS",
    "DETECT_SECONDS",
    "IMAGE_FORMATS",
    "TEXT_FORMATS",
    "VIDEO_FORMATS",
    "WatermarkRequest",
    "apply_watermark",
    "choose",
    "detect_watermarks",
    "media_kind_of",
]
