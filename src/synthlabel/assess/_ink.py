"""The "text height" of a caption line, measured on the pixels (GB 45438 §5.2 / §5.4).

The standard asks for a text height of at least 5 % of the short side without defining "text
height"; we read it as the labeller does (``label/visible.py``): the height of the glyph ink,
rows where a glyph covers at least half a pixel. On a picture that is::

    1. the OCR box of one text line gives the caption's place and its background level
       (the median grey of the box: strokes cover far less than half of it);
    2. the text polarity is the side of the extreme that lies furthest from that level
       (light text on a dark plate or dark text on a light one), the text colour the 99th
       (or 1st) percentile;
    3. pixels more than half-way from the background to the text colour are ink (>= 50 %
       coverage), in the box padded by 35 % of its height above and below;
    4. connected ink components that cross the middle third of the box, are no taller than
       1.3 box heights and do not run into the edge of the padded crop are glyphs;
       the ink height is the extent from the highest glyph top to the lowest glyph bottom.

Step 4 keeps the plate's edge, the picture around it and specks out of the measure.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Box = tuple[int, int, int, int]

#: Minimum contrast (grey levels, 0-255) between text and background to measure at all.
MIN_CONTRAST = 30.0


def ink_height(rgb: npt.NDArray[np.uint8], box: Box) -> int | None:
    """Ink height in pixels of the text line in ``box`` of ``rgb`` (None: not measurable)."""
    import cv2

    h, w = rgb.shape[:2]
    x0, y0, x1, y1 = max(0, box[0]), max(0, box[1]), min(w, box[2]), min(h, box[3])
    bh, bw = y1 - y0, x1 - x0
    if bh < 4 or bw < 4:
        return None
    grey = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY).astype(np.float32)
    core = grey[y0:y1, x0:x1]
    bg = float(np.median(core))
    hi, lo = (float(v) for v in np.percentile(core, (99, 1)))
    polarity = 1.0 if hi - bg >= bg - lo else -1.0
    text = hi if polarity > 0 else lo
    if abs(text - bg) < MIN_CONTRAST:
        return None
    threshold = bg + 0.5 * (text - bg)
    pad_y, pad_x = round(0.35 * bh), round(0.15 * bh)
    cy0, cy1 = max(0, y0 - pad_y), min(h, y1 + pad_y)
    cx0, cx1 = max(0, x0 - pad_x), min(w, x1 + pad_x)
    crop = grey[cy0:cy1, cx0:cx1]
    mask = ((crop - threshold) * polarity > 0).astype(np.uint8)
    count, _labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    band_top = y0 + bh / 3 - cy0
    band_bottom = y1 - bh / 3 - cy0
    crop_h, crop_w = cy1 - cy0, cx1 - cx0
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
        touches_edge = (
            (y == 0 and cy0 > 0)
            or (y + ch >= crop_h and cy1 < h)
            or (x == 0 and cx0 > 0)
            or (x + cw >= crop_w and cx1 < w)
        )
        if touches_edge:
            continue  # runs into the surroundings: not a glyph
        tops.append(y)
        bottoms.append(y + ch)
    if not tops:
        return None
    return max(bottoms) - min(tops)
