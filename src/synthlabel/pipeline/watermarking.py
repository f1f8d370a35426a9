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

from synthlabel.errors import SynthlabelError, UnsupportedFormat
from synthlabel.formats.base import FormatHandler
from synthlabel.model.aigc import AIGCRecord
from synthlabel.watermark import registry as wm_registry
from synthlabel.watermark.base import (
    AudioSignal,
    AudioWatermark,
    Detection,
    ImageWatermark,
    TextWatermark,
    VideoWatermark,
    WatermarkAlgorithm,
    WatermarkError,
    absent,
)
from synthlabel.watermark.payload import key_for_record, matches, payload_for

#: Image containers whose pixels we can rewrite (GIF is palette-based: no robust mark).
IMAGE_FORMATS = ("jpeg", "png", "webp", "tiff", "heif")
AUDIO_FORMATS = ("wav", "mp3", "flac", "ogg", "m4a")
VIDEO_FORMATS = ("mp4", "mkv")
#: Plain-text containers whose words the text detector reads (HTML/JSON would need extraction).
TEXT_FORMATS = ("text", "markdown")
#: Inspection reads at most this much of a video or audio file for watermarks.
DETECT_SECONDS = 20.0
#: Images are decoded for detection only below this many pixels (bombs are refused earlier).
DETECT_MAX_PIXELS = 80_000_000


@dataclass(frozen=True)
class WatermarkRequest:
    """``algorithm``: an id, or ``auto`` for the default of the file's media kind."""

    algorithm: str = "auto"
    strength: float = 1.0


def media_kind_of(handler: FormatHandler, data: bytes | None = None) -> str | None:
    """The watermark media kind of a container: image, audio, video or None."""
    fid = handler.id
    if fid in IMAGE_FORMATS:
        return "image"
    if fid in AUDIO_FORMATS:
        return "audio"
    if fid in VIDEO_FORMATS:
        if data is not None:
            from synthlabel.label.video import has_video

            if not has_video(data, fid):
                return "audio"
        return "video"
    if fid in TEXT_FORMATS:
        return "text"
    return None


def choose(request: WatermarkRequest, kind: str) -> WatermarkAlgorithm:
    if request.algorithm in ("", "auto"):
        return wm_registry.default_for(kind)
    algo = wm_registry.get(request.algorithm)
    if algo.media_kind != kind:
        raise WatermarkError(f"watermark {algo.id!r} is for {algo.media_kind}, this file is {kind}")
    return algo


def _psnr(a: npt.NDArray[Any], b: npt.NDArray[Any], peak: float = 255.0) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
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


def _image_array(data: bytes, handler: FormatHandler) -> npt.NDArray[np.uint8]:
    from synthlabel.label.visible import decode_first_frame

    return decode_first_frame(data, handler.id, max_pixels=DETECT_MAX_PIXELS)


def detect_watermarks(
    data: bytes | None,
    handler: FormatHandler,
    record: AIGCRecord | None = None,
    *,
    path: str | None = None,
    max_seconds: float = DETECT_SECONDS,
    text_key: bytes | None = None,
) -> list[dict[str, Any]]:
    """Run every installed detector of the file's media kind; never raises.

    ``text_key``: the key text detectors use (a provider's secret; None: their default).
    ``data`` may be None for a large file inspected in place: audio and video are then decoded
    from ``path`` (only the first ``max_seconds``), other kinds are skipped.
    """
    src_path = Path(path) if path and Path(path).is_file() else None
    if data is None and src_path is None:
        return []
    try:
        kind = media_kind_of(handler, data)
    except SynthlabelError:
        return []
    if data is None and kind not in ("audio", "video"):
        return []
    if kind is None:
        return []
    algos = wm_registry.algorithms(kind)  # type: ignore[arg-type]
    if not algos:
        return []
    found: list[Detection] = []
    try:
        if kind == "image":
            assert data is not None
            rgb = _image_array(data, handler)
            for algo in algos:
                assert isinstance(algo, ImageWatermark)
                found.append(_safe(algo, lambda a=algo: a.detect(rgb)))
        elif kind == "text":
            assert data is not None
            text = data.decode("utf-8", errors="replace")
            for algo in algos:
                assert isinstance(algo, TextWatermark)
                found.append(_safe(algo, lambda a=algo: a.detect(text, key=text_key)))
        elif kind == "audio":
            from synthlabel.label.audio import decode_samples, decode_samples_path

            if data is None:
                assert src_path is not None
                x, rate = decode_samples_path(src_path, handler.id, max_seconds=max_seconds)
            else:
                x, rate = decode_samples(data, handler.id, max_seconds=max_seconds)
            signal = AudioSignal(x, rate)
            for algo in algos:
                assert isinstance(algo, AudioWatermark)
                found.append(_safe(algo, lambda a=algo: a.detect(signal)))
        else:
            with tempfile.TemporaryDirectory(prefix="synthlabel-wm-") as tmp:
                src = src_path or Path(tmp) / "in.bin"
                if src_path is None:
                    assert data is not None
                    src.write_bytes(data)
                for algo in algos:
                    assert isinstance(algo, VideoWatermark)
                    found.append(
                        _safe(algo, lambda a=algo: a.detect_file(src, max_seconds=max_seconds))
                    )
    except SynthlabelError as exc:
        found = [
            absent(a.id, f"cannot decode for watermark detection: {exc.message}") for a in algos
        ]
    key = key_for_record(record) if record is not None else None
    out = []
    for det in found:
        d = det.to_dict()
        d["matches_record"] = (
            matches(det.payload, det.payload_bits, key)
            if key is not None and det.present and det.payload is not None and det.payload_bits
            else None
        )
        out.append(d)
    return out


def _safe(algo: WatermarkAlgorithm, call: Any) -> Detection:
    try:
        result = call()
        assert isinstance(result, Detection)
        return result
    except SynthlabelError as exc:
        return absent(algo.id, exc.message)
    except Exception as exc:  # a detector must never take inspection down
        return absent(algo.id, f"detector failed: {type(exc).__name__}: {exc}")
