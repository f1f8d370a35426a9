"""The scan rows as Arrow data (pyarrow is imported here only: the Parquet sink and the Ray
engine need it, the local engine writing JSONL does not)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from synthlabel.batch.row import COLUMNS
from synthlabel.errors import SynthlabelError


def pyarrow() -> Any:
    """The pyarrow module, or a clear error naming the extra that installs it."""
    try:
        import pyarrow as pa
    except ImportError:
        raise SynthlabelError(
            "Parquet output needs pyarrow: pip install 'synthlabel[parquet]' "
            "(or write JSONL: --out results.jsonl)"
        ) from None
    return pa


def schema() -> Any:
    """The Arrow schema of a scan row (every column nullable)."""
    pa = pyarrow()
    types = {
        "string": pa.string(),
        "int64": pa.int64(),
        "double": pa.float64(),
        "bool": pa.bool_(),
        "list<string>": pa.list_(pa.string()),
    }
    return pa.schema([pa.field(name, types[kind]) for name, kind, _ in COLUMNS])


def to_table(rows: Sequence[Mapping[str, Any]]) -> Any:
    """Rows as a ``pyarrow.Table`` with :func:`schema` (column order and types fixed)."""
    pa = pyarrow()
    return pa.Table.from_pylist(list(rows), schema=schema())
