"""TIFF handler: XMP in IFD0 tag 700, everything else where it was.

Besides Pillow's output, the tests build their own TIFF files (both byte orders, classic and
BigTIFF, strips and tiles, several pages, SubIFDs, an EXIF IFD) so every layout is covered;
Pillow decodes them before and after labelling and exiftool reads the result.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import struct
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from synthlabel.errors import LimitExceeded, MalformedInput, SynthlabelError
from synthlabel.formats import _xmp, tiff
from synthlabel.model.aigc import AIGCRecord, parse_record
from tests.fixtures import images as fx

H = tiff.HANDLER
RECORD = AIGCRecord(
    content_producer="001191110000MA0000000H10001", produce_id="01JD3Q8W5Z6V7K2M4N8P0R2S4T"
)
SECOND = RECORD.replace(content_propagator="001191440300MA0000001L20000", propagate_id="42")
needs_exiftool = pytest.mark.skipif(shutil.which("exiftool") is None, reason="needs exiftool")


def packet(record: AIGCRecord = RECORD, base: bytes | None = None) -> bytes:
    return _xmp.update_packet(base, aigc_json=record.to_json())


def label(data: bytes, record: AIGCRecord = RECORD) -> bytes:
    xmps = H.read(data).xmp
    return H.write_xmp(data, packet(record, xmps[0].data if xmps else None))


# --- a small TIFF writer for the tests -------------------------------------------------------

_CODES = {1: "B", 2: "s", 3: "H", 4: "I", 7: "s", 16: "Q"}
_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 7: 1, 16: 8}


class _Tiff:
    def __init__(self, little: bool, big: bool) -> None:
        self.bo = "<" if little else ">"
        self.big = big
        head = b"II" if little else b"MM"
        if big:
            self.buf = bytearray(head + struct.pack(self.bo + "HHHQ", 43, 8, 0, 0))
        else:
            self.buf = bytearray(head + struct.pack(self.bo + "HI", 42, 0))

    def add(self, blob: bytes) -> int:
        if len(self.buf) % 2:
            self.buf.append(0)
        off = len(self.buf)
        self.buf += blob
        return off

    def _value(self, typ: int, values: list[int] | bytes) -> bytes:
        if isinstance(values, bytes):
            return values
        return struct.pack(self.bo + _CODES[typ] * len(values), *values)

    def ifd(self, entries: list[tuple[int, int, list[int] | bytes]], nxt: int = 0) -> int:
        room = 8 if self.big else 4
        raw = []
        for tag, typ, values in sorted(entries, key=lambda e: e[0]):
            v = self._value(typ, values)
            count = len(v) // _SIZES[typ]
            field = v.ljust(room, b"\x00") if len(v) <= room else None
            if field is None:
                off = self.add(v)
                field = struct.pack(self.bo + ("Q" if self.big else "I"), off)
            cfmt = "HHQ" if self.big else "HHI"
            raw.append(struct.pack(self.bo + cfmt, tag, typ, count) + field)
        n = struct.pack(self.bo + ("Q" if self.big else "H"), len(raw))
        tail = struct.pack(self.bo + ("Q" if self.big else "I"), nxt)
        return self.add(n + b"".join(raw) + tail)

    def set_first(self, off: int) -> None:
        if self.big:
            self.buf[8:16] = struct.pack(self.bo + "Q", off)
        else:
            self.buf[4:8] = struct.pack(self.bo + "I", off)


def build_tiff(
    pages: list[Image.Image],
    *,
    little: bool = True,
    big: bool = False,
    tiled: bool = False,
    user_comment: bytes | None = None,
    subifd: bool = False,
    xmp: bytes | None = None,
    xmp_type: int = 1,
    description: str | None = None,
) -> bytes:
    t = _Tiff(little, big)
    offs_type = 16 if big else 4
    ifd_offsets: list[int] = []
    entries_per_page = []
    for i, img in enumerate(pages):
        rgb = img.convert("RGB")
        w, h = rgb.size
        raw = rgb.tobytes()
        entries: list[tuple[int, int, list[int] | bytes]] = [
            (256, 4, [w]),
            (257, 4, [h]),
            (258, 3, [8, 8, 8]),
            (259, 3, [1]),
            (262, 3, [2]),
            (277, 3, [3]),
            (284, 3, [1]),
        ]
        if tiled:
            tw = th = 16
            offs, counts = [], []
            for ty in range(0, h, th):
                for tx in range(0, w, tw):
                    tile = Image.new("RGB", (tw, th))
                    tile.paste(rgb.crop((tx, ty, min(w, tx + tw), min(h, ty + th))), (0, 0))
                    blob = tile.tobytes()
                    offs.append(t.add(blob))
                    counts.append(len(blob))
            entries += [(322, 3, [tw]), (323, 3, [th]), (324, offs_type, offs), (325, 4, counts)]
        else:
            rows = 16
            offs, counts = [], []
            for y in range(0, h, rows):
                blob = raw[y * w * 3 : min(h, y + rows) * w * 3]
                offs.append(t.add(blob))
                counts.append(len(blob))
            entries += [(273, offs_type, offs), (278, 3, [rows]), (279, 4, counts)]
        if i == 0:
            entries.append((305, 2, b"synthlabel-test\x00"))
            if description is not None:
                entries.append((270, 2, description.encode() + b"\x00"))
            if xmp is not None:
                entries.append((700, xmp_type, xmp))
            if user_comment is not None:
                exif_ifd = t.ifd([(37510, 7, b"ASCII\x00\x00\x00" + user_comment)])
                entries.append((34665, 4, [exif_ifd]))
            if subifd:
                thumb = rgb.resize((w // 4, h // 4))
                tb = thumb.tobytes()
                so = t.add(tb)
                sub = t.ifd(
                    [
                        (254, 4, [1]),
                        (256, 4, [thumb.width]),
                        (257, 4, [thumb.height]),
                        (258, 3, [8, 8, 8]),
                        (259, 3, [1]),
                        (262, 3, [2]),
                        (273, offs_type, [so]),
                        (277, 3, [3]),
                        (278, 3, [thumb.height]),
                        (279, 4, [len(tb)]),
                    ]
                )
                entries.append((330, 4, [sub]))
        entries_per_page.append(entries)
    nxt = 0
    for entries in reversed(entries_per_page):
        nxt = t.ifd(entries, nxt)
        ifd_offsets.insert(0, nxt)
    t.set_first(ifd_offsets[0])
    return bytes(t.buf)


def pages_of(data: bytes) -> list[bytes]:
    """Decoded pages. Pillow does not open big-endian BigTIFF (it misreads the version
    field), so those go through libtiff's ``tiffcp`` to classic TIFF first."""
    if data[:4] == b"MM\x00+":
        if shutil.which("tiffcp") is None:
            pytest.skip("big-endian BigTIFF needs tiffcp (libtiff-tools) to decode")
        with tempfile.TemporaryDirectory() as d:
            src, dst = Path(d) / "in.tif", Path(d) / "out.tif"
            src.write_bytes(data)
            subprocess.run(["tiffcp", str(src), str(dst)], check=True, capture_output=True)
            data = dst.read_bytes()
    out = []
    with Image.open(io.BytesIO(data)) as im:
        for i in range(getattr(im, "n_frames", 1)):
            im.seek(i)
            out.append(im.convert("RGB").tobytes())
    return out


PICS = [fx.picture(96, 64, seed=s) for s in range(3)]
VARIANTS: dict[str, dict[str, Any]] = {
    "II-strips": dict(little=True),
    "MM-strips": dict(little=False),
    "II-tiles": dict(little=True, tiled=True),
    "MM-tiles-multipage": dict(little=False, tiled=True, pages=3),
    "II-multipage-subifd": dict(little=True, pages=3, subifd=True),
    "BigTIFF-II": dict(little=True, big=True),
    "BigTIFF-MM-tiles": dict(little=False, big=True, tiled=True, pages=2),
}


def make(name: str, **extra: object) -> bytes:
    kw = dict(VARIANTS[name])
    n = int(kw.pop("pages", 1))
    kw.update(extra)
    return build_tiff(PICS[:n], **kw)


@pytest.mark.parametrize("name", list(VARIANTS))
def test_generated_variants_decode(name: str) -> None:
    data = make(name)
    n = int(VARIANTS[name].get("pages", 1))
    assert pages_of(data) == [p.tobytes() for p in PICS[:n]]
    assert H.sniff(data[: H.sniff_bytes])


@pytest.mark.skipif(shutil.which("tiffinfo") is None, reason="needs tiffinfo (libtiff-tools)")
@pytest.mark.parametrize("name", list(VARIANTS))
def test_libtiff_accepts_labelled_file(tmp_path: Path, name: str) -> None:
    p = tmp_path / "x.tif"
    p.write_bytes(label(make(name)))
    res = subprocess.run(["tiffinfo", str(p)], capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stderr
    assert "error" not in res.stderr.lower() and "warning" not in res.stderr.lower(), res.stderr
    assert res.stdout.count("=== TIFF directory") == int(VARIANTS[name].get("pages", 1))


@pytest.mark.parametrize("name", list(VARIANTS))
def test_label_keeps_every_other_byte(name: str) -> None:
    data = make(name)
    lay = tiff.parse_header(data)
    before_chain = list(tiff.main_chain(data, lay))
    out = label(data)
    # The original bytes are all still there, except the header's first-IFD pointer.
    hp = lay.header_ptr_pos
    assert out[:hp] == data[:hp]
    assert out[hp + lay.ptr_size : len(data)] == data[hp + lay.ptr_size :]
    new_lay = tiff.parse_header(out)
    chain = list(tiff.main_chain(out, new_lay))
    assert len(chain) == len(before_chain)
    # IFD0: same entries plus tag 700 (type 7), sorted; same next pointer.
    old0, new0 = before_chain[0], chain[0]
    assert [e.raw for e in new0.entries if e.tag != 700] == [e.raw for e in old0.entries]
    tags = [e.tag for e in new0.entries]
    assert tags == sorted(tags)
    x = new0.get(700)
    assert x is not None and x.type == 7 and x.value_pos % 2 == 0
    assert new0.next_offset == old0.next_offset
    assert [i.offset for i in chain[1:]] == [i.offset for i in before_chain[1:]]
    assert pages_of(out) == pages_of(data)
    assert H.content_digest(out) == H.content_digest(data)
    meta = H.read(out)
    assert len(meta.xmp) == 1
    assert parse_record(_xmp.read_fields(meta.xmp[0].data).aigc[0]).record == RECORD
    assert meta.frames == len(chain) and (meta.width, meta.height) == (96, 64)


@pytest.mark.parametrize("name", list(VARIANTS))
def test_rewrite_is_in_place_and_idempotent(name: str) -> None:
    once = label(make(name))
    twice = label(once, SECOND)
    lay1, lay2 = tiff.parse_header(once), tiff.parse_header(twice)
    assert lay1.first_ifd == lay2.first_ifd  # same entry count: IFD0 rewritten in place
    values = [a for c in H.read(twice).xmp for a in _xmp.read_fields(c.data).aigc]
    assert [parse_record(v).record for v in values] == [SECOND]
    assert label(twice, SECOND) == twice
    assert len(twice) <= len(once) + 64  # old packet at the end was cut, not kept
    assert (
        b'"ProduceID":"01JD3Q8W5Z6V7K2M4N8P0R2S4T","ReservedCode1":"","ContentPropagator":""'
        not in (twice.replace(b"&quot;", b'"'))
    )


def test_existing_byte_typed_xmp_elsewhere_is_zeroed() -> None:
    old = packet(AIGCRecord(content_producer="OLDPRODUCER", produce_id="OLDID"))
    data = make("MM-strips", xmp=old, xmp_type=1)
    assert H.read(data).xmp[0].data == old  # type 1 (BYTE) accepted
    out = label(data)
    assert b"OLDPRODUCER" not in out and b"OLDID" not in out
    assert len(H.read(out).xmp) == 1
    assert tiff.parse_header(out).first_ifd == tiff.parse_header(data).first_ifd
    assert pages_of(out) == pages_of(data)


def test_aigc_in_user_comment_is_blanked_and_read() -> None:
    wrapped = AIGCRecord(content_producer="OLDPRODUCER", produce_id="OLDID").to_json(wrapped=True)
    data = make("II-strips", user_comment=wrapped.encode(), description="a caption")
    meta = H.read(data)
    kinds = {c.kind: c.data for c in meta.carriers}
    assert parse_record(kinds["exif-usercomment"]).record.produce_id == "OLDID"
    assert kinds["exif-imagedescription"] == b"a caption"
    out = label(data)
    assert b"OLDPRODUCER" not in out
    assert "exif-usercomment" not in {c.kind for c in H.read(out).carriers}
    assert H.content_digest(out) == H.content_digest(data)


def test_pillow_tiff_keeps_icc_and_exif(tmp_path: Path) -> None:
    data = fx.tiff()
    out = label(data)
    with Image.open(io.BytesIO(out)) as im:
        assert im.info.get("icc_profile")
    if shutil.which("exiftool"):
        p = tmp_path / "x.tif"
        p.write_bytes(out)
        info = _exiftool(p)
        assert info["IFD0:MAKE"] == "SynthlabelTestCam"
        assert info["ICC_Profile:PROFILEDESCRIPTION"] == "sRGB built-in"


def _exiftool(path: Path) -> dict[str, object]:
    """exiftool's JSON for ``path``, keys upper-cased after the group (``XMP-TC260:AIGC``)."""
    res = subprocess.run(
        ["exiftool", "-j", "-G1", "-a", str(path)], capture_output=True, text=True, check=False
    )
    raw: dict[str, object] = json.loads(res.stdout)[0]
    return {
        k if ":" not in k else k.split(":")[0] + ":" + k.split(":")[1].upper(): v
        for k, v in raw.items()
    }


@needs_exiftool
@pytest.mark.parametrize("name", list(VARIANTS))
def test_exiftool_reads_label(tmp_path: Path, name: str) -> None:
    p = tmp_path / "x.tif"
    p.write_bytes(label(make(name)))
    info = _exiftool(p)
    assert parse_record(str(info["XMP-TC260:AIGC"])).record == RECORD
    assert info["XMP-iptcExt:DIGITALSOURCETYPE"] == _xmp.DST_TRAINED
    assert info["IFD0:SOFTWARE"] == "synthlabel-test"
    assert "ExifTool:ERROR" not in info and "ExifTool:WARNING" not in info, info


@needs_exiftool
def test_exiftool_written_xmp_is_replaced(tmp_path: Path) -> None:
    p = tmp_path / "x.tif"
    p.write_bytes(make("II-multipage-subifd"))
    subprocess.run(
        ["exiftool", "-q", "-overwrite_original", "-XMP-dc:Title=hello", str(p)], check=True
    )
    data = p.read_bytes()
    out = label(data)
    p.write_bytes(out)
    info = _exiftool(p)
    assert info["XMP-dc:TITLE"] == "hello"
    assert parse_record(str(info["XMP-TC260:AIGC"])).record == RECORD
    assert out.count(b"<x:xmpmeta") == 1
    assert pages_of(out) == pages_of(data)


def entry(ifd: tiff.Ifd, tag: int) -> tiff.Entry:
    e = ifd.get(tag)
    assert e is not None
    return e


def test_digest_covers_pixels_and_ignores_byte_order() -> None:
    a, b = make("II-strips"), make("MM-strips")
    assert H.content_digest(a) == H.content_digest(b)
    lay = tiff.parse_header(a)
    ifd0 = next(tiff.main_chain(a, lay))
    strip = tiff.ints(a, lay, entry(ifd0, 273))[0]
    bad = bytearray(a)
    bad[strip + 5] ^= 0xFF
    assert H.content_digest(bytes(bad)) != H.content_digest(a)
    sub = make("II-multipage-subifd")
    # the SubIFD thumbnail is covered too
    chain0 = next(tiff.main_chain(sub, tiff.parse_header(sub)))
    sub_ifd = tiff.read_ifd(sub, lay, tiff.ints(sub, lay, entry(chain0, 330))[0])
    so = tiff.ints(sub, lay, entry(sub_ifd, 273))[0]
    bad = bytearray(sub)
    bad[so] ^= 1
    assert H.content_digest(bytes(bad)) != H.content_digest(sub)
    assert H.content_digest(a).selector == "synthlabel.tiff.v1"


def test_corrupt_structures_raise_malformed() -> None:
    data = make("II-strips")
    lay = tiff.parse_header(data)
    # IFD0 pointing to itself via next-IFD
    ifd0 = next(tiff.main_chain(data, lay))
    loop = bytearray(data)
    loop[ifd0.next_ptr_pos : ifd0.next_ptr_pos + 4] = struct.pack("<I", ifd0.offset)
    with pytest.raises(MalformedInput):
        H.read(bytes(loop))
    # first IFD beyond the end
    far = bytearray(data)
    far[4:8] = struct.pack("<I", len(data) + 100)
    for op in (H.read, H.content_digest):
        with pytest.raises(MalformedInput):
            op(bytes(far))
    with pytest.raises(MalformedInput):
        H.write_xmp(bytes(far), packet())
    # strip offset beyond the end
    e = ifd0.get(273)
    assert e is not None
    strip_bad = bytearray(data)
    strip_bad[e.value_pos : e.value_pos + 4] = struct.pack("<I", len(data))
    with pytest.raises(MalformedInput):
        H.content_digest(bytes(strip_bad))
    # truncation anywhere is a typed error
    for cut in (0, 3, 7, 9, ifd0.offset + 5, len(data) - 1):
        for op in (H.read, H.content_digest):
            with contextlib.suppress(SynthlabelError):
                op(data[:cut])
    with pytest.raises(MalformedInput):
        H.read(b"II*\x00")


def test_huge_bigtiff_entry_count_is_a_limit() -> None:
    data = bytearray(make("BigTIFF-II"))
    off = tiff.parse_header(bytes(data)).first_ifd
    data[off : off + 8] = struct.pack("<Q", 1 << 40)
    with pytest.raises(LimitExceeded):
        H.read(bytes(data))


def test_sniff() -> None:
    assert H.sniff(b"II*\x00") and H.sniff(b"MM\x00*") and H.sniff(b"II+\x00")
    assert not H.sniff(b"IIRO") and not H.sniff(b"\x89PNG")
