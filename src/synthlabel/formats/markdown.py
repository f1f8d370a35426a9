"""Markdown: the record as an ``AIGC`` mapping in YAML front matter (TC260-PG-20258A).

Written exactly as real exports do::

    ---
    AIGC:
      Label: '1'
      ContentProducer: '001191110000MA0000000H10001'
      ...seven keys, single-quoted values...
    ---

Edits are textual, line by line, so everything else survives byte for byte: an existing front
matter block keeps its other keys, comments and order (the AIGC block is appended before the
closing ``---``, or replaces an existing ``AIGC`` entry where it is); the body, the line
endings (LF or CRLF, taken from the file) and a UTF-8 BOM are untouched.

Reading needs no YAML library: only the ``AIGC`` entry is parsed, as a one-level block
mapping of scalars (single-quoted, double-quoted or plain) or as a one-line value holding the
JSON (``AIGC: '{"Label":"1",...}'`` or a JSON flow mapping). Everything is bounded: the front
matter is looked for in the first :data:`MAX_FRONT_MATTER` bytes.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from synthlabel.errors import MalformedInput
from synthlabel.formats import _limits
from synthlabel.formats.base import (
    Carrier,
    ContainerMetadata,
    ContentDigest,
    FormatHandler,
    LabelWrite,
    MediaKind,
)
from synthlabel.formats.text import aigc_mapping, detect_eol, is_utf8_text, sha256_parts, strip_bom

SELECTOR = "synthlabel.markdown.v1"

#: Front matter must close within this many bytes of the start (real ones are < 4 KiB).
MAX_FRONT_MATTER = 1024 * 1024
#: Most lines of front matter walked.
MAX_FRONT_MATTER_LINES = 20_000

_KEY_RE = re.compile(rb"""^(?:AIGC|"AIGC"|'AIGC')[ \t]*:(?:[ \t]|$)""")
_ENTRY_RE = re.compile(
    r"""^(?P<indent>[ \t]+)(?P<q>["']?)(?P<key>[^"':#\s][^"':]*?)(?P=q)"""
    r"""[ \t]*:(?:[ \t]+(?P<value>.*))?$"""
)
_MD_HINTS = re.compile(
    rb"^(?:#{1,6}[ \t]\S|[-*+][ \t]+\S|\d{1,9}[.)][ \t]+\S|>[ \t]?\S|```|~~~|\|.*\|[ \t]*\r?$)"
    rb"|\[[^\]\r\n]{1,200}\]\([^)\s]{1,500}\)|\*\*\S[^*\r\n]{0,200}\*\*",
    re.M,
)


@dataclass(frozen=True, slots=True)
class Line:
    start: int  # offset of the first byte
    end: int  # offset of the line ending (or of the end of data)
    next: int  # offset after the line ending

    def text(self, data: bytes) -> bytes:
        return data[self.start : self.end].rstrip(b"\r")


@dataclass(frozen=True, slots=True)
class FrontMatter:
    open: Line  # the opening ``---``
    close: Line  # the closing ``---`` (or ``...``)
    lines: tuple[Line, ...]  # the content lines in between
    eol: bytes


@dataclass(frozen=True, slots=True)
class AigcEntry:
    first: int  # index into FrontMatter.lines of the ``AIGC:`` line
    last: int  # index of its last line (inclusive)
    value: str  # record text handed to parse_record (JSON)
    warnings: tuple[str, ...] = ()


def _lines(data: bytes, start: int, limit: int) -> list[Line]:
    out: list[Line] = []
    pos = start
    stop = min(len(data), start + limit)
    while pos < stop:
        if len(out) > MAX_FRONT_MATTER_LINES:
            break
        nl = data.find(b"\n", pos, stop)
        if nl < 0:
            out.append(Line(pos, stop, stop))
            break
        out.append(Line(pos, nl, nl + 1))
        pos = nl + 1
    return out


def _is_delim(text: bytes, closing: bool) -> bool:
    t = text.rstrip(b" \t")
    return t == b"---" or (closing and t == b"...")


def find_front_matter(data: bytes) -> FrontMatter | None:
    """The YAML front matter at the top of ``data`` (after a BOM), or None."""
    _, bom = strip_bom(data)
    if not data.startswith(b"---", bom):
        return None
    lines = _lines(data, bom, MAX_FRONT_MATTER)
    if not lines or not _is_delim(lines[0].text(data), False) or lines[0].next == lines[0].end:
        return None
    eol = b"\r\n" if data[lines[0].end - 1 : lines[0].end] == b"\r" else b"\n"
    for i in range(1, len(lines)):
        if _is_delim(lines[i].text(data), True):
            return FrontMatter(lines[0], lines[i], tuple(lines[1:i]), eol)
    return None


def _indent(text: bytes) -> int:
    return len(text) - len(text.lstrip(b" \t"))


def _blank_or_comment(text: bytes) -> bool:
    s = text.strip()
    return not s or s.startswith(b"#")


def _strip_comment(value: str) -> str:
    m = re.search(r"(^|[ \t])#", value)
    return value[: m.start()].rstrip() if m else value.rstrip()


def _scalar(raw: str) -> tuple[Any, str | None]:
    """A YAML scalar (single-, double-quoted or plain), with a problem note if odd."""
    raw = raw.strip()
    if raw.startswith("'"):
        m = re.match(r"'((?:[^']|'')*)'", raw)
        if not m:
            return raw, "unterminated single-quoted value"
        rest = _strip_comment(raw[m.end() :])
        return m.group(1).replace("''", "'"), (
            f"text after a quoted value: {rest!r}" if rest else None
        )
    if raw.startswith('"'):
        m = re.match(r'"((?:[^"\\]|\\.)*)"', raw)
        if not m:
            return raw, "unterminated double-quoted value"
        try:
            return json.loads(m.group(0)), None
        except ValueError:
            return m.group(1), "double-quoted value uses escapes beyond JSON's"
    plain = _strip_comment(raw)
    if plain in ("", "~", "null", "Null", "NULL"):
        return None, None
    if plain in ("true", "True", "TRUE", "false", "False", "FALSE"):
        return plain.lower() == "true", None
    if re.fullmatch(r"[-+]?[0-9]+", plain):
        return int(plain), None
    if re.fullmatch(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?", plain):
        return float(plain), None
    return plain, None


def _decode(data: bytes, line: Line) -> str:
    try:
        return line.text(data).decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedInput("front matter is not UTF-8", offset=line.start) from None


def find_aigc_entries(data: bytes, fm: FrontMatter) -> list[AigcEntry]:
    """Every top-level ``AIGC`` entry of the front matter, parsed to record JSON."""
    out: list[AigcEntry] = []
    lines = fm.lines
    i = 0
    while i < len(lines):
        text = lines[i].text(data)
        if not _KEY_RE.match(text):
            i += 1
            continue
        first = i
        rest = _decode(data, lines[i]).split(":", 1)[1].strip()
        # The entry runs over the following indented lines (blank lines inside count only
        # when more indented lines follow).
        last = i
        j = i + 1
        while j < len(lines):
            t = lines[j].text(data)
            if t.strip() and _indent(t) == 0:
                break
            if t.strip():
                last = j
            j += 1
        i = last + 1
        if rest and not rest.startswith("#"):
            out.append(_one_line_entry(data, lines, first, last, rest))
        else:
            out.append(_block_entry(data, lines, first, last))
    return out


def _one_line_entry(
    data: bytes, lines: tuple[Line, ...], first: int, last: int, rest: str
) -> AigcEntry:
    # Continuation lines of a folded scalar or flow mapping are joined with spaces (YAML).
    parts = [rest] + [_decode(data, lines[k]).strip() for k in range(first + 1, last + 1)]
    joined = " ".join(p for p in parts if p)
    warnings: list[str] = []
    if joined.startswith("{"):
        value = joined
    else:
        scalar, problem = _scalar(joined)
        if problem:
            warnings.append(f"front matter AIGC: {problem}")
        value = scalar if isinstance(scalar, str) else json.dumps(scalar)
    return AigcEntry(first, last, value, tuple(warnings))


def _block_entry(data: bytes, lines: tuple[Line, ...], first: int, last: int) -> AigcEntry:
    mapping: dict[str, Any] = {}
    warnings: list[str] = []
    key_indent: int | None = None
    for k in range(first + 1, last + 1):
        raw = _decode(data, lines[k])
        if _blank_or_comment(raw.encode()):
            continue
        m = _ENTRY_RE.match(raw)
        indent = len(raw) - len(raw.lstrip(" \t"))
        if key_indent is None:
            key_indent = indent
        if m is None or indent != key_indent:
            warnings.append(f"front matter AIGC: unexpected line {raw.strip()[:60]!r} ignored")
            continue
        value, problem = _scalar(m.group("value") or "")
        if problem:
            warnings.append(f"front matter AIGC.{m.group('key')}: {problem}")
        if m.group("key") in mapping:
            warnings.append(f"front matter AIGC: duplicate key {m.group('key')}")
        mapping[m.group("key")] = value
    text = json.dumps(mapping, ensure_ascii=True, separators=(",", ":"))
    return AigcEntry(first, last, text, tuple(warnings))


def _yaml_quote(value: str) -> str:
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        return json.dumps(value, ensure_ascii=True)  # JSON strings are YAML double-quoted
    return "'" + value.replace("'", "''") + "'"


def aigc_block(record: dict[str, str], eol: bytes) -> bytes:
    """``AIGC:`` and one two-space-indented line per key, each ending with ``eol``."""
    lines = ["AIGC:"] + [f"  {k}: {_yaml_quote(v)}" for k, v in record.items()]
    return b"".join(line.encode("utf-8") + eol for line in lines)


def without_aigc(data: bytes) -> bytes:
    """``data`` without its BOM and AIGC entries; a front matter left empty is dropped."""
    _, bom = strip_bom(data)
    fm = find_front_matter(data)
    if fm is None:
        return data[bom:]
    entries = find_aigc_entries(data, fm)
    drop = {k for e in entries for k in range(e.first, e.last + 1)}
    kept = [ln for k, ln in enumerate(fm.lines) if k not in drop]
    if not any(ln.text(data).strip() for ln in kept):
        return data[fm.close.next :]
    parts = [data[bom : fm.open.next]]
    parts += [data[ln.start : ln.next] for ln in kept]
    parts.append(data[fm.close.start :])
    return b"".join(parts)


class MarkdownHandler:
    id = "markdown"
    name = "Markdown"
    media_kind = MediaKind.TEXT
    extensions: tuple[str, ...] = ("md", "markdown", "mdown", "mkd")
    mime_types: tuple[str, ...] = ("text/markdown",)
    sniff_bytes = 4096
    #: Markdown is text with conventions: asked after specific formats, before plain text;
    #: when plain text matches as well the extension decides (registry.sniff).
    sniff_priority = -5

    def sniff(self, head: bytes) -> bool:
        if not is_utf8_text(head):
            return False
        body, _ = strip_bom(head)
        if re.match(rb"---[ \t]*\r?\n", body):
            return True
        return len(_MD_HINTS.findall(body)) >= 1

    def _check(self, data: bytes) -> None:
        _limits.check_input(data, "Markdown")
        if data and not is_utf8_text(data[:65536]):
            raise MalformedInput("not UTF-8 text", offset=0)

    def read(self, data: bytes) -> ContainerMetadata:
        self._check(data)
        meta = ContainerMetadata(format_id=self.id)
        fm = find_front_matter(data)
        if fm is None:
            return meta
        for entry in find_aigc_entries(data, fm):
            line = fm.lines[entry.first]
            meta.carriers.append(
                Carrier("aigc", line.start, entry.value.encode("utf-8"), name="front matter AIGC")
            )
            meta.warnings.extend(entry.warnings)
        return meta

    def write_label(self, data: bytes, label: LabelWrite) -> bytes:
        self._check(data)
        record = aigc_mapping(label)
        _, bom = strip_bom(data)
        fm = find_front_matter(data)
        if fm is None:
            eol = detect_eol(data, bom)
            return data[:bom] + b"---" + eol + aigc_block(record, eol) + b"---" + eol + data[bom:]
        eol = fm.eol
        block = aigc_block(record, eol)
        entries = find_aigc_entries(data, fm)
        if not entries:
            at = fm.close.start
            return data[:at] + block + data[at:]
        # Replace the first entry where it is; drop any further ones (one record per file).
        out = [data[: fm.lines[entries[0].first].start]]
        pos = fm.lines[entries[0].first].start
        for n, e in enumerate(entries):
            out.append(data[pos : fm.lines[e.first].start])
            if n == 0:
                out.append(block)
            pos = fm.lines[e.last].next
        out.append(data[pos:])
        return b"".join(out)

    def content_digest(self, data: bytes) -> ContentDigest:
        """SHA-256 of the file without BOM and AIGC entries (front matter left empty by
        their removal is dropped too), so labelling does not change it."""
        self._check(data)
        return ContentDigest(SELECTOR, "sha256", sha256_parts(without_aigc(data)))


HANDLER: FormatHandler = MarkdownHandler()
