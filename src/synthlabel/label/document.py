"""Explicit labels inside exported documents: PDF (first page) and DOCX (page header).

GB 45438 §5.1 and the Measures Art. 4 ask that an exported file carries the explicit label
itself (e.g. a first paragraph or a document header/footer). Both functions keep everything
else in the file.

PDF (:func:`add_pdf_notice`)
    The notice is drawn on the **first page** as a small image: rendered with Pillow and the
    label font (shipped subset, else a system CJK font, see :mod:`synthlabel.label.fonts`) at
    300 dpi, stored as an 8-bit DeviceGray image XObject (Flate), placed centred at the bottom
    (``footer``) or top (``header``) of the visible page (CropBox, ``/Rotate`` honoured), dark
    text on a white plate so it stays legible on any page. Why an image and not text: text
    needs an embedded CJK font subset (CID font, widths, ToUnicode), which is a lot of
    machinery for one line; an image is robust in every viewer and printer. The cost: text
    extraction (``pdftotext``) does not see it; the drawing is wrapped in ``/Span`` marked
    content with ``/ActualText`` for tools that read it, and machines read the implicit
    ``/AIGC`` record anyway. The page's existing content is wrapped in ``q``/``Q`` (balanced
    for pages that leave the graphics state changed) and page 1 gets its own copy of its
    resource dictionary, so no other page, content stream or object changes. The file is
    rewritten by qpdf (pikepdf), not incrementally updated, so signed PDFs are refused unless
    ``allow_signed=True``. Requires ``pikepdf``.

DOCX (:func:`add_docx_notice`)
    A centred 9 pt grey paragraph at the top of the page header. The first section gets a
    default header (``word/headerN.xml``, a relationship and a ``w:headerReference`` in its
    ``w:sectPr``) when it has none, and a first-page header too when it uses a different first
    page (``w:titlePg``); every header part already referenced by any section gets the
    paragraph as its first block. The package is edited as a zip: changed XML parts are
    patched by byte offsets (no re-serialisation, so namespace declarations,
    ``mc:Ignorable`` and everything else stay as they were); every other member is copied
    with the same name, order, timestamp, compression method and content bytes.
"""

from __future__ import annotations

import html as _html
import importlib
import io
import math
import posixpath
import re
import zipfile
import zlib
from dataclasses import dataclass, field
from typing import Any
from xml.parsers import expat

from PIL import Image, ImageDraw

from synthlabel.errors import LimitExceeded, MalformedInput, SynthlabelError, UnsupportedFormat
from synthlabel.label.fonts import MissingGlyphs, load_font, resolve_font
from synthlabel.label.visible import LabelTextError, check_label_text

__all__ = [
    "DEFAULT_DOCUMENT_NOTICE",
    "DocumentNoticeError",
    "SignedDocument",
    "add_docx_notice",
    "add_pdf_notice",
    "docx_header_texts",
    "pdf_has_notice",
]

#: Default document notice (GB 45438 elements: 人工智能 + 生成).
DEFAULT_DOCUMENT_NOTICE = "本文档由人工智能生成"
#: Used instead of the default when no available font has 文/档 (the shipped subset lacks
#: them; Debian's fonts-noto-cjk has them): same elements, covered by the shipped subset.
FALLBACK_DOCUMENT_NOTICE = "本内容由人工智能生成"
PDF_POSITIONS = ("footer", "header")
#: Render resolution of the PDF notice image.
PDF_NOTICE_DPI = 300
#: Smallest text size (points) a notice is drawn at; smaller pages are refused.
MIN_FONT_PT = 4.0
#: Private key marking the notice image XObject (idempotency).
PDF_MARKER = "/SynthlabelNotice"
#: Largest XML part of a DOCX this module parses.
MAX_XML_PART_BYTES = 128 * 1024 * 1024
#: Most members in a DOCX zip.
MAX_ZIP_MEMBERS = 100_000


class DocumentNoticeError(SynthlabelError):
    """A notice could not be added to a document."""


class SignedDocument(DocumentNoticeError):
    """The document is digitally signed; rewriting it would invalidate the signature."""


def _check_text(text: str) -> str:
    problems = check_label_text(text)
    if problems:
        raise LabelTextError(f"notice text {text!r}: " + "; ".join(problems))
    if "\n" in text.strip() or "\r" in text.strip():
        raise DocumentNoticeError("a document notice is one line of text")
    return text.strip()


# =============================================================================================
# PDF

Matrix = tuple[float, float, float, float, float, float]


def _mul(m1: Matrix, m2: Matrix) -> Matrix:
    a1, b1, c1, d1, e1, f1 = m1
    a2, b2, c2, d2, e2, f2 = m2
    return (
        a1 * a2 + b1 * c2,
        a1 * b2 + b1 * d2,
        c1 * a2 + d1 * c2,
        c1 * b2 + d1 * d2,
        e1 * a2 + f1 * c2 + e2,
        e1 * b2 + f1 * d2 + f2,
    )


def _display_to_user(box: tuple[float, float, float, float], rotate: int) -> Matrix:
    """Maps displayed page coordinates (origin bottom-left as shown) to user space."""
    x0, y0, x1, y1 = box
    return {
        0: (1.0, 0.0, 0.0, 1.0, x0, y0),
        90: (0.0, 1.0, -1.0, 0.0, x1, y0),
        180: (-1.0, 0.0, 0.0, -1.0, x1, y1),
        270: (0.0, -1.0, 1.0, 0.0, x0, y1),
    }[rotate]


@dataclass(frozen=True)
class _Rendered:
    pixels: bytes  # 8-bit grey, row-major
    width: int
    height: int
    text: str


def _render_notice(text: str, font_pt: float, font_path: str | None) -> _Rendered:
    try:
        choice, _notes = resolve_font(text, font_path)
    except MissingGlyphs:
        if text != DEFAULT_DOCUMENT_NOTICE:
            raise
        text = FALLBACK_DOCUMENT_NOTICE
        choice, _notes = resolve_font(text, font_path)
    scale = PDF_NOTICE_DPI / 72.0
    px = max(8, round(font_pt * scale))
    font = load_font(choice.path, choice.index, px)
    ascent, descent = font.getmetrics()
    pad_x, pad_y = round(px * 0.6), round(px * 0.3)
    border = max(1, round(scale * 0.5))
    width = math.ceil(font.getlength(text)) + 2 * pad_x
    height = ascent + descent + 2 * pad_y
    img = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, 0, width - 1, height - 1), outline=150, width=border)
    draw.text((pad_x, pad_y), text, font=font, fill=25)
    return _Rendered(img.tobytes(), width, height, text)


def _inherited(page: Any, key: str) -> Any:
    node: Any = page
    seen: set[tuple[int, int]] = set()
    for _ in range(64):
        if node is None:
            return None
        if key in node:
            return node[key]
        if getattr(node, "is_indirect", False):
            og = node.objgen
            if og in seen:
                return None
            seen.add(og)
        node = node.get("/Parent")
    return None


def _box(value: Any) -> tuple[float, float, float, float] | None:
    try:
        nums = [float(v) for v in value]
    except (TypeError, ValueError):
        return None
    if len(nums) != 4:
        return None
    x0, y0, x1, y1 = nums
    box = (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
    return box if box[2] - box[0] > 1 and box[3] - box[1] > 1 else None


def _q_balance(pikepdf_mod: Any, page: Any) -> tuple[int, int]:
    """(q operators to prepend, Q operators to append) so the page ends in its initial state."""
    depth = low = 0
    try:
        for item in pikepdf_mod.parse_content_stream(page, "q Q"):
            op = str(item.operator)
            if op == "q":
                depth += 1
            elif op == "Q":
                depth -= 1
                low = min(low, depth)
    except (pikepdf_mod.PdfError, ValueError):
        return 1, 1
    pre = max(1, -low)
    return pre, pre + depth


def _is_signed(pdf: Any) -> bool:
    root = pdf.Root
    if "/Perms" in root:
        return True
    acro = root.get("/AcroForm")
    if acro is None:
        return False
    try:
        if int(acro.get("/SigFlags", 0)) & 1:
            return True
    except (TypeError, ValueError):
        pass
    fields = acro.get("/Fields")
    for f in list(fields)[:10_000] if fields is not None else []:
        if f.get("/FT") == "/Sig" and f.get("/V") is not None:
            return True
    return False


def _xobjects(resources: Any) -> Any:
    if resources is None:
        return None
    return resources.get("/XObject")


def _has_marker(page: Any) -> bool:
    xobjects = _xobjects(_inherited(page, "/Resources"))
    if xobjects is None:
        return False
    for _name, xo in xobjects.items():
        try:
            if PDF_MARKER in xo:
                return True
        except (TypeError, AttributeError):
            continue
    return False


def _import_pikepdf() -> Any:
    # Imported by name: pikepdf is an optional dependency, and type checking must not need it.
    try:
        return importlib.import_module("pikepdf")
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise DocumentNoticeError("PDF notices need pikepdf (pip install pikepdf)") from exc


def _open_pdf(pikepdf_mod: Any, data: bytes) -> Any:
    try:
        return pikepdf_mod.open(io.BytesIO(data), inherit_page_attributes=False)
    except pikepdf_mod.PasswordError as exc:
        raise UnsupportedFormat("PDF is encrypted with a password") from exc
    except (pikepdf_mod.PdfError, ValueError) as exc:
        raise MalformedInput(f"not a readable PDF: {exc}") from exc


def pdf_has_notice(data: bytes) -> bool:
    """True when page 1 already carries a notice image written by :func:`add_pdf_notice`."""
    pikepdf_mod = _import_pikepdf()
    with _open_pdf(pikepdf_mod, data) as pdf:
        return len(pdf.pages) > 0 and _has_marker(pdf.pages[0].obj)


def add_pdf_notice(
    data: bytes,
    text: str = DEFAULT_DOCUMENT_NOTICE,
    position: str = "footer",
    *,
    allow_signed: bool = False,
    font_path: str | None = None,
) -> bytes:
    """The PDF with ``text`` drawn at the bottom (``footer``) or top (``header``) of page 1.

    Idempotent: a PDF whose first page already has the notice is returned unchanged. Raises
    :class:`~synthlabel.errors.MalformedInput` for unreadable files,
    :class:`~synthlabel.errors.UnsupportedFormat` for password-protected ones and
    :class:`SignedDocument` for signed ones (unless ``allow_signed``). The default text falls
    back to ``本内容由人工智能生成`` when no font has 文/档.
    """
    text = _check_text(text)
    if position not in PDF_POSITIONS:
        raise DocumentNoticeError(f"position must be 'footer' or 'header'; got {position!r}")
    pikepdf_mod = _import_pikepdf()
    Name, Dictionary, Array, Stream = (
        pikepdf_mod.Name,
        pikepdf_mod.Dictionary,
        pikepdf_mod.Array,
        pikepdf_mod.Stream,
    )
    with _open_pdf(pikepdf_mod, data) as pdf:
        if len(pdf.pages) == 0:
            raise MalformedInput("PDF has no pages")
        if pdf.is_encrypted:
            raise UnsupportedFormat("PDF is encrypted (rewriting would drop the encryption)")
        if _is_signed(pdf) and not allow_signed:
            raise SignedDocument(
                "PDF is signed; adding a visible notice rewrites it and invalidates the "
                "signature (pass allow_signed=True to do it anyway)"
            )
        page = pdf.pages[0]
        obj = page.obj
        if _has_marker(obj):
            return data
        media = _box(_inherited(obj, "/MediaBox")) or (0.0, 0.0, 612.0, 792.0)
        crop = _box(_inherited(obj, "/CropBox"))
        visible = media
        if crop is not None:  # CropBox is clipped to the MediaBox
            clipped = (
                max(crop[0], media[0]),
                max(crop[1], media[1]),
                min(crop[2], media[2]),
                min(crop[3], media[3]),
            )
            visible = _box(clipped) or media
        try:
            rotate = int(_inherited(obj, "/Rotate") or 0) % 360
        except (TypeError, ValueError):
            rotate = 0
        if rotate not in (0, 90, 180, 270):
            rotate = 0
        w_user, h_user = visible[2] - visible[0], visible[3] - visible[1]
        dw, dh = (w_user, h_user) if rotate in (0, 180) else (h_user, w_user)
        short = min(dw, dh)
        font_pt = min(24.0, max(7.0, short * 0.015))
        margin = max(6.0, short * 0.018)
        rendered = _render_notice(text, font_pt, font_path)
        scale = PDF_NOTICE_DPI / 72.0
        w_pt, h_pt = rendered.width / scale, rendered.height / scale
        fit = min(1.0, (dw - 2 * margin) / w_pt, (dh - 2 * margin) / h_pt)
        if font_pt * fit < MIN_FONT_PT:
            raise DocumentNoticeError(
                f"page 1 ({dw:.0f} x {dh:.0f} pt) is too small for a legible notice"
            )
        w_pt, h_pt = w_pt * fit, h_pt * fit
        u0 = (dw - w_pt) / 2
        v0 = margin if position == "footer" else dh - margin - h_pt
        cm = _mul((w_pt, 0.0, 0.0, h_pt, u0, v0), _display_to_user(visible, rotate))

        image = Stream(pdf, zlib.compress(rendered.pixels, 9))
        image.Type = Name.XObject
        image.Subtype = Name.Image
        image.Width = rendered.width
        image.Height = rendered.height
        image.ColorSpace = Name.DeviceGray
        image.BitsPerComponent = 8
        image.Filter = Name.FlateDecode
        image[PDF_MARKER] = pikepdf_mod.String(rendered.text)

        # Page 1 gets its own resource dictionaries (shallow copies): other pages that share
        # or inherit them keep theirs unchanged.
        old_res = _inherited(obj, "/Resources")
        res = Dictionary()
        if old_res is not None:
            for k, v in old_res.items():
                res[k] = v
        xobjects = Dictionary()
        old_xo = _xobjects(old_res)
        if old_xo is not None:
            for k, v in old_xo.items():
                xobjects[k] = v
        name = "/SLNotice"
        n = 0
        while name in xobjects:
            n += 1
            name = f"/SLNotice{n}"
        xobjects[name] = pdf.make_indirect(image)
        res.XObject = xobjects
        obj.Resources = res

        pre, post = _q_balance(pikepdf_mod, page)
        actual = "FEFF" + rendered.text.encode("utf-16-be").hex().upper()
        drawing = (
            "\n"
            + "Q\n" * post
            + "q\n/Span <</ActualText <"
            + actual
            + ">>> BDC\n"
            + " ".join(f"{v:.4f}" for v in cm)
            + f" cm\n{name} Do\nEMC\nQ\n"
        )
        contents = obj.get("/Contents")
        parts: list[Any] = []
        if isinstance(contents, pikepdf_mod.Array):
            parts = list(contents)
        elif contents is not None:
            parts = [contents]
        obj.Contents = Array(
            [
                pdf.make_stream(b"q\n" * pre),
                *parts,
                pdf.make_stream(drawing.encode("ascii")),
            ]
        )
        out = io.BytesIO()
        try:
            pdf.save(out, deterministic_id=True)
        except pikepdf_mod.PdfError as exc:  # pragma: no cover - qpdf write failure
            raise MalformedInput(f"PDF could not be written: {exc}") from exc
        return out.getvalue()


# =============================================================================================
# DOCX

_W_NS = {
    "http://schemas.openxmlformats.org/wordprocessingml/2006/main": (
        "http://schemas.openxmlformats.org/officeDocument/2006/relationships",
        "http://schemas.openxmlformats.org/officeDocument/2006/relationships/header",
    ),
    "http://purl.oclc.org/ooxml/wordprocessingml/main": (
        "http://purl.oclc.org/ooxml/officeDocument/relationships",
        "http://purl.oclc.org/ooxml/officeDocument/relationships/header",
    ),
}
_PKG_RELS_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
_CT_NS = "http://schemas.openxmlformats.org/package/2006/content-types"
_HEADER_CT = "application/vnd.openxmlformats-officedocument.wordprocessingml.header+xml"
_RELS_CT = "application/vnd.openxmlformats-package.relationships+xml"
_XML_DECL = b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\r\n'


@dataclass
class _El:
    ns: str
    local: str
    attrs: dict[str, str]
    start: int  # offset of "<"
    start_end: int  # offset just after the start tag's ">"
    empty: bool  # <x/>
    end: int = -1  # offset of "</x>" (or == start for empty elements)
    parent: int = -1  # index of the parent element
    children: list[int] = field(default_factory=list)


@dataclass
class _Xml:
    data: bytes
    elements: list[_El]
    prefixes: dict[str, str]  # namespace URI -> prefix declared on the root ("" = default)

    def find(self, ns: str, local: str) -> list[int]:
        return [i for i, e in enumerate(self.elements) if e.ns == ns and e.local == local]

    def text(self, i: int) -> str:
        e = self.elements[i]
        return "" if e.empty else self.data[e.start_end : e.end].decode("utf-8", "replace")


def _tag_end(data: bytes, start: int) -> tuple[int, bool]:
    """Offset just after the start tag at ``start`` (quote-aware) and whether it is empty."""
    quote = 0
    i = start + 1
    n = len(data)
    while i < n:
        c = data[i]
        if quote:
            if c == quote:
                quote = 0
        elif c in (0x22, 0x27):
            quote = c
        elif c == 0x3E:
            return i + 1, data[i - 1] == 0x2F
        i += 1
    raise MalformedInput("unterminated XML start tag", offset=start)


def _forbid(*_args: Any) -> None:
    raise MalformedInput("XML with a DTD or entity declarations is not accepted")


def _parse_xml(data: bytes, what: str) -> _Xml:
    if len(data) > MAX_XML_PART_BYTES:
        raise LimitExceeded(f"{what} is larger than {MAX_XML_PART_BYTES} bytes")
    parser = expat.ParserCreate(namespace_separator=" ")
    elements: list[_El] = []
    stack: list[int] = []
    prefixes: dict[str, str] = {}

    def start(name: str, attrs: dict[str, str]) -> None:
        at = parser.CurrentByteIndex
        ns, _, local = name.rpartition(" ")
        end, empty = _tag_end(data, at)
        el = _El(ns, local, attrs, at, end, empty, parent=stack[-1] if stack else -1)
        elements.append(el)
        idx = len(elements) - 1
        if stack:
            elements[stack[-1]].children.append(idx)
        stack.append(idx)

    def finish(_name: str) -> None:
        idx = stack.pop()
        el = elements[idx]
        el.end = el.start if el.empty else parser.CurrentByteIndex

    def ns_decl(prefix: str | None, uri: str) -> None:
        if not elements:  # declarations on the root element
            prefixes.setdefault(uri, prefix or "")

    parser.StartElementHandler = start
    parser.EndElementHandler = finish
    parser.StartNamespaceDeclHandler = ns_decl
    parser.StartDoctypeDeclHandler = _forbid
    parser.EntityDeclHandler = _forbid
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        raise MalformedInput(f"{what} is not well-formed XML: {exc}") from exc
    if not elements:
        raise MalformedInput(f"{what} has no root element")
    return _Xml(data, elements, prefixes)


def _patch(data: bytes, edits: list[tuple[int, int, bytes]]) -> bytes:
    """Apply (start, end, replacement) edits (non-overlapping)."""
    out = bytearray()
    pos = 0
    for start, end, repl in sorted(edits, key=lambda e: (e[0], e[1])):
        out += data[pos:start] + repl
        pos = end
    out += data[pos:]
    return bytes(out)


def _open_tag_bytes(xml: _Xml, i: int) -> bytes:
    e = xml.elements[i]
    return xml.data[e.start : e.start_end]


def _insert_first_child(xml: _Xml, i: int, content: bytes) -> tuple[int, int, bytes]:
    """Edit that puts ``content`` as the first child of element ``i`` (expanding ``<x/>``)."""
    e = xml.elements[i]
    if not e.empty:
        return (e.start_end, e.start_end, content)
    tag = _open_tag_bytes(xml, i)
    qname = re.match(rb"<\s*([^\s/>]+)", tag)
    if qname is None:  # pragma: no cover - expat accepted it
        raise MalformedInput("unexpected start tag")
    opened = tag[:-2].rstrip() + b">"
    return (e.start, e.start_end, opened + content + b"</" + qname.group(1) + b">")


def _insert_last_child(xml: _Xml, i: int, content: bytes) -> tuple[int, int, bytes]:
    e = xml.elements[i]
    if e.empty:
        return _insert_first_child(xml, i, content)
    return (e.end, e.end, content)


class _Names:
    """Qualified names for elements/attributes inserted into a part, declaring locally the
    namespaces the part's root does not bind."""

    def __init__(self, xml: _Xml, wanted: dict[str, str]):
        self.prefix: dict[str, str] = {}
        self.local_decls: list[tuple[str, str]] = []
        for uri, fallback in wanted.items():
            p = xml.prefixes.get(uri)
            if p:  # a non-empty prefix on the root (attributes need one)
                self.prefix[uri] = p
            else:
                taken = set(xml.prefixes.values()) | set(self.prefix.values())
                name = fallback
                n = 0
                while name in taken:
                    n += 1
                    name = f"{fallback}{n}"
                self.prefix[uri] = name
                self.local_decls.append((name, uri))

    def q(self, uri: str, local: str) -> str:
        return f"{self.prefix[uri]}:{local}"

    def decls(self) -> str:
        return "".join(f' xmlns:{p}="{u}"' for p, u in self.local_decls)


def _notice_paragraph(w: str, text: str, decls: str) -> bytes:
    esc = _html.escape(text, quote=False)
    return (
        f'<{w}:p{decls}><{w}:pPr><{w}:jc {w}:val="center"/></{w}:pPr>'
        f'<{w}:r><{w}:rPr><{w}:color {w}:val="595959"/><{w}:sz {w}:val="18"/>'
        f'<{w}:szCs {w}:val="18"/><{w}:lang {w}:eastAsia="zh-CN"/></{w}:rPr>'
        f'<{w}:t xml:space="preserve">{esc}</{w}:t></{w}:r></{w}:p>'
    ).encode()


def _header_part(w_ns: str, text: str) -> bytes:
    return (
        _XML_DECL
        + f'<w:hdr xmlns:w="{w_ns}">'.encode()
        + _notice_paragraph("w", text, "")
        + b"</w:hdr>"
    )


def _read_member(zin: zipfile.ZipFile, name: str) -> bytes | None:
    try:
        info = zin.getinfo(name)
    except KeyError:
        return None
    if info.file_size > MAX_XML_PART_BYTES:
        raise LimitExceeded(f"{name} is larger than {MAX_XML_PART_BYTES} bytes")
    try:
        with zin.open(info) as f:
            data = f.read(MAX_XML_PART_BYTES + 1)
    except (zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError) as exc:
        raise MalformedInput(f"{name} cannot be read: {exc}") from exc
    if len(data) > MAX_XML_PART_BYTES:
        raise LimitExceeded(f"{name} is larger than {MAX_XML_PART_BYTES} bytes")
    return data


def _rels_name(part: str) -> str:
    d, base = posixpath.split(part)
    return posixpath.join(d, "_rels", base + ".rels")


def _resolve(base_part: str, target: str) -> str:
    if target.startswith("/"):
        return posixpath.normpath(target.lstrip("/"))
    return posixpath.normpath(posixpath.join(posixpath.dirname(base_part), target))


def _in_change(xml: _Xml, i: int) -> bool:
    """True inside tracked-change records (``w:sectPrChange``, ``w:pPrChange``): the old
    properties kept there are not live sections."""
    p = xml.elements[i].parent
    while p >= 0:
        if xml.elements[p].local in ("sectPrChange", "pPrChange"):
            return True
        p = xml.elements[p].parent
    return False


def _header_text(xml: _Xml, w_ns: str) -> str:
    return "".join(xml.text(i) for i in xml.find(w_ns, "t"))


def _is_on(el: _El, w_ns: str) -> bool:
    val = el.attrs.get(f"{w_ns} val")
    return val is None or val.lower() not in ("0", "false", "off")


def docx_header_texts(data: bytes) -> dict[str, str]:
    """Text of every header part referenced by the document's sections, by part name."""
    with _open_zip(data) as zin:
        doc_part = _main_part(zin)
        doc = _parse_xml(_require(zin, doc_part), doc_part)
        w_ns = _w_namespace(doc)
        rels = _relationships(zin, doc_part)
        out: dict[str, str] = {}
        for i in doc.find(w_ns, "headerReference"):
            rid = doc.elements[i].attrs.get(f"{_W_NS[w_ns][0]} id", "")
            if rid in rels:
                part = _resolve(doc_part, rels[rid][1])
                raw = _read_member(zin, part)
                if raw is not None:
                    out[part] = _header_text(_parse_xml(raw, part), w_ns)
        return out


def _open_zip(data: bytes) -> zipfile.ZipFile:
    try:
        zin = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError) as exc:
        raise UnsupportedFormat(f"not a DOCX (zip) file: {exc}") from exc
    names = zin.namelist()
    if len(names) > MAX_ZIP_MEMBERS:
        raise LimitExceeded(f"DOCX has more than {MAX_ZIP_MEMBERS} members")
    if len(set(names)) != len(names):
        raise MalformedInput("DOCX zip has duplicate member names")
    return zin


def _require(zin: zipfile.ZipFile, name: str) -> bytes:
    raw = _read_member(zin, name)
    if raw is None:
        raise MalformedInput(f"DOCX has no {name}")
    return raw


def _main_part(zin: zipfile.ZipFile) -> str:
    raw = _read_member(zin, "_rels/.rels")
    if raw is not None:
        xml = _parse_xml(raw, "_rels/.rels")
        for i in xml.find(_PKG_RELS_NS, "Relationship"):
            a = xml.elements[i].attrs
            if a.get("Type", "").endswith("/officeDocument") and a.get("Target"):
                return _resolve("", a["Target"])
    if "word/document.xml" in zin.namelist():
        return "word/document.xml"
    raise UnsupportedFormat("not a Word document (no main document part)")


def _w_namespace(doc: _Xml) -> str:
    root = doc.elements[0]
    if root.ns not in _W_NS or root.local != "document":
        raise UnsupportedFormat("main part is not a WordprocessingML document")
    return root.ns


def _relationships(zin: zipfile.ZipFile, part: str) -> dict[str, tuple[str, str]]:
    raw = _read_member(zin, _rels_name(part))
    if raw is None:
        return {}
    xml = _parse_xml(raw, _rels_name(part))
    out: dict[str, tuple[str, str]] = {}
    for i in xml.find(_PKG_RELS_NS, "Relationship"):
        a = xml.elements[i].attrs
        if a.get("TargetMode", "Internal") == "Internal":
            out[a.get("Id", "")] = (a.get("Type", ""), a.get("Target", ""))
        else:
            out[a.get("Id", "")] = (a.get("Type", ""), "")
    return out


def _root_qname(xml: _Xml) -> bytes:
    m = re.match(rb"<\s*([^\s/>]+)", _open_tag_bytes(xml, 0))
    return m.group(1) if m else b""


def _child_prefix(xml: _Xml) -> bytes:
    """``b"p:"`` when the root element is prefixed, else ``b""`` (default namespace)."""
    q = _root_qname(xml)
    return q.split(b":")[0] + b":" if b":" in q else b""


def add_docx_notice(data: bytes, text: str = DEFAULT_DOCUMENT_NOTICE) -> bytes:
    """The DOCX with ``text`` as the first paragraph of its page header(s).

    Idempotent: a document whose headers already hold ``text`` is returned unchanged. Raises
    :class:`~synthlabel.errors.UnsupportedFormat` for non-zip or non-Word packages and
    :class:`~synthlabel.errors.MalformedInput` for broken parts.
    """
    text = _check_text(text)
    with _open_zip(data) as zin:
        names = zin.namelist()
        lower_names = {n.lower() for n in names}
        doc_part = _main_part(zin)
        doc = _parse_xml(_require(zin, doc_part), doc_part)
        w_ns = _w_namespace(doc)
        r_ns, header_rel_type = _W_NS[w_ns]
        rels_part = _rels_name(doc_part)
        rels_raw = _read_member(zin, rels_part)
        rels = _relationships(zin, doc_part)

        replaced: dict[str, bytes] = {}
        added: dict[str, bytes] = {}

        # 1. Existing header parts get the paragraph first.
        for i in doc.find(w_ns, "headerReference"):
            rid = doc.elements[i].attrs.get(f"{r_ns} id", "")
            rel = rels.get(rid)
            if rel is None or not rel[1]:
                continue
            part = _resolve(doc_part, rel[1])
            if part in replaced:
                continue
            raw = _read_member(zin, part)
            if raw is None:
                continue
            hdr = _parse_xml(raw, part)
            if text in _header_text(hdr, w_ns):
                continue
            names_h = _Names(hdr, {w_ns: "w"})
            para = _notice_paragraph(names_h.prefix[w_ns], text, names_h.decls())
            replaced[part] = _patch(raw, [_insert_first_child(hdr, 0, para)])

        # 2. The first section gets a default header (and a first-page one with titlePg).
        sections = [i for i in doc.find(w_ns, "sectPr") if not _in_change(doc, i)]
        bodies = doc.find(w_ns, "body")
        if not bodies:
            raise MalformedInput("document has no w:body")
        doc_edits: list[tuple[int, int, bytes]] = []
        names_d = _Names(doc, {w_ns: "w", r_ns: "r"})
        w, r = names_d.prefix[w_ns], names_d.prefix[r_ns]
        first = sections[0] if sections else None
        have: set[str] = set()
        title_pg = False
        if first is not None:
            for c in doc.elements[first].children:
                ch = doc.elements[c]
                if ch.ns == w_ns and ch.local == "headerReference":
                    have.add(ch.attrs.get(f"{w_ns} type", "default"))
                elif ch.ns == w_ns and ch.local == "titlePg" and _is_on(ch, w_ns):
                    title_pg = True
        wanted = [t for t in ("default", "first") if t not in have]
        if not title_pg and "first" in wanted:
            wanted.remove("first")
        refs = b""
        new_rels = b""
        used_ids = set(rels)
        taken = set(lower_names)
        doc_dir = posixpath.dirname(doc_part)
        for kind in wanted:
            n_part = 1
            while posixpath.join(doc_dir, f"header{n_part}.xml").lower() in taken:
                n_part += 1
            part = posixpath.join(doc_dir, f"header{n_part}.xml")
            taken.add(part.lower())
            rid_n = 1
            while f"rId{rid_n}" in used_ids:
                rid_n += 1
            rid = f"rId{rid_n}"
            used_ids.add(rid)
            added[part] = _header_part(w_ns, text)
            new_rels += (
                f'<Relationship Id="{rid}" Type="{header_rel_type}" '
                f'Target="{posixpath.basename(part)}"/>'
            ).encode()
            refs += (
                f'<{w}:headerReference{names_d.decls()} {w}:type="{kind}" {r}:id="{rid}"/>'
            ).encode()
        if refs:
            if first is not None:
                doc_edits.append(_insert_first_child(doc, first, refs))
            else:
                sect = f"<{w}:sectPr{names_d.decls()}>".encode() + refs + f"</{w}:sectPr>".encode()
                doc_edits.append(_insert_last_child(doc, bodies[0], sect))
            replaced[doc_part] = _patch(doc.data, doc_edits)

            # relationships of the main part
            if rels_raw is None:
                added[rels_part] = (
                    _XML_DECL
                    + f'<Relationships xmlns="{_PKG_RELS_NS}">'.encode()
                    + new_rels
                    + b"</Relationships>"
                )
            else:
                rx = _parse_xml(rels_raw, rels_part)
                pre = _child_prefix(rx)
                if pre:
                    new_rels = new_rels.replace(b"<Relationship ", b"<" + pre + b"Relationship ")
                replaced[rels_part] = _patch(rels_raw, [_insert_last_child(rx, 0, new_rels)])

            # content types
            ct_raw = _require(zin, "[Content_Types].xml")
            ct = _parse_xml(ct_raw, "[Content_Types].xml")
            pre = _child_prefix(ct)
            entries = b"".join(
                b"<" + pre + f'Override PartName="/{p}" ContentType="{_HEADER_CT}"/>'.encode()
                for p in added
                if p.endswith(".xml") and not p.endswith(".rels")
            )
            has_rels_default = any(
                ct.elements[i].attrs.get("Extension", "").lower() == "rels"
                for i in ct.find(_CT_NS, "Default")
            )
            if rels_part in added and not has_rels_default:
                entries = (
                    b"<"
                    + pre
                    + f'Default Extension="rels" ContentType="{_RELS_CT}"/>'.encode()
                    + entries
                )
            replaced["[Content_Types].xml"] = _patch(ct_raw, [_insert_last_child(ct, 0, entries)])

        if not replaced and not added:
            return data
        return _write_zip(zin, replaced, added)


def _write_zip(zin: zipfile.ZipFile, replaced: dict[str, bytes], added: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    try:
        with zipfile.ZipFile(out, "w", allowZip64=True) as zout:
            for info in zin.infolist():
                new = zipfile.ZipInfo(info.filename, info.date_time)
                new.compress_type = info.compress_type
                new.external_attr = info.external_attr
                new.create_system = info.create_system
                new.comment = info.comment
                if info.filename in replaced:
                    new.compress_type = zipfile.ZIP_DEFLATED
                    zout.writestr(new, replaced[info.filename])
                    continue
                new.file_size = info.file_size
                with (
                    zin.open(info) as src,
                    zout.open(new, "w", force_zip64=info.file_size > 2**31) as dst,
                ):
                    while True:
                        block = src.read(1 << 20)
                        if not block:
                            break
                        dst.write(block)
            for name, content in added.items():
                zi = zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0))
                zi.compress_type = zipfile.ZIP_DEFLATED
                zout.writestr(zi, content)
            zout.comment = zin.comment
    except (zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError) as exc:
        raise MalformedInput(f"DOCX member cannot be read: {exc}") from exc
    return out.getvalue()
