"""Key store, trust file and loading keys written by other tools."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from synthlabel.errors import KeyStoreError
from synthlabel.model import sm2
from synthlabel.model.aigc import AIGCRecord
from synthlabel.model.keys import (
    KeyPermissionWarning,
    KeyStore,
    TrustStore,
    default_home,
    load_signer_file,
    public_key_algorithm,
)
from synthlabel.model.results import SignatureStatus
from synthlabel.model.signing import key_id_for, sign_record, verify_record

RECORD = AIGCRecord(content_producer="001191110000MA0000000H10001", produce_id="01JD3Q8W5Z6V7K2M")
posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")


def mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_default_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SYNTHLABEL_HOME", str(tmp_path / "h"))
    assert default_home() == tmp_path / "h"
    assert KeyStore().home == tmp_path / "h"
    assert TrustStore().path == tmp_path / "h" / "trust.json"
    assert KeyStore().trust.path == tmp_path / "h" / "trust.json"
    monkeypatch.delenv("SYNTHLABEL_HOME")
    assert default_home() == Path.home() / ".config" / "synthlabel"


@posix_only
def test_generate_layout_and_permissions(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / "home")
    info = store.generate()
    assert info.algorithm == "SM2-SM3" and info.active
    assert info.path == tmp_path / "home" / "keys" / f"{info.key_id}.key.pem"
    assert mode(info.path) == 0o600
    assert mode(store.keys_dir) == 0o700
    assert info.path.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    meta = json.loads((store.keys_dir / f"{info.key_id}.json").read_text())
    assert meta["key_id"] == info.key_id and meta["algorithm"] == "SM2-SM3"
    assert meta["active"] is True and meta["public_key"] == info.public_key_hex
    assert info.key_id == key_id_for(info.public_key_der)
    assert "PRIVATE" not in json.dumps(meta)


@pytest.mark.parametrize("alg", ["sm2", "ed25519", "ecdsa-p256"])
def test_each_algorithm_signs_and_verifies(tmp_path: Path, alg: str) -> None:
    store = KeyStore(tmp_path)
    info = store.generate(alg, name=f"gen-{alg}")
    signer = store.signer()
    assert signer.key_id == info.key_id
    rec = sign_record(RECORD, signer)
    check = verify_record(rec, role="producer", trust=store.trust_store())
    assert check.status is SignatureStatus.VALID
    assert check.trusted and check.trusted_name == f"gen-{alg}"
    assert public_key_algorithm(info.public_key_der) == info.algorithm


def test_rotation_keeps_old_keys(tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    first = store.generate(name="2025")
    old_signed = sign_record(RECORD, store.signer())
    second = store.rotate(name="2026")
    assert second.algorithm == first.algorithm
    keys = store.list()
    assert [k.key_id for k in keys] == [first.key_id, second.key_id]
    assert [k.active for k in keys] == [False, True]
    active = store.active()
    assert active is not None and active.key_id == second.key_id
    assert store.signer().key_id == second.key_id
    assert store.signer("2025").key_id == first.key_id
    trust = store.trust_store()
    assert {t.name for t in trust.list()} == {"2025", "2026"}
    check = verify_record(old_signed, role="producer", trust=trust)
    assert check.status is SignatureStatus.VALID and check.trusted_name == "2025"
    store.set_active(first.key_id)
    assert store.active() == store.get(first.key_id)
    third = store.rotate("ed25519")
    assert third.algorithm == "Ed25519"


def test_generate_without_trust(tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    store.generate(trust=False)
    assert store.trust_store().list() == []
    rec = sign_record(RECORD, store.signer())
    check = verify_record(rec, role="producer", trust=store.trust_store())
    assert check.status is SignatureStatus.VALID and not check.trusted


def test_get_by_id_prefix_name_and_errors(tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    with pytest.raises(KeyStoreError, match="store is empty"):
        store.get("abcd")
    with pytest.raises(KeyStoreError, match="no active signing key"):
        store.signer()
    assert store.active() is None
    info = store.generate(name="prod")
    assert store.get(info.key_id) == info
    assert store.get(info.key_id[:6]) == info
    assert store.get(info.key_id.upper()) == info
    assert store.get("prod") == info
    with pytest.raises(KeyStoreError, match="at least 4"):
        store.get(info.key_id[:3])
    with pytest.raises(KeyStoreError, match=r"no key matches 'nope'.*known keys"):
        store.get("nope")
    with pytest.raises(KeyStoreError, match="already exists"):
        store.generate(name="prod")
    with pytest.raises(KeyStoreError, match="unknown key algorithm"):
        store.generate("rsa")
    # Two keys sharing a prefix -> ambiguous.
    for suffix in ("1111", "2222"):
        kid = "abcd" + suffix + "00000000"
        (store.keys_dir / f"{kid}.json").write_text(
            json.dumps(
                {"key_id": kid, "algorithm": "SM2-SM3", "name": "", "created": "2020",
                 "active": False, "public_key": info.public_key_hex}
            )
        )  # fmt: skip
    with pytest.raises(KeyStoreError, match="ambiguous: matches abcd1111"):
        store.get("abcd")
    # Metadata without a private key file.
    with pytest.raises(KeyStoreError, match="private key file for key abcd1111"):
        store.signer("abcd1111")


def test_unreadable_and_mismatched_key_files(tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    info = store.generate()
    info.path.unlink()
    info.path.mkdir()  # reading a directory fails even for root
    with pytest.raises(KeyStoreError, match="cannot read private key"):
        store.signer()
    info.path.rmdir()
    _write(info.path, sm2.generate_private_key().to_pem().encode())
    with pytest.raises(KeyStoreError, match="does not match its metadata"):
        store.signer()
    (store.keys_dir / "broken.json").write_text("{")
    with pytest.raises(KeyStoreError, match="not valid JSON"):
        store.list()


@posix_only
def test_bad_permissions_warn(tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    info = store.generate()
    os.chmod(info.path, 0o644)
    with pytest.warns(KeyPermissionWarning, match="chmod 600"):
        store.signer()
    os.chmod(info.path, 0o600)
    os.chmod(store.keys_dir, 0o755)
    with pytest.warns(KeyPermissionWarning, match="key directory"):
        store.signer()


def test_export_public(tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    info = store.generate()
    pem = store.export_public()
    assert pem.startswith("-----BEGIN PUBLIC KEY-----")
    assert sm2.load_public_key_pem(pem).to_der() == info.public_key_der
    assert store.export_public(info.key_id) == pem
    if shutil.which("openssl"):
        out = subprocess.run(
            ["openssl", "pkey", "-pubin", "-noout", "-text"],
            input=pem.encode(), capture_output=True, check=False,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        out = subprocess.run(
            ["openssl", "pkey", "-in", str(info.path), "-pubout"],
            capture_output=True, check=False,
        )  # fmt: skip
        assert out.stdout.decode() == pem


# -- load_signer_file ---------------------------------------------------------------------------
def _write(path: Path, data: bytes) -> Path:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    return path


def test_load_signer_file_cryptography_keys(tmp_path: Path) -> None:
    ed = ed25519.Ed25519PrivateKey.generate()
    p256 = ec.generate_private_key(ec.SECP256R1())
    for name, key in (("ed.pem", ed), ("p256.pem", p256)):
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        signer = load_signer_file(_write(tmp_path / name, pem))
        rec = sign_record(RECORD, signer)
        assert verify_record(rec, role="producer").status is SignatureStatus.VALID
    sec1 = p256.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    assert load_signer_file(_write(tmp_path / "sec1.pem", sec1)).algorithm == "ECDSA-P256-SHA256"
    der = ed.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    assert load_signer_file(_write(tmp_path / "ed.der", der)).algorithm == "Ed25519"
    enc = ed.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pw"),
    )
    path = _write(tmp_path / "enc.pem", enc)
    with pytest.raises(KeyStoreError, match="encrypted"):
        load_signer_file(path)
    assert load_signer_file(path, password=b"pw").algorithm == "Ed25519"
    p384 = ec.generate_private_key(ec.SECP384R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(KeyStoreError, match="only P-256"):
        load_signer_file(_write(tmp_path / "p384.pem", p384))
    with pytest.raises(KeyStoreError, match="not found"):
        load_signer_file(tmp_path / "missing.pem")
    with pytest.raises(KeyStoreError, match="no private key"):
        load_signer_file(
            _write(tmp_path / "pub.pem", sm2.generate_private_key().public_key.to_pem().encode())
        )


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")
def test_load_signer_file_openssl_sm2(tmp_path: Path) -> None:
    subprocess.run(
        ["openssl", "genpkey", "-algorithm", "SM2", "-out", "k.pem"],
        cwd=tmp_path, check=True, capture_output=True,
    )  # fmt: skip
    subprocess.run(
        ["openssl", "ec", "-in", "k.pem", "-out", "sec1.pem"],
        cwd=tmp_path, check=True, capture_output=True,
    )  # fmt: skip
    a = load_signer_file(tmp_path / "k.pem")
    b = load_signer_file(tmp_path / "sec1.pem")
    assert a.algorithm == b.algorithm == "SM2-SM3"
    assert a.key_id == b.key_id
    rec = sign_record(RECORD, b)
    assert verify_record(rec, role="producer").status is SignatureStatus.VALID
    pub = subprocess.run(
        ["openssl", "pkey", "-in", "k.pem", "-pubout"],
        cwd=tmp_path, check=True, capture_output=True,
    ).stdout  # fmt: skip
    trust = TrustStore(tmp_path / "trust.json")
    assert trust.add(pub, "openssl key") == a.key_id
    check = verify_record(rec, role="producer", trust=trust)
    assert check.trusted and check.trusted_name == "openssl key"


# -- TrustStore ---------------------------------------------------------------------------------
def test_trust_store_add_list_lookup_remove(tmp_path: Path) -> None:
    trust = TrustStore(tmp_path / "sub" / "trust.json")
    assert trust.list() == []
    k1 = sm2.generate_private_key().public_key
    k2 = (
        ed25519.Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    rsa_pub = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    id1 = trust.add(k1.to_pem(), "alpha")
    id2 = trust.add(k2.hex(), "beta")
    id3 = trust.add(
        rsa_pub.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        "gamma",
    )
    assert [t.name for t in trust.list()] == ["alpha", "beta", "gamma"]
    assert [t.algorithm for t in trust.list()] == ["SM2-SM3", "Ed25519", "RSA-SHA256"]
    assert trust.add(k1.to_der(), "alpha2") == id1  # re-adding renames
    assert len(trust.list()) == 3
    hit = trust.lookup(key_id=id1)
    assert hit is not None and hit.name == "alpha2" and hit.public_key_der == k1.to_der()
    assert trust.lookup(spki=k2) is not None
    assert trust.lookup(key_id=id1[:8]) is None  # lookups need the full id
    assert trust.lookup() is None
    assert trust.get("beta").key_id == id2
    removed = trust.remove(id3[:6])
    assert removed.name == "gamma"
    assert trust.lookup(key_id=id3) is None
    # A second instance reads the same file; stored key ids are recomputed, not trusted.
    data = json.loads(trust.path.read_text())
    data["keys"][0]["key_id"] = "ffffffffffffffff"
    trust.path.write_text(json.dumps(data))
    again = TrustStore(trust.path)
    assert again.lookup(key_id="ffffffffffffffff") is None
    assert again.lookup(key_id=id1) is not None
    with pytest.raises(KeyStoreError, match="no trusted key"):
        again.remove("nobody")


def test_trust_store_errors(tmp_path: Path) -> None:
    trust = TrustStore(tmp_path / "trust.json")
    with pytest.raises(KeyStoreError, match="private key"):
        trust.add(sm2.generate_private_key().to_pem())
    with pytest.raises(KeyStoreError, match="neither PEM nor hex"):
        trust.add("not a key")
    with pytest.raises(KeyStoreError):
        trust.add(b"\x30\x03\x02\x01\x00")
    trust.path.write_text("{")
    with pytest.raises(KeyStoreError, match="not valid JSON"):
        trust.list()
    trust.path.write_text('{"keys": [{"name": "x"}]}')
    with pytest.raises(KeyStoreError, match="entry 1"):
        trust.lookup(key_id="00")
