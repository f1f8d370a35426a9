"""The public Python API (synthlabel.label / inspect / label_bytes)."""

from __future__ import annotations

from pathlib import Path

import pytest

import synthlabel
from synthlabel import BindingStatus, Compliance, SignatureStatus
from synthlabel.model.keys import KeyStore
from tests.fixtures import images as fx

PRODUCER = "001191110000MA0000000H10001"


def test_label_and_inspect_files(tmp_path: Path) -> None:
    home = tmp_path / "home"
    key = KeyStore(home).generate(name="api")
    src = tmp_path / "in.jpg"
    src.write_bytes(fx.jpeg())
    res = synthlabel.label(src, tmp_path / "out.jpg", producer=PRODUCER, sign="api", key_home=home)
    assert res.ok and res.signed and res.visible and res.record is not None
    assert res.record.content_producer == PRODUCER and len(res.record.produce_id) == 26
    assert src.read_bytes() == fx.jpeg()  # original untouched
    rep = synthlabel.inspect(tmp_path / "out.jpg", key_home=home)
    assert rep.compliance is Compliance.COMPLIANT
    sig = rep.records[0].producer_signature
    assert sig is not None
    assert (sig.status, sig.binding, sig.trusted, sig.key_id) == (
        SignatureStatus.VALID,
        BindingStatus.INTACT,
        True,
        key.key_id,
    )
    assert rep.to_dict()["records"][0]["record"] == res.record.to_dict()


def test_label_bytes_metadata_only_keeps_pixels() -> None:
    data = fx.png()
    out, res = synthlabel.label_bytes(data, producer=PRODUCER, visible=False, produce_id="ID-42")
    assert res.record is not None and res.record.produce_id == "ID-42"
    assert fx.decoded_frames(out) == fx.decoded_frames(data)
    rep = synthlabel.inspect_bytes(out)
    assert rep.record == res.record
    assert rep.records[0].producer_signature is not None
    assert rep.records[0].producer_signature.status is SignatureStatus.UNSIGNED


def test_errors_are_typed_and_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "blob.bin"
    bad.write_bytes(b"\x00\x01\xfe binary, not a supported container")
    with pytest.raises(synthlabel.SynthlabelError, match=r"blob\.bin"):
        synthlabel.label(bad, tmp_path / "o", producer=PRODUCER)
    with pytest.raises(synthlabel.ProviderCodeError) as exc:
        synthlabel.label_bytes(fx.png(), producer=PRODUCER[:21] + "J" + PRODUCER[22:])
    assert exc.value.part
    rep = synthlabel.inspect(tmp_path / "missing.png")
    assert rep.compliance is Compliance.INCONCLUSIVE and "no such file" in rep.error


def test_c2pa_from_the_cli_path(tmp_path: Path) -> None:
    pytest.importorskip("c2pa")
    from tests.helpers.c2pa_ca import make_pki

    files = make_pki().write(tmp_path / "pki")
    src = tmp_path / "in.png"
    src.write_bytes(fx.png())
    res = synthlabel.label(
        src, tmp_path / "out.png", producer=PRODUCER, c2pa=f"{files['chain']},{files['key']}"
    )
    assert res.c2pa
    rep = synthlabel.inspect(tmp_path / "out.png", c2pa_trust_anchors=files["root"])
    assert rep.c2pa is not None and rep.c2pa.present and rep.c2pa.ai_claim
    assert rep.c2pa.validation_state == "Trusted", rep.c2pa
    assert rep.compliance is Compliance.COMPLIANT  # the AIGC record survived C2PA signing


def test_propagate_keeps_the_producer_and_adds_the_platform(tmp_path: Path) -> None:
    home = tmp_path / "home"
    store = KeyStore(home)
    store.generate(name="producer")
    store.generate(name="platform")
    src = tmp_path / "in.jpg"
    src.write_bytes(fx.jpeg())
    produced = synthlabel.label(
        src, tmp_path / "gen.jpg", producer=PRODUCER, sign="producer", key_home=home
    )
    platform = "001191440300MA0000001L20000"
    res = synthlabel.propagate(
        tmp_path / "gen.jpg", tmp_path / "pub.jpg", platform=platform, sign="platform",
        key_home=home, allow_name=True,
    )  # fmt: skip
    assert res.status == "propagated" and res.record is not None
    assert res.record.content_propagator == platform and res.record.propagate_id
    assert produced.record is not None
    assert res.record.produce_id == produced.record.produce_id  # the producer's fields kept
    rep = synthlabel.inspect(tmp_path / "pub.jpg", key_home=home)
    assert rep.records[0].producer_signature is not None
    assert rep.records[0].producer_signature.status is SignatureStatus.VALID
    assert rep.records[0].propagator_signature is not None
    assert rep.records[0].propagator_signature.status is SignatureStatus.VALID
    plain = tmp_path / "plain.png"
    plain.write_bytes(fx.png())
    res = synthlabel.propagate(plain, tmp_path / "p.png", platform=platform, allow_name=True)
    assert res.status == "no-trace" and not (tmp_path / "p.png").exists()
    with pytest.raises(synthlabel.SynthlabelError, match=r"missing\.jpg"):
        synthlabel.propagate(tmp_path / "missing.jpg", platform=platform, allow_name=True)
