"""What every command shares: consoles, exit codes, errors, JSON output, progress bars and
the options that mean the same thing everywhere (outputs, trust, policy, workers)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

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
WorkersOpt = Annotated[
    int, typer.Option("--workers", "-j", help="Parallel processes [default: all cores].")
]


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", markup=True, highlight=False)
    raise typer.Exit(code)


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
