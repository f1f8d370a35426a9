"""Server-side SVG charts: vertical (grouped or stacked) bars, horizontal bars and pies.

One implementation for the reports (:mod:`synthlabel.assess.report`) and the service's
dashboard (``service/web/charts.py`` wraps these with its own colours). Every function returns
a ``markupsafe.Markup`` SVG string that scales to its container through its ``viewBox``; every
label is escaped. Charts carry a ``<title>`` and a ``<desc>`` listing the data, so a screen
reader (and a text extraction of the PDF) gets the numbers, not just the picture.

The default palette is chosen so neighbouring series differ in lightness as well as hue: a
report printed in greyscale still tells the series apart (``tests/assess`` checks it).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from markupsafe import Markup, escape

from synthlabel.assess.sections import Chart

# Series colours in order; the luminance (0-255) alternates dark / light: 61, 175, 121, 221,
# 83, 152, 69, 205. The first six are at least 20 levels apart from each other.
PALETTE = (
    "#1d3f8a",  # navy
    "#f2a33a",  # orange
    "#2a9d8f",  # teal
    "#f6e27f",  # pale yellow
    "#7b3294",  # purple
    "#5aa9e6",  # sky blue
    "#8c2d04",  # brown
    "#b8e0a6",  # pale green
)
# Series or slice names with a fixed meaning get a fixed colour (matched case-insensitively).
# Greyscale: fail 77 < pass 118 < warn 184 < info 205; confirmed 77 < suspected 116 <
# possible 159 < no_trace 212.
SEMANTIC = {
    "pass": "#3a9a5b",
    "passed": "#3a9a5b",
    "ok": "#3a9a5b",
    "survived": "#3a9a5b",
    "fail": "#b42318",
    "failed": "#b42318",
    "lost": "#b42318",
    "warn": "#f5b041",
    "warning": "#f5b041",
    "info": "#c8ced8",
    "skipped": "#c8ced8",
    "confirmed": "#b42318",
    "possible": "#f79009",
    "suspected": "#3b82c4",
    "no_trace": "#d0d5dd",
    "no trace": "#d0d5dd",
    "unreadable": "#475467",
}
TEXT = "#344054"
MUTED = "#667085"
GRID = "#e4e7ec"
AXIS = "#98a2b3"
THRESHOLD = "#101828"
# A white outline behind value and threshold labels keeps them legible over bars and lines.
HALO = ' stroke="#ffffff" stroke-width="3" stroke-linejoin="round" paint-order="stroke"'


def colour(key: str, index: int = 0) -> str:
    """The fixed colour of a meaningful name ("pass", "confirmed"...), else the palette's."""
    return SEMANTIC.get(key.strip().lower(), PALETTE[index % len(PALETTE)])


def series_colours(names: Sequence[str]) -> dict[str, str]:
    """Colours for series: the semantic ones, then the palette in order for the rest."""
    out: dict[str, str] = {}
    free = 0
    for name in names:
        fixed = SEMANTIC.get(name.strip().lower())
        if fixed is not None:
            out[name] = fixed
        else:
            out[name] = PALETTE[free % len(PALETTE)]
            free += 1
    return out


def luminance(hex_colour: str) -> float:
    """Greyscale value (0-255, ITU-R BT.601 weights) of ``#rrggbb``."""
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return 0.299 * r + 0.587 * g + 0.114 * b


def fmt(value: float) -> str:
    """A compact number: 12, 3.5, 0.25, 93.3, 1200."""
    if not math.isfinite(value):
        return "–"
    if abs(value - round(value)) < 1e-9:
        return str(round(value))
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}".rstrip("0").rstrip(".")


def nice_max(value: float, *, integer: bool = False) -> float:
    """A round axis maximum at or above ``value`` that divides into 4 round ticks
    (step 1, 2, 2.5 or 5 x 10^n; whole-number steps for counts)."""
    if not math.isfinite(value) or value <= 0:
        return 4.0 if integer else 1.0
    if integer and value <= 4:
        return 4.0
    raw = value / 4
    exp = math.floor(math.log10(raw))
    for base in (1.0, 2.0, 2.5, 5.0, 10.0):
        step = base * math.pow(10, exp)
        if integer and (step < 1 or abs(step - round(step)) > 1e-9):
            continue
        if step * 4 >= value - 1e-9:
            return step * 4
    return math.pow(10, exp + 1) * 4  # pragma: no cover - the loop always returns


def text_width(text: str, size: float = 11) -> float:
    """Approximate rendered width in px: CJK characters are about one em, others ~0.58 em."""
    return sum(size if ord(c) > 0x2E80 else size * 0.58 for c in text)


def clip(text: str, max_px: float, size: float = 11) -> str:
    """``text`` shortened with an ellipsis to fit ``max_px``."""
    if text_width(text, size) <= max_px:
        return text
    out = ""
    for c in text:
        if text_width(out + c + "…", size) > max_px:
            break
        out += c
    return out + "…"


def _clean(values: Sequence[float], n: int) -> list[float]:
    """``n`` finite non-negative values (missing, NaN, inf and negatives count as 0)."""
    vals = [float(v) if isinstance(v, int | float) else 0.0 for v in list(values)[:n]]
    vals += [0.0] * (n - len(vals))
    return [v if math.isfinite(v) and v > 0 else 0.0 for v in vals]


def _finite(value: float | None) -> float | None:
    """``value`` when it is a finite number, else None (NaN/inf axis settings are ignored)."""
    return value if value is not None and math.isfinite(value) else None


def _font(family: str | None) -> str:
    return f' font-family="{escape(family)}"' if family else ""


def _open(width: float, height: float, title: str, desc: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:.0f} {height:.0f}" '
        f'role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>'
        f"<desc>{escape(desc)}</desc>"
    )


def _text(
    x: float,
    y: float,
    text: str,
    *,
    size: float = 11,
    anchor: str = "start",
    fill: str = TEXT,
    weight: str = "",
    font: str = "",
    extra: str = "",
) -> str:
    w = f' font-weight="{weight}"' if weight else ""
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size:g}" text-anchor="{anchor}" '
        f'fill="{fill}"{w}{font}{extra}>{escape(text)}</text>'
    )


def _describe(labels: Sequence[str], series: Mapping[str, Sequence[float]], unit: str) -> str:
    u = f" {unit}" if unit else ""
    parts = []
    for name, values in series.items():
        pairs = ", ".join(f"{lab}: {fmt(v)}{u}" for lab, v in zip(labels, values, strict=False))
        parts.append(f"{name}: {pairs}" if len(series) > 1 else pairs)
    return "; ".join(parts)


def _legend(
    names: Sequence[str],
    colours: Mapping[str, str],
    display: Mapping[str, str],
    x0: float,
    y: float,
    width: float,
    font: str,
) -> tuple[str, float]:
    """A wrapping legend row; returns its SVG and the height it took."""
    parts = []
    x, line = x0, 0
    for name in names:
        text = display.get(name, name)
        w = 18 + text_width(text) + 14
        if x > x0 and x + w > width:
            x, line = x0, line + 1
        yy = y + line * 16
        parts.append(
            f'<rect x="{x:.1f}" y="{yy:.1f}" width="11" height="11" rx="2" '
            f'fill="{colours[name]}" stroke="#ffffff" stroke-width="0.5"/>'
            + _text(x + 15, yy + 9.5, text, font=font)
        )
        x += w
    return "".join(parts), (line + 1) * 16


def _empty(width: float, y: float, text: str, font: str) -> str:
    return _text(width / 2, y, text, size=12, anchor="middle", fill=AXIS, font=font)


def bar_chart(
    labels: Sequence[str],
    series: Mapping[str, Sequence[float]],
    *,
    title: str,
    unit: str = "",
    max_value: float | None = None,
    threshold: float | None = None,
    threshold_label: str = "{value}",
    stacked: bool = False,
    colours: Mapping[str, str] | None = None,
    series_labels: Mapping[str, str] | None = None,
    tick_labels: Sequence[str] | None = None,
    legend: bool | None = None,
    value_labels: bool | None = None,
    empty: str = "No data",
    width: int = 640,
    height: int = 280,
    font_family: str | None = None,
) -> Markup:
    """Vertical bars, one group per label: side by side (``stacked=False``) or stacked.

    ``colours`` maps series names to colours (default: :func:`series_colours`);
    ``series_labels`` gives the legend text; ``tick_labels`` the text under each bar (default:
    the labels); ``threshold`` draws a dashed reference line labelled with
    ``threshold_label.format(value=...)``; the axis ends at ``max_value`` when given."""
    font = _font(font_family)
    threshold, max_value = _finite(threshold), _finite(max_value)
    n = len(labels)
    names = list(series)
    data = {k: _clean(series[k], n) for k in names}
    colours = dict(colours) if colours is not None else series_colours(names)
    display = dict(series_labels or {})
    ticks_text = list(tick_labels) if tick_labels is not None else [str(x) for x in labels]
    show_legend = (len(names) > 1 or stacked) if legend is None else legend
    totals = [sum(data[k][i] for k in names) for i in range(n)]
    peak = max(totals if stacked else [v for vs in data.values() for v in vs], default=0.0)
    integer = all(v == int(v) for vs in data.values() for v in vs) and not unit.startswith("%")
    if max_value is not None and max_value > 0 and peak <= max_value:
        top = float(max_value)
    else:
        top = nice_max(max(peak, threshold or 0.0), integer=integer)

    legend_svg, legend_h = ("", 0.0)
    if show_legend and names:
        legend_svg, legend_h = _legend(names, colours, display, 8, 6, width - 8, font)
    tick_w = max(text_width(fmt(top * k / 4), 10) for k in range(5))
    left = max(30.0, tick_w + 12)
    right = 12.0
    top_pad = legend_h + (22 if unit else 12) + 6
    plot_w = width - left - right
    slot = plot_w / max(1, n)
    longest = max((text_width(t, 10) for t in ticks_text), default=0.0)
    rotate = longest > slot * 0.95 and n > 1
    every = 1
    if rotate and slot < 14:  # too dense even rotated: label every k-th bar
        every = math.ceil(14 / slot)
    label_room = min(longest, 120.0)
    bottom = (label_room * 0.6 + 18) if rotate else 22.0
    plot_h = max(40.0, height - top_pad - bottom)
    height = int(top_pad + plot_h + bottom)
    y0 = top_pad + plot_h  # the baseline

    def ypos(v: float) -> float:
        return y0 - plot_h * min(v, top) / top

    parts = [_open(width, height, title, _describe(labels, data, unit)), legend_svg]
    if unit:
        parts.append(
            _text(left - 6, top_pad - 10, unit, size=10, anchor="end", fill=MUTED, font=font)
        )
    for k in range(5):
        v = top * k / 4
        y = ypos(v)
        parts.append(
            f'<line x1="{left:.1f}" x2="{width - right:.1f}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="{GRID if k else AXIS}" stroke-width="1"/>'
            + _text(left - 6, y + 3.5, fmt(v), size=10, anchor="end", fill=MUTED, font=font)
        )
    groups = 1 if stacked else max(1, len(names))
    bar_total = max(3.0, min(slot * 0.7, 44.0 * groups))
    bar = bar_total / groups
    show_values = (n * groups <= 24 and bar >= 14) if value_labels is None else value_labels
    values_svg: list[str] = []  # drawn last, over the threshold line
    for i in range(n):
        x0 = left + slot * i + (slot - bar_total) / 2
        base = 0.0
        for j, name in enumerate(names):
            v = data[name][i]
            label = display.get(name, name)
            if stacked:
                x, y_top, y_bot = x0, ypos(base + v), ypos(base)
                base += v
            else:
                x, y_top, y_bot = x0 + j * bar, ypos(v), y0
            h = y_bot - y_top
            if v > 0:
                tip = f"{labels[i]}"
                tip += f" · {label}" if len(names) > 1 else ""
                tip += f": {fmt(v)}{' ' + unit if unit else ''}"
                bw = max(bar - (0 if stacked else 1), 1)
                fill = colours.get(name, PALETTE[j % len(PALETTE)])
                parts.append(
                    f'<rect x="{x:.1f}" y="{y_top:.1f}" width="{bw:.1f}" '
                    f'height="{max(h, 0.5):.1f}" '
                    f'fill="{fill}" stroke="#ffffff" stroke-width="0.6">'
                    f"<title>{escape(tip)}</title></rect>"
                )
            if show_values and not stacked and v > 0:
                values_svg.append(
                    _text(
                        x + bar / 2,
                        y_top - 4,
                        fmt(v),
                        size=9.5,
                        anchor="middle",
                        font=font,
                        extra=HALO,
                    )
                )
        if show_values and stacked and totals[i] > 0:
            values_svg.append(
                _text(
                    x0 + bar_total / 2,
                    ypos(totals[i]) - 4,
                    fmt(totals[i]),
                    size=9.5,
                    anchor="middle",
                    font=font,
                    extra=HALO,
                )
            )
        if i % every == 0:
            cx = left + slot * i + slot / 2
            tick = ticks_text[i]
            if rotate:
                t = clip(tick, 120, 10)
                parts.append(
                    _text(
                        cx + 3,
                        y0 + 12,
                        t,
                        size=10,
                        anchor="end",
                        fill=TEXT,
                        font=font,
                        extra=f' transform="rotate(-35 {cx + 3:.1f} {y0 + 12:.1f})"',
                    )
                )
            else:
                parts.append(_text(cx, y0 + 15, tick, size=10, anchor="middle", font=font))
    if threshold is not None and math.isfinite(threshold):
        y = ypos(threshold)
        parts.append(
            f'<line x1="{left:.1f}" x2="{width - right:.1f}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="{THRESHOLD}" stroke-width="1.4" stroke-dasharray="6 4"/>'
            + _text(
                width - right - 2,
                y - 4,
                threshold_label.format(value=fmt(threshold) + (f" {unit}" if unit else "")),
                size=10,
                anchor="end",
                fill=THRESHOLD,
                weight="600",
                font=font,
                extra=HALO,
            )
        )
    if not any(totals):
        parts.append(_empty(width, top_pad + plot_h / 2, empty, font))
    else:
        parts += values_svg
    parts.append("</svg>")
    return Markup("".join(parts))


def hbar_chart(
    labels: Sequence[str],
    series: Mapping[str, Sequence[float]],
    *,
    title: str,
    unit: str = "",
    max_value: float | None = None,
    threshold: float | None = None,
    threshold_label: str = "{value}",
    colours: Mapping[str, str] | None = None,
    row_colours: Sequence[str] | None = None,
    series_labels: Mapping[str, str] | None = None,
    legend: bool | None = None,
    axis: bool = True,
    track: bool = False,
    empty: str = "No data",
    width: int = 640,
    row_height: int = 26,
    max_label_px: float = 200.0,
    font_family: str | None = None,
) -> Markup:
    """Horizontal bars, one row per label (several series side by side within a row).

    ``row_colours`` colours each row's bar (one series only, e.g. one colour per status);
    ``axis`` draws ticks and grid lines at the bottom, ``track`` a grey full-length track
    behind each bar. The value is written at the end of each bar."""
    font = _font(font_family)
    threshold, max_value = _finite(threshold), _finite(max_value)
    n = len(labels)
    names = list(series)
    data = {k: _clean(series[k], n) for k in names}
    colours = dict(colours) if colours is not None else series_colours(names)
    display = dict(series_labels or {})
    show_legend = len(names) > 1 if legend is None else legend
    peak = max((v for vs in data.values() for v in vs), default=0.0)
    integer = all(v == int(v) for vs in data.values() for v in vs) and not unit.startswith("%")
    if max_value is not None and max_value > 0 and peak <= max_value:
        top = float(max_value)
    elif axis:
        top = nice_max(max(peak, threshold or 0.0), integer=integer)
    else:
        top = max(peak, threshold or 0.0) or 1.0

    legend_svg, legend_h = ("", 0.0)
    if show_legend and names:
        legend_svg, legend_h = _legend(names, colours, display, 8, 6, width - 8, font)
    label_w = min(12 + max((text_width(str(x), 12) for x in labels), default=24.0), max_label_px)
    value_w = max(text_width(fmt(peak) + (f" {unit}" if unit else ""), 11) + 10, 34)
    plot_x = label_w
    plot_w = width - label_w - value_w
    top_pad = legend_h + (8 if show_legend else 4) + (12 if threshold is not None else 0)
    body_h = row_height * max(1, n)
    bottom = 26 if axis else 6
    height = int(max(60, top_pad + body_h + bottom))
    groups = max(1, len(names))
    bar_total = row_height - 10
    bar = bar_total / groups

    def xpos(v: float) -> float:
        return plot_x + plot_w * min(v, top) / top

    parts = [_open(width, height, title, _describe(labels, data, unit)), legend_svg]
    if axis:
        for k in range(5):
            v = top * k / 4
            x = xpos(v)
            parts.append(
                f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top_pad:.1f}" y2="{top_pad + body_h:.1f}" '
                f'stroke="{GRID if k else AXIS}" stroke-width="1"/>'
                + _text(
                    x,
                    top_pad + body_h + 13,
                    fmt(v),
                    size=10,
                    anchor="middle",
                    fill=MUTED,
                    font=font,
                )
            )
        if unit:
            parts.append(
                _text(
                    plot_x + plot_w,
                    top_pad + body_h + 24,
                    unit,
                    size=10,
                    anchor="end",
                    fill=MUTED,
                    font=font,
                )
            )
    values_svg: list[str] = []  # drawn last, over the threshold line
    for i, lab in enumerate(labels):
        y = top_pad + i * row_height
        parts.append(
            _text(
                label_w - 8,
                y + row_height / 2 + 4,
                clip(str(lab), max_label_px - 14, 12),
                size=12,
                anchor="end",
                font=font,
            )
        )
        if track:
            parts.append(
                f'<rect x="{plot_x:.1f}" y="{y + 5:.1f}" width="{plot_w:.1f}" '
                f'height="{bar_total:.1f}" rx="3" fill="#f2f4f7"/>'
            )
        for j, name in enumerate(names):
            v = data[name][i]
            if row_colours is not None and len(names) == 1:
                fill = row_colours[i % len(row_colours)]
            else:
                fill = colours.get(name, PALETTE[j % len(PALETTE)])
            by = y + 5 + j * bar
            w = xpos(v) - plot_x
            tip = f"{lab}" + (f" · {display.get(name, name)}" if len(names) > 1 else "")
            tip += f": {fmt(v)}{' ' + unit if unit else ''}"
            if v > 0:
                parts.append(
                    f'<rect x="{plot_x:.1f}" y="{by:.1f}" width="{w:.1f}" '
                    f'height="{max(bar - (1 if groups > 1 else 0), 1):.1f}" '
                    f'rx="{3 if track else 1}" fill="{fill}"><title>{escape(tip)}</title></rect>'
                )
            values_svg.append(
                _text(
                    plot_x + max(w, 0.0) + 5,
                    by + bar / 2 + 4,
                    fmt(v) + (f" {unit}" if unit and groups == 1 and not axis else ""),
                    size=11 if groups == 1 else 9.5,
                    weight="600",
                    fill="#101828",
                    font=font,
                    extra=HALO,
                )
            )
    if threshold is not None and math.isfinite(threshold):
        x = xpos(threshold)
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top_pad - 4:.1f}" y2="{top_pad + body_h:.1f}" '
            f'stroke="{THRESHOLD}" stroke-width="1.4" stroke-dasharray="6 4"/>'
            + _text(
                x,
                top_pad - 7,
                threshold_label.format(value=fmt(threshold) + (f" {unit}" if unit else "")),
                size=10,
                anchor="middle",
                fill=THRESHOLD,
                weight="600",
                font=font,
                extra=HALO,
            )
        )
    parts += values_svg  # over the threshold line
    if not n:
        parts.append(_empty(width, top_pad + body_h / 2 + 4, empty, font))
    parts.append("</svg>")
    return Markup("".join(parts))


def _amount(value: float, unit: str) -> str:
    """``3 items``, ``1 item``: an English plural unit is made singular for exactly one."""
    if not unit:
        return fmt(value)
    if value == 1 and len(unit) > 2 and unit.endswith("s") and unit.isascii() and unit.isalpha():
        unit = unit[:-1]
    return f"{fmt(value)} {unit}"


def pie_chart(
    labels: Sequence[str],
    values: Sequence[float],
    *,
    title: str,
    unit: str = "",
    colours: Mapping[str, str] | None = None,
    empty: str = "No data",
    width: int = 640,
    height: int = 220,
    font_family: str | None = None,
) -> Markup:
    """A pie with a legend giving each slice's value and share; shares of 6 % and more are
    also written on the slice."""
    font = _font(font_family)
    names = [str(x) for x in labels]
    vals = _clean(values, len(names))
    colours = dict(colours) if colours is not None else series_colours(names)
    total = sum(vals)
    r = (height - 20) / 2
    cx, cy = 14 + r, height / 2
    parts = [_open(width, height, title, _describe(names, {"": vals}, unit))]
    if total <= 0:
        parts.append(
            f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="{r:.1f}" fill="none" stroke="{GRID}" '
            f'stroke-width="2"/>'
        )
        parts.append(_empty(cx, cy + 4, empty, font))
        parts.append("</svg>")
        return Markup("".join(parts))
    angle = -math.pi / 2  # start at 12 o'clock, clockwise
    labels_svg = []
    for i, (name, v) in enumerate(zip(names, vals, strict=True)):
        if v <= 0:
            continue
        share = v / total
        fill = colours.get(name, PALETTE[i % len(PALETTE)])
        tip = f"{name}: {_amount(v, unit)} ({share * 100:.0f} %)"
        if share >= 0.9999:
            parts.append(
                f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="{r:.1f}" fill="{fill}">'
                f"<title>{escape(tip)}</title></circle>"
            )
        else:
            a2 = angle + share * 2 * math.pi
            x1, y1 = cx + r * math.cos(angle), cy + r * math.sin(angle)
            x2, y2 = cx + r * math.cos(a2), cy + r * math.sin(a2)
            large = 1 if share > 0.5 else 0
            parts.append(
                f'<path d="M{cx:.1f},{cy:.1f} L{x1:.2f},{y1:.2f} A{r:.1f},{r:.1f} 0 {large} 1 '
                f'{x2:.2f},{y2:.2f} Z" fill="{fill}" stroke="#ffffff" stroke-width="1.5">'
                f"<title>{escape(tip)}</title></path>"
            )
        if share >= 0.06:
            mid = angle + share * math.pi
            tx, ty = cx + r * 0.62 * math.cos(mid), cy + r * 0.62 * math.sin(mid)
            ink = "#ffffff" if luminance(fill) < 140 else "#101828"
            labels_svg.append(
                _text(
                    tx,
                    ty + 4,
                    f"{share * 100:.0f}%",
                    size=11,
                    anchor="middle",
                    fill=ink,
                    weight="600",
                    font=font,
                )
            )
        angle += share * 2 * math.pi
    parts += labels_svg
    lx = cx + r + 28
    rows = len(names)
    step = min(22.0, (height - 12) / max(1, rows))
    ly = cy - step * rows / 2 + step / 2
    for i, (name, v) in enumerate(zip(names, vals, strict=True)):
        y = ly + i * step
        fill = colours.get(name, PALETTE[i % len(PALETTE)])
        share = v / total
        text = f"{name} — {_amount(v, unit)} ({share * 100:.0f} %)"
        parts.append(
            f'<rect x="{lx:.1f}" y="{y - 6:.1f}" width="12" height="12" rx="2" fill="{fill}" '
            f'stroke="{AXIS}" stroke-width="0.5"/>'
            + _text(lx + 18, y + 4, clip(text, width - lx - 24, 12), size=12, font=font)
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def render_chart(
    chart: Chart,
    *,
    empty: str = "No data",
    threshold_label: str = "{value}",
    font_family: str | None = None,
    width: int = 640,
) -> Markup:
    """The SVG for a report :class:`~synthlabel.assess.sections.Chart`, by its ``kind``.

    A pie uses the first series (one slice per label). A one-series hbar whose labels have
    colours in ``chart.colours`` gets one colour per row."""
    labels = [str(x) for x in chart.labels]
    series = {str(k): list(v) for k, v in chart.series.items()}
    pinned = {str(k): str(v) for k, v in (chart.colours or {}).items()}
    if chart.kind == "pie":
        values = next(iter(series.values()), [])
        return pie_chart(
            labels,
            values,
            title=chart.title,
            unit=chart.unit,
            colours=series_colours(labels) | pinned,
            empty=empty,
            font_family=font_family,
            width=width,
        )
    if chart.kind == "hbar":
        return hbar_chart(
            labels,
            series,
            title=chart.title,
            unit=chart.unit,
            max_value=chart.max_value,
            threshold=chart.threshold,
            threshold_label=threshold_label,
            colours=series_colours(list(series)) | pinned,
            row_colours=(
                [pinned.get(lab, PALETTE[0]) for lab in labels]
                if len(series) == 1 and any(lab in pinned for lab in labels)
                else None
            ),
            row_height=26 if len(series) <= 2 else 12 * len(series) + 8,
            empty=empty,
            font_family=font_family,
            width=width,
        )
    return bar_chart(
        labels,
        series,
        title=chart.title,
        unit=chart.unit,
        max_value=chart.max_value,
        threshold=chart.threshold,
        threshold_label=threshold_label,
        stacked=chart.kind == "stacked",
        colours=series_colours(list(series)) | pinned,
        empty=empty,
        font_family=font_family,
        width=width,
    )
