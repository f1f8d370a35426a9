"""JSON documents (API responses): the record as a top-level ``"AIGC"`` member.

Our convention (GB 45438 names no JSON carrier): the top-level object gets a member
``"AIGC"`` whose value is the flat record object, e.g. for an OpenAI-style chat completion::

    {"AIGC":{"Label":"1",...},"id":"chatcmpl-1","object":"chat.completion",...}

The edit is textual, never a re-serialisation: the member is inserted right after the opening
brace, using the document's own spacing (the whitespace before the first key and the
key/value separator of the first member), so key order, indentation, number spelling and
escapes of everything else stay byte for byte. An existing top-level ``"AIGC"`` member has
its value replaced where it is; further ones are removed (one record per file). A string
value holding the record JSON (``"AIGC":"{\\"Label\\":...}"``) is read too.

Only UTF-8 JSON whose top level is an object is handled; documents are parsed in full (to
prove they are JSON) up to :data:`MAX_JSON_BYTES`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from synthlabel.errors import LimitExceeded, MalformedInput
from synthlabel.formats import _limits
from synthlabel.formats.base import (
    Carrier,
    ContainerMetadata,
    ContentDigest,
    FormatHandler,
    LabelWrite,
    MediaKind,
)
from synthlabel.formats.text import aigc_mapping, is_utf8_text, sha256_parts, strip_bom

SELECTOR = "synthlabel.json.v1"

#: Largest JSON document parsed (API responses are a few KiB; parsing costs ~10x in memory).
MAX_JSON_BYTES = 64 * 1024 * 1024

_WS = b" \t\r\n"
_STRING_RE = re.compile(rb'"(?:[^"\\]|\\.)*"', re.S)
_SCALAR_RE = re.compile(rb"[^,\]}\s]+")
_TOKEN_RE = re.compile(rb'["{}\[\]]')


@dataclass(frozen=True, slots=True)
class Member:
    key: str
    key_start: int
    key_end: int
    value_start: int
    value_end: int


class _Pairs(list[tuple[str, Any]]):
    """An object's members in document order (keeps duplicates)."""


def _skip_ws(b: bytes, i: int) -> int:
    n = len(b)
    while i < n and b[i] in _WS:
        i += 1
    return i


def _string_end(b: bytes, i: int) -> int:
    m = _STRING_RE.match(b, i)
    if m is None:
        raise MalformedInput("unterminated JSON string", offset=i)
    return m.end()


def _value_end(b: bytes, i: int) -> int:
    if i >= len(b):
        raise MalformedInput("JSON value expected", offset=i)
    c = b[i : i + 1]
    if c == b'"':
        return _string_end(b, i)
    if c not in (b"{", b"["):
        m = _SCALAR_RE.match(b, i)
        if m is None:
            raise MalformedInput("JSON value expected", offset=i)
        return m.end()
    depth = 0
    pos = i
    while True:
        m = _TOKEN_RE.search(b, pos)
        if m is None:
            raise MalformedInput("unterminated JSON structure", offset=i)
        t = m.group()
        if t == b'"':
            pos = _string_end(b, m.start())
            continue
        depth += 1 if t in (b"{", b"[") else -1
        pos = m.end()
        if depth == 0:
            return pos


def top_level(b: bytes) -> tuple[int, list[Member]]:
    """``(offset of the opening brace, top-level members)`` of a JSON object document."""
    _, bom = strip_bom(b)
    i = _skip_ws(b, bom)
    if b[i : i + 1] != b"{":
        raise MalformedInput("JSON document is not an object", offset=i)
    brace = i
    members: list[Member] = []
    i = _skip_ws(b, i + 1)
    if b[i : i + 1] == b"}":
        return brace, members
    while True:
        if b[i : i + 1] != b'"':
            raise MalformedInput("JSON member name expected", offset=i)
        key_end = _string_end(b, i)
        try:
            key = json.loads(b[i:key_end])
        except ValueError:
            raise MalformedInput("bad JSON member name", offset=i) from None
        j = _skip_ws(b, key_end)
        if b[j : j + 1] != b":":
            raise MalformedInput("':' expected after a JSON member name", offset=j)
        vs = _skip_ws(b, j + 1)
        ve = _value_end(b, vs)
        members.append(Member(key, i, key_end, vs, ve))
        i = _skip_ws(b, ve)
        c = b[i : i + 1]
        if c == b"}":
            return brace, members
        if c != b",":
            raise MalformedInput("',' or '}' expected in a JSON object", offset=i)
        i = _skip_ws(b, i + 1)


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse(data: bytes) -> Any:
    """Parse the whole document (bounded); objects become :class:`_Pairs`."""
    _limits.check_input(data, "JSON")
    if len(data) > MAX_JSON_BYTES:
        raise LimitExceeded(f"JSON document over {MAX_JSON_BYTES} bytes")
    if not is_utf8_text(data[:65536]):
        raise MalformedInput("JSON document is not UTF-8 text", offset=0)
    try:
        text = data.decode("utf-8-sig")
        return json.loads(
            text, object_pairs_hook=_Pairs, parse_float=Decimal, parse_constant=_no_constants
        )
    except RecursionError:
        raise LimitExceeded("JSON nesting too deep") from None
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        raise MalformedInput(f"not valid JSON: {exc}") from None


def _canonical(obj: Any, out: list[bytes]) -> None:
    if isinstance(obj, _Pairs):
        out.append(b"{")
        for n, (k, v) in enumerate(sorted(obj, key=lambda kv: kv[0])):
            if n:
                out.append(b",")
            out.append(json.dumps(k, ensure_ascii=True).encode("ascii") + b":")
            _canonical(v, out)
        out.append(b"}")
    elif isinstance(obj, list):
        out.append(b"[")
        for n, v in enumerate(obj):
            if n:
                out.append(b",")
            _canonical(v, out)
        out.append(b"]")
    elif isinstance(obj, Decimal):
        out.append(str(obj).encode("ascii"))
    else:
        out.append(json.dumps(obj, ensure_ascii=True).encode("ascii"))


class JsonHandler:
    id = "json"
    name = "JSON document"
    media_kind = MediaKind.TEXT
    extensions: tuple[str, ...] = ("json",)
    mime_types: tuple[str, ...] = ("application/json",)
    sniff_bytes = 65536

    def sniff(self, head: bytes) -> bool:
        body, _ = strip_bom(head)
        i = _skip_ws(body, 0)
        if body[i : i + 1] != b"{" or not is_utf8_text(body):
            return False
        j = _skip_ws(body, i + 1)
        if j < len(body) and body[j : j + 1] not in (b'"', b"}"):
            return False
        if len(head) < self.sniff_bytes:  # the whole file: it must parse
            try:
                obj = json.loads(body.decode("utf-8"), parse_constant=_no_constants)
            except (ValueError, RecursionError):
                return False
            return isinstance(obj, dict)
        return True  # a long document: a plausible start of an object (read() proves it)

    def read(self, data: bytes) -> ContainerMetadata:
        parse(data)
        meta = ContainerMetadata(format_id=self.id)
        _, members = top_level(data)
        for m in members:
            if m.key != "AIGC":
                continue
            raw = data[m.value_start : m.value_end]
            value = raw
            if raw.startswith(b'"'):
                decoded = json.loads(raw)
                value = decoded.encode("utf-8")
                meta.warnings.append('"AIGC" member holds the record as a JSON string')
            elif not raw.startswith(b"{"):
                meta.warnings.append('"AIGC" member is not an object')
            meta.carriers.append(Carrier("aigc", m.value_start, value, name='member "AIGC"'))
        return meta

    def write_label(self, data: bytes, label: LabelWrite) -> bytes:
        parse(data)
        record = json.dumps(aigc_mapping(label), ensure_ascii=True, separators=(",", ":"))
        rec = record.encode("ascii")
        brace, members = top_level(data)
        aigc = [m for m in members if m.key == "AIGC"]
        if not aigc:
            if not members:
                return data[: brace + 1] + b'"AIGC":' + rec + data[brace + 1 :]
            first = members[0]
            ws = data[brace + 1 : first.key_start]
            sep = data[first.key_end : first.value_start]
            return (
                data[: brace + 1] + ws + b'"AIGC"' + sep + rec + b"," + ws + data[first.key_start :]
            )
        out = [data[: aigc[0].value_start], rec]
        pos = aigc[0].value_end
        for m in aigc[1:]:
            prev = members[members.index(m) - 1]
            out.append(data[pos : prev.value_end])
            pos = m.value_end
        out.append(data[pos:])
        return b"".join(out)

    def content_digest(self, data: bytes) -> ContentDigest:
        """SHA-256 of the document's canonical form without top-level ``"AIGC"`` members:
        members sorted by name (stable, duplicates kept), no whitespace, ASCII escapes,
        numbers as written. Formatting changes and the label do not change it."""
        obj = parse(data)
        if not isinstance(obj, _Pairs):
            raise MalformedInput("JSON document is not an object", offset=0)
        out: list[bytes] = []
        try:
            _canonical(_Pairs((k, v) for k, v in obj if k != "AIGC"), out)
        except RecursionError:
            raise LimitExceeded("JSON nesting too deep") from None
        return ContentDigest(SELECTOR, "sha256", sha256_parts(*out))


HANDLER: FormatHandler = JsonHandler()
