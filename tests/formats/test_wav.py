"""WAV handler: the top-level ``AIGC`` chunk, RF64/BW64 sizes, INFO and id3 copies, limits."""

from __future__ import annotations

import contextlib
import hashlib
import io
import struct
import subprocess
from pathlib import Path

import pytest

from synthlabel.errors import LimitExceeded, MalformedInput, SynthlabelError
from synthlabel.formats import _riff, wav
from synthlabel.formats.base import LabelWrite
from synthlabel.model.aigc import AIGCRecord, parse_record
from tests.fixtures import audio as fx

pytestmark = pytest.mark.skipif(not fx.HAVE_FFMPEG, reason="ffmpeg not installed")

H = wav.HANDLER
RECORD = AIGCRecord(
    content_producer="001191110000MA0000000H10001", produce_id="01JD3Q8W5Z6V7K2M4N8P0R2S4T"
)
SECOND = RECORD.replace(content_propagator="001191440300MA0000001L20000", propagate_id="42")
SAMPLES = {
    "pcm16": fx.wav_pcm16,
    "u8-odd": fx.wav_u8_odd,
    "info": fx.wav_info,
    "rf64": fx.wav_rf64,
    "bwf": fx.wav_bwf,
}


def label(data: bytes, record: AIGCRecord = RECORD) -> bytes:
    return H.write_label(data, LabelWrite(record.to_json()))


def chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(id, payload) of every top-level chunk, parsed independently of the handler; checks
    the RIFF / ds64 size and the pad bytes."""
    magic = data[:4]
    assert magic in (b"RIFF", b"RF64", b"BW64") and data[8:12] == b"WAVE"
    ds64: dict[str, int] = {}
    if magic == b"RIFF":
        assert struct.unpack_from("<I", data, 4)[0] == len(data) - 8
    else:
        assert data[4:8] == b"\xff\xff\xff\xff" and data[12:16] == b"ds64"
        riff, dsize, _samples = struct.unpack_from("<QQQ", data, 20)
        assert riff == len(data) - 8
        ds64["data"] = dsize
    out = []
    pos = 12
    while pos < len(data):
        cid, size = data[pos : pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        if size == 0xFFFFFFFF and cid == b"data":
            size = ds64["data"]
        out.append((cid, data[pos + 8 : pos + 8 + size]))
        if size % 2:
            assert data[pos + 8 + size] == 0, "pad byte must be zero"
        pos += 8 + size + (size % 2)
    assert pos == len(data)
    return out


def ids(data: bytes) -> list[bytes]:
    return [c for c, _ in chunks(data)]


def payload(data: bytes, cid: bytes) -> bytes:
    return next(p for c, p in chunks(data) if c == cid)


def info_chunk(entries: list[tuple[bytes, bytes]]) -> bytes:
    body = b"INFO" + b"".join(_riff.make_chunk(k, v) for k, v in entries)
    return _riff.make_chunk(b"LIST", body)


def insert_before_data(data: bytes, extra: bytes) -> bytes:
    i = data.index(b"data")
    out = data[:i] + extra + data[i:]
    return out[:4] + struct.pack("<I", len(out) - 8) + out[8:]


def append_chunk(data: bytes, extra: bytes) -> bytes:
    out = data + extra
    return out[:4] + struct.pack("<I", len(out) - 8) + out[8:]


def on_disk(tmp_path: Path, data: bytes, name: str = "x.wav") -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


@pytest.mark.parametrize("name", list(SAMPLES))
def test_chunk_goes_before_data_everything_else_kept(name: str) -> None:
    data = SAMPLES[name]()
    out = label(data)
    before, after = chunks(data), chunks(out)
    if before[0][0] == b"ds64":  # only the riffSize field (first 8 bytes) changes
        before[0] = (b"ds64", before[0][1][8:])
        after[0] = (b"ds64", after[0][1][8:])
    assert [c for c in after if c[0] != b"AIGC"] == before
    order = ids(out)
    assert order.index(b"AIGC") == order.index(b"data") - 1
    assert order.index(b"fmt ") < order.index(b"AIGC")
    assert payload(out, b"AIGC") == RECORD.to_json().encode()
    assert payload(out, b"data") == payload(data, b"data")
    assert fx.fingerprint("wav", out) == fx.fingerprint("wav", data)


@pytest.mark.parametrize("name", list(SAMPLES))
def test_independent_readers(tmp_path: Path, name: str) -> None:
    data = SAMPLES[name]()
    out = on_disk(tmp_path, label(data))
    assert fx.independent_aigc(out) == [RECORD.to_json()]
    # ffprobe still reads the file and sees the same tags as before
    assert fx.ffprobe_tags(out) == fx.ffprobe_tags(on_disk(tmp_path, data, "orig.wav"))


def test_info_and_bext_tags_survive(tmp_path: Path) -> None:
    tags = fx.ffprobe_tags(on_disk(tmp_path, label(fx.wav_info())))
    assert tags["title"] == "Test tone" and tags["artist"] == "synthlabel"
    assert tags["comment"] == "existing comment"
    bwf = fx.wav_bwf()
    out = label(bwf)
    assert payload(out, b"bext") == payload(bwf, b"bext")
    tags = fx.ffprobe_tags(on_disk(tmp_path, out, "b.wav"))
    # ffmpeg maps bext description/originator/date to comment/encoded_by/date
    assert tags["comment"] == "bext description" and tags["encoded_by"] == "synthlabel"
    assert tags["date"] == "2025-01-02"


def test_odd_and_even_records_are_padded_right() -> None:
    data = fx.wav_pcm16()
    for n in (10, 11):
        value = "x" * n
        out = H.write_label(data, LabelWrite(value))
        assert payload(out, b"AIGC") == value.encode()  # chunks() checks pad and sizes
        assert [c.data for c in H.read(out).carriers] == [value.encode()]


@pytest.mark.parametrize("magic", [b"RF64", b"BW64"])
def test_rf64_and_bw64_sizes(tmp_path: Path, magic: bytes) -> None:
    data = magic + fx.wav_rf64()[4:]
    out = label(data)
    assert out[:4] == magic and out[4:8] == b"\xff\xff\xff\xff"
    riff, dsize, samples, table = struct.unpack_from("<QQQI", out, 20)
    assert riff == len(out) - 8
    old = struct.unpack_from("<QQQI", data, 20)
    assert (dsize, samples, table) == old[1:]
    assert ids(out)[0] == b"ds64" and ids(out)[-2:] == [b"AIGC", b"data"]
    assert payload(out, b"data") == payload(data, b"data")
    twice = label(out, SECOND)
    assert struct.unpack_from("<Q", twice, 20)[0] == len(twice) - 8
    if magic == b"RF64":
        p = on_disk(tmp_path, out)
        assert fx.independent_aigc(p) == [RECORD.to_json()]
        assert fx.fingerprint("wav", out) == fx.fingerprint("wav", data)


def test_rf64_chunk_size_from_ds64_table() -> None:
    """A non-data chunk whose 32-bit size is 0xFFFFFFFF takes its size from the table."""
    base = fx.wav_rf64()
    junk = b"JUNK" + b"\xff\xff\xff\xff" + b"\x01" * 6
    ds = bytearray(base[12 : 20 + 28])
    struct.pack_into("<I", ds, 4, 28 + 12)
    ds[-4:] = struct.pack("<I", 1)
    ds += b"JUNK" + struct.pack("<Q", 6)
    body = bytes(ds) + base[20 + 28 :]
    i = body.index(b"data")
    body = body[:i] + junk + body[i:]
    data = bytearray(b"RF64\xff\xff\xff\xffWAVE" + body)
    struct.pack_into("<Q", data, 20, len(data) - 8)
    data = bytes(data)
    assert [c.id for c in wav.parse(data).chunks] == [b"ds64", b"fmt ", b"JUNK", b"data"]
    out = label(data)
    riff = wav.parse(out)
    assert [c.id for c in riff.chunks] == [b"ds64", b"fmt ", b"JUNK", b"AIGC", b"data"]
    assert riff.ds64 is not None and riff.ds64.riff_size == len(out) - 8


def test_existing_chunk_replaced_in_place_even_after_data() -> None:
    data = append_chunk(fx.wav_pcm16(), _riff.make_chunk(b"AIGC", RECORD.to_json().encode()))
    assert ids(data) == [b"fmt ", b"data", b"AIGC"]
    out = label(data, SECOND)
    assert ids(out) == [b"fmt ", b"data", b"AIGC"]
    assert parse_record(payload(out, b"AIGC")).record == SECOND
    assert label(out, SECOND) == out


def test_info_aigc_read_stripped_and_removed_on_write(tmp_path: Path) -> None:
    old = RECORD.to_json().encode() + b"\x00\x00 "
    info = info_chunk([(b"INAM", b"Kept title\x00"), (b"AIGC", old), (b"ICMT", b"note\x00")])
    data = insert_before_data(fx.wav_pcm16(), info)
    meta = H.read(data)
    assert [(c.name, c.data) for c in meta.carriers] == [
        ("LIST/INFO AIGC", RECORD.to_json().encode())
    ]
    assert ffprobe_aigc(on_disk(tmp_path, data)) == RECORD.to_json()
    out = label(data, SECOND)
    assert ids(out) == [b"fmt ", b"LIST", b"AIGC", b"data"]
    assert (
        payload(out, b"LIST")
        == info_chunk([(b"INAM", b"Kept title\x00"), (b"ICMT", b"note\x00")])[8:]
    )
    meta = H.read(out)
    assert [c.name for c in meta.carriers] == ["RIFF AIGC"]
    tags = fx.ffprobe_tags(on_disk(tmp_path, out, "o.wav"))
    assert tags["title"] == "Kept title" and tags["comment"] == "note" and "AIGC" not in tags


def ffprobe_aigc(path: Path) -> str | None:
    return fx.ffprobe_tags(path).get("AIGC")


def test_info_holding_only_the_record_is_dropped() -> None:
    data = insert_before_data(fx.wav_pcm16(), info_chunk([(b"AIGC", RECORD.to_json().encode())]))
    out = label(data)
    assert ids(out) == [b"fmt ", b"AIGC", b"data"]


def test_two_copies_are_reported() -> None:
    data = insert_before_data(fx.wav_pcm16(), info_chunk([(b"AIGC", RECORD.to_json().encode())]))
    data = insert_before_data(data, _riff.make_chunk(b"AIGC", SECOND.to_json().encode()))
    meta = H.read(data)
    assert len(meta.carriers) == 2
    assert any("one record per file" in w for w in meta.warnings)
    out = label(data)
    assert [c.name for c in H.read(out).carriers] == ["RIFF AIGC"]


def test_id3_chunk_record_removed_other_frames_kept() -> None:
    mutagen = pytest.importorskip("mutagen.wave")
    from mutagen.id3 import TIT2, TXXX

    buf = io.BytesIO(fx.wav_pcm16())
    w = mutagen.WAVE(buf)
    w.add_tags()
    assert w.tags is not None
    w.tags.add(TIT2(encoding=3, text="id3 title"))
    w.tags.add(TXXX(encoding=1, desc="AIGC", text=RECORD.to_json()))
    w.save(buf)
    data = buf.getvalue()
    meta = H.read(data)
    assert [c.data for c in meta.carriers] == [RECORD.to_json().encode()]
    assert "id3" in meta.carriers[0].name
    out = label(data, SECOND)
    assert [parse_record(c.data).record for c in H.read(out).carriers] == [SECOND]
    again = mutagen.WAVE(io.BytesIO(out))
    assert again.tags is not None
    assert str(again.tags["TIT2"]) == "id3 title"
    assert not again.tags.getall("TXXX:AIGC")
    assert payload(out, b"data") == payload(data, b"data")


def test_xmp_chunk_reported() -> None:
    data = append_chunk(fx.wav_pcm16(), _riff.make_chunk(b"_PMX", b"<x:xmpmeta/>"))
    assert [(c.kind, c.data) for c in H.read(data).carriers] == [("xmp", b"<x:xmpmeta/>")]


def test_content_digest_covers_fmt_and_data_only() -> None:
    data = fx.wav_info()
    d = H.content_digest(data)
    assert d.selector == "synthlabel.wav.v1"
    fmt, pcm = payload(data, b"fmt "), payload(data, b"data")
    expect = hashlib.sha256(
        b"fmt " + struct.pack("<Q", len(fmt)) + fmt + b"data" + struct.pack("<Q", len(pcm)) + pcm
    ).digest()
    assert d.digest == expect
    assert H.content_digest(label(data)) == d
    # RIFF and RF64 holding the same audio have the same digest
    assert (
        H.content_digest(fx.wav_rf64()).digest
        == H.content_digest(
            fx._ffmpeg([*fx._tone(), "-c:a", "pcm_s16le", *fx._BITEXACT], "wav")
        ).digest
    )
    flipped = bytearray(data)
    flipped[data.index(b"data") + 100] ^= 1
    assert H.content_digest(bytes(flipped)).digest != d.digest


def test_trailing_bytes_after_riff_kept() -> None:
    data = fx.wav_pcm16() + b"TRAILER"
    meta = H.read(data)
    assert any("after the RIFF body" in w for w in meta.warnings)
    out = label(data)
    assert out.endswith(b"TRAILER")
    assert struct.unpack_from("<I", out, 4)[0] == len(out) - 8 - 7


def test_missing_final_pad_byte_tolerated() -> None:
    data = fx.wav_u8_odd()
    assert len(payload(data, b"data")) % 2 == 1
    short = data[:-1]
    short = short[:4] + struct.pack("<I", len(short) - 8) + short[8:]
    assert any("pad byte" in w for w in H.read(short).warnings)
    out = label(short)
    assert payload(out, b"data") == payload(data, b"data")


def test_sniff() -> None:
    assert H.sniff(fx.wav_pcm16()[:12]) and H.sniff(fx.wav_rf64()[:12])
    assert not H.sniff(b"RIFF\x00\x00\x00\x00WEBPVP8 ")
    assert not H.sniff(b"RIFF\x00\x00\x00\x00AVI LIST")


def broken(data: bytes, at: int, value: bytes) -> bytes:
    return data[:at] + value + data[at + len(value) :]


def test_hostile_sizes_are_typed_errors() -> None:
    data = fx.wav_pcm16()
    cases = {
        "riff past end": broken(data, 4, struct.pack("<I", 0x7FFFFFF0)),
        "chunk past end": broken(data, 16, struct.pack("<I", 0xFFFFFFF0)),
        "truncated": data[:30],
        "not wave": broken(data, 8, b"AVI "),
        "tiny riff": broken(data, 4, struct.pack("<I", 2)),
        "rf64 without ds64": b"RF64\xff\xff\xff\xffWAVEfmt " + data[16:],
    }
    rf = fx.wav_rf64()
    cases["rf64 riff size huge"] = broken(rf, 20, struct.pack("<Q", 1 << 62))
    cases["rf64 data size huge"] = broken(rf, 28, struct.pack("<Q", 1 << 62))
    cases["rf64 table huge"] = broken(rf, 44, struct.pack("<I", 0xFFFFFFFF))
    cases["unknown 64-bit chunk"] = broken(rf, rf.index(b"fmt ") + 4, b"\xff\xff\xff\xff")
    for name, bad in cases.items():
        for op in (H.read, H.content_digest, lambda d: label(d)):
            with pytest.raises(MalformedInput) as exc:
                op(bad)
            assert exc.value.offset is not None, name


def test_chunk_count_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_riff, "MAX_RIFF_CHUNKS", 50)
    data = fx.wav_pcm16()
    for _ in range(60):
        data = insert_before_data(data, _riff.make_chunk(b"JUNK", b""))
    with pytest.raises(LimitExceeded):
        H.read(data)


def test_no_data_chunk() -> None:
    data = fx.wav_pcm16()
    fmt_only = data[:36]
    fmt_only = fmt_only[:4] + struct.pack("<I", len(fmt_only) - 8) + fmt_only[8:]
    assert any("no data chunk" in w for w in H.read(fmt_only).warnings)
    with pytest.raises(MalformedInput):
        H.content_digest(fmt_only)
    out = label(fmt_only)
    assert ids(out) == [b"fmt ", b"AIGC"]


def test_ffmpeg_decodes_labelled_files_cleanly(tmp_path: Path) -> None:
    for name, make in SAMPLES.items():
        p = on_disk(tmp_path, label(make()), f"{name}.wav")
        res = subprocess.run(
            ["ffmpeg", "-v", "error", "-nostdin", "-i", str(p), "-f", "null", "-"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert res.returncode == 0 and not res.stderr.strip(), (name, res.stderr)


def test_errors_are_typed_on_random_chunk_ids() -> None:
    data = label(fx.wav_info())
    for i in range(12, min(len(data), 400)):
        bad = data[:i] + b"\xff" + data[i + 1 :]
        for op in (H.read, H.content_digest, lambda d: label(d)):
            with contextlib.suppress(SynthlabelError):
                op(bad)
