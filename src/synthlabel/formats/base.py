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
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

from synthlabel.formats import _xmp


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


@dataclass(frozen=True, slots=True)
class LabelWrite:
    """What a handler writes: the record's canonical JSON and, for XMP carriers, how to build
    the packet. ``base_xmp`` overrides the packet found in the file (the pipeline passes the
    original's packet, or ``b""`` for none, so the file need not be parsed again)."""

    aigc_json: str
    digital_source_type: str | None = _xmp.DST_TRAINED
    replace_malformed_xmp: bool = False
    base_xmp: bytes | None = None

    def xmp_packet(self, existing: bytes | None) -> bytes:
        """The file's XMP packet (or a new one) with the record and DigitalSourceType set."""
        return _xmp.update_packet(
            self.base_xmp if self.base_xmp is not None else existing,
            aigc_json=self.aigc_json,
            digital_source_type=self.digital_source_type,
            replace_malformed=self.replace_malformed_xmp,
        )


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

    def write_label(self, data: bytes, label: LabelWrite) -> bytes:
        """Return ``data`` carrying the record in this container's normative place.

        Replaces an existing record (the one-record rule: other AIGC carriers are removed),
        keeps every other byte of content and metadata, and never re-encodes. XMP containers
        get this from :class:`XmpLabelWriter`; native carriers (ID3, RIFF, MP4 ``keys``,
        Matroska tags, PDF Info, ...) implement it directly.
        """
        ...

    def content_digest(self, data: bytes) -> ContentDigest:
        """Digest of the bytes that metadata edits do not change (see content-binding docs)."""
        ...


@runtime_checkable
class XmpContainer(FormatHandler, Protocol):
    """A container whose record lives in an XMP packet (all image formats)."""

    def write_xmp(self, data: bytes, packet: bytes) -> bytes:
        """Return ``data`` with ``packet`` as its one XMP packet.

        Replaces an existing XMP packet in place of the old one (or inserts it where the spec
        puts it), removes other AIGC carriers (the one-record rule), keeps every other byte of
        content and metadata, and never re-encodes.
        """
        ...


class XmpLabelWriter:
    """Mixin: ``write_label`` for XMP containers, merging into the file's first XMP packet."""

    def write_label(self: XmpContainer, data: bytes, label: LabelWrite) -> bytes:
        existing = None
        if label.base_xmp is None:
            packets = self.read(data).xmp
            existing = packets[0].data if packets else None
        return self.write_xmp(data, label.xmp_packet(existing))


@runtime_checkable
class StreamingHandler(Protocol):
    """Optional capability for large media: work on files without loading them whole.

    The pipeline uses it (when a handler provides it) for files over its streaming threshold;
    the results must equal the bytes-based methods' on the same input.
    """

    def read_path(self, path: Path) -> ContainerMetadata: ...

    def write_label_stream(self, src: Path, dst: BinaryIO, label: LabelWrite) -> None: ...

    def content_digest_path(self, path: Path) -> ContentDigest: ...


@runtime_checkable
class StreamingFormat(FormatHandler, StreamingHandler, Protocol):
    """A format plug-in with the streaming capability (what the pipeline's large-file paths
    work with)."""
