"""``synthlabel report build RESULT.json... -o report.html [--pdf report.pdf]``.

Reads the ``"sections"`` of result files written by ``synthlabel assess``, ``drill``,
``tc260`` and ``biometric`` (or the ``"results"`` of ``inspect --json``, turned into a verdict
distribution) and writes one self-contained HTML report and/or an A4 PDF printed by headless
Chromium. Every input is read and checked before anything is written.

Exit codes: 0 written; 2 usage error or a missing input file; 3 an input is not a valid
result file (bad JSON, no sections, a chart that cannot be drawn); 1 the output could not be
written (Chromium missing or failing, an unwritable path).

Mounted by ``cli/main.py`` as ``app.add_typer(report_app, name="report")``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from synthlabel.cli._common import EXIT_PROBLEM, EXIT_UNREADABLE, JsonOpt, emit_json, fail, out

report_app = typer.Typer(
    help="HTML and PDF reports from assessment, drill and inspection results.",
    no_args_is_help=True,
)


@report_app.command("build")
def build(
    results: Annotated[
        list[Path],
        typer.Argument(help="Result JSON files (each with a 'sections' list).", show_default=False),
    ],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write the HTML report here.")
    ] = None,
    pdf: Annotated[
        Path | None, typer.Option("--pdf", help="Also print an A4 PDF here (headless Chromium).")
    ] = None,
    lang: Annotated[
        str, typer.Option("--lang", help="Language of the report's headings: en or zh.")
    ] = "en",
    title: Annotated[
        str | None, typer.Option("--title", help="Report title [default: translated].")
    ] = None,
    org: Annotated[
        str | None, typer.Option("--org", help="Organisation named on the cover.")
    ] = None,
    chromium: Annotated[
        Path | None,
        typer.Option(
            "--chromium",
            envvar="SYNTHLABEL_CHROMIUM",
            help="Chromium executable [default: chromium on the PATH].",
        ),
    ] = None,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Seconds Chromium may take for the PDF.", min=1)
    ] = 120.0,
    as_json: JsonOpt = False,
) -> None:
    """Build one report from result JSON files."""
    from rich.markup import escape

    from synthlabel.assess.report import (
        ReportError,
        build_report,
        load_results,
        overall_status,
        render_pdf,
        write_text_atomic,
    )

    if output is None and pdf is None:
        fail("give -o/--output for HTML, --pdf for PDF, or both")
    if lang not in ("en", "zh"):
        fail(f"--lang takes en or zh, not {lang!r}")
    for r in results:
        if not r.exists():
            fail(escape(f"{r}: no such file"))
        if r.is_dir():
            fail(escape(f"{r}: is a directory, not a result JSON file"))
    for dest, what in ((output, "-o/--output"), (pdf, "--pdf")):
        if dest is not None and not dest.parent.is_dir():
            fail(escape(f"{dest}: {what}: the directory {dest.parent} does not exist"))
    if output is not None and pdf is not None and output.resolve() == pdf.resolve():
        fail("-o/--output and --pdf name the same file")
    sources = {r.resolve() for r in results}
    for dest, what in ((output, "-o/--output"), (pdf, "--pdf")):
        if dest is not None and dest.resolve() in sources:
            fail(escape(f"{dest}: {what} would overwrite an input file"))

    try:
        sections, inputs = load_results(results, lang=lang)
    except ReportError as exc:
        fail(escape(str(exc)), EXIT_UNREADABLE)
    try:
        html = build_report(sections, title=title, org=org, lang=lang, inputs=inputs)
        if pdf is not None:
            render_pdf(html, pdf, chromium=chromium, timeout=timeout)
        if output is not None:
            write_text_atomic(output, html)
    except ReportError as exc:
        fail(escape(str(exc)), EXIT_PROBLEM)
    overall = overall_status(sections)
    if as_json:
        emit_json(
            {
                "html": str(output) if output else None,
                "pdf": str(pdf) if pdf else None,
                "sections": len(sections),
                "status": overall,
                "inputs": [str(r) for r in results],
            }
        )
        return
    for dest in (output, pdf):
        if dest is not None:
            out.print(f"wrote {dest}", markup=False)
    n = len(sections)
    out.print(f"{n} section{'' if n == 1 else 's'}, overall {overall or 'none'}", markup=False)
