"""GIF handler: block walking, Adobe XMP layout, placement, 87a upgrade, digest, hostile input."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from synthlabel.errors import LimitExceeded, MalformedInput
from synthlabel.formats import _limits, _xmp, gif
from synthlabel.model.aigc import AIGCRecord
from tests.fixtures import images as fx

H = gif.HANDLER
RECORD = AIGCRecord(content_producer="001191110000MA0000000H10001", produce_id="01JD3Q8W5Z6V7K2M")
PACKET = _xmp.new_packet(RECORD.to_json())
needs_exiftool = pytest.mark.skipif(shutil.which("exiftool") is None, reason="needs exiftool")


def blocks(data: bytes) -> list[bytes]:
    return [data[b.start : b.end] for b in gif.parse(data).blocks]


def kinds(data: bytes) -> list[str]:
    out = []
    for b in gif.parse(data).blocks:
        if gif._is_xmp(data, b):
            out.append("XMP")
        elif b.kind == "ext":
            out.append(
                {0xF9: "GCE", 0xFE: "COM", 0x01: "TXT"}.get(b.label)
                or data[b.body + 1 : b.body + 12].decode("latin-1")
            )
        else:
            out.append(b.kind)
    return out


def not_xmp(data: bytes) -> list[bytes]:
    return [data[b.start : b.end] for b in gif.parse(data).blocks if not gif._is_xmp(data, b)]


def gif87() -> bytes:
    buf = io.BytesIO()
    fx.picture().convert("P").save(buf, "GIF")
    data = buf.getvalue()
    assert data[:6] == b"GIF87a"
    return data


def sub_blocks(payload: bytes) -> bytes:
    out = b""
    for i in range(0, len(payload), 255):
        part = payload[i : i + 255]
        out += bytes([len(part)]) + part
    return out + b"\x00"


def insert_at(data: bytes, index: int, extra: bytes) -> bytes:
    b = gif.parse(data).blocks[index]
    return data[: b.start] + extra + data[b.start :]


# -- layout ---------------------------------------------------------------------------------


def test_xmp_extension_layout_is_adobes_raw_packet_plus_magic_trailer() -> None:
    ext = gif.xmp_extension(PACKET)
    assert ext[:14] == b"\x21\xff\x0bXMP DataXMP"
    trailer = ext[14 + len(PACKET) :]
    assert len(trailer) == 258
    assert trailer == bytes([0x01]) + bytes(range(0xFF, -1, -1)) + b"\x00"
    # A decoder that walks it as sub-blocks ends exactly at the terminator.
    assert gif._sub_blocks_end(ext, 13, 0) == len(ext)


@pytest.mark.exiftool
@needs_exiftool
def test_layout_matches_what_exiftool_writes(tmp_path: Path) -> None:
    path = tmp_path / "a.gif"
    path.write_bytes(fx.gif())
    subprocess.run(
        ["exiftool", "-q", "-overwrite_original", "-XMP-dc:Title=hello", str(path)], check=True
    )
    theirs = path.read_bytes()
    meta = H.read(theirs)
    assert len(meta.xmp) == 1 and b"hello" in meta.xmp[0].data
    b = next(b for b in gif.parse(theirs).blocks if gif._is_xmp(theirs, b))
    ext = theirs[b.start : b.end]
    assert ext == gif.xmp_extension(meta.xmp[0].data)  # byte-identical framing
    # And we replace exiftool's packet in place, keeping its other blocks.
    out = H.write_xmp(theirs, _xmp.update_packet(meta.xmp[0].data, aigc_json=RECORD.to_json()))
    assert kinds(out) == kinds(theirs) and not_xmp(out) == not_xmp(theirs)
    fields = _xmp.read_fields(H.read(out).xmp[0].data)
    assert fields.aigc == (RECORD.to_json(),)


def test_reader_accepts_ordinary_sub_block_xmp() -> None:
    ext = b"\x21\xff\x0bXMP DataXMP" + sub_blocks(PACKET)
    data = insert_at(fx.gif(), 1, ext)
    meta = H.read(data)
    assert [c.data for c in meta.xmp] == [PACKET]
    assert any("sub-blocks" in w for w in meta.warnings)
    out = H.write_xmp(data, PACKET)  # rewritten in Adobe's layout, in place
    assert gif.xmp_extension(PACKET) in out and ext not in out


def test_packet_with_nul_is_refused() -> None:
    with pytest.raises(MalformedInput):
        H.write_xmp(fx.gif(), PACKET + b"\x00")


# -- writing --------------------------------------------------------------------------------


@pytest.mark.parametrize("make", [fx.gif, fx.gif_animated], ids=["still", "animated"])
def test_write_keeps_every_other_block(make) -> None:
    data = make()
    out = H.write_xmp(data, PACKET)
    assert not_xmp(out) == blocks(data)
    assert out[:13] == data[:13] and data[13 : gif.parse(data).screen_end] in out
    assert H.read(out).xmp[0].data == PACKET
    assert fx.decoded_frames(out) == fx.decoded_frames(data)
    assert H.content_digest(out) == H.content_digest(data)


def test_animated_placement_keeps_loop_extension_and_gce_binding() -> None:
    data = fx.gif_animated()
    out = H.write_xmp(data, PACKET)
    k = kinds(out)
    assert k[:4] == ["NETSCAPE2.0", "XMP", "GCE", "image"]
    assert k.count("image") == 3 == H.read(out).frames
    # every GCE still directly precedes its image
    assert all(k[i + 1] == "image" for i, x in enumerate(k) if x == "GCE")


def test_gif87a_is_upgraded_by_one_header_byte() -> None:
    data = gif87()
    out = H.write_xmp(data, PACKET)
    assert out[:6] == b"GIF89a"
    ext = gif.xmp_extension(PACKET)
    assert out.replace(ext, b"", 1) == b"GIF89a" + data[6:]
    assert H.content_digest(out) == H.content_digest(data)
    assert fx.decoded_frames(out) == fx.decoded_frames(data)


def test_xmp_replaced_in_place_or_moved_before_first_image() -> None:
    data = fx.gif()
    old = _xmp.new_packet(AIGCRecord(content_producer="old", produce_id="1").to_json())
    early = insert_at(data, 0, gif.xmp_extension(old))  # before the comment
    before = kinds(early)
    assert before[:2] == ["XMP", "COM"]
    out = H.write_xmp(early, PACKET)
    assert kinds(out) == before and [c.data for c in H.read(out).xmp] == [PACKET]
    late = insert_at(data, len(gif.parse(data).blocks) - 1, gif.xmp_extension(old))
    assert kinds(late)[-2:] == ["XMP", "trailer"]
    assert any("after the first image" in w for w in H.read(late).warnings)
    out = H.write_xmp(late, PACKET)
    assert kinds(out) == ["COM", "XMP", "image", "trailer"]
    assert [c.data for c in H.read(out).xmp] == [PACKET]


def test_comment_kept_and_trailing_bytes_kept() -> None:
    data = fx.gif() + b"after-trailer"
    out = H.write_xmp(data, PACKET)
    assert out.endswith(b";after-trailer")
    assert b"existing comment" in out
    assert H.content_digest(out) == H.content_digest(fx.gif())


def test_read_reports_size_frames() -> None:
    meta = H.read(fx.gif_animated())
    assert (meta.width, meta.height, meta.frames) == (64, 48, 3)
    assert meta.carriers == []


# -- digest ---------------------------------------------------------------------------------


def test_digest_covers_screen_gce_and_images_not_comments_or_app_extensions() -> None:
    data = fx.gif_animated()
    d0 = H.content_digest(data)
    assert d0.selector == "synthlabel.gif.v1"
    app = b"\x21\xff\x0bICCRGBG1012" + sub_blocks(b"x" * 300)
    com = b"\x21\xfe" + sub_blocks(b"a comment")
    assert H.content_digest(insert_at(data, 1, app + com)) == d0
    parsed = gif.parse(data)
    gce = next(b for b in parsed.blocks if b.kind == "ext" and b.label == 0xF9)
    changed = bytearray(data)
    changed[gce.start + 4] ^= 1  # frame delay
    assert H.content_digest(bytes(changed)) != d0
    changed = bytearray(data)
    changed[11] ^= 0x01  # logical screen descriptor: background colour index
    assert H.content_digest(bytes(changed)) != d0
    image = next(b for b in parsed.blocks if b.kind == "image")
    changed = bytearray(data)
    changed[image.end - 5] ^= 1  # LZW data
    assert H.content_digest(bytes(changed)) != d0


# -- hostile input --------------------------------------------------------------------------


@pytest.mark.parametrize("cut", [3, 10, 30, 805, -5, -2])
def test_truncation_raises_malformed_with_offset(cut: int) -> None:
    data = fx.gif_animated()[:cut]
    for op in (H.read, H.content_digest, lambda d: H.write_xmp(d, PACKET)):
        with pytest.raises(MalformedInput) as info:
            op(data)
        assert info.value.offset is not None


def test_missing_trailer_is_a_warning() -> None:
    data = fx.gif()[:-1]
    assert any("no trailer" in w for w in H.read(data).warnings)
    out = H.write_xmp(data, PACKET)
    assert H.read(out).xmp[0].data == PACKET


def test_block_count_limit_and_speed(monkeypatch: pytest.MonkeyPatch) -> None:
    head = fx.gif()[: gif.parse(fx.gif()).screen_end]
    hostile = head + b"\x21\xfe\x00" * 600_000 + b";"
    t = time.perf_counter()
    with pytest.raises(LimitExceeded):
        H.read(hostile)
    assert time.perf_counter() - t < 30.0  # a hang guard, not a speed test (CI load varies)
    monkeypatch.setattr(_limits, "MAX_GIF_BLOCKS", 10)
    with pytest.raises(LimitExceeded):
        H.read(head + b"\x21\xfe\x00" * 20 + b";")


def test_unknown_block_introducer() -> None:
    data = fx.gif()
    end = gif.parse(data).screen_end
    with pytest.raises(MalformedInput) as info:
        H.read(data[:end] + b"\x99" + data[end:])
    assert info.value.offset == end


# -- exiftool -------------------------------------------------------------------------------


@pytest.mark.exiftool
@needs_exiftool
def test_exiftool_reads_animated_output_without_warnings(tmp_path: Path) -> None:
    path = tmp_path / "a.gif"
    path.write_bytes(H.write_xmp(gif87(), PACKET))
    res = subprocess.run(
        ["exiftool", "-j", "-a", "-G1", "-All", "-Warning", "-Error", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    info = json.loads(res.stdout)[0]
    assert info["GIF:GIFVersion"] == "89a"
    assert any(k.lower() == "xmp-tc260:aigc" for k in info)
    assert "ExifTool:Warning" not in info and "ExifTool:Error" not in info
    path.write_bytes(H.write_xmp(fx.gif_animated(), PACKET))
    info = json.loads(
        subprocess.run(
            ["exiftool", "-j", "-G1", "-All", "-Warning", str(path)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )[0]
    assert info["GIF:FrameCount"] == 3 and info["GIF:AnimationIterations"] == "Infinite"
    assert "ExifTool:Warning" not in info
