"""The shared TIFF/EXIF reader (formats._exif) and its use by all five EXIF-carrying handlers.

Blocks are built here with a small independent TIFF writer (classic and BigTIFF, both byte
orders) so damaged variants can be made on purpose.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable

import pytest
from PIL import Image

from synthlabel.errors import MalformedInput
from synthlabel.formats import _exif, _xmp, heif, jpeg, png, tiff, webp
from synthlabel.formats.base import FormatHandler
from synthlabel.model.aigc import AIGCRecord
from tests.fixtures import images as fx

OLD = AIGCRecord(content_producer="OLDPRODUCER", produce_id="OLDID")
RECORD_TEXT = OLD.to_json(wrapped=True)
SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 7: 1, 13: 4, 16: 8}

Tag = tuple[int, int, bytes]  # tag, field type, value bytes


def build(
    ifd0: list[Tag], sub: list[Tag] | None = None, *, little: bool = True, big: bool = False
) -> bytes:
    """A TIFF structure: header, IFD0, the Exif sub-IFD (when ``sub``), then the values."""
    bo = "<" if little else ">"
    entry, cnt, ptr, room = (20, 8, 8, 8) if big else (12, 2, 4, 4)
    head = 16 if big else 8
    n0 = len(ifd0) + (1 if sub is not None else 0)
    ifd0_at = head
    sub_at = ifd0_at + cnt + n0 * entry + ptr
    values_at = sub_at + (cnt + len(sub) * entry + ptr if sub is not None else 0)
    values = bytearray()

    def ifd(tags: list[Tag]) -> bytes:
        out = struct.pack(bo + ("Q" if big else "H"), len(tags))
        for tag, typ, val in sorted(tags):
            count = len(val) // SIZES[typ]
            out += struct.pack(bo + ("HHQ" if big else "HHI"), tag, typ, count)
            if len(val) <= room:
                out += val + bytes(room - len(val))
            else:
                out += struct.pack(bo + ("Q" if big else "I"), values_at + len(values))
                values.extend(val + b"\x00" * (len(val) % 2))
        return out + bytes(ptr)

    tags0 = list(ifd0)
    if sub is not None:
        tags0.append((0x8769, 4, struct.pack(bo + "I", sub_at)))
    body = ifd(tags0) + (ifd(sub) if sub is not None else b"")
    if big:
        header = (b"II" if little else b"MM") + struct.pack(bo + "HHHQ", 43, 8, 0, ifd0_at)
    else:
        header = (b"II" if little else b"MM") + struct.pack(bo + "HI", 42, ifd0_at)
    return header + body + bytes(values)


def entry(block: bytes, tag: int) -> _exif.Entry:
    """IFD0's entry for ``tag`` (read leniently)."""
    lay = _exif.parse_header(block)
    found = _exif.read_ifd(block, lay, lay.first_ifd, warnings=[]).get(tag)
    assert found is not None
    return found


def desc(text: bytes) -> Tag:
    return (0x010E, 2, text + b"\x00")


def comment(raw: bytes) -> Tag:
    return (0x9286, 7, raw)


@pytest.mark.parametrize("big", [False, True], ids=["classic", "bigtiff"])
@pytest.mark.parametrize("little", [True, False], ids=["II", "MM"])
def test_text_tags(little: bool, big: bool) -> None:
    uc = b"ASCII\x00\x00\x00" + RECORD_TEXT.encode()
    block = build([desc(b"a description")], [comment(uc)], little=little, big=big)
    info = _exif.read_text(block)
    assert info.warnings == []
    assert info.image_description is not None and info.user_comment is not None
    assert info.image_description.text == "a description"
    assert info.user_comment.text == RECORD_TEXT and info.user_comment.charset == "ASCII"
    u = info.user_comment
    assert block[u.value_offset : u.value_offset + u.value_length] == uc
    found, warns = _exif.carriers(block, 100, "X")
    assert warns == []
    d = info.image_description
    assert [(c.kind, c.offset, c.data, c.name) for c in found] == [
        ("exif-imagedescription", 100 + d.value_offset, b"a description", "X ImageDescription"),
        ("exif-usercomment", 100 + u.value_offset, RECORD_TEXT.encode(), "X UserComment"),
    ]


@pytest.mark.parametrize(
    ("raw", "text", "charset"),
    [
        (b"UNICODE\x00" + "标识 ok".encode("utf-16-le"), "标识 ok", "UNICODE"),
        (b"UNICODE\x00\xfe\xff" + "bom".encode("utf-16-be"), "bom", "UNICODE"),
        (b"JIS\x00\x00\x00\x00\x00" + "テスト".encode("cp932"), "テスト", "JIS"),
        (bytes(8) + b"undefined code", "undefined code", "UNDEFINED"),
        (b"ASCII   padded prefix", "padded prefix", "ASCII"),
        (b"no prefix at all here", "no prefix at all here", "none"),
    ],
)
def test_user_comment_charsets(raw: bytes, text: str, charset: str) -> None:
    uc = _exif.read_text(build([], [comment(raw)])).user_comment
    assert uc is not None and (uc.text, uc.charset) == (text, charset)


def test_only_printable_text_is_reported() -> None:
    binary = bytes(range(256)) * 2
    block = build([(0x010E, 7, binary)], [comment(b"ASCII\x00\x00\x00" + binary)])
    info = _exif.read_text(block)
    assert info.image_description is None and info.user_comment is None
    assert _exif.carriers(block, 0, "X") == ([], [])
    assert _exif.read_text(build([desc(b"   ")], [comment(bytes(40))])).user_comment is None


def test_damage_is_a_warning_and_the_rest_is_read() -> None:
    # an unrelated tag whose value points outside the block: strict reading refuses,
    # the text reader still finds both tags
    maker_note = (0x927C, 7, b"m" * 40)
    block = bytearray(build([desc(b"kept"), maker_note], [comment(b"ASCII\0\0\0x y")]))
    lay = _exif.parse_header(bytes(block))
    mk = entry(bytes(block), 0x927C)
    block[mk.pos + 8 : mk.pos + 12] = struct.pack("<I", 1 << 30)
    with pytest.raises(MalformedInput):
        _exif.read_ifd(bytes(block), lay, lay.first_ifd)
    info = _exif.read_text(bytes(block))
    assert info.image_description is not None and info.image_description.text == "kept"
    assert info.user_comment is not None and info.user_comment.text == "x y"
    # the text tag itself out of range
    d = entry(bytes(block), 0x010E)
    bad = bytearray(block)
    bad[d.pos + 8 : d.pos + 12] = struct.pack("<I", len(block) - 2)
    info = _exif.read_text(bytes(bad))
    assert info.image_description is None and info.user_comment is not None
    assert any("ImageDescription points outside" in w for w in info.warnings)


def test_truncated_looping_and_huge_ifds() -> None:
    block = build([desc(b"first"), (0x0131, 2, b"software name\x00")])
    lay = _exif.parse_header(block)
    cut = block[: lay.first_ifd + 2 + 12 + 5]  # the second entry is cut
    info = _exif.read_text(cut)
    assert any("truncated" in w for w in info.warnings)
    assert info.image_description is None  # its value was after the cut
    loop = bytearray(build([desc(b"d")], []))
    sub_entry = entry(bytes(loop), 0x8769)
    loop[sub_entry.pos + 8 : sub_entry.pos + 12] = struct.pack("<I", lay.first_ifd)
    assert any("loops back" in w for w in _exif.read_text(bytes(loop)).warnings)
    filler = [(0x1000 + i, 3, b"\x01\x00") for i in range(2000)]
    many = build([*filler, desc(b"early")], [comment(b"ASCII\0\0\0late")])
    info = _exif.read_text(many)
    assert any("2002 entries; read 1024" in w for w in info.warnings)
    assert info.image_description is not None  # tag 0x010E sorts first
    assert info.user_comment is None  # the sub-IFD pointer (0x8769) is entry 2002
    for junk in (b"", b"XX*\x00\x08\x00\x00\x00", b"II*\x00\xff\xff\x00\x00"):
        assert _exif.read_text(junk).warnings  # never raises


def test_blank_user_comment_record() -> None:
    uc = b"ASCII\x00\x00\x00" + RECORD_TEXT.encode()
    block = build([desc(RECORD_TEXT.encode())], [comment(uc)], little=False, big=True)
    out = _exif.blank_user_comment_record(block)
    assert out is not None and len(out) == len(block)
    i = block.index(uc)
    assert out[i : i + len(uc)] == bytes(len(uc)) and out[:i] == block[:i]
    assert out[i + len(uc) :] == block[i + len(uc) :]  # ImageDescription is not touched
    assert _exif.read_text(out).user_comment is None
    assert _exif.blank_user_comment_record(out) is None
    assert _exif.blank_user_comment_record(build([], [comment(b"ASCII\0\0\0plain")])) is None


# --- every handler reads and blanks through the same code ------------------------------------


def _exif_bytes() -> bytes:
    ex = Image.Exif()
    ex[0x010F] = "SynthlabelTestCam"
    ex[0x010E] = "a description"
    ex[0x8769] = {0x9286: b"ASCII\x00\x00\x00" + RECORD_TEXT.encode()}
    return ex.tobytes()


def _save(fmt: str) -> bytes:
    buf = io.BytesIO()
    fx.picture().save(buf, fmt, exif=_exif_bytes())
    return buf.getvalue()


HANDLERS: dict[str, tuple[Callable[[], bytes], FormatHandler]] = {
    "jpeg": (lambda: _save("JPEG"), jpeg.HANDLER),
    "png": (lambda: _save("PNG"), png.HANDLER),
    "webp": (lambda: _save("WEBP"), webp.HANDLER),
    "tiff": (lambda: _save("TIFF"), tiff.HANDLER),
    "heif": (lambda: _save("HEIF"), heif.HANDLER),
}


@pytest.mark.parametrize("fid", list(HANDLERS))
def test_handlers_share_the_exif_reader(fid: str) -> None:
    make, handler = HANDLERS[fid]
    data = make()
    meta = handler.read(data)
    got = {c.kind: c for c in meta.carriers if c.kind.startswith("exif-")}
    assert set(got) == {"exif-imagedescription", "exif-usercomment"}, meta.carriers
    assert got["exif-imagedescription"].data == b"a description"
    assert got["exif-usercomment"].data == RECORD_TEXT.encode()
    uc = b"ASCII\x00\x00\x00" + RECORD_TEXT.encode()
    assert data[got["exif-usercomment"].offset :].startswith(uc)
    new = AIGCRecord(content_producer="NEWPRODUCER", produce_id="NEWID")
    out = handler.write_xmp(data, _xmp.update_packet(None, aigc_json=new.to_json()))
    assert b"OLDPRODUCER" not in out and b"NEWPRODUCER" in out
    after = handler.read(out)
    kinds = {c.kind for c in after.carriers}
    assert "exif-usercomment" not in kinds and "exif-imagedescription" in kinds
    # blanked in place: same block length, only the UserComment value zeroed
    block0 = meta.exif if meta.exif is not None else data
    block1 = after.exif if after.exif is not None else out[: len(data)]
    assert len(block1) == len(block0)
    i = block0.index(uc)
    assert block1[i : i + len(uc)] == bytes(len(uc))
    assert block1[:i] == block0[:i] or fid == "tiff"  # TIFF: IFD0 may be rewritten in place
    assert block1[i + len(uc) :] == block0[i + len(uc) :] or fid == "tiff"
