"""The container plug-in contract.

A format handler works on bytes: it sniffs its container by magic bytes, reads the metadata
carriers it knows (XMP packets, native AIGC slots, C2PA manifest stores, EXIF), writes one XMP
packet back without re-encoding anything, and computes a content digest that metadata edits
do not change (used to bind a signed label to its file).

Handlers never decode pixels and never touch the file system. They raise
:class:`~synthlabel.errors.MalformedInput` (with a byte offset) for broken input and
:class:`~synthlabel.errors.LimitExceeded` for inputs over a safety limit; they never raise
anything else on arbitrary bytes (the conformance and fuzz tests check this).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol, runtime_checkable


class MediaKind(StrEnum):
    IMAGE = "image"
    AUDIO = "audio"
    VIDEO = "video"
    TEXT = "text"
    DOCUMENT = "document"


@dataclass(frozen=True, slots=True)
class Carrier:
    """One place in a file where metadata was found.

    ``kind`` values used by the built-in handlers:

    - ``xmp``: an XMP packet (``data`` is the packet bytes);
    - ``aigc``: a native AIGC slot holding the record text (PNG ``tEXt AIGC``, ...);
    - ``exif-usercomment``: EXIF UserComment text (may hold a wrapped record);
    - ``exif-imagedescription``: EXIF ImageDescription text (Tencent-style variant);
    - ``blob``: a bare ``AIGC{...}`` blob found in an application segment;
    - ``c2pa``: a C2PA manifest store (JUMBF bytes).
    """

    kind: str
    offset: int
    data: bytes
    name: str = ""  # human-readable location, e.g. "APP1 XMP", "iTXt XML:com.adobe.xmp"


@dataclass(slots=True)
class ContainerMetadata:
    """What a handler found in a file."""

    format_id: str
    carriers: list[Carrier] = field(default_factory=list)
    exif: bytes | None = None
    width: int | None = None
    height: int | None = None
    frames: int | None = None
    warnings: list[str] = field(default_factory=list)

    def of_kind(self, kind: str) -> list[Carrier]:
        return [c for c in self.carriers if c.kind == kind]

    @property
    def xmp(self) -> list[Carrier]:
        return self.of_kind("xmp")

    @property
    def c2pa(self) -> list[Carrier]:
        return self.of_kind("c2pa")


@dataclass(frozen=True, slots=True)
class ContentDigest:
    """A digest of the content-bearing bytes of a file.

    ``selector`` names the byte-selection rule, versioned (e.g. ``synthlabel.jpeg.v1``), so a
    verifier can tell which rule produced the digest; ``docs/content-binding.md`` lists them.
    """

    selector: str
    algorithm: str  # "sha256"
    digest: bytes

    @property
    def hex(self) -> str:
        return self.digest.hex()


@runtime_checkable
class FormatHandler(Protocol):
    """One container format. Register an instance under the ``synthlabel.formats`` entry point."""

    #: Short stable id, e.g. ``"jpeg"``.
    id: str
    #: Human-readable name, e.g. ``"JPEG"``.
    name: str
    media_kind: MediaKind
    #: Lower-case extensions without dots, most common first.
    extensions: tuple[str, ...]
    mime_types: tuple[str, ...]
    #: How many leading bytes :meth:`sniff` needs.
    sniff_bytes: int

    def sniff(self, head: bytes) -> bool:
        """True when ``head`` (the first ``sniff_bytes`` bytes or fewer) is this format."""
        ...

    def read(self, data: bytes) -> ContainerMetadata:
        """Find every metadata carrier. Raises MalformedInput/LimitExceeded on bad input."""
        ...

    def write_xmp(self, data: bytes, packet: bytes) -> bytes:
        """Return ``data`` with ``packet`` as its one XMP packet.

        Replaces an existing XMP packet in place of the old one (or inserts it where the spec
        puts it), removes other AIGC carriers (the one-record rule), keeps every other byte of
        content and metadata, and never re-encodes.
        """
        ...

    def content_digest(self, data: bytes) -> ContentDigest:
        """Digest of the bytes that metadata edits do not change (see content-binding docs)."""
        ...
