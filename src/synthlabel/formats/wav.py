"""WAV (RIFF/WAVE, RF64, BW64): the record in a top-level RIFF chunk ``AIGC``.

Written as ``"AIGC"`` · uint32 LE size · flat JSON · pad byte when odd, directly before the
``data`` chunk (an existing ``AIGC`` chunk is replaced where it is). ``LIST/INFO/AIGC``
copies and ``TXXX:AIGC`` frames in an ``id3 `` chunk are removed (one record per file); every
other chunk is copied byte for byte. The RIFF size (RF64/BW64: the ds64 riffSize) is updated.
See ``docs/formats-audio.md``.
"""

from __future__ import annotations

import hashlib
import struct

from synthlabel.errors import MalformedInput
from synthlabel.formats import _limits, _riff, mp3
from synthlabel.formats.base import (
    Carrier,
    ContainerMetadata,
    ContentDigest,
    FormatHandler,
    LabelWrite,
    MediaKind,
)

SELECTOR = "synthlabel.wav.v1"
AIGC_ID = b"AIGC"
_ID3_CHUNKS = (b"id3 ", b"ID3 ")
#: Chunks the content digest covers, in this order.
DIGEST_CHUNKS = (b"fmt ", b"data")


def parse(data: bytes, warnings: list[str] | None = None) -> _riff.RiffFile:
    riff = _riff.parse(data, what="WAV", warnings=warnings)
    if riff.form != b"WAVE":
        raise MalformedInput(f"RIFF form {riff.form!r} is not WAVE", offset=8)
    return riff


def _is_aigc_id(cid: bytes) -> bool:
    return cid.upper() == AIGC_ID


def _is_info(data: bytes, c: _riff.Chunk) -> bool:
    return c.id == b"LIST" and c.size >= 4 and data[c.data_start : c.data_start + 4] == b"INFO"


def _text(raw: bytes) -> bytes:
    """A chunk's text with the trailing NUL/space padding some writers add removed."""
    return raw.rstrip(b"\x00 ")


def _info_without_aigc(data: bytes, c: _riff.Chunk) -> bytes | None:
    """The LIST/INFO chunk without its AIGC entries; b"" when nothing else is left; None
    when it has none (or cannot be parsed: then it is kept as it is)."""
    try:
        subs = _riff.sub_chunks(data, c)
    except MalformedInput:
        return None
    if not any(_is_aigc_id(s.id) for s in subs):
        return None
    kept = [_riff.chunk_bytes(data, s) for s in subs if not _is_aigc_id(s.id)]
    if not kept:
        return b""
    return _riff.make_chunk(b"LIST", b"INFO" + b"".join(kept))


def _id3_without_aigc(data: bytes, c: _riff.Chunk) -> bytes | None:
    payload = data[c.data_start : c.data_end]
    if payload[:3] != b"ID3":
        return None
    try:
        tag = mp3.parse_tag(payload, 0)
        if not mp3.aigc_frames(tag):
            return None
        return _riff.make_chunk(c.id, mp3.rewrite_tag(tag, None) + payload[tag.end :])
    except MalformedInput:
        return None


class WavHandler:
    id = "wav"
    name = "WAV (RIFF/RF64/BW64)"
    media_kind = MediaKind.AUDIO
    extensions: tuple[str, ...] = ("wav", "wave", "rf64", "bw64", "bwf")
    mime_types: tuple[str, ...] = ("audio/wav", "audio/x-wav", "audio/vnd.wave")
    sniff_bytes = 12

    def sniff(self, head: bytes) -> bool:
        return head[:4] in _riff.RIFF_MAGICS and head[8:12] == b"WAVE"

    def read(self, data: bytes) -> ContainerMetadata:
        meta = ContainerMetadata(format_id=self.id)
        riff = parse(data, meta.warnings)
        counter = _limits.Counter(_riff.MAX_RIFF_CHUNKS, "RIFF chunks")
        seen: dict[bytes, int] = {}
        for c in riff.chunks:
            seen[c.id] = seen.get(c.id, 0) + 1
            if _is_aigc_id(c.id):
                if c.id != AIGC_ID:
                    meta.warnings.append(f"AIGC chunk id spelled {c.id!r}")
                meta.carriers.append(
                    Carrier(
                        "aigc", c.data_start, _text(data[c.data_start : c.data_end]), "RIFF AIGC"
                    )
                )
            elif _is_info(data, c):
                try:
                    subs = _riff.sub_chunks(data, c, counter)
                except MalformedInput as exc:
                    meta.warnings.append(f"unreadable LIST/INFO chunk at byte {c.start}: {exc}")
                    continue
                for s in subs:
                    if _is_aigc_id(s.id):
                        meta.carriers.append(
                            Carrier(
                                "aigc",
                                s.data_start,
                                _text(data[s.data_start : s.data_end]),
                                "LIST/INFO AIGC",
                            )
                        )
            elif c.id == b"_PMX":
                meta.carriers.append(
                    Carrier("xmp", c.data_start, data[c.data_start : c.data_end], "_PMX XMP")
                )
            elif c.id in _ID3_CHUNKS:
                self._read_id3(data, c, meta)
        for cid in DIGEST_CHUNKS:
            if cid not in seen:
                meta.warnings.append(f"no {cid.decode().strip()} chunk")
            elif seen[cid] > 1:
                meta.warnings.append(f"{seen[cid]} {cid.decode().strip()} chunks (first one used)")
        n = len(meta.of_kind("aigc"))
        if n > 1:
            meta.warnings.append(f"{n} AIGC records (one record per file expected)")
        return meta

    @staticmethod
    def _read_id3(data: bytes, c: _riff.Chunk, meta: ContainerMetadata) -> None:
        payload = data[c.data_start : c.data_end]
        if payload[:3] != b"ID3":
            return
        try:
            tag = mp3.parse_tag(payload, 0, meta.warnings)
            frames = mp3.aigc_frames(tag, meta.warnings)
        except MalformedInput as exc:
            meta.warnings.append(f"unreadable ID3v2 tag in chunk {c.id!r}: {exc}")
            return
        for t in frames:
            meta.carriers.append(
                Carrier(
                    "aigc",
                    c.data_start + t.frame.offset,
                    t.value.encode("utf-8"),
                    f"{c.id.decode().strip()} chunk TXXX:AIGC",
                )
            )

    def write_label(self, data: bytes, label: LabelWrite) -> bytes:
        riff = parse(data)
        new = _riff.make_chunk(AIGC_ID, label.aigc_json.encode("utf-8"))
        chunks = riff.chunks[1:] if riff.is_64 else riff.chunks
        at = next((i for i, c in enumerate(chunks) if _is_aigc_id(c.id)), None)
        if at is None:
            at = next((i for i, c in enumerate(chunks) if c.id == b"data"), len(chunks))
        body: list[bytes | memoryview] = []
        for i, c in enumerate(chunks):
            if i == at:
                body.append(new)
            if _is_aigc_id(c.id):
                continue
            replaced = None
            if _is_info(data, c):
                replaced = _info_without_aigc(data, c)
            elif c.id in _ID3_CHUNKS:
                replaced = _id3_without_aigc(data, c)
            body.append(_riff.chunk_bytes(data, c) if replaced is None else replaced)
        if at == len(chunks):
            body.append(new)
        return _riff.assemble(riff, data, body)

    def content_digest(self, data: bytes) -> ContentDigest:
        riff = parse(data)
        h = hashlib.sha256()
        view = memoryview(data)
        for cid in DIGEST_CHUNKS:
            c = riff.first(cid)
            if c is None:
                raise MalformedInput(f"WAV has no {cid.decode().strip()} chunk", offset=12)
            h.update(cid + struct.pack("<Q", c.size))
            h.update(view[c.data_start : c.data_end])
        return ContentDigest(selector=SELECTOR, algorithm="sha256", digest=h.digest())


HANDLER: FormatHandler = WavHandler()
