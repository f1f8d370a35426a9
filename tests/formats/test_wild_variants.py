"""Records the way real generators write them (gb45438-labels.md §4.1, §5.1, §7).

Each fixture is generated here, byte by byte, after the spec's examples: Doubao/Jimeng-style
XMP with ``&quot;``-escaped JSON (element and attribute form), PNG ``tEXt AIGC`` with raw
JSON, EXIF UserComment ``ASCII\\0\\0\\0{"AIGC":{...}}``, a bare ``AIGC{...}`` blob in a JPEG
application segment, ``Label`` as a number, and look-alikes that are *not* records. For each
we check that ``read()`` reports the right carrier (kind and data), that
``parse_record`` reads it, and that writing our XMP leaves exactly one record.
"""

from __future__ import annotations

import html
import io
import json
import shutil
import struct
import subprocess
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from synthlabel.errors import RecordError
from synthlabel.formats import _xmp, gif, jpeg, png
from synthlabel.formats.base import Carrier, FormatHandler
from synthlabel.model.aigc import AIGCRecord, parse_record
from tests.fixtures import images as fx

DOUBAO = AIGCRecord(content_producer="001191110102MACQD9K64010000", produce_id="7a1c9e3f0b2d")
JIMENG = AIGCRecord(
    content_producer="00119144030008867405X210001",
    produce_id="1853abc",
    content_propagator="00119144030008867405X220001",
    propagate_id="9876",
)
YUANBAO = AIGCRecord(content_producer="001191440300708461136T1308L", produce_id="yb-01")
OURS = AIGCRecord(content_producer="001191110000MA0000000H10001", produce_id="01JD3Q8W5Z6V")


def element_packet(rec: AIGCRecord) -> bytes:
    """Doubao-style: element form, JSON quotes escaped as &quot;, a toolkit attribute."""
    value = rec.to_json().replace('"', "&quot;")
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="XMP Core 6.0.0">\n'
        ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
        '  <rdf:Description rdf:about=""\n'
        '    xmlns:TC260="http://www.tc260.org.cn/ns/AIGC/1.0/">\n'
        f"   <TC260:AIGC>{value}</TC260:AIGC>\n"
        "  </rdf:Description>\n"
        " </rdf:RDF>\n"
        "</x:xmpmeta>\n"
        '<?xpacket end="w"?>'
    ).encode()


def attribute_packet(rec: AIGCRecord) -> bytes:
    """Jimeng-style: the record as an attribute, TC260:AIGC="{&quot;...}"."""
    value = html.escape(rec.to_json(), quote=True)
    return (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:TC260="http://www.tc260.org.cn/ns/AIGC/1.0/" '
        f'xmlns:dc="http://purl.org/dc/elements/1.1/" TC260:AIGC="{value}" dc:format="image/png"/>'
        "</rdf:RDF></x:xmpmeta>"
    ).encode()


# -- builders -------------------------------------------------------------------------------


def png_with(*extra: bytes) -> bytes:
    data = fx.png()
    idat = next(c for c in png.parse(data).chunks if c.type == b"IDAT")
    return data[: idat.start] + b"".join(extra) + data[idat.start :]


def itxt_xmp(packet: bytes) -> bytes:
    return png.make_chunk(b"iTXt", png.XMP_KEYWORD + b"\0\0\0\0\0" + packet)


def jpeg_seg(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def jpeg_with(*segments: bytes, exif: bytes | None = None) -> bytes:
    buf = io.BytesIO()
    kw = {"exif": exif} if exif is not None else {}
    fx.picture().save(buf, "JPEG", quality=85, **kw)
    data = buf.getvalue()
    parts = jpeg.parse(data)
    at = next(p for p in parts if p.kind == "seg" and p.marker == 0xDB).start
    return data[:at] + b"".join(segments) + data[at:]


def exif_user_comment(value: bytes, *, endian: str = ">", description: str | None = None) -> bytes:
    ex = Image.Exif()
    ex.endian = endian
    ex[0x010F] = "HONOR"
    if description is not None:
        ex[0x010E] = description
    ex.get_ifd(0x8769)[0x9286] = value
    return ex.tobytes()


# -- helpers --------------------------------------------------------------------------------


def values(h: FormatHandler, data: bytes) -> list[tuple[str, str]]:
    """(carrier kind, AIGC value text) for every record-bearing carrier."""
    out: list[tuple[str, str]] = []
    for c in h.read(data).carriers:
        if c.kind == "xmp":
            out.extend(("xmp", v) for v in _xmp.read_fields(c.data).aigc)
        elif c.kind in ("aigc", "blob", "exif-usercomment"):
            out.append((c.kind, c.data.decode("utf-8")))
    return out


def records_after_write(h: FormatHandler, data: bytes) -> list[tuple[str, AIGCRecord]]:
    meta = h.read(data)
    base = meta.xmp[0].data if meta.xmp else None
    out = h.write_xmp(data, _xmp.update_packet(base, aigc_json=OURS.to_json()))
    found = []
    for kind, v in values(h, out):
        try:
            found.append((kind, parse_record(v).record))
        except RecordError:
            continue
    return found


def one(meta_carriers: list[Carrier], kind: str) -> Carrier:
    hits = [c for c in meta_carriers if c.kind == kind]
    assert len(hits) == 1, meta_carriers
    return hits[0]


# -- XMP variants ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "rec"),
    [(element_packet, DOUBAO), (attribute_packet, JIMENG)],
    ids=["doubao-element", "jimeng-attribute"],
)
@pytest.mark.parametrize(
    ("h", "embed"),
    [
        (png.HANDLER, lambda p: png_with(itxt_xmp(p))),
        (jpeg.HANDLER, lambda p: jpeg_with(jpeg_seg(0xE1, jpeg.XMP_ID + p))),
        (gif.HANDLER, lambda p: gif.HANDLER.write_xmp(fx.gif(), p)),
    ],
    ids=["png", "jpeg", "gif"],
)
def test_escaped_json_in_xmp(
    h: FormatHandler, embed: Callable[[bytes], bytes], build: Callable[..., bytes], rec
) -> None:
    packet = build(rec)
    assert b"&quot;" in packet
    data = embed(packet)
    meta = h.read(data)
    assert one(meta.carriers, "xmp").data == packet
    [(kind, value)] = values(h, data)
    assert kind == "xmp"
    parsed = parse_record(value)
    assert parsed.record == rec and not parsed.wrapped and parsed.conforming
    assert records_after_write(h, data) == [("xmp", OURS)]


def test_compressed_itxt_xmp_with_escaped_json() -> None:
    packet = element_packet(DOUBAO)
    chunk = png.make_chunk(b"iTXt", png.XMP_KEYWORD + b"\0\x01\x00\0\0" + zlib.compress(packet))
    data = png_with(chunk)
    assert one(png.HANDLER.read(data).carriers, "xmp").data == packet
    assert [parse_record(v).record for _, v in values(png.HANDLER, data)] == [DOUBAO]


# -- PNG text chunks ------------------------------------------------------------------------


@pytest.mark.parametrize("ctype", [b"tEXt", b"zTXt", b"iTXt"])
@pytest.mark.parametrize("wrapped", [False, True], ids=["flat", "wrapped"])
def test_png_text_aigc_chunk(ctype: bytes, wrapped: bool) -> None:
    raw = DOUBAO.to_json(wrapped=wrapped).encode()
    if ctype == b"tEXt":
        body = b"AIGC\0" + raw
    elif ctype == b"zTXt":
        body = b"AIGC\0\0" + zlib.compress(raw)
    else:
        body = b"AIGC\0\0\0\0\0" + raw
    data = png_with(png.make_chunk(ctype, body))
    c = one(png.HANDLER.read(data).carriers, "aigc")
    assert c.data == raw and c.name == f"{ctype.decode()} AIGC"
    parsed = parse_record(c.data.decode())
    assert parsed.record == DOUBAO and parsed.wrapped is wrapped
    assert records_after_write(png.HANDLER, data) == [("xmp", OURS)]


def test_doubao_two_copies_xmp_and_text_both_reported_then_one_written() -> None:
    data = png_with(
        itxt_xmp(element_packet(DOUBAO)),
        png.make_chunk(b"tEXt", b"AIGC\0" + DOUBAO.to_json().encode()),
    )
    assert [(k, parse_record(v).record) for k, v in values(png.HANDLER, data)] == [
        ("xmp", DOUBAO),
        ("aigc", DOUBAO),
    ]
    assert records_after_write(png.HANDLER, data) == [("xmp", OURS)]


def test_label_as_number_is_read_with_a_warning() -> None:
    raw = json.dumps({"Label": 1, **{k: v for k, v in DOUBAO.to_dict().items() if k != "Label"}})
    data = png_with(png.make_chunk(b"tEXt", b"AIGC\0" + raw.encode()))
    c = one(png.HANDLER.read(data).carriers, "aigc")
    parsed = parse_record(c.data.decode())
    assert parsed.record == DOUBAO
    assert any("Label is a JSON number" in w for w in parsed.warnings)


# -- JPEG EXIF and blobs --------------------------------------------------------------------


@pytest.mark.parametrize("endian", [">", "<"], ids=["MM", "II"])
@pytest.mark.parametrize("charset", ["ASCII", "UNICODE"])
def test_exif_user_comment_wrapped_record(endian: str, charset: str) -> None:
    text = YUANBAO.to_json(wrapped=True)
    if charset == "ASCII":
        value = b"ASCII\0\0\0" + text.encode()
    else:
        value = b"UNICODE\0" + text.encode("utf-16-be" if endian == ">" else "utf-16-le")
    data = jpeg_with(exif=exif_user_comment(value, endian=endian))
    meta = jpeg.HANDLER.read(data)
    c = one(meta.carriers, "exif-usercomment")
    assert c.data == text.encode() and c.name == "APP1 Exif UserComment"
    assert data[c.offset : c.offset + 8] == value[:8]  # offset points at the tag value
    parsed = parse_record(c.data)
    assert parsed.record == YUANBAO and parsed.wrapped
    assert records_after_write(jpeg.HANDLER, data) == [("xmp", OURS)]


def test_exif_user_comment_in_png_exif_chunk() -> None:
    text = YUANBAO.to_json(wrapped=True)
    tiff = exif_user_comment(b"ASCII\0\0\0" + text.encode())[6:]
    buf = io.BytesIO()  # fx.png already has an eXIf chunk: start from a bare PNG
    fx.picture().save(buf, "PNG")
    bare = buf.getvalue()
    idat = next(c for c in png.parse(bare).chunks if c.type == b"IDAT")
    data = bare[: idat.start] + png.make_chunk(b"eXIf", tiff) + bare[idat.start :]
    c = one(png.HANDLER.read(data).carriers, "exif-usercomment")
    assert parse_record(c.data).record == YUANBAO
    assert records_after_write(png.HANDLER, data) == [("xmp", OURS)]


@pytest.mark.exiftool
@pytest.mark.skipif(shutil.which("exiftool") is None, reason="needs exiftool")
def test_exiftool_agrees_on_the_user_comment_fixture_and_its_blanking(tmp_path: Path) -> None:
    text = YUANBAO.to_json(wrapped=True)
    data = jpeg_with(exif=exif_user_comment(b"ASCII\0\0\0" + text.encode()))
    out = jpeg.HANDLER.write_xmp(data, _xmp.new_packet(OURS.to_json()))
    seen = []
    for name, blob in (("in.jpg", data), ("out.jpg", out)):
        (tmp_path / name).write_bytes(blob)
        res = subprocess.run(
            ["exiftool", "-j", "-G1", "-UserComment", "-Make", "-Warning", str(tmp_path / name)],
            capture_output=True,
            text=True,
            check=True,
        )
        seen.append(json.loads(res.stdout)[0])
    assert seen[0]["ExifIFD:UserComment"] == text and seen[0]["IFD0:Make"] == "HONOR"
    assert seen[1].get("ExifIFD:UserComment", "") == "" and seen[1]["IFD0:Make"] == "HONOR"
    assert "ExifTool:Warning" not in seen[1]


def test_tencent_cloud_image_description_is_reported_not_a_record() -> None:
    desc = json.dumps({"AIGC": {"ServiceProvider": "tencent", "ServiceUser": "u1"}})
    data = jpeg_with(exif=exif_user_comment(b"ASCII\0\0\0hello", description=desc))
    meta = jpeg.HANDLER.read(data)
    c = one(meta.carriers, "exif-imagedescription")
    assert c.data == desc.encode()
    with pytest.raises(RecordError):
        parse_record(c.data)
    assert one(meta.carriers, "exif-usercomment").data == b"hello"  # plain text stays text
    out = jpeg.HANDLER.write_xmp(data, _xmp.new_packet(OURS.to_json()))
    after = jpeg.HANDLER.read(out)
    assert one(after.carriers, "exif-imagedescription").data == desc.encode()  # kept
    assert one(after.carriers, "exif-usercomment").data == b"hello"


def test_bytedance_private_json_is_not_a_record_and_is_kept() -> None:
    private = b'ASCII\0\0\0{"aigc_label_type":1,"aigc_type":"gen"}'
    data = jpeg_with(exif=exif_user_comment(private))
    c = one(jpeg.HANDLER.read(data).carriers, "exif-usercomment")
    with pytest.raises(RecordError):
        parse_record(c.data)
    out = jpeg.HANDLER.write_xmp(data, _xmp.new_packet(OURS.to_json()))
    assert private in out


@pytest.mark.parametrize("marker", [0xE4, 0xE9, 0xEF, 0xFE], ids=["APP4", "APP9", "APP15", "COM"])
def test_bare_blob_in_jpeg_segment(marker: int) -> None:
    blob = b"AIGC" + DOUBAO.to_json().encode()
    data = jpeg_with(jpeg_seg(marker, blob))
    c = one(jpeg.HANDLER.read(data).carriers, "blob")
    assert c.data == blob and data[c.offset : c.offset + len(blob)] == blob
    parsed = parse_record(c.data)
    assert parsed.record == DOUBAO
    assert any("bare AIGC" in w for w in parsed.warnings)
    assert records_after_write(jpeg.HANDLER, data) == [("xmp", OURS)]


def test_blob_inside_a_vendor_segment_with_other_data() -> None:
    payload = b"VNDR\0\x01\x02" + b"AIGC" + JIMENG.to_json().encode() + b"\0more vendor data"
    data = jpeg_with(jpeg_seg(0xEA, payload))
    c = one(jpeg.HANDLER.read(data).carriers, "blob")
    assert parse_record(c.data).record == JIMENG
    # not a record-only segment: kept (we never drop unknown vendor data)
    out = jpeg.HANDLER.write_xmp(data, _xmp.new_packet(OURS.to_json()))
    assert payload in out


def test_json_comment_and_look_alikes() -> None:
    wrapped = DOUBAO.to_json(wrapped=True).encode()
    data = jpeg_with(
        jpeg_seg(0xFE, wrapped),
        jpeg_seg(0xFE, b"AIGC{not json}"),
        jpeg_seg(0xFE, b'AIGC{"Foo":"bar"}'),  # valid JSON without any record key
        jpeg_seg(0xED, b"Photoshop 3.0\0" + b"AIGC" * 100),
    )
    [c] = jpeg.HANDLER.read(data).of_kind("blob")
    assert c.data == wrapped and parse_record(c.data).record == DOUBAO


def test_gif_comment_with_record() -> None:
    wrapped = DOUBAO.to_json(wrapped=True).encode()
    sub = b"".join(
        bytes([len(wrapped[i : i + 255])]) + wrapped[i : i + 255]
        for i in range(0, len(wrapped), 255)
    )
    data = fx.gif()
    first = gif.parse(data).blocks[0]
    data = data[: first.start] + b"\x21\xfe" + sub + b"\x00" + data[first.start :]
    c = one(gif.HANDLER.read(data).carriers, "blob")
    assert parse_record(c.data).record == DOUBAO
    assert records_after_write(gif.HANDLER, data) == [("xmp", OURS)]
    assert b"existing comment" in gif.HANDLER.write_xmp(data, _xmp.new_packet(OURS.to_json()))


def test_binary_user_comment_is_not_reported_as_text() -> None:
    blob = bytes(range(256)) * 2
    data = jpeg_with(exif=exif_user_comment(b"\0" * 8 + blob))
    meta = jpeg.HANDLER.read(data)
    assert meta.of_kind("exif-usercomment") == [] and meta.exif is not None
    assert blob in jpeg.HANDLER.write_xmp(data, _xmp.new_packet(OURS.to_json()))
