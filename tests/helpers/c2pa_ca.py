"""A throw-away test PKI for C2PA signing: root CA -> intermediate CA -> end-entity signer.

The end-entity certificate follows the C2PA certificate profile that c2pa-rs enforces when
it signs and validates: X.509 v3, ECDSA P-256 (or P-384 / Ed25519 on request), keyUsage
digitalSignature (critical), extendedKeyUsage emailProtection + id-kp-documentSigning,
basicConstraints CA=false, subject/authority key identifiers, validity around "now", and
issued by a CA (c2pa-rs refuses self-signed signing certificates).

Nothing here touches the network; everything is generated in memory and optionally written
as PEM files into a directory.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

#: id-kp-documentSigning (RFC 9336), one of the EKUs C2PA accepts for claim signing.
DOCUMENT_SIGNING = ObjectIdentifier("1.3.6.1.5.5.7.3.36")

_PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


@dataclass(frozen=True)
class PkiBundle:
    """PEM bytes of a three-level chain; ``chain_pem`` is what a signer hands to c2pa."""

    root_pem: bytes
    intermediate_pem: bytes
    signer_cert_pem: bytes
    signer_key_pem: bytes
    signer_cn: str
    alg: str

    @property
    def chain_pem(self) -> bytes:
        """End-entity certificate first, then the intermediate (the root stays out)."""
        return self.signer_cert_pem + self.intermediate_pem

    def write(self, directory: Path) -> dict[str, Path]:
        """Write the PEMs into ``directory``; return their paths by role."""
        directory.mkdir(parents=True, exist_ok=True)
        files = {
            "root": ("root.pem", self.root_pem),
            "intermediate": ("intermediate.pem", self.intermediate_pem),
            "cert": ("signer-cert.pem", self.signer_cert_pem),
            "chain": ("signer-chain.pem", self.chain_pem),
            "key": ("signer-key.pem", self.signer_key_pem),
        }
        out: dict[str, Path] = {}
        for role, (name, data) in files.items():
            path = directory / name
            path.write_bytes(data)
            out[role] = path
        return out


def _name(cn: str, org: str = "synthlabel test PKI") -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def _key_pem(key: _PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _ca_cert(
    subject: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    path_len: int | None,
    now: _dt.datetime,
) -> x509.Certificate:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _dt.timedelta(days=1))
        .not_valid_after(now + _dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_len), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
        .sign(issuer_key, hashes.SHA256())
    )


def make_pki(
    *,
    signer_cn: str = "synthlabel test signer",
    alg: str = "es256",
    ekus: tuple[ObjectIdentifier, ...] = (ExtendedKeyUsageOID.EMAIL_PROTECTION, DOCUMENT_SIGNING),
    days_valid: int = 365,
    expired: bool = False,
) -> PkiBundle:
    """Generate a root, an intermediate and an end-entity signer.

    ``alg`` picks the end-entity key ("es256" P-256, "es384" P-384, "ed25519").
    ``ekus=()`` leaves the extendedKeyUsage extension out (c2pa-rs then refuses to sign),
    which tests use to provoke a certificate-profile error; ``expired=True`` makes an
    end-entity certificate whose validity ended yesterday.
    """
    now = _dt.datetime.now(_dt.UTC)
    root_key = ec.generate_private_key(ec.SECP256R1())
    root_name = _name("synthlabel test root CA")
    root = _ca_cert(root_name, root_key, root_name, root_key, path_len=1, now=now)

    inter_key = ec.generate_private_key(ec.SECP256R1())
    inter_name = _name("synthlabel test intermediate CA")
    inter = _ca_cert(inter_name, inter_key, root_name, root_key, path_len=0, now=now)

    ee_key: _PrivateKey
    if alg == "es256":
        ee_key = ec.generate_private_key(ec.SECP256R1())
    elif alg == "es384":
        ee_key = ec.generate_private_key(ec.SECP384R1())
    elif alg == "ed25519":
        ee_key = ed25519.Ed25519PrivateKey.generate()
    else:  # pragma: no cover - test helper misuse
        raise ValueError(f"unsupported test algorithm {alg!r}")

    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(signer_cn, org="synthlabel test producer"))
        .issuer_name(inter_name)
        .public_key(ee_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _dt.timedelta(days=30 if expired else 0, hours=1))
        .not_valid_after(now + _dt.timedelta(days=-1 if expired else days_valid))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ee_key.public_key()), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(inter_key.public_key()),
            critical=False,
        )
    )
    if ekus:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(ekus)), critical=False)
    ee = builder.sign(inter_key, hashes.SHA256())
    return PkiBundle(
        root_pem=_cert_pem(root),
        intermediate_pem=_cert_pem(inter),
        signer_cert_pem=_cert_pem(ee),
        signer_key_pem=_key_pem(ee_key),
        signer_cn=signer_cn,
        alg=alg,
    )


def write_pki(directory: Path, **kwargs: object) -> tuple[PkiBundle, dict[str, Path]]:
    """``make_pki(**kwargs)`` and write it into ``directory``."""
    pki = make_pki(**kwargs)  # type: ignore[arg-type]
    return pki, pki.write(directory)


def make_self_signed(cn: str = "synthlabel self-signed") -> tuple[bytes, bytes]:
    """A self-signed end-entity certificate and key (c2pa-rs refuses to sign with it)."""
    now = _dt.datetime.now(_dt.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(cn)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _dt.timedelta(hours=1))
        .not_valid_after(now + _dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return _cert_pem(cert), _key_pem(key)
