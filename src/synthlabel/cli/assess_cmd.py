"""``synthlabel assess PATH... [--profile gb45438|FILE.yaml]``: check a generation service's
outputs file by file against a conformance profile (docs/assess.md).

Exit codes (as ``inspect``): 0 every file conforms; 1 a file fails an error-severity rule (with
``--fail-on warning``: any rule); 3 a file could not be read or an error-severity rule could not
be judged (OCR missing, a detector failed); 2 usage error (bad profile, bad ``--set``, no
files). Registered by ``cli/main.py`` as ``app.command("assess")(assess)``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from synthlabel.cli._common import (
    EXIT_OK,
    EXIT_PROBLEM,
    EXIT_UNREADABLE,
    C2paTrustOpt,
    HomeOpt,
    JsonOpt,
    NoC2paOpt,
    TrustOpt,
    WorkersOpt,
    emit_json,
    err,
    fail,
    out,
    progress,
    write_json_result,
)
from synthlabel.errors import SynthlabelError

_STATUS_STYLE = {
    "conformant": "green",
    "nonconformant": "red",
    "inconclusive": "yellow",
    "unreadable": "yellow",
}
_MARK = {"fail": "✗", "error": "?"}


def _list_profiles() -> None:
    from synthlabel.assess.conformance import CHECKS, builtin_profiles, load_profile

    table = Table(header_style="bold", title="Profiles")
    table.add_column("Profile", no_wrap=True)
    for col in ("Version", "Rules", "Title"):
        table.add_column(col, overflow="fold")
    for name in builtin_profiles():
        p = load_profile(name)
        table.add_row(name, str(p.version), str(len(p.rules)), f"{p.title_en} / {p.title_zh}")
    out.print(table)
    out.print("[bold]Checks[/] (a rule's id, or its check:, names one of these)")
    kinds_order = ("image", "video", "audio", "text", "document")
    for cid, spec in sorted(CHECKS.items()):
        kinds = ", ".join(k for k in kinds_order if k in spec.kinds)
        out.print(f"  [bold]{cid}[/] {escape('[' + kinds + ']')}", highlight=False)
        out.print(f"      {spec.summary}", markup=False)
        if spec.params:
            params = ", ".join(f"{k}={v.default!r}" for k, v in spec.params.items())
            out.print(f"      params: {params}", markup=False)


def _measured(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "—"
    return str(value)


def _print(result: Any, verbose: bool) -> None:
    table = Table(header_style="bold")
    for col in ("File", "Kind", "Result", "Failed rules"):
        table.add_column(col, overflow="fold")
    for f in result.files:
        style = _STATUS_STYLE.get(f.status, "")
        failed = [
            f"{_MARK[r.status]} {r.rule}" + (" (warning)" if r.severity == "warning" else "")
            for r in f.failures()
        ]
        table.add_row(
            escape(f.path),
            f.kind or "?",
            f"[{style}]{f.status}[/]" if style else f.status,
            escape("\n".join(failed)) if failed else "—",
        )
    out.print(table)
    for f in result.files:
        lines = []
        if f.error:
            lines.append(f"error: {f.error}")
        for r in f.results:
            if r.failing or (verbose and r.status == "pass"):
                mark = "✓" if r.status == "pass" else _MARK[r.status]
                lines.append(f"{mark} {r.rule} [{r.severity}]: {r.message}")
        lines += [f"note: {n}" for n in f.notes]
        if lines:
            out.print(f"[bold]{escape(f.path)}[/]")
            for line in lines:
                out.print(f"  {line}", markup=False)
    s = result.summary()
    rules = Table(header_style="bold", title=f"{result.profile.title_en} ({result.profile.ref})")
    rules.add_column("Rule", no_wrap=True)
    # short headers and unwrapped cells: the table fits 80 columns (CI logs, pipes)
    for col in ("Severity", "Pass", "Fail", "Error", "N/A", "Rate"):
        rules.add_column(col, justify="right" if col != "Severity" else "left", no_wrap=True)
    for r in s["rules"]:
        pct = "—" if r["pass_pct"] is None else f"{r['pass_pct']:.1f} %"
        rules.add_row(
            r["rule"],
            r["severity"],
            str(r["passed"]),
            str(r["failed"]),
            str(r["errors"]),
            str(r["not_applicable"]),
            pct,
        )
    out.print(rules)
    score = "—" if s["score_pct"] is None else f"{s['score_pct']:.1f} %"
    conf = "—" if s["conformant_pct"] is None else f"{s['conformant_pct']:.1f} %"
    out.print(
        f"{s['conformant']}/{s['files']} files conformant ({conf}); score {score} of the "
        f"applicable checks passed; {_n(s['failed_errors'], 'failed error check')}, "
        f"{_n(s['failed_warnings'], 'failed warning')}",
        markup=False,
    )


def _n(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def assess(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="Files or directories (recursive).", show_default=False),
    ] = None,
    profile: Annotated[
        str,
        typer.Option(
            "--profile",
            "-p",
            help="gb45438, eu-ai-act-art50, example-company, or a YAML file.",
        ),
    ] = "gb45438",
    sets: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="Change a rule parameter: RULE.PARAM=VALUE (repeatable), "
            "e.g. explicit.caption.size.min_ratio=0.06 or RULE.severity=warning.",
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="Write the full result (JSON with report sections)."),
    ] = None,
    fail_on: Annotated[
        str,
        typer.Option("--fail-on", help="Exit 1 when a rule of this severity fails: error|warning."),
    ] = "error",
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Also list the rules that passed.")
    ] = False,
    list_profiles: Annotated[
        bool, typer.Option("--list", help="List the built-in profiles and the checks, then exit.")
    ] = False,
    show_profile: Annotated[
        bool,
        typer.Option("--show-profile", help="Print the resolved profile as YAML, then exit."),
    ] = False,
    time_budget: Annotated[
        float, typer.Option("--time-budget", help="Seconds per file for the detectors.")
    ] = 120.0,
    trust: TrustOpt = None,
    c2pa_trust: C2paTrustOpt = None,
    no_c2pa: NoC2paOpt = False,
    workers: WorkersOpt = 0,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Check a generation service's outputs against a conformance profile (GB 45438 by
    default): explicit label, size, position, video timing, audio prompt, text notice, the
    AIGC record, provider code, signature and watermark; per-file findings and a score."""
    from synthlabel.assess.conformance import (
        CHECKS,
        AssessOptions,
        FileAssessment,
        ProfileError,
        collect_files,
        load_profile,
        parse_overrides,
        profile_yaml,
    )
    from synthlabel.assess.conformance import assess as run

    if list_profiles:
        _list_profiles()
        raise typer.Exit(EXIT_OK)
    if fail_on not in ("error", "warning"):
        fail(f"--fail-on takes error or warning, not {fail_on!r}")
    try:
        prof = load_profile(profile, overrides=parse_overrides(sets or []))
    except ProfileError as exc:
        fail(exc.message)
    if show_profile:
        out.print(profile_yaml(prof), markup=False, highlight=False, end="")
        raise typer.Exit(EXIT_OK)
    if not paths:
        fail("give files or directories to assess (or --list / --show-profile)")
    if trust is not None and not trust.is_file():
        fail(f"{trust}: no such trust file")
    if c2pa_trust is not None and not c2pa_trust.is_file():
        fail(f"{c2pa_trust}: no such file of C2PA trust anchors")
    files = collect_files(paths)
    if not files:
        fail("no supported files found in the inputs")
    if any("visible" in CHECKS[r.check].needs(r.params) for r in prof.rules) and (
        importlib.util.find_spec("rapidocr_onnxruntime") is None
    ):
        err.print(
            "warning: OCR is not installed (pip install 'synthlabel[ocr]'): the caption rules "
            "cannot judge images and videos",
            markup=False,
        )
    options = AssessOptions(
        trust_file=str(trust) if trust else None,
        key_home=str(home) if home else None,
        c2pa=not no_c2pa,
        c2pa_trust_anchors=str(c2pa_trust) if c2pa_trust else None,
        time_budget=time_budget if time_budget > 0 else None,
    )
    bar = progress(len(files), not as_json)
    try:
        if bar is None:
            result = run(files, prof, options=options, workers=workers or None)
        else:
            with bar:
                task = bar.add_task("assessing", total=len(files))

                def tick(r: FileAssessment) -> None:
                    bar.advance(task)
                    if r.error:
                        bar.console.print(f"[red]✗[/] {escape(r.error)}", markup=True)

                result = run(files, prof, options=options, workers=workers or None, on_result=tick)
    except SynthlabelError as exc:
        fail(str(exc))
    results = result.files
    doc = result.to_dict()
    if output is not None:
        write_json_result(output, doc)
    if as_json:
        emit_json(doc)
    else:
        _print(result, verbose)
        if output is not None:
            err.print(f"results written to {escape(str(output))}")
    if any(f.status in ("unreadable", "inconclusive") for f in results):
        raise typer.Exit(EXIT_UNREADABLE)
    severities = ("error", "warning") if fail_on == "warning" else ("error",)
    if any(r.status == "fail" and r.severity in severities for f in results for r in f.results):
        raise typer.Exit(EXIT_PROBLEM)
    raise typer.Exit(EXIT_OK)
