"""Safety limits shared by the container handlers.

Every handler works on an in-memory ``bytes`` object, so a hostile *declared* length can never
make us allocate: lengths are checked against the real buffer before anything is sliced. What
remains to bound is work (how many segments/chunks/blocks we walk) and decompression output.
The numbers are far above anything a real file needs and far below what would hurt a server.
"""

from __future__ import annotations

import zlib

from synthlabel.errors import LimitExceeded, MalformedInput

#: Largest input a handler accepts (the pipeline reads whole files into memory).
MAX_INPUT_BYTES = 2 * 1024 * 1024 * 1024

#: Most JPEG marker segments (APPn, DQT, DHT, SOS, ...) walked in one file.
MAX_JPEG_SEGMENTS = 100_000
#: Most PNG chunks walked in one file (APNG files with many frames stay well below this).
MAX_PNG_CHUNKS = 500_000
#: Most GIF blocks (extensions and image descriptors) walked in one file.
MAX_GIF_BLOCKS = 500_000
#: Most RIFF chunks walked in one WebP file.
MAX_WEBP_CHUNKS = 500_000
#: Most TIFF IFDs followed in one file (main chain plus SubIFDs).
MAX_TIFF_IFDS = 10_000

#: Largest metadata payload we reassemble or inflate (XMP, ExtendedXMP, text chunks).
MAX_METADATA_BYTES = 16 * 1024 * 1024
#: Largest C2PA manifest store we reassemble from several segments.
MAX_C2PA_BYTES = 64 * 1024 * 1024
#: Most carriers of one kind reported per file (stops "a million COM segments" reports).
MAX_CARRIERS = 1_000


def check_input(data: bytes, what: str) -> None:
    """Reject inputs over :data:`MAX_INPUT_BYTES`."""
    if len(data) > MAX_INPUT_BYTES:
        raise LimitExceeded(f"{what} input too large ({len(data)} bytes)")


class Counter:
    """Counts walked structures and raises :class:`LimitExceeded` past ``limit``."""

    __slots__ = ("limit", "n", "what")

    def __init__(self, limit: int, what: str) -> None:
        self.limit = limit
        self.what = what
        self.n = 0

    def tick(self, offset: int, k: int = 1) -> None:
        """Count ``k`` more (at ``offset``, for the error message)."""
        self.n += k
        if self.n > self.limit:
            raise LimitExceeded(f"more than {self.limit} {self.what}", offset=offset)


def inflate(data: bytes, *, limit: int = MAX_METADATA_BYTES, offset: int = 0) -> bytes:
    """Decompress a zlib stream, refusing to produce more than ``limit`` bytes.

    Raises :class:`LimitExceeded` for a bomb and :class:`MalformedInput` for a broken stream.
    """
    d = zlib.decompressobj()
    try:
        out = d.decompress(data, limit + 1)
    except zlib.error as exc:
        raise MalformedInput(f"corrupt zlib stream: {exc}", offset=offset) from None
    if len(out) > limit or d.unconsumed_tail:
        raise LimitExceeded(f"compressed metadata inflates past {limit} bytes", offset=offset)
    if not d.eof:
        raise MalformedInput("truncated zlib stream", offset=offset)
    return out
