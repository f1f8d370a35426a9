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

The IFD reader (``_exif``) is the one that also reads the EXIF blocks of the other formats.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterator

from synthlabel.errors import LimitExceeded, MalformedInput
from synthlabel.formats import _exif, _limits
from synthlabel.formats._exif import Entry, Ifd, Layout, ints, parse_header, read_ifd, value
from synthlabel.formats.base import (
    Carrier,
    ContainerMetadata,
    ContentDigest,
    FormatHandler,
    MediaKind,
    XmpLabelWriter,
)

SELECTOR = "synthlabel.tiff.v1"

TAG_XMP = 700
TAG_SUBIFDS = 330
TAG_C2PA = 52545  # 0xCD41, C2PA manifest store in TIFF

#: Deepest SubIFD nesting followed by the content digest.
MAX_SUBIFD_DEPTH = 4

#: Byte-swap unit of each multi-byte type (rationals are two 32-bit words).
_SWAP_UNIT: dict[int, int] = {
    t: 4 if t in (5, 10) else n for t, n in _exif.TYPE_SIZES.items() if n > 1
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
    counter = _limits.Counter(_limits.MAX_TIFF_IFDS, "IFDs")
    off = lay.first_ifd
    while off:
        if off in seen:
            raise MalformedInput("IFD chain loops", offset=off)
        counter.tick(off)
        seen.add(off)
        ifd = read_ifd(data, lay, off)
        yield ifd
        off = ifd.next_offset


# --- the handler -------------------------------------------------------------------------------


def _pack_uint(lay: Layout, v: int, size: int) -> bytes:
    code = {2: "H", 4: "I", 8: "Q"}[size]
    return struct.pack(lay.bo + code, v)


class TiffHandler(XmpLabelWriter):
    id = "tiff"
    name = "TIFF"
    media_kind = MediaKind.IMAGE
    extensions: tuple[str, ...] = ("tif", "tiff", "dng")
    mime_types: tuple[str, ...] = ("image/tiff", "image/x-adobe-dng")
    sniff_bytes = 4

    def sniff(self, head: bytes) -> bool:
        return head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")

    def _layout(self, data: bytes) -> Layout:
        _limits.check_input(data, "TIFF")
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
        carriers, warnings = _exif.carriers(data, 0, "TIFF")
        meta.carriers.extend(carriers)
        meta.warnings.extend(warnings)
        return meta

    def write_xmp(self, data: bytes, packet: bytes) -> bytes:
        lay = self._layout(data)
        ifd0 = read_ifd(data, lay, lay.first_ifd)
        ifd0_end = ifd0.next_ptr_pos + lay.ptr_size
        old = [e for e in ifd0.entries if e.tag == TAG_XMP]
        keep = [e for e in ifd0.entries if e.tag != TAG_XMP]
        out = bytearray(_exif.blank_user_comment_record(data) or data)
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
                    if off in seen or len(seen) >= _limits.MAX_TIFF_IFDS:
                        raise MalformedInput("SubIFD tree loops or is too large", offset=sub.pos)
                    seen.add(off)
                    feed(read_ifd(data, lay, off), label + b"/" + str(i).encode(), depth + 1)

        for i, ifd in enumerate(main_chain(data, lay)):
            seen.add(ifd.offset)
            feed(ifd, str(i).encode(), 0)
        return ContentDigest(SELECTOR, "sha256", h.digest())


HANDLER: FormatHandler = TiffHandler()  # mypy checks the protocol statically
