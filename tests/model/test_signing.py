"""SecurityData signing and verification (TC260-PG-202511A) in ReservedCode1/2."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from synthlabel.errors import SigningError
from synthlabel.model import sm2
from synthlabel.model.aigc import AIGCRecord, parse_record
from synthlabel.model.keys import TrustStore
from synthlabel.model.results import BindingStatus, SignatureStatus
from synthlabel.model.signing import (
    ALG_RSA_SHA256,
    ALG_SM2_SM3,
    EcdsaP256Signer,
    Ed25519Signer,
    Signer,
    SM2Signer,
    content_message,
    hmac_record,
    key_id_for,
    md_message,
    sign_record,
    verify_record,
)

PRODUCER = "001191110000MA0000000H10001"  # fake USCC with a valid check character
PLATFORM = "001191440300MA0000001L20000"  # spec §3.4 placeholder
RECORD = AIGCRecord(content_producer=PRODUCER, produce_id="01JD3Q8W5Z6V7K2M4N8P0R2S4T")
DIGEST = hashlib.sha256(b"the pixels").digest()
OTHER_DIGEST = hashlib.sha256(b"other pixels").digest()
SEL = "sha256:file-without-label"

_SM2_KEY = sm2.generate_private_key()


def sm2_signer() -> SM2Signer:
    return SM2Signer(_SM2_KEY)


def digest_is(d: bytes) -> Callable[[str], bytes | None]:
    def f(selector: str) -> bytes | None:
        return d if selector == SEL else None

    return f


def security_data(record: AIGCRecord, attr: str = "reserved_code1") -> dict[str, Any]:
    data = json.loads(getattr(record, attr))
    assert isinstance(data, dict)
    return data


# -- layout ------------------------------------------------------------------------------------
def test_layout_md_content_pubkey() -> None:
    signer = sm2_signer()
    rec = sign_record(RECORD, signer, content=(SEL, DIGEST))
    raw = rec.reserved_code1
    assert raw.isascii() and " " not in raw
    assert raw == json.dumps(json.loads(raw), separators=(",", ":"))
    sd = security_data(rec)["SecurityData"]
    assert sd["Type"] == "TC260PG" and sd["Version"] == 1
    md, content, pub = sd["PubSD"]
    assert md["Type"] == "DS" and md["AlgID"] == ALG_SM2_SM3
    assert md["TBSData"] == {"Type": "Md"}
    assert content["TBSData"] == {
        "Type": "Content",
        "Bindings": [{"BType": "sha256", "CntSel": SEL, "Value": DIGEST.hex()}],
    }
    assert pub == {
        "Type": "PubKey",
        "AlgID": ALG_SM2_SM3,
        "KeyValue": signer.public_key_der.hex(),
        "KeyID": signer.key_id,
    }
    assert md["KeyID"] == content["KeyID"] == signer.key_id
    assert signer.key_id == hashlib.sha256(signer.public_key_der).hexdigest()[:16]
    # The Md signature covers exactly the spec's producer-field text.
    msg = b'"Label":"1","ContentProducer":"' + PRODUCER.encode() + b'","ProduceID":"'
    msg += RECORD.produce_id.encode() + b'"'
    assert md_message(rec, "producer") == msg
    assert _SM2_KEY.public_key.verify(msg, bytes.fromhex(md["Signature"]))
    assert content_message(rec, "producer", [("sha256", SEL, DIGEST.hex())]) == (
        msg + f',"BType":"sha256","CntSel":"{SEL}","Value":"{DIGEST.hex()}"'.encode()
    )
    # Other fields untouched; ReservedCode2 still empty.
    assert rec.replace(reserved_code1="") == RECORD


def test_record_json_roundtrip_escapes_quotes() -> None:
    rec = sign_record(RECORD, sm2_signer(), content=(SEL, DIGEST))
    text = rec.to_json()
    assert '\\"SecurityData\\"' in text
    parsed = parse_record(text).record
    assert parsed == rec
    check = verify_record(parsed, role="producer", digest_for=digest_is(DIGEST))
    assert check.status is SignatureStatus.VALID
    assert check.binding is BindingStatus.INTACT
    assert check.ok


# -- states ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "make",
    [
        sm2_signer,
        lambda: Ed25519Signer(ed25519.Ed25519PrivateKey.generate()),
        lambda: EcdsaP256Signer(ec.generate_private_key(ec.SECP256R1())),
    ],
    ids=["sm2", "ed25519", "ecdsa"],
)
def test_valid_for_each_algorithm(make: Callable[[], Signer]) -> None:
    signer = make()
    assert isinstance(signer, Signer)
    rec = sign_record(RECORD, signer, content=(SEL, DIGEST))
    check = verify_record(rec, role="producer", digest_for=digest_is(DIGEST))
    assert check.status is SignatureStatus.VALID, check.reason
    assert check.algorithm == signer.algorithm and check.alg_id == signer.alg_id
    assert check.key_id == signer.key_id and check.key_source == "embedded"
    assert check.binding is BindingStatus.INTACT and check.binding_selector == SEL
    assert not check.trusted
    assert "not in the trust store" in check.reason and "integrity only" in check.reason


def test_unsigned() -> None:
    check = verify_record(RECORD, role="producer")
    assert check.status is SignatureStatus.UNSIGNED
    assert "ReservedCode1 is empty" in check.reason
    rec = RECORD.replace(reserved_code1='{"note":"hello"}')
    assert verify_record(rec, role="producer").status is SignatureStatus.UNSIGNED
    rec = RECORD.replace(reserved_code1='{"SecurityData":{"Type":"TC260PG","PubSD":[]}}')
    assert verify_record(rec, role="producer").status is SignatureStatus.UNSIGNED
    assert verify_record(RECORD, role="propagator").status is SignatureStatus.UNSIGNED


@pytest.mark.parametrize(
    "value",
    ["d41d8cd98f00b204e9800998ecf8427e", "not json {", '{"sign":"abc"}', "[1,2"],
)
def test_non_security_data_is_unverifiable(value: str) -> None:
    check = verify_record(RECORD.replace(reserved_code1=value), role="producer")
    assert check.status is SignatureStatus.UNVERIFIABLE
    assert check.reason


@pytest.mark.parametrize(
    "change",
    [
        {"label": "2"},
        {"content_producer": "001191110102MACQD9K64010000"},
        {"produce_id": "01JD3Q8W5Z6V7K2M4N8P0R2S4V"},
    ],
)
def test_changing_signed_fields_is_invalid(change: dict[str, str]) -> None:
    rec = sign_record(RECORD, sm2_signer(), content=(SEL, DIGEST))
    check = verify_record(rec.replace(**change), role="producer", digest_for=digest_is(DIGEST))
    assert check.status is SignatureStatus.INVALID
    assert "does not match" in check.reason


def test_propagator_fields_do_not_break_producer_signature() -> None:
    rec = sign_record(RECORD, sm2_signer())
    published = rec.replace(content_propagator=PLATFORM, propagate_id="7254412903381")
    assert verify_record(published, role="producer").status is SignatureStatus.VALID


def test_moved_label_breaks_binding() -> None:
    rec = sign_record(RECORD, sm2_signer(), content=(SEL, DIGEST))
    check = verify_record(rec, role="producer", digest_for=digest_is(OTHER_DIGEST))
    assert check.status is SignatureStatus.VALID
    assert check.binding is BindingStatus.BROKEN
    assert not check.ok
    assert "BROKEN" in check.reason


def test_binding_not_checked_and_absent() -> None:
    rec = sign_record(RECORD, sm2_signer(), content=(SEL, DIGEST))
    assert verify_record(rec, role="producer").binding is BindingStatus.NOT_CHECKED
    check = verify_record(rec, role="producer", digest_for=lambda s: None)
    assert check.binding is BindingStatus.NOT_CHECKED and check.binding_selector == SEL
    plain = sign_record(RECORD, sm2_signer())
    check = verify_record(plain, role="producer", digest_for=digest_is(DIGEST))
    assert check.binding is BindingStatus.ABSENT
    assert check.ok


def test_rewriting_the_bound_digest_is_invalid() -> None:
    rec = sign_record(RECORD, sm2_signer(), content=(SEL, DIGEST))
    forged = rec.reserved_code1.replace(DIGEST.hex(), OTHER_DIGEST.hex())
    check = verify_record(
        rec.replace(reserved_code1=forged), role="producer", digest_for=digest_is(OTHER_DIGEST)
    )
    assert check.status is SignatureStatus.INVALID


def test_propagator_signature_in_reserved_code2() -> None:
    published = sign_record(RECORD, sm2_signer()).replace(
        content_propagator=PLATFORM, propagate_id="7254412903381"
    )
    signer = SM2Signer(sm2.generate_private_key())
    rec = sign_record(published, signer, role="propagator", content=(SEL, DIGEST))
    assert rec.reserved_code1 == published.reserved_code1
    assert md_message(rec, "propagator") == (
        b'"Label":"1","ContentPropagator":"'
        + PLATFORM.encode()
        + b'","PropagateID":"7254412903381"'
    )
    check = verify_record(rec, role="propagator", digest_for=digest_is(DIGEST))
    assert check.status is SignatureStatus.VALID and check.role == "propagator"
    assert check.key_id == signer.key_id
    assert verify_record(rec, role="producer").status is SignatureStatus.VALID
    changed = rec.replace(propagate_id="7254412903382")
    assert verify_record(changed, role="propagator").status is SignatureStatus.INVALID
    assert verify_record(changed, role="producer").status is SignatureStatus.VALID


def test_sign_errors() -> None:
    with pytest.raises(SigningError, match="ContentProducer/ProduceID"):
        sign_record(AIGCRecord(content_producer=PRODUCER), sm2_signer())
    with pytest.raises(SigningError, match="ContentPropagator/PropagateID"):
        sign_record(RECORD, sm2_signer(), role="propagator")
    with pytest.raises(SigningError, match="selector"):
        sign_record(RECORD, sm2_signer(), content=('a"b', DIGEST))
    with pytest.raises(SigningError, match="32-byte"):
        sign_record(RECORD, sm2_signer(), content=(SEL, b"short"))
    with pytest.raises(SigningError, match="role"):
        sign_record(RECORD, sm2_signer(), role="platform")  # type: ignore[arg-type]

    class Broken:
        algorithm = "SM2-SM3"
        alg_id = ALG_SM2_SM3
        key_id = "0" * 16
        public_key_der = b""

        def sign(self, message: bytes) -> bytes:
            raise RuntimeError("HSM offline")

    with pytest.raises(SigningError, match="HSM offline"):
        sign_record(RECORD, Broken())


# -- keys and trust ---------------------------------------------------------------------------
def _without_pubkey(rec: AIGCRecord) -> AIGCRecord:
    data = security_data(rec)
    data["SecurityData"]["PubSD"] = [
        e for e in data["SecurityData"]["PubSD"] if e["Type"] != "PubKey"
    ]
    return rec.replace(reserved_code1=json.dumps(data, separators=(",", ":")))


def test_unknown_key_and_trust_store(tmp_path: Path) -> None:
    signer = sm2_signer()
    rec = _without_pubkey(sign_record(RECORD, signer))
    check = verify_record(rec, role="producer")
    assert check.status is SignatureStatus.UNKNOWN_KEY
    assert check.key_id == signer.key_id
    trust = TrustStore(tmp_path / "trust.json")
    assert verify_record(rec, role="producer", trust=trust).status is SignatureStatus.UNKNOWN_KEY
    trust.add(signer.public_key_der, "our generator")
    check = verify_record(rec, role="producer", trust=trust)
    assert check.status is SignatureStatus.VALID
    assert check.key_source == "trust-store"
    assert check.trusted and check.trusted_name == "our generator"
    assert "trusted as 'our generator'" in check.reason


def test_embedded_key_trusted_only_when_pinned(tmp_path: Path) -> None:
    signer = sm2_signer()
    rec = sign_record(RECORD, signer)
    trust = TrustStore(tmp_path / "trust.json")
    other = SM2Signer(sm2.generate_private_key())
    trust.add(other.public_key_der, "someone else")
    check = verify_record(rec, role="producer", trust=trust)
    assert check.status is SignatureStatus.VALID and not check.trusted
    trust.add(sm2.pem_encode("PUBLIC KEY", signer.public_key_der), "me")
    check = verify_record(rec, role="producer", trust=trust)
    assert check.trusted and check.trusted_name == "me"
    # An attacker re-signs altered fields with their own embedded key: valid but untrusted.
    forged = sign_record(RECORD.replace(produce_id="FORGED"), other)
    trust.remove("someone else")
    check = verify_record(forged, role="producer", trust=trust)
    assert check.status is SignatureStatus.VALID and not check.trusted


# -- foreign records ---------------------------------------------------------------------------
def _foreign(tbs_type: str, message: bytes, *, spelling: str = "PubSd") -> AIGCRecord:
    """A StepFun-style record: PubSd spelling, LabelMataData, SM2 key embedded."""
    key = _SM2_KEY
    rec = AIGCRecord(
        content_producer="001191310104MACE0YX63918020",
        produce_id="c7f0a4f1e2b34d5c9a8b7c6d5e4f3a21",
        content_propagator="001191310104MACE0YX63918020",
        propagate_id="c7f0a4f1e2b34d5c9a8b7c6d5e4f3a21",
    )
    sd = {
        "SecurityData": {
            "Type": "TC260PG",
            "Version": 1,
            spelling: [
                {
                    "Type": "DS",
                    "AlgID": ALG_SM2_SM3,
                    "TBSData": {"Type": tbs_type},
                    "Signature": key.sign(message).hex(),
                },
                {"Type": "PubKey", "AlgID": ALG_SM2_SM3, "KeyValue": key.public_key.to_der().hex()},
            ],
        }
    }
    return rec.replace(reserved_code1=json.dumps(sd, separators=(",", ":")))


def test_foreign_unknown_rule_is_unverifiable_never_invalid() -> None:
    rec = _foreign("LabelMataData", b'{"Label":"1","something":"else"}')
    check = verify_record(rec, role="producer")
    assert check.status is SignatureStatus.UNVERIFIABLE
    assert "LabelMataData" in check.reason and "unknown" in check.reason
    assert check.algorithm == "SM2-SM3"


def test_foreign_unknown_rule_verifying_under_md_is_valid() -> None:
    base = _foreign("LabelMataData", b"")
    rec = _foreign("LabelMataData", md_message(base, "producer"))
    check = verify_record(rec, role="producer")
    assert check.status is SignatureStatus.VALID
    assert "LabelMataData" in check.reason


def test_foreign_md_with_wrong_signature_is_invalid() -> None:
    rec = _foreign("Md", b"some other message", spelling="PubSD")
    check = verify_record(rec, role="producer")
    assert check.status is SignatureStatus.INVALID


def test_rules_override_per_producer() -> None:
    def braced(record: AIGCRecord, role: str) -> bytes:
        return b"{" + md_message(record, role) + b"}"

    base = _foreign("LabelMataData", b"")
    rec = _foreign("LabelMataData", braced(base, "producer"))
    assert verify_record(rec, role="producer").status is SignatureStatus.UNVERIFIABLE
    rules = {"001191310104MACE0YX63918020": braced}
    assert verify_record(rec, role="producer", rules=rules).status is SignatureStatus.VALID
    assert verify_record(rec, role="producer", rules={"*": braced}).status is (
        SignatureStatus.VALID
    )
    # A configured rule is a known rule: a mismatch is INVALID.
    changed = rec.replace(produce_id="x")
    assert verify_record(changed, role="producer", rules=rules).status is (SignatureStatus.INVALID)


def test_unknown_algorithm_is_unverifiable() -> None:
    rec = sign_record(RECORD, sm2_signer())
    odd = rec.reserved_code1.replace(ALG_SM2_SM3, "1.2.3.4.5")
    check = verify_record(rec.replace(reserved_code1=odd), role="producer")
    assert check.status is SignatureStatus.UNVERIFIABLE
    assert "1.2.3.4.5" in check.reason


def test_key_type_mismatch_is_unverifiable() -> None:
    rec = sign_record(RECORD, Ed25519Signer(ed25519.Ed25519PrivateKey.generate()))
    odd = rec.reserved_code1.replace('"1.3.101.112"', f'"{ALG_SM2_SM3}"')
    check = verify_record(rec.replace(reserved_code1=odd), role="producer")
    assert check.status is SignatureStatus.UNVERIFIABLE


def _manual(entries: list[dict[str, Any]], top: str = "PubSD") -> AIGCRecord:
    sd = {"SecurityData": {"Type": "TC260PG", "Version": 1, top: entries}}
    return RECORD.replace(reserved_code1=json.dumps(sd))


def test_base64_keys_and_raw_signatures() -> None:
    msg = md_message(RECORD, "producer")
    r, s = _SM2_KEY.sign_rs(msg)
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    spki = _SM2_KEY.public_key.to_der()
    for sig_text in (
        raw.hex(),
        base64.b64encode(raw).decode(),
        base64.b64encode(sm2.encode_signature(r, s)).decode(),
    ):
        rec = _manual(
            [
                {"Type": "DS", "AlgID": ALG_SM2_SM3, "TBSData": {"Type": "Md"},
                 "Signature": sig_text},
                {"Type": "PubKey", "AlgID": ALG_SM2_SM3,
                 "KeyValue": base64.b64encode(spki).decode()},
            ]
        )  # fmt: skip
        check = verify_record(rec, role="producer")
        assert check.status is SignatureStatus.VALID, (sig_text, check.reason)
        assert check.key_id == key_id_for(spki)


def test_ecdsa_raw_signature_and_point_key() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    msg = md_message(RECORD, "producer")
    r, s = decode_dss_signature(key.sign(msg, ec.ECDSA(hashes.SHA256())))
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    point = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    alg = "1.2.840.10045.4.3.2"
    rec = _manual(
        [
            {"Type": "DS", "AlgID": alg, "TBSData": {"Type": "Md"}, "Signature": raw.hex()},
            {"Type": "PubKey", "AlgID": alg, "KeyValue": point.hex()},
        ]
    )
    assert verify_record(rec, role="producer").status is SignatureStatus.VALID


def test_rsa_verify_only() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    msg = md_message(RECORD, "producer")
    sig = key.sign(msg, padding.PKCS1v15(), hashes.SHA256())
    spki = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    entries: list[dict[str, Any]] = [
        {"Type": "DS", "AlgID": ALG_RSA_SHA256, "TBSData": {"Type": "Md"},
         "Signature": base64.b64encode(sig).decode(), "KeyID": "k1"},
        {"Type": "PubKey", "AlgID": ALG_RSA_SHA256, "KeyValue": spki.hex(), "KeyID": "k1"},
    ]  # fmt: skip
    check = verify_record(_manual(entries, top="PubSd"), role="producer")
    assert check.status is SignatureStatus.VALID
    assert check.algorithm == "RSA-SHA256"
    check = verify_record(_manual(entries).replace(label="3"), role="producer")
    assert check.status is SignatureStatus.INVALID


def test_hmac_convention() -> None:
    rec = hmac_record(RECORD, b"secret")
    assert rec.reserved_code1.startswith("HMAC-SHA256:")
    check = verify_record(rec, role="producer")
    assert check.status is SignatureStatus.UNVERIFIABLE and "secret" in check.reason
    assert verify_record(rec, role="producer", hmac_secret=b"secret").status is (
        SignatureStatus.VALID
    )
    assert verify_record(rec, role="producer", hmac_secret=b"wrong").status is (
        SignatureStatus.INVALID
    )


def test_malformed_inputs_never_raise() -> None:
    values = [
        '{"SecurityData":null}',
        '{"SecurityData":{"PubSD":{}}}',
        '{"SecurityData":{"PubSD":[1,"x",{"Type":"DS"}]}}',
        '{"SecurityData":{"PubSD":[{"Type":"DS","AlgID":"1.2.156.10197.1.501"}]}}',
        '{"SecurityData":{"PubSD":[{"Type":"DS","AlgID":"1.2.156.10197.1.501",'
        '"Signature":"zz","TBSData":{"Type":"Content"}},{"Type":"PubKey","KeyValue":"00"}]}}',
        '"{\\"SecurityData\\":{}}"',
        "[]",
        "null",
    ]
    for v in values:
        check = verify_record(RECORD.replace(reserved_code1=v), role="producer")
        assert isinstance(check.status, SignatureStatus)
        assert check.reason


# -- interop with an OpenSSL signature ---------------------------------------------------------
@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")
def test_openssl_made_security_data_verifies(tmp_path: Path) -> None:
    (tmp_path / "k.pem").write_text(_SM2_KEY.to_pem())
    (tmp_path / "msg").write_bytes(md_message(RECORD, "producer"))
    subprocess.run(
        ["openssl", "pkeyutl", "-sign", "-rawin", "-digest", "sm3", "-inkey", "k.pem",
         "-pkeyopt", "distid:1234567812345678", "-in", "msg", "-out", "sig"],
        cwd=tmp_path, check=True, capture_output=True,
    )  # fmt: skip
    sig = (tmp_path / "sig").read_bytes()
    rec = _manual(
        [
            {"Type": "DS", "AlgID": ALG_SM2_SM3, "TBSData": {"Type": "Md"}, "Signature": sig.hex()},
            {
                "Type": "PubKey",
                "AlgID": ALG_SM2_SM3,
                "KeyValue": _SM2_KEY.public_key.to_der().hex(),
            },
        ]
    )
    assert verify_record(rec, role="producer").status is SignatureStatus.VALID
