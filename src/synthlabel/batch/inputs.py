"""What to scan: directories (walked), list files (one path per line, ``-`` for stdin) and
single paths, yielded one at a time so a list of millions never sits in memory."""

from __future__ import annotations

import fnmatch
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TextIO

from synthlabel.pipeline.io import iter_inputs

STDIN = "-"


def iter_paths(
    inputs: Sequence[str],
    *,
    lists: Sequence[str] = (),
    globs: Sequence[str] = (),
    stdin: TextIO | None = None,
) -> Iterator[str]:
    """Every file to scan, as a path string (the resume key), in input order.

    ``inputs``: files (attempted even when missing: the row reports it), directories (walked
    recursively, sorted, hidden entries skipped; ``globs`` filter the walked files by name or
    by path relative to the directory) or ``-`` (paths on ``stdin``, one a line). ``lists``:
    files holding one path a line (``-``: stdin); a listed directory is walked too. Paths in
    lists are taken as written (relative ones against the working directory)."""
    for item in inputs:
        if item == STDIN:
            yield from _expand(_lines(stdin or sys.stdin), globs)
        else:
            yield from _expand([item], globs)
    for name in lists:
        if name == STDIN:
            yield from _expand(_lines(stdin or sys.stdin), globs)
            continue
        with open(name, encoding="utf-8", errors="surrogateescape") as fh:
            yield from _expand(_lines(fh), globs)


def count_paths(
    inputs: Sequence[str], *, lists: Sequence[str] = (), globs: Sequence[str] = ()
) -> int | None:
    """How many paths :func:`iter_paths` will yield (one walk), or None when stdin is an input."""
    if STDIN in inputs or STDIN in lists:
        return None
    return sum(1 for _ in iter_paths(inputs, lists=lists, globs=globs))


def _lines(fh: Iterable[str]) -> Iterator[str]:
    for line in fh:
        path = line.rstrip("\r\n")
        if path.strip():
            yield path


def _expand(items: Iterable[str], globs: Sequence[str]) -> Iterator[str]:
    for item in items:
        p = Path(item)
        if not p.is_dir():
            yield item
            continue
        for f, base in iter_inputs([p]):
            if globs and not _matches(f, base, globs):
                continue
            yield str(f)


def _matches(f: Path, base: Path, globs: Sequence[str]) -> bool:
    rel = f.relative_to(base).as_posix()
    return any(fnmatch.fnmatchcase(f.name, g) or fnmatch.fnmatchcase(rel, g) for g in globs)
