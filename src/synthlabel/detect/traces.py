"""Generator traces: metadata and pixel patterns that AI generators leave, as data-driven rules.

The rules live in ``detect/rules/traces.toml`` (format and every rule: ``docs/traces.md``).
Each rule names a *selector* (where to look: a PNG text keyword, an EXIF tag, an XMP property,
an ID3 frame, a Vorbis comment, an MP4 tag, a Matroska/WebM Info element or SimpleTag, a RIFF
INFO chunk (WAV, AVI), a PDF Info key, an OOXML document property, the file name, or a pixel
check) and a *matcher* (exact values, a regular expression, the keys of a JSON
object, or presence), plus the finding's code, strength, confidence and the rule's source.

The detector first collects the file's text fields once (:func:`fields_of`, bounded: at most
:data:`MAX_FIELDS` fields, :data:`MAX_VALUE_CHARS` characters each, compressed text inflated
to :data:`MAX_INFLATE` bytes), then runs every rule over them. Pixel checks (stealth LSB info,
the Stable Diffusion dwtDct watermark) decode the image and run only when the caller allows
``medium`` cost. Nothing here raises on malformed input: unreadable structures yield no fields.
"""

from __future__ import annotations

import fnmatch
import functools
import json
import re
import struct
import tomllib
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any

from synthlabel.detect.base import COST_RANK, Asset, DetectOptions
from synthlabel.errors import SynthlabelError
from synthlabel.model.findings import Finding, Strength

RULES_PATH = Path(__file__).with_name("rules") / "traces.toml"

#: Most text fields collected from one file.
MAX_FIELDS = 2_000
#: Longest value kept per field (a ComfyUI workflow is typically 10-200 KB).
MAX_VALUE_CHARS = 4_000_000
#: Largest inflated size of one compressed text field, and of all of them together.
MAX_INFLATE = 4 << 20
MAX_INFLATE_TOTAL = 16 << 20
#: JSON accepted by the json matcher: size and nesting depth.
MAX_JSON_CHARS = 4_000_000
MAX_JSON_DEPTH = 64
#: Largest image decoded for pixel checks.
MAX_PIXELS = 40_000_000
#: Largest XMP packet parsed.
MAX_XMP = 4 << 20
#: Matroska/WebM: most EBML elements walked (top level, Info and Tags together), most bytes
#: of Info and Tags elements read, deepest SimpleTag nesting followed.
MAX_MKV_ELEMENTS = 200_000
MAX_MKV_BYTES = 16 << 20
MAX_MKV_DEPTH = 8
#: OOXML: largest inflated docProps part parsed (app.xml, core.xml, custom.xml).
MAX_OOXML_PART = 4 << 20

KINDS = frozenset(
    {
        "png-text",
        "exif",
        "xmp",
        "id3",
        "vorbis",
        "mp4",
        "mkv",
        "riff-info",
        "pdf-info",
        "ooxml",
        "filename",
        "pixel",
    }
)
MATCHERS = frozenset({"present", "exact", "regex", "json"})
BASES = frozenset({"docs", "source", "samples", "inferred"})
PIXEL_CHECKS = frozenset({"stealth", "sd-watermark"})


# ---------------------------------------------------------------------------------------------
# Rules


class RuleError(SynthlabelError):
    """The rule file is invalid."""


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    code: str
    family: str
    summary: str
    strength: Strength
    confidence: float
    basis: str  # docs | source | samples | inferred
    source: str
    kinds: tuple[str, ...]
    keys: tuple[str, ...]  # fnmatch patterns; ("*",) for every key
    keys_ignore_case: bool
    matcher: str
    values: tuple[str, ...] = ()
    pattern: re.Pattern[str] | None = None
    prefix: str = ""
    all_keys: tuple[str, ...] = ()
    any_keys: tuple[str, ...] = ()
    min_any: int = 1
    node_key: str = ""  # json: some top-level value is an object holding this key
    check: str = ""  # pixel: stealth | sd-watermark
    variants: tuple[str, ...] = ()  # pixel: stealth signatures / watermark messages
    payload: re.Pattern[str] | None = None  # pixel stealth: regex on the decoded payload
    exclude: re.Pattern[str] | None = None  # a value matching this is not a hit

    @property
    def cost(self) -> str:
        return "medium" if "pixel" in self.kinds else "cheap"


def _strs(v: Any, what: str) -> tuple[str, ...]:
    if v is None:
        return ()
    if isinstance(v, str):
        return (v,)
    if isinstance(v, list) and all(isinstance(x, str) for x in v):
        return tuple(v)
    raise RuleError(f"{what} must be a string or a list of strings")


def _rx(v: Any, what: str, ignore_case: bool) -> re.Pattern[str] | None:
    if v is None:
        return None
    if not isinstance(v, str):
        raise RuleError(f"{what} must be a string")
    try:
        return re.compile(v, re.IGNORECASE if ignore_case else 0)
    except re.error as exc:
        raise RuleError(f"{what}: bad regular expression ({exc})") from None


def parse_rule(raw: dict[str, Any]) -> Rule:
    rid = raw.get("id")
    if not isinstance(rid, str) or not rid:
        raise RuleError("rule without an id")
    try:
        sel = raw["select"]
        mat = raw["match"]
        strength = Strength(raw["strength"])
        code = raw["code"]
        confidence = float(raw["confidence"])
        basis = raw["basis"]
        source = raw["source"]
    except (KeyError, ValueError, TypeError) as exc:
        raise RuleError(f"rule {rid}: missing or invalid field {exc}") from None
    if not isinstance(code, str) or not re.fullmatch(r"trace\.[a-z0-9_]+\.[a-z0-9_.]+", code):
        raise RuleError(f"rule {rid}: code must look like trace.<family>.<what>")
    if basis not in BASES:
        raise RuleError(f"rule {rid}: basis must be one of {sorted(BASES)}")
    if not 0.0 <= confidence <= 1.0:
        raise RuleError(f"rule {rid}: confidence must lie in [0, 1]")
    if not isinstance(source, str) or not source:
        raise RuleError(f"rule {rid}: source is required")
    if strength is Strength.CONCLUSIVE:
        raise RuleError(f"rule {rid}: a trace is never conclusive")
    kinds = _strs(sel.get("kind"), f"rule {rid}: select.kind")
    if not kinds or any(k not in KINDS for k in kinds):
        raise RuleError(f"rule {rid}: select.kind must be among {sorted(KINDS)}")
    if "pixel" in kinds and len(kinds) > 1:
        raise RuleError(f"rule {rid}: a pixel rule selects nothing else")
    matcher = mat.get("type", "pixel" if "pixel" in kinds else None)
    ignore_case = bool(mat.get("ignore_case", False))
    common: dict[str, Any] = {
        "id": rid,
        "code": code,
        "family": code.split(".")[1],
        "summary": str(raw.get("summary", code)),
        "strength": strength,
        "confidence": confidence,
        "basis": basis,
        "source": source,
        "kinds": kinds,
        "keys": _strs(sel.get("keys", "*"), f"rule {rid}: select.keys"),
        "keys_ignore_case": bool(sel.get("keys_ignore_case", False)),
        "matcher": matcher,
        "exclude": _rx(mat.get("exclude"), f"rule {rid}: match.exclude", True),
    }
    if "pixel" in kinds:
        check = sel.get("check")
        if check not in PIXEL_CHECKS:
            raise RuleError(f"rule {rid}: select.check must be among {sorted(PIXEL_CHECKS)}")
        return Rule(
            **common,
            check=check,
            variants=_strs(sel.get("variants"), f"rule {rid}: select.variants"),
            payload=_rx(mat.get("payload"), f"rule {rid}: match.payload", ignore_case),
        )
    if matcher not in MATCHERS:
        raise RuleError(f"rule {rid}: match.type must be among {sorted(MATCHERS)}")
    rule = Rule(
        **common,
        values=_strs(mat.get("values"), f"rule {rid}: match.values"),
        pattern=_rx(mat.get("pattern"), f"rule {rid}: match.pattern", ignore_case),
        prefix=str(mat.get("prefix", "")),
        all_keys=_strs(mat.get("all_keys"), f"rule {rid}: match.all_keys"),
        any_keys=_strs(mat.get("any_keys"), f"rule {rid}: match.any_keys"),
        min_any=int(mat.get("min_any", 1)),
        node_key=str(mat.get("node_key", "")),
    )
    if matcher == "exact" and not rule.values:
        raise RuleError(f"rule {rid}: exact matcher without values")
    if matcher == "regex" and rule.pattern is None:
        raise RuleError(f"rule {rid}: regex matcher without pattern")
    if matcher == "json" and not (rule.all_keys or rule.any_keys or rule.node_key):
        raise RuleError(f"rule {rid}: json matcher needs all_keys, any_keys or node_key")
    return rule


def load_rules(path: Path | None = None) -> list[Rule]:
    """Parse and validate a rule file (the built-in one by default)."""
    p = path or RULES_PATH
    try:
        doc = tomllib.loads(p.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise RuleError(f"cannot read trace rules {p}: {exc}") from None
    if doc.get("format") != 1:
        raise RuleError(f"{p}: unknown rule file format {doc.get('format')!r} (expected 1)")
    rules = [parse_rule(r) for r in doc.get("rule", [])]
    ids = [r.id for r in rules]
    dup = {i for i in ids if ids.count(i) > 1}
    if dup:
        raise RuleError(f"{p}: duplicate rule ids {sorted(dup)}")
    return rules


# ---------------------------------------------------------------------------------------------
# Fields


@dataclass(frozen=True, slots=True)
class TextField:
    kind: str
    key: str
    value: str
    where: str


@dataclass
class _Collector:
    out: list[TextField] = field(default_factory=list)
    inflated: int = 0

    @property
    def full(self) -> bool:
        return len(self.out) >= MAX_FIELDS

    def add(self, kind: str, key: str, value: str, where: str) -> None:
        if len(self.out) >= MAX_FIELDS or not value:
            return
        self.out.append(TextField(kind, key, value[:MAX_VALUE_CHARS], where))

    def inflate(self, raw: bytes) -> bytes | None:
        budget = min(MAX_INFLATE, MAX_INFLATE_TOTAL - self.inflated)
        if budget <= 0:
            return None
        d = zlib.decompressobj()
        try:
            out = d.decompress(raw, budget + 1)
        except zlib.error:
            return None
        self.inflated += len(out)
        if len(out) > budget or d.unconsumed_tail:
            return None
        return out


def _latin1(b: bytes) -> str:
    return b.decode("latin-1")


def _utf8(b: bytes) -> str:
    return b.decode("utf-8", errors="replace")


# --- PNG ---


_MAX_TEXT_CHUNK = max(MAX_VALUE_CHARS, MAX_INFLATE) + 4096


def _png_fields(data: bytes, col: _Collector) -> None:
    pos, n = 8, len(data)
    for _ in range(100_000):
        if pos + 8 > n:
            return
        length, ctype = struct.unpack_from(">I4s", data, pos)
        if ctype == b"IEND":
            return
        if ctype in (b"tEXt", b"zTXt", b"iTXt"):
            # Only text chunks are copied, and at most _MAX_TEXT_CHUNK bytes of one: longer
            # values are cut to MAX_VALUE_CHARS anyway, and compressed text that long
            # inflates past MAX_INFLATE (refused either way). A 40 MB iTXt cost ~200 MB.
            body = data[pos + 8 : min(n, pos + 8 + min(length, _MAX_TEXT_CHUNK))]
            _png_text(ctype, body, col)
        pos += 12 + length


def _png_text(ctype: bytes, body: bytes, col: _Collector) -> None:
    nul = body.find(b"\x00", 0, 80)
    if nul < 1:
        return
    key = _latin1(body[:nul])
    rest = body[nul + 1 :]
    name = ctype.decode()
    if ctype == b"tEXt":
        col.add("png-text", key, _latin1(rest), f"PNG tEXt {key}")
    elif ctype == b"zTXt":
        text = col.inflate(rest[1:]) if rest[:1] == b"\x00" else None
        if text is not None:
            col.add("png-text", key, _latin1(text), f"PNG zTXt {key}")
    else:
        if len(rest) < 2:
            return
        flag, method = rest[0], rest[1]
        lang_end = rest.find(b"\x00", 2)
        tk_end = rest.find(b"\x00", lang_end + 1) if lang_end >= 0 else -1
        if tk_end < 0:
            return
        raw: bytes | None = rest[tk_end + 1 :]
        if flag == 1:
            raw = col.inflate(raw) if method == 0 and raw is not None else None
        if raw is not None:
            col.add("png-text", key, _utf8(raw), f"PNG {name} {key}")


# --- EXIF ---

EXIF_TAGS: dict[int, str] = {
    0x010E: "ImageDescription",
    0x010F: "Make",
    0x0110: "Model",
    0x0131: "Software",
    0x013B: "Artist",
    0x8298: "Copyright",
    0x9C9B: "XPTitle",
    0x9C9C: "XPComment",
    0x9C9D: "XPAuthor",
    0x9C9F: "XPSubject",
}
EXIF_SUB_TAGS: dict[int, str] = {0x9286: "UserComment", 0x927C: "MakerNote"}


def _exif_fields(tiff: bytes, col: _Collector) -> None:
    from synthlabel.formats import _exif

    warn: list[str] = []
    try:
        lay = _exif.parse_header(tiff)
        ifd0 = _exif.read_ifd(tiff, lay, lay.first_ifd, warnings=warn)
    except SynthlabelError:
        return
    sub = None
    for e in ifd0.entries:
        if e.tag == _exif.TAG_EXIF_IFD:
            try:
                sub = _exif.ints(tiff, lay, e)[0]
            except (SynthlabelError, IndexError, struct.error):
                sub = None
        name = EXIF_TAGS.get(e.tag)
        raw = _value(tiff, e)
        if name is None or raw is None:
            continue
        if name.startswith("XP"):
            text = raw.decode("utf-16-le", errors="replace").split("\x00", 1)[0]
        else:
            text = _ascii(raw)
        col.add("exif", name, text.strip(), f"EXIF {name}")
    if sub is None or sub == ifd0.offset:
        return
    try:
        ifd = _exif.read_ifd(tiff, lay, sub, warnings=warn)
    except SynthlabelError:
        return
    for e in ifd.entries:
        name = EXIF_SUB_TAGS.get(e.tag)
        raw = _value(tiff, e)
        if name is None or raw is None:
            continue
        text = _user_comment(raw, lay.little)
        if _printable(text):
            col.add("exif", name, text, f"EXIF {name}")


def _value(tiff: bytes, e: Any) -> bytes | None:
    if e.value_len < 0 or e.value_pos + e.value_len > len(tiff):
        return None
    return tiff[e.value_pos : e.value_pos + min(e.value_len, MAX_VALUE_CHARS)]


def _ascii(raw: bytes) -> str:
    raw = raw.split(b"\x00", 1)[0]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _user_comment(raw: bytes, little: bool) -> str:
    code = raw[:8]
    if code.startswith(b"UNICODE"):
        body = raw[8:]
        if body[:2] in (b"\xff\xfe", b"\xfe\xff"):
            return body.decode("utf-16", errors="replace").strip("\x00 ")
        # Writers disagree on the byte order (piexif: big-endian whatever the TIFF order):
        # take the order that yields fewer NUL/odd characters.
        cands = [body.decode(enc, errors="replace") for enc in ("utf-16-be", "utf-16-le")]
        if little:
            cands.reverse()
        return min(cands, key=_oddness).strip("\x00 ")
    if code.startswith(b"ASCII") or code == b"\x00" * 8 or code.startswith(b"JIS"):
        raw = raw[8:]
    try:
        return raw.decode("utf-8").strip("\x00 ")
    except UnicodeDecodeError:
        return raw.decode("latin-1").strip("\x00 ")


def _oddness(s: str) -> int:
    return sum(1 for c in s[:2000] if ord(c) < 9 or 0x3400 <= ord(c) < 0xA000 or c == "\ufffd")


def _printable(text: str) -> bool:
    sample = text[:4000]
    bad = sum(1 for c in sample if (ord(c) < 32 and c not in "\t\r\n") or c == "\ufffd")
    return bool(sample) and bad * 10 <= len(sample)


# --- XMP ---

XMP_PREFIXES: dict[str, str] = {
    "http://ns.adobe.com/xap/1.0/": "xmp",
    "http://purl.org/dc/elements/1.1/": "dc",
    "http://ns.adobe.com/photoshop/1.0/": "photoshop",
    "http://iptc.org/std/Iptc4xmpExt/2008-02-29/": "Iptc4xmpExt",
    "http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/": "Iptc4xmpCore",
    "http://ns.adobe.com/exif/1.0/": "exif",
    "http://cipa.jp/exif/1.0/": "exifEX",
    "http://ns.adobe.com/tiff/1.0/": "tiff",
    "http://ns.adobe.com/xap/1.0/mm/": "xmpMM",
    "http://ns.adobe.com/pdf/1.3/": "pdf",
    "http://ns.useplus.org/ldf/xmp/1.0/": "plus",
    "http://ns.adobe.com/xap/1.0/rights/": "xmpRights",
}
_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"


def _qname(tag: str) -> str:
    if not tag.startswith("{"):
        return tag
    ns, _, local = tag[1:].partition("}")
    return f"{XMP_PREFIXES.get(ns, '{' + ns + '}')}:{local}"


def _xmp_fields(packet: bytes, col: _Collector) -> None:
    if len(packet) > MAX_XMP:
        return
    from defusedxml import ElementTree as SafeET

    text = packet.decode("utf-8", errors="replace")
    body = re.sub(r"<\?xpacket[^>]*\?>", "", text).strip().lstrip("\ufeff")
    try:
        root = SafeET.fromstring(
            body.encode("utf-8"), forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
    except Exception:  # defusedxml raises several types; a broken packet has no fields
        return
    for desc in root.iter(f"{{{_RDF}}}Description"):
        for k, v in desc.attrib.items():
            if not k.startswith(f"{{{_RDF}}}"):
                col.add("xmp", _qname(k), v.strip(), f"XMP {_qname(k)}")
        for prop in desc:
            if not isinstance(prop.tag, str):
                continue
            parts = [t.strip() for t in prop.itertext() if t and t.strip()]
            res = prop.attrib.get(f"{{{_RDF}}}resource", "")
            value = "\n".join(parts) or res
            col.add("xmp", _qname(prop.tag), value, f"XMP {_qname(prop.tag)}")


# --- ID3 ---


def _id3_fields(data: bytes, pos: int, col: _Collector, where: str = "ID3") -> None:
    from synthlabel.formats import mp3

    try:
        tag = mp3.parse_tag(data, pos, [])
    except SynthlabelError:
        return
    warn: list[str] = []
    for fr in tag.frames[:MAX_FIELDS]:
        fid = fr.fid.decode("latin-1")
        if not (fid.startswith(("T", "W")) or fid in ("COMM", "COM", "USLT", "ULT")):
            continue
        try:
            p = mp3._frame_payload(tag, fr, warn)
        except SynthlabelError:
            continue
        if not p:
            continue
        if fid.startswith("W") and fid not in ("WXXX", "WXX"):
            col.add("id3", fid, _latin1(p).strip("\x00 "), f"{where} {fid}")
            continue
        enc = p[0]
        if enc > 3:
            continue
        body = p[1:]
        if fid in ("COMM", "COM", "USLT", "ULT"):
            body = body[3:]  # language
        if fid in ("TXXX", "TXX", "WXXX", "WXX", "COMM", "COM", "USLT", "ULT"):
            parts = mp3._split_text(enc, body)
            if parts is None:
                continue
            desc = mp3._decode_text(enc, parts[0]).strip("\x00")
            if fid.startswith("W"):
                value = _latin1(parts[1]).strip("\x00 ")
            else:
                value = mp3._decode_text(enc, parts[1]).strip("\x00 ")
            key = f"{fid}:{desc}" if desc else fid
            col.add("id3", key, value, f"{where} {key}")
            if desc and fid.startswith(("COM", "ULT", "USLT")):
                col.add("id3", fid, value, f"{where} {fid}")
        else:
            value = mp3._decode_text(enc, body).replace("\x00", "\n").strip()
            col.add("id3", fid, value, f"{where} {fid}")


# --- Vorbis comments ---


def _vorbis_list(buf: bytes, start: int, col: _Collector, where: str) -> None:
    from synthlabel.formats import flac

    try:
        c = flac.parse_comments(buf, start)
    except SynthlabelError:
        return
    col.add("vorbis", "VENDOR", _utf8(c.vendor), f"{where} vendor")
    for _, entry in c.entries[:MAX_FIELDS]:
        name, eq, value = entry.partition(b"=")
        if eq:
            key = name.decode("ascii", errors="replace").upper()
            col.add("vorbis", key, _utf8(value), f"{where} {key}")


def _flac_fields(data: bytes, col: _Collector) -> None:
    from synthlabel.formats import flac

    try:
        f = flac.parse(data)
    except SynthlabelError:
        return
    for b in f.blocks:
        if b.type == 4:
            _vorbis_list(data[b.data_start : b.end], 0, col, "FLAC Vorbis comment")


def _ogg_fields(data: bytes, col: _Collector) -> None:
    # The comment header is the second packet of the first stream: gather the first pages'
    # bodies (bounded) and look for the Vorbis/Opus comment header magic.
    from synthlabel.formats import ogg

    bodies: list[bytes] = []
    size = 0
    try:
        for i, p in enumerate(ogg.iter_pages(data)):
            bodies.append(data[p.body_start : p.end])
            size += p.end - p.body_start
            if i >= 64 or size > 8 << 20:
                break
    except SynthlabelError:
        pass
    buf = b"".join(bodies)
    for magic in (b"\x03vorbis", b"OpusTags"):
        at = buf.find(magic)
        if at >= 0:
            _vorbis_list(buf, at + len(magic), col, "Ogg comment")
            return


# --- MP4 ---

_MP4_CONTAINERS = {b"moov", b"udta", b"meta", b"ilst", b"trak"}


def _boxes(buf: bytes, start: int, end: int) -> list[tuple[bytes, int, int]]:
    """(type, payload start, end) of the boxes in buf[start:end]; stops at a broken box."""
    out: list[tuple[bytes, int, int]] = []
    pos = start
    while pos + 8 <= end and len(out) < 10_000:
        size, btype = struct.unpack_from(">I4s", buf, pos)
        hdr = 8
        if size == 1:
            if pos + 16 > end:
                break
            size = struct.unpack_from(">Q", buf, pos + 8)[0]
            hdr = 16
        elif size == 0:
            size = end - pos
        if size < hdr or pos + size > end:
            break
        out.append((btype, pos + hdr, pos + size))
        pos += size
    return out


def _mp4_fields(data: bytes, col: _Collector) -> None:
    for btype, s, e in _boxes(data, 0, len(data)):
        if btype == b"moov":
            _mp4_walk(data, s, e, col, 0)


def _mp4_name(t: bytes) -> str:
    return t.decode("latin-1")


def _mp4_walk(buf: bytes, s: int, e: int, col: _Collector, depth: int) -> None:
    if depth > 6:
        return
    boxes = _boxes(buf, s, e)
    keys: list[str] = []
    for btype, bs, be in boxes:
        if btype == b"keys" and be - bs >= 8:
            count = struct.unpack_from(">I", buf, bs + 4)[0]
            pos = bs + 8
            for _ in range(min(count, 10_000)):
                if pos + 8 > be:
                    break
                ksize = struct.unpack_from(">I", buf, pos)[0]
                if ksize < 8 or pos + ksize > be:
                    break
                keys.append(_latin1(buf[pos + 8 : pos + ksize]))
                pos += ksize
    for btype, bs, be in boxes:
        if btype == b"meta":
            # ISO meta is a full box (4 bytes version/flags); QuickTime meta is not.
            skip = 4 if buf[bs : bs + 4] == b"\x00\x00\x00\x00" else 0
            _mp4_walk(buf, bs + skip, be, col, depth + 1)
        elif btype in (b"udta", b"moov", b"trak"):
            _mp4_walk(buf, bs, be, col, depth + 1)
        elif btype == b"ilst":
            _mp4_ilst(buf, bs, be, keys, col)
        elif btype[:1] == b"\xa9" and be - bs >= 4:
            # QuickTime user data text: uint16 size, uint16 language, text
            tsize = struct.unpack_from(">H", buf, bs)[0]
            text = buf[bs + 4 : min(be, bs + 4 + tsize)]
            name = _mp4_name(btype)
            col.add("mp4", name, _utf8(text).strip("\x00 "), f"MP4 udta {name}")


def _mp4_ilst(buf: bytes, s: int, e: int, keys: list[str], col: _Collector) -> None:
    for itype, is_, ie in _boxes(buf, s, e):
        name = _mp4_name(itype)
        if keys and itype[:1] not in (b"\xa9", b"-"):
            idx = int.from_bytes(itype, "big")
            if 1 <= idx <= len(keys):
                name = keys[idx - 1]
        for dtype, ds, de in _boxes(buf, is_, ie):
            if dtype == b"name" and de - ds >= 4:
                name = _utf8(buf[ds + 4 : de])
            elif dtype == b"data" and de - ds >= 8:
                kind = struct.unpack_from(">I", buf, ds)[0] & 0xFFFFFF
                if kind in (1, 2, 4, 5):  # UTF-8 / UTF-16 text
                    raw = buf[ds + 8 : de]
                    text = raw.decode("utf-16-be", "replace") if kind == 2 else _utf8(raw)
                    col.add("mp4", name, text.strip("\x00 "), f"MP4 ilst {name}")


# --- RIFF INFO ---


def _riff_fields(data: bytes, col: _Collector) -> None:
    """LIST/INFO chunks of a RIFF file (WAV, AVI): at the top level, and inside an AVI's
    ``hdrl`` list where some writers put it; plus a WAV ``id3 `` chunk."""
    from synthlabel.formats import _riff

    try:
        riff = _riff.parse(data, what="RIFF", warnings=[])
    except SynthlabelError:
        return
    counter = _riff_counter()
    for c in riff.chunks:
        ltype = data[c.data_start : c.data_start + 4] if c.id == b"LIST" else b""
        if ltype == b"INFO":
            _riff_info(data, c, col, counter)
        elif ltype == b"hdrl":
            try:
                subs = _riff.sub_chunks(data, c, counter)
            except SynthlabelError:
                continue
            for sc in subs:
                if sc.id == b"LIST" and data[sc.data_start : sc.data_start + 4] == b"INFO":
                    _riff_info(data, sc, col, counter)
        elif c.id in (b"id3 ", b"ID3 "):
            _id3_fields(data[c.data_start : c.data_end], 0, col, "RIFF id3 chunk")


def _riff_counter() -> Any:
    from synthlabel.formats import _limits, _riff

    return _limits.Counter(_riff.MAX_RIFF_CHUNKS, "RIFF chunks")


def _riff_info(data: bytes, lst: Any, col: _Collector, counter: Any) -> None:
    from synthlabel.formats import _riff

    try:
        subs = _riff.sub_chunks(data, lst, counter)
    except SynthlabelError:
        return
    for sc in subs:
        key = sc.id.decode("latin-1")
        value = _ascii(data[sc.data_start : sc.data_end]).strip()
        col.add("riff-info", key, value, f"RIFF INFO {key}")


def is_avi(data: bytes) -> bool:
    """``RIFF....AVI `` (AVI has no format plug-in: the trace reader sniffs it itself)."""
    return len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"AVI "


# --- Matroska / WebM ---

#: Segment Info children kept as fields (key: the element's name in the Matroska spec).
MKV_INFO = {0x4D80: "MuxingApp", 0x5741: "WritingApp", 0x7BA9: "Title"}


def _mkv_fields(data: bytes, col: _Collector) -> None:
    """Segment Info (MuxingApp, WritingApp, Title) and every Tags SimpleTag (TagName, TagString,
    nested SimpleTags too), walking the Segment's top level tolerantly: what was read before a
    broken or truncated element is kept. Bounded by :data:`MAX_MKV_ELEMENTS`,
    :data:`MAX_MKV_BYTES` and :data:`MAX_MKV_DEPTH`; never raises."""
    from synthlabel.formats import mkv
    from synthlabel.formats._limits import Counter
    from synthlabel.formats._media_io import BytesSource

    n = len(data)
    budget = Counter(MAX_MKV_ELEMENTS, "EBML elements")
    read = 0
    try:
        eid, hl, size, _ = mkv._head(data, 0, n)
        if eid != mkv.EBML or size is None:
            return
        pos = hl + size
        while True:
            if pos >= n:
                return
            budget.tick(pos)
            eid, hl, size, _ = mkv._head(data, pos, n)
            if eid == mkv.SEGMENT:
                break
            if size is None:
                return
            pos += hl + size
        seg_end = n if size is None else min(n, pos + hl + size)
        p = pos + hl
        while p < seg_end:
            budget.tick(p)
            eid, hl, esize, sw = mkv._head(data, p, seg_end)
            if esize is None:
                if eid != mkv.CLUSTER:
                    return
                p = mkv._scan_unknown(BytesSource(data), p + hl, seg_end, budget)
                continue
            end = p + hl + esize
            if eid in (mkv.INFO, mkv.TAGS):
                if end > seg_end:
                    return  # truncated: nothing after it is readable either
                read += hl + esize
                if read > MAX_MKV_BYTES:
                    return
                el = mkv.El(eid, p, hl, esize, sw)
                if eid == mkv.INFO:
                    _mkv_info(data, el, col, budget)
                else:
                    _mkv_tags(data, el, col, budget)
            p = end
    except SynthlabelError:
        return


def _mkv_text(data: bytes, el: Any, limit: int) -> str:
    return _utf8(data[el.data_start : min(el.end, el.data_start + limit)])


def _mkv_info(data: bytes, info: Any, col: _Collector, budget: Any) -> None:
    from synthlabel.formats import mkv

    for k in mkv._kids(data, info, budget):
        name = MKV_INFO.get(k.id)
        if name is not None:
            value = _mkv_text(data, k, MAX_VALUE_CHARS).rstrip("\x00").strip()
            col.add("mkv", name, value, f"MKV Info {name}")


def _mkv_tags(data: bytes, tags: Any, col: _Collector, budget: Any) -> None:
    from synthlabel.formats import mkv

    for tag in mkv._kids(data, tags, budget):
        if col.full:
            return  # nothing more would be kept: stop walking (a hostile file may hold millions)
        if tag.id != mkv.TAG:
            continue
        scope = "segment"
        kids = mkv._kids(data, tag, budget)
        for t in kids:
            if t.id == mkv.TARGETS:
                for u in mkv._kids(data, t, budget):
                    if u.id in mkv.TARGET_UIDS and mkv._uint(data, u) != 0:
                        scope = "track" if u.id == 0x63C5 else "target"
        for st in kids:
            if col.full:
                return
            if st.id == mkv.SIMPLETAG:
                _mkv_simple(data, st, col, budget, scope, 0)


def _mkv_simple(data: bytes, st: Any, col: _Collector, budget: Any, scope: str, depth: int) -> None:
    from synthlabel.formats import mkv

    if depth > MAX_MKV_DEPTH:
        return
    name, value = "", ""
    nested = []
    for k in mkv._kids(data, st, budget):
        if k.id == mkv.TAGNAME:
            name = _mkv_text(data, k, 4096).rstrip("\x00").strip().upper()
        elif k.id == mkv.TAGSTRING:
            value = _mkv_text(data, k, MAX_VALUE_CHARS).rstrip("\x00").strip()
        elif k.id == mkv.SIMPLETAG:
            nested.append(k)
    if name:
        where = f"MKV Tags {name}" + ("" if scope == "segment" else f" ({scope})")
        col.add("mkv", name, value, where)
    for k in nested:
        _mkv_simple(data, k, col, budget, scope, depth + 1)


# --- OOXML document properties ---

_OOXML_APP = ("Application", "AppVersion", "Company", "Template", "Manager")
_OOXML_CORE = {
    "http://purl.org/dc/elements/1.1/": "dc",
    "http://purl.org/dc/terms/": "dcterms",
    "http://schemas.openxmlformats.org/package/2006/metadata/core-properties": "cp",
}
_OOXML_CORE_KEYS = frozenset(
    {
        "dc:creator",
        "cp:lastModifiedBy",
        "dc:title",
        "dc:subject",
        "dc:description",
        "cp:keywords",
        "cp:category",
    }
)


def _ooxml_fields(data: bytes, col: _Collector) -> None:
    """docProps/app.xml (Application, AppVersion, Company, Template, Manager),
    docProps/core.xml (creator, lastModifiedBy, title, subject, description, keywords,
    category) and every custom property (name: value), through the format's safe ZIP
    reader (bounded inflation, CRC checks) and defusedxml."""
    from synthlabel.formats import ooxml

    try:
        arc = ooxml.parse_zip(data)
    except SynthlabelError:
        return

    def root_of(part: str) -> Any:
        e = arc.get(part)
        if e is None:
            return None
        try:
            text, _ = ooxml._xml_text(ooxml.read_member(data, e, MAX_OOXML_PART), part)
            return ooxml._parse_xml(text, part)
        except SynthlabelError:
            return None

    app = root_of("docProps/app.xml")
    if app is not None:
        for el in app:
            if not isinstance(el.tag, str):
                continue
            local = el.tag.rpartition("}")[2]
            if local in _OOXML_APP:
                col.add("ooxml", local, (el.text or "").strip(), f"OOXML docProps/app.xml {local}")
    core = root_of("docProps/core.xml")
    if core is not None:
        for el in core:
            if not isinstance(el.tag, str) or not el.tag.startswith("{"):
                continue
            ns, _, local = el.tag[1:].partition("}")
            key = f"{_OOXML_CORE.get(ns, '?')}:{local}"
            if key in _OOXML_CORE_KEYS:
                value = "".join(el.itertext()).strip()
                col.add("ooxml", key, value, f"OOXML docProps/core.xml {key}")
    try:
        part = ooxml._custom_part_name(data, arc)
    except SynthlabelError:
        part = ooxml.CUSTOM_PART
    custom = root_of(part)
    if custom is not None:
        for name, _pid, value in ooxml._properties(custom)[:MAX_FIELDS]:
            if name:
                col.add("ooxml", name, value.strip(), f"OOXML {part} {name}")


# --- PDF ---


def _pdf_fields(data: bytes, col: _Collector) -> None:
    try:
        import pikepdf

        with pikepdf.open(__import__("io").BytesIO(data)) as pdf:
            info = pdf.trailer.get("/Info")
            if isinstance(info, pikepdf.Dictionary):
                for k in list(info.keys())[:200]:
                    v = info.get(k)
                    if isinstance(v, pikepdf.String):
                        key = str(k).lstrip("/")
                        col.add("pdf-info", key, str(v), f"PDF Info /{key}")
    except Exception:  # pikepdf raises many types on hostile input; no fields then
        return


def fields_of(asset: Asset) -> list[TextField]:
    """Every text field of the asset the rules can select (computed once per asset)."""

    def compute() -> list[TextField]:
        col = _Collector()
        name = PurePath(asset.path).name if asset.path else ""
        if name:
            col.add("filename", "name", name, "file name")
        data = asset.data
        if data is None:
            return col.out
        fid = asset.format
        try:
            if fid == "png":
                _png_fields(data, col)
            elif fid == "mp3":
                _id3_fields(data, 0, col)
            elif fid == "flac":
                if data.startswith(b"ID3"):
                    _id3_fields(data, 0, col)
                _flac_fields(data, col)
            elif fid == "ogg":
                _ogg_fields(data, col)
            elif fid == "wav" or (not fid and is_avi(data)):
                _riff_fields(data, col)
            elif fid in ("mp4", "m4a"):
                _mp4_fields(data, col)
            elif fid == "mkv":
                _mkv_fields(data, col)
            elif fid == "pdf":
                _pdf_fields(data, col)
            elif fid == "ooxml":
                _ooxml_fields(data, col)
            meta = _metadata(asset)
            if meta is not None:
                if meta.exif:
                    from synthlabel.formats import _exif

                    _exif_fields(_exif.strip_header(meta.exif)[0], col)
                for c in meta.xmp[:8]:
                    _xmp_fields(c.data, col)
        except (SynthlabelError, RecursionError, MemoryError, ValueError):
            pass
        return col.out

    return asset.cached("traces.fields", compute)


def _metadata(asset: Asset) -> Any:
    try:
        return asset.metadata()
    except SynthlabelError:
        return None


# ---------------------------------------------------------------------------------------------
# Matching


def json_depth_ok(text: str) -> bool:
    """True when ``text`` nests at most MAX_JSON_DEPTH deep (strings skipped), in linear time."""
    stripped = re.sub(r'"(?:[^"\\]|\\.)*"', '""', text)
    depth = 0
    for ch in stripped:
        if ch in "[{":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                return False
        elif ch in "]}":
            depth -= 1
    return True


def bounded_json(text: str) -> Any:
    """Parse JSON with size and depth bounds; None when it is not (acceptable) JSON."""
    t = text.strip()
    if not t or t[0] not in "[{" or len(t) > MAX_JSON_CHARS or not json_depth_ok(t):
        return None
    try:
        return json.loads(t)
    except (ValueError, RecursionError):
        return None


def _json_hit(rule: Rule, value: str, cache: dict[str, Any]) -> bool:
    text = value
    if rule.prefix:
        if not text.startswith(rule.prefix):
            return False
        text = text[len(rule.prefix) :]
    if text not in cache:
        cache[text] = bounded_json(text)
    obj = cache[text]
    if not isinstance(obj, dict):
        return False
    if any(k not in obj for k in rule.all_keys):
        return False
    if rule.any_keys and sum(1 for k in rule.any_keys if k in obj) < rule.min_any:
        return False
    if rule.node_key:
        nodes = [v for v in obj.values() if isinstance(v, dict)]
        if not nodes or not any(rule.node_key in v for v in nodes):
            return False
    return True


@functools.lru_cache(maxsize=512)
def _keys_re(keys: tuple[str, ...], ignore_case: bool) -> re.Pattern[str]:
    """A rule's fnmatch key patterns as one compiled regex (one C-speed match per field)."""
    flags = re.IGNORECASE if ignore_case else 0
    return re.compile("|".join(f"(?:{fnmatch.translate(k)})" for k in keys), flags)


def _key_ok(rule: Rule, key: str) -> bool:
    if rule.keys == ("*",):
        return True
    return _keys_re(rule.keys, rule.keys_ignore_case).match(key) is not None


def match_field(rule: Rule, f: TextField, cache: dict[str, Any]) -> bool:
    if f.kind not in rule.kinds or not _key_ok(rule, f.key):
        return False
    v = f.value
    if rule.exclude is not None and rule.exclude.search(v[:100_000]):
        return False
    if rule.matcher == "present":
        return bool(v.strip())
    if rule.matcher == "exact":
        return v.strip() in rule.values
    if rule.matcher == "regex":
        assert rule.pattern is not None
        return rule.pattern.search(v[:200_000]) is not None
    if rule.matcher == "json":
        return _json_hit(rule, v, cache)
    return False


# ---------------------------------------------------------------------------------------------
# Pixels

#: Formats whose pixels the pixel checks decode (stealth info needs lossless pixels).
STEALTH_FORMATS = ("png", "webp", "tiff")
WATERMARK_FORMATS = ("png", "jpeg", "webp", "tiff")


def _pixels(asset: Asset) -> Any:
    """(H, W, 3|4) uint8 array of the first frame, or None (cached)."""

    def compute() -> Any:
        import io

        import numpy as np
        from PIL import Image

        if asset.data is None:
            return None
        try:
            with Image.open(io.BytesIO(asset.data)) as im:
                if im.width * im.height > MAX_PIXELS:
                    return None
                mode = "RGBA" if ("A" in im.getbands() or "transparency" in im.info) else "RGB"
                return np.asarray(im.convert(mode), dtype=np.uint8)
        except Exception:  # Pillow raises many types on broken images
            return None

    return asset.cached("traces.pixels", compute)


def _pixel_hit(rule: Rule, asset: Asset) -> tuple[str, dict[str, Any], float | None] | None:
    fid = asset.format
    if rule.check == "stealth":
        if fid not in STEALTH_FORMATS:
            return None
        from synthlabel.detect import _stealth

        def stealth() -> Any:
            arr = _pixels(asset)
            return None if arr is None else _stealth.read(arr)

        info = asset.cached("traces.stealth", stealth)
        if info is None or (rule.variants and info.signature not in rule.variants):
            return None
        if rule.payload is not None and not rule.payload.search(info.text[:200_000]):
            return None
        details = {
            "signature": info.signature,
            "mode": info.mode,
            "compressed": info.compressed,
            "excerpt": info.text[:300],
        }
        if info.problem:
            details["problem"] = info.problem
        return f"pixels ({info.mode} LSB, {info.signature})", details, None
    if rule.check == "sd-watermark":
        if fid not in WATERMARK_FORMATS:
            return None
        from synthlabel.detect import _sdwm

        def sd() -> Any:
            arr = _pixels(asset)
            return None if arr is None else _sdwm.detect(arr)

        mark = asset.cached("traces.sdwm", sd)
        if mark is None or (rule.variants and mark.message not in rule.variants):
            return None
        details = {
            "message": mark.message,
            "agree": mark.agree,
            "bits": mark.bits,
            "p_value": mark.p_value,
            "rgb_as_bgr": mark.swapped,
        }
        where = f"pixels (dwtDct U channel, {mark.agree}/{mark.bits} bits)"
        return where, details, max(0.0, 1.0 - mark.p_value)
    return None


# ---------------------------------------------------------------------------------------------
# The detector


class TracesDetector:
    """The trace rules. ``part``: ``"all"`` (both kinds; the object tests and scripts use),
    ``"metadata"`` (registered as ``traces``, cheap: text fields only) or ``"pixels"``
    (registered as ``traces-pixels``, medium: decodes the image for the stealth-info and
    SD-watermark rules), so a metadata-only inspection never decodes pixels."""

    id = "traces"
    name = "generator traces (metadata and pixel patterns, data-driven rules)"
    media_kinds: frozenset[str] | None = None
    cost = "cheap"

    def __init__(self, rules: list[Rule] | None = None, *, part: str = "all") -> None:
        self._rules = rules
        self.part = part
        if part == "pixels":
            self.id = "traces-pixels"
            self.name = "generator traces in pixels (stealth info, SD invisible watermark)"
            self.media_kinds = frozenset({"image"})
            self.cost = "medium"
        elif part == "metadata":
            self.name = "generator traces (metadata, data-driven rules)"

    @property
    def codes(self) -> tuple[str, ...]:
        """Every code a rule can emit (the policy's ``trace.*`` globs cover them)."""
        return tuple(dict.fromkeys(r.code for r in self.rules))

    @property
    def rules(self) -> list[Rule]:
        if self._rules is None:
            self._rules = load_rules()
        if self.part == "pixels":
            return [r for r in self._rules if "pixel" in r.kinds]
        if self.part == "metadata":
            return [r for r in self._rules if "pixel" not in r.kinds]
        return self._rules

    def detect(self, asset: Asset, options: DetectOptions) -> list[Finding]:
        out: list[Finding] = []
        fields = fields_of(asset) if self.part != "pixels" else []
        cache: dict[str, Any] = {}
        pixels_allowed = COST_RANK[options.max_cost] >= COST_RANK["medium"]
        for rule in self.rules:
            if "pixel" in rule.kinds:
                if not pixels_allowed or asset.media_kind != "image":
                    continue
                hit = _pixel_hit(rule, asset)
                if hit is not None:
                    where, details, conf = hit
                    out.append(self._finding(rule, where, details, conf, ""))
                continue
            for f in fields:
                if match_field(rule, f, cache):
                    excerpt = f.value[:300]
                    details = {"key": f.key, "excerpt": excerpt}
                    out.append(self._finding(rule, f.where, details, None, excerpt))
                    break
        return out

    def _finding(
        self,
        rule: Rule,
        where: str,
        details: dict[str, Any],
        confidence: float | None,
        excerpt: str,
    ) -> Finding:
        short = " ".join(excerpt.split())[:60]
        summary = f"{rule.summary}: {short!r}" if short else rule.summary
        basis = f" [{rule.basis}]" if rule.basis != "docs" else ""
        return Finding(
            self.id,
            rule.code,
            summary,
            rule.strength,
            where,
            f"{rule.source}{basis}",
            confidence=rule.confidence if confidence is None else confidence,
            details={"rule": rule.id, "basis": rule.basis, **details},
        )


DETECTOR = TracesDetector()
METADATA_DETECTOR = TracesDetector(part="metadata")
PIXEL_DETECTOR = TracesDetector(part="pixels")
