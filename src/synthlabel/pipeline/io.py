"""File I/O for the pipeline: bounded reads, atomic writes, input discovery."""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from synthlabel.errors import LimitExceeded, MalformedInput, OutputError, SynthlabelError

#: A sidecar record beside a file: ``<name>.aigc.json`` holding ``{"AIGC":{...}}``.
SIDECAR_SUFFIX = ".aigc.json"

#: Files above this size are labelled by streaming when the format plug-in can (metadata-only).
STREAM_THRESHOLD = int(os.environ.get("SYNTHLABEL_STREAM_THRESHOLD", str(256 * 1024 * 1024)))

#: Largest file the pipeline loads (images are held in memory; video streams, later).
MAX_FILE_BYTES = int(os.environ.get("SYNTHLABEL_MAX_FILE_BYTES", str(1024 * 1024 * 1024)))


def read_file(path: str | os.PathLike[str], *, limit: int = MAX_FILE_BYTES) -> bytes:
    """Read a whole file, with clear errors for missing, unreadable, empty or huge files."""
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise SynthlabelError("no such file", path=str(p)) from None
    except OSError as exc:
        raise SynthlabelError(f"cannot read: {exc.strerror}", path=str(p)) from None
    if p.is_dir():
        raise SynthlabelError("is a directory", path=str(p))
    if st.st_size > limit:
        raise LimitExceeded(f"file is {st.st_size} bytes; the limit is {limit}", path=str(p))
    if st.st_size == 0:
        raise MalformedInput("empty file (0 bytes)", path=str(p))
    try:
        with open(p, "rb") as fh:
            return fh.read(limit + 1)
    except OSError as exc:
        raise SynthlabelError(f"cannot read: {exc.strerror}", path=str(p)) from None


def atomic_write(dest: str | os.PathLike[str], data: bytes, *, like: Path | None = None) -> None:
    """Write ``data`` to ``dest`` through a temp file in the same directory and an atomic rename.

    A crash (even SIGKILL) leaves either the old file or the complete new one, never a partial
    file under ``dest``; the temp file is removed on any error. ``like`` copies permission bits.
    """
    atomic_write_stream(dest, lambda fh: fh.write(data), like=like)


def atomic_write_stream(
    dest: str | os.PathLike[str],
    produce: Callable[[BinaryIO], object],
    *,
    like: Path | None = None,
    check: Callable[[Path], None] | None = None,
) -> None:
    """Like :func:`atomic_write`, for outputs written piece by piece: ``produce(fh)`` writes
    the content; ``check(temp_path)`` may verify the complete temp file before the rename."""
    d = Path(dest)
    parent = d.parent if str(d.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError("output directory does not exist", path=str(parent))
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{d.name}.", suffix=".synthlabel-tmp", dir=parent)
    except OSError as exc:
        raise OutputError(f"cannot write here: {exc.strerror}", path=str(parent)) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            produce(fh)
            fh.flush()
            os.fsync(fh.fileno())
        if check is not None:
            check(Path(tmp))
        mode = None
        if like is not None:
            with contextlib.suppress(OSError):
                mode = like.stat().st_mode & 0o7777
        elif d.exists():
            mode = d.stat().st_mode & 0o7777
        os.chmod(tmp, mode if mode is not None else 0o644 & ~_umask())
        _fault_point()
        os.replace(tmp, d)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        reason = "disk full" if exc.errno == errno.ENOSPC else (exc.strerror or str(exc))
        raise OutputError(f"cannot write output: {reason}", path=str(d)) from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _fault_point() -> None:
    """Test hook: ``SYNTHLABEL_FAULT_PAUSE=<seconds>`` pauses between the complete temp file
    and the rename, so tests can SIGKILL the process at the worst moment."""
    pause = os.environ.get("SYNTHLABEL_FAULT_PAUSE")
    if pause:
        import time

        time.sleep(float(pause))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def iter_inputs(paths: Iterable[str | os.PathLike[str]]) -> Iterator[tuple[Path, Path]]:
    """Yield (file, base) for every input; directories are walked recursively (sorted, hidden
    entries and our temp files skipped). ``base`` is the directory argument (for mirroring the
    tree under ``--out-dir``) or the file's own parent."""
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            for root, dirs, files in os.walk(p):
                dirs[:] = sorted(x for x in dirs if not x.startswith("."))
                for name in sorted(files):
                    if name.startswith(".") or name.endswith((".synthlabel-tmp", SIDECAR_SUFFIX)):
                        continue
                    yield Path(root) / name, p
        else:
            yield p, p.parent
