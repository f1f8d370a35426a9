"""Offline OCR (Chinese + English) for visible-label detection, on top of RapidOCR.

RapidOCR (``rapidocr-onnxruntime``, extra ``synthlabel[ocr]``) ships the PP-OCRv4 Chinese +
English detection and recognition ONNX models inside its wheel, so nothing is downloaded at
run time. This module adds what the label detector needs around it:

* :func:`ocr_image`: one pass on a copy downscaled to a long side of :data:`MAX_SIDE` px, and
  for larger images a second pass on the top and bottom strips at up to twice that scale, so
  small captions on an edge are still read; boxes come back in the image's own pixels;
* :func:`group_lines`: text boxes on one line (or on stacked lines of a multi-line label)
  joined into one caption candidate;
* :func:`ink_height`: the height of the glyph ink inside a box (the labeller's measure of
  "text height", GB 45438 §5.2), not the detector's padded box; ``inspect --deep`` and the
  conformance checks (``synthlabel assess``) both measure with it;
* :func:`elements`: the two required elements (AI element, generation element) in a string,
  tolerant of the usual OCR confusions (``Al``, ``A1`` for ``AI``).
"""

from __future__ import annotations

import functools
import re
import threading
import unicodedata
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from synthlabel.errors import SynthlabelError

#: Long side of the full-image OCR pass.
MAX_SIDE = 1280
#: Long side limit of the strip pass (top and bottom strips of large images).
STRIP_MAX_SIDE = 2560
#: Height of each strip, as a fraction of the image height.
STRIP_FRACTION = 0.18
#: Images larger than this are refused (decoding is bounded earlier; this bounds the copy).
MAX_PIXELS = 80_000_000

Box = tuple[int, int, int, int]
RGBArray = npt.NDArray[np.uint8]


class OcrUnavailable(SynthlabelError):
    """The OCR engine is not installed (``pip install 'synthlabel[ocr]'``)."""


@dataclass(frozen=True)
class TextBox:
    """One recognised text line: text, axis-aligned box in image pixels, recogniser score."""

    text: str
    box: Box
    score: float
    source: str = "full"  # which pass read it: "full", "strip", "crop"

    @property
    def height(self) -> int:
        return self.box[3] - self.box[1]

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "box": list(self.box), "score": round(self.score, 3)}


_lock = threading.Lock()


@functools.lru_cache(maxsize=4)
def _engine(threads: int) -> Any:
    try:
        from rapidocr_onnxruntime import RapidOCR  # type: ignore[import-untyped]
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise OcrUnavailable(
            "OCR needs the optional dependency rapidocr-onnxruntime: pip install 'synthlabel[ocr]'"
        ) from exc
    return RapidOCR(
        det_limit_type="max",  # never upscale the detector input: we choose the scale
        intra_op_num_threads=threads,
        inter_op_num_threads=1,
        print_verbose=False,
    )


def available() -> bool:
    try:
        _engine(1)
    except OcrUnavailable:
        return False
    return True


def _resize(rgb: RGBArray, scale: float) -> RGBArray:
    import cv2

    if abs(scale - 1.0) < 1e-3:
        return rgb
    h, w = rgb.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    return np.ascontiguousarray(cv2.resize(rgb, size, interpolation=interp))


def _run(rgb: RGBArray, threads: int, *, detect: bool = True) -> list[tuple[Box, str, float]]:
    """Raw OCR of one RGB array: (box in its pixels, text, score)."""
    engine = _engine(threads)
    h, w = rgb.shape[:2]
    if h < 8 or w < 8:
        return []
    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    with _lock:  # onnxruntime sessions are shared; one call at a time keeps memory bounded
        if detect:
            result, _ = engine(bgr)
        else:
            result, _ = engine(bgr, use_det=False, use_cls=False)
    out: list[tuple[Box, str, float]] = []
    for item in result or ():
        if detect:
            pts, text, score = item
            arr = np.asarray(pts, dtype=np.float64).reshape(-1, 2)
            x0, y0 = arr.min(axis=0)
            x1, y1 = arr.max(axis=0)
            box = (
                max(0, int(np.floor(x0))),
                max(0, int(np.floor(y0))),
                min(w, int(np.ceil(x1))),
                min(h, int(np.ceil(y1))),
            )
        else:
            text, score = item[0], item[1]
            box = (0, 0, w, h)
        out.append((box, str(text), float(score)))
    return out


def _iou(a: Box, b: Box) -> float:
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def ocr_image(
    rgb: RGBArray,
    *,
    max_side: int = MAX_SIDE,
    strips: bool = True,
    threads: int = 1,
    min_score: float = 0.5,
) -> list[TextBox]:
    """Text lines of an RGB image (H, W, 3), boxes in its own pixel coordinates."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.size == 0:
        return []
    h, w = rgb.shape[:2]
    if h * w > MAX_PIXELS:
        raise SynthlabelError(f"image of {w}×{h} pixels is too large for OCR")
    found: list[TextBox] = []
    scale = min(1.0, max_side / max(h, w))
    for box, text, score in _run(_resize(rgb, scale), threads):
        found.append(TextBox(text, _scaled_box(box, scale, 0, w, h), score, "full"))
    strip_scale = min(1.0, STRIP_MAX_SIDE / w, 2 * scale)
    if strips and strip_scale > scale * 1.3:
        band = max(8, round(h * STRIP_FRACTION))
        for y0 in (0, h - band):
            part = rgb[y0 : y0 + band]
            for box, text, score in _run(_resize(part, strip_scale), threads):
                found.append(TextBox(text, _scaled_box(box, strip_scale, y0, w, h), score, "strip"))
    return _dedup([b for b in found if b.score >= min_score and b.text.strip()])


def ocr_crop(rgb: RGBArray, box: Box, *, threads: int = 1, pad: float = 0.25) -> list[TextBox]:
    """OCR only the region ``box`` (padded): cheap re-reading of a known caption place."""
    h, w = rgb.shape[:2]
    bh = box[3] - box[1]
    px = round(pad * bh) + 2
    x0, y0 = max(0, box[0] - px), max(0, box[1] - px)
    x1, y1 = min(w, box[2] + px), min(h, box[3] + px)
    if x1 - x0 < 8 or y1 - y0 < 8:
        return []
    crop = rgb[y0:y1, x0:x1]
    scale = min(1.0, MAX_SIDE / max(crop.shape[:2]))
    out = []
    for b, text, score in _run(_resize(crop, scale), threads):
        bb = _scaled_box(b, scale, 0, x1 - x0, y1 - y0)
        out.append(TextBox(text, (bb[0] + x0, bb[1] + y0, bb[2] + x0, bb[3] + y0), score, "crop"))
    return [b for b in out if b.score >= 0.5 and b.text.strip()]


def _scaled_box(box: Box, scale: float, dy: int, w: int, h: int) -> Box:
    x0, y0, x1, y1 = (v / scale for v in box)
    return (
        max(0, int(np.floor(x0))),
        max(0, int(np.floor(y0 + dy))),
        min(w, int(np.ceil(x1))),
        min(h, int(np.ceil(y1 + dy))),
    )


def _dedup(boxes: list[TextBox]) -> list[TextBox]:
    """Drop boxes another pass read too (IoU > 0.3): keep the better score."""
    kept: list[TextBox] = []
    for b in sorted(boxes, key=lambda b: -b.score):
        if all(_iou(b.box, k.box) <= 0.3 for k in kept):
            kept.append(b)
    return sorted(kept, key=lambda b: (b.box[1], b.box[0]))


# ---------------------------------------------------------------------------------------------
# Lines into caption candidates


def group_lines(boxes: list[TextBox]) -> list[list[TextBox]]:
    """Join boxes of one caption: same line and close (gap < 1.2 heights), or stacked lines of
    similar height (vertical gap < 0.8 heights, overlapping horizontally)."""
    n = len(boxes)
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(n):
        a = boxes[i].box
        ha = a[3] - a[1]
        for j in range(i + 1, n):
            b = boxes[j].box
            hb = b[3] - b[1]
            if min(ha, hb) <= 0 or max(ha, hb) / min(ha, hb) > 1.5:
                continue
            hm = (ha + hb) / 2
            v_overlap = min(a[3], b[3]) - max(a[1], b[1])
            h_gap = max(a[0], b[0]) - min(a[2], b[2])
            h_overlap = -h_gap
            v_gap = max(a[1], b[1]) - min(a[3], b[3])
            same_line = v_overlap > 0.5 * hm and h_gap < 1.2 * hm
            stacked = h_overlap > 0 and v_gap < 0.8 * hm
            if same_line or stacked:
                parent[find(i)] = find(j)
    groups: dict[int, list[TextBox]] = {}
    for i in range(n):
        groups.setdefault(find(i), []).append(boxes[i])
    out = [
        sorted(g, key=lambda b: (round(b.box[1] / max(1, b.height)), b.box[0]))
        for g in groups.values()
    ]
    return sorted(out, key=lambda g: (min(b.box[1] for b in g), min(b.box[0] for b in g)))


def union_box(boxes: list[TextBox]) -> Box:
    return (
        min(b.box[0] for b in boxes),
        min(b.box[1] for b in boxes),
        max(b.box[2] for b in boxes),
        max(b.box[3] for b in boxes),
    )


# ---------------------------------------------------------------------------------------------
# Text height


#: Minimum contrast (grey levels, 0-255) between text and background to measure at all.
MIN_CONTRAST = 30.0


def ink_height(rgb: RGBArray, box: Box) -> int | None:
    """Height in pixels of the glyph ink of the text line in ``box`` (None: not measurable).

    GB 45438 asks for a text height of at least 5 % of the short side without defining "text
    height"; we read it as the labeller does (``label/visible.py``): the height of the glyph
    ink, rows where a glyph covers at least half a pixel. On a picture:

    1. the OCR box of the line gives its place and its background level (the median grey of
       the box: strokes cover far less than half of it);
    2. the text polarity is the extreme that lies furthest from that level (light text on a
       dark plate or dark text on a light one), the text colour its 99th (or 1st) percentile;
       when the other extreme stands out from the background too and its ink is ringed by the
       first's (an outlined caption over a background between text and outline colour), the
       other extreme is the text (:func:`_rings`);
    3. pixels more than half-way from the background to the text colour are ink (>= 50 %
       coverage), in the box padded by 35 % of its height above and below;
    4. connected ink components that cross the middle third of the box, are no taller than
       1.3 box heights and do not run into the edge of the padded crop (whether that edge is
       inside the picture or the picture's own border) are glyphs; the ink height is the
       extent from the highest glyph top to the lowest glyph bottom.

    Step 4 keeps the plate's edge, the picture around it (stripes, noise seen through or
    beside a translucent plate) and specks out of the measure. On 192 plate captions and 32
    outlined ones rendered by our labeller (``bench/bench_caption_height.py``) it is within
    1 px of the labeller's figure on every caption the OCR reads.
    """
    import cv2

    h, w = rgb.shape[:2]
    x0, y0, x1, y1 = max(0, box[0]), max(0, box[1]), min(w, box[2]), min(h, box[3])
    bh, bw = y1 - y0, x1 - x0
    if bh < 4 or bw < 4:
        return None
    pad_y, pad_x = round(0.35 * bh), round(0.15 * bh)
    cy0, cy1 = max(0, y0 - pad_y), min(h, y1 + pad_y)
    cx0, cx1 = max(0, x0 - pad_x), min(w, x1 + pad_x)
    grey = cv2.cvtColor(np.ascontiguousarray(rgb[cy0:cy1, cx0:cx1]), cv2.COLOR_RGB2GRAY)
    crop = grey.astype(np.float32)
    core = crop[y0 - cy0 : y1 - cy0, x0 - cx0 : x1 - cx0]
    bg = float(np.median(core))
    hi, lo = (float(v) for v in np.percentile(core, (99, 1)))
    polarity = 1.0 if hi - bg >= bg - lo else -1.0
    text = hi if polarity > 0 else lo
    if abs(text - bg) < MIN_CONTRAST:
        return None
    threshold = bg + 0.5 * (text - bg)
    mask = ((crop - threshold) * polarity > 0).astype(np.uint8)
    other = lo if polarity > 0 else hi
    if abs(other - bg) >= MIN_CONTRAST:
        # both extremes stand out from the background: an outlined caption (light text with a
        # dark outline or the reverse) over a background between them. The text is the ink
        # that the other ink rings, whichever extreme lies further from the background.
        other_mask = ((crop - (bg + 0.5 * (other - bg))) * -polarity > 0).astype(np.uint8)
        if _rings(other_mask, mask):
            mask = other_mask
    count, _labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    band_top = y0 + bh / 3 - cy0
    band_bottom = y1 - bh / 3 - cy0
    crop_h, crop_w = crop.shape
    min_area = max(2, round(0.002 * bh * bw))
    tops, bottoms = [], []
    for k in range(1, count):
        x, y, cw, ch, area = (int(v) for v in stats[k])
        if area < min_area or ch > 1.3 * bh:
            continue
        if y + ch <= band_top or y >= band_bottom:
            continue  # does not cross the middle of the line
        if x + cw <= x0 - cx0 or x >= x1 - cx0:
            continue  # beside the box
        if y == 0 or x == 0 or y + ch >= crop_h or x + cw >= crop_w:
            continue  # runs into the surroundings (or the picture's border): not a glyph
        tops.append(y)
        bottoms.append(y + ch)
    if not tops:
        return None
    return max(bottoms) - min(tops)


def _ring_share(inner: npt.NDArray[np.uint8], outer: npt.NDArray[np.uint8]) -> float:
    """Share of ``outer`` among the pixels just around ``inner`` (its 8-neighbours not in it),
    leaving out those that are next to ``outer`` without being in it: the anti-aliased
    transition between light text and a dark outline is mid grey, like the background."""
    import cv2

    k3 = np.ones((3, 3), np.uint8)
    ring = (cv2.dilate(inner, k3) > 0) & (inner == 0)
    ring &= (outer > 0) | (cv2.dilate(outer, k3) == 0)
    n = int(ring.sum())
    return float(outer[ring].sum()) / n if n else 0.0


def _rings(inner: npt.NDArray[np.uint8], outer: npt.NDArray[np.uint8]) -> bool:
    """Whether ``outer`` is an outline around ``inner``: nearly all that surrounds ``inner``
    is ``outer``, and far more so than the other way round (an outline has the background on
    its outer side). Measured on outlined captions over mid grey: 0.92-1.0 around the text,
    0.39-0.52 around the outline."""
    if not inner.any() or not outer.any():
        return False
    share_in, share_out = _ring_share(inner, outer), _ring_share(outer, inner)
    return share_in >= 0.8 and share_in >= 1.5 * share_out


# ---------------------------------------------------------------------------------------------
# The two elements (GB 45438 §1: AI element and generation element)

# ``AI`` as a token (not inside MAIN/SAID/AIR), also the OCR confusions Al / A1 / A| when
# they stand next to CJK or alone.
_AI = re.compile(r"(?<![A-Za-z])AI(?:GC)?(?![a-z])|(?<![A-Za-z])A[l1|](?=[\u4e00-\u9fff]|$|\s)")
_GEN_ZH = re.compile("生成|合成")
_GEN_EN = re.compile(r"generat(?:ed|ive|ion)|synthe(?:tic|si[sz]ed)", re.IGNORECASE)


def normalise(text: str) -> str:
    return unicodedata.normalize("NFKC", text).replace(" ", "")


@dataclass(frozen=True)
class Elements:
    ai: bool
    generation: bool
    generation_en: bool = False

    @property
    def both(self) -> bool:
        return self.ai and self.generation

    @property
    def any(self) -> bool:
        return self.ai or self.generation

    def missing(self) -> list[str]:
        out = []
        if not self.ai:
            out.append("AI element (人工智能 or AI)")
        if not self.generation:
            out.append("generation element (生成 or 合成)")
        return out


def elements(text: str) -> Elements:
    """Which required elements ``text`` contains (English generation words count, flagged)."""
    t = unicodedata.normalize("NFKC", text)
    squeezed = t.replace(" ", "")
    ai = "人工智能" in squeezed or bool(_AI.search(t)) or bool(_AI.search(squeezed))
    gen_zh = bool(_GEN_ZH.search(squeezed))
    gen_en = bool(_GEN_EN.search(t))
    return Elements(ai, gen_zh or gen_en, gen_en and not gen_zh)
