"""Run one function over many files: in this process for a few, in a process pool for many.

The options shared by every job travel to each worker once (pool initializer), not with every
item; results come back in input order and are reported as they arrive.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
S = TypeVar("S")
R = TypeVar("R")

#: At most this many items (one per kind) run in the parent before the pool forks.
WARM_MAX = 12

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
    warm_key: Callable[[T], object] | None = None,
) -> list[R]:
    """``[fn(item, shared) for item in items]``, on ``workers`` processes (default: all cores)
    when there are at least ``min_parallel`` items. ``fn`` must be a module-level function.

    Before the pool starts, the first item of each ``warm_key`` kind (up to :data:`WARM_MAX`;
    only the first item without a key) runs in this process: whatever it loads (format and
    detector plug-ins, policies, trust stores, native libraries) is inherited by the forked
    workers instead of being loaded again in each. ``on_result`` sees results as they finish
    (for progress); the returned list is in input order."""
    workers = workers or os.cpu_count() or 1
    if workers <= 1 or len(items) < min_parallel:
        out: list[R] = []
        for item in items:
            r = fn(item, shared)
            out.append(r)
            if on_result:
                on_result(r)
        return out
    warm: list[int] = [0]
    if warm_key is not None:
        seen: dict[object, int] = {}
        for i, item in enumerate(items):
            seen.setdefault(warm_key(item), i)
            if len(seen) >= WARM_MAX:
                break
        warm = sorted(seen.values())
    results: dict[int, R] = {}
    for i in warm:
        results[i] = fn(items[i], shared)
        if on_result:
            on_result(results[i])
    warmed = set(warm)
    rest = [i for i in range(len(items)) if i not in warmed]
    chunksize = max(1, min(64, len(rest) // (workers * 8)))
    with ProcessPoolExecutor(max_workers=workers, initializer=_init, initargs=(fn, shared)) as pool:
        done = pool.map(_call, (items[i] for i in rest), chunksize=chunksize)
        for i, r in zip(rest, done, strict=True):
            results[i] = r
            if on_result:
                on_result(r)
    return [results[i] for i in range(len(items))]


def _file_job(job: tuple[str, str], packed: tuple[Callable[[Any, Any, Any], Any], Any]) -> Any:
    func, options = packed
    return func(Path(job[0]), Path(job[1]), options)


def run_file_jobs(
    func: Callable[[Path, Path, S], R],
    jobs: Iterable[tuple[Path, Path]],
    options: S,
    *,
    workers: int | None = None,
    on_result: Callable[[R], None] | None = None,
) -> list[R]:
    """``func(src, dest, options)`` for every (src, dest) pair, through :func:`run_jobs`
    (``func`` must be a module-level function: workers receive it by reference)."""
    items = [(str(s), str(d)) for s, d in jobs]
    return run_jobs(
        _file_job,
        items,
        (func, options),
        workers=workers,
        on_result=on_result,
        warm_key=lambda job: Path(job[0]).suffix.lower(),
    )
