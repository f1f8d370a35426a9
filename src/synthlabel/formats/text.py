"""Plain text (``.txt``): no metadata slot, so no normative implicit label.

GB 45438 and the text guide (TC260-PG-20258A) name no file-metadata carrier for plain text:
the file *is* its content. This handler therefore

- **reads** a record that some tool put on a line of its own as the first or last line
  (``{"AIGC":{...}}``, the wrapped form the spec uses for unnamed slots), reported as an
  ``aigc`` carrier with a warning that it is not a normative carrier;
- **refuses to write** by default: :meth:`PlainTextHandler.write_label` raises
  :class:`~synthlabel.errors.UnsupportedFormat` with what to do instead (the explicit notice,
  Markdown front matter, or a sidecar). Appending a line to "any UTF-8 text" would silently
  change CSV rows, source code or XML documents, which all land here as the catch-all;
- offers the label line as an **opt-in** (``PlainTextHandler(label_line=True)``): one last
  line holding the wrapped record, written so that removing it restores the original bytes.

The module also holds the small text helpers the Markdown, HTML and JSON handlers share.
See ``docs/formats-text-documents.md``.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import re

from synthlabel.errors import MalformedInput, RecordError, UnsupportedFormat
from synthlabel.formats import _limits
from synthlabel.formats.base import (
    Carrier,
    ContainerMetadata,
    ContentDigest,
    FormatHandler,
    LabelWrite,
    MediaKind,
)

BOM = b"\xef\xbb\xbf"
SELECTOR = "synthlabel.text.v1"

#: Longest line we look at for a label line (a record is < 2 KiB; signed ones < 8 KiB).
MAX_LABEL_LINE = 64 * 1024

# C0 controls that never occur in text files (NUL, and the rest except TAB, LF, VT, FF, CR, ESC).
_BINARY_BYTES = frozenset(range(0x00, 0x09)) | frozenset(range(0x0E, 0x1B)) | {0x1C, 0x1D, 0x1E}
# The same set as one regex character class: a C-speed search instead of a Python loop per byte.
_BINARY_RE = re.compile(
    b"[" + b"".join(re.escape(bytes([c])) for c in sorted(_BINARY_BYTES)) + b"]"
)


def strip_bom(data: bytes) -> tuple[bytes, int]:
    """``(data without a UTF-8 BOM, length of the BOM)``."""
    return (data[3:], 3) if data.startswith(BOM) else (data, 0)


def is_utf8_text(head: bytes) -> bool:
    """True when ``head`` is UTF-8 text (a cut multi-byte sequence at the end is allowed)
    without the control bytes that mark binary files."""
    if not head:
        return False
    body, _ = strip_bom(head)
    if _BINARY_RE.search(body):
        return False
    try:
        codecs.getincrementaldecoder("utf-8")().decode(body, final=False)
    except UnicodeDecodeError:
        return False
    return True


def detect_eol(data: bytes, start: int = 0, limit: int = 1 << 20) -> bytes:
    """The line ending of the first line break at or after ``start`` (``\\r\\n`` or ``\\n``)."""
    nl = data.find(b"\n", start, start + limit)
    if nl > start and data[nl - 1 : nl] == b"\r":
        return b"\r\n"
    return b"\n"


def sha256_parts(*parts: bytes | memoryview) -> bytes:
    h = hashlib.sha256()
    for p in parts:
        h.update(p)
    return h.digest()


def aigc_mapping(label: LabelWrite) -> dict[str, str]:
    """The record of ``label`` as an ordered mapping of strings (raises RecordError)."""
    try:
        obj = json.loads(label.aigc_json)
    except (ValueError, RecursionError):
        raise RecordError("LabelWrite.aigc_json is not valid JSON") from None
    if not isinstance(obj, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in obj.items()
    ):
        raise RecordError("LabelWrite.aigc_json is not a flat JSON object of strings")
    return obj


# -- the label line (read always, written only on request) ---------------------------------


def _is_label_line(line: bytes) -> bool:
    text = line.strip()
    if not (text.startswith(b"{") and text.endswith(b"}") and b'"AIGC"' in text):
        return False
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError):
        return False
    return isinstance(obj, dict) and list(obj) == ["AIGC"] and isinstance(obj["AIGC"], dict)


def find_label_line(data: bytes) -> tuple[int, int, int, bytes] | None:
    """The trailing label line written by :func:`append_label_line` (or a hand-written one):
    ``(cut_start, cut_end, line_offset, line)``; ``data[:cut_start] + data[cut_end:]`` is the
    text without it.

    Two shapes, exact inverses of the writer: ``body + LINE + eol`` (the body ended with a
    line break or was empty) and ``body + eol + LINE`` (it did not).
    """
    _, bom = strip_bom(data)
    n = len(data)
    if data.endswith(b"\n"):
        eol_len = 2 if data.endswith(b"\r\n") else 1
        end_text = n - eol_len
        start = data.rfind(b"\n", max(bom, end_text - MAX_LABEL_LINE), end_text) + 1
        if start == 0:
            if end_text - bom > MAX_LABEL_LINE:
                return None
            start = bom
        line = data[start:end_text]
        return (start, n, start, line) if _is_label_line(line) else None
    start = data.rfind(b"\n", max(bom, n - MAX_LABEL_LINE), n) + 1
    if start == 0:
        return None  # one line and no line break: not a shape the writer produces
    line = data[start:]
    if not _is_label_line(line):
        return None
    cut = start - 2 if data[start - 2 : start] == b"\r\n" else start - 1
    return cut, n, start, line


def find_first_line_record(data: bytes) -> tuple[int, bytes] | None:
    """A wrapped record on the first line (read only: some tools put it there)."""
    body, bom = strip_bom(data)
    nl = body.find(b"\n", 0, MAX_LABEL_LINE)
    line = body[: nl if nl >= 0 else MAX_LABEL_LINE]
    if nl < 0 and len(body) > MAX_LABEL_LINE:
        return None
    return (bom, line.rstrip(b"\r")) if _is_label_line(line) else None


def append_label_line(data: bytes, record_line: bytes) -> bytes:
    """``data`` with ``record_line`` as its last line (replacing an existing label line)."""
    found = find_label_line(data)
    if found is not None:
        data = data[: found[0]] + data[found[1] :]
    body, bom = strip_bom(data)
    eol = detect_eol(data, bom)
    if not body or data.endswith(b"\n"):
        return data + record_line + eol
    return data + eol + record_line


class PlainTextHandler:
    """UTF-8 plain text: the catch-all for text nothing else claims."""

    id = "text"
    name = "Plain text"
    media_kind = MediaKind.TEXT
    extensions: tuple[str, ...] = ("txt", "text")
    mime_types: tuple[str, ...] = ("text/plain",)
    sniff_bytes = 4096
    #: Any UTF-8 text matches: asked after every specific format (registry.sniff).
    sniff_priority = -10

    def __init__(self, *, label_line: bool = False) -> None:
        self.label_line = label_line

    def sniff(self, head: bytes) -> bool:
        return is_utf8_text(head)

    def _check(self, data: bytes) -> None:
        _limits.check_input(data, "text")
        if data and not is_utf8_text(data[:65536]):
            raise MalformedInput("not UTF-8 text", offset=0)

    def read(self, data: bytes) -> ContainerMetadata:
        self._check(data)
        meta = ContainerMetadata(format_id=self.id)
        found: dict[int, bytes] = {}
        first = find_first_line_record(data)
        if first is not None:
            found[first[0]] = first[1]
        last = find_label_line(data)
        if last is not None:
            found[last[2]] = last[3]
        for offset, line in sorted(found.items()):
            meta.carriers.append(Carrier("aigc", offset, line.strip(), name="text label line"))
        if meta.carriers:
            meta.warnings.append(
                "plain text has no normative metadata carrier: the record was read from a "
                "label line in the text itself (non-standard convention)"
            )
        return meta

    def write_label(self, data: bytes, label: LabelWrite) -> bytes:
        if not self.label_line:
            raise UnsupportedFormat(
                "plain text has no metadata slot for the AIGC record (GB 45438 names none): "
                "add the explicit notice, convert to Markdown (YAML front matter) or keep the "
                "record in a sidecar file"
            )
        self._check(data)
        record = aigc_mapping(label)
        line = json.dumps({"AIGC": record}, ensure_ascii=True, separators=(",", ":"))
        return append_label_line(data, line.encode("ascii"))

    def content_digest(self, data: bytes) -> ContentDigest:
        """SHA-256 of the text without a UTF-8 BOM and without a trailing label line."""
        self._check(data)
        found = find_label_line(data)
        view = memoryview(data)
        _, bom = strip_bom(data)
        if found is None:
            digest = sha256_parts(view[bom:])
        else:
            digest = sha256_parts(view[bom : found[0]], view[found[1] :])
        return ContentDigest(SELECTOR, "sha256", digest)


HANDLER: FormatHandler = PlainTextHandler()
