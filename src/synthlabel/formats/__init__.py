"""Container plug-ins: bytes in, bytes out. See :mod:`synthlabel.formats.base` for the contract."""

from synthlabel.formats.base import (
    Carrier,
    ContainerMetadata,
    ContentDigest,
    FormatHandler,
    MediaKind,
)

__all__ = ["Carrier", "ContainerMetadata", "ContentDigest", "FormatHandler", "MediaKind"]
