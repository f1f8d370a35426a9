"""Server-side SVG charts for the dashboard (no JavaScript chart library).

Each function returns an SVG string (``markupsafe.Markup``, every label escaped) that scales
to its container's width through its ``viewBox``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from markupsafe import Markup, escape

# Verdict and status colours; shared with the CSS badges' hues.
COLOURS = {
    "confirmed": "#d92d20",
    "possible": "#f79009",
    "suspected": "#2e90fa",
    "no_trace": "#12b76a",
    "pending": "#98a2b3",
    "received": "#2e90fa",
    "in_review": "#f79009",
    "resolved": "#12b76a",
    "rejected": "#98a2b3",
}
PALETTE = ("#2f5bea", "#7a5af8", "#f79009", "#12b76a", "#d92d20", "#98a2b3", "#06aed4")
FONT = 'font-family="system-ui, sans-serif"'


def colour(key: str, index: int = 0) -> str:
    return COLOURS.get(key, PALETTE[index % len(PALETTE)])


def _nice_max(value: int) -> int:
    """A round axis maximum at or above ``value`` (1, 2, 5 x 10^n)."""
    if value <= 4:
        return 4
    step = 1
    while True:
        for m in (1, 2, 5):
            if value <= 4 * m * step:
                return 4 * m * step
        step *= 10


def stacked_bars(
    days: Sequence[str],
    series: Mapping[str, Sequence[int]],
    labels: Mapping[str, str],
    *,
    title: str,
    empty: str,
    width: int = 1100,
    height: int = 260,
) -> Markup:
    """Vertical bars, one per day, stacked by series (e.g. verdict), with a legend."""
    left, right, top, bottom = 36, 10, 28, 26
    plot_w, plot_h = width - left - right, height - top - bottom
    totals = [sum(s[i] for s in series.values()) for i in range(len(days))]
    top_value = _nice_max(max(totals, default=0))
    parts = [_open(width, height, title)]
    for k in range(5):  # grid lines and y labels
        v = top_value * k // 4
        y = top + plot_h - plot_h * k / 4
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="#eaecf0" stroke-width="1"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="10" '
            f'fill="#667085" {FONT}>{v}</text>'
        )
    n = max(1, len(days))
    slot = plot_w / n
    bar = max(4.0, min(34.0, slot * 0.62))
    for i, day in enumerate(days):
        x = left + slot * i + (slot - bar) / 2
        y = top + plot_h
        for key, values in series.items():
            v = values[i]
            if v <= 0:
                continue
            h = plot_h * v / top_value
            y -= h
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" rx="2" '
                f'fill="{colour(key)}"><title>{escape(day)} · {escape(labels.get(key, key))}: '
                f"{v}</title></rect>"
            )
        if n <= 16 or i % 2 == 0:
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{height - 8}" text-anchor="middle" '
                f'font-size="10" fill="#667085" {FONT}>{escape(day[5:])}</text>'
            )
    if not any(totals):
        parts.append(_empty(width, top + plot_h / 2, empty))
    lx = float(left)
    for key in series:  # legend
        text = labels.get(key, key)
        parts.append(
            f'<rect x="{lx:.0f}" y="6" width="10" height="10" rx="2" fill="{colour(key)}"/>'
            f'<text x="{lx + 14:.0f}" y="15" font-size="11" fill="#344054" {FONT}>'
            f"{escape(text)}</text>"
        )
        lx += 24 + 7 * _text_width(text)
    parts.append("</svg>")
    return Markup("".join(parts))


def hbars(
    rows: Sequence[tuple[str, str, int]],
    *,
    title: str,
    empty: str,
    width: int = 540,
    row_h: int = 34,
) -> Markup:
    """Horizontal bars: (colour key, label, value) per row."""
    label_w = min(12 + 7 * max((_text_width(label) for _, label, _ in rows), default=4), 170.0)
    height = max(60, row_h * len(rows) + 12)
    top_value = max((v for _, _, v in rows), default=0)
    plot_w = width - label_w - 44
    parts = [_open(width, height, title)]
    for i, (key, label, value) in enumerate(rows):
        y = 6 + i * row_h
        w = plot_w * value / top_value if top_value else 0
        parts.append(
            f'<text x="{label_w - 8}" y="{y + row_h / 2 + 2:.1f}" text-anchor="end" '
            f'font-size="12" fill="#344054" {FONT}>{escape(label)}</text>'
            f'<rect x="{label_w}" y="{y + 5}" width="{plot_w}" height="{row_h - 12}" rx="3" '
            f'fill="#f2f4f7"/>'
            f'<rect x="{label_w}" y="{y + 5}" width="{max(w, 0):.1f}" height="{row_h - 12}" '
            f'rx="3" fill="{colour(key, i)}"><title>{escape(label)}: {value}</title></rect>'
            f'<text x="{label_w + plot_w + 6}" y="{y + row_h / 2 + 3:.1f}" font-size="12" '
            f'font-weight="600" fill="#101828" {FONT}>{value}</text>'
        )
    if not rows:
        parts.append(_empty(width, height / 2, empty))
    parts.append("</svg>")
    return Markup("".join(parts))


def _open(width: int, height: int, title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>'
    )


def _empty(width: int, y: float, text: str) -> str:
    return (
        f'<text x="{width / 2:.1f}" y="{y:.1f}" text-anchor="middle" font-size="12" '
        f'fill="#98a2b3" {FONT}>{escape(text)}</text>'
    )


def _text_width(text: str) -> float:
    """Approximate width in 7-px units: CJK characters are about twice as wide."""
    return sum(2.0 if ord(c) > 0x2E80 else 1.0 for c in text)
