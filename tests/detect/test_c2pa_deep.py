"""C2PA deep read: every manifest and ingredient, trust states, and the detector's findings.

Real files signed with c2pa-python's Builder and a throw-away PKI (tests/helpers/c2pa_ca.py);
trust anchors are passed as PEM, nothing is downloaded. The expired case uses a signer
certificate that lapses one second after signing.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import struct
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from synthlabel.detect.base import Asset, DetectOptions
from synthlabel.detect.c2pa import DETECTOR
from synthlabel.formats import registry
from synthlabel.formats._c2pa import c2pa_settings
from synthlabel.inspect.c2pa import (
    MAX_DEPTH,
    MAX_MANIFESTS,
    manifest_trust,
    read_c2pa,
    read_c2pa_file,
    summarize_store,
    walk_manifests,
)
from synthlabel.inspect.reader import inspect_bytes
from synthlabel.model.findings import Finding, Strength, Verdict
from synthlabel.model.policy import load_policy
from synthlabel.model.results import C2paSummary, InspectionReport
from tests.fixtures import audio, documents, images, video
from tests.helpers import c2pa_ca
from tests.helpers.c2pa_ca import PkiBundle, make_pki

c2pa = pytest.importorskip("c2pa")

DST = "http://cv.iptc.org/newscodes/digitalsourcetype/"
TRAINED = DST + "trainedAlgorithmicMedia"
COMPOSITE = DST + "compositeWithTrainedAlgorithmicMedia"
CAPTURE = DST + "digitalCapture"
CREATED_AI = [{"action": "c2pa.created", "digitalSourceType": TRAINED}]


# -- signing helpers ------------------------------------------------------------------------


def sign(
    data: bytes,
    mime: str,
    pki: PkiBundle,
    actions: list[dict[str, Any]],
    *,
    ingredients: Sequence[tuple[bytes, str, str, str]] = (),
    extra: Sequence[dict[str, Any]] = (),
) -> bytes:
    """Sign ``data`` with a manifest holding ``actions`` (+ ``extra`` assertions);
    ``ingredients``: (bytes, mime, relationship, instance_id)."""
    definition = {
        "claim_generator_info": [{"name": "synthlabel-test", "version": "1"}],
        "title": "test asset",
        "assertions": [{"label": "c2pa.actions.v2", "data": {"actions": actions}}, *extra],
    }
    info = c2pa.C2paSignerInfo(pki.alg.encode(), pki.chain_pem, pki.signer_key_pem, None)
    signer = c2pa.Signer.from_info(info)
    ctx = c2pa.Context.from_dict(c2pa_settings())
    try:
        builder = c2pa.Builder(definition, context=ctx)
        for blob, imime, rel, iid in ingredients:
            builder.add_ingredient(
                {"title": f"{iid}.jpg", "relationship": rel, "instance_id": iid},
                imime,
                io.BytesIO(blob),
            )
        out = io.BytesIO()
        builder.sign(signer, mime, io.BytesIO(data), out)
    finally:
        signer.close()
        ctx.close()
    return out.getvalue()


def edit_of(parent: bytes, pki: PkiBundle, *, dst: str | None = None) -> bytes:
    """An edit (by ``pki``) whose parent ingredient is ``parent``; ``dst`` on the edit."""
    edited: dict[str, Any] = {"action": "c2pa.edited"}
    if dst:
        edited["digitalSourceType"] = dst
    actions = [{"action": "c2pa.opened", "parameters": {"ingredientIds": ["parent"]}}, edited]
    return sign(
        images.jpeg(),
        "image/jpeg",
        pki,
        actions,
        ingredients=[(parent, "image/jpeg", "parentOf", "parent")],
    )


def short_lived_pki(seconds: int) -> PkiBundle:
    """Root -> intermediate -> signer whose certificate lapses ``seconds`` from now."""
    now = dt.datetime.now(dt.UTC)
    root_key = ec.generate_private_key(ec.SECP256R1())
    root_name = c2pa_ca._name("short-lived root")
    root = c2pa_ca._ca_cert(root_name, root_key, root_name, root_key, path_len=1, now=now)
    inter_key = ec.generate_private_key(ec.SECP256R1())
    inter_name = c2pa_ca._name("short-lived intermediate")
    inter = c2pa_ca._ca_cert(inter_name, inter_key, root_name, root_key, path_len=0, now=now)
    ee_key = ec.generate_private_key(ec.SECP256R1())
    usage = x509.KeyUsage(True, False, False, False, False, False, False, False, False)
    ekus = [ExtendedKeyUsageOID.EMAIL_PROTECTION, c2pa_ca.DOCUMENT_SIGNING]
    ee = (
        x509.CertificateBuilder()
        .subject_name(c2pa_ca._name("short-lived signer"))
        .issuer_name(inter_name)
        .public_key(ee_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(seconds=seconds))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ee_key.public_key()), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(inter_key.public_key()),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage(ekus), critical=False)
        .sign(inter_key, hashes.SHA256())
    )
    return PkiBundle(
        root_pem=c2pa_ca._cert_pem(root),
        intermediate_pem=c2pa_ca._cert_pem(inter),
        signer_cert_pem=c2pa_ca._cert_pem(ee),
        signer_key_pem=c2pa_ca._key_pem(ee_key),
        signer_cn="short-lived signer",
        alg="es256",
    )


def tamper(data: bytes) -> bytes:
    """Flip one byte of the JPEG entropy-coded data (outside the manifest store)."""
    b = bytearray(data)
    b[-20] ^= 0x55
    return bytes(b)


def findings(
    data: bytes, anchors: bytes | None = None, *, extra: dict[str, Any] | None = None
) -> tuple[list[Finding], InspectionReport]:
    report = inspect_bytes(data, trust_anchors_pem=anchors)
    assert not report.error, report.error
    asset = Asset("<bytes>", registry.get(report.format), report, data)
    return DETECTOR.detect(asset, DetectOptions(extra=extra or {})), report


def one(found: list[Finding]) -> Finding:
    assert len(found) == 1, [f.code for f in found]
    return found[0]


# -- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def producer() -> PkiBundle:
    return make_pki(signer_cn="AI producer")


@pytest.fixture(scope="module")
def editor() -> PkiBundle:
    return make_pki(signer_cn="photo editor")


@pytest.fixture(scope="module")
def ai_jpeg(producer: PkiBundle) -> bytes:
    return sign(images.jpeg(), "image/jpeg", producer, CREATED_AI)


@pytest.fixture(scope="module")
def expired_jpeg() -> tuple[bytes, PkiBundle]:
    pki = short_lived_pki(1)
    signed = sign(images.jpeg(), "image/jpeg", pki, CREATED_AI)
    time.sleep(2.2)
    return signed, pki


# -- the active manifest's claim ------------------------------------------------------------


def test_trusted_claim_is_conclusive(ai_jpeg: bytes, producer: PkiBundle) -> None:
    f = one(findings(ai_jpeg, producer.root_pem)[0])
    assert f.code == "c2pa.ai_claim.trusted"
    assert f.strength is Strength.CONCLUSIVE
    assert "AI producer" in f.summary and "c2pa.created: trainedAlgorithmicMedia" in f.summary
    assert f.details["trust_list"] is True


@pytest.mark.parametrize("anchors", ["none", "other"])
def test_untrusted_claim_is_strong(ai_jpeg: bytes, editor: PkiBundle, anchors: str) -> None:
    pem = editor.root_pem if anchors == "other" else None
    found, report = findings(ai_jpeg, pem)
    f = one(found)
    assert f.code == "c2pa.ai_claim.untrusted"
    assert f.strength is Strength.STRONG
    assert report.c2pa is not None and report.c2pa.trust == "untrusted"
    assert ("no trust list given" in f.summary) is (pem is None)


def test_tampered_claim_is_invalid_even_with_trusted_signer(
    ai_jpeg: bytes, producer: PkiBundle
) -> None:
    found, report = findings(tamper(ai_jpeg), producer.root_pem)
    f = one(found)
    assert f.code == "c2pa.ai_claim.invalid"
    assert f.strength is Strength.MODERATE
    assert "assertion.dataHash.mismatch" in f.details["failures"]
    assert report.c2pa is not None and report.c2pa.trust == "invalid"


def test_expired_certificate_is_never_trusted(expired_jpeg: tuple[bytes, PkiBundle]) -> None:
    data, pki = expired_jpeg
    for anchors in (pki.root_pem, None):
        found, report = findings(data, anchors)
        f = one(found)
        assert f.code == "c2pa.ai_claim.expired", (anchors is None, f.details)
        assert f.strength is Strength.MODERATE
        assert "expired" in f.summary
        assert "signingCredential.expired" in f.details["failures"]
        assert report.c2pa is not None and report.c2pa.trust == "expired"


def test_non_ai_manifest_gives_no_finding_but_is_listed(producer: PkiBundle) -> None:
    photo = sign(
        images.jpeg(),
        "image/jpeg",
        producer,
        [{"action": "c2pa.created", "digitalSourceType": CAPTURE}],
    )
    found, report = findings(photo, producer.root_pem)
    assert found == []
    assert report.c2pa is not None and report.c2pa.present
    assert len(report.c2pa.manifests) == 1
    m = report.c2pa.manifests[0]
    assert (m.trust, m.ai_claim, m.actions) == ("trusted", False, ["c2pa.created"])
    assert m.digital_source_types == [CAPTURE]


def test_algorithmic_media_is_not_an_ai_claim(producer: PkiBundle) -> None:
    data = sign(
        images.jpeg(),
        "image/jpeg",
        producer,
        [{"action": "c2pa.created", "digitalSourceType": DST + "algorithmicMedia"}],
    )
    assert findings(data, producer.root_pem)[0] == []


def test_placed_ai_component_on_the_active_manifest(ai_jpeg: bytes, editor: PkiBundle) -> None:
    actions: list[dict[str, Any]] = [
        {"action": "c2pa.created", "digitalSourceType": CAPTURE},
        {
            "action": "c2pa.placed",
            "digitalSourceType": COMPOSITE,
            "parameters": {"ingredientIds": ["sticker"]},
        },
    ]
    data = sign(
        images.jpeg(),
        "image/jpeg",
        editor,
        actions,
        ingredients=[(ai_jpeg, "image/jpeg", "componentOf", "sticker")],
    )
    f = one(findings(data, editor.root_pem)[0])
    assert f.code == "c2pa.ai_claim.trusted"
    assert "c2pa.placed: compositeWithTrainedAlgorithmicMedia" in f.details["ai_actions"]


def test_dst_in_a_metadata_assertion(producer: PkiBundle) -> None:
    meta = {
        "label": "c2pa.metadata",
        "data": {
            "@context": {"Iptc4xmpExt": "http://iptc.org/std/Iptc4xmpExt/2008-02-29/"},
            "Iptc4xmpExt:DigitalSourceType": TRAINED,
        },
    }
    data = sign(
        images.jpeg(),
        "image/jpeg",
        producer,
        [{"action": "c2pa.created", "digitalSourceType": CAPTURE}],
        extra=[meta],
    )
    f = one(findings(data, producer.root_pem)[0])
    assert f.code == "c2pa.ai_claim.trusted"
    assert TRAINED in f.details["digital_source_types"]
    assert f.details["ai_actions"] == []


# -- ingredients ----------------------------------------------------------------------------


def test_claim_only_in_ingredient_takes_its_standing(
    ai_jpeg: bytes, producer: PkiBundle, editor: PkiBundle
) -> None:
    edited = edit_of(ai_jpeg, editor)
    cases = [
        (producer.root_pem, "trusted", Strength.CONCLUSIVE, "untrusted"),
        (producer.root_pem + editor.root_pem, "trusted", Strength.CONCLUSIVE, "trusted"),
        (editor.root_pem, "untrusted", Strength.STRONG, "trusted"),
        (None, "untrusted", Strength.STRONG, "untrusted"),
    ]
    for anchors, ing_trust, strength, active_trust in cases:
        found, report = findings(edited, anchors)
        f = one(found)
        assert f.code == "c2pa.ai_claim.ingredient"
        assert (f.details["ingredient_trust"], f.strength) == (ing_trust, strength)
        assert f.details["active_trust"] == active_trust
        assert f.details["ingredient_title"] == "parent.jpg" and "'parent.jpg'" in f.summary
        assert f.details["depth"] == 1 and f.details["relationship"] == "parentOf"
        assert report.c2pa is not None
        roles = [(m.role, m.ai_claim) for m in report.c2pa.manifests]
        assert roles == [("active", False), ("ingredient", True)]


def test_tampered_ingredient_is_invalid(
    ai_jpeg: bytes, producer: PkiBundle, editor: PkiBundle
) -> None:
    edited = edit_of(tamper(ai_jpeg), editor)
    f = one(findings(edited, producer.root_pem + editor.root_pem)[0])
    assert f.code == "c2pa.ai_claim.ingredient"
    assert f.details["ingredient_trust"] == "invalid"
    assert f.strength is Strength.MODERATE
    assert "assertion.dataHash.mismatch" in f.details["failures"]
    assert f.details["active_trust"] == "trusted"


def test_expired_ingredient(expired_jpeg: tuple[bytes, PkiBundle], editor: PkiBundle) -> None:
    data, pki = expired_jpeg
    edited = edit_of(data, editor)
    f = one(findings(edited, pki.root_pem + editor.root_pem)[0])
    assert f.code == "c2pa.ai_claim.ingredient"
    assert f.details["ingredient_trust"] == "expired"
    assert f.strength is Strength.MODERATE


def test_invalid_active_caps_a_trusted_ingredient(
    ai_jpeg: bytes, producer: PkiBundle, editor: PkiBundle
) -> None:
    edited = tamper(edit_of(ai_jpeg, editor))
    f = one(findings(edited, producer.root_pem + editor.root_pem)[0])
    assert f.code == "c2pa.ai_claim.ingredient"
    assert f.details["ingredient_trust"] == "trusted"
    assert f.details["active_trust"] == "invalid"
    assert f.strength is Strength.MODERATE
    assert "link is unproven" in f.summary


def test_nested_ingredient_two_levels_down(
    ai_jpeg: bytes, producer: PkiBundle, editor: PkiBundle
) -> None:
    twice = edit_of(edit_of(ai_jpeg, editor), editor)
    found, report = findings(twice, producer.root_pem + editor.root_pem)
    f = one(found)
    assert f.code == "c2pa.ai_claim.ingredient" and f.details["depth"] == 2
    assert f.details["ingredient_trust"] == "trusted"
    assert report.c2pa is not None
    assert [m.depth for m in report.c2pa.manifests] == [0, 1, 2]


def test_ai_edit_of_ai_image_reports_the_active_claim(
    ai_jpeg: bytes, producer: PkiBundle, editor: PkiBundle
) -> None:
    edited = edit_of(ai_jpeg, editor, dst=COMPOSITE)
    f = one(findings(edited, editor.root_pem)[0])
    assert f.code == "c2pa.ai_claim.trusted"
    assert "c2pa.edited: compositeWithTrainedAlgorithmicMedia" in f.details["ai_actions"]


# -- formats --------------------------------------------------------------------------------


def _mp4() -> bytes:
    if not video.available():
        pytest.skip("ffmpeg not installed")
    return video.make("mp4")


FORMATS: dict[str, tuple[str, Callable[[], bytes]]] = {
    "jpeg": ("image/jpeg", images.jpeg),
    "png": ("image/png", images.png),
    "webp": ("image/webp", images.webp_lossy),
    "mp4": ("video/mp4", _mp4),
    "wav": ("audio/wav", audio.wav_pcm16),
    "pdf": ("application/pdf", documents.pdf),
}


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_formats_trusted_untrusted_invalid(fmt: str, producer: PkiBundle) -> None:
    mime, make = FORMATS[fmt]
    signed = sign(make(), mime, producer, CREATED_AI)
    # WAV and PDF handlers do not expose the store: the detector reads it itself, with the
    # anchors handed through DetectOptions.extra.
    extra = {"c2pa": {"trust_anchors_pem": producer.root_pem}}
    f = one(findings(signed, producer.root_pem, extra=extra)[0])
    assert (f.code, f.strength) == ("c2pa.ai_claim.trusted", Strength.CONCLUSIVE), fmt
    f = one(findings(signed, None)[0])
    assert f.code == "c2pa.ai_claim.untrusted", fmt


def test_large_file_read_in_place(tmp_path: Path, ai_jpeg: bytes, producer: PkiBundle) -> None:
    path = tmp_path / "big.jpg"
    path.write_bytes(ai_jpeg)
    report = InspectionReport(path=str(path), format="jpeg", media_kind="image")
    report.c2pa = C2paSummary(present=True, checked=False)
    asset = Asset(str(path), registry.get("jpeg"), report, None, path)
    extra = {"c2pa": {"trust_anchors_pem": producer.root_pem}}
    f = one(DETECTOR.detect(asset, DetectOptions(extra=extra)))
    assert f.code == "c2pa.ai_claim.trusted"
    assert report.c2pa.checked and report.c2pa.trust == "trusted"
    capped = read_c2pa_file(path, "image/jpeg", max_bytes=100)
    assert not capped.checked and "too large" in capped.error


# -- the verdict ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "verdict"),
    [
        ("c2pa.ai_claim.trusted", Verdict.CONFIRMED),
        ("c2pa.ai_claim.untrusted", Verdict.POSSIBLE),
        ("c2pa.ai_claim.expired", Verdict.POSSIBLE),
        ("c2pa.ai_claim.invalid", Verdict.POSSIBLE),
        ("c2pa.ai_claim.ingredient", Verdict.POSSIBLE),
    ],
)
def test_default_policy(code: str, verdict: Verdict) -> None:
    f = Finding("c2pa", code, "x", Strength.MODERATE)
    assert load_policy(None).decide([f]).verdict is verdict


# -- hostile input --------------------------------------------------------------------------


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def _jumd(label: bytes) -> bytes:
    return _box(
        b"jumd", b"c2pa\x00\x11\x00\x10\x80\x00\x00\xaa\x00\x38\x9b\x71\x03" + label + b"\0"
    )


def _app11(store: bytes) -> bytes:
    """A JPEG with ``store`` in APP11 JUMBF segments (CI 'JP', En 1, Z sequence)."""
    jpeg = images.jpeg()
    segs = b""
    chunk = 60000
    for z, i in enumerate(range(0, max(len(store), 1), chunk), start=1):
        body = b"JP" + struct.pack(">HI", 1, z) + store[i : i + chunk]
        segs += b"\xff\xeb" + struct.pack(">H", len(body) + 2) + body
    return jpeg[:2] + segs + jpeg[2:]


def _hostile_stores(real: bytes) -> dict[str, bytes]:
    start = real.find(b"jumb") - 4
    (size,) = struct.unpack(">I", real[start : start + 4])
    store = real[start : start + size]
    nested = _jumd(b"c2pa")
    for _ in range(5000):
        nested = _box(b"jumb", _jumd(b"c2pa.x") + nested)
    return {
        "truncated": store[: len(store) // 2],
        "wrong_length": struct.pack(">I", 0x7FFFFFF0) + store[4:],
        "zero_lengths": b"".join(_box(b"jumb", b"") for _ in range(1000)),
        "deep_nesting": _box(b"jumb", _jumd(b"c2pa") + nested),
        "garbage": _box(b"jumb", _jumd(b"c2pa") + bytes(range(256)) * 400),
        "flipped": store[:200] + bytes(b ^ 0xFF for b in store[200:400]) + store[400:],
    }


def test_hostile_jumbf_never_raises_and_is_bounded(ai_jpeg: bytes, producer: PkiBundle) -> None:
    start = ai_jpeg.find(b"jumb") - 4
    real = ai_jpeg[start:]
    for name, store in _hostile_stores(real).items():
        data = _app11(store)
        t0 = time.monotonic()
        summary = read_c2pa(data, "image/jpeg", trust_anchors_pem=producer.root_pem)
        elapsed = time.monotonic() - t0
        assert elapsed < 5.0, (name, elapsed)
        assert summary.trust != "trusted", name
        found, _ = findings(data, producer.root_pem)
        assert all(f.code != "c2pa.ai_claim.trusted" for f in found), name


def test_size_cap_keeps_c2pa_out() -> None:
    summary = read_c2pa(_app11(_jumd(b"c2pa")), "image/jpeg", max_bytes=10)
    assert not summary.checked and "too large" in summary.error


def test_walk_is_bounded_on_hostile_json() -> None:
    deep: dict[str, Any] = {}
    for i in range(5000):
        deep[f"m{i}"] = {
            "assertions": [
                {"label": "c2pa.actions.v2", "data": {"actions": [{"action": "c2pa.opened"}]}}
            ],
            "ingredients": [{"title": f"t{i}", "active_manifest": f"m{i + 1}"}],
        }
    deep["m5000"] = {
        "assertions": [{"label": "c2pa.actions", "data": {"actions": CREATED_AI}}],
    }
    store = {"active_manifest": "m0", "manifests": deep, "validation_state": "Trusted"}
    t0 = time.monotonic()
    walked = walk_manifests(store, "Trusted")
    assert len(walked) <= MAX_DEPTH + 1 and walked[-1].depth == MAX_DEPTH
    wide = {
        "active_manifest": "a",
        "manifests": {
            "a": {
                "ingredients": [{"active_manifest": "a"}] * 3
                + [{"active_manifest": f"x{i}"} for i in range(10000)]
            },
        },
    }
    assert len(walk_manifests(wide)) == MAX_MANIFESTS  # the cycle to "a" is listed once
    assert all(m.trust == "missing" for m in walk_manifests(wide)[1:])
    weird = {"active_manifest": "a", "manifests": {"a": {"assertions": "x", "ingredients": 3}}}
    assert summarize_store(weird).manifests[0].actions == []
    assert time.monotonic() - t0 < 5.0
    assert json.dumps(summarize_store(store).to_dict())  # serialisable


def test_trust_never_upgraded() -> None:
    assert manifest_trust([], True) == "trusted"
    assert manifest_trust([], False) == "untrusted"
    assert manifest_trust(["signingCredential.untrusted"], True) == "untrusted"
    assert manifest_trust(["signingCredential.expired"], True) == "expired"
    assert manifest_trust(["signingCredential.expired", "claimSignature.mismatch"], True) == (
        "invalid"
    )
    assert manifest_trust(["some.future.code"], True) == "invalid"


def test_summary_matches_the_json_schema(
    ai_jpeg: bytes, producer: PkiBundle, editor: PkiBundle
) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(
        (Path(__file__).resolve().parents[2] / "docs/schema/inspect-1.schema.json").read_text()
    )
    c2pa_schema = {"$ref": "#/$defs/c2pa", "$defs": schema["$defs"]}
    _, report = findings(edit_of(ai_jpeg, editor), producer.root_pem)
    doc = report.to_dict()["c2pa"]
    assert [m["role"] for m in doc["manifests"]] == ["active", "ingredient"]
    jsonschema.validate(doc, c2pa_schema)


@pytest.mark.parametrize("fmt", ["wav", "pdf", "jpeg"])
def test_trusted_through_the_public_inspect(fmt: str, producer: PkiBundle, tmp_path: Path) -> None:
    """`synthlabel inspect --c2pa-trust` applies the trust list to every container, including
    those whose handler does not expose the store (found by a cheap JUMBF scan)."""
    import synthlabel

    mime, make = FORMATS[fmt]
    path = tmp_path / f"signed.{fmt}"
    path.write_bytes(sign(make(), mime, producer, CREATED_AI))
    anchors = tmp_path / "root.pem"
    anchors.write_bytes(producer.root_pem)
    rep = synthlabel.inspect(path, c2pa_trust_anchors=anchors, watermarks=False)
    assert rep.verdict is Verdict.CONFIRMED, rep.evidence
    assert rep.evidence[0].code == "c2pa.ai_claim.trusted"
    rep = synthlabel.inspect(path, watermarks=False)
    assert rep.verdict is Verdict.POSSIBLE
