"""Where scan rows go: Parquet or JSONL files (here), a database later (the service).

A file sink writes finished rows in *shards* under ``<out>.parts/`` (each shard written to a
temp name and renamed, so a crash never leaves half a shard) and, when the scan ends, merges
them into ``<out>`` through a temp file and an atomic rename. The shards are the resume
checkpoint: ``--resume`` reads the paths they hold (and those of a finished ``<out>``) as the
done-set, and the merge keeps every earlier row.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

from synthlabel.batch.row import COLUMN_NAMES
from synthlabel.errors import OutputError, SynthlabelError

Format = Literal["parquet", "jsonl"]
_SUFFIXES: dict[str, Format] = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}
_SHARD_EXT: dict[Format, str] = {"parquet": ".parquet", "jsonl": ".jsonl"}


class Sink(Protocol):
    """Receives scan rows; a database sink implements the same four methods."""

    def done(self) -> set[str]:
        """Paths already stored by an earlier, interrupted run (empty unless resuming)."""
        ...

    def write(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Store finished rows (may buffer)."""
        ...

    def close(self) -> None:
        """The scan finished: make every row durable and visible."""
        ...

    def abort(self) -> None:
        """The scan stopped early: keep what was received, for ``--resume``."""
        ...


def format_for(out: Path) -> Format:
    """The output format named by the file suffix, or a clear error."""
    fmt = _SUFFIXES.get(out.suffix.lower())
    if fmt is None:
        raise SynthlabelError(
            "cannot tell the output format from the name: use .parquet or .jsonl",
            path=str(out),
        )
    return fmt


def parts_dir(out: Path) -> Path:
    return out.with_name(out.name + ".parts")


class FileSink:
    """Parquet or JSONL output, sharded while running, merged atomically at the end.

    ``shard_rows`` / ``shard_seconds``: a shard is written when either is reached, so an
    interrupted run loses at most that much work."""

    def __init__(
        self,
        out: Path,
        *,
        resume: bool = False,
        shard_rows: int = 5000,
        shard_seconds: float = 30.0,
    ) -> None:
        self.out = Path(out)
        self.format = format_for(self.out)
        self.parts = parts_dir(self.out)
        self.shard_rows = max(1, shard_rows)
        self.shard_seconds = shard_seconds
        self._buffer: list[Mapping[str, Any]] = []
        self._last_flush = time.monotonic()
        self._closed = False
        parent = self.out.parent if str(self.out.parent) else Path(".")
        if not parent.is_dir():
            raise OutputError("output directory does not exist", path=str(parent))
        if self.parts.exists() and not resume:
            raise OutputError(
                "an interrupted scan left its results here: pass --resume to continue it, "
                "or delete the directory to start over",
                path=str(self.parts),
            )
        if self.format == "parquet":
            from synthlabel.batch.arrow import pyarrow

            pyarrow()  # fail now, not after the first shard's worth of work
        # A finished earlier output is resumed from too: its rows are kept by the merge.
        self._previous = self.out if resume and self.out.is_file() else None
        try:
            self.parts.mkdir(exist_ok=True)
            for stale in self.parts.glob(".*.tmp"):
                stale.unlink()
        except OSError as exc:
            raise OutputError(f"cannot write here: {exc.strerror}", path=str(self.parts)) from None
        self._next = 1 + max((_shard_no(p) for p in self._shards()), default=-1)

    # -- resume -------------------------------------------------------------------------
    def done(self) -> set[str]:
        paths: set[str] = set()
        sources = [*self._shards()]
        if self._previous is not None:
            sources.insert(0, self._previous)
        for src in sources:
            paths.update(self._read_paths(src))
        return paths

    def _shards(self) -> list[Path]:
        ext = _SHARD_EXT[self.format]
        return sorted(p for p in self.parts.glob(f"part-*{ext}") if _shard_no(p) >= 0)

    def _read_paths(self, src: Path) -> Iterator[str]:
        try:
            if self.format == "parquet":
                import pyarrow.parquet as pq

                col = pq.read_table(src, columns=["path"]).column("path")
                yield from (p for p in col.to_pylist() if p is not None)
            else:
                with open(src, encoding="utf-8") as fh:
                    for line in fh:
                        if line.strip():
                            yield json.loads(line)["path"]
        except (OSError, ValueError, KeyError) as exc:
            raise OutputError(f"cannot read earlier results: {exc}", path=str(src)) from None
        except Exception as exc:  # pyarrow's own errors (ArrowInvalid)
            raise OutputError(f"cannot read earlier results: {exc}", path=str(src)) from None

    # -- writing ------------------------------------------------------------------------
    def write(self, rows: Sequence[Mapping[str, Any]]) -> None:
        self._buffer.extend(rows)
        while len(self._buffer) >= self.shard_rows:
            self._flush(self.shard_rows)
        if self._buffer and time.monotonic() - self._last_flush >= self.shard_seconds:
            self._flush()

    def _flush(self, n: int | None = None) -> None:
        """Write the first ``n`` buffered rows (default: all) as the next shard."""
        self._last_flush = time.monotonic()
        if not self._buffer:
            return
        n = len(self._buffer) if n is None else n
        rows, self._buffer = self._buffer[:n], self._buffer[n:]
        name = f"part-{self._next:06d}{_SHARD_EXT[self.format]}"
        self._next += 1
        self._atomic(self.parts / name, lambda tmp: self._write_file(tmp, rows))

    def _write_file(self, dest: Path, rows: Sequence[Mapping[str, Any]]) -> None:
        if self.format == "parquet":
            import pyarrow.parquet as pq

            from synthlabel.batch.arrow import to_table

            pq.write_table(to_table(rows), dest, compression="zstd")
        else:
            with open(dest, "w", encoding="utf-8") as fh:
                for row in rows:
                    fh.write(_json_line(row))

    def _atomic(self, dest: Path, produce: Any) -> None:
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
        os.close(fd)
        try:
            produce(Path(tmp))
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o644 & ~_umask())
            os.replace(tmp, dest)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise OutputError(
                f"cannot write output: {exc.strerror or exc}", path=str(dest)
            ) from None
        except (ValueError, TypeError, KeyError) as exc:  # pyarrow's: an old output's schema
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise OutputError(f"cannot write output: {exc}", path=str(dest)) from None
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def abort(self) -> None:
        if not self._closed:
            self._closed = True
            self._flush()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._flush()
        shards = self._shards()
        if self._previous is not None and not shards:
            shutil.rmtree(self.parts, ignore_errors=True)  # nothing new: keep the old file
            return
        sources = ([self._previous] if self._previous else []) + shards
        self._atomic(self.out, lambda tmp: self._merge(tmp, sources))
        shutil.rmtree(self.parts, ignore_errors=True)

    def _merge(self, dest: Path, sources: list[Path]) -> None:
        if self.format == "parquet":
            import pyarrow.parquet as pq

            from synthlabel.batch.arrow import schema

            with pq.ParquetWriter(dest, schema(), compression="zstd") as writer:
                for src in sources:
                    for batch in pq.ParquetFile(src).iter_batches(batch_size=65536):
                        writer.write_batch(batch)
        else:
            with open(dest, "wb") as fh:
                for src in sources:
                    with open(src, "rb") as part:
                        shutil.copyfileobj(part, fh, 1024 * 1024)


def _json_line(row: Mapping[str, Any]) -> str:
    return json.dumps({k: row.get(k) for k in COLUMN_NAMES}, ensure_ascii=False) + "\n"


def _shard_no(p: Path) -> int:
    stem = p.name.split(".", 1)[0]
    try:
        return int(stem.removeprefix("part-"))
    except ValueError:
        return -1


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
