"""The engines that run :func:`~synthlabel.batch.row.scan_one` over many paths.

:class:`Executor` is the protocol; :class:`LocalExecutor` is a process pool on this machine
(no extra needed); the Ray engine (``synthlabel.batch.ray_engine``, the ``[ray]`` extra) is
the other implementation. Both stream: paths are pulled from the input as workers free up
(a bounded number in flight) and rows are yielded as they finish, in no particular order.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import signal
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Protocol

from synthlabel.batch.row import ScanConfig, error_row, scan_one

WORKER_DIED = (
    "the worker process died while inspecting this file (a crash in a decoder, or out of "
    "memory); the other files were scanned"
)


class Executor(Protocol):
    """Runs ``scan_one(path, config)`` for every path and yields the rows as they finish."""

    name: str

    def map(self, paths: Iterable[str], config: ScanConfig) -> Iterator[dict[str, Any]]: ...

    def close(self) -> None:
        """Release the workers (idempotent)."""
        ...


def chunks(items: Iterable[str], size: int) -> Iterator[list[str]]:
    it = iter(items)
    while chunk := list(itertools.islice(it, size)):
        yield chunk


# -------------------------------------------------------------------- worker-process side
_config: ScanConfig | None = None
_crash_on: str | None = None


def _init_worker(config: ScanConfig, crash_on: str | None) -> None:
    global _config, _crash_on
    _config, _crash_on = config, crash_on
    # Ctrl-C reaches the whole process group: the parent stops the scan (and keeps what is
    # done); the workers finish their chunk quietly instead of each printing a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _scan_chunk(paths: list[str]) -> list[dict[str, Any]]:
    assert _config is not None
    rows = []
    for p in paths:
        if _crash_on and _crash_on in p:
            os._exit(70)  # test hook (SYNTHLABEL_FAULT_CRASH): a decoder crashing hard
        rows.append(scan_one(p, _config))
    return rows


class LocalExecutor:
    """A process pool on this machine: ``workers`` processes (default: every core).

    ``chunk`` paths go to a worker per task and at most ``inflight`` tasks per worker are
    queued, so memory stays flat whatever the input's length. Workers are forked from this
    process after it loaded the plug-ins (``start_method``: another multiprocessing start
    method where fork is unavailable or unwanted; those re-import the caller's main module,
    which then needs the ``if __name__ == "__main__":`` guard).

    A worker that dies (a crash in native code) breaks the pool: the files it may have held
    are rescanned one by one in a fresh pool, and the one that kills its worker again gets a
    row saying so; the scan goes on."""

    name = "local"

    def __init__(
        self,
        workers: int | None = None,
        *,
        chunk: int = 8,
        inflight: int = 4,
        start_method: str | None = None,
    ) -> None:
        self.workers = max(1, workers or os.cpu_count() or 1)
        methods = multiprocessing.get_all_start_methods()
        self.start_method = start_method or ("fork" if "fork" in methods else methods[0])
        self.chunk = max(1, chunk)
        self.max_inflight = self.workers * max(1, inflight)
        self._crash_on = os.environ.get("SYNTHLABEL_FAULT_CRASH") or None
        self._pool: ProcessPoolExecutor | None = None
        self._config: ScanConfig | None = None

    def _new_pool(self, workers: int) -> ProcessPoolExecutor:
        assert self._config is not None
        from synthlabel.batch import _preload  # noqa: F401  (forked workers inherit the plug-ins)

        ctx = multiprocessing.get_context(self.start_method)
        self._pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=ctx,
            initializer=_init_worker,
            initargs=(self._config, self._crash_on),
        )
        return self._pool

    def _drop_pool(self, wait: bool = True) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=wait, cancel_futures=True)
            self._pool = None

    def map(self, paths: Iterable[str], config: ScanConfig) -> Iterator[dict[str, Any]]:
        self._config = config
        pool = self._new_pool(self.workers)
        todo = chunks(paths, self.chunk)
        pending: dict[Future[list[dict[str, Any]]], list[str]] = {}
        exhausted = False
        try:
            while True:
                while not exhausted and len(pending) < self.max_inflight:
                    batch = next(todo, None)
                    if batch is None:
                        exhausted = True
                    else:
                        pending[pool.submit(_scan_chunk, batch)] = batch
                if not pending:
                    return
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                suspects: list[str] = []
                for fut in finished:
                    batch = pending.pop(fut)
                    try:
                        yield from fut.result()
                    except BrokenProcessPool:
                        suspects += batch
                if suspects:
                    # Every queued task is lost with the pool: rescan them all, isolated.
                    for fut, batch in pending.items():
                        if fut.done() and fut.exception() is None:
                            yield from fut.result()
                        else:
                            suspects += batch
                    pending.clear()
                    self._drop_pool()
                    yield from self._isolate(suspects)
                    pool = self._new_pool(self.workers)
        except BaseException:
            self._drop_pool(wait=False)  # interrupted: do not wait for queued work
            raise
        finally:
            self._drop_pool()

    def _isolate(self, suspects: list[str]) -> Iterator[dict[str, Any]]:
        """Scan each file alone in a one-process pool, to find the one that kills workers."""
        pool = self._new_pool(1)
        for path in suspects:
            try:
                yield from pool.submit(_scan_chunk, [path]).result()
            except BrokenProcessPool:
                yield error_row(path, WORKER_DIED)
                self._drop_pool()
                pool = self._new_pool(1)
        self._drop_pool()

    def close(self) -> None:
        self._drop_pool()
