"""FLAC handler: the ``AIGC`` Vorbis comment, PADDING use, PICTURE and other blocks kept."""

from __future__ import annotations

import hashlib
import io
import struct
from pathlib import Path

import pytest

from synthlabel.errors import LimitExceeded, MalformedInput
from synthlabel.formats import flac
from synthlabel.formats.base import LabelWrite
from synthlabel.model.aigc import AIGCRecord, parse_record
from tests.fixtures import audio as fx

pytestmark = pytest.mark.skipif(not fx.HAVE_FFMPEG, reason="ffmpeg not installed")
mutagen_flac = pytest.importorskip("mutagen.flac")

H = flac.HANDLER
RECORD = AIGCRecord(
    content_producer="001191110000MA0000000H10001", produce_id="01JD3Q8W5Z6V7K2M4N8P0R2S4T"
)
SECOND = RECORD.replace(content_propagator="001191440300MA0000001L20000", propagate_id="42")


def label(data: bytes, record: AIGCRecord = RECORD) -> bytes:
    return H.write_label(data, LabelWrite(record.to_json()))


def blocks(data: bytes) -> tuple[list[tuple[int, bytes]], int]:
    """(type, body) of every metadata block, parsed independently; and the audio offset.
    Checks that only the last block has the last-block flag."""
    assert data[:4] == b"fLaC"
    pos, out = 4, []
    while True:
        hdr, size = data[pos], int.from_bytes(data[pos + 1 : pos + 4], "big")
        out.append((hdr & 0x7F, data[pos + 4 : pos + 4 + size]))
        pos += 4 + size
        if hdr & 0x80:
            return out, pos


def comments(body: bytes) -> tuple[bytes, list[bytes]]:
    vlen = struct.unpack_from("<I", body)[0]
    vendor = body[4 : 4 + vlen]
    pos = 4 + vlen
    n = struct.unpack_from("<I", body, pos)[0]
    pos += 4
    out = []
    for _ in range(n):
        ln = struct.unpack_from("<I", body, pos)[0]
        out.append(body[pos + 4 : pos + 4 + ln])
        pos += 4 + ln
    assert pos == len(body)
    return vendor, out


def vc(data: bytes) -> tuple[bytes, list[bytes]]:
    return comments(next(b for t, b in blocks(data)[0] if t == 4))


def with_comment(data: bytes, entry: bytes, tmp_path: Path) -> bytes:
    """Add a comment with mutagen (an independent writer)."""
    p = tmp_path / "mutagen.flac"
    p.write_bytes(data)
    m = mutagen_flac.FLAC(p)
    name, _, value = entry.decode().partition("=")
    assert m.tags is not None
    m.tags[name] = value
    m.save()
    return p.read_bytes()


def on_disk(tmp_path: Path, data: bytes, name: str = "x.flac") -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


def test_padding_absorbs_the_comment_audio_stays_put(tmp_path: Path) -> None:
    data = fx.flac_tags_picture()
    before, audio_at = blocks(data)
    assert [t for t, _ in before] == [0, 6, 4, 1]
    out = label(data)
    after, out_audio_at = blocks(out)
    assert out_audio_at == audio_at and len(out) == len(data)
    assert out[audio_at:] == data[audio_at:]
    assert [t for t, _ in after] == [0, 6, 4, 1]
    assert after[0] == before[0] and after[1] == before[1]  # STREAMINFO, PICTURE
    vendor, entries = vc(out)
    assert (vendor, entries[:-1]) == vc(data)
    assert entries[-1] == b"AIGC=" + RECORD.to_json().encode()
    tags = fx.ffprobe_tags(on_disk(tmp_path, out))
    assert tags["AIGC"] == RECORD.to_json() and tags["title"] == "FLAC title"
    m = mutagen_flac.FLAC(io.BytesIO(out))
    assert m.tags is not None and m.tags["AIGC"] == [RECORD.to_json()]
    assert len(m.pictures) == 1 and m.pictures[0].data == fx.cover_png()
    assert fx.fingerprint("flac", out) == fx.fingerprint("flac", data)


def test_no_padding_grows_once_then_stays_put() -> None:
    data = fx.flac_no_padding()
    _, audio_at = blocks(data)
    out = label(data)
    after, out_audio_at = blocks(out)
    assert [t for t, _ in after] == [0, 4, 1]
    assert len(after[-1][1]) == flac.NEW_PADDING
    assert out[out_audio_at:] == data[audio_at:]
    assert fx.fingerprint("flac", out) == fx.fingerprint("flac", data)
    twice = label(out, SECOND)
    assert blocks(twice)[1] == out_audio_at
    assert label(twice, SECOND) == twice


def test_file_without_vorbis_comment_gets_one_after_streaminfo() -> None:
    src, audio_at = blocks(fx.flac_no_padding())
    kept = [(t, b) for t, b in src if t != 4]
    raw = b"fLaC" + b"".join(
        bytes([t | (0x80 if i == len(kept) - 1 else 0)]) + len(b).to_bytes(3, "big") + b
        for i, (t, b) in enumerate(kept)
    )
    data = raw + fx.flac_no_padding()[audio_at:]
    out = label(data)
    after, _ = blocks(out)
    assert [t for t, _ in after] == [0, 4, 1]
    assert comments(after[1][1]) == (flac.NEW_VENDOR, [b"AIGC=" + RECORD.to_json().encode()])


def test_existing_record_replaced_in_place_case_insensitive(tmp_path: Path) -> None:
    data = with_comment(fx.flac_tags_picture(), b"aigc=" + RECORD.to_json().encode(), tmp_path)
    data = with_comment(data, b"ZZZ=after", tmp_path)
    meta = H.read(data)
    assert [parse_record(c.data).record for c in meta.carriers] == [RECORD]
    assert any("spelled" in w for w in meta.warnings)
    out = label(data, SECOND)
    _, entries = vc(out)
    names = [e.split(b"=")[0].upper() for e in entries]
    assert names == [e.split(b"=")[0].upper() for e in vc(data)[1]]
    assert entries.count(b"AIGC=" + SECOND.to_json().encode()) == 1
    assert [parse_record(c.data).record for c in H.read(out).carriers] == [SECOND]


def test_second_vorbis_comment_block_cleaned() -> None:
    data = fx.flac_tags_picture()
    bl, audio_at = blocks(data)
    extra = struct.pack("<I", 1) + b"v" + struct.pack("<I", 2)
    for e in (b"AIGC=" + RECORD.to_json().encode(), b"X=y"):
        extra += struct.pack("<I", len(e)) + e
    bl.insert(3, (4, extra))
    raw = b"fLaC" + b"".join(
        bytes([t | (0x80 if i == len(bl) - 1 else 0)]) + len(b).to_bytes(3, "big") + b
        for i, (t, b) in enumerate(bl)
    )
    data = raw + data[audio_at:]
    assert any("VORBIS_COMMENT blocks" in w for w in H.read(data).warnings)
    out = label(data, SECOND)
    assert [parse_record(c.data).record for c in H.read(out).carriers] == [SECOND]
    second = [b for t, b in blocks(out)[0] if t == 4][1]
    assert comments(second) == (b"v", [b"X=y"])


def test_huge_record_grows_metadata() -> None:
    data = fx.flac_tags_picture()
    value = '{"Label":"1","ReservedCode1":"' + "A" * 20000 + '"}'
    out = H.write_label(data, LabelWrite(value))
    _, audio_at = blocks(data)
    _, out_audio_at = blocks(out)
    assert out_audio_at > audio_at and out[out_audio_at:] == data[audio_at:]
    assert [c.data.decode() for c in H.read(out).carriers] == [value]


def test_content_digest_is_streaminfo_plus_frames() -> None:
    data = fx.flac_tags_picture()
    bl, audio_at = blocks(data)
    d = H.content_digest(data)
    assert d.selector == "synthlabel.flac.v1"
    assert d.digest == hashlib.sha256(struct.pack(">I", 34) + bl[0][1] + data[audio_at:]).digest()
    assert H.content_digest(label(fx.flac_no_padding())) == H.content_digest(fx.flac_no_padding())
    md5_changed = bytearray(data)
    md5_changed[4 + 4 + 20] ^= 1
    assert H.content_digest(bytes(md5_changed)) != d
    assert H.content_digest(data + b"TAG" + b"\x00" * 125) == d  # ID3v1 not covered


def test_padding_helper_exact_sizes() -> None:
    for total in (4, 5, 8, 1000, 0xFFFFFF + 4, 0xFFFFFF + 5, 0xFFFFFF + 7, 0xFFFFFF + 9):
        pads = flac._padding(total)
        assert sum(len(p) for p in pads) == total
        assert all(p[0] == 1 for p in pads)


def test_sniff() -> None:
    assert H.sniff(b"fLaC") and not H.sniff(b"OggS\x00") and not H.sniff(b"ID3\x04")


def test_hostile_blocks_are_typed_errors() -> None:
    data = fx.flac_tags_picture()
    cases = {
        "block past end": data[:4] + b"\x00\xff\xff\xff" + data[8:],
        "type 127": data[:4] + b"\x7f" + data[5:],
        "no last flag, truncated": data[:4] + bytes([0]) + data[5:46],
        "no streaminfo": data[:4] + b"\x81\x00\x00\x00",
        "not flac": b"fLaX" + data[4:],
    }
    for name, bad in cases.items():
        for op in (H.read, H.content_digest, lambda d: label(d)):
            with pytest.raises(MalformedInput) as exc:
                op(bad)
            assert exc.value.offset is not None, name
    # a Vorbis comment claiming 2^31 entries: read warns, write refuses
    bl, audio_at = blocks(data)
    streaminfo = bytes([0]) + b"\x00\x00\x22" + bl[0][1]
    for count in (0x7FFFFFFF, 1000):
        body = struct.pack("<II", 0, count)
        bad = b"fLaC" + streaminfo + b"\x84" + len(body).to_bytes(3, "big") + body
        bad += data[audio_at:]
        assert any("VORBIS_COMMENT" in w for w in H.read(bad).warnings)
        with pytest.raises(MalformedInput):
            label(bad)


def test_comment_count_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(flac, "MAX_COMMENTS", 10)
    body = struct.pack("<II", 0, 11) + struct.pack("<I", 3) * 11 + b"A=b" * 11
    with pytest.raises(LimitExceeded):
        flac.parse_comments(body + struct.pack("<I", 0) * 11)


def test_block_count_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(flac, "MAX_FLAC_BLOCKS", 10)
    data = fx.flac_no_padding()
    bl, audio_at = blocks(data)
    bl += [(2, b"APPL")] * 20
    raw = b"fLaC" + b"".join(
        bytes([t | (0x80 if i == len(bl) - 1 else 0)]) + len(b).to_bytes(3, "big") + b
        for i, (t, b) in enumerate(bl)
    )
    with pytest.raises(LimitExceeded):
        H.read(raw + data[audio_at:])
