"""MP3 (MPEG-1/2/2.5 audio, layers I-III): the record in an ID3v2 ``TXXX`` frame ``AIGC``.

The ID3v2 tag is edited by hand, not through a tagging library: every other frame is copied
byte for byte (flags, encodings, unknown and experimental frames included) and the tag keeps
its version (v2.2 ``TXX``, v2.3, v2.4), so nothing is converted or dropped. The audio frames
are never touched. See ``docs/formats-audio.md``.
"""

from __future__ import annotations

import hashlib
import re
import struct
import zlib
from dataclasses import dataclass, field

from synthlabel.errors import LimitExceeded, MalformedInput
from synthlabel.formats import _limits
from synthlabel.formats.base import (
    Carrier,
    ContainerMetadata,
    ContentDigest,
    FormatHandler,
    LabelWrite,
    MediaKind,
)

SELECTOR = "synthlabel.mp3.v1"
#: Most frames walked in one ID3v2 tag.
MAX_ID3_FRAMES = 100_000
#: Most consecutive ID3v2 tags at the start of a file (broken taggers sometimes stack them).
MAX_ID3_TAGS = 16
#: Padding added when the tag must grow (so the next edit fits in place).
NEW_TAG_PADDING = 1024
#: Version of a tag we create for a file without one.
NEW_TAG_VERSION = 4
_SYNCSAFE_MAX = 0x0FFFFFFF

# ---------------------------------------------------------------------------------------
# MPEG audio frame headers


_BITRATES: dict[tuple[int, int], tuple[int, ...]] = {
    (1, 1): (0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (1, 2): (0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (1, 3): (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (2, 1): (0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (2, 2): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    (2, 3): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_SAMPLE_RATES = {1: (44100, 48000, 32000), 2: (22050, 24000, 16000), 25: (11025, 12000, 8000)}


@dataclass(frozen=True, slots=True)
class FrameHeader:
    version: int  # 1, 2 or 25 (MPEG-2.5)
    layer: int  # 1, 2 or 3
    bitrate: int  # bits per second; 0 = free format
    sample_rate: int
    channels: int
    length: int  # frame length in bytes; 0 when free format (unknown)


def frame_header(data: bytes, pos: int) -> FrameHeader | None:
    """The MPEG audio frame header at ``pos``, or None if there is no valid one."""
    if pos < 0 or pos + 4 > len(data):
        return None
    h = int.from_bytes(data[pos : pos + 4], "big")
    if h >> 21 != 0x7FF:
        return None
    version = {0: 25, 2: 2, 3: 1}.get((h >> 19) & 3)
    layer = {1: 3, 2: 2, 3: 1}.get((h >> 17) & 3)
    br_idx, sr_idx = (h >> 12) & 15, (h >> 10) & 3
    if version is None or layer is None or br_idx == 15 or sr_idx == 3 or (h & 3) == 2:
        return None
    bitrate = _BITRATES[(1 if version == 1 else 2, layer)][br_idx] * 1000
    sr = _SAMPLE_RATES[version][sr_idx]
    pad = (h >> 9) & 1
    channels = 1 if ((h >> 6) & 3) == 3 else 2
    if bitrate == 0:
        length = 0
    elif layer == 1:
        length = (12 * bitrate // sr + pad) * 4
    elif layer == 3 and version != 1:
        length = 72 * bitrate // sr + pad
    else:
        length = 144 * bitrate // sr + pad
    return FrameHeader(version, layer, bitrate, sr, channels, length)


def info_frame_length(data: bytes, pos: int, end: int) -> int:
    """Length of a Xing/Info/VBRI header frame at ``pos`` (LAME's VBR/info frame), else 0.

    The frame carries encoder information and a seek table, not audio (decoders skip it)."""
    fh = frame_header(data, pos)
    if fh is None or fh.layer != 3 or fh.length == 0 or pos + fh.length > end:
        return 0
    side = (32 if fh.channels == 2 else 17) if fh.version == 1 else (17 if fh.channels == 2 else 9)
    tag = data[pos + 4 + side : pos + 8 + side]
    if tag in (b"Xing", b"Info") or data[pos + 36 : pos + 40] == b"VBRI":
        return fh.length
    return 0


# ---------------------------------------------------------------------------------------
# ID3v2


def _syncsafe(b: bytes) -> int:
    v = 0
    for x in b:
        v = (v << 7) | (x & 0x7F)
    return v


def _to_syncsafe(n: int, width: int = 4) -> bytes:
    if n >= 1 << (7 * width):
        raise LimitExceeded(f"ID3v2 size {n} does not fit a syncsafe integer")
    return bytes((n >> (7 * (width - 1 - i))) & 0x7F for i in range(width))


_UNSYNC_RE = re.compile(b"\xff(?=[\x00\xe0-\xff])")


def unsynchronise(b: bytes) -> bytes:
    out = _UNSYNC_RE.sub(b"\xff\x00", b)
    return out + b"\x00" if out.endswith(b"\xff") else out


def deunsynchronise(b: bytes) -> bytes:
    return b.replace(b"\xff\x00", b"\xff")


_FRAME_ID = re.compile(rb"[A-Z0-9]{3,4}\Z")


@dataclass(slots=True)
class Id3Frame:
    fid: bytes
    raw: bytes  # header + payload as stored in the (de-unsynchronised) tag body
    header_len: int
    flags: int  # the 16-bit flags field (0 in v2.2)
    offset: int  # file offset of the frame (approximate in a v2.2/v2.3 unsynchronised tag)


@dataclass(slots=True)
class Id3Tag:
    start: int  # file offset of "ID3"
    end: int  # file offset after the tag (footer included)
    major: int
    revision: int
    flags: int
    body_size: int  # the header's size field: bytes between header and footer/end
    ext: bytes  # extended header (de-unsynchronised), or b""
    frames: list[Id3Frame] = field(default_factory=list)
    junk: bytes = b""  # unparseable bytes after the last frame (not zero padding), kept
    plain_sizes: bool = False  # v2.4 tag written with non-syncsafe frame sizes (iTunes bug)

    @property
    def footer(self) -> bool:
        return self.major == 4 and bool(self.flags & 0x10)

    @property
    def unsync_body(self) -> bool:
        """The whole body is unsynchronised (v2.2/v2.3 semantics of the header flag)."""
        return self.major < 4 and bool(self.flags & 0x80)


def tag_extent(data: bytes, pos: int) -> int:
    """End offset of the ID3v2 tag whose header is at ``pos`` (MalformedInput if invalid)."""
    hdr = data[pos : pos + 10]
    if len(hdr) < 10 or hdr[:3] != b"ID3":
        raise MalformedInput("truncated ID3v2 header", offset=pos)
    if hdr[3] not in (2, 3, 4) or hdr[4] == 0xFF or any(b & 0x80 for b in hdr[6:10]):
        raise MalformedInput(f"invalid ID3v2 header (version 2.{hdr[3]})", offset=pos)
    footer = hdr[3] == 4 and hdr[5] & 0x10
    end = pos + 10 + _syncsafe(hdr[6:10]) + (10 if footer else 0)
    if end > len(data):
        raise MalformedInput("ID3v2 tag runs past the end of the file", offset=pos)
    return end


def _walk_frames(
    body: bytes, pos: int, major: int, plain: bool, base: int
) -> tuple[list[Id3Frame], int, bool]:
    hl = 6 if major == 2 else 10
    idlen = 3 if major == 2 else 4
    frames: list[Id3Frame] = []
    counter = _limits.Counter(MAX_ID3_FRAMES, "ID3v2 frames")
    n = len(body)
    while pos < n:
        counter.tick(base + pos)
        if body[pos] == 0:
            return frames, pos, True  # padding
        if pos + hl > n:
            return frames, pos, False
        fid = body[pos : pos + idlen]
        if not _FRAME_ID.match(fid):
            return frames, pos, False
        if major == 2:
            size, flags = int.from_bytes(body[pos + 3 : pos + 6], "big"), 0
        else:
            raw_size = body[pos + 4 : pos + 8]
            if major == 3 or plain:
                size = int.from_bytes(raw_size, "big")
            elif any(b & 0x80 for b in raw_size):
                return frames, pos, False
            else:
                size = _syncsafe(raw_size)
            flags = int.from_bytes(body[pos + 8 : pos + 10], "big")
        if pos + hl + size > n:
            return frames, pos, False
        frames.append(Id3Frame(fid, body[pos : pos + hl + size], hl, flags, base + pos))
        pos += hl + size
    return frames, pos, True


def parse_tag(data: bytes, pos: int, warnings: list[str] | None = None) -> Id3Tag:
    """Parse the ID3v2 tag at ``pos``. Raises MalformedInput/LimitExceeded."""
    warn = warnings if warnings is not None else []
    end = tag_extent(data, pos)
    major, rev, flags = data[pos + 3], data[pos + 4], data[pos + 5]
    size = _syncsafe(data[pos + 6 : pos + 10])
    known = {2: 0xC0, 3: 0xE0, 4: 0xF0}[major]
    if flags & ~known & 0xFF:
        raise MalformedInput(
            f"ID3v2.{major} tag with unknown header flags {flags:#04x}", offset=pos
        )
    if major == 2 and flags & 0x40:
        raise MalformedInput("compressed ID3v2.2 tag (undefined scheme)", offset=pos)
    tag = Id3Tag(pos, end, major, rev, flags, size, b"")
    body = data[pos + 10 : pos + 10 + size]
    if tag.unsync_body:
        body = deunsynchronise(body)
    fpos = 0
    if flags & 0x40:  # extended header (v2.3/v2.4)
        if len(body) < 6:
            raise MalformedInput("truncated ID3v2 extended header", offset=pos + 10)
        ext_len = 4 + struct.unpack(">I", body[:4])[0] if major == 3 else _syncsafe(body[:4])
        if ext_len < 6 or ext_len > len(body):
            raise MalformedInput("bad ID3v2 extended header size", offset=pos + 10)
        tag.ext = body[:ext_len]
        fpos = ext_len
    frames, stop, ok = _walk_frames(body, fpos, major, False, pos + 10)
    if not ok and major == 4:
        frames2, stop2, ok2 = _walk_frames(body, fpos, major, True, pos + 10)
        if ok2:
            frames, stop, ok = frames2, stop2, True
            tag.plain_sizes = True
            warn.append("ID3v2.4 tag uses non-syncsafe frame sizes (iTunes style)")
    tag.frames = frames
    rest = body[stop:].rstrip(b"\x00")
    if rest:
        tag.junk = rest
        warn.append(f"ID3v2 tag has {len(rest)} unparseable bytes at byte {pos + 10 + stop} (kept)")
    return tag


def _frame_payload(tag: Id3Tag, fr: Id3Frame, warn: list[str]) -> bytes | None:
    p = fr.raw[fr.header_len :]
    fl = fr.flags & 0xFF
    if tag.major == 3:
        if fl & 0x40:
            warn.append(f"encrypted {fr.fid.decode()} frame at byte {fr.offset} skipped")
            return None
        compressed = bool(fl & 0x80)
        if compressed:
            p = p[4:]
        if fl & 0x20:
            p = p[1:]
        if compressed:
            p = _limits.inflate(p, offset=fr.offset)
    elif tag.major == 4:
        if fl & 0x40:
            p = p[1:]
        if fl & 0x04:
            warn.append(f"encrypted {fr.fid.decode()} frame at byte {fr.offset} skipped")
            return None
        if fl & 0x01:
            p = p[4:]
        if fl & 0x02 or tag.flags & 0x80:
            p = deunsynchronise(p)
        if fl & 0x08:
            p = _limits.inflate(p, offset=fr.offset)
    return p


def _split_text(enc: int, b: bytes) -> tuple[bytes, bytes] | None:
    if enc in (0, 3):
        i = b.find(b"\x00")
        return (b, b"") if i < 0 else (b[:i], b[i + 1 :])
    for i in range(0, len(b) - 1, 2):
        if b[i] == 0 and b[i + 1] == 0:
            return b[:i], b[i + 2 :]
    return b, b""


def _decode_text(enc: int, b: bytes) -> str:
    if enc == 0:
        return b.decode("latin-1")
    if enc == 3:
        return b.decode("utf-8", "replace")
    if enc == 1:
        if b[:2] in (b"\xff\xfe", b"\xfe\xff"):
            return b.decode("utf-16", "replace")
        return b.decode("utf-16-le", "replace")
    return b.decode("utf-16-be", "replace")


@dataclass(frozen=True, slots=True)
class Txxx:
    frame: Id3Frame
    description: str
    value: str


def user_texts(tag: Id3Tag, warn: list[str]) -> list[Txxx]:
    """Every readable ``TXXX`` (v2.2: ``TXX``) frame: description and value."""
    out: list[Txxx] = []
    for fr in tag.frames:
        if fr.fid not in (b"TXXX", b"TXX"):
            continue
        try:
            p = _frame_payload(tag, fr, warn)
        except MalformedInput as exc:
            warn.append(f"unreadable {fr.fid.decode()} frame: {exc}")
            continue
        if not p or p[0] > 3:
            continue
        parts = _split_text(p[0], p[1:])
        if parts is None:
            continue
        desc = _decode_text(p[0], parts[0]).strip("\x00")
        values = [v for v in _decode_text(p[0], parts[1]).split("\x00") if v.strip()]
        out.append(Txxx(fr, desc, values[0] if values else ""))
    return out


def is_aigc_description(desc: str) -> bool:
    return desc.strip().upper() == "AIGC"


def aigc_frames(tag: Id3Tag, warn: list[str] | None = None) -> list[Txxx]:
    return [
        t
        for t in user_texts(tag, warn if warn is not None else [])
        if is_aigc_description(t.description)
    ]


def make_txxx(
    tag_major: int, value: str, *, plain_sizes: bool = False, unsync: bool = False
) -> bytes:
    """A ``TXXX`` frame with description ``AIGC`` for a tag of version 2.``tag_major``.

    Encoding: UTF-8 (``03``) in v2.4; ISO-8859-1 (``00``) in v2.2/v2.3 when the value is ASCII
    (the canonical JSON always is), else UTF-16 with BOM (``01``)."""
    if tag_major == 4:
        payload = b"\x03AIGC\x00" + value.encode("utf-8")
    elif value.isascii():
        payload = b"\x00AIGC\x00" + value.encode("ascii")
    else:
        payload = b"\x01" + "AIGC".encode("utf-16") + b"\x00\x00" + value.encode("utf-16")
    n = len(payload)
    if tag_major == 2:
        if n > 0xFFFFFF:
            raise LimitExceeded("record too large for an ID3v2.2 frame")
        return b"TXX" + n.to_bytes(3, "big") + payload
    size = struct.pack(">I", n) if tag_major == 3 or plain_sizes else _to_syncsafe(n)
    flags = b"\x00\x02" if (tag_major == 4 and unsync) else b"\x00\x00"
    return b"TXXX" + size + flags + payload


def _fix_ext(tag: Id3Tag, frames: bytes, padding: int) -> bytes:
    """The extended header with its padding size and CRC brought up to date."""
    ext = bytearray(tag.ext)
    if not ext:
        return b""
    if tag.major == 3 and len(ext) >= 10:
        struct.pack_into(">I", ext, 6, padding)
        if ext[4] & 0x80 and len(ext) >= 14:
            struct.pack_into(">I", ext, 10, zlib.crc32(frames) & 0xFFFFFFFF)
    elif tag.major == 4 and len(ext) >= 6:
        flags = ext[5]
        off = 6
        if flags & 0x40:
            off += 1 + (ext[off] if off < len(ext) else 0)
        if flags & 0x20 and off + 6 <= len(ext) and ext[off] == 5:
            crc = zlib.crc32(frames + b"\x00" * padding) & 0xFFFFFFFF
            ext[off + 1 : off + 6] = _to_syncsafe(crc, 5)
    return bytes(ext)


def rewrite_tag(tag: Id3Tag, value: str | None) -> bytes:
    """The tag with every ``TXXX:AIGC`` removed and, when ``value`` is given, one new
    ``TXXX:AIGC`` in place of the first old one (else after the last frame).

    Other frames are copied byte for byte; version, revision, flags and extended header are
    kept (padding size and CRC updated). The tag keeps its size when the frames fit in it
    (the audio does not move); otherwise it grows with :data:`NEW_TAG_PADDING` bytes of
    padding (none when the tag has a footer, which forbids padding).
    """
    drop = {id(t.frame) for t in aigc_frames(tag)}
    new = None
    if value is not None:
        new = make_txxx(
            tag.major, value, plain_sizes=tag.plain_sizes, unsync=bool(tag.flags & 0x80)
        )
    parts: list[bytes] = []
    for fr in tag.frames:
        if id(fr) in drop:
            if new is not None:
                parts.append(new)
                new = None
            continue
        parts.append(fr.raw)
    if new is not None:
        parts.append(new)
    frames = b"".join(parts) + tag.junk

    def build(padding: int) -> bytes:
        content = _fix_ext(tag, frames, padding) + frames + b"\x00" * padding
        return unsynchronise(content) if tag.unsync_body else content

    content = build(0)
    if not tag.footer:
        if len(content) <= tag.body_size:
            content = build(tag.body_size - len(content))
            content += b"\x00" * max(0, tag.body_size - len(content))
        else:
            content = build(NEW_TAG_PADDING)
    if len(content) > _SYNCSAFE_MAX:
        raise LimitExceeded(f"ID3v2 tag would exceed {_SYNCSAFE_MAX} bytes")
    head = bytes([tag.major, tag.revision, tag.flags]) + _to_syncsafe(len(content))
    return b"ID3" + head + content + (b"3DI" + head if tag.footer else b"")


def new_tag(value: str) -> bytes:
    """A fresh ID3v2.4 tag holding only ``TXXX:AIGC`` (plus padding)."""
    content = make_txxx(NEW_TAG_VERSION, value) + b"\x00" * NEW_TAG_PADDING
    return b"ID3" + bytes([NEW_TAG_VERSION, 0, 0]) + _to_syncsafe(len(content)) + content


# ---------------------------------------------------------------------------------------
# File layout: leading ID3v2 tags, audio, trailing tags


@dataclass(frozen=True, slots=True)
class Part:
    kind: str  # "id3v2", "id3v1", "id3v1-ext", "apev2", "lyrics3v2"
    start: int
    end: int


def trailing_tags(data: bytes, floor: int) -> list[Part]:
    """Tags appended after the audio (APEv2, Lyrics3v2, ID3v1 + "TAG+", ID3v2 with footer),
    in file order. Nothing before ``floor`` is considered."""
    parts: list[Part] = []
    end = len(data)
    for _ in range(8):
        if end - 128 >= floor and data[end - 128 : end - 125] == b"TAG":
            parts.append(Part("id3v1", end - 128, end))
            end -= 128
            if end - 227 >= floor and data[end - 227 : end - 223] == b"TAG+":
                parts.append(Part("id3v1-ext", end - 227, end))
                end -= 227
            continue
        if end - 32 >= floor and data[end - 32 : end - 24] == b"APETAGEX":
            size, _, flags = struct.unpack_from("<III", data, end - 20)
            start = end - size - (32 if flags & 0x80000000 else 0)
            if size >= 32 and start >= floor:
                parts.append(Part("apev2", start, end))
                end = start
                continue
        if end - 15 >= floor and data[end - 9 : end] == b"LYRICS200":
            digits = data[end - 15 : end - 9]
            if digits.isdigit():
                start = end - 15 - int(digits)
                if start >= floor and data[start : start + 11] == b"LYRICSBEGIN":
                    parts.append(Part("lyrics3v2", start, end))
                    end = start
                    continue
        if end - 10 >= floor and data[end - 10 : end - 7] == b"3DI":
            hdr = data[end - 10 : end]
            if hdr[3] == 4 and not any(b & 0x80 for b in hdr[6:10]):
                start = end - 20 - _syncsafe(hdr[6:10])
                if start >= floor and data[start : start + 3] == b"ID3":
                    parts.append(Part("id3v2", start, end))
                    end = start
                    continue
        break
    return sorted(parts, key=lambda p: p.start)


@dataclass(frozen=True, slots=True)
class Mp3Layout:
    leading: list[Part]
    audio_start: int
    audio_end: int
    trailing: list[Part]


def layout(data: bytes) -> Mp3Layout:
    """Split an MP3 file into leading ID3v2 tags, audio bytes and trailing tags."""
    _limits.check_input(data, "MP3")
    leading: list[Part] = []
    pos = 0
    while data[pos : pos + 3] == b"ID3":
        if len(leading) >= MAX_ID3_TAGS:
            raise LimitExceeded(f"more than {MAX_ID3_TAGS} ID3v2 tags", offset=pos)
        end = tag_extent(data, pos)
        leading.append(Part("id3v2", pos, end))
        pos = end
    trailing = trailing_tags(data, pos)
    audio_end = trailing[0].start if trailing else len(data)
    if not leading and frame_header(data, 0) is None:
        raise MalformedInput("not an MP3 file (no ID3v2 tag, no MPEG frame header)", offset=0)
    return Mp3Layout(leading, pos, audio_end, trailing)


class Mp3Handler:
    id = "mp3"
    name = "MP3"
    media_kind = MediaKind.AUDIO
    extensions: tuple[str, ...] = ("mp3", "mp2", "mpga")
    mime_types: tuple[str, ...] = ("audio/mpeg",)
    sniff_bytes = 4096

    def sniff(self, head: bytes) -> bool:
        if head[:3] == b"ID3":
            return (
                len(head) >= 10
                and head[3] in (2, 3, 4)
                and head[4] != 0xFF
                and not any(b & 0x80 for b in head[6:10])
            )
        fh = frame_header(head, 0)
        if fh is None or fh.length == 0 or fh.length + 4 > len(head):
            return False
        nxt = frame_header(head, fh.length)
        same = (fh.version, fh.layer, fh.sample_rate)
        return nxt is not None and (nxt.version, nxt.layer, nxt.sample_rate) == same

    def _tags(self, data: bytes, lay: Mp3Layout) -> list[Part]:
        return lay.leading + [p for p in lay.trailing if p.kind == "id3v2"]

    def read(self, data: bytes) -> ContainerMetadata:
        meta = ContainerMetadata(format_id=self.id)
        lay = layout(data)
        for part in self._tags(data, lay):
            try:
                tag = parse_tag(data, part.start, meta.warnings)
            except MalformedInput as exc:
                meta.warnings.append(f"unreadable ID3v2 tag at byte {part.start}: {exc}")
                continue
            for t in aigc_frames(tag, meta.warnings):
                if t.description != "AIGC":
                    meta.warnings.append(f"TXXX description spelled {t.description!r}")
                where = "appended " if part.start >= lay.audio_end else ""
                meta.carriers.append(
                    Carrier(
                        "aigc",
                        t.frame.offset,
                        t.value.encode("utf-8"),
                        f"{where}ID3v2.{tag.major} {t.frame.fid.decode()}:AIGC",
                    )
                )
        if len(meta.carriers) > 1:
            meta.warnings.append(
                f"{len(meta.carriers)} TXXX:AIGC frames (one record per file expected)"
            )
        if lay.audio_start >= lay.audio_end:
            meta.warnings.append("no audio data after the ID3v2 tag")
        elif frame_header(data, lay.audio_start) is None:
            meta.warnings.append(f"no MPEG audio frame header at byte {lay.audio_start}")
        return meta

    def write_label(self, data: bytes, label: LabelWrite) -> bytes:
        lay = layout(data)
        view = memoryview(data)
        out: list[bytes | memoryview] = []
        if lay.leading:
            out.append(rewrite_tag(parse_tag(data, lay.leading[0].start), label.aigc_json))
            rest = lay.leading[1:]
        else:
            out.append(new_tag(label.aigc_json))
            rest = []
        for part in rest:
            out.append(self._without_record(data, part))
        out.append(view[lay.audio_start : lay.audio_end])
        for part in lay.trailing:
            if part.kind == "id3v2":
                out.append(self._without_record(data, part))
            else:
                out.append(data[part.start : part.end])
        return b"".join(out)

    @staticmethod
    def _without_record(data: bytes, part: Part) -> bytes:
        """A further ID3v2 tag with its TXXX:AIGC frames removed (unchanged if none or if it
        cannot be parsed)."""
        try:
            tag = parse_tag(data, part.start)
            if aigc_frames(tag):
                return rewrite_tag(tag, None)
        except MalformedInput:
            pass
        return data[part.start : part.end]

    def content_digest(self, data: bytes) -> ContentDigest:
        lay = layout(data)
        start = lay.audio_start + info_frame_length(data, lay.audio_start, lay.audio_end)
        h = hashlib.sha256(memoryview(data)[start : lay.audio_end])
        return ContentDigest(selector=SELECTOR, algorithm="sha256", digest=h.digest())


HANDLER: FormatHandler = Mp3Handler()
