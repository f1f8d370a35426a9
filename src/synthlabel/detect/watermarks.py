"""Our robust watermarks as findings, and the watermark section of the inspection report.

Every installed watermark algorithm of the file's media kind looks for its mark
(:func:`detect_watermarks`, computed once per asset). A mark found at p <= 1e-6 with a
valid CRC is conclusive evidence (``watermark.<algorithm id>``); when the file also carries
a record, the decoded payload is compared with that record's watermark key
(``matches_record``), so a copied or re-labelled file shows.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from synthlabel.detect.base import Asset, DetectOptions
from synthlabel.errors import SynthlabelError
from synthlabel.formats.base import FormatHandler
from synthlabel.model.aigc import AIGCRecord
from synthlabel.model.findings import Finding, Strength
from synthlabel.watermark import registry as wm_registry
from synthlabel.watermark.base import (
    AudioSignal,
    AudioWatermark,
    Detection,
    ImageWatermark,
    TextWatermark,
    VideoWatermark,
    WatermarkAlgorithm,
    absent,
)
from synthlabel.watermark.payload import key_for_record, matches

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


#: Short side image detectors get at least (JPEGs are decoded at 1/2-1/8 scale down to it).
#: An algorithm that needs more declares ``detect_min_side``; ``None`` asks for full size.
DETECT_MIN_SIDE = 768


def _image_array(
    data: bytes, handler: FormatHandler, algos: list[WatermarkAlgorithm]
) -> npt.NDArray[np.uint8]:
    from synthlabel.label.visible import decode_first_frame

    sides = [getattr(a, "detect_min_side", DETECT_MIN_SIDE) for a in algos]
    min_side = None if any(s is None for s in sides) else max(sides, default=DETECT_MIN_SIDE)
    return decode_first_frame(data, handler.id, max_pixels=DETECT_MAX_PIXELS, min_side=min_side)


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
            rgb = _image_array(data, handler, algos)
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
            signal = _audio_signal(data, src_path, handler.id, algos, max_seconds)
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


def _audio_signal(
    data: bytes | None,
    src_path: Path | None,
    format_id: str,
    algos: list[WatermarkAlgorithm],
    max_seconds: float,
) -> AudioSignal:
    """The samples the audio detectors read. When every one of them declares the mono rate
    it works at (``detect_sample_rate``, as sl-aud-1 does), one ffmpeg call decodes straight
    to that; otherwise every channel at the source rate."""
    from synthlabel.label import _ffmpeg as ff
    from synthlabel.label.audio import decode_mono, decode_samples, decode_samples_path, wav_pcm

    if format_id == "wav":
        pcm = wav_pcm(data, max_seconds=max_seconds) if data is not None else None
        if pcm is not None:
            return AudioSignal(*pcm)
    rates = {getattr(a, "detect_sample_rate", None) for a in algos}
    if len(rates) == 1 and isinstance(rate := next(iter(rates)), int) and rate > 0:
        if src_path is not None:
            return AudioSignal(
                decode_mono(src_path, format_id, rate, max_seconds=max_seconds), rate
            )
        assert data is not None
        with ff.workdir() as work:
            src = work / f"in.{format_id.lower()}"
            src.write_bytes(data)
            return AudioSignal(decode_mono(src, format_id, rate, max_seconds=max_seconds), rate)
    if data is None:
        assert src_path is not None
        x, sr = decode_samples_path(src_path, format_id, max_seconds=max_seconds)
    else:
        x, sr = decode_samples(data, format_id, max_seconds=max_seconds)
    return AudioSignal(x, sr)


def _safe(algo: WatermarkAlgorithm, call: Any) -> Detection:
    try:
        result = call()
        assert isinstance(result, Detection)
        return result
    except SynthlabelError as exc:
        return absent(algo.id, exc.message)
    except Exception as exc:  # a detector must never take inspection down
        return absent(algo.id, f"detector failed: {type(exc).__name__}: {exc}")


SOURCE = "synthlabel watermark plug-ins (docs/watermark.md); calibrated p-value <= 1e-6"
WHERE = {"image": "pixels", "audio": "samples", "video": "video frames", "text": "text tokens"}


def asset_watermarks(asset: Asset, options: DetectOptions) -> list[dict[str, Any]]:
    """The watermark detections of an asset (computed once, shared with the report)."""
    if asset.handler is None:
        return []
    handler = asset.handler

    def compute() -> list[dict[str, Any]]:
        return detect_watermarks(
            asset.data,
            handler,
            asset.report.record,
            path=str(asset.file) if asset.file else None,
            max_seconds=options.watermark_seconds,
            text_key=options.text_watermark_key,
        )

    return asset.cached("watermarks", compute)


class WatermarkDetector:
    id = "watermark"
    name = "synthlabel robust watermarks (image, audio, video, text)"
    media_kinds = frozenset({"image", "audio", "video", "text"})
    cost = "medium"
    codes = ("watermark.*",)

    def detect(self, asset: Asset, options: DetectOptions) -> list[Finding]:
        out = []
        kind = media_kind_of(asset.handler) if asset.handler else None
        for w in asset_watermarks(asset, options):
            if not w.get("present"):
                continue
            m = w.get("matches_record")
            key = f", key {w['payload']}" if w.get("payload") else ""
            link = (
                " (matches this file's record)"
                if m is True
                else " (belongs to another record)"
                if m is False
                else ""
            )
            out.append(
                Finding(
                    self.id,
                    f"watermark.{w['algorithm']}",
                    f"{w['algorithm']} watermark, p = {w['p_value']:.1e}{key}{link}",
                    Strength.CONCLUSIVE,
                    WHERE.get(kind or "", "content"),
                    SOURCE,
                    confidence=float(w.get("confidence", 0.0)),
                    details=dict(w),
                )
            )
        return out


DETECTOR = WatermarkDetector()
