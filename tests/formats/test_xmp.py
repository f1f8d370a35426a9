# ruff: noqa: E501  (literal XMP packets)
from __future__ import annotations

import pytest

from synthlabel.errors import MalformedInput
from synthlabel.formats import _xmp
from synthlabel.model.aigc import AIGCRecord, parse_record

REC = AIGCRecord(
    content_producer="001191110000MA0000000H10001", produce_id="01JD3Q8W5Z6V7K2M4N8P0R2S4T"
)
OTHER = b"""<?xpacket begin="\xef\xbb\xbf" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="Test">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:CreatorTool="Painter 9">
   <dc:title><rdf:Alt><rdf:li xml:lang="x-default">Sunset</rdf:li></rdf:Alt></dc:title>
   <!-- a comment that must survive -->
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>"""


def test_new_packet_matches_spec_layout() -> None:
    p = _xmp.new_packet(REC.to_json())
    text = p.decode()
    assert text.startswith('<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>')
    assert 'xmlns:TC260="http://www.tc260.org.cn/ns/AIGC/1.0/"' in text
    assert "<TC260:AIGC>{&quot;Label&quot;:&quot;1&quot;" in text
    f = _xmp.read_fields(p)
    assert f.well_formed and f.aigc == (REC.to_json(),)
    assert f.digital_source_types == (_xmp.DST_TRAINED,)


def test_merge_keeps_every_other_property_and_comment() -> None:
    out = _xmp.update_packet(OTHER, aigc_json=REC.to_json())
    text = out.decode()
    for keep in (
        'xmp:CreatorTool="Painter 9"',
        '<rdf:li xml:lang="x-default">Sunset</rdf:li>',
        "<!-- a comment that must survive -->",
        'x:xmptk="Test"',
        '<?xpacket end="w"?>',
    ):
        assert keep in text
    assert parse_record(_xmp.read_fields(out).aigc[0]).record == REC


def test_replacing_attribute_form_leaves_one_value() -> None:
    attr = OTHER.replace(
        b'xmp:CreatorTool="Painter 9"',
        b'xmlns:TC260="http://www.tc260.org.cn/ns/AIGC/1.0/" TC260:AIGC="{&quot;Label&quot;:&quot;3&quot;}"',
    )
    assert _xmp.read_fields(attr).aigc == ('{"Label":"3"}',)
    out = _xmp.update_packet(attr, aigc_json=REC.to_json())
    assert _xmp.read_fields(out).aigc == (REC.to_json(),)
    again = _xmp.update_packet(out, aigc_json=REC.to_json())
    assert again == out  # idempotent


def test_self_closing_description_is_opened() -> None:
    p = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about=""/></rdf:RDF></x:xmpmeta>'
    out = _xmp.update_packet(p, aigc_json=REC.to_json(), digital_source_type=_xmp.DST_COMPOSITE)
    f = _xmp.read_fields(out)
    assert f.aigc == (REC.to_json(),) and f.digital_source_types == (_xmp.DST_COMPOSITE,)


@pytest.mark.parametrize(
    "bad",
    [
        b"<x:xmpmeta><rdf:RDF>",  # truncated
        b'<!DOCTYPE x [<!ENTITY a "aaaa">]><x:xmpmeta xmlns:x="adobe:ns:meta/">&a;</x:xmpmeta>',  # entities
    ],
)
def test_malformed_or_hostile_xmp_is_refused_not_overwritten(bad: bytes) -> None:
    with pytest.raises(MalformedInput, match="existing XMP"):
        _xmp.update_packet(bad, aigc_json=REC.to_json())
    out = _xmp.update_packet(bad, aigc_json=REC.to_json(), replace_malformed=True)
    assert _xmp.read_fields(out).aigc == (REC.to_json(),)


def test_read_of_malformed_packet_falls_back_to_scan() -> None:
    broken = b'<x:xmpmeta><rdf:Description TC260:AIGC="{&quot;Label&quot;:&quot;1&quot;}">'
    f = _xmp.read_fields(broken)
    assert not f.well_formed and f.aigc == ('{"Label":"1"}',)


def test_billion_laughs_is_rejected_on_read() -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "x"><!ENTITY b "&a;&a;&a;&a;">]><l>&b;</l>'
    )
    assert not _xmp.read_fields(bomb).well_formed
