"""ULIDs for ProduceID / PropagateID and validation of caller-supplied IDs."""

from __future__ import annotations

import threading
import time

import pytest

from synthlabel.errors import RecordError
from synthlabel.model import produce_id as pid
from synthlabel.model.aigc import AIGCRecord


def test_shape_and_timestamp() -> None:
    before = time.time_ns() // 1_000_000
    u = pid.new_produce_id()
    after = time.time_ns() // 1_000_000
    assert len(u) == 26
    assert set(u) <= set(pid.CROCKFORD32)
    assert pid.is_ulid(u)
    # The timestamp is now (or a later ms if earlier calls in this process ran ahead).
    assert before <= pid.ulid_timestamp_ms(u) <= after + 5
    assert pid.validate_produce_id(u) == u
    assert not AIGCRecord(content_producer="x", produce_id=u).problems()


def test_known_encoding() -> None:
    assert pid._encode(0) == "0" * 26
    assert pid._encode((1 << 128) - 1) == "7" + "Z" * 25
    ms, rand = 1_700_000_000_123, 0x1234_5678_9ABC_DEF0_1234
    u = pid._encode((ms << 80) | rand)
    assert pid.ulid_timestamp_ms(u) == ms
    assert _b32(u[10:]) == rand
    assert pid._encode(1 << 80)[:10] == "0000000001"


def test_monotonic_within_one_millisecond() -> None:
    ms = time.time_ns() // 1_000_000 - 10_000  # in the past: reuses the last timestamp
    ids = [pid.new_ulid(now_ms=ms) for _ in range(500)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    # Same ms: the random part increments by one.
    a, b = ids[-2], ids[-1]
    assert a[:10] == b[:10]
    assert _b32(b[10:]) == _b32(a[10:]) + 1


def _b32(text: str) -> int:
    n = 0
    for c in text:
        n = n * 32 + pid.CROCKFORD32.index(c)
    return n


def test_random_overflow_advances_the_millisecond() -> None:
    st = pid._STATE
    with st.lock:
        st.last_rand = (1 << 80) - 1
        ms = st.last_ms
    nxt = pid.new_ulid(now_ms=max(ms, 0))
    assert pid.ulid_timestamp_ms(nxt) == max(ms, 0) + 1


def test_thread_safety() -> None:
    out: list[str] = []
    lock = threading.Lock()

    def work() -> None:
        local = [pid.new_produce_id() for _ in range(400)]
        assert local == sorted(local)
        with lock:
            out.extend(local)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(out) == 3200
    assert len(set(out)) == 3200


def test_out_of_range_time() -> None:
    with pytest.raises(RecordError):
        pid.new_ulid(now_ms=-1)
    with pytest.raises(RecordError):
        pid.ulid_timestamp_ms("not-a-ulid")
    assert not pid.is_ulid("8" + "0" * 25)  # would exceed 128 bits


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("", "ProduceID is empty"),
        ("a" * 65, "65 characters long; at most 64"),
        ("abc def", "a space at position 4"),
        ('ab"c', "a double quote at position 3"),
        ("ab\\c", "a backslash at position 3"),
        ("id-中文", "non-ASCII character '中'"),
        ("ab\tc", "control character U+0009"),
    ],
)
def test_validation_messages(value: str, text: str) -> None:
    with pytest.raises(RecordError) as ei:
        pid.validate_produce_id(value)
    assert text in str(ei.value)


def test_validation_accepts_uuid_and_custom() -> None:
    for v in ("7254412903381", "a" * 64, "550e8400e29b41d4a716446655440000", "job:42/frame#7"):
        assert pid.validate_produce_id(v) == v
    assert pid.validate_content_id("", field="PropagateID", allow_empty=True) == ""
    with pytest.raises(RecordError, match="PropagateID is empty"):
        pid.validate_propagate_id("")
