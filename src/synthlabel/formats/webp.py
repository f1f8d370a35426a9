"""WebP (RIFF): XMP in the ``XMP `` chunk of the extended format.

Layout written (WebP container spec, TC260-PG-20259A): ``RIFF`` · uint32 LE size · ``WEBP``,
then chunks (FourCC · uint32 LE size · payload · one zero pad byte when the size is odd). The
XMP packet goes in a chunk ``XMP `` (trailing space) after the image data and the ``EXIF``
chunk, and the ``VP8X`` flags byte gets the XMP bit (0x04). A simple file (one ``VP8 `` or
``VP8L`` chunk) is converted to the extended format first: a ``VP8X`` chunk is put in front,
its canvas size taken from the bitstream header and its alpha bit set when a ``VP8L``
bitstream says it uses alpha. An existing ``XMP `` chunk is replaced in place (when it sits
after the image data), any extra ones are dropped, the RIFF size is recomputed and every other
chunk is copied byte for byte, in order.
"""

from __future__ import annotations

import hashlib
import struct

from synthlabel.errors import LimitExceeded, MalformedInput
from synthlabel.formats import _exif, _limits
from synthlabel.formats.base import (
    Carrier,
    ContainerMetadata,
    ContentDigest,
    FormatHandler,
    MediaKind,
    XmpLabelWriter,
)

SELECTOR = "synthlabel.webp.v1"

#: Chunks whose bytes make up the picture (digested, in file order).
IMAGE_CHUNKS: frozenset[bytes] = frozenset({b"VP8 ", b"VP8L", b"ALPH", b"ANIM", b"ANMF"})

FLAG_ICC = 0x20
FLAG_ALPHA = 0x10
FLAG_EXIF = 0x08
FLAG_XMP = 0x04
FLAG_ANIM = 0x02


class Chunk:
    __slots__ = ("fourcc", "offset", "size")

    def __init__(self, fourcc: bytes, offset: int, size: int) -> None:
        self.fourcc = fourcc
        self.offset = offset  # of the chunk header
        self.size = size  # payload size (without pad)

    @property
    def data_start(self) -> int:
        return self.offset + 8

    def payload(self, data: bytes) -> bytes:
        return data[self.offset + 8 : self.offset + 8 + self.size]


def _chunks(data: bytes) -> tuple[list[Chunk], int, list[str]]:
    """The top-level chunks, the end of the RIFF data, and warnings."""
    _limits.check_input(data, "WebP")
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise MalformedInput("not a RIFF/WEBP file", offset=0)
    warnings: list[str] = []
    riff_size = struct.unpack_from("<I", data, 4)[0]
    end = 8 + riff_size
    if end > len(data):
        raise MalformedInput(
            f"RIFF size {riff_size} runs past the end of the file ({len(data)} bytes)", offset=4
        )
    if end < len(data):
        warnings.append(f"{len(data) - end} bytes after the RIFF data")
    out: list[Chunk] = []
    counter = _limits.Counter(_limits.MAX_WEBP_CHUNKS, "chunks")
    pos = 12
    while pos < end:
        counter.tick(pos)
        if pos + 8 > end:
            raise MalformedInput("truncated chunk header", offset=pos)
        fourcc = data[pos : pos + 4]
        size = struct.unpack_from("<I", data, pos + 4)[0]
        if pos + 8 + size > end:
            raise MalformedInput(f"chunk {fourcc!r} runs past the RIFF data", offset=pos)
        out.append(Chunk(bytes(fourcc), pos, size))
        pos += 8 + size + (size & 1)
    if pos > end:  # last chunk without its pad byte: tolerated (seen in the wild)
        warnings.append("last chunk lacks its pad byte")
    if not out:
        raise MalformedInput("WebP file without chunks", offset=12)
    return out, end, warnings


def _bitstream_info(data: bytes, c: Chunk) -> tuple[int, int, bool]:
    """``(width, height, has_alpha)`` from a VP8/VP8L bitstream header."""
    p = c.payload(data)
    if c.fourcc == b"VP8 ":
        if len(p) < 10 or p[3:6] != b"\x9d\x01\x2a":
            raise MalformedInput("VP8 bitstream without a key-frame header", offset=c.data_start)
        if p[0] & 1:
            raise MalformedInput("VP8 bitstream does not start with a key frame", offset=c.offset)
        w, hgt = struct.unpack_from("<HH", p, 6)
        if not w & 0x3FFF or not hgt & 0x3FFF:
            raise MalformedInput("VP8 frame with a zero dimension", offset=c.data_start)
        return w & 0x3FFF, hgt & 0x3FFF, False
    if c.fourcc == b"VP8L":
        if len(p) < 5 or p[0] != 0x2F:
            raise MalformedInput("VP8L bitstream without its signature", offset=c.data_start)
        bits = struct.unpack_from("<I", p, 1)[0]
        w = (bits & 0x3FFF) + 1
        hgt = ((bits >> 14) & 0x3FFF) + 1
        return w, hgt, bool((bits >> 28) & 1)
    raise MalformedInput(f"not an image chunk: {c.fourcc!r}", offset=c.offset)


def _canvas(data: bytes, vp8x: Chunk) -> tuple[int, int, int]:
    p = vp8x.payload(data)
    if len(p) < 10:
        raise MalformedInput("VP8X chunk too short", offset=vp8x.offset)
    w = int.from_bytes(p[4:7], "little") + 1
    h = int.from_bytes(p[7:10], "little") + 1
    return p[0], w, h


def _chunk_bytes(fourcc: bytes, payload: bytes) -> bytes:
    return (
        fourcc + struct.pack("<I", len(payload)) + payload + (b"\x00" if len(payload) & 1 else b"")
    )


class WebpHandler(XmpLabelWriter):
    id = "webp"
    name = "WebP"
    media_kind = MediaKind.IMAGE
    extensions: tuple[str, ...] = ("webp",)
    mime_types: tuple[str, ...] = ("image/webp",)
    sniff_bytes = 16

    def sniff(self, head: bytes) -> bool:
        return len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP"

    def read(self, data: bytes) -> ContainerMetadata:
        chunks, _, warnings = _chunks(data)
        meta = ContainerMetadata(format_id=self.id, warnings=warnings)
        first = chunks[0]
        if first.fourcc == b"VP8X":
            _, meta.width, meta.height = _canvas(data, first)
        elif first.fourcc in (b"VP8 ", b"VP8L"):
            meta.width, meta.height, _ = _bitstream_info(data, first)
        else:
            raise MalformedInput(f"unexpected first chunk {first.fourcc!r}", offset=first.offset)
        frames = sum(1 for c in chunks if c.fourcc == b"ANMF")
        meta.frames = frames or 1
        for c in chunks:
            if c.fourcc == b"XMP ":
                meta.carriers.append(Carrier("xmp", c.data_start, c.payload(data), "XMP chunk"))
            elif c.fourcc == b"C2PA":
                meta.carriers.append(Carrier("c2pa", c.data_start, c.payload(data), "C2PA chunk"))
            elif c.fourcc == b"EXIF":
                exif, skip = _exif.strip_header(c.payload(data))
                if meta.exif is None:
                    meta.exif = exif
                found, warns = _exif.carriers(exif, c.data_start + skip, "EXIF chunk")
                meta.carriers.extend(found)
                meta.warnings.extend(warns)
        if len(meta.xmp) > 1:
            meta.warnings.append("more than one XMP chunk")
        return meta

    def write_xmp(self, data: bytes, packet: bytes) -> bytes:
        chunks, end, _ = _chunks(data)
        if len(packet) > 0xFFFFFFFF - 64:
            raise LimitExceeded("XMP packet too large for a RIFF chunk")
        first = chunks[0]
        pieces: list[tuple[Chunk | None, bytes]] = []  # (original chunk, bytes to emit)
        if first.fourcc == b"VP8X":
            flags, _, _ = _canvas(data, first)
            vp8x = bytearray(first.payload(data))
            vp8x[0] = flags | FLAG_XMP
            pieces.append((first, _chunk_bytes(b"VP8X", bytes(vp8x))))
            rest = chunks[1:]
        elif first.fourcc in (b"VP8 ", b"VP8L"):
            w, h, alpha = _bitstream_info(data, first)
            flags = FLAG_XMP | (FLAG_ALPHA if alpha else 0)
            canvas = (w - 1).to_bytes(3, "little") + (h - 1).to_bytes(3, "little")
            pieces.append((None, _chunk_bytes(b"VP8X", bytes([flags, 0, 0, 0]) + canvas)))
            rest = chunks
        else:
            raise MalformedInput(f"unexpected first chunk {first.fourcc!r}", offset=first.offset)
        last_required = -1  # index in ``rest`` of the last image/EXIF chunk
        for i, c in enumerate(rest):
            if c.fourcc in IMAGE_CHUNKS or c.fourcc == b"EXIF":
                last_required = i
        if last_required < 0:
            raise MalformedInput("WebP file without image data", offset=12)
        old_xmp = [i for i, c in enumerate(rest) if c.fourcc == b"XMP "]
        insert_at = old_xmp[0] if old_xmp and old_xmp[0] > last_required else last_required + 1
        new_chunk = _chunk_bytes(b"XMP ", packet)
        for i, c in enumerate(rest):
            if i == insert_at:
                pieces.append((None, new_chunk))
            if c.fourcc == b"XMP ":
                continue
            if c.fourcc == b"EXIF":
                payload = c.payload(data)
                tiff, skip = _exif.strip_header(payload)
                blanked = _exif.blank_user_comment_record(tiff)
                if blanked is not None:
                    pieces.append((c, _chunk_bytes(b"EXIF", payload[:skip] + blanked)))
                    continue
            pieces.append((c, _verbatim(data, c, end)))
        if insert_at >= len(rest):
            pieces.append((None, new_chunk))
        body = b"".join(p for _, p in pieces)
        if 4 + len(body) > 0xFFFFFFFF:
            raise LimitExceeded("WebP output too large for RIFF")
        trailer = data[end:]
        return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WEBP" + body + trailer

    def content_digest(self, data: bytes) -> ContentDigest:
        chunks, _, _ = _chunks(data)
        h = hashlib.sha256()
        h.update(SELECTOR.encode() + b"\x00")
        n = 0
        for c in chunks:
            if c.fourcc in IMAGE_CHUNKS:
                h.update(c.fourcc + struct.pack("<I", c.size))
                h.update(c.payload(data))
                n += 1
        if not n:
            raise MalformedInput("WebP file without image data", offset=12)
        return ContentDigest(SELECTOR, "sha256", h.digest())


def _verbatim(data: bytes, c: Chunk, end: int) -> bytes:
    """A chunk exactly as stored, pad byte included (added when the file lacked it)."""
    stop = c.data_start + c.size
    if c.size & 1:
        return data[c.offset : stop + 1] if stop < end else data[c.offset : stop] + b"\x00"
    return data[c.offset : stop]


HANDLER: FormatHandler = WebpHandler()  # mypy checks the protocol statically
