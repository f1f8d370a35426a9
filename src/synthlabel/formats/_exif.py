"""A minimal, bounded EXIF (TIFF structure) reader for the two text tags AIGC records hide in.

Only two tags matter here:

- ``0x9286`` UserComment in the Exif sub-IFD: 8-byte character-code prefix (``ASCII\\0\\0\\0``,
  ``UNICODE\\0``, ``JIS\\0\\0\\0\\0\\0`` or eight NULs) followed by the text. Real files
  (Tencent Yuanbao, Honor, ByteDance exports) put a wrapped ``{"AIGC":{...}}`` record there.
- ``0x010E`` ImageDescription in IFD0: ASCII (UTF-8 in practice); the Tencent-Cloud variant
  lives here.

The reader never raises: broken EXIF is reported as warnings, because a damaged EXIF block
must not stop us from reading the XMP record of the same file. Every offset is bounds-checked,
IFD entry counts are capped and each IFD is visited once.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from synthlabel.model.aigc import looks_like_record

EXIF_HEADER = b"Exif\x00\x00"

TAG_IMAGE_DESCRIPTION = 0x010E
TAG_EXIF_IFD = 0x8769
TAG_USER_COMMENT = 0x9286

#: IFD entries read per IFD (a real IFD0 has a few dozen).
MAX_IFD_ENTRIES = 1024

_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}

_CHARSETS: dict[bytes, str] = {
    b"ASCII\x00\x00\x00": "ASCII",
    b"UNICODE\x00": "UNICODE",
    b"JIS\x00\x00\x00\x00\x00": "JIS",
    b"\x00" * 8: "UNDEFINED",
}


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


class _Tiff:
    def __init__(self, buf: bytes) -> None:
        self.buf = buf
        if buf[:4] == b"II*\x00":
            self.e = "<"
        elif buf[:4] == b"MM\x00*":
            self.e = ">"
        else:
            raise ValueError("not a TIFF header")

    def u16(self, off: int) -> int:
        if off < 0 or off + 2 > len(self.buf):
            raise ValueError(f"offset {off} out of range")
        return int(struct.unpack_from(self.e + "H", self.buf, off)[0])

    def u32(self, off: int) -> int:
        if off < 0 or off + 4 > len(self.buf):
            raise ValueError(f"offset {off} out of range")
        return int(struct.unpack_from(self.e + "I", self.buf, off)[0])

    def entries(self, ifd: int, warnings: list[str]) -> dict[int, tuple[int, int, int]]:
        """tag -> (type, count, value offset) for one IFD (first occurrence of a tag wins)."""
        n = self.u16(ifd)
        if n > MAX_IFD_ENTRIES:
            warnings.append(f"EXIF IFD at {ifd} declares {n} entries; read {MAX_IFD_ENTRIES}")
            n = MAX_IFD_ENTRIES
        out: dict[int, tuple[int, int, int]] = {}
        for i in range(n):
            e = ifd + 2 + 12 * i
            if e + 12 > len(self.buf):
                warnings.append(f"EXIF IFD at {ifd} is truncated")
                break
            tag, typ = self.u16(e), self.u16(e + 2)
            count = self.u32(e + 4)
            size = _TYPE_SIZES.get(typ, 0) * count
            value = e + 8 if size <= 4 else self.u32(e + 8)
            if tag not in out:
                out[tag] = (typ, count, value)
        return out

    def value(self, typ: int, count: int, off: int) -> bytes | None:
        size = _TYPE_SIZES.get(typ, 0) * count
        if size == 0 or off < 0 or off + size > len(self.buf):
            return None
        return self.buf[off : off + size]


def _decode_user_comment(raw: bytes, endian: str) -> tuple[str, str]:
    code = raw[:8]
    charset = _CHARSETS.get(code, "none")
    body = raw[8:] if charset != "none" else raw
    if charset == "UNICODE":
        if body[:2] in (b"\xff\xfe", b"\xfe\xff"):
            text = body.decode("utf-16", errors="replace")
        else:
            text = body.decode("utf-16-le" if endian == "<" else "utf-16-be", errors="replace")
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


def read_text(tiff: bytes) -> ExifInfo:
    """Find UserComment and ImageDescription text in a TIFF-structured EXIF block."""
    info = ExifInfo()
    try:
        t = _Tiff(tiff)
    except ValueError:
        info.warnings.append("EXIF block has no TIFF header")
        return info
    try:
        ifd0 = t.u32(4)
        entries = t.entries(ifd0, info.warnings)
        if TAG_IMAGE_DESCRIPTION in entries:
            typ, count, off = entries[TAG_IMAGE_DESCRIPTION]
            raw = t.value(typ, count, off)
            if raw is None:
                info.warnings.append("EXIF ImageDescription points outside the EXIF block")
            else:
                text = _decode_ascii(raw)
                if _is_text(text):
                    info.image_description = ExifText(TAG_IMAGE_DESCRIPTION, text, off, len(raw))
        if TAG_EXIF_IFD in entries:
            typ, count, off = entries[TAG_EXIF_IFD]
            raw = t.value(typ, 1, off) if typ in (4, 13) and count >= 1 else None
            if raw is None:
                info.warnings.append("EXIF sub-IFD pointer is invalid")
            else:
                sub = t.u32(off)
                if sub == ifd0:
                    info.warnings.append("EXIF sub-IFD pointer loops back to IFD0")
                else:
                    sub_entries = t.entries(sub, info.warnings)
                    if TAG_USER_COMMENT in sub_entries:
                        typ, count, off = sub_entries[TAG_USER_COMMENT]
                        raw = t.value(typ, count, off)
                        if raw is None:
                            info.warnings.append("EXIF UserComment points outside the block")
                        else:
                            text, charset = _decode_user_comment(raw, t.e)
                            if _is_text(text):
                                info.user_comment = ExifText(
                                    TAG_USER_COMMENT, text, off, len(raw), charset
                                )
    except ValueError as exc:
        info.warnings.append(f"EXIF block is damaged: {exc}")
    return info


def blank_user_comment_record(tiff: bytes) -> bytes | None:
    """If UserComment holds an AIGC record, return ``tiff`` with that value zeroed in place.

    Zeroing keeps every offset and length (eight NULs are the "undefined" character code, so
    readers see an empty comment). Returns None when there is nothing to blank.
    """
    info = read_text(tiff)
    uc = info.user_comment
    if uc is None or not looks_like_record(uc.text):
        return None
    buf = bytearray(tiff)
    buf[uc.value_offset : uc.value_offset + uc.value_length] = bytes(uc.value_length)
    return bytes(buf)
