"""Batch scanning (``synthlabel scan``): inspect many files with a local process pool or a
Ray cluster and write one flat row per file to Parquet or JSONL (docs/scan.md).

Layer 5.5: above the pipeline (it runs ``inspect_file``), below the CLI and the service.
The Ray engine lives in :mod:`synthlabel.batch.ray_engine` and is imported only when used.
"""

from __future__ import annotations

from synthlabel.batch.engine import Executor, LocalExecutor
from synthlabel.batch.inputs import count_paths, iter_paths
from synthlabel.batch.row import COLUMN_NAMES, COLUMNS, ScanConfig, scan_one
from synthlabel.batch.run import SCAN_SCHEMA, ScanSummary, run_scan
from synthlabel.batch.sinks import FileSink, Sink, format_for

__all__ = [
    "COLUMNS",
    "COLUMN_NAMES",
    "SCAN_SCHEMA",
    "Executor",
    "FileSink",
    "LocalExecutor",
    "ScanConfig",
    "ScanSummary",
    "Sink",
    "count_paths",
    "format_for",
    "iter_paths",
    "run_scan",
    "scan_one",
]
