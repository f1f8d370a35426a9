"""Markdown, HTML, JSON and plain text: exact bytes written, what is kept, what is read."""

from __future__ import annotations

import contextlib
import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synthlabel.errors import LimitExceeded, MalformedInput, SynthlabelError, UnsupportedFormat
from synthlabel.formats import html as html_fmt
from synthlabel.formats import jsondoc, markdown, registry, text
from synthlabel.formats.base import LabelWrite
from synthlabel.inspect.reader import inspect_bytes
from synthlabel.model.aigc import AIGCRecord, parse_record
from tests.fixtures import text as fx

RECORD = AIGCRecord(
    content_producer="001191110000MA0000000H10001", produce_id="01JD3Q8W5Z6V7K2M4N8P0R2S4T"
)
OTHER = RECORD.replace(content_propagator="001191440300MA0000001L20000", propagate_id="42")
LW = LabelWrite(RECORD.to_json())
MD = markdown.HANDLER
HT = html_fmt.HANDLER
JS = jsondoc.HANDLER
TX = text.HANDLER


def records(h: object, data: bytes) -> list[AIGCRecord]:
    meta = h.read(data)  # type: ignore[attr-defined]
    return [parse_record(c.data).record for c in meta.carriers if c.kind == "aigc"]


def block(eol: str = "\n", rec: AIGCRecord = RECORD) -> str:
    lines = ["AIGC:"] + [f"  {k}: '{v}'" for k, v in rec.to_dict().items()]
    return "".join(line + eol for line in lines)


# -- Markdown --------------------------------------------------------------------------------


def test_markdown_new_front_matter_is_exactly_the_spec_layout() -> None:
    src = fx.markdown()
    out = MD.write_label(src, LW)
    assert out == ("---\n" + block() + "---\n").encode() + src
    assert records(MD, out) == [RECORD]


def test_markdown_existing_front_matter_keeps_keys_and_comments() -> None:
    src = fx.markdown_front_matter()
    out = MD.write_label(src, LW)
    close = src.index(b"---\n", 4)
    assert out == src[:close] + block().encode() + src[close:]
    assert b"# a comment that must survive\n" in out


def test_markdown_crlf_and_bom_are_kept() -> None:
    out = MD.write_label(fx.markdown_crlf(), LW)
    assert b"\n" not in out.replace(b"\r\n", b"")
    assert block("\r\n").encode() in out
    bom = MD.write_label(fx.markdown_bom(), LW)
    assert bom.startswith(b"\xef\xbb\xbf---\r\nAIGC:\r\n")
    assert bom.endswith(fx.markdown_bom()[3:])


def test_markdown_replaces_an_existing_block_in_place() -> None:
    src = ("---\ntitle: t\n" + block() + "tags: [a, b]\n---\nbody\n").encode()
    out = MD.write_label(src, LabelWrite(OTHER.to_json()))
    assert out == ("---\ntitle: t\n" + block(rec=OTHER) + "tags: [a, b]\n---\nbody\n").encode()
    assert records(MD, out) == [OTHER]


def test_markdown_one_line_and_scalar_variants_are_read() -> None:
    flat = f"---\nAIGC: '{RECORD.to_json()}'\n---\nbody\n".encode()
    assert records(MD, flat) == [RECORD]
    flow = f"---\nAIGC: {RECORD.to_json()}\n---\nbody\n".encode()
    assert records(MD, flow) == [RECORD]
    mixed = (
        b"---\nAIGC:\n    Label: 1  # number, tolerated\n"
        b'    "ContentProducer": "001191110000MA0000000H10001"\n'
        b"    ProduceID: 01JD3Q8W5Z6V7K2M4N8P0R2S4T\n    ReservedCode1: ''\n"
        b"    ContentPropagator:\n    PropagateID: ''\n    ReservedCode2: ''\n---\n"
    )
    meta = MD.read(mixed)
    parsed = parse_record(meta.carriers[0].data)
    assert parsed.record == RECORD
    assert any("number" in w for w in parsed.warnings)
    # The one-line form is replaced by the block form, body kept.
    out = MD.write_label(flat, LW)
    assert out == ("---\n" + block() + "---\nbody\n").encode()


def test_markdown_signed_record_with_escaped_json_round_trips() -> None:
    sd = '{"SecurityData":{"Type":"TC260PG","Version":1,"PubSD":[]}}'
    rec = RECORD.replace(reserved_code1=sd)
    out = MD.write_label(fx.markdown(), LabelWrite(rec.to_json()))
    assert f"  ReservedCode1: '{sd}'".encode() in out
    assert records(MD, out) == [rec]


def test_markdown_duplicates_are_reported_and_collapsed() -> None:
    src = ("---\n" + block() + "x: 1\n" + block(rec=OTHER) + "---\nbody\n").encode()
    assert records(MD, src) == [RECORD, OTHER]
    out = MD.write_label(src, LabelWrite(OTHER.to_json()))
    assert out == ("---\n" + block(rec=OTHER) + "x: 1\n---\nbody\n").encode()


def test_markdown_thematic_break_is_not_front_matter() -> None:
    src = b"---\n\n# Title\n\ntext\n"
    assert MD.read(src).carriers == []
    out = MD.write_label(src, LW)
    assert out.endswith(b"---\n" + src)
    assert records(MD, out) == [RECORD]


def test_markdown_digest_ignores_the_label_only() -> None:
    for make in (fx.markdown, fx.markdown_front_matter, fx.markdown_crlf, fx.markdown_bom):
        src = make()
        d = MD.content_digest(src)
        assert MD.content_digest(MD.write_label(src, LW)) == d
        assert MD.content_digest(src.replace(b"sales", b"other")) != d
    fm = fx.markdown_front_matter()
    assert MD.content_digest(fm.replace(b"Quarterly summary'", b"Other'")) != MD.content_digest(fm)


def test_markdown_sniff_and_extension_tie_break() -> None:
    assert MD.sniff(b"---\ntitle: x\n---\n")
    assert MD.sniff(fx.markdown())
    assert not MD.sniff(b"\x89PNG\r\n\x1a\n")
    assert not MD.sniff(b"just a sentence.")
    head = fx.markdown()
    assert registry.sniff(head, name="notes.md").id == "markdown"
    assert registry.sniff(head, name="notes.txt").id == "text"


@settings(max_examples=60, deadline=None)
@given(
    body=st.text(
        st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=200
    ),
    crlf=st.booleans(),
    front=st.booleans(),
)
def test_markdown_label_is_removable_exactly(body: str, crlf: bool, front: bool) -> None:
    src = (("---\ntitle: x\n---\n" if front else "") + body).encode()
    if crlf:
        src = src.replace(b"\n", b"\r\n")
    try:
        out = MD.write_label(src, LW)
    except MalformedInput:
        return  # not text (control bytes)
    assert records(MD, out)[-1] == RECORD
    assert markdown.without_aigc(out) == markdown.without_aigc(src)
    assert MD.write_label(out, LW) == out


# -- HTML ------------------------------------------------------------------------------------


def test_html_meta_and_json_ld_go_after_the_charset_meta() -> None:
    src = fx.html_with_head()
    out = HT.write_label(src, LW)
    anchor = src.index(b'<meta charset="utf-8">') + len(b'<meta charset="utf-8">')
    meta = f"<meta name=\"AIGC\" content='{RECORD.to_json()}'>"
    m = re.search(
        rb'<script type="application/ld\+json">(\{"@context":\{"@vocab".*?)</script>', out
    )
    assert m is not None
    ld = m.group(0).decode()
    assert out == src[:anchor] + f"\n    {meta}\n    {ld}".encode() + src[anchor:]
    doc = json.loads(m.group(1))
    assert doc["@type"] == "CreativeWork"
    assert doc["@context"]["tc260"] + "AIGC" == html_fmt.JSONLD_IRI
    assert doc["tc260:AIGC"] == RECORD.to_dict()
    assert records(HT, out) == [RECORD]  # one record: the meta element


def test_html_without_head_gets_one() -> None:
    src = fx.html_no_head()
    out = HT.write_label(src, LW)
    assert out.startswith(b'<!doctype html>\n<html>\n<head>\n<meta name="AIGC"')
    assert out.endswith(
        b"</script>\n</head>\n<body>\n<p>No head element here.</p>\n</body>\n</html>\n"
    )
    assert HT.content_digest(out) == HT.content_digest(src)


def test_html_meta_in_comments_and_scripts_is_not_a_carrier() -> None:
    assert HT.read(fx.html_with_head()).carriers == []


def test_html_replace_moves_stray_metas_and_removes_duplicates() -> None:
    src = fx.html_with_head().replace(
        b"<h1>Hello</h1>",
        b"<h1>Hello</h1><meta name=aigc content='" + OTHER.to_json().encode() + b"'>",
    )
    meta = HT.read(src)
    assert any("outside <head>" in w for w in meta.warnings)
    out = HT.write_label(src, LW)
    assert out == HT.write_label(fx.html_with_head(), LW)
    assert HT.write_label(out, LabelWrite(OTHER.to_json())) == HT.write_label(
        fx.html_with_head(), LabelWrite(OTHER.to_json())
    )


def test_html_json_ld_alone_and_disagreeing_copies() -> None:
    out = HT.write_label(fx.html_with_head(), LW)
    only_ld = re.sub(rb"\n    <meta name=\"AIGC\"[^>]*>", b"", out)
    meta = HT.read(only_ld)
    assert [c.name for c in meta.carriers] == ["JSON-LD tc260:AIGC"]
    assert any("only in JSON-LD" in w for w in meta.warnings)
    disagree = out.replace(b'"ProduceID":"01JD', b'"ProduceID":"99JD', 1)
    meta = HT.read(disagree)
    assert [c.name for c in meta.carriers] == ["meta name=AIGC"]
    assert any("disagrees" in w for w in meta.warnings)
    report = inspect_bytes(out, path="x.html")
    assert report.compliance.value == "compliant", report.to_dict()


def test_html_json_ld_can_be_switched_off() -> None:
    out = html_fmt.HtmlHandler(json_ld=False).write_label(fx.html_with_head(), LW)
    assert b"tc260:AIGC" not in out and records(HT, out) == [RECORD]


def test_html_other_charsets_are_kept_byte_for_byte() -> None:
    gbk = '<html><head><meta charset="gbk"><title>中文标题</title></head><body>正文</body></html>'
    src = gbk.encode("gbk")
    out = HT.write_label(src, LW)
    assert out.replace(b'<meta name="AIGC" content=\'' + RECORD.to_json().encode() + b"'>", b"")
    assert out.startswith(src[: src.index(b"<title>")])
    assert out.endswith(src[src.index(b"<title>") :])
    assert records(HT, out) == [RECORD]


def test_html_quotes_in_values_are_escaped() -> None:
    rec = RECORD.replace(reserved_code1="a'b<c>&\"d")
    out = HT.write_label(fx.html_with_head(), LabelWrite(rec.to_json()))
    assert records(HT, out) == [rec]
    assert b"a'b" not in out.split(b"<script", 1)[0]


def test_html_sniff() -> None:
    assert HT.sniff(b"\xef\xbb\xbf<!-- x -->\n<!DOCTYPE HTML>")
    assert HT.sniff(b'<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml">')
    assert HT.sniff(b"<head><title>")
    assert not HT.sniff(b"<svg xmlns='http://www.w3.org/2000/svg'/>")
    assert not HT.sniff(fx.markdown())
    assert not HT.sniff(b"<!-- unterminated")


# -- JSON ------------------------------------------------------------------------------------


def test_json_member_is_inserted_textually_after_the_brace() -> None:
    src = fx.json_compact()
    out = JS.write_label(src, LW)
    assert out == b'{"AIGC":' + RECORD.to_json().encode() + b"," + src[1:]
    pretty = fx.json_pretty()
    out = JS.write_label(pretty, LW)
    assert out == b'{\n  "AIGC": ' + RECORD.to_json().encode() + b"," + pretty[1:]
    assert json.loads(out)["AIGC"] == RECORD.to_dict()
    assert next(iter(json.loads(out))) == "AIGC"


def test_json_empty_object_and_replacement_in_place() -> None:
    assert JS.write_label(b"{ }", LW) == b'{"AIGC":' + RECORD.to_json().encode() + b" }"
    src = b'{"id": 1, "AIGC": {"Label": "1"}, "x": [1, 2], "AIGC": "dup"}'
    out = JS.write_label(src, LabelWrite(OTHER.to_json()))
    assert out == b'{"id": 1, "AIGC": ' + OTHER.to_json().encode() + b', "x": [1, 2]}'


def test_json_string_valued_record_is_read() -> None:
    src = json.dumps({"AIGC": RECORD.to_json(), "id": 1}).encode()
    meta = JS.read(src)
    assert records(JS, src) == [RECORD]
    assert any("JSON string" in w for w in meta.warnings)


def test_json_digest_is_formatting_independent() -> None:
    a = fx.json_compact()
    b = fx.json_pretty()
    assert JS.content_digest(a) == JS.content_digest(b) == JS.content_digest(JS.write_label(b, LW))
    assert JS.content_digest(a.replace(b"42.", b"43.")) != JS.content_digest(a)


def test_json_bad_documents_raise_typed_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    for bad in (b"[1, 2]", b'{"a": NaN}', b'{"a": 1', b'{"a": "\xff"}', b""):
        with pytest.raises(MalformedInput):
            JS.read(bad)
    with pytest.raises(LimitExceeded):
        JS.read(b'{"a":' + b"[" * 100_000 + b"]" * 100_000 + b"}")
    monkeypatch.setattr(jsondoc, "MAX_JSON_BYTES", 10)
    with pytest.raises(LimitExceeded):
        JS.read(fx.json_compact())


def test_json_sniff() -> None:
    assert JS.sniff(b'  {"id": 1}')
    assert not JS.sniff(b"[1]") and not JS.sniff(b"{oops}") and not JS.sniff(b'{"a": }')
    long_head = (b'{"data": "' + b"x" * 70_000)[: JS.sniff_bytes]
    assert JS.sniff(long_head)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=10,
)


@settings(max_examples=80, deadline=None)
@given(
    doc=st.dictionaries(st.text(max_size=8).filter(lambda k: k != "AIGC"), json_values, max_size=5),
    indent=st.sampled_from([None, 1, 2, 4, "\t"]),
)
def test_json_insertion_keeps_every_other_member(doc: dict[str, object], indent: object) -> None:
    src = json.dumps(doc, indent=indent, ensure_ascii=False).encode()  # type: ignore[arg-type]
    out = JS.write_label(src, LW)
    parsed = json.loads(out)
    assert parsed.pop("AIGC") == RECORD.to_dict()
    assert parsed == doc and list(parsed) == list(doc)
    assert JS.write_label(out, LW) == out
    assert JS.content_digest(out) == JS.content_digest(src)


# -- plain text ------------------------------------------------------------------------------


def test_plain_text_refuses_to_write_with_guidance() -> None:
    with pytest.raises(UnsupportedFormat, match=r"no metadata slot.*Markdown.*sidecar"):
        TX.write_label(fx.plain_text(), LW)


def test_plain_text_is_the_catch_all() -> None:
    assert TX.sniff(fx.plain_text()) and TX.sniff("中文".encode()[:-1])  # cut multibyte
    assert not TX.sniff(b"\x00\x01binary") and not TX.sniff(b"\xff\xfe")
    assert registry.sniff(fx.plain_text(), name="a.txt").id == "text"
    assert registry.sniff(fx.plain_text(), name="a").id == "text"
    # Content first; among matching handlers the extension breaks the tie (registry rule).
    assert registry.sniff(fx.json_compact(), name="a").id == "json"
    assert registry.sniff(fx.html_with_head(), name="page").id == "html"
    assert registry.sniff(fx.json_compact(), name="a.txt").id == "text"


@pytest.mark.parametrize("make", [fx.plain_text, fx.plain_text_crlf, lambda: b"", lambda: b"x"])
def test_plain_text_label_line_opt_in_is_exactly_removable(make: object) -> None:
    src = make()  # type: ignore[operator]
    h = text.PlainTextHandler(label_line=True)
    out = h.write_label(src, LW)
    wrapped = RECORD.to_json(wrapped=True).encode()
    assert wrapped in out and out.startswith(src)
    assert records(h, out) == [RECORD]
    assert h.write_label(out, LW) == out
    assert [
        parse_record(c.data).record
        for c in h.read(h.write_label(out, LabelWrite(OTHER.to_json()))).carriers
    ] == [OTHER]
    found = text.find_label_line(out)
    assert found is not None and out[: found[0]] + out[found[1] :] == src
    assert h.content_digest(out) == h.content_digest(src) == TX.content_digest(src)
    if b"\r\n" in src:
        assert out.endswith(wrapped + b"\r\n")


def test_plain_text_reads_a_first_line_record_with_a_warning() -> None:
    src = RECORD.to_json(wrapped=True).encode() + b"\nbody\n"
    meta = TX.read(src)
    assert [parse_record(c.data).record for c in meta.carriers] == [RECORD]
    assert any("no normative metadata carrier" in w for w in meta.warnings)
    assert TX.read(b'{"AIGC": 1}\nbody').carriers == []


@pytest.mark.parametrize("h", [MD, HT, JS, TX])
def test_garbage_raises_only_typed_errors(h: object) -> None:
    samples = [b"\x00" * 10, b"\xff\xfe\x00", b"---\n" + b"\xff" * 10, b"<html>\xff<head", b"{"]
    for data in samples:
        for op in ("read", "content_digest"):
            with contextlib.suppress(SynthlabelError):
                getattr(h, op)(data)
