"""One scan: paths -> (skip the done-set) -> engine -> sink, with a running summary."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from synthlabel.batch.engine import Executor
from synthlabel.batch.row import ScanConfig, row_path
from synthlabel.batch.sinks import Sink

SCAN_SCHEMA = "synthlabel.scan/1"


@dataclass
class ScanSummary:
    """What a scan did: counts per verdict and compliance state, errors, speed."""

    engine: str
    output: str = ""
    files: int = 0  # scanned by this run
    skipped: int = 0  # already done by an earlier run (--resume)
    errors: int = 0
    verdicts: dict[str, int] = field(default_factory=dict)
    compliance: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    interrupted: bool = False

    @property
    def files_per_second(self) -> float:
        return self.files / self.seconds if self.seconds > 0 else 0.0

    def add(self, row: Mapping[str, Any]) -> None:
        self.files += 1
        if row.get("error"):
            self.errors += 1
        if row.get("verdict"):
            self.verdicts[row["verdict"]] = self.verdicts.get(row["verdict"], 0) + 1
        if row.get("compliance"):
            c = row["compliance"]
            self.compliance[c] = self.compliance.get(c, 0) + 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCAN_SCHEMA,
            "engine": self.engine,
            "output": self.output,
            "files": self.files,
            "skipped": self.skipped,
            "errors": self.errors,
            "verdicts": dict(sorted(self.verdicts.items())),
            "compliance": dict(sorted(self.compliance.items())),
            "seconds": round(self.seconds, 3),
            "files_per_second": round(self.files_per_second, 2),
            "interrupted": self.interrupted,
        }


def run_scan(
    paths: Iterable[str],
    config: ScanConfig,
    executor: Executor,
    sink: Sink,
    *,
    output: str = "",
    on_row: Callable[[Mapping[str, Any]], None] | None = None,
    on_skip: Callable[[], None] | None = None,
    write_every: int = 64,
) -> ScanSummary:
    """Scan every path not already in ``sink.done()`` and send the rows to ``sink``.

    ``on_row`` is called with every row as it arrives, ``on_skip`` for every path skipped as
    done. The sink is closed (its output made final) when every path is done; on an exception
    or Ctrl-C it is aborted instead (finished rows kept for ``--resume``) and the error raised.
    """
    summary = ScanSummary(engine=executor.name, output=output)
    done = sink.done()

    def todo() -> Iterator[str]:
        for p in paths:
            if row_path(p) in done:
                summary.skipped += 1
                if on_skip is not None:
                    on_skip()
            else:
                yield p

    t0 = time.perf_counter()
    buffer: list[Mapping[str, Any]] = []
    rows = executor.map(todo(), config)
    try:
        for row in rows:
            summary.add(row)
            buffer.append(row)
            if len(buffer) >= write_every:
                sink.write(buffer)
                buffer = []
            if on_row is not None:
                on_row(row)
        sink.write(buffer)
        buffer = []
        sink.close()
    except BaseException:
        summary.interrupted = True
        sink.write(buffer)
        sink.abort()
        raise
    finally:
        close = getattr(rows, "close", None)
        if close is not None:
            close()
        executor.close()
        summary.seconds = time.perf_counter() - t0
    return summary
