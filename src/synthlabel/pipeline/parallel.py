"""Run one function over many files: in this process for a few, in a process pool for many.

The options shared by every job travel to each worker once (pool initializer), not with every
item; results come back in input order and are reported as they arrive.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")
S = TypeVar("S")
R = TypeVar("R")

_shared: Any = None
_fn: Any = None


def _init(fn: Callable[[Any, Any], Any], shared: Any) -> None:
    global _fn, _shared
    _fn, _shared = fn, shared


def _call(item: Any) -> Any:
    return _fn(item, _shared)


def run_jobs(
    fn: Callable[[T, S], R],
    items: Sequence[T],
    shared: S,
    *,
    workers: int | None = None,
    on_result: Callable[[R], None] | None = None,
    min_parallel: int = 8,
) -> list[R]:
    """``[fn(item, shared) for item in items]``, on ``workers`` processes (default: all cores)
    when there are at least ``min_parallel`` items. ``fn`` must be a module-level function."""
    workers = workers or os.cpu_count() or 1
    out: list[R] = []
    if workers <= 1 or len(items) < min_parallel:
        for item in items:
            r = fn(item, shared)
            out.append(r)
            if on_result:
                on_result(r)
        return out
    # Load the plug-ins once here: forked workers inherit them instead of each importing them.
    from synthlabel.formats import registry

    registry.handlers()
    chunksize = max(1, min(64, len(items) // (workers * 8)))
    with ProcessPoolExecutor(max_workers=workers, initializer=_init, initargs=(fn, shared)) as pool:
        for r in pool.map(_call, items, chunksize=chunksize):
            out.append(r)
            if on_result:
                on_result(r)
    return out
