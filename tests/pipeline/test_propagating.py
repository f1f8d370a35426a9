"""Propagation (LM Art. 6): the platform's fields in every container, the producer's label and
signature still valid; new records from the verdict; invalid records refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from synthlabel.errors import RecordError
from synthlabel.formats import _xmp, registry
from synthlabel.formats.base import LabelWrite
from synthlabel.label import implicit
from synthlabel.model import signing
from synthlabel.model.aigc import AIGCRecord, parse_record
from synthlabel.model.findings import Finding, Strength, Verdict
from synthlabel.model.keys import KeyStore
from synthlabel.model.results import BindingStatus, SignatureCheck, SignatureStatus
from synthlabel.pipeline import propagating as pg
from synthlabel.pipeline.inspecting import InspectOptions, inspect_file
from synthlabel.pipeline.labeling import LabelOptions, label_bytes, load_signer
from tests.fixtures import Sample, all_samples
from tests.fixtures import images as fx

PRODUCER = "001191110000MA0000000H10001"
PLATFORM = "001191440300MA0000001L20000"  # service type 2: dissemination

# One sample per format id, plus variants whose layout differs in a way that matters.
_EXTRA = {"avif", "webp-animated", "mov", "mp4-fragmented", "webm", "ogg-opus", "wav-rf64"}


def _samples() -> list[Sample]:
    seen: set[str] = set()
    out = []
    for s in all_samples():
        if s.format_id not in seen or s.name in _EXTRA:
            seen.add(s.format_id)
            out.append(s)
    return out


SAMPLES = _samples()


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    h = tmp_path_factory.mktemp("home")
    ks = KeyStore(h)
    ks.generate("ed25519", name="producer")
    ks.generate("ed25519", name="platform")
    return h


def _opts(home: Path, **kw: object) -> pg.PropagateOptions:
    return pg.PropagateOptions(platform=PLATFORM, key_home=str(home), **kw)  # type: ignore[arg-type]


def _labelled(data: bytes, home: Path, name: str) -> bytes:
    opts = LabelOptions(producer=PRODUCER, visible=False, sign_key="producer", key_home=str(home))
    out, res = label_bytes(data, opts, path=name)
    assert res.ok and res.signed
    return out


def _sigs(path: Path, home: Path) -> tuple[AIGCRecord, SignatureCheck, SignatureCheck]:
    rep = inspect_file(path, InspectOptions(key_home=str(home), c2pa=False))
    assert not rep.error, rep.error
    rr = [r for r in rep.records if r.record is not None]
    assert len(rr) == 1, rep.records
    assert rr[0].record is not None
    assert rr[0].producer_signature is not None
    prop = rr[0].propagator_signature or SignatureCheck("propagator", SignatureStatus.UNSIGNED)
    return rr[0].record, rr[0].producer_signature, prop


def _intact(check: SignatureCheck) -> bool:
    return check.status is SignatureStatus.VALID and check.binding is BindingStatus.INTACT


# ------------------------------------------------------------------------ every container
@pytest.mark.parametrize("sample", SAMPLES, ids=[s.name for s in SAMPLES])
def test_every_container_keeps_the_producer_signature(
    sample: Sample, home: Path, tmp_path: Path
) -> None:
    src = tmp_path / f"in.{sample.ext}"
    src.write_bytes(_labelled(sample.make(), home, src.name))
    before = src.read_bytes()
    produced, prod0, _ = _sigs(src, home)
    assert _intact(prod0)
    dest = tmp_path / f"out.{sample.ext}"
    res = pg.propagate_file(src, dest, _opts(home, sign_key="platform", propagate_id="vid-42"))
    assert res.status == pg.PROPAGATED, res.error
    assert src.read_bytes() == before  # the original is untouched
    rec, prod, prop = _sigs(dest, home)
    # Producer half byte for byte, platform half filled, both signatures valid and bound.
    assert (rec.label, rec.content_producer, rec.produce_id, rec.reserved_code1) == (
        produced.label,
        produced.content_producer,
        produced.produce_id,
        produced.reserved_code1,
    )
    assert (rec.content_propagator, rec.propagate_id) == (PLATFORM, "vid-42")
    assert _intact(prod), prod.reason
    assert _intact(prop), prop.reason
    assert prop.key_id == load_signer("platform", str(home)).key_id
    assert (res.producer_signature, res.propagator_signature) == ("valid", "valid")
    # The content is unchanged (decoded pixels, packets, text, pages).
    assert sample.fingerprint(dest.read_bytes()) == sample.fingerprint(before)
    # An independent reader (exiftool, ffprobe, pdfinfo, unzip ...) sees the same record.
    values = sample.independent_aigc(dest)
    if values is not None:
        assert [parse_record(v).record for v in values] == [rec]


# ------------------------------------------------------------------------ no record yet
def _dst_packet(term: str) -> bytes:
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        f'<rdf:Description rdf:about="" xmlns:Iptc4xmpExt="{_xmp.IPTC_EXT_NS}">'
        "<Iptc4xmpExt:DigitalSourceType>http://cv.iptc.org/newscodes/digitalsourcetype/"
        f"{term}</Iptc4xmpExt:DigitalSourceType></rdf:Description></rdf:RDF></x:xmpmeta>"
        '<?xpacket end="w"?>'
    ).encode()


@pytest.fixture()
def plain(tmp_path: Path) -> Path:
    p = tmp_path / "plain.png"
    p.write_bytes(fx.png())
    return p


def test_no_trace_leaves_the_file_alone(plain: Path, home: Path, tmp_path: Path) -> None:
    dest = tmp_path / "out.png"
    res = pg.propagate_file(plain, dest, _opts(home, watermarks=False))
    assert (res.status, res.verdict, res.record) == (pg.NO_TRACE, "no_trace", None)
    assert not dest.exists() and res.ok and not res.written


@pytest.mark.parametrize(("kw", "label"), [({"declared": True}, "2"), ({"force_label": "3"}, "3")])
def test_new_record_from_the_declaration_or_forced(
    plain: Path, home: Path, tmp_path: Path, kw: dict[str, object], label: str
) -> None:
    dest = tmp_path / "out.png"
    res = pg.propagate_file(plain, dest, _opts(home, sign_key="platform", watermarks=False, **kw))
    assert res.status == pg.LABELLED and res.label == label
    rec, prod, prop = _sigs(dest, home)
    assert rec == res.record
    assert (rec.label, rec.content_producer, rec.produce_id, rec.reserved_code1) == (
        label,
        "",
        "",
        "",
    )
    assert rec.content_propagator == PLATFORM and len(rec.propagate_id) == 26  # a ULID
    assert prod.status is SignatureStatus.UNSIGNED and _intact(prop)
    rep = inspect_file(dest, InspectOptions(key_home=str(home), c2pa=False))
    assert rep.compliance.value == "compliant", rep.records[0].errors


def test_suspected_trace_gives_label_3_and_possible_gives_2(home: Path, tmp_path: Path) -> None:
    jpeg = registry.get("jpeg")
    for term, verdict, label in (
        ("algorithmicMedia", "suspected", "3"),
        ("trainedAlgorithmicMedia", "possible", "2"),
    ):
        src = tmp_path / f"{term}.jpg"
        src.write_bytes(jpeg.write_xmp(fx.jpeg(), _dst_packet(term)))  # type: ignore[attr-defined]
        dest = tmp_path / f"{term}-out.jpg"
        res = pg.propagate_file(src, dest, _opts(home, watermarks=False))
        assert (res.status, res.verdict, res.label) == (pg.LABELLED, verdict, label)
        assert res.evidence and res.evidence[0].startswith("iptc.dst.")
        rec, _, _ = _sigs(dest, home)
        assert rec.label == label
        # The producer's IPTC claim stays in the merged packet.
        assert term.encode() in dest.read_bytes()


def test_confirmed_without_a_named_producer(home: Path, tmp_path: Path) -> None:
    policy = tmp_path / "p.toml"
    policy.write_text(
        'id = "t"\nversion = 1\n[[rules]]\nname = "x"\nverdict = "confirmed"\n'
        'when = ["iptc.dst.trained"]\nwhy = "test"\n'
    )
    src = tmp_path / "c.jpg"
    src.write_bytes(
        registry.get("jpeg").write_xmp(fx.jpeg(), _dst_packet("trainedAlgorithmicMedia"))  # type: ignore[attr-defined]
    )
    res = pg.propagate_file(
        src, tmp_path / "o.jpg", _opts(home, policy=str(policy), watermarks=False)
    )
    assert (res.status, res.verdict, res.label) == (pg.LABELLED, "confirmed", "1")
    assert res.record is not None and res.record.content_producer == "unknown"
    assert any("names no producer" in w for w in res.warnings)


def test_producer_from_evidence() -> None:
    f = Finding(
        "registry",
        "registry.match.pdq",
        "match",
        Strength.CONCLUSIVE,
        details={"record": {"ContentProducer": PRODUCER, "ProduceID": "01ABC"}},
    )
    bad = Finding("x", "x.y", "s", Strength.WEAK, details={"content_producer": "has space"})
    assert pg.producer_from_evidence([bad, f]) == (PRODUCER, "01ABC")
    g = Finding("x", "x", "s", Strength.WEAK, details={"content_producer": "doubao"})
    assert pg.producer_from_evidence([g]) == ("doubao", "")
    assert pg.producer_from_evidence([]) == ("", "")
    own = Finding(
        "aigc",
        "aigc.record.tampered",
        "s",
        Strength.STRONG,
        details={"record": {"ContentProducer": PRODUCER}},
    )
    assert pg.producer_from_evidence([own]) == ("", "")
    assert pg._label_for(Verdict.SUSPECTED, "2") == "2"  # the stronger one wins
    assert pg._label_for(Verdict.CONFIRMED, "3") == "1"
    assert pg._label_for(Verdict.NO_TRACE, None) == ""


# ------------------------------------------------------------------------ invalid records
@pytest.fixture()
def moved(home: Path, tmp_path: Path) -> Path:
    """A signed record copied onto other pixels: its content binding is broken."""
    signed = _labelled(fx.jpeg(), home, "a.jpg")
    rec = implicit.existing_records(registry.get("jpeg").read(signed))[0]
    other = fx._save(fx.picture(seed=5), "JPEG", quality=85)
    p = tmp_path / "moved.jpg"
    p.write_bytes(registry.get("jpeg").write_label(other, LabelWrite(rec.to_json())))
    return p


def test_tampered_record_is_refused_or_replaced(moved: Path, home: Path, tmp_path: Path) -> None:
    before = moved.read_bytes()
    dest = tmp_path / "out.jpg"
    res = pg.propagate_file(moved, dest, _opts(home))
    assert res.status == pg.REFUSED and not res.ok
    assert "bound to other content" in res.error and "--replace-invalid" in res.error
    assert not dest.exists() and moved.read_bytes() == before
    res = pg.propagate_file(
        moved, dest, _opts(home, replace_invalid=True, sign_key="platform", watermarks=False)
    )
    assert res.status == pg.REPLACED and res.verdict == "possible", res.error
    rec, prod, prop = _sigs(dest, home)
    assert (rec.label, rec.content_producer, rec.reserved_code1) == ("2", "", "")
    assert prod.status is SignatureStatus.UNSIGNED and _intact(prop)
    assert res.previous is not None and res.previous.content_producer == PRODUCER


def test_records_that_disagree_are_invalid(home: Path, tmp_path: Path) -> None:
    rep = inspect_file(_two_records(tmp_path), InspectOptions(c2pa=False))
    assert any("disagree" in r for r in pg.invalid_reasons(rep))


def _two_records(tmp_path: Path) -> Path:
    a = AIGCRecord(content_producer=PRODUCER, produce_id="A1").to_json()
    b = AIGCRecord(content_producer=PRODUCER, produce_id="B2").to_json()
    png = registry.get("png").write_label(fx.png(), LabelWrite(a))
    # A second, different copy in a tEXt AIGC chunk before IEND.
    import struct
    import zlib

    body = b"AIGC\x00" + b.encode()
    chunk = struct.pack(">I", len(body)) + b"tEXt" + body
    chunk += struct.pack(">I", zlib.crc32(b"tEXt" + body) & 0xFFFFFFFF)
    p = tmp_path / "two.png"
    p.write_bytes(png[:-12] + chunk + png[-12:])
    return p


# ------------------------------------------------------------------------ notices
def test_notice_drawn_when_no_binding_and_skipped_when_bound(home: Path, tmp_path: Path) -> None:
    # Producer signed over the fields only (no content binding): the notice may change pixels.
    signer = load_signer("producer", str(home))
    rec = signing.sign_record(AIGCRecord(content_producer=PRODUCER, produce_id="P1"), signer)
    md_only = tmp_path / "md.png"
    md_only.write_bytes(registry.get("png").write_label(fx.png(), LabelWrite(rec.to_json())))
    dest = tmp_path / "md-out.png"
    res = pg.propagate_file(md_only, dest, _opts(home, notice=True, sign_key="platform"))
    assert res.status == pg.PROPAGATED and res.notice and res.notice_text == "AI生成"
    assert fx.fingerprint("png", dest.read_bytes()) != fx.fingerprint("png", fx.png())
    out, prod, prop = _sigs(dest, home)
    assert out.reserved_code1 == rec.reserved_code1
    assert prod.status is SignatureStatus.VALID and prod.binding is BindingStatus.ABSENT
    assert _intact(prop)
    # Content-bound producer signature: no notice, a warning, everything still valid.
    bound = tmp_path / "bound.png"
    bound.write_bytes(_labelled(fx.png(), home, "b.png"))
    res = pg.propagate_file(bound, tmp_path / "b-out.png", _opts(home, notice=True))
    assert res.status == pg.PROPAGATED and not res.notice
    assert any("bound to" in w for w in res.warnings)
    _, prod, _ = _sigs(tmp_path / "b-out.png", home)
    assert _intact(prod)


def test_custom_notice_text_for_suspected(plain: Path, home: Path, tmp_path: Path) -> None:
    opts = _opts(
        home, force_label="3", notice=True, notice_texts=(("3", "疑似由AI合成"),), watermarks=False
    )
    res = pg.propagate_file(plain, tmp_path / "o.png", opts)
    assert res.status == pg.LABELLED and res.notice_text == "疑似由AI合成"


# ------------------------------------------------------------------------ safety
def test_verify_after_write_refuses_a_wrong_output(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "in.jpg"
    src.write_bytes(_labelled(fx.jpeg(), home, "in.jpg"))
    real = implicit.write_record

    def lossy(data: bytes, handler: object, record: AIGCRecord, **kw: object) -> bytes:
        return real(data, handler, record.replace(produce_id="OTHER"), **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(implicit, "write_record", lossy)
    dest = tmp_path / "out.jpg"
    res = pg.propagate_file(src, dest, _opts(home))
    assert res.status == pg.FAILED and "verify-after-write" in res.error
    assert not dest.exists()


def test_existing_propagation_is_replaced_with_a_note(home: Path, tmp_path: Path) -> None:
    src = tmp_path / "in.png"
    src.write_bytes(_labelled(fx.png(), home, "in.png"))
    mid = tmp_path / "mid.png"
    assert pg.propagate_file(src, mid, _opts(home, sign_key="platform")).ok
    res = pg.propagate_file(mid, tmp_path / "end.png", _opts(home, propagate_id="second"))
    assert res.status == pg.PROPAGATED
    assert any("already propagated" in w for w in res.warnings)
    rec, prod, prop = _sigs(tmp_path / "end.png", home)
    assert rec.propagate_id == "second" and rec.reserved_code2 == ""
    assert _intact(prod) and prop.status is SignatureStatus.UNSIGNED


def test_options_and_many(home: Path, tmp_path: Path) -> None:
    with pytest.raises(RecordError):
        pg.check_options(pg.PropagateOptions(platform="not a code"))
    with pytest.raises(RecordError):
        pg.check_options(pg.PropagateOptions(platform=PLATFORM, force_label="1"))
    with pytest.raises(RecordError):
        pg.check_options(pg.PropagateOptions(platform=PLATFORM, propagate_id="has space"))
    warns = pg.check_options(pg.PropagateOptions(platform=PRODUCER))
    assert any("propagator" in w for w in warns)  # a generation-service code used as platform
    files = []
    for i in range(2):
        p = tmp_path / f"{i}.png"
        p.write_bytes(fx.png())
        files.append((p, p))
    with pytest.raises(RecordError, match="single file"):
        pg.propagate_many(files, _opts(home, propagate_id="x"))
    res = pg.propagate_many(files, _opts(home, force_label="3", watermarks=False))
    assert [r.status for r in res] == [pg.LABELLED, pg.LABELLED]
    ids = {r.record.propagate_id for r in res if r.record}
    assert len(ids) == 2  # a fresh PropagateID per file
    doc = json.loads(json.dumps([r.to_dict() for r in res]))
    assert doc[0]["record"]["Label"] == "3" and doc[0]["status"] == "labelled"


# ------------------------------------------------------------------------ implicit helpers
def test_implicit_propagation_helpers() -> None:
    assert implicit.check_propagator(PLATFORM) == []
    with pytest.raises(RecordError, match="--allow-name"):
        implicit.check_propagator("myplatform")
    assert implicit.check_propagator("myplatform", allow_name=True)
    with pytest.raises(RecordError):
        implicit.check_propagator("")
    rec = AIGCRecord(
        content_producer=PRODUCER, produce_id="P", reserved_code1="sig", reserved_code2="old"
    )
    out = implicit.propagated_record(rec, PLATFORM, "V1")
    assert out == rec.replace(content_propagator=PLATFORM, propagate_id="V1", reserved_code2="")
    with pytest.raises(RecordError):
        implicit.propagated_record(rec, PLATFORM, "")
    new = implicit.platform_record("3", PLATFORM, "V2")
    assert new.to_dict()["Label"] == "3" and new.content_producer == ""
    with pytest.raises(RecordError):
        implicit.platform_record("4", PLATFORM, "V2")
    with pytest.raises(RecordError):
        implicit.platform_record("1", PLATFORM, "V2")  # Label 1 needs the producer fields
    with pytest.raises(RecordError):
        implicit.platform_record("2", PLATFORM, "V2", producer="a b")
