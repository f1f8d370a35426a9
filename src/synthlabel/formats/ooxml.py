"""OOXML (docx, xlsx, pptx and their templates): the ``AIGC`` custom document property.

TC260-PG-20258A puts the record in ``docProps/custom.xml``::

    <property fmtid="{D5CDD505-2E9C-101B-9397-08002B2CF9AE}" pid="N" name="AIGC">
      <vt:lpwstr>{flat JSON}</vt:lpwstr></property>

with ``pid`` unique and >= 2, the part registered in ``[Content_Types].xml`` and in
``_rels/.rels``. The package is rewritten by hand, never re-zipped: every other member is
copied byte for byte (local header, compressed data, data descriptor), in the same order,
with the same timestamps and central-directory fields (only its offset changes). Only
``docProps/custom.xml`` (edited textually: other properties, their order and formatting are
kept) and, when the registration is missing, ``[Content_Types].xml`` and ``_rels/.rels`` are
written anew, at their old positions; a new custom part goes last.

Untrusted archives: at most :data:`MAX_ENTRIES` members; names that are absolute, contain
``..``, backslashes, drive letters or NULs, duplicate names (OPC names are case-insensitive)
and overlapping members raise :class:`MalformedInput`; inflating is streamed and bounded per
member (:data:`MAX_XML_PART` for the parts we parse, :data:`MAX_RATIO` and
:data:`MAX_TOTAL_UNCOMPRESSED` for the content digest), CRCs are checked.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import struct
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

from defusedxml import ElementTree as SafeET
from defusedxml.common import DefusedXmlException

from synthlabel.errors import LimitExceeded, MalformedInput
from synthlabel.formats import _limits
from synthlabel.formats.base import (
    Carrier,
    ContainerMetadata,
    ContentDigest,
    FormatHandler,
    LabelWrite,
    MediaKind,
)
from synthlabel.formats.text import aigc_mapping

SELECTOR = "synthlabel.ooxml.v1"

FMTID = "{D5CDD505-2E9C-101B-9397-08002B2CF9AE}"
CUSTOM_PART = "docProps/custom.xml"
CUSTOM_CT = "application/vnd.openxmlformats-officedocument.custom-properties+xml"
REL_CUSTOM = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/custom-properties"
REL_CUSTOM_STRICT = "http://purl.oclc.org/ooxml/officeDocument/relationships/customProperties"
NS_CUSTOM = "http://schemas.openxmlformats.org/officeDocument/2006/custom-properties"
NS_VT = "http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes"
CONTENT_TYPES = "[Content_Types].xml"
ROOT_RELS = "_rels/.rels"

#: Most members in one package (a big workbook has a few thousand).
MAX_ENTRIES = 100_000
#: Largest XML part we inflate and parse (custom.xml, [Content_Types].xml, _rels/.rels).
MAX_XML_PART = _limits.MAX_METADATA_BYTES
#: Largest declared compression ratio for a member over 1 MiB (XML compresses ~10-30x).
MAX_RATIO = 1000
#: Most bytes inflated for one content digest.
MAX_TOTAL_UNCOMPRESSED = 4 * 1024 * 1024 * 1024

_LOCAL = b"PK\x03\x04"
_CENTRAL = b"PK\x01\x02"
_EOCD = b"PK\x05\x06"
_EOCD64_LOCATOR = b"PK\x06\x07"
_DESCRIPTOR = b"PK\x07\x08"
_OPC_FIRST = (b"[Content_Types].xml", b"_rels/", b"docProps/", b"word/", b"xl/", b"ppt/")
# DOS date 1980-01-01, time 00:00 (what Office writes for every member).
_DOS_DATE = (0 << 9) | (1 << 5) | 1


@dataclass(frozen=True, slots=True)
class Entry:
    name: str
    cd_start: int  # central directory record
    cd_end: int
    flags: int
    method: int
    time: int
    date: int
    crc: int
    csize: int
    usize: int
    local: int  # local header offset
    data_start: int
    data_end: int
    end: int  # after the data descriptor (if any)


@dataclass(frozen=True, slots=True)
class Archive:
    entries: list[Entry]  # central-directory order
    cd_start: int
    eocd: int
    comment: bytes

    def get(self, name: str) -> Entry | None:
        low = name.lower()
        return next((e for e in self.entries if e.name.lower() == low), None)


def _safe_name(name: str, offset: int) -> None:
    bad = (
        not name
        or name.startswith(("/", "\\"))
        or "\\" in name
        or "\x00" in name
        or re.match(r"[A-Za-z]:", name) is not None
        or any(part in ("..", ".") for part in name.split("/"))
    )
    if bad:
        raise MalformedInput(f"unsafe member name {name!r} in the package", offset=offset)


def parse_zip(data: bytes) -> Archive:
    """The central directory, every member's local header checked against it."""
    _limits.check_input(data, "OOXML")
    if not data.startswith(_LOCAL):
        raise MalformedInput("not a ZIP package (no local file header at 0)", offset=0)
    eocd = data.rfind(_EOCD, max(0, len(data) - 65557))
    while eocd >= 0 and eocd + 22 > len(data):
        eocd = data.rfind(_EOCD, max(0, len(data) - 65557), eocd)
    if eocd < 0:
        raise MalformedInput("ZIP end of central directory not found", offset=len(data))
    disk, cd_disk, n_disk, n_total, cd_size, cd_off, clen = struct.unpack(
        "<HHHHIIH", data[eocd + 4 : eocd + 22]
    )
    if eocd >= 20 and data[eocd - 20 : eocd - 16] == _EOCD64_LOCATOR:
        raise LimitExceeded("ZIP64 packages (over 4 GiB or 65 535 members) are not supported")
    if disk or cd_disk or n_disk != n_total:
        raise MalformedInput("multi-disk ZIP archives are not supported", offset=eocd)
    if n_total > MAX_ENTRIES:
        raise LimitExceeded(f"more than {MAX_ENTRIES} members in the package", offset=eocd)
    if cd_off + cd_size != eocd:
        raise MalformedInput("ZIP central directory does not end where EOCD says", offset=eocd)
    comment = data[eocd + 22 : eocd + 22 + clen]
    entries: list[Entry] = []
    seen: set[str] = set()
    pos = cd_off
    for _ in range(n_total):
        if data[pos : pos + 4] != _CENTRAL or pos + 46 > eocd:
            raise MalformedInput("bad ZIP central directory record", offset=pos)
        (flags, method, time, date, crc, csize, usize, nlen, xlen, klen) = struct.unpack(
            "<HHHHIIIHHH", data[pos + 8 : pos + 34]
        )
        (local,) = struct.unpack("<I", data[pos + 42 : pos + 46])
        end = pos + 46 + nlen + xlen + klen
        if end > eocd:
            raise MalformedInput("ZIP central directory record runs past its end", offset=pos)
        raw_name = data[pos + 46 : pos + 46 + nlen]
        name = raw_name.decode("utf-8" if flags & 0x800 else "cp437", "replace")
        _safe_name(name, pos)
        if name.lower() in seen:
            raise MalformedInput(f"duplicate member name {name!r} in the package", offset=pos)
        seen.add(name.lower())
        if 0xFFFFFFFF in (csize, usize, local):
            raise LimitExceeded("ZIP64 members are not supported", offset=pos)
        entries.append(
            _local(
                data,
                name,
                raw_name,
                pos,
                end,
                flags,
                method,
                time,
                date,
                crc,
                csize,
                usize,
                local,
                cd_off,
            )
        )
        pos = end
    if pos != eocd:
        raise MalformedInput("ZIP central directory size mismatch", offset=pos)
    spans = sorted((e.local, e.end) for e in entries)
    for (_, a_end), (b_start, _) in itertools.pairwise(spans):
        if b_start < a_end:
            raise MalformedInput("overlapping members in the package", offset=b_start)
    return Archive(entries, cd_off, eocd, comment)


def _local(
    data: bytes,
    name: str,
    raw_name: bytes,
    cd_start: int,
    cd_end: int,
    flags: int,
    method: int,
    time: int,
    date: int,
    crc: int,
    csize: int,
    usize: int,
    local: int,
    cd_off: int,
) -> Entry:
    if data[local : local + 4] != _LOCAL or local + 30 > cd_off:
        raise MalformedInput(f"bad local header for {name!r}", offset=local)
    nlen, xlen = struct.unpack("<HH", data[local + 26 : local + 30])
    if data[local + 30 : local + 30 + nlen] != raw_name:
        raise MalformedInput(f"local header name differs for {name!r}", offset=local)
    data_start = local + 30 + nlen + xlen
    data_end = data_start + csize
    if data_end > cd_off:
        raise MalformedInput(f"member {name!r} runs past the central directory", offset=local)
    end = data_end
    if flags & 0x08:
        end += 16 if data[data_end : data_end + 4] == _DESCRIPTOR else 12
        if end > cd_off:
            raise MalformedInput(f"data descriptor of {name!r} is truncated", offset=data_end)
    return Entry(
        name,
        cd_start,
        cd_end,
        flags,
        method,
        time,
        date,
        crc,
        csize,
        usize,
        local,
        data_start,
        data_end,
        end,
    )


def _chunks(data: bytes, e: Entry, limit: int) -> Iterator[bytes]:
    """The member's uncompressed bytes in pieces; bounded, CRC and size checked."""
    if e.flags & 0x01:
        raise MalformedInput(f"member {e.name!r} is encrypted", offset=e.local)
    if e.usize > limit:
        raise LimitExceeded(f"member {e.name!r} declares {e.usize} bytes", offset=e.local)
    if e.usize > (1 << 20) and e.usize > MAX_RATIO * max(1, e.csize):
        raise LimitExceeded(f"member {e.name!r} compression ratio too high", offset=e.local)
    raw = memoryview(data)[e.data_start : e.data_end]
    crc = 0
    total = 0
    if e.method == 0:
        pieces: Iterator[bytes] = (
            bytes(raw[i : i + (1 << 20)]) for i in range(0, len(raw), 1 << 20)
        )
    elif e.method == 8:
        pieces = _inflate(raw, e)
    else:
        raise MalformedInput(
            f"member {e.name!r} uses compression method {e.method}", offset=e.local
        )
    for piece in pieces:
        total += len(piece)
        if total > e.usize:
            raise MalformedInput(f"member {e.name!r} is larger than declared", offset=e.local)
        crc = zlib.crc32(piece, crc)
        yield piece
    if total != e.usize or crc != e.crc:
        raise MalformedInput(f"member {e.name!r} fails its size/CRC check", offset=e.local)


def _inflate(raw: memoryview, e: Entry) -> Iterator[bytes]:
    d = zlib.decompressobj(-15)
    step = 1 << 20
    try:
        for i in range(0, len(raw), step):
            buf = bytes(raw[i : i + step])
            while buf:
                out = d.decompress(buf, step)
                yield out
                buf = d.unconsumed_tail
                if d.eof:
                    break
            if d.eof:
                break
        yield d.flush()
    except zlib.error as exc:
        raise MalformedInput(f"member {e.name!r} is corrupt: {exc}", offset=e.local) from None
    if not d.eof:
        raise MalformedInput(f"member {e.name!r} is truncated", offset=e.local)


def read_member(data: bytes, e: Entry, limit: int = MAX_XML_PART) -> bytes:
    return b"".join(_chunks(data, e, limit))


def _xml_text(raw: bytes, name: str) -> tuple[str, str]:
    """(text, codec) of an XML part; UTF-8 or UTF-16 with a BOM."""
    codec = "utf-16" if raw.startswith((b"\xff\xfe", b"\xfe\xff")) else "utf-8"
    try:
        text = raw.decode(codec)
    except UnicodeDecodeError:
        raise MalformedInput(f"{name} is not {codec.upper()}") from None
    return text.lstrip("\ufeff"), codec


def _parse_xml(text: str, name: str) -> ET.Element:
    try:
        root: ET.Element = SafeET.fromstring(
            text.encode("utf-8").replace(b'encoding="UTF-16"', b'encoding="UTF-8"'),
            forbid_dtd=True,
            forbid_entities=True,
            forbid_external=True,
        )
    except DefusedXmlException as exc:
        raise MalformedInput(f"{name} uses a forbidden XML feature ({exc})") from None
    except ET.ParseError as exc:
        raise MalformedInput(f"{name} is not well-formed XML ({exc})") from None
    return root


def _custom_part_name(data: bytes, arc: Archive) -> str:
    """Where the custom-properties part lives: the root relationship's target, else the
    conventional name."""
    rels = arc.get(ROOT_RELS)
    if rels is None:
        return CUSTOM_PART
    text, _ = _xml_text(read_member(data, rels), ROOT_RELS)
    root = _parse_xml(text, ROOT_RELS)
    for rel in root:
        if (
            rel.get("Type") in (REL_CUSTOM, REL_CUSTOM_STRICT)
            and rel.get("TargetMode") != "External"
        ):
            target = (rel.get("Target") or "").lstrip("/")
            if target:
                _safe_name(target, 0)
                return target
    return CUSTOM_PART


def _properties(root: ET.Element) -> list[tuple[str, str, str]]:
    """(name, pid, lpwstr text) of each property."""
    out = []
    for prop in root:
        if not isinstance(prop.tag, str) or not prop.tag.endswith("property"):
            continue
        value = "".join(child.text or "" for child in prop)
        out.append((prop.get("name") or "", prop.get("pid") or "", value))
    return out


_PROP_RE = re.compile(
    r"<(?P<p>(?:[\w.-]+:)?)property\b(?P<attrs>[^>]*?)(?:/>|>(?P<body>.*?)</(?P=p)property\s*>)",
    re.S,
)
_NAME_ATTR_RE = re.compile(r"""\bname\s*=\s*(?:"([^"]*)"|'([^']*)')""")
_PID_ATTR_RE = re.compile(r"""\bpid\s*=\s*(?:"([^"]*)"|'([^']*)')""")


def _xml_escape(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _prefix_for(text: str, uri: str) -> str | None:
    for m in re.finditer(r"""xmlns(?::([\w.-]+))?\s*=\s*["']([^"']*)["']""", text):
        if m.group(2) == uri:
            return m.group(1) or ""
    return None


def _property_xml(prop_prefix: str, vt: str | None, pid: int, value: str) -> str:
    vt_tag = f"{vt}:lpwstr" if vt else "vt:lpwstr"
    decl = "" if vt else f' xmlns:vt="{NS_VT}"'
    return (
        f'<{prop_prefix}property fmtid="{FMTID}" pid="{pid}" name="AIGC">'
        f"<{vt_tag}{decl}>{_xml_escape(value)}</{vt_tag}></{prop_prefix}property>"
    )


def new_custom_xml(value: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\r\n'
        f'<Properties xmlns="{NS_CUSTOM}" xmlns:vt="{NS_VT}">'
        f"{_property_xml('', 'vt', 2, value)}</Properties>"
    ).encode()


def edit_custom_xml(raw: bytes, value: str, name: str = CUSTOM_PART) -> bytes:
    """``custom.xml`` with exactly one ``AIGC`` property holding ``value``; everything else
    kept as it was (textual edit, checked by re-parsing)."""
    text, codec = _xml_text(raw, name)
    root = _parse_xml(text, name)
    props = _properties(root)
    pids = {int(p) for n, p, _ in props if p.isdigit() and n.lower() != "aigc"}
    root_m = re.search(r"<(?P<p>(?:[\w.-]+:)?)Properties\b[^>]*?(?P<close>/?)>", text)
    if root_m is None:
        raise MalformedInput(f"{name} has no Properties element")
    prefix = root_m.group("p")
    vt = _prefix_for(text, NS_VT)
    vt = vt if vt else None  # a default-namespace vt binding cannot be used on our element
    matches = [
        m
        for m in _PROP_RE.finditer(text)
        if _attr(_NAME_ATTR_RE, m.group("attrs")).lower() == "aigc"
    ]
    if matches:
        old_pid = _attr(_PID_ATTR_RE, matches[0].group("attrs"))
        keep = old_pid.isdigit() and int(old_pid) >= 2 and int(old_pid) not in pids
        pid = int(old_pid) if keep else max(pids | {1}) + 1
        elem = _property_xml(matches[0].group("p"), vt, pid, value)
        out = [text[: matches[0].start()], elem]
        pos = matches[0].end()
        for m in matches[1:]:
            out.append(text[pos : m.start()])
            pos = m.end()
        out.append(text[pos:])
        new = "".join(out)
    else:
        elem = _property_xml(prefix, vt, max(pids | {1}) + 1, value)
        if root_m.group("close"):
            tag = root_m.group(0)
            opened = tag[:-2].rstrip() + ">"
            new = (
                text[: root_m.start()]
                + opened
                + elem
                + f"</{prefix}Properties>"
                + text[root_m.end() :]
            )
        else:
            close = text.rfind(f"</{prefix}Properties")
            if close < 0:
                raise MalformedInput(f"{name} has no closing Properties tag")
            new = text[:close] + elem + text[close:]
    check = _properties(_parse_xml(new, name))
    if [v for n, _, v in check if n.lower() == "aigc"] != [value]:
        raise MalformedInput(f"could not update {name} safely")
    out_bytes = new.encode(codec)
    if codec == "utf-8" and raw.startswith(b"\xef\xbb\xbf"):
        out_bytes = b"\xef\xbb\xbf" + out_bytes
    return out_bytes


def _attr(regex: re.Pattern[str], attrs: str) -> str:
    m = regex.search(attrs)
    return (m.group(1) if m.group(1) is not None else m.group(2)) if m else ""


def ensure_content_type(raw: bytes, part: str) -> bytes | None:
    """``[Content_Types].xml`` with an Override for ``/part``, or None if it has one."""
    text, codec = _xml_text(raw, CONTENT_TYPES)
    root = _parse_xml(text, CONTENT_TYPES)
    for el in root:
        tag = el.tag if isinstance(el.tag, str) else ""
        if tag.endswith("Override") and (el.get("PartName") or "").lower() == "/" + part.lower():
            return None
    m = re.search(r"</(?P<p>(?:[\w.-]+:)?)Types\s*>", text)
    if m is None:
        raise MalformedInput(f"{CONTENT_TYPES} has no closing Types tag")
    elem = f'<{m.group("p")}Override PartName="/{part}" ContentType="{CUSTOM_CT}"/>'
    new = text[: m.start()] + elem + text[m.start() :]
    _parse_xml(new, CONTENT_TYPES)
    return _bom_like(raw, codec) + new.encode(codec)


def ensure_relationship(raw: bytes, part: str) -> bytes | None:
    """``_rels/.rels`` with a custom-properties relationship, or None if it has one."""
    text, codec = _xml_text(raw, ROOT_RELS)
    root = _parse_xml(text, ROOT_RELS)
    ids = set()
    strict = False
    for rel in root:
        ids.add(rel.get("Id") or "")
        typ = rel.get("Type") or ""
        if typ in (REL_CUSTOM, REL_CUSTOM_STRICT):
            return None
        strict = strict or typ.startswith("http://purl.oclc.org/ooxml/")
    n = 1 + max((int(i[3:]) for i in ids if re.fullmatch(r"rId\d{1,9}", i)), default=0)
    m = re.search(r"</(?P<p>(?:[\w.-]+:)?)Relationships\s*>", text)
    if m is None:
        raise MalformedInput(f"{ROOT_RELS} has no closing Relationships tag")
    typ = REL_CUSTOM_STRICT if strict else REL_CUSTOM
    elem = f'<{m.group("p")}Relationship Id="rId{n}" Type="{typ}" Target="{part}"/>'
    new = text[: m.start()] + elem + text[m.start() :]
    _parse_xml(new, ROOT_RELS)
    return _bom_like(raw, codec) + new.encode(codec)


def _bom_like(raw: bytes, codec: str) -> bytes:
    return b"\xef\xbb\xbf" if codec == "utf-8" and raw.startswith(b"\xef\xbb\xbf") else b""


def _new_member(name: str, content: bytes, like: Entry | None, data: bytes) -> tuple[bytes, bytes]:
    """(local header + data, central record without the offset field filled) for a member
    we write: deflated, sizes in the local header, timestamps of the member it replaces."""
    comp = zlib.compressobj(6, zlib.DEFLATED, -15)
    packed = comp.compress(content) + comp.flush()
    crc = zlib.crc32(content)
    raw_name = name.encode("utf-8")
    flags = 0 if raw_name.isascii() else 0x800
    time, date = (like.time, like.date) if like else (0, _DOS_DATE)
    fields = struct.pack(
        "<HHHHIIIHH", flags, 8, time, date, crc, len(packed), len(content), len(raw_name), 0
    )
    local = _LOCAL + struct.pack("<H", 20) + fields + raw_name + packed
    if like is not None:
        cd = like.cd_start
        (made_by,) = struct.unpack("<H", data[cd + 4 : cd + 6])
        klen, _disk, iattr, eattr = struct.unpack("<HHHI", data[cd + 32 : cd + 42])
        comment = data[like.cd_end - klen : like.cd_end]
    else:
        made_by, iattr, eattr, comment = 20, 0, 0, b""
    central = (
        _CENTRAL
        + struct.pack("<HH", made_by, 20)
        + fields
        + struct.pack("<HHHI", len(comment), 0, iattr, eattr)
        + b"\x00\x00\x00\x00"
        + raw_name
        + comment
    )
    return local, central


class OoxmlHandler:
    id = "ooxml"
    name = "Office Open XML (docx, xlsx, pptx)"
    media_kind = MediaKind.DOCUMENT
    extensions: tuple[str, ...] = (
        "docx",
        "xlsx",
        "pptx",
        "dotx",
        "xltx",
        "potx",
        "docm",
        "xlsm",
        "pptm",
    )
    mime_types: tuple[str, ...] = (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.template",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.template",
        "application/vnd.openxmlformats-officedocument.presentationml.template",
    )
    sniff_bytes = 4096

    def sniff(self, head: bytes) -> bool:
        if not head.startswith(_LOCAL) or len(head) < 30:
            return False
        nlen = int.from_bytes(head[26:28], "little")
        first = head[30 : 30 + nlen]
        return first.startswith(_OPC_FIRST) or b"[Content_Types].xml" in head

    def read(self, data: bytes) -> ContainerMetadata:
        arc = parse_zip(data)
        meta = ContainerMetadata(format_id=self.id)
        if arc.get(CONTENT_TYPES) is None:
            raise MalformedInput("not an OOXML package: no [Content_Types].xml")
        if any(e.name.startswith("_xmlsignatures/") for e in arc.entries):
            meta.warnings.append(
                "package is digitally signed (_xmlsignatures): labelling changes signed parts"
            )
        part = _custom_part_name(data, arc)
        entry = arc.get(part)
        if entry is None:
            return meta
        text, _ = _xml_text(read_member(data, entry), part)
        for name, pid, value in _properties(_parse_xml(text, part)):
            if name.lower() != "aigc":
                continue
            if name != "AIGC":
                meta.warnings.append(f"custom property named {name!r} (expected 'AIGC')")
            if not (pid.isdigit() and int(pid) >= 2):
                meta.warnings.append(f"AIGC custom property has pid {pid!r} (must be >= 2)")
            meta.carriers.append(
                Carrier("aigc", entry.local, value.encode("utf-8"), name=f"{part} AIGC")
            )
        return meta

    def write_label(self, data: bytes, label: LabelWrite) -> bytes:
        value = json.dumps(aigc_mapping(label), ensure_ascii=True, separators=(",", ":"))
        arc = parse_zip(data)
        ct = arc.get(CONTENT_TYPES)
        if ct is None:
            raise MalformedInput("not an OOXML package: no [Content_Types].xml")
        part = _custom_part_name(data, arc)
        custom = arc.get(part)
        replace: dict[str, bytes] = {}
        if custom is not None:
            replace[custom.name] = edit_custom_xml(read_member(data, custom), value, part)
        new_ct = ensure_content_type(read_member(data, ct), part)
        if new_ct is not None:
            replace[ct.name] = new_ct
        rels = arc.get(ROOT_RELS)
        if rels is None:
            raise MalformedInput("not an OOXML package: no _rels/.rels")
        new_rels = ensure_relationship(read_member(data, rels), part)
        if new_rels is not None:
            replace[rels.name] = new_rels
        if (
            custom is not None
            and len(replace) == 1
            and read_member(data, custom) == replace[custom.name]
        ):
            return data  # already labelled with this record
        return self._rebuild(data, arc, replace, None if custom else (part, new_custom_xml(value)))

    @staticmethod
    def _rebuild(
        data: bytes, arc: Archive, replace: dict[str, bytes], add: tuple[str, bytes] | None
    ) -> bytes:
        out = bytearray()
        centrals: dict[str, bytes] = {}
        offsets: dict[str, int] = {}
        for e in sorted(arc.entries, key=lambda e: e.local):
            offsets[e.name] = len(out)
            if e.name in replace:
                local, central = _new_member(e.name, replace[e.name], e, data)
                out += local
                centrals[e.name] = central
            else:
                out += data[e.local : e.end]
                centrals[e.name] = data[e.cd_start : e.cd_end]
        order = [e.name for e in arc.entries]
        if add is not None:
            offsets[add[0]] = len(out)
            local, central = _new_member(add[0], add[1], None, data)
            out += local
            centrals[add[0]] = central
            order.append(add[0])
        cd_start = len(out)
        for name in order:
            rec = bytearray(centrals[name])
            rec[42:46] = struct.pack("<I", offsets[name])
            out += rec
        cd_size = len(out) - cd_start
        if len(order) > 0xFFFF or len(out) > 0xFFFFFFFF:
            raise LimitExceeded("the labelled package would need ZIP64")
        out += (
            _EOCD
            + struct.pack(
                "<HHHHIIH", 0, 0, len(order), len(order), cd_size, cd_start, len(arc.comment)
            )
            + arc.comment
        )
        return bytes(out)

    def content_digest(self, data: bytes) -> ContentDigest:
        """SHA-256 over every member except the custom-properties part, ``[Content_Types].xml``
        and ``_rels/.rels``, sorted by name: for each, its UTF-8 name, a NUL, its uncompressed
        size (8 bytes, big-endian) and its uncompressed bytes."""
        arc = parse_zip(data)
        skip = {CONTENT_TYPES.lower(), ROOT_RELS.lower(), CUSTOM_PART.lower()}
        if arc.get(ROOT_RELS) is not None:
            skip.add(_custom_part_name(data, arc).lower())
        h = hashlib.sha256()
        budget = MAX_TOTAL_UNCOMPRESSED
        for e in sorted(arc.entries, key=lambda e: e.name.encode("utf-8")):
            if e.name.lower() in skip:
                continue
            budget -= e.usize
            if budget < 0:
                raise LimitExceeded("package inflates past the content-digest budget")
            h.update(e.name.encode("utf-8") + b"\x00" + e.usize.to_bytes(8, "big"))
            for piece in _chunks(data, e, MAX_TOTAL_UNCOMPRESSED):
                h.update(piece)
        return ContentDigest(SELECTOR, "sha256", h.digest())


HANDLER: FormatHandler = OoxmlHandler()
