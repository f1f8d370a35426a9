"""JPEG handler: segment walking, lossless XMP placement, carriers, digest, hostile input."""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import shutil
import struct
import subprocess
import time
from pathlib import Path

import pytest
from PIL import Image

from synthlabel.errors import LimitExceeded, MalformedInput, SynthlabelError
from synthlabel.formats import _xmp, jpeg
from synthlabel.model.aigc import AIGCRecord
from tests.fixtures import images as fx

H = jpeg.HANDLER
RECORD = AIGCRecord(content_producer="001191110000MA0000000H10001", produce_id="01JD3Q8W5Z6V7K2M")
PACKET = _xmp.new_packet(RECORD.to_json())


def seg(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def xmp_seg(packet: bytes) -> bytes:
    return seg(0xE1, jpeg.XMP_ID + packet)


def pieces(data: bytes) -> list[bytes]:
    return [data[p.start : p.end] for p in jpeg.parse(data)]


def without_xmp(data: bytes) -> list[bytes]:
    return [b for b in pieces(data) if not b[4:].startswith(jpeg.XMP_ID) or b[1] != 0xE1]


def markers(data: bytes) -> list[str]:
    out = []
    for p in jpeg.parse(data):
        if p.kind != "seg":
            out.append(p.kind)
        elif jpeg._is_xmp(data, p):
            out.append("XMP")
        elif jpeg._is_exif(data, p):
            out.append("EXIF")
        else:
            out.append(f"{p.marker:02X}")
    return out


def insert_after(data: bytes, index: int, extra: bytes) -> bytes:
    """Insert ``extra`` after the ``index``-th part of ``data``."""
    parts = jpeg.parse(data)
    cut = parts[index].end
    return data[:cut] + extra + data[cut:]


def progressive() -> bytes:
    buf = io.BytesIO()
    fx.picture().save(buf, "JPEG", progressive=True, restart_marker_blocks=2, quality=80)
    return buf.getvalue()


# -- structure ------------------------------------------------------------------------------


@pytest.mark.parametrize("make", [fx.jpeg, progressive], ids=["baseline", "progressive-rst"])
def test_parts_cover_every_byte_once(make) -> None:
    data = make() + b"TRAILER"
    parts = jpeg.parse(data)
    assert parts[0].start == 0 and parts[-1].end == len(data)
    assert all(a.end == b.start for a, b in itertools.pairwise(parts))
    assert parts[-1].kind == "tail" and parts[-2].kind == "eoi"


def test_restart_markers_stay_inside_entropy_data() -> None:
    data = progressive()
    parts = jpeg.parse(data)
    assert not [p for p in parts if p.kind == "mark"]  # RSTn are part of the scan data
    assert sum(1 for p in parts if p.kind == "seg" and p.marker == 0xDA) == 10
    assert any(b"\xff\xd0" in data[p.start : p.end] for p in parts if p.kind == "ecd")


def test_read_reports_size_and_no_carriers() -> None:
    meta = H.read(fx.jpeg())
    assert (meta.width, meta.height, meta.frames) == (96, 64, 1)
    assert meta.carriers == []
    assert meta.exif is not None and meta.exif[:2] in (b"II", b"MM")


# -- writing --------------------------------------------------------------------------------


@pytest.mark.parametrize("make", [fx.jpeg, progressive], ids=["baseline", "progressive-rst"])
def test_write_inserts_after_jfif_and_exif_and_keeps_every_other_byte(make) -> None:
    data = make()
    out = H.write_xmp(data, PACKET)
    assert without_xmp(out) == pieces(data)
    m = markers(out)
    assert m.index("XMP") == m.index("EXIF" if "EXIF" in m else "E0") + 1
    assert m.index("XMP") < m.index("DB")  # before DQT (and the ICC APP2, SOF, SOS)
    assert H.read(out).xmp[0].data == PACKET
    assert fx.decoded_frames(out) == fx.decoded_frames(data)
    assert H.content_digest(out) == H.content_digest(data)


def test_write_without_app_segments_goes_right_after_soi() -> None:
    buf = io.BytesIO()
    fx.picture().save(buf, "JPEG")
    data = buf.getvalue()
    parts = jpeg.parse(data)
    assert parts[1].marker == 0xE0  # Pillow writes JFIF: remove it to test the bare case
    bare = data[:2] + data[parts[1].end :]
    out = H.write_xmp(bare, PACKET)
    assert markers(out)[:2] == ["soi", "XMP"]


def test_existing_xmp_is_replaced_in_place_and_duplicates_dropped() -> None:
    data = fx.jpeg()
    parts = jpeg.parse(data)
    dqt = next(i for i, p in enumerate(parts) if p.marker == 0xDB)
    old = _xmp.new_packet(AIGCRecord(content_producer="old", produce_id="1").to_json())
    odd = insert_after(data, dqt, xmp_seg(old))  # an XMP segment after DQT (unusual place)
    odd = insert_after(odd, 1, seg(0xFE, b"a comment"))
    before = markers(odd)
    out = H.write_xmp(odd, PACKET)
    assert markers(out) == before  # same place, nothing moved
    assert [c.data for c in H.read(out).xmp] == [PACKET]
    # a second XMP APP1 is removed: one packet per file
    doubled = insert_after(odd, 1, xmp_seg(old))
    out2 = H.write_xmp(doubled, PACKET)
    expected = [m for m in before if m != "XMP"]
    expected.insert(2, "XMP")  # the first XMP segment wins, in its place
    assert markers(out2) == expected
    assert [c.data for c in H.read(out2).xmp] == [PACKET]
    assert without_xmp(out2) == without_xmp(odd)


def test_packet_size_limit() -> None:
    data = fx.jpeg()
    pad = b" " * (jpeg.MAX_XMP_PACKET - len(PACKET))
    biggest = PACKET.replace(b'<?xpacket end="w"?>', pad + b'<?xpacket end="w"?>')
    assert len(biggest) == jpeg.MAX_XMP_PACKET
    out = H.write_xmp(data, biggest)
    assert H.read(out).xmp[0].data == biggest
    with pytest.raises(LimitExceeded):
        H.write_xmp(data, biggest + b" ")


def test_fill_bytes_and_trailer_are_kept_and_not_digested() -> None:
    data = fx.jpeg()
    parts = jpeg.parse(data)
    dqt = next(p for p in parts if p.marker == 0xDB)
    padded = data[: dqt.start] + b"\xff\xff\xff" + data[dqt.start :] + b"APPENDED-DATA"
    assert [p.kind for p in jpeg.parse(padded)].count("fill") == 1
    out = H.write_xmp(padded, PACKET)
    assert b"\xff\xff\xff\xff\xdb" in out and out.endswith(b"APPENDED-DATA")
    assert H.content_digest(padded) == H.content_digest(data) == H.content_digest(out)
    assert any("after EOI" in w for w in H.read(padded).warnings)


def test_digest_ignores_app_and_com_but_covers_tables_and_scan() -> None:
    data = fx.jpeg()
    d0 = H.content_digest(data)
    assert d0.selector == "synthlabel.jpeg.v1"
    with_com = insert_after(data, 0, seg(0xFE, b"hello") + seg(0xE9, b"vendor\x00stuff"))
    assert H.content_digest(with_com) == d0
    parts = jpeg.parse(data)
    dqt = next(p for p in parts if p.marker == 0xDB)
    changed = bytearray(data)
    changed[dqt.start + 10] ^= 1  # one quantisation value
    assert H.content_digest(bytes(changed)) != d0
    ecd = next(p for p in parts if p.kind == "ecd")
    changed = bytearray(data)
    changed[ecd.start + 3] = 0x11 if changed[ecd.start + 3] != 0x11 else 0x12
    assert H.content_digest(bytes(changed)) != d0


def mpo(xmp: bytes | None) -> bytes:
    buf = io.BytesIO()
    kw = {"xmp": xmp} if xmp else {}
    fx.picture().save(buf, "MPO", save_all=True, append_images=[fx.picture(seed=5)], **kw)
    return buf.getvalue()


@pytest.mark.parametrize(
    "xmp", [None, b"<x:xmpmeta xmlns:x='adobe:ns:meta/'/>"], ids=["insert", "replace-after-mpf"]
)
def test_multi_picture_index_follows_the_grown_primary_image(xmp: bytes | None) -> None:
    data = mpo(xmp)
    m = markers(data)
    assert m.index("E2") < (m.index("XMP") if xmp else 99)  # Pillow puts its XMP after MPF
    out = H.write_xmp(data, PACKET)
    parts = jpeg.parse(out)
    eoi = next(p for p in parts if p.kind == "eoi")
    mpf = next(p for p in parts if jpeg._is_mpf(out, p))
    with Image.open(io.BytesIO(out)) as im:
        assert im.format == "MPO" and im.n_frames == 2
        entries = im.mpinfo[0xB002]
    assert entries[0]["Size"] == eoi.end
    assert mpf.start + 8 + entries[1]["DataOffset"] == eoi.end  # second image right after EOI
    assert out[eoi.end : eoi.end + 3] == b"\xff\xd8\xff"
    assert fx.decoded_frames(out) == fx.decoded_frames(data)
    assert [b for b in without_xmp(out) if b[:2] != b"\xff\xe2"] == [
        b for b in without_xmp(data) if b[:2] != b"\xff\xe2"
    ]


# -- carriers -------------------------------------------------------------------------------


def _jumbf_c2pa(payload: bytes) -> bytes:
    label = b"c2pa\x00"
    jumd_body = jpeg._C2PA_UUID + b"\x03" + label
    jumd = struct.pack(">I4s", 8 + len(jumd_body), b"jumd") + jumd_body
    content = struct.pack(">I4s", 8 + len(payload), b"json") + payload
    body = jumd + content
    return struct.pack(">I4s", 8 + len(body), b"jumb") + body


def _app11(box: bytes, en: int, size: int) -> list[bytes]:
    """Split ``box`` over APP11 segments the way C2PA does (box header repeated)."""
    header, rest = box[:8], box[8:]
    out = []
    first = True
    z = 1
    while rest or first:
        take = size if first else size - 8
        chunk, rest = (box[: 8 + take], box[8 + take :]) if first else (rest[:take], rest[take:])
        body = chunk if first else header + chunk
        out.append(seg(0xEB, b"JP" + struct.pack(">HI", en, z) + body))
        first = False
        z += 1
    return out


def test_c2pa_store_reassembled_from_app11_segments_in_any_order() -> None:
    box = _jumbf_c2pa(json.dumps({"x": "y" * 3000}).encode())
    segs = _app11(box, en=1, size=1000)
    assert len(segs) == 4
    other = _app11(b"\x00\x00\x00\x20jumb" + b"\x00\x00\x00\x18jumd" + b"\x00" * 16, 2, 1000)
    data = fx.jpeg()
    mixed = insert_after(data, 1, segs[2] + segs[0] + other[0] + segs[3] + segs[1])
    meta = H.read(mixed)
    assert [c.kind for c in meta.carriers] == ["c2pa"]
    assert meta.c2pa[0].data == box
    assert any("not C2PA" in w for w in meta.warnings)
    # writing the XMP keeps the C2PA segments byte for byte; digest ignores them
    out = H.write_xmp(mixed, PACKET)
    assert without_xmp(out) == pieces(mixed)
    assert H.read(out).c2pa[0].data == box
    assert H.content_digest(mixed) == H.content_digest(data)


def test_extended_xmp_is_noted_reassembled_and_kept() -> None:
    guid = b"0123456789ABCDEF0123456789ABCDEF"
    ext = b"<x:xmpmeta xmlns:x='adobe:ns:meta/'>" + b"E" * 5000 + b"</x:xmpmeta>"
    segs = b""
    for off in range(0, len(ext), 2000):
        part = ext[off : off + 2000]
        segs += seg(0xE1, jpeg.XMP_EXT_ID + guid + struct.pack(">II", len(ext), off) + part)
    data = insert_after(fx.jpeg(), 2, xmp_seg(PACKET) + segs)
    meta = H.read(data)
    assert [c.name for c in meta.xmp] == ["APP1 XMP", "APP1 ExtendedXMP " + guid.decode()]
    assert meta.xmp[0].data == PACKET and meta.xmp[1].data == ext
    assert any("ExtendedXMP" in w for w in meta.warnings)
    out = H.write_xmp(data, PACKET.replace(b"trained", b"TRAINED"))
    assert without_xmp(out) == without_xmp(data)  # extension segments untouched


def test_exif_user_comment_record_blanked_on_write_other_exif_kept() -> None:
    rec = AIGCRecord(content_producer="001191440300708461136T1308L", produce_id="abc").to_json(
        wrapped=True
    )
    ex = Image.Exif()
    ex[0x010F] = "Cam"
    ex.get_ifd(0x8769)[0x9286] = b"ASCII\x00\x00\x00" + rec.encode()
    buf = io.BytesIO()
    fx.picture().save(buf, "JPEG", exif=ex.tobytes())
    data = buf.getvalue()
    assert H.read(data).of_kind("exif-usercomment")[0].data == rec.encode()
    out = H.write_xmp(data, PACKET)
    meta = H.read(out)
    assert meta.of_kind("exif-usercomment") == []
    assert len(out) == len(data) + len(xmp_seg(PACKET))  # EXIF blanked in place, same size
    with Image.open(io.BytesIO(out)) as im:
        assert im.getexif()[0x010F] == "Cam"


def test_record_only_blob_segment_removed_mixed_segment_kept() -> None:
    rec = AIGCRecord(content_producer="doubao", produce_id="1").to_json()
    only = seg(0xE9, b"AIGC" + rec.encode() + b"\x00")
    mixed = seg(0xEA, b"VENDOR\x00other=1;AIGC" + rec.encode())
    data = insert_after(fx.jpeg(), 1, only + mixed)
    assert [c.name for c in H.read(data).of_kind("blob")] == ["APP9 AIGC blob", "APP10 AIGC blob"]
    out = H.write_xmp(data, PACKET)
    assert only not in out and mixed in out


# -- hostile input --------------------------------------------------------------------------


@pytest.mark.parametrize("cut", [3, 20, 200, -300, -3, -1])
def test_truncation_raises_malformed_with_offset(cut: int) -> None:
    data = fx.jpeg()[:cut]
    for op in (H.read, H.content_digest, lambda d: H.write_xmp(d, PACKET)):
        with pytest.raises(MalformedInput) as info:
            op(data)
        assert info.value.offset is not None and 0 <= info.value.offset <= len(data)


def test_declared_length_past_end() -> None:
    data = b"\xff\xd8" + b"\xff\xe1\xff\xff" + b"x" * 100
    with pytest.raises(MalformedInput) as info:
        H.read(data)
    assert info.value.offset == 2


@pytest.mark.parametrize(
    "data",
    [
        b"\xff\xd8" + b"\xff" * 3_000_000,  # endless fill
        b"\xff\xd8" + b"\xff\xd0" * 200_000,  # endless stand-alone markers
        b"\xff\xd8" + seg(0xFE, b"") * 200_000,  # endless empty segments
        b"\xff\xd8" + seg(0xDA, b"\x01\x01\x00\x00\x3f\x00") + b"\xff\x00" * 1_000_000,
        b"\xff\xd8" + b"\x00" * 2_000_000,
    ],
    ids=["fill", "rst", "segments", "scan", "junk"],
)
def test_hostile_inputs_fail_fast(data: bytes) -> None:
    t = time.perf_counter()
    with pytest.raises((MalformedInput, LimitExceeded)):
        H.read(data)
    assert time.perf_counter() - t < 30.0  # a hang guard, not a speed test (CI load varies)


def test_only_typed_errors_on_random_segment_soup() -> None:
    import random

    rnd = random.Random(7)
    base = H.write_xmp(fx.jpeg(), PACKET)
    for _ in range(300):
        b = bytearray(base)
        for _ in range(rnd.randint(1, 4)):
            i = rnd.randrange(len(b))
            b[i : i + 2] = bytes([0xFF, rnd.choice([0xE1, 0xEB, 0xFE, 0xDA, 0xD9, 0x00, 0xFF])])
        for op in (H.read, H.content_digest, lambda d: H.write_xmp(d, PACKET)):
            with contextlib.suppress(SynthlabelError):
                op(bytes(b))


# -- exiftool -------------------------------------------------------------------------------


def _exiftool(path: Path) -> dict[str, object]:
    res = subprocess.run(
        ["exiftool", "-j", "-a", "-G1", "-All", "-Warning", "-Error", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    info: dict[str, object] = json.loads(res.stdout)[0]
    return info


@pytest.mark.exiftool
@pytest.mark.skipif(shutil.which("exiftool") is None, reason="needs exiftool")
def test_exiftool_sees_all_old_metadata_after_write(tmp_path: Path) -> None:
    data = fx.jpeg()
    (tmp_path / "a.jpg").write_bytes(data)
    (tmp_path / "b.jpg").write_bytes(H.write_xmp(data, PACKET))
    before, after = _exiftool(tmp_path / "a.jpg"), _exiftool(tmp_path / "b.jpg")
    volatile = ("SourceFile", "System:", "File:FileSize", "XMP")
    same = {k: v for k, v in before.items() if not k.startswith(volatile)}
    assert len(same) > 30 and {k: after.get(k) for k in same} == same
    assert after["IFD0:Make"] == "SynthlabelTestCam"
    assert after["ICC_Profile:ProfileDescription"] == "sRGB built-in"
    assert "XMP-TC260:Aigc" in after or "XMP-TC260:AIGC" in after
    assert "ExifTool:Warning" not in after and "ExifTool:Error" not in after


# -- a real C2PA manifest (c2pa-rs via c2pa-python, when installed) ------------------------


def c2pa_sign(data: bytes, mime: str, pad: int) -> bytes:
    """Sign ``data`` with a throw-away PKI; ``pad`` bytes of assertion make the store big."""
    c2pa = pytest.importorskip("c2pa")
    from synthlabel.label.c2pa import c2pa_settings
    from tests.helpers.c2pa_ca import make_pki

    pki = make_pki()
    signer = c2pa.Signer.from_info(
        c2pa.C2paSignerInfo(b"es256", pki.chain_pem, pki.signer_key_pem, None)
    )
    ctx = c2pa.Context.from_dict(c2pa_settings())
    definition = {
        "claim_generator_info": [{"name": "synthlabel-tests", "version": "1"}],
        "title": "sample",
        "assertions": [
            {
                "label": "c2pa.actions.v2",
                "data": {
                    "actions": [{"action": "c2pa.created", "digitalSourceType": _xmp.DST_TRAINED}]
                },
            },
            {"label": "org.synthlabel.test", "data": {"pad": "x" * pad}},
        ],
    }
    out = io.BytesIO()
    try:
        c2pa.Builder(json.dumps(definition), context=ctx).sign(signer, mime, io.BytesIO(data), out)
    finally:
        signer.close()
        ctx.close()
    return out.getvalue()


def test_real_c2pa_store_over_several_app11_segments() -> None:
    data = fx.jpeg()
    signed = c2pa_sign(data, "image/jpeg", 150_000)
    app11 = [p for p in jpeg.parse(signed) if p.kind == "seg" and p.marker == 0xEB]
    assert len(app11) >= 3
    [store] = H.read(signed).c2pa
    assert struct.unpack(">I", store.data[:4])[0] == len(store.data) > 150_000
    assert store.data[4:8] == b"jumb" and b"org.synthlabel.test" in store.data
    # c2pa-rs only added APP11 segments: the content digest is unchanged
    assert H.content_digest(signed) == H.content_digest(data)
    out = H.write_xmp(signed, PACKET)
    assert without_xmp(out) == pieces(signed)
    assert H.read(out).c2pa[0].data == store.data
