"""HTML: ``<meta name="AIGC" content='{flat JSON}'>`` in ``<head>``, mirrored in JSON-LD.

GB 45438 names no HTML carrier; the spec's proposal (``docs/formats-text-documents.md``) is the
meta element, which is what readers use first. Our convention adds, right after it, one
JSON-LD block a structured-data consumer can read::

    <script type="application/ld+json">{"@context":{"@vocab":"https://schema.org/",
    "tc260":"http://www.tc260.org.cn/ns/AIGC/1.0/","tc260:AIGC":{"@type":"@json"}},
    "@type":"CreativeWork","tc260:AIGC":{"Label":"1",...}}</script>

``tc260:AIGC`` expands to ``http://www.tc260.org.cn/ns/AIGC/1.0/AIGC``, the same RDF property
as the XMP ``TC260:AIGC`` the image guide uses; ``@json`` keeps the record a JSON literal.
The two are written, replaced and removed together and read as **one** record: the meta
element wins, a disagreeing JSON-LD copy is reported as a warning, a JSON-LD copy alone is
reported (with a warning that the meta element is missing).

Edits are textual on a byte-for-byte latin-1 view of the file (so any ASCII-compatible
charset works and offsets are byte offsets): only the two elements are inserted after the
``<head>`` start tag (after a ``<meta charset>`` if there is one), using the indentation that
follows; a missing ``<head>`` is created after ``<html>``. Every other byte is kept.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass, field

from synthlabel.errors import LimitExceeded
from synthlabel.formats import _limits
from synthlabel.formats.base import (
    Carrier,
    ContainerMetadata,
    ContentDigest,
    FormatHandler,
    LabelWrite,
    MediaKind,
)
from synthlabel.formats.text import aigc_mapping, sha256_parts, strip_bom

SELECTOR = "synthlabel.html.v1"

#: JSON-LD term and the IRI it expands to.
JSONLD_TERM = "tc260:AIGC"
JSONLD_IRI = "http://www.tc260.org.cn/ns/AIGC/1.0/AIGC"
JSONLD_CONTEXT = {
    "@vocab": "https://schema.org/",
    "tc260": "http://www.tc260.org.cn/ns/AIGC/1.0/",
    JSONLD_TERM: {"@type": "@json"},
}
_OUR_KEYS = frozenset({"@context", "@type", JSONLD_TERM, JSONLD_IRI})

#: Largest HTML document handled.
MAX_HTML_BYTES = 256 * 1024 * 1024
#: Most tags walked in one document.
MAX_TAGS = 2_000_000
#: Largest JSON-LD block parsed.
MAX_JSONLD_BYTES = 1024 * 1024

_BOM = "\xef\xbb\xbf"  # the UTF-8 BOM in the latin-1 view
_RAW_TEXT = frozenset({"script", "style", "textarea", "title", "xmp", "plaintext", "noscript"})
_OPEN_RE = re.compile(r"<(?:(!--)|(/?)([A-Za-z][^\s/>]*)|[!?])")
_ATTR_NAME_RE = re.compile(r"[^\s/>][^\s/>=]*")
_UNQUOTED_RE = re.compile(r"[^\s>]*")
_SNIFF_RE = re.compile(rb"(?i)<!doctype\s+html|<html[\s>]|<head[\s>]")


@dataclass(slots=True)
class Tag:
    name: str  # lower case
    start: int
    end: int  # after ``>``
    closing: bool
    attrs: dict[str, str] = field(default_factory=dict)  # raw values (latin-1 view)
    content_end: int = -1  # raw-text elements: start of the end tag
    close_end: int = -1  # raw-text elements: after the end tag's ``>``

    def attr(self, name: str) -> str | None:
        raw = self.attrs.get(name)
        if raw is None:
            return None
        return html.unescape(raw.encode("latin-1").decode("utf-8", "replace"))


def _parse_attrs(text: str, i: int) -> tuple[dict[str, str], int]:
    attrs: dict[str, str] = {}
    n = len(text)
    while i < n:
        c = text[i]
        if c in " \t\r\n\f/":
            i += 1
            continue
        if c == ">":
            return attrs, i + 1
        m = _ATTR_NAME_RE.match(text, i)
        if m is None:  # pragma: no cover - the class matches every other character
            return attrs, n
        name = m.group().lower()
        i = m.end()
        while i < n and text[i] in " \t\r\n\f":
            i += 1
        value = ""
        if i < n and text[i] == "=":
            i += 1
            while i < n and text[i] in " \t\r\n\f":
                i += 1
            if i < n and text[i] in "\"'":
                q = text[i]
                e = text.find(q, i + 1)
                if e < 0:
                    return attrs, n
                value = text[i + 1 : e]
                i = e + 1
            else:
                um = _UNQUOTED_RE.match(text, i)
                assert um is not None
                value = um.group()
                i = um.end()
        attrs.setdefault(name, value)
    return attrs, n


def scan(text: str) -> list[Tag]:
    """The tags that matter here (html, head, body, meta, script), with raw-text skipping."""
    out: list[Tag] = []
    counter = _limits.Counter(MAX_TAGS, "HTML tags")
    pos = 0
    n = len(text)
    while pos < n:
        m = _OPEN_RE.search(text, pos)
        if m is None:
            break
        counter.tick(m.start())
        if m.group(1):
            e = text.find("-->", m.end())
            pos = n if e < 0 else e + 3
            continue
        if m.group(3) is None:
            e = text.find(">", m.end())
            pos = n if e < 0 else e + 1
            continue
        name = m.group(3).lower()
        closing = m.group(2) == "/"
        attrs, end = _parse_attrs(text, m.end())
        tag = Tag(name, m.start(), end, closing, attrs)
        pos = end
        if not closing and name in _RAW_TEXT and not text.endswith("/>", 0, end):
            close = re.compile(rf"</{re.escape(name)}(?=[\s/>])", re.I).search(text, end)
            tag.content_end = close.start() if close else n
            if close:
                gt = text.find(">", close.end())
                tag.close_end = n if gt < 0 else gt + 1
            else:
                tag.close_end = n
            pos = tag.close_end
        if name in ("html", "head", "body", "meta", "script"):
            out.append(tag)
    return out


def _is_aigc_meta(t: Tag) -> bool:
    return t.name == "meta" and not t.closing and (t.attr("name") or "").strip().lower() == "aigc"


def _jsonld_records(text: str, t: Tag) -> tuple[list[str], bool]:
    """(records in a JSON-LD script, whether the block is ours alone)."""
    if t.name != "script" or t.closing or t.content_end < 0:
        return [], False
    typ = (t.attr("type") or "").split(";")[0].strip().lower()
    if typ != "application/ld+json":
        return [], False
    body = text[t.end : t.content_end]
    if JSONLD_TERM not in body and JSONLD_IRI not in body:
        return [], False
    if len(body) > MAX_JSONLD_BYTES:
        raise LimitExceeded(f"JSON-LD block over {MAX_JSONLD_BYTES} bytes", offset=t.end)
    try:
        obj = json.loads(body.encode("latin-1").decode("utf-8", "replace"))
    except (ValueError, RecursionError):
        return [], False
    nodes = obj if isinstance(obj, list) else [obj]
    if isinstance(obj, dict) and isinstance(obj.get("@graph"), list):
        nodes = [obj, *obj["@graph"]]
    found: list[str] = []
    for node in nodes:
        if not isinstance(node, dict):
            continue
        for key in (JSONLD_TERM, JSONLD_IRI):
            v = node.get(key)
            if isinstance(v, dict):
                found.append(json.dumps(v, ensure_ascii=True, separators=(",", ":")))
            elif isinstance(v, str):
                found.append(v)
    ours = isinstance(obj, dict) and bool(found) and set(obj) <= _OUR_KEYS
    return found, ours


def _line_start(text: str, s: int) -> int:
    """Extend a removal backwards over the indentation and line break before ``s`` (only when
    the element starts its line: the inverse of how :func:`_insert` places it)."""
    k = s
    while k > 0 and text[k - 1] in " \t":
        k -= 1
    if k > 0 and text[k - 1] == "\n":
        k -= 1
        if k > 0 and text[k - 1] == "\r":
            k -= 1
        return k
    return s


def _remove_ours(text: str, tags: list[Tag]) -> str:
    spans: list[tuple[int, int]] = []
    for t in tags:
        if _is_aigc_meta(t):
            spans.append((_line_start(text, t.start), t.end))
        elif t.name == "script" and _jsonld_records(text, t)[1]:
            spans.append((_line_start(text, t.start), t.close_end))
    if not spans:
        return text
    out: list[str] = []
    pos = 0
    for s, e in sorted(spans):
        s = max(s, pos)
        out.append(text[pos:s])
        pos = max(pos, e)
    out.append(text[pos:])
    return "".join(out)


def _escape_attr(value: str) -> str:
    return value.replace("&", "&amp;").replace("'", "&#39;").replace("<", "&lt;")


def _jsonld(record: dict[str, str]) -> str:
    doc = {"@context": JSONLD_CONTEXT, "@type": "CreativeWork", JSONLD_TERM: record}
    text = json.dumps(doc, ensure_ascii=True, separators=(",", ":"))
    # Inside <script> (and XHTML) "<", ">" and "&" must not appear raw; they occur only in
    # JSON strings here, where the \\u escapes mean the same characters.
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


_PROLOG_RE = re.compile(
    r"(?:\s*<\?xml[^>]*>)?(?:\s*<!--.*?-->)*(?:\s*<!doctype[^>]*>)?", re.I | re.S
)


def _doctype_end(text: str, start: int) -> int:
    m = _PROLOG_RE.match(text, start)
    return m.end() if m else start


def _insert(text: str, record: dict[str, str], *, json_ld: bool) -> str:
    tags = scan(text)
    bom = 3 if text.startswith(_BOM) else 0
    xhtml = text[bom:].lstrip(" \t\r\n").startswith("<?xml") or (
        "http://www.w3.org/1999/xhtml" in text[:4096]
    )
    close = " />" if xhtml else ">"
    content = _escape_attr(json.dumps(record, separators=(",", ":")))
    meta = f"<meta name=\"AIGC\" content='{content}'{close}"
    script = f'<script type="application/ld+json">{_jsonld(record)}</script>'
    if not json_ld:
        script = ""
    head = next((t for t in tags if t.name == "head" and not t.closing), None)
    if head is not None:
        anchor = head.end
        head_close = next((t.start for t in tags if t.name == "head" and t.closing), len(text))
        for t in tags:
            if t.start >= head_close or (t.name == "body" and not t.closing):
                break
            if (
                t.name == "meta"
                and t.start > head.start
                and ("charset" in t.attrs or (t.attr("http-equiv") or "").lower() == "content-type")
            ):
                anchor = t.end
                break
        sep = _sep_after(text, anchor)
        return text[:anchor] + sep + meta + (sep + script if script else "") + text[anchor:]
    html_tag = next((t for t in tags if t.name == "html" and not t.closing), None)
    anchor = html_tag.end if html_tag is not None else _doctype_end(text, bom)
    sep = _sep_after(text, anchor)
    inner = sep + meta + (sep + script if script else "") + sep
    return text[:anchor] + sep + "<head>" + inner + "</head>" + text[anchor:]


def _sep_after(text: str, anchor: int) -> str:
    m = re.compile(r"\r?\n[ \t]*").match(text, anchor)
    return m.group() if m else ""


_EMPTY_HEAD_RE = re.compile(r"(?:\r?\n[ \t]*)?<head\s*>\s*</head\s*>", re.I)


class HtmlHandler:
    id = "html"
    name = "HTML"
    media_kind = MediaKind.TEXT
    extensions: tuple[str, ...] = ("html", "htm", "xhtml")
    mime_types: tuple[str, ...] = ("text/html", "application/xhtml+xml")
    sniff_bytes = 4096

    def __init__(self, *, json_ld: bool = True) -> None:
        #: Write the JSON-LD mirror next to the meta element (reading always looks at both).
        self.json_ld = json_ld

    def sniff(self, head: bytes) -> bool:
        body, _ = strip_bom(head)
        if b"\x00" in body:
            return False
        i = 0
        n = len(body)
        while i < n:
            while i < n and body[i] in b" \t\r\n\f":
                i += 1
            if body.startswith(b"<!--", i):
                e = body.find(b"-->", i + 4)
                if e < 0:
                    return False
                i = e + 3
            elif body.startswith(b"<?xml", i):
                e = body.find(b"?>", i)
                if e < 0:
                    return False
                i = e + 2
            else:
                break
        return _SNIFF_RE.match(body, i) is not None

    def _text(self, data: bytes) -> str:
        _limits.check_input(data, "HTML")
        if len(data) > MAX_HTML_BYTES:
            raise LimitExceeded(f"HTML document over {MAX_HTML_BYTES} bytes")
        return data.decode("latin-1")

    def read(self, data: bytes) -> ContainerMetadata:
        text = self._text(data)
        meta = ContainerMetadata(format_id=self.id)
        tags = scan(text)
        head_close = next((t.start for t in tags if t.name == "head" and t.closing), None)
        body_open = next((t.start for t in tags if t.name == "body" and not t.closing), None)
        metas: list[tuple[int, str]] = []
        jsonld: list[tuple[int, str]] = []
        for t in tags:
            if _is_aigc_meta(t):
                metas.append((t.start, t.attr("content") or ""))
                limit = min(x for x in (head_close, body_open, len(text)) if x is not None)
                if t.start > limit:
                    meta.warnings.append("meta name=AIGC is outside <head>")
            else:
                jsonld += [(t.end, r) for r in _jsonld_records(text, t)[0]]
        for offset, value in metas:
            meta.carriers.append(
                Carrier("aigc", offset, value.encode("utf-8"), name="meta name=AIGC")
            )
        if metas:
            first = _as_json(metas[0][1])
            for _, value in jsonld:
                if _as_json(value) != first:
                    meta.warnings.append(
                        "JSON-LD tc260:AIGC disagrees with meta name=AIGC (the meta element wins)"
                    )
        elif jsonld:
            meta.warnings.append("record only in JSON-LD tc260:AIGC (no meta name=AIGC)")
            for offset, value in jsonld:
                meta.carriers.append(
                    Carrier("aigc", offset, value.encode("utf-8"), name="JSON-LD tc260:AIGC")
                )
        return meta

    def write_label(self, data: bytes, label: LabelWrite) -> bytes:
        text = self._text(data)
        record = aigc_mapping(label)
        # What we insert is ASCII (json.dumps escapes the rest), so the latin-1 view holds it.
        out = _insert(_remove_ours(text, scan(text)), record, json_ld=self.json_ld)
        return out.encode("latin-1")

    def content_digest(self, data: bytes) -> ContentDigest:
        """SHA-256 of the document without BOM, AIGC meta elements and our JSON-LD blocks,
        with a ``<head></head>`` left empty by that removal dropped (so creating a head
        does not change the digest)."""
        text = self._text(data)
        _, bom = strip_bom(data[:3])
        rest = _remove_ours(text, scan(text))[bom:]
        rest = _EMPTY_HEAD_RE.sub("", rest, count=1)
        return ContentDigest(SELECTOR, "sha256", sha256_parts(rest.encode("latin-1")))


def _as_json(value: str) -> object:
    try:
        return json.loads(value)
    except (ValueError, RecursionError):
        return value


HANDLER: FormatHandler = HtmlHandler()
