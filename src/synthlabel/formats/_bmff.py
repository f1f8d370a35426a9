"""ISO base media file format (ISO/IEC 14496-12) box primitives, shared by HEIF and MP4.

Everything works on an in-memory ``bytes`` buffer and absolute offsets. Sizes are checked
against the real buffer before anything is sliced, so a hostile declared size can never make us
allocate or loop; walks are bounded in depth and in the number of boxes visited.

Box header forms handled: 32-bit ``size``; ``size == 1`` with a 64-bit ``largesize``;
``size == 0`` meaning "to the end of the enclosing range" (legal only for the last box); the
16-byte ``usertype`` of ``uuid`` boxes. FullBox version/flags are read with :func:`full_box`.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from synthlabel.errors import LimitExceeded, MalformedInput
from synthlabel.formats._limits import Counter

#: Deepest box nesting we follow (real files use < 10 levels).
MAX_DEPTH = 16
#: Most boxes visited in one walk of one file.
MAX_BOXES = 200_000
#: Most entries we accept in one table (iloc items, sample sizes, chunk offsets, ...).
MAX_ENTRIES = 10_000_000

_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")
_HDR = struct.Struct(">I4s")


@dataclass(frozen=True, slots=True)
class Box:
    """One box: where it is and how its header was written."""

    type: bytes  # four bytes
    start: int  # offset of the first header byte
    size: int  # total size, header included
    header_size: int  # 8, 16 (largesize), +16 for a uuid usertype
    usertype: bytes = b""  # 16 bytes for 'uuid' boxes
    largesize: bool = False  # header used size == 1 + 64-bit largesize
    to_end: bool = False  # header said size == 0 ("extends to the end")

    @property
    def end(self) -> int:
        return self.start + self.size

    @property
    def payload_start(self) -> int:
        return self.start + self.header_size

    @property
    def payload_size(self) -> int:
        return self.size - self.header_size

    def payload(self, data: bytes) -> bytes:
        return data[self.payload_start : self.end]

    def raw(self, data: bytes) -> bytes:
        return data[self.start : self.end]

    @property
    def name(self) -> str:
        return self.type.decode("latin-1")


class Budget(Counter):
    """Counts visited boxes (or entries) and raises :class:`LimitExceeded` past the limit."""

    __slots__ = ()

    def __init__(self, limit: int = MAX_BOXES, what: str = "boxes") -> None:
        super().__init__(limit, what)


def box_at(data: bytes, pos: int, end: int) -> Box:
    """Parse the box header at ``pos``; the box must lie within ``[pos, end)``."""
    if end > len(data):
        raise MalformedInput("box range runs past the end of the data", offset=pos)
    if pos + 8 > end:
        raise MalformedInput("truncated box header", offset=pos)
    size, btype = _HDR.unpack_from(data, pos)
    header = 8
    largesize = to_end = False
    if size == 1:
        if pos + 16 > end:
            raise MalformedInput("truncated 64-bit box size", offset=pos)
        size = _U64.unpack_from(data, pos + 8)[0]
        header = 16
        largesize = True
    elif size == 0:
        size = end - pos
        to_end = True
    usertype = b""
    if btype == b"uuid":
        if pos + header + 16 > end:
            raise MalformedInput("truncated uuid box header", offset=pos)
        usertype = bytes(data[pos + header : pos + header + 16])
        header += 16
    if size < header:
        raise MalformedInput(
            f"box '{_name(btype)}' size {size} smaller than its header", offset=pos
        )
    if pos + size > end:
        raise MalformedInput(
            f"box '{_name(btype)}' ({size} bytes) runs past its container", offset=pos
        )
    return Box(bytes(btype), pos, size, header, usertype, largesize, to_end)


def _name(btype: bytes) -> str:
    return "".join(chr(b) if 32 <= b < 127 else "?" for b in btype)


def iter_boxes(
    data: bytes, start: int = 0, end: int | None = None, *, budget: Budget | None = None
) -> Iterator[Box]:
    """The boxes laid end to end in ``[start, end)``.

    Trailing bytes too short for a header (fewer than 8) raise :class:`MalformedInput`, except
    all-zero padding, which some writers leave at the end of a container.
    """
    end = len(data) if end is None else end
    if end > len(data) or start < 0 or start > end:
        raise MalformedInput("box range outside the data", offset=start)
    budget = budget or Budget()
    pos = start
    while pos < end:
        if end - pos < 8:
            if not any(data[pos:end]):
                return
            raise MalformedInput("trailing bytes after the last box", offset=pos)
        budget.tick(pos)
        box = box_at(data, pos, end)
        yield box
        pos = box.end


def children(data: bytes, box: Box, skip: int = 0, *, budget: Budget | None = None) -> list[Box]:
    """The child boxes of ``box``; ``skip`` bytes of the payload precede them (4 for a FullBox,
    more for sample entries)."""
    start = box.payload_start + skip
    if start > box.end:
        raise MalformedInput(f"'{box.name}' too short for its fields", offset=box.start)
    return list(iter_boxes(data, start, box.end, budget=budget))


def full_box(data: bytes, box: Box) -> tuple[int, int, int]:
    """``(version, flags, content_start)`` of a FullBox."""
    p = box.payload_start
    if box.payload_size < 4:
        raise MalformedInput(f"FullBox '{box.name}' too short", offset=box.start)
    word = _U32.unpack_from(data, p)[0]
    return word >> 24, word & 0xFFFFFF, p + 4


def meta_skip(data: bytes, box: Box) -> int:
    """Bytes to skip before the children of a ``meta`` box: 4 for the ISO FullBox form, 0 for
    the QuickTime form (which starts directly with a child box, normally ``hdlr``)."""
    p = box.payload_start
    if box.payload_size >= 8 and data[p + 4 : p + 8] in (b"hdlr", b"keys", b"ilst", b"free"):
        size = _U32.unpack_from(data, p)[0]
        if 8 <= size <= box.payload_size:
            return 0
    return 4


#: Pure container boxes (children start right after the header).
CONTAINERS: frozenset[bytes] = frozenset(
    {
        b"moov",
        b"trak",
        b"mdia",
        b"minf",
        b"stbl",
        b"dinf",
        b"edts",
        b"udta",
        b"mvex",
        b"moof",
        b"traf",
        b"mfra",
        b"iprp",
        b"ipco",
        b"grpl",
        b"sinf",
        b"schi",
        b"tref",
        b"ilst",
    }
)


def walk(
    data: bytes,
    start: int = 0,
    end: int | None = None,
    *,
    descend: Callable[[tuple[bytes, ...], Box], int | None] | None = None,
    max_depth: int = MAX_DEPTH,
    budget: Budget | None = None,
) -> Iterator[tuple[tuple[bytes, ...], Box]]:
    """Depth-first walk yielding ``(path, box)``; ``path`` holds the types of the ancestors.

    ``descend(path, box)`` returns how many payload bytes to skip before the children, or
    ``None`` not to descend. The default descends into :data:`CONTAINERS` and ``meta``.
    """
    budget = budget or Budget()
    descend = descend or _default_descend

    def rec(s: int, e: int, path: tuple[bytes, ...]) -> Iterator[tuple[tuple[bytes, ...], Box]]:
        if len(path) > max_depth:
            raise LimitExceeded(f"boxes nested deeper than {max_depth}", offset=s)
        for box in iter_boxes(data, s, e, budget=budget):
            yield path, box
            skip = descend(path, box)
            if skip is not None:
                cs = box.payload_start + skip
                if cs > box.end:
                    raise MalformedInput(f"'{box.name}' too short", offset=box.start)
                yield from rec(cs, box.end, (*path, box.type))

    yield from rec(start, len(data) if end is None else end, ())


def _default_descend(path: tuple[bytes, ...], box: Box) -> int | None:
    if box.type in CONTAINERS:
        return 0
    if box.type == b"meta":
        return 4
    return None


def find(boxes: list[Box], btype: bytes) -> Box | None:
    """The first box of a type in a list."""
    for b in boxes:
        if b.type == btype:
            return b
    return None


# --- field reading ---------------------------------------------------------------------------


class Cursor:
    """Bounds-checked big-endian field reader over ``data[pos:end]``."""

    __slots__ = ("data", "end", "pos", "what")

    def __init__(self, data: bytes, pos: int, end: int, what: str = "box") -> None:
        if end > len(data):
            raise MalformedInput(f"{what} runs past the end of the data", offset=pos)
        self.data = data
        self.pos = pos
        self.end = end
        self.what = what

    def _need(self, n: int) -> int:
        p = self.pos
        if n < 0 or p + n > self.end:
            raise MalformedInput(f"truncated {self.what}", offset=p)
        self.pos = p + n
        return p

    def u8(self) -> int:
        return self.data[self._need(1)]

    def u16(self) -> int:
        return int(_U16.unpack_from(self.data, self._need(2))[0])

    def u32(self) -> int:
        return int(_U32.unpack_from(self.data, self._need(4))[0])

    def u64(self) -> int:
        return int(_U64.unpack_from(self.data, self._need(8))[0])

    def uint(self, size: int) -> int:
        """An unsigned integer of 0, 1, 2, 4 or 8 bytes (0 bytes reads as 0)."""
        if size == 0:
            return 0
        if size == 1:
            return self.u8()
        if size == 2:
            return self.u16()
        if size == 4:
            return self.u32()
        if size == 8:
            return self.u64()
        raise MalformedInput(f"unsupported field size {size} in {self.what}", offset=self.pos)

    def take(self, n: int) -> bytes:
        p = self._need(n)
        return bytes(self.data[p : p + n])

    def cstring(self) -> bytes:
        """A NUL-terminated string (a missing terminator at the end of the box is tolerated)."""
        i = self.data.find(b"\x00", self.pos, self.end)
        if i < 0:
            s = bytes(self.data[self.pos : self.end])
            self.pos = self.end
            return s
        s = bytes(self.data[self.pos : i])
        self.pos = i + 1
        return s

    @property
    def left(self) -> int:
        return self.end - self.pos


# --- writing -----------------------------------------------------------------------------------


def uint_bytes(value: int, size: int) -> bytes:
    """``value`` as a big-endian unsigned integer of ``size`` bytes (0 → value must be 0)."""
    if value < 0 or (size < 8 and value >> (8 * size)):
        raise OverflowError(f"{value} does not fit in {size} bytes")
    return value.to_bytes(size, "big") if size else b""


def fits(value: int, size: int) -> bool:
    return value >= 0 and (size >= 8 or not value >> (8 * size))


def box_header(
    btype: bytes, payload_size: int, *, usertype: bytes = b"", large: bool = False
) -> bytes:
    """A box header for a payload of ``payload_size`` bytes (largesize when needed)."""
    if len(btype) != 4:
        raise ValueError("box type must be four bytes")
    extra = len(usertype)
    if large or 8 + extra + payload_size > 0xFFFFFFFF:
        return _U32.pack(1) + btype + _U64.pack(16 + extra + payload_size) + usertype
    return _U32.pack(8 + extra + payload_size) + btype + usertype


def make_box(btype: bytes, payload: bytes, *, usertype: bytes = b"") -> bytes:
    return box_header(btype, len(payload), usertype=usertype) + payload


def make_full_box(btype: bytes, version: int, flags: int, payload: bytes) -> bytes:
    return make_box(btype, bytes([version]) + (flags & 0xFFFFFF).to_bytes(3, "big") + payload)


# --- sample tables (MP4 tracks, HEIF image sequences) ----------------------------------------


@dataclass(frozen=True, slots=True)
class ChunkOffsets:
    """A ``stco``/``co64`` table: where its entries are, so they can be patched in place."""

    box: Box
    wide: bool  # co64
    first_entry: int  # offset of entry 0
    offsets: tuple[int, ...]


def chunk_offsets(data: bytes, box: Box) -> ChunkOffsets:
    _, _, p = full_box(data, box)
    c = Cursor(data, p, box.end, box.name)
    count = c.u32()
    wide = box.type == b"co64"
    width = 8 if wide else 4
    if count > MAX_ENTRIES:
        raise LimitExceeded(f"'{box.name}' has {count} entries", offset=box.start)
    if count * width > c.left:
        raise MalformedInput(f"'{box.name}' entry count exceeds the box", offset=box.start)
    first = c.pos
    fmt = ">" + ("Q" if wide else "I") * count
    return ChunkOffsets(box, wide, first, tuple(struct.unpack_from(fmt, data, first)))


def sample_sizes(data: bytes, box: Box) -> list[int]:
    """Sample sizes from ``stsz`` (``stz2`` too)."""
    _, _, p = full_box(data, box)
    c = Cursor(data, p, box.end, box.name)
    if box.type == b"stsz":
        uniform = c.u32()
        count = c.u32()
        if count > MAX_ENTRIES:
            raise LimitExceeded(f"'stsz' has {count} entries", offset=box.start)
        if uniform:
            return [uniform] * count
        if count * 4 > c.left:
            raise MalformedInput("'stsz' entry count exceeds the box", offset=box.start)
        return list(struct.unpack_from(">" + "I" * count, data, c.pos))
    c.take(3)
    field = c.u8()
    count = c.u32()
    if field not in (4, 8, 16) or count > MAX_ENTRIES or (count * field + 7) // 8 > c.left:
        raise MalformedInput("bad 'stz2' table", offset=box.start)
    raw = c.take((count * field + 7) // 8)
    if field == 16:
        return list(struct.unpack(">" + "H" * count, raw))
    if field == 8:
        return list(raw)
    out = []
    for i in range(count):
        b = raw[i // 2]
        out.append(b >> 4 if i % 2 == 0 else b & 0x0F)
    return out


def sample_to_chunk(data: bytes, box: Box) -> list[tuple[int, int]]:
    """``stsc`` entries as ``(first_chunk, samples_per_chunk)`` (1-based chunk numbers)."""
    _, _, p = full_box(data, box)
    c = Cursor(data, p, box.end, "stsc")
    count = c.u32()
    if count > MAX_ENTRIES or count * 12 > c.left:
        raise MalformedInput("bad 'stsc' table", offset=box.start)
    out = []
    for _ in range(count):
        first, per, _desc = c.u32(), c.u32(), c.u32()
        out.append((first, per))
    return out


def chunk_ranges(data: bytes, stbl: Box, *, budget: Budget | None = None) -> list[tuple[int, int]]:
    """``(file_offset, length)`` of every chunk of a track, from its sample table.

    Raises :class:`MalformedInput` when the tables disagree or a chunk lies outside the data.
    """
    kids = children(data, stbl, budget=budget)
    co = find(kids, b"stco") or find(kids, b"co64")
    sz = find(kids, b"stsz") or find(kids, b"stz2")
    sc = find(kids, b"stsc")
    if co is None or sz is None or sc is None:
        if co is None and sz is None and sc is None:
            return []
        raise MalformedInput("incomplete sample table", offset=stbl.start)
    offsets = chunk_offsets(data, co).offsets
    sizes = sample_sizes(data, sz)
    runs = sample_to_chunk(data, sc)
    out: list[tuple[int, int]] = []
    sample = 0
    j = 0
    per = 0
    for i, off in enumerate(offsets):
        chunk_no = i + 1
        while j < len(runs) and runs[j][0] <= chunk_no:
            per = runs[j][1]
            j += 1
        if per > len(sizes) - sample:
            raise MalformedInput("sample table lists more samples than 'stsz'", offset=stbl.start)
        length = sum(sizes[sample : sample + per])
        sample += per
        if off + length > len(data):
            raise MalformedInput("track chunk lies outside the file", offset=co.start)
        out.append((off, length))
    return out
