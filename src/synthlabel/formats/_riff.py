"""RIFF, RF64 and BW64 chunk walking (WAV; usable by any RIFF container).

Layout: ``"RIFF"`` · uint32 LE size · form type (4 bytes) · chunks, each ``id`` (4 bytes) ·
uint32 LE payload size · payload · one pad byte when the size is odd. RF64 (EBU Tech 3306) and
BW64 (ITU-R BS.2088) start with ``"RF64"`` / ``"BW64"``, put ``0xFFFFFFFF`` in the 32-bit RIFF
size and carry the real 64-bit sizes in a ``ds64`` chunk that must come first::

    "ds64" · uint32 size (>= 28) · uint64 riffSize · uint64 dataSize · uint64 sampleCount ·
    uint32 tableLength · tableLength x (chunk id (4) · uint64 size)

A chunk whose 32-bit size is ``0xFFFFFFFF`` in such a file takes its size from ``dataSize``
(for ``data``) or from the table. Every declared size is checked against the real buffer before
anything is sliced, and the walk always advances, so a hostile file cannot loop or allocate.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from synthlabel.errors import LimitExceeded, MalformedInput
from synthlabel.formats import _limits

#: Most chunks walked in one RIFF file (top level plus one level of LIST sub-chunks).
MAX_RIFF_CHUNKS = 500_000

RIFF_MAGICS = (b"RIFF", b"RF64", b"BW64")
_U32_MAX = 0xFFFFFFFF


@dataclass(frozen=True, slots=True)
class Chunk:
    id: bytes
    start: int  # offset of the chunk id
    size: int  # payload size (the 64-bit size from ds64 where the 32-bit field is 0xFFFFFFFF)
    end: int  # offset after the pad byte (== data_end when a final pad byte is missing)

    @property
    def data_start(self) -> int:
        return self.start + 8

    @property
    def data_end(self) -> int:
        return self.start + 8 + self.size


@dataclass(slots=True)
class Ds64:
    riff_size: int
    data_size: int
    sample_count: int
    table: dict[bytes, int] = field(default_factory=dict)


@dataclass(slots=True)
class RiffFile:
    magic: bytes  # b"RIFF", b"RF64" or b"BW64"
    form: bytes  # e.g. b"WAVE"
    chunks: list[Chunk]
    #: Offset after the RIFF body (8 + RIFF size); bytes from here to the end are not RIFF.
    end: int
    ds64: Ds64 | None = None

    @property
    def is_64(self) -> bool:
        return self.magic != b"RIFF"

    def first(self, cid: bytes) -> Chunk | None:
        return next((c for c in self.chunks if c.id == cid), None)


def _parse_ds64(data: bytes, warn: list[str]) -> Ds64:
    if len(data) < 20 or data[12:16] != b"ds64":
        raise MalformedInput("RF64/BW64 file without a ds64 chunk first", offset=12)
    size = struct.unpack_from("<I", data, 16)[0]
    if size < 28 or 20 + size > len(data):
        raise MalformedInput(f"ds64 chunk has a bad size ({size})", offset=12)
    riff_size, data_size, sample_count, n = struct.unpack_from("<QQQI", data, 20)
    if 28 + 12 * n > size:
        raise MalformedInput(f"ds64 table of {n} entries runs past the chunk", offset=48)
    table: dict[bytes, int] = {}
    for i in range(n):
        cid, csize = struct.unpack_from("<4sQ", data, 48 + 12 * i)
        if cid in table:
            warn.append(f"ds64 table lists chunk {cid!r} twice (first entry used)")
            continue
        table[cid] = csize
    return Ds64(riff_size, data_size, sample_count, table)


def parse(data: bytes, *, what: str = "RIFF", warnings: list[str] | None = None) -> RiffFile:
    """Walk the top-level chunks. Raises MalformedInput/LimitExceeded on broken input."""
    _limits.check_input(data, what)
    warn = warnings if warnings is not None else []
    n = len(data)
    if n < 12 or data[:4] not in RIFF_MAGICS:
        raise MalformedInput(f"not a {what} file (no RIFF/RF64/BW64 header)", offset=0)
    magic, size32, form = struct.unpack_from("<4sI4s", data, 0)
    ds64: Ds64 | None = None
    if magic == b"RIFF":
        riff_size = size32
    else:
        ds64 = _parse_ds64(data, warn)
        riff_size = ds64.riff_size
        if size32 != _U32_MAX:
            warn.append(f"{magic.decode()} header size is {size32:#x}, not 0xFFFFFFFF")
    if riff_size < 4:
        raise MalformedInput(f"RIFF size {riff_size} is too small", offset=4)
    end = 8 + riff_size
    if end > n:
        raise MalformedInput(
            f"RIFF size {riff_size} runs past the end of the file ({n} bytes): truncated",
            offset=4,
        )
    if end < n:
        warn.append(f"note: {n - end} bytes after the RIFF body (kept)")
    chunks: list[Chunk] = []
    counter = _limits.Counter(MAX_RIFF_CHUNKS, "RIFF chunks")
    pos = 12
    while pos < end:
        counter.tick(pos)
        if pos + 8 > end:
            raise MalformedInput("truncated chunk header at the end of the RIFF body", offset=pos)
        cid, size = struct.unpack_from("<4sI", data, pos)
        if ds64 is not None and size == _U32_MAX:
            if cid == b"data":
                size = ds64.data_size
            elif cid in ds64.table:
                size = ds64.table[cid]
            else:
                raise MalformedInput(
                    f"chunk {cid!r} has size 0xFFFFFFFF but no ds64 entry", offset=pos
                )
        data_end = pos + 8 + size
        if data_end > end:
            raise MalformedInput(
                f"chunk {cid!r} ({size} bytes) runs past the end of the RIFF body", offset=pos
            )
        nxt = data_end + (size & 1)
        if nxt > end:  # odd final chunk without its pad byte: common, harmless
            warn.append(f"chunk {cid!r} at byte {pos} lacks its pad byte")
            nxt = end
        chunks.append(Chunk(cid, pos, size, nxt))
        pos = nxt
    return RiffFile(magic, form, chunks, end, ds64)


def sub_chunks(data: bytes, lst: Chunk, counter: _limits.Counter | None = None) -> list[Chunk]:
    """The sub-chunks of a ``LIST`` payload (after its 4-byte list type).

    A sub-chunk running past the list raises MalformedInput; a missing final pad byte (some
    INFO writers omit it) is tolerated.
    """
    counter = counter or _limits.Counter(MAX_RIFF_CHUNKS, "RIFF chunks")
    end = lst.data_end
    pos = lst.data_start + 4
    if pos > end:
        raise MalformedInput("LIST chunk shorter than its list type", offset=lst.start)
    out: list[Chunk] = []
    while pos < end:
        counter.tick(pos)
        if pos + 8 > end:
            if not any(data[pos:end]):  # trailing NUL padding inside the list
                break
            raise MalformedInput("truncated sub-chunk header in LIST", offset=pos)
        cid, size = struct.unpack_from("<4sI", data, pos)
        data_end = pos + 8 + size
        if data_end > end:
            raise MalformedInput(f"LIST sub-chunk {cid!r} runs past the list", offset=pos)
        nxt = min(data_end + (size & 1), end)
        out.append(Chunk(cid, pos, size, nxt))
        pos = nxt
    return out


def make_chunk(cid: bytes, payload: bytes) -> bytes:
    """``id`` · uint32 LE size · payload · pad byte when the size is odd."""
    if len(payload) > _U32_MAX - 1:
        raise LimitExceeded(f"chunk {cid!r} payload too large ({len(payload)} bytes)")
    return cid + struct.pack("<I", len(payload)) + payload + (b"\x00" if len(payload) & 1 else b"")


def chunk_bytes(data: bytes, c: Chunk) -> bytes | memoryview:
    """The chunk as stored (a view: no copy of large ``data`` chunks), with its pad byte
    restored when it was missing."""
    if (c.end - c.start) & 1:
        return data[c.start : c.end] + b"\x00"
    return memoryview(data)[c.start : c.end]


def assemble(riff: RiffFile, data: bytes, body: list[bytes | memoryview]) -> bytes:
    """A new file: the header for ``riff``'s flavour, ``body`` (the chunks after the header,
    without ds64 for RF64/BW64 files) and whatever followed the original RIFF body.

    RIFF: the 32-bit size is recomputed. RF64/BW64: the original ds64 chunk is kept with its
    riffSize field updated (other ds64 fields describe chunks we copy unchanged).
    """
    chunks_len = sum(len(b) for b in body)
    tail = memoryview(data)[riff.end :]
    if riff.ds64 is None:
        size = 4 + chunks_len
        if size > _U32_MAX:
            raise LimitExceeded("RIFF file would exceed 4 GiB (needs RF64)")
        return b"".join([b"RIFF", struct.pack("<I", size), riff.form, *body, tail])
    ds = riff.chunks[0]
    ds_raw = bytearray(chunk_bytes(data, ds))
    size = 4 + len(ds_raw) + chunks_len
    struct.pack_into("<Q", ds_raw, 8, size)
    return b"".join([riff.magic, b"\xff\xff\xff\xff", riff.form, bytes(ds_raw), *body, tail])
