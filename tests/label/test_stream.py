"""Streaming labels: token streams and OpenAI-style SSE (chat.completions and Responses)."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from synthlabel.errors import LimitExceeded
from synthlabel.label.stream import (
    SSELabeler,
    alabel_sse_stream,
    alabel_token_stream,
    label_chat_completion,
    label_sse_stream,
    label_token_stream,
    stream_notice,
)
from synthlabel.label.text import InvalidNoticeOptions, has_text_notice
from synthlabel.label.visible import LabelTextError
from synthlabel.model.aigc import AIGCRecord

RECORD = AIGCRecord(
    content_producer="001191110000MA0000000H10001", produce_id="01JD3Q8W5Z6V7K2M4N8P0R2S4T"
)
NOTICE = "（本内容由人工智能生成）"
SEP = "\n\n"

# ---------------------------------------------------------------------------------------------
# An independent SSE parser (WHATWG "event stream interpretation"), for checking outputs.


def parse_sse(data: bytes) -> list[dict[str, Any]]:
    """Events as dicts {event, data, id}; comments dropped. Strict framing: UTF-8, lines end
    with CRLF/LF/CR, an event is dispatched on a blank line; a trailing unterminated event is
    discarded, as browsers do."""
    text = data.decode("utf-8")
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = re.split(r"\r\n|\r|\n", text)
    complete, _last = lines[:-1], lines[-1]
    events: list[dict[str, Any]] = []
    data_buf: list[str] = []
    event_type = ""
    last_id = ""
    for line in complete:
        if line == "":
            if data_buf:
                events.append(
                    {"event": event_type or "message", "data": "\n".join(data_buf), "id": last_id}
                )
            data_buf, event_type = [], ""
            continue
        if line.startswith(":"):
            continue
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "data":
            data_buf.append(value)
        elif name == "event":
            event_type = value
        elif name == "id":
            last_id = value
    return events


def comments(data: bytes) -> list[str]:
    return [ln for ln in re.split(r"\r\n|\r|\n", data.decode("utf-8")) if ln.startswith(":")]


def json_events(data: bytes) -> list[dict[str, Any]]:
    out = []
    for ev in parse_sse(data):
        try:
            obj = json.loads(ev["data"])
        except ValueError:
            continue  # [DONE] and non-JSON events
        if isinstance(obj, dict):
            out.append(obj)
    return out


def chat_content(data: bytes, index: int = 0) -> str:
    parts = []
    for obj in json_events(data):
        for c in obj.get("choices", []):
            if c.get("index", 0) == index:
                parts.append((c.get("delta") or {}).get("content") or "")
    return "".join(parts)


# ---------------------------------------------------------------------------------------------
# Recorded-style fixtures (the shape of real api.openai.com chat.completions streams).

BASE = {
    "id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
    "object": "chat.completion.chunk",
    "created": 1741569952,
    "model": "gpt-4o-2024-08-06",
    "service_tier": "default",
    "system_fingerprint": "fp_fc9f1d7035",
}


def chunk(
    delta: dict[str, Any],
    finish: str | None = None,
    index: int = 0,
    usage: bool = False,
    **extra: Any,
) -> dict[str, Any]:
    obj: dict[str, Any] = {
        **BASE,
        "choices": [{"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }
    if usage:
        obj["usage"] = None
    obj.update(extra)
    return obj


def sse(*events: dict[str, Any] | str, nl: str = "\n") -> bytes:
    out = []
    for ev in events:
        if isinstance(ev, str):
            out.append(ev)  # literal SSE text (comments, [DONE], custom events)
        else:
            out.append("data: " + json.dumps(ev, separators=(",", ":"), ensure_ascii=False))
            out.append(nl)
            out.append(nl)
    return "".join(out).encode("utf-8")


def chat_stream(tokens: list[str], *, nl: str = "\n", usage: bool = False) -> bytes:
    events: list[dict[str, Any] | str] = [
        chunk({"role": "assistant", "content": "", "refusal": None}, usage=usage)
    ]
    events += [chunk({"content": t}, usage=usage) for t in tokens]
    events.append(chunk({}, "stop", usage=usage))
    if usage:
        events.append(
            {
                **BASE,
                "choices": [],
                "usage": {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12},
            }
        )
    events.append(f"data: [DONE]{nl}{nl}")
    return sse(*events, nl=nl)


TOKENS = ["Hello", "!", " 你好", "，世界", "。"]
ORIGINAL = "".join(TOKENS)


def run(data: bytes, **kw: Any) -> bytes:
    kw.setdefault("record", RECORD)
    return b"".join(label_sse_stream([data], **kw))


# ---------------------------------------------------------------------------------------------
# chat.completions


def test_start_notice_is_its_own_chunk_after_the_role_delta() -> None:
    out = run(chat_stream(TOKENS), position="start")
    objs = json_events(out)
    assert objs[0]["choices"][0]["delta"]["role"] == "assistant"
    notice_chunk = objs[1]
    assert notice_chunk["choices"][0]["delta"] == {"content": NOTICE + SEP}
    for key in ("id", "object", "created", "model", "system_fingerprint", "service_tier"):
        assert notice_chunk[key] == BASE[key]
    assert chat_content(out) == NOTICE + SEP + ORIGINAL
    assert parse_sse(out)[-1]["data"] == "[DONE]"


def test_end_notice_comes_before_the_finish_chunk() -> None:
    out = run(chat_stream(TOKENS, usage=True), position="end")
    objs = json_events(out)
    finish_at = next(
        i for i, o in enumerate(objs) if o["choices"] and o["choices"][0]["finish_reason"]
    )
    assert objs[finish_at - 1]["choices"][0]["delta"] == {"content": SEP + NOTICE}
    assert objs[finish_at - 1]["usage"] is None  # mirrors include_usage chunks
    assert chat_content(out) == ORIGINAL + SEP + NOTICE
    assert objs[-1]["usage"]["total_tokens"] == 12  # usage chunk untouched, after the notice
    assert parse_sse(out)[-1]["data"] == "[DONE]"


def test_record_travels_in_the_first_chunk() -> None:
    out = run(chat_stream(TOKENS))
    objs = json_events(out)
    assert objs[0]["aigc"] == RECORD.to_dict()
    assert list(objs[0]["aigc"]) == list(RECORD.to_dict())  # Annex E key order
    assert all("aigc" not in o for o in objs[1:])


@pytest.mark.parametrize("metadata", ["comment", "both", "none"])
def test_metadata_modes(metadata: str) -> None:
    out = run(chat_stream(TOKENS), metadata=metadata)
    objs = json_events(out)
    assert ("aigc" in objs[0]) == (metadata == "both")
    lines = comments(out)
    if metadata in ("comment", "both"):
        assert out.startswith(b": AIGC {")
        assert lines[0] == ": AIGC " + RECORD.to_json()
    else:
        assert lines == []
    assert chat_content(out) == NOTICE + SEP + ORIGINAL


def test_first_content_together_with_role_is_prefixed_in_place() -> None:
    data = sse(chunk({"role": "assistant", "content": "Hi"}), chunk({}, "stop"), "data: [DONE]\n\n")
    out = run(data)
    objs = json_events(out)
    assert len(objs) == 2
    assert objs[0]["choices"][0]["delta"] == {"role": "assistant", "content": NOTICE + SEP + "Hi"}
    assert objs[0]["aigc"] == RECORD.to_dict()


def test_last_content_together_with_finish_reason_is_suffixed_in_place() -> None:
    data = sse(
        chunk({"role": "assistant", "content": ""}),
        chunk({"content": "Hi"}, "stop"),
        "data: [DONE]\n\n",
    )
    out = run(data, position="end")
    objs = json_events(out)
    assert len(objs) == 2
    assert objs[1]["choices"][0]["delta"]["content"] == "Hi" + SEP + NOTICE
    assert objs[1]["choices"][0]["finish_reason"] == "stop"


def test_end_notice_without_finish_chunk_goes_before_done() -> None:
    data = sse(
        chunk({"role": "assistant", "content": ""}), chunk({"content": "Hi"}), "data: [DONE]\n\n"
    )
    out = run(data, position="end")
    assert chat_content(out) == "Hi" + SEP + NOTICE
    assert parse_sse(out)[-1]["data"] == "[DONE]"


def test_end_notice_when_the_stream_just_stops() -> None:
    data = sse(chunk({"role": "assistant", "content": ""}), chunk({"content": "Hi"}))
    out = run(data, position="end")
    assert chat_content(out) == "Hi" + SEP + NOTICE


def test_several_choices_each_get_a_notice() -> None:
    events: list[dict[str, Any] | str] = []
    for i in (0, 1):
        events.append(chunk({"role": "assistant", "content": ""}, index=i))
    for t in ("A", "B"):
        for i in (0, 1):
            events.append(chunk({"content": f"{t}{i}"}, index=i))
    for i in (0, 1):
        events.append(chunk({}, "stop", index=i))
    events.append("data: [DONE]\n\n")
    for position in ("start", "end"):
        out = run(sse(*events), position=position)
        for i in (0, 1):
            original = f"A{i}B{i}"
            want = NOTICE + SEP + original if position == "start" else original + SEP + NOTICE
            assert chat_content(out, i) == want


def test_tool_call_only_stream_gets_no_notice() -> None:
    call = {
        "index": 0,
        "id": "call_1",
        "type": "function",
        "function": {"name": "f", "arguments": ""},
    }
    data = sse(
        chunk({"role": "assistant", "content": None, "tool_calls": [call]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"a":1}'}}]}),
        chunk({}, "tool_calls"),
        "data: [DONE]\n\n",
    )
    for position in ("start", "end"):
        labeler = SSELabeler(record=RECORD, position=position)
        out = labeler.feed(data) + labeler.finish()
        assert labeler.notices_added == 0
        assert chat_content(out) == ""
        assert len(json_events(out)) == 3


def test_empty_stream_and_no_content() -> None:
    assert run(b"") == b""
    data = chat_stream([])
    out = run(data, position="end")
    assert chat_content(out) == ""


def test_framing_is_kept_for_everything_else() -> None:
    weird = (
        b": connected\n\n"
        b"retry: 3000\n\n"
        b"event: ping\ndata: {}\n\n"
        b"id: 7\n"
        + b"data: "
        + json.dumps(chunk({"role": "assistant", "content": ""})).encode()
        + b"\n\n"
        b":\n\n"
        b'data: {"choices": [{"index": 0,\n'
        b'data:  "delta": {"content": "multi"}}], "id": "x"}\n\n'
        b"event: custom\ndata: not json\ndata: at all\n\n"
        b'data: {"error": {"message": "rate limited"}}\n\n'
        + b"data: "
        + json.dumps(chunk({}, "stop")).encode()
        + b"\n\n"
        b"data: [DONE]\n\n"
    )
    out = run(weird, position="start", metadata="none")
    before, after = parse_sse(weird), parse_sse(out)
    inserted = [e for e in after if e not in before]
    assert len(inserted) == 1 and NOTICE in inserted[0]["data"]
    assert [e for e in after if e not in inserted] == before
    assert comments(out) == comments(weird)
    assert b"retry: 3000\n\n" in out
    assert b"event: custom\ndata: not json\ndata: at all\n\n" in out  # byte for byte
    assert chat_content(out) == NOTICE + SEP + "multi"


@pytest.mark.parametrize("nl", ["\r\n", "\r", "\n"])
def test_line_endings_are_kept(nl: str) -> None:
    data = chat_stream(TOKENS, nl=nl)
    for metadata in ("chunk", "comment"):
        out = run(data, metadata=metadata)
        endings = set(re.findall(rb"\r\n|\r|\n", out))
        assert endings == {nl.encode()}
        assert chat_content(out) == NOTICE + SEP + ORIGINAL


def test_bom_at_stream_start_is_kept() -> None:
    data = b"\xef\xbb\xbf" + chat_stream(TOKENS)
    out = run(data)
    assert out.startswith(b"\xef\xbb\xbfdata: ")
    assert json_events(out)[0]["aigc"] == RECORD.to_dict()


def test_unknown_json_streams_pass_unchanged() -> None:
    data = (
        b'event: message_start\ndata: {"type":"message_start","message":{"id":"m"}}\n\n'
        b'event: content_block_delta\ndata: {"type":"content_block_delta","delta":{"text":"x"}}\n\n'
    )
    labeler = SSELabeler(record=RECORD)
    out = labeler.feed(data) + labeler.finish()
    assert out == data
    assert labeler.notices_added == 0 and not labeler.metadata_added


def test_unterminated_last_event_passes_unchanged_after_end_notice() -> None:
    data = chat_stream(["Hi"])[: -len(b"data: [DONE]\n\n")] + b'data: {"partial'
    out = run(data, position="end")
    assert out.endswith(b'data: {"partial')
    assert chat_content(out) == "Hi" + SEP + NOTICE


def test_after_done_nothing_changes() -> None:
    data = (
        chat_stream(["Hi"]) + b"data: " + json.dumps(chunk({"content": "late"})).encode() + b"\n\n"
    )
    out = run(data, position="end")
    assert out.endswith(b"data: " + json.dumps(chunk({"content": "late"})).encode() + b"\n\n")


def test_input_lines_mode_matches_raw_mode() -> None:
    data = chat_stream(TOKENS)
    lines = data.decode().split("\n")[:-1]  # iter_lines(): no terminators, "" for blanks
    out = b"".join(label_sse_stream(lines, record=RECORD, input_lines=True))
    assert out == run(data)


def test_str_input_and_limit() -> None:
    data = chat_stream(TOKENS)
    assert b"".join(label_sse_stream([data.decode()], record=RECORD)) == run(data)
    labeler = SSELabeler(record=RECORD, max_event_bytes=1000)
    with pytest.raises(LimitExceeded):
        labeler.feed(b"data: " + b"x" * 2000)


def test_options_are_checked() -> None:
    with pytest.raises(InvalidNoticeOptions):
        SSELabeler(record=RECORD, position="both")
    with pytest.raises(InvalidNoticeOptions):
        SSELabeler(record=RECORD, metadata="header")
    with pytest.raises(InvalidNoticeOptions):
        SSELabeler(record=RECORD, language="auto")
    with pytest.raises(LabelTextError):
        SSELabeler(record=RECORD, text="本内容由机器写成")


def test_wording_follows_the_record_label() -> None:
    assert stream_notice(RECORD.replace(label="2")) == "（本内容可能由人工智能生成）"
    assert stream_notice(RECORD.replace(label="3"), language="en") == (
        "(This content is suspected to be generated by AI.)"
    )
    assert stream_notice(RECORD, text="AI生成内容") == "AI生成内容"
    out = run(chat_stream(["x"]), language="zh+en")
    assert chat_content(out).startswith(
        "（本内容由人工智能生成） (This content is generated by AI.)"
    )
    assert has_text_notice(chat_content(out))


# ---------------------------------------------------------------------------------------------
# Property tests


def splits(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces, prev = [], 0
    for p in points:
        pieces.append(data[prev:p])
        prev = p
    pieces.append(data[prev:])
    return pieces


token_lists = st.lists(
    st.text(alphabet=st.sampled_from('ab 你好\n\r:，。{}"\\é😀'), min_size=0, max_size=6),
    min_size=0,
    max_size=8,
)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(
    tokens=token_lists,
    cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=30),
    nl=st.sampled_from(["\n", "\r\n", "\r"]),
    position=st.sampled_from(["start", "end"]),
    metadata=st.sampled_from(["chunk", "comment", "both", "none"]),
)
def test_any_chunking_gives_the_same_output(
    tokens: list[str], cuts: list[int], nl: str, position: str, metadata: str
) -> None:
    data = chat_stream(tokens, nl=nl)
    whole = run(data, position=position, metadata=metadata)
    pieces = splits(data, cuts)
    assert b"".join(pieces) == data
    split = b"".join(label_sse_stream(pieces, record=RECORD, position=position, metadata=metadata))
    assert split == whole
    # Valid SSE, every data event is JSON, [DONE] last, content as promised.
    events = parse_sse(split)
    assert events[-1]["data"] == "[DONE]"
    assert all(json.loads(e["data"]) is not None for e in events[:-1])
    original = "".join(tokens)
    if not original:
        want = ""
    elif position == "start":
        want = NOTICE + SEP + original
    else:
        want = original + SEP + NOTICE
    assert chat_content(split) == want


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(
    tokens=token_lists,
    cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=20),
)
def test_async_chunking_matches_sync(tokens: list[str], cuts: list[int]) -> None:
    data = chat_stream(tokens)

    async def source() -> AsyncIterator[bytes]:
        for piece in splits(data, cuts):
            yield piece

    async def collect() -> bytes:
        return b"".join([x async for x in alabel_sse_stream(source(), record=RECORD)])

    assert asyncio.run(collect()) == run(data)


# ---------------------------------------------------------------------------------------------
# Responses API


def responses_stream(texts: list[list[str]], *, named: bool = True) -> bytes:
    """A Responses API stream with one message item per entry of ``texts`` (deltas)."""
    seq = 0
    out: list[str] = []

    def emit(obj: dict[str, Any]) -> None:
        nonlocal seq
        obj = {"type": obj["type"], "sequence_number": seq, **obj}
        seq += 1
        if named:
            out.append(f"event: {obj['type']}\n")
        out.append("data: " + json.dumps(obj, ensure_ascii=False) + "\n\n")

    resp = {"id": "resp_1", "object": "response", "status": "in_progress", "output": []}
    emit({"type": "response.created", "response": resp})
    emit({"type": "response.in_progress", "response": resp})
    items = []
    for oi, deltas in enumerate(texts):
        item_id = f"msg_{oi}"
        item = {"id": item_id, "type": "message", "role": "assistant", "status": "in_progress"}
        emit(
            {
                "type": "response.output_item.added",
                "output_index": oi,
                "item": {**item, "content": []},
            }
        )
        part = {"type": "output_text", "text": "", "annotations": []}
        base = {"item_id": item_id, "output_index": oi, "content_index": 0}
        emit({"type": "response.content_part.added", **base, "part": part})
        for d in deltas:
            emit({"type": "response.output_text.delta", **base, "delta": d, "logprobs": []})
        text = "".join(deltas)
        emit({"type": "response.output_text.done", **base, "text": text, "logprobs": []})
        done_part = {**part, "text": text}
        emit({"type": "response.content_part.done", **base, "part": done_part})
        done_item = {**item, "status": "completed", "content": [done_part]}
        items.append(done_item)
        emit({"type": "response.output_item.done", "output_index": oi, "item": done_item})
    emit(
        {
            "type": "response.completed",
            "response": {**resp, "status": "completed", "output": items},
        }
    )
    return "".join(out).encode()


def check_responses(out: bytes, texts: list[str]) -> None:
    events = parse_sse(out)
    objs = [json.loads(e["data"]) for e in events]
    for e, o in zip(events, objs, strict=True):
        assert e["event"] in (o["type"], "message")
    seqs = [o["sequence_number"] for o in objs]
    assert seqs == list(range(len(objs)))
    for oi, want in enumerate(texts):
        item_id = f"msg_{oi}"
        deltas = "".join(
            o["delta"]
            for o in objs
            if o["type"] == "response.output_text.delta" and o["item_id"] == item_id
        )
        assert deltas == want
        done = next(
            o for o in objs if o["type"] == "response.output_text.done" and o["item_id"] == item_id
        )
        assert done["text"] == want
        part = next(
            o for o in objs if o["type"] == "response.content_part.done" and o["item_id"] == item_id
        )
        assert part["part"]["text"] == want
        item = next(
            o for o in objs if o["type"] == "response.output_item.done" and o["output_index"] == oi
        )
        assert item["item"]["content"][0]["text"] == want
        assert objs[-1]["response"]["output"][oi]["content"][0]["text"] == want


@pytest.mark.parametrize("named", [True, False])
def test_responses_start(named: bool) -> None:
    data = responses_stream([["Hel", "lo"], ["second"]], named=named)
    labeler = SSELabeler(record=RECORD, position="start")
    out = labeler.feed(data) + labeler.finish()
    check_responses(out, [NOTICE + SEP + "Hello", NOTICE + SEP + "second"])
    assert json_events(out)[0]["aigc"] == RECORD.to_dict()
    assert labeler.notices_added == 2


@pytest.mark.parametrize("named", [True, False])
def test_responses_end(named: bool) -> None:
    data = responses_stream([["Hel", "lo"], ["second"]], named=named)
    labeler = SSELabeler(record=RECORD, position="end")
    out = labeler.feed(data) + labeler.finish()
    check_responses(out, ["Hello" + SEP + NOTICE, "second" + SEP + NOTICE])
    assert labeler.notices_added == 2
    assert len(parse_sse(out)) == len(parse_sse(data)) + 2


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(
    texts=st.lists(st.lists(st.text(max_size=5), max_size=4), min_size=1, max_size=3),
    cuts=st.lists(st.integers(min_value=0, max_value=50_000), max_size=20),
    position=st.sampled_from(["start", "end"]),
)
def test_responses_any_chunking(texts: list[list[str]], cuts: list[int], position: str) -> None:
    data = responses_stream(texts)
    whole = run(data, position=position)
    assert b"".join(label_sse_stream(splits(data, cuts), record=RECORD, position=position)) == whole
    want = []
    for deltas in texts:
        t = "".join(deltas)
        first_nonempty = next((d for d in deltas if d), "")
        if not t:
            want.append("")
        elif position == "start":
            want.append(NOTICE + SEP + t if first_nonempty else t)
        else:
            want.append(t + SEP + NOTICE)
    check_responses(whole, want)


# ---------------------------------------------------------------------------------------------
# Token streams


def test_token_stream_start_and_end() -> None:
    assert list(label_token_stream(["", "a", "", "b"], record=RECORD)) == [
        NOTICE + SEP,
        "a",
        "",
        "b",
    ]
    assert list(label_token_stream(["a", "b"], record=RECORD, position="end")) == [
        "a",
        "b",
        SEP + NOTICE,
    ]
    assert list(label_token_stream([], record=RECORD)) == []
    assert list(label_token_stream(["", ""], record=RECORD, position="end")) == []


def test_token_stream_closes_its_source() -> None:
    closed = []

    def gen() -> Iterator[str]:
        try:
            yield "a"
            yield "b"
        finally:
            closed.append(True)

    it = label_token_stream(gen(), record=RECORD)
    assert next(it) == NOTICE + SEP
    assert next(it) == "a"
    it.close()  # type: ignore[attr-defined]
    assert closed == [True]


def test_async_token_stream() -> None:
    closed = []

    async def gen() -> AsyncIterator[str]:
        try:
            for t in ("x", "y"):
                yield t
        finally:
            closed.append(True)

    async def collect(position: str) -> list[str]:
        return [t async for t in alabel_token_stream(gen(), record=RECORD, position=position)]

    assert asyncio.run(collect("start")) == [NOTICE + SEP, "x", "y"]
    assert asyncio.run(collect("end")) == ["x", "y", SEP + NOTICE]
    assert closed == [True, True]


# ---------------------------------------------------------------------------------------------
# Non-streamed chat completion


def test_label_chat_completion() -> None:
    resp = {
        **{k: BASE[k] for k in ("id", "created", "model")},
        "object": "chat.completion",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hi"},
                "finish_reason": "stop",
            },
            {
                "index": 1,
                "message": {"role": "assistant", "content": None},
                "finish_reason": "tool_calls",
            },
        ],
    }
    out = label_chat_completion(resp, record=RECORD)
    assert out["choices"][0]["message"]["content"] == NOTICE + SEP + "Hi"
    assert out["choices"][1]["message"]["content"] is None
    assert out["aigc"] == RECORD.to_dict()
    assert resp["choices"][0]["message"]["content"] == "Hi"  # input untouched
    end = label_chat_completion(resp, record=RECORD, position="end", metadata=False)
    assert end["choices"][0]["message"]["content"] == "Hi" + SEP + NOTICE
    assert "aigc" not in end


# ---------------------------------------------------------------------------------------------
# Real clients (skipped when not installed): the OpenAI SDK parses the labelled stream.


def test_openai_sdk_reads_the_labelled_stream() -> None:
    openai = pytest.importorskip("openai")
    httpx_mod: Any = None
    for name in ("httpx", "httpx2"):
        try:
            httpx_mod = __import__(name)
            break
        except ImportError:
            continue
    if httpx_mod is None or not hasattr(httpx_mod, "MockTransport"):
        pytest.skip("no httpx with MockTransport")
    labelled = run(chat_stream(TOKENS, usage=True), position="start")

    def handler(request: Any) -> Any:
        return httpx_mod.Response(
            200, headers={"content-type": "text/event-stream"}, content=labelled
        )

    client = openai.OpenAI(
        api_key="test",
        base_url="http://upstream.test/v1",
        http_client=httpx_mod.Client(transport=httpx_mod.MockTransport(handler)),
    )
    try:
        stream = client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "hi"}], stream=True
        )
    except TypeError:  # pragma: no cover - an SDK whose http_client type differs
        pytest.skip("this openai SDK does not accept the installed httpx client")
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == NOTICE + SEP + ORIGINAL
    assert (chunks[0].model_extra or {})["aigc"] == RECORD.to_dict()


def test_fastapi_streaming_response() -> None:
    fastapi = pytest.importorskip("fastapi")
    testclient = pytest.importorskip("fastapi.testclient")
    from fastapi.responses import StreamingResponse

    app = fastapi.FastAPI()
    upstream = chat_stream(TOKENS)

    async def upstream_bytes() -> AsyncIterator[bytes]:
        for i in range(0, len(upstream), 7):
            yield upstream[i : i + 7]

    @app.get("/v1/chat")
    async def chat() -> StreamingResponse:
        return StreamingResponse(
            alabel_sse_stream(upstream_bytes(), record=RECORD), media_type="text/event-stream"
        )

    with testclient.TestClient(app) as client:
        resp = client.get("/v1/chat")
    assert resp.status_code == 200
    assert chat_content(resp.content) == NOTICE + SEP + ORIGINAL
