"""PNG/APNG handler: chunk walking, lossless XMP placement, carriers, digest, hostile input."""

from __future__ import annotations

import io
import json
import shutil
import struct
import subprocess
import time
import zlib
from pathlib import Path

import pytest
from PIL import Image

from synthlabel.errors import LimitExceeded, MalformedInput
from synthlabel.formats import _limits, _xmp, png
from synthlabel.model.aigc import AIGCRecord
from tests.fixtures import images as fx

H = png.HANDLER
RECORD = AIGCRecord(content_producer="001191110000MA0000000H10001", produce_id="01JD3Q8W5Z6V7K2M")
PACKET = _xmp.new_packet(RECORD.to_json())


def chunks(data: bytes) -> list[bytes]:
    return [data[c.start : c.end] for c in png.parse(data).chunks]


def types(data: bytes) -> list[str]:
    out = []
    for c in png.parse(data).chunks:
        out.append("XMP" if png._is_xmp(data, c) else c.type.decode())
    return out


def is_xmp_chunk(raw: bytes) -> bool:
    return raw[4:8] in (b"iTXt", b"tEXt", b"zTXt") and raw[8:].startswith(png.XMP_KEYWORD + b"\0")


def insert_before(data: bytes, ctype: bytes, extra: bytes) -> bytes:
    c = next(c for c in png.parse(data).chunks if c.type == ctype)
    return data[: c.start] + extra + data[c.start :]


def text_chunk(ctype: bytes, keyword: bytes, text: bytes) -> bytes:
    if ctype == b"tEXt":
        body = keyword + b"\0" + text
    elif ctype == b"zTXt":
        body = keyword + b"\0\0" + zlib.compress(text)
    else:
        body = keyword + b"\0\0\0\0\0" + text
    return png.make_chunk(ctype, body)


def apng() -> bytes:
    frames = [f.convert("RGBA") for f in fx._frames()]
    buf = io.BytesIO()
    frames[0].save(buf, "PNG", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return buf.getvalue()


def crc_ok(raw: bytes) -> bool:
    return struct.unpack(">I", raw[-4:])[0] == zlib.crc32(raw[4:-4]) & 0xFFFFFFFF


# -- writing --------------------------------------------------------------------------------


@pytest.mark.parametrize("make", [fx.png, apng], ids=["png", "apng"])
def test_write_keeps_every_other_chunk_byte_for_byte(make) -> None:
    data = make()
    out = H.write_xmp(data, PACKET)
    assert [c for c in chunks(out) if not is_xmp_chunk(c)] == chunks(data)
    assert all(crc_ok(c) for c in chunks(out))
    assert H.read(out).xmp[0].data == PACKET
    assert not any("CRC" in w for w in H.read(out).warnings)
    assert fx.decoded_frames(out) == fx.decoded_frames(data)
    assert H.content_digest(out) == H.content_digest(data)


def test_xmp_chunk_layout_is_uncompressed_itxt_before_idat() -> None:
    out = H.write_xmp(fx.png(), PACKET)
    t = types(out)
    assert t.index("XMP") == t.index("IDAT") - 1
    raw = next(c for c in chunks(out) if is_xmp_chunk(c))
    assert raw[4:8] == b"iTXt"
    assert raw[8:-4] == b"XML:com.adobe.xmp\x00\x00\x00\x00\x00" + PACKET
    assert struct.unpack(">I", raw[:4])[0] == len(raw) - 12


def test_apng_xmp_goes_before_the_first_frame_and_animation_survives() -> None:
    data = apng()
    meta = H.read(data)
    assert meta.frames == 3
    out = H.write_xmp(data, PACKET)
    t = types(out)
    assert t.index("acTL") < t.index("XMP") < t.index("fcTL") < t.index("IDAT")
    assert t.count("fdAT") == types(data).count("fdAT") > 0
    assert H.read(out).frames == 3


def test_existing_xmp_before_idat_is_replaced_in_place() -> None:
    old = _xmp.new_packet(AIGCRecord(content_producer="old", produce_id="1").to_json())
    data = insert_before(fx.png(), b"iCCP", text_chunk(b"iTXt", png.XMP_KEYWORD, old))
    before = types(data)
    out = H.write_xmp(data, PACKET)
    assert types(out) == before
    assert [c.data for c in H.read(out).xmp] == [PACKET]


def test_xmp_after_idat_is_moved_before_it() -> None:
    data = fx.png()
    old = text_chunk(b"iTXt", png.XMP_KEYWORD, _xmp.new_packet(RECORD.to_json()))
    late = insert_before(data, b"IEND", old)
    assert any("after IDAT" in w for w in H.read(late).warnings)
    out = H.write_xmp(late, PACKET)
    t = types(out)
    assert t.count("XMP") == 1 and t.index("XMP") < t.index("IDAT")
    assert [c for c in chunks(out) if not is_xmp_chunk(c)] == chunks(data)


def test_aigc_text_chunks_and_duplicate_xmp_removed_other_text_kept() -> None:
    rec = RECORD.to_json().encode()
    data = fx.png()
    data = insert_before(data, b"IDAT", text_chunk(b"tEXt", b"AIGC", rec))
    data = insert_before(data, b"IDAT", text_chunk(b"zTXt", b"AIGC", rec))
    data = insert_before(data, b"IDAT", text_chunk(b"iTXt", png.XMP_KEYWORD, PACKET))
    data = insert_before(data, b"IEND", text_chunk(b"iTXt", png.XMP_KEYWORD, PACKET))
    assert len(H.read(data).of_kind("aigc")) == 2 and len(H.read(data).xmp) == 2
    out = H.write_xmp(data, PACKET)
    meta = H.read(out)
    assert meta.of_kind("aigc") == [] and len(meta.xmp) == 1
    assert b"existing text chunk" in out  # the fixture's tEXt Comment


def test_compressed_xmp_is_read_and_bombs_are_refused() -> None:
    comp = png.make_chunk(b"iTXt", png.XMP_KEYWORD + b"\0\x01\x00\0\0" + zlib.compress(PACKET))
    data = insert_before(fx.png(), b"IDAT", comp)
    assert [c.data for c in H.read(data).xmp] == [PACKET]
    bomb_text = zlib.compress(b"<" + b" " * (_limits.MAX_METADATA_BYTES + 10), 9)
    bomb = png.make_chunk(b"iTXt", png.XMP_KEYWORD + b"\0\x01\x00\0\0" + bomb_text)
    t = time.perf_counter()
    with pytest.raises(LimitExceeded):
        H.read(insert_before(fx.png(), b"IDAT", bomb))
    assert time.perf_counter() - t < 30.0  # a hang guard, not a speed test (CI load varies)
    # Writing never inflates anything: the bomb chunk is simply replaced.
    out = H.write_xmp(insert_before(fx.png(), b"IDAT", bomb), PACKET)
    assert bomb not in out and H.read(out).xmp[0].data == PACKET


def test_crc_errors_are_warnings_and_bad_chunks_kept_verbatim() -> None:
    data = fx.png()
    c = next(c for c in png.parse(data).chunks if c.type == b"tEXt")
    broken = bytearray(data)
    broken[c.end - 1] ^= 0xFF
    meta = H.read(bytes(broken))
    assert any("CRC mismatch in chunk tEXt" in w for w in meta.warnings)
    out = H.write_xmp(bytes(broken), PACKET)
    assert bytes(broken[c.start : c.end]) in out


def test_c2pa_exif_and_size_are_reported() -> None:
    store = b"\x00\x00\x00\x10jumb" + b"\x00\x00\x00\x08jumd"
    data = insert_before(fx.png(), b"IDAT", png.make_chunk(b"caBX", store))
    meta = H.read(data)
    assert [c.data for c in meta.c2pa] == [store]
    assert (meta.width, meta.height, meta.frames) == (96, 64, 1)
    assert meta.exif is not None and b"SynthlabelTestCam" in meta.exif


def test_trailing_bytes_after_iend_kept() -> None:
    data = fx.png() + b"junk after IEND"
    out = H.write_xmp(data, PACKET)
    assert out.endswith(b"junk after IEND")
    assert H.content_digest(out) == H.content_digest(fx.png())


# -- digest ---------------------------------------------------------------------------------


def test_digest_covers_image_chunks_only() -> None:
    data = fx.png()
    d0 = H.content_digest(data)
    assert d0.selector == "synthlabel.png.v1"
    meta_only = insert_before(data, b"IDAT", text_chunk(b"tEXt", b"Author", b"x"))
    meta_only = insert_before(meta_only, b"IDAT", png.make_chunk(b"tIME", bytes(7)))
    meta_only = insert_before(meta_only, b"IDAT", png.make_chunk(b"caBX", b"abc"))
    no_icc = b"".join([data[:8]] + [c for c in chunks(data) if c[4:8] not in (b"iCCP", b"eXIf")])
    assert H.content_digest(meta_only) == d0 == H.content_digest(no_icc)
    idat = next(c for c in png.parse(data).chunks if c.type == b"IDAT")
    changed = bytearray(data)
    changed[idat.data_start + 5] ^= 1
    assert H.content_digest(bytes(changed)) != d0
    assert {c.decode() for c in png.DIGEST_CHUNKS} == {
        "IHDR",
        "PLTE",
        "tRNS",
        "IDAT",
        "acTL",
        "fcTL",
        "fdAT",
        "IEND",
    }


# -- hostile input --------------------------------------------------------------------------


@pytest.mark.parametrize("cut", [4, 8, 20, 40, -13, -1])
def test_truncation_raises_malformed_with_offset(cut: int) -> None:
    data = fx.png()[:cut]
    for op in (H.read, H.content_digest, lambda d: H.write_xmp(d, PACKET)):
        with pytest.raises(MalformedInput) as info:
            op(data)
        assert info.value.offset is not None


def test_huge_declared_chunk_length() -> None:
    data = fx.png()
    ihdr_end = png.parse(data).chunks[0].end
    lie = data[:ihdr_end] + struct.pack(">I", 0x7FFFFFF0) + b"tEXt" + data[ihdr_end + 8 :]
    with pytest.raises(MalformedInput) as info:
        H.read(lie)
    assert info.value.offset == ihdr_end
    over = data[:ihdr_end] + struct.pack(">I", 0x80000000) + data[ihdr_end + 4 :]
    with pytest.raises(MalformedInput):
        H.read(over)


def test_chunk_count_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    many = insert_before(fx.png(), b"IDAT", png.make_chunk(b"tEXt", b"k\0v") * 200)
    H.read(many)
    monkeypatch.setattr(_limits, "MAX_PNG_CHUNKS", 100)
    with pytest.raises(LimitExceeded):
        H.read(many)


def test_endless_empty_chunks_fail_fast() -> None:
    data = fx.png()
    ihdr_end = png.parse(data).chunks[0].end
    hostile = data[:ihdr_end] + png.make_chunk(b"zzZz", b"") * 600_000
    t = time.perf_counter()
    with pytest.raises((LimitExceeded, MalformedInput)):
        H.read(hostile)
    assert time.perf_counter() - t < 30.0  # a hang guard, not a speed test (CI load varies)


# -- exiftool -------------------------------------------------------------------------------


@pytest.mark.exiftool
@pytest.mark.skipif(shutil.which("exiftool") is None, reason="needs exiftool")
def test_exiftool_sees_exif_icc_and_text_after_write(tmp_path: Path) -> None:
    path = tmp_path / "b.png"
    path.write_bytes(H.write_xmp(fx.png(), PACKET))
    res = subprocess.run(
        ["exiftool", "-j", "-a", "-G1", "-All", "-Warning", "-Error", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    info = json.loads(res.stdout)[0]
    assert info["IFD0:Make"] == "SynthlabelTestCam"
    assert info["ICC_Profile:ProfileDescription"] == "sRGB built-in"
    assert info["PNG:Comment"] == "existing text chunk"
    assert any(k.lower() == "xmp-tc260:aigc" for k in info)
    assert "ExifTool:Warning" not in info and "ExifTool:Error" not in info
    with Image.open(path) as im:
        im.load()


def test_real_c2pa_cabx_chunk() -> None:
    from tests.formats.test_jpeg import c2pa_sign

    data = fx.png()
    signed = c2pa_sign(data, "image/png", 1000)
    [store] = H.read(signed).c2pa
    assert store.name == "caBX" and store.data[4:8] == b"jumb"
    assert struct.unpack(">I", store.data[:4])[0] == len(store.data)
    assert H.content_digest(signed) == H.content_digest(data)
    out = H.write_xmp(signed, PACKET)
    assert [c for c in chunks(out) if not is_xmp_chunk(c)] == chunks(signed)
