"""The watermark key: what a watermark carries and how it links back to the AIGC record.

Every watermark carries a prefix of one 256-bit key derived from the record's producer fields::

    key = SHA-256( b"synthlabel-wm/1\\x00" + ContentProducer + b"\\x00" + ProduceID )

An image mark carries the first 64 bits, an audio mark the first 32 bits of every 3-second
block, and so on; a shorter mark is always a prefix of a longer one, so one index of
``key[:8]`` (64 bits) answers every lookup. The key is a digest: it does not reveal the
producer or the ID, it only lets someone who holds the record (the producer, the platform's
registry, the regulator's database) confirm that a stripped copy came from it. The mapping is
documented in docs/watermark.md; change :data:`DOMAIN` to version it.
"""

from __future__ import annotations

import hashlib

import numpy as np
import numpy.typing as npt

from synthlabel.model.aigc import AIGCRecord

DOMAIN = b"synthlabel-wm/1\x00"


def watermark_key(producer: str, produce_id: str) -> bytes:
    """The 32-byte key for a producer code and ProduceID."""
    h = hashlib.sha256(DOMAIN)
    h.update(producer.encode("utf-8"))
    h.update(b"\x00")
    h.update(produce_id.encode("utf-8"))
    return h.digest()


def key_for_record(record: AIGCRecord) -> bytes:
    return watermark_key(record.content_producer, record.produce_id)


def payload_for(key: bytes, nbits: int) -> bytes:
    """The first ``nbits`` bits of ``key`` as bytes (unused low bits of the last byte zero)."""
    if nbits <= 0 or nbits > len(key) * 8:
        raise ValueError(f"payload of {nbits} bits does not fit a {len(key) * 8}-bit key")
    return bits_to_bytes(bytes_to_bits(key, nbits))


def matches(payload: bytes, nbits: int, key: bytes) -> bool:
    """Does a decoded ``nbits``-bit payload equal the prefix of ``key``?"""
    return bool(np.array_equal(bytes_to_bits(payload, nbits), bytes_to_bits(key, nbits)))


def bytes_to_bits(data: bytes, nbits: int | None = None) -> npt.NDArray[np.uint8]:
    """MSB-first bits of ``data`` (the first ``nbits`` of them)."""
    bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8))
    if nbits is not None:
        if nbits > bits.size:
            raise ValueError(f"{len(data)} bytes hold fewer than {nbits} bits")
        bits = bits[:nbits]
    return bits.astype(np.uint8)


def bits_to_bytes(bits: npt.ArrayLike) -> bytes:
    """Pack MSB-first bits (any length; the last byte is zero-padded)."""
    arr = (np.asarray(bits).astype(np.int64).ravel() & 1).astype(np.uint8)
    return np.packbits(arr).tobytes()
