"""In-process text of a PDF page: enough to find a notice, without spawning ``pdftotext``.

A notice check needs the words on the first and last page, not their layout. Running the
``pdftotext`` program costs a process start (about 5 ms, more than everything else the cheap
detectors do for the file together), so this module walks the page's content stream with
pikepdf (qpdf's parser, in C++) and decodes the text-showing operators itself:

* fonts with a ``/ToUnicode`` CMap (every CID font a modern producer writes, and most simple
  fonts): ``bfchar`` / ``bfrange`` mappings, code widths from ``codespacerange``;
* simple fonts without one: their ``/Encoding`` (WinAnsi, MacRoman, Standard as Latin-1) plus
  ``/Differences`` glyph names of the ``uniXXXX`` and single-character kinds;
* form XObjects drawn with ``Do`` (three levels deep), with their own resources.

A font it cannot decode (a CID font without ``/ToUnicode``, a Type 3 font) makes
:func:`page_texts` report ``complete=False``; the caller then asks ``pdftotext`` for that page.
Work is bounded: at most :data:`MAX_OPS` operators per page and :data:`MAX_CMAP_CODES` codes per
CMap, so a hostile stream costs milliseconds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

MAX_OPS = 200_000
MAX_CMAP_CODES = 65_536
MAX_CHARS = 256 * 1024
MAX_DEPTH = 3

_HEX = rb"<([0-9A-Fa-f\s]*)>"
_CODESPACE_RE = re.compile(rb"begincodespacerange(.*?)endcodespacerange", re.S)
_BFCHAR_RE = re.compile(rb"beginbfchar(.*?)endbfchar", re.S)
_BFRANGE_RE = re.compile(rb"beginbfrange(.*?)endbfrange", re.S)
_PAIR_RE = re.compile(_HEX + rb"\s*" + _HEX)
_RANGE_RE = re.compile(_HEX + rb"\s*" + _HEX + rb"\s*(?:" + _HEX + rb"|\[([^\]]*)\])")
_HEX_ITEM_RE = re.compile(_HEX)
_SIMPLE_CODECS = {"/WinAnsiEncoding": "cp1252", "/MacRomanEncoding": "mac_roman"}
_LINE_OPS = frozenset({"T*", "'", '"', "ET", "BT"})


def _hex(raw: bytes) -> bytes:
    digits = re.sub(rb"\s+", b"", raw)
    if len(digits) % 2:
        digits += b"0"
    return bytes.fromhex(digits.decode("ascii"))


def _utf16(raw: bytes) -> str:
    return _hex(raw).decode("utf-16-be", "replace")


@dataclass
class _Font:
    """Turns a shown string into text; ``ok`` is False when it cannot."""

    mapping: dict[bytes, str] | None = None
    widths: tuple[int, ...] = (1,)
    codec: str = "latin-1"
    differences: dict[int, str] | None = None
    ok: bool = True

    def decode(self, s: bytes) -> str:
        if self.mapping is not None:
            out: list[str] = []
            i = 0
            while i < len(s):
                for w in self.widths:
                    ch = self.mapping.get(s[i : i + w])
                    if ch is not None:
                        out.append(ch)
                        i += w
                        break
                else:
                    i += self.widths[0]
            return "".join(out)
        text = s.decode(self.codec, "replace")
        if self.differences:
            return "".join(self.differences.get(b, c) for b, c in zip(s, text, strict=False))
        return text


def parse_cmap(data: bytes) -> tuple[dict[bytes, str], tuple[int, ...]]:
    """A ToUnicode CMap's code -> text mapping and its code widths (shortest first)."""
    mapping: dict[bytes, str] = {}
    widths: set[int] = set()
    for block in _CODESPACE_RE.findall(data):
        for lo, _hi in _PAIR_RE.findall(block):
            widths.add(max(1, len(_hex(lo))))
    for block in _BFCHAR_RE.findall(data):
        for src, dst in _PAIR_RE.findall(block):
            if len(mapping) >= MAX_CMAP_CODES:
                break
            code = _hex(src)
            mapping[code] = _utf16(dst)
            widths.add(len(code) or 1)
    for block in _BFRANGE_RE.findall(data):
        for lo_raw, hi_raw, dst, arr in _RANGE_RE.findall(block):
            lo_b, hi_b = _hex(lo_raw), _hex(hi_raw)
            width = len(lo_b) or 1
            widths.add(width)
            lo, hi = int.from_bytes(lo_b, "big"), int.from_bytes(hi_b, "big")
            if hi < lo or len(mapping) + (hi - lo) >= MAX_CMAP_CODES:
                continue
            if arr:
                items = [_utf16(x) for x in _HEX_ITEM_RE.findall(arr)]
                for k, text in enumerate(items[: hi - lo + 1]):
                    mapping[(lo + k).to_bytes(width, "big")] = text
                continue
            base = _hex(dst)
            if not base:
                continue
            head, last = base[:-2], int.from_bytes(base[-2:], "big")
            for k in range(hi - lo + 1):
                text = (head + ((last + k) & 0xFFFF).to_bytes(2, "big")).decode(
                    "utf-16-be", "replace"
                )
                mapping[(lo + k).to_bytes(width, "big")] = text
    return mapping, tuple(sorted(widths)) or (1,)


def _glyph_char(name: str) -> str | None:
    if len(name) == 1:
        return name
    m = re.fullmatch(r"uni([0-9A-Fa-f]{4})", name)
    return chr(int(m.group(1), 16)) if m else None


def _font(obj: Any) -> _Font:
    import pikepdf

    try:
        tu = obj.get("/ToUnicode")
        if isinstance(tu, pikepdf.Stream):
            mapping, widths = parse_cmap(tu.read_bytes()[: 4 << 20])
            if mapping:
                return _Font(mapping=mapping, widths=widths)
        subtype = str(obj.get("/Subtype", ""))
        if subtype in ("/Type0", "/Type3"):
            return _Font(ok=False)
        enc = obj.get("/Encoding")
        if isinstance(enc, pikepdf.Name):
            return _Font(codec=_SIMPLE_CODECS.get(str(enc), "latin-1"))
        if isinstance(enc, pikepdf.Dictionary):
            codec = _SIMPLE_CODECS.get(str(enc.get("/BaseEncoding", "")), "latin-1")
            diffs: dict[int, str] = {}
            code = 0
            for item in enc.get("/Differences", pikepdf.Array())[:1024]:
                if isinstance(item, int):
                    code = int(item)
                elif isinstance(item, pikepdf.Name):
                    ch = _glyph_char(str(item)[1:])
                    if ch is not None and 0 <= code < 256:
                        diffs[code] = ch
                    code += 1
            return _Font(codec=codec, differences=diffs or None)
    except Exception:
        return _Font(ok=False)
    return _Font()


class _Walker:
    def __init__(self) -> None:
        self.parts: list[str] = []
        self.size = 0
        self.ops = 0
        self.complete = True
        self._fonts: dict[tuple[int, int], _Font] = {}

    def font(self, resources: Any, name: Any) -> _Font:
        try:
            obj = resources["/Font"][name]
        except Exception:
            return _Font(ok=False)
        key = obj.objgen if obj.objgen != (0, 0) else (id(obj), -1)
        if key not in self._fonts:
            self._fonts[key] = _font(obj)
        return self._fonts[key]

    def emit(self, text: str) -> None:
        if self.size < MAX_CHARS:
            self.parts.append(text)
            self.size += len(text)

    def walk(self, stream: Any, resources: Any, depth: int) -> None:
        import pikepdf

        current: _Font | None = None
        for ins in pikepdf.parse_content_stream(stream):
            self.ops += 1
            if self.ops > MAX_OPS or self.size >= MAX_CHARS:
                return
            if isinstance(ins, pikepdf.ContentStreamInlineImage):
                continue
            op = str(ins.operator)
            operands = ins.operands
            if op == "Tf" and operands:
                current = self.font(resources, operands[0])
            elif op in ("Tj", "'", '"', "TJ") and operands:
                if op in _LINE_OPS:
                    self.emit("\n")
                if current is None or not current.ok:
                    self.complete = False
                    continue
                arg = operands[-1]
                if op == "TJ" and isinstance(arg, pikepdf.Array):
                    for item in arg:
                        if isinstance(item, pikepdf.String):
                            self.emit(current.decode(bytes(item)))
                        elif float(item) < -200:  # a large kern: a word space
                            self.emit(" ")
                elif isinstance(arg, pikepdf.String):
                    self.emit(current.decode(bytes(arg)))
            elif (
                op in _LINE_OPS
                or (op in ("Td", "TD") and len(operands) == 2 and operands[1])
                or op == "Tm"
            ):
                self.emit("\n")
            elif op == "Do" and operands and depth < MAX_DEPTH:
                self._form(resources, operands[0], depth)

    def _form(self, resources: Any, name: Any, depth: int) -> None:
        import pikepdf

        try:
            xobj = resources["/XObject"][name]
        except Exception:
            return
        if not isinstance(xobj, pikepdf.Stream) or xobj.get("/Subtype") != pikepdf.Name.Form:
            return
        self.walk(xobj, xobj.get("/Resources", resources), depth + 1)


def page_text(page: Any) -> tuple[str, bool]:
    """``(text, complete)`` of one pikepdf page; ``complete`` is False when some shown text
    used a font this module cannot decode (ask ``pdftotext`` for that page)."""
    walker = _Walker()
    try:
        resources = page.resources  # inherited from the page tree when the page has none
        walker.walk(page, resources, 0)
    except Exception:
        return "".join(walker.parts), False
    return "".join(walker.parts), walker.complete
