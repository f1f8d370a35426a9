"""HEIF / HEIC / AVIF (ISO/IEC 23008-12): XMP as a ``mime`` item of the file-level ``meta``.

Layout written: an item of type ``mime`` with content_type ``application/rdf+xml`` (``infe``
version 2, version 3 for item ids over 65535, flagged hidden like other metadata items) in
``meta/iinf``, located by an ``iloc`` entry with construction_method 0 (file offset) and one
extent; an ``iref`` reference of type ``cdsc`` links it to the primary item (``iref`` is created
when absent). File offsets are used rather than ``idat`` because common readers (ExifTool up to
at least 12.57) do not extract metadata stored with construction_method 1.

Where the packet goes: when the file ends with an ``mdat`` (the usual ``ftyp meta mdat``
layout) that ``mdat`` grows by the packet, appended after its payload; its header keeps its
form (32-bit size, or 64-bit ``largesize``; it switches to ``largesize`` only when 32 bits no
longer fit) except that a size-0 ("to the end of the file") header becomes an explicit size.
When anything else ends the file (``meta`` after ``mdat``, a trailing ``uuid`` or ``free``
box, an ``mdat`` that held nothing but the old packet and is dropped, ...) the packet goes into
a new ``mdat`` appended at the end instead. Growing the last box moves no other byte.

Everything else is copied byte for byte. Because ``meta`` usually precedes ``mdat`` and grows,
the file is rebuilt from pieces (copied ranges and new bytes) and every file-offset reference
is remapped from the old layout to the new one: all ``iloc`` extents with construction_method 0
and all ``stco``/``co64`` chunk offsets of image-sequence tracks. ``iloc`` versions 0/1/2 and
field sizes 0/4/8 are handled; field sizes grow (never shrink) only when a value needs it.

``iloc`` base offsets: when ``base_offset_size`` is not 0, every construction_method-0 entry we
write has a non-zero ``base_offset`` (the item's first byte) and extent offsets relative to it;
an entry with base 0 and absolute extent offsets is rewritten that way. The form is equivalent
for every reader, and it is the one form c2pa-rs (0.91) shifts correctly when it inserts its
manifest box: it adds its shift to ``base_offset`` whenever the field exists, and also to the
extent offsets of entries whose base is 0, so such an entry would be moved twice (this, not a
second ``mdat``, is what broke C2PA signing of labelled HEIC files). c2pa-rs also reads every
``extent_index`` of a version-1 ``iloc`` (and of a version-2 one with ``index_size`` > 0) with
``base_offset_size`` bytes, so for those we make the two sizes equal, growing the smaller one
(an index the input did not have is written as 0; the field only has a meaning for
construction_method 2).

An existing XMP item is reused (same item id, its ``iref`` kept); extra XMP items are removed
(``iinf``, ``iloc``, ``iref`` and ``ipma`` entries). The old packet bytes are removed: a
``mdat`` that held only the packet is dropped, a packet inside a shared ``mdat`` is cut out
when no other item or track chunk overlaps it, and anything else is overwritten with zero
bytes. Rewriting is therefore idempotent and leaves no stale record behind.
"""

from __future__ import annotations

import bisect
import hashlib
import struct
from dataclasses import dataclass, field, replace

from synthlabel.errors import LimitExceeded, MalformedInput
from synthlabel.formats import _bmff as bm
from synthlabel.formats import _exif, _limits
from synthlabel.formats.base import (
    Carrier,
    ContainerMetadata,
    ContentDigest,
    FormatHandler,
    MediaKind,
    XmpLabelWriter,
)

SELECTOR = "synthlabel.heif.v1"

XMP_CONTENT_TYPE = b"application/rdf+xml"
C2PA_UUID = bytes.fromhex("D8FEC3D61B0E483C92975828877EC481")

#: ftyp brands that make a file HEIF (still images, sequences, AVIF).
BRANDS: frozenset[bytes] = frozenset(
    {
        b"heic",
        b"heix",
        b"heim",
        b"heis",
        b"hevc",
        b"hevx",
        b"hevm",
        b"hevs",
        b"mif1",
        b"mif2",
        b"msf1",
        b"avif",
        b"avis",
        b"avio",
    }
)
#: Item types that hold metadata, not picture data (left out of the content digest).
METADATA_ITEM_TYPES: frozenset[bytes] = frozenset({b"Exif", b"mime", b"uri ", b"c2pa"})

#: Most items in one file.
MAX_ITEMS = 1_000_000


# --- parsed structures ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Extent:
    index: int
    offset: int
    length: int


@dataclass(slots=True)
class IlocItem:
    item_id: int
    method: int  # construction_method
    dref: int  # data_reference_index
    base: int
    extents: list[Extent]


@dataclass(slots=True)
class Iloc:
    version: int
    flags: int
    offset_size: int
    length_size: int
    base_size: int
    index_size: int
    items: list[IlocItem]


@dataclass(frozen=True, slots=True)
class ItemInfo:
    item_id: int
    item_type: bytes
    name: bytes
    content_type: bytes
    encoding: bytes
    protection: int
    hidden: bool
    box: bm.Box

    @property
    def is_xmp(self) -> bool:
        return (self.item_type in (b"mime", b"")) and (
            self.content_type.strip(b"\x00 \t").lower() == XMP_CONTENT_TYPE
        )

    @property
    def is_c2pa(self) -> bool:
        return self.item_type == b"c2pa" or (
            self.item_type == b"mime"
            and self.content_type.strip(b"\x00 \t").lower() == b"application/c2pa"
        )

    @property
    def is_metadata(self) -> bool:
        return self.item_type in METADATA_ITEM_TYPES or self.item_type == b""


@dataclass(slots=True)
class Ref:
    type: bytes
    from_id: int
    to_ids: list[int]


@dataclass(slots=True)
class HeifFile:
    top: list[bm.Box]
    meta: bm.Box
    kids: list[bm.Box]
    iloc_box: bm.Box | None
    iloc: Iloc
    iinf_box: bm.Box | None
    iinf_version: int
    iinf_flags: int
    infos: list[ItemInfo]
    iref_box: bm.Box | None
    iref_version: int
    iref_flags: int
    refs: list[Ref]
    primary: int | None
    idat: bm.Box | None
    iprp: bm.Box | None
    props: list[bm.Box]  # ipco children, property index 1 = props[0]
    ipma_boxes: list[bm.Box]
    assoc: dict[int, list[tuple[bool, int]]] = field(default_factory=dict)


# --- parsing -----------------------------------------------------------------------------------


def _parse_iloc(data: bytes, box: bm.Box) -> Iloc:
    version, flags, p = bm.full_box(data, box)
    if version > 2:
        raise MalformedInput(f"unsupported iloc version {version}", offset=box.start)
    c = bm.Cursor(data, p, box.end, "iloc")
    b = c.u8()
    offset_size, length_size = b >> 4, b & 15
    b = c.u8()
    base_size = b >> 4
    index_size = b & 15 if version in (1, 2) else 0
    for s in (offset_size, length_size, base_size, index_size):
        if s not in (0, 4, 8):
            raise MalformedInput(f"iloc field size {s} not 0, 4 or 8", offset=box.start)
    count = c.u16() if version < 2 else c.u32()
    if count > MAX_ITEMS:
        raise LimitExceeded(f"iloc lists {count} items", offset=box.start)
    budget = bm.Budget(bm.MAX_ENTRIES, "iloc extents")
    items: list[IlocItem] = []
    for _ in range(count):
        item_id = c.u16() if version < 2 else c.u32()
        method = c.u16() & 0x0F if version in (1, 2) else 0
        dref = c.u16()
        base = c.uint(base_size)
        n = c.u16()
        budget.tick(box.start, n)
        extents = []
        for _ in range(n):
            index = c.uint(index_size) if version in (1, 2) else 0
            extents.append(Extent(index, c.uint(offset_size), c.uint(length_size)))
        items.append(IlocItem(item_id, method, dref, base, extents))
    return Iloc(version, flags, offset_size, length_size, base_size, index_size, items)


def _build_iloc(iloc: Iloc) -> bytes:
    v = iloc.version
    out = bytearray()
    out.append(iloc.offset_size << 4 | iloc.length_size)
    out.append(iloc.base_size << 4 | (iloc.index_size if v in (1, 2) else 0))
    out += bm.uint_bytes(len(iloc.items), 2 if v < 2 else 4)
    for it in iloc.items:
        out += bm.uint_bytes(it.item_id, 2 if v < 2 else 4)
        if v in (1, 2):
            out += bm.uint_bytes(it.method, 2)
        out += bm.uint_bytes(it.dref, 2)
        out += bm.uint_bytes(it.base, iloc.base_size)
        out += bm.uint_bytes(len(it.extents), 2)
        for e in it.extents:
            if v in (1, 2):
                out += bm.uint_bytes(e.index, iloc.index_size)
            out += bm.uint_bytes(e.offset, iloc.offset_size)
            out += bm.uint_bytes(e.length, iloc.length_size)
    return bm.make_full_box(b"iloc", v, iloc.flags, bytes(out))


def _parse_infe(data: bytes, box: bm.Box) -> ItemInfo:
    version, flags, p = bm.full_box(data, box)
    c = bm.Cursor(data, p, box.end, "infe")
    if version in (0, 1):
        item_id, prot = c.u16(), c.u16()
        name = c.cstring()
        ctype = c.cstring() if c.left else b""
        enc = c.cstring() if c.left else b""
        return ItemInfo(item_id, b"", name, ctype, enc, prot, bool(flags & 1), box)
    if version > 3:
        raise MalformedInput(f"unsupported infe version {version}", offset=box.start)
    item_id = c.u16() if version == 2 else c.u32()
    prot = c.u16()
    itype = c.take(4)
    name = c.cstring() if c.left else b""
    ctype = enc = b""
    if itype == b"mime":
        ctype = c.cstring() if c.left else b""
        enc = c.cstring() if c.left else b""
    return ItemInfo(item_id, itype, name, ctype, enc, prot, bool(flags & 1), box)


def _parse_iref(data: bytes, box: bm.Box, budget: bm.Budget) -> tuple[int, int, list[Ref]]:
    version, flags, p = bm.full_box(data, box)
    if version > 1:
        raise MalformedInput(f"unsupported iref version {version}", offset=box.start)
    refs = []
    for kid in bm.iter_boxes(data, p, box.end, budget=budget):
        c = bm.Cursor(data, kid.payload_start, kid.end, "iref entry")
        from_id = c.u16() if version == 0 else c.u32()
        n = c.u16()
        to = [c.u16() if version == 0 else c.u32() for _ in range(n)]
        refs.append(Ref(kid.type, from_id, to))
    return version, flags, refs


def _build_iref(version: int, flags: int, refs: list[Ref]) -> bytes:
    w = 2 if version == 0 else 4
    body = b"".join(
        bm.make_box(
            r.type,
            bm.uint_bytes(r.from_id, w)
            + bm.uint_bytes(len(r.to_ids), 2)
            + b"".join(bm.uint_bytes(t, w) for t in r.to_ids),
        )
        for r in refs
    )
    return bm.make_full_box(b"iref", version, flags, body)


def _parse_ipma(data: bytes, box: bm.Box, assoc: dict[int, list[tuple[bool, int]]]) -> None:
    version, flags, p = bm.full_box(data, box)
    c = bm.Cursor(data, p, box.end, "ipma")
    n = c.u32()
    if n > MAX_ITEMS:
        raise LimitExceeded(f"ipma lists {n} items", offset=box.start)
    for _ in range(n):
        item_id = c.u16() if version < 1 else c.u32()
        k = c.u8()
        lst = assoc.setdefault(item_id, [])
        for _ in range(k):
            if flags & 1:
                v = c.u16()
                lst.append((bool(v >> 15), v & 0x7FFF))
            else:
                v = c.u8()
                lst.append((bool(v >> 7), v & 0x7F))


def _build_ipma(data: bytes, box: bm.Box, drop: set[int]) -> bytes:
    """``ipma`` without the entries of ``drop`` (other entries copied byte for byte)."""
    version, flags, p = bm.full_box(data, box)
    c = bm.Cursor(data, p, box.end, "ipma")
    n = c.u32()
    kept = []
    for _ in range(n):
        start = c.pos
        item_id = c.u16() if version < 1 else c.u32()
        k = c.u8()
        c.take(k * (2 if flags & 1 else 1))
        if item_id not in drop:
            kept.append(data[start : c.pos])
    return bm.make_full_box(b"ipma", version, flags, struct.pack(">I", len(kept)) + b"".join(kept))


def _brands(data: bytes) -> tuple[bytes, list[bytes]] | None:
    if len(data) < 16 or data[4:8] != b"ftyp":
        return None
    size = struct.unpack_from(">I", data, 0)[0]
    end = min(size, len(data)) if size >= 16 else 16
    compat = [bytes(data[i : i + 4]) for i in range(16, end - 3, 4)]
    return bytes(data[8:12]), compat


def parse(data: bytes) -> HeifFile:
    _limits.check_input(data, "HEIF")
    budget = bm.Budget()
    top = list(bm.iter_boxes(data, 0, len(data), budget=budget))
    if not top or top[0].type != b"ftyp":
        raise MalformedInput("HEIF file does not start with 'ftyp'", offset=0)
    metas = [b for b in top if b.type == b"meta"]
    if len(metas) != 1:
        raise MalformedInput(
            "HEIF file without a top-level 'meta' box" if not metas else "more than one 'meta'",
            offset=metas[1].start if metas else 0,
        )
    meta = metas[0]
    bm.full_box(data, meta)
    kids = bm.children(data, meta, 4, budget=budget)

    def one(t: bytes) -> bm.Box | None:
        found = [k for k in kids if k.type == t]
        if len(found) > 1:
            raise MalformedInput(f"more than one '{t.decode()}' in 'meta'", offset=found[1].start)
        return found[0] if found else None

    iloc_box, iinf_box, iref_box = one(b"iloc"), one(b"iinf"), one(b"iref")
    pitm_box, idat, iprp = one(b"pitm"), one(b"idat"), one(b"iprp")
    iloc = _parse_iloc(data, iloc_box) if iloc_box else Iloc(1, 0, 4, 4, 0, 0, [])
    infos: list[ItemInfo] = []
    iinf_version = iinf_flags = 0
    if iinf_box is not None:
        iinf_version, iinf_flags, p = bm.full_box(data, iinf_box)
        c = bm.Cursor(data, p, iinf_box.end, "iinf")
        count = c.u16() if iinf_version == 0 else c.u32()
        entries = [k for k in bm.iter_boxes(data, c.pos, iinf_box.end, budget=budget)]
        infe = [k for k in entries if k.type == b"infe"]
        if len(infe) != count:
            raise MalformedInput(
                f"iinf says {count} entries but holds {len(infe)}", offset=iinf_box.start
            )
        infos = [_parse_infe(data, k) for k in infe]
    ids = [i.item_id for i in infos]
    if len(set(ids)) != len(ids):
        raise MalformedInput(
            "duplicate item ids in 'iinf'", offset=iinf_box.start if iinf_box else 0
        )
    iloc_ids = [i.item_id for i in iloc.items]
    if len(set(iloc_ids)) != len(iloc_ids):
        raise MalformedInput(
            "duplicate item ids in 'iloc'", offset=iloc_box.start if iloc_box else 0
        )
    iref_version = iref_flags = 0
    refs: list[Ref] = []
    if iref_box is not None:
        iref_version, iref_flags, refs = _parse_iref(data, iref_box, budget)
    primary = None
    if pitm_box is not None:
        v, _, p = bm.full_box(data, pitm_box)
        c = bm.Cursor(data, p, pitm_box.end, "pitm")
        primary = c.u16() if v == 0 else c.u32()
    props: list[bm.Box] = []
    ipma_boxes: list[bm.Box] = []
    assoc: dict[int, list[tuple[bool, int]]] = {}
    if iprp is not None:
        pk = bm.children(data, iprp, budget=budget)
        ipco = bm.find(pk, b"ipco")
        if ipco is not None:
            props = bm.children(data, ipco, budget=budget)
        ipma_boxes = [k for k in pk if k.type == b"ipma"]
        for b in ipma_boxes:
            _parse_ipma(data, b, assoc)
    return HeifFile(
        top,
        meta,
        kids,
        iloc_box,
        iloc,
        iinf_box,
        iinf_version,
        iinf_flags,
        infos,
        iref_box,
        iref_version,
        iref_flags,
        refs,
        primary,
        idat,
        iprp,
        props,
        ipma_boxes,
        assoc,
    )


# --- item data -----------------------------------------------------------------------------------


def _ranges(data: bytes, f: HeifFile, it: IlocItem) -> list[tuple[int, int]] | None:
    """Absolute ``(start, end)`` byte ranges of an item's data, or None when the data is not in
    this file's bytes in a way we resolve (external data reference, construction_method 2)."""
    if it.dref != 0 or it.method not in (0, 1):
        return None
    if it.method == 0:
        origin, limit = 0, len(data)
    else:
        if f.idat is None:
            raise MalformedInput(f"item {it.item_id} uses 'idat' but there is none")
        origin, limit = f.idat.payload_start, f.idat.end
    out = []
    for e in it.extents:
        s = origin + it.base + e.offset
        t = s + e.length if e.length else limit
        if s > limit or t > limit:
            raise MalformedInput(f"item {it.item_id} data lies outside its container", offset=s)
        out.append((s, t))
    return out


def _item_bytes(data: bytes, f: HeifFile, it: IlocItem, limit: int | None = None) -> bytes | None:
    """An item's data joined, refused past ``limit`` bytes (default: the metadata limit)."""
    rs = _ranges(data, f, it)
    if rs is None:
        return None
    total = sum(t - s for s, t in rs)
    if limit is None:
        limit = _limits.MAX_METADATA_BYTES
    if total > limit:
        raise LimitExceeded(f"metadata item {it.item_id} is {total} bytes (limit {limit})")
    return b"".join(data[s:t] for s, t in rs)


def _track_chunks(data: bytes, f: HeifFile) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for box in f.top:
        if box.type != b"moov":
            continue
        for path, b in bm.walk(data, box.payload_start, box.end, descend=_track_descend):
            if b.type == b"stbl" and path[-3:] == (b"trak", b"mdia", b"minf"):
                out.extend(bm.chunk_ranges(data, b))
    return out


def _track_descend(path: tuple[bytes, ...], box: bm.Box) -> int | None:
    return 0 if box.type in (b"trak", b"mdia", b"minf", b"stbl") else None


def _c2pa_uuid_payload(data: bytes, box: bm.Box) -> bytes:
    """JUMBF bytes of a C2PA ``uuid`` box (FullBox header, purpose string, merkle offset)."""
    c = bm.Cursor(data, box.payload_start, box.end, "C2PA uuid box")
    c.take(4)
    purpose = c.cstring()
    if purpose == b"manifest":
        c.take(8)
    return c.take(c.left)


# --- the handler -----------------------------------------------------------------------------


class _Piece:
    """One piece of the output: a copied range of the input, or new bytes."""

    __slots__ = ("data", "length", "new", "old", "patches")

    def __init__(self, length: int, old: int | None = None, data: bytes | None = None) -> None:
        self.length = length
        self.old = old
        self.data = data
        self.new = 0
        self.patches: list[tuple[int, bytes]] = []


def _copy(box: bm.Box) -> _Piece:
    return _Piece(box.size, old=box.start)


def _new(b: bytes) -> _Piece:
    return _Piece(len(b), data=b)


class _Mapper:
    """Maps offsets of the input to offsets of the output through the copied pieces."""

    def __init__(self, pieces: list[_Piece]) -> None:
        pos = 0
        for p in pieces:
            p.new = pos
            pos += p.length
        self.total = pos
        self.copies = sorted((p for p in pieces if p.old is not None), key=lambda p: p.old or 0)
        self.starts = [p.old or 0 for p in self.copies]

    def map(self, o: int, n: int) -> int | None:
        """New offset of the old range ``[o, o+n)``; None when it was not copied intact."""
        i = bisect.bisect_right(self.starts, o) - 1
        if i < 0:
            return None
        p = self.copies[i]
        assert p.old is not None
        if o >= p.old + p.length and not (n == 0 and o == p.old + p.length):
            return None
        delta = p.new - p.old
        end = o + n
        while end > p.old + p.length:
            i += 1
            if i >= len(self.copies):
                return None
            q = self.copies[i]
            assert q.old is not None
            if q.old != p.old + p.length or q.new - q.old != delta:
                return None
            p = q
        return o + delta


def _mdat_payload(box: bm.Box, cuts: list[tuple[int, int]]) -> list[_Piece]:
    """The payload of an ``mdat`` as copied pieces, without the ``cuts`` ranges."""
    keep: list[_Piece] = []
    pos = box.payload_start
    for s, t in sorted(cuts):
        if s > pos:
            keep.append(_Piece(s - pos, old=pos))
        pos = max(pos, t)
    if box.end > pos:
        keep.append(_Piece(box.end - pos, old=pos))
    return keep


def _needed(v: int) -> int:
    return 0 if v == 0 else 4 if v <= 0xFFFFFFFF else 8


class HeifHandler(XmpLabelWriter):
    id = "heif"
    name = "HEIF/HEIC/AVIF"
    media_kind = MediaKind.IMAGE
    extensions: tuple[str, ...] = ("heic", "heif", "avif", "hif", "heics", "heifs", "avifs")
    mime_types: tuple[str, ...] = (
        "image/heic",
        "image/heif",
        "image/avif",
        "image/heic-sequence",
        "image/heif-sequence",
        "image/avif-sequence",
    )
    sniff_bytes = 64

    def sniff(self, head: bytes) -> bool:
        b = _brands(head)
        if b is None:
            return False
        major, compat = b
        return major in BRANDS or any(x in BRANDS for x in compat)

    # -- read --

    def read(self, data: bytes) -> ContainerMetadata:
        f = parse(data)
        meta = ContainerMetadata(format_id=self.id)
        locs = {it.item_id: it for it in f.iloc.items}
        for info in f.infos:
            if not (info.is_xmp or info.item_type == b"Exif" or info.is_c2pa):
                continue
            it = locs.get(info.item_id)
            label = f"item {info.item_id} ({info.item_type.decode('latin-1') or 'mime'})"
            if it is None:
                meta.warnings.append(f"{label} has no 'iloc' entry")
                continue
            if info.encoding.strip(b"\x00"):
                meta.warnings.append(f"{label} is content-encoded; not read")
                continue
            big = _limits.MAX_C2PA_BYTES if info.is_c2pa else None
            body = _item_bytes(data, f, it, big)
            rs = _ranges(data, f, it)
            if body is None or rs is None:
                meta.warnings.append(f"{label} data is not stored in this file's byte ranges")
                continue
            where = rs[0][0] if rs else 0
            if info.is_xmp:
                meta.carriers.append(Carrier("xmp", where, body, f"HEIF {label} XMP"))
            elif info.is_c2pa:
                meta.carriers.append(Carrier("c2pa", where, body, f"HEIF {label} C2PA"))
            else:
                if len(body) < 4:
                    meta.warnings.append(f"{label}: Exif item too short")
                    continue
                skip = 4 + struct.unpack_from(">I", body, 0)[0]
                if skip > len(body):
                    meta.warnings.append(f"{label}: Exif TIFF-header offset past the item")
                    continue
                tiff = body[skip:]
                if meta.exif is None:
                    meta.exif = tiff
                base = where + skip if len(rs) == 1 else 0
                found, warns = _exif.carriers(tiff, base, f"HEIF {label}")
                meta.carriers.extend(found)
                meta.warnings.extend(warns)
        for box in f.top:
            if box.type == b"uuid" and box.usertype == C2PA_UUID:
                try:
                    body = _c2pa_uuid_payload(data, box)
                except MalformedInput as exc:
                    meta.warnings.append(f"C2PA uuid box: {exc.message}")
                    continue
                meta.carriers.append(Carrier("c2pa", box.payload_start, body, "C2PA uuid box"))
        if len(meta.xmp) > 1:
            meta.warnings.append("more than one XMP item")
        if f.primary is not None:
            for _, idx in f.assoc.get(f.primary, []):
                if 1 <= idx <= len(f.props) and f.props[idx - 1].type == b"ispe":
                    box = f.props[idx - 1]
                    c = bm.Cursor(data, box.payload_start, box.end, "ispe")
                    c.take(4)
                    meta.width, meta.height = c.u32(), c.u32()
                    break
        meta.frames = 1
        return meta

    # -- digest --

    def content_digest(self, data: bytes) -> ContentDigest:
        f = parse(data)
        h = hashlib.sha256()
        h.update(SELECTOR.encode() + b"\x00")
        h.update(b"pitm" + struct.pack(">Q", f.primary if f.primary is not None else 1 << 40))
        infos = {i.item_id: i for i in f.infos}
        locs = {it.item_id: it for it in f.iloc.items}
        metadata_ids = {i.item_id for i in f.infos if i.is_metadata}
        for item_id in sorted(set(infos) | set(locs)):
            if item_id in metadata_ids:
                continue
            info = infos.get(item_id)
            h.update(b"item" + struct.pack(">I", item_id))
            h.update(info.item_type if info else b"????")
            for essential, idx in f.assoc.get(item_id, []):
                if idx == 0:
                    h.update(b"prop\x00")
                    continue
                if idx > len(f.props):
                    raise MalformedInput(f"item {item_id} uses missing property {idx}")
                h.update(b"prop" + bytes([essential]))
                h.update(f.props[idx - 1].raw(data))
            for r in f.refs:
                if r.from_id == item_id:
                    to = [t for t in r.to_ids if t not in metadata_ids]
                    if to:
                        h.update(b"iref" + r.type + struct.pack(f">{len(to)}I", *to))
            it = locs.get(item_id)
            if it is None:
                h.update(b"nodata")
                continue
            rs = _ranges(data, f, it)
            if rs is None:  # external data or construction_method 2: digest the locator
                h.update(b"loc" + struct.pack(">HHQ", it.method, it.dref, it.base))
                for e in it.extents:
                    h.update(struct.pack(">QQQ", e.index, e.offset, e.length))
                continue
            for s, t in rs:
                h.update(b"data" + struct.pack(">Q", t - s))
                h.update(memoryview(data)[s:t])
        for box in f.top:
            if box.type != b"moov":
                continue
            for path, b in bm.walk(data, box.payload_start, box.end, descend=_track_descend):
                if b.type == b"stsd" and path[-4:] == (b"trak", b"mdia", b"minf", b"stbl"):
                    h.update(b"stsd" + b.raw(data))
                elif b.type == b"stbl" and path[-3:] == (b"trak", b"mdia", b"minf"):
                    for s, n in bm.chunk_ranges(data, b):
                        h.update(b"chunk" + struct.pack(">Q", n))
                        h.update(memoryview(data)[s : s + n])
        return ContentDigest(SELECTOR, "sha256", h.digest())

    # -- write --

    def write_xmp(self, data: bytes, packet: bytes) -> bytes:
        f = parse(data)
        if len(packet) > _limits.MAX_METADATA_BYTES:
            raise LimitExceeded(f"XMP packet too large ({len(packet)} bytes)")
        if f.iinf_box is None or f.iloc_box is None:
            raise MalformedInput("HEIF 'meta' lacks 'iinf' or 'iloc'", offset=f.meta.start)
        locs = {it.item_id: it for it in f.iloc.items}
        xmp_infos = [i for i in f.infos if i.is_xmp]
        reuse: ItemInfo | None = None
        for i in xmp_infos:
            it = locs.get(i.item_id)
            if (
                it is not None
                and it.dref == 0
                and it.method in (0, 1)
                and i.protection == 0
                and not i.encoding.strip(b"\x00")
            ):
                reuse = i
                break
        removed = {i.item_id for i in xmp_infos if i is not reuse}
        all_ids = {i.item_id for i in f.infos} | set(locs)
        xmp_id = reuse.item_id if reuse else max(all_ids, default=0) + 1
        if xmp_id > 0xFFFFFFFF:  # ids exhausted at the top: take the lowest free one
            xmp_id = next(i for i in range(1, len(all_ids) + 2) if i not in all_ids)
        primary = f.primary

        work, cuts = self._old_packets(data, f, xmp_infos, locs)

        # iinf
        if reuse is None or removed:
            kept = [i for i in f.infos if i.item_id not in removed]
            infe_bytes = [data[i.box.start : i.box.end] for i in kept]
            if reuse is None:
                v = 2 if xmp_id <= 0xFFFF else 3
                body = (
                    bm.uint_bytes(xmp_id, 2 if v == 2 else 4)
                    + b"\x00\x00mime\x00"
                    + XMP_CONTENT_TYPE
                    + b"\x00"
                )
                infe_bytes.append(bm.make_full_box(b"infe", v, 1, body))
            assert f.iinf_box is not None
            _, _, p = bm.full_box(data, f.iinf_box)
            c = bm.Cursor(data, p, f.iinf_box.end, "iinf")
            c.uint(2 if f.iinf_version == 0 else 4)
            others = [  # non-infe children, kept verbatim
                k.raw(data) for k in bm.iter_boxes(data, c.pos, f.iinf_box.end) if k.type != b"infe"
            ]
            iv = f.iinf_version if len(infe_bytes) <= 0xFFFF else max(1, f.iinf_version)
            new_iinf: bytes | None = bm.make_full_box(
                b"iinf",
                iv,
                f.iinf_flags,
                bm.uint_bytes(len(infe_bytes), 2 if iv == 0 else 4)
                + b"".join(infe_bytes)
                + b"".join(others),
            )
        else:
            new_iinf = None

        # iref
        refs = [
            Ref(r.type, r.from_id, [t for t in r.to_ids if t not in removed])
            for r in f.refs
            if r.from_id not in removed
        ]
        refs = [r for r in refs if r.to_ids]
        iref_changed = any(r.from_id in removed or removed.intersection(r.to_ids) for r in f.refs)
        if primary is not None and not any(
            r.type == b"cdsc" and r.from_id == xmp_id and primary in r.to_ids for r in refs
        ):
            refs.append(Ref(b"cdsc", xmp_id, [primary]))
            iref_changed = True
        new_iref: bytes | None = None  # None: keep the box as it is (or have none)
        if iref_changed:
            wide = any(r.from_id > 0xFFFF or max(r.to_ids) > 0xFFFF for r in refs)
            version = 1 if wide else f.iref_version
            new_iref = _build_iref(version, f.iref_flags, refs)

        # ipma
        new_ipma: dict[int, bytes] = {}
        for b in f.ipma_boxes:
            if removed & set(f.assoc):
                new_ipma[b.start] = _build_ipma(data, b, removed)

        # iloc entries (values filled after layout)
        iloc = replace(f.iloc, items=[])
        if xmp_id > 0xFFFF or any(i > 0xFFFF for i in all_ids):
            iloc.version = 2
        xmp_entry = IlocItem(xmp_id, 0, 0, 0, [Extent(0, 0, len(packet))])
        for it in f.iloc.items:
            if it.item_id in removed:
                continue
            if reuse is not None and it.item_id == xmp_id:
                iloc.items.append(xmp_entry)
            else:
                iloc.items.append(
                    IlocItem(it.item_id, it.method, it.dref, it.base, list(it.extents))
                )
        if reuse is None:
            iloc.items.append(xmp_entry)

        iloc.length_size = max(iloc.length_size, _needed(len(packet)))
        # Try field sizes until every value fits.
        for _ in range(12):  # each pass only grows a field or the version: few passes
            dummy = _build_iloc(iloc)
            pieces, iloc_piece, xmp_piece = self._pieces(
                data, f, work, cuts, len(dummy), new_iinf, new_iref, new_ipma, packet
            )
            mapper = _Mapper(pieces)
            final = self._remap(data, f, iloc, mapper, xmp_id, xmp_piece.new)
            grown = False
            for attr, key in (
                ("base_size", "base"),
                ("offset_size", "offset"),
                ("length_size", "length"),
                ("index_size", "index"),
            ):
                need = max((_needed(v) for v in _values(final, key)), default=0)
                if need > getattr(iloc, attr):
                    setattr(iloc, attr, need)
                    grown = True
            if iloc.version == 1 or (iloc.version == 2 and iloc.index_size):
                # c2pa-rs reads each extent_index with base_offset_size bytes: keep the two
                # sizes equal (extent_index only matters for construction_method 2)
                both = max(iloc.base_size, iloc.index_size)
                if (iloc.base_size, iloc.index_size) != (both, both):
                    iloc.base_size = iloc.index_size = both
                    grown = True
            if grown:
                continue
            if any(it.method for it in final.items) and iloc.version == 0:
                iloc.version = 1
                continue
            iloc_piece.data = _build_iloc(final)
            assert len(iloc_piece.data) == iloc_piece.length
            self._patch_tracks(data, f, pieces, mapper)
            return self._assemble(work, pieces)
        raise MalformedInput("could not lay out the 'iloc' box")  # pragma: no cover

    def _old_packets(
        self, data: bytes, f: HeifFile, xmp_infos: list[ItemInfo], locs: dict[int, IlocItem]
    ) -> tuple[bytes, dict[int, list[tuple[int, int]]]]:
        """Plan the removal of old XMP bytes: ranges to cut per top-level ``mdat`` (keyed by
        its start) and a copy of ``data`` with the other old ranges zero-filled. Also blanks
        an AIGC record in the EXIF item's UserComment."""
        xmp_ids = {i.item_id for i in xmp_infos}
        others: list[tuple[int, int]] = []
        for other in f.iloc.items:
            if other.item_id not in xmp_ids:
                others.extend(_ranges(data, f, other) or [])
        others.extend((s, s + n) for s, n in _track_chunks(data, f))
        mdats = [b for b in f.top if b.type == b"mdat"]
        cuts: dict[int, list[tuple[int, int]]] = {}
        zero: list[tuple[int, int]] = []
        for info in xmp_infos:
            loc = locs.get(info.item_id)
            if loc is None:
                continue
            for s, t in _ranges(data, f, loc) or []:
                if t <= s or any(s < b and a < t for a, b in others):
                    continue
                home = None
                if loc.method == 0:
                    home = next((m for m in mdats if m.payload_start <= s and t <= m.end), None)
                if home is not None:
                    cuts.setdefault(home.start, []).append((s, t))
                else:
                    zero.append((s, t))
        work = bytearray(data)
        for s, t in zero:
            work[s:t] = bytes(t - s)
        for info in f.infos:
            exif = locs.get(info.item_id)
            if info.item_type != b"Exif" or exif is None or exif.method not in (0, 1):
                continue
            rs = _ranges(data, f, exif)
            if not rs or len(rs) != 1:
                continue
            s, t = rs[0]
            if t - s < 4:
                continue
            skip = 4 + struct.unpack_from(">I", data, s)[0]
            if s + skip >= t:
                continue
            blanked = _exif.blank_user_comment_record(bytes(work[s + skip : t]))
            if blanked is not None:
                work[s + skip : t] = blanked
        return bytes(work), cuts

    def _pieces(
        self,
        data: bytes,
        f: HeifFile,
        work: bytes,
        cuts: dict[int, list[tuple[int, int]]],
        iloc_len: int,
        new_iinf: bytes | None,
        new_iref: bytes | None,
        new_ipma: dict[int, bytes],
        packet: bytes,
    ) -> tuple[list[_Piece], _Piece, _Piece]:
        pieces: list[_Piece] = []
        iloc_piece = _Piece(iloc_len)
        # (index of its header piece, box, kept payload size) while the last box emitted is
        # an mdat
        last_mdat: tuple[int, bm.Box, int] | None = None
        for box in f.top:
            if box is f.meta:
                kids: list[_Piece] = [_Piece(4, old=box.payload_start)]
                for k in f.kids:
                    if k is f.iloc_box:
                        kids.append(iloc_piece)
                    elif k is f.iinf_box and new_iinf is not None:
                        kids.append(_new(new_iinf))
                    elif k is f.iref_box and new_iref is not None:
                        kids.append(_new(new_iref))
                    elif k is f.iprp and new_ipma:
                        sub = bm.children(data, k)
                        inner = [
                            _new(new_ipma[s.start]) if s.start in new_ipma else _copy(s)
                            for s in sub
                        ]
                        size = sum(p.length for p in inner)
                        pieces_iprp = [_new(bm.box_header(b"iprp", size, large=k.largesize))]
                        kids.extend(pieces_iprp + inner)
                    else:
                        kids.append(_copy(k))
                    if k is f.iinf_box and f.iref_box is None and new_iref is not None:
                        kids.append(_new(new_iref))
                size = sum(p.length for p in kids)
                pieces.append(_new(bm.box_header(b"meta", size, large=box.largesize)))
                pieces.extend(kids)
            elif box.type == b"mdat":
                keep = _mdat_payload(box, cuts.get(box.start, []))
                if not keep and box.start in cuts:
                    continue  # the mdat held nothing but the old packet(s)
                size = sum(p.length for p in keep)
                pieces.append(_new(bm.box_header(b"mdat", size, large=box.largesize)))
                pieces.extend(keep)
                last_mdat = (len(pieces) - len(keep) - 1, box, size)
                continue
            elif box.to_end:
                pieces.append(
                    _new(
                        bm.box_header(
                            box.type, box.payload_size, usertype=box.usertype, large=box.largesize
                        )
                    )
                )
                pieces.append(_Piece(box.payload_size, old=box.payload_start))
            else:
                pieces.append(_copy(box))
            last_mdat = None
        if f.iinf_box is None:  # pragma: no cover - checked by the caller
            raise MalformedInput("no 'iinf'")
        xmp_piece = _new(packet)
        if last_mdat is not None:  # grow the file's last box, an mdat, by the packet
            at, box, size = last_mdat
            pieces[at] = _new(bm.box_header(b"mdat", size + len(packet), large=box.largesize))
        else:  # something else ends the file: the packet gets an mdat of its own
            pieces.append(_new(bm.box_header(b"mdat", len(packet))))
        pieces.append(xmp_piece)
        return pieces, iloc_piece, xmp_piece

    def _remap(
        self, data: bytes, f: HeifFile, iloc: Iloc, mapper: _Mapper, xmp_id: int, xmp_at: int
    ) -> Iloc:
        out = replace(iloc, items=[])
        for it in iloc.items:
            if it.item_id == xmp_id:
                if iloc.base_size:  # see "iloc base offsets" in the module doc
                    out.items.append(
                        IlocItem(xmp_id, 0, 0, xmp_at, [Extent(0, 0, it.extents[0].length)])
                    )
                else:
                    out.items.append(
                        IlocItem(xmp_id, 0, 0, 0, [Extent(0, xmp_at, it.extents[0].length)])
                    )
                continue
            if it.method != 0 or it.dref != 0 or not it.extents:
                out.items.append(it)
                continue
            news: list[int] = []
            lengths: list[int] = []
            for e in it.extents:
                s = it.base + e.offset
                n = e.length if e.length else len(data) - s
                m = mapper.map(s, n)
                if m is None:
                    raise MalformedInput(
                        f"item {it.item_id} data overlaps rewritten boxes", offset=s
                    )
                news.append(m)
                lengths.append(n)
            deltas = {m - (it.base + e.offset) for m, e in zip(news, it.extents, strict=True)}
            if it.base and len(deltas) == 1 and it.base + next(iter(deltas)) > 0:
                base = it.base + next(iter(deltas))  # the same split, moved
            elif iloc.base_size:  # see "iloc base offsets" in the module doc
                base = min(news)
            else:
                base = 0
            offs = [m - base for m in news]
            ext = [
                Extent(e.index, o, e.length if e.length else n)
                for e, o, n in zip(it.extents, offs, lengths, strict=True)
            ]
            out.items.append(IlocItem(it.item_id, it.method, it.dref, base, ext))
        return out

    def _patch_tracks(
        self, data: bytes, f: HeifFile, pieces: list[_Piece], mapper: _Mapper
    ) -> None:
        for box in f.top:
            if box.type != b"moov":
                continue
            piece = next((p for p in pieces if p.old == box.start and p.length == box.size), None)
            if piece is None:  # pragma: no cover - moov is always copied whole
                raise MalformedInput("'moov' could not be kept", offset=box.start)
            for path, b in bm.walk(data, box.payload_start, box.end, descend=_track_descend):
                if b.type not in (b"stco", b"co64") or path[-1:] != (b"stbl",):
                    continue
                table = bm.chunk_offsets(data, b)
                width = 8 if table.wide else 4
                for i, off in enumerate(table.offsets):
                    new = mapper.map(off, 1 if off < len(data) else 0)
                    if new is None:
                        raise MalformedInput("track chunk lies in rewritten boxes", offset=off)
                    if new == off:
                        continue
                    if not bm.fits(new, width):
                        raise LimitExceeded("track chunk offset no longer fits 'stco'")
                    piece.patches.append((table.first_entry + i * width, bm.uint_bytes(new, width)))

    def _assemble(self, work: bytes, pieces: list[_Piece]) -> bytes:
        out = bytearray()
        for p in pieces:
            if p.old is None:
                assert p.data is not None and len(p.data) == p.length
                out += p.data
                continue
            start = len(out)
            out += work[p.old : p.old + p.length]
            for pos, b in p.patches:
                rel = start + pos - p.old
                out[rel : rel + len(b)] = b
        return bytes(out)


def _values(iloc: Iloc, key: str) -> list[int]:
    if key == "base":
        return [it.base for it in iloc.items]
    if key == "index":
        return [e.index for it in iloc.items for e in it.extents] if iloc.version else []
    return [getattr(e, key) for it in iloc.items for e in it.extents]


HANDLER: FormatHandler = HeifHandler()  # mypy checks the protocol statically
