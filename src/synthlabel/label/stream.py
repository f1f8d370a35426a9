"""Explicit labels for streamed model output: token streams and OpenAI-style SSE streams.

Token streams (:func:`label_token_stream`, :func:`alabel_token_stream`) get the notice as one
extra item before the first non-empty token (``position="start"``) or after the last one
(``"end"``); an empty stream stays empty.

SSE streams (:func:`label_sse_stream`, :func:`alabel_sse_stream`, or :class:`SSELabeler` for
push-style code) are rewritten event by event without breaking the framing:

* **Chat Completions** (``chat.completion.chunk``): the notice is the ``delta.content`` of an
  extra chunk with the stream's ``id``/``object``/``created``/``model`` (and
  ``system_fingerprint``/``service_tier`` when the stream has them), inserted before the first
  content delta of each choice (after the role delta) or before the chunk that carries the
  choice's ``finish_reason`` (or before ``[DONE]``/the end of the stream when none comes).
  When the first content shares its chunk with the role delta, or the last content shares its
  chunk with ``finish_reason``, the notice is joined to that chunk's content instead of
  splitting it. Choices without content (tool calls only) get no notice.
* **Responses API** (``response.output_text.delta`` events): start puts the notice in front of
  the first delta of each text part; end inserts one ``response.output_text.delta`` event
  before ``response.output_text.done`` and renumbers the later ``sequence_number`` values.
  The full texts repeated in ``output_text.done``, ``content_part.done``,
  ``output_item.done`` and ``response.completed`` get the same notice, so they still equal
  the concatenated deltas.
* **Metadata**: the implicit record travels as a top-level ``"aigc"`` object (the seven Annex E
  keys) in the first recognised event's JSON (``metadata="chunk"``, the default); with
  ``metadata="comment"`` an SSE comment line ``: AIGC {json}`` opens the stream instead
  (comments are ignored by every SSE client); ``"both"`` or ``"none"`` as named.
* Everything else passes byte for byte: unknown events and JSON, comments and keep-alives,
  ``event:``/``id:``/``retry:`` lines, multi-line ``data:``, CRLF or CR line ends, and the
  chunking of the input does not matter (partial lines are buffered). ``[DONE]`` stays last.

The notice and the content are separated by ``separator`` (default a blank line, ``"\\n\\n"``),
so the concatenated content is ``notice + separator + original`` (start) or
``original + separator + notice`` (end). The wording follows the record's ``Label``.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from typing import Any, TypeVar

from synthlabel.errors import LimitExceeded
from synthlabel.label.text import InvalidNoticeOptions, _check_custom, notice_for
from synthlabel.model.aigc import AIGCRecord

__all__ = [
    "METADATA_MODES",
    "SSELabeler",
    "TokenLabeler",
    "alabel_sse_stream",
    "alabel_token_stream",
    "label_chat_completion",
    "label_sse_stream",
    "label_token_stream",
    "stream_notice",
]

METADATA_MODES = ("chunk", "comment", "both", "none")
STREAM_POSITIONS = ("start", "end")
STREAM_LANGUAGES = ("zh", "en", "zh+en")
#: Largest SSE event (or unterminated line) buffered before giving up: 16 MiB.
MAX_EVENT_BYTES = 16 * 1024 * 1024

_T = TypeVar("_T")


def stream_notice(record: AIGCRecord, *, language: str = "zh", text: str | None = None) -> str:
    """The notice for a stream: ``text`` if given (checked), else the standard wording for the
    record's ``Label`` in ``language`` (``zh``, ``en`` or ``zh+en``)."""
    if language not in STREAM_LANGUAGES:
        raise InvalidNoticeOptions(
            f"language must be one of {', '.join(STREAM_LANGUAGES)} for a stream "
            f"(the content is not known when a start notice is sent); got {language!r}"
        )
    if text is not None:
        _check_custom(text)
        return text
    label = record.label if record.label in ("1", "2", "3") else "1"
    return notice_for(language, label)


def _check_position(position: str) -> None:
    if position not in STREAM_POSITIONS:
        raise InvalidNoticeOptions(f"position must be 'start' or 'end'; got {position!r}")


# ---------------------------------------------------------------------------------------------
# Token streams


class TokenLabeler:
    """Push-style token labeller: ``feed(token)`` and ``finish()`` return what to send on."""

    def __init__(
        self,
        *,
        record: AIGCRecord,
        position: str = "start",
        language: str = "zh",
        text: str | None = None,
        separator: str = "\n\n",
    ):
        _check_position(position)
        self.notice = stream_notice(record, language=language, text=text)
        self.position = position
        self.separator = separator
        self._seen_content = False
        self._finished = False

    def feed(self, token: str) -> list[str]:
        if not token:
            return [token] if self._seen_content else []
        out: list[str] = []
        if not self._seen_content and self.position == "start":
            out.append(self.notice + self.separator)
        self._seen_content = True
        out.append(token)
        return out

    def finish(self) -> list[str]:
        if self._finished:
            return []
        self._finished = True
        if self._seen_content and self.position == "end":
            return [self.separator + self.notice]
        return []


def _close(it: Any) -> None:
    close = getattr(it, "close", None)
    if callable(close):
        close()


async def _aclose(it: Any) -> None:
    aclose = getattr(it, "aclose", None)
    if callable(aclose):
        await aclose()


def label_token_stream(
    tokens: Iterable[str],
    *,
    record: AIGCRecord,
    position: str = "start",
    language: str = "zh",
    text: str | None = None,
    separator: str = "\n\n",
) -> Iterator[str]:
    """Yield ``tokens`` with the notice as an extra item at the start or the end.

    The notice comes just before the first non-empty token (so an empty stream stays empty
    and the first byte is not delayed); empty tokens before it are dropped. Closing the
    returned iterator closes ``tokens`` when it can be closed.
    """
    labeler = TokenLabeler(
        record=record, position=position, language=language, text=text, separator=separator
    )
    it = iter(tokens)
    try:
        for token in it:
            yield from labeler.feed(token)
        yield from labeler.finish()
    finally:
        _close(it)


async def alabel_token_stream(
    tokens: AsyncIterable[str],
    *,
    record: AIGCRecord,
    position: str = "start",
    language: str = "zh",
    text: str | None = None,
    separator: str = "\n\n",
) -> AsyncIterator[str]:
    """Async :func:`label_token_stream`; closing it closes ``tokens`` (``aclose``)."""
    labeler = TokenLabeler(
        record=record, position=position, language=language, text=text, separator=separator
    )
    it = aiter(tokens)
    try:
        async for token in it:
            for piece in labeler.feed(token):
                yield piece
        for piece in labeler.finish():
            yield piece
    finally:
        await _aclose(it)


# ---------------------------------------------------------------------------------------------
# SSE

_EOL = re.compile(rb"\r\n|\r|\n")
_BOM = b"\xef\xbb\xbf"
# Top-level keys of a chat chunk that an inserted notice chunk repeats.
_CHUNK_KEYS = ("id", "object", "created", "model", "system_fingerprint", "service_tier")
_RESPONSE_FINAL = ("response.completed", "response.incomplete", "response.failed")


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _content_of(choice: Any) -> str:
    if not isinstance(choice, dict):
        return ""
    delta = choice.get("delta")
    if not isinstance(delta, dict):
        return ""
    content = delta.get("content")
    return content if isinstance(content, str) else ""


class _Event:
    """One SSE event: its raw lines (with their line ends) and the parsed fields."""

    __slots__ = ("data", "data_lines", "name", "raw")

    def __init__(self, raw: list[bytes], strip_bom: bool):
        self.raw = raw
        self.name: str | None = None
        self.data_lines: list[int] = []
        data: list[bytes] = []
        for i, line in enumerate(raw):
            body = line.rstrip(b"\r\n")
            if i == 0 and strip_bom and body.startswith(_BOM):
                body = body[len(_BOM) :]
            if not body or body.startswith(b":"):
                continue
            field, sep, value = body.partition(b":")
            if sep and value.startswith(b" "):
                value = value[1:]
            if field == b"data":
                self.data_lines.append(i)
                data.append(value)
            elif field == b"event":
                self.name = value.decode("utf-8", "replace")
        self.data: bytes | None = b"\n".join(data) if self.data_lines else None

    def line_end(self) -> bytes:
        for line in self.raw:
            m = _EOL.search(line)
            if m:
                return m.group(0)
        return b"\n"

    def with_data(self, payload: bytes) -> bytes:
        """The event with its data lines replaced by one ``data:`` line holding ``payload``."""
        out: list[bytes] = []
        first = self.data_lines[0]
        for i, line in enumerate(self.raw):
            if i == first:
                m = _EOL.search(line)
                prefix = _BOM if i == 0 and line.startswith(_BOM) else b""
                out.append(prefix + b"data: " + payload + (m.group(0) if m else b"\n"))
            elif i not in self.data_lines:
                out.append(line)
        return b"".join(out)


class SSELabeler:
    """Push-style SSE labeller: ``feed(chunk)`` any byte split, then ``finish()``.

    Each call returns the bytes to forward (possibly empty: an event is forwarded once its
    blank line has arrived). ``notices_added`` counts the notices written, ``metadata_added``
    tells whether the record was attached; a stream in a schema this class does not know
    passes unchanged with ``notices_added == 0``.
    """

    def __init__(
        self,
        *,
        record: AIGCRecord,
        position: str = "start",
        language: str = "zh",
        text: str | None = None,
        metadata: str = "chunk",
        separator: str = "\n\n",
        max_event_bytes: int = MAX_EVENT_BYTES,
    ):
        _check_position(position)
        if metadata not in METADATA_MODES:
            raise InvalidNoticeOptions(
                f"metadata must be one of {', '.join(METADATA_MODES)}; got {metadata!r}"
            )
        self.record = record
        self.position = position
        self.notice = stream_notice(record, language=language, text=text)
        self.prefix = self.notice + separator
        self.suffix = separator + self.notice
        self.metadata = metadata
        self.max_event_bytes = max_event_bytes
        self.notices_added = 0
        self.metadata_added = False
        self._buf = bytearray()
        self._scan = 0
        self._event: list[bytes] = []
        self._event_size = 0
        self._first_line = True
        self._first_event = True
        self._first_output = True
        self._eol: bytes | None = None
        self._finished = False
        self._done = False
        # chat.completions state
        self._template: dict[str, Any] | None = None
        self._started: set[Any] = set()
        self._had_content: set[Any] = set()
        self._ended: set[Any] = set()
        # Responses API state
        self._prefixed: set[tuple[Any, Any]] = set()
        self._suffixed: set[tuple[Any, Any]] = set()
        self._seq_offset = 0

    # -- input ------------------------------------------------------------------------
    def feed(self, chunk: bytes | str) -> bytes:
        """Take any piece of the stream; return the complete events it finished."""
        if self._finished:
            raise ValueError("feed() after finish()")
        data = chunk.encode("utf-8") if isinstance(chunk, str) else bytes(chunk)
        if not data:
            return b""
        self._buf += data
        out: list[bytes] = []
        while True:
            m = _EOL.search(self._buf, self._scan)
            if m is None:
                self._scan = len(self._buf)
                break
            if m.group(0) == b"\r" and m.end() == len(self._buf):
                self._scan = m.start()  # a CR at the end may be the first half of CRLF
                break
            line = bytes(self._buf[: m.end()])
            del self._buf[: m.end()]
            self._scan = 0
            out.append(self._line(line))
        if len(self._buf) + self._event_size > self.max_event_bytes:
            raise LimitExceeded(
                f"SSE event larger than {self.max_event_bytes} bytes (no blank line seen)"
            )
        return b"".join(out)

    def feed_line(self, line: bytes | str) -> bytes:
        """Take one line *without* its line end (``iter_lines()`` style); ``""`` is the blank
        line that ends an event. Output lines end with ``\\n``."""
        data = line.encode("utf-8") if isinstance(line, str) else bytes(line)
        return self.feed(data.rstrip(b"\r\n") + b"\n")

    def finish(self) -> bytes:
        """End of input: forward what is left; an unfinished last event passes unchanged."""
        if self._finished:
            return b""
        out: list[bytes] = []
        if self._buf:
            tail = bytes(self._buf)
            self._buf.clear()
            if tail.endswith(b"\r"):
                out.append(self._line(tail))
            else:
                self._event.append(tail)
        self._finished = True
        pending = b"".join(self._event)
        self._event = []
        if not self._done:
            out.append(self._end_notices())
        if pending:
            out.append(self._prologue() + pending)
        return b"".join(out)

    # -- lines and events ---------------------------------------------------------------
    def _line(self, line: bytes) -> bytes:
        if self._eol is None:
            m = _EOL.search(line)
            if m:
                self._eol = m.group(0)
        body = line.rstrip(b"\r\n")
        if self._first_line:
            self._first_line = False
            if body.startswith(_BOM):
                body = body[len(_BOM) :]
        if body:
            self._event.append(line)
            self._event_size += len(line)
            return b""
        raw = [*self._event, line]
        self._event = []
        self._event_size = 0
        first, self._first_event = self._first_event, False
        return self._dispatch(_Event(raw, strip_bom=first))

    @property
    def _nl(self) -> bytes:
        return self._eol or b"\n"

    def _prologue(self) -> bytes:
        """The comment-line metadata, once, before the first output."""
        if not self._first_output:
            return b""
        self._first_output = False
        if self.metadata in ("comment", "both"):
            return b": AIGC " + self.record.to_json().encode("ascii") + self._nl * 2
        return b""

    def _attach(self, obj: dict[str, Any]) -> bool:
        if self.metadata in ("chunk", "both") and not self.metadata_added:
            obj["aigc"] = self.record.to_dict()
            self.metadata_added = True
            return True
        return False

    def _dispatch(self, event: _Event) -> bytes:
        out = self._process(event)
        return self._prologue() + out

    def _process(self, event: _Event) -> bytes:
        raw = b"".join(event.raw)
        if event.data is None or self._done:
            return raw
        if event.data.strip() == b"[DONE]":
            self._done = True
            return self._end_notices() + raw
        try:
            obj = json.loads(event.data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            return raw
        if not isinstance(obj, dict):
            return raw
        if isinstance(obj.get("choices"), list):
            return self._chat(obj, event)
        kind = obj.get("type")
        if isinstance(kind, str) and kind.startswith("response."):
            return self._responses(obj, event)
        return raw

    # -- chat.completions ---------------------------------------------------------------
    def _notice_chunk(self, indexes: list[Any], content: str) -> bytes:
        template = self._template or {}
        chunk: dict[str, Any] = {k: template[k] for k in _CHUNK_KEYS if k in template}
        chunk["choices"] = [
            {"index": i, "delta": {"content": content}, "logprobs": None, "finish_reason": None}
            for i in indexes
        ]
        if template.get("_usage"):
            chunk["usage"] = None
        self._attach(chunk)
        self.notices_added += len(indexes)
        return b"data: " + _dumps(chunk) + self._nl * 2

    def _chat(self, obj: dict[str, Any], event: _Event) -> bytes:
        if self._template is None:
            self._template = {k: obj[k] for k in _CHUNK_KEYS if k in obj}
            self._template["_usage"] = "usage" in obj
        before: list[bytes] = []
        changed = False
        pending: list[Any] = []
        for choice in obj["choices"]:
            content = _content_of(choice)
            if not content:
                continue
            idx = choice.get("index", 0)
            self._had_content.add(idx)
            if self.position != "start" or idx in self._started:
                continue
            self._started.add(idx)
            if "role" in choice["delta"]:
                choice["delta"]["content"] = self.prefix + content
                self.notices_added += 1
                changed = True
            else:
                pending.append(idx)
        if pending:
            before.append(self._notice_chunk(pending, self.prefix))
        if self.position == "end":
            pending = []
            for choice in obj["choices"]:
                if not isinstance(choice, dict) or choice.get("finish_reason") is None:
                    continue
                idx = choice.get("index", 0)
                if idx not in self._had_content or idx in self._ended:
                    continue
                self._ended.add(idx)
                content = _content_of(choice)
                if content:
                    choice["delta"]["content"] = content + self.suffix
                    self.notices_added += 1
                    changed = True
                else:
                    pending.append(idx)
            if pending:
                before.append(self._notice_chunk(pending, self.suffix))
        if not before:
            changed = self._attach(obj) or changed
        body = event.with_data(_dumps(obj)) if changed else b"".join(event.raw)
        return b"".join(before) + body

    def _end_notices(self) -> bytes:
        """End notices still owed (no finish_reason came) before ``[DONE]`` or the end."""
        if self.position != "end":
            return b""
        missing = sorted(self._had_content - self._ended, key=str)
        if not missing:
            return b""
        self._ended.update(missing)
        return self._prologue() + self._notice_chunk(missing, self.suffix)

    # -- Responses API ------------------------------------------------------------------
    def _text(self, key: tuple[Any, Any], text: Any) -> Any:
        if not isinstance(text, str) or not text:
            return text
        if key in self._prefixed:
            text = self.prefix + text
        if key in self._suffixed:
            text = text + self.suffix
        return text

    def _item_texts(self, item: Any) -> bool:
        if not isinstance(item, dict) or not isinstance(item.get("content"), list):
            return False
        changed = False
        for ci, part in enumerate(item["content"]):
            if isinstance(part, dict) and part.get("type") == "output_text":
                new = self._text((item.get("id"), ci), part.get("text"))
                if new != part.get("text"):
                    part["text"] = new
                    changed = True
        return changed

    def _responses(self, obj: dict[str, Any], event: _Event) -> bytes:
        kind = obj["type"]
        key = (obj.get("item_id"), obj.get("content_index"))
        before = b""
        changed = self._attach(obj)
        seq = obj.get("sequence_number")
        if self._seq_offset and isinstance(seq, int) and not isinstance(seq, bool):
            obj["sequence_number"] = seq + self._seq_offset
            changed = True
        if kind == "response.output_text.delta":
            delta = obj.get("delta")
            if (
                self.position == "start"
                and key not in self._prefixed
                and isinstance(delta, str)
                and delta
            ):
                obj["delta"] = self.prefix + delta
                self._prefixed.add(key)
                self.notices_added += 1
                changed = True
        elif kind == "response.output_text.done":
            text = obj.get("text")
            if (
                self.position == "end"
                and isinstance(text, str)
                and text
                and key not in self._suffixed
            ):
                self._suffixed.add(key)
                before = self._delta_event(obj, event)
                changed = True
            new = self._text(key, text)
            if new != text:
                obj["text"] = new
                changed = True
        elif kind == "response.content_part.done":
            part = obj.get("part")
            if isinstance(part, dict) and part.get("type") == "output_text":
                new = self._text(key, part.get("text"))
                if new != part.get("text"):
                    part["text"] = new
                    changed = True
        elif kind == "response.output_item.done":
            changed = self._item_texts(obj.get("item")) or changed
        response = obj.get("response")
        if isinstance(response, dict) and isinstance(response.get("output"), list):
            for item in response["output"]:
                changed = self._item_texts(item) or changed
        body = event.with_data(_dumps(obj)) if changed else b"".join(event.raw)
        return before + body

    def _delta_event(self, done: dict[str, Any], event: _Event) -> bytes:
        """A ``response.output_text.delta`` carrying the end notice, placed before ``done``;
        it takes ``done``'s sequence number and every later event moves up by one."""
        delta: dict[str, Any] = {"type": "response.output_text.delta"}
        seq = done.get("sequence_number")
        has_seq = isinstance(seq, int) and not isinstance(seq, bool)
        if has_seq:
            delta["sequence_number"] = seq
        for k in ("item_id", "output_index", "content_index"):
            if k in done:
                delta[k] = done[k]
        delta["delta"] = self.suffix
        if "logprobs" in done:
            delta["logprobs"] = []
        if has_seq and isinstance(seq, int):
            done["sequence_number"] = seq + 1
            self._seq_offset += 1
        self.notices_added += 1
        nl = event.line_end()
        head = b"event: response.output_text.delta" + nl if event.name is not None else b""
        return head + b"data: " + _dumps(delta) + nl * 2


def label_sse_stream(
    lines: Iterable[bytes | str],
    *,
    record: AIGCRecord,
    position: str = "start",
    language: str = "zh",
    text: str | None = None,
    metadata: str = "chunk",
    separator: str = "\n\n",
    input_lines: bool = False,
) -> Iterator[bytes]:
    """Label an OpenAI-style SSE stream; yields bytes to forward as they become complete.

    ``lines`` is the raw stream in any split (``httpx``'s ``iter_bytes()``/``iter_raw()``,
    ``requests``' ``iter_content()``, str or bytes). Pass ``input_lines=True`` when each item
    is one line *without* its line end (``iter_lines()``). See the module docstring for what
    is changed; closing the returned iterator closes ``lines`` when it can be closed.
    """
    labeler = SSELabeler(
        record=record,
        position=position,
        language=language,
        text=text,
        metadata=metadata,
        separator=separator,
    )
    feed = labeler.feed_line if input_lines else labeler.feed
    it = iter(lines)
    try:
        for piece in it:
            out = feed(piece)
            if out:
                yield out
        out = labeler.finish()
        if out:
            yield out
    finally:
        _close(it)


async def alabel_sse_stream(
    lines: AsyncIterable[bytes | str],
    *,
    record: AIGCRecord,
    position: str = "start",
    language: str = "zh",
    text: str | None = None,
    metadata: str = "chunk",
    separator: str = "\n\n",
    input_lines: bool = False,
) -> AsyncIterator[bytes]:
    """Async :func:`label_sse_stream` (``aiter_bytes()``, ``aiter_lines()`` with
    ``input_lines=True``); closing it closes ``lines`` (``aclose``)."""
    labeler = SSELabeler(
        record=record,
        position=position,
        language=language,
        text=text,
        metadata=metadata,
        separator=separator,
    )
    feed = labeler.feed_line if input_lines else labeler.feed
    it = aiter(lines)
    try:
        async for piece in it:
            out = feed(piece)
            if out:
                yield out
        out = labeler.finish()
        if out:
            yield out
    finally:
        await _aclose(it)


# ---------------------------------------------------------------------------------------------
# Non-streamed responses


def label_chat_completion(
    response: dict[str, Any],
    *,
    record: AIGCRecord,
    position: str = "start",
    language: str = "zh",
    text: str | None = None,
    metadata: bool = True,
    separator: str = "\n\n",
) -> dict[str, Any]:
    """A non-streamed ``chat.completion`` (parsed JSON) with the notice in each choice's
    ``message.content`` (choices without text content are left alone) and, unless
    ``metadata=False``, the record as a top-level ``"aigc"`` object. Returns a new dict."""
    _check_position(position)
    notice = stream_notice(record, language=language, text=text)
    out = json.loads(json.dumps(response))
    choices = out.get("choices")
    if isinstance(choices, list):
        for choice in choices:
            message = choice.get("message") if isinstance(choice, dict) else None
            if not isinstance(message, dict):
                continue
            content = message.get("content")
            if isinstance(content, str) and content:
                message["content"] = (
                    notice + separator + content
                    if position == "start"
                    else content + separator + notice
                )
    if metadata:
        out["aigc"] = record.to_dict()
    return dict(out)
