"""XMP packets: read and set ``TC260:AIGC`` and ``Iptc4xmpExt:DigitalSourceType``.

Edits are made on the packet text, so every other property, namespace prefix, comment and
the ``xpacket`` wrapper survive byte for byte; the result is re-parsed (hardened: no DTDs, no
entities, size limit) to prove it is well-formed and carries the new value.
"""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from defusedxml import ElementTree as SafeET
from defusedxml.common import DefusedXmlException

from synthlabel.errors import LimitExceeded, MalformedInput

TC260_NS = "http://www.tc260.org.cn/ns/AIGC/1.0/"
IPTC_EXT_NS = "http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
RDF_NS = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
X_NS = "adobe:ns:meta/"

DST_BASE = "http://cv.iptc.org/newscodes/digitalsourcetype/"
DST_TRAINED = DST_BASE + "trainedAlgorithmicMedia"
DST_COMPOSITE = DST_BASE + "compositeWithTrainedAlgorithmicMedia"

#: Largest XMP packet we parse or write (a normal one is a few KiB).
MAX_PACKET = 4 * 1024 * 1024

_TC260_NS_VARIANTS = (TC260_NS, TC260_NS.rstrip("/"), "https://www.tc260.org.cn/ns/AIGC/1.0/")

_BOM = "\ufeff"
_HEADER = f'<?xpacket begin="{_BOM}" id="W5M0MpCehiHzreSzNTczkc9d"?>'
_TRAILER = '<?xpacket end="w"?>'


@dataclass(frozen=True, slots=True)
class XmpFields:
    """What we read from one packet."""

    aigc: tuple[str, ...]  # raw AIGC values (already XML-unescaped)
    digital_source_types: tuple[str, ...]
    well_formed: bool
    problem: str = ""


def _attr_escape(value: str) -> str:
    return html.escape(value, quote=True).replace("&#x27;", "&apos;")


def _text_escape(value: str) -> str:
    # Real files escape the JSON quotes as &quot; inside element text; do the same.
    return html.escape(value, quote=True).replace("&#x27;", "'")


def new_packet(aigc_json: str, digital_source_type: str | None = DST_TRAINED) -> bytes:
    """A fresh packet holding the record (and the IPTC digital source type)."""
    ns = f'\n    xmlns:TC260="{TC260_NS}"'
    props = f"\n   <TC260:AIGC>{_text_escape(aigc_json)}</TC260:AIGC>"
    if digital_source_type:
        ns += f'\n    xmlns:Iptc4xmpExt="{IPTC_EXT_NS}"'
        props += (
            f"\n   <Iptc4xmpExt:DigitalSourceType>{_text_escape(digital_source_type)}"
            "</Iptc4xmpExt:DigitalSourceType>"
        )
    text = (
        f"{_HEADER}\n"
        f'<x:xmpmeta xmlns:x="{X_NS}">\n'
        f' <rdf:RDF xmlns:rdf="{RDF_NS}">\n'
        f'  <rdf:Description rdf:about=""{ns}>{props}\n'
        "  </rdf:Description>\n"
        " </rdf:RDF>\n"
        "</x:xmpmeta>\n"
        f"{_TRAILER}"
    )
    return text.encode("utf-8")


def _decode(packet: bytes) -> str:
    if len(packet) > MAX_PACKET:
        raise LimitExceeded(f"XMP packet too large ({len(packet)} bytes)")
    if packet.startswith(b"\xfe\xff") or packet.startswith(b"\xff\xfe"):
        try:
            return packet.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise MalformedInput(f"XMP packet is not valid UTF-16: {exc}") from None
    try:
        return packet.decode("utf-8")
    except UnicodeDecodeError:
        # Tolerate stray bytes (seen in the wild); the parser decides about well-formedness.
        return packet.decode("utf-8", errors="replace")


def _parse(text: str) -> ET.Element:
    # ElementTree cannot parse processing instructions outside the root: strip the wrapper.
    body = re.sub(r"<\?xpacket[^>]*\?>", "", text).strip().lstrip(_BOM)
    try:
        root: ET.Element = SafeET.fromstring(
            body.encode("utf-8"), forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
    except DefusedXmlException as exc:
        raise MalformedInput(f"XMP packet uses a forbidden XML feature ({exc})") from None
    except ET.ParseError as exc:
        raise MalformedInput(f"XMP packet is not well-formed XML ({exc})") from None
    return root


def read_fields(packet: bytes) -> XmpFields:
    """Read the AIGC values and DigitalSourceType values from a packet. Never raises
    MalformedInput: a broken packet is scanned with a tolerant fallback and flagged."""
    text = _decode(packet)
    try:
        root = _parse(text)
    except MalformedInput as exc:
        return XmpFields(
            aigc=tuple(_scan_aigc(text)),
            digital_source_types=tuple(_scan_dst(text)),
            well_formed=False,
            problem=exc.message,
        )
    aigc: list[str] = []
    dst: list[str] = []
    for el in root.iter():
        tag = el.tag if isinstance(el.tag, str) else ""
        if tag.startswith("{"):
            ns, _, local = tag[1:].partition("}")
            if local == "AIGC" and ns in _TC260_NS_VARIANTS:
                aigc.append(_element_text(el))
            elif local == "DigitalSourceType" and ns == IPTC_EXT_NS:
                dst.append(_element_text(el))
        for key, value in el.attrib.items():
            if key.startswith("{"):
                ns, _, local = key[1:].partition("}")
                if local == "AIGC" and ns in _TC260_NS_VARIANTS:
                    aigc.append(value)
                elif local == "DigitalSourceType" and ns == IPTC_EXT_NS:
                    dst.append(value)
    return XmpFields(
        aigc=tuple(a.strip() for a in aigc if a.strip()),
        digital_source_types=tuple(d.strip() for d in dst if d.strip()),
        well_formed=True,
    )


def _element_text(el: ET.Element) -> str:
    # Simple property: text. Tolerate rdf:Alt/rdf:li wrappers some tools write.
    if el.text and el.text.strip():
        return el.text
    for li in el.iter(f"{{{RDF_NS}}}li"):
        if li.text and li.text.strip():
            return li.text
    res = el.attrib.get(f"{{{RDF_NS}}}resource")
    return res or ""


_SCAN_AIGC = re.compile(
    r"""(?:\w+:)?AIGC\s*=\s*(?:"([^"]*)"|'([^']*)')|<(\w+):AIGC\b[^>]*>(.*?)</\3:AIGC>""",
    re.S,
)
_SCAN_DST = re.compile(
    r"DigitalSourceType\s*=\s*[\"']([^\"']+)|DigitalSourceType\b[^>]*>\s*([^<\s]+)", re.S
)


def _scan_aigc(text: str) -> list[str]:
    out = []
    for m in _SCAN_AIGC.finditer(text):
        value = m.group(1) or m.group(2) or m.group(4) or ""
        if value.strip():
            out.append(html.unescape(value.strip()))
    return out


def _scan_dst(text: str) -> list[str]:
    return [html.unescape(m.group(1) or m.group(2)) for m in _SCAN_DST.finditer(text)]


def _prefixes_for(text: str, uris: tuple[str, ...]) -> list[str]:
    out = []
    for m in re.finditer(r"""xmlns:([\w.-]+)\s*=\s*["']([^"']*)["']""", text):
        if m.group(2) in uris:
            out.append(m.group(1))
    return out


def _remove_property(text: str, prefixes: list[str], local: str) -> str:
    for p in prefixes:
        pe = re.escape(p)
        # element form, with content or self-closing
        text = re.sub(
            rf"[ \t]*<{pe}:{local}\b[^>]*?/>[ \t]*\r?\n?"
            rf"|[ \t]*<{pe}:{local}\b[^>]*>.*?</{pe}:{local}\s*>[ \t]*\r?\n?",
            "",
            text,
            flags=re.S,
        )
        # attribute form
        text = re.sub(rf"""\s{pe}:{local}\s*=\s*(?:"[^"]*"|'[^']*')""", "", text)
    return text


_DESC_RE = re.compile(r"<(?P<p>[\w.-]+):Description\b(?P<attrs>[^>]*?)(?P<close>/?)>", re.S)


def update_packet(
    packet: bytes | None,
    *,
    aigc_json: str,
    digital_source_type: str | None = DST_TRAINED,
    replace_malformed: bool = False,
) -> bytes:
    """Set ``TC260:AIGC`` (and DigitalSourceType) in ``packet``, keeping everything else.

    ``packet=None`` builds a new packet. A malformed existing packet raises
    :class:`MalformedInput` unless ``replace_malformed`` is set.
    """
    if packet is None or not packet.strip(b"\x00 \t\r\n"):
        return new_packet(aigc_json, digital_source_type)
    text = _decode(packet)
    try:
        _parse(text)
    except MalformedInput as exc:
        if replace_malformed:
            return new_packet(aigc_json, digital_source_type)
        raise MalformedInput(
            f"existing XMP is malformed and was left alone: {exc.message}"
        ) from None
    had_bom_header = text.lstrip().startswith("<?xpacket")
    tc_prefixes = _prefixes_for(text, _TC260_NS_VARIANTS) or ["TC260"]
    text = _remove_property(text, tc_prefixes, "AIGC")
    ip_prefixes = _prefixes_for(text, (IPTC_EXT_NS,))
    if digital_source_type:
        text = _remove_property(text, ip_prefixes or ["Iptc4xmpExt"], "DigitalSourceType")

    m = _DESC_RE.search(text)
    if m is None:
        rdf = re.search(r"<([\w.-]+):RDF\b[^>]*>", text)
        if rdf is None:
            raise MalformedInput("existing XMP has no rdf:RDF element")
        rp = rdf.group(1)
        insert = f'\n  <{rp}:Description {rp}:about="">\n  </{rp}:Description>'
        if rdf.group(0).endswith("/>"):
            text = (
                text[: rdf.start()]
                + rdf.group(0)[:-2]
                + ">"
                + insert
                + f"\n </{rp}:RDF>"
                + text[rdf.end() :]
            )
        else:
            text = text[: rdf.end()] + insert + text[rdf.end() :]
        m = _DESC_RE.search(text)
        assert m is not None
    prefix = m.group("p")
    attrs = m.group("attrs")
    decls = ""
    tc_prefix = "TC260"
    if not re.search(r"xmlns:TC260\s*=", attrs):
        if re.search(r"xmlns:TC260\s*=", text):
            # TC260 declared elsewhere (maybe another URI): use an unambiguous prefix here.
            declared = _prefixes_for(text, _TC260_NS_VARIANTS)
            tc_prefix = "TC260" if "TC260" in declared else "TC260aigc"
        decls += f'\n    xmlns:{tc_prefix}="{TC260_NS}"'
    props = f"\n   <{tc_prefix}:AIGC>{_text_escape(aigc_json)}</{tc_prefix}:AIGC>"
    if digital_source_type:
        ip = "Iptc4xmpExt"
        if not re.search(rf"xmlns:{ip}\s*=", attrs):
            if re.search(rf"xmlns:{ip}\s*=", text) and ip not in ip_prefixes:
                ip = "Iptc4xmpExtSL"
            decls += f'\n    xmlns:{ip}="{IPTC_EXT_NS}"'
        props += (
            f"\n   <{ip}:DigitalSourceType>{_text_escape(digital_source_type)}"
            f"</{ip}:DigitalSourceType>"
        )
    if m.group("close"):
        new_start = (
            f"<{prefix}:Description{attrs.rstrip()}{decls}>{props}\n  </{prefix}:Description>"
        )
    else:
        new_start = f"<{prefix}:Description{attrs.rstrip()}{decls}>{props}"
    text = text[: m.start()] + new_start + text[m.end() :]
    if not had_bom_header:
        pass  # keep the packet as the file had it (some writers omit the wrapper)
    out = text.encode("utf-8")
    fields = read_fields(out)
    if not fields.well_formed or aigc_json not in [html.unescape(a) for a in fields.aigc]:
        raise MalformedInput("could not update the existing XMP packet safely")
    return out


def remove_aigc(text: str) -> str:
    """``text`` (a decoded packet) without any ``TC260:AIGC`` property, element or attribute
    form, whatever prefix the TC260 namespace is bound to; everything else kept as text."""
    prefixes = _prefixes_for(text, _TC260_NS_VARIANTS) or ["TC260"]
    return _remove_property(text, prefixes, "AIGC")
