"""IPTC-IIM (Information Interchange Model, IPTC 1991/1999 rev. 4.2) datasets, read-only.

Where IIM lives in the files synthlabel reads:

* JPEG: ``APP13`` segments starting ``Photoshop 3.0\\0``, holding Photoshop image resources
  (``8BIM`` blocks); resource ``0x0404`` is the IIM stream. Photoshop may split the
  resources over several APP13 segments, which are concatenated;
* TIFF: tag 33723 (``IPTC-NAA``, the raw IIM stream) and tag 34377 (Photoshop image
  resources, IIM in resource 0x0404), in IFD0;
* PSD: the image resources section (after the header and the colour-mode data).

An IIM stream is a run of datasets ``0x1C record number length value``; a length with its
top bit set is an *extended* length whose low 15 bits give the size (1..4 bytes) of the
real length that follows. Text is UTF-8 when dataset 1:90 (CodedCharacterSet) holds
``ESC % G``, otherwise read as UTF-8 with a Latin-1 fallback.

Everything is bounded (dataset/resource/segment counts, lengths checked against the
input); malformed input stops the parse with a warning instead of raising.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

__all__ = [
    "DATASET_NAMES",
    "Dataset",
    "IimBlock",
    "find_iim",
    "parse_8bim",
    "parse_iim",
]

MAX_DATASETS = 20_000
MAX_RESOURCES = 10_000
MAX_SEGMENTS = 100_000
MAX_TIFF_ENTRIES = 4_096
IIM_RESOURCE = 0x0404
PHOTOSHOP_HEADER = b"Photoshop 3.0\x00"
_RESOURCE_SIGS = (b"8BIM", b"MeSa", b"PHUT", b"AgHg", b"DCSR")

#: Names of the record-2 (application) datasets commonly written (IIM 4.2 §6).
DATASET_NAMES: dict[tuple[int, int], str] = {
    (1, 90): "CodedCharacterSet",
    (2, 0): "RecordVersion",
    (2, 5): "ObjectName",
    (2, 7): "EditStatus",
    (2, 10): "Urgency",
    (2, 12): "SubjectReference",
    (2, 15): "Category",
    (2, 20): "SupplementalCategories",
    (2, 22): "FixtureIdentifier",
    (2, 25): "Keywords",
    (2, 40): "SpecialInstructions",
    (2, 55): "DateCreated",
    (2, 65): "OriginatingProgram",
    (2, 70): "ProgramVersion",
    (2, 80): "By-line",
    (2, 85): "By-lineTitle",
    (2, 90): "City",
    (2, 101): "Country",
    (2, 103): "OriginalTransmissionReference",
    (2, 105): "Headline",
    (2, 110): "Credit",
    (2, 115): "Source",
    (2, 116): "CopyrightNotice",
    (2, 120): "Caption-Abstract",
    (2, 122): "Writer-Editor",
}


@dataclass(frozen=True, slots=True)
class Dataset:
    record: int
    number: int
    value: bytes
    offset: int  # of the 0x1C tag marker, relative to the IIM stream

    @property
    def tag(self) -> str:
        return f"{self.record}:{self.number}"

    @property
    def name(self) -> str:
        return DATASET_NAMES.get((self.record, self.number), f"Dataset{self.tag}")


@dataclass(slots=True)
class IimBlock:
    """The IIM stream found in a file, parsed."""

    location: str  # "JPEG APP13 Photoshop 8BIM 0x0404", "TIFF tag 33723 (IPTC-NAA)", ...
    datasets: list[Dataset] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def utf8(self) -> bool:
        return any(d.record == 1 and d.number == 90 and b"\x1b%G" in d.value for d in self.datasets)

    def text(self, ds: Dataset) -> str:
        raw = ds.value.rstrip(b"\x00")
        if self.utf8:
            return raw.decode("utf-8", "replace")
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return raw.decode("latin-1")


def parse_iim(data: bytes) -> tuple[list[Dataset], list[str]]:
    """The datasets of an IIM stream, and warnings for what could not be parsed."""
    out: list[Dataset] = []
    warnings: list[str] = []
    pos, n = 0, len(data)
    while pos < n:
        if data[pos] != 0x1C:
            if data[pos:].strip(b"\x00"):
                warnings.append(f"IIM: unexpected byte 0x{data[pos]:02x} at {pos}, stopped")
            break
        if pos + 5 > n:
            warnings.append(f"IIM: truncated dataset header at {pos}")
            break
        record, number, length = (
            data[pos + 1],
            data[pos + 2],
            struct.unpack_from(">H", data, pos + 3)[0],
        )
        start = pos + 5
        if length & 0x8000:
            size = length & 0x7FFF
            if not 1 <= size <= 4 or start + size > n:
                warnings.append(f"IIM: bad extended length at {pos}")
                break
            length = int.from_bytes(data[start : start + size], "big")
            start += size
        if start + length > n:
            warnings.append(f"IIM: dataset {record}:{number} at {pos} runs past the end")
            break
        out.append(Dataset(record, number, data[start : start + length], pos))
        if len(out) >= MAX_DATASETS:
            warnings.append(f"IIM: more than {MAX_DATASETS} datasets, stopped")
            break
        pos = start + length
    return out, warnings


def parse_8bim(data: bytes) -> tuple[list[tuple[int, bytes]], list[str]]:
    """Photoshop image resources as ``(resource id, payload)``, and warnings."""
    out: list[tuple[int, bytes]] = []
    warnings: list[str] = []
    pos, n = 0, len(data)
    while pos + 12 <= n and len(out) < MAX_RESOURCES:
        if data[pos : pos + 4] not in _RESOURCE_SIGS:
            if data[pos:].strip(b"\x00"):
                warnings.append(f"8BIM: no resource signature at {pos}, stopped")
            break
        rid = struct.unpack_from(">H", data, pos + 4)[0]
        name_len = data[pos + 6]
        p = pos + 6 + 1 + name_len
        if (1 + name_len) % 2:  # the name field (length byte + name) is padded to even
            p += 1
        if p + 4 > n:
            warnings.append(f"8BIM: truncated resource header at {pos}")
            break
        size = struct.unpack_from(">I", data, p)[0]
        p += 4
        if p + size > n:
            warnings.append(f"8BIM: resource 0x{rid:04x} at {pos} runs past the end")
            out.append((rid, data[p:n]))
            break
        out.append((rid, data[p : p + size]))
        pos = p + size + (size % 2)
    return out, warnings


def _jpeg_photoshop(data: bytes) -> tuple[bytes, list[str]]:
    """The concatenated Photoshop resources of every APP13 segment (before SOS)."""
    parts: list[bytes] = []
    warnings: list[str] = []
    pos, n, seen = 2, len(data), 0
    while pos + 4 <= n and seen < MAX_SEGMENTS:
        if data[pos] != 0xFF:
            warnings.append(f"JPEG: no marker at {pos}")
            break
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):
            pos += 2
            continue
        if marker in (0xD9, 0xDA):  # EOI, SOS: metadata is over
            break
        seen += 1
        length = struct.unpack_from(">H", data, pos + 2)[0]
        if length < 2 or pos + 2 + length > n:
            warnings.append(f"JPEG: segment 0x{marker:02x} at {pos} has a bad length")
            break
        body = data[pos + 4 : pos + 2 + length]
        if marker == 0xED and body.startswith(PHOTOSHOP_HEADER):
            parts.append(body[len(PHOTOSHOP_HEADER) :])
        pos += 2 + length
    return b"".join(parts), warnings


_TIFF_TYPE_SIZE = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}


def _tiff_tags(data: bytes, wanted: tuple[int, ...]) -> tuple[dict[int, bytes], list[str]]:
    """Values of ``wanted`` tags in IFD0 of a classic TIFF."""
    order = "<" if data[:2] == b"II" else ">"
    found: dict[int, bytes] = {}
    if len(data) < 8:
        return found, ["TIFF: truncated header"]
    (ifd,) = struct.unpack_from(order + "I", data, 4)
    if ifd + 2 > len(data):
        return found, ["TIFF: IFD0 offset past the end"]
    (count,) = struct.unpack_from(order + "H", data, ifd)
    count = min(count, MAX_TIFF_ENTRIES)
    for i in range(count):
        e = ifd + 2 + 12 * i
        if e + 12 > len(data):
            return found, ["TIFF: IFD0 truncated"]
        tag, typ, num = struct.unpack_from(order + "HHI", data, e)
        if tag not in wanted:
            continue
        size = _TIFF_TYPE_SIZE.get(typ, 1) * num
        if size <= 4:
            found[tag] = data[e + 8 : e + 8 + size]
            continue
        (off,) = struct.unpack_from(order + "I", data, e + 8)
        if off + size > len(data):
            return found, [f"TIFF: tag {tag} value runs past the end"]
        found[tag] = data[off : off + size]
    return found, []


def _psd_resources(data: bytes) -> tuple[bytes, list[str]]:
    if len(data) < 30:
        return b"", ["PSD: truncated header"]
    (mode_len,) = struct.unpack_from(">I", data, 26)
    p = 30 + mode_len
    if p + 4 > len(data):
        return b"", ["PSD: colour-mode data runs past the end"]
    (res_len,) = struct.unpack_from(">I", data, p)
    p += 4
    if p + res_len > len(data):
        return data[p:], ["PSD: image resources run past the end"]
    return data[p : p + res_len], []


def _from_resources(resources: bytes, where: str, warnings: list[str]) -> list[IimBlock]:
    blocks: list[IimBlock] = []
    items, w = parse_8bim(resources)
    warnings.extend(w)
    for rid, payload in items:
        if rid == IIM_RESOURCE:
            datasets, w2 = parse_iim(payload)
            blocks.append(IimBlock(f"{where} 8BIM 0x0404", datasets, [*warnings, *w2]))
    return blocks


def find_iim(data: bytes) -> list[IimBlock]:
    """Every IIM stream in a JPEG, TIFF or PSD file (empty for other files). Never raises
    on arbitrary bytes."""
    try:
        return _find(data)
    except (struct.error, IndexError, ValueError) as exc:  # pragma: no cover - defensive
        return [IimBlock("unparsed", [], [f"IIM: could not parse ({exc})"])]


def _find(data: bytes) -> list[IimBlock]:
    if data[:2] == b"\xff\xd8":
        resources, warnings = _jpeg_photoshop(data)
        return _from_resources(resources, "JPEG APP13 Photoshop", warnings) if resources else []
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        tags, warnings = _tiff_tags(data, (33723, 34377))
        blocks: list[IimBlock] = []
        if 33723 in tags:
            datasets, w = parse_iim(tags[33723])
            blocks.append(IimBlock("TIFF tag 33723 (IPTC-NAA)", datasets, [*warnings, *w]))
        if 34377 in tags:
            blocks += _from_resources(tags[34377], "TIFF tag 34377 (Photoshop)", list(warnings))
        return blocks
    if data[:4] == b"8BPS":
        resources, warnings = _psd_resources(data)
        return _from_resources(resources, "PSD image resources", warnings) if resources else []
    return []
