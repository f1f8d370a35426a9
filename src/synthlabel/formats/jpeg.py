"""JPEG (JFIF/EXIF) container: XMP in APP1, read-only EXIF/C2PA/blob carriers.

The file is split into *parts* that together cover every byte exactly once: SOI, marker
segments, stand-alone markers, entropy-coded data, fill bytes, stray bytes, EOI and whatever
follows EOI. Writing re-emits every part verbatim except the XMP APP1 segment (replaced in
place or inserted), so nothing is ever decoded or re-encoded. See ``docs/formats.md``.
"""

from __future__ import annotations

import hashlib
import re
import struct
from dataclasses import dataclass

from synthlabel.errors import LimitExceeded, MalformedInput
from synthlabel.formats import _blob, _exif, _limits
from synthlabel.formats.base import (
    Carrier,
    ContainerMetadata,
    ContentDigest,
    FormatHandler,
    MediaKind,
    XmpLabelWriter,
)

XMP_ID = b"http://ns.adobe.com/xap/1.0/\x00"
XMP_EXT_ID = b"http://ns.adobe.com/xmp/extension/\x00"
EXIF_ID = _exif.EXIF_HEADER
#: Largest standard XMP packet: 65535 - 2 (length) - 29 (identifier).
MAX_XMP_PACKET = 65504
SELECTOR = "synthlabel.jpeg.v1"

_SOI, _EOI, _SOS, _COM, _APP0, _APP1, _APP11 = 0xD8, 0xD9, 0xDA, 0xFE, 0xE0, 0xE1, 0xEB
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC} | {0xF7}  # F7 = SOF55 (JPEG-LS)
_C2PA_UUID = b"c2pa\x00\x11\x00\x10\x80\x00\x00\xaa\x008\x9bq"

# End of entropy-coded data: a run of 0xFF followed by a byte that is not a stuffed zero,
# a restart marker or more fill. JPEG-LS stuffs differently: only bytes >= 0x80 end a scan.
# The patterns match the last 0xFF of the run (a leading ``\xff+`` makes the C search ~20x
# slower on large scans); the caller walks back over the fill bytes.
_ECD_END = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
_ECD_END_LS = re.compile(rb"\xff[\x80-\xcf\xd8-\xfe]")
_FILL = re.compile(rb"\xff+")


@dataclass(frozen=True, slots=True)
class Part:
    """A byte range of the file. ``kind``: soi, seg, mark, ecd, fill, junk, eoi, tail."""

    kind: str
    start: int
    end: int
    marker: int = 0

    @property
    def is_metadata(self) -> bool:
        """APPn or COM segment: not covered by the content digest."""
        return self.kind == "seg" and (0xE0 <= self.marker <= 0xEF or self.marker == _COM)


def parse(data: bytes, warnings: list[str] | None = None) -> list[Part]:
    """Split ``data`` into parts; raises MalformedInput/LimitExceeded on broken input."""
    _limits.check_input(data, "JPEG")
    warn = warnings if warnings is not None else []
    n = len(data)
    if not data.startswith(b"\xff\xd8"):
        raise MalformedInput("not a JPEG file (no SOI marker)", offset=0)
    parts = [Part("soi", 0, 2, _SOI)]
    counter = _limits.Counter(_limits.MAX_JPEG_SEGMENTS, "JPEG segments")
    jpeg_ls = False
    pos = 2
    while True:
        counter.tick(pos)
        if pos >= n:
            raise MalformedInput("JPEG is truncated: no EOI marker", offset=pos)
        if data[pos] != 0xFF:
            nxt = data.find(b"\xff", pos)
            if nxt < 0:
                raise MalformedInput("JPEG is truncated: stray bytes and no EOI", offset=pos)
            warn.append(f"{nxt - pos} stray bytes before a marker at byte {pos}")
            parts.append(Part("junk", pos, nxt))
            pos = nxt
            continue
        run = _FILL.match(data, pos)  # data[pos] is 0xFF: always a match
        q = run.end() - 1 if run else pos  # q: the last 0xFF of the run
        if q > pos:
            parts.append(Part("fill", pos, q))
            pos = q
        if pos + 1 >= n:
            raise MalformedInput("JPEG is truncated inside a marker", offset=pos)
        m = data[pos + 1]
        if m == _EOI:
            parts.append(Part("eoi", pos, pos + 2, m))
            if pos + 2 < n:
                parts.append(Part("tail", pos + 2, n))
            return parts
        if m == 0x00:
            warn.append(f"stuffed 0xFF00 outside entropy-coded data at byte {pos}")
            parts.append(Part("junk", pos, pos + 2))
            pos += 2
            continue
        if m == _SOI:
            raise MalformedInput("unexpected second SOI marker", offset=pos)
        if 0xD0 <= m <= 0xD7 or m == 0x01:  # RSTn, TEM: no length field
            parts.append(Part("mark", pos, pos + 2, m))
            pos += 2
            continue
        if pos + 4 > n:
            raise MalformedInput(f"JPEG is truncated in marker 0xFF{m:02X}", offset=pos)
        length = (data[pos + 2] << 8) | data[pos + 3]
        if length < 2:
            raise MalformedInput(f"marker 0xFF{m:02X} has invalid length {length}", offset=pos)
        end = pos + 2 + length
        if end > n:
            raise MalformedInput(
                f"marker 0xFF{m:02X} segment ({length} bytes) runs past the end of the file",
                offset=pos,
            )
        parts.append(Part("seg", pos, end, m))
        if m == 0xF7:
            jpeg_ls = True
        pos = end
        if m == _SOS:
            found = (_ECD_END_LS if jpeg_ls else _ECD_END).search(data, pos)
            if found is None:
                raise MalformedInput("JPEG is truncated in entropy-coded data", offset=pos)
            stop = found.start()
            while stop > pos and data[stop - 1] == 0xFF:  # fill bytes before the marker
                stop -= 1
            if stop > pos:
                parts.append(Part("ecd", pos, stop))
            pos = stop


def _payload(data: bytes, p: Part) -> bytes:
    return data[p.start + 4 : p.end]


def _is_xmp(data: bytes, p: Part) -> bool:
    return p.kind == "seg" and p.marker == _APP1 and data.startswith(XMP_ID, p.start + 4)


def _is_exif(data: bytes, p: Part) -> bool:
    return p.kind == "seg" and p.marker == _APP1 and data.startswith(EXIF_ID, p.start + 4)


def _is_jumbf(data: bytes, p: Part) -> bool:
    return p.kind == "seg" and p.marker == _APP11 and data.startswith(b"JP", p.start + 4)


def _blob_candidate(data: bytes, p: Part) -> bool:
    """APPn/COM segments scanned for bare AIGC records (not XMP, EXIF or JUMBF)."""
    return (
        p.is_metadata
        and not _is_xmp(data, p)
        and not _is_exif(data, p)
        and not _is_jumbf(data, p)
        and not data.startswith(XMP_EXT_ID, p.start + 4)
    )


def _is_mpf(data: bytes, p: Part) -> bool:
    return p.kind == "seg" and p.marker == 0xE2 and data.startswith(b"MPF\x00", p.start + 4)


def _patch_mpf(
    out: bytearray, where: tuple[int, int], old_hdr: int, old_primary_end: int, growth: int
) -> None:
    """Keep a Multi-Picture Format index (CIPA DC-007) right after the primary image changed.

    ``where`` is the MPF header (the TIFF header inside APP2) and the segment end in ``out``.
    MP entries give each image's size and its offset relative to that header. The primary
    image (offset 0) grew by ``growth`` bytes; images appended after its EOI moved by
    ``growth`` in the file, so by ``growth - (hdr - old_hdr)`` relative to the header. Only
    bytes inside the MPF segment are touched; a malformed index is left as it was.
    """
    hdr, end = where
    endian = {b"II*\x00": "<", b"MM\x00*": ">"}.get(bytes(out[hdr : hdr + 4]))
    if endian is None or hdr + 8 > end:
        return
    ifd = hdr + struct.unpack_from(endian + "I", out, hdr + 4)[0]
    if ifd + 2 > end:
        return
    count = struct.unpack_from(endian + "H", out, ifd)[0]
    for k in range(min(count, 64)):
        at = ifd + 2 + 12 * k
        if at + 12 > end:
            return
        tag, _typ, size, value = struct.unpack_from(endian + "HHII", out, at)
        if tag != 0xB002:
            continue
        for e in range(hdr + value, min(hdr + value + size, end) - 15, 16):
            img_size, img_off = struct.unpack_from(endian + "II", out, e + 4)
            if img_off == 0:
                struct.pack_into(endian + "I", out, e + 4, (img_size + growth) & 0xFFFFFFFF)
            elif old_hdr + img_off >= old_primary_end:
                new_off = img_off + growth - (hdr - old_hdr)
                struct.pack_into(endian + "I", out, e + 8, new_off & 0xFFFFFFFF)
        return


def _segment_name(marker: int) -> str:
    return "COM" if marker == _COM else f"APP{marker - 0xE0}"


def _extended_xmp(data: bytes, segs: list[Part], warnings: list[str]) -> list[Carrier]:
    groups: dict[bytes, tuple[int, int, list[tuple[int, bytes]]]] = {}
    for p in segs:
        body = data[p.start + 4 + len(XMP_EXT_ID) : p.end]
        if len(body) < 40:
            warnings.append(f"ExtendedXMP segment at byte {p.start} is too short")
            continue
        guid = body[:32]
        full, off = struct.unpack(">II", body[32:40])
        first, total, chunks = groups.setdefault(guid, (p.start, full, []))
        if total != full:
            warnings.append(f"ExtendedXMP {guid!r} declares two different lengths")
            continue
        chunks.append((off, body[40:]))
    out: list[Carrier] = []
    for guid, (first, total, chunks) in groups.items():
        name = f"APP1 ExtendedXMP {guid.decode('latin-1')}"
        warnings.append(f"note: {name} present ({len(chunks)} segments, {total} bytes)")
        if total > _limits.MAX_METADATA_BYTES:
            raise LimitExceeded(f"{name} declares {total} bytes", offset=first)
        buf = bytearray(total)
        covered = 0
        for off, chunk in sorted(chunks):
            if off + len(chunk) > total:
                warnings.append(f"{name}: a segment lies outside the declared length")
                continue
            buf[off : off + len(chunk)] = chunk
            covered += len(chunk)
        if covered != total:
            warnings.append(f"{name} is incomplete ({covered} of {total} bytes)")
        out.append(Carrier("xmp", first, bytes(buf), name))
    return out


def _c2pa(data: bytes, segs: list[Part], warnings: list[str]) -> list[Carrier]:
    """Reassemble JUMBF boxes split over APP11 segments (ISO 19566-5 / C2PA embedding)."""
    groups: dict[int, list[tuple[int, int, bytes]]] = {}
    for p in segs:
        body = _payload(data, p)
        if len(body) < 16:
            warnings.append(f"APP11 JUMBF segment at byte {p.start} is too short")
            continue
        en, z = struct.unpack(">HI", body[2:8])
        groups.setdefault(en, []).append((z, p.start, body[8:]))
    out: list[Carrier] = []
    for en, pieces in groups.items():
        pieces.sort(key=lambda t: t[0])
        first_z, first_off, box = pieces[0]
        lbox, tbox = struct.unpack(">I4s", box[:8])
        header = 16 if lbox == 1 else 8
        joined = bytearray(box)
        seen = {first_z}
        for z, off, piece in pieces[1:]:
            if z in seen:
                warnings.append(f"APP11 JUMBF box {en}: duplicate packet {z} at byte {off}")
                continue
            seen.add(z)
            joined += piece[header:]
            if len(joined) > _limits.MAX_C2PA_BYTES:
                raise LimitExceeded(f"JUMBF box {en} is larger than {_limits.MAX_C2PA_BYTES}")
        store = bytes(joined)
        # jumb superbox whose first child is a jumd description box: 16-byte type, toggles,
        # label. The C2PA manifest store has type "c2pa" + ISO suffix and label "c2pa".
        desc = store[header : header + 8 + 16 + 1 + 5]
        is_c2pa = (
            tbox == b"jumb"
            and desc[4:8] == b"jumd"
            and (desc[8:24] == _C2PA_UUID or desc[25:30] == b"c2pa\x00")
        )
        if is_c2pa:
            out.append(Carrier("c2pa", first_off + 4, store, "APP11 JUMBF c2pa"))
        else:
            warnings.append(f"note: APP11 JUMBF box {en} at byte {first_off} is not C2PA")
    return out


class JpegHandler(XmpLabelWriter):
    id = "jpeg"
    name = "JPEG"
    media_kind = MediaKind.IMAGE
    extensions: tuple[str, ...] = ("jpg", "jpeg", "jpe", "jfif")
    mime_types: tuple[str, ...] = ("image/jpeg",)
    sniff_bytes = 3

    def sniff(self, head: bytes) -> bool:
        return head[:3] == b"\xff\xd8\xff"

    def read(self, data: bytes) -> ContainerMetadata:
        meta = ContainerMetadata(format_id=self.id, frames=1)
        parts = parse(data, meta.warnings)
        carriers: list[Carrier] = []
        ext_xmp: list[Part] = []
        jumbf: list[Part] = []
        blobs = 0
        for p in parts:
            if p.kind == "tail":
                meta.warnings.append(f"note: {p.end - p.start} bytes after EOI (kept)")
            if p.kind != "seg":
                continue
            if p.marker in _SOF and meta.width is None and p.end - p.start >= 9:
                h, w = struct.unpack(">HH", data[p.start + 5 : p.start + 9])
                meta.width, meta.height = w or None, h or None
            if _is_xmp(data, p):
                start = p.start + 4 + len(XMP_ID)
                carriers.append(Carrier("xmp", start, data[start : p.end], "APP1 XMP"))
            elif _is_exif(data, p):
                start = p.start + 4 + len(EXIF_ID)
                if meta.exif is not None:
                    meta.warnings.append(f"second EXIF APP1 segment at byte {p.start} ignored")
                    continue
                meta.exif = data[start : p.end]
                found, warns = _exif.carriers(meta.exif, start, "APP1 Exif")
                carriers.extend(found)
                meta.warnings.extend(warns)
            elif data.startswith(XMP_EXT_ID, p.start + 4) and p.marker == _APP1:
                ext_xmp.append(p)
            elif _is_jumbf(data, p):
                jumbf.append(p)
            if _blob_candidate(data, p) and blobs < _limits.MAX_CARRIERS:
                body = _payload(data, p)
                for s, e in _blob.find_records(body):
                    blobs += 1
                    where = f"{_segment_name(p.marker)} AIGC blob"
                    carriers.append(Carrier("blob", p.start + 4 + s, body[s:e], where))
        if sum(1 for c in carriers if c.kind == "xmp") > 1:
            meta.warnings.append("more than one XMP APP1 segment")
        carriers.extend(_c2pa(data, jumbf, meta.warnings))
        carriers.sort(key=lambda c: c.offset)
        # ExtendedXMP last: carriers.xmp[0] is always the main packet when there is one.
        carriers.extend(_extended_xmp(data, ext_xmp, meta.warnings))
        meta.carriers = carriers
        return meta

    def write_xmp(self, data: bytes, packet: bytes) -> bytes:
        if len(packet) > MAX_XMP_PACKET:
            raise LimitExceeded(
                f"XMP packet of {len(packet)} bytes does not fit one APP1 segment "
                f"(max {MAX_XMP_PACKET}; ExtendedXMP is not written)"
            )
        parts = parse(data)
        segment = b"\xff\xe1" + struct.pack(">H", 2 + len(XMP_ID) + len(packet)) + XMP_ID + packet
        xmp_at = next((i for i, p in enumerate(parts) if _is_xmp(data, p)), None)
        if xmp_at is None:
            # After SOI and a leading run of APP0 (JFIF/JFXX) / APP1 Exif segments.
            xmp_at = 1
            for i in range(1, len(parts)):
                p = parts[i]
                if p.kind == "seg" and (p.marker == _APP0 or _is_exif(data, p)):
                    xmp_at = i + 1
                elif p.kind != "fill":
                    break
        out = bytearray()
        new_start: dict[int, int] = {}  # part index -> offset in the output
        for i, p in enumerate(parts):
            if i == xmp_at:
                out += segment
                if _is_xmp(data, p):
                    continue
            if _is_xmp(data, p):
                continue  # a second XMP packet: one packet per file
            if _blob_candidate(data, p) and _blob.is_record_only(_payload(data, p)):
                continue  # a segment that only held an AIGC blob: one record per file
            new_start[i] = len(out)
            if _is_exif(data, p):
                tiff_at = p.start + 4 + len(EXIF_ID)
                blanked = _exif.blank_user_comment_record(data[tiff_at : p.end])
                if blanked is not None:
                    out += data[p.start : tiff_at] + blanked
                    continue
            out += data[p.start : p.end]
        eoi = next(i for i, p in enumerate(parts) if p.kind == "eoi")
        growth = new_start[eoi] - parts[eoi].start
        for i, p in enumerate(parts[:eoi]):
            if _is_mpf(data, p) and i in new_start:
                where = (new_start[i] + 8, new_start[i] + p.end - p.start)
                _patch_mpf(out, where, p.start + 8, parts[eoi].end, growth)
        return bytes(out)

    def content_digest(self, data: bytes) -> ContentDigest:
        h = hashlib.sha256()
        for p in parse(data):
            if p.kind in ("soi", "mark", "ecd", "eoi") or (p.kind == "seg" and not p.is_metadata):
                h.update(data[p.start : p.end])
        return ContentDigest(selector=SELECTOR, algorithm="sha256", digest=h.digest())


HANDLER: FormatHandler = JpegHandler()  # mypy checks the protocol statically
