"""MP4 / MOV / M4V / 3GP and M4A (ISO BMFF, QuickTime): the AIGC record as an ``mdta`` key.

Carrier written (spec §5.2/§5.3): ``moov/udta/meta`` (FullBox) holding ``hdlr`` (handler
``mdta``), ``keys`` (``mdta`` namespace, key ``AIGC``) and ``ilst`` with one item whose type is
the key's 1-based index, holding a ``data`` box of type 1 (UTF-8), locale 0 and the record JSON.
The bytes are the ones ``ffmpeg -metadata AIGC=... -movflags use_metadata_tags -c copy``
writes. Where an ``mdta`` meta already exists (``udta/meta`` first, else the QuickTime-style
``moov/meta`` that Apple devices write), the key is added to it: other keys and items are kept,
an existing ``AIGC`` key is reused (its item replaced), duplicate ``AIGC`` keys are removed and
the remaining items renumbered. An iTunes-style ``mdir`` meta (what ffmpeg writes without
``use_metadata_tags``: ``©nam``, ``©too`` ...) is left as it is and the ``mdta`` meta is added
next to it in ``udta``; ffprobe and ExifTool read both. Other AIGC copies are removed (the
one-record rule): ``AIGC`` keys of other ``mdta`` metas, ``mdir`` items that hold nothing but a
record (fourcc ``AIGC``, freeform ``----``/``AIGC``, or a text item whose whole value is a
record) and the ``TC260:AIGC`` property of XMP packets (the packet keeps its length: the removed
text becomes padding).

Layout: only ``moov`` (and an XMP ``uuid`` box that loses a record) changes; media data is
copied byte for byte (in chunks when streaming). When ``moov`` grows or shrinks and something
follows it, a ``free``/``skip`` box next to it absorbs the change when it can (it must keep at
least 8 bytes or vanish exactly); a shrinking ``moov`` with no ``free`` neighbour gets a new
``free`` box of the difference (when that is at least 8 bytes). Otherwise the boxes after
``moov`` move, and every file offset is remapped from the old layout to the new one:
``stco``/``co64`` chunk offsets of all self-contained tracks (``stco`` is promoted to ``co64``
when an offset no longer fits 32 bits), ``saio`` offsets in sample tables, explicit
``tfhd`` base data offsets of movie fragments and ``tfra`` moof offsets in ``mfra``. ``sidx``
references are relative and are checked to stay valid; fragments whose data would move
relative to a moof-relative base, ``sidx`` ranges that would change and top-level ``meta``
item locations that would move are refused with :class:`UnsupportedFormat`, as are compressed
movie headers (``cmov``). A fast-start file stays fast-start; a ``moov`` at the end is
rewritten in place at the end and no offset changes.

Content digest ``synthlabel.mp4.v1``: SHA-256 over ``"synthlabel.mp4.v1\\0"``, then for each
track in ``moov`` order ``"stsd"`` + uint64 length + the raw ``stsd`` box (sample descriptions:
codec and its configuration), then for each top-level ``mdat`` in file order ``"mdat"`` +
uint64 payload length + the payload. Metadata (``udta``, ``meta``, ``uuid``, ``free``) and
chunk offsets are left out, so a label write never changes it; re-encoding or remuxing does.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field

from synthlabel.errors import LimitExceeded, MalformedInput, UnsupportedFormat
from synthlabel.formats import _bmff as bm
from synthlabel.formats import _limits, _xmp
from synthlabel.formats._media_io import (
    Copy,
    Mapper,
    New,
    Piece,
    PlannedIO,
    Source,
)
from synthlabel.formats.base import (
    Carrier,
    ContainerMetadata,
    ContentDigest,
    FormatHandler,
    LabelWrite,
    MediaKind,
)
from synthlabel.formats.heif import BRANDS as HEIF_BRANDS

SELECTOR = "synthlabel.mp4.v1"

XMP_UUID = bytes.fromhex("BE7ACFCB97A942E89C71999491E3AFAC")
C2PA_UUID = bytes.fromhex("D8FEC3D61B0E483C92975828877EC481")

#: ftyp brands of audio-only MPEG-4 files (iTunes audio, audio books, Flash audio).
AUDIO_BRANDS: frozenset[bytes] = frozenset({b"M4A ", b"M4B ", b"M4P ", b"F4A ", b"F4B "})
#: Brands that mark a file as video even when it also lists an audio brand.
VIDEO_BRANDS: frozenset[bytes] = frozenset({b"M4V ", b"M4VH", b"M4VP", b"F4V ", b"F4P ", b"qt  "})
#: First boxes of QuickTime files written without ``ftyp``.
LEGACY_FIRST: frozenset[bytes] = frozenset({b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"})
FREE_TYPES: frozenset[bytes] = frozenset({b"free", b"skip"})

#: Largest ``moov`` we load (a many-hour movie has a few tens of MiB of sample tables).
MAX_MOOV_BYTES = 256 * 1024 * 1024
#: Largest other structural box we load (``moof``, ``mfra``, ``sidx``, top-level ``meta``).
MAX_BOX_BYTES = 64 * 1024 * 1024
#: Most top-level boxes (a fragmented file has two per fragment).
MAX_TOP_BOXES = 2_000_000
#: Most ``keys`` entries in one ``meta``.
MAX_KEYS = 100_000

_KNOWN_KEYS = ("Label", "ContentProducer", "ProduceID", "ContentPropagator", "PropagateID")
_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")


# --- top-level boxes ---------------------------------------------------------------------------


def _header(head: bytes, pos: int, limit: int) -> bm.Box:
    """The box header in ``head`` (the bytes at ``pos``); the box must end by ``limit``."""
    if len(head) < 8:
        raise MalformedInput("truncated box header", offset=pos)
    size, btype = struct.unpack_from(">I4s", head, 0)
    hs = 8
    large = to_end = False
    if size == 1:
        if len(head) < 16:
            raise MalformedInput("truncated 64-bit box size", offset=pos)
        size = _U64.unpack_from(head, 8)[0]
        hs = 16
        large = True
    elif size == 0:
        size = limit - pos
        to_end = True
    usertype = b""
    if btype == b"uuid":
        if len(head) < hs + 16:
            raise MalformedInput("truncated uuid box header", offset=pos)
        usertype = bytes(head[hs : hs + 16])
        hs += 16
    name = _name(btype)
    if size < hs:
        raise MalformedInput(f"box '{name}' size {size} smaller than its header", offset=pos)
    if pos + size > limit:
        raise MalformedInput(
            f"box '{name}' ({size} bytes) runs past the end of the file (truncated?)", offset=pos
        )
    return bm.Box(bytes(btype), pos, size, hs, usertype, large, to_end)


def _name(btype: bytes) -> str:
    return "".join(chr(b) if 32 <= b < 127 else "?" for b in btype)


def _top_boxes(src: Source) -> list[bm.Box]:
    out: list[bm.Box] = []
    budget = bm.Budget(MAX_TOP_BOXES, "top-level boxes")
    pos = 0
    while pos < src.size:
        left = src.size - pos
        if left < 8:
            if not any(src.read(pos, left)):
                break
            raise MalformedInput("trailing bytes after the last box", offset=pos)
        budget.tick(pos)
        box = _header(src.read_upto(pos, 40), pos, src.size)
        out.append(box)
        pos = box.end
    return out


def _load(src: Source, box: bm.Box, limit: int = MAX_BOX_BYTES) -> bytes:
    if box.size > limit:
        raise LimitExceeded(f"'{box.name}' box of {box.size} bytes", offset=box.start)
    return src.read(box.start, box.size, f"'{box.name}' box")


def _brands(head: bytes) -> tuple[bytes, list[bytes]] | None:
    if len(head) < 12 or head[4:8] != b"ftyp":
        return None
    size = _U32.unpack_from(head, 0)[0]
    end = min(size, len(head)) if size >= 16 else min(16, len(head))
    return bytes(head[8:12]), [bytes(head[i : i + 4]) for i in range(16, end - 3, 4)]


def classify(head: bytes) -> str | None:
    """``"audio"`` (M4A family), ``"video"`` (other MP4/QuickTime) or ``None`` (not ours: no
    ISO BMFF header, or a HEIF/AVIF image brand)."""
    b = _brands(head)
    if b is None:
        if len(head) >= 8 and head[4:8] in LEGACY_FIRST:
            size = _U32.unpack_from(head, 0)[0]
            return "video" if size in (0, 1) or size >= 8 else None
        return None
    major, compat = b
    if major in HEIF_BRANDS or any(c in HEIF_BRANDS for c in compat):
        return None
    if major in AUDIO_BRANDS:
        return "audio"
    if (
        major not in VIDEO_BRANDS
        and any(c in AUDIO_BRANDS for c in compat)
        and not any(c in VIDEO_BRANDS for c in compat)
    ):
        return "audio"
    return "video"


# --- moov model -----------------------------------------------------------------------------


@dataclass(slots=True)
class _Meta:
    box: bm.Box  # in moov-buffer coordinates
    where: str  # "moov/udta/meta" or "moov/meta"
    in_udta: bool
    kids: list[bm.Box]
    handler: bytes
    keys_box: bm.Box | None
    keys: list[tuple[bytes, bytes, bytes]]  # (namespace, name, raw entry)
    ilst_box: bm.Box | None
    items: list[bm.Box]

    def aigc_indexes(self) -> list[int]:
        return [i for i, (_, name, _) in enumerate(self.keys, 1) if _is_aigc_name(name)]


@dataclass(slots=True)
class _Track:
    trak: bm.Box
    handler: bytes = b""
    stsd: bm.Box | None = None
    stsz: bm.Box | None = None
    tables: list[bm.Box] = field(default_factory=list)  # stco / co64
    saio: list[bm.Box] = field(default_factory=list)
    #: sample data in another file (dref): True; in this file: False; both: None
    external: bool | None = False


@dataclass(slots=True)
class _Movie:
    top: list[bm.Box]
    moov: bm.Box  # absolute
    buf: bytes  # the moov box; boxes below use offsets into it
    root: bm.Box
    kids: list[bm.Box]
    udta: list[bm.Box]
    metas: list[_Meta]
    tracks: list[_Track]
    xmp: list[tuple[bm.Box, str]]  # XMP boxes inside moov (udta/XMP_, moov/uuid)
    compressed: bool

    def abs(self, rel: int) -> int:
        return self.moov.start + rel


def _is_aigc_name(name: bytes) -> bool:
    return name.rstrip(b"\x00").strip().lower() == b"aigc"


def _parse_meta(buf: bytes, box: bm.Box, where: str, budget: bm.Budget) -> _Meta:
    skip = bm.meta_skip(buf, box)
    kids = bm.children(buf, box, skip, budget=budget)
    handler = b""
    hdlr = bm.find(kids, b"hdlr")
    if hdlr is not None:
        c = bm.Cursor(buf, hdlr.payload_start, hdlr.end, "hdlr")
        c.take(8)
        handler = c.take(4)
    keys_box = bm.find(kids, b"keys")
    keys: list[tuple[bytes, bytes, bytes]] = []
    if keys_box is not None:
        _, _, p = bm.full_box(buf, keys_box)
        c = bm.Cursor(buf, p, keys_box.end, "keys")
        count = c.u32()
        if count > MAX_KEYS:
            raise LimitExceeded(f"'keys' lists {count} keys", offset=keys_box.start)
        for _ in range(count):
            at = c.pos
            size = c.u32()
            if size < 8:
                raise MalformedInput("'keys' entry shorter than 8 bytes", offset=at)
            ns = c.take(4)
            name = c.take(size - 8)
            keys.append((ns, name, buf[at : c.pos]))
    ilst_box = bm.find(kids, b"ilst")
    items = bm.children(buf, ilst_box, budget=budget) if ilst_box is not None else []
    return _Meta(
        box, where, where.endswith("udta/meta"), kids, handler, keys_box, keys, ilst_box, items
    )


def _parse_track(buf: bytes, trak: bm.Box, budget: bm.Budget) -> _Track:
    t = _Track(trak)
    mdia = bm.find(bm.children(buf, trak, budget=budget), b"mdia")
    if mdia is None:
        return t
    mk = bm.children(buf, mdia, budget=budget)
    hdlr = bm.find(mk, b"hdlr")
    if hdlr is not None and hdlr.payload_size >= 12:
        t.handler = buf[hdlr.payload_start + 8 : hdlr.payload_start + 12]
    minf = bm.find(mk, b"minf")
    if minf is None:
        return t
    fk = bm.children(buf, minf, budget=budget)
    stbl = bm.find(fk, b"stbl")
    self_contained: list[bool] = []
    dinf = bm.find(fk, b"dinf")
    if dinf is not None:
        dref = bm.find(bm.children(buf, dinf, budget=budget), b"dref")
        if dref is not None:
            _, _, p = bm.full_box(buf, dref)
            c = bm.Cursor(buf, p, dref.end, "dref")
            c.u32()
            for e in bm.iter_boxes(buf, c.pos, dref.end, budget=budget):
                _, dflags, _ = bm.full_box(buf, e)
                self_contained.append(bool(dflags & 1))
    if stbl is None:
        return t
    for k in bm.children(buf, stbl, budget=budget):
        if k.type == b"stsd" and t.stsd is None:
            t.stsd = k
        elif k.type in (b"stsz", b"stz2") and t.stsz is None:
            t.stsz = k
        elif k.type in (b"stco", b"co64"):
            t.tables.append(k)
        elif k.type == b"saio":
            t.saio.append(k)
    if t.stsd is not None and self_contained and not all(self_contained):
        used: set[int] = set()
        _, _, p = bm.full_box(buf, t.stsd)
        c = bm.Cursor(buf, p, t.stsd.end, "stsd")
        c.u32()
        for e in bm.iter_boxes(buf, c.pos, t.stsd.end, budget=budget):
            if e.payload_size >= 8:
                used.add(struct.unpack_from(">H", buf, e.payload_start + 6)[0])
        inside = [self_contained[i - 1] for i in used if 1 <= i <= len(self_contained)]
        if inside and not any(inside):
            t.external = True
        elif inside and not all(inside):
            t.external = None  # mixed: refused by the writer when offsets move
    return t


def _parse(src: Source) -> _Movie:
    top = _top_boxes(src)
    moovs = [b for b in top if b.type == b"moov"]
    if not moovs:
        raise MalformedInput("no 'moov' box (truncated file or not a movie)")
    if len(moovs) > 1:
        raise MalformedInput("more than one 'moov' box", offset=moovs[1].start)
    moov = moovs[0]
    buf = _load(src, moov, MAX_MOOV_BYTES)
    root = bm.box_at(buf, 0, len(buf))
    budget = bm.Budget()
    kids = bm.children(buf, root, budget=budget)
    udta = [k for k in kids if k.type == b"udta"]
    metas: list[_Meta] = []
    xmp: list[tuple[bm.Box, str]] = []
    tracks: list[_Track] = []
    for k in kids:
        if k.type == b"meta":
            metas.append(_parse_meta(buf, k, "moov/meta", budget))
        elif k.type == b"trak":
            tracks.append(_parse_track(buf, k, budget))
        elif k.type == b"uuid" and k.usertype == XMP_UUID:
            xmp.append((k, "moov/uuid XMP"))
    for u in udta:
        for k in bm.children(buf, u, budget=budget):
            if k.type == b"meta":
                metas.append(_parse_meta(buf, k, "moov/udta/meta", budget))
            elif k.type == b"XMP_":
                xmp.append((k, "moov/udta/XMP_"))
    compressed = any(k.type == b"cmov" for k in kids)
    return _Movie(top, moov, buf, root, kids, udta, metas, tracks, xmp, compressed)


# --- ilst items ----------------------------------------------------------------------------------


def _item_data(buf: bytes, item: bm.Box) -> tuple[int, bytes, int] | None:
    """``(type indicator, value, value offset)`` of an item's first ``data`` box."""
    try:
        for k in bm.iter_boxes(buf, item.payload_start, item.end, budget=bm.Budget(1000)):
            if k.type == b"data":
                c = bm.Cursor(buf, k.payload_start, k.end, "data")
                kind = c.u32() & 0xFFFFFF
                c.u32()
                at = c.pos
                return kind, c.take(c.left), at
    except (MalformedInput, LimitExceeded):
        return None
    return None


def _freeform_name(buf: bytes, item: bm.Box) -> bytes | None:
    try:
        for k in bm.iter_boxes(buf, item.payload_start, item.end, budget=bm.Budget(1000)):
            if k.type == b"name" and k.payload_size >= 4:
                return buf[k.payload_start + 4 : k.end]
    except (MalformedInput, LimitExceeded):
        return None
    return None


def _text(kind: int, value: bytes) -> bytes | None:
    """A text value as UTF-8 (types 1/4 UTF-8, 2/5 UTF-16, 0 implicit), else None."""
    if kind in (1, 4, 0):
        return value.rstrip(b"\x00")
    if kind in (2, 5):
        try:
            return value.decode("utf-16-be").rstrip("\x00").encode("utf-8")
        except UnicodeDecodeError:
            return None
    return None


def _is_record(value: bytes) -> bool:
    """True when a text value is nothing but an AIGC record (flat, wrapped or ``AIGC{...}``)."""
    s = value.strip(b"\x00 \t\r\n")
    if s[:5] == b"AIGC{":
        s = s[4:]
    if not s.startswith(b"{") or len(s) > _limits.MAX_METADATA_BYTES:
        return False
    try:
        obj = json.loads(s)
    except (ValueError, RecursionError):
        return False
    if not isinstance(obj, dict):
        return False
    inner = obj.get("AIGC")
    if isinstance(inner, dict):
        obj = inner
    return sum(k in obj for k in _KNOWN_KEYS) >= 2


def _mdir_record_item(buf: bytes, item: bm.Box) -> bytes | None:
    """The record text of an iTunes-style item that carries one, else None."""
    d = _item_data(buf, item)
    text = _text(d[0], d[1]) if d is not None else None
    if text is None:
        return None
    if item.type == b"AIGC":
        return text
    if item.type == b"----":
        name = _freeform_name(buf, item)
        if name is not None and _is_aigc_name(name):
            return text
    return text if _is_record(text) else None


def _aigc_items(mv: _Movie, m: _Meta) -> Iterator[tuple[bm.Box, bytes | None]]:
    """Items of ``m`` that carry a record, with their text (None: unreadable value)."""
    if m.handler == b"mdta" or m.keys_box is not None:
        idx = set(m.aigc_indexes())
        for it in m.items:
            if _U32.unpack(it.type)[0] in idx:
                d = _item_data(mv.buf, it)
                yield it, (_text(d[0], d[1]) if d is not None else None)
    else:
        for it in m.items:
            text = _mdir_record_item(mv.buf, it)
            if text is not None:
                yield it, text


# --- writing helpers -----------------------------------------------------------------------------


def _data_box(value: bytes) -> bytes:
    return bm.make_box(b"data", _U32.pack(1) + _U32.pack(0) + value)


def _key_entry(name: bytes = b"AIGC") -> bytes:
    return _U32.pack(8 + len(name)) + b"mdta" + name


def new_meta(value: bytes) -> bytes:
    """A ``meta`` box holding only the AIGC key, as ffmpeg's ``use_metadata_tags`` writes it."""
    hdlr = bm.make_full_box(b"hdlr", 0, 0, bytes(4) + b"mdta" + bytes(12) + b"\x00")
    keys = bm.make_full_box(b"keys", 0, 0, _U32.pack(1) + _key_entry())
    ilst = bm.make_box(b"ilst", bm.make_box(_U32.pack(1), _data_box(value)))
    return bm.make_full_box(b"meta", 0, 0, hdlr + keys + ilst)


def _rebuild_mdta(buf: bytes, m: _Meta, value: bytes | None) -> bytes:
    """``m`` with its AIGC key set to ``value`` (or removed when ``value`` is None)."""
    aigc = m.aigc_indexes()
    keep = aigc[0] if (value is not None and aigc) else None
    drop = set(aigc) - {keep}
    renum: dict[int, int] = {}
    entries: list[bytes] = []
    for i, (_, _, raw) in enumerate(m.keys, 1):
        if i in drop:
            continue
        entries.append(raw)
        renum[i] = len(entries)
    new_index = 0
    if value is not None:
        if keep is None:
            entries.append(_key_entry())
            new_index = len(entries)
        else:
            new_index = renum[keep]
    items: list[bytes] = []
    placed = False
    for it in m.items:
        idx = _U32.unpack(it.type)[0]
        if 1 <= idx <= len(m.keys):
            if idx in drop:
                continue
            if value is not None and idx == keep:
                if not placed:
                    items.append(bm.make_box(_U32.pack(new_index), _data_box(value)))
                    placed = True
                continue
            if renum[idx] != idx:
                items.append(
                    bm.box_header(_U32.pack(renum[idx]), it.payload_size, large=it.largesize)
                    + buf[it.payload_start : it.end]
                )
                continue
        items.append(buf[it.start : it.end])
    if value is not None and not placed:
        items.append(bm.make_box(_U32.pack(new_index), _data_box(value)))
    if m.keys_box is not None:
        vf = buf[m.keys_box.payload_start : m.keys_box.payload_start + 4]
    else:
        vf = bytes(4)
    keys = bm.make_box(b"keys", vf + _U32.pack(len(entries)) + b"".join(entries))
    ilst_body = b"".join(items)
    if m.ilst_box is not None:
        tail = buf[m.items[-1].end if m.items else m.ilst_box.payload_start : m.ilst_box.end]
        ilst = bm.box_header(b"ilst", len(ilst_body) + len(tail), large=m.ilst_box.largesize)
        ilst += ilst_body + tail
    else:
        ilst = bm.make_box(b"ilst", ilst_body)
    skip = bm.meta_skip(buf, m.box)
    parts = [buf[m.box.payload_start : m.box.payload_start + skip]]
    done_keys = done_ilst = False
    for k in m.kids:
        if k is m.keys_box:
            parts.append(keys)
            done_keys = True
        elif k is m.ilst_box:
            if not done_keys:
                parts.append(keys)
                done_keys = True
            parts.append(ilst)
            done_ilst = True
        else:
            parts.append(buf[k.start : k.end])
    if not done_keys:
        parts.append(keys)
    if not done_ilst:
        parts.append(ilst)
    last = m.kids[-1].end if m.kids else m.box.payload_start + skip
    parts.append(buf[last : m.box.end])
    body = b"".join(parts)
    return bm.box_header(b"meta", len(body), large=m.box.largesize) + body


def _rebuild_ilst_without(buf: bytes, m: _Meta, drop: set[int]) -> bytes:
    assert m.ilst_box is not None
    kept = [buf[it.start : it.end] for it in m.items if it.start not in drop]
    tail = buf[m.items[-1].end if m.items else m.ilst_box.payload_start : m.ilst_box.end]
    body = b"".join(kept) + tail
    return bm.box_header(b"ilst", len(body), large=m.ilst_box.largesize) + body


def strip_xmp_record(packet: bytes) -> bytes | None:
    """``packet`` without its ``TC260:AIGC`` property, padded to the same length (None when it
    has no record or the result would not be well-formed)."""
    fields = _xmp.read_fields(packet)
    if not fields.aigc:
        return None
    try:
        text = packet.decode("utf-8")
    except UnicodeDecodeError:
        return None
    stripped = _xmp.remove_aigc(text)
    out = stripped.encode("utf-8")
    if _xmp.read_fields(out).aigc or (fields.well_formed and not _xmp.read_fields(out).well_formed):
        return None
    pad = len(packet) - len(out)
    if pad > 0:
        at = out.rfind(b"<?xpacket end")
        at = len(out) if at < 0 else at
        out = out[:at] + b" " * pad + out[at:]
    return out


def _free(n: int) -> bytes:
    """A ``free`` box of exactly ``n`` bytes (``n`` is 0 or at least 8)."""
    if n == 0:
        return b""
    if n <= 0xFFFFFFFF:
        return _U32.pack(n) + b"free" + bytes(n - 8)
    return _U32.pack(1) + b"free" + _U64.pack(n) + bytes(n - 16)


def _rebuild(
    buf: bytes,
    box: bm.Box,
    edits: dict[int, bytes],
    appends: dict[int, list[bytes]],
    budget: bm.Budget,
) -> bytes:
    """``box`` with the boxes in ``edits`` (keyed by start) replaced, ``appends`` added as
    last children of their parent, and the sizes of all ancestors updated."""
    if box.start in edits:
        return edits[box.start]
    if not any(box.start <= k < box.end for k in appends) and not any(
        box.start < k < box.end for k in edits
    ):
        return buf[box.start : box.end]
    skip = bm.meta_skip(buf, box) if box.type == b"meta" else 0
    kids = bm.children(buf, box, skip, budget=budget)
    cs = box.payload_start + skip
    parts = [buf[box.payload_start : cs]]
    parts.extend(_rebuild(buf, k, edits, appends, budget) for k in kids)
    parts.extend(appends.get(box.start, []))
    parts.append(buf[kids[-1].end if kids else cs : box.end])
    body = b"".join(parts)
    return bm.box_header(box.type, len(body), usertype=box.usertype, large=box.largesize) + body


# --- fragments ------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Fix:
    """What a top-level box needs patched once the new layout is known."""

    box: bm.Box
    patches: list[tuple[int, int, int]] = field(default_factory=list)  # (abs pos, width, old)
    checks: list[tuple[int, int]] = field(default_factory=list)  # (anchor, target): same shift
    explicit: list[tuple[int, int]] = field(default_factory=list)  # (base, base + data_offset)


def _moof_fix(src: Source, box: bm.Box) -> _Fix:
    buf = _load(src, box)
    b0 = box.start
    fix = _Fix(box)
    local = bm.box_at(buf, 0, len(buf))
    budget = bm.Budget(100_000)
    for traf in bm.children(buf, local, budget=budget):
        if traf.type != b"traf":
            continue
        base: int | None = None
        explicit = False
        for k in bm.children(buf, traf, budget=budget):
            if k.type == b"tfhd":
                _, flags, p = bm.full_box(buf, k)
                c = bm.Cursor(buf, p, k.end, "tfhd")
                c.u32()
                if flags & 0x1:
                    at = c.pos
                    base = c.u64()
                    explicit = True
                    fix.patches.append((b0 + at, 8, base))
                else:
                    base = b0  # moof-relative (default-base-is-moof or first traf)
            elif k.type == b"trun" and base is not None:
                _, flags, p = bm.full_box(buf, k)
                c = bm.Cursor(buf, p, k.end, "trun")
                count = c.u32()
                if not count:
                    continue
                off = 0
                if flags & 0x1:
                    off = struct.unpack(">i", c.take(4))[0]
                if explicit:
                    fix.explicit.append((base, base + off))
                else:
                    fix.checks.append((b0, base + off))
    return fix


def _mfra_fix(src: Source, box: bm.Box) -> _Fix:
    buf = _load(src, box)
    fix = _Fix(box)
    local = bm.box_at(buf, 0, len(buf))
    for k in bm.children(buf, local, budget=bm.Budget(100_000)):
        if k.type != b"tfra":
            continue
        version, _, p = bm.full_box(buf, k)
        c = bm.Cursor(buf, p, k.end, "tfra")
        c.u32()
        w = c.u32()
        sizes = ((w >> 4) & 3) + 1 + ((w >> 2) & 3) + 1 + (w & 3) + 1
        count = c.u32()
        width = 8 if version == 1 else 4
        if count > bm.MAX_ENTRIES or count * (2 * width + sizes) > c.left:
            raise MalformedInput("bad 'tfra' table", offset=box.start + k.start)
        for _ in range(count):
            c.take(width)
            at = c.pos
            fix.patches.append((box.start + at, width, c.uint(width)))
            c.take(sizes)
    return fix


def _sidx_fix(src: Source, box: bm.Box) -> _Fix:
    buf = _load(src, box)
    local = bm.box_at(buf, 0, len(buf))
    version, _, p = bm.full_box(buf, local)
    c = bm.Cursor(buf, p, local.end, "sidx")
    c.u32()
    c.u32()
    width = 8 if version else 4
    c.uint(width)
    first = c.uint(width)
    c.u16()
    count = c.u16()
    fix = _Fix(box)
    anchor = box.end + first
    fix.checks.append((box.end, anchor))
    q = anchor
    for _ in range(count):
        q += c.u32() & 0x7FFFFFFF
        c.take(8)
        fix.checks.append((box.end, q))
    return fix


def _saio_entries(buf: bytes, box: bm.Box) -> tuple[int, int, list[int]]:
    """``(first entry offset, width, offsets)`` of a ``saio`` box."""
    version, flags, p = bm.full_box(buf, box)
    c = bm.Cursor(buf, p, box.end, "saio")
    if flags & 1:
        c.take(8)
    count = c.u32()
    width = 8 if version else 4
    if count > bm.MAX_ENTRIES or count * width > c.left:
        raise MalformedInput("bad 'saio' table", offset=box.start)
    first = c.pos
    return first, width, [c.uint(width) for _ in range(count)]


# --- the handler -------------------------------------------------------------------------------


class Mp4Handler(PlannedIO):
    """ISO BMFF / QuickTime movies (video); :data:`M4A_HANDLER` is the audio flavour."""

    container_name = "MP4"
    id = "mp4"
    name = "MP4/MOV (ISO BMFF, QuickTime)"
    media_kind = MediaKind.VIDEO
    extensions: tuple[str, ...] = ("mp4", "mov", "m4v", "3gp", "3g2", "qt")
    mime_types: tuple[str, ...] = (
        "video/mp4",
        "video/quicktime",
        "video/x-m4v",
        "video/3gpp",
        "video/3gpp2",
    )
    sniff_bytes = 64
    _kind = "video"

    def sniff(self, head: bytes) -> bool:
        return classify(head) == self._kind

    # -- read --

    def _read(self, src: Source) -> ContainerMetadata:
        mv = _parse(src)
        meta = ContainerMetadata(format_id=self.id)
        for m in mv.metas:
            for it, text in _aigc_items(mv, m):
                if text is None:
                    meta.warnings.append(f"{m.where}: AIGC item value is not text")
                    continue
                d = _item_data(mv.buf, it)
                where = mv.abs(it.payload_start if d is None else d[2])
                label = "keys 'AIGC'" if m.keys_box is not None else f"ilst '{_name(it.type)}'"
                meta.carriers.append(Carrier("aigc", where, text, f"{m.where} {label}"))
        for box, name in mv.xmp:
            meta.carriers.append(
                Carrier("xmp", mv.abs(box.payload_start), box.payload(mv.buf), name)
            )
        for box in mv.top:
            if box.type != b"uuid" or box.usertype not in (XMP_UUID, C2PA_UUID):
                continue
            limit = (
                _limits.MAX_C2PA_BYTES if box.usertype == C2PA_UUID else _limits.MAX_METADATA_BYTES
            )
            if box.payload_size > limit:
                meta.warnings.append(f"uuid box at {box.start} too large; not read")
                continue
            body = src.read(box.payload_start, box.payload_size, "uuid box")
            if box.usertype == XMP_UUID:
                meta.carriers.append(Carrier("xmp", box.payload_start, body, "uuid XMP"))
                continue
            c = bm.Cursor(body, 0, len(body), "C2PA uuid box")
            try:
                c.take(4)
                purpose = c.cstring()
                if purpose == b"manifest":
                    c.take(8)
                meta.carriers.append(
                    Carrier("c2pa", box.payload_start + c.pos, c.take(c.left), "C2PA uuid box")
                )
            except MalformedInput as exc:
                meta.warnings.append(f"C2PA uuid box: {exc.message}")
        if len(meta.of_kind("aigc")) > 1:
            meta.warnings.append("more than one AIGC record in the movie metadata")
        if mv.compressed:
            meta.warnings.append("compressed movie header ('cmov'): metadata not read")
        for t in mv.tracks:
            if t.handler == b"vide" and t.stsd is not None:
                self._video_info(mv.buf, t, meta)
                break
        return meta

    @staticmethod
    def _video_info(buf: bytes, t: _Track, meta: ContainerMetadata) -> None:
        assert t.stsd is not None
        p = t.stsd.payload_start + 8  # version/flags, entry_count
        if p + 8 + 28 <= t.stsd.end:
            meta.width, meta.height = struct.unpack_from(">HH", buf, p + 8 + 24)
        if t.stsz is not None:
            c = bm.Cursor(buf, t.stsz.payload_start + 4, t.stsz.end, "stsz")
            if t.stsz.type == b"stsz" and c.left >= 8:
                c.u32()
                meta.frames = c.u32()

    # -- digest --

    def _digest(self, src: Source) -> ContentDigest:
        mv = _parse(src)
        h = hashlib.sha256()
        h.update(SELECTOR.encode() + b"\x00")
        for t in mv.tracks:
            if t.stsd is None:
                h.update(b"nostsd")
                continue
            raw = t.stsd.raw(mv.buf)
            h.update(b"stsd" + _U64.pack(len(raw)) + raw)
        for box in mv.top:
            if box.type == b"mdat":
                h.update(b"mdat" + _U64.pack(box.payload_size))
                for chunk in src.chunks(box.payload_start, box.payload_size):
                    h.update(chunk)
        return ContentDigest(SELECTOR, "sha256", h.digest())

    # -- write --

    def _plan(self, src: Source, label: LabelWrite) -> list[Piece]:
        value = label.aigc_json.encode("utf-8")
        if len(value) > _limits.MAX_METADATA_BYTES:
            raise LimitExceeded(f"AIGC record too large ({len(value)} bytes)")
        mv = _parse(src)
        if mv.compressed:
            raise UnsupportedFormat("compressed movie header ('cmov') cannot be edited")
        buf = mv.buf
        edits: dict[int, bytes] = {}
        appends: dict[int, list[bytes]] = {}

        # the record: one AIGC key in one mdta meta
        mdta = [m for m in mv.metas if m.handler == b"mdta" or m.keys_box is not None]
        holders = [m for m in mdta if m.aigc_indexes()]
        target = (
            holders[0]
            if holders
            else next((m for m in mdta if m.in_udta), mdta[0] if mdta else None)
        )
        for m in mdta:
            if m is target:
                edits[m.box.start] = _rebuild_mdta(buf, m, value)
            elif m.aigc_indexes():
                edits[m.box.start] = _rebuild_mdta(buf, m, None)
        for m in mv.metas:
            if m in mdta or m.ilst_box is None:
                continue
            drop = {it.start for it, _ in _aigc_items(mv, m)}
            if drop:
                edits[m.ilst_box.start] = _rebuild_ilst_without(buf, m, drop)
        if target is None:
            if mv.udta:
                appends[mv.udta[0].start] = [new_meta(value)]
            else:
                appends[mv.root.start] = [bm.make_box(b"udta", new_meta(value))]
        for box, _ in mv.xmp:
            packet = strip_xmp_record(box.payload(buf))
            if packet is not None:
                edits[box.start] = buf[box.start : box.payload_start] + packet
        top_new: dict[int, bytes] = {}
        for box in mv.top:
            if box.type == b"uuid" and box.usertype == XMP_UUID:
                if box.payload_size > _limits.MAX_METADATA_BYTES:
                    continue
                packet = strip_xmp_record(src.read(box.payload_start, box.payload_size))
                if packet is not None:
                    top_new[box.start] = src.read(box.start, box.header_size) + packet

        # structures whose file offsets follow the layout
        fixes: list[_Fix] = []
        for box in mv.top:
            if box.type == b"moof":
                fixes.append(_moof_fix(src, box))
            elif box.type == b"mfra":
                fixes.append(_mfra_fix(src, box))
            elif box.type == b"sidx":
                fixes.append(_sidx_fix(src, box))
        has_iloc = any(box.type == b"meta" and self._has_iloc(src, box) for box in mv.top)
        tables: list[tuple[_Track, bm.Box, bm.ChunkOffsets]] = []
        saios: list[tuple[_Track, bm.Box, tuple[int, int, list[int]]]] = []
        for t in mv.tracks:
            for tb in t.tables:
                tables.append((t, tb, bm.chunk_offsets(buf, tb)))
            for sb in t.saio:
                saios.append((t, sb, _saio_entries(buf, sb)))

        promote: set[int] = set()
        for _ in range(4):
            work = dict(edits)
            for _, tb, co in tables:
                if tb.start in promote:
                    work[tb.start] = self._co64(buf, tb, [0] * len(co.offsets))
            moov_len = len(_rebuild(buf, mv.root, work, appends, bm.Budget()))
            pieces, moov_at = self._layout(mv, moov_len, top_new)
            mapper = Mapper(pieces, src.size)
            grown = False
            final = dict(edits)
            for t, tb, co in tables:
                new = self._map_all(mapper, t, co.offsets, "chunk offset")
                if new is None:
                    continue
                if tb.start in promote or co.wide:
                    final[tb.start] = (
                        self._co64(buf, tb, new)
                        if tb.start in promote
                        else self._patch(buf, tb, co.first_entry, 8, new)
                    )
                elif max(new, default=0) > 0xFFFFFFFF:
                    promote.add(tb.start)
                    grown = True
                else:
                    final[tb.start] = self._patch(buf, tb, co.first_entry, 4, new)
            if grown:
                continue
            for t, sb, (first, width, offs) in saios:
                new = self._map_all(mapper, t, offs, "'saio' offset")
                if new is None:
                    continue
                if width == 4 and max(new, default=0) > 0xFFFFFFFF:
                    raise UnsupportedFormat("a 'saio' offset would no longer fit 32 bits")
                final[sb.start] = self._patch(buf, sb, first, width, new)
            moov = _rebuild(buf, mv.root, final, appends, bm.Budget())
            if len(moov) != moov_len:  # pragma: no cover - layout invariant
                raise AssertionError("moov size changed after layout")
            pieces[moov_at] = New(moov)
            if has_iloc and not mapper.identity:
                raise UnsupportedFormat(
                    "a top-level 'meta' box locates items by file offset; moving them is not "
                    "supported"
                )
            self._apply_fixes(pieces, mapper, fixes)
            return pieces
        raise UnsupportedFormat("could not lay out the movie header")  # pragma: no cover

    @staticmethod
    def _has_iloc(src: Source, box: bm.Box) -> bool:
        buf = _load(src, box)
        local = bm.box_at(buf, 0, len(buf))
        kids = bm.children(buf, local, bm.meta_skip(buf, local), budget=bm.Budget(10_000))
        return bm.find(kids, b"iloc") is not None

    @staticmethod
    def _map_all(
        mapper: Mapper, t: _Track, offsets: list[int] | tuple[int, ...], what: str
    ) -> list[int] | None:
        """The new offsets, or None when nothing changes (identity layout, external data)."""
        if mapper.identity or t.external is True:
            return None
        if t.external is None:
            raise UnsupportedFormat(
                "a track mixes sample data in this file and in other files; offsets cannot be "
                "moved safely"
            )
        out: list[int] = []
        for o in offsets:
            m = mapper.map(o)
            if m is None:
                raise MalformedInput(f"{what} {o} does not point into the media data", offset=o)
            out.append(m)
        return out

    @staticmethod
    def _patch(buf: bytes, box: bm.Box, first: int, width: int, values: list[int]) -> bytes:
        fmt = ">" + ("Q" if width == 8 else "I") * len(values)
        raw = bytearray(buf[box.start : box.end])
        rel = first - box.start
        raw[rel : rel + width * len(values)] = struct.pack(fmt, *values)
        return bytes(raw)

    @staticmethod
    def _co64(buf: bytes, box: bm.Box, values: list[int]) -> bytes:
        vf = buf[box.payload_start : box.payload_start + 4]
        body = vf + _U32.pack(len(values)) + struct.pack(">" + "Q" * len(values), *values)
        return bm.make_box(b"co64", body)

    @staticmethod
    def _layout(mv: _Movie, moov_len: int, top_new: dict[int, bytes]) -> tuple[list[Piece], int]:
        top = mv.top
        i = next(k for k, b in enumerate(top) if b is mv.moov)
        delta = moov_len - mv.moov.size
        after = i + 1 < len(top)
        nxt = (
            top[i + 1]
            if after and top[i + 1].type in FREE_TYPES and not top[i + 1].to_end
            else None
        )
        prv = top[i - 1] if i > 0 and top[i - 1].type in FREE_TYPES else None
        repl: dict[int, bytes] = {}
        insert = b""
        if after and delta > 0:
            for f in (nxt, prv):
                if f is not None and (f.size == delta or f.size - delta >= 8):
                    repl[f.start] = _free(f.size - delta)
                    break
        elif after and delta < 0:
            f = nxt or prv
            if f is not None:
                repl[f.start] = _free(f.size - delta)
            elif -delta >= 8:
                insert = _free(-delta)
        pieces: list[Piece] = []
        moov_at = -1
        for b in top:
            if b is mv.moov:
                moov_at = len(pieces)
                pieces.append(New(bytes(moov_len)))
                if insert:
                    pieces.append(New(insert))
            elif b.start in repl:
                if repl[b.start]:
                    pieces.append(New(repl[b.start]))
            elif b.start in top_new:
                pieces.append(New(top_new[b.start]))
            else:
                pieces.append(Copy(b.start, b.size))
        return pieces, moov_at

    @staticmethod
    def _apply_fixes(pieces: list[Piece], mapper: Mapper, fixes: list[_Fix]) -> None:
        if mapper.identity:
            return
        at = {p.start: k for k, p in enumerate(pieces) if isinstance(p, Copy)}

        def need(pos: int, what: str) -> int:
            m = mapper.map(pos)
            if m is None:
                raise UnsupportedFormat(f"{what} points into rewritten boxes", offset=pos)
            return m

        for fx in fixes:
            name = fx.box.name
            for anchor, target in fx.checks:
                if need(anchor, f"'{name}'") - anchor != need(target, f"'{name}' data") - target:
                    raise UnsupportedFormat(
                        f"'{name}' data would move relative to its box; this fragmented layout "
                        "is not supported",
                        offset=fx.box.start,
                    )
            for base, target in fx.explicit:
                if need(base, "fragment base") - base != need(target, "fragment data") - target:
                    raise UnsupportedFormat(
                        "fragment data would move relative to its base offset", offset=base
                    )
            patches: list[tuple[int, bytes]] = []
            for pos, width, old in fx.patches:
                new = need(old, f"'{name}' offset")
                if new == old:
                    continue
                if not bm.fits(new, width):
                    raise UnsupportedFormat(f"a '{name}' offset would no longer fit 32 bits")
                patches.append((pos, bm.uint_bytes(new, width)))
            if patches:
                k = at.get(fx.box.start)
                if k is None:  # pragma: no cover - moof/mfra are always copied
                    raise UnsupportedFormat(f"'{name}' box was rewritten", offset=fx.box.start)
                p = pieces[k]
                assert isinstance(p, Copy)
                pieces[k] = Copy(p.start, p.length, tuple(patches))


class M4aHandler(Mp4Handler):
    """M4A / M4B: AAC or ALAC audio in an MPEG-4 file (same carrier as MP4)."""

    id = "m4a"
    name = "M4A (AAC/ALAC in MPEG-4)"
    media_kind = MediaKind.AUDIO
    extensions: tuple[str, ...] = ("m4a", "m4b", "m4p", "m4r")
    mime_types: tuple[str, ...] = ("audio/mp4", "audio/x-m4a", "audio/m4a", "audio/x-m4b")
    _kind = "audio"


HANDLER: FormatHandler = Mp4Handler()  # mypy checks the protocol statically
M4A_HANDLER: FormatHandler = M4aHandler()
