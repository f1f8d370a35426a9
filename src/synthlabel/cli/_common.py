"""What every command shares: consoles, exit codes, errors, JSON output, progress bars and
the options that mean the same thing everywhere (outputs, trust, policy, workers)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

EXIT_OK, EXIT_PROBLEM, EXIT_USAGE, EXIT_UNREADABLE, EXIT_NO_LABEL = 0, 1, 2, 3, 4
EXIT_VERDICT = 5  # inspect --fail-on: a file's verdict reached the given class

HomeOpt = Annotated[
    Path | None,
    typer.Option(
        "--home",
        envvar="SYNTHLABEL_HOME",
        help="Key store directory [default: ~/.config/synthlabel].",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")]
OutputOpt = Annotated[
    Path | None, typer.Option("-o", "--output", help="Output file (one input only).")
]
OutDirOpt = Annotated[
    Path | None,
    typer.Option("--out-dir", help="Write outputs here, mirroring input directories."),
]
InPlaceOpt = Annotated[bool, typer.Option("--in-place", help="Replace the inputs (atomically).")]
TrustOpt = Annotated[
    Path | None,
    typer.Option("--trust", help="Trust file of public keys [default: the key store's]."),
]
C2paTrustOpt = Annotated[
    Path | None, typer.Option("--c2pa-trust", help="PEM bundle of C2PA trust anchors.")
]
PolicyOpt = Annotated[
    str | None,
    typer.Option("--policy", help="Verdict policy: default, measures-strict, or a TOML file."),
]
DeclaredOpt = Annotated[
    bool, typer.Option("--declared", help="The uploader declared the content AI-generated.")
]
RegistryPathOpt = Annotated[
    Path | None, typer.Option("--registry", help="Perceptual-hash registry to match against.")
]
DeepOpt = Annotated[
    bool, typer.Option("--deep", help="Also run expensive detectors (OCR of visible labels).")
]
OnlyOpt = Annotated[
    str | None, typer.Option("--only", help="Run only these detectors (comma-separated ids).")
]
SkipOpt = Annotated[
    str | None, typer.Option("--skip", help="Skip these detectors (comma-separated ids).")
]
NoC2paOpt = Annotated[bool, typer.Option("--no-c2pa", help="Skip C2PA validation.")]
WorkersOpt = Annotated[
    int,
    typer.Option(
        "--workers", "-j", help="Parallel processes [default: all cores].", show_default=False
    ),
]


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", markup=True, highlight=False)
    raise typer.Exit(code)


def write_json_result(path: Path, doc: Any, what: str = "the results") -> None:
    """Write ``doc`` as indented UTF-8 JSON to ``path`` atomically (a temp file renamed into
    place: an interrupted run never leaves half a file); exit 1 naming the file on failure."""
    from synthlabel.errors import SynthlabelError
    from synthlabel.pipeline.io import atomic_write

    data = (json.dumps(doc, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
    try:
        atomic_write(path, data)
    except SynthlabelError as exc:
        fail(f"{path}: cannot write {what}: {exc.message}", EXIT_PROBLEM)
    except OSError as exc:
        fail(f"{path}: cannot write {what}: {exc.strerror}", EXIT_PROBLEM)


def emit_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, indent=2) + "\n")


def progress(total: int, enabled: bool = True) -> Progress | None:
    """A progress bar on stderr for more than one file on a terminal (else None)."""
    if not enabled or total < 2 or not err.is_terminal:
        return None
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    )


def _sniffable(path: Path) -> bool:
    from synthlabel.errors import SynthlabelError
    from synthlabel.formats import registry

    try:
        with open(path, "rb") as fh:
            head = fh.read(registry.max_sniff_bytes())
        registry.sniff(head, name=path.name)
        return True
    except (OSError, SynthlabelError):
        return False


def plan_jobs(
    inputs: list[Path], output: Path | None, out_dir: Path | None, in_place: bool
) -> tuple[list[tuple[Path, Path]], int]:
    """(source, destination) pairs for commands that write files (label, propagate), and how
    many files of walked directories were skipped as unsupported; usage errors exit 2.

    Exactly one output mode: ``-o`` (one input), ``--out-dir`` (mirrors the input tree; its
    directories are created) or ``--in-place``. Directory walks only take files a plug-in
    recognises by magic bytes; files named explicitly are always attempted."""
    from synthlabel.pipeline.io import iter_inputs

    if (output is not None) + (out_dir is not None) + bool(in_place) != 1:
        fail("choose exactly one of -o/--output, --out-dir or --in-place")
    pairs = list(iter_inputs(inputs))
    missing = [p for p, _ in pairs if not p.exists()]
    if missing:
        fail(f"{missing[0]}: no such file or directory")
    jobs: list[tuple[Path, Path]] = []
    skipped = 0
    explicit = {Path(i) for i in inputs}
    for src, base in pairs:
        if src not in explicit and not _sniffable(src):
            skipped += 1
            continue
        if output is not None:
            dest = output
        elif out_dir is not None:
            rel = src.relative_to(base) if src != base and base in src.parents else Path(src.name)
            dest = out_dir / rel
        else:
            dest = src
        jobs.append((src, dest))
    if output is not None and len(jobs) != 1:
        fail("-o/--output takes exactly one input file; use --out-dir for several")
    if not jobs:
        fail("no supported files found in the inputs")
    if out_dir is not None:
        for _, dest in jobs:
            try:
                dest.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                fail(f"{dest.parent}: cannot create output directory: {exc.strerror}", EXIT_PROBLEM)
    return jobs, skipped


R = TypeVar("R")


def run_jobs_with_progress(
    run: Callable[..., list[R]],
    jobs: list[tuple[Path, Path]],
    options: Any,
    *,
    workers: int,
    what: str,
    enabled: bool,
) -> list[R]:
    """``run(jobs, options, workers=..., on_result=...)`` with a progress bar on a terminal;
    a failed file is printed above the bar as it happens; a library error exits 2."""
    from rich.markup import escape

    from synthlabel.errors import SynthlabelError

    bar = progress(len(jobs), enabled)
    try:
        if bar is None:
            return run(jobs, options, workers=workers or None)
        with bar:
            task = bar.add_task(what, total=len(jobs))

            def tick(result: Any) -> None:
                bar.advance(task)
                if getattr(result, "error", ""):
                    bar.console.print(f"[red]✗[/] {escape(result.error)}", markup=True)

            return run(jobs, options, workers=workers or None, on_result=tick)
    except SynthlabelError as exc:
        fail(str(exc))
