"""``synthlabel registry``: record a provider's outputs, find them again by content.

* ``add PATH...``: hash each file and store it with its AIGC record (read by synthlabel's
  inspection); a file without a record is refused unless ``--producer`` / ``--produce-id``
  say whose it is. Exit 0 when every file was added, 1 when one was refused or unreadable.
* ``match PATH...``: hash each file and look it up. Exit 0 when every file matched, 1 when
  at least one did not, 3 when one could not be read.
* ``list``, ``remove ID|ProduceID|SHA256...``.

Mounted by ``cli/main.py`` as ``app.add_typer(registry_app, name="registry")``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from synthlabel.cli._common import JsonOpt, emit_json, fail, progress
from synthlabel.errors import SynthlabelError

registry_app = typer.Typer(
    help="A local registry of perceptual hashes: find your outputs again after stripping.",
    no_args_is_help=True,
)

# Literal output (no markup): paths and producer names may contain brackets.
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

RegistryOpt = Annotated[
    Path | None,
    typer.Option(
        "--registry",
        envvar="SYNTHLABEL_REGISTRY",
        help="Registry file [default: ~/.config/synthlabel/registry.sqlite].",
    ),
]
PathsArg = Annotated[
    list[Path], typer.Argument(help="Files or directories (recursive).", show_default=False)
]


def _fail(message: str, code: int = 2) -> NoReturn:
    fail(message, code)


_emit = emit_json


def _files(paths: list[Path]) -> list[Path]:
    from synthlabel.pipeline.io import iter_inputs

    files: list[Path] = []
    for p in paths:
        if not p.exists():
            files.append(p)  # reported as unreadable
            continue
        files.extend(f for f, _ in iter_inputs([p]))
    return files


@contextmanager
def _progress(total: int, what: str) -> Iterator[Callable[[], None]]:
    bar = progress(total)
    if bar is None:
        yield lambda: None
        return
    with bar:
        task = bar.add_task(what, total=total)
        yield lambda: bar.advance(task)


def _open(path: Path | None, *, create: bool) -> Any:
    from synthlabel.detect.hashregistry import Registry, RegistryError, default_path

    target = path or default_path()
    if not create and not target.is_file():
        _fail(f"no registry at {target} (add files first: synthlabel registry add)", 1)
    try:
        return Registry(target, create=create)
    except RegistryError as exc:
        _fail(exc.message, 1)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _record_of(path: Path) -> tuple[dict[str, str] | None, str]:
    """The file's first AIGC record (as a dict) and an error, via synthlabel's inspection."""
    from synthlabel.pipeline.inspecting import InspectOptions, inspect_file

    rep = inspect_file(path, InspectOptions(c2pa=False, verify=False))
    if rep.error:
        return None, rep.error
    rec = rep.record
    return (rec.to_dict() if rec is not None else None), ""


@registry_app.command("add")
def add(
    paths: PathsArg,
    registry: RegistryOpt = None,
    producer: Annotated[
        str | None,
        typer.Option("--producer", help="ContentProducer for files without an AIGC record."),
    ] = None,
    produce_id: Annotated[
        str | None,
        typer.Option("--produce-id", help="ProduceID for files without an AIGC record."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Hash each file and record it with its AIGC record (producer, ProduceID)."""
    from synthlabel.detect.hashes import hash_file

    files = _files(paths)
    results: list[dict[str, Any]] = []
    reg = _open(registry, create=True)
    try:
        with _progress(len(files), "adding") as step:
            for f in files:
                item: dict[str, Any] = {"path": str(f)}
                results.append(item)
                try:
                    if not f.is_file():
                        raise SynthlabelError("not a readable file")
                    record, problem = _record_of(f)
                    if record is None and not (producer or produce_id):
                        raise SynthlabelError(
                            problem
                            or "no AIGC record in the file: label it first, or say whose it is "
                            "with --producer/--produce-id"
                        )
                    who = (record or {}).get("ContentProducer", "") or (producer or "")
                    pid = (record or {}).get("ProduceID", "") or (produce_id or "")
                    content = hash_file(f)
                    eid = reg.add(
                        content,
                        name=f.name,
                        sha256=_sha256(f),
                        producer=who,
                        produce_id=pid,
                        record=record,
                        commit=False,
                    )
                    item.update(
                        id=eid,
                        kind=content.kind,
                        producer=who,
                        produce_id=pid,
                        quality=content.quality,
                        record=record is not None,
                    )
                    if content.kind == "image" and content.quality < 50:
                        item["warning"] = (
                            f"flat image (PDQ quality {content.quality}): near matches only"
                        )
                except SynthlabelError as exc:
                    item["error"] = exc.message
                except OSError as exc:
                    item["error"] = f"cannot read: {exc.strerror}"
                step()
        reg.commit()
        total = reg.count()
    finally:
        reg.close()
    if as_json:
        _emit({"registry": str(reg.path), "added": results, "entries": total})
    else:
        for item in results:
            if "error" in item:
                err.print(f"refused {item['path']}: {item['error']}")
            else:
                note = f"  ({item['warning']})" if "warning" in item else ""
                out.print(
                    f"added #{item['id']} {item['kind']} {item['path']} "
                    f"[{item['producer'] or '-'} / {item['produce_id'] or '-'}]{note}"
                )
        out.print(f"{reg.path}: {total} entries")
    raise typer.Exit(1 if any("error" in i for i in results) else 0)


@registry_app.command("match")
def match(
    paths: PathsArg,
    registry: RegistryOpt = None,
    threshold: Annotated[
        float | None,
        typer.Option(
            "--threshold",
            help="Near-match limit: PDQ bits for images and video (default 47 / 56), bit "
            "error rate for audio (default 0.33).",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Look each file up in the registry (after stripping, re-encoding, resizing, crops)."""
    from synthlabel.detect.hashes import hash_file

    files = _files(paths)
    reg = _open(registry, create=False)
    results: list[dict[str, Any]] = []
    try:
        with _progress(len(files), "matching") as step:
            for f in files:
                item: dict[str, Any] = {"path": str(f), "matches": []}
                results.append(item)
                try:
                    content = hash_file(f)
                    item["kind"] = content.kind
                    item["matches"] = [m.to_dict() for m in reg.match(content, threshold=threshold)]
                except SynthlabelError as exc:
                    item["error"] = exc.message
                step()
    finally:
        reg.close()
    if as_json:
        _emit({"registry": str(reg.path), "results": results})
    else:
        table = Table(show_lines=False)
        for col in ("file", "match", "producer", "ProduceID", "distance", "hash", "entry"):
            table.add_column(col)
        for item in results:
            if "error" in item:
                table.add_row(item["path"], "error: " + item["error"], "", "", "", "", "")
                continue
            if not item["matches"]:
                table.add_row(item["path"], "none", "", "", "", "", "")
            for m in item["matches"]:
                e = m["entry"]
                table.add_row(
                    item["path"],
                    m["level"],
                    e["producer"] or "-",
                    e["produce_id"] or "-",
                    f"{m['distance']:g}"
                    + (f" ({m['inliers']} features)" if "inliers" in m else "")
                    + (f" (pattern {m['structure']:.2f})" if "structure" in m else ""),
                    m["hash"],
                    f"#{e['id']} {e['name']}",
                )
        out.print(table)
    if any("error" in i for i in results):
        raise typer.Exit(3)
    raise typer.Exit(0 if all(i["matches"] for i in results) else 1)


@registry_app.command("list")
def list_entries(
    registry: RegistryOpt = None,
    limit: Annotated[int | None, typer.Option("--limit", help="Show at most N entries.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """The registered entries."""
    reg = _open(registry, create=False)
    try:
        entries = [e.to_dict() for e in reg.entries(limit)]
        total = reg.count()
    finally:
        reg.close()
    if as_json:
        _emit({"registry": str(reg.path), "entries": entries, "total": total})
        return
    table = Table()
    for col in ("id", "kind", "name", "producer", "ProduceID", "added"):
        table.add_column(col)
    for e in entries:
        table.add_row(
            str(e["id"]), e["kind"], e["name"], e["producer"], e["produce_id"], e["added"]
        )
    out.print(table)
    out.print(f"{reg.path}: {total} entries")


@registry_app.command("remove")
def remove(
    selectors: Annotated[
        list[str], typer.Argument(help="Entry ids, ProduceIDs or SHA-256 digests.")
    ],
    registry: RegistryOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Remove entries by id, ProduceID or SHA-256."""
    reg = _open(registry, create=False)
    try:
        ids = sorted({i for s in selectors for i in reg.ids_for(s)})
        n = reg.remove(ids)
        total = reg.count()
    finally:
        reg.close()
    if as_json:
        _emit({"registry": str(reg.path), "removed": ids, "entries": total})
    else:
        out.print(f"removed {n} entr{'y' if n == 1 else 'ies'}; {total} left")
    raise typer.Exit(0 if n else 1)
