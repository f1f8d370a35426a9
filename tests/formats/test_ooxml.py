"""OOXML: custom.xml property, raw member copy, registration, hostile archives."""

from __future__ import annotations

import importlib.util
import io
import struct
import zipfile

import pytest

from synthlabel.errors import LimitExceeded, MalformedInput, SynthlabelError
from synthlabel.formats import ooxml
from synthlabel.formats.base import LabelWrite
from synthlabel.inspect.reader import inspect_bytes
from synthlabel.model.aigc import AIGCRecord, parse_record
from tests.fixtures import documents as fx

RECORD = AIGCRecord(
    content_producer="001191110000MA0000000H10001", produce_id="01JD3Q8W5Z6V7K2M4N8P0R2S4T"
)
OTHER = RECORD.replace(content_propagator="001191440300MA0000001L20000", propagate_id="42")
LW = LabelWrite(RECORD.to_json())
H = ooxml.HANDLER
SAMPLES = list(fx.SAMPLES["ooxml"].items())


def raw_members(data: bytes) -> dict[str, tuple[bytes, bytes]]:
    """name -> (local header + data + descriptor, central record without its offset)."""
    arc = ooxml.parse_zip(data)
    out = {}
    for e in arc.entries:
        cd = bytearray(data[e.cd_start : e.cd_end])
        cd[42:46] = b"\0\0\0\0"
        out[e.name] = (data[e.local : e.end], bytes(cd))
    return out


def custom(data: bytes) -> bytes:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return z.read("docProps/custom.xml")


def aigc(data: bytes) -> list[AIGCRecord]:
    return [parse_record(c.data).record for c in H.read(data).carriers]


@pytest.mark.parametrize(("name", "make"), SAMPLES)
def test_other_members_are_copied_byte_for_byte(name: str, make: object) -> None:
    src = make()  # type: ignore[operator]
    out = H.write_label(src, LW)
    before, after = raw_members(src), raw_members(out)
    kept = [n for n in before if n not in fx.OOXML_LABEL_PARTS]
    assert kept and all(after[n] == before[n] for n in kept)
    assert [n for n in after if n in before] == list(before)  # same order
    with zipfile.ZipFile(io.BytesIO(out)) as z:
        assert z.testzip() is None
    assert aigc(out) == [RECORD]
    props = fx.ooxml_custom_properties(custom(out))
    pids = [int(p) for _, p, _ in props]
    assert len(set(pids)) == len(pids) and min(pids) >= 2
    assert [(n, v) for n, _, v in props if n == "AIGC"] == [("AIGC", RECORD.to_json())]


def test_existing_custom_properties_are_kept_textually() -> None:
    src = fx.docx_custom()
    out = H.write_label(src, LW)
    old, new = custom(src), custom(out)
    prop = (
        f'<property fmtid="{ooxml.FMTID}" pid="6" name="AIGC"><vt:lpwstr>'
        f"{RECORD.to_json()}</vt:lpwstr></property>"
    ).encode()
    assert new == old.replace(b"</Properties>", prop + b"</Properties>")
    # Registration was already there: only custom.xml changed.
    changed = [n for n, v in raw_members(out).items() if raw_members(src)[n] != v]
    assert changed == ["docProps/custom.xml"]
    # Replacing keeps the pid and the position.
    twice = H.write_label(out, LabelWrite(OTHER.to_json()))
    assert custom(twice) == new.replace(RECORD.to_json().encode(), OTHER.to_json().encode())
    assert H.write_label(twice, LabelWrite(OTHER.to_json())) is twice


def test_registration_is_added_once() -> None:
    out = H.write_label(fx.docx_minimal(), LW)
    with zipfile.ZipFile(io.BytesIO(out)) as z:
        ct = z.read("[Content_Types].xml").decode()
        rels = z.read("_rels/.rels").decode()
        info = z.getinfo("docProps/custom.xml")
    assert ct.count('PartName="/docProps/custom.xml"') == 1
    assert ooxml.CUSTOM_CT in ct
    assert rels.count(ooxml.REL_CUSTOM) == 1 and 'Id="rId3"' in rels
    assert info.date_time == (1980, 1, 1, 0, 0, 0)
    twice = H.write_label(out, LabelWrite(OTHER.to_json()))
    with zipfile.ZipFile(io.BytesIO(twice)) as z:
        assert z.read("[Content_Types].xml").decode() == ct
        assert z.read("_rels/.rels").decode() == rels


def test_lowercase_name_and_duplicates_from_other_tools_are_replaced() -> None:
    props = (
        f'<property fmtid="{ooxml.FMTID}" pid="2" name="aigc"><vt:lpwstr>{OTHER.to_json()}'
        f'</vt:lpwstr></property><property fmtid="{ooxml.FMTID}" pid="3" name="AIGC">'
        f"<vt:lpwstr>{OTHER.to_json()}</vt:lpwstr></property>"
    )
    raw = custom(fx.docx_custom()).replace(b"</Properties>", props.encode() + b"</Properties>")
    src = _rezip(fx.docx_custom(), {"docProps/custom.xml": raw})
    meta = H.read(src)
    assert len(meta.carriers) == 2 and any("'aigc'" in w for w in meta.warnings)
    out = H.write_label(src, LW)
    names = [(n, p) for n, p, _ in fx.ooxml_custom_properties(custom(out))]
    assert names == [("Department", "2"), ("Reviewed", "5"), ("AIGC", "6")]


@pytest.mark.skipif(importlib.util.find_spec("docx") is None, reason="python-docx not installed")
def test_office_libraries_open_the_output() -> None:
    import docx

    for name, make in SAMPLES:
        out = H.write_label(make(), LW)
        if name.startswith("docx-python") or name.startswith("docx-minimal"):
            doc = docx.Document(io.BytesIO(out))
            assert doc.paragraphs
        if name.startswith("xlsx") and importlib.util.find_spec("openpyxl"):
            import openpyxl

            wb = openpyxl.load_workbook(io.BytesIO(out))
            assert wb.active is not None and wb.active["A2"].value == "North"
            assert wb.custom_doc_props["AIGC"].value == RECORD.to_json()
        if name.startswith("pptx") and importlib.util.find_spec("pptx"):
            from pptx import Presentation

            assert len(Presentation(io.BytesIO(out)).slides) == 1


def test_inspect_reports_compliant() -> None:
    report = inspect_bytes(H.write_label(fx.docx_custom(), LW), path="x.docx")
    assert report.format == "ooxml" and report.compliance.value == "compliant"


def test_content_digest_is_compression_independent() -> None:
    src = fx.docx_custom()
    d = H.content_digest(src)
    assert H.content_digest(H.write_label(src, LW)) == d
    assert H.content_digest(fx.other_content("ooxml", src) or b"") != d
    with zipfile.ZipFile(io.BytesIO(src)) as z:
        stored = io.BytesIO()
        with zipfile.ZipFile(stored, "w", zipfile.ZIP_STORED) as w:
            for i in z.infolist():
                w.writestr(i.filename, z.read(i))
    assert H.content_digest(stored.getvalue()) == d


def test_archive_comment_is_kept() -> None:
    src = bytearray(fx.docx_minimal())
    src[-2:] = struct.pack("<H", 5)
    src += b"hello"
    out = H.write_label(bytes(src), LW)
    assert out.endswith(b"\x05\x00hello")
    with zipfile.ZipFile(io.BytesIO(out)) as z:
        assert z.comment == b"hello"


# -- hostile archives ------------------------------------------------------------------------


def _rezip(data: bytes, replace: dict[str, bytes], extra: list[tuple[str, bytes]] = ()) -> bytes:  # type: ignore[assignment]
    parts: list[tuple[str, str | bytes]] = []
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        parts = [(i.filename, replace.get(i.filename, z.read(i))) for i in z.infolist()]
    return fx._zip(parts + list(extra))


@pytest.mark.parametrize("name", ["../evil.xml", "/abs.xml", "a\\b.xml", "C:/x.xml", "a/./b"])
def test_unsafe_member_names_are_rejected(name: str) -> None:
    bad = _rezip(fx.docx_minimal(), {}, [(name, b"x")])
    for op in (H.read, H.content_digest, lambda d: H.write_label(d, LW)):
        with pytest.raises(MalformedInput, match="unsafe member name"):
            op(bad)


def test_duplicate_names_are_rejected() -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bad = _rezip(fx.docx_minimal(), {}, [("WORD/document.xml", b"x")])
    with pytest.raises(MalformedInput, match="duplicate"):
        H.read(bad)


def _bomb(member: str) -> bytes:
    """``member`` inflating to 64 MiB from ~64 KiB (ratio ~1000:1)."""
    big = b'<?xml version="1.0"?><Properties xmlns="x">' + b" " * (64 << 20) + b"</Properties>"
    return _rezip(fx.docx_custom(), {member: big})


def test_zip_bombs_hit_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    bomb = _bomb("docProps/custom.xml")
    assert len(bomb) < 200_000
    for op in (H.read, lambda d: H.write_label(d, LW)):
        with pytest.raises(LimitExceeded):
            op(bomb)
    content_bomb = _bomb("word/document.xml")
    with pytest.raises(LimitExceeded, match="ratio"):
        H.content_digest(content_bomb)
    monkeypatch.setattr(ooxml, "MAX_TOTAL_UNCOMPRESSED", 100)
    with pytest.raises(LimitExceeded):
        H.content_digest(fx.docx_custom())


def test_lying_sizes_and_crcs_are_malformed() -> None:
    src = fx.docx_custom()
    arc = ooxml.parse_zip(src)
    e = arc.get("docProps/custom.xml")
    assert e is not None
    # Flip a byte of the compressed data: CRC (or inflate) fails.
    bad = bytearray(src)
    bad[e.data_start + 5] ^= 0xFF
    with pytest.raises(MalformedInput):
        H.read(bytes(bad))
    # Declared uncompressed size smaller than the real one.
    small = bytearray(src)
    small[e.cd_start + 24 : e.cd_start + 28] = struct.pack("<I", 10)
    with pytest.raises(MalformedInput):
        H.read(bytes(small))


def test_structural_damage_and_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    src = fx.docx_minimal()
    for bad in (src[:-22], src[:100], b"PK\x03\x04" + b"\x00" * 40, src[:30] + b"\x00" + src[31:]):
        with pytest.raises(SynthlabelError):
            H.read(bad)
    overlap = bytearray(src)
    arc = ooxml.parse_zip(src)
    second = arc.entries[1]
    overlap[second.cd_start + 42 : second.cd_start + 46] = struct.pack("<I", 0)
    with pytest.raises(MalformedInput):
        H.read(bytes(overlap))
    zip64 = src[:-22] + b"PK\x06\x07" + b"\x00" * 16 + src[-22:]
    with pytest.raises(SynthlabelError):
        H.read(zip64)
    monkeypatch.setattr(ooxml, "MAX_ENTRIES", 2)
    with pytest.raises(LimitExceeded):
        H.read(src)


def test_not_an_ooxml_package() -> None:
    plain = fx._zip([("mimetype", b"application/epub+zip"), ("a.txt", b"x")])
    assert not H.sniff(plain[: H.sniff_bytes])
    with pytest.raises(MalformedInput, match="Content_Types"):
        H.read(plain)


def test_encrypted_member_is_malformed() -> None:
    src = bytearray(fx.docx_custom())
    e = ooxml.parse_zip(bytes(src)).get("docProps/custom.xml")
    assert e is not None
    for off in (e.local + 6, e.cd_start + 8):
        src[off] |= 0x01
    with pytest.raises(MalformedInput, match="encrypted"):
        H.read(bytes(src))


def test_custom_xml_with_prefixes_and_self_closing_root() -> None:
    raw = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<op:Properties xmlns:op="{ooxml.NS_CUSTOM}" xmlns:v="{ooxml.NS_VT}"/>'
    ).encode()
    new = ooxml.edit_custom_xml(raw, RECORD.to_json())
    assert new.endswith(
        b'<op:Properties xmlns:op="'
        + ooxml.NS_CUSTOM.encode()
        + b'" xmlns:v="'
        + ooxml.NS_VT.encode()
        + b'"><op:property fmtid="'
        + ooxml.FMTID.encode()
        + b'" pid="2" name="AIGC"><v:lpwstr>'
        + RECORD.to_json().encode()
        + b"</v:lpwstr></op:property></op:Properties>"
    )
    utf16 = ("\ufeff" + raw.decode().replace("UTF-8", "UTF-16")).encode("utf-16-le")
    out16 = ooxml.edit_custom_xml(b"\xff\xfe" + utf16[2:], RECORD.to_json())
    assert out16.decode("utf-16").count("AIGC") == 1
    with pytest.raises(MalformedInput):
        ooxml.edit_custom_xml(b'<!DOCTYPE x [<!ENTITY a "b">]><Properties/>', "{}")
