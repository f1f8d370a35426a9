"""PNG / APNG container: XMP in an uncompressed ``iTXt XML:com.adobe.xmp`` chunk before IDAT.

Readers also report ``tEXt``/``zTXt``/``iTXt`` chunks with keyword ``AIGC`` (kind ``aigc``),
``caBX`` C2PA stores and EXIF text from ``eXIf``. Writing re-emits every other chunk byte for
byte (CRC included, even a wrong one); only the XMP chunk is new. See ``docs/formats.md``.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from dataclasses import dataclass

from synthlabel.errors import MalformedInput
from synthlabel.formats import _exif, _limits
from synthlabel.formats.base import (
    Carrier,
    ContainerMetadata,
    ContentDigest,
    FormatHandler,
    MediaKind,
    XmpLabelWriter,
)

SIGNATURE = b"\x89PNG\r\n\x1a\n"
XMP_KEYWORD = b"XML:com.adobe.xmp"
SELECTOR = "synthlabel.png.v1"

#: Chunks the content digest covers: everything needed to decode the pixels of every frame.
DIGEST_CHUNKS = frozenset({b"IHDR", b"PLTE", b"tRNS", b"IDAT", b"acTL", b"fcTL", b"fdAT", b"IEND"})
_TEXT_CHUNKS = (b"tEXt", b"zTXt", b"iTXt")


@dataclass(frozen=True, slots=True)
class Chunk:
    type: bytes
    start: int  # offset of the length field
    end: int  # offset after the CRC

    @property
    def data_start(self) -> int:
        return self.start + 8

    @property
    def data_end(self) -> int:
        return self.end - 4


@dataclass(frozen=True, slots=True)
class PngFile:
    chunks: list[Chunk]
    #: Offset after IEND's CRC (``len(data)`` when nothing follows IEND).
    iend_end: int


def parse(data: bytes, warnings: list[str] | None = None) -> PngFile:
    """Walk the chunk list. Raises MalformedInput/LimitExceeded on broken input."""
    _limits.check_input(data, "PNG")
    warn = warnings if warnings is not None else []
    if not data.startswith(SIGNATURE):
        raise MalformedInput("not a PNG file (bad signature)", offset=0)
    n = len(data)
    pos = len(SIGNATURE)
    chunks: list[Chunk] = []
    counter = _limits.Counter(_limits.MAX_PNG_CHUNKS, "PNG chunks")
    while True:
        counter.tick(pos)
        if pos + 12 > n:
            raise MalformedInput("PNG is truncated: no IEND chunk", offset=pos)
        length, ctype = struct.unpack(">I4s", data[pos : pos + 8])
        if length > 0x7FFFFFFF:
            raise MalformedInput(f"chunk length {length} exceeds 2^31-1", offset=pos)
        if not all(0x41 <= c <= 0x5A or 0x61 <= c <= 0x7A for c in ctype):
            raise MalformedInput(f"invalid chunk type {ctype!r}", offset=pos + 4)
        end = pos + 12 + length
        if end > n:
            raise MalformedInput(
                f"chunk {ctype.decode('ascii')} ({length} bytes) runs past the end of the file",
                offset=pos,
            )
        chunks.append(Chunk(ctype, pos, end))
        pos = end
        if ctype == b"IEND":
            if pos < n:
                warn.append(f"note: {n - pos} bytes after IEND (kept)")
            break
    if chunks[0].type != b"IHDR":
        raise MalformedInput("first chunk is not IHDR", offset=chunks[0].start)
    return PngFile(chunks, pos)


def _crc(ctype: bytes, body: bytes) -> bytes:
    return struct.pack(">I", zlib.crc32(body, zlib.crc32(ctype)) & 0xFFFFFFFF)


def make_chunk(ctype: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + ctype + body + _crc(ctype, body)


def xmp_chunk(packet: bytes) -> bytes:
    """``iTXt`` with keyword ``XML:com.adobe.xmp``, uncompressed, empty language fields."""
    return make_chunk(b"iTXt", XMP_KEYWORD + b"\x00\x00\x00\x00\x00" + packet)


@dataclass(frozen=True, slots=True)
class TextChunk:
    keyword: bytes
    text: bytes  # tEXt: Latin-1 bytes; iTXt: UTF-8 bytes; zTXt: inflated Latin-1 bytes
    text_offset: int  # where the (possibly compressed) text starts in the file


def parse_text(data: bytes, c: Chunk) -> TextChunk:
    """Decode a tEXt/zTXt/iTXt chunk. Raises MalformedInput/LimitExceeded."""
    body = data[c.data_start : c.data_end]
    nul = body.find(b"\x00", 0, 80)
    if nul < 1:
        raise MalformedInput(f"{c.type.decode()} chunk has no valid keyword", offset=c.start)
    keyword = body[:nul]
    rest = nul + 1
    if c.type == b"tEXt":
        return TextChunk(keyword, body[rest:], c.data_start + rest)
    if c.type == b"zTXt":
        if rest >= len(body) or body[rest] != 0:
            raise MalformedInput("zTXt chunk with unknown compression", offset=c.start)
        text = _limits.inflate(body[rest + 1 :], offset=c.data_start + rest + 1)
        return TextChunk(keyword, text, c.data_start + rest + 1)
    # iTXt: flag, method, language\0, translated keyword\0, text
    if rest + 2 > len(body):
        raise MalformedInput("iTXt chunk is truncated", offset=c.start)
    flag, method = body[rest], body[rest + 1]
    lang_end = body.find(b"\x00", rest + 2)
    tk_end = body.find(b"\x00", lang_end + 1) if lang_end >= 0 else -1
    if tk_end < 0:
        raise MalformedInput("iTXt chunk is truncated", offset=c.start)
    text_at = tk_end + 1
    raw = body[text_at:]
    if flag == 1:
        if method != 0:
            raise MalformedInput("iTXt chunk with unknown compression", offset=c.start)
        raw = _limits.inflate(raw, offset=c.data_start + text_at)
    elif flag != 0:
        raise MalformedInput(f"iTXt chunk has invalid compression flag {flag}", offset=c.start)
    return TextChunk(keyword, raw, c.data_start + text_at)


def _text_keyword(data: bytes, c: Chunk) -> bytes | None:
    """The keyword of a text chunk without decompressing anything (None if unreadable)."""
    if c.type not in _TEXT_CHUNKS:
        return None
    nul = data.find(b"\x00", c.data_start, min(c.data_end, c.data_start + 80))
    return data[c.data_start : nul] if nul > c.data_start else None


def _is_xmp(data: bytes, c: Chunk) -> bool:
    return _text_keyword(data, c) == XMP_KEYWORD


def _is_aigc(data: bytes, c: Chunk) -> bool:
    kw = _text_keyword(data, c)
    return kw is not None and kw.upper() == b"AIGC"


class PngHandler(XmpLabelWriter):
    id = "png"
    name = "PNG"
    media_kind = MediaKind.IMAGE
    extensions: tuple[str, ...] = ("png", "apng")
    mime_types: tuple[str, ...] = ("image/png", "image/apng")
    sniff_bytes = 8

    def sniff(self, head: bytes) -> bool:
        return head[:8] == SIGNATURE

    def read(self, data: bytes) -> ContainerMetadata:
        meta = ContainerMetadata(format_id=self.id, frames=1)
        png = parse(data, meta.warnings)
        ihdr = png.chunks[0]
        if ihdr.data_end - ihdr.data_start >= 8:
            meta.width, meta.height = struct.unpack(">II", data[ihdr.data_start : ihdr.start + 16])
        seen_idat = False
        for c in png.chunks:
            body = data[c.data_start : c.data_end]
            if data[c.data_end : c.end] != _crc(c.type, body):
                meta.warnings.append(f"CRC mismatch in chunk {c.type.decode()} at byte {c.start}")
            if c.type == b"IDAT":
                seen_idat = True
            elif c.type == b"acTL" and len(body) >= 8:
                meta.frames = struct.unpack(">I", body[:4])[0] or None
            elif c.type in _TEXT_CHUNKS and (_is_xmp(data, c) or _is_aigc(data, c)):
                try:
                    t = parse_text(data, c)
                except MalformedInput as exc:
                    meta.warnings.append(f"unreadable {c.type.decode()} chunk: {exc}")
                    continue
                if t.keyword == XMP_KEYWORD:
                    if c.type != b"iTXt":
                        meta.warnings.append(f"XMP in a {c.type.decode()} chunk (should be iTXt)")
                    if seen_idat:
                        meta.warnings.append("XMP chunk after IDAT (should precede it)")
                    meta.carriers.append(
                        Carrier(
                            "xmp",
                            t.text_offset,
                            t.text,
                            f"{c.type.decode()} {XMP_KEYWORD.decode()}",
                        )
                    )
                else:
                    if t.keyword != b"AIGC":
                        meta.warnings.append(f"AIGC text chunk keyword spelled {t.keyword!r}")
                    meta.carriers.append(
                        Carrier("aigc", t.text_offset, t.text, f"{c.type.decode()} AIGC")
                    )
            elif c.type == b"caBX":
                meta.carriers.append(Carrier("c2pa", c.data_start, body, "caBX"))
            elif c.type == b"eXIf":
                if meta.exif is not None:
                    meta.warnings.append(f"second eXIf chunk at byte {c.start} ignored")
                    continue
                tiff, skip = _exif.strip_header(body)
                if skip:
                    meta.warnings.append("eXIf chunk starts with an 'Exif\\0\\0' header")
                meta.exif = tiff
                found, warns = _exif.carriers(tiff, c.data_start + skip, "eXIf")
                meta.carriers.extend(found)
                meta.warnings.extend(warns)
        if len(meta.xmp) > 1:
            meta.warnings.append("more than one XMP chunk")
        if not seen_idat:
            meta.warnings.append("no IDAT chunk")
        return meta

    def write_xmp(self, data: bytes, packet: bytes) -> bytes:
        png = parse(data)
        chunks = png.chunks
        new = xmp_chunk(packet)
        # Before the first image data (for APNG: before frame 0's fcTL when it leads IDAT).
        first_image = next(
            (i for i, c in enumerate(chunks) if c.type in (b"IDAT", b"fcTL", b"fdAT")), None
        )
        if first_image is None:
            raise MalformedInput("PNG has no IDAT chunk", offset=chunks[-1].start)
        place = next(
            (i for i, c in enumerate(chunks[:first_image]) if _is_xmp(data, c)), first_image
        )
        out = [data[: chunks[0].start]]
        for i, c in enumerate(chunks):
            if i == place:
                out.append(new)
            if _is_xmp(data, c) or _is_aigc(data, c):
                continue  # the old XMP (replaced above), duplicates, tEXt/iTXt/zTXt AIGC
            if c.type == b"eXIf":
                blanked = self._blank_exif(data, c)
                if blanked is not None:
                    out.append(blanked)
                    continue
            out.append(data[c.start : c.end])
        out.append(data[png.iend_end :])
        return b"".join(out)

    @staticmethod
    def _blank_exif(data: bytes, c: Chunk) -> bytes | None:
        body = data[c.data_start : c.data_end]
        tiff, skip = _exif.strip_header(body)
        blanked = _exif.blank_user_comment_record(tiff)
        if blanked is None:
            return None
        return make_chunk(b"eXIf", body[:skip] + blanked)

    def content_digest(self, data: bytes) -> ContentDigest:
        png = parse(data)
        h = hashlib.sha256(SIGNATURE)
        for c in png.chunks:
            if c.type in DIGEST_CHUNKS:
                h.update(data[c.start : c.data_end])  # length, type, data; not the CRC
        return ContentDigest(selector=SELECTOR, algorithm="sha256", digest=h.digest())


HANDLER: FormatHandler = PngHandler()  # mypy checks the protocol statically
