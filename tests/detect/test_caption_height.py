"""The detector's caption text height against the labeller's own figure.

Captions are rendered by our labeller (``render_visible``) over backgrounds where the earlier
Otsu measure went wrong (flat mid grey: 20 px read for 12; coarse and fine noise seen through
the plate: 1-6 px read for 10-15; stripes beside a caption in the top-left corner: 29 px for
15), and ``visible.caption``'s ``height_px`` must be within 1 px of ``VisibleResult.text_px``.
The full sweep (192 plate captions, 32 outlined ones) is ``bench/bench_caption_height.py``.

Outlined captions (white text with a dark outline, or dark text with a white one) over mid
grey: the measure took the extreme furthest from the grey as the text colour, mostly the
outline's, and read the text plus two strokes (14 px for 12, 43 for 36, 64 for 54).
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from synthlabel.detect import _ocr
from synthlabel.detect.base import Asset, DetectOptions
from synthlabel.detect.visible import DETECTOR
from synthlabel.formats import registry as formats
from synthlabel.inspect.reader import inspect_bytes
from synthlabel.label.visible import VisibleOptions, render_visible

needs_ocr = pytest.mark.skipif(not _ocr.available(), reason="synthlabel[ocr] not installed")
DEEP = DetectOptions(max_cost="expensive", time_budget=None)


def _background(w: int, h: int, kind: str) -> Image.Image:
    rng = np.random.default_rng(7)
    if kind == "grey":
        return Image.new("RGB", (w, h), (128, 128, 128))
    if kind == "white":
        return Image.new("RGB", (w, h), (250, 250, 250))
    if kind == "coarse-noise":
        small = (rng.random((h // 12 + 1, w // 12 + 1, 3)) * 255).astype(np.uint8)
        return Image.fromarray(small).resize((w, h), Image.Resampling.BICUBIC)
    if kind == "fine-noise":
        return Image.fromarray((rng.random((h, w, 3)) * 255).astype(np.uint8))
    assert kind == "stripes"
    img = Image.new("RGB", (w, h), (240, 240, 240))
    step = max(4, min(w, h) // 40)
    draw = ImageDraw.Draw(img)
    for x in range(-h, w, 2 * step):
        draw.polygon([(x, 0), (x + step, 0), (x + step + h, h), (x + h, h)], fill=(15, 15, 15))
    return img


@needs_ocr
@pytest.mark.parametrize(
    ("size", "kind", "position", "ratio"),
    [
        ((320, 240), "grey", "bottom-right", 0.05),
        ((320, 240), "coarse-noise", "bottom-right", 0.03),
        ((640, 480), "fine-noise", "bottom-right", 0.03),
        ((640, 480), "stripes", "top-left", 0.03),
        ((1280, 720), "white", "bottom", 0.05),
        ((1080, 1920), "stripes", "bottom", 0.03),
    ],
)
def test_caption_height_matches_the_labeller(
    size: tuple[int, int], kind: str, position: str, ratio: float
) -> None:
    buf = io.BytesIO()
    _background(*size, kind).save(buf, "PNG")
    opts = VisibleOptions(position=position, min_height_ratio=ratio, strict=ratio >= 0.05)
    res = render_visible(buf.getvalue(), "png", opts)
    report = inspect_bytes(res.data, path="x.png", c2pa=False)
    handler = formats.get(report.format) if report.format else None
    found = DETECTOR.detect(Asset("x.png", handler, report, res.data), DEEP)
    caps = [f for f in found if f.code == "visible.caption"]
    assert len(caps) == 1, found
    d = caps[0].details
    assert d["height_px"] is not None, d
    assert abs(d["height_px"] - res.text_px) <= 1, (d["height_px"], res.text_px)
    # the compliance verdict follows: 5 % captions comply, 3 % ones fall short
    assert (d["compliant"] == "yes") == (ratio >= 0.05), d["failing"]


def _outlined(size: tuple[int, int], theme: str, position: str, ratio: float) -> tuple[bytes, int]:
    """An outlined caption by our labeller on mid grey (128): PNG and the labeller's ink height
    (the text's, the outline not counted)."""
    buf = io.BytesIO()
    _background(*size, "grey").save(buf, "PNG")
    opts = VisibleOptions(
        position=position,
        min_height_ratio=ratio,
        strict=ratio >= 0.05,
        style="outline",
        theme=theme,
    )
    res = render_visible(buf.getvalue(), "png", opts)
    return res.data, res.text_px


@pytest.mark.parametrize("theme", ["dark", "light"])
@pytest.mark.parametrize(
    ("size", "position", "ratio"),
    [
        ((320, 240), "bottom-right", 0.05),
        ((1280, 720), "top-left", 0.03),
        ((1080, 1920), "bottom", 0.05),
    ],
)
def test_ink_height_of_an_outlined_caption_on_mid_grey(
    size: tuple[int, int], position: str, ratio: float, theme: str
) -> None:
    """The text's ink, not the outline's: in a box around the caption as OCR gives it."""
    png, text_px = _outlined(size, theme, position, ratio)
    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    grey = rgb.mean(axis=2)
    rows = np.flatnonzero((np.abs(grey - 128) > 40).any(axis=1))
    cols = np.flatnonzero((np.abs(grey - 128) > 40).any(axis=0))
    pad = max(1, (rows[-1] - rows[0]) // 10)
    box = (
        int(cols[0]) - pad,
        int(rows[0]) - pad,
        int(cols[-1]) + 1 + pad,
        int(rows[-1]) + 1 + pad,
    )
    got = _ocr.ink_height(rgb, box)
    assert got is not None and abs(got - text_px) <= 1, (got, text_px)


@needs_ocr
@pytest.mark.parametrize(
    ("size", "theme", "position", "ratio"),
    [((1280, 720), "dark", "bottom-right", 0.05), ((640, 480), "light", "bottom-right", 0.03)],
)
def test_outlined_caption_height_in_inspect_deep(
    size: tuple[int, int], theme: str, position: str, ratio: float
) -> None:
    png, text_px = _outlined(size, theme, position, ratio)
    report = inspect_bytes(png, path="x.png", c2pa=False)
    handler = formats.get(report.format) if report.format else None
    found = DETECTOR.detect(Asset("x.png", handler, report, png), DEEP)
    caps = [f for f in found if f.code == "visible.caption"]
    assert len(caps) == 1, found
    d = caps[0].details
    assert d["height_px"] is not None and abs(d["height_px"] - text_px) <= 1, (d, text_px)
    assert (d["compliant"] == "yes") == (ratio >= 0.05), d["failing"]
