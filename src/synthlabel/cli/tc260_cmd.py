"""``synthlabel tc260``: the TC260-003 / GB/T 45654 model-safety evaluation (docs/tc260.md).

* ``run``: sample the banks, ask an OpenAI-compatible endpoint, judge, decide gates E1–E5;
* ``banks check BANK...``: validate bank files and their size/coverage (K1, Q1–Q3);
* ``review-template RESULT.json -o review.csv``: the E1 manual-review sheet;
* ``profiles``, ``classifiers``: what is available.

Exit codes of ``run``: 0 every gate passed and the banks meet their coverage; 1 a gate failed;
2 usage error or a bad bank/profile/labels/run file; 3 the endpoint could not be used (answers
so far are kept in the run file); 6 no gate failed but the assessment is incomplete (a gate needs
evidence, a sample is below its required size, a bank falls short, a question went
unanswered); 130 interrupted (continue with ``--resume RUNFILE``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from synthlabel.cli._common import JsonOpt, emit_json, fail, progress
from synthlabel.errors import SynthlabelError

EXIT_FAILED, EXIT_ENDPOINT, EXIT_INCOMPLETE, EXIT_INTERRUPTED = 1, 3, 6, 130

tc260_app = typer.Typer(
    help="TC260-003 / GB/T 45654-2025 model-safety evaluation (banks, runs, gates E1-E5).",
    no_args_is_help=True,
)
banks_app = typer.Typer(help="Keyword libraries and test-question banks.", no_args_is_help=True)
tc260_app.add_typer(banks_app, name="banks")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

BanksArg = Annotated[
    list[str],
    typer.Argument(help="Bank files or directories (.jsonl, .csv), or builtin:demo."),
]
ProfileOpt = Annotated[
    str,
    typer.Option("--profile", help="Threshold profile: tc260-003-2024, gbt45654-2025 or a TOML."),
]
_STYLE = {"pass": "green", "fail": "bold red", "needs-evidence": "yellow"}


def _load(banks: list[str]) -> Any:
    from synthlabel.assess.tc260.banks import load_banks

    try:
        return load_banks(list(banks))
    except SynthlabelError as exc:
        fail(str(exc))


@banks_app.command("check")
def banks_check(
    banks: BanksArg,
    profile: ProfileOpt = "tc260-003-2024",
    as_json: JsonOpt = False,
) -> None:
    """Validate bank files (every problem with file and line) and check their size and
    coverage against the profile (K1, Q1-Q3). Exit 0: all met; 1: shortfalls; 2: bad files."""
    from synthlabel.assess.tc260.banks import coverage, read_banks
    from synthlabel.assess.tc260.profiles import load_profile

    try:
        prof = load_profile(profile)
        bankset, problems = read_banks(list(banks))
    except SynthlabelError as exc:
        fail(str(exc))
    shortfalls = coverage(bankset, prof)
    if as_json:
        emit_json(
            {
                "schema": "synthlabel.tc260.banks/1",
                "profile": prof.id,
                "files": [f.to_dict() for f in bankset.files],
                "problems": [
                    {"path": p.path, "line": p.line, "message": p.message} for p in problems
                ],
                "shortfalls": [s.to_dict() for s in shortfalls],
            }
        )
    else:
        table = Table(header_style="bold", title="Bank files")
        for col in ("File", "Kind", "Name", "Version", "Entries", "SHA-256"):
            table.add_column(col, overflow="fold")
        for f in bankset.files:
            kind = f.kind + (" (demo)" if f.demo else "")
            if f.counts:
                kind += " " + ", ".join(f"{k}={v}" for k, v in sorted(f.counts.items()))
            table.add_row(f.path, kind, f.name, f.version, str(f.count), f.sha256[:16] + "…")
        out.print(table)
        for p in problems:
            err.print(f"✗ {p}", markup=False)
        for s in shortfalls:
            out.print(f"shortfall {s.message}", markup=False)
        if not problems and not shortfalls:
            out.print(f"every size and coverage requirement of {prof.id} is met")
        else:
            out.print(
                f"{len(problems)} problems, {len(shortfalls)} shortfalls against {prof.id}",
                markup=False,
            )
    raise typer.Exit(2 if problems else 1 if shortfalls else 0)


@tc260_app.command("run")
def run_cmd(
    endpoint: Annotated[
        str,
        typer.Option(
            "--endpoint",
            envvar="SYNTHLABEL_TC260_ENDPOINT",
            help="Base URL of an OpenAI-compatible API (…/v1).",
        ),
    ],
    model: Annotated[str, typer.Option("--model", help="Model name sent in each request.")],
    banks: Annotated[
        list[str],
        typer.Option("--banks", help="Bank directory or file (repeatable), or builtin:demo."),
    ],
    output: Annotated[Path, typer.Option("-o", "--output", help="Result JSON (atomic).")],
    profile: ProfileOpt = "tc260-003-2024",
    concurrency: Annotated[
        int, typer.Option("--concurrency", help="Requests in flight at most.")
    ] = 8,
    resume: Annotated[
        Path | None,
        typer.Option(
            "--resume",
            help="Continue this run file (created if missing) [default: a new OUTPUT.run.jsonl].",
        ),
    ] = None,
    api_key_env: Annotated[
        str, typer.Option("--api-key-env", help="Environment variable holding the API key.")
    ] = "OPENAI_API_KEY",
    temperature: Annotated[
        float, typer.Option("--temperature", help="Sampling temperature of every request.")
    ] = 0.0,
    system_prompt: Annotated[
        str | None, typer.Option("--system-prompt", help="System message of every request.")
    ] = None,
    max_tokens: Annotated[
        int | None, typer.Option("--max-tokens", help="Answer length limit per request.")
    ] = None,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds per request.")] = 60.0,
    retries: Annotated[
        int, typer.Option("--retries", help="Retries on 429/5xx/timeouts per request.")
    ] = 5,
    backoff: Annotated[
        float, typer.Option("--backoff", help="First retry delay in seconds (doubles).")
    ] = 1.0,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Sampling seed [default: random, recorded].")
    ] = None,
    refusal_classifier: Annotated[
        str, typer.Option("--refusal-classifier", help="rules, model or a plug-in id.")
    ] = "rules",
    safety_classifier: Annotated[
        str | None,
        typer.Option("--safety-classifier", help="E3 content classifier: model or a plug-in id."),
    ] = None,
    judge_endpoint: Annotated[
        str | None, typer.Option("--judge-endpoint", help="Judging endpoint (model classifier).")
    ] = None,
    judge_model: Annotated[
        str | None, typer.Option("--judge-model", help="Model name at the judging endpoint.")
    ] = None,
    judge_api_key_env: Annotated[
        str, typer.Option("--judge-api-key-env", help="Variable holding the judge's API key.")
    ] = "OPENAI_API_KEY",
    human_labels: Annotated[
        Path | None,
        typer.Option("--human-labels", help="E1: the reviewer's filled review-template CSV."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Sample the banks, ask the endpoint (retried, cached, resumable), judge the answers and
    decide gates E1-E5 against the profile."""
    from synthlabel.assess.tc260 import runner
    from synthlabel.assess.tc260.client import EndpointConfig, EndpointError
    from synthlabel.assess.tc260.profiles import load_profile
    from synthlabel.pipeline.io import atomic_write

    if concurrency < 1:
        fail("--concurrency must be at least 1")
    if retries < 0 or timeout <= 0 or backoff < 0:
        fail("--retries, --timeout and --backoff must be positive")
    if (judge_endpoint is None) != (judge_model is None):
        fail("--judge-endpoint and --judge-model go together")
    if not output.parent.is_dir() and str(output.parent):
        fail(f"{output.parent}: output directory does not exist")
    run_file = resume or output.with_name(output.name.removesuffix(".json") + ".run.jsonl")
    try:
        prof = load_profile(profile)
    except SynthlabelError as exc:
        fail(str(exc))
    bankset = _load(banks)
    cfg = EndpointConfig(
        base_url=endpoint,
        model=model,
        api_key=os.environ.get(api_key_env) or None,
        temperature=temperature,
        system_prompt=system_prompt,
        max_tokens=max_tokens,
        timeout_s=timeout,
        max_retries=retries,
        backoff_s=backoff,
    )
    judge = None
    if judge_endpoint and judge_model:
        judge = EndpointConfig(
            base_url=judge_endpoint,
            model=judge_model,
            api_key=os.environ.get(judge_api_key_env) or None,
            temperature=0.0,
            timeout_s=timeout,
            max_retries=retries,
            backoff_s=backoff,
        )
    config = runner.RunConfig(
        endpoint=cfg,
        profile=prof,
        run_file=run_file,
        resume=resume is not None,
        concurrency=concurrency,
        seed=seed,
        refusal_classifier=refusal_classifier,
        safety_classifier=safety_classifier,
        judge=judge,
        human_labels=human_labels,
    )
    bar = progress(2, not as_json)
    tasks: dict[str, Any] = {}

    def tick(stage: str, done: int, total: int) -> None:
        if bar is None:
            return
        if stage not in tasks:
            tasks[stage] = bar.add_task(stage, total=total)
        bar.update(tasks[stage], completed=done, total=total)

    try:
        if bar is not None:
            with bar:
                result = runner.run(bankset, config, on_progress=tick)
        else:
            result = runner.run(bankset, config)
    except KeyboardInterrupt:
        err.print(
            f"interrupted: answers so far are in {run_file}; continue with --resume {run_file}",
            markup=False,
        )
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except EndpointError as exc:
        err.print(
            f"error: {exc}; answers so far are in {run_file} (continue with --resume {run_file})",
            markup=False,
        )
        raise typer.Exit(EXIT_ENDPOINT) from None
    except SynthlabelError as exc:
        fail(str(exc))
    doc = result.to_dict()
    try:
        atomic_write(output, (json.dumps(doc, ensure_ascii=False, indent=2) + "\n").encode())
    except SynthlabelError as exc:
        fail(str(exc), 1)
    if as_json:
        emit_json({k: v for k, v in doc.items() if k not in ("items", "sections")})
    else:
        _print_result(result, output)
    states = {g.status for g in result.gates}
    if "fail" in states:
        raise typer.Exit(EXIT_FAILED)
    if states != {"pass"} or result.shortfalls or result.stats.get("errors"):
        raise typer.Exit(EXIT_INCOMPLETE)


def _print_result(result: Any, output: Path) -> None:
    from synthlabel.assess.tc260.metrics import pct

    table = Table(header_style="bold", title=f"TC260 gates ({result.profile['id']})")
    for col in ("Gate", "n / need", "Rate", "95 % CI", "Pass", "Status"):
        table.add_column(col, no_wrap=True)
    for g in result.gates:
        ci = f"{pct(g.ci95[0], 0)}–{pct(g.ci95[1], 0)}" if g.ci95 else "—"
        mark = ("≥ " if g.gate.direction == "min" else "≤ ") + pct(g.gate.threshold, 0)
        style = _STYLE.get(g.status, "yellow")
        table.add_row(
            g.gate.id,
            f"{g.n} / {g.gate.min_sample}",
            pct(g.rate),
            ci,
            mark,
            f"[{style}]{g.status}[/]",
        )
    out.print(table)
    for g in result.gates:
        out.print(f"{g.gate.label}: {g.reason}", markup=False)
    for s in result.shortfalls[:10]:
        out.print(f"shortfall {s.message}", markup=False)
    if len(result.shortfalls) > 10:
        out.print(f"… and {len(result.shortfalls) - 10} more shortfalls (see the result JSON)")
    st = result.stats
    out.print(
        f"{st['questions']} questions: {st['cached']} from the run file, {st['asked']} asked, "
        f"{st['errors']} unanswered; {st['requests']} requests ({st['retries']} retries); "
        f"seed {result.seed}; result {output}; run file {result.run_file}",
        markup=False,
    )


@tc260_app.command("review-template")
def review_template(
    result: Annotated[Path, typer.Argument(help="A result JSON of `tc260 run`.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="CSV to write (atomic).")],
) -> None:
    """Export the sampled generated-content answers as a CSV for manual review (E1); fill in
    `qualified` (yes/no) and pass it back with `tc260 run --resume RUNFILE --human-labels`."""
    from synthlabel.assess.tc260.review import write_review_template

    try:
        doc = json.loads(result.read_text(encoding="utf-8"))
    except OSError as exc:
        fail(f"{result}: cannot read: {exc.strerror}")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        fail(f"{result}: not valid JSON ({exc})")
    if not isinstance(doc, dict) or doc.get("schema") != "synthlabel.tc260/1":
        fail(f"{result}: not a result of `synthlabel tc260 run` (schema synthlabel.tc260/1)")
    try:
        n = write_review_template(doc, output)
    except SynthlabelError as exc:
        fail(str(exc), 1)
    out.print(f"{n} answers to review in {output}", markup=False)


@tc260_app.command("profiles")
def profiles_cmd(as_json: JsonOpt = False) -> None:
    """List the shipped threshold profiles and their gates."""
    from synthlabel.assess.tc260.profiles import builtin_profiles, load_profile

    profs = [load_profile(p) for p in builtin_profiles()]
    if as_json:
        emit_json([p.to_dict() for p in profs])
        return
    for p in profs:
        out.print(f"{p.id}  {p.standard} ({p.edition})", markup=False)
        for g in p.gates.values():
            mark = ("≥ " if g.direction == "min" else "≤ ") + f"{100 * g.threshold:g} %"
            out.print(
                f"  {g.id} {g.name_zh} / {g.name_en}: {g.bank}, sample ≥ {g.min_sample}, {mark}",
                markup=False,
            )


@tc260_app.command("classifiers")
def classifiers_cmd(as_json: JsonOpt = False) -> None:
    """List the answer classifiers (entry-point group synthlabel.tc260_classifiers)."""
    from synthlabel.assess.tc260.classify import REGISTRY

    rows = [
        {"id": f.id, "kinds": sorted(f.kinds), "description": f.description} for f in REGISTRY.all()
    ]
    if as_json:
        emit_json({"classifiers": rows, "load_errors": REGISTRY.load_errors()})
        return
    for r in rows:
        out.print(f"{r['id']:<10} {', '.join(r['kinds']):<16} {r['description']}", markup=False)
    for e in REGISTRY.load_errors():
        err.print(f"warning: classifier plug-in failed to load: {e}", markup=False)
