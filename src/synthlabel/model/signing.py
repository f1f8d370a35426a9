"""Signing and verifying AIGC records: the TC260-PG-202511A ``SecurityData`` object.

The producer's ``SecurityData`` goes into ``ReservedCode1``, the platform's (propagator's)
into ``ReservedCode2``, as a compact ASCII JSON string::

    {"SecurityData":{"Type":"TC260PG","Version":1,"PubSD":[
      {"Type":"DS","AlgID":"1.2.156.10197.1.501","TBSData":{"Type":"Md"},
       "Signature":"<hex DER>","KeyID":"<key id>"},
      {"Type":"DS","AlgID":"1.2.156.10197.1.501","TBSData":{"Type":"Content","Bindings":[
         {"BType":"sha256","CntSel":"<selector>","Value":"<hex digest>"}]},
       "Signature":"<hex DER>","KeyID":"<key id>"},
      {"Type":"PubKey","AlgID":"1.2.156.10197.1.501","KeyValue":"<hex DER SPKI>",
       "KeyID":"<key id>"}]}}

Signed messages (``docs/signing.md``):

* ``Md`` (producer, guide appendix A.1):
  ``"Label":"<v>","ContentProducer":"<v>","ProduceID":"<v>"``;
  propagator (our reading, [U]):
  ``"Label":"<v>","ContentPropagator":"<v>","PropagateID":"<v>"``.
* ``Content`` (our rule): the ``Md`` message followed, for each binding in order, by
  ``,"BType":"<t>","CntSel":"<sel>","Value":"<hex>"`` -- so the content binding is signed too.

``KeyID`` is the first 16 hex characters of SHA-256 over the SubjectPublicKeyInfo DER.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from synthlabel.errors import KeyStoreError, SigningError
from synthlabel.model import sm2
from synthlabel.model.aigc import AIGCRecord
from synthlabel.model.results import BindingStatus, SignatureCheck, SignatureStatus

if TYPE_CHECKING:
    from synthlabel.model.keys import TrustedKey, TrustStore

__all__ = [
    "ALGORITHMS",
    "ALG_ECDSA_P256_SHA256",
    "ALG_ED25519",
    "ALG_RSA_SHA256",
    "ALG_SM2_SM3",
    "HMAC_PREFIX",
    "EcdsaP256Signer",
    "Ed25519Signer",
    "MessageRule",
    "Role",
    "SM2Signer",
    "Signer",
    "algorithm_name",
    "content_message",
    "hmac_record",
    "key_id_for",
    "md_message",
    "security_data",
    "sign_record",
    "signer_from_private_key",
    "verify_record",
    "verify_signature",
]

Role = Literal["producer", "propagator"]

ALG_SM2_SM3 = sm2.OID_SM2_WITH_SM3  # 1.2.156.10197.1.501 SM3withSM2
ALG_ED25519 = "1.3.101.112"
ALG_ECDSA_P256_SHA256 = "1.2.840.10045.4.3.2"  # ecdsa-with-SHA256 (P-256 keys)
ALG_RSA_SHA256 = "1.2.840.113549.1.1.11"  # sha256WithRSAEncryption (verify only)

#: Algorithm name -> AlgID written by :func:`sign_record`.
ALGORITHMS: dict[str, str] = {
    "SM2-SM3": ALG_SM2_SM3,
    "Ed25519": ALG_ED25519,
    "ECDSA-P256-SHA256": ALG_ECDSA_P256_SHA256,
    "RSA-SHA256": ALG_RSA_SHA256,
}

# AlgID spellings accepted on read -> algorithm name.
_ALG_BY_ID: dict[str, str] = {
    ALG_SM2_SM3: "SM2-SM3",
    sm2.OID_SM2_CURVE: "SM2-SM3",  # the key OID, seen used as AlgID
    "SM2": "SM2-SM3",
    "SM3WITHSM2": "SM2-SM3",
    "SM2-SM3": "SM2-SM3",
    ALG_ED25519: "Ed25519",
    "ED25519": "Ed25519",
    ALG_ECDSA_P256_SHA256: "ECDSA-P256-SHA256",
    "ECDSA-P256-SHA256": "ECDSA-P256-SHA256",
    "ES256": "ECDSA-P256-SHA256",
    ALG_RSA_SHA256: "RSA-SHA256",
    "1.2.840.113549.1.1.1": "RSA-SHA256",  # rsaEncryption, with SHA-256 assumed
    "RSA-SHA256": "RSA-SHA256",
    "SHA256WITHRSA": "RSA-SHA256",
    "RS256": "RSA-SHA256",
}

HMAC_PREFIX = "HMAC-SHA256:"

_ROLE_FIELDS: dict[str, tuple[str, str, str, str]] = {
    # role: (record attribute of the reserved code, key names and attributes)
    "producer": ("reserved_code1", "ContentProducer", "ProduceID", "ReservedCode1"),
    "propagator": ("reserved_code2", "ContentPropagator", "PropagateID", "ReservedCode2"),
}


def algorithm_name(alg_id: str) -> str | None:
    """The algorithm name for an AlgID found in a file (``None`` when unknown)."""
    return _ALG_BY_ID.get(alg_id.strip()) or _ALG_BY_ID.get(alg_id.strip().upper())


def key_id_for(spki_der: bytes) -> str:
    """``KeyID``: first 16 hex characters of SHA-256 over the SubjectPublicKeyInfo DER."""
    return hashlib.sha256(spki_der).hexdigest()[:16]


# ---------------------------------------------------------------------------------------
# Signers
# ---------------------------------------------------------------------------------------
@runtime_checkable
class Signer(Protocol):
    """Anything that can sign a label: a local key, an HSM or KMS adapter."""

    algorithm: str  # "SM2-SM3", "Ed25519", "ECDSA-P256-SHA256"
    alg_id: str  # the AlgID OID written to the file
    key_id: str  # key_id_for(public_key_der)
    public_key_der: bytes  # SubjectPublicKeyInfo DER

    def sign(self, message: bytes) -> bytes:
        """Signature over ``message`` in the algorithm's file format (DER, or raw for Ed25519)."""
        ...


class SM2Signer:
    """SM2 with SM3 and the ``Z_A`` user-ID prefix (default ``1234567812345678``)."""

    algorithm = "SM2-SM3"
    alg_id = ALG_SM2_SM3

    def __init__(
        self,
        key: sm2.SM2PrivateKey,
        *,
        user_id: bytes = sm2.DEFAULT_USER_ID,
        deterministic: bool = False,
    ):
        self.key = key
        self.user_id = user_id
        self.deterministic = deterministic
        self.public_key_der = key.public_key.to_der()
        self.key_id = key_id_for(self.public_key_der)

    def sign(self, message: bytes) -> bytes:
        return self.key.sign(message, self.user_id, deterministic=self.deterministic)

    def private_key_pem(self) -> str:
        return self.key.to_pem()


class Ed25519Signer:
    """Ed25519 (RFC 8032) through ``cryptography``; signatures are raw 64 bytes."""

    algorithm = "Ed25519"
    alg_id = ALG_ED25519

    def __init__(self, key: ed25519.Ed25519PrivateKey):
        self.key = key
        self.public_key_der = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.key_id = key_id_for(self.public_key_der)

    def sign(self, message: bytes) -> bytes:
        return self.key.sign(message)

    def private_key_pem(self) -> str:
        return _pkcs8_pem(self.key)


class EcdsaP256Signer:
    """ECDSA on P-256 with SHA-256 through ``cryptography``; DER signatures."""

    algorithm = "ECDSA-P256-SHA256"
    alg_id = ALG_ECDSA_P256_SHA256

    def __init__(self, key: ec.EllipticCurvePrivateKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise KeyStoreError(f"ECDSA key is on curve {key.curve.name}; only P-256 is supported")
        self.key = key
        self.public_key_der = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.key_id = key_id_for(self.public_key_der)

    def sign(self, message: bytes) -> bytes:
        return self.key.sign(message, ec.ECDSA(hashes.SHA256()))

    def private_key_pem(self) -> str:
        return _pkcs8_pem(self.key)


def _pkcs8_pem(key: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")


def signer_from_private_key(key: object) -> SM2Signer | Ed25519Signer | EcdsaP256Signer:
    """Wrap a private key object (``sm2.SM2PrivateKey`` or a ``cryptography`` key)."""
    if isinstance(key, sm2.SM2PrivateKey):
        return SM2Signer(key)
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return Ed25519Signer(key)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return EcdsaP256Signer(key)
    raise KeyStoreError(
        f"unsupported private key type {type(key).__name__}; use SM2, Ed25519 or ECDSA P-256"
    )


# ---------------------------------------------------------------------------------------
# Signed messages
# ---------------------------------------------------------------------------------------
def md_message(record: AIGCRecord, role: str = "producer") -> bytes:
    """The ``Md`` message: ``"Label":"<v>","ContentProducer":"<v>","ProduceID":"<v>"``
    (producer) or the same over ``ContentPropagator``/``PropagateID`` (propagator).
    Values are used verbatim (decoded record values, UTF-8)."""
    _attr, who_key, id_key, _rc = _role_fields(role)
    who = record.content_producer if role == "producer" else record.content_propagator
    cid = record.produce_id if role == "producer" else record.propagate_id
    text = f'"Label":"{record.label}","{who_key}":"{who}","{id_key}":"{cid}"'
    return text.encode("utf-8")


def content_message(record: AIGCRecord, role: str, bindings: list[tuple[str, str, str]]) -> bytes:
    """The ``Content`` message: the ``Md`` message then, per binding (BType, CntSel, Value),
    ``,"BType":"<t>","CntSel":"<sel>","Value":"<hex>"``."""
    parts = [md_message(record, role)]
    for btype, sel, value in bindings:
        parts.append(f',"BType":"{btype}","CntSel":"{sel}","Value":"{value}"'.encode())
    return b"".join(parts)


#: A per-producer signed-message rule: (record, role) -> message bytes.
MessageRule = Callable[[AIGCRecord, str], bytes]


def _role_fields(role: str) -> tuple[str, str, str, str]:
    try:
        return _ROLE_FIELDS[role]
    except KeyError:
        raise SigningError(f"role must be 'producer' or 'propagator', got {role!r}") from None


# ---------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------
def _check_selector(selector: str) -> None:
    if not selector or any(ord(c) < 0x21 or ord(c) > 0x7E or c in '"\\' for c in selector):
        raise SigningError(
            f"content selector {selector!r} must be non-empty printable ASCII without space, "
            '" or \\ (it is stored inside the label)'
        )


def security_data(
    record: AIGCRecord,
    signer: Signer,
    *,
    role: Role = "producer",
    content: tuple[str, bytes] | None = None,
) -> str:
    """The compact ``SecurityData`` JSON string for ``record`` signed by ``signer``."""
    _role_fields(role)
    who = record.content_producer if role == "producer" else record.content_propagator
    cid = record.produce_id if role == "producer" else record.propagate_id
    if not who or not cid:
        fields = (
            "ContentProducer/ProduceID" if role == "producer" else ("ContentPropagator/PropagateID")
        )
        raise SigningError(f"cannot sign as {role}: {fields} must be filled first")
    alg_id = signer.alg_id
    key_id = signer.key_id
    try:
        md_sig = signer.sign(md_message(record, role))
    except SigningError:
        raise
    except Exception as exc:  # a KMS/HSM adapter may raise anything
        raise SigningError(f"signing with key {key_id} failed: {exc}") from exc
    entries: list[dict[str, Any]] = [
        {
            "Type": "DS",
            "AlgID": alg_id,
            "TBSData": {"Type": "Md"},
            "Signature": md_sig.hex(),
            "KeyID": key_id,
        }
    ]
    if content is not None:
        selector, digest = content
        _check_selector(selector)
        if len(digest) != 32:
            raise SigningError(
                f"content digest must be a 32-byte SHA-256 value, got {len(digest)} bytes"
            )
        binding = ("sha256", selector, digest.hex())
        try:
            c_sig = signer.sign(content_message(record, role, [binding]))
        except SigningError:
            raise
        except Exception as exc:
            raise SigningError(f"signing with key {key_id} failed: {exc}") from exc
        entries.append(
            {
                "Type": "DS",
                "AlgID": alg_id,
                "TBSData": {
                    "Type": "Content",
                    "Bindings": [{"BType": binding[0], "CntSel": binding[1], "Value": binding[2]}],
                },
                "Signature": c_sig.hex(),
                "KeyID": key_id,
            }
        )
    entries.append(
        {
            "Type": "PubKey",
            "AlgID": alg_id,
            "KeyValue": signer.public_key_der.hex(),
            "KeyID": key_id,
        }
    )
    obj = {"SecurityData": {"Type": "TC260PG", "Version": 1, "PubSD": entries}}
    return json.dumps(obj, ensure_ascii=True, separators=(",", ":"))


def sign_record(
    record: AIGCRecord,
    signer: Signer,
    *,
    role: Role = "producer",
    content: tuple[str, bytes] | None = None,
) -> AIGCRecord:
    """Return ``record`` with ``ReservedCode1`` (producer) or ``ReservedCode2`` (propagator)
    set to a ``SecurityData`` string. ``content=(selector, sha256 digest)`` adds a signed
    content binding. Raises :class:`SigningError`."""
    attr = _role_fields(role)[0]
    value = security_data(record, signer, role=role, content=content)
    return record.replace(**{attr: value})


def hmac_record(record: AIGCRecord, secret: bytes, *, role: Role = "producer") -> AIGCRecord:
    """Our non-standard simple mode: ``HMAC-SHA256:<hex>`` over the ``Md`` message."""
    attr = _role_fields(role)[0]
    tag = hmac.new(secret, md_message(record, role), hashlib.sha256).hexdigest()
    return record.replace(**{attr: HMAC_PREFIX + tag})


# ---------------------------------------------------------------------------------------
# Decoding helpers (tolerant)
# ---------------------------------------------------------------------------------------
_HEX_RE = re.compile(r"(?:[0-9a-fA-F]{2})+")
_B64_RE = re.compile(r"[A-Za-z0-9+/_=\-\s]+")


def _byte_candidates(text: str) -> list[bytes]:
    """Possible decodings of a text field: hex first, then base64 (standard / URL-safe)."""
    t = text.strip()
    if t.lower().startswith("0x"):
        t = t[2:]
    out: list[bytes] = []
    if _HEX_RE.fullmatch(t):
        out.append(bytes.fromhex(t))
    if _B64_RE.fullmatch(t):
        compact = "".join(t.split())
        padded = compact + "=" * (-len(compact) % 4)
        for dec in (base64.b64decode, base64.urlsafe_b64decode):
            try:
                raw = dec(padded.encode("ascii"))
            except (binascii.Error, ValueError):
                continue
            if raw and raw not in out:
                out.append(raw)
    return out


def _plausible_sig(raw: bytes) -> bool:
    if len(raw) == 64:
        return True
    try:
        sm2.decode_signature(raw)
    except ValueError:
        return False
    return True


def _decode_signature_field(text: str) -> bytes | None:
    cands = _byte_candidates(text)
    for raw in cands:
        if _plausible_sig(raw):
            return raw
    return cands[0] if cands else None


@dataclass(frozen=True, slots=True)
class _PubKey:
    spki: bytes
    key_id: str
    declared_id: str


def _spki_from_raw(raw: bytes, alg_name: str | None) -> bytes | None:
    if raw[:1] == b"\x30":
        return raw
    if alg_name in (None, "SM2-SM3") and len(raw) in (64, 65, 33):
        try:
            return sm2.SM2PublicKey.from_point(raw).to_der()
        except KeyStoreError:
            pass
    if alg_name == "ECDSA-P256-SHA256" and len(raw) in (65, 33):
        try:
            pub = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)
        except ValueError:
            return None
        return pub.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    if alg_name == "Ed25519" and len(raw) == 32:
        return ed25519.Ed25519PublicKey.from_public_bytes(raw).public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    return None


def _decode_key_field(text: str, alg_name: str | None) -> bytes | None:
    """SubjectPublicKeyInfo DER from a KeyValue (hex/base64 DER, PEM or a raw point)."""
    if "-----BEGIN" in text:
        try:
            for label, der in sm2.pem_decode(text):
                if label == "PUBLIC KEY":
                    return der
        except KeyStoreError:
            return None
        return None
    for raw in _byte_candidates(text):
        spki = _spki_from_raw(raw, alg_name)
        if spki is not None and _spki_parses(spki):
            return spki
    return None


def _spki_parses(spki: bytes) -> bool:
    try:
        sm2.spki_algorithm(spki)
    except ValueError:
        return False
    return True


# ---------------------------------------------------------------------------------------
# Verification primitives
# ---------------------------------------------------------------------------------------
class _KeyMismatch(Exception):
    pass


def verify_signature(alg_name: str, spki: bytes, message: bytes, signature: bytes) -> bool:
    """Check one signature. Raises ``_KeyMismatch`` (internal) when the key does not fit the
    algorithm; returns False for a wrong signature."""
    if alg_name == "SM2-SM3":
        if not sm2.is_sm2_spki(spki):
            raise _KeyMismatch("the public key is not an SM2 key")
        try:
            pub = sm2.load_public_key_der(spki)
        except KeyStoreError as exc:
            raise _KeyMismatch(str(exc)) from None
        return pub.verify(message, signature)
    try:
        key = serialization.load_der_public_key(spki)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise _KeyMismatch(f"cannot load the public key: {exc}") from None
    try:
        if alg_name == "Ed25519":
            if not isinstance(key, ed25519.Ed25519PublicKey):
                raise _KeyMismatch("the public key is not an Ed25519 key")
            key.verify(signature, message)
            return True
        if alg_name == "ECDSA-P256-SHA256":
            if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(
                key.curve, ec.SECP256R1
            ):
                raise _KeyMismatch("the public key is not a P-256 key")
            sig = signature
            if len(sig) == 64 and sig[0] != 0x30:
                sig = encode_dss_signature(
                    int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
                )
            key.verify(sig, message, ec.ECDSA(hashes.SHA256()))
            return True
        if alg_name == "RSA-SHA256":
            if not isinstance(key, rsa.RSAPublicKey):
                raise _KeyMismatch("the public key is not an RSA key")
            key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
            return True
    except InvalidSignature:
        return False
    except ValueError:
        return False
    raise _KeyMismatch(f"algorithm {alg_name} is not supported")


# ---------------------------------------------------------------------------------------
# Reading SecurityData
# ---------------------------------------------------------------------------------------
def _get(obj: Mapping[str, Any], *names: str) -> Any:
    """Case-insensitive lookup of the first present key among ``names``."""
    for n in names:
        if n in obj:
            return obj[n]
    lower = {str(k).lower(): k for k in obj}
    for n in names:
        k = lower.get(n.lower())
        if k is not None:
            return obj[k]
    return None


def _mentions_signature(obj: Any, depth: int = 0) -> bool:
    if depth > 8:
        return False
    if isinstance(obj, dict):
        return any(
            "sign" in str(k).lower() or _mentions_signature(v, depth + 1) for k, v in obj.items()
        )
    if isinstance(obj, list):
        return any(_mentions_signature(v, depth + 1) for v in obj)
    return False


@dataclass(slots=True)
class _EntryResult:
    status: SignatureStatus
    reason: str
    alg_name: str = ""
    alg_id: str = ""
    key_id: str = ""
    key_source: str = ""
    trusted: TrustedKey | None = None
    tbs_type: str = ""
    notes: list[str] = field(default_factory=list)


def _sd_type(entry: Mapping[str, Any]) -> str:
    t = _get(entry, "Type")
    return str(t).strip() if t is not None else ""


def verify_record(
    record: AIGCRecord,
    *,
    role: Role = "producer",
    digest_for: Callable[[str], bytes | None] | None = None,
    trust: TrustStore | None = None,
    rules: Mapping[str, MessageRule] | None = None,
    hmac_secret: bytes | None = None,
) -> SignatureCheck:
    """Verify the ``SecurityData`` in ``ReservedCode1`` (producer) or ``ReservedCode2``
    (propagator).

    ``digest_for(selector)`` gives the SHA-256 of this file's content for a selector (or None
    when the selector is unknown); ``trust`` pins keys; ``rules`` maps a provider value
    (``ContentProducer`` / ``ContentPropagator``, or ``"*"``) to a signed-message rule used
    for every non-``Content`` signature of that provider. Never raises for bad input.
    """
    attr, _who_key, _id_key, rc_name = _role_fields(role)
    raw_value = str(getattr(record, attr)).strip()
    check = SignatureCheck(role=role, status=SignatureStatus.UNSIGNED)
    if not raw_value:
        check.reason = f"{rc_name} is empty: the {role} did not sign the label"
        return check
    if raw_value.upper().startswith(HMAC_PREFIX):
        return _verify_hmac(record, role, raw_value, hmac_secret, check, rc_name)
    try:
        data: Any = json.loads(raw_value)
        if isinstance(data, str):  # doubly encoded
            data = json.loads(data)
    except (ValueError, RecursionError):
        check.status = SignatureStatus.UNVERIFIABLE
        check.reason = (
            f"{rc_name} holds data that is not SecurityData JSON ({_preview(raw_value)}); "
            "its meaning is unknown"
        )
        return check
    sd = _get(data, "SecurityData") if isinstance(data, dict) else None
    if sd is None and isinstance(data, dict) and _get(data, "PubSD", "PubSd") is not None:
        sd = data
    if not isinstance(sd, dict):
        if isinstance(data, dict | list) and _mentions_signature(data):
            check.status = SignatureStatus.UNVERIFIABLE
            check.reason = f"{rc_name} holds a signature in an unknown (non-SecurityData) format"
        else:
            check.reason = f"{rc_name} holds no SecurityData: the label is not signed"
        return check
    pubsd = _get(sd, "PubSD", "PubSd", "PubSDs")
    if not isinstance(pubsd, list):
        check.status = SignatureStatus.UNVERIFIABLE
        check.reason = f"{rc_name} SecurityData has no PubSD list"
        return check
    entries = [e for e in pubsd if isinstance(e, dict)]
    ds_entries = [e for e in entries if _sd_type(e).upper() == "DS"]
    key_entries = [e for e in entries if _sd_type(e).lower() == "pubkey"]
    if not ds_entries:
        check.reason = f"{rc_name} SecurityData holds no signature (DS) entry"
        return check

    embedded = _embedded_keys(key_entries)
    provider = record.content_producer if role == "producer" else record.content_propagator
    rule = None
    if rules:
        rule = rules.get(provider) or rules.get("*")

    results = [_verify_entry(e, record, role, embedded, trust, rule) for e in ds_entries]
    decisive = _pick(results)
    check.status = decisive.status
    check.algorithm = decisive.alg_name
    check.alg_id = decisive.alg_id
    check.key_id = decisive.key_id
    check.key_source = decisive.key_source
    if decisive.trusted is not None:
        check.trusted = True
        check.trusted_name = decisive.trusted.name

    _binding(check, ds_entries, digest_for)
    check.reason = _reason(check, decisive, results, role)
    return check


def _preview(text: str, n: int = 40) -> str:
    return repr(text if len(text) <= n else text[:n] + "...")


def _verify_hmac(
    record: AIGCRecord,
    role: str,
    value: str,
    secret: bytes | None,
    check: SignatureCheck,
    rc_name: str,
) -> SignatureCheck:
    check.algorithm = "HMAC-SHA256"
    if secret is None:
        check.status = SignatureStatus.UNVERIFIABLE
        check.reason = f"{rc_name} holds an HMAC-SHA256 tag; no HMAC secret was supplied"
        return check
    tag = value[len(HMAC_PREFIX) :].strip().lower()
    expected = hmac.new(secret, md_message(record, role), hashlib.sha256).hexdigest()
    if hmac.compare_digest(tag, expected):
        check.status = SignatureStatus.VALID
        check.reason = f"{role} HMAC-SHA256 tag is valid for the supplied secret"
    else:
        check.status = SignatureStatus.INVALID
        check.reason = f"{role} HMAC-SHA256 tag does not match: the label was altered"
    return check


def _embedded_keys(key_entries: list[dict[str, Any]]) -> list[_PubKey]:
    keys: list[_PubKey] = []
    for e in key_entries:
        value = _get(e, "KeyValue", "PubKey", "Value", "Key")
        if not isinstance(value, str):
            continue
        alg = algorithm_name(str(_get(e, "AlgID") or ""))
        spki = _decode_key_field(value, alg)
        if spki is None:
            continue
        declared = _get(e, "KeyID", "KeyId")
        keys.append(_PubKey(spki=spki, key_id=key_id_for(spki), declared_id=str(declared or "")))
    return keys


def _find_key(
    key_id: str, embedded: list[_PubKey], trust: TrustStore | None
) -> tuple[bytes | None, str, str, TrustedKey | None]:
    """(spki, key id, source, trusted entry)."""
    chosen: _PubKey | None = None
    if key_id:
        chosen = next((k for k in embedded if key_id in (k.declared_id, k.key_id)), None)
        if chosen is None and trust is not None:
            t = trust.lookup(key_id=key_id)
            if t is not None:
                return t.public_key_der, t.key_id, "trust-store", t
    if chosen is None and embedded:
        chosen = embedded[0]  # a vendor KeyID that is not our hash: try the file's key
    if chosen is None:
        return None, key_id, "", None
    trusted = trust.lookup(spki=chosen.spki) if trust is not None else None
    return chosen.spki, chosen.key_id, "embedded", trusted


def _verify_entry(
    entry: dict[str, Any],
    record: AIGCRecord,
    role: str,
    embedded: list[_PubKey],
    trust: TrustStore | None,
    rule: MessageRule | None,
) -> _EntryResult:
    alg_id = str(_get(entry, "AlgID", "AlgId", "Alg") or "")
    tbs = _get(entry, "TBSData", "TbsData")
    tbs_type = str(_get(tbs, "Type") or "") if isinstance(tbs, dict) else str(tbs or "")
    res = _EntryResult(SignatureStatus.UNVERIFIABLE, "", alg_id=alg_id, tbs_type=tbs_type)
    alg_name = algorithm_name(alg_id)
    if alg_name is None:
        res.reason = f"signature algorithm {alg_id or '(none)'!r} is not supported"
        return res
    res.alg_name = alg_name
    declared = str(_get(entry, "KeyID", "KeyId") or "")
    spki, key_id, source, trusted = _find_key(declared, embedded, trust)
    res.key_id, res.key_source, res.trusted = key_id, source, trusted
    if spki is None:
        res.status = SignatureStatus.UNKNOWN_KEY
        res.reason = (
            "no public key is embedded in the label and none in the trust store matches"
            + (f" key id {declared}" if declared else "")
        )
        return res
    sig_text = _get(entry, "Signature", "SignValue", "Sig")
    signature = _decode_signature_field(sig_text) if isinstance(sig_text, str) else None

    kind = tbs_type.strip().lower()
    if kind == "content":
        bindings = _bindings(tbs)
        if bindings is None:
            res.reason = "Content signature has no readable Bindings list"
            return res
        messages = [("Content", content_message(record, role, bindings))]
        known = True
    elif rule is not None:
        messages = [("configured rule", rule(record, role))]
        known = True
    elif kind == "md":
        messages = [("Md", md_message(record, role))]
        known = True
    else:
        messages = [("Md", md_message(record, role))]
        known = False

    if signature is None:
        res.status = SignatureStatus.INVALID if known else SignatureStatus.UNVERIFIABLE
        res.reason = "the signature field is missing or is not hex/base64"
        return res
    try:
        ok = any(verify_signature(alg_name, spki, m, signature) for _n, m in messages)
    except _KeyMismatch as exc:
        res.reason = f"{exc} (algorithm {alg_name})"
        return res
    rule_name = messages[0][0]
    if ok:
        res.status = SignatureStatus.VALID
        if known:
            res.reason = f"{alg_name} signature over the {rule_name} message is valid"
        else:
            res.reason = (
                f"{alg_name} signature (TBSData type {tbs_type!r}) is valid over the standard "
                "Md message"
            )
    elif known:
        res.status = SignatureStatus.INVALID
        res.reason = (
            f"{alg_name} signature over the {rule_name} message does not match: the label "
            "fields were changed after signing, or the signature is corrupt"
        )
    else:
        res.status = SignatureStatus.UNVERIFIABLE
        res.reason = (
            f"signed-message rule {tbs_type or '(none)'!r} is unknown and the signature does "
            "not verify over the standard Md message, so it cannot be judged (configure a rule "
            "for this provider)"
        )
    return res


def _bindings(tbs: Any) -> list[tuple[str, str, str]] | None:
    if not isinstance(tbs, dict):
        return None
    raw = _get(tbs, "Bindings", "Binding")
    if isinstance(raw, dict):
        raw = [raw]
    if not isinstance(raw, list) or not raw:
        return None
    out: list[tuple[str, str, str]] = []
    for b in raw:
        if not isinstance(b, dict):
            return None
        out.append(
            (
                str(_get(b, "BType") or ""),
                str(_get(b, "CntSel") or ""),
                str(_get(b, "Value") or ""),
            )
        )
    return out


_ORDER = {
    SignatureStatus.INVALID: 0,
    SignatureStatus.VALID: 1,
    SignatureStatus.UNKNOWN_KEY: 2,
    SignatureStatus.UNVERIFIABLE: 3,
    SignatureStatus.UNSIGNED: 4,
}


def _pick(results: list[_EntryResult]) -> _EntryResult:
    """INVALID wins, then VALID, then UNKNOWN_KEY, then UNVERIFIABLE."""
    return min(results, key=lambda r: _ORDER[r.status])


_SHA256_NAMES = {"sha256", "sha-256", "sha2-256"}


def _binding(
    check: SignatureCheck,
    ds_entries: list[dict[str, Any]],
    digest_for: Callable[[str], bytes | None] | None,
) -> None:
    for e in ds_entries:
        tbs = _get(e, "TBSData", "TbsData")
        if not isinstance(tbs, dict) or str(_get(tbs, "Type") or "").lower() != "content":
            continue
        bindings = _bindings(tbs) or []
        for btype, sel, value in bindings:
            check.binding_selector = sel
            if btype.lower() not in _SHA256_NAMES or digest_for is None:
                check.binding = BindingStatus.NOT_CHECKED
                return
            try:
                current = digest_for(sel)
            except Exception:
                current = None
            if current is None:
                check.binding = BindingStatus.NOT_CHECKED
                return
            check.binding = (
                BindingStatus.INTACT
                if hmac.compare_digest(current.hex(), value.strip().lower())
                else BindingStatus.BROKEN
            )
            return
        check.binding = BindingStatus.NOT_CHECKED
        return
    check.binding = BindingStatus.ABSENT


def _reason(
    check: SignatureCheck, decisive: _EntryResult, results: list[_EntryResult], role: str
) -> str:
    text = f"{role} signature: {decisive.reason}"
    if check.key_source:
        kid = check.key_id or "(no id)"
        if check.trusted:
            text += f"; key {kid} is trusted as {check.trusted_name!r}"
        else:
            text += (
                f"; key {kid} is embedded in the file and not in the trust store, so it proves "
                "integrity only, not who signed"
            )
    others = [r for r in results if r is not decisive and r.status is not decisive.status]
    if others and check.status is SignatureStatus.VALID:
        text += "; other entries: " + "; ".join(
            f"{r.tbs_type or 'DS'}: {r.status.value}" for r in others
        )
    if check.binding is BindingStatus.INTACT:
        text += f"; content binding intact ({check.binding_selector})"
    elif check.binding is BindingStatus.BROKEN:
        text += (
            f"; content binding BROKEN ({check.binding_selector}): the label belongs to other "
            "content or the content changed"
        )
    elif check.binding is BindingStatus.NOT_CHECKED:
        text += f"; content binding not checked ({check.binding_selector or 'no selector'})"
    return text
