"""GIF container: XMP in the Adobe ``XMP DataXMP`` application extension.

Adobe's layout stores the packet bytes raw (not split into sub-blocks) followed by a 258-byte
"magic trailer" ``01 FF FE ... 01 00`` plus the block terminator ``00``: a GIF decoder that
walks the packet as sub-blocks always lands in the trailer and skips to the terminator. The
extension goes before the first graphic block; writing upgrades a ``GIF87a`` header to
``GIF89a`` (extensions need 89a). Every other byte is kept. See ``docs/formats.md``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from synthlabel.errors import MalformedInput
from synthlabel.formats import _blob, _limits
from synthlabel.formats.base import (
    Carrier,
    ContainerMetadata,
    ContentDigest,
    FormatHandler,
    MediaKind,
    XmpLabelWriter,
)

XMP_APP_ID = b"XMP DataXMP"
#: C2PA manifest store: application extension "C2PA_GIF" + 3-byte auth code, JUMBF in sub-blocks.
C2PA_APP_ID = b"C2PA_GIF"
#: 01, FF, FE, ..., 01, 00: what follows the packet (257 bytes) before the terminator.
MAGIC = bytes([1, *range(255, -1, -1)])
SELECTOR = "synthlabel.gif.v1"

_EXT, _IMAGE, _TRAILER = 0x21, 0x2C, 0x3B
_GCE, _COMMENT, _APP, _PLAIN_TEXT = 0xF9, 0xFE, 0xFF, 0x01


@dataclass(frozen=True, slots=True)
class Block:
    """``kind``: ext (``label`` = extension label), image, trailer, tail (after the trailer)."""

    kind: str
    start: int
    end: int
    label: int = 0
    #: For extensions: where the sub-blocks start (after the label byte).
    body: int = 0


@dataclass(frozen=True, slots=True)
class GifFile:
    version: bytes
    screen_end: int  # end of logical screen descriptor + global colour table
    blocks: list[Block]


def _sub_blocks_end(data: bytes, pos: int, start: int) -> int:
    """Offset after the terminator of the sub-block chain at ``pos``."""
    n = len(data)
    while True:
        if pos >= n:
            raise MalformedInput("GIF is truncated inside a data sub-block chain", offset=start)
        size = data[pos]
        pos += 1 + size
        if size == 0:
            return pos


def parse(data: bytes, warnings: list[str] | None = None) -> GifFile:
    """Walk the block list. Raises MalformedInput/LimitExceeded on broken input."""
    _limits.check_input(data, "GIF")
    warn = warnings if warnings is not None else []
    if data[:6] not in (b"GIF87a", b"GIF89a"):
        raise MalformedInput("not a GIF file (bad header)", offset=0)
    n = len(data)
    if n < 13:
        raise MalformedInput("GIF is truncated in the logical screen descriptor", offset=6)
    pos = 13
    if data[10] & 0x80:
        pos += 3 << ((data[10] & 7) + 1)
    if pos > n:
        raise MalformedInput("GIF is truncated in the global colour table", offset=13)
    screen_end = pos
    blocks: list[Block] = []
    counter = _limits.Counter(_limits.MAX_GIF_BLOCKS, "GIF blocks")
    while True:
        counter.tick(pos)
        if pos >= n:
            warn.append("GIF has no trailer byte (0x3B)")
            break
        b = data[pos]
        if b == _TRAILER:
            blocks.append(Block("trailer", pos, pos + 1))
            if pos + 1 < n:
                blocks.append(Block("tail", pos + 1, n))
                warn.append(f"note: {n - pos - 1} bytes after the GIF trailer (kept)")
            break
        if b == _EXT:
            if pos + 2 > n:
                raise MalformedInput("GIF is truncated in an extension", offset=pos)
            end = _sub_blocks_end(data, pos + 2, pos)
            blocks.append(Block("ext", pos, end, data[pos + 1], pos + 2))
            pos = end
        elif b == _IMAGE:
            if pos + 10 > n:
                raise MalformedInput("GIF is truncated in an image descriptor", offset=pos)
            p = pos + 10
            if data[pos + 9] & 0x80:
                p += 3 << ((data[pos + 9] & 7) + 1)
            p += 1  # LZW minimum code size
            end = _sub_blocks_end(data, p, pos)
            blocks.append(Block("image", pos, end))
            pos = end
        else:
            raise MalformedInput(f"unknown GIF block introducer 0x{b:02X}", offset=pos)
    return GifFile(data[3:6], screen_end, blocks)


def _join_sub_blocks(data: bytes, pos: int, end: int) -> bytes:
    out = bytearray()
    while pos < end:
        size = data[pos]
        if size == 0:
            break
        out += data[pos + 1 : pos + 1 + size]
        pos += 1 + size
    return bytes(out)


def _is_xmp(data: bytes, b: Block) -> bool:
    return (
        b.kind == "ext"
        and b.label == _APP
        and data[b.body] == 11
        and data[b.body + 1 : b.body + 12] == XMP_APP_ID
    )


def xmp_payload(data: bytes, b: Block, warnings: list[str]) -> bytes:
    """The packet in an XMP application extension, in Adobe's raw layout or as sub-blocks."""
    start = b.body + 12  # after the 11-byte identifier sub-block
    raw = data[start : b.end - 1]  # up to (not including) the block terminator
    if raw.endswith(MAGIC):
        return raw[: -len(MAGIC)]
    joined = _join_sub_blocks(data, start, b.end)
    if b"<?xpacket end" in joined or b"</x:xmpmeta>" in joined:
        warnings.append("note: GIF XMP stored as ordinary sub-blocks (no magic trailer)")
        return joined
    end = raw.find(b"?>", raw.find(b"<?xpacket end"))
    if b"<?xpacket end" in raw and end > 0:
        warnings.append("GIF XMP extension has a damaged magic trailer")
        return raw[: end + 2]
    warnings.append("GIF XMP extension holds no complete packet")
    return joined


def xmp_extension(packet: bytes) -> bytes:
    if b"\x00" in packet:
        raise MalformedInput("an XMP packet with NUL bytes cannot be stored in a GIF")
    return b"\x21\xff\x0b" + XMP_APP_ID + packet + MAGIC + b"\x00"


def _comment(data: bytes, b: Block) -> bytes:
    return _join_sub_blocks(data, b.body, b.end)


class GifHandler(XmpLabelWriter):
    id = "gif"
    name = "GIF"
    media_kind = MediaKind.IMAGE
    extensions: tuple[str, ...] = ("gif",)
    mime_types: tuple[str, ...] = ("image/gif",)
    sniff_bytes = 6

    def sniff(self, head: bytes) -> bool:
        return head[:6] in (b"GIF87a", b"GIF89a")

    def read(self, data: bytes) -> ContainerMetadata:
        meta = ContainerMetadata(format_id=self.id)
        gif = parse(data, meta.warnings)
        meta.width = int.from_bytes(data[6:8], "little") or None
        meta.height = int.from_bytes(data[8:10], "little") or None
        meta.frames = sum(1 for b in gif.blocks if b.kind == "image")
        seen_image = False
        for b in gif.blocks:
            if b.kind == "image":
                seen_image = True
            if _is_xmp(data, b):
                if seen_image:
                    meta.warnings.append("XMP extension after the first image (allowed, unusual)")
                packet = xmp_payload(data, b, meta.warnings)
                meta.carriers.append(Carrier("xmp", b.body + 12, packet, "App XMP DataXMP"))
            elif (
                b.kind == "ext"
                and b.label == _APP
                and data[b.body] == 11
                and data[b.body + 1 : b.body + 9] == C2PA_APP_ID
            ):
                store = _join_sub_blocks(data, b.body + 12, b.end)
                meta.carriers.append(Carrier("c2pa", b.body + 12, store, "App C2PA_GIF"))
            elif b.kind == "ext" and b.label == _COMMENT:
                text = _comment(data, b)
                for s, e in _blob.find_records(text)[: _limits.MAX_CARRIERS]:
                    meta.carriers.append(Carrier("blob", b.body, text[s:e], "Comment AIGC"))
        if len(meta.xmp) > 1:
            meta.warnings.append("more than one XMP extension")
        if gif.version == b"87a" and any(b.kind == "ext" for b in gif.blocks):
            meta.warnings.append("GIF87a file contains extensions (needs GIF89a)")
        return meta

    def write_xmp(self, data: bytes, packet: bytes) -> bytes:
        gif = parse(data)
        new = xmp_extension(packet)
        blocks = gif.blocks
        graphic = next(
            (
                i
                for i, b in enumerate(blocks)
                if b.kind in ("image", "trailer", "tail")
                or (b.kind == "ext" and b.label in (_GCE, _PLAIN_TEXT))
            ),
            len(blocks),
        )
        place = next((i for i in range(graphic) if _is_xmp(data, blocks[i])), graphic)
        out = [b"GIF89a", data[6 : gif.screen_end]]
        for i, b in enumerate(blocks):
            if i == place:
                out.append(new)
            if _is_xmp(data, b):
                continue
            if b.kind == "ext" and b.label == _COMMENT and _blob.is_record_only(_comment(data, b)):
                continue  # a comment that only held an AIGC record: one record per file
            out.append(data[b.start : b.end])
        if place >= len(blocks):
            out.append(new)
        return b"".join(out)

    def content_digest(self, data: bytes) -> ContentDigest:
        gif = parse(data)
        h = hashlib.sha256(b"GIF")  # the version (87a/89a) is not covered: writing upgrades it
        h.update(data[6 : gif.screen_end])
        for b in gif.blocks:
            if b.kind in ("image", "trailer") or (
                b.kind == "ext" and b.label in (_GCE, _PLAIN_TEXT)
            ):
                h.update(data[b.start : b.end])
        return ContentDigest(selector=SELECTOR, algorithm="sha256", digest=h.digest())


HANDLER: FormatHandler = GifHandler()  # mypy checks the protocol statically
