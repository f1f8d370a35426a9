"""PDF: Info /AIGC by incremental update, checked with pikepdf (qpdf) and poppler."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from pathlib import Path

import pytest

pikepdf = pytest.importorskip("pikepdf")

from synthlabel.errors import MalformedInput, SynthlabelError, UnsupportedFormat  # noqa: E402
from synthlabel.formats import _xmp, pdf  # noqa: E402
from synthlabel.formats.base import LabelWrite  # noqa: E402
from synthlabel.inspect.reader import inspect_bytes  # noqa: E402
from synthlabel.model.aigc import AIGCRecord, parse_record  # noqa: E402
from tests.fixtures import documents as fx  # noqa: E402

RECORD = AIGCRecord(
    content_producer="001191110000MA0000000H10001", produce_id="01JD3Q8W5Z6V7K2M4N8P0R2S4T"
)
OTHER = RECORD.replace(content_propagator="001191440300MA0000001L20000", propagate_id="42")
LW = LabelWrite(RECORD.to_json())
H = pdf.HANDLER
SAMPLES = list(fx.SAMPLES["pdf"].items())
needs_poppler = pytest.mark.skipif(not shutil.which("pdfinfo"), reason="poppler-utils missing")


def info(data: bytes) -> dict[str, str]:
    with pikepdf.open(io.BytesIO(data), attempt_recovery=False) as p:
        assert p.get_warnings() == []
        return {k: str(v) for k, v in p.docinfo.items()}


def aigc(data: bytes) -> list[AIGCRecord]:
    return [parse_record(c.data).record for c in H.read(data).carriers if c.kind == "aigc"]


@pytest.mark.parametrize(("name", "make"), SAMPLES)
def test_update_is_appended_and_keeps_everything(name: str, make: object) -> None:
    src = make()  # type: ignore[operator]
    out = H.write_label(src, LW)
    assert out.startswith(src), "original bytes must stay a prefix (signatures stay valid)"
    before = info(src) if b"/Info" in src else {}
    after = info(out)
    assert after.pop("/AIGC") == RECORD.to_json()
    assert after == before
    assert fx.fingerprint("pdf", out) == fx.fingerprint("pdf", src)
    assert aigc(out) == [RECORD]


def test_update_uses_the_same_kind_of_cross_reference_section() -> None:
    classic = fx.pdf()
    tail = H.write_label(classic, LW)[len(classic) :]
    assert (
        b"\nxref\n6 1\n" in tail
        and b"/Prev %d" % int(re.findall(rb"startxref\s+(\d+)", classic)[-1]) in tail
    )
    packed = fx.pdf_object_streams()
    tail = H.write_label(packed, LW)[len(packed) :]
    assert b"/Type /XRef" in tail and b"\nxref\n" not in tail


def test_prior_incremental_update_is_respected() -> None:
    src = fx.pdf_incremental()
    out = H.write_label(src, LW)
    assert info(out)["/Title"] == "Revised title"  # the latest Info, not the first one
    twice = H.write_label(out, LabelWrite(OTHER.to_json()))
    assert twice.startswith(out)
    assert info(twice)["/AIGC"] == OTHER.to_json()
    assert aigc(twice) == [OTHER]
    assert twice.count(b"%%EOF") == 4


def test_unchanged_record_writes_nothing() -> None:
    out = H.write_label(fx.pdf(), LW)
    assert H.write_label(out, LW) is out


@needs_poppler
@pytest.mark.parametrize(("name", "make"), SAMPLES)
def test_poppler_reads_the_label(tmp_path: Path, name: str, make: object) -> None:
    path = tmp_path / "x.pdf"
    path.write_bytes(H.write_label(H.write_label(make(), LW), LabelWrite(OTHER.to_json())))  # type: ignore[operator]
    values = fx.independent_aigc(path)
    assert values and parse_record(values[0]).record == OTHER
    res = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=False)
    assert res.returncode == 0 and "Syntax Error" not in res.stderr, res.stderr


def _pdf_with_xmp_record() -> bytes:
    packet = _xmp.update_packet(fx.XMP, aigc_json=OTHER.to_json())
    objs = fx._page_objects(b"XMP labelled", flate=True, info=True, xmp=True)
    objs[7] = fx._stream(packet, b" /Type /Metadata /Subtype /XML")
    return fx._classic(objs, info=True)


def test_an_xmp_copy_of_the_record_is_removed_by_default() -> None:
    src = _pdf_with_xmp_record()
    meta = H.read(src)
    assert [c.kind for c in meta.carriers] == ["xmp"]
    out = H.write_label(src, LW)
    assert out.startswith(src)
    meta = H.read(out)
    assert aigc(out) == [RECORD]
    (packet,) = [c.data for c in meta.carriers if c.kind == "xmp"]
    fields = _xmp.read_fields(packet)
    assert fields.aigc == () and fields.well_formed
    assert b'pdf:Producer="fixture-generator"' in packet and b"DigitalSourceType" in packet
    report = inspect_bytes(out, path="x.pdf")
    assert report.compliance.value == "compliant" and len(report.records) == 1


def test_xmp_mirror_mode_writes_both_copies() -> None:
    mirror = pdf.PdfHandler(xmp_mirror=True)
    for src in (fx.pdf(), fx.pdf_minimal(), fx.pdf_object_streams()):
        out = mirror.write_label(src, LW)
        assert out.startswith(src)
        meta = mirror.read(out)
        xmp = [c.data for c in meta.carriers if c.kind == "xmp"]
        assert len(xmp) == 1 and _xmp.read_fields(xmp[0]).aigc == (RECORD.to_json(),)
        assert aigc(out) == [RECORD]
        with pikepdf.open(io.BytesIO(out), attempt_recovery=False) as p:
            assert p.Root.Metadata.Type == "/Metadata"
        assert mirror.write_label(out, LW) == out


def test_info_key_variants_and_hex_strings_are_read_and_replaced() -> None:
    hexval = RECORD.to_json().encode().hex().encode()
    src = fx._classic(
        {
            **fx._page_objects(b"v", flate=False, info=True, xmp=False),
            6: b"<< /aigc <" + hexval + b"> /Title (t) >>",
        },
        info=True,
    )
    meta = H.read(src)
    assert aigc(src) == [RECORD]
    assert any("/aigc" in w for w in meta.warnings)
    out = H.write_label(src, LabelWrite(OTHER.to_json()))
    assert info(out) == {"/Title": "t", "/AIGC": OTHER.to_json()}


def test_encrypted_pdf_is_refused_for_writing() -> None:
    with pikepdf.open(io.BytesIO(fx.pdf())) as p:
        buf = io.BytesIO()
        p.save(buf, encryption=pikepdf.Encryption(owner="owner", user="", R=6))
    data = buf.getvalue()
    assert H.read(data).carriers is not None
    with pytest.raises(UnsupportedFormat, match="encrypted"):
        H.write_label(data, LW)


def test_broken_cross_reference_is_malformed_not_repaired() -> None:
    src = fx.pdf()
    xref = int(re.findall(rb"startxref\s+(\d+)", src)[-1])
    bad = src[:-12] + str(xref - 5).encode() + b"\n%%EOF\n"
    for broken in (
        bad,
        src.replace(b"xref\n0 8", b"xref\n0 9"),
        src[: len(src) // 2],
        b"%PDF-1.7\n",
    ):
        with pytest.raises(MalformedInput):
            H.write_label(broken, LW)
    with pytest.raises(MalformedInput):
        H.read(b"not a pdf")


def test_content_digest_covers_pages_not_metadata() -> None:
    src = fx.pdf()
    d = H.content_digest(src)
    assert H.content_digest(H.write_label(src, LW)) == d
    assert H.content_digest(src.replace(b"/Helvetica", b"/Courier--")) != d  # resources
    # A full re-save by qpdf (renumbered objects, object streams, recompressed streams)
    # keeps the digest: objects are hashed by value, Flate streams decoded.
    with pikepdf.open(io.BytesIO(src)) as p:
        buf = io.BytesIO()
        p.save(
            buf,
            object_stream_mode=pikepdf.ObjectStreamMode.generate,
            recompress_flate=True,
            compress_streams=True,
        )
    assert H.content_digest(buf.getvalue()) == d
    assert d.selector == "synthlabel.pdf.v1"


def test_broken_page_tree_has_no_digest() -> None:
    src = fx.pdf_minimal().replace(b"/Kids [3 0 R]", b"/Kids [4 0 R]")
    with pytest.raises(MalformedInput, match="no pages"):
        H.content_digest(src)


def test_garbage_after_eof_and_missing_final_newline() -> None:
    src = fx.pdf()
    for variant in (src + b"\x00" * 7, src.rstrip(b"\n")):
        try:
            out = H.write_label(variant, LW)
        except SynthlabelError:
            continue  # qpdf refuses without recovery: typed error is fine
        assert out.startswith(variant) and info(out)["/AIGC"] == RECORD.to_json()
