"""SM2/SM3: published vectors, internal consistency, DER/PEM, and OpenSSL 3 interop."""

from __future__ import annotations

import secrets
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synthlabel.errors import KeyStoreError
from synthlabel.model import sm2

OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="openssl not installed")

# GB/T 32918.2-2016 Annex A / GM/T 0003.5 example on the recommended curve sm2p256v1.
EX_D = 0x3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8
EX_XA = 0x09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020
EX_YA = 0xCCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13
EX_ZA = "B2E14C5C79C6DF5B85F4FE7ED8DB7A262B9DA7E07CCB0EA9F4747B8CCDA8A4F3"
EX_E = 0xF0B43E94BA45ACCAACE692ED534382EB17E6AB5A19CE7B31F4486FDFC0D28640
EX_K = 0x59276E27D506861A16680F3AD9C02DCCEF3CC1FA3CDBE4CE6D54B80DEAC1BC21
EX_X1 = 0x04EBFC718E8D1798620432268E77FEB6415E2EDE0E073C0F4F640ECD2E149A73
EX_R = 0xF5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3
EX_S = 0xB1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA

SM3_VECTORS = [
    (b"abc", "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"),
    (b"abcd" * 16, "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"),
    (b"", "1ab21d8355cfa17f8e61194831e81a8f22bec8c728fefb747ed035eb5082aa2b"),
]


# -- SM3 ----------------------------------------------------------------------------------
@pytest.mark.parametrize(("data", "digest"), SM3_VECTORS)
def test_sm3_vectors(data: bytes, digest: str) -> None:
    assert sm3_hex(sm2.sm3, data) == digest
    assert sm3_hex(sm2.sm3_pure, data) == digest


def sm3_hex(fn: object, data: bytes) -> str:
    assert callable(fn)
    out = fn(data)
    assert isinstance(out, bytes)
    return out.hex()


def test_sm3_pure_matches_native_on_block_boundaries() -> None:
    for n in (1, 55, 56, 57, 63, 64, 65, 119, 120, 128, 200):
        data = secrets.token_bytes(n)
        assert sm2.sm3_pure(data) == sm2.sm3(data)


# -- curve and the standard's example --------------------------------------------------------
def test_curve_parameters_are_consistent() -> None:
    assert sm2.A == sm2.P - 3
    assert sm2._on_curve(sm2.GX, sm2.GY)
    assert sm2._to_affine(sm2._mul_g(sm2.N)) is None
    assert sm2._to_affine(sm2._mul_point(sm2.N, sm2.GX, sm2.GY)) is None
    assert sm2._to_affine(sm2._mul_g(1)) == (sm2.GX, sm2.GY)


def test_fixed_base_and_wnaf_agree() -> None:
    for k in [2, 3, 255, 256, 257, sm2.N - 1, *(secrets.randbelow(sm2.N) for _ in range(8))]:
        assert sm2._to_affine(sm2._mul_g(k)) == sm2._to_affine(sm2._mul_point(k, sm2.GX, sm2.GY))


def test_gbt32918_signature_example() -> None:
    key = sm2.SM2PrivateKey(EX_D)
    pub = key.public_key
    assert (pub.x, pub.y) == (EX_XA, EX_YA)
    assert pub.za(b"1234567812345678").hex().upper() == EX_ZA
    assert pub.digest(b"message digest") == EX_E
    x1 = sm2._to_affine(sm2._mul_g(EX_K))
    assert x1 is not None and x1[0] == EX_X1
    r, s = key.sign_rs(b"message digest", b"1234567812345678", k=EX_K)
    assert (r, s) == (EX_R, EX_S)
    assert pub.verify(b"message digest", sm2.encode_signature(EX_R, EX_S))
    assert pub.verify_rs(EX_E, EX_R, EX_S)


def test_example_signature_rejects_changes() -> None:
    pub = sm2.SM2PrivateKey(EX_D).public_key
    sig = sm2.encode_signature(EX_R, EX_S)
    assert not pub.verify(b"message digesT", sig)
    assert not pub.verify(b"message digest", sig, user_id=b"ALICE123@YAHOO.COM")
    assert not pub.verify(b"message digest", sm2.encode_signature(EX_R, EX_S ^ 1))
    assert not pub.verify(b"message digest", sm2.encode_signature(0, EX_S))
    assert not pub.verify(b"message digest", sm2.encode_signature(EX_R, sm2.N))
    assert not pub.verify(b"message digest", b"\x30\x00garbage")


# -- signing -----------------------------------------------------------------------------------
def test_sign_verify_roundtrip_random_and_deterministic() -> None:
    key = sm2.generate_private_key()
    msg = b'"Label":"1","ContentProducer":"x","ProduceID":"y"'
    s1, s2 = key.sign(msg), key.sign(msg)
    assert s1 != s2  # random k by default
    assert key.public_key.verify(msg, s1) and key.public_key.verify(msg, s2)
    d1 = key.sign(msg, deterministic=True)
    d2 = key.sign(msg, deterministic=True)
    assert d1 == d2
    assert key.public_key.verify(msg, d1)
    assert key.sign(b"other", deterministic=True) != d1
    assert key.public_key.verify(msg, b"x" * 3) is False


def test_repeatedly_verified_key_gets_a_table() -> None:
    key = sm2.generate_private_key()
    sig = key.sign(b"m")
    r, s = sm2.decode_signature(sig)
    pub = key.public_key
    for _ in range(5):  # the pure-Python path (the OpenSSL fast path bypasses the tables)
        assert pub.verify_rs(pub.digest(b"m"), r, s)
        assert not pub.verify_rs(pub.digest(b"n"), r, s)
    assert isinstance(sm2._KEY_TABLES[(key.public_key.x, key.public_key.y)], list)
    for w in (4, 8):
        table = sm2._build_table(sm2.GX, sm2.GY, w)
        for k in (1, 15, 16, 255, 256, sm2.N - 1, secrets.randbelow(sm2.N)):
            expected = sm2._to_affine(sm2._mul_point(k, sm2.GX, sm2.GY))
            assert sm2._to_affine(sm2._mul_table(table, k, w)) == expected


def test_custom_user_id() -> None:
    key = sm2.generate_private_key()
    sig = key.sign(b"m", b"ALICE123@YAHOO.COM")
    assert key.public_key.verify(b"m", sig, b"ALICE123@YAHOO.COM")
    assert not key.public_key.verify(b"m", sig)


@settings(max_examples=15, deadline=None)
@given(st.binary(max_size=300))
def test_property_sign_verify(msg: bytes) -> None:
    key = _KEY
    sig = key.sign(msg)
    assert key.public_key.verify(msg, sig)
    r, s = sm2.decode_signature(sig)
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    assert key.public_key.verify(msg, raw)  # raw r||s accepted too
    assert not key.public_key.verify(msg + b"!", sig)


_KEY = sm2.SM2PrivateKey(EX_D)


def test_private_key_range() -> None:
    with pytest.raises(KeyStoreError):
        sm2.SM2PrivateKey(0)
    with pytest.raises(KeyStoreError):
        sm2.SM2PrivateKey(sm2.N - 1)
    assert "SM2PrivateKey" in repr(_KEY) and f"{EX_D:x}" not in repr(_KEY)


def test_signing_speed() -> None:
    key = sm2.generate_private_key()
    key.sign(b"warm-up")
    t = time.perf_counter()
    for _ in range(100):
        key.sign(b"speed test message")
    per_op = (time.perf_counter() - t) / 100
    assert per_op < 0.005  # ~0.2 ms on the reference machine; generous for shared CI


# -- DER / PEM ---------------------------------------------------------------------------------
def test_signature_der() -> None:
    der = sm2.encode_signature(EX_R, EX_S)
    assert der[0] == 0x30
    assert sm2.decode_signature(der) == (EX_R, EX_S)
    small = sm2.encode_signature(1, 0x80)
    assert small == bytes.fromhex("3007020101020200 80".replace(" ", ""))
    with pytest.raises(ValueError):
        sm2.decode_signature(b"\x30\x03\x02\x01")


def test_spki_roundtrip_and_point_forms() -> None:
    pub = _KEY.public_key
    der = pub.to_der()
    assert sm2.is_sm2_spki(der)
    assert sm2.spki_algorithm(der) == (sm2.OID_EC_PUBLIC_KEY, sm2.OID_SM2_CURVE)
    assert sm2.load_public_key_der(der) == pub
    assert sm2.load_public_key_pem(pub.to_pem()) == pub
    compressed = bytes([2 | (pub.y & 1)]) + pub.x.to_bytes(32, "big")
    assert sm2.SM2PublicKey.from_point(compressed) == pub
    assert sm2.SM2PublicKey.from_point(pub.point[1:]) == pub
    with pytest.raises(KeyStoreError):
        sm2.SM2PublicKey(pub.x, pub.y ^ 1)
    with pytest.raises(KeyStoreError):
        sm2.load_public_key_der(b"\x30\x03\x02\x01\x00")


def test_pkcs8_roundtrip() -> None:
    key = sm2.generate_private_key()
    pem = key.to_pem()
    assert pem.startswith("-----BEGIN PRIVATE KEY-----\n")
    again = sm2.load_private_key_pem(pem)
    assert again.d == key.d and again.public_key == key.public_key
    assert sm2.is_sm2_private_der(key.to_pkcs8_der())
    with pytest.raises(KeyStoreError, match="encrypted"):
        sm2.load_private_key_pem(
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n"
        )
    with pytest.raises(KeyStoreError, match="no private key"):
        sm2.load_private_key_pem(_KEY.public_key.to_pem())


# -- OpenSSL interop -------------------------------------------------------------------------
def _openssl(*args: str, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    assert OPENSSL is not None
    return subprocess.run([OPENSSL, *args], cwd=cwd, capture_output=True, check=False)


@needs_openssl
def test_openssl_signs_we_verify(tmp_path: Path) -> None:
    r = _openssl("genpkey", "-algorithm", "SM2", "-out", "k.pem", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    _openssl("pkey", "-in", "k.pem", "-pubout", "-out", "pub.pem", cwd=tmp_path)
    msg = b'"Label":"1","ContentProducer":"001191110000MA0000000H10001","ProduceID":"X"'
    (tmp_path / "msg").write_bytes(msg)
    r = _openssl(
        "pkeyutl", "-sign", "-rawin", "-digest", "sm3", "-inkey", "k.pem",
        "-pkeyopt", "distid:1234567812345678", "-in", "msg", "-out", "sig",
        cwd=tmp_path,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    sig = (tmp_path / "sig").read_bytes()
    pub = sm2.load_public_key_pem((tmp_path / "pub.pem").read_text())
    assert pub.verify(msg, sig)
    assert not pub.verify(msg + b" ", sig)
    # OpenSSL's PKCS#8 key is readable, and byte-identical when we write it back.
    pem = (tmp_path / "k.pem").read_text()
    key = sm2.load_private_key_pem(pem)
    assert key.public_key == pub
    assert key.to_pem() == pem
    assert key.public_key.to_pem() == (tmp_path / "pub.pem").read_text()
    # The SEC1 form ("SM2 PRIVATE KEY" in OpenSSL 3, "EC PRIVATE KEY" elsewhere).
    r = _openssl("ec", "-in", "k.pem", "-out", "sec1.pem", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    sec1 = (tmp_path / "sec1.pem").read_text()
    assert sm2.load_private_key_pem(sec1).d == key.d
    relabelled = sec1.replace("SM2 PRIVATE KEY", "EC PRIVATE KEY")
    assert sm2.load_private_key_pem(relabelled).d == key.d
    # ...and our signature with OpenSSL's key verifies in OpenSSL.
    (tmp_path / "sig2").write_bytes(key.sign(msg))
    r = _openssl(
        "pkeyutl", "-verify", "-rawin", "-digest", "sm3", "-pubin", "-inkey", "pub.pem",
        "-pkeyopt", "distid:1234567812345678", "-sigfile", "sig2", "-in", "msg",
        cwd=tmp_path,
    )  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr


@needs_openssl
def test_we_sign_openssl_verifies(tmp_path: Path) -> None:
    key = sm2.generate_private_key()
    (tmp_path / "k.pem").write_text(key.to_pem())
    (tmp_path / "pub.pem").write_text(key.public_key.to_pem())
    r = _openssl("pkey", "-in", "k.pem", "-noout", cwd=tmp_path)
    assert r.returncode == 0, r.stderr  # openssl reads our PKCS#8
    r = _openssl("pkey", "-in", "k.pem", "-pubout", cwd=tmp_path)
    assert r.stdout.decode() == key.public_key.to_pem()
    msg = b"message digest"
    (tmp_path / "msg").write_bytes(msg)
    for name, sig in (("sig", key.sign(msg)), ("dsig", key.sign(msg, deterministic=True))):
        (tmp_path / name).write_bytes(sig)
        r = _openssl(
            "pkeyutl", "-verify", "-rawin", "-digest", "sm3", "-pubin", "-inkey", "pub.pem",
            "-pkeyopt", "distid:1234567812345678", "-sigfile", name, "-in", "msg",
            cwd=tmp_path,
        )  # fmt: skip
        assert r.returncode == 0, r.stdout + r.stderr
    # A tampered signature is rejected by OpenSSL (sanity check of the harness).
    (tmp_path / "bad").write_bytes(key.sign(b"other"))
    r = _openssl(
        "pkeyutl", "-verify", "-rawin", "-digest", "sm3", "-pubin", "-inkey", "pub.pem",
        "-pkeyopt", "distid:1234567812345678", "-sigfile", "bad", "-in", "msg",
        cwd=tmp_path,
    )  # fmt: skip
    assert r.returncode != 0
    # OpenSSL signs with our key file.
    r = _openssl(
        "pkeyutl", "-sign", "-rawin", "-digest", "sm3", "-inkey", "k.pem",
        "-pkeyopt", "distid:1234567812345678", "-in", "msg", "-out", "osig",
        cwd=tmp_path,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert key.public_key.verify(msg, (tmp_path / "osig").read_bytes())


def test_openssl_fast_path_agrees_with_pure_python() -> None:
    from synthlabel.model import _sm2_ossl

    key = sm2.generate_private_key()
    pub = key.public_key
    msg = b'"Label":"1","ContentProducer":"x","ProduceID":"y"'
    sig = key.sign(msg)
    uid = b"1234567812345678"
    fast = _sm2_ossl.verify(pub.to_der(), msg, sig, uid)
    if fast is None:
        pytest.skip("libcrypto.so.3 with SM2 not available")
    pure = pub.verify_rs(pub.digest(msg, uid), *sm2.decode_signature(sig))
    assert fast is pure is True
    for bad_msg, bad_uid in ((msg + b"x", uid), (msg, b"8765432187654321")):
        assert _sm2_ossl.verify(pub.to_der(), bad_msg, sig, bad_uid) is False
        assert pub.verify_rs(pub.digest(bad_msg, bad_uid), *sm2.decode_signature(sig)) is False
