"""TIFF (classic and BigTIFF, both byte orders; DNG is TIFF): XMP in IFD0 tag 700.

Layout written (TC260-PG-20259A, TIFF/XMP convention): IFD0 carries tag 700 (0x02BC), field
type 7 (UNDEFINED), count = packet length, value = offset of the packet. The packet is appended
at the end of the file (word aligned). IFD0 is rewritten in place when its entry count does not
change (the tag already existed); otherwise a new IFD0 (same entries plus tag 700, sorted by
tag, same next-IFD pointer) is appended and the header's first-IFD offset is repointed. Nothing
else moves: strips, tiles, SubIFDs, the EXIF/GPS IFDs and the next-IFD chain keep their offsets.

A previous packet at the very end of the file (what this writer leaves) is cut off before the
new one is appended, so rewriting is idempotent; a previous packet elsewhere is overwritten with
zero bytes so no stale record survives. An AIGC record in EXIF UserComment is blanked in place
(same length) to keep the one-record rule.

The low-level IFD reader here is also used for the EXIF blocks of WebP and HEIF.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterator
from dataclasses import dataclass

from synthlabel.errors import LimitExceeded, MalformedInput
from synthlabel.formats.base import Carrier, ContainerMetadata, ContentDigest, MediaKind
from synthlabel.model.aigc import looks_like_record

SELECTOR = "synthlabel.tiff.v1"

TAG_XMP = 700
TAG_IMAGE_DESCRIPTION = 270
TAG_EXIF_IFD = 34665
TAG_USER_COMMENT = 37510
TAG_SUBIFDS = 330
TAG_C2PA = 52545  # 0xCD41, C2PA manifest store in TIFF

#: Most IFDs followed in one file (main chain plus SubIFDs).
MAX_IFDS = 10_000
#: Most entries in one IFD (classic TIFF allows 65535; BigTIFF counts are 64-bit).
MAX_ENTRIES = 65_535
#: Deepest SubIFD nesting followed by the content digest.
MAX_SUBIFD_DEPTH = 4
#: Largest input accepted.
MAX_INPUT = 4 * 1024 * 1024 * 1024

#: Bytes per value of each field type.
TYPE_SIZES: dict[int, int] = {
    1: 1,
    2: 1,
    3: 2,
    4: 4,
    5: 8,
    6: 1,
    7: 1,
    8: 2,
    9: 4,
    10: 8,
    11: 4,
    12: 8,
    13: 4,
    16: 8,
    17: 8,
    18: 8,
}
#: Byte-swap unit of each multi-byte type (rationals are two 32-bit words).
_SWAP_UNIT: dict[int, int] = {
    3: 2,
    4: 4,
    5: 4,
    8: 2,
    9: 4,
    10: 4,
    11: 4,
    12: 8,
    13: 4,
    16: 8,
    17: 8,
    18: 8,
}

#: Tags describing how the image data is to be decoded (their values are digested).
STRUCTURE_TAGS: frozenset[int] = frozenset(
    {
        254,
        255,
        256,
        257,
        258,
        259,
        262,
        263,
        266,
        274,
        277,
        278,
        279,
        284,
        317,
        320,
        322,
        323,
        325,
        338,
        339,
        340,
        341,
        347,
        512,
        514,
        529,
        530,
        531,
        532,
        # DNG raw decoding parameters
        33421,
        33422,
        50710,
        50711,
        50712,
        50713,
        50714,
        50715,
        50716,
        50717,
        50718,
        50719,
        50720,
        50829,
    }
)
#: (offsets tag, byte-counts tag) pairs locating image data.
DATA_TAGS: tuple[tuple[int, int], ...] = ((273, 279), (324, 325), (513, 514))


@dataclass(frozen=True, slots=True)
class Layout:
    little: bool
    big: bool  # BigTIFF
    first_ifd: int

    @property
    def bo(self) -> str:
        return "<" if self.little else ">"

    @property
    def entry_size(self) -> int:
        return 20 if self.big else 12

    @property
    def count_size(self) -> int:
        return 8 if self.big else 2

    @property
    def ptr_size(self) -> int:
        return 8 if self.big else 4

    @property
    def header_ptr_pos(self) -> int:
        return 8 if self.big else 4


@dataclass(frozen=True, slots=True)
class Entry:
    tag: int
    type: int
    count: int
    pos: int  # offset of the entry itself
    raw: bytes  # the entry bytes, verbatim
    value_pos: int  # where the value lives (inside the entry when it fits)
    value_len: int  # count * type size (-1 for an unknown type)

    @property
    def inline(self) -> bool:
        return self.value_pos > self.pos and self.value_pos < self.pos + len(self.raw)


@dataclass(frozen=True, slots=True)
class Ifd:
    offset: int
    entries: tuple[Entry, ...]
    next_offset: int
    next_ptr_pos: int

    def get(self, tag: int) -> Entry | None:
        for e in self.entries:
            if e.tag == tag:
                return e
        return None


def parse_header(data: bytes) -> Layout:
    if len(data) < 8:
        raise MalformedInput("truncated TIFF header", offset=0)
    order = data[:2]
    if order == b"II":
        little = True
    elif order == b"MM":
        little = False
    else:
        raise MalformedInput("not a TIFF byte-order mark", offset=0)
    bo = "<" if little else ">"
    magic = struct.unpack_from(bo + "H", data, 2)[0]
    if magic == 42:
        return Layout(little, False, struct.unpack_from(bo + "I", data, 4)[0])
    if magic == 43:
        if len(data) < 16:
            raise MalformedInput("truncated BigTIFF header", offset=0)
        bytesize, zero = struct.unpack_from(bo + "HH", data, 4)
        if bytesize != 8 or zero != 0:
            raise MalformedInput("unsupported BigTIFF offset size", offset=4)
        return Layout(little, True, struct.unpack_from(bo + "Q", data, 8)[0])
    raise MalformedInput(f"bad TIFF magic number {magic}", offset=2)


def read_ifd(data: bytes, lay: Layout, offset: int) -> Ifd:
    """Parse the IFD at ``offset``; every entry's value must lie inside ``data``."""
    bo = lay.bo
    if offset < 8 or offset + lay.count_size > len(data):
        raise MalformedInput(f"IFD offset {offset} outside the file", offset=offset)
    n = struct.unpack_from(bo + ("Q" if lay.big else "H"), data, offset)[0]
    if n > MAX_ENTRIES:
        raise LimitExceeded(f"IFD with {n} entries", offset=offset)
    first = offset + lay.count_size
    next_pos = first + n * lay.entry_size
    if next_pos + lay.ptr_size > len(data):
        raise MalformedInput("IFD runs past the end of the file", offset=offset)
    entries = []
    inline_room = 8 if lay.big else 4
    for i in range(n):
        p = first + i * lay.entry_size
        if lay.big:
            tag, typ, count = struct.unpack_from(bo + "HHQ", data, p)
            field = p + 12
        else:
            tag, typ, count = struct.unpack_from(bo + "HHI", data, p)
            field = p + 8
        size = TYPE_SIZES.get(typ)
        if size is None:
            entries.append(Entry(tag, typ, count, p, data[p : p + lay.entry_size], field, -1))
            continue
        length = size * count
        if length <= inline_room:
            vpos = field
        else:
            vpos = struct.unpack_from(bo + ("Q" if lay.big else "I"), data, field)[0]
            if vpos + length > len(data):
                raise MalformedInput(
                    f"tag {tag} value ({length} bytes at {vpos}) outside the file", offset=p
                )
        entries.append(Entry(tag, typ, count, p, data[p : p + lay.entry_size], vpos, length))
    nxt = struct.unpack_from(bo + ("Q" if lay.big else "I"), data, next_pos)[0]
    return Ifd(offset, tuple(entries), nxt, next_pos)


def value(data: bytes, e: Entry) -> bytes:
    if e.value_len < 0:
        raise MalformedInput(f"tag {e.tag} has unknown field type {e.type}", offset=e.pos)
    return data[e.value_pos : e.value_pos + e.value_len]


def ints(data: bytes, lay: Layout, e: Entry) -> list[int]:
    """Integer values of a BYTE/SHORT/LONG/LONG8/IFD entry."""
    codes = {1: "B", 3: "H", 4: "I", 13: "I", 16: "Q", 18: "Q"}
    code = codes.get(e.type)
    if code is None:
        raise MalformedInput(f"tag {e.tag} has non-integer type {e.type}", offset=e.pos)
    if e.count > MAX_INPUT:
        raise LimitExceeded(f"tag {e.tag} has {e.count} values", offset=e.pos)
    return list(struct.unpack_from(lay.bo + code * e.count, data, e.value_pos))


def canonical_value(data: bytes, lay: Layout, e: Entry) -> bytes:
    """The value in big-endian element order (so the digest does not depend on byte order)."""
    raw = value(data, e)
    unit = _SWAP_UNIT.get(e.type, 1)
    if not lay.little or unit == 1:
        return raw
    out = bytearray(raw)
    for i in range(0, len(out) - unit + 1, unit):
        out[i : i + unit] = out[i : i + unit][::-1]
    return bytes(out)


def main_chain(data: bytes, lay: Layout) -> Iterator[Ifd]:
    """IFD0, IFD1, ... following next-IFD pointers (loops are an error)."""
    seen: set[int] = set()
    off = lay.first_ifd
    while off:
        if off in seen:
            raise MalformedInput("IFD chain loops", offset=off)
        if len(seen) >= MAX_IFDS:
            raise LimitExceeded(f"more than {MAX_IFDS} IFDs", offset=off)
        seen.add(off)
        ifd = read_ifd(data, lay, off)
        yield ifd
        off = ifd.next_offset


# --- EXIF text fields ------------------------------------------------------------------------


def decode_user_comment(raw: bytes, little: bool) -> str:
    head, body = raw[:8], raw[8:]
    if head.startswith(b"UNICODE"):
        if body.startswith((b"\xff\xfe", b"\xfe\xff")):
            text = body.decode("utf-16", "replace")
        else:
            text = body.decode("utf-16-le" if little else "utf-16-be", "replace")
    elif head.startswith(b"JIS"):
        text = body.decode("shift_jis", "replace")
    elif head.startswith(b"ASCII") or head == b"\x00" * 8:
        text = body.decode("utf-8", "replace")
    else:  # no (valid) charset header: treat the whole value as text
        text = raw.decode("utf-8", "replace")
    return text.strip("\x00 \t\r\n")


def exif_carriers(
    tiff: bytes, base: int = 0, where: str = "EXIF"
) -> tuple[list[Carrier], list[str]]:
    """UserComment and ImageDescription of an EXIF/TIFF block as carriers.

    ``base`` is the block's offset in the file (carrier offsets are absolute). A broken block
    gives a warning, not an error: the container is still readable.
    """
    out: list[Carrier] = []
    try:
        lay = parse_header(tiff)
        ifd0 = read_ifd(tiff, lay, lay.first_ifd)
        d = ifd0.get(TAG_IMAGE_DESCRIPTION)
        if d is not None and d.value_len > 0:
            text = value(tiff, d).split(b"\x00")[0].decode("utf-8", "replace").strip()
            if text:
                out.append(
                    Carrier(
                        "exif-imagedescription",
                        base + d.value_pos,
                        text.encode("utf-8"),
                        f"{where} ImageDescription",
                    )
                )
        ex = ifd0.get(TAG_EXIF_IFD)
        if ex is not None:
            sub = ints(tiff, lay, ex)
            if sub:
                exif_ifd = read_ifd(tiff, lay, sub[0])
                uc = exif_ifd.get(TAG_USER_COMMENT)
                if uc is not None and uc.value_len > 0:
                    text = decode_user_comment(value(tiff, uc), lay.little)
                    if text:
                        out.append(
                            Carrier(
                                "exif-usercomment",
                                base + uc.value_pos,
                                text.encode("utf-8"),
                                f"{where} UserComment",
                            )
                        )
    except (MalformedInput, LimitExceeded) as exc:
        return out, [f"{where}: unreadable EXIF block ({exc.message})"]
    return out, []


def scrub_exif_record(tiff: bytes) -> bytes:
    """``tiff`` with an AIGC record in EXIF UserComment blanked (same length, zero bytes),
    so a label write leaves one record only. Unreadable blocks are returned unchanged."""
    try:
        lay = parse_header(tiff)
        ifd0 = read_ifd(tiff, lay, lay.first_ifd)
        ex = ifd0.get(TAG_EXIF_IFD)
        if ex is None:
            return tiff
        sub = ints(tiff, lay, ex)
        if not sub:
            return tiff
        uc = read_ifd(tiff, lay, sub[0]).get(TAG_USER_COMMENT)
        if uc is None or uc.value_len <= 0 or uc.inline:
            return tiff
        if not looks_like_record(decode_user_comment(value(tiff, uc), lay.little)):
            return tiff
    except (MalformedInput, LimitExceeded):
        return tiff
    out = bytearray(tiff)
    out[uc.value_pos : uc.value_pos + uc.value_len] = bytes(uc.value_len)
    return bytes(out)


# --- the handler -------------------------------------------------------------------------------


def _pack_uint(lay: Layout, v: int, size: int) -> bytes:
    code = {2: "H", 4: "I", 8: "Q"}[size]
    return struct.pack(lay.bo + code, v)


class TiffHandler:
    id = "tiff"
    name = "TIFF"
    media_kind = MediaKind.IMAGE
    extensions = ("tif", "tiff", "dng")
    mime_types = ("image/tiff", "image/x-adobe-dng")
    sniff_bytes = 4

    def sniff(self, head: bytes) -> bool:
        return head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")

    def _layout(self, data: bytes) -> Layout:
        if len(data) > MAX_INPUT:
            raise LimitExceeded(f"TIFF input too large ({len(data)} bytes)")
        lay = parse_header(data)
        if lay.first_ifd == 0:
            raise MalformedInput("TIFF has no IFD", offset=lay.header_ptr_pos)
        return lay

    def read(self, data: bytes) -> ContainerMetadata:
        lay = self._layout(data)
        meta = ContainerMetadata(format_id=self.id)
        chain = list(main_chain(data, lay))
        ifd0 = chain[0]
        meta.frames = len(chain)
        for tag, attr in ((256, "width"), (257, "height")):
            e = ifd0.get(tag)
            if e is not None and e.type in (3, 4, 16) and e.count >= 1:
                setattr(meta, attr, ints(data, lay, e)[0])
        for e in ifd0.entries:
            if e.tag == TAG_XMP:
                if e.type not in (1, 7, 2):
                    meta.warnings.append(f"XMP tag 700 has field type {e.type} (expected 7 or 1)")
                if e.value_len < 0:
                    continue
                meta.carriers.append(
                    Carrier("xmp", e.value_pos, value(data, e), "IFD0 tag 700 (XMP)")
                )
            elif e.tag == TAG_C2PA and e.value_len > 0:
                meta.carriers.append(
                    Carrier("c2pa", e.value_pos, value(data, e), "IFD0 tag 52545 (C2PA)")
                )
        if len(meta.xmp) > 1:
            meta.warnings.append("IFD0 holds more than one XMP tag")
        carriers, warnings = exif_carriers(data, 0, "TIFF")
        meta.carriers.extend(carriers)
        meta.warnings.extend(warnings)
        return meta

    def write_xmp(self, data: bytes, packet: bytes) -> bytes:
        lay = self._layout(data)
        ifd0 = read_ifd(data, lay, lay.first_ifd)
        ifd0_end = ifd0.next_ptr_pos + lay.ptr_size
        old = [e for e in ifd0.entries if e.tag == TAG_XMP]
        keep = [e for e in ifd0.entries if e.tag != TAG_XMP]
        out = bytearray(scrub_exif_record(data))
        # Take the old packet(s) out: cut when at the very end, else zero-fill.
        for e in sorted(old, key=lambda x: -x.value_pos):
            if e.value_len <= 0 or e.inline:
                continue
            s, t = e.value_pos, e.value_pos + e.value_len
            if s < ifd0_end and t > ifd0.offset:
                raise MalformedInput("XMP value overlaps IFD0", offset=e.pos)
            tail = out[t:]
            if len(tail) <= 1 and not any(tail) and s >= max(ifd0_end, 16):
                del out[s:]
            else:
                out[s:t] = bytes(t - s)
        if len(out) % 2:
            out.append(0)
        n = len(keep) + 1
        ifd_size = lay.count_size + n * lay.entry_size + lay.ptr_size
        in_place = len(old) == 1
        ifd_pos = ifd0.offset if in_place else len(out)
        packet_pos = len(out) if in_place else len(out) + ifd_size + (ifd_size % 2)
        limit = (1 << 64) if lay.big else (1 << 32)
        if packet_pos + len(packet) >= limit:
            raise LimitExceeded("file too large for a classic TIFF offset")
        typ = 7
        if lay.big:
            new_entry = struct.pack(lay.bo + "HHQQ", TAG_XMP, typ, len(packet), packet_pos)
        else:
            new_entry = struct.pack(lay.bo + "HHII", TAG_XMP, typ, len(packet), packet_pos)
        raws = [(e.tag, i, e.raw) for i, e in enumerate(keep)]
        raws.append((TAG_XMP, len(keep), new_entry))
        raws.sort(key=lambda r: (r[0], r[1]))
        ifd_bytes = (
            _pack_uint(lay, n, lay.count_size)
            + b"".join(r[2] for r in raws)
            + _pack_uint(lay, ifd0.next_offset, lay.ptr_size)
        )
        assert len(ifd_bytes) == ifd_size
        if in_place:
            out[ifd_pos : ifd_pos + ifd_size] = ifd_bytes
        else:
            out += ifd_bytes
            if ifd_size % 2:
                out.append(0)
            hp = lay.header_ptr_pos
            out[hp : hp + lay.ptr_size] = _pack_uint(lay, ifd_pos, lay.ptr_size)
        assert len(out) == packet_pos
        out += packet
        return bytes(out)

    def content_digest(self, data: bytes) -> ContentDigest:
        lay = self._layout(data)
        h = hashlib.sha256()
        h.update(SELECTOR.encode() + b"\x00")
        seen: set[int] = set()

        def feed(ifd: Ifd, label: bytes, depth: int) -> None:
            h.update(b"IFD " + label + b"\x00")
            for e in sorted(ifd.entries, key=lambda x: x.tag):
                if e.tag in STRUCTURE_TAGS:
                    v = canonical_value(data, lay, e)
                    h.update(struct.pack(">HHQQ", e.tag, e.type, e.count, len(v)) + v)
            for off_tag, len_tag in DATA_TAGS:
                oe, le = ifd.get(off_tag), ifd.get(len_tag)
                if oe is None:
                    continue
                offs = ints(data, lay, oe)
                lens = ints(data, lay, le) if le is not None else []
                if len(lens) != len(offs):
                    raise MalformedInput(
                        f"tag {off_tag} and {len_tag} counts differ", offset=oe.pos
                    )
                h.update(struct.pack(">HQ", off_tag, len(offs)))
                for o, n in zip(offs, lens, strict=True):
                    if o + n > len(data):
                        raise MalformedInput("image data outside the file", offset=oe.pos)
                    h.update(struct.pack(">Q", n))
                    h.update(data[o : o + n])
            sub = ifd.get(TAG_SUBIFDS)
            if sub is not None and depth < MAX_SUBIFD_DEPTH and sub.type in (4, 13, 16, 18):
                for i, off in enumerate(ints(data, lay, sub)):
                    if off in seen or len(seen) >= MAX_IFDS:
                        raise MalformedInput("SubIFD tree loops or is too large", offset=sub.pos)
                    seen.add(off)
                    feed(read_ifd(data, lay, off), label + b"/" + str(i).encode(), depth + 1)

        for i, ifd in enumerate(main_chain(data, lay)):
            seen.add(ifd.offset)
            feed(ifd, str(i).encode(), 0)
        return ContentDigest(SELECTOR, "sha256", h.digest())


HANDLER = TiffHandler()
