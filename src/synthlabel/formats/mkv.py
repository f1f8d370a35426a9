"""Matroska / WebM (EBML): the AIGC record as a segment-level ``SimpleTag``.

Carrier written (spec §5.2): ``Segment/Tags/Tag/SimpleTag`` with ``TagName`` ``AIGC`` and
``TagString`` = the record JSON, in a Tag that targets the whole segment: the first Tag whose
``Targets`` name no track, edition, chapter or attachment UID and whose ``TargetTypeValue`` is
50 or absent (50 is the default; ffmpeg writes such a Tag with empty ``Targets``). When no such
Tag exists a new one with ``Targets/TargetTypeValue`` 50 is added. The SimpleTag holds
``TagName`` and ``TagString`` only, as ffmpeg writes it. An existing ``AIGC`` SimpleTag is
replaced in place; every other ``AIGC`` SimpleTag (any Tag, any nesting level, any letter
case) is removed, and a Tag left without SimpleTags is dropped.

Layout: Clusters never move, so Cues and every SeekHead position stay valid. A changed
``Tags`` element is written back where it was when it fits there together with the ``Void``
elements that follow it (a new ``Void`` fills what is left); the last element of the segment
simply grows. Otherwise the old element becomes a ``Void`` of the same size and the new one
goes into a big enough ``Void`` elsewhere (a ``Void`` before the first Cluster is preferred
for a new ``Tags``) or is appended at the end of the segment, and the SeekHead entry pointing
to it is updated (or added). The SeekHead itself is rewritten in place, using its own ``Void``
children and the ``Void`` after it (muxers reserve one for this); a SeekHead without room, or
no SeekHead when one is needed, is refused with :class:`UnsupportedFormat`. A known segment
size is updated (its size field is widened when needed: all Matroska positions are relative to
the segment data, so nothing else changes); an unknown-size segment stays unknown-size.
CRC-32 elements of rewritten master elements are recomputed.

Content digest ``synthlabel.mkv.v1``: SHA-256 over ``"synthlabel.mkv.v1\\0"``, then for each
``TrackEntry`` in order its ``TrackNumber``, ``CodecID``, ``CodecPrivate`` and raw
``ContentEncodings`` (each length-prefixed), then for each Cluster in order every
``SimpleBlock`` and ``BlockGroup/Block`` (element data: track number, timecode, flags, frames;
tagged and length-prefixed). Tags, SeekHead, Cues, Void and Info are left out.

Parsing is bounded: element IDs of 1-4 bytes, sizes checked against the enclosing element and
the file, nesting depth and element counts limited, unknown sizes accepted only for the
Segment and Clusters (a Cluster of unknown size ends at the next top-level element ID).
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from dataclasses import dataclass, field

from synthlabel.errors import LimitExceeded, MalformedInput, UnsupportedFormat
from synthlabel.formats import _limits
from synthlabel.formats._limits import Counter
from synthlabel.formats._media_io import (
    Copy,
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

SELECTOR = "synthlabel.mkv.v1"

EBML = 0x1A45DFA3
DOCTYPE = 0x4282
SEGMENT = 0x18538067
SEEKHEAD = 0x114D9B74
SEEK = 0x4DBB
SEEKID = 0x53AB
SEEKPOSITION = 0x53AC
INFO = 0x1549A966
TRACKS = 0x1654AE6B
TRACKENTRY = 0xAE
TRACKNUMBER = 0xD7
TRACKTYPE = 0x83
CODECID = 0x86
CODECPRIVATE = 0x63A2
CONTENTENCODINGS = 0x6D80
VIDEO = 0xE0
PIXELWIDTH = 0xB0
PIXELHEIGHT = 0xBA
TAGS = 0x1254C367
TAG = 0x7373
TARGETS = 0x63C0
TARGETTYPEVALUE = 0x68CA
TARGET_UIDS = frozenset({0x63C5, 0x63C9, 0x63C4, 0x63C6})
SIMPLETAG = 0x67C8
TAGNAME = 0x45A3
TAGSTRING = 0x4487
TAGBINARY = 0x4485
CUES = 0x1C53BB6B
CLUSTER = 0x1F43B675
CHAPTERS = 0x1043A770
ATTACHMENTS = 0x1941A469
VOID = 0xEC
CRC32 = 0xBF
SIMPLEBLOCK = 0xA3
BLOCKGROUP = 0xA0
BLOCK = 0xA1

#: Elements that may appear directly in a Segment (they end an unknown-size Cluster).
LEVEL1 = frozenset({SEEKHEAD, INFO, TRACKS, TAGS, CUES, CLUSTER, CHAPTERS, ATTACHMENTS})
DOCTYPES = frozenset({b"matroska", b"webm"})

#: Most EBML elements visited in one file.
MAX_ELEMENTS = 10_000_000
#: Deepest nesting followed inside a loaded master element.
MAX_DEPTH = 16
#: Largest master element loaded into memory (Tags, Tracks, SeekHead, BlockGroup).
MAX_MASTER_BYTES = 64 * 1024 * 1024
#: Largest EBML header.
MAX_HEADER_BYTES = 4096

_U64 = struct.Struct(">Q")


# --- EBML primitives ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class El:
    """One element: ``start`` of its ID, ``header`` bytes (ID + size), data ``size``."""

    id: int
    start: int
    header: int
    size: int
    size_width: int
    unknown: bool = False

    @property
    def data_start(self) -> int:
        return self.start + self.header

    @property
    def end(self) -> int:
        return self.start + self.header + self.size

    @property
    def total(self) -> int:
        return self.header + self.size


def _vint(buf: bytes, pos: int, end: int, what: str) -> tuple[int, int, bool]:
    """``(value, width, all_ones)`` of the EBML variable-length integer at ``pos``."""
    if pos >= end:
        raise MalformedInput(f"truncated {what}", offset=pos)
    first = buf[pos]
    if first == 0:
        raise MalformedInput(f"invalid {what} (longer than 8 bytes)", offset=pos)
    width = 9 - first.bit_length()
    if pos + width > end:
        raise MalformedInput(f"truncated {what}", offset=pos)
    value = first & (0xFF >> width)
    for i in range(1, width):
        value = (value << 8) | buf[pos + i]
    return value, width, value == (1 << (7 * width)) - 1


def _head(buf: bytes, pos: int, end: int, base: int = 0) -> tuple[int, int, int | None, int]:
    """``(id, header length, size or None for unknown, size width)`` at ``pos`` in ``buf``
    (``base`` is added to offsets in error messages)."""
    if pos >= end:
        raise MalformedInput("truncated element header", offset=base + pos)
    first = buf[pos]
    if first < 0x10:
        raise MalformedInput("invalid element ID", offset=base + pos)
    idw = 9 - first.bit_length()
    if pos + idw > end:
        raise MalformedInput("truncated element ID", offset=base + pos)
    eid = int.from_bytes(buf[pos : pos + idw], "big")
    size, sw, ones = _vint(buf, pos + idw, end, "element size")
    if eid in (0xFF, 0xFFFF, 0xFFFFFF, 0xFFFFFFFF):
        raise MalformedInput("reserved element ID", offset=base + pos)
    return eid, idw + sw, (None if ones else size), sw


def _el(buf: bytes, pos: int, end: int, base: int = 0) -> El:
    """A known-size element inside ``buf[pos:end]``."""
    eid, hl, size, sw = _head(buf, pos, end, base)
    if size is None:
        raise MalformedInput(f"element {eid:X} has an unknown size here", offset=base + pos)
    if pos + hl + size > end:
        raise MalformedInput(f"element {eid:X} runs past its parent", offset=base + pos)
    return El(eid, pos, hl, size, sw)


def _kids(buf: bytes, parent: El, budget: Counter) -> list[El]:
    out: list[El] = []
    pos = parent.data_start
    while pos < parent.end:
        budget.tick(pos)
        el = _el(buf, pos, parent.end)
        out.append(el)
        pos = el.end
    return out


def _uint(buf: bytes, el: El) -> int:
    if el.size > 8:
        raise MalformedInput("unsigned integer longer than 8 bytes", offset=el.start)
    return int.from_bytes(buf[el.data_start : el.end], "big")


def _data(buf: bytes, el: El) -> bytes:
    return buf[el.data_start : el.end]


def id_bytes(eid: int) -> bytes:
    return eid.to_bytes((eid.bit_length() + 7) // 8, "big")


def size_vint(n: int, width: int | None = None) -> bytes:
    """``n`` as an EBML size of ``width`` bytes (the smallest that fits when None)."""
    need = 1
    while n >= (1 << (7 * need)) - 1:
        need += 1
    if need > 8:
        raise LimitExceeded(f"element of {n} bytes")
    w = need if width is None else max(width, need)
    if w > 8:
        raise LimitExceeded(f"element of {n} bytes")
    return ((1 << (7 * w)) | n).to_bytes(w, "big")


def element(eid: int, payload: bytes, width: int | None = None) -> bytes:
    return id_bytes(eid) + size_vint(len(payload), width) + payload


def uint_element(eid: int, value: int) -> bytes:
    n = max(1, (value.bit_length() + 7) // 8)
    return element(eid, value.to_bytes(n, "big"))


def void(n: int) -> bytes:
    """A Void element of exactly ``n`` (>= 2) bytes."""
    if n < 2:
        raise ValueError("a Void element needs at least 2 bytes")
    if n - 2 <= 126:
        return bytes([VOID]) + size_vint(n - 2, 1) + bytes(n - 2)
    return bytes([VOID]) + size_vint(n - 9, 8) + bytes(n - 9)


@dataclass(slots=True)
class _Elem:
    """An element to write: its payload and the size-field width it would like to keep."""

    id: int
    payload: bytes
    width: int | None = None

    def encode(self, extra: int = 0) -> bytes:
        need = len(size_vint(len(self.payload)))
        w = max(self.width or need, need)
        return element(self.id, self.payload, min(8, w + extra) if extra else w)

    def fill(self, avail: int) -> bytes | None:
        """Exactly ``avail`` bytes: the element, then a Void (or a wider size field)."""
        b = self.encode()
        gap = avail - len(b)
        if gap == 0:
            return b
        if gap >= 2:
            return b + void(gap)
        if gap == 1:
            b2 = self.encode(1)
            if len(b2) == avail:
                return b2
        return None


def _master(buf: bytes, old: El, children: list[bytes]) -> _Elem:
    """A rebuilt master element; a CRC-32 first child is recomputed."""
    kids = _kids(buf, old, Counter(MAX_ELEMENTS, "EBML elements"))
    body = b"".join(children)
    if kids and kids[0].id == CRC32:
        body = bytes([CRC32, 0x84]) + struct.pack("<I", zlib.crc32(body)) + body
    return _Elem(old.id, body, old.size_width)


# --- file structure -----------------------------------------------------------------------------


@dataclass(slots=True)
class _File:
    doctype: bytes
    seg: El  # size resolved: for an unknown-size segment, to its real end
    seg_unknown: bool
    children: list[El]
    warnings: list[str] = field(default_factory=list)

    def rel(self, pos: int) -> int:
        return pos - self.seg.data_start

    @property
    def first_cluster(self) -> int:
        return next((c.start for c in self.children if c.id == CLUSTER), self.seg.end)


def _src_head(src: Source, pos: int, limit: int) -> tuple[int, int, int | None, int]:
    head = src.read_upto(pos, min(12, max(0, limit - pos)))
    eid, hl, size, sw = _head(head, 0, len(head), pos)
    return eid, hl, size, sw


def _scan_unknown(src: Source, pos: int, limit: int, budget: Counter) -> int:
    """Where a Cluster of unknown size that starts its children at ``pos`` ends."""
    while pos < limit:
        budget.tick(pos)
        eid, hl, size, _ = _src_head(src, pos, limit)
        if eid in LEVEL1 or eid in (EBML, SEGMENT):
            return pos
        if size is None:
            raise MalformedInput("unknown-size element inside a Cluster", offset=pos)
        if pos + hl + size > limit:
            raise MalformedInput("Cluster child runs past the Segment", offset=pos)
        pos += hl + size
    return limit


def _parse(src: Source) -> _File:
    budget = Counter(MAX_ELEMENTS, "EBML elements")
    eid, hl, size, _ = _src_head(src, 0, src.size)
    if eid != EBML or size is None:
        raise MalformedInput("not an EBML file", offset=0)
    if hl + size > MAX_HEADER_BYTES:
        raise LimitExceeded("EBML header too large", offset=0)
    hdr = src.read(0, hl + size, "EBML header")
    top = El(EBML, 0, hl, size, 0)
    doctype = b""
    for k in _kids(hdr, top, budget):
        if k.id == DOCTYPE:
            doctype = _data(hdr, k).rstrip(b"\x00")
    if doctype not in DOCTYPES:
        raise UnsupportedFormat(f"EBML DocType {doctype!r} is not Matroska or WebM")
    pos = top.end
    while True:
        if pos >= src.size:
            raise MalformedInput("no Segment element (truncated file?)", offset=pos)
        budget.tick(pos)
        eid, hl, size, sw = _src_head(src, pos, src.size)
        if eid == SEGMENT:
            break
        if eid not in (VOID, CRC32) or size is None:
            raise MalformedInput(f"unexpected element {eid:X} before the Segment", offset=pos)
        pos += hl + size
    seg_start, seg_hl, seg_sw = pos, hl, sw
    data_start = seg_start + seg_hl
    if size is not None:
        end = data_start + size
        if end > src.size:
            raise MalformedInput("Segment runs past the end of the file (truncated?)", offset=pos)
    else:
        end = src.size
    warnings: list[str] = []
    children: list[El] = []
    p = data_start
    while p < end:
        if end - p < 4096 and not any(src.read(p, end - p)):
            warnings.append(f"{end - p} zero bytes at the end of the Segment")
            end = p if size is None else end
            break
        budget.tick(p)
        eid, hl, esize, sw = _src_head(src, p, end)
        if eid in (EBML, SEGMENT):
            if size is None:  # a chained segment: this one ends here
                warnings.append("more than one Segment; only the first is used")
                end = p
                break
            raise MalformedInput("EBML header inside a Segment", offset=p)
        if esize is None:
            if eid != CLUSTER:
                raise MalformedInput(f"element {eid:X} of unknown size", offset=p)
            stop = _scan_unknown(src, p + hl, end, budget)
            children.append(El(eid, p, hl, stop - p - hl, sw, unknown=True))
            p = stop
            continue
        if p + hl + esize > end:
            raise MalformedInput(
                f"element {eid:X} runs past the end of the Segment (truncated?)", offset=p
            )
        children.append(El(eid, p, hl, esize, sw))
        p += hl + esize
    seg = El(SEGMENT, seg_start, seg_hl, end - data_start, seg_sw, unknown=size is None)
    return _File(doctype, seg, size is None, children, warnings)


def _load(src: Source, el: El) -> bytes:
    """The element's bytes; offsets inside are relative to ``el.start``."""
    if el.total > MAX_MASTER_BYTES:
        raise LimitExceeded(f"element {el.id:X} of {el.total} bytes", offset=el.start)
    return src.read(el.start, el.total, f"element {el.id:X}")


def _local(el: El) -> El:
    return El(el.id, 0, el.header, el.size, el.size_width)


# --- tags ---------------------------------------------------------------------------------------


def _is_aigc(buf: bytes, st: El, budget: Counter) -> bool:
    for k in _kids(buf, st, budget):
        if k.id == TAGNAME:
            return _data(buf, k).rstrip(b"\x00").strip().lower() == b"aigc"
    return False


def _is_global(buf: bytes, tag: El, budget: Counter) -> bool:
    for k in _kids(buf, tag, budget):
        if k.id != TARGETS:
            continue
        for t in _kids(buf, k, budget):
            if t.id == TARGETTYPEVALUE and _uint(buf, t) != 50:
                return False
            if t.id in TARGET_UIDS and _uint(buf, t) != 0:
                return False
    return True


def _aigc_values(
    buf: bytes, el: El, budget: Counter, depth: int = 0
) -> list[tuple[El, bytes | None]]:
    """AIGC SimpleTags below ``el`` (a Tag or SimpleTag) with their value (None: empty)."""
    if depth > MAX_DEPTH:
        raise LimitExceeded("SimpleTags nested too deep", offset=el.start)
    out: list[tuple[El, bytes | None]] = []
    for k in _kids(buf, el, budget):
        if k.id != SIMPLETAG:
            continue
        if _is_aigc(buf, k, budget):
            value = None
            for v in _kids(buf, k, budget):
                if v.id in (TAGSTRING, TAGBINARY) and value is None:
                    value = _data(buf, v).rstrip(b"\x00")
                    out.append((v, value))
            if value is None:
                out.append((k, None))
        out.extend(_aigc_values(buf, k, budget, depth + 1))
    return out


def simple_tag(value: bytes) -> bytes:
    return element(SIMPLETAG, element(TAGNAME, b"AIGC") + element(TAGSTRING, value))


def new_tag(value: bytes) -> bytes:
    targets = element(TARGETS, uint_element(TARGETTYPEVALUE, 50))
    return element(TAG, targets + simple_tag(value))


def _strip_simple(buf: bytes, el: El, budget: Counter, depth: int = 0) -> bytes:
    """``el`` (a SimpleTag) without nested AIGC SimpleTags."""
    if depth > MAX_DEPTH:
        raise LimitExceeded("SimpleTags nested too deep", offset=el.start)
    kids = _kids(buf, el, budget)
    if not any(k.id == SIMPLETAG for k in kids):
        return buf[el.start : el.end]
    parts: list[bytes] = []
    for k in kids:
        if k.id == SIMPLETAG:
            if not _is_aigc(buf, k, budget):
                parts.append(_strip_simple(buf, k, budget, depth + 1))
        elif k.id != CRC32:
            parts.append(buf[k.start : k.end])
    return _master(buf, el, parts).encode()


def _rebuild_tag(
    buf: bytes, tag: El, budget: Counter, value: bytes | None, replace_first: bool
) -> bytes | None:
    """``tag`` without AIGC SimpleTags; with ``value`` it gets the record (in place of the
    first AIGC SimpleTag when ``replace_first``, else appended). None: no SimpleTag left."""
    parts: list[bytes] = []
    placed = False
    simple = 0
    for k in _kids(buf, tag, budget):
        if k.id == SIMPLETAG:
            if _is_aigc(buf, k, budget):
                if value is not None and replace_first and not placed:
                    parts.append(simple_tag(value))
                    placed = True
                    simple += 1
                continue
            parts.append(_strip_simple(buf, k, budget))
            simple += 1
        elif k.id != CRC32:
            parts.append(buf[k.start : k.end])
    if value is not None and not placed:
        parts.append(simple_tag(value))
        simple += 1
    if not simple:
        return None
    return _master(buf, tag, parts).encode()


@dataclass(slots=True)
class _TagsPlan:
    el: El  # absolute
    new: _Elem | None  # None: nothing left (becomes a Void)
    moved_to: int | None = None  # absolute position of the relocated element (old coordinates)


# --- the handler ------------------------------------------------------------------------------


class MkvHandler(PlannedIO):
    container_name = "Matroska"
    id = "mkv"
    name = "Matroska/WebM"
    media_kind = MediaKind.VIDEO
    extensions: tuple[str, ...] = ("mkv", "webm", "mka", "mk3d", "mks")
    mime_types: tuple[str, ...] = (
        "video/x-matroska",
        "video/webm",
        "audio/x-matroska",
        "audio/webm",
    )
    sniff_bytes = 64

    def sniff(self, head: bytes) -> bool:
        if len(head) < 8 or head[:4] != b"\x1a\x45\xdf\xa3":
            return False
        try:
            size, sw, ones = _vint(head, 4, len(head), "size")
            end = min(len(head), 4 + sw + size) if not ones else len(head)
            pos = 4 + sw
            while pos < end:
                eid, hl, esize, _ = _head(head, pos, end)
                if esize is None or pos + hl + esize > end:
                    return False
                if eid == DOCTYPE:
                    return head[pos + hl : pos + hl + esize].rstrip(b"\x00") in DOCTYPES
                pos += hl + esize
        except MalformedInput:
            return False
        return False

    # -- read --

    def _read(self, src: Source) -> ContainerMetadata:
        f = _parse(src)
        meta = ContainerMetadata(format_id=self.id, warnings=list(f.warnings))
        budget = Counter(MAX_ELEMENTS, "EBML elements")
        for el in f.children:
            if el.id == TAGS:
                buf = _load(src, el)
                for tag in _kids(buf, _local(el), budget):
                    if tag.id != TAG:
                        continue
                    found = _aigc_values(buf, tag, budget)
                    if found and not _is_global(buf, tag, budget):
                        meta.warnings.append("AIGC tag targets a track/chapter, not the segment")
                    for v, value in found:
                        if value is None:
                            meta.warnings.append("AIGC SimpleTag without a value")
                            continue
                        meta.carriers.append(
                            Carrier("aigc", el.start + v.data_start, value, "Tags SimpleTag AIGC")
                        )
            elif el.id == TRACKS and meta.width is None:
                buf = _load(src, el)
                for te in _kids(buf, _local(el), budget):
                    if te.id != TRACKENTRY:
                        continue
                    kids = _kids(buf, te, budget)
                    video = next((k for k in kids if k.id == VIDEO), None)
                    if video is None:
                        continue
                    for v in _kids(buf, video, budget):
                        if v.id == PIXELWIDTH:
                            meta.width = _uint(buf, v)
                        elif v.id == PIXELHEIGHT:
                            meta.height = _uint(buf, v)
                    break
        if len(meta.carriers) > 1:
            meta.warnings.append("more than one AIGC SimpleTag")
        return meta

    # -- digest --

    def _digest(self, src: Source) -> ContentDigest:
        f = _parse(src)
        h = hashlib.sha256()
        h.update(SELECTOR.encode() + b"\x00")
        budget = Counter(MAX_ELEMENTS, "EBML elements")

        def put(tag: bytes, b: bytes) -> None:
            h.update(tag + _U64.pack(len(b)) + b)

        for el in f.children:
            if el.id != TRACKS:
                continue
            buf = _load(src, el)
            for te in _kids(buf, _local(el), budget):
                if te.id != TRACKENTRY:
                    continue
                fields = {TRACKNUMBER: b"", CODECID: b"", CODECPRIVATE: b"", CONTENTENCODINGS: b""}
                for k in _kids(buf, te, budget):
                    if k.id in fields and not fields[k.id]:
                        fields[k.id] = (
                            buf[k.start : k.end] if k.id == CONTENTENCODINGS else _data(buf, k)
                        )
                h.update(b"track")
                for key in (TRACKNUMBER, CODECID, CODECPRIVATE, CONTENTENCODINGS):
                    put(b"f", fields[key])
        for el in f.children:
            if el.id != CLUSTER:
                continue
            pos = el.data_start
            while pos < el.end:
                budget.tick(pos)
                eid, hl, size, _ = _src_head(src, pos, el.end)
                if size is None or pos + hl + size > el.end:
                    raise MalformedInput("bad Cluster child", offset=pos)
                if eid == SIMPLEBLOCK:
                    h.update(b"S" + _U64.pack(size))
                    for chunk in src.chunks(pos + hl, size):
                        h.update(chunk)
                elif eid == BLOCKGROUP:
                    g = El(eid, pos, hl, size, 0)
                    buf = _load(src, g)
                    for k in _kids(buf, _local(g), budget):
                        if k.id == BLOCK:
                            put(b"B", _data(buf, k))
                pos += hl + size
        return ContentDigest(SELECTOR, "sha256", h.digest())

    # -- write --

    def _plan(self, src: Source, label: LabelWrite) -> list[Piece]:
        value = label.aigc_json.encode("utf-8")
        if len(value) > _limits.MAX_METADATA_BYTES:
            raise LimitExceeded(f"AIGC record too large ({len(value)} bytes)")
        f = _parse(src)
        budget = Counter(MAX_ELEMENTS, "EBML elements")
        tags = [el for el in f.children if el.id == TAGS]
        bufs = {el.start: _load(src, el) for el in tags}

        # where the record goes: (Tags start, Tag start in its buffer, replace an AIGC tag?)
        target: tuple[int, int, bool] | None = None
        fallback: tuple[int, int, bool] | None = None
        for el in tags:
            buf = bufs[el.start]
            for tag in _kids(buf, _local(el), budget):
                if tag.id != TAG or not _is_global(buf, tag, budget):
                    continue
                direct = [
                    k
                    for k in _kids(buf, tag, budget)
                    if k.id == SIMPLETAG and _is_aigc(buf, k, budget)
                ]
                if direct and target is None:
                    target = (el.start, tag.start, True)
                if fallback is None:
                    fallback = (el.start, tag.start, False)
        target = target or fallback

        plans: list[_TagsPlan] = []
        for el in tags:
            buf = bufs[el.start]
            parts: list[bytes] = []
            tag_count = 0
            for k in _kids(buf, _local(el), budget):
                if k.id == TAG:
                    hit = target is not None and target[:2] == (el.start, k.start)
                    new = _rebuild_tag(
                        buf, k, budget, value if hit else None, bool(target and target[2])
                    )
                    if new is not None:
                        parts.append(new)
                        tag_count += 1
                elif k.id != CRC32:
                    parts.append(buf[k.start : k.end])
            if target is None and el is tags[0]:
                parts.append(new_tag(value))
                tag_count += 1
            new_el = _master(buf, _local(el), parts) if tag_count else None
            if new_el is not None and new_el.encode() == buf:
                continue
            plans.append(_TagsPlan(el, new_el))
        fresh: _Elem | None = None
        if not tags:
            fresh = _Elem(TAGS, new_tag(value))
        if not plans and fresh is None:
            return [Copy(0, src.size)]
        for reserve in (False, True):
            try:
                return self._layout(src, f, plans, fresh, reserve)
            except _NoRoom:
                if reserve:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _layout(
        self,
        src: Source,
        f: _File,
        plans: list[_TagsPlan],
        fresh: _Elem | None,
        reserve_seekhead_void: bool,
    ) -> list[Piece]:
        kids = f.children
        index = {el.start: i for i, el in enumerate(kids)}
        used: set[int] = set()  # Void starts taken
        repl: dict[int, tuple[int, bytes]] = {}
        appended: list[bytes] = []
        append_at: dict[int, int] = {}  # old Tags start -> offset in the appended bytes
        fresh_at: int | None = None  # absolute (old coordinates) or -1 - offset when appended
        seg_end = f.seg.end
        growth = 0
        heads = [el for el in kids if el.id == SEEKHEAD]
        protected: set[int] = set()
        if reserve_seekhead_void and heads:
            i = index[heads[0].start] + 1
            if i < len(kids) and kids[i].id == VOID:
                protected.add(kids[i].start)

        def following_voids(i: int) -> int:
            end = kids[i].end
            j = i + 1
            while j < len(kids) and kids[j].id == VOID and kids[j].start not in used:
                end = kids[j].end
                j += 1
            return end

        def take_voids(i: int, end: int) -> None:
            j = i + 1
            while j < len(kids) and kids[j].start < end:
                used.add(kids[j].start)
                j += 1

        def is_last(i: int) -> bool:
            return all(k.id == VOID and k.start not in used for k in kids[i + 1 :])

        def place(e: _Elem, before: int | None) -> int | None:
            """Put ``e`` into a free Void (before ``before`` when given)."""
            for v in kids:
                if v.id != VOID or v.start in used or v.start in protected:
                    continue
                if before is not None and v.start >= before:
                    break
                b = e.fill(v.total)
                if b is not None:
                    used.add(v.start)
                    repl[v.start] = (v.end, b)
                    return v.start
            return None

        for p in plans:
            i = index[p.el.start]
            if p.new is None:
                repl[p.el.start] = (p.el.end, void(p.el.total))
                continue
            end = following_voids(i)
            b = p.new.fill(end - p.el.start)
            if b is not None:
                take_voids(i, end)
                repl[p.el.start] = (end, b)
                continue
            if is_last(i):
                b = p.new.encode()
                take_voids(i, seg_end)
                repl[p.el.start] = (seg_end, b)
                growth += len(b) - (seg_end - p.el.start)
                continue
            repl[p.el.start] = (p.el.end, void(p.el.total))
            at = place(p.new, None)
            if at is not None:
                p.moved_to = at
            else:
                append_at[p.el.start] = sum(len(a) for a in appended)
                appended.append(p.new.encode())
        if fresh is not None:
            at = place(fresh, f.first_cluster)
            if at is not None:
                fresh_at = at
            else:
                fresh_at = -1 - sum(len(a) for a in appended)
                appended.append(fresh.encode())

        # SeekHead: positions are relative to the segment data
        end_rel = f.rel(seg_end) + growth

        def new_rel(p: _TagsPlan) -> int:
            if p.moved_to is not None:
                return f.rel(p.moved_to)
            return end_rel + append_at[p.el.start]

        moved = {
            f.rel(p.el.start): new_rel(p)
            for p in plans
            if p.moved_to is not None or p.el.start in append_at
        }
        moved = {k: v for k, v in moved.items() if k != v}
        gone = {f.rel(p.el.start) for p in plans if p.new is None}
        add: int | None = None
        required = False
        if fresh_at is not None:
            add = f.rel(fresh_at) if fresh_at >= 0 else end_rel + (-1 - fresh_at)
            required = fresh_at < 0 or fresh_at >= f.first_cluster
        if moved or gone or add is not None:
            self._update_seekheads(src, f, heads, moved, gone, add, required, used, repl)

        # segment size
        pieces: list[Piece] = []
        events = sorted(repl.items())
        tail = b"".join(appended)
        new_total = growth + len(tail)
        if new_total and not f.seg_unknown:
            size = f.seg.size + new_total
            head = src.read(f.seg.start, f.seg.header, "Segment header")
            idw = f.seg.header - f.seg.size_width
            events.append(
                (f.seg.start, (f.seg.data_start, head[:idw] + size_vint(size, f.seg.size_width)))
            )
        if tail:
            events.append((seg_end, (seg_end, tail)))
        events.sort(key=lambda e: (e[0], e[1][0]))
        pos = 0
        for s, (e, b) in events:
            if s < pos:  # pragma: no cover - planning bug
                raise AssertionError("overlapping rewrites")
            if s > pos:
                pieces.append(Copy(pos, s - pos))
            pieces.append(New(b))
            pos = e
        if pos < src.size:
            pieces.append(Copy(pos, src.size - pos))
        return pieces

    def _update_seekheads(
        self,
        src: Source,
        f: _File,
        heads: list[El],
        moved: dict[int, int],
        gone: set[int],
        add: int | None,
        required: bool,
        used: set[int],
        repl: dict[int, tuple[int, bytes]],
    ) -> None:
        """Point the SeekHead's Tags entries at the new positions (rewritten in place)."""
        budget = Counter(MAX_ELEMENTS, "EBML elements")
        tags_id = id_bytes(TAGS)
        loaded: list[tuple[El, bytes, list[tuple[El, int | None]]]] = []
        referenced: set[int] = set()
        for head in heads:
            buf = _load(src, head)
            seeks: list[tuple[El, int | None]] = []
            for k in _kids(buf, _local(head), budget):
                spos: int | None = None
                if k.id == SEEK:
                    sid = b""
                    for s in _kids(buf, k, budget):
                        if s.id == SEEKID:
                            sid = _data(buf, s)
                        elif s.id == SEEKPOSITION:
                            spos = _uint(buf, s)
                    if sid != tags_id:
                        spos = None
                if spos is not None:
                    referenced.add(spos)
                seeks.append((k, spos))
            loaded.append((head, buf, seeks))
        # (position, required) entries the first SeekHead must gain
        adds = [(new, True) for old, new in moved.items() if old not in referenced]
        if add is not None and add not in referenced:
            adds.append((add, required))
        if not heads:
            if any(r for _, r in adds):
                raise UnsupportedFormat(
                    "the Segment has no SeekHead, so Tags placed after the Clusters could not "
                    "be found; remux the file to add one"
                )
            return
        for n, (head, buf, seeks) in enumerate(loaded):
            parts: list[bytes] = []
            changed = False
            for k, spos in seeks:
                if k.id in (CRC32, VOID):  # recomputed / free space for the new entries
                    continue
                if spos is not None and spos in gone:
                    changed = True
                    continue
                if spos is not None and spos in moved:
                    changed = True
                    parts.append(_seek(tags_id, moved[spos]))
                    continue
                parts.append(buf[k.start : k.end])
            extra = [_seek(tags_id, p) for p, _ in adds] if n == 0 else []
            if not changed and not extra:
                continue
            new = _master(buf, _local(head), parts + extra)
            i = f.children.index(head)
            end = head.end
            j = i + 1
            while (
                j < len(f.children)
                and f.children[j].id == VOID
                and f.children[j].start not in used
                and f.children[j].start not in repl
            ):
                end = f.children[j].end
                j += 1
            b = new.fill(end - head.start)
            if b is None and not changed and not any(r for _, r in adds):
                continue  # optional entry (Tags before the Clusters): players find it anyway
            if b is None:
                raise _NoRoom(
                    "the SeekHead has no room for the Tags entry (no Void after it); "
                    "remux the file (e.g. with mkvmerge) to make room"
                )
            for k2 in f.children[i + 1 : j]:
                used.add(k2.start)
            repl[head.start] = (end, b)


def _seek(eid: bytes, pos: int) -> bytes:
    return element(SEEK, element(SEEKID, eid) + uint_element(SEEKPOSITION, pos))


class _NoRoom(UnsupportedFormat):
    """No space to update the SeekHead in place."""


HANDLER: FormatHandler = MkvHandler()  # mypy checks the protocol statically
