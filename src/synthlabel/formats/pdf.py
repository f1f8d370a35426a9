"""PDF: Document Information dictionary key ``/AIGC`` (TC260-PG-20258A), by incremental update.

The record is written as a PDF string (the flat JSON) under ``/AIGC`` in the Info dictionary.
The file is never re-saved: a new version of the Info object is **appended** as an incremental
update (ISO 32000-1 §7.5.6) — the new object, a cross-reference section of the same kind as
the file's last one (a classic ``xref`` table, or an uncompressed ``/Type /XRef`` stream) and
a trailer whose ``/Prev`` points at the previous section. Every original byte stays in place
as a prefix of the output, so existing digital signatures stay valid.

One record per file: if the XMP metadata stream already holds a ``TC260:AIGC`` property, a
new version of that stream without it is appended in the same update (other XMP properties
are kept). ``PdfHandler(xmp_mirror=True)`` instead writes the record into the XMP stream as
well (for XMP-only tools); readers then see two identical copies, which the spec tolerates
but our default writer does not produce.

Parsing uses pikepdf (qpdf) with xref reconstruction **off**: a broken cross-reference table
raises :class:`MalformedInput` instead of being silently repaired. The Info dictionary may sit
in an object stream; qpdf resolves it. Encrypted files are refused for writing (their strings
would need encrypting) with :class:`UnsupportedFormat`.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import pikepdf

from synthlabel.errors import LimitExceeded, MalformedInput, SynthlabelError, UnsupportedFormat
from synthlabel.formats import _limits, _xmp
from synthlabel.formats.base import (
    Carrier,
    ContainerMetadata,
    ContentDigest,
    FormatHandler,
    LabelWrite,
    MediaKind,
)
from synthlabel.formats.text import aigc_mapping

SELECTOR = "synthlabel.pdf.v1"

#: Most objects visited for one content digest.
MAX_DIGEST_OBJECTS = 5_000_000
#: Most bytes of stream data hashed (after decoding) for one content digest.
MAX_DIGEST_BYTES = 4 * 1024 * 1024 * 1024
#: The tail searched for the last ``startxref``.
_TAIL = 4096

_STARTXREF_RE = re.compile(rb"startxref\s+(\d{1,12})\s+%%EOF")
_OBJ_RE = re.compile(rb"\s*\d{1,10}\s+\d{1,5}\s+obj\b")
_INFO_KEY = "/AIGC"
#: Trailer keys not carried into our update's trailer (set anew, or xref-stream specific).
_TRAILER_SKIP = frozenset(
    {"/Prev", "/XRefStm", "/Type", "/W", "/Index", "/Length", "/Filter", "/DecodeParms"}
    | {"/Size", "/Info"}
)


@contextmanager
def _pdf_errors() -> Iterator[None]:
    """Map qpdf/pikepdf failures on bad input to our typed errors."""
    try:
        yield
    except SynthlabelError:
        raise
    except pikepdf.PasswordError:
        raise UnsupportedFormat("PDF is encrypted with a user password") from None
    except MemoryError:
        raise LimitExceeded("PDF needs too much memory to parse") from None
    except RecursionError:
        raise LimitExceeded("PDF objects nest too deeply") from None
    except Exception as exc:  # pikepdf raises PdfError, ValueError, RuntimeError, ... on junk
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise MalformedInput(f"broken PDF: {msg[:300]}") from None


def _open(data: bytes) -> pikepdf.Pdf:
    _limits.check_input(data, "PDF")
    if not data.startswith(b"%PDF-"):
        raise MalformedInput("not a PDF file (no %PDF- header)", offset=0)
    return pikepdf.open(io.BytesIO(data), attempt_recovery=False, inherit_page_attributes=True)


def _pdf_string(value: str) -> bytes:
    """A literal string: ``\\``, ``(`` and ``)`` escaped, anything outside printable ASCII as
    an octal escape (the record is ASCII; this keeps any input safe)."""
    if not value.isascii():
        return b"<feff" + value.encode("utf-16-be").hex().encode("ascii") + b">"
    out = bytearray(b"(")
    for ch in value.encode("ascii"):
        if ch in b"\\()":
            out += b"\\" + bytes([ch])
        elif 0x20 <= ch < 0x7F:
            out.append(ch)
        else:
            out += b"\\%03o" % ch
    out += b")"
    return bytes(out)


def _last_startxref(data: bytes) -> tuple[int, bool]:
    """(offset of the last cross-reference section, whether it is a classic table)."""
    tail_start = max(0, len(data) - _TAIL)
    matches = list(_STARTXREF_RE.finditer(data, tail_start))
    if not matches:
        raise MalformedInput("no startxref at the end of the PDF", offset=len(data))
    off = int(matches[-1].group(1))
    if off >= len(data):
        raise MalformedInput("startxref points past the end of the file", offset=off)
    if data.startswith(b"xref", off):
        return off, True
    if _OBJ_RE.match(data, off):
        return off, False
    raise MalformedInput("startxref does not point at a cross-reference section", offset=off)


def _find_object(data: bytes, num: int, gen: int) -> int:
    """Offset of the last definition of ``num gen obj`` (0 if it lives in an object stream)."""
    pos = -1
    for m in re.finditer(rb"(?<![0-9])%d\s+%d\s+obj\b" % (num, gen), data):
        pos = m.start()
    return max(pos, 0)


def _inflate_bounded(raw: bytes, limit: int) -> bytes | None:
    """A zlib stream decoded, or None if it is not a clean, complete one within ``limit``."""
    d = zlib.decompressobj()
    try:
        out = d.decompress(raw, limit + 1)
    except zlib.error:
        return None
    if len(out) > limit or d.unconsumed_tail or not d.eof:
        return None
    return out


def _filters(stream: pikepdf.Object) -> tuple[list[str], bool]:
    """(filter names, whether there are DecodeParms)."""
    f = stream.get("/Filter")
    names: list[str] = []
    if isinstance(f, pikepdf.Name):
        names = [str(f)]
    elif isinstance(f, pikepdf.Array):
        names = [str(x) for x in f]
    parms = stream.get("/DecodeParms")
    has_parms = parms is not None and not (
        isinstance(parms, pikepdf.Array) and all(p is None for p in parms)
    )
    return names, has_parms


def _stream_payload(stream: pikepdf.Object, limit: int) -> tuple[bytes, bool]:
    """(data, decoded): unfiltered or plain-Flate streams decoded (bounded), others raw."""
    raw = stream.read_raw_bytes()
    names, has_parms = _filters(stream)
    if not names:
        return raw, True
    if names == ["/FlateDecode"] and not has_parms:
        out = _inflate_bounded(raw, limit)
        if out is not None:
            return out, True
    return raw, False


class _Hasher:
    """Canonical, tagged serialisation of PDF objects into a hash (no recursion)."""

    def __init__(self) -> None:
        self.h = hashlib.sha256()
        self.seen: dict[tuple[int, int], int] = {}
        self.objects = _limits.Counter(MAX_DIGEST_OBJECTS, "PDF objects in the content digest")
        self.budget = MAX_DIGEST_BYTES

    def bytes_(self, tag: bytes, payload: bytes) -> None:
        self.budget -= len(payload)
        if self.budget < 0:
            raise LimitExceeded("PDF content exceeds the content-digest budget")
        self.h.update(tag + b"%d:" % len(payload) + payload)

    def stream_data(self, stream: pikepdf.Object) -> bool:
        """Hash the stream's data; True when it was decoded, False for raw bytes."""
        payload, decoded = _stream_payload(stream, max(0, self.budget))
        self.bytes_(b"D" if decoded else b"R", payload)
        return decoded

    def obj(self, root: Any) -> None:
        stack: list[Any] = [root]
        while stack:
            o = stack.pop()
            self.objects.tick(0)
            if isinstance(o, bytes):  # a literal token pushed below
                self.h.update(o)
                continue
            if isinstance(o, pikepdf.Object) and o.is_indirect:
                key = o.objgen
                if key in self.seen:
                    self.h.update(b"@%d;" % self.seen[key])
                    continue
                self.seen[key] = len(self.seen)
            if isinstance(o, pikepdf.Stream):
                skip = ("/Length", "/Filter", "/DecodeParms")
                keys = [k for k in _keys(o.stream_dict) if k not in skip]
                self.h.update(b"S%d{" % len(keys))
                stack.append(b"}")
                for k in reversed(keys):
                    stack += [b",", o.get(k), b"K" + k.encode("latin-1") + b"="]
                if not self.stream_data(o):  # raw bytes: the filters are part of the content
                    stack += [o.get("/DecodeParms"), b"p", o.get("/Filter"), b"f"]
            elif isinstance(o, pikepdf.Dictionary):
                keys = _keys(o)
                self.h.update(b"d%d{" % len(keys))
                stack.append(b"}")
                for k in reversed(keys):
                    stack += [b",", o.get(k), b"K" + k.encode("latin-1") + b"="]
            elif isinstance(o, pikepdf.Array):
                self.h.update(b"a%d[" % len(o))
                stack.append(b"]")
                for item in reversed(list(o)):
                    stack += [b",", item]
            elif isinstance(o, pikepdf.Name):
                self.h.update(b"n" + str(o).encode("latin-1") + b";")
            elif isinstance(o, pikepdf.String):
                self.bytes_(b"s", bytes(o))
            elif isinstance(o, bool):
                self.h.update(b"b1;" if o else b"b0;")
            elif isinstance(o, int | Decimal | float):
                self.h.update(b"#" + str(o).encode("ascii") + b";")
            elif o is None:
                self.h.update(b"z;")
            else:
                self.h.update(b"?" + repr(type(o).__name__).encode("ascii") + b";")


class PdfHandler:
    id = "pdf"
    name = "PDF"
    media_kind = MediaKind.DOCUMENT
    extensions: tuple[str, ...] = ("pdf",)
    mime_types: tuple[str, ...] = ("application/pdf",)
    sniff_bytes = 8

    def __init__(self, *, xmp_mirror: bool = False) -> None:
        #: Also write the record into the XMP metadata stream (two copies; off by default).
        self.xmp_mirror = xmp_mirror

    def sniff(self, head: bytes) -> bool:
        return head.startswith(b"%PDF-")

    def read(self, data: bytes) -> ContainerMetadata:
        meta = ContainerMetadata(format_id=self.id)
        with _pdf_errors():
            pdf = _open(data)
            meta.frames = len(pdf.pages)
            info = pdf.trailer.get("/Info")
            if isinstance(info, pikepdf.Dictionary):
                off = _find_object(data, *info.objgen) if info.is_indirect else 0
                for key in _keys(info):
                    if key.lower() != _INFO_KEY.lower():
                        continue
                    value = info.get(key)
                    if key != _INFO_KEY:
                        meta.warnings.append(f"Info key {key} (expected {_INFO_KEY})")
                    if not isinstance(value, pikepdf.String):
                        meta.warnings.append(f"Info {key} is not a string")
                    text = str(value) if isinstance(value, pikepdf.String) else ""
                    meta.carriers.append(
                        Carrier("aigc", off, text.encode("utf-8"), name=f"Info {key}")
                    )
            packet = self._xmp_packet(pdf)
            if packet is not None:
                md = pdf.Root.get("/Metadata")
                off = _find_object(data, *md.objgen) if md is not None and md.is_indirect else 0
                meta.carriers.append(Carrier("xmp", off, packet, name="XMP metadata stream"))
            meta.warnings += [str(w) for w in pdf.get_warnings()][:20]
        return meta

    @staticmethod
    def _xmp_packet(pdf: pikepdf.Pdf) -> bytes | None:
        md = pdf.Root.get("/Metadata")
        if not isinstance(md, pikepdf.Stream):
            return None
        if len(md.read_raw_bytes()) > _limits.MAX_METADATA_BYTES:
            raise LimitExceeded("XMP metadata stream too large")
        payload, decoded = _stream_payload(md, _limits.MAX_METADATA_BYTES)
        if not decoded:
            raise MalformedInput("XMP metadata stream uses an unsupported filter")
        return payload

    def write_label(self, data: bytes, label: LabelWrite) -> bytes:
        value = json.dumps(aigc_mapping(label), ensure_ascii=True, separators=(",", ":"))
        with _pdf_errors():
            pdf = _open(data)
            if pdf.is_encrypted or "/Encrypt" in pdf.trailer:
                raise UnsupportedFormat("encrypted PDF: the label cannot be added by update")
            prev, classic = _last_startxref(data)
            size = int(pdf.trailer.get("/Size", 0))
            found = pdf.trailer.get("/Info")
            info = found if isinstance(found, pikepdf.Dictionary) else pikepdf.Dictionary()
            objects: list[tuple[int, int, bytes]] = []

            # The Info dictionary, with /AIGC set (and case variants dropped).
            keys = _keys(info)
            current = [str(info.get(k)) for k in keys if k.lower() == "/aigc"]
            if info.is_indirect:
                info_num, info_gen = info.objgen
            else:
                info_num, info_gen = size, 0
                size += 1
            entries = b"".join(
                bytes(pikepdf.Name(k).unparse()) + b" " + _unparse(info.get(k)) + b"\n"
                for k in keys
                if k.lower() != "/aigc"
            )
            info_body = b"<<\n" + entries + b"/AIGC " + _pdf_string(value) + b"\n>>"

            # The XMP stream: drop a TC260:AIGC copy, or (mirror mode) write the record there.
            packet = self._xmp_packet(pdf)
            new_packet: bytes | None = None
            if self.xmp_mirror:
                new_packet = label.xmp_packet(packet)
                if packet is not None and new_packet == packet:
                    new_packet = None
            elif packet is not None and _xmp.read_fields(packet).aigc:
                new_packet = _strip_xmp_aigc(packet)

            if current == [value] and len(current) == 1 and new_packet is None:
                return data
            objects.append((info_num, info_gen, info_body))
            if new_packet is not None:
                md = pdf.Root.get("/Metadata")
                head = b"<< /Type /Metadata /Subtype /XML /Length %d >>\nstream\n"
                body = head % len(new_packet) + new_packet + b"\nendstream"
                if isinstance(md, pikepdf.Stream) and md.is_indirect:
                    objects.append((*md.objgen, body))
                else:
                    md_num = size
                    size += 1
                    objects.append((md_num, 0, body))
                    root = pdf.Root
                    root_text = root.unparse(resolved=True)
                    if "/Metadata" in root:
                        del root["/Metadata"]
                        root_text = root.unparse(resolved=True)
                    root_text = b"<< /Metadata %d 0 R " % md_num + root_text.lstrip()[2:]
                    objects.append((*root.objgen, root_text))
            trailer_extra = b""
            for k in _keys(pdf.trailer):
                if k not in _TRAILER_SKIP:
                    value_text = _unparse(pdf.trailer.get(k))
                    trailer_extra += bytes(pikepdf.Name(k).unparse()) + b" " + value_text + b" "
            out = _append_update(
                data, objects, size, prev, classic, info_num, info_gen, trailer_extra
            )
        self._verify(out, value)
        return out

    @staticmethod
    def _verify(out: bytes, value: str) -> None:
        with _pdf_errors():
            check = _open(out)
            info = check.trailer.get("/Info")
            if not isinstance(info, pikepdf.Dictionary) or str(info.get(_INFO_KEY)) != value:
                raise MalformedInput("the incremental update did not read back")

    def content_digest(self, data: bytes) -> ContentDigest:
        """SHA-256 over each page, in page-tree order: its MediaBox, CropBox and Rotate
        (inherited values included), its content streams (decoded) and its Resources, walked
        as a canonical object graph (see ``docs/formats-text-documents.md``)."""
        with _pdf_errors():
            pdf = _open(data)
            if len(pdf.pages) == 0:
                # A PDF has at least one page; binding a label to "nothing" would match any
                # file whose page tree is missing or broken.
                raise MalformedInput("PDF has no pages (page tree missing or broken)")
            hasher = _Hasher()
            for n, page in enumerate(pdf.pages):
                po = page.obj
                hasher.h.update(b"P%d;" % n)
                for key in ("/MediaBox", "/CropBox", "/Rotate"):
                    hasher.h.update(key.encode("ascii"))
                    hasher.obj(po.get(key))
                contents = po.get("/Contents")
                parts = list(contents) if isinstance(contents, pikepdf.Array) else [contents]
                hasher.h.update(b"C%d;" % len(parts))
                for part in parts:
                    if isinstance(part, pikepdf.Stream):
                        hasher.stream_data(part)
                    else:
                        hasher.obj(part)
                hasher.h.update(b"/Resources")
                hasher.obj(po.get("/Resources"))
            return ContentDigest(SELECTOR, "sha256", hasher.h.digest())


def _keys(o: pikepdf.Object) -> list[str]:
    return sorted(map(str, o.keys()))


def _unparse(o: Any) -> bytes:
    if isinstance(o, pikepdf.Object):
        return bytes(o.unparse())
    return _scalar(o)


def _scalar(o: Any) -> bytes:
    if o is None:
        return b"null"
    if isinstance(o, bool):
        return b"true" if o else b"false"
    return str(o).encode("ascii")


def _strip_xmp_aigc(packet: bytes) -> bytes:
    """The packet without its TC260:AIGC property (everything else kept as text)."""
    text = packet.decode("utf-8", "replace")
    out = _xmp.remove_aigc(text).encode("utf-8")
    fields = _xmp.read_fields(out)
    if not fields.well_formed or fields.aigc:
        raise MalformedInput("could not remove the TC260:AIGC copy from the XMP packet")
    return out


def _append_update(
    data: bytes,
    objects: list[tuple[int, int, bytes]],
    size: int,
    prev: int,
    classic: bool,
    info_num: int,
    info_gen: int,
    trailer_extra: bytes,
) -> bytes:
    out = bytearray(data)
    if not out.endswith((b"\n", b"\r")):
        out += b"\n"
    offsets: dict[int, tuple[int, int]] = {}
    for num, gen, body in objects:
        offsets[num] = (len(out), gen)
        out += b"%d %d obj\n" % (num, gen) + body + b"\nendobj\n"
    size = max(size, max(offsets) + 1)
    trailer = b"/Info %d %d R /Prev %d " % (info_num, info_gen, prev) + trailer_extra
    if classic:
        xref_at = len(out)
        out += b"xref\n"
        for start, run in _runs(sorted(offsets)):
            out += b"%d %d\n" % (start, len(run))
            for num in run:
                off, gen = offsets[num]
                out += b"%010d %05d n\r\n" % (off, gen)
        out += b"trailer\n<< /Size %d " % size + trailer + b">>\n"
    else:
        xref_num = size
        size += 1
        xref_at = len(out)
        offsets[xref_num] = (xref_at, 0)
        width = 4 if xref_at < (1 << 32) else 8
        rows = b""
        index = b""
        for start, run in _runs(sorted(offsets)):
            index += b"%d %d " % (start, len(run))
            for num in run:
                off, gen = offsets[num]
                rows += b"\x01" + off.to_bytes(width, "big") + gen.to_bytes(2, "big")
        out += (
            b"%d 0 obj\n<< /Type /XRef /Size %d /W [ 1 %d 2 ] /Index [ %s] "
            % (xref_num, size, width, index)
            + trailer
            + b"/Length %d >>\nstream\n" % len(rows)
            + rows
            + b"\nendstream\nendobj\n"
        )
    out += b"startxref\n%d\n%%%%EOF\n" % xref_at
    return bytes(out)


def _runs(nums: list[int]) -> Iterator[tuple[int, list[int]]]:
    run: list[int] = []
    for n in nums:
        if run and n != run[-1] + 1:
            yield run[0], run
            run = []
        run.append(n)
    if run:
        yield run[0], run


HANDLER: FormatHandler = PdfHandler()
