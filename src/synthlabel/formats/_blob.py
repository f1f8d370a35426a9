"""Find AIGC records embedded in free-form bytes (JPEG APPn/COM segments, GIF comments).

Seen in the wild (gb45438-labels.md §7): a bare ``AIGC{...}`` blob in an application segment,
and JSON text such as ``{"AIGC":{...}}`` in a comment. The scan is bounded (record size, hit
count) and gated on at least one known record key, so random bytes spelling ``AIGC`` do not
count as a record.
"""

from __future__ import annotations

import json
import re

from synthlabel.model.aigc import MAX_RECORD_CHARS, looks_like_record

# "AIGC" then optional quote, blanks and ':' or '=', then the opening brace.
_START = re.compile(rb'AIGC"?[ \t\r\n]{0,8}[:=]?[ \t\r\n]{0,8}\{')
_BLANK = b"\x00 \t\r\n"


_DECODER = json.JSONDecoder()
#: Candidates examined per buffer, and how far after the brace a known key must appear.
MAX_CANDIDATES = 64
_GATE_WINDOW = 256
_KEYS = (b"Label", b"ContentProducer", b"ProduceID", b"ContentPropagator", b"PropagateID")


def _object_end(text: str, start: int) -> int:
    """Index after the JSON object starting at ``start``, or -1 if it is not valid JSON."""
    try:
        obj, end = _DECODER.raw_decode(text, start)
    except (ValueError, RecursionError):
        return -1
    if not isinstance(obj, dict) or end - start > MAX_RECORD_CHARS:
        return -1
    return int(end)


def find_records(buf: bytes, *, max_hits: int = 16) -> list[tuple[int, int]]:
    """Spans ``(start, end)`` of AIGC records in ``buf``.

    A bare blob spans ``AIGC{...}``; a quoted key directly inside an object (``{"AIGC":{...}}``)
    spans the whole enclosing object, so the span is always something
    :func:`synthlabel.model.aigc.parse_record` accepts. Only objects that are valid JSON and
    mention a record key within their first bytes count; the work per buffer is bounded.
    """
    out: list[tuple[int, int]] = []
    if b"AIGC" not in buf:
        return out
    text = buf.decode("latin-1")  # one char per byte: spans stay byte offsets
    pos = 0
    for _ in range(MAX_CANDIDATES):
        if len(out) >= max_hits:
            break
        m = _START.search(buf, pos)
        if m is None:
            break
        pos = m.end()
        start = m.start()
        brace = m.end() - 1
        window = buf[brace : brace + _GATE_WINDOW]
        if not any(k in window for k in _KEYS):
            continue
        if start > 0 and buf[start - 1] == 0x22:  # "AIGC": a quoted key
            k = start - 2
            while k >= 0 and buf[k] in b" \t\r\n":
                k -= 1
            if k >= 0 and buf[k] == 0x7B:  # directly inside an object: take the whole object
                end = _object_end(text, k)
                if end > 0:
                    out.append((k, end))
                    pos = end
                    continue
            start -= 1
        end = _object_end(text, brace)
        if end > 0 and looks_like_record(buf[start:end]):
            out.append((start, end))
            pos = end
    return out


def is_record_only(buf: bytes) -> bool:
    """True when ``buf`` holds one AIGC record and nothing else but blanks/NUL padding."""
    spans = find_records(buf, max_hits=2)
    if len(spans) != 1:
        return False
    start, end = spans[0]
    return not buf[:start].strip(_BLANK) and not buf[end:].strip(_BLANK)
