"""The conformance checks: a registry from a check id to the function that measures one file.

A profile (YAML, :mod:`synthlabel.assess._profile`) is data only: each of its rules names a
check registered here, its severity, the media kinds it applies to and its parameters. A new
check is one function and one :func:`register_check` call::

    @register_check("acme.filename", kinds={"image"}, params={"prefix": Param("str", "ai-")})
    def filename(ctx: FileContext, params: Mapping[str, Any]) -> Outcome:
        name = Path(ctx.path).name
        if name.startswith(params["prefix"]):
            return passed(f"name starts with {params['prefix']!r}", measured=name)
        return failed(f"name {name!r} lacks the prefix", measured=name,
                      expected=f"starts with {params['prefix']!r}")

Checks measure what the detectors saw (OCR boxes, audio prompt hits, the parsed AIGC record,
signature states, watermark detections) and say what they measured, what was expected and why
it passes or fails. A check never raises for bad content: a problem it cannot judge is an
``error`` outcome, and ``not-applicable`` says why the rule does not concern this file.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from synthlabel.detect._ocr import Box, TextBox, elements
from synthlabel.detect.visible import OcrResult
from synthlabel.errors import ProviderCodeError, SynthlabelError
from synthlabel.model.findings import Finding
from synthlabel.model.provider_code import classify, mask_personal, validate
from synthlabel.model.results import (
    BindingStatus,
    InspectionReport,
    RecordReport,
    SignatureStatus,
)

Status = Literal["pass", "fail", "not-applicable", "error"]
STATUSES: tuple[Status, ...] = ("pass", "fail", "not-applicable", "error")
KINDS = ("image", "video", "audio", "text", "document")
ParamType = Literal["float", "int", "bool", "str", "list"]

#: Positions a caption may be required at: a class (corner, edge, inside, anywhere) or a side.
POSITION_CHOICES = (
    "corner",
    "edge",
    "inside",
    "anywhere",
    "top",
    "bottom",
    "left",
    "right",
    "top-left",
    "top-right",
    "bottom-left",
    "bottom-right",
)
#: IPTC DigitalSourceType terms that say "made or edited by a trained model".
AI_SOURCE_TYPES = ("trainedAlgorithmicMedia", "compositeWithTrainedAlgorithmicMedia")


@dataclass(frozen=True)
class Param:
    """A check parameter: its type, default and allowed values (checked when a profile loads)."""

    type: ParamType
    default: Any
    help: str = ""
    choices: tuple[str, ...] | None = None  # for "str", and for the items of "list"
    min: float | None = None
    max: float | None = None


@dataclass(frozen=True)
class Outcome:
    """What a check found for one file."""

    status: Status
    message: str
    measured: Any = None  # a JSON value: number, string, list
    expected: Any = None
    details: dict[str, Any] = field(default_factory=dict)


def passed(message: str, measured: Any = None, expected: Any = None, **details: Any) -> Outcome:
    return Outcome("pass", message, measured, expected, details)


def failed(message: str, measured: Any = None, expected: Any = None, **details: Any) -> Outcome:
    return Outcome("fail", message, measured, expected, details)


def not_applicable(message: str) -> Outcome:
    return Outcome("not-applicable", message)


def check_error(message: str) -> Outcome:
    return Outcome("error", message)


@dataclass
class FileContext:
    """Everything known about one file when the checks run.

    ``findings``: every detector finding; ``ocr``: the OCR of a picture (lines in the upright
    picture's pixels) and ``image`` those pixels, when the ``visible`` detector ran on an
    image; ``watermarks``: the watermark detections (None: not looked for);
    ``detector_errors`` / ``detector_skipped``: detectors that failed or were stopped (a check
    relying on one says so); ``memo``: what one check computed for the others (captions)."""

    path: str
    kind: str
    format: str
    report: InspectionReport
    findings: list[Finding] = field(default_factory=list)
    ocr: OcrResult | None = None
    image: npt.NDArray[np.uint8] | None = None
    watermarks: list[dict[str, Any]] | None = None
    detector_errors: dict[str, str] = field(default_factory=dict)
    detector_skipped: dict[str, str] = field(default_factory=dict)
    file: Path | None = None
    ocr_threads: int = 1
    memo: dict[str, Any] = field(default_factory=dict)

    def of(self, *codes: str) -> list[Finding]:
        return [f for f in self.findings if f.code in codes]

    def detector_problem(self, detector: str) -> str | None:
        """Why ``detector`` gave no usable answer (failed or stopped), or None."""
        if detector in self.detector_errors:
            return f"detector {detector} failed: {self.detector_errors[detector]}"
        if detector in self.detector_skipped:
            return f"detector {detector} did not run: {self.detector_skipped[detector]}"
        return None


CheckFn = Callable[[FileContext, Mapping[str, Any]], Outcome]


@dataclass(frozen=True)
class CheckSpec:
    id: str
    fn: CheckFn
    kinds: frozenset[str]
    params: Mapping[str, Param]
    needs: Callable[[Mapping[str, Any]], frozenset[str]]
    summary: str = ""


CHECKS: dict[str, CheckSpec] = {}


def register_check(
    check_id: str,
    *,
    kinds: set[str] | frozenset[str] | tuple[str, ...] = KINDS,
    params: Mapping[str, Param] | None = None,
    needs: frozenset[str] | Callable[[Mapping[str, Any]], frozenset[str]] = frozenset(),
    summary: str = "",
) -> Callable[[CheckFn], CheckFn]:
    """Register ``fn`` as the check ``check_id``.

    ``kinds``: media kinds it can judge (a profile may narrow them); ``params``: its
    parameters (a profile may set them; anything else is refused when the profile loads);
    ``needs``: detector ids it reads findings from (``visible`` = OCR and audio prompts,
    ``visible-text``, ``watermark``; ``c2pa`` = validate C2PA manifests), or a function of the
    rule's parameters giving them. Registering an existing id replaces it."""
    bad = set(kinds) - set(KINDS)
    if bad:
        raise ValueError(f"unknown media kind(s) {sorted(bad)} (known: {', '.join(KINDS)})")

    def deco(fn: CheckFn) -> CheckFn:
        need_fn = needs if callable(needs) else (lambda _p, n=frozenset(needs): n)
        CHECKS[check_id] = CheckSpec(
            check_id,
            fn,
            frozenset(kinds),
            dict(params or {}),
            need_fn,
            summary or (fn.__doc__ or "").strip().split("\n")[0],
        )
        return fn

    return deco


# ---------------------------------------------------------------------------------------------
# Explicit labels: captions (images, video)

#: A video caption first found this late or earlier is timed from the start (frames at 4/s).
LOCATE_MAX_S = 30.0


@dataclass(frozen=True)
class Caption:
    """A caption candidate as the OCR saw it, in the pixels of its picture or video frame,
    with the ink height the detector measured (:func:`synthlabel.detect._ocr.ink_height`)."""

    text: str
    box: Box
    size: tuple[int, int]  # (width, height) of the picture or frame the box is in
    height_px: int | None  # ink height: the smallest of its lines'
    frame_time: float | None  # None for a still picture
    both: bool  # has both elements
    position: str  # corner / edge / inside, with the detector's 10 % band

    @property
    def short_side(self) -> int:
        return min(self.size)


@dataclass
class Captions:
    """The captions of a file: with both elements, with one only, and how they were read."""

    full: list[Caption]
    partial: list[Caption]
    read: str  # what was OCR'd, for messages
    error: str | None = None


def _from_lines(
    rgb: npt.NDArray[np.uint8], lines: list[TextBox], frame_time: float | None
) -> list[Caption]:
    from synthlabel.detect.visible import analyse_captions

    h, w = rgb.shape[:2]
    out = []
    for c in analyse_captions(rgb, lines):
        out.append(
            Caption(
                c.text,
                c.box,
                (w, h),
                c.height_px,
                frame_time,
                c.both,
                c.position,
            )
        )
    return out


def _is_partial(c: Caption) -> bool:
    """One element only, caption-like: short, on an edge or corner (``即梦AI``)."""
    return not c.both and c.position != "inside" and len(c.text) <= 16


def captions(ctx: FileContext) -> Captions:
    """The file's captions, computed once: an image's from the ``visible`` detector's OCR; a
    video's from the frames at 0 s and 1 s, and when neither shows one, from frames every
    ``max(2 s, duration / 8)`` up to :data:`LOCATE_MAX_S` (a caption that comes up late)."""
    if "captions" in ctx.memo:
        found: Captions = ctx.memo["captions"]
        return found
    try:
        result = _video_captions(ctx) if ctx.kind == "video" else _image_captions(ctx)
    except SynthlabelError as exc:
        result = Captions([], [], "", error=str(exc))
    ctx.memo["captions"] = result
    return result


def _image_captions(ctx: FileContext) -> Captions:
    problem = ctx.detector_problem("visible")
    if problem is not None:
        return Captions([], [], "", error=problem)
    if ctx.ocr is None or ctx.image is None or not ctx.ocr.frames:
        return Captions([], [], "", error="OCR did not run: the picture could not be decoded")
    caps = _from_lines(ctx.image, ctx.ocr.frames[0][2], None)
    return Captions([c for c in caps if c.both], [c for c in caps if _is_partial(c)], "the picture")


def _video_captions(ctx: FileContext) -> Captions:
    from synthlabel.detect import _ocr
    from synthlabel.detect._frames import frame_at, video_geometry

    if ctx.file is None:
        return Captions([], [], "", error="the video is not on disk: its frames cannot be read")
    size, duration = video_geometry(ctx.file, ctx.format)
    full: list[Caption] = []
    partial: list[Caption] = []
    times = [0.0, 1.0]
    if duration is not None:
        times = [t for t in times if t < duration] or [0.0]
    read: list[float] = []

    def read_at(t: float) -> None:
        assert ctx.file is not None
        rgb = frame_at(ctx.file, ctx.format, t, size)
        if rgb is None:
            return
        read.append(t)
        for c in _from_lines(rgb, _ocr.ocr_image(rgb, threads=ctx.ocr_threads), t):
            seen = full if c.both else partial
            new = not any(_ocr._iou(c.box, o.box) > 0.3 for o in seen)
            if new and (c.both or _is_partial(c)):
                seen.append(c)

    for t in times:
        read_at(t)
    if not full and duration is not None:
        step = max(2.0, duration / 8)
        t = 2.0
        while t < min(duration - 0.05, LOCATE_MAX_S) and not full:
            read_at(t)
            t += step
    shown = ", ".join(f"{t:g}" for t in read) or "none"
    return Captions(full, partial, f"frames at {shown} s")


def _where(c: Caption) -> str:
    return "" if c.frame_time is None else f" (frame at {c.frame_time:.2f} s)"


def pct(ratio: float) -> str:
    """0.05 -> "5.0 %"."""
    return f"{ratio * 100:.1f} %"


@register_check(
    "explicit.caption.present",
    kinds={"image", "video"},
    needs=frozenset({"visible"}),
    summary="a caption with both elements (AI/人工智能 + 生成/合成) in the pixels",
)
def caption_present(ctx: FileContext, params: Mapping[str, Any]) -> Outcome:
    caps = captions(ctx)
    expected = "a caption with both elements"
    if caps.full:
        c = caps.full[0]
        return passed(
            f"caption {c.text!r} found by OCR{_where(c)}",
            measured=c.text,
            expected=expected,
            captions=[x.text for x in caps.full],
        )
    if caps.error is not None:
        return check_error(caps.error)
    if caps.partial:
        text = caps.partial[0].text
        missing = " and ".join(elements(text).missing())
        return failed(
            f"caption {text!r}{_where(caps.partial[0])} has only one element: "
            f"the {missing} is missing",
            measured=text,
            expected=expected,
        )
    return failed(
        f"no caption with both elements (AI/人工智能 and 生成/合成) found by OCR of {caps.read}",
        measured=None,
        expected=expected,
    )


def _no_caption(caps: Captions, what: str) -> Outcome:
    if caps.error is not None:
        return check_error(caps.error)
    return not_applicable(f"no caption to {what}")


@register_check(
    "explicit.caption.size",
    kinds={"image", "video"},
    needs=frozenset({"visible"}),
    params={
        "min_ratio": Param(
            "float", 0.05, "text (ink) height / short side of the picture", min=0.001, max=0.5
        ),
        "tolerance": Param(
            "float",
            0.06,
            "fraction of the required height a measurement may fall short (anti-aliasing)",
            min=0.0,
            max=0.5,
        ),
    },
    summary="caption text (ink) height >= min_ratio of the picture's short side",
)
def caption_size(ctx: FileContext, params: Mapping[str, Any]) -> Outcome:
    caps = captions(ctx)
    if not caps.full:
        return _no_caption(caps, "measure")
    ratio = float(params["min_ratio"])
    measured = [c for c in caps.full if c.height_px is not None]
    if not measured:
        return check_error(
            f"the ink height of caption {caps.full[0].text!r} could not be measured "
            "(too little contrast)"
        )
    if ctx.kind == "video":  # judge the caption that comes first, not a bigger later one
        first = min(c.frame_time or 0.0 for c in measured)
        measured = [c for c in measured if (c.frame_time or 0.0) == first]
    best = max(measured, key=lambda c: (c.height_px or 0) / c.short_side)
    assert best.height_px is not None
    short = best.short_side
    need = math.ceil(ratio * short - 1e-9)
    tol = max(1, round(float(params["tolerance"]) * need))
    got = best.height_px / short
    facts = {
        "text": best.text,
        "height_px": best.height_px,
        "short_side_px": short,
        "required_px": need,
        "tolerance_px": tol,
        "frame_time": best.frame_time,
    }
    expected = f">= {pct(ratio)} of the short side ({need} px)"
    what = f"text height {best.height_px} px = {pct(got)} of the {short} px short side"
    if best.height_px >= need - tol:
        return passed(what + _where(best), round(got, 4), expected, **facts)
    return failed(
        f"{what}{_where(best)}; needs >= {pct(ratio)} ({need} px)",
        round(got, 4),
        expected,
        **facts,
    )


def classify_position(box: Box, size: tuple[int, int], band: float) -> tuple[str, str]:
    """("corner" | "edge" | "inside", side): the box touches the edge band of the picture when
    it lies within ``band`` × width of the left/right border or ``band`` × height of the
    top/bottom border; touching a vertical and a horizontal band is a corner."""
    x0, y0, x1, y1 = box
    w, h = size
    left, right = x0 <= band * w, w - x1 <= band * w
    top, bottom = y0 <= band * h, h - y1 <= band * h
    v = "top" if top and not bottom else "bottom" if bottom and not top else ""
    hz = "left" if left and not right else "right" if right and not left else ""
    if v and hz:
        return "corner", f"{v}-{hz}"
    if v or hz:
        return "edge", v or hz
    return "inside", "middle"


def _position_ok(cls: str, side: str, allowed: list[str]) -> bool:
    if "anywhere" in allowed or cls in allowed or side in allowed:
        return True
    # a corner is on two edges: "bottom" admits bottom-left and bottom-right
    return cls == "corner" and any(part in allowed for part in side.split("-"))


@register_check(
    "explicit.caption.position",
    kinds={"image", "video"},
    needs=frozenset({"visible"}),
    params={
        "positions": Param(
            "list",
            ["edge", "corner"],
            "where the caption may be: corner, edge, inside, anywhere or a side",
            choices=POSITION_CHOICES,
        ),
        "edge_band": Param(
            "float", 0.10, "width of the edge band, as a fraction of the side", min=0.0, max=0.5
        ),
    },
    summary="caption on an edge or corner (its box touches the edge band)",
)
def caption_position(ctx: FileContext, params: Mapping[str, Any]) -> Outcome:
    caps = captions(ctx)
    if not caps.full:
        return _no_caption(caps, "locate")
    band = float(params["edge_band"])
    allowed = list(params["positions"])
    placed = [(c, *classify_position(c.box, c.size, band)) for c in caps.full]
    expected = f"{' or '.join(allowed)} (edge band {band * 100:g} %)"
    for c, cls, side in placed:
        if _position_ok(cls, side, allowed):
            return passed(
                f"caption {c.text!r} at {side} ({cls}){_where(c)}",
                side,
                expected,
                box=list(c.box),
                size=list(c.size),
                position=cls,
            )
    c, cls, side = placed[0]
    x0, y0, x1, y1 = c.box
    w, h = c.size
    gaps = f"{x0} px from the left, {w - x1} right, {y0} top, {h - y1} bottom of {w}×{h}"
    return failed(
        f"caption {c.text!r} at {side} ({cls}){_where(c)}: {gaps}; band {band * 100:g} %",
        side,
        expected,
        box=list(c.box),
        size=list(c.size),
        position=cls,
    )


@register_check(
    "explicit.video.opening",
    kinds={"video"},
    needs=frozenset({"visible"}),
    params={
        "min_seconds": Param(
            "float", 2.0, "the caption shows at least this long from the start", min=0.1, max=30
        ),
        "max_start_seconds": Param(
            "float",
            0.25,
            "the caption appears no later than this (at least 1/sample_fps)",
            min=0.0,
            max=5.0,
        ),
        "sample_fps": Param("float", 10.0, "frames read per second", min=1.0, max=30.0),
    },
    summary="video caption on the opening frames, shown >= min_seconds",
)
def video_opening(ctx: FileContext, params: Mapping[str, Any]) -> Outcome:
    from synthlabel.assess._video import caption_run

    caps = captions(ctx)
    if not caps.full:
        return _no_caption(caps, "time")
    assert ctx.file is not None  # the captions were read from it
    need = float(params["min_seconds"])
    start_max = float(params["max_start_seconds"])
    fps = float(params["sample_fps"])
    expected = f"from <= {start_max:g} s, shown >= {need:g} s"
    c = min(caps.full, key=lambda x: x.frame_time or 0.0)
    seen = c.frame_time or 0.0
    window = need + 0.5
    if seen >= window:
        # found late: read its place from the start (4 frames/s) to say when it comes up
        located = caption_run(ctx.file, ctx.format, c.box, c.size, seconds=seen + 0.3, fps=4)
        when = (
            f"appears at about {located.first_seen_s:.2f} s (frames read at 4/s)"
            if located.first_seen_s is not None
            else f"first read at {seen:.2f} s"
        )
        return failed(
            f"no caption on the opening frames: caption {c.text!r} {when}",
            0.0,
            expected,
            **located.to_dict(),
        )
    run = caption_run(ctx.file, ctx.format, c.box, c.size, seconds=window, fps=fps)
    facts = run.to_dict()
    if run.first_seen_s is None:
        return failed(
            f"caption {c.text!r} (read at {seen:.2f} s) is not read again in the first "
            f"{run.sampled_s:.2f} s",
            0.0,
            expected,
            **facts,
        )
    shown = (
        f"caption {c.text!r} shown from {run.first_seen_s:.2f} s for {run.shown_s:.2f} s "
        f"(frames read at {run.fps:g}/s)"
    )
    problems = []
    if run.first_seen_s > start_max + 1e-6:
        problems.append(f"it appears at {run.first_seen_s:.2f} s, after {start_max:g} s")
    whole = run.until_end and run.first_seen_s <= start_max + 1e-6
    if run.shown_s + 1e-6 < need and not whole:
        problems.append(f"shown {run.shown_s:.2f} s < {need:g} s")
    if problems:
        return failed(shown + ": " + "; ".join(problems), run.shown_s, expected, **facts)
    if whole and run.shown_s + 1e-6 < need:
        shown += f", the whole {run.duration_s or run.shown_s:.2f} s clip"
    return passed(shown, run.shown_s, expected, **facts)


# ---------------------------------------------------------------------------------------------
# Explicit labels: audio prompts, text notices


@register_check(
    "explicit.audio.prompt",
    kinds={"audio"},
    needs=frozenset({"visible"}),
    params={
        "kinds": Param(
            "list", ["voice", "rhythm"], "accepted prompts", choices=("voice", "rhythm")
        ),
        "positions": Param(
            "list", ["start", "end"], "where the prompt may be", choices=("start", "end")
        ),
    },
    summary="a voice or rhythm (short-long-short-short) prompt at the start or end",
)
def audio_prompt(ctx: FileContext, params: Mapping[str, Any]) -> Outcome:
    kinds = list(params["kinds"])
    positions = list(params["positions"])
    hits = []
    for f in ctx.of("visible.voice_prompt", "visible.rhythm_prompt"):
        kind = "voice" if f.code == "visible.voice_prompt" else "rhythm"
        where = str(f.details.get("location", ""))
        onset = f.details.get("onset_s")
        hits.append((kind, where, onset, f))
    expected = f"{' or '.join(kinds)} prompt at the {' or '.join(positions)}"
    measured = [f"{k} at {w} ({o:.2f} s)" for k, w, o, _ in hits if isinstance(o, int | float)]
    ok = [h for h in hits if h[0] in kinds and h[1] in positions]
    if ok:
        k, w, o, f = ok[0]
        said = f" {f.details['text']!r}" if k == "voice" and f.details.get("text") else ""
        return passed(
            f"{k} prompt{said} at the {w}, {o:.2f} s", measured=measured, expected=expected
        )
    problem = ctx.detector_problem("visible")
    if problem is not None:
        return check_error(problem)
    if hits:
        return failed(
            f"prompt found ({', '.join(measured)}) but not as required", measured, expected
        )
    return failed(
        "no voice or rhythm prompt found in the first or last 12 s (voice prompts are recognised "
        "in synthesized speech of known wording only)",
        measured=[],
        expected=expected,
    )


@register_check(
    "explicit.text.notice",
    kinds={"text", "document"},
    needs=frozenset({"visible-text"}),
    params={
        "positions": Param(
            "list",
            ["start", "end", "middle"],
            "where the notice may be (start/end: the first/last 64 characters)",
            choices=("start", "end", "middle"),
        ),
        "chinese_required": Param(
            "bool", True, "an English-only notice ('AI-generated') does not count"
        ),
    },
    summary="a notice with both elements at the start or end of the text",
)
def text_notice(ctx: FileContext, params: Mapping[str, Any]) -> Outcome:
    positions = list(params["positions"])
    notices = ctx.of("visible.notice")
    expected = f"a notice at the {' or '.join(positions)}"
    measured = [f"{n.details.get('location')} ({n.details.get('where')})" for n in notices]
    english = []
    for n in notices:
        d = n.details
        if d.get("location") not in positions:
            continue
        if params["chinese_required"] and d.get("english_only"):
            english.append(n)
            continue
        text = str(d.get("text", "")).strip().splitlines()[0][:60] if d.get("text") else ""
        return passed(
            f"notice {text!r} at the {d.get('location')} ({d.get('where')})",
            measured=measured,
            expected=expected,
        )
    problem = ctx.detector_problem("visible-text")
    if problem is not None:
        return check_error(problem)
    if english:
        return failed(
            "only an English notice: GB 45438 names the Chinese elements (人工智能/AI + 生成/合成)",
            measured=measured,
            expected=expected,
        )
    if notices:
        return failed(f"notice only at the {', '.join(measured)}", measured, expected)
    return failed(
        "no notice with both elements (人工智能/AI and 生成/合成) in the text",
        measured=[],
        expected=expected,
    )


@register_check(
    "explicit.any",
    kinds=KINDS,
    needs=lambda p: frozenset({"visible", "visible-text"}) if p.get("deepfake") else frozenset(),
    params={
        "deepfake": Param(
            "bool", False, "the content is a deep fake (EU AI Act Art. 50(4)): disclosure needed"
        )
    },
    summary="any explicit label (caption, notice, voice or rhythm prompt), for deep fakes",
)
def any_explicit(ctx: FileContext, params: Mapping[str, Any]) -> Outcome:
    if not params["deepfake"]:
        return not_applicable(
            "visible disclosure is required for deep fakes only (set deepfake: true)"
        )
    if ctx.kind in ("image", "video"):
        caps = captions(ctx)
        if caps.full:
            return passed(f"caption {caps.full[0].text!r}", measured="caption")
        if caps.error is not None:
            return check_error(caps.error)
        return failed(f"no caption found by OCR of {caps.read}", measured=None)
    codes = ("visible.notice", "visible.voice_prompt", "visible.rhythm_prompt")
    found = ctx.of(*codes)
    if found:
        return passed(found[0].summary, measured=sorted({f.code for f in found}))
    for det in ("visible", "visible-text"):
        problem = ctx.detector_problem(det)
        if problem is not None:
            return check_error(problem)
    return failed("no visible disclosure (caption, notice or audio prompt) found", measured=[])


# ---------------------------------------------------------------------------------------------
# Implicit label: the AIGC record


def _records(ctx: FileContext) -> list[RecordReport]:
    return list(ctx.report.records)


@register_check(
    "implicit.record.present",
    params={
        "plain_text_sidecar": Param(
            "bool",
            False,
            "plain text has no metadata carrier: require the .aigc.json sidecar (else N/A)",
        )
    },
    summary="an AIGC file-metadata record is present",
)
def record_present(ctx: FileContext, params: Mapping[str, Any]) -> Outcome:
    recs = _records(ctx)
    if recs:
        r = recs[0]
        return passed(
            f"AIGC record in {r.location} ({r.carrier})",
            measured=f"{r.location} ({r.carrier})",
            expected="an AIGC record",
        )
    if ctx.format == "text" and not params["plain_text_sidecar"]:
        return not_applicable("plain text has no metadata carrier (GB 45438 names none)")
    return failed("no AIGC record in the file metadata", measured=None, expected="an AIGC record")


@register_check("implicit.record.single", summary="only one AIGC record in the file (§6.1 c)")
def record_single(ctx: FileContext, params: Mapping[str, Any]) -> Outcome:
    recs = _records(ctx)
    if not recs:
        return not_applicable("no record")
    where = [f"{r.location} ({r.carrier})" for r in recs]
    if len(recs) == 1:
        return passed("one record", measured=1, expected=1)
    return failed(f"{len(recs)} records: {'; '.join(where)}", measured=len(recs), expected=1)


@register_check(
    "implicit.record.valid",
    params={
        "labels": Param(
            "list", ["1"], "accepted Label values (1 AI, 2 possibly, 3 suspected)", ("1", "2", "3")
        )
    },
    summary="the record parses, follows Annex E and has an accepted Label value",
)
def record_valid(ctx: FileContext, params: Mapping[str, Any]) -> Outcome:
    recs = _records(ctx)
    if not recs:
        return not_applicable("no record")
    r = recs[0]
    labels = list(params["labels"])
    expected = f"Annex E record, Label {' or '.join(labels)}"
    if r.record is None:
        why = "; ".join(r.errors[:3]) or "unreadable"
        return failed(f"record does not parse: {why}", measured=None, expected=expected)
    # signature problems are the signature and binding rules' business, not Annex E's
    problems = [e for e in r.errors if not e.startswith(("producer signature", "propagator sig"))]
    if r.record.label not in labels:
        problems.append(f"Label is {r.record.label!r}, not {' or '.join(map(repr, labels))}")
    if problems:
        return failed("; ".join(problems[:3]), measured=r.record.label, expected=expected)
    note = f" ({'; '.join(r.warnings[:2])})" if r.warnings else ""
    return passed(
        f"Label {r.record.label!r}, all seven keys{note}",
        measured=r.record.label,
        expected=expected,
    )


@register_check(
    "implicit.provider_code",
    params={
        "allow_names": Param(
            "bool", False, "accept a provider name (doubao) instead of a 27-character code"
        ),
        "role_must_match": Param(
            "bool", False, "fail when the service-type digit contradicts the role (1 for producers)"
        ),
    },
    summary="ContentProducer is a well-formed provider code (TC260-PG-20252A)",
)
def provider_code(ctx: FileContext, params: Mapping[str, Any]) -> Outcome:
    recs = [r for r in _records(ctx) if r.record is not None]
    if not recs:
        return not_applicable("no parsed record")
    rec = recs[0].record
    assert rec is not None
    checks = [("ContentProducer", rec.content_producer, "producer")]
    if rec.content_propagator:
        checks.append(("ContentPropagator", rec.content_propagator, "propagator"))
    expected = "27-character provider code (TC260-PG-20252A)"
    notes = []
    for key, value, role in checks:
        shown = mask_personal(value)
        if not value:
            return failed(f"{key} is empty", measured="", expected=expected)
        if classify(value) == "name":
            if params["allow_names"]:
                notes.append(f"{key} {value!r} is a name")
                continue
            return failed(
                f"{key} {value!r} is a provider name, not a 27-character provider code",
                measured=value,
                expected=expected,
            )
        try:
            parts = validate(value, role=role)  # type: ignore[arg-type]
        except ProviderCodeError as exc:
            return failed(f"{key} {shown}: {exc.message}", measured=shown, expected=expected)
        mismatch = [w for w in parts.warnings if "used as" in w]
        if mismatch and params["role_must_match"]:
            return failed(f"{key} {shown}: {mismatch[0]}", measured=shown, expected=expected)
        notes += [f"{key}: {w}" for w in parts.warnings]
    producer = mask_personal(rec.content_producer)
    note = f" ({'; '.join(notes)})" if notes else ""
    return passed(
        f"ContentProducer {producer} is well formed{note}", measured=producer, expected=expected
    )


@register_check(
    "implicit.signature",
    params={
        "required": Param("bool", True, "an unsigned record fails (else: not applicable)"),
        "trusted": Param("bool", False, "the signing key must be in the trust file"),
    },
    summary="the producer's signature (ReservedCode1) is valid (TC260-PG-202511A)",
)
def signature(ctx: FileContext, params: Mapping[str, Any]) -> Outcome:
    recs = [r for r in _records(ctx) if r.record is not None]
    if not recs:
        return not_applicable("no parsed record")
    sig = recs[0].producer_signature
    expected = "valid" + (", trusted key" if params["trusted"] else "")
    if sig is None or sig.status is SignatureStatus.UNSIGNED:
        if not params["required"]:
            return not_applicable("unsigned record (signatures not required)")
        return failed("record is not signed (ReservedCode1 empty)", "unsigned", expected)
    facts = {"algorithm": sig.algorithm, "key_id": sig.key_id, "trusted": sig.trusted}
    if sig.status is not SignatureStatus.VALID:
        return failed(
            f"signature {sig.status.value}: {sig.reason}",
            measured=sig.status.value,
            expected=expected,
            **facts,
        )
    if params["trusted"] and not sig.trusted:
        return failed(
            f"valid {sig.algorithm} signature, but key {sig.key_id} is not in the trust file",
            measured="valid (untrusted)",
            expected=expected,
            **facts,
        )
    who = f", trusted key {sig.trusted_name or sig.key_id}" if sig.trusted else ""
    state = "valid (trusted)" if sig.trusted else "valid"
    return passed(f"{sig.algorithm} signature valid{who}", state, expected, **facts)


@register_check(
    "implicit.binding",
    params={
        "required": Param(
            "bool", False, "a signature without a content binding fails (else: not applicable)"
        )
    },
    summary="the signature is bound to this file's content (label not moved)",
)
def binding(ctx: FileContext, params: Mapping[str, Any]) -> Outcome:
    recs = [r for r in _records(ctx) if r.record is not None]
    sig = recs[0].producer_signature if recs else None
    if sig is None or sig.status is SignatureStatus.UNSIGNED:
        return not_applicable("no signature to bind the record to the content")
    expected = "intact"
    state = sig.binding
    if state is BindingStatus.INTACT:
        return passed(f"content digest matches ({sig.binding_selector})", state.value, expected)
    if state is BindingStatus.BROKEN:
        return failed(
            "content digest differs: the label was moved to other content or the content "
            "changed after signing",
            state.value,
            expected,
        )
    if not params["required"]:
        return not_applicable(f"binding {state.value} (not required)")
    return failed(f"binding {state.value}: {sig.reason}", state.value, expected)


# ---------------------------------------------------------------------------------------------
# Watermarks and machine-readable marking


def _watermark_hits(ctx: FileContext, match_record: bool) -> list[dict[str, Any]]:
    found = [w for w in ctx.watermarks or [] if w.get("present")]
    if match_record:
        found = [w for w in found if w.get("matches_record") is not False]
    return found


@register_check(
    "watermark.present",
    kinds={"image", "video", "audio", "text"},
    needs=frozenset({"watermark"}),
    params={
        "required": Param(
            "bool", False, "fail without a watermark (else: reported, not applicable when absent)"
        ),
        "match_record": Param(
            "bool", True, "the payload must be this file's record's watermark key"
        ),
    },
    summary="a robust watermark is detected (encouraged, LM Art. 5)",
)
def watermark_present(ctx: FileContext, params: Mapping[str, Any]) -> Outcome:
    hits = _watermark_hits(ctx, bool(params["match_record"]))
    if hits:
        w = hits[0]
        link = " (matches the record)" if w.get("matches_record") else ""
        p = w.get("p_value")
        pv = f", p = {p:.1e}" if isinstance(p, int | float) else ""
        return passed(f"{w['algorithm']} watermark{link}{pv}", measured=w["algorithm"])
    problem = ctx.detector_problem("watermark")
    if problem is not None:
        return check_error(problem)
    foreign = [w for w in ctx.watermarks or [] if w.get("present")]
    if foreign:
        return failed(
            f"{foreign[0]['algorithm']} watermark carries another record's key "
            f"({foreign[0].get('payload')})",
            measured=foreign[0]["algorithm"],
            expected="this record's watermark key",
        )
    if not params["required"]:
        return not_applicable("no watermark (optional)")
    looked = ", ".join(str(w.get("algorithm")) for w in ctx.watermarks or []) or "none installed"
    return failed(f"no watermark found (looked for: {looked})", None, "a robust watermark")


def _markers(ctx: FileContext, accept: list[str], match_record: bool) -> list[str]:
    found = []
    if "aigc" in accept and any(
        r.record is not None and r.record.label in ("1", "2", "3") for r in ctx.report.records
    ):
        found.append("aigc")
    c2 = ctx.report.c2pa
    if "c2pa" in accept and c2 is not None and c2.present and c2.ai_claim and c2.trust != "invalid":
        found.append("c2pa")
    if "iptc" in accept and any(
        d.rsplit("/", 1)[-1] in AI_SOURCE_TYPES for d in ctx.report.digital_source_types
    ):
        found.append("iptc")
    if "watermark" in accept and _watermark_hits(ctx, match_record):
        found.append("watermark")
    return found


def _marking_needs(params: Mapping[str, Any]) -> frozenset[str]:
    accept = set(params.get("accept", ()))
    return frozenset(n for n in ("watermark", "c2pa") if n in accept)


@register_check(
    "marking.machine_readable",
    needs=_marking_needs,
    params={
        "accept": Param(
            "list",
            ["aigc", "c2pa", "iptc", "watermark"],
            "marks that count",
            choices=("aigc", "c2pa", "iptc", "watermark"),
        ),
        "min_count": Param("int", 1, "how many different marks are needed", min=1, max=4),
        "match_record": Param("bool", True, "a watermark must carry this file's record key"),
    },
    summary="machine-readable AI marking: AIGC record, C2PA AI claim, IPTC type or watermark",
)
def machine_readable(ctx: FileContext, params: Mapping[str, Any]) -> Outcome:
    accept = list(params["accept"])
    need = int(params["min_count"])
    found = _markers(ctx, accept, bool(params["match_record"]))
    expected = f">= {need} of {', '.join(accept)}"
    if len(found) >= need:
        return passed(f"marked by {', '.join(found)}", measured=found, expected=expected)
    if "watermark" in accept:
        problem = ctx.detector_problem("watermark")
        if problem is not None and len(found) + 1 >= need:
            return check_error(problem)
    have = ", ".join(found) if found else "no machine-readable mark"
    return failed(f"{have}; needs {expected}", measured=found, expected=expected)
