"""TIFF structure (IFDs) and the two EXIF text tags AIGC records hide in.

One reader serves the TIFF handler (classic TIFF and BigTIFF, both byte orders) and the EXIF
blocks of JPEG (APP1), PNG (``eXIf``), WebP (``EXIF``) and HEIF (``Exif`` item).

:func:`read_ifd` is strict by default: every entry's value must lie inside the data, as the
TIFF writer needs. Given a ``warnings`` list it is lenient instead, as the text reader needs:
a long IFD is read in part, a truncated one up to where it stops, and values pointing outside
the block are left for the caller to check.

Only two text tags matter:

- ``0x9286`` UserComment in the Exif sub-IFD: 8-byte character-code prefix (``ASCII\\0\\0\\0``,
  ``UNICODE\\0``, ``JIS\\0\\0\\0\\0\\0`` or eight NULs) followed by the text. Real files
  (Tencent Yuanbao, Honor, ByteDance exports) put a wrapped ``{"AIGC":{...}}`` record there.
- ``0x010E`` ImageDescription in IFD0: ASCII (UTF-8 in practice); the Tencent-Cloud variant
  lives here.

They are reported only when they hold printable text (binary maker data is not text).
:func:`read_text` never raises: broken EXIF is reported as warnings, because a damaged EXIF
block must not stop us from reading the XMP record of the same file. Every offset is
bounds-checked, IFD entry counts are capped and each IFD is visited once.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from synthlabel.errors import LimitExceeded, MalformedInput
from synthlabel.formats.base import Carrier
from synthlabel.model.aigc import looks_like_record

EXIF_HEADER = b"Exif\x00\x00"

TAG_IMAGE_DESCRIPTION = 0x010E
TAG_EXIF_IFD = 0x8769
TAG_USER_COMMENT = 0x9286

#: Most entries in one IFD read strictly (classic TIFF allows 65535; BigTIFF counts are 64-bit).
MAX_ENTRIES = 65_535
#: Entries read per IFD when looking for text (a real IFD0 has a few dozen).
MAX_TEXT_ENTRIES = 1024

#: Bytes per value of each field type: BYTE .. DOUBLE (1-12), IFD (13), then BigTIFF's LONG8,
#: SLONG8 and IFD8 (16-18).
TYPE_SIZES: dict[int, int] = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8}
TYPE_SIZES |= {11: 4, 12: 8, 13: 4, 16: 8, 17: 8, 18: 8}
_INT_CODES = {1: "B", 3: "H", 4: "I", 13: "I", 16: "Q", 18: "Q"}

_CHARSETS: tuple[tuple[bytes, str], ...] = (
    (b"ASCII", "ASCII"),
    (b"UNICODE", "UNICODE"),
    (b"JIS", "JIS"),
    (b"\x00" * 8, "UNDEFINED"),
)


# --- IFD structure ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Layout:
    little: bool
    big: bool  # BigTIFF
    first_ifd: int

    @property
    def bo(self) -> str:
        return "<" if self.little else ">"

    @property
    def entry_size(self) -> int:
        return 20 if self.big else 12

    @property
    def count_size(self) -> int:
        return 8 if self.big else 2

    @property
    def ptr_size(self) -> int:
        return 8 if self.big else 4

    @property
    def header_ptr_pos(self) -> int:
        return 8 if self.big else 4


@dataclass(frozen=True, slots=True)
class Entry:
    tag: int
    type: int
    count: int
    pos: int  # offset of the entry itself
    raw: bytes  # the entry bytes, verbatim
    value_pos: int  # where the value lives (inside the entry when it fits)
    value_len: int  # count * type size (-1 for an unknown type)

    @property
    def inline(self) -> bool:
        return self.value_pos > self.pos and self.value_pos < self.pos + len(self.raw)


@dataclass(frozen=True, slots=True)
class Ifd:
    offset: int
    entries: tuple[Entry, ...]
    next_offset: int
    next_ptr_pos: int

    def get(self, tag: int) -> Entry | None:
        """The first entry with ``tag``."""
        for e in self.entries:
            if e.tag == tag:
                return e
        return None


def parse_header(data: bytes) -> Layout:
    if len(data) < 8:
        raise MalformedInput("truncated TIFF header", offset=0)
    order = data[:2]
    if order == b"II":
        little = True
    elif order == b"MM":
        little = False
    else:
        raise MalformedInput("not a TIFF byte-order mark", offset=0)
    bo = "<" if little else ">"
    magic = struct.unpack_from(bo + "H", data, 2)[0]
    if magic == 42:
        return Layout(little, False, struct.unpack_from(bo + "I", data, 4)[0])
    if magic == 43:
        if len(data) < 16:
            raise MalformedInput("truncated BigTIFF header", offset=0)
        bytesize, zero = struct.unpack_from(bo + "HH", data, 4)
        if bytesize != 8 or zero != 0:
            raise MalformedInput("unsupported BigTIFF offset size", offset=4)
        return Layout(little, True, struct.unpack_from(bo + "Q", data, 8)[0])
    raise MalformedInput(f"bad TIFF magic number {magic}", offset=2)


def read_ifd(data: bytes, lay: Layout, offset: int, *, warnings: list[str] | None = None) -> Ifd:
    """Parse the IFD at ``offset``.

    Strict (``warnings`` is None): every entry's value must lie inside ``data``. Lenient: at
    most :data:`MAX_TEXT_ENTRIES` entries, a truncated IFD is read up to where it stops (its
    next-IFD pointer reads as 0), values are not checked; each shortcut adds a warning.
    """
    bo = lay.bo
    ptr = "Q" if lay.big else "I"
    if offset < 8 or offset + lay.count_size > len(data):
        raise MalformedInput(f"IFD offset {offset} outside the data", offset=offset)
    n = struct.unpack_from(bo + ("Q" if lay.big else "H"), data, offset)[0]
    first = offset + lay.count_size
    next_pos = first + n * lay.entry_size
    if warnings is None:
        if n > MAX_ENTRIES:
            raise LimitExceeded(f"IFD with {n} entries", offset=offset)
        if next_pos + lay.ptr_size > len(data):
            raise MalformedInput("IFD runs past the end of the data", offset=offset)
    else:
        if n > MAX_TEXT_ENTRIES:
            warnings.append(f"IFD at {offset} declares {n} entries; read {MAX_TEXT_ENTRIES}")
            n = MAX_TEXT_ENTRIES
        fit = (len(data) - first) // lay.entry_size
        if n > fit:
            warnings.append(f"IFD at {offset} is truncated")
            n = fit
    entries = []
    inline_room = 8 if lay.big else 4
    for i in range(n):
        p = first + i * lay.entry_size
        if lay.big:
            tag, typ, count = struct.unpack_from(bo + "HHQ", data, p)
            slot = p + 12
        else:
            tag, typ, count = struct.unpack_from(bo + "HHI", data, p)
            slot = p + 8
        raw = bytes(data[p : p + lay.entry_size])
        size = TYPE_SIZES.get(typ)
        if size is None:
            entries.append(Entry(tag, typ, count, p, raw, slot, -1))
            continue
        length = size * count
        if length <= inline_room:
            vpos = slot
        else:
            vpos = struct.unpack_from(bo + ptr, data, slot)[0]
            if warnings is None and vpos + length > len(data):
                raise MalformedInput(
                    f"tag {tag} value ({length} bytes at {vpos}) outside the data", offset=p
                )
        entries.append(Entry(tag, typ, count, p, raw, vpos, length))
    nxt = 0
    if next_pos + lay.ptr_size <= len(data):
        nxt = struct.unpack_from(bo + ptr, data, next_pos)[0]
    return Ifd(offset, tuple(entries), nxt, next_pos)


def value(data: bytes, e: Entry) -> bytes:
    """An entry's value bytes (which must lie inside ``data``)."""
    if e.value_len < 0:
        raise MalformedInput(f"tag {e.tag} has unknown field type {e.type}", offset=e.pos)
    if e.value_pos + e.value_len > len(data):
        raise MalformedInput(f"tag {e.tag} value lies outside the data", offset=e.pos)
    return data[e.value_pos : e.value_pos + e.value_len]


def ints(data: bytes, lay: Layout, e: Entry) -> list[int]:
    """Integer values of a BYTE/SHORT/LONG/LONG8/IFD/IFD8 entry."""
    code = _INT_CODES.get(e.type)
    if code is None:
        raise MalformedInput(f"tag {e.tag} has non-integer type {e.type}", offset=e.pos)
    value(data, e)  # bounds check
    return list(struct.unpack_from(lay.bo + code * e.count, data, e.value_pos))


# --- EXIF text ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExifText:
    """One decoded text tag."""

    tag: int
    text: str
    #: Where the tag's value bytes start in the TIFF buffer, and how many there are.
    value_offset: int
    value_length: int
    #: UserComment character code ("ASCII", "UNICODE", "JIS", "UNDEFINED", "none"); "" else.
    charset: str = ""

    @property
    def data(self) -> bytes:
        return self.text.encode("utf-8")


@dataclass(slots=True)
class ExifInfo:
    user_comment: ExifText | None = None
    image_description: ExifText | None = None
    warnings: list[str] = field(default_factory=list)


def strip_header(data: bytes) -> tuple[bytes, int]:
    """The TIFF structure inside an EXIF payload, and how many prefix bytes were skipped."""
    if data.startswith(EXIF_HEADER):
        return data[len(EXIF_HEADER) :], len(EXIF_HEADER)
    return data, 0


def _decode_user_comment(raw: bytes, little: bool) -> tuple[str, str]:
    code = raw[:8]
    charset = next((name for prefix, name in _CHARSETS if code.startswith(prefix)), "none")
    body = raw[8:] if charset != "none" else raw
    if charset == "UNICODE":
        if body[:2] in (b"\xff\xfe", b"\xfe\xff"):
            text = body.decode("utf-16", errors="replace")
        else:
            text = body.decode("utf-16-le" if little else "utf-16-be", errors="replace")
    elif charset == "JIS":
        text = body.decode("cp932", errors="replace")
    else:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            text = body.decode("latin-1")
    return text.strip("\x00 \t\r\n"), charset


def _is_text(text: str) -> bool:
    """Mostly printable (binary maker data in UserComment is not reported as text)."""
    bad = sum(1 for c in text if (ord(c) < 32 and c not in "\t\r\n") or c == "\ufffd")
    return bool(text) and bad * 10 <= len(text)


def _decode_ascii(raw: bytes) -> str:
    raw = raw.split(b"\x00", 1)[0]  # ASCII values are NUL-terminated
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    return text.strip("\x00 \t\r\n")


def _text_value(tiff: bytes, e: Entry | None, name: str, warnings: list[str]) -> bytes | None:
    """The value bytes of a text tag, None when absent or (with a warning) out of range."""
    if e is None:
        return None
    if e.value_len < 0 or e.value_pos + e.value_len > len(tiff):
        warnings.append(f"EXIF {name} points outside the EXIF block")
        return None
    return tiff[e.value_pos : e.value_pos + e.value_len]


def _pointer(tiff: bytes, lay: Layout, e: Entry) -> int | None:
    """The first value of an IFD-pointer entry; None when it is not an integer in range."""
    code = _INT_CODES.get(e.type)
    if code is None or e.count < 1 or e.value_pos + TYPE_SIZES[e.type] > len(tiff):
        return None
    return int(struct.unpack_from(lay.bo + code, tiff, e.value_pos)[0])


def read_text(tiff: bytes) -> ExifInfo:
    """Find UserComment and ImageDescription text in a TIFF-structured EXIF block."""
    info = ExifInfo()
    warn = info.warnings
    try:
        lay = parse_header(tiff)
    except MalformedInput as exc:
        warn.append(f"EXIF block has no TIFF header ({exc.message})")
        return info
    try:
        ifd0 = read_ifd(tiff, lay, lay.first_ifd, warnings=warn)
        d = ifd0.get(TAG_IMAGE_DESCRIPTION)
        raw = _text_value(tiff, d, "ImageDescription", warn)
        if d is not None and raw is not None:
            text = _decode_ascii(raw)
            if _is_text(text):
                info.image_description = ExifText(d.tag, text, d.value_pos, len(raw))
        ex = ifd0.get(TAG_EXIF_IFD)
        sub = None if ex is None else _pointer(tiff, lay, ex)
        if ex is not None and sub is None:
            warn.append("EXIF sub-IFD pointer is invalid")
        elif sub == ifd0.offset:
            warn.append("EXIF sub-IFD pointer loops back to IFD0")
        elif sub is not None:
            uc = read_ifd(tiff, lay, sub, warnings=warn).get(TAG_USER_COMMENT)
            raw = _text_value(tiff, uc, "UserComment", warn)
            if uc is not None and raw is not None:
                text, charset = _decode_user_comment(raw, lay.little)
                if _is_text(text):
                    info.user_comment = ExifText(uc.tag, text, uc.value_pos, len(raw), charset)
    except (MalformedInput, LimitExceeded) as exc:
        warn.append(f"EXIF block is damaged: {exc.message}")
    return info


def carriers(tiff: bytes, base: int, where: str) -> tuple[list[Carrier], list[str]]:
    """ImageDescription and UserComment text of an EXIF block as carriers, and warnings.

    ``base`` is the block's offset in the file (carrier offsets are absolute); ``where``
    names the block in carrier descriptions and warnings.
    """
    info = read_text(tiff)
    out = [
        Carrier(kind, base + t.value_offset, t.data, f"{where} {name}")
        for t, kind, name in (
            (info.image_description, "exif-imagedescription", "ImageDescription"),
            (info.user_comment, "exif-usercomment", "UserComment"),
        )
        if t is not None
    ]
    return out, [f"{where}: {w}" for w in info.warnings]


def blank_user_comment_record(tiff: bytes) -> bytes | None:
    """If UserComment holds an AIGC record, return ``tiff`` with that value zeroed in place.

    Zeroing keeps every offset and length (eight NULs are the "undefined" character code, so
    readers see an empty comment). Returns None when there is nothing to blank.
    """
    uc = read_text(tiff).user_comment
    if uc is None or not looks_like_record(uc.text):
        return None
    buf = bytearray(tiff)
    buf[uc.value_offset : uc.value_offset + uc.value_length] = bytes(uc.value_length)
    return bytes(buf)
