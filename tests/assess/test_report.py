"""Reports: SVG charts, the HTML report, the PDF printed by Chromium, the verdict section and
``synthlabel report build``.

The PDFs are checked with poppler (pdfinfo, pdftoppm, pdftotext, pdffonts) and pikepdf, the
SVG with an XML parser; nothing of ours is mocked (the one fake is a "browser" that hangs, to
check the timeout)."""

from __future__ import annotations

import io
import itertools
import json
import re
import shutil
import stat
import subprocess
import time
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from synthlabel.assess import charts
from synthlabel.assess.inspect_sections import verdict_section
from synthlabel.assess.report import (
    InputFile,
    ReportError,
    build_report,
    css_string,
    find_chromium,
    load_sections,
    render_pdf,
)
from synthlabel.assess.sections import Chart, Section, Table
from synthlabel.cli.main import app

CHROMIUM = shutil.which("chromium") or shutil.which("google-chrome")
POPPLER = all(shutil.which(t) for t in ("pdfinfo", "pdftoppm", "pdftotext", "pdffonts"))
needs_pdf = pytest.mark.skipif(
    not (CHROMIUM and POPPLER), reason="needs chromium and poppler-utils (make install)"
)
SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'
ATTACKS = ["JPEG q50", "resize 50%", "crop 10%", "screenshot", "MP3 64k", "rotate 2°"]


def sample_sections(title_extra: str = "") -> list[Section]:
    """Every chart kind and every status, as the producers would write them."""
    return [
        Section(
            title="Watermark survival per attack" + title_extra,
            kind="drill",
            status="warn",
            summary="The watermark survives 5 of 6 attacks at the 90 % pass mark.",
            metrics={"Attacks": "6", "Survived": "5", "Worst": "rotate 2° (41 %)"},
            charts=[
                Chart(
                    "Survival per attack",
                    "hbar",
                    ATTACKS,
                    {"survival": [99.0, 98.5, 96.0, 93.2, 100.0, 41.0]},
                    unit="%",
                    max_value=100,
                    threshold=90,
                ),
                Chart(
                    "Detected vs lost",
                    "stacked",
                    ATTACKS,
                    {"survived": [99, 98, 96, 93, 100, 41], "lost": [1, 2, 4, 7, 0, 59]},
                    unit="files",
                ),
            ],
            tables=[
                Table(
                    "Per attack",
                    ["Attack", "Survival"],
                    [
                        [a, f"{v} %"]
                        for a, v in zip(ATTACKS, [99, 98.5, 96, 93.2, 100, 41], strict=True)
                    ],
                    ["pass", "pass", "pass", "pass", "pass", "fail"],
                )
            ],
            notes=["100 images per attack."],
        ),
        Section(
            title="Conformance per rule",
            kind="assess",
            status="fail",
            summary="Two rules fail on the video samples.",
            metrics={"Rules": "6", "Fail": "2"},
            charts=[
                Chart(
                    "Conformance per rule",
                    "bar",
                    ["4.1 text", "4.2 image", "4.4 video"],
                    {"Strength A": [5, 4, 1], "Strength B": [3, 4, 2]},
                    unit="rules",
                    threshold=3,
                )
            ],
            tables=[
                Table(
                    "Rules",
                    ["Rule", "Result"],
                    [["4.4.1", "fail"], ["5.1", "pass"]],
                    ["fail", "pass"],
                )
            ],
        ),
        Section(
            title="Model safety",
            kind="tc260",
            status="pass",
            summary="Refusal rate 97 %.",
            metrics={"Refusal": "97 %"},
            charts=[Chart("Answers", "pie", ["refused", "answered", "unsafe"], {"n": [194, 5, 1]})],
        ),
        Section(title="Biometric checklist", kind="biometric", status="info", summary="Answered."),
    ]


# ------------------------------------------------------------------------------ charts


def _svg(markup: str) -> ET.Element:
    return ET.fromstring(str(markup))  # well-formed XML or this raises


@pytest.mark.parametrize("kind", ["bar", "hbar", "stacked", "pie"])
def test_every_chart_kind_is_valid_accessible_svg(kind: str) -> None:
    chart = Chart(
        f"A {kind} chart",
        kind,
        ["a", "b", "c"],
        {"s1": [1.0, 2.0, 3.0], "s2": [2.0, 0.0, 1.0]},  # type: ignore[arg-type]
    )
    root = _svg(charts.render_chart(chart))
    assert root.tag == f"{SVG}svg" and root.get("role") == "img"
    assert root.get("aria-label") == f"A {kind} chart"
    assert root.find(f"{SVG}title").text == f"A {kind} chart"  # type: ignore[union-attr]
    desc = root.find(f"{SVG}desc").text or ""  # type: ignore[union-attr]
    assert "a: 1" in desc and "c: 3" in desc  # the numbers, for screen readers
    shapes = root.findall(f".//{SVG}rect") + root.findall(f".//{SVG}path")
    fills = {s.get("fill") for s in shapes}
    if kind == "pie":  # one slice per non-zero value of the first series
        assert len(root.findall(f"{SVG}path")) == 3
    else:  # one bar per non-zero value, both series' colours
        bars = [r for r in root.findall(f"{SVG}rect") if r.find(f"{SVG}title") is not None]
        assert len(bars) == 5
        assert {charts.PALETTE[0], charts.PALETTE[1]} <= fills


def test_axis_max_value_threshold_and_unit() -> None:
    c = Chart(
        "Survival", "bar", ["x", "y"], {"s": [40.0, 95.0]}, unit="%", max_value=100, threshold=90
    )
    root = _svg(charts.render_chart(c, threshold_label="threshold {value}"))
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "100" in texts and "75" in texts and "%" in texts  # fixed axis, not scaled to 95
    assert "threshold 90 %" in texts
    dashed = [ln for ln in root.iter(f"{SVG}line") if ln.get("stroke-dasharray")]
    assert len(dashed) == 1
    # 90 % of the plot height above the baseline: the line sits between the 75 and 100 ticks
    ticks = {t.text: float(t.get("y", 0)) for t in root.iter(f"{SVG}text")}
    y = float(dashed[0].get("y1", 0))
    assert ticks["100"] < y + 3.5 < ticks["75"]


def test_values_beyond_the_data_and_bad_numbers_do_not_break_the_chart() -> None:
    c = Chart(
        "odd",
        "stacked",
        ["a", "b"],
        {"s": [float("nan"), -3.0], "t": [float("inf"), 2.0]},
        max_value=float("nan"),
        threshold=float("inf"),
    )
    root = _svg(charts.render_chart(c))
    for r in root.iter(f"{SVG}rect"):
        for attr in ("x", "y", "width", "height"):
            v = r.get(attr)
            assert v is None or re.fullmatch(r"-?\d+(\.\d+)?", v), (attr, v)
    assert not [ln for ln in root.iter(f"{SVG}line") if ln.get("stroke-dasharray")]
    empty = _svg(charts.render_chart(Chart("none", "pie", [], {}), empty="Nothing"))
    assert "Nothing" in [t.text for t in empty.iter(f"{SVG}text")]


def test_nice_axis_maxima() -> None:
    assert charts.nice_max(3, integer=True) == 4
    assert charts.nice_max(21, integer=True) == 40
    assert charts.nice_max(95) == 100
    assert charts.nice_max(0.3) == 0.4
    assert charts.nice_max(0) == 1


def test_palette_stays_distinct_in_greyscale() -> None:
    grey = [charts.luminance(c) for c in charts.PALETTE[:6]]
    for a, b in itertools.combinations(grey, 2):
        assert abs(a - b) >= 20, grey
    for group in (
        ("pass", "fail", "warn", "info"),
        ("confirmed", "possible", "suspected", "no_trace"),
    ):
        levels = [charts.luminance(charts.SEMANTIC[k]) for k in group]
        for a, b in itertools.combinations(levels, 2):
            assert abs(a - b) >= 20, (group, levels)


def test_semantic_series_names_get_fixed_colours_and_pins_win() -> None:
    got = charts.series_colours(["Survived", "lost", "other"])
    assert got == {
        "Survived": charts.SEMANTIC["survived"],
        "lost": charts.SEMANTIC["lost"],
        "other": charts.PALETTE[0],
    }
    c = Chart("p", "pie", ["甲", "乙"], {"n": [1.0, 1.0]}, colours={"乙": "#123456"})
    fills = [p.get("fill") for p in _svg(charts.render_chart(c)).findall(f"{SVG}path")]
    assert fills == [charts.PALETTE[0], "#123456"]


# ------------------------------------------------------------------------------ HTML


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))


def test_section_round_trips_through_json_with_colours() -> None:
    for s in sample_sections():
        d = json.loads(json.dumps(s.to_dict()))
        assert Section.from_dict(d) == s
    c = Chart("c", "pie", ["a"], {"n": [1.0]}, colours={"a": "#abcdef"})
    s = Section("t", "x", "info", "", charts=[c])
    assert Section.from_dict(json.loads(json.dumps(s.to_dict()))).charts[0].colours == {
        "a": "#abcdef"
    }


def test_html_has_cover_summary_sections_and_no_external_urls(tmp_path: Path) -> None:
    src = tmp_path / "drill.json"
    src.write_text(json.dumps({"sections": [s.to_dict() for s in sample_sections()]}))
    html = build_report(
        load_sections(src), title="Quarterly check", org="Example AI", inputs=[InputFile.of(src)]
    )
    assert "Quarterly check" in html and "Example AI" in html
    import hashlib

    assert hashlib.sha256(src.read_bytes()).hexdigest() in html
    assert 'id="overall"><span class="badge large fail">Fail' in html  # worst status wins
    summary = html[html.index('id="summary"') : html.index("</table>", html.index('id="summary"'))]
    assert summary.count("<tr class=") == 4
    for status in ("pass", "fail", "warn", "info"):
        assert f'<span class="badge {status}">' in summary
    assert html.count("<svg") == 4
    assert html.count('<tr class="row-fail">') == 3  # the failing section's summary row + 2 rows
    assert "@page" in html and "counter(pages)" in html
    # self-contained: no script, no stylesheet link, no external reference of any kind
    parser = _Tags()
    parser.feed(html)
    for tag, attrs in parser.tags:
        assert tag not in ("script", "link", "img", "iframe", "object")
        for name, value in attrs:
            if name in ("href", "src"):
                assert (value or "").startswith("#"), (tag, name, value)
    urls = set(re.findall(r"[a-z]+://[^\s\"')]+", html))
    assert urls <= {"http://www.w3.org/2000/svg"}, urls
    assert "url(" not in html and "@import" not in html


def test_hostile_strings_are_escaped_everywhere() -> None:
    s = Section(
        title=HOSTILE,
        kind=HOSTILE,
        status="fail",
        summary=HOSTILE,
        metrics={HOSTILE: HOSTILE},
        charts=[
            Chart(HOSTILE, "bar", [HOSTILE], {HOSTILE: [1.0]}, unit=HOSTILE),
            Chart(HOSTILE, "pie", [HOSTILE], {HOSTILE: [1.0]}),
        ],
        tables=[Table(HOSTILE, [HOSTILE], [[HOSTILE + "</td></tr></table>"]], ["fail"])],
        notes=[HOSTILE],
    )
    html = build_report([s], title=HOSTILE + "</style></title>", org='"}body{display:none}')
    assert "<script" not in html.lower()
    assert "&lt;script&gt;" in html
    head = html[: html.index("</head>")].lower()
    assert head.count("</style>") == 1 and head.count("</title>") == 1
    parser = _Tags()
    parser.feed(html)
    assert not any(tag in ("script", "img") for tag, _ in parser.tags)
    assert not any(name.startswith("on") for _, attrs in parser.tags for name, _ in attrs)
    # the footer strings are CSS strings with every special character escaped
    assert css_string('a"b\\c</style>') == (
        '"a\\000022 b\\00005c c\\00003c \\00002f style\\00003e "'
    )


def test_chinese_chrome_strings_and_unknown_language() -> None:
    html = build_report(sample_sections(), lang="zh")
    assert '<html lang="zh-CN">' in html and "人工智能生成合成内容标识评估报告" in html
    assert "不通过" in html and "攻击演练" in html and "Noto Sans CJK SC" in html
    with pytest.raises(ReportError, match="unknown report language"):
        build_report(sample_sections(), lang="fr")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "invalid JSON at line 1 column 2"),
        (b"\xff\xfe\x00", "not UTF-8"),
        (b'{"results": []}', "no 'sections' list"),
        (b"[1, 2]", "no 'sections' list"),
        (b'{"sections": [{"kind": "x", "status": "pass"}]}', "section 1: missing 'title'"),
        (b'{"sections": [{"title": "T", "kind": "x", "status": "great"}]}', "status 'great'"),
        (
            b'{"sections": [{"title": "T", "kind": "x", "status": "pass", "charts": '
            b'[{"title": "C", "kind": "bar", "labels": ["a", "b"], "series": {"s": [1]}}]}]}',
            "chart 'C': series 's' has 1 values for 2 labels",
        ),
        (
            b'{"sections": [{"title": "T", "kind": "x", "status": "pass", "charts": '
            b'[{"title": "C", "kind": "radar", "labels": [], "series": {}}]}]}',
            "unknown chart kind 'radar'",
        ),
        (
            b'{"sections": [{"title": "T", "kind": "x", "status": "pass", "tables": '
            b'[{"title": "R", "columns": ["a", "b"], "rows": [["1"]]}]}]}',
            "table 'R': row 1 has 1 cells for 2 columns",
        ),
        (
            b'{"sections": [{"title": "T", "kind": "x", "status": "pass", "charts": '
            b'[{"title": "C", "kind": "pie", "labels": ["a"], "series": {"s": [1]}, '
            b'"colours": {"a": "red;x"}}]}]}',
            "must be #rrggbb",
        ),
        (
            b'{"sections": [{"title": "T", "kind": "x", "status": "pass", "charts": '
            b'[{"title": "C", "kind": "pie", "bogus": 1, "labels": [], "series": {}}]}]}',
            "unexpected keyword argument 'bogus'",
        ),
    ],
)
def test_bad_result_files_give_one_line_errors_naming_the_file(
    tmp_path: Path, content: bytes, message: str
) -> None:
    p = tmp_path / "result.json"
    p.write_bytes(content)
    with pytest.raises(ReportError) as info:
        load_sections(p)
    text = str(info.value)
    assert text.startswith(f"{p}: ") and message in text and "\n" not in text


# ------------------------------------------------------------------------------ PDF


def _pdfinfo(path: Path) -> dict[str, str]:
    out = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True)
    return dict(
        (k.strip(), v.strip()) for k, _, v in (ln.partition(":") for ln in out.stdout.splitlines())
    )


def _page_png(pdf: Path, page: int, dpi: int = 50) -> Image.Image:
    out = subprocess.run(
        ["pdftoppm", "-r", str(dpi), "-png", "-f", str(page), "-l", str(page), str(pdf)],
        capture_output=True,
        check=True,
    )
    return Image.open(io.BytesIO(out.stdout)).convert("RGB")


def _pixels_near(img: Image.Image, hex_colour: str, tol: int = 30) -> int:
    h = hex_colour.lstrip("#")
    target = tuple(int(h[i : i + 2], 16) for i in (0, 2, 4))
    return sum(
        n
        for n, c in img.getcolors(maxcolors=1 << 20) or []
        if all(abs(a - b) <= tol for a, b in zip(c, target, strict=True))
    )


@pytest.fixture(scope="module")
def english_pdf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not (CHROMIUM and POPPLER):
        pytest.skip("needs chromium and poppler-utils")
    out = tmp_path_factory.mktemp("pdf") / "report.pdf"
    render_pdf(build_report(sample_sections(), org="Example AI"), out)
    return out


@needs_pdf
def test_pdf_is_a4_with_page_numbers_and_renders_the_charts(english_pdf: Path) -> None:
    info = _pdfinfo(english_pdf)
    pages = int(info["Pages"])
    assert pages >= 2 and "(A4)" in info["Page size"]
    text = subprocess.run(
        ["pdftotext", "-layout", str(english_pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert f"Page 1 / {pages}" in text and f"Page {pages} / {pages}" in text
    assert "Watermark survival per attack" in text and "rotate 2°" in text
    first = _page_png(english_pdf, 1, dpi=100)  # at 50 dpi a badge is a handful of pixels
    grey = first.convert("L")
    assert grey.getextrema()[0] < 80  # not blank: dark text on the cover
    assert _pixels_near(first, "#b42318", 40) > 80  # the red "Fail" badges
    second = _page_png(english_pdf, 2)
    assert _pixels_near(second, charts.PALETTE[0]) > 500  # navy survival bars
    assert _pixels_near(second, charts.SEMANTIC["survived"]) > 500  # green stacked segments
    assert _pixels_near(second, charts.SEMANTIC["lost"]) > 50  # red "lost" segments


@needs_pdf
def test_chinese_pdf_embeds_a_cjk_font(tmp_path: Path) -> None:
    import pikepdf

    out = tmp_path / "zh.pdf"
    sections = [verdict_section([], lang="zh"), *sample_sections()]
    render_pdf(build_report(sections, lang="zh", org="示例公司"), out)
    fonts = subprocess.run(["pdffonts", str(out)], capture_output=True, text=True, check=True)
    assert len(fonts.stdout.splitlines()) > 3  # pdffonts lists the embedded fonts ...
    # ... but Chromium embeds the CFF-based Noto Sans CJK as Type 3 fonts, which pdffonts shows
    # without a name: the font descriptors carry it.
    names = set()
    with pikepdf.open(out) as pdf:
        for page in pdf.pages:
            for font in page.obj.Resources.get("/Font", {}).values():
                desc = font.get("/FontDescriptor")
                if desc is None and "/DescendantFonts" in font:
                    desc = font.DescendantFonts[0].get("/FontDescriptor")
                if desc is not None:
                    names.add(str(desc.get("/FontName")))
    assert any("CJK" in n for n in names), names
    text = subprocess.run(["pdftotext", str(out), "-"], capture_output=True, text=True).stdout
    assert "判定结果分布" in text and "攻击演练" in text
    assert re.search(r"第\s*1\s*页\s*/\s*共\s*\d+\s*页", text)  # the footer


def test_missing_chromium_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dest = tmp_path / "r.pdf"
    dest.write_bytes(b"old")
    with pytest.raises(ReportError, match=r"Chromium not found at /nonexistent/chromium"):
        render_pdf("<p>x</p>", dest, chromium="/nonexistent/chromium")
    monkeypatch.delenv("SYNTHLABEL_CHROMIUM", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ReportError, match=r"Chromium not found \(needed for PDF\)"):
        find_chromium()
    assert dest.read_bytes() == b"old"


def test_a_hanging_browser_is_killed_after_the_timeout(tmp_path: Path) -> None:
    fake = tmp_path / "fake-chromium"
    fake.write_text("#!/bin/sh\nsleep 30\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    start = time.monotonic()
    with pytest.raises(ReportError, match="did not finish the PDF within 1 s"):
        render_pdf("<p>x</p>", tmp_path / "r.pdf", chromium=fake, timeout=1)
    assert time.monotonic() - start < 10
    assert not (tmp_path / "r.pdf").exists()
    assert not list(tmp_path.glob(".r.pdf.*"))  # no temporary file left behind


def test_a_browser_that_prints_nothing_is_an_error(tmp_path: Path) -> None:
    fake = tmp_path / "fake-chromium"
    fake.write_text("#!/bin/sh\necho 'boom: cannot open display' >&2\nexit 3\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    with pytest.raises(ReportError, match=r"Chromium made no PDF \(exit 3\): boom"):
        render_pdf("<p>x</p>", tmp_path / "r.pdf", chromium=fake)


# ------------------------------------------------------------------------------ verdicts


def test_verdict_section_from_real_inspections(tmp_path: Path) -> None:
    import synthlabel
    from synthlabel.formats import registry
    from synthlabel.formats.base import LabelWrite
    from synthlabel.inspect.reader import inspect_bytes

    producer = "001191110000MA0000000H10001"
    buf = io.BytesIO()
    Image.new("RGB", (96, 64), (40, 90, 160)).save(buf, "PNG")
    (tmp_path / "plain.png").write_bytes(buf.getvalue())
    synthlabel.label(tmp_path / "plain.png", tmp_path / "labelled.png", producer=producer)
    # a copy whose record was edited after labelling (the record no longer verifies)
    png = (tmp_path / "labelled.png").read_bytes()
    rec = inspect_bytes(png, c2pa=False).record
    assert rec is not None
    edited = rec.replace(
        produce_id=rec.produce_id[:-1] + ("0" if rec.produce_id[-1] != "0" else "1")
    )
    (tmp_path / "edited.png").write_bytes(
        registry.get("png").write_label(png, LabelWrite(edited.to_json()))
    )
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 10)
    reports = [
        synthlabel.inspect(tmp_path / n, watermarks=False, c2pa=False)
        for n in ("labelled.png", "plain.png", "broken.png")
    ]
    section = verdict_section(reports)
    assert section.kind == "inspect" and section.status == "fail"
    assert section.metrics["Files"] == "3"
    pie = section.charts[0]
    counts = dict(zip(pie.labels, pie.series["Files"], strict=True))
    assert counts["Confirmed AI"] == 1 and counts["No trace"] == 1 and counts["Unreadable"] == 1
    table = section.tables[0]
    assert table.row_status is not None and table.row_status[0] == "fail"  # failures first
    assert table.rows[0][0] == "broken.png"
    # the same from inspect --json's dicts, and through the report builder
    as_json = {"schema": "synthlabel.inspect/1", "results": [r.to_dict() for r in reports]}
    p = tmp_path / "inspect.json"
    p.write_text(json.dumps(as_json))
    again = load_sections(p)[0]
    assert again.metrics == section.metrics and again.tables == section.tables
    assert load_sections(p, lang="zh")[0].title == "判定结果分布"  # the report's language
    build_report([again])  # draws


# ------------------------------------------------------------------------------ CLI


def _results(tmp_path: Path) -> tuple[Path, Path]:
    a = tmp_path / "drill.json"
    b = tmp_path / "assess.json"
    secs = sample_sections()
    a.write_text(json.dumps({"tool": "drill", "sections": [secs[0].to_dict()]}))
    b.write_text(json.dumps({"sections": [s.to_dict() for s in secs[1:]]}, ensure_ascii=False))
    return a, b


@needs_pdf
def test_cli_builds_html_and_pdf(tmp_path: Path) -> None:
    a, b = _results(tmp_path)
    html, pdf = tmp_path / "out" / "r.html", tmp_path / "out" / "r.pdf"
    html.parent.mkdir()
    res = CliRunner().invoke(
        app,
        ["report", "build", str(a), str(b), "-o", str(html), "--pdf", str(pdf), "--lang", "zh",
         "--title", "季度<评估>", "--org", "示例", "--json"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["sections"] == 4 and summary["status"] == "fail"
    text = html.read_text()
    assert "季度&lt;评估&gt;" in text and "drill.json" in text and "assess.json" in text
    assert _pdfinfo(pdf)["Pages"] and pdf.read_bytes().startswith(b"%PDF")
    assert sorted(p.name for p in html.parent.iterdir()) == ["r.html", "r.pdf"]  # no temp files


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["missing.json", "-o", "r.html"], 2, "missing.json: no such file"),
        (["drill.json"], 2, "give -o/--output"),
        (["drill.json", "-o", "r.html", "--lang", "fr"], 2, "--lang takes en or zh"),
        (["drill.json", "-o", "nodir/r.html"], 2, "does not exist"),
        (["drill.json", "-o", "drill.json"], 2, "drill.json: -o/--output would overwrite an input"),
        (["bad.json", "-o", "r.html"], 3, "bad.json: invalid JSON"),
        (["nosections.json", "-o", "r.html"], 3, "nosections.json: no 'sections' list"),
        (["drill.json", "-o", "r.html", "--pdf", "r.pdf", "--chromium", "/no/chromium"], 1,
         "Chromium not found at /no/chromium"),
    ],
)  # fmt: skip
def test_cli_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], code: int, message: str
) -> None:
    _results(tmp_path)
    (tmp_path / "bad.json").write_text("{")
    (tmp_path / "nosections.json").write_text('{"schema": "x"}')
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(app, ["report", "build", *args])
    assert res.exit_code == code, res.output
    assert message in res.stderr and "Traceback" not in res.output
    assert len(res.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "r.html").exists() and not (tmp_path / "r.pdf").exists()
