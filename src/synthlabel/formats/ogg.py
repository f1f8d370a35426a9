"""Ogg Vorbis / Ogg Opus: the record as the comment entry ``AIGC=<json>``.

The comment header packet (``\\x03vorbis...`` / ``OpusTags...``) is rebuilt with the entry and
the header packets after the identification page are re-paginated; the audio pages keep
their bytes, unless the number of header pages changed: then only their page sequence numbers
and CRCs are updated. Audio packets, granule positions and every other logical stream are
untouched. See ``docs/formats-audio.md``.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from collections.abc import Iterator
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
from synthlabel.formats.flac import aigc_entries, build_comments, parse_comments

SELECTOR = "synthlabel.ogg.v1"
#: Most pages walked in one file (a 2 GiB file of 4 KiB pages has ~500 000).
MAX_OGG_PAGES = 10_000_000
#: Largest header packet we reassemble (comment packets may carry cover art).
MAX_HEADER_PACKET = 64 * 1024 * 1024
#: Most page CRC mismatches listed in the warnings.
_MAX_CRC_WARNINGS = 5

_CONTINUED, _BOS, _EOS = 0x01, 0x02, 0x04
_NO_GRANULE = -1

_REV8 = bytes(int(f"{i:08b}"[::-1], 2) for i in range(256))


def crc(page: bytes) -> int:
    """Ogg's CRC-32 (polynomial 0x04C11DB7, MSB first, initial value 0, no final XOR).

    Computed with zlib's reflected CRC-32 on bit-reversed bytes: reflecting input, polynomial
    and output turns one into the other, and zlib runs in C."""
    r = zlib.crc32(page.translate(_REV8), 0xFFFFFFFF) ^ 0xFFFFFFFF
    return int.from_bytes(r.to_bytes(4, "big").translate(_REV8)[::-1], "big")


@dataclass(frozen=True, slots=True)
class Page:
    start: int
    end: int
    flags: int
    granule: int
    serial: int
    seq: int
    crc: int
    body_start: int


def iter_pages(data: bytes) -> Iterator[Page]:
    """Every page, in file order. The file must be pages only: anything else (junk between
    pages, a truncated page) raises MalformedInput."""
    _limits.check_input(data, "Ogg")
    n = len(data)
    pos = 0
    counter = _limits.Counter(MAX_OGG_PAGES, "Ogg pages")
    while pos < n:
        counter.tick(pos)
        if data[pos : pos + 4] != b"OggS":
            raise MalformedInput("expected an Ogg page (OggS capture pattern)", offset=pos)
        if pos + 27 > n:
            raise MalformedInput("truncated Ogg page header", offset=pos)
        if data[pos + 4] != 0:
            raise MalformedInput(f"Ogg page version {data[pos + 4]} (only 0 exists)", offset=pos)
        flags = data[pos + 5]
        granule, serial, seq, stored, nsegs = struct.unpack_from("<qIIIB", data, pos + 6)
        body = pos + 27 + nsegs
        if body > n:
            raise MalformedInput("truncated Ogg lacing table", offset=pos)
        end = body + sum(data[pos + 27 : body])
        if end > n:
            raise MalformedInput("Ogg page body runs past the end of the file", offset=pos)
        yield Page(pos, end, flags, granule, serial, seq, stored, body)
        pos = end


def page_crc(data: bytes, p: Page) -> int:
    return crc(data[p.start : p.start + 22] + b"\x00\x00\x00\x00" + data[p.start + 26 : p.end])


def _pieces(data: bytes, p: Page) -> list[tuple[int, int, bool]]:
    """(start, end, packet ends here) for each run of packet data on the page."""
    out: list[tuple[int, int, bool]] = []
    lacing = data[p.start + 27 : p.body_start]
    pos = run = p.body_start
    for v in lacing:
        pos += v
        if v < 255:
            out.append((run, pos, True))
            run = pos
    if lacing and lacing[-1] == 255:
        out.append((run, pos, False))
    return out


# codec: (identification packet prefix, header packets, comment packet prefix)
_CODECS: dict[str, tuple[bytes, int, bytes]] = {
    "vorbis": (b"\x01vorbis", 3, b"\x03vorbis"),
    "opus": (b"OpusHead", 2, b"OpusTags"),
    "theora": (b"\x80theora", 3, b"\x81theora"),
    "speex": (b"Speex   ", 2, b""),
    "flac": (b"\x7fFLAC", 2, b""),  # comment = FLAC metadata block header (type 4) + list
}
#: Codecs whose comment header we rewrite.
WRITABLE = ("vorbis", "opus")


def _codec(first_packet: bytes) -> str:
    for name, (prefix, _, _) in _CODECS.items():
        if first_packet.startswith(prefix):
            return name
    return ""


def _comment_offset(codec: str, packet: bytes) -> int | None:
    """Where the Vorbis comment list starts in the comment packet, None if it is not one."""
    if codec == "flac":
        return 4 if packet[:1] and packet[0] & 0x7F == 4 else None
    prefix = _CODECS[codec][2]
    return len(prefix) if packet.startswith(prefix) else None


@dataclass(slots=True)
class _Stream:
    """One logical stream (a serial number between its BOS and EOS pages)."""

    serial: int
    bos: int  # page index of the BOS page; -1 when the stream had none
    codec: str = ""
    want: int = 2  # header packets to collect
    headers: list[bytes] = field(default_factory=list)
    partial: bytearray = field(default_factory=bytearray)
    pieces: list[tuple[int, int, int]] = field(default_factory=list)  # (pkt off, file off, len)
    comment_pieces: list[tuple[int, int, int]] = field(default_factory=list)
    header_pages: list[int] = field(default_factory=list)  # after the BOS page
    clean: bool = True  # header pages hold header packets only: safe to re-paginate
    done: bool = False

    def file_offset(self, packet_offset: int) -> int:
        for pkt, off, ln in self.comment_pieces:
            if pkt <= packet_offset < pkt + ln:
                return off + packet_offset - pkt
        return self.comment_pieces[0][1] if self.comment_pieces else 0


def _analyze(data: bytes, pages: list[Page], warn: list[str]) -> tuple[list[_Stream], list[int]]:
    """Split pages into logical streams and collect each stream's header packets.

    Returns the streams (in BOS order) and, for each page, the index of its stream."""
    streams: list[_Stream] = []
    current: dict[int, int] = {}
    owner: list[int] = []
    for i, p in enumerate(pages):
        if p.flags & _BOS or p.serial not in current:
            if not p.flags & _BOS:
                warn.append(f"Ogg stream {p.serial:#x} starts without a BOS page (byte {p.start})")
            streams.append(_Stream(p.serial, i if p.flags & _BOS else -1))
            current[p.serial] = len(streams) - 1
        si = current[p.serial]
        owner.append(si)
        st = streams[si]
        if st.done:
            continue
        pieces = _pieces(data, p)
        if i == st.bos and (len(pieces) != 1 or not pieces[0][2]):
            st.clean = False  # the identification packet must be alone on its page
        for k, (a, b, ends) in enumerate(pieces):
            if st.done:
                st.clean = False  # audio data on the page that ends the headers
                break
            if k == 0 and st.partial and not p.flags & _CONTINUED:
                warn.append(f"Ogg packet interrupted at byte {p.start}")
                st.partial.clear()
                st.pieces = []
                st.clean = False
            if i != st.bos and (not st.header_pages or st.header_pages[-1] != i):
                st.header_pages.append(i)
                if not st.headers:
                    st.clean = False
            if len(st.partial) + (b - a) > MAX_HEADER_PACKET:
                raise LimitExceeded(
                    f"Ogg header packet larger than {MAX_HEADER_PACKET} bytes", offset=a
                )
            st.pieces.append((len(st.partial), a, b - a))
            st.partial += data[a:b]
            if ends:
                packet = bytes(st.partial)
                if not st.headers:
                    st.codec = _codec(packet)
                    st.want = _CODECS[st.codec][1] if st.codec else 2
                if len(st.headers) == 1:
                    st.comment_pieces = st.pieces
                st.headers.append(packet)
                st.partial.clear()
                st.pieces = []
                st.done = len(st.headers) >= st.want
        if p.flags & _EOS:
            del current[p.serial]
    return streams, owner


def _paginate(
    packets: list[bytes], serial: int, first_seq: int, pages_hint: int, eos: bool
) -> list[bytes]:
    """Header pages for ``packets``: the same number of pages as before when they fit (so
    later pages keep their sequence numbers), else as few as possible."""
    segs: list[tuple[int, bool]] = []  # (segment length, ends a packet)
    body = b"".join(packets)
    for pkt in packets:
        segs += [(255, False)] * (len(pkt) // 255) + [(len(pkt) % 255, True)]
    total = len(segs)
    count = pages_hint if pages_hint <= total <= 255 * pages_hint else -(-total // 255)
    out: list[bytes] = []
    si = pos = 0
    continued = False
    for k in range(count):
        take = min(255, total - si - (count - k - 1))
        chunk = segs[si : si + take]
        si += take
        size = sum(s for s, _ in chunk)
        ends = any(e for _, e in chunk)
        flags = (_CONTINUED if continued else 0) | (_EOS if eos and k == count - 1 else 0)
        header = struct.pack(
            "<4sBBqIIIB",
            b"OggS",
            0,
            flags,
            0 if ends else _NO_GRANULE,
            serial,
            (first_seq + k) & 0xFFFFFFFF,
            0,
            take,
        )
        page = bytearray(header + bytes(s for s, _ in chunk) + body[pos : pos + size])
        struct.pack_into("<I", page, 22, crc(bytes(page)))
        out.append(bytes(page))
        pos += size
        continued = not chunk[-1][1]
    return out


def _with_seq(data: bytes, p: Page, seq: int) -> bytes:
    page = bytearray(data[p.start : p.end])
    struct.pack_into("<II", page, 18, seq, 0)
    struct.pack_into("<I", page, 22, crc(bytes(page)))
    return bytes(page)


@dataclass(frozen=True, slots=True)
class _Plan:
    pages: list[bytes]
    delta: int  # change in the number of header pages


class OggHandler:
    id = "ogg"
    name = "Ogg (Vorbis, Opus)"
    media_kind = MediaKind.AUDIO
    extensions: tuple[str, ...] = ("ogg", "oga", "opus", "spx")
    mime_types: tuple[str, ...] = ("audio/ogg", "audio/opus", "application/ogg")
    sniff_bytes = 5

    def sniff(self, head: bytes) -> bool:
        return head[:5] == b"OggS\x00"

    def read(self, data: bytes) -> ContainerMetadata:
        meta = ContainerMetadata(format_id=self.id)
        pages = list(iter_pages(data))
        if not pages:
            raise MalformedInput("empty Ogg file", offset=0)
        bad = 0
        for p in pages:
            if page_crc(data, p) != p.crc:
                bad += 1
                if bad <= _MAX_CRC_WARNINGS:
                    meta.warnings.append(f"Ogg page CRC mismatch at byte {p.start}")
        streams, _ = _analyze(data, pages, meta.warnings)
        for st in streams:
            if not st.codec:
                continue
            if len(st.headers) < 2:
                meta.warnings.append(f"{st.codec} stream {st.serial:#x} has no comment header")
                continue
            pkt = st.headers[1]
            at = _comment_offset(st.codec, pkt)
            if at is None:
                meta.warnings.append(f"{st.codec} stream {st.serial:#x}: bad comment header")
                continue
            try:
                comments = parse_comments(pkt, at)
            except MalformedInput as exc:
                meta.warnings.append(f"unreadable {st.codec} comment header: {exc}")
                continue
            for off, name, value in aigc_entries(comments):
                if name != b"AIGC":
                    meta.warnings.append(f"comment field spelled {name!r}")
                meta.carriers.append(
                    Carrier("aigc", st.file_offset(off), value, f"{st.codec} comment AIGC")
                )
        if len(meta.carriers) > 1:
            meta.warnings.append(
                f"{len(meta.carriers)} AIGC comments (one record per file expected)"
            )
        return meta

    def _plan(self, data: bytes, pages: list[Page], st: _Stream, value: str | None) -> _Plan:
        if len(st.headers) < st.want or st.bos < 0:
            raise MalformedInput(f"{st.codec} stream {st.serial:#x}: incomplete header packets")
        if not st.clean or not st.header_pages:
            raise MalformedInput(
                f"{st.codec} stream {st.serial:#x}: header pages are not laid out as the "
                "codec requires (cannot re-paginate safely)",
                offset=pages[st.bos].start,
            )
        pkt = st.headers[1]
        at = _comment_offset(st.codec, pkt)
        if at is None:
            raise MalformedInput(f"{st.codec} stream {st.serial:#x}: bad comment header")
        comment = pkt[:at] + build_comments(parse_comments(pkt, at), value)
        old = [pages[i] for i in st.header_pages]
        new = _paginate(
            [comment, *st.headers[2:]],
            st.serial,
            old[0].seq,
            len(old),
            bool(old[-1].flags & _EOS),
        )
        return _Plan(new, len(new) - len(old))

    def write_label(self, data: bytes, label: LabelWrite) -> bytes:
        pages = list(iter_pages(data))
        streams, owner = _analyze(data, pages, [])
        plans: dict[int, _Plan] = {}
        target = next((i for i, s in enumerate(streams) if s.codec in WRITABLE), None)
        if target is None:
            raise MalformedInput("no Vorbis or Opus stream to label", offset=0)
        for si, st in enumerate(streams):
            if si == target:
                plans[si] = self._plan(data, pages, st, label.aigc_json)
            elif st.codec in WRITABLE and self._has_record(st):
                plans[si] = self._plan(data, pages, st, None)
        out: list[bytes] = []
        header_pages = {i for si in plans for i in streams[si].header_pages}
        for i, p in enumerate(pages):
            plan = plans.get(owner[i])
            if plan is None:
                out.append(data[p.start : p.end])
                continue
            st = streams[owner[i]]
            if i in header_pages:
                if i == st.header_pages[0]:
                    out.extend(plan.pages)
            elif plan.delta and i > st.header_pages[-1]:
                out.append(_with_seq(data, p, (p.seq + plan.delta) & 0xFFFFFFFF))
            else:
                out.append(data[p.start : p.end])
        return b"".join(out)

    @staticmethod
    def _has_record(st: _Stream) -> bool:
        if len(st.headers) < 2:
            return False
        at = _comment_offset(st.codec, st.headers[1])
        try:
            return at is not None and bool(aigc_entries(parse_comments(st.headers[1], at)))
        except MalformedInput:
            return False

    def content_digest(self, data: bytes) -> ContentDigest:
        """SHA-256 over every packet of every logical stream except the Vorbis/Opus/... comment
        header, each followed by its length (uint64 LE), per stream, streams in BOS order."""
        hashes: list[hashlib._Hash] = []
        state: dict[int, list[int]] = {}  # serial -> [stream idx, packet index, length so far]
        codec: dict[int, str] = {}
        heads: dict[int, bytearray] = {}
        view = memoryview(data)
        for p in iter_pages(data):
            if p.flags & _BOS or p.serial not in state:
                hashes.append(hashlib.sha256())
                state[p.serial] = [len(hashes) - 1, 0, 0]
                heads[p.serial] = bytearray()
            st = state[p.serial]
            h = hashes[st[0]]
            for k, (a, b, ends) in enumerate(_pieces(data, p)):
                if k == 0 and st[2] and not p.flags & _CONTINUED:
                    self._end_packet(h, st, codec.get(st[0], ""))
                skip = st[1] == 1 and codec.get(st[0], "") in _CODECS
                if not skip:
                    h.update(view[a:b])
                if st[1] == 0 and len(heads[p.serial]) < 16:
                    heads[p.serial] += data[a : min(b, a + 16)]
                st[2] += b - a
                if ends:
                    if st[1] == 0:
                        codec[st[0]] = _codec(bytes(heads[p.serial]))
                    self._end_packet(h, st, codec.get(st[0], ""))
            if p.flags & _EOS:
                if st[2]:
                    self._end_packet(h, st, codec.get(st[0], ""))
                del state[p.serial]
        for st in state.values():
            if st[2]:
                self._end_packet(hashes[st[0]], st, codec.get(st[0], ""))
        if not hashes:
            raise MalformedInput("empty Ogg file", offset=0)
        digest = hashlib.sha256(b"".join(h.digest() for h in hashes)).digest()
        return ContentDigest(selector=SELECTOR, algorithm="sha256", digest=digest)

    @staticmethod
    def _end_packet(h: hashlib._Hash, st: list[int], codec: str) -> None:
        if not (st[1] == 1 and codec in _CODECS):
            h.update(struct.pack("<Q", st[2]))
        st[1] += 1
        st[2] = 0


HANDLER: FormatHandler = OggHandler()
