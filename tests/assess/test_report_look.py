"""How the report reads on paper: short cells stay on one line, the closing line is not
printed, value labels are drawn over threshold lines, and a pie legend says "1 item"."""

from __future__ import annotations

import re

from synthlabel.assess.charts import bar_chart, hbar_chart, pie_chart
from synthlabel.assess.report import build_report
from synthlabel.assess.sections import Section, Table


def _section() -> Section:
    return Section(
        title="Look",
        kind="drill",
        status="pass",
        summary="",
        tables=[
            Table(
                "t",
                ["Attack", "Survived", "What it does"],
                [["image.jpeg70", "1/1 (100 %)", "JPEG re-encode, quality 70 (a long cell)"]],
            )
        ],
    )


def test_short_cells_do_not_wrap_and_the_colophon_is_not_printed() -> None:
    html = build_report([_section()])
    cells = re.findall(r"<td( class=\"short\")?>([^<]*)</td>", html)
    short = {text for cls, text in cells if cls}
    assert "1/1 (100 %)" in short and "image.jpeg70" in short
    assert not any(text.startswith("JPEG re-encode") for text in short)
    assert "td.short { white-space: nowrap; }" in html
    assert re.search(r"@media print \{ \.colophon \{ display: none; \} \}", html)
    assert 'class="footnote colophon"' in html  # still there on screen


def test_value_labels_are_drawn_over_the_threshold_line() -> None:
    for svg in (
        str(bar_chart(["E4", "E5"], {"rate": [94.1, 92.3]}, title="t", threshold=95)),
        str(hbar_chart(["E4", "E5"], {"rate": [94.1, 92.3]}, title="t", threshold=95)),
    ):
        line = svg.index('stroke-dasharray="6 4"')
        assert svg.index(">94.1<") > line and svg.index(">92.3<") > line


def test_pie_legend_counts_in_the_singular_for_one() -> None:
    svg = str(pie_chart(["pass", "fail"], [5, 1], title="t", unit="items"))
    assert "pass — 5 items (83 %)" in svg and "fail — 1 item (17 %)" in svg
    assert "a — 1 % (25 %)" in str(pie_chart(["a", "b"], [1, 3], title="t", unit="%"))
    assert "a — 1 ms (25 %)" in str(pie_chart(["a", "b"], [1, 3], title="t", unit="ms"))
