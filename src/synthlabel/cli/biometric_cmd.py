"""``synthlabel biometric``: the face/voice editing checklist (DSP Art. 9, 14-17).

See docs/biometric.md.

* ``checklist [--answers answers.yaml] [--interactive] -o biometric.json``: evaluate the
  answers (and ask for what is missing with ``--interactive``);
* ``template -o answers.yaml``: an answers file to fill in, with every question.

Exit codes of ``checklist``: 0 every applicable duty is met; 1 at least one is not (answered
no, or a sample fails the label check); 2 usage error or a bad checklist/answers file; 6 none
failed but some need evidence.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from synthlabel.cli._common import JsonOpt, emit_json, fail
from synthlabel.errors import SynthlabelError

EXIT_FAILED, EXIT_INCOMPLETE = 1, 6

biometric_app = typer.Typer(
    help="Face/voice (biometric) editing services: the duty checklist with evidence.",
    no_args_is_help=True,
)
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)
ChecklistOpt = Annotated[
    Path | None,
    typer.Option("--checklist", help="Another checklist YAML [default: the shipped one]."),
]
_STYLE = {"pass": "green", "fail": "bold red", "needs-evidence": "yellow", "not-applicable": "dim"}


def _load_checklist(path: Path | None) -> Any:
    from synthlabel.assess.biometric import load_checklist

    try:
        return load_checklist(path)
    except SynthlabelError as exc:
        fail(str(exc))


@biometric_app.command("template")
def template(
    output: Annotated[Path, typer.Option("-o", "--output", help="Answers YAML to write.")],
    checklist: ChecklistOpt = None,
) -> None:
    """Write an answers file to fill in (every question as a comment)."""
    from synthlabel.assess.biometric import answers_template
    from synthlabel.pipeline.io import atomic_write

    cl = _load_checklist(checklist)
    if output.exists():
        fail(f"{output}: already exists (not overwritten)")
    try:
        atomic_write(output, answers_template(cl).encode("utf-8"))
    except SynthlabelError as exc:
        fail(str(exc), 1)
    out.print(f"wrote {output}: {len(cl.items)} items to answer", markup=False)


def _ask_split(prompt: str) -> list[str]:
    raw = typer.prompt(prompt, default="", show_default=False)
    return [p.strip() for p in str(raw).split(",") if p.strip()]


def _interactive(cl: Any, answers: Any) -> Any:
    """Ask, on the terminal, for the service and every unanswered applicable item."""
    from synthlabel.assess.biometric import MODALITIES, ItemAnswer

    if not answers.service:
        answers.service = typer.prompt("Service name", default="")
    if answers.source == "interactive":
        edits = [m for m in MODALITIES if typer.confirm(f"Does the service edit {m}s?")]
        answers.edits = tuple(edits)
    for item in cl.items:
        if not set(item.applies_to) & set(answers.edits):
            continue
        current = answers.items.get(item.id)
        if current is not None and current.answer is not None:
            continue
        err.print(f"\n[bold]{item.id}[/] ({item.clause}) {item.title_en}")
        err.print(f"  {item.question_en}\n  {item.question_zh}", markup=False)
        if item.hint:
            err.print(f"  evidence: {item.hint}", markup=False)
        while True:
            ans = str(typer.prompt("  answer [yes/no/n/a/skip]", default="skip")).strip().lower()
            if ans in ("yes", "y", "no", "n", "n/a", "na", "skip", ""):
                break
            err.print("  please answer yes, no, n/a or skip")
        if ans in ("skip", ""):
            continue
        a = ItemAnswer(
            answer="yes" if ans in ("yes", "y") else "no" if ans in ("no", "n") else "n/a"
        )
        if a.answer == "yes":
            if item.evidence == "samples":
                a.samples = _ask_split("  sample output files or directories (comma-separated)")
            elif item.evidence != "statement":
                a.evidence = _ask_split("  evidence files (comma-separated, blank for none)")
        wants_statement = a.answer == "yes" and item.evidence in ("statement", "either")
        if wants_statement or a.answer == "n/a":
            a.statement = str(typer.prompt("  statement", default="", show_default=False))
        answers.items[item.id] = a
    return answers


@biometric_app.command("checklist")
def checklist_cmd(
    output: Annotated[Path, typer.Option("-o", "--output", help="Result JSON (atomic).")],
    answers: Annotated[
        Path | None, typer.Option("--answers", help="Answers YAML (see `biometric template`).")
    ] = None,
    interactive: Annotated[
        bool, typer.Option("--interactive", help="Ask on the terminal for what is unanswered.")
    ] = False,
    save_answers: Annotated[
        Path | None,
        typer.Option("--save-answers", help="Also write the answers collected (YAML)."),
    ] = None,
    automatic: Annotated[
        bool,
        typer.Option("--auto-check/--no-auto-check", help="Run synthlabel assess on samples."),
    ] = True,
    conformance_profile: Annotated[
        str | None,
        typer.Option("--conformance-profile", help="Profile for the label check of samples."),
    ] = None,
    checklist: ChecklistOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Evaluate the biometric editing duties from an answers file (or interactively):
    status per item, evidence hashed, sample outputs checked, and a report section."""
    import yaml

    from synthlabel.assess.biometric import Answers, evaluate, load_answers
    from synthlabel.pipeline.io import atomic_write

    if answers is None and not interactive:
        fail("give --answers FILE (see `synthlabel biometric template`) or --interactive")
    if not output.parent.is_dir() and str(output.parent):
        fail(f"{output.parent}: output directory does not exist")
    cl = _load_checklist(checklist)
    try:
        ans = (
            load_answers(answers, cl)
            if answers is not None
            else Answers(service="", edits=(), items={}, source="interactive")
        )
    except SynthlabelError as exc:
        fail(str(exc))
    if interactive:
        ans = _interactive(cl, ans)
        if save_answers is not None:
            data = yaml.safe_dump(ans.to_yaml_dict(), allow_unicode=True, sort_keys=False)
            try:
                atomic_write(save_answers, data.encode("utf-8"))
            except SynthlabelError as exc:
                fail(str(exc), 1)
    result = evaluate(cl, ans, automatic=automatic, conformance_profile=conformance_profile)
    doc = result.to_dict()
    try:
        atomic_write(output, (json.dumps(doc, ensure_ascii=False, indent=2) + "\n").encode())
    except SynthlabelError as exc:
        fail(str(exc), 1)
    if as_json:
        emit_json(doc)
    else:
        table = Table(header_style="bold", title=f"{cl.title_zh} / {cl.title_en}")
        # ids and statuses stay whole; the clause and the reason wrap
        table.add_column("Item", no_wrap=True)
        table.add_column("Clause", max_width=14)
        table.add_column("Status", no_wrap=True)
        table.add_column("Why", overflow="fold")
        for r in result.items:
            style = _STYLE[r.status]
            table.add_row(
                escape(r.item.id),
                escape(r.item.clause),
                f"[{style}]{r.status}[/]",
                escape(r.message),
            )
        out.print(table)
        c = result.counts
        out.print(
            f"{c['pass']} pass, {c['fail']} fail, {c['needs-evidence']} need evidence, "
            f"{c['not-applicable']} not applicable; result {output}",
            markup=False,
        )
    if result.counts["fail"]:
        raise typer.Exit(EXIT_FAILED)
    if result.counts["needs-evidence"]:
        raise typer.Exit(EXIT_INCOMPLETE)
