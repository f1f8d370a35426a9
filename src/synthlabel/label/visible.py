"""Explicit (visible) labels for images, GB 45438-2025 §5.2.

The label is a text prompt with the AI element (人工智能/AI) and the generation element
(生成/合成), drawn on an edge or corner of the image. Its text height, measured as the rendered
ink height of the CJK glyphs (rows with at least 50 % coverage), is at least
``ceil(0.05 * short side)`` pixels. A contrast plate (or an outline) keeps it legible on any
background: text against its immediate surround is at least 6:1 (WCAG contrast ratio) whatever
the pixels under a translucent plate are.

:func:`draw_label` is the pure pixel operation (also used for video frames);
:func:`render_visible` decodes a file, labels every frame and re-encodes once, close to the
source quality and with the source metadata (see ``docs/visible-labels.md`` for the per-format
rules).
"""

from __future__ import annotations

import datetime as _dt
import functools
import io
import math
import os
import re
import struct
import unicodedata
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageStat, JpegImagePlugin, UnidentifiedImageError

from synthlabel.errors import LimitExceeded, MalformedInput, SynthlabelError, UnsupportedFormat
from synthlabel.label.fonts import FC_MATCH_ENV, FONT_ENV, FontChoice, load_font, resolve_font

__all__ = [
    "POSITIONS",
    "InvalidLabelOptions",
    "LabelDoesNotFit",
    "LabelLayout",
    "LabelTextError",
    "UnsupportedImageMode",
    "VisibleLabelError",
    "VisibleOptions",
    "VisibleResult",
    "check_label_text",
    "compute_layout",
    "draw_label",
    "label_text_warnings",
    "render_visible",
    "required_text_px",
]

Box = tuple[int, int, int, int]

#: GB 45438 §5.2: text height at least 5 % of the shortest side.
STANDARD_MIN_RATIO = 0.05
POSITIONS = (
    "top-left",
    "top",
    "top-right",
    "left",
    "right",
    "bottom-left",
    "bottom",
    "bottom-right",
)
STYLES = ("plate", "outline")
THEMES = ("auto", "dark", "light")
FORMAT_IDS = ("jpeg", "png", "gif", "webp", "tiff", "heif")
#: Re-encode quality for lossy formats whose source quality cannot be estimated.
DEFAULT_LOSSY_QUALITY = 90
MAX_TEXT_CHARS = 200
MAX_TEXT_LINES = 4


class VisibleLabelError(SynthlabelError):
    """A visible label could not be drawn."""


class InvalidLabelOptions(VisibleLabelError):
    """A :class:`VisibleOptions` value is out of range or unknown."""


class LabelTextError(VisibleLabelError):
    """The label text lacks an element GB 45438 requires (AI element, generation element)."""


class LabelDoesNotFit(VisibleLabelError):
    """The image is too small for the label at the minimum text height."""


class UnsupportedImageMode(VisibleLabelError):
    """The pixel format cannot carry a label (e.g. floating-point images)."""


@dataclass(frozen=True)
class VisibleOptions:
    """How the visible label looks and how the file is re-encoded."""

    text: str = "AI生成"
    position: str = "bottom-right"
    #: Minimum ink height of the CJK glyphs, as a fraction of the short side.
    min_height_ratio: float = STANDARD_MIN_RATIO
    margin_ratio: float = 0.02
    #: ``"plate"``: translucent rounded plate behind the text; ``"outline"``: stroked text.
    style: str = "plate"
    font_path: str | None = None
    #: ``"auto"`` picks dark or light from the pixels under the label; ``"dark"``: dark plate,
    #: white text; ``"light"``: light plate, near-black text.
    theme: str = "auto"
    #: Legibility floor in pixels for small images (applied when the label still fits, never
    #: above a fifth of the short side); the 5 % rule is never relaxed.
    legible_min_px: int = 10
    #: Re-encode quality for lossy targets (WebP lossy, HEIC, AVIF, JPEG-in-TIFF); ``None``:
    #: estimated from the source where possible, else :data:`DEFAULT_LOSSY_QUALITY`.
    quality: int | None = None
    #: Decompression-bomb limits: pixels of one frame, pixels of all frames together.
    max_pixels: int = 200_000_000
    max_total_pixels: int = 500_000_000
    #: Look for system fonts (fontconfig) when the shipped subset lacks characters.
    system_fonts: bool = True
    #: ``False`` allows a ratio below 0.05 and text without both elements (tests, previews).
    strict: bool = True

    def __post_init__(self) -> None:
        if self.position not in POSITIONS:
            raise InvalidLabelOptions(f"position {self.position!r} not one of {POSITIONS}")
        if self.style not in STYLES:
            raise InvalidLabelOptions(f"style {self.style!r} not one of {STYLES}")
        if self.theme not in THEMES:
            raise InvalidLabelOptions(f"theme {self.theme!r} not one of {THEMES}")
        if not 0 < self.min_height_ratio <= 0.5:
            raise InvalidLabelOptions(f"min_height_ratio {self.min_height_ratio} not in (0, 0.5]")
        if self.strict and self.min_height_ratio < STANDARD_MIN_RATIO:
            raise InvalidLabelOptions(
                f"min_height_ratio {self.min_height_ratio} is below the 0.05 GB 45438 requires "
                "(set strict=False only for tests or previews)"
            )
        if not 0 <= self.margin_ratio <= 0.25:
            raise InvalidLabelOptions(f"margin_ratio {self.margin_ratio} not in [0, 0.25]")
        if self.quality is not None and not 1 <= self.quality <= 100:
            raise InvalidLabelOptions(f"quality {self.quality} not in 1..100")
        if self.max_pixels < 1 or self.max_total_pixels < 1 or self.legible_min_px < 0:
            raise InvalidLabelOptions("pixel limits must be positive")
        text = self.text.strip("\n")
        if not text.strip():
            raise InvalidLabelOptions("label text is empty")
        if len(text) > MAX_TEXT_CHARS or text.count("\n") >= MAX_TEXT_LINES:
            raise InvalidLabelOptions(
                f"label text too long (at most {MAX_TEXT_CHARS} characters, {MAX_TEXT_LINES} lines)"
            )


@dataclass(frozen=True)
class VisibleResult:
    """A labelled file and where the label went."""

    data: bytes
    #: Plate (or outline) box ``(x0, y0, x1, y1)`` in displayed coordinates (after EXIF
    #: orientation); equal to :attr:`pixel_box` for upright images.
    box: Box
    #: Measured ink height of the CJK glyphs in pixels (rows with >= 50 % coverage).
    text_px: int
    font: str
    frames: int
    quality_note: str
    #: The same box in stored pixel coordinates.
    pixel_box: Box = (0, 0, 0, 0)
    min_px: int = 0
    font_px: int = 0
    format: str = ""
    warnings: tuple[str, ...] = ()


# ---------------------------------------------------------------------------------------------
# Label text


_EN_GENERATION = re.compile(r"generat(?:ed|ive|ion)|synthe(?:tic|si[sz]ed)", re.IGNORECASE)


def _elements(text: str) -> tuple[bool, bool, bool]:
    t = unicodedata.normalize("NFKC", text)
    has_ai = "人工智能" in t or "AI" in t
    has_gen_zh = "生成" in t or "合成" in t
    has_gen_en = bool(_EN_GENERATION.search(t))
    return has_ai, has_gen_zh, has_gen_en


def check_label_text(text: str) -> list[str]:
    """Problems that make ``text`` non-compliant (empty list: compliant).

    Both elements are required: the AI element (``人工智能`` or ``AI``) and the generation
    element (``生成`` or ``合成``). English-only labels ("AI-generated", "Generated by AI")
    are accepted; :func:`label_text_warnings` then recommends the Chinese elements.
    """
    if not text.strip():
        return ["label text is empty"]
    has_ai, has_gen_zh, has_gen_en = _elements(text)
    problems = []
    if not has_ai:
        problems.append("missing the AI element (人工智能 or AI)")
    if not (has_gen_zh or has_gen_en):
        problems.append("missing the generation element (生成 or 合成)")
    return problems


def label_text_warnings(text: str) -> list[str]:
    """Advice that does not make the text non-compliant."""
    has_ai, has_gen_zh, has_gen_en = _elements(text)
    if has_ai and has_gen_en and not has_gen_zh:
        return [
            "English-only label: GB 45438 names the Chinese elements (人工智能/AI + 生成/合成); "
            "a Chinese wording such as 'AI生成' is recommended"
        ]
    return []


def required_text_px(width: int, height: int, ratio: float = STANDARD_MIN_RATIO) -> int:
    """``ceil(ratio * short side)`` without float noise (0.05 * 1080 is 54, not 55)."""
    return max(1, math.ceil(round(ratio * min(width, height), 6)))


# ---------------------------------------------------------------------------------------------
# Layout


def _measured_glyphs(text: str) -> str:
    """The characters whose ink height is the "text height": CJK if any, else capitals."""
    chars = [c for c in text if not c.isspace()]
    cjk = [
        c
        for c in chars
        if unicodedata.east_asian_width(c) in ("W", "F") and unicodedata.category(c)[0] == "L"
    ]
    if cjk:
        return "".join(dict.fromkeys(cjk))
    caps = [c for c in chars if c.isupper() or c.isdigit()]
    if caps:
        return "".join(dict.fromkeys(caps))
    return "".join(
        dict.fromkeys(c for c in chars if unicodedata.category(c)[0] in "LN")
    ) or "".join(chars)


_HALF_LUT = [0] * 128 + [255] * 128


def _int_box(b: tuple[float, float, float, float]) -> Box:
    return math.floor(b[0]), math.floor(b[1]), math.ceil(b[2]), math.ceil(b[3])


@functools.lru_cache(maxsize=1024)
def _ink_height(path: str, index: int, size: int, glyphs: str) -> int:
    """Rows where the rendered glyphs have >= 50 % coverage (union over one baseline)."""
    font = load_font(path, index, size)
    left, top, right, bottom = _int_box(font.getbbox(glyphs, anchor="ls"))
    canvas = Image.new("L", (max(1, right - left) + 4, max(1, bottom - top) + 4), 0)
    ImageDraw.Draw(canvas).text((2 - left, 2 - top), glyphs, font=font, fill=255, anchor="ls")
    bbox = canvas.point(_HALF_LUT).getbbox()
    return 0 if bbox is None else bbox[3] - bbox[1]


@functools.lru_cache(maxsize=512)
def _font_px_for_ink(path: str, index: int, glyphs: str, target: int) -> tuple[int, int]:
    """Smallest pixel size whose measured ink height reaches ``target``."""
    ref = _ink_height(path, index, 200, glyphs) or 140
    size = max(1, math.ceil(target * 200 / ref))
    ink = _ink_height(path, index, size, glyphs)
    steps = 0
    while ink < target and steps < 400:
        size += 1
        steps += 1
        ink = _ink_height(path, index, size, glyphs)
    while size > 1:
        smaller = _ink_height(path, index, size - 1, glyphs)
        if smaller < target:
            break
        size, ink = size - 1, smaller
    return size, ink


@dataclass(frozen=True)
class LabelLayout:
    """Where and how big the label is drawn in an image of ``image_size``."""

    image_size: tuple[int, int]
    box: Box
    font: FontChoice
    font_px: int
    ink_px: int
    min_px: int
    style: str
    lines: tuple[str, ...]
    #: Baseline-left origin of each line, relative to the box.
    origins: tuple[tuple[int, int], ...]
    stroke_px: int
    radius_px: int
    margin_px: int
    notes: tuple[str, ...] = field(default=(), compare=False)

    @property
    def size(self) -> tuple[int, int]:
        return self.box[2] - self.box[0], self.box[3] - self.box[1]


@dataclass(frozen=True)
class _Geometry:
    font_px: int
    ink_px: int
    width: int
    height: int
    origins: tuple[tuple[int, int], ...]
    stroke: int
    radius: int


@functools.lru_cache(maxsize=256)
def _geometry(font: FontChoice, lines: tuple[str, ...], target: int, style: str) -> _Geometry:
    glyphs = _measured_glyphs("".join(lines))
    size, ink = _font_px_for_ink(font.path, font.index, glyphs, target)
    pil_font = load_font(font.path, font.index, size)
    if style == "plate":
        stroke = 0
        pad_x, pad_y = max(2, round(size * 0.42)), max(1, round(size * 0.26))
    else:
        stroke = max(1, round(size * 0.09))
        pad_x = pad_y = stroke + 1
    pitch = round(size * 1.3)
    boxes = [_int_box(pil_font.getbbox(line, anchor="ls", stroke_width=stroke)) for line in lines]
    widths = [b[2] - b[0] for b in boxes]
    block_w = max(widths)
    top = min(b[1] + i * pitch for i, b in enumerate(boxes))
    bottom = max(b[3] + i * pitch for i, b in enumerate(boxes))
    origins = tuple(
        (pad_x + (block_w - w) // 2 - b[0], pad_y - top + i * pitch)
        for i, (b, w) in enumerate(zip(boxes, widths, strict=True))
    )
    width, height = block_w + 2 * pad_x, bottom - top + 2 * pad_y
    radius = round(min(width, height) * 0.24) if style == "plate" else 0
    return _Geometry(size, ink, width, height, origins, stroke, radius)


def _place(position: str, size: tuple[int, int], box_w: int, box_h: int, margin: int) -> Box:
    w, h = size
    vertical, _, horizontal = position.partition("-")
    if position in ("left", "right"):
        vertical, horizontal = "middle", position
    elif position in ("top", "bottom"):
        horizontal = "center"
    x = {"left": margin, "right": w - margin - box_w}.get(horizontal, (w - box_w) // 2)
    y = {"top": margin, "bottom": h - margin - box_h}.get(vertical, (h - box_h) // 2)
    return x, y, x + box_w, y + box_h


def compute_layout(size: tuple[int, int], options: VisibleOptions) -> LabelLayout:
    """Font, font size and box of the label for an upright image of ``size``."""
    return _compute_layout(
        (int(size[0]), int(size[1])),
        options,
        os.environ.get(FONT_ENV),
        os.environ.get(FC_MATCH_ENV),
    )


@functools.lru_cache(maxsize=64)
def _compute_layout(
    size: tuple[int, int], options: VisibleOptions, _env_font: str | None, _env_fc: str | None
) -> LabelLayout:
    w, h = size
    if w < 1 or h < 1:
        raise LabelDoesNotFit(f"image of {w}×{h} pixels has no room for a label")
    short = min(w, h)
    min_px = required_text_px(w, h, options.min_height_ratio)
    floor = min(options.legible_min_px, max(min_px, short // 5))
    target = max(min_px, floor)
    text = options.text.strip("\n")
    lines = tuple(line.strip() for line in text.split("\n"))
    font, notes = resolve_font(text, options.font_path, system_fonts=options.system_fonts)
    margin0 = round(options.margin_ratio * short)
    while True:
        geo = _geometry(font, lines, target, options.style)
        if geo.width <= w - 2 * margin0 and geo.height <= h - 2 * margin0:
            margin = margin0
            break
        if target > min_px:
            scale = min((w - 2 * margin0) / geo.width, (h - 2 * margin0) / geo.height)
            target = max(min_px, min(target - 1, math.floor(target * scale)))
            continue
        fitting = [
            m for m in (margin0 // 2, 0) if geo.width <= w - 2 * m and geo.height <= h - 2 * m
        ]
        if fitting:
            margin = fitting[0]
            notes = [*notes, f"margin reduced to {margin}px to fit the label"]
            break
        raise LabelDoesNotFit(
            f"image of {w}×{h} pixels is too small for the label {text!r}: at the minimum text "
            f"height of {min_px}px ({options.min_height_ratio:g} of the {short}px short side) "
            f"it needs {geo.width}×{geo.height} pixels; use a shorter text"
        )
    box = _place(options.position, size, geo.width, geo.height, margin)
    return LabelLayout(
        image_size=size,
        box=box,
        font=font,
        font_px=geo.font_px,
        ink_px=geo.ink_px,
        min_px=min_px,
        style=options.style,
        lines=lines,
        origins=geo.origins,
        stroke_px=geo.stroke,
        radius_px=geo.radius,
        margin_px=margin,
        notes=tuple(notes),
    )


# ---------------------------------------------------------------------------------------------
# Masks and colours


@functools.lru_cache(maxsize=32)
def _masks(layout: LabelLayout) -> tuple[Image.Image, Image.Image]:
    """(outer, inner) coverage masks of the box: plate or outline, and the text."""
    w, h = layout.size
    font = load_font(layout.font.path, layout.font.index, layout.font_px)
    inner = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(inner)
    for line, xy in zip(layout.lines, layout.origins, strict=True):
        draw.text(xy, line, font=font, fill=255, anchor="ls")
    if layout.style == "plate":
        ss = 4  # supersampled plate: smooth rounded corners
        big = Image.new("L", (w * ss, h * ss), 0)
        ImageDraw.Draw(big).rounded_rectangle(
            (0, 0, w * ss - 1, h * ss - 1), radius=layout.radius_px * ss, fill=255
        )
        outer = big.reduce(ss)
    else:
        outer = Image.new("L", (w, h), 0)
        d = ImageDraw.Draw(outer)
        for line, xy in zip(layout.lines, layout.origins, strict=True):
            d.text(
                xy,
                line,
                font=font,
                fill=255,
                anchor="ls",
                stroke_width=layout.stroke_px,
                stroke_fill=255,
            )
    return outer, inner


RGB = tuple[int, int, int]


@dataclass(frozen=True)
class _Scheme:
    name: str
    outer: RGB
    outer_alpha: int  # 0..255, for true-colour targets
    inner: RGB
    palette_outer: RGB  # opaque plate for palette targets


# Translucent plates: worst-case contrast (white under the dark plate, black under the light
# plate) is 6.2:1 and 7.4:1; typical backgrounds give far more.
_PLATE = {
    "dark": _Scheme("dark", (0, 0, 0), 160, (255, 255, 255), (34, 34, 34)),
    "light": _Scheme("light", (255, 255, 255), 178, (20, 20, 20), (240, 240, 240)),
}
_OUTLINE = {
    "dark": _Scheme("dark", (0, 0, 0), 255, (255, 255, 255), (0, 0, 0)),
    "light": _Scheme("light", (255, 255, 255), 255, (20, 20, 20), (255, 255, 255)),
}


def _luminance(rgb: Sequence[int]) -> float:
    def lin(c: float) -> float:
        c = c / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = rgb[:3]
    return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b)


def contrast_ratio(a: Sequence[int], b: Sequence[int]) -> float:
    """WCAG 2 contrast ratio of two sRGB colours."""
    la, lb = _luminance(a), _luminance(b)
    hi, lo = max(la, lb), min(la, lb)
    return (hi + 0.05) / (lo + 0.05)


def _background_level(img: Image.Image, box: Box) -> float:
    """Mean grey level (0..255) under ``box``; transparent areas count as dark."""
    region = img.crop(box)
    if region.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        lo_hi = 65535.0
        return float(ImageStat.Stat(region.convert("I")).mean[0]) * 255 / lo_hi
    if region.mode == "F":
        return 128.0
    if region.mode not in ("L", "RGB", "RGBA", "LA"):
        region = region.convert("RGBA")
    if region.mode in ("RGBA", "LA"):
        alpha = ImageStat.Stat(region.getchannel("A")).mean[0]
        if alpha < 128:
            return 0.0
    return float(ImageStat.Stat(region.convert("L")).mean[0])


def _resolve_theme(theme: str, img: Image.Image, box: Box) -> str:
    if theme != "auto":
        return theme
    return "light" if _background_level(img, box) > 165 else "dark"


def _scheme(style: str, theme: str) -> _Scheme:
    return (_PLATE if style == "plate" else _OUTLINE)[theme]


# ---------------------------------------------------------------------------------------------
# Compositing into any pixel mode


def _scaled(mask: Image.Image, alpha: int) -> Image.Image:
    if alpha >= 255:
        return mask
    return mask.point([(v * alpha + 127) // 255 for v in range(256)])


def _native(rgb: RGB, mode: str) -> float | tuple[int, ...]:
    grey = round(0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2])
    if mode == "RGB" or mode == "RGBX":
        return rgb if mode == "RGB" else (*rgb, 255)
    if mode == "L":
        return grey
    if mode == "CMYK":
        return (0, 0, 0, 255 - grey)
    if mode in ("I;16", "I"):
        return grey * 257
    raise UnsupportedImageMode(f"cannot draw into {mode} pixels")


_DIRECT_MODES = ("RGB", "RGBX", "L", "CMYK", "I;16", "I")


def _composite(
    img: Image.Image, box: Box, outer: Image.Image, inner: Image.Image, s: _Scheme
) -> None:
    """Draw the label into ``img`` (in place) at ``box``."""
    mode = img.mode
    if mode == "P":
        _composite_palette(img, box, outer, inner, s)
        return
    if mode == "F":
        raise UnsupportedImageMode("floating-point images cannot carry a visible label")
    outer_a = _scaled(outer, s.outer_alpha)
    if mode == "RGBA":
        for rgb, mask in ((s.outer, outer_a), (s.inner, inner)):
            layer = Image.new("RGBA", mask.size, (*rgb, 0))
            layer.putalpha(mask)
            img.alpha_composite(layer, box[:2])
        return
    if mode in _DIRECT_MODES:
        img.paste(_native(s.outer, mode), box, outer_a)
        img.paste(_native(s.inner, mode), box, inner)
        return
    region = img.crop(box)
    try:
        work = region.convert("RGBA")
        if mode == "1":
            outer_a, inner = outer.point(_HALF_LUT), inner.point(_HALF_LUT)
            s = replace(s, outer=s.palette_outer, outer_alpha=255)
        for rgb, mask in ((s.outer, outer_a), (s.inner, inner)):
            layer = Image.new("RGBA", mask.size, (*rgb, 0))
            layer.putalpha(mask)
            work.alpha_composite(layer)
        back = (
            work.convert("L").point(_HALF_LUT).convert("1", dither=Image.Dither.NONE)
            if mode == "1"
            else work.convert(mode)
        )
    except ValueError as e:
        raise UnsupportedImageMode(f"cannot draw into {mode} pixels: {e}") from e
    img.paste(back, box)


_LEVELS = 4  # text anti-aliasing levels for palette targets (plate, 2 blends, text)
_LEVEL_LUT = [round(v * (_LEVELS - 1) / 255) for v in range(256)]


def _blend(a: RGB, b: RGB, t: float) -> RGB:
    return (
        round(a[0] + (b[0] - a[0]) * t),
        round(a[1] + (b[1] - a[1]) * t),
        round(a[2] + (b[2] - a[2]) * t),
    )


def _composite_palette(
    img: Image.Image, box: Box, outer: Image.Image, inner: Image.Image, s: _Scheme
) -> None:
    """Label a palette image keeping every pixel outside the label on its original index.

    The plate (or outline) is opaque and the text uses :data:`_LEVELS` anti-aliasing levels,
    so the label needs at most four colours: found in the palette, or put into unused slots,
    or (full palette) mapped to the nearest opaque entries.
    """
    pal = list(img.getpalette("RGB") or [])
    n = len(pal) // 3
    trns = img.info.get("transparency")
    alphas = bytearray(trns) if isinstance(trns, bytes) else None

    def opaque(i: int) -> bool:
        if isinstance(trns, int):
            return i != trns
        return alphas is None or i >= len(alphas) or alphas[i] == 255

    used = {idx for _count, idx in (img.getcolors(256) or []) if isinstance(idx, int)}
    wanted = [_blend(s.palette_outer, s.inner, k / (_LEVELS - 1)) for k in range(_LEVELS)]
    indices: list[int] = []
    for colour in wanted:
        exact = next(
            (i for i in range(n) if opaque(i) and tuple(pal[3 * i : 3 * i + 3]) == colour), None
        )
        if exact is None:
            free = next(
                (i for i in range(256) if i not in used and i != trns and i not in indices), None
            )
            if free is not None:
                if free >= n:
                    pal.extend([0, 0, 0] * (free + 1 - n))
                    n = free + 1
                pal[3 * free : 3 * free + 3] = colour
                if alphas is not None and free < len(alphas):
                    alphas[free] = 255
                used.add(free)
                exact = free
        if exact is None:
            candidates = [i for i in range(n) if opaque(i)] or list(range(n))
            exact = min(
                candidates,
                key=lambda i: sum((pal[3 * i + c] - colour[c]) ** 2 for c in range(3)),
            )
        indices.append(exact)
    img.putpalette(pal, "RGB")
    if alphas is not None:
        img.info["transparency"] = bytes(alphas)
    outer_b = outer.point(_HALF_LUT)
    levels = inner.point(_LEVEL_LUT)
    idx = Image.new("L", outer.size, indices[0])
    for k in range(1, _LEVELS):
        idx.paste(indices[k], mask=levels.point([255 if v == k else 0 for v in range(256)]))
    img.paste(Image.frombytes("P", idx.size, idx.tobytes()), box, outer_b)


# ---------------------------------------------------------------------------------------------
# The pure pixel operation


def draw_label(
    img: Image.Image, options: VisibleOptions | None = None, *, theme: str | None = None
) -> tuple[Image.Image, Box, int]:
    """Return ``(labelled copy, box, ink height)`` for an upright image.

    Works on any Pillow mode that can hold a label (RGB, RGBA, L, LA, P, CMYK, I;16, 1, ...);
    palette images stay palette images with unchanged indices outside the label. ``theme``
    overrides ``options.theme`` (video and animations resolve it once for all frames).
    """
    opts = options or VisibleOptions()
    problems = check_label_text(opts.text)
    if problems and opts.strict:
        raise LabelTextError(f"label text {opts.text!r}: {'; '.join(problems)}")
    out = img.copy()
    layout = compute_layout(out.size, opts)
    chosen = _resolve_theme(theme or opts.theme, out, layout.box)
    outer, inner = _masks(layout)
    _composite(out, layout.box, outer, inner, _scheme(opts.style, chosen))
    return out, layout.box, layout.ink_px


# ---------------------------------------------------------------------------------------------
# EXIF orientation: draw upright as displayed, store in the file's pixel orientation.

T = Image.Transpose
_TO_STORED = {
    2: T.FLIP_LEFT_RIGHT,
    3: T.ROTATE_180,
    4: T.FLIP_TOP_BOTTOM,
    5: T.TRANSPOSE,
    6: T.ROTATE_90,
    7: T.TRANSVERSE,
    8: T.ROTATE_270,
}


def _map_box(box: Box, size: tuple[int, int], op: Image.Transpose) -> Box:
    """``box`` in an image of ``size`` after ``op`` (Pillow transpose semantics)."""
    w, h = size

    def pt(x: int, y: int) -> tuple[int, int]:
        return {
            T.FLIP_LEFT_RIGHT: (w - x, y),
            T.FLIP_TOP_BOTTOM: (x, h - y),
            T.ROTATE_180: (w - x, h - y),
            T.ROTATE_90: (y, w - x),
            T.ROTATE_270: (h - y, x),
            T.TRANSPOSE: (y, x),
            T.TRANSVERSE: (h - y, w - x),
        }[op]

    (ax, ay), (bx, by) = pt(box[0], box[1]), pt(box[2], box[3])
    return min(ax, bx), min(ay, by), max(ax, bx), max(ay, by)


def _orientation(im: Image.Image) -> int:
    """EXIF orientation still to apply to the decoded pixels (call after loading)."""
    if im.format == "HEIF":  # pillow_heif returns pixels already transformed
        return 1
    try:
        value = im.getexif().get(0x0112, 1)
    except Exception:  # broken EXIF must not stop the label
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


@dataclass
class _Plan:
    """Everything needed to label each frame of one file identically."""

    layout: LabelLayout
    stored_box: Box
    outer: Image.Image
    inner: Image.Image
    scheme: _Scheme


def _plan(first: Image.Image, orientation: int, options: VisibleOptions) -> _Plan:
    stored_size = first.size
    op = _TO_STORED.get(orientation)
    display_size = (stored_size[1], stored_size[0]) if orientation in (5, 6, 7, 8) else stored_size
    layout = compute_layout(display_size, options)
    outer, inner = _masks(layout)
    stored_box = layout.box
    if op is not None:
        stored_box = _map_box(layout.box, display_size, op)
        outer, inner = outer.transpose(op), inner.transpose(op)
    theme = _resolve_theme(options.theme, first, stored_box)
    return _Plan(layout, stored_box, outer, inner, _scheme(options.style, theme))


def _apply(plan: _Plan, frame: Image.Image) -> None:
    _composite(frame, plan.stored_box, plan.outer, plan.inner, plan.scheme)


# ---------------------------------------------------------------------------------------------
# Decoding with limits


# What Pillow and its plug-ins raise on broken data (RuntimeError: the AVIF/HEIF decoders).
_DECODE_ERRORS = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    struct.error,
    IndexError,
    KeyError,
    RuntimeError,
)

_PIL_FORMATS = {
    "jpeg": ("JPEG",),  # multi-picture files open as MPO through the JPEG plug-in
    "png": ("PNG",),
    "gif": ("GIF",),
    "webp": ("WEBP",),
    "tiff": ("TIFF",),
    "heif": ("HEIF", "AVIF"),
}


def _register_heif() -> None:
    try:
        import pillow_heif

        pillow_heif.register_heif_opener()
    except ImportError:  # pragma: no cover - declared dependency
        pass


def _open(data: bytes, format_id: str, options: VisibleOptions) -> Image.Image:
    if format_id == "heif":
        _register_heif()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "corrupt EXIF" and similar noise
            im = Image.open(io.BytesIO(data), formats=list(_PIL_FORMATS[format_id]))
    except Image.DecompressionBombError as e:
        raise LimitExceeded(
            f"image is over Pillow's decompression-bomb limit ({e}); raise "
            "PIL.Image.MAX_IMAGE_PIXELS to allow it"
        ) from e
    except UnidentifiedImageError as e:
        raise MalformedInput(f"not a readable {format_id} image") from e
    except _DECODE_ERRORS as e:
        raise MalformedInput(f"broken {format_id} image: {e}") from e
    w, h = im.size
    if w * h > options.max_pixels:
        im.close()
        raise LimitExceeded(
            f"image of {w}×{h} = {w * h} pixels is over the {options.max_pixels}-pixel limit"
        )
    return im


def _frames_count(im: Image.Image, options: VisibleOptions) -> int:
    try:
        n = int(getattr(im, "n_frames", 1))
    except _DECODE_ERRORS as e:
        raise MalformedInput(f"broken animation: {e}") from e
    w, h = im.size
    if n * w * h > options.max_total_pixels:
        raise LimitExceeded(
            f"{n} frames of {w}×{h} pixels ({n * w * h} in all) are over the "
            f"{options.max_total_pixels}-pixel limit for all frames"
        )
    return n


def _load(im: Image.Image, what: str, *, copy: bool) -> Image.Image:
    """The decoded current frame (a copy for animations, where seeking reuses the image),
    with broken data turned into MalformedInput."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            im.load()
            return im.copy() if copy else im
    except Image.DecompressionBombError as e:
        raise LimitExceeded(str(e)) from e
    except _DECODE_ERRORS as e:
        raise MalformedInput(f"cannot decode {what}: {e}") from e


def decode_first_frame(
    data: bytes, format_id: str, *, max_pixels: int | None = None, min_side: int | None = None
) -> npt.NDArray[np.uint8]:
    """The first frame as stored (no orientation applied), uint8 RGB (H, W, 3), with limits.

    Used by watermark detection: the same guarded decoder as the visible label.
    ``min_side``: the caller only needs this many pixels on the short side, so a JPEG may be
    decoded at 1/2, 1/4 or 1/8 scale in the DCT domain (several times faster; the result is
    a faithful downscale of the whole picture, never a crop).
    """
    fid = format_id.lower()
    if fid not in FORMAT_IDS:
        raise UnsupportedFormat(f"cannot decode {format_id!r} pixels")
    if not data:
        raise MalformedInput(f"empty {fid} data")
    opts = VisibleOptions() if max_pixels is None else VisibleOptions(max_pixels=max_pixels)
    im = _open(data, fid, opts)
    with im:
        if min_side and im.format == "JPEG" and min(im.size) > 2 * min_side:
            scale = min(im.size) / min_side
            im.draft("RGB", (max(1, int(im.size[0] / scale)), max(1, int(im.size[1] / scale))))
        frame = _load(im, "the image", copy=False)
        if frame.mode in ("I;16", "I;16B", "I;16L", "I"):
            arr16 = np.asarray(frame, dtype=np.float64)
            scale = 255.0 / max(float(arr16.max()), 1.0) if arr16.max() > 255 else 1.0
            return np.repeat((arr16 * scale).clip(0, 255).astype(np.uint8)[..., None], 3, axis=2)
        return np.asarray(frame.convert("RGB"), dtype=np.uint8)


# ---------------------------------------------------------------------------------------------
# Metadata helpers


def _strip_exif_thumbnail(exif: bytes | None, notes: list[str]) -> bytes | None:
    """Unlink IFD1 (the thumbnail, which would show the unlabelled image) from raw EXIF."""
    if not exif:
        return exif
    prefix = b"Exif\x00\x00" if exif.startswith(b"Exif\x00\x00") else b""
    t = exif[len(prefix) :]
    try:
        if t[:2] == b"II":
            e = "<"
        elif t[:2] == b"MM":
            e = ">"
        else:
            return exif
        ifd0 = struct.unpack_from(e + "I", t, 4)[0]
        count = struct.unpack_from(e + "H", t, ifd0)[0]
        link = ifd0 + 2 + 12 * count
        if struct.unpack_from(e + "I", t, link)[0] == 0:
            return exif
    except struct.error:
        return exif
    patched = bytearray(t)
    patched[link : link + 4] = b"\x00\x00\x00\x00"
    notes.append("EXIF thumbnail unlinked (it would show the unlabelled image)")
    return prefix + bytes(patched)


_XMP_APP1 = b"http://ns.adobe.com/xap/1.0/\x00"


def _jpeg_extra_segments(data: bytes, notes: list[str]) -> bytes:
    """APPn/COM segments Pillow does not rewrite itself, copied raw in their order."""
    out = bytearray()
    pos = 2
    dropped = []
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker == 0xFF:
            pos += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        if marker == 0xDA:  # start of scan: no more metadata
            break
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        seg = data[pos : pos + 2 + length]
        body = seg[4:]
        pos += 2 + length
        if marker == 0xFE:
            out += seg
        elif 0xE0 <= marker <= 0xEF:
            app = marker - 0xE0
            if app == 0 and body[:5] in (b"JFIF\x00", b"JFXX\x00"):
                continue  # libjpeg writes JFIF; a JFXX thumbnail would be unlabelled
            if app == 1 and (body.startswith(b"Exif\x00") or body.startswith(_XMP_APP1)):
                continue  # passed to Pillow as exif= / xmp=
            if app == 2 and body.startswith(b"ICC_PROFILE\x00"):
                continue  # passed as icc_profile=
            if app == 2 and body.startswith(b"MPF\x00"):
                dropped.append("MPF (multi-picture index)")
                continue
            if app == 14 and body.startswith(b"Adobe"):
                continue  # colour transform marker: libjpeg writes the right one
            out += seg
    if dropped:
        notes.append("dropped " + ", ".join(dropped))
    return bytes(out)


def _png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(type, raw chunk bytes) for each chunk of a PNG."""
    out = []
    pos = 8
    while pos + 12 <= len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        ctype = data[pos + 4 : pos + 8]
        out.append((ctype, data[pos : pos + 12 + length]))
        pos += 12 + length
        if ctype == b"IEND":
            break
    return out


def _png_chunk(ctype: bytes, body: bytes) -> bytes:
    import zlib

    return (
        len(body).to_bytes(4, "big")
        + ctype
        + body
        + (zlib.crc32(ctype + body) & 0xFFFFFFFF).to_bytes(4, "big")
    )


_PNG_PILLOW_WRITES = {b"IHDR", b"PLTE", b"tRNS", b"IDAT", b"IEND", b"acTL", b"fcTL", b"fdAT"}
_PNG_COLOUR_CHUNKS = {b"iCCP", b"sRGB", b"gAMA", b"cHRM", b"cICP", b"mDCv", b"cLLi", b"sBIT"}


def _splice_png(
    new: bytes, source: bytes, *, same_layout: bool, palette_same: bool, notes: list[str]
) -> bytes:
    """Put the source's ancillary chunks (text, EXIF, ICC, ...) into Pillow's output.

    Chunks are copied byte-exact and keep their place before or after the image data;
    unknown chunks that the PNG rules say must not be copied after an image edit are dropped.
    """
    src = _png_chunks(source)
    seen_idat = False
    colour: list[bytes] = []
    before: list[bytes] = []
    after: list[bytes] = []
    dropped: list[str] = []
    for ctype, raw in src:
        if ctype in (b"IDAT", b"fdAT"):
            seen_idat = True
            continue
        if ctype in _PNG_PILLOW_WRITES:
            continue
        name = ctype.decode("latin-1")
        if ctype == b"sBIT" and not same_layout:
            dropped.append(name)
            continue
        if ctype == b"bKGD" and not (same_layout and palette_same):
            dropped.append(name)
            continue
        if ctype == b"hIST" and not palette_same:
            dropped.append(name)
            continue
        if ctype == b"tIME":
            now = _dt.datetime.now(_dt.UTC)
            raw = _png_chunk(
                b"tIME",
                struct.pack(
                    ">HBBBBB", now.year, now.month, now.day, now.hour, now.minute, now.second
                ),
            )
        elif ctype == b"eXIf":
            body = _strip_exif_thumbnail(raw[8:-4], notes) or b""
            raw = _png_chunk(b"eXIf", body)
        elif ctype in _PNG_COLOUR_CHUNKS:
            colour.append(raw)
            continue
        elif not (ctype[3] & 0x20) and ctype not in (b"bKGD", b"hIST", b"sPLT"):
            dropped.append(name)  # unknown and unsafe to copy after editing pixels
            continue
        (after if seen_idat else before).append(raw)
    if dropped:
        notes.append("PNG chunks dropped: " + ", ".join(sorted(set(dropped))))
    out = bytearray(new[:8])
    inserted_before = False
    for ctype, raw in _png_chunks(new):
        if ctype in (b"IDAT", b"fcTL") and not inserted_before:
            out += b"".join(before)
            inserted_before = True
        if ctype == b"IEND":
            out += b"".join(after)
        out += raw
        if ctype == b"IHDR":
            out += b"".join(colour)
    return bytes(out)


# ---------------------------------------------------------------------------------------------
# WebP: lossless or lossy, and an estimate of the lossy quality


class _BoolDecoder:
    """VP8 boolean entropy decoder (RFC 6386 §7), enough to read the frame header."""

    def __init__(self, data: bytes):
        self.data = data
        self.value = (data[0] << 8) | data[1] if len(data) >= 2 else 0
        self.pos = 2
        self.range = 255
        self.bits = 0

    def bit(self, prob: int = 128) -> int:
        split = 1 + (((self.range - 1) * prob) >> 8)
        big_split = split << 8
        if self.value >= big_split:
            ret = 1
            self.range -= split
            self.value -= big_split
        else:
            ret = 0
            self.range = split
        while self.range < 128:
            self.value <<= 1
            self.range <<= 1
            self.bits += 1
            if self.bits == 8:
                self.bits = 0
                if self.pos < len(self.data):
                    self.value |= self.data[self.pos]
                self.pos += 1
        return ret

    def literal(self, n: int) -> int:
        v = 0
        for _ in range(n):
            v = (v << 1) | self.bit()
        return v

    def skip_signed(self, n: int) -> None:
        if self.bit():
            self.literal(n)
            self.bit()


def _vp8_base_quantizer(payload: bytes) -> tuple[int, bool] | None:
    """(y_ac_qi, segmentation enabled) of a VP8 key frame, or None."""
    if len(payload) < 12 or payload[0] & 1 or payload[3:6] != b"\x9d\x01\x2a":
        return None
    d = _BoolDecoder(payload[10:])
    d.literal(2)  # colour space, clamping type
    segmentation = bool(d.bit())
    if segmentation:
        update_map, update_data = d.bit(), d.bit()
        if update_data:
            d.bit()
            for _ in range(4):
                d.skip_signed(7)
            for _ in range(4):
                d.skip_signed(6)
        if update_map:
            for _ in range(3):
                if d.bit():
                    d.literal(8)
    d.literal(1 + 6 + 3)  # filter type, level, sharpness
    if d.bit() and d.bit():  # loop filter deltas
        for _ in range(8):
            d.skip_signed(6)
    d.literal(2)  # partitions
    return d.literal(7), segmentation


def _libwebp_base_q(quality: int, segmentation: bool) -> int:
    """Base quantizer libwebp (default SNS 50) writes for ``quality``."""
    q = quality / 100
    linear = q * 2 / 3 if q < 0.75 else 2 * q - 1
    c_base = linear ** (1 / 3)
    # Segment 0 gets the lowest "alpha" (-127): exponent 1 + 0.9 * 50 / 100 * 127 / 128.
    expn = 1 + 0.9 * 0.5 * 127 / 128 if segmentation else 1.0
    return int(127 * (1 - c_base**expn))


def estimate_webp_quality(payload: bytes) -> int | None:
    """Quality (0..100) a libwebp-made VP8 stream was most likely encoded with.

    Inverts libwebp's quality-to-quantizer mapping on the key-frame base quantizer: exact for
    files made by libwebp with default settings (cwebp, Pillow, browsers), an estimate for
    other encoders.
    """
    found = _vp8_base_quantizer(payload)
    if found is None:
        return None
    base_q, segmentation = found
    matches = [q for q in range(101) if _libwebp_base_q(q, segmentation) == base_q]
    if matches:
        return max(matches)
    return min(range(101), key=lambda q: abs(_libwebp_base_q(q, segmentation) - base_q))


@dataclass
class _WebPInfo:
    lossless: bool = True
    mixed: bool = False
    quality: int | None = None


def _webp_info(data: bytes) -> _WebPInfo:
    info = _WebPInfo(lossless=False)
    kinds: list[bytes] = []

    def walk(buf: bytes, start: int) -> None:
        pos = start
        while pos + 8 <= len(buf):
            tag = buf[pos : pos + 4]
            size = int.from_bytes(buf[pos + 4 : pos + 8], "little")
            body = buf[pos + 8 : pos + 8 + size]
            if tag == b"ANMF":
                walk(body, 16)
            elif tag in (b"VP8 ", b"VP8L"):
                kinds.append(tag)
                if tag == b"VP8 " and info.quality is None:
                    info.quality = estimate_webp_quality(body)
            pos += 8 + size + (size & 1)

    walk(data, 12)
    info.lossless = bool(kinds) and all(k == b"VP8L" for k in kinds)
    info.mixed = b"VP8L" in kinds and b"VP8 " in kinds
    return info


# ---------------------------------------------------------------------------------------------
# HEIF family: HEIC or AVIF, chroma subsampling


def _ftyp_brands(data: bytes) -> list[bytes]:
    if len(data) < 16 or data[4:8] != b"ftyp":
        return []
    size = int.from_bytes(data[:4], "big")
    body = data[8 : min(size, len(data), 4096)]
    return [body[:4]] + [body[i : i + 4] for i in range(8, len(body) - 3, 4)]


def _heif_kind(im: Image.Image, data: bytes) -> str:
    if im.format == "AVIF":
        return "avif"
    brands = _ftyp_brands(data)
    if brands and brands[0] in (b"avif", b"avis"):
        return "avif"
    return "heic"


def _box_after(data: bytes, tag: bytes, limit: int = 1 << 20) -> bytes | None:
    i = data.find(tag, 0, limit)
    return data[i + 4 : i + 32] if i >= 4 else None


def _heif_chroma(data: bytes, kind: str) -> tuple[str | None, int]:
    """(subsampling "4:2:0"/"4:2:2"/"4:4:4"/"4:0:0" or None, bit depth) from av1C/hvcC."""
    if kind == "avif":
        b = _box_after(data, b"av1C")
        if b is None or len(b) < 4:
            return None, 8
        flags = b[2]
        depth = 12 if flags & 0x20 else 10 if flags & 0x40 else 8
        if flags & 0x10:
            return "4:0:0", depth
        sx, sy = (flags >> 3) & 1, (flags >> 2) & 1
        return {(1, 1): "4:2:0", (1, 0): "4:2:2", (0, 0): "4:4:4"}.get((sx, sy)), depth
    b = _box_after(data, b"hvcC")
    if b is None or len(b) < 20:
        return None, 8
    chroma = b[16] & 0x03
    depth = (b[17] & 0x07) + 8
    return {0: "4:0:0", 1: "4:2:0", 2: "4:2:2", 3: "4:4:4"}.get(chroma), depth


# ---------------------------------------------------------------------------------------------
# Palette helpers for GIF frames


def _to_palette(frame: Image.Image, notes: list[str], number: int) -> Image.Image:
    """Convert a decoded GIF frame back to a palette image, exactly when it has <= 256 colours."""
    if frame.mode == "P":
        return frame
    rgba = frame.convert("RGBA")
    transparent = rgba.getchannel("A").point([255] * 128 + [0] * 128)
    has_t = transparent.getbbox() is not None
    rgb = rgba.convert("RGB")
    limit = 255 if has_t else 256
    if has_t:
        opaque_box = rgba.getchannel("A").point(_HALF_LUT).getbbox()
        if opaque_box is None:
            q = Image.new("P", rgb.size, 0)
            q.putpalette([0, 0, 0])
            q.info["transparency"] = 0
            return q
        # paint transparent pixels with an existing opaque colour so they add none
        mask_row = rgba.crop(opaque_box).getchannel("A")
        fill = next(
            rgba.getpixel((opaque_box[0] + x, opaque_box[1] + y))
            for y in range(mask_row.height)
            for x in range(mask_row.width)
            if (mask_row.getpixel((x, y)) or 0) >= 128  # type: ignore[operator]
        )
        assert isinstance(fill, tuple)
        rgb.paste(fill[:3], mask=transparent)
    colours = rgb.getcolors(limit)
    if colours is None:
        notes.append(f"GIF frame {number} had more than {limit} colours; re-quantized")
    q = rgb.quantize(limit, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    if has_t:
        pal = list(q.getpalette("RGB") or [])
        tindex = len(pal) // 3
        if tindex > 255:
            tindex = 255
        pal = [*pal[: 3 * tindex], 0, 0, 0]
        q.putpalette(pal, "RGB")
        q.paste(tindex, mask=transparent)
        q.info["transparency"] = tindex
    return q


# ---------------------------------------------------------------------------------------------
# Per-format encoders. Each returns the encoded bytes and appends notes.


@dataclass
class _Source:
    im: Image.Image
    data: bytes
    kind: str
    frames: list[Image.Image]
    infos: list[dict[str, Any]]
    options: VisibleOptions
    notes: list[str]
    palette_same: bool = True


def _save(img: Image.Image, fmt: str, **kw: Any) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def _clean(img: Image.Image, keep: Sequence[str] = ()) -> Image.Image:
    img.info = {k: v for k, v in img.info.items() if k in keep}
    return img


def _encode_jpeg(src: _Source) -> bytes:
    im, info, notes = src.im, src.im.info, src.notes
    if src.kind == "mpo":
        notes.append("MPO: only the primary image is kept (other images would be unlabelled)")
    kw: dict[str, Any] = {"optimize": True}
    qtables = getattr(im, "quantization", None)
    if qtables:
        kw["qtables"] = qtables
    sampling = JpegImagePlugin.get_sampling(im)
    if sampling != -1:
        kw["subsampling"] = sampling
    progressive = bool(info.get("progressive") or info.get("progression"))
    if progressive:
        kw["progressive"] = True
    exif = _strip_exif_thumbnail(info.get("exif"), notes)
    if exif:
        kw["exif"] = exif
    for key in ("icc_profile", "dpi", "xmp"):
        if info.get(key):
            kw[key] = info[key]
    extra = _jpeg_extra_segments(src.data, notes)
    if extra:
        kw["extra"] = extra
    sub = {0: "4:4:4", 1: "4:2:2", 2: "4:2:0"}.get(sampling, "n/a")
    notes.append(
        f"JPEG re-encoded once with the source quantization tables ({len(qtables or {})}), "
        f"subsampling {sub}, progressive={'yes' if progressive else 'no'}"
    )
    return _save(_clean(src.frames[0]), "JPEG", **kw)


def _png_bit_depth(data: bytes) -> tuple[int, int]:
    return (data[24], data[25]) if len(data) > 26 and data[12:16] == b"IHDR" else (8, 0)


def _png_zlib_level(data: bytes) -> int:
    """zlib level matching the FLEVEL hint in the source's first IDAT (6 when unknown)."""
    i = data.find(b"IDAT")
    if i < 0 or i + 6 > len(data):
        return 6
    return {0: 1, 1: 4, 2: 6, 3: 9}[data[i + 5] >> 6]


def _encode_png(src: _Source) -> bytes:
    frames, notes = src.frames, src.notes
    depth, colour_type = _png_bit_depth(src.data)
    if depth == 16 and colour_type in (2, 6):
        notes.append("16-bit-per-channel colour PNG stored as 8-bit (Pillow has no RGB48)")
    kw: dict[str, Any] = {"compress_level": _png_zlib_level(src.data)}
    first = frames[0]
    transparency = first.info.get("transparency", src.im.info.get("transparency"))
    if transparency is not None and first.mode in ("P", "L", "RGB", "I;16", "I", "1"):
        kw["transparency"] = transparency
    if len(frames) > 1:
        kw.update(
            save_all=True,
            append_images=[_clean(f) for f in frames[1:]],
            duration=[float(i.get("duration", 0)) for i in src.infos],
            loop=src.im.info.get("loop", 0),
            disposal=0,
            blend=0,
        )
        if src.im.info.get("default_image"):
            notes.append("APNG default image (not part of the animation) dropped")
    new = _save(_clean(first), "PNG", **kw)
    same_layout = first.mode == src.im.mode
    notes.append(
        f"PNG re-encoded losslessly as {first.mode} (zlib level {kw['compress_level']}, from "
        "the source's FLEVEL hint), ancillary chunks copied"
    )
    return _splice_png(
        new, src.data, same_layout=same_layout, palette_same=src.palette_same, notes=notes
    )


def _encode_gif(src: _Source) -> bytes:
    frames, infos, notes = src.frames, src.infos, src.notes
    kw: dict[str, Any] = {}
    first_info = src.im.info
    if "loop" in first_info:
        kw["loop"] = first_info["loop"]
    if first_info.get("comment"):
        kw["comment"] = first_info["comment"]
    if len(frames) > 1:
        disposal = [int(i.get("disposal", 0)) for i in infos]
        if 3 in disposal:
            notes.append("GIF disposal 'restore to previous' written as 'none' (full frames)")
            disposal = [1 if d == 3 else d for d in disposal]
        kw.update(
            save_all=True,
            append_images=frames[1:],
            duration=[int(i.get("duration", 0)) for i in infos],
            disposal=disposal,
        )
    elif "duration" in infos[0]:
        kw["duration"] = infos[0]["duration"]
    notes.append("GIF stays palette-based; pixels outside the label keep their colours")
    return _save(frames[0], "GIF", **kw)


def _encode_webp(src: _Source) -> bytes:
    info, notes, opts = src.im.info, src.notes, src.options
    wi = _webp_info(src.data)
    kw: dict[str, Any] = {"method": 4}
    exif = _strip_exif_thumbnail(info.get("exif"), notes)
    if exif:
        kw["exif"] = exif
    for key in ("icc_profile", "xmp"):
        if info.get(key):
            kw[key] = info[key]
    if wi.lossless:
        kw.update(lossless=True, quality=80, exact=True)
        notes.append("WebP lossless stays lossless")
    else:
        quality = opts.quality or wi.quality or DEFAULT_LOSSY_QUALITY
        kw.update(quality=quality, alpha_quality=100)
        how = (
            "set by options"
            if opts.quality
            else "estimated from the source VP8 quantizer"
            if wi.quality
            else "default"
        )
        notes.append(f"WebP lossy re-encoded at quality {quality} ({how})")
        if wi.mixed:
            kw["allow_mixed"] = True
    if len(src.frames) > 1:
        kw.update(
            save_all=True,
            append_images=src.frames[1:],
            duration=[int(i.get("duration", 0)) for i in src.infos],
            loop=info.get("loop", 0),
        )
        if "background" in info:
            kw["background"] = info["background"]
    return _save(_clean(src.frames[0]), "WEBP", **kw)


# TIFF tags Pillow derives from the pixels or writes from other arguments.
_TIFF_STRUCTURAL = {
    254, 256, 257, 258, 259, 262, 273, 277, 278, 279, 284, 317, 320, 322, 323, 324, 325,
    338, 339, 347, 513, 514, 529, 530, 531, 532, 34665, 34853, 40965, 34675, 274,
}  # fmt: skip


def _encode_tiff(src: _Source) -> bytes:
    im, notes, opts = src.im, src.notes, src.options
    tags = getattr(im, "tag_v2", None)
    compression = im.info.get("compression", "raw")
    kw: dict[str, Any] = {"compression": compression}
    if compression == "jpeg":
        kw["quality"] = opts.quality or DEFAULT_LOSSY_QUALITY
        notes.append(f"JPEG-in-TIFF re-encoded at quality {kw['quality']}")
    if tags is not None:
        kw["tiffinfo"] = {k: v for k, v in tags.items() if k not in _TIFF_STRUCTURAL}
        if tags.get(317) in (2, 3):
            kw["tiffinfo"][317] = tags.get(317)
    exif = im.getexif()
    if exif:
        kw["exif"] = exif
    for key in ("icc_profile", "dpi"):
        if im.info.get(key):
            kw[key] = im.info[key]
    if len(src.frames) > 1:
        kw.update(save_all=True, append_images=[_clean(f) for f in src.frames[1:]])
        notes.append(f"all {len(src.frames)} TIFF pages labelled")
    notes.append(f"TIFF re-encoded with compression {compression}")
    return _save(_clean(src.frames[0]), "TIFF", **kw)


def _encode_heif(src: _Source) -> bytes:
    im, notes, opts = src.im, src.notes, src.options
    subsampling, depth = _heif_chroma(src.data, src.kind)
    quality = opts.quality or DEFAULT_LOSSY_QUALITY
    kw: dict[str, Any] = {"quality": quality}
    exif = _strip_exif_thumbnail(im.info.get("exif"), notes)
    if exif:
        kw["exif"] = exif
    for key in ("icc_profile", "xmp"):
        if im.info.get(key):
            kw[key] = im.info[key]
    if subsampling:
        kw["subsampling"] = subsampling
    if depth > 8:
        notes.append(f"{depth}-bit source stored as 8-bit")
    how = "set by options" if opts.quality else "default; source quality is not recorded"
    if src.kind == "avif":
        fmt = "AVIF"
        if len(src.frames) > 1:
            kw.update(
                save_all=True,
                append_images=src.frames[1:],
                duration=[int(i.get("duration", 0)) for i in src.infos],
            )
    else:
        fmt = "HEIF"
        if len(src.frames) > 1:
            kw.update(save_all=True, append_images=src.frames[1:])
            primary = next((n for n, i in enumerate(src.infos) if i.get("primary")), 0)
            kw["primary_index"] = primary
        notes.append("HEIC thumbnails and auxiliary images not carried (they would be unlabelled)")
    notes.append(
        f"{fmt} re-encoded at quality {quality} ({how}), subsampling {subsampling or 'default'}"
    )
    return _save(_clean(src.frames[0]), fmt, **kw)


_ENCODERS: dict[str, Callable[[_Source], bytes]] = {
    "jpeg": _encode_jpeg,
    "mpo": _encode_jpeg,
    "png": _encode_png,
    "gif": _encode_gif,
    "webp": _encode_webp,
    "tiff": _encode_tiff,
    "heic": _encode_heif,
    "avif": _encode_heif,
}


# ---------------------------------------------------------------------------------------------
# The file operation


def _kind(im: Image.Image, format_id: str, data: bytes) -> str:
    if format_id == "heif":
        return _heif_kind(im, data)
    if format_id == "jpeg" and im.format == "MPO":
        return "mpo"
    return format_id


def _rewrite(
    data: bytes,
    fid: str,
    opts: VisibleOptions,
    per_frame: Callable[[Image.Image, int], None],
) -> tuple[bytes, int, list[str], str]:
    """Decode every frame, run ``per_frame(frame, orientation)`` on it, re-encode once.

    Returns the encoded bytes, the frame count, notes on what the re-encode changed and the
    decoded kind (``mpo``, ``avif``... beyond the format id).
    """
    if not data:
        raise MalformedInput(f"empty {fid} data")
    im = _open(data, fid, opts)
    with im:
        kind = _kind(im, fid, data)
        count = _frames_count(im, opts) if kind not in ("mpo", "jpeg") else 1
        orientation: int | None = None
        frames: list[Image.Image] = []
        infos: list[dict[str, Any]] = []
        notes: list[str] = []
        palette_same = True
        for n in range(count):
            if n:
                try:
                    im.seek(n)
                except _DECODE_ERRORS as e:
                    raise MalformedInput(f"cannot decode frame {n}: {e}") from e
            frame = _load(im, f"frame {n}" if count > 1 else "the image", copy=count > 1)
            info = {k: v for k, v in im.info.items() if isinstance(k, str)}
            if kind == "gif":
                info["disposal"] = getattr(im, "disposal_method", 0)
                frame = _to_palette(frame, notes, n)
            if orientation is None:
                # read after decoding: Pillow's TIFF loader already applies the orientation
                orientation = _orientation(im)
            before = frame.getpalette() if frame.mode == "P" else None
            per_frame(frame, orientation)
            if before is not None and (frame.getpalette() or [])[: len(before)] != before:
                palette_same = False
            frames.append(frame)
            infos.append(info)
        src = _Source(im, data, kind, frames, infos, opts, notes, palette_same)
        try:
            encoded = _ENCODERS[kind](src)
        except (OSError, ValueError, KeyError, TypeError, RuntimeError) as e:
            raise VisibleLabelError(f"cannot re-encode the {kind} image: {e}") from e
    if orientation not in (None, 1):
        notes.append(f"drawn upright for EXIF orientation {orientation}")
    return encoded, len(frames), notes, kind


def rewrite_pixels(
    data: bytes, format_id: str, op: Callable[[Image.Image], None]
) -> tuple[bytes, list[str]]:
    """Apply ``op`` (in place) to every frame and re-encode in the same format and quality.

    The same decoder and encoders as the visible label (JPEG quantisation tables, PNG chunks,
    WebP quality, animation timing kept), so a pixel change such as a watermark costs one
    decode and one encode. Returns the bytes and notes on what the re-encode changed.
    """
    fid = format_id.lower()
    if fid not in FORMAT_IDS:
        raise UnsupportedFormat(
            f"pixel rewriting supports {', '.join(FORMAT_IDS)}, not {format_id!r}"
        )
    encoded, _, notes, _k = _rewrite(data, fid, VisibleOptions(), lambda frame, _o: op(frame))
    return encoded, notes


def render_visible(
    data: bytes,
    format_id: str,
    options: VisibleOptions | None = None,
    *,
    after: Callable[[Image.Image], None] | None = None,
) -> VisibleResult:
    """Decode ``data``, draw the label on every frame and re-encode it once.

    ``format_id`` is one of ``jpeg png gif webp tiff heif`` (``heif`` covers HEIC and AVIF).
    ``after`` runs on each labelled frame before encoding (the pipeline's watermark).
    Raises :class:`LabelTextError`, :class:`LabelDoesNotFit`,
    :class:`~synthlabel.label.fonts.MissingGlyphs`, :class:`~synthlabel.errors.LimitExceeded`
    (decompression bombs), :class:`~synthlabel.errors.MalformedInput` (truncated or broken
    data) or :class:`~synthlabel.errors.UnsupportedFormat`.
    """
    opts = options or VisibleOptions()
    fid = format_id.lower()
    if fid not in FORMAT_IDS:
        raise UnsupportedFormat(
            f"visible labels support {', '.join(FORMAT_IDS)}, not {format_id!r}"
        )
    problems = check_label_text(opts.text)
    if problems and opts.strict:
        raise LabelTextError(f"label text {opts.text!r}: {'; '.join(problems)}")
    warns = [*problems, *label_text_warnings(opts.text)]
    plans: list[_Plan] = []

    def per_frame(frame: Image.Image, orientation: int) -> None:
        if not plans:
            plans.append(_plan(frame, orientation, opts))
        _apply(plans[0], frame)
        if after is not None:
            after(frame)

    encoded, nframes, notes, kind = _rewrite(data, fid, opts, per_frame)
    plan = plans[0]
    layout = plan.layout
    return VisibleResult(
        data=encoded,
        box=layout.box,
        text_px=layout.ink_px,
        font=layout.font.describe(),
        frames=nframes,
        quality_note="; ".join(dict.fromkeys([*layout.notes, *notes])),
        pixel_box=plan.stored_box,
        min_px=layout.min_px,
        font_px=layout.font_px,
        format=kind,
        warnings=tuple(warns),
    )
