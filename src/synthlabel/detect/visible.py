"""Visible (explicit) labels as findings: captions in pixels, notices in text, audio prompts.

GB 45438-2025 §5 explicit labels carry two elements: the AI element (``人工智能`` or ``AI``) and
the generation element (``生成`` and/or ``合成``). Two detector objects:

* :data:`DETECTOR` (``visible``, expensive, run with ``inspect --deep``): offline OCR of
  images and of video frames (:mod:`synthlabel.detect._ocr`), and the rhythm / voice prompt in
  audio and in a video's first audio track (:mod:`synthlabel.detect._prompts`);
* :data:`TEXT_DETECTOR` (``visible-text``, cheap): the notice in plain text, Markdown, HTML,
  PDF and DOCX.

Images are OCR'd as a viewer shows them: an EXIF Orientation (2-8) left to the viewer is
applied to the decoded pixels first, so boxes, the edge/corner position and the size rule are
those of the upright picture (details name the ``exif_orientation`` applied). Video files are
OCR'd and their first audio track is checked for the prompts like an audio file.

Codes: ``visible.caption`` (image/video caption with both elements, moderate; details give the
text, box, measured ink height, its ratio to the short side, the position and whether it
complies, with the failing rule), ``visible.partial`` (one element only, e.g. ``即梦AI``;
weak), ``visible.notice`` (text/document notice with both elements; moderate),
``visible.voice_prompt`` and ``visible.rhythm_prompt`` (audio, or a video's first audio track:
location ``first audio track, ...``; moderate).
"""

from __future__ import annotations

import html
import io
import math
import os
import re
import shutil
import subprocess
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np

from synthlabel.detect import _frames, _ocr
from synthlabel.detect._ocr import Box, TextBox
from synthlabel.detect.base import Asset, DetectOptions
from synthlabel.errors import SynthlabelError
from synthlabel.model.findings import Finding, Strength

SOURCE_IMAGE = (
    "GB 45438-2025 §5.2 (image: text prompt with both elements on an edge or corner, "
    "text height >= 5 % of the short side)"
)
SOURCE_VIDEO = (
    "GB 45438-2025 §5.4 (video: text prompt with both elements on the opening frames for "
    ">= 2 s, text height >= 5 % of the short side)"
)
SOURCE_TEXT = "GB 45438-2025 §5.1 (text: prompt with both elements at the start, end or middle)"
SOURCE_AUDIO_VOICE = "GB 45438-2025 §5.3 (audio: voice label with both elements)"
SOURCE_AUDIO_RHYTHM = "GB 45438-2025 §5.3 (audio: rhythm label short-long-short-short)"
SOURCE_PARTIAL = "GB 45438-2025 §1 two-element rule (only one element found)"

IMAGE_FORMATS = ("jpeg", "png", "webp", "tiff", "heif", "gif")
VIDEO_FORMATS = ("mp4", "mkv")
AUDIO_FORMATS = ("wav", "mp3", "flac", "ogg", "m4a")

#: Text windows (spec §2.1: both elements within the first or last 64 characters).
WINDOW = 64
#: A position counts as "on the edge" within this fraction of the width/height.
EDGE_FRACTION = 0.10
#: Measured ink height may fall this much (fraction, at least 1 px) below ceil(5 %) and still
#: count: anti-aliasing, JPEG and resampling blur the glyph edges by about a pixel.
HEIGHT_TOLERANCE = 0.06
#: Video: the opening frames read (seconds) and their rate.
VIDEO_OPENING_S = 3.25
VIDEO_FPS = 4
VIDEO_MIN_S = 2.0
#: Video after the opening: frames spread evenly from the opening window to a second before
#: the end, about one per VIDEO_LATER_SPACING_S, at least 2 and at most VIDEO_LATER_MAX (a
#: caption shown for longer than the spacing is on one of them) ...
VIDEO_LATER_SPACING_S = 2.0
VIDEO_LATER_MAX = 10
#: ... read coarse to fine (the middle, the end, then the gaps halved) while their decoding
#: and OCR stay within this many seconds and half of the detector's time left (the first two
#: are read whatever this budget says).
VIDEO_LATER_BUDGET_S = 8.0
#: They come from one sequential decode when the rest of the clip is at most this many pixel
#: seconds (width x height x seconds: 40 s of 1280x720), else from one seek per frame (each
#: seek decodes from the keyframe before it: 0.3 s a frame on a 640x360 clip with 10 s GOPs,
#: where one pass over 16 s took 0.45 s for all of them).
VIDEO_LATER_SEQUENTIAL_PX_S = 40 * 1280 * 720
MAX_TEXT_BYTES = 20_000_000
MAX_FINDINGS = 8


def _threads(options: DetectOptions) -> int:
    extra = options.extra.get("visible", {}) if isinstance(options.extra, dict) else {}
    try:
        n = int(extra.get("threads", os.environ.get("SYNTHLABEL_OCR_THREADS", 1)))
    except (TypeError, ValueError):
        n = 1
    return max(1, min(16, n))


# ---------------------------------------------------------------------------------------------
# Caption analysis (images and frames)


@dataclass(frozen=True)
class Caption:
    """A caption candidate: grouped OCR lines with its geometry and the rule checks."""

    text: str
    box: Box
    score: float
    ai: bool
    generation: bool
    height_px: int | None
    height_ratio: float | None
    min_px: int
    position: str  # "corner", "edge" or "inside"
    side: str  # e.g. "bottom-right", "top", "middle"
    failing: tuple[str, ...] = ()
    lines: tuple[TextBox, ...] = field(default=(), repr=False, compare=False)

    @property
    def both(self) -> bool:
        return self.ai and self.generation

    def details(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "box": list(self.box),
            "height_px": self.height_px,
            "height_ratio": None if self.height_ratio is None else round(self.height_ratio, 4),
            "min_px": self.min_px,
            "position": self.position,
            "side": self.side,
            "compliant": "yes" if not self.failing else "no",
            "failing": list(self.failing),
            "ocr_score": round(self.score, 3),
        }


def min_text_px(width: int, height: int) -> int:
    from synthlabel.label.visible import required_text_px

    return required_text_px(width, height)


def _position(box: Box, width: int, height: int) -> tuple[str, str]:
    x0, y0, x1, y1 = box
    left = x0 <= EDGE_FRACTION * width
    right = width - x1 <= EDGE_FRACTION * width
    top = y0 <= EDGE_FRACTION * height
    bottom = height - y1 <= EDGE_FRACTION * height
    v = "top" if top and not bottom else "bottom" if bottom and not top else ""
    h = "left" if left and not right else "right" if right and not left else ""
    if v and h:
        return "corner", f"{v}-{h}"
    if v or h:
        return "edge", v or h
    return "inside", "middle"


def analyse_captions(rgb: np.ndarray, boxes: list[TextBox]) -> list[Caption]:
    """Caption candidates (at least one element) among the OCR lines of one picture."""
    h, w = rgb.shape[:2]
    need = min_text_px(w, h)
    out = []
    for group in _ocr.group_lines(boxes):
        text = "".join(b.text for b in group)
        el = _ocr.elements(text)
        if not el.any:
            continue
        box = _ocr.union_box(group)
        heights = [ink for b in group if (ink := _ocr.ink_height(rgb, b.box)) is not None]
        height = min(heights) if heights else None
        position, side = _position(box, w, h)
        failing = [f"missing the {m}" for m in el.missing()]
        if position == "inside":
            failing.append("not on an edge or corner of the picture")
        tolerance = max(1, round(HEIGHT_TOLERANCE * need))
        if height is None:
            failing.append("text height could not be measured")
        elif height < need - tolerance:
            failing.append(
                f"text height {height} px is below 5 % of the {min(w, h)} px short side ({need} px)"
            )
        out.append(
            Caption(
                text=_ocr.normalise(text),
                box=box,
                score=float(np.mean([b.score for b in group])),
                ai=el.ai,
                generation=el.generation,
                height_px=height,
                height_ratio=None if height is None else height / min(w, h),
                min_px=need,
                position=position,
                side=side,
                failing=tuple(failing),
                lines=tuple(group),
            )
        )
    return out


def _is_partial_label(c: Caption) -> bool:
    """One element only, in a caption-like place: a short text on an edge or corner with the
    AI element (``即梦AI``) or ending with the generation element (``即梦生成``)."""
    if c.both or c.position == "inside" or len(c.text) > 16:
        return False
    if c.ai:
        return True
    return bool(re.search("(生成|合成)$", c.text)) and 3 <= len(c.text) <= 12


# ---------------------------------------------------------------------------------------------
# Images


@dataclass
class OcrResult:
    """OCR of an asset, cached as ``asset.cached("ocr", ...)`` for other detectors.

    ``frames``: (time in seconds or None for a still image, frame size (w, h), lines)."""

    kind: str
    frames: list[tuple[float | None, tuple[int, int], list[TextBox]]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "frames": [
                {"time": t, "size": list(s), "lines": [b.to_dict() for b in lines]}
                for t, s, lines in self.frames
            ],
            "notes": list(self.notes),
        }


#: Formats whose decoder leaves the EXIF Orientation to the viewer (Pillow applies it while
#: decoding TIFF, pillow-heif while decoding HEIF; GIF has none).
ORIENTED_FORMATS = ("jpeg", "png", "webp")


def exif_orientation(asset: Asset) -> int:
    """The EXIF Orientation (1-8) a viewer applies to the decoded pixels; 1 when there is none,
    it is invalid, or the decoder already applied it. Read from the container's EXIF with the
    format layer's bounded parser (no second decode)."""
    if asset.format not in ORIENTED_FORMATS:
        return 1
    from synthlabel.formats import _exif

    try:
        meta = asset.metadata()
        if meta is None or not meta.exif:
            return 1
        tiff = _exif.strip_header(meta.exif)[0]
        lay = _exif.parse_header(tiff)
        ifd0 = _exif.read_ifd(tiff, lay, lay.first_ifd, warnings=[])
        for e in ifd0.entries:
            if e.tag == 0x0112:
                value = _exif.ints(tiff, lay, e)[0]
                return value if 1 <= value <= 8 else 1
    except (SynthlabelError, IndexError, ValueError):
        return 1
    return 1


def upright(rgb: np.ndarray, orientation: int) -> np.ndarray:
    """The stored pixels as a viewer shows them for an EXIF Orientation (the transform of
    ``PIL.ImageOps.exif_transpose``: 3 turns 180°, 6 turns 90° clockwise, 8 counter-clockwise,
    2/4/5/7 mirror)."""
    ops = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.transpose(1, 0, 2),
        6: lambda a: np.rot90(a, -1),
        7: lambda a: a.transpose(1, 0, 2)[::-1, ::-1],
        8: lambda a: np.rot90(a, 1),
    }
    op = ops.get(orientation)
    return rgb if op is None else np.ascontiguousarray(op(rgb))


def _decode_image(asset: Asset) -> tuple[np.ndarray, int]:
    """The first frame upright (EXIF orientation applied) and the orientation applied."""
    from synthlabel.label.visible import decode_first_frame

    assert asset.data is not None
    rgb = decode_first_frame(asset.data, asset.format, max_pixels=_ocr.MAX_PIXELS)
    orientation = exif_orientation(asset)
    return upright(rgb, orientation), orientation


def _image_findings(det_id: str, asset: Asset, options: DetectOptions) -> list[Finding]:
    if asset.data is None:
        return []
    try:
        rgb, orientation = asset.cached("visible.rgb", lambda: _decode_image(asset))
    except SynthlabelError:
        return []
    threads = _threads(options)

    def compute() -> OcrResult:
        lines = _ocr.ocr_image(rgb, threads=threads)
        res = OcrResult("image", [(None, (rgb.shape[1], rgb.shape[0]), lines)])
        if orientation != 1:
            res.notes.append(
                f"EXIF orientation {orientation} applied before OCR: boxes are in the upright "
                "picture's pixels"
            )
        return res

    result = asset.cached("ocr", compute)
    if not result.frames:
        return []
    captions = analyse_captions(rgb, result.frames[0][2])
    extra = {"exif_orientation": orientation} if orientation != 1 else None
    where = "pixels" if orientation == 1 else f"pixels (upright, EXIF orientation {orientation})"
    out = []
    for c in captions:
        f = _caption_finding(det_id, c, where, SOURCE_IMAGE, extra)
        if f is not None:
            out.append(f)
    return out[:MAX_FINDINGS]


def _caption_finding(
    det_id: str, c: Caption, where: str, source: str, extra: dict[str, Any] | None = None
) -> Finding | None:
    details = {**c.details(), **(extra or {})}
    box = f"({c.box[0]},{c.box[1]})-({c.box[2]},{c.box[3]})"
    if c.both:
        verdict = "compliant" if not c.failing else "not compliant: " + "; ".join(c.failing)
        size = f"{c.height_px} px" if c.height_px is not None else "? px"
        return Finding(
            det_id,
            "visible.caption",
            f"caption {c.text!r} at {c.side} ({c.position}), text {size}, {verdict}",
            Strength.MODERATE,
            f"{where} {box}",
            source,
            confidence=round(c.score, 3),
            details=details,
        )
    if _is_partial_label(c):
        return Finding(
            det_id,
            "visible.partial",
            f"caption {c.text!r} at {c.side} has only the "
            + ("AI element" if c.ai else "generation element"),
            Strength.WEAK,
            f"{where} {box}",
            SOURCE_PARTIAL,
            confidence=round(c.score, 3),
            details=details,
        )
    return None


# ---------------------------------------------------------------------------------------------
# Video


def later_times(duration: float | None) -> list[float]:
    """Times of the frames read after the opening, in the order they are read: evenly spaced
    from the end of the opening window to a second before the end (the last one), about one
    per :data:`VIDEO_LATER_SPACING_S` (2 to :data:`VIDEO_LATER_MAX`), coarse to fine: the
    middle one first, then each time the one furthest from those already chosen."""
    if not duration or duration <= VIDEO_OPENING_S + 1:
        return []
    span = duration - 1.0 - VIDEO_OPENING_S
    n = max(2, min(VIDEO_LATER_MAX, math.ceil(span / VIDEO_LATER_SPACING_S - 1e-9)))
    times = [VIDEO_OPENING_S + (i + 1) * span / n for i in range(n)]
    mid = (n - 1) / 2
    order: list[int] = []
    while len(order) < n:
        order.append(
            max(
                (i for i in range(n) if i not in order),
                key=lambda i: (min((abs(i - j) for j in order), default=n), -abs(i - mid)),
            )
        )
    return [times[i] for i in order]


def _video_findings(det_id: str, asset: Asset, options: DetectOptions) -> list[Finding]:
    threads = _threads(options)
    with tempfile.TemporaryDirectory(prefix="synthlabel-ocr-") as tmp:
        if asset.file is not None:
            src = asset.file
        elif asset.data:
            src = Path(tmp) / "in.media"
            src.write_bytes(asset.data)
        else:
            return []
        try:
            size, duration = _frames.video_geometry(src, asset.format)
            n = round(VIDEO_OPENING_S * VIDEO_FPS)
            opening = _frames.decode_frames(
                src, asset.format, size, seconds=VIDEO_OPENING_S, fps=VIDEO_FPS, limit=n
            )
        except SynthlabelError:
            return []
        if not opening:
            return []
        later: list[tuple[float, np.ndarray]] = []
        decoded: dict[float, np.ndarray] = {}

        def read_later(t: float) -> tuple[float, np.ndarray] | None:
            if t in decoded:
                return t, decoded[t]
            try:
                got = _frames.decode_frames(
                    src, asset.format, size, start=t, seconds=0.5, fps=2, limit=1
                )
            except SynthlabelError:
                return None
            return got[0] if got else None

        def decode_later(times: list[float]) -> None:
            """The frames at ``times`` (evenly spaced) in one sequential decode, when the rest
            of the clip is small enough; ``read_later`` seeks for any not decoded here."""
            ts = sorted(times)
            span = ts[-1] - ts[0]
            if len(ts) < 2 or span * size[0] * size[1] > VIDEO_LATER_SEQUENTIAL_PX_S:
                return
            step = span / (len(ts) - 1)
            try:
                got = _frames.decode_frames(
                    src,
                    asset.format,
                    size,
                    start=ts[0],
                    seconds=span + 0.5 * step,
                    fps=1 / step,
                    limit=len(ts),
                    timeout=VIDEO_LATER_BUDGET_S * 4,
                )
            except SynthlabelError:
                return
            decoded.update({t: fr for t, (_ft, fr) in zip(ts, got, strict=False)})

        def compute() -> OcrResult:
            res = OcrResult("video")
            for idx in sorted({0, min(len(opening) - 1, VIDEO_FPS)}):
                t, fr = opening[idx]
                lines = _ocr.ocr_image(fr, threads=threads)
                res.frames.append((t, (fr.shape[1], fr.shape[0]), lines))
            t0 = time.monotonic()
            read: dict[float, tuple[tuple[int, int], list[TextBox]]] = {}
            times = later_times(duration)
            if times:
                decode_later(times)
            for i, t in enumerate(times):
                left = asset.time_left()
                if i >= 2 and time.monotonic() - t0 > VIDEO_LATER_BUDGET_S:
                    res.notes.append(
                        f"{i} frames read after the opening (time budget of "
                        f"{VIDEO_LATER_BUDGET_S:g} s spent)"
                    )
                    break
                if left is not None and time.monotonic() - t0 > left / 2:
                    res.notes.append(f"{i} frames read after the opening (detector time budget)")
                    break
                got = read_later(t)
                if got is None:
                    continue
                later.append(got)
                fr = got[1]
                read[t] = ((fr.shape[1], fr.shape[0]), _ocr.ocr_image(fr, threads=threads))
            res.frames.extend((t, *read[t]) for t in sorted(read))
            return res

        result = asset.cached("ocr", compute)
        if not later:  # OCR cached by an earlier run: decode the frames it read again
            for ft, _size, _lines in result.frames:
                if ft is not None and ft >= VIDEO_OPENING_S and (got := read_later(ft)):
                    later.append(got)
    out: list[Finding] = []
    seen: list[Box] = []
    step = 1 / VIDEO_FPS
    frame_of = {round(t, 3): fr for t, fr in [*opening, *later]}
    opening_caption = False  # a caption with both elements on the opening frames
    for ft_or_none, _size, lines in result.frames:
        if ft_or_none is None:
            continue
        t = ft_or_none
        frame = frame_of.get(round(t, 3))
        if frame is None:
            continue
        opening_frame = t < VIDEO_OPENING_S
        for c in analyse_captions(frame, lines):
            if any(_ocr._iou(c.box, b) > 0.3 for b in seen):
                continue
            seen.append(c.box)
            extra: dict[str, Any] = {"frame_time": round(t, 3)}
            failing = list(c.failing)
            if c.position == "inside" and failing:
                # video captions may sit at any suitable place (§5.4): only images need an edge
                failing = [f for f in failing if not f.startswith("not on an edge")]
            if opening_frame and c.both:
                shown = [
                    ft
                    for ft, fr in opening
                    if _ocr.elements("".join(b.text for b in _ocr.ocr_crop(fr, c.box))).both
                ]
                first = shown[0] if shown else t
                run = 0
                for ft, _ in opening:
                    if ft < first:
                        continue
                    if ft in shown:
                        run += 1
                    else:
                        break
                dur = run * step
                full = run == len(opening) - round(first * VIDEO_FPS)
                extra.update(
                    {
                        "first_seen_s": round(first, 3),
                        "shown_s": round(dur, 3),
                        "shown_at_least": full,
                        "frames_sampled_per_s": VIDEO_FPS,
                    }
                )
                if first > step + 1e-6:
                    failing.append(f"first seen at {first:.2f} s, not on the opening frames")
                if dur + 1e-6 < VIDEO_MIN_S:
                    failing.append(f"shown for about {dur:.2f} s (< 2 s)")
                extra["location"] = "start"
                opening_caption = True
            else:
                extra["location"] = "start" if opening_frame else "middle or end"
                if c.both and not opening_caption:
                    # §5.4 allows further captions in the middle and at the end; one there
                    # fails only when the opening frames have none
                    failing.append("not on the opening frames")
            c2 = Caption(**{**c.__dict__, "failing": tuple(failing)})
            f = _caption_finding(det_id, c2, f"frame at {t:.2f} s", SOURCE_VIDEO, extra)
            if f is not None:
                out.append(f)
    return out[:MAX_FINDINGS]


# ---------------------------------------------------------------------------------------------
# Audio


class PromptCheckSkipped(SynthlabelError):
    """The voice-prompt check could not run (espeak-ng missing) and nothing else was found."""


def _audio_findings(det_id: str, asset: Asset, options: DetectOptions) -> list[Finding]:
    from synthlabel.detect import _prompts

    try:
        windows = asset.cached("visible.audio", lambda: _prompts.load_windows(asset))
    except SynthlabelError:
        return []
    out: list[Finding] = []
    for hit in _prompts.find_rhythm(windows):
        out.append(
            Finding(
                det_id,
                "visible.rhythm_prompt",
                f"rhythm label (short-long-short-short, {hit.tone_hz:.0f} Hz, unit "
                f"{hit.unit_s * 1000:.0f} ms) at the {hit.where}, {hit.onset_s:.2f} s",
                Strength.MODERATE,
                f"samples {hit.onset_s:.2f} s",
                SOURCE_AUDIO_RHYTHM,
                confidence=round(hit.score, 3),
                details=hit.to_dict(),
            )
        )
    extra = options.extra.get("visible") if isinstance(options.extra, dict) else None
    voice, note = _prompts.find_voice(windows, extra if isinstance(extra, dict) else None)
    if note:
        if not out:
            # nothing found and half the check could not run: say so (the runner records it)
            raise PromptCheckSkipped(note)
        out = [Finding(**{**f.__dict__, "details": {**f.details, "note": note}}) for f in out]
    for vhit in voice:
        out.append(
            Finding(
                det_id,
                "visible.voice_prompt",
                f"spoken prompt {vhit.text!r} at the {vhit.where}, {vhit.onset_s:.2f} s "
                + _voice_how(vhit),
                Strength.MODERATE,
                f"samples {vhit.onset_s:.2f} s",
                SOURCE_AUDIO_VOICE + "; recognises only synthesized prompts of known wording",
                confidence=round(vhit.score, 3),
                details=vhit.to_dict(),
            )
        )
    return out


def _voice_how(hit: Any) -> str:
    """How a voice prompt (``_prompts.VoiceHit``) was matched, in words."""
    if hit.method == "waveform":
        return f"(the synthesized prompt's waveform, correlation {hit.correlation:.2f})"
    if hit.method == "waveform-retimed":
        return (
            f"(the synthesized prompt's waveform at {hit.tempo:.2f}x tempo, piece correlation "
            f"{hit.correlation:.2f})"
        )
    return f"(synthesized speech, MFCC distance {hit.distance:.2f})"


def _video_audio_findings(
    det_id: str, asset: Asset, options: DetectOptions, captions: list[Finding]
) -> list[Finding]:
    """The rhythm and voice prompts in a video's first audio track, read like an audio file
    (the first and last ``_prompts.WINDOW_S`` seconds, decoded by ffmpeg; a video without audio
    has none). When the voice check cannot run (espeak-ng missing) the caption findings carry
    the note; with no finding at all :class:`PromptCheckSkipped` is raised as for audio."""
    try:
        found = _audio_findings(det_id, asset, options)
    except PromptCheckSkipped as exc:
        if not captions:
            raise
        note = str(exc)
        captions[:] = [
            Finding(**{**f.__dict__, "details": {**f.details, "note": note}}) for f in captions
        ]
        return []
    return [
        Finding(
            **{
                **f.__dict__,
                "location": f"first audio track, {f.location}",
                "details": {**f.details, "stream": "first audio track"},
            }
        )
        for f in found
    ]


# ---------------------------------------------------------------------------------------------
# The OCR / audio detector


class VisibleDetector:
    id = "visible"
    name = "visible labels: OCR of captions in images and video, audio voice/rhythm prompts"
    media_kinds = frozenset({"image", "video", "audio"})
    cost = "expensive"
    codes = ("visible.caption", "visible.partial", "visible.voice_prompt", "visible.rhythm_prompt")

    def detect(self, asset: Asset, options: DetectOptions) -> list[Finding]:
        fmt = asset.format
        if fmt in IMAGE_FORMATS:
            return _image_findings(self.id, asset, options)
        if fmt in VIDEO_FORMATS and asset.media_kind == "video":
            if asset.data is not None:
                from synthlabel.label.video import has_video

                try:
                    if not has_video(asset.data, fmt):
                        return _audio_findings(self.id, asset, options)
                except SynthlabelError:
                    return []
            out = _video_findings(self.id, asset, options)
            return out + _video_audio_findings(self.id, asset, options, out)
        if fmt in AUDIO_FORMATS or asset.media_kind == "audio":
            return _audio_findings(self.id, asset, options)
        return []


# ---------------------------------------------------------------------------------------------
# Text notices (cheap)


class _VisibleText(HTMLParser):
    _HIDDEN = frozenset({"script", "style", "head", "title", "template", "noscript"})
    _BLOCK = frozenset({"p", "div", "br", "li", "h1", "h2", "h3", "h4", "h5", "h6", "tr"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._HIDDEN:
            self.hidden += 1
        if tag in self._BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._HIDDEN and self.hidden:
            self.hidden -= 1
        if tag in self._BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(data)


def _html_text(source: str) -> str:
    p = _VisibleText()
    try:
        p.feed(source)
        p.close()
    except (AssertionError, ValueError):
        pass
    return "".join(p.parts)


def _docx_text(data: bytes) -> list[tuple[str, str]]:
    """(where, text): the page headers and the body of a DOCX file."""
    out: list[tuple[str, str]] = []
    try:
        from synthlabel.label.document import docx_header_texts

        for part, text in docx_header_texts(data).items():
            out.append((f"page header ({part})", text))
    except SynthlabelError:
        pass
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            info = z.getinfo("word/document.xml")
            if info.file_size > MAX_TEXT_BYTES:
                return out
            xml = z.read(info).decode("utf-8", "replace")
    except (zipfile.BadZipFile, KeyError, OSError, RuntimeError, ValueError):
        return out
    paras = []
    for p in re.split(r"</w:p>", xml):
        runs = re.findall(r"<w:t(?:\s[^>]*)?>([^<]*)</w:t>", p)
        if runs:
            paras.append(html.unescape("".join(runs)))
    out.append(("body", "\n".join(paras)))
    return out


def _pdf_strings(raw: bytes) -> list[str]:
    texts = []
    for m in re.finditer(rb"/ActualText\s*<([0-9A-Fa-f\s]+)>", raw):
        hexs = re.sub(rb"\s", b"", m.group(1))
        try:
            b = bytes.fromhex(hexs.decode())
        except ValueError:
            continue
        if b.startswith(b"\xfe\xff"):
            texts.append(b[2:].decode("utf-16-be", "replace"))
        else:
            texts.append(b.decode("latin-1"))
    return texts


def _pdf_text(data: bytes, path: Path | None) -> list[tuple[str, str]]:
    """The first and last page's ``/ActualText`` and shown text, decoded in process
    (``_pdftext``); ``pdftotext`` only for a page whose fonts that cannot decode, or a file
    pikepdf cannot open."""
    out: list[tuple[str, str]] = []
    layer: list[str] = []
    complete = False
    try:
        import pikepdf

        from synthlabel.detect import _pdftext

        with pikepdf.open(io.BytesIO(data)) as pdf:
            n = len(pdf.pages)
            complete = True
            for idx in sorted({0, n - 1}) if n else ():
                page = pdf.pages[idx]
                contents = page.obj.get("/Contents")
                streams = list(contents) if isinstance(contents, pikepdf.Array) else [contents]
                raw = b""
                for s in streams[:64]:
                    if s is None:
                        continue
                    try:
                        raw += s.read_bytes()[:MAX_TEXT_BYTES]
                    except Exception:
                        continue
                for t in _pdf_strings(raw):
                    out.append((f"page {idx + 1} (ActualText)", t))
                text, ok = _pdftext.page_text(page)
                layer.append(text)
                complete = complete and ok
    except Exception:
        complete = False
    if complete:
        text = "\n".join(t for t in layer if t.strip())
        if text:
            out.append(("text layer", text[:MAX_TEXT_BYTES]))
        return out
    text_layer = _pdftotext(data, path)
    if text_layer is not None:
        out.append(("text layer", text_layer))
    return out


def _pdftotext(data: bytes, path: Path | None) -> str | None:
    tool = shutil.which("pdftotext")
    if not tool:
        return None
    with tempfile.TemporaryDirectory(prefix="synthlabel-pdf-") as tmp:
        src = path if path is not None else Path(tmp) / "in.pdf"
        if path is None:
            src.write_bytes(data)
        try:
            proc = subprocess.run(
                [tool, "-q", "-enc", "UTF-8", str(src), "-"],
                capture_output=True,
                timeout=15,
                check=False,
                stdin=subprocess.DEVNULL,
            )
        except (subprocess.TimeoutExpired, OSError):
            return None
    if proc.returncode != 0:
        return None
    return proc.stdout[:MAX_TEXT_BYTES].decode("utf-8", "replace")


def _texts(asset: Asset) -> list[tuple[str, str]]:
    data = asset.data
    if data is None:
        return []
    fmt = asset.format
    if fmt in ("text", "markdown"):
        text = data[:MAX_TEXT_BYTES].decode("utf-8", "replace")
        if fmt == "markdown":
            from synthlabel.label.text import split_front_matter

            text = split_front_matter(text)[1]
        return [("text", text)]
    if fmt == "html":
        return [("visible text", _html_text(data[:MAX_TEXT_BYTES].decode("utf-8", "replace")))]
    if fmt == "pdf":
        return _pdf_text(data, asset.file)
    if fmt == "ooxml":
        return _docx_text(data)
    return []


@dataclass(frozen=True)
class Notice:
    text: str
    position: str  # start / end / middle
    where: str
    english_only: bool


def find_notices(where: str, text: str) -> list[Notice]:
    """Notices with both elements in ``text``: the first/last 64 characters after trimming,
    else a short line (<= 120 characters) anywhere (a middle position)."""
    t = text.lstrip("\ufeff").strip()
    if not t:
        return []
    out: list[Notice] = []
    for pos, window in (("start", t[:WINDOW]), ("end", t[-WINDOW:])):
        el = _ocr.elements(window)
        if el.both and not (pos == "end" and len(t) <= WINDOW and out):
            out.append(Notice(window.strip(), pos, where, el.generation_en))
    if not out:
        for line in t.splitlines():
            s = line.strip()
            if 0 < len(s) <= 120:
                el = _ocr.elements(s)
                if el.both:
                    out.append(Notice(s, "middle", where, el.generation_en))
                    break
    return out


class VisibleTextDetector:
    id = "visible-text"
    name = "visible labels: notices in text, Markdown, HTML, PDF and DOCX"
    media_kinds = frozenset({"text", "document"})
    cost = "cheap"
    codes = ("visible.notice",)

    def detect(self, asset: Asset, options: DetectOptions) -> list[Finding]:
        out = []
        for where, text in _texts(asset):
            for n in find_notices(where, text):
                note = (
                    "; English-only wording (GB 45438 names the Chinese elements)"
                    if n.english_only
                    else ""
                )
                out.append(
                    Finding(
                        self.id,
                        "visible.notice",
                        f"notice {n.text[:60]!r} at the {n.position} ({n.where}){note}",
                        Strength.MODERATE,
                        f"{n.where}, {n.position}",
                        SOURCE_TEXT,
                        details={
                            "text": n.text,
                            "location": n.position,
                            "where": n.where,
                            "english_only": n.english_only,
                        },
                    )
                )
        return out[:MAX_FINDINGS]


DETECTOR = VisibleDetector()
TEXT_DETECTOR = VisibleTextDetector()
