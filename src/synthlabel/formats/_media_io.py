"""Random access to media bytes (in memory or in a file) and copy-based rewrites.

The MP4 and Matroska handlers parse only the small structural parts of a file (``moov``,
``moof``, ``Tags``, ``SeekHead`` ...) and copy the bulk (``mdat``, Clusters) through unchanged.
:class:`Source` gives both kinds of input one interface, and a rewrite is planned as a list of
pieces: ranges copied from the input (optionally with a few patched bytes) and new bytes. The
same plan is emitted either into one ``bytes`` object or, in chunks, to a binary stream, so the
bytes-based and the streaming handler methods produce identical output by construction.
"""

from __future__ import annotations

import bisect
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from synthlabel.errors import MalformedInput
from synthlabel.formats import _limits
from synthlabel.formats.base import ContainerMetadata, ContentDigest, LabelWrite

#: Bytes copied or hashed per read when streaming.
CHUNK = 1 << 20
#: Read-ahead window of :class:`FileSource` for small header reads.
WINDOW = 64 * 1024


class Source:
    """Bounds-checked random access to ``size`` bytes."""

    size: int

    def read_upto(self, pos: int, n: int) -> bytes:
        """Up to ``n`` bytes at ``pos`` (fewer at the end of the data)."""
        raise NotImplementedError

    def read(self, pos: int, n: int, what: str = "data") -> bytes:
        """Exactly ``n`` bytes at ``pos``; :class:`MalformedInput` when they are not there."""
        if pos < 0 or n < 0 or pos + n > self.size:
            raise MalformedInput(f"truncated {what}", offset=pos)
        b = self.read_upto(pos, n)
        if len(b) != n:
            raise MalformedInput(f"truncated {what} (file changed while reading?)", offset=pos)
        return b

    def chunks(self, pos: int, n: int) -> Iterator[bytes | memoryview]:
        """``n`` bytes at ``pos`` in pieces of at most :data:`CHUNK` bytes."""
        if pos < 0 or n < 0 or pos + n > self.size:
            raise MalformedInput("range runs past the end of the data", offset=pos)
        end = pos + n
        while pos < end:
            k = min(CHUNK, end - pos)
            yield self.read(pos, k)
            pos += k


class BytesSource(Source):
    """A :class:`Source` over an in-memory buffer (no copies for :meth:`chunks`)."""

    def __init__(self, data: bytes) -> None:
        self._mv = memoryview(data)
        self.size = len(data)

    def read_upto(self, pos: int, n: int) -> bytes:
        return bytes(self._mv[pos : pos + n])

    def chunks(self, pos: int, n: int) -> Iterator[bytes | memoryview]:
        if pos < 0 or n < 0 or pos + n > self.size:
            raise MalformedInput("range runs past the end of the data", offset=pos)
        yield self._mv[pos : pos + n]


class FileSource(Source):
    """A :class:`Source` over a seekable binary file, with a small read-ahead window."""

    def __init__(self, f: BinaryIO) -> None:
        self._f = f
        self.size = os.fstat(f.fileno()).st_size
        self._wpos = 0
        self._wbuf = b""

    def read_upto(self, pos: int, n: int) -> bytes:
        if n <= 0 or pos >= self.size:
            return b""
        w0, wb = self._wpos, self._wbuf
        if w0 <= pos and pos + n <= w0 + len(wb):
            return wb[pos - w0 : pos - w0 + n]
        if n <= WINDOW // 4:
            self._f.seek(pos)
            self._wpos, self._wbuf = pos, self._f.read(WINDOW)
            return self._wbuf[:n]
        self._f.seek(pos)
        return self._f.read(n)


class _Writer(Protocol):
    def write(self, b: bytes | memoryview, /) -> object: ...


# --- piece lists --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Copy:
    """``length`` input bytes from ``start``, with ``patches`` (absolute input offsets)."""

    start: int
    length: int
    patches: tuple[tuple[int, bytes], ...] = ()


@dataclass(frozen=True, slots=True)
class New:
    """Bytes that are not in the input."""

    data: bytes

    @property
    def length(self) -> int:
        return len(self.data)


Piece = Copy | New


def emit(src: Source, pieces: list[Piece], write: Callable[[bytes | memoryview], object]) -> None:
    """Write the output described by ``pieces``."""
    for p in pieces:
        if isinstance(p, New):
            if p.data:
                write(p.data)
        elif p.patches:
            buf = bytearray(src.read(p.start, p.length))
            for at, b in p.patches:
                rel = at - p.start
                if rel < 0 or rel + len(b) > len(buf):  # pragma: no cover - planning bug
                    raise AssertionError("patch outside its piece")
                buf[rel : rel + len(b)] = b
            write(bytes(buf))
        else:
            for chunk in src.chunks(p.start, p.length):
                write(chunk)


def assemble(src: Source, pieces: list[Piece]) -> bytes:
    parts: list[bytes | memoryview] = []
    emit(src, pieces, parts.append)
    return b"".join(parts)


def stream(src: Source, pieces: list[Piece], dst: BinaryIO) -> None:
    emit(src, pieces, dst.write)


def output_size(pieces: list[Piece]) -> int:
    return sum(p.length for p in pieces)


class Mapper:
    """Where an input offset lands in the output (for offsets inside copied pieces)."""

    def __init__(self, pieces: list[Piece], input_size: int) -> None:
        self._starts: list[int] = []
        self._runs: list[tuple[int, int, int]] = []  # (old start, old end, new start)
        new = 0
        for p in pieces:
            if isinstance(p, Copy) and p.length:
                self._runs.append((p.start, p.start + p.length, new))
            new += p.length
        self._runs.sort()
        self._starts = [r[0] for r in self._runs]
        self.input_size = input_size
        self.output_size = new

    def map(self, pos: int) -> int | None:
        """The output offset of input offset ``pos``; ``None`` when ``pos`` is not copied.

        An offset equal to the end of a copied run maps to the end of its copy (an empty
        range at the end of a box), and the input size maps to the output size.
        """
        i = bisect.bisect_right(self._starts, pos) - 1
        if i >= 0:
            s, e, n = self._runs[i]
            if pos < e or (pos == e and pos > s):
                return n + pos - s
        if pos == self.input_size:
            return self.output_size
        return None

    def shift(self, pos: int) -> int | None:
        m = self.map(pos)
        return None if m is None else m - pos

    @property
    def identity(self) -> bool:
        return all(s == n for s, _, n in self._runs)


class PlannedIO:
    """Bytes-based and streaming entry points for a handler built on ``Source`` + plans.

    A subclass provides ``_read(src)``, ``_digest(src)`` and ``_plan(src, label)`` once; this
    mixin gives it ``read``/``read_path``, ``content_digest``/``content_digest_path`` and
    ``write_label``/``write_label_stream`` (the StreamingHandler capability), so the in-memory
    and the streaming results come from the same code.
    """

    #: Name used in the input-size error ("MP4", "Matroska").
    container_name = "media"

    def _read(self, src: Source) -> ContainerMetadata:
        raise NotImplementedError

    def _digest(self, src: Source) -> ContentDigest:
        raise NotImplementedError

    def _plan(self, src: Source, label: LabelWrite) -> list[Piece]:
        raise NotImplementedError

    def read(self, data: bytes) -> ContainerMetadata:
        _limits.check_input(data, self.container_name)
        return self._read(BytesSource(data))

    def read_path(self, path: Path) -> ContainerMetadata:
        with open(path, "rb") as f:
            return self._read(FileSource(f))

    def content_digest(self, data: bytes) -> ContentDigest:
        _limits.check_input(data, self.container_name)
        return self._digest(BytesSource(data))

    def content_digest_path(self, path: Path) -> ContentDigest:
        with open(path, "rb") as f:
            return self._digest(FileSource(f))

    def write_label(self, data: bytes, label: LabelWrite) -> bytes:
        _limits.check_input(data, self.container_name)
        src = BytesSource(data)
        return assemble(src, self._plan(src, label))

    def write_label_stream(self, src: Path, dst: BinaryIO, label: LabelWrite) -> None:
        with open(src, "rb") as f:
            s = FileSource(f)
            stream(s, self._plan(s, label), dst)
