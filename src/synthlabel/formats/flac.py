"""FLAC: the record as the ``VORBIS_COMMENT`` entry ``AIGC=<json>``.

Metadata blocks other than VORBIS_COMMENT and PADDING (STREAMINFO, SEEKTABLE, APPLICATION,
CUESHEET, PICTURE, unknown types) are copied byte for byte, in order. PADDING absorbs the
size change so the audio frames stay at the same offset whenever the new comment fits; else
the metadata grows by :data:`NEW_PADDING` bytes of fresh padding. The audio frames are never
touched. The Vorbis comment helpers here are shared with the Ogg handler.
See ``docs/formats-audio.md``.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

from synthlabel.errors import LimitExceeded, MalformedInput
from synthlabel.formats import _limits, mp3
from synthlabel.formats.base import (
    Carrier,
    ContainerMetadata,
    ContentDigest,
    FormatHandler,
    LabelWrite,
    MediaKind,
)

SELECTOR = "synthlabel.flac.v1"
MAGIC = b"fLaC"
STREAMINFO, PADDING, VORBIS_COMMENT, PICTURE = 0, 1, 4, 6
#: Most metadata blocks walked in one file.
MAX_FLAC_BLOCKS = 100_000
#: Most entries in one Vorbis comment list.
MAX_COMMENTS = 1_000_000
#: Padding added when the metadata must grow (libFLAC's default is 8 KiB; this is enough for
#: the next label edit to fit in place).
NEW_PADDING = 4096
#: Vendor string of a VORBIS_COMMENT block we create in a file that has none.
NEW_VENDOR = b"synthlabel"
_MAX_BLOCK = 0xFFFFFF

# ---------------------------------------------------------------------------------------
# Vorbis comments (FLAC VORBIS_COMMENT block body, Ogg Vorbis/Opus comment packets)


@dataclass(frozen=True, slots=True)
class Comments:
    vendor: bytes
    entries: list[tuple[int, bytes]]  # (offset of the entry text within the buffer, text)
    tail: bytes  # bytes after the list (Vorbis framing bit, Opus binary data), kept


def parse_comments(buf: bytes, start: int = 0, *, base: int = 0) -> Comments:
    """Parse a Vorbis comment list at ``buf[start:]``: uint32 LE vendor length, vendor,
    uint32 LE count, then ``count`` x (uint32 LE length, UTF-8 ``NAME=value``).

    ``base`` is added to offsets in error messages. Raises MalformedInput/LimitExceeded."""
    n = len(buf)
    pos = start

    def u32(at: int) -> int:
        if at + 4 > n:
            raise MalformedInput("truncated Vorbis comment list", offset=base + at)
        return int(struct.unpack_from("<I", buf, at)[0])

    vlen = u32(pos)
    pos += 4
    if pos + vlen > n:
        raise MalformedInput("Vorbis comment vendor string runs past the end", offset=base + pos)
    vendor = buf[pos : pos + vlen]
    pos += vlen
    count = u32(pos)
    pos += 4
    if count * 4 > n - pos:
        raise MalformedInput(f"Vorbis comment count {count} exceeds the data", offset=base + pos)
    if count > MAX_COMMENTS:
        raise LimitExceeded(f"more than {MAX_COMMENTS} Vorbis comments", offset=base + pos - 4)
    entries: list[tuple[int, bytes]] = []
    for _ in range(count):
        ln = u32(pos)
        pos += 4
        if pos + ln > n:
            raise MalformedInput("Vorbis comment runs past the end", offset=base + pos)
        entries.append((pos, buf[pos : pos + ln]))
        pos += ln
    return Comments(vendor, entries, buf[pos:])


def is_aigc_entry(entry: bytes) -> bool:
    name, eq, _ = entry.partition(b"=")
    return bool(eq) and name.strip().upper() == b"AIGC"


def aigc_entries(c: Comments) -> list[tuple[int, bytes, bytes]]:
    """(offset of the value, field name, value) of every AIGC entry."""
    out = []
    for off, e in c.entries:
        if is_aigc_entry(e):
            name, _, value = e.partition(b"=")
            out.append((off + len(name) + 1, name, value))
    return out


def build_comments(c: Comments, value: str | None) -> bytes:
    """The list with every AIGC entry removed and, when ``value`` is given, ``AIGC=value`` in
    place of the first one (else appended). Other entries keep their bytes and order."""
    new = b"AIGC=" + value.encode("utf-8") if value is not None else None
    entries: list[bytes] = []
    for _, e in c.entries:
        if is_aigc_entry(e):
            if new is not None:
                entries.append(new)
                new = None
            continue
        entries.append(e)
    if new is not None:
        entries.append(new)
    out = [struct.pack("<I", len(c.vendor)), c.vendor, struct.pack("<I", len(entries))]
    for e in entries:
        out += [struct.pack("<I", len(e)), e]
    out.append(c.tail)
    return b"".join(out)


# ---------------------------------------------------------------------------------------
# FLAC metadata blocks


@dataclass(frozen=True, slots=True)
class Block:
    type: int
    start: int  # offset of the 4-byte block header
    end: int

    @property
    def data_start(self) -> int:
        return self.start + 4


@dataclass(frozen=True, slots=True)
class FlacFile:
    blocks: list[Block]
    audio_start: int
    audio_end: int  # before trailing ID3v1/APEv2 tags


def parse(data: bytes) -> FlacFile:
    """Walk the metadata blocks. Raises MalformedInput/LimitExceeded on broken input."""
    _limits.check_input(data, "FLAC")
    if not data.startswith(MAGIC):
        raise MalformedInput("not a FLAC file (no fLaC marker)", offset=0)
    n = len(data)
    pos = 4
    blocks: list[Block] = []
    counter = _limits.Counter(MAX_FLAC_BLOCKS, "FLAC metadata blocks")
    while True:
        counter.tick(pos)
        if pos + 4 > n:
            raise MalformedInput("FLAC metadata is truncated (no last-block flag)", offset=pos)
        hdr = data[pos]
        btype = hdr & 0x7F
        if btype == 127:
            raise MalformedInput("invalid FLAC metadata block type 127", offset=pos)
        end = pos + 4 + int.from_bytes(data[pos + 1 : pos + 4], "big")
        if end > n:
            raise MalformedInput(f"FLAC metadata block type {btype} runs past the end", offset=pos)
        blocks.append(Block(btype, pos, end))
        pos = end
        if hdr & 0x80:
            break
    first = blocks[0]
    if first.type != STREAMINFO or first.end - first.data_start < 34:
        raise MalformedInput("first FLAC metadata block is not a STREAMINFO", offset=4)
    trailing = mp3.trailing_tags(data, pos)
    return FlacFile(blocks, pos, trailing[0].start if trailing else n)


def _block(btype: int, body: bytes) -> bytes:
    if len(body) > _MAX_BLOCK:
        raise LimitExceeded(f"FLAC metadata block of {len(body)} bytes (max {_MAX_BLOCK})")
    return bytes([btype]) + len(body).to_bytes(3, "big") + body


def _padding(total: int) -> list[bytes]:
    """PADDING blocks taking exactly ``total`` bytes (headers included; ``total`` >= 4)."""
    out = []
    while total:
        body = min(total - 4, _MAX_BLOCK)
        if total - 4 - body in (1, 2, 3):  # keep the remainder big enough for a header
            body -= 4
        out.append(_block(PADDING, b"\x00" * body))
        total -= 4 + body
    return out


class FlacHandler:
    id = "flac"
    name = "FLAC"
    media_kind = MediaKind.AUDIO
    extensions: tuple[str, ...] = ("flac",)
    mime_types: tuple[str, ...] = ("audio/flac", "audio/x-flac")
    sniff_bytes = 4

    def sniff(self, head: bytes) -> bool:
        return head[:4] == MAGIC

    def read(self, data: bytes) -> ContainerMetadata:
        meta = ContainerMetadata(format_id=self.id)
        f = parse(data)
        vcs = [b for b in f.blocks if b.type == VORBIS_COMMENT]
        if len(vcs) > 1:
            meta.warnings.append(f"{len(vcs)} VORBIS_COMMENT blocks (one expected)")
        for b in vcs:
            try:
                c = parse_comments(data[b.data_start : b.end], base=b.data_start)
            except MalformedInput as exc:
                meta.warnings.append(f"unreadable VORBIS_COMMENT block: {exc}")
                continue
            for off, name, value in aigc_entries(c):
                if name != b"AIGC":
                    meta.warnings.append(f"Vorbis comment field spelled {name!r}")
                meta.carriers.append(
                    Carrier("aigc", b.data_start + off, value, "VORBIS_COMMENT AIGC")
                )
        if len(meta.carriers) > 1:
            meta.warnings.append(
                f"{len(meta.carriers)} AIGC comments (one record per file expected)"
            )
        if f.audio_start >= f.audio_end:
            meta.warnings.append("no audio frames after the metadata")
        elif data[f.audio_start] != 0xFF or data[f.audio_start + 1 : f.audio_start + 2] not in (
            b"\xf8",
            b"\xf9",
        ):
            meta.warnings.append(f"no FLAC frame sync at byte {f.audio_start}")
        return meta

    def write_label(self, data: bytes, label: LabelWrite) -> bytes:
        f = parse(data)
        meta: list[tuple[int, bytes]] = []  # (type, body) of every non-padding block
        done = False
        for b in f.blocks:
            if b.type == PADDING:
                continue
            body = data[b.data_start : b.end]
            if b.type == VORBIS_COMMENT:
                c = parse_comments(body, base=b.data_start)
                if not done:
                    body = build_comments(c, label.aigc_json)
                    done = True
                elif aigc_entries(c):
                    body = build_comments(c, None)
            meta.append((b.type, body))
        if not done:
            fresh = Comments(NEW_VENDOR, [], b"")
            meta.insert(1, (VORBIS_COMMENT, build_comments(fresh, label.aigc_json)))
        blocks = [_block(t, body) for t, body in meta]
        old = f.audio_start - 4
        used = sum(len(raw) for raw in blocks)
        if used == old:
            pads = []
        elif used + 4 <= old:
            pads = _padding(old - used)
        else:
            pads = _padding(4 + NEW_PADDING)
        blocks += pads
        out: list[bytes | memoryview] = [MAGIC]
        for i, raw in enumerate(blocks):
            last = 0x80 if i == len(blocks) - 1 else 0
            out.append(bytes([(raw[0] & 0x7F) | last]) + raw[1:])
        out.append(memoryview(data)[f.audio_start :])
        return b"".join(out)

    def content_digest(self, data: bytes) -> ContentDigest:
        f = parse(data)
        si = f.blocks[0]
        h = hashlib.sha256(struct.pack(">I", si.end - si.data_start))
        view = memoryview(data)
        h.update(view[si.data_start : si.end])
        h.update(view[f.audio_start : f.audio_end])
        return ContentDigest(selector=SELECTOR, algorithm="sha256", digest=h.digest())


HANDLER: FormatHandler = FlacHandler()
