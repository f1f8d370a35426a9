"""Ogg handler: comment header rewrite, re-pagination, page sequence numbers and CRCs,
chained and multiplexed streams, digests and hostile pages."""

from __future__ import annotations

import hashlib
import io
import struct
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synthlabel.errors import LimitExceeded, MalformedInput
from synthlabel.formats import ogg
from synthlabel.formats.base import LabelWrite
from synthlabel.model.aigc import AIGCRecord, parse_record
from tests.fixtures import audio as fx

pytestmark = pytest.mark.skipif(not fx.HAVE_FFMPEG, reason="ffmpeg not installed")
mutagen_ogg = pytest.importorskip("mutagen.oggvorbis")
from mutagen.oggopus import OggOpus  # noqa: E402

H = ogg.HANDLER
RECORD = AIGCRecord(
    content_producer="001191110000MA0000000H10001", produce_id="01JD3Q8W5Z6V7K2M4N8P0R2S4T"
)
SECOND = RECORD.replace(content_propagator="001191440300MA0000001L20000", propagate_id="42")
SAMPLES = {"vorbis": fx.ogg_vorbis, "opus": fx.ogg_opus}
BIG = '{"Label":"1","ReservedCode1":"' + "R" * 70000 + '"}'

# --- an independent page reader and CRC (bitwise, straight from the Ogg spec) -----------

_TABLE = []
for _i in range(256):
    _r = _i << 24
    for _ in range(8):
        _r = ((_r << 1) ^ 0x04C11DB7) if _r & 0x80000000 else _r << 1
    _TABLE.append(_r & 0xFFFFFFFF)


def spec_crc(b: bytes) -> int:
    c = 0
    for x in b:
        c = ((c << 8) & 0xFFFFFFFF) ^ _TABLE[((c >> 24) ^ x) & 0xFF]
    return c


def pages(data: bytes) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    pos = 0
    while pos < len(data):
        assert data[pos : pos + 4] == b"OggS"
        flags, granule, serial, seq, crc, n = struct.unpack_from("<BqIIIB", data, pos + 5)
        lacing = data[pos + 27 : pos + 27 + n]
        end = pos + 27 + n + sum(lacing)
        raw = data[pos:end]
        assert crc == spec_crc(raw[:22] + b"\x00" * 4 + raw[26:]), f"bad CRC at {pos}"
        out.append(
            {"flags": flags, "granule": granule, "serial": serial, "seq": seq, "raw": raw}
            | {"lacing": lacing, "body": raw[27 + n :]}
        )
        pos = end
    return out


def packets(data: bytes, serial: int | None = None) -> list[bytes]:
    out: list[bytes] = []
    cur = b""
    for p in pages(data):
        if serial is not None and p["serial"] != serial:
            continue
        body, pos = p["body"], 0
        assert isinstance(body, bytes)
        for v in p["lacing"]:  # type: ignore[attr-defined]
            cur += body[pos : pos + v]
            pos += v
            if v < 255:
                out.append(cur)
                cur = b""
    return out


def label(data: bytes, record: AIGCRecord = RECORD) -> bytes:
    return H.write_label(data, LabelWrite(record.to_json()))


def on_disk(tmp_path: Path, data: bytes, name: str = "x.ogg") -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


def ffmpeg_errors(path: Path) -> str:
    res = subprocess.run(
        ["ffmpeg", "-v", "warning", "-nostdin", "-i", str(path), "-f", "null", "-"],
        capture_output=True,
        text=True,
        check=False,
    )
    return res.stderr.strip() + ("" if res.returncode == 0 else f" rc={res.returncode}")


def mutagen_file(data: bytes) -> mutagen_ogg.OggVorbis | OggOpus:
    cls = OggOpus if b"OpusHead" in data[:64] else mutagen_ogg.OggVorbis
    return cls(io.BytesIO(data))


@pytest.mark.parametrize("name", list(SAMPLES))
def test_label_rewrites_only_the_header_pages(tmp_path: Path, name: str) -> None:
    data = SAMPLES[name]()
    before, out = pages(data), label(data)
    after = pages(out)
    assert len(after) == len(before)
    n_hdr = 2  # BOS page + one comment(+setup) page in ffmpeg's output
    assert [p["raw"] for p in after[n_hdr:]] == [p["raw"] for p in before[n_hdr:]]
    assert after[0]["raw"] == before[0]["raw"]
    assert [p["seq"] for p in after] == list(range(len(after)))
    assert after[1]["granule"] == 0
    pk_before, pk_after = packets(data), packets(out)
    assert pk_after[0] == pk_before[0] and pk_after[2:] == pk_before[2:]
    tags = mutagen_file(out).tags
    assert tags is not None and tags["AIGC"] == [RECORD.to_json()]
    assert tags["title"] == [f"{name.capitalize()} title"] and tags["artist"] == ["synthlabel"]
    p = on_disk(tmp_path, out)
    assert fx.ffprobe_tags(p)["AIGC"] == RECORD.to_json()
    assert ffmpeg_errors(p) == ""
    assert fx.fingerprint("ogg", out) == fx.fingerprint("ogg", data)


@pytest.mark.parametrize("name", list(SAMPLES))
def test_big_record_adds_pages_and_renumbers(tmp_path: Path, name: str) -> None:
    data = SAMPLES[name]()
    before = pages(data)
    out = H.write_label(data, LabelWrite(BIG))
    after = pages(out)  # checks every CRC
    extra = len(after) - len(before)
    assert extra >= 1
    assert [p["seq"] for p in after] == list(range(len(after)))
    # audio pages: same bytes except sequence number and CRC
    for a, b in zip(after[2 + extra :], before[2:], strict=True):
        assert isinstance(a["raw"], bytes) and isinstance(b["raw"], bytes)
        assert a["raw"][:18] == b["raw"][:18] and a["raw"][26:] == b["raw"][26:]
    granules = [p["granule"] for p in after[1 : 2 + extra]]
    assert granules[-1] == 0 and all(g in (0, -1) for g in granules)
    assert [c.data.decode() for c in H.read(out).carriers] == [BIG]
    tags = mutagen_file(out).tags
    assert tags is not None and tags["AIGC"] == [BIG]
    p = on_disk(tmp_path, out)
    assert ffmpeg_errors(p) == ""
    assert fx.fingerprint("ogg", out) == fx.fingerprint("ogg", data)
    assert H.content_digest(out) == H.content_digest(data)
    # and back: a small record keeps the (now larger) page count, audio pages untouched
    small = label(out)
    assert [p["raw"] for p in pages(small)[2 + extra :]] == [p["raw"] for p in after[2 + extra :]]
    assert ffmpeg_errors(on_disk(tmp_path, small, "s.ogg")) == ""
    assert label(small) == small


def test_existing_record_replaced_other_comments_kept(tmp_path: Path) -> None:
    p = on_disk(tmp_path, fx.ogg_vorbis())
    m = mutagen_ogg.OggVorbis(p)
    assert m.tags is not None
    m.tags["aigc"] = RECORD.to_json()
    m.tags["zzz"] = "after"
    m.save()
    data = p.read_bytes()
    assert [parse_record(c.data).record for c in H.read(data).carriers] == [RECORD]
    out = label(data, SECOND)
    tags = mutagen_file(out).tags
    assert tags is not None
    assert tags["AIGC"] == [SECOND.to_json()] and tags["zzz"] == ["after"]
    assert [k.lower() for k, _ in tags] == [k.lower() for k, _ in mutagen_file(data).tags or []]


def test_record_written_by_ffmpeg_is_read(tmp_path: Path) -> None:
    args = [*fx._tone(), "-c:a", "libvorbis", "-metadata", f"AIGC={RECORD.to_json()}"]
    data = fx._ffmpeg(args, "ogg")
    meta = H.read(data)
    assert [(c.name, parse_record(c.data).record) for c in meta.carriers] == [
        ("vorbis comment AIGC", RECORD)
    ]
    c = meta.carriers[0]
    assert data[c.offset : c.offset + len(c.data)] == c.data  # offset points at the value


def test_ogg_flac_is_read_but_not_written() -> None:
    args = [*fx._tone(), "-c:a", "flac", "-metadata", f"AIGC={RECORD.to_json()}", "-f", "ogg"]
    data = fx._ffmpeg(args, "oga")
    assert [parse_record(c.data).record for c in H.read(data).carriers] == [RECORD]
    with pytest.raises(MalformedInput):
        label(data)


def test_chained_streams_first_labelled_second_cleaned() -> None:
    second = fx.ogg_opus()
    data = fx.ogg_vorbis() + second
    out = label(data)
    assert out.endswith(second)
    assert len(H.read(out).carriers) == 1
    # a record in the second link is removed
    other = label(second, SECOND)
    out = label(fx.ogg_vorbis() + other)
    meta = H.read(out)
    assert [(c.name, parse_record(c.data).record) for c in meta.carriers] == [
        ("vorbis comment AIGC", RECORD)
    ]
    assert out.endswith(second)  # opus link back to its original bytes
    assert H.content_digest(out) == H.content_digest(data)


def test_multiplexed_streams(tmp_path: Path) -> None:
    args = [*fx._tone(), *fx._tone(660), "-map", "0", "-map", "1", "-c:a", "libvorbis"]
    data = fx._ffmpeg(args, "ogg")
    serials = {p["serial"] for p in pages(data)}
    assert len(serials) == 2
    out = label(data)
    assert len(H.read(out).carriers) == 1
    first_serial = pages(data)[0]["serial"]
    for s in serials - {first_serial}:
        assert packets(out, s) == packets(data, s)  # type: ignore[arg-type]
    assert fx.fingerprint("ogg", out) == fx.fingerprint("ogg", data)
    assert ffmpeg_errors(on_disk(tmp_path, out)) == ""


def test_content_digest_skips_comments_only() -> None:
    data = fx.ogg_opus()
    d = H.content_digest(data)
    assert d.selector == "synthlabel.ogg.v1"
    pk = packets(data)
    inner = hashlib.sha256()
    for i, p in enumerate(pk):
        if i != 1:
            inner.update(p + struct.pack("<Q", len(p)))
    assert d.digest == hashlib.sha256(inner.digest()).digest()
    # an audio byte changed (CRC fixed) changes it
    pg = pages(data)
    raw = bytearray(pg[3]["raw"])  # type: ignore[arg-type]
    raw[-1] ^= 1
    raw[22:26] = b"\x00" * 4
    raw[22:26] = struct.pack("<I", spec_crc(bytes(raw)))
    start = data.index(pg[3]["raw"])  # type: ignore[arg-type]
    changed = data[:start] + bytes(raw) + data[start + len(raw) :]
    assert H.content_digest(changed) != d


def test_crc_mismatch_is_a_warning() -> None:
    data = bytearray(fx.ogg_vorbis())
    data[-1] ^= 0xFF
    meta = H.read(bytes(data))
    assert any("CRC mismatch" in w for w in meta.warnings)


def test_crc_matches_spec() -> None:
    for b in (b"", b"OggS", bytes(range(256)) * 3):
        assert ogg.crc(b) == spec_crc(b)


def test_audio_sharing_the_last_header_page_is_refused() -> None:
    data = fx.ogg_opus()
    pg = pages(data)
    hdr, audio = pg[1], pg[2]
    lacing = hdr["lacing"] + audio["lacing"]  # type: ignore[operator]
    body = hdr["body"] + audio["body"]  # type: ignore[operator]
    merged = bytearray(
        struct.pack("<4sBBqIIIB", b"OggS", 0, 0, audio["granule"], hdr["serial"], 1, 0, len(lacing))
        + lacing
        + body
    )
    merged[22:26] = struct.pack("<I", spec_crc(bytes(merged)))
    rest = b"".join(
        p["raw"][:18] + struct.pack("<I", p["seq"] - 1) + b"\x00" * 4 + p["raw"][26:]  # type: ignore[index, operator]
        for p in pg[3:]
    )
    bad = pg[0]["raw"] + bytes(merged) + rest  # type: ignore[operator]
    assert H.read(bad).carriers == []
    with pytest.raises(MalformedInput):
        label(bad)


def test_hostile_pages_are_typed_errors() -> None:
    data = fx.ogg_vorbis()
    first_end = len(pages(data)[0]["raw"])  # type: ignore[arg-type]
    cases = {
        "junk between pages": data[:first_end] + b"junk" + data[first_end:],
        "truncated": data[:-3],
        "version 1": data[:4] + b"\x01" + data[5:],
        "lacing past end": data[:26] + b"\xff",
    }
    for name, bad in cases.items():
        for op in (H.read, H.content_digest, lambda d: label(d)):
            with pytest.raises(MalformedInput) as exc:
                op(bad)
            assert exc.value.offset is not None, name
    with pytest.raises(MalformedInput):
        H.read(b"")


def test_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    data = label(fx.ogg_vorbis())
    monkeypatch.setattr(ogg, "MAX_HEADER_PACKET", 100)
    with pytest.raises(LimitExceeded):
        H.read(data)
    monkeypatch.setattr(ogg, "MAX_HEADER_PACKET", 1 << 20)
    monkeypatch.setattr(ogg, "MAX_OGG_PAGES", 3)
    with pytest.raises(LimitExceeded):
        H.content_digest(data)


def test_no_audio_codec_to_label() -> None:
    page = bytearray(struct.pack("<4sBBqIIIB", b"OggS", 0, 2, 0, 7, 0, 0, 1) + b"\x05hello")
    page[22:26] = struct.pack("<I", spec_crc(bytes(page)))
    with pytest.raises(MalformedInput):
        label(bytes(page))
    assert H.read(bytes(page)).carriers == []


def test_sniff() -> None:
    assert H.sniff(b"OggS\x00") and not H.sniff(b"OggS\x01") and not H.sniff(b"fLaC")


@settings(max_examples=25, deadline=None)
@given(
    name=st.sampled_from(list(SAMPLES)),
    sizes=st.lists(st.integers(1, 140_000), min_size=1, max_size=3),
)
def test_any_record_size_keeps_audio_packets(name: str, sizes: list[int]) -> None:
    data = SAMPLES[name]()
    out = data
    for n in sizes:
        value = '{"Label":"1","ReservedCode1":"' + "x" * n + '"}'
        out = H.write_label(out, LabelWrite(value))
        pg = pages(out)  # every CRC checked
        assert [p["seq"] for p in pg] == list(range(len(pg)))
        pk = packets(out)
        assert pk[0] == packets(data)[0] and pk[2:] == packets(data)[2:]
        assert [c.data.decode() for c in H.read(out).carriers] == [value]
        assert H.content_digest(out) == H.content_digest(data)
    assert H.write_label(out, LabelWrite(value)) == out
