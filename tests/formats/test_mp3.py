"""MP3 handler: ID3v2 ``TXXX:AIGC`` in every tag version, other frames byte for byte, audio
untouched, trailing tags, digests and hostile tags."""

from __future__ import annotations

import hashlib
import io
import struct
import zlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synthlabel.errors import LimitExceeded, MalformedInput
from synthlabel.formats import mp3
from synthlabel.formats.base import LabelWrite
from synthlabel.model.aigc import AIGCRecord, parse_record
from tests.fixtures import audio as fx

pytestmark = pytest.mark.skipif(not fx.HAVE_FFMPEG, reason="ffmpeg not installed")
mutagen_id3 = pytest.importorskip("mutagen.id3")

H = mp3.HANDLER
RECORD = AIGCRecord(
    content_producer="001191110000MA0000000H10001", produce_id="01JD3Q8W5Z6V7K2M4N8P0R2S4T"
)
SECOND = RECORD.replace(content_propagator="001191440300MA0000001L20000", propagate_id="42")
SAMPLES = {"v23": fx.mp3_id3v23, "v24": fx.mp3_id3v24, "notag": fx.mp3_notag}


def label(data: bytes, record: AIGCRecord = RECORD) -> bytes:
    return H.write_label(data, LabelWrite(record.to_json()))


def syncsafe(n: int) -> bytes:
    return bytes((n >> s) & 0x7F for s in (21, 14, 7, 0))


def frame(major: int, fid: bytes, body: bytes, flags: bytes = b"\x00\x00") -> bytes:
    if major == 2:
        return fid + len(body).to_bytes(3, "big") + body
    size = struct.pack(">I", len(body)) if major == 3 else syncsafe(len(body))
    return fid + size + flags + body


def tag(major: int, content: bytes, *, flags: int = 0, padding: int = 0) -> bytes:
    body = content + b"\x00" * padding
    return b"ID3" + bytes([major, 0, flags]) + syncsafe(len(body)) + body


def tag_size(data: bytes) -> int:
    """Independent: end of the ID3v2 tag at the start (0 if none)."""
    if data[:3] != b"ID3":
        return 0
    size = sum((b & 0x7F) << s for b, s in zip(data[6:10], (21, 14, 7, 0), strict=True))
    return 10 + size + (10 if data[3] == 4 and data[5] & 0x10 else 0)


def id3(data: bytes) -> mutagen_id3.ID3:
    return mutagen_id3.ID3(io.BytesIO(data))


def aigc_texts(data: bytes) -> list[str]:
    return [t for f in id3(data).getall("TXXX:AIGC") for t in f.text]


def audio_of(data: bytes) -> bytes:
    return data[tag_size(data) :]


def on_disk(tmp_path: Path, data: bytes, name: str = "x.mp3") -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


@pytest.mark.parametrize("name", list(SAMPLES))
def test_label_keeps_version_frames_and_audio(tmp_path: Path, name: str) -> None:
    data = SAMPLES[name]()
    out = label(data)
    assert audio_of(out) == audio_of(data)  # MPEG frames and trailing tags byte for byte
    assert fx.fingerprint("mp3", out) == fx.fingerprint("mp3", data)
    assert aigc_texts(out) == [RECORD.to_json()]
    after = id3(out)
    if data[:3] == b"ID3":
        before = id3(data)
        assert after.version == before.version
        assert {k: str(v) for k, v in after.items() if k != "TXXX:AIGC"} == {
            k: str(v) for k, v in before.items()
        }
        # every old frame is a byte-identical prefix of the new tag body
        frames = data[10 : tag_size(data)].rstrip(b"\x00")
        assert out[10 : 10 + len(frames)] == frames
        assert out[3:6] == data[3:6]  # version, revision, flags
    else:
        assert after.version == (2, 4, 0)
    tags = fx.ffprobe_tags(on_disk(tmp_path, out))
    assert tags["AIGC"] == RECORD.to_json()
    if name != "notag":
        assert tags["title"] == f"ID3v2.{data[3]} title" and tags["album"] == "Fixtures"


def test_cover_picture_survives() -> None:
    out = label(fx.mp3_id3v23())
    pics = id3(out).getall("APIC")
    assert len(pics) == 1 and pics[0].data == fx.cover_png()


def test_relabel_fits_in_padding_audio_does_not_move() -> None:
    once = label(fx.mp3_id3v23())
    twice = label(once, SECOND)
    assert tag_size(twice) == tag_size(once)
    assert aigc_texts(twice) == [SECOND.to_json()]
    assert label(twice, SECOND) == twice


def test_small_record_reuses_existing_padding() -> None:
    data = tag(3, frame(3, b"TIT2", b"\x00title"), padding=200) + audio_of(fx.mp3_notag())
    out = H.write_label(data, LabelWrite('{"Label":"1"}'))
    assert tag_size(out) == tag_size(data)
    assert audio_of(out) == audio_of(data)


def test_existing_record_replaced_in_place(tmp_path: Path) -> None:
    p = on_disk(tmp_path, fx.mp3_id3v23())
    t = mutagen_id3.ID3(p)
    t.add(mutagen_id3.TXXX(encoding=1, desc="AIGC", text=RECORD.to_json()))
    t.add(mutagen_id3.TXXX(encoding=1, desc="later", text="after the record"))
    t.save(p, v2_version=3)
    data = p.read_bytes()
    meta = H.read(data)
    assert [parse_record(c.data).record for c in meta.carriers] == [RECORD]
    out = label(data, SECOND)
    assert aigc_texts(out) == [SECOND.to_json()]
    order = [f.FrameID + ":" + getattr(f, "desc", "") for f in id3(out).values()]
    before = [f.FrameID + ":" + getattr(f, "desc", "") for f in id3(data).values()]
    assert order == before
    assert str(id3(out)["TXXX:later"]) == "after the record"


def test_v2_3_uses_latin1_v2_4_utf8() -> None:
    v23 = label(fx.mp3_id3v23())
    v24 = label(fx.mp3_id3v24())
    assert b"TXXX" in v23 and v23[v23.index(b"TXXX") + 10] == 0
    assert v24[v24.index(b"TXXX\x00\x00\x01") + 10] == 3
    assert v24[v24.rindex(b"TXXX") + 10 : v24.rindex(b"TXXX") + 16] == b"\x03AIGC\x00"


def test_notag_info_frame_and_digest() -> None:
    data = fx.mp3_notag()
    fh = mp3.frame_header(data, 0)
    assert fh is not None and fh.layer == 3
    info = mp3.info_frame_length(data, 0, len(data))
    assert info == fh.length and b"Info" in data[:info]
    d = H.content_digest(data)
    assert d.selector == "synthlabel.mp3.v1"
    assert d.digest == hashlib.sha256(data[info:]).digest()
    out = label(data)
    assert out[: tag_size(out)].startswith(b"ID3\x04\x00\x00")
    assert H.content_digest(out) == d


def test_id3v1_kept_and_outside_digest() -> None:
    data = fx.mp3_id3v24()
    assert data[-128:-125] == b"TAG"
    out = label(data)
    assert out[-128:] == data[-128:]
    other_v1 = data[:-128] + b"TAG" + b"x" * 125
    assert H.content_digest(other_v1) == H.content_digest(data)
    assert H.content_digest(label(other_v1)) == H.content_digest(data)


def test_ape_and_lyrics_tags_kept_and_outside_digest() -> None:
    audio = fx.mp3_notag()
    item = struct.pack("<II", 5, 0) + b"Title\x00hello"
    size = len(item) + 32
    footer = b"APETAGEX" + struct.pack("<IIII", 2000, size, 1, 0) + b"\x00" * 8
    ape = item + footer
    lyrics_body = b"LYRICSBEGIN" + b"IND00002" + b"10"
    lyrics = lyrics_body + f"{len(lyrics_body):06d}".encode() + b"LYRICS200"
    v1 = b"TAG" + b"\x00" * 125
    data = audio + ape + lyrics + v1
    kinds = [p.kind for p in mp3.trailing_tags(data, 0)]
    assert kinds == ["apev2", "lyrics3v2", "id3v1"]
    assert H.content_digest(data) == H.content_digest(audio)
    out = label(data)
    assert out.endswith(ape + lyrics + v1)


def test_id3v2_2_tag_gets_txx(tmp_path: Path) -> None:
    data = tag(2, frame(2, b"TT2", b"\x00old title") + frame(2, b"TP1", b"\x00me"), padding=20)
    data += audio_of(fx.mp3_notag())
    out = label(data)
    assert out[3] == 2
    assert frame(2, b"TT2", b"\x00old title") in out and b"TXX" in out
    t = id3(out)
    assert str(t["TIT2"]) == "old title" and aigc_texts(out) == [RECORD.to_json()]
    assert fx.ffprobe_tags(on_disk(tmp_path, out))["AIGC"] == RECORD.to_json()


def test_v2_3_unsynchronised_tag() -> None:
    binary = b"\xff\xe0\xff\x00\xff\xfb\x01"
    content = frame(3, b"TIT2", b"\x00title") + frame(3, b"PRIV", b"owner\x00" + binary)
    data = tag(3, mp3.unsynchronise(content), flags=0x80, padding=10)
    data += audio_of(fx.mp3_notag())
    assert H.read(data).carriers == []
    out = label(data)
    assert out[5] == 0x80
    t = id3(out)
    assert t.getall("PRIV")[0].data == binary
    assert aigc_texts(out) == [RECORD.to_json()]
    body = out[10 : tag_size(out)]
    assert b"\xff\xe0" not in body and b"\xff\xfb" not in body  # still unsynchronised
    assert parse_record(H.read(out).carriers[0].data).record == RECORD


def test_v2_3_extended_header_crc_and_padding_updated() -> None:
    frames = frame(3, b"TIT2", b"\x00title")
    ext = struct.pack(">IHII", 10, 0x8000, 50, zlib.crc32(frames))
    data = tag(3, ext + frames, flags=0x40, padding=50) + audio_of(fx.mp3_notag())
    out = label(data)
    end = tag_size(out)
    size, flags, padding, crc = struct.unpack_from(">IHII", out, 10)
    body = out[24:end]
    new_frames = body[: len(body) - padding]
    assert (size, flags) == (10, 0x8000)
    assert not any(body[len(body) - padding :]) and new_frames.endswith(b"}")
    assert crc == zlib.crc32(new_frames)
    assert aigc_texts(out) == [RECORD.to_json()]


def test_v2_4_footer_tag() -> None:
    frames = frame(4, b"TIT2", b"\x03title")
    content = frames
    head = bytes([4, 0, 0x10]) + syncsafe(len(content))
    data = b"ID3" + head + content + b"3DI" + head + audio_of(fx.mp3_notag())
    out = label(data)
    end = tag_size(out)
    assert out[end - 10 : end - 7] == b"3DI" and out[end - 7 : end] == out[3:10]
    assert out[end:] == audio_of(fx.mp3_notag())
    assert aigc_texts(out) == [RECORD.to_json()]


def test_itunes_non_syncsafe_frame_sizes() -> None:
    long_title = b"\x03" + b"t" * 300
    fr = b"TIT2" + struct.pack(">I", len(long_title)) + b"\x00\x00" + long_title
    data = tag(4, fr + frame(4, b"TPE1", b"\x03me"), padding=16) + audio_of(fx.mp3_notag())
    meta = H.read(data)
    assert any("non-syncsafe" in w for w in meta.warnings)
    out = label(data)
    again = mp3.parse_tag(out, 0)
    assert again.plain_sizes and [f.fid for f in again.frames] == [b"TIT2", b"TPE1", b"TXXX"]
    assert parse_record(H.read(out).carriers[0].data).record == RECORD


def test_second_leading_tag_record_removed() -> None:
    first = tag(3, frame(3, b"TIT2", b"\x00title"), padding=10)
    second = tag(4, mp3.make_txxx(4, RECORD.to_json()) + frame(4, b"TPE1", b"\x03me"))
    data = first + second + audio_of(fx.mp3_notag())
    assert len(H.read(data).carriers) == 1
    out = label(data, SECOND)
    assert [parse_record(c.data).record for c in H.read(out).carriers] == [SECOND]
    assert out.endswith(audio_of(fx.mp3_notag()))


def test_appended_id3v2_record_found_and_removed() -> None:
    frames = mp3.make_txxx(4, RECORD.to_json())
    head = bytes([4, 0, 0x10]) + syncsafe(len(frames))
    appended = b"ID3" + head + frames + b"3DI" + head
    data = fx.mp3_notag() + appended
    meta = H.read(data)
    assert [c.name for c in meta.carriers] == ["appended ID3v2.4 TXXX:AIGC"]
    out = label(data, SECOND)
    assert [c.name for c in H.read(out).carriers] == ["ID3v2.4 TXXX:AIGC"]
    assert H.content_digest(data) == H.content_digest(fx.mp3_notag())


def test_sniff() -> None:
    assert H.sniff(fx.mp3_notag()[: H.sniff_bytes])
    assert H.sniff(fx.mp3_id3v23()[:10])
    assert not H.sniff(b"\xff\xf1\x50\x80\x02\x1f\xfc" + b"\x00" * 400)  # ADTS AAC
    assert not H.sniff("Hello, UTF-16 text".encode("utf-16") * 20)
    assert not H.sniff(b"ID3\x05\x00\x00\x00\x00\x00\x00")


def test_digest_changes_with_audio() -> None:
    data = fx.mp3_notag()
    flipped = bytearray(data)
    flipped[-50] ^= 1
    assert H.content_digest(bytes(flipped)) != H.content_digest(data)


def test_hostile_tags_are_typed_errors() -> None:
    audio = audio_of(fx.mp3_notag())
    cases = {
        "size past end": b"ID3\x03\x00\x00" + syncsafe(1 << 27) + b"x" * 20,
        "bad syncsafe": b"ID3\x03\x00\x00\x00\x00\x80\x00" + audio,
        "truncated header": b"ID3\x03\x00",
        "no audio no tag": b"\x00" * 100,
    }
    for name, bad in cases.items():
        for op in (H.read, H.content_digest, label):
            with pytest.raises(MalformedInput) as exc:
                op(bad)
            assert exc.value.offset is not None, name
    # a broken tag body: read reports it, write refuses, the digest does not need it
    ext_past = tag(3, struct.pack(">I", 1000) + b"\x00" * 10, flags=0x40) + audio
    assert any("extended header" in w for w in H.read(ext_past).warnings)
    assert H.content_digest(ext_past) == H.content_digest(fx.mp3_notag())
    with pytest.raises(MalformedInput):
        label(ext_past)
    unknown_flags = tag(3, frame(3, b"TIT2", b"\x00t"), flags=0x01) + audio
    assert any("unknown header flags" in w for w in H.read(unknown_flags).warnings)
    with pytest.raises(MalformedInput):
        label(unknown_flags)


def test_compressed_frame_bomb_is_limited() -> None:
    bomb = zlib.compress(b"\x00AIGC\x00" + b" " * (20 << 20), 9)
    fr = b"TXXX" + struct.pack(">I", len(bomb) + 4) + b"\x00\x80" + struct.pack(">I", 20 << 20)
    data = tag(3, fr + bomb) + audio_of(fx.mp3_notag())
    with pytest.raises(LimitExceeded):
        H.read(data)


def test_compressed_record_frame_read() -> None:
    value = RECORD.to_json().encode()
    z = zlib.compress(b"\x00AIGC\x00" + value)
    fr = b"TXXX" + struct.pack(">I", len(z) + 4) + b"\x00\x80" + struct.pack(">I", len(value) + 6)
    data = tag(3, fr + z) + audio_of(fx.mp3_notag())
    assert [c.data for c in H.read(data).carriers] == [value]
    out = label(data, SECOND)
    assert [parse_record(c.data).record for c in H.read(out).carriers] == [SECOND]


_FRAME_IDS = st.sampled_from([b"TIT2", b"TPE1", b"TXXX", b"COMM", b"PRIV", b"APIC"])


@settings(max_examples=60, deadline=None)
@given(
    major=st.sampled_from([3, 4]),
    frames=st.lists(st.tuples(_FRAME_IDS, st.binary(min_size=1, max_size=300)), max_size=8),
    padding=st.integers(0, 600),
    unsync=st.booleans(),
    value=st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=400),
)
def test_rewrite_keeps_every_other_frame(
    major: int, frames: list[tuple[bytes, bytes]], padding: int, unsync: bool, value: str
) -> None:
    content = b"".join(frame(major, fid, b"\x00x\x00" + body) for fid, body in frames)
    if unsync and major == 3:
        content = mp3.unsynchronise(content)
    data = tag(major, content, flags=0x80 if unsync else 0, padding=padding)
    data += audio_of(fx.mp3_notag())
    out = H.write_label(data, LabelWrite(value))
    before = mp3.parse_tag(data, 0)
    after = mp3.parse_tag(out, 0)
    assert (after.major, after.flags) == (major, 0x80 if unsync else 0)
    kept = [f.raw for f in after.frames if f.fid != b"TXXX" or b"AIGC" not in f.raw[10:16]]
    assert kept == [f.raw for f in before.frames]
    assert [c.data for c in H.read(out).carriers] == [value.encode()]
    assert out[after.end :] == data[before.end :]
    if len(out) - after.end and tag_size(out) <= tag_size(data):
        assert tag_size(out) == tag_size(data)  # fitted in the old padding
    assert H.write_label(out, LabelWrite(value)) == out
