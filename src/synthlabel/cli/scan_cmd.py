"""``synthlabel scan INPUT... --out results.parquet|results.jsonl``: inspect many files with a
local process pool (default) or a Ray cluster (``--engine ray``, the ``[ray]`` extra) and write
one row per file (docs/scan.md).

Exit codes: 0 every file was inspected; 3 the scan finished but some files could not be read
or inspected (their rows carry the error); 2 usage error (bad option, unknown engine, missing
extra); 1 the results could not be written; 130 interrupted (rerun with ``--resume``).

``--database-url`` writes to the supervision service's database instead of a file
(``cli/scan_db.py``). Registered by ``cli/main.py`` as ``app.command("scan")(scan_command)``.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from synthlabel.cli._common import (
    EXIT_OK,
    EXIT_PROBLEM,
    EXIT_UNREADABLE,
    C2paTrustOpt,
    DeclaredOpt,
    DeepOpt,
    HomeOpt,
    JsonOpt,
    NoC2paOpt,
    OnlyOpt,
    PolicyOpt,
    RegistryPathOpt,
    SkipOpt,
    TrustOpt,
    emit_json,
    err,
    fail,
    out,
)
from synthlabel.errors import SynthlabelError

EXIT_INTERRUPTED = 130
_SHOWN_ERRORS = 20  # failures printed above the progress bar; the rest are in the output


def scan(
    inputs: Annotated[
        list[str] | None,
        typer.Argument(
            help="Files, directories (recursive) or - (a list of paths on stdin).",
            show_default=False,
        ),
    ] = None,
    output: Annotated[
        Path,
        typer.Option("--out", "-o", help="Results file: .parquet or .jsonl.", show_default=False),
    ] = Path(),
    engine: Annotated[
        str, typer.Option("--engine", help="local (process pool) or ray (the [ray] extra).")
    ] = "local",
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            "-j",
            help="Processes (local) or Ray CPUs/actors [default: all cores; a cluster's CPUs].",
        ),
    ] = 0,
    ray_address: Annotated[
        str | None,
        typer.Option(
            "--ray-address", help="Join this Ray cluster (host:6379 or ray://host:10001)."
        ),
    ] = None,
    list_files: Annotated[
        list[str] | None,
        typer.Option("--list", help="File of paths, one a line (- for stdin); repeatable."),
    ] = None,
    globs: Annotated[
        list[str] | None,
        typer.Option(
            "--glob", help="Walk only files matching this pattern (name or relative path)."
        ),
    ] = None,
    resume: Annotated[
        bool,
        typer.Option("--resume", help="Continue an interrupted scan: skip files already done."),
    ] = False,
    metadata_only: Annotated[
        bool,
        typer.Option(
            "--metadata-only",
            help="Only the cheap detectors (metadata): no pixel decoding, no watermark search.",
        ),
    ] = False,
    watermarks: Annotated[
        bool,
        typer.Option(
            "--watermarks/--no-watermarks",
            help="Look for robust watermarks (decodes pixels and samples; slower).",
        ),
    ] = True,
    detect: Annotated[
        bool,
        typer.Option(
            "--detect/--no-detect", help="Run the detectors and give the verdict with evidence."
        ),
    ] = True,
    deep: DeepOpt = False,
    policy: PolicyOpt = None,
    declared: DeclaredOpt = False,
    only: OnlyOpt = None,
    skip: SkipOpt = None,
    hash_registry: RegistryPathOpt = None,
    trust: TrustOpt = None,
    c2pa_trust: C2paTrustOpt = None,
    no_c2pa: NoC2paOpt = False,
    no_verify: Annotated[
        bool, typer.Option("--no-verify", help="Skip signature and binding checks.")
    ] = False,
    text_wm_key: Annotated[
        Path | None,
        typer.Option("--text-wm-key", help="File holding your secret text-watermark key."),
    ] = None,
    no_hash: Annotated[
        bool, typer.Option("--no-hash", help="Do not compute each file's SHA-256.")
    ] = False,
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            help="Write to the service database instead of --out (sqlite:///FILE, "
            "postgresql://...; needs the [service] extra).",
        ),
    ] = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Inspect many files (local process pool or Ray) and write one row per file to Parquet or
    JSONL: verdict, label, signature, evidence, errors. Bad files become rows, never abort."""
    from synthlabel.batch import FileSink, ScanConfig, count_paths, iter_paths, run_scan
    from synthlabel.cli.main import _detection_options, _read_key_file
    from synthlabel.pipeline.inspecting import InspectOptions

    items, lists, patterns = list(inputs or []), list(list_files or []), list(globs or [])
    if not items and not lists:
        fail("give files, directories, - (paths on stdin) or --list FILE")
    if output == Path() and not database_url:
        fail("--out is required: a .parquet or .jsonl file (or --database-url)")
    if output != Path() and database_url:
        fail("give --out or --database-url, not both")
    if (items.count("-") + lists.count("-")) > 1:
        fail("stdin (-) can be read only once")
    for name in lists:
        if name != "-" and not Path(name).is_file():
            fail(f"{name}: no such list file")
    if engine not in ("local", "ray"):
        fail(f"--engine takes local or ray, not {engine!r}")
    if ray_address and engine != "ray":
        fail("--ray-address needs --engine ray")
    if workers < 0:
        fail("--workers must be positive")
    if metadata_only and deep:
        fail("--metadata-only and --deep contradict each other")
    detection = _detection_options(
        detect, deep, policy, declared, only, skip, hash_registry, watermarks and not metadata_only
    )
    if metadata_only:
        detection["max_cost"] = "cheap"
    config = ScanConfig(
        InspectOptions(
            trust_file=str(trust) if trust else None,
            key_home=str(home) if home else None,
            c2pa=not no_c2pa,
            c2pa_trust_anchors=str(c2pa_trust) if c2pa_trust else None,
            verify=not no_verify,
            watermarks=watermarks and not metadata_only,
            text_watermark_key=_read_key_file(text_wm_key) if text_wm_key else None,
            **detection,
        ),
        sha256=not no_hash,
    )
    try:
        sink: Any = (
            _database_sink(database_url, items, lists, patterns, engine, resume)
            if database_url
            else FileSink(output, resume=resume)
        )
    except SynthlabelError as exc:
        fail(str(exc))
    where = f"the database (batch job {sink.job_id})" if database_url else str(output)
    executor = _executor(engine, workers, ray_address)

    bar: Any = None
    task: Any = None
    shown = [0]

    def on_row(row: Mapping[str, Any]) -> None:
        if bar is None or task is None:
            return
        bar.advance(task)
        if row.get("error") and shown[0] < _SHOWN_ERRORS:
            shown[0] += 1
            bar.console.print(f"[red]✗[/] {escape(row['path'])}: {escape(row['error'])}")

    def on_skip() -> None:
        if bar is not None and task is not None:
            bar.advance(task)

    paths = iter_paths(items, lists=lists, globs=patterns, stdin=sys.stdin)
    try:  # from here on, Ctrl-C always ends with the --resume hint (even before the first file)
        total = count_paths(items, lists=lists, globs=patterns) if err.is_terminal else None
        bar = _progress(total)
        task = bar.add_task("scanning", total=total) if bar is not None else None
        if bar is not None:
            bar.start()
        summary = run_scan(
            paths, config, executor, sink, output=where, on_row=on_row, on_skip=on_skip
        )
    except KeyboardInterrupt:
        if bar is not None:
            bar.stop()
        kept = f"in {where}" if database_url else f"under {sink.parts}"
        err.print(
            f"interrupted: finished rows are kept {escape(kept)}; "
            "rerun the same command with --resume to continue"
        )
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except SynthlabelError as exc:
        if bar is not None:
            bar.stop()
        fail(str(exc), EXIT_PROBLEM)
    except OSError as exc:  # a list file that cannot be read
        if bar is not None:
            bar.stop()
        fail(f"{exc.filename or 'input'}: cannot read: {exc.strerror}")
    if bar is not None:
        bar.stop()
    if as_json:
        emit_json(summary.to_dict())
    else:
        _print_summary(summary.to_dict())
    raise typer.Exit(EXIT_UNREADABLE if summary.errors else EXIT_OK)


def _database_sink(
    url: str, items: list[str], lists: list[str], globs: list[str], engine: str, resume: bool
) -> Any:
    """The service database as the sink (the [service] extra, imported only here)."""
    import json

    try:
        import sqlalchemy  # noqa: F401
    except ImportError:
        fail("--database-url needs the service's extra: pip install 'synthlabel[service]'")
    from synthlabel.cli.scan_db import DatabaseSink
    from synthlabel.service.settings import Settings, SettingsError

    try:
        settings = Settings.load(database_url=url)
    except SettingsError as exc:
        fail(str(exc))
    inputs = json.dumps({"inputs": items, "lists": lists, "globs": globs}, ensure_ascii=False)
    return DatabaseSink(settings, inputs=inputs, engine=engine, resume=resume)


def _executor(engine: str, workers: int, ray_address: str | None) -> Any:
    from synthlabel.batch import LocalExecutor

    if engine == "local":
        return LocalExecutor(workers or None)
    try:
        from synthlabel.batch.ray_engine import RayExecutor

        return RayExecutor(
            workers or None, address=ray_address, concurrency=workers if ray_address else None
        )
    except SynthlabelError as exc:
        fail(str(exc))


class _Rate(ProgressColumn):
    """Files per second, over the last seconds."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} files/s" if speed else "")


def _progress(total: int | None) -> Progress | None:
    if not err.is_terminal:
        return None
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn() if total is not None else TextColumn("{task.completed} files"),
        _Rate(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )


def _print_summary(s: Mapping[str, Any]) -> None:
    table = Table(title=f"scan ({s['engine']} engine)", show_header=True)
    table.add_column("what")
    table.add_column("files", justify="right")
    table.add_row("scanned", str(s["files"]))
    if s["skipped"]:
        table.add_row("skipped (done before, --resume)", str(s["skipped"]))
    for verdict, n in s["verdicts"].items():
        table.add_row(f"verdict {verdict}", str(n))
    for state, n in s["compliance"].items():
        table.add_row(f"label {state}", str(n))
    table.add_row("errors", f"[red]{s['errors']}[/]" if s["errors"] else "0")
    table.add_row("files/s", f"{s['files_per_second']:.1f} ({s['seconds']:.1f} s)")
    out.print(table)
    out.print(f"results: {escape(s['output'])}")
