"""Server-side SVG charts for the dashboard (no JavaScript chart library).

Each function returns an SVG string (``markupsafe.Markup``, every label escaped) that scales
to its container's width through its ``viewBox``. The drawing is
:mod:`synthlabel.assess.charts` (shared with the PDF/HTML reports); this module adds the
dashboard's colours (the CSS badges' hues) and sizes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from markupsafe import Markup

from synthlabel.assess import charts as svg

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
FONT_FAMILY = "system-ui, sans-serif"


def colour(key: str, index: int = 0) -> str:
    return COLOURS.get(key, PALETTE[index % len(PALETTE)])


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
    return svg.bar_chart(
        list(days),
        {k: [float(v) for v in vs] for k, vs in series.items()},
        title=title,
        stacked=True,
        colours={k: colour(k) for k in series},
        series_labels=labels,
        tick_labels=[d[5:] for d in days],
        legend=True,
        value_labels=False,
        empty=empty,
        width=width,
        height=height,
        font_family=FONT_FAMILY,
    )


def hbars(
    rows: Sequence[tuple[str, str, int]],
    *,
    title: str,
    empty: str,
    width: int = 540,
    row_h: int = 34,
) -> Markup:
    """Horizontal bars: (colour key, label, value) per row."""
    return svg.hbar_chart(
        [label for _, label, _ in rows],
        {"value": [float(v) for *_, v in rows]},
        title=title,
        row_colours=[colour(key, i) for i, (key, _, _) in enumerate(rows)],
        legend=False,
        axis=False,
        track=True,
        empty=empty,
        width=width,
        row_height=row_h,
        max_label_px=170,
        font_family=FONT_FAMILY,
    )
