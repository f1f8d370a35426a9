"""How the report reads on paper: short cells stay on one line, the closing line is not
printed, value labels are drawn over threshold lines, and a pie legend says "1 item"."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from synthlabel.assess.charts import bar_chart, hbar_chart, pie_chart
from synthlabel.assess.report import ReportError, build_report, find_chromium, render_pdf
from synthlabel.assess.sections import Section, Table

try:
    CHROMIUM = bool(find_chromium())
except ReportError:
    CHROMIUM = False


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


def test_long_tokens_get_break_points_and_hashes_the_sha_style() -> None:
    from synthlabel.assess.report import _cell_html

    assert str(_cell_html("demo-out/tampered/changed-field.png")) == (
        "demo-out/<wbr>tampered/<wbr>changed-field.png"
    )
    sha = "68b77c50e73f27130704d38a2deab483504c44ca8f40de81185642e1e163dd0f"
    assert str(_cell_html(f"keys {sha}")) == f'keys <code class="sha">{sha}</code>'
    assert str(_cell_html("<b>&")) == "&lt;b&gt;&amp;"  # still escaped
    long_name = "<x>.synthlabel.assess.tc260.classify.model"
    assert str(_cell_html(long_name)).startswith("&lt;x&gt;.<wbr>synthlabel.<wbr>assess.")


def _word_height(pdf: Path, word: str) -> float:
    out = subprocess.run(
        ["pdftotext", "-bbox", "-f", "1", "-l", "1", str(pdf), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for m in re.finditer(
        r'<word xMin="[\d.]+" yMin="([\d.]+)" xMax="[\d.]+" yMax="([\d.]+)">(.*?)</word>', out
    ):
        if m.group(3) == word:
            return float(m.group(2)) - float(m.group(1))
    raise AssertionError(f"{word!r} not on page 1")


@pytest.mark.skipif(not (shutil.which("pdftotext") and CHROMIUM), reason="needs chromium, poppler")
def test_a_table_with_a_hash_and_a_path_does_not_shrink_the_printed_page(tmp_path: Path) -> None:
    plain = Section(title="Assets", kind="tc260", status="info", summary="Calibration words.")
    wide = Section(
        title="Assets",
        kind="tc260",
        status="info",
        summary="Calibration words.",
        tables=[
            Table(
                "Test assets",
                ["File", "Kind", "Name", "Version", "Entries", "SHA-256"],
                [
                    [
                        "/work/main/src/synthlabel/assess/tc260/demo/questions.jsonl",
                        "questions (demo)",
                        "synthlabel-demo-keywords",
                        "1",
                        "61",
                        "939f00bc5de5ad4178fb407cb0a3544ed5da81dc50bc4371b80070a33e93f3d6",
                    ]
                ],
            )
        ],
    )
    heights = []
    for name, section in (("plain", plain), ("wide", wide)):
        pdf = tmp_path / f"{name}.pdf"
        render_pdf(build_report([section], title="Calibration"), pdf)
        heights.append(_word_height(pdf, "Calibration"))
    assert heights[1] == pytest.approx(heights[0], rel=0.03)  # printed at the same scale
