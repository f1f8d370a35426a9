"""WebP handler: the ``XMP `` chunk, simple-to-extended conversion, chunk order, padding."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from synthlabel.errors import MalformedInput, SynthlabelError
from synthlabel.formats import _xmp, webp
from synthlabel.model.aigc import AIGCRecord, parse_record
from tests.fixtures import images as fx

H = webp.HANDLER
RECORD = AIGCRecord(
    content_producer="001191110000MA0000000H10001", produce_id="01JD3Q8W5Z6V7K2M4N8P0R2S4T"
)
SECOND = RECORD.replace(content_propagator="001191440300MA0000001L20000", propagate_id="42")


def packet(record: AIGCRecord = RECORD, base: bytes | None = None) -> bytes:
    return _xmp.update_packet(base, aigc_json=record.to_json())


def label(data: bytes, record: AIGCRecord = RECORD) -> bytes:
    xmps = H.read(data).xmp
    return H.write_xmp(data, packet(record, xmps[0].data if xmps else None))


def chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(FourCC, payload) of every chunk, parsed independently of the handler; also checks the
    RIFF size and the padding."""
    assert data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    assert struct.unpack_from("<I", data, 4)[0] == len(data) - 8
    out = []
    pos = 12
    while pos < len(data):
        fourcc, size = data[pos : pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        out.append((fourcc, data[pos + 8 : pos + 8 + size]))
        if size % 2:
            assert data[pos + 8 + size] == 0, "pad byte must be zero"
        pos += 8 + size + (size % 2)
    assert pos == len(data)
    return out


def fourccs(data: bytes) -> list[bytes]:
    return [c for c, _ in chunks(data)]


def with_xmp(data: bytes, xmp: bytes) -> bytes:
    buf = io.BytesIO()
    with Image.open(io.BytesIO(data)) as im:
        im.save(buf, "WEBP", lossless=True, xmp=xmp)
    return buf.getvalue()


SAMPLES = {
    "lossy": fx.webp_lossy,
    "lossless": fx.webp_lossless,
    "extended": fx.webp_extended,
    "animated": fx.webp_animated,
}


@pytest.mark.parametrize("name", list(SAMPLES))
def test_other_chunks_kept_byte_for_byte(name: str) -> None:
    data = SAMPLES[name]()
    out = label(data)
    before = [c for c in chunks(data) if c[0] != b"VP8X"]
    after = [c for c in chunks(out) if c[0] not in (b"VP8X", b"XMP ")]
    assert after == before
    order = fourccs(out)
    assert order[0] == b"VP8X" and order[-1] == b"XMP "
    assert fx.decoded_frames(out) == fx.decoded_frames(data)
    assert H.content_digest(out) == H.content_digest(data)
    flags = chunks(out)[0][1][0]
    assert flags & webp.FLAG_XMP
    if chunks(data)[0][0] == b"VP8X":  # other flags untouched
        assert flags & ~webp.FLAG_XMP == chunks(data)[0][1][0] & ~webp.FLAG_XMP


def test_simple_lossy_becomes_extended() -> None:
    data = fx.webp_lossy()
    out = label(data)
    assert fourccs(out) == [b"VP8X", b"VP8 ", b"XMP "]
    vp8x = chunks(out)[0][1]
    assert len(vp8x) == 10 and vp8x[0] == webp.FLAG_XMP and vp8x[1:4] == b"\x00\x00\x00"
    w = int.from_bytes(vp8x[4:7], "little") + 1
    h = int.from_bytes(vp8x[7:10], "little") + 1
    assert (w, h) == (96, 64)
    meta = H.read(out)
    assert (meta.width, meta.height, meta.frames) == (96, 64, 1)


def test_lossless_alpha_sets_alpha_flag() -> None:
    rgba = fx.picture(mode="RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize(rgba.size))
    buf = io.BytesIO()
    rgba.save(buf, "WEBP", lossless=True)
    with_alpha = buf.getvalue()
    assert fourccs(with_alpha) == [b"VP8L"]
    vp8l = chunks(with_alpha)[0][1]
    assert (struct.unpack_from("<I", vp8l, 1)[0] >> 28) & 1
    out = label(with_alpha)
    assert chunks(out)[0][1][0] == webp.FLAG_XMP | webp.FLAG_ALPHA
    assert fx.decoded_frames(out) == fx.decoded_frames(with_alpha)
    with Image.open(io.BytesIO(out)) as im:
        assert im.mode == "RGBA"
    buf = io.BytesIO()
    fx.picture().save(buf, "WEBP", lossless=True, exact=True)
    rgb = buf.getvalue()
    if (struct.unpack_from("<I", chunks(rgb)[0][1], 1)[0] >> 28) & 1 == 0:
        assert chunks(label(rgb))[0][1][0] == webp.FLAG_XMP


def test_extended_order_and_metadata_kept() -> None:
    data = fx.webp_extended()
    out = label(data)
    assert fourccs(out) == [b"VP8X", b"ICCP", b"VP8 ", b"EXIF", b"XMP "]
    with Image.open(io.BytesIO(out)) as im:
        assert im.info.get("icc_profile") == fx._icc()
        assert im.getexif()[0x010F] == "SynthlabelTestCam"


def test_animated_keeps_anim_and_frames() -> None:
    data = fx.webp_animated()
    out = label(data)
    assert fourccs(out) == [b"VP8X", b"ANIM", b"ANMF", b"ANMF", b"ANMF", b"XMP "]
    assert H.read(out).frames == 3


def test_existing_xmp_replaced_in_place_and_rewrite_idempotent() -> None:
    old = packet(AIGCRecord(content_producer="OLDPRODUCER", produce_id="OLDID"))
    data = with_xmp(fx.webp_lossless(), old)
    assert H.read(data).xmp[0].data == old
    out = label(data)
    assert b"OLDPRODUCER" not in out
    assert fourccs(out).count(b"XMP ") == 1
    twice = label(out, SECOND)
    values = [v for c in H.read(twice).xmp for v in _xmp.read_fields(c.data).aigc]
    assert [parse_record(v).record for v in values] == [SECOND]
    assert label(twice, SECOND) == twice


def test_odd_packet_is_padded() -> None:
    data = fx.webp_lossy()
    p = packet()
    odd = p if len(p) % 2 else p + b" "
    out = H.write_xmp(data, odd)
    assert dict(chunks(out))[b"XMP "] == odd  # chunks() checks the pad byte and RIFF size
    assert len(out) % 2 == 0


def _append_chunk(data: bytes, fourcc: bytes, payload: bytes, *, at: int | None = None) -> bytes:
    cs = chunks(data)
    new = (fourcc, payload)
    cs.insert(len(cs) if at is None else at, new)
    body = b"".join(
        c + struct.pack("<I", len(p)) + p + (b"\x00" if len(p) % 2 else b"") for c, p in cs
    )
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WEBP" + body


def test_unknown_and_c2pa_chunks_kept_and_read() -> None:
    data = _append_chunk(fx.webp_extended(), b"ABCD", b"odd")
    data = _append_chunk(data, b"C2PA", b"jumbf-bytes")
    meta = H.read(data)
    assert [c.data for c in meta.c2pa] == [b"jumbf-bytes"]
    out = label(data)
    assert fourccs(out) == [b"VP8X", b"ICCP", b"VP8 ", b"EXIF", b"XMP ", b"ABCD", b"C2PA"]
    assert dict(chunks(out))[b"ABCD"] == b"odd"


def test_misplaced_xmp_moves_after_image_data() -> None:
    data = _append_chunk(fx.webp_extended(), b"XMP ", packet(), at=1)
    assert fourccs(data)[1] == b"XMP "
    out = label(data, SECOND)
    assert fourccs(out) == [b"VP8X", b"ICCP", b"VP8 ", b"EXIF", b"XMP "]


def test_aigc_in_exif_user_comment_is_blanked() -> None:
    ex = Image.Exif()
    ex[0x8769] = {
        0x9286: b"ASCII\x00\x00\x00"
        + AIGCRecord(content_producer="OLDPRODUCER", produce_id="OLDID")
        .to_json(wrapped=True)
        .encode()
    }
    buf = io.BytesIO()
    fx.picture().save(buf, "WEBP", exif=ex.tobytes())
    data = buf.getvalue()
    uc = [c for c in H.read(data).carriers if c.kind == "exif-usercomment"]
    assert uc and parse_record(uc[0].data).record.produce_id == "OLDID"
    out = label(data)
    assert b"OLDPRODUCER" not in out
    assert not [c for c in H.read(out).carriers if c.kind == "exif-usercomment"]
    assert len(dict(chunks(out))[b"EXIF"]) == len(dict(chunks(data))[b"EXIF"])


def test_digest_selector_and_pixels() -> None:
    a = fx.webp_lossy()
    d = H.content_digest(a)
    assert d.selector == "synthlabel.webp.v1" and len(d.digest) == 32
    bad = bytearray(a)
    bad[-3] ^= 0x10
    assert H.content_digest(bytes(bad)) != d


def test_malformed() -> None:
    data = fx.webp_extended()
    with pytest.raises(MalformedInput):
        H.read(data[:-10])  # RIFF size past the end
    grown = bytearray(data)
    grown[16:20] = struct.pack("<I", 0xFFFFFF)  # VP8X chunk size past the RIFF data
    with pytest.raises(MalformedInput):
        H.read(bytes(grown))
    with pytest.raises(MalformedInput):
        H.write_xmp(b"RIFF\x04\x00\x00\x00WEBP", packet())
    only_exif = _append_chunk(b"RIFF\x04\x00\x00\x00WEBP", b"VP8X", bytes(10))
    with pytest.raises(MalformedInput):
        H.write_xmp(only_exif, packet())
    for cut in range(0, 40, 3):
        for op in (H.read, H.content_digest):
            with contextlib.suppress(SynthlabelError):
                op(data[:cut])


def test_trailing_bytes_after_riff_are_kept() -> None:
    data = fx.webp_lossy() + b"TRAILER"
    meta = H.read(data)
    assert any("after the RIFF" in w for w in meta.warnings)
    assert label(data).endswith(b"TRAILER")


@pytest.mark.skipif(shutil.which("webpmux") is None, reason="needs webpmux (Debian 'webp')")
@pytest.mark.parametrize("name", list(SAMPLES))
def test_libwebp_tools_accept_output(tmp_path: Path, name: str) -> None:
    data = SAMPLES[name]()
    p = tmp_path / "x.webp"
    p.write_bytes(label(data))
    info = subprocess.run(["webpmux", "-info", str(p)], capture_output=True, text=True)
    assert info.returncode == 0, info.stderr
    assert "XMP" in info.stdout
    got = subprocess.run(["webpmux", "-get", "xmp", str(p), "-o", "-"], capture_output=True)
    assert got.returncode == 0 and b"TC260:AIGC" in got.stdout
    if name != "animated" and shutil.which("dwebp"):
        for src, dst in ((data, "before"), (p.read_bytes(), "after")):
            s = tmp_path / f"{dst}.webp"
            s.write_bytes(src)
            subprocess.run(
                ["dwebp", "-quiet", str(s), "-pam", "-o", str(tmp_path / f"{dst}.pam")],
                check=True,
            )
        assert (tmp_path / "before.pam").read_bytes() == (tmp_path / "after.pam").read_bytes()


@pytest.mark.exiftool
@pytest.mark.parametrize("name", list(SAMPLES))
def test_exiftool_reads_label_and_old_metadata(tmp_path: Path, name: str) -> None:
    p = tmp_path / "x.webp"
    p.write_bytes(label(SAMPLES[name]()))
    res = subprocess.run(["exiftool", "-j", "-G1", "-a", str(p)], capture_output=True, text=True)
    info: dict[str, Any] = {k.upper(): v for k, v in json.loads(res.stdout)[0].items()}
    check = subprocess.run(
        ["exiftool", "-j", "-validate", "-warning", "-a", str(p)], capture_output=True, text=True
    )
    assert json.loads(check.stdout)[0]["Validate"] == "OK", check.stdout
    assert parse_record(info["XMP-TC260:AIGC"]).record == RECORD
    assert info["XMP-IPTCEXT:DIGITALSOURCETYPE"] == _xmp.DST_TRAINED
    assert "EXIFTOOL:ERROR" not in info
    if name == "extended":
        assert info["IFD0:MAKE"] == "SynthlabelTestCam"
        assert info["ICC_PROFILE:PROFILEDESCRIPTION"] == "sRGB built-in"


@pytest.mark.exiftool
def test_exiftool_written_xmp_is_replaced(tmp_path: Path) -> None:
    p = tmp_path / "x.webp"
    p.write_bytes(fx.webp_extended())
    subprocess.run(
        ["exiftool", "-q", "-overwrite_original", "-XMP-dc:Title=hello", str(p)], check=True
    )
    data = p.read_bytes()
    out = label(data)
    assert out.count(b"<x:xmpmeta") == 1 and fourccs(out).count(b"XMP ") == 1
    p.write_bytes(out)
    res = subprocess.run(["exiftool", "-j", "-G1", str(p)], capture_output=True, text=True)
    info = {k.upper(): v for k, v in json.loads(res.stdout)[0].items()}
    assert info["XMP-DC:TITLE"] == "hello"
    assert parse_record(info["XMP-TC260:AIGC"]).record == RECORD
