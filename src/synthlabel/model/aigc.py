"""The GB 45438-2025 Annex E ``AIGC`` record: a typed value, canonical JSON, a tolerant parser.

Writers emit exactly the seven keys in the standard's order, all strings, compact ASCII JSON.
The parser accepts what real generators write (entity-escaped JSON from XMP, the
``{"AIGC":{...}}`` wrapper, a bare ``AIGC{...}`` blob, a numeric ``Label``, missing or extra
keys) and reports every deviation as a warning instead of failing.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from synthlabel.errors import RecordError

#: The seven keys, in the order of GB 45438 Annex E.
KEYS: tuple[str, ...] = (
    "Label",
    "ContentProducer",
    "ProduceID",
    "ReservedCode1",
    "ContentPropagator",
    "PropagateID",
    "ReservedCode2",
)

#: Python attribute name for each key.
_ATTRS: dict[str, str] = {
    "Label": "label",
    "ContentProducer": "content_producer",
    "ProduceID": "produce_id",
    "ReservedCode1": "reserved_code1",
    "ContentPropagator": "content_propagator",
    "PropagateID": "propagate_id",
    "ReservedCode2": "reserved_code2",
}

#: Keys a producer fills (and signs).
PRODUCER_KEYS: tuple[str, ...] = ("Label", "ContentProducer", "ProduceID")
#: Keys a platform fills (and signs).
PROPAGATOR_KEYS: tuple[str, ...] = ("Label", "ContentPropagator", "PropagateID")

#: Byte budget a record may use when read from a file (a record is normally < 2 KiB).
MAX_RECORD_CHARS = 256 * 1024


class Label(StrEnum):
    """The ``Label`` attribute of the record."""

    GENERATED = "1"  # 属于: is AI-generated
    POSSIBLE = "2"  # 可能: possibly AI-generated
    SUSPECTED = "3"  # 疑似: suspected AI-generated

    @property
    def description(self) -> str:
        return {
            "1": "AI-generated",
            "2": "possibly AI-generated",
            "3": "suspected AI-generated",
        }[self.value]


def _charset_ok(value: str) -> bool:
    """Annex E j on a *decoded* value: every character in 0x21-0x7E except backslash.

    The rule is stated on the serialised JSON (0x21, 0x23-0x5B, 0x5D-0x7E plus the escape
    ``\\"``): a ``"`` in a value is serialised as ``\\"`` and so allowed (SecurityData strings
    rely on it); a backslash would be serialised as ``\\\\`` and is not.
    """
    return all(0x21 <= ord(c) <= 0x7E and c != "\\" for c in value)


def _charset_problem(value: str) -> str | None:
    if _charset_ok(value):
        return None
    if any(ord(c) > 0x7E for c in value):
        return "contains non-ASCII characters"
    if " " in value:
        return "contains a space"
    return "contains a backslash or control character"


@dataclass(frozen=True, slots=True)
class AIGCRecord:
    """One AIGC record. Every value is a string; empty strings stand for unset fields."""

    label: str = Label.GENERATED.value
    content_producer: str = ""
    produce_id: str = ""
    reserved_code1: str = ""
    content_propagator: str = ""
    propagate_id: str = ""
    reserved_code2: str = ""

    # -- serialisation ---------------------------------------------------------------
    def to_dict(self) -> dict[str, str]:
        """The record as a dict with the seven keys in the standard's order."""
        return {k: str(getattr(self, _ATTRS[k])) for k in KEYS}

    def to_json(self, *, wrapped: bool = False) -> str:
        """Canonical JSON: keys in order, no whitespace, ASCII only.

        ``wrapped=True`` gives ``{"AIGC":{...}}`` for carriers without a named slot.
        """
        body: Any = self.to_dict()
        if wrapped:
            body = {"AIGC": body}
        return json.dumps(body, ensure_ascii=True, separators=(",", ":"))

    def replace(self, **changes: str) -> AIGCRecord:
        """A copy with some fields changed (attribute names, e.g. ``propagate_id=...``)."""
        return replace(self, **changes)

    @property
    def label_enum(self) -> Label | None:
        try:
            return Label(self.label)
        except ValueError:
            return None

    # -- validation --------------------------------------------------------------------
    def problems(self, *, strict_writer: bool = True) -> list[str]:
        """Conformance problems (empty list = conforming to Annex E).

        ``strict_writer`` applies the writer's rules (charset, non-empty producer fields).
        """
        out: list[str] = []
        if self.label not in {"1", "2", "3"}:
            out.append(f'Label must be "1", "2" or "3", got {self.label!r}')
        if not self.content_producer and self.label == "1":
            out.append("ContentProducer is empty")
        if not self.produce_id and self.label == "1":
            out.append("ProduceID is empty")
        if strict_writer:
            for key in KEYS:
                value = getattr(self, _ATTRS[key])
                problem = _charset_problem(value)
                if problem:
                    out.append(f"{key} {problem} (Annex E charset: printable ASCII, no space)")
        return out

    def check(self) -> AIGCRecord:
        """Raise :class:`RecordError` if the record breaks the writer rules; else return self."""
        problems = self.problems()
        if problems:
            raise RecordError("invalid AIGC record: " + "; ".join(problems))
        return self


@dataclass(frozen=True, slots=True)
class ParsedRecord:
    """A record read from a file: the value, how it was written, and every deviation."""

    record: AIGCRecord
    raw: str
    wrapped: bool = False
    warnings: tuple[str, ...] = field(default_factory=tuple)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def conforming(self) -> bool:
        """True when the record needed no tolerance to read and passes the checklist."""
        return not self.errors

    @property
    def errors(self) -> tuple[str, ...]:
        """The warnings that make the record non-compliant (not mere style notes)."""
        return tuple(w for w in self.warnings if not w.startswith("note:"))


_BARE_RE = re.compile(r"AIGC\s*[:=]?\s*(\{)")


def _extract_json_object(text: str, start: int) -> str | None:
    """Return the balanced ``{...}`` beginning at ``start`` (string-aware), or None."""
    depth = 0
    in_str = False
    esc = False
    for i in range(start, min(len(text), start + MAX_RECORD_CHARS)):
        c = text[i]
        if in_str:
            if esc:
                esc = False
            elif c == "\\":
                esc = True
            elif c == '"':
                in_str = False
            continue
        if c == '"':
            in_str = True
        elif c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return text[start : i + 1]
    return None


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise RecordError(f"AIGC value is not valid JSON: {exc}") from None


def _entity_escaped(text: str) -> bool:
    """True for JSON whose quotes were XML-escaped (``{&quot;Label&quot;...``); a value that
    merely contains ``&quot;`` inside proper JSON strings is left alone."""
    if "&quot;" not in text and "&#34;" not in text and "&#x22;" not in text:
        return False
    return '"' not in text


def parse_record(value: str | bytes) -> ParsedRecord:
    """Parse an AIGC value as found in any carrier.

    Accepts the flat object, the ``{"AIGC":{...}}`` wrapper, a bare ``AIGC{...}`` blob,
    XML-entity-escaped JSON and stray whitespace/NUL padding. Raises :class:`RecordError`
    only when no JSON object with at least one known key can be found.
    """
    warnings: list[str] = []
    if isinstance(value, bytes):
        try:
            text = value.decode("utf-8")
        except UnicodeDecodeError:
            text = value.decode("latin-1")
            warnings.append("value is not UTF-8 (decoded as Latin-1)")
    else:
        text = value
    if len(text) > MAX_RECORD_CHARS:
        raise RecordError(f"AIGC value too large ({len(text)} characters)")
    raw = text
    text = text.strip().strip("\x00").strip()
    if _entity_escaped(text):
        text = html.unescape(text)
        warnings.append("note: value was XML/HTML-entity-escaped")
    wrapped = False
    if not text.startswith("{"):
        m = _BARE_RE.search(text)
        brace = m.start(1) if m else text.find("{")
        if brace < 0:
            raise RecordError("AIGC value holds no JSON object")
        obj_text = _extract_json_object(text, brace)
        if obj_text is None:
            raise RecordError("AIGC value holds an unterminated JSON object")
        if m:
            warnings.append("bare AIGC{...} blob instead of a JSON value")
        text = obj_text
    else:
        obj_text = _extract_json_object(text, 0)
        if obj_text is not None and obj_text != text:
            warnings.append("trailing bytes after the JSON object")
            text = obj_text
    data = _loads(text)
    if not isinstance(data, dict):
        raise RecordError("AIGC value is not a JSON object")
    if "AIGC" in data and isinstance(data["AIGC"], dict | str):
        inner = data["AIGC"]
        if isinstance(inner, str):
            inner = _loads(inner)
            warnings.append("AIGC wrapper holds the record as a JSON string")
            if not isinstance(inner, dict):
                raise RecordError("AIGC wrapper does not hold a JSON object")
        others = [k for k in data if k != "AIGC"]
        if others:
            warnings.append("note: keys beside the AIGC wrapper ignored: " + ", ".join(others))
        data = inner
        wrapped = True
    return _from_mapping(data, raw=raw, wrapped=wrapped, warnings=warnings)


def _from_mapping(
    data: dict[str, Any], *, raw: str, wrapped: bool, warnings: list[str]
) -> ParsedRecord:
    known = [k for k in KEYS if k in data]
    # Tolerate different key case (seen rarely): map case-insensitively.
    lower = {k.lower(): k for k in data}
    values: dict[str, str] = {}
    for key in KEYS:
        src_key = key if key in data else lower.get(key.lower())
        if src_key is None:
            warnings.append(f"missing key {key}")
            continue
        if src_key != key:
            warnings.append(f"key {src_key!r} should be spelled {key!r}")
        v = data[src_key]
        if isinstance(v, bool) or v is None:
            warnings.append(f"{key} is {json.dumps(v)}, not a string")
            v = "" if v is None else str(int(v))
        elif isinstance(v, int | float):
            warnings.append(f"{key} is a JSON number, not a string")
            v = str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)
        elif isinstance(v, dict | list):
            warnings.append(f"{key} holds a JSON {type(v).__name__}, not a string")
            v = json.dumps(v, ensure_ascii=True, separators=(",", ":"))
        values[_ATTRS[key]] = str(v)
    if not known and not any(k.lower() in lower for k in KEYS):
        raise RecordError("JSON object has none of the AIGC keys")
    extra = {
        k: data[k] for k in data if k not in KEYS and k.lower() not in {x.lower() for x in KEYS}
    }
    if extra:
        warnings.append("note: unknown keys: " + ", ".join(sorted(extra)))
    record = AIGCRecord(**values)
    for problem in record.problems(strict_writer=False):
        warnings.append(problem)
    for key in KEYS:
        charset = _charset_problem(getattr(record, _ATTRS[key]))
        if charset == "contains a space":
            warnings.append(f"note: {key} {charset} (tolerated by some readers)")
        elif charset:
            warnings.append(f"{key} {charset} (breaks the Annex E charset rule)")
    return ParsedRecord(
        record=record, raw=raw, wrapped=wrapped, warnings=tuple(warnings), extra=extra
    )


def looks_like_record(text: str | bytes) -> bool:
    """Cheap gate for byte scans: mentions AIGC and at least one known key."""
    if isinstance(text, bytes):
        text = text.decode("latin-1")
    return "AIGC" in text and any(k in text for k in ("Label", "ContentProducer", "ProduceID"))
