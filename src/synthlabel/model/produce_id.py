"""Content IDs for ``ProduceID`` / ``PropagateID``: ULID generation and validation.

A ULID is 26 characters of Crockford base32 (``0123456789ABCDEFGHJKMNPQRSTVWXYZ``): a 48-bit
millisecond Unix timestamp followed by 80 random bits. IDs made by one process sort by time;
within the same millisecond the random part is incremented, so they stay strictly increasing
(monotonic) even when many are made per millisecond, from any number of threads.

The standard gives no format for the IDs; our convention (gb45438-labels.md §3.3) is at most
64 characters from the Annex E charset, and a ULID by default.
"""

from __future__ import annotations

import secrets
import threading
import time

from synthlabel.errors import RecordError

__all__ = [
    "CROCKFORD32",
    "MAX_ID_LENGTH",
    "is_ulid",
    "new_produce_id",
    "new_ulid",
    "ulid_timestamp_ms",
    "validate_content_id",
    "validate_produce_id",
    "validate_propagate_id",
]

CROCKFORD32 = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_DECODE = {c: i for i, c in enumerate(CROCKFORD32)}
MAX_ID_LENGTH = 64
_MAX_TIME = (1 << 48) - 1
_MAX_RAND = (1 << 80) - 1


def _encode(value: int) -> str:
    chars = []
    for _ in range(26):
        chars.append(CROCKFORD32[value & 31])
        value >>= 5
    return "".join(reversed(chars))


class _UlidState:
    __slots__ = ("last_ms", "last_rand", "lock")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.last_ms = -1
        self.last_rand = 0


_STATE = _UlidState()


def new_ulid(now_ms: int | None = None) -> str:
    """A new 26-character ULID; strictly greater than every ULID this process made before.

    If the clock goes backwards, or the 80-bit random part would overflow within one
    millisecond, the previous timestamp is reused / advanced by one millisecond so that the
    order never breaks. ``now_ms`` overrides the clock (for tests).
    """
    ms = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    if not 0 <= ms <= _MAX_TIME:
        raise RecordError(f"ULID timestamp out of range: {ms}")
    st = _STATE
    with st.lock:
        if ms <= st.last_ms:
            ms = st.last_ms
            rand = st.last_rand + 1
            if rand > _MAX_RAND:
                ms += 1
                if ms > _MAX_TIME:
                    raise RecordError("ULID timestamp overflow")
                rand = secrets.randbits(80)
        else:
            rand = secrets.randbits(80)
        st.last_ms = ms
        st.last_rand = rand
    return _encode((ms << 80) | rand)


def new_produce_id() -> str:
    """A new content production ID (a ULID)."""
    return new_ulid()


def is_ulid(value: str) -> bool:
    """True for a canonical 26-character upper-case ULID (first char 0-7)."""
    return len(value) == 26 and value[0] in "01234567" and all(c in _DECODE for c in value)


def ulid_timestamp_ms(value: str) -> int:
    """The millisecond timestamp inside a ULID. Raises :class:`RecordError` if not a ULID."""
    if not is_ulid(value):
        raise RecordError(f"{value!r} is not a ULID")
    n = 0
    for c in value[:10]:
        n = (n << 5) | _DECODE[c]
    return n


def _describe(c: str) -> str:
    if c == " ":
        return "a space"
    if c == '"':
        return "a double quote"
    if c == "\\":
        return "a backslash"
    if ord(c) < 0x20 or ord(c) == 0x7F:
        return f"control character U+{ord(c):04X}"
    return f"non-ASCII character {c!r} (U+{ord(c):04X})"


def validate_content_id(value: str, *, field: str = "ProduceID", allow_empty: bool = False) -> str:
    """Check a caller-supplied content ID; return it unchanged or raise :class:`RecordError`.

    Rules: non-empty (unless ``allow_empty``), at most 64 characters, only the Annex E
    characters (printable ASCII 0x21-0x7E without ``"`` and ``\\``).
    """
    if not isinstance(value, str):
        raise RecordError(f"{field} must be a string, got {type(value).__name__}")
    if not value:
        if allow_empty:
            return value
        raise RecordError(f"{field} is empty")
    if len(value) > MAX_ID_LENGTH:
        raise RecordError(
            f"{field} is {len(value)} characters long; at most {MAX_ID_LENGTH} are allowed"
        )
    for i, c in enumerate(value):
        o = ord(c)
        if o < 0x21 or o > 0x7E or c in '"\\':
            raise RecordError(
                f"{field} contains {_describe(c)} at position {i + 1}; only printable ASCII "
                'without space, " and \\ is allowed (GB 45438 Annex E)'
            )
    return value


def validate_produce_id(value: str) -> str:
    """:func:`validate_content_id` for ``ProduceID``."""
    return validate_content_id(value, field="ProduceID")


def validate_propagate_id(value: str) -> str:
    """:func:`validate_content_id` for ``PropagateID``."""
    return validate_content_id(value, field="PropagateID")
