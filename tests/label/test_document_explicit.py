"""Explicit labels inside documents: PDF first page and DOCX page header."""

from __future__ import annotations

import io
import shutil
import subprocess
import zipfile
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest
from PIL import Image, ImageChops

from synthlabel.errors import MalformedInput, UnsupportedFormat
from synthlabel.label.document import (
    DEFAULT_DOCUMENT_NOTICE,
    FALLBACK_DOCUMENT_NOTICE,
    PDF_MARKER,
    DocumentNoticeError,
    SignedDocument,
    add_docx_notice,
    add_pdf_notice,
    docx_header_texts,
    pdf_has_notice,
)
from synthlabel.label.visible import LabelTextError

try:
    import pikepdf
except ImportError:  # pragma: no cover - pikepdf is optional; the DOCX tests still run
    pikepdf = None

needs_pikepdf = pytest.mark.skipif(pikepdf is None, reason="pikepdf not installed")

# =============================================================================================
# PDF fixtures (built with pikepdf: plain Helvetica text pages)


def make_pdf(
    pages: int = 3,
    *,
    rotate: int = 0,
    inherited: bool = False,
    first_content: bytes | None = None,
    size: tuple[float, float] = (595, 842),
    crop: list[float] | None = None,
) -> bytes:
    pdf = pikepdf.Pdf.new()
    font = pdf.make_indirect(
        pikepdf.Dictionary(
            Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type1, BaseFont=pikepdf.Name.Helvetica
        )
    )
    resources = pdf.make_indirect(pikepdf.Dictionary(Font=pikepdf.Dictionary(F1=font)))
    for i in range(pages):
        pdf.add_blank_page(page_size=size)
        page = pdf.pages[i].obj
        content = f"BT /F1 36 Tf 72 {size[1] - 120} Td (Page {i + 1}) Tj ET".encode()
        if i == 0 and first_content is not None:
            content = first_content
        page.Contents = pdf.make_stream(content)
        if inherited:
            del page["/Resources"]
            del page["/MediaBox"]
        else:
            page.Resources = resources  # one indirect dictionary shared by all pages
    if inherited:
        pdf.Root.Pages.Resources = resources
        pdf.Root.Pages.MediaBox = [0, 0, *size]
    if rotate:
        pdf.pages[0].obj.Rotate = rotate
    if crop:
        pdf.pages[0].obj.CropBox = crop
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


def opened(data: bytes) -> Any:
    """Open without pushing inherited attributes onto the pages (shows the file as it is)."""
    return pikepdf.open(io.BytesIO(data), inherit_page_attributes=False)


def content_bytes(page: Any) -> bytes:
    contents = page.obj.get("/Contents")
    streams = list(contents) if isinstance(contents, pikepdf.Array) else [contents]
    return b"".join(s.read_bytes() for s in streams)


def render(data: bytes, tmp_path: Path, page: int = 1, dpi: int = 50) -> Image.Image:
    if not shutil.which("pdftoppm"):
        pytest.skip("pdftoppm (poppler-utils) not installed")
    tmp_path.mkdir(parents=True, exist_ok=True)
    src = tmp_path / "in.pdf"
    src.write_bytes(data)
    prefix = tmp_path / f"page{page}"
    subprocess.run(
        [
            "pdftoppm",
            "-r",
            str(dpi),
            "-f",
            str(page),
            "-l",
            str(page),
            "-singlefile",
            "-gray",
            "-png",
            str(src),
            str(prefix),
        ],
        check=True,
        capture_output=True,
    )
    with Image.open(f"{prefix}.png") as im:
        return im.convert("L")


def ink(im: Image.Image, box: tuple[float, float, float, float]) -> int:
    """Dark pixels in a box given as fractions of the page (left, top, right, bottom)."""
    w, h = im.size
    region = im.crop((int(box[0] * w), int(box[1] * h), int(box[2] * w), int(box[3] * h)))
    return sum(region.point(lambda v: 255 if v < 128 else 0).histogram()[255:])


BOTTOM = (0.25, 0.9, 0.75, 1.0)
TOP = (0.25, 0.0, 0.75, 0.1)


@needs_pikepdf
def test_pdf_footer_on_the_first_page_only(tmp_path: Path) -> None:
    data = make_pdf()
    out = add_pdf_notice(data)
    before, after = opened(data), opened(out)
    assert len(after.pages) == len(before.pages) == 3
    # Page 1: a marked image XObject in its own resources.
    xobjects = after.pages[0].obj.Resources.XObject
    images = [xo for _, xo in xobjects.items() if PDF_MARKER in xo]
    assert len(images) == 1
    assert images[0].Subtype == "/Image" and images[0].ColorSpace == "/DeviceGray"
    assert str(images[0][PDF_MARKER]) in (DEFAULT_DOCUMENT_NOTICE, FALLBACK_DOCUMENT_NOTICE)
    # Other pages: content streams identical, resources still without the image.
    for i in (1, 2):
        assert content_bytes(after.pages[i]) == content_bytes(before.pages[i])
        assert "/XObject" not in after.pages[i].obj.Resources
    # Page 1's own content is kept inside q ... Q.
    assert content_bytes(before.pages[0]) in content_bytes(after.pages[0])
    # Rendered: the notice is at the bottom centre, the rest of the page is unchanged.
    im_before, im_after = render(data, tmp_path / "a"), render(out, tmp_path / "b")
    assert ink(im_before, BOTTOM) == 0
    assert ink(im_after, BOTTOM) > 20
    w, h = im_after.size
    top_part = (0, 0, w, int(h * 0.85))
    assert (
        ImageChops.difference(im_before.crop(top_part), im_after.crop(top_part)).getbbox() is None
    )
    assert (
        render(out, tmp_path / "c", page=2).tobytes()
        == render(data, tmp_path / "d", page=2).tobytes()
    )


@needs_pikepdf
def test_pdf_header(tmp_path: Path) -> None:
    out = add_pdf_notice(make_pdf(1), position="header")
    im = render(out, tmp_path)
    assert ink(im, TOP) > 20 and ink(im, BOTTOM) == 0


@needs_pikepdf
def test_pdf_idempotent() -> None:
    data = make_pdf()
    out = add_pdf_notice(data)
    assert pdf_has_notice(out) and not pdf_has_notice(data)
    assert add_pdf_notice(out) == out


@needs_pikepdf
def test_pdf_inherited_attributes(tmp_path: Path) -> None:
    data = make_pdf(inherited=True)
    out = add_pdf_notice(data)
    after = opened(out)
    assert "/XObject" in after.pages[0].obj.Resources
    for i in (1, 2):  # still inheriting from the page tree, untouched
        assert "/Resources" not in after.pages[i].obj
    assert "/XObject" not in after.Root.Pages.Resources
    assert ink(render(out, tmp_path), BOTTOM) > 20


@needs_pikepdf
def test_pdf_unbalanced_graphics_state(tmp_path: Path) -> None:
    # Page 1 leaves a scaled, translated CTM behind (and one extra Q before it).
    content = b"Q q q 0.25 0 0 0.25 300 400 cm BT /F1 36 Tf 0 0 Td (tiny) Tj ET"
    out = add_pdf_notice(make_pdf(1, first_content=content))
    im = render(out, tmp_path)
    assert ink(im, BOTTOM) > 20  # full size at the bottom, not scaled into the middle
    assert ink(im, (0.0, 0.3, 1.0, 0.85)) < 200


@needs_pikepdf
@pytest.mark.parametrize("rotate", [90, 180, 270])
@needs_pikepdf
def test_pdf_rotated_page(tmp_path: Path, rotate: int) -> None:
    out = add_pdf_notice(make_pdf(1, rotate=rotate, crop=[40, 40, 555, 800]))
    im = render(out, tmp_path)
    assert ink(im, BOTTOM) > 20  # at the bottom as displayed
    assert ink(im, (0.0, 0.0, 1.0, 0.85)) > 0  # the page text is still there
    im.close()


@needs_pikepdf
def test_pdf_small_and_landscape_pages(tmp_path: Path) -> None:
    out = add_pdf_notice(make_pdf(1, size=(200, 100)))
    assert ink(render(out, tmp_path, dpi=150), BOTTOM) > 5
    wide = add_pdf_notice(make_pdf(1, size=(842, 595)))
    assert ink(render(wide, tmp_path / "w"), BOTTOM) > 20
    with pytest.raises(DocumentNoticeError):
        add_pdf_notice(make_pdf(1, size=(20, 20)))


@needs_pikepdf
def test_pdf_signed_is_refused() -> None:
    pdf = pikepdf.open(io.BytesIO(make_pdf(1)))
    pdf.Root.AcroForm = pikepdf.Dictionary(SigFlags=3, Fields=pikepdf.Array())
    buf = io.BytesIO()
    pdf.save(buf)
    with pytest.raises(SignedDocument):
        add_pdf_notice(buf.getvalue())
    assert pdf_has_notice(add_pdf_notice(buf.getvalue(), allow_signed=True))


@needs_pikepdf
def test_pdf_encrypted_and_broken() -> None:
    pdf = pikepdf.open(io.BytesIO(make_pdf(1)))
    buf = io.BytesIO()
    pdf.save(buf, encryption=pikepdf.Encryption(owner="o", user="u"))
    with pytest.raises(UnsupportedFormat):
        add_pdf_notice(buf.getvalue())
    buf = io.BytesIO()
    pdf.save(buf, encryption=pikepdf.Encryption(owner="o", user=""))
    with pytest.raises(UnsupportedFormat):
        add_pdf_notice(buf.getvalue())
    with pytest.raises(MalformedInput):
        add_pdf_notice(b"not a pdf at all")


@needs_pikepdf
def test_pdf_text_and_font_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(LabelTextError):
        add_pdf_notice(make_pdf(1), text="本文档由机器写成")
    with pytest.raises(DocumentNoticeError):
        add_pdf_notice(make_pdf(1), position="left")
    # Without system fonts the shipped subset lacks 文/档: the default falls back.
    monkeypatch.setenv("SYNTHLABEL_FC_MATCH", "")
    monkeypatch.delenv("SYNTHLABEL_FONT", raising=False)
    out = pikepdf.open(io.BytesIO(add_pdf_notice(make_pdf(1))))
    image = next(xo for _, xo in out.pages[0].obj.Resources.XObject.items() if PDF_MARKER in xo)
    assert str(image[PDF_MARKER]) == FALLBACK_DOCUMENT_NOTICE
    custom = pikepdf.open(io.BytesIO(add_pdf_notice(make_pdf(1), text="AI生成内容")))
    image = next(xo for _, xo in custom.pages[0].obj.Resources.XObject.items() if PDF_MARKER in xo)
    assert str(image[PDF_MARKER]) == "AI生成内容"


# =============================================================================================
# DOCX fixtures

W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
R = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PR = "http://schemas.openxmlformats.org/package/2006/relationships"
CT = "http://schemas.openxmlformats.org/package/2006/content-types"
HEADER_TYPE = R + "/header"

CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    f'<Types xmlns="{CT}"><Default Extension="rels" '
    'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-'
    'officedocument.wordprocessingml.document.main+xml"/></Types>'
)
ROOT_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    f'<Relationships xmlns="{PR}"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org'
    '/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/>'
    "</Relationships>"
)
DOC_HEAD = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    f'<w:document xmlns:wpc="http://schemas.microsoft.com/office/word/2010/wordprocessingCanvas" '
    f'xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006" xmlns:r="{R}" '
    f'xmlns:w="{W}" xmlns:w14="http://schemas.microsoft.com/office/word/2010/wordml" '
    'mc:Ignorable="w14">'
)


def make_docx(body: str, *, rels: str | None = "", extra: dict[str, bytes] | None = None) -> bytes:
    members: dict[str, bytes] = {
        "[Content_Types].xml": CONTENT_TYPES.encode(),
        "_rels/.rels": ROOT_RELS.encode(),
        "word/document.xml": (DOC_HEAD + f"<w:body>{body}</w:body></w:document>").encode(),
        "docProps/thumbnail.jpeg": bytes(range(256)) * 4,
    }
    if rels is not None:
        members["word/_rels/document.xml.rels"] = (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<Relationships xmlns="{PR}">{rels}'
            "</Relationships>"
        ).encode()
    members.update(extra or {})
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, content in members.items():
            method = zipfile.ZIP_STORED if name.endswith(".jpeg") else zipfile.ZIP_DEFLATED
            z.writestr(zipfile.ZipInfo(name, (2024, 5, 6, 7, 8, 10)), content, method)
    return buf.getvalue()


SECT = '<w:sectPr w:rsidR="00A1"><w:pgSz w:w="11906" w:h="16838"/></w:sectPr>'
PARA = "<w:p><w:r><w:t>正文</w:t></w:r></w:p>"


def check_package(out: bytes, original: bytes) -> zipfile.ZipFile:
    """The zip is valid, every XML part parses, every original member is kept as it was."""
    z = zipfile.ZipFile(io.BytesIO(out))
    assert z.testzip() is None
    for name in z.namelist():
        if name.endswith((".xml", ".rels")):
            ET.fromstring(z.read(name))
    src = zipfile.ZipFile(io.BytesIO(original))
    names = z.namelist()
    assert names[: len(src.namelist())] == src.namelist()  # same order, new parts at the end
    changed = {"[Content_Types].xml", "word/document.xml", "word/_rels/document.xml.rels"}
    for info in src.infolist():
        new = z.getinfo(info.filename)
        assert new.date_time == info.date_time
        if info.filename in changed or info.filename.startswith("word/header"):
            continue
        assert new.compress_type == info.compress_type
        assert z.read(info.filename) == src.read(info.filename)
    return z


def header_refs(z: zipfile.ZipFile) -> list[tuple[str, str]]:
    """(type, header part) of every headerReference in the first sectPr, resolved."""
    doc = ET.fromstring(z.read("word/document.xml"))
    rels = ET.fromstring(z.read("word/_rels/document.xml.rels"))
    targets = {r.get("Id"): r.get("Target") for r in rels if r.get("Type") == HEADER_TYPE}
    sect = next(doc.iter(f"{{{W}}}sectPr"))
    out = []
    for ref in sect.findall(f"{{{W}}}headerReference"):
        target = targets[ref.get(f"{{{R}}}id")]
        out.append((ref.get(f"{{{W}}}type") or "", "word/" + (target or "")))
    return out


def content_type_of(z: zipfile.ZipFile, part: str) -> str | None:
    types = ET.fromstring(z.read("[Content_Types].xml"))
    for o in types.findall(f"{{{CT}}}Override"):
        if o.get("PartName") == "/" + part:
            return o.get("ContentType")
    return None


def header_text(z: zipfile.ZipFile, part: str) -> str:
    root = ET.fromstring(z.read(part))
    return "".join(t.text or "" for t in root.iter(f"{{{W}}}t"))


def test_docx_new_default_header() -> None:
    data = make_docx(PARA + SECT)
    out = add_docx_notice(data)
    z = check_package(out, data)
    refs = header_refs(z)
    assert refs == [("default", "word/header1.xml")]
    assert header_text(z, "word/header1.xml") == DEFAULT_DOCUMENT_NOTICE
    assert content_type_of(z, "word/header1.xml") == (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.header+xml"
    )
    doc = z.read("word/document.xml").decode()
    assert doc.startswith(DOC_HEAD)  # namespace declarations and mc:Ignorable kept
    assert '<w:sectPr w:rsidR="00A1"><w:headerReference w:type="default" r:id="rId1"/>' in doc
    assert docx_header_texts(out) == {"word/header1.xml": DEFAULT_DOCUMENT_NOTICE}
    assert add_docx_notice(out) == out


def test_docx_without_sectpr_or_rels_part() -> None:
    data = make_docx(PARA, rels=None)
    out = add_docx_notice(data, text="AI生成内容")
    z = check_package(out, data)
    assert "word/_rels/document.xml.rels" in z.namelist()
    assert header_refs(z) == [("default", "word/header1.xml")]
    assert header_text(z, "word/header1.xml") == "AI生成内容"
    assert add_docx_notice(out, text="AI生成内容") == out


def test_docx_existing_headers_and_title_page() -> None:
    header = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<w:hdr xmlns:w="{W}">'
        "<w:p><w:r><w:t>公司页眉</w:t></w:r></w:p></w:hdr>"
    )
    sect = (
        '<w:sectPr><w:headerReference w:type="default" r:id="rId7"/>'
        '<w:pgSz w:w="11906" w:h="16838"/><w:titlePg/></w:sectPr>'
    )
    rels = f'<Relationship Id="rId7" Type="{HEADER_TYPE}" Target="header1.xml"/>'
    data = make_docx(PARA + sect, rels=rels, extra={"word/header1.xml": header.encode()})
    out = add_docx_notice(data)
    z = check_package(out, data)
    refs = dict(header_refs(z))
    assert refs["default"] == "word/header1.xml"
    assert refs["first"] == "word/header2.xml"  # new part, no name clash
    assert header_text(z, "word/header1.xml") == DEFAULT_DOCUMENT_NOTICE + "公司页眉"
    assert header_text(z, "word/header2.xml") == DEFAULT_DOCUMENT_NOTICE
    assert add_docx_notice(out) == out


def test_docx_several_sections_first_one_labelled() -> None:
    first_sect = f"<w:p><w:pPr>{SECT}</w:pPr></w:p>"
    body = PARA + first_sect + PARA + '<w:sectPr><w:pgSz w:w="16838" w:h="11906"/></w:sectPr>'
    out = add_docx_notice(make_docx(body))
    z = zipfile.ZipFile(io.BytesIO(out))
    doc = ET.fromstring(z.read("word/document.xml"))
    sects = list(doc.iter(f"{{{W}}}sectPr"))
    assert len(sects[0].findall(f"{{{W}}}headerReference")) == 1
    assert sects[1].findall(f"{{{W}}}headerReference") == []  # inherits section 1's header


def test_docx_self_closing_sectpr_and_strict_namespace() -> None:
    out = add_docx_notice(make_docx(PARA + "<w:sectPr/>"))
    z = zipfile.ZipFile(io.BytesIO(out))
    assert header_refs(z) == [("default", "word/header1.xml")]
    strict_w = "http://purl.oclc.org/ooxml/wordprocessingml/main"
    strict_r = "http://purl.oclc.org/ooxml/officeDocument/relationships"
    head = DOC_HEAD.replace(W, strict_w).replace(R, strict_r)
    data = make_docx("")
    buf = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(buf, "w") as dst:
        for info in src.infolist():
            body = src.read(info)
            if info.filename == "word/document.xml":
                body = (head + f"<w:body>{PARA}<w:sectPr/></w:body></w:document>").encode()
            dst.writestr(info, body)
    out = add_docx_notice(buf.getvalue())
    z = zipfile.ZipFile(io.BytesIO(out))
    rels = z.read("word/_rels/document.xml.rels").decode()
    assert strict_r + "/header" in rels
    hdr = ET.fromstring(z.read("word/header1.xml"))
    assert hdr.tag == f"{{{strict_w}}}hdr"


def test_docx_with_python_docx() -> None:
    docx = pytest.importorskip("docx")
    d = docx.Document()
    d.add_paragraph("第一页")
    d.add_page_break()
    d.add_paragraph("第二页")
    buf = io.BytesIO()
    d.save(buf)
    data = buf.getvalue()
    out = add_docx_notice(data)
    check_package(out, data)
    again = docx.Document(io.BytesIO(out))
    assert [p.text for p in again.sections[0].header.paragraphs] == [DEFAULT_DOCUMENT_NOTICE]
    assert [p.text for p in again.paragraphs if p.text] == ["第一页", "第二页"]
    # An existing header and a different first page.
    d = docx.Document()
    d.sections[0].header.paragraphs[0].text = "页眉"
    d.sections[0].different_first_page_header_footer = True
    d.add_paragraph("x")
    buf = io.BytesIO()
    d.save(buf)
    out = add_docx_notice(buf.getvalue())
    again = docx.Document(io.BytesIO(out))
    s = again.sections[0]
    assert [p.text for p in s.header.paragraphs] == [DEFAULT_DOCUMENT_NOTICE, "页眉"]
    assert [p.text for p in s.first_page_header.paragraphs] == [DEFAULT_DOCUMENT_NOTICE]


def test_docx_errors() -> None:
    with pytest.raises(UnsupportedFormat):
        add_docx_notice(b"PK\x03\x04 not really a zip")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("hello.txt", "x")
    with pytest.raises(UnsupportedFormat):
        add_docx_notice(buf.getvalue())
    evil = make_docx("").replace(b"", b"")
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaa">]>'
        f'<w:document xmlns:w="{W}"><w:body/></w:document>'
    )
    buf = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(evil)) as src, zipfile.ZipFile(buf, "w") as dst:
        for info in src.infolist():
            dst.writestr(
                info, bomb.encode() if info.filename == "word/document.xml" else src.read(info)
            )
    with pytest.raises(MalformedInput):
        add_docx_notice(buf.getvalue())
    with pytest.raises(LabelTextError):
        add_docx_notice(make_docx(PARA), text="仅供参考")
