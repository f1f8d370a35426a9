from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from synthlabel.errors import RecordError
from synthlabel.model.aigc import KEYS, AIGCRecord, Label, parse_record

SPEC_PRODUCER = (
    '{"Label":"1","ContentProducer":"001191110000MA0000000H10001",'
    '"ProduceID":"01JD3Q8W5Z6V7K2M4N8P0R2S4T","ReservedCode1":"","ContentPropagator":"",'
    '"PropagateID":"","ReservedCode2":""}'
)


def test_canonical_json_matches_the_spec_example_byte_for_byte() -> None:
    r = AIGCRecord(
        content_producer="001191110000MA0000000H10001", produce_id="01JD3Q8W5Z6V7K2M4N8P0R2S4T"
    )
    assert r.to_json() == SPEC_PRODUCER
    assert list(json.loads(r.to_json())) == list(KEYS)
    assert r.to_json(wrapped=True) == '{"AIGC":' + SPEC_PRODUCER + "}"


def test_round_trip_is_exact_and_clean() -> None:
    p = parse_record(SPEC_PRODUCER)
    assert p.record.to_json() == SPEC_PRODUCER
    assert p.warnings == () and p.conforming and not p.wrapped


@pytest.mark.parametrize(
    ("raw", "expect_warning"),
    [
        (SPEC_PRODUCER.replace('"Label":"1"', '"Label":1'), "JSON number"),
        (SPEC_PRODUCER.replace('"', "&quot;"), "entity-escaped"),
        ('{"AIGC":' + SPEC_PRODUCER + "}", None),
        ("AIGC" + SPEC_PRODUCER, "bare AIGC"),
        ('{"Label":"1","ContentProducer":"doubao","ProduceID":"x"}', "missing key ReservedCode1"),
        (SPEC_PRODUCER[:-1] + ',"Vendor":"x"}', "unknown keys: Vendor"),
        (SPEC_PRODUCER + "\x00\x00  ", None),
    ],
)
def test_wild_variants_parse_with_warnings(raw: str, expect_warning: str | None) -> None:
    p = parse_record(raw)
    assert p.record.label == "1"
    if expect_warning:
        assert any(expect_warning in w for w in p.warnings), p.warnings


def test_wrapper_sets_flag() -> None:
    assert parse_record('{"AIGC":' + SPEC_PRODUCER + "}").wrapped


def test_writer_charset_rule() -> None:
    with pytest.raises(RecordError, match="ContentProducer contains non-ASCII"):
        AIGCRecord(content_producer="豆包", produce_id="x").check()
    with pytest.raises(RecordError, match="contains a space"):
        AIGCRecord(content_producer="a b", produce_id="x").check()
    with pytest.raises(RecordError, match="Label must be"):
        AIGCRecord(label="4", content_producer="a", produce_id="x").check()
    # a quote is serialised as \" which Annex E j allows (SecurityData strings need it) ...
    AIGCRecord(content_producer='a"b', produce_id="x", reserved_code1='{"SecurityData":{}}').check()
    # ... a backslash is not
    with pytest.raises(RecordError, match="backslash"):
        AIGCRecord(content_producer="a\\b", produce_id="x").check()


def test_reader_flags_non_ascii_but_still_parses() -> None:
    p = parse_record(
        '{"Label":"1","ContentProducer":"豆包","ProduceID":"x","ReservedCode1":"","ContentPropagator":"","PropagateID":"","ReservedCode2":""}'
    )
    assert p.record.content_producer == "豆包"
    assert any("non-ASCII" in e for e in p.errors)


@pytest.mark.parametrize(
    "bad", ["", "nothing here", "{", '{"a":1}', "[1,2]", '{"AIGC":[1]}', "{" * 5000]
)
def test_garbage_raises_record_error(bad: str) -> None:
    with pytest.raises(RecordError):
        parse_record(bad)


@given(st.text(max_size=300))
def test_parser_never_crashes(text: str) -> None:
    with contextlib.suppress(RecordError):
        parse_record(text)


@given(
    st.sampled_from([m.value for m in Label]),
    st.text(
        alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E, blacklist_characters='"\\'),
        min_size=1,
        max_size=40,
    ),
    st.text(
        alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E, blacklist_characters='"\\'),
        min_size=1,
        max_size=40,
    ),
)
def test_any_conforming_record_round_trips(label: str, producer: str, pid: str) -> None:
    r = AIGCRecord(label=label, content_producer=producer, produce_id=pid).check()
    assert parse_record(r.to_json()).record == r
