"""Local signing keys and the trust file.

Layout under the synthlabel home (``$SYNTHLABEL_HOME``, default ``~/.config/synthlabel``)::

    keys/                       mode 0700
      <key_id>.key.pem          private key, PKCS#8 PEM, mode 0600 (created O_EXCL)
      <key_id>.json             metadata: key_id, algorithm, name, created, active, public key
    trust.json                  pinned public keys (see TrustStore)

Rotation: :meth:`KeyStore.generate` (alias :meth:`KeyStore.rotate`) makes the new key the
active one; older keys stay on disk and stay listed, so labels they signed still verify.

Trust: nothing is trusted automatically by the verifier. :meth:`KeyStore.generate` adds the
new public key to the local trust file only when ``trust=True`` (the default, for the
common "I verify my own labels" case); pass ``trust=False`` to keep the trust file curated
by hand.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import warnings
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from synthlabel.errors import KeyStoreError
from synthlabel.model import sm2
from synthlabel.model.signing import (
    EcdsaP256Signer,
    Ed25519Signer,
    Signer,
    SM2Signer,
    key_id_for,
    signer_from_private_key,
)

__all__ = [
    "KeyInfo",
    "KeyPermissionWarning",
    "KeyStore",
    "TrustStore",
    "TrustedKey",
    "default_home",
    "load_signer_file",
    "public_key_algorithm",
    "public_key_der",
]

ENV_HOME = "SYNTHLABEL_HOME"

_ALG_ALIASES = {
    "sm2": "SM2-SM3",
    "sm2-sm3": "SM2-SM3",
    "sm2sm3": "SM2-SM3",
    "ed25519": "Ed25519",
    "ecdsa": "ECDSA-P256-SHA256",
    "ecdsa-p256": "ECDSA-P256-SHA256",
    "ecdsa-p256-sha256": "ECDSA-P256-SHA256",
    "p256": "ECDSA-P256-SHA256",
    "p-256": "ECDSA-P256-SHA256",
}


class KeyPermissionWarning(UserWarning):
    """A private key file or the key directory is readable by other users."""


def default_home() -> Path:
    """``$SYNTHLABEL_HOME`` or ``~/.config/synthlabel``."""
    env = os.environ.get(ENV_HOME)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".config" / "synthlabel"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _norm_algorithm(algorithm: str) -> str:
    alg = _ALG_ALIASES.get(algorithm.strip().lower())
    if alg is None:
        raise KeyStoreError(
            f"unknown key algorithm {algorithm!r}; choose sm2, ed25519 or ecdsa-p256"
        )
    return alg


def _atomic_write(path: Path, data: bytes, mode: int = 0o600) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def _ensure_private_dir(path: Path) -> None:
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        if os.name == "posix":
            os.chmod(path, 0o700)
    except OSError as exc:
        raise KeyStoreError(f"cannot create key directory {path}: {exc.strerror}") from None


def _check_mode(path: Path, what: str) -> None:
    if os.name != "posix":
        return
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return
    if mode & 0o077:
        warnings.warn(
            f"{what} {path} is accessible by other users (mode {mode:04o}); "
            f"run `chmod {'700' if path.is_dir() else '600'} {path}`",
            KeyPermissionWarning,
            stacklevel=3,
        )


# ---------------------------------------------------------------------------------------
# Public-key helpers
# ---------------------------------------------------------------------------------------
def public_key_der(public: str | bytes) -> bytes:
    """SubjectPublicKeyInfo DER from PEM (str/bytes), DER bytes or a hex string."""
    if isinstance(public, bytes) and public.lstrip().startswith(b"-----BEGIN"):
        public = public.decode("ascii", "replace")
    if isinstance(public, str):
        text = public.strip()
        if "-----BEGIN" in text:
            for label, der in sm2.pem_decode(text):
                if label == "PUBLIC KEY":
                    return _checked_spki(der)
                if label.endswith("PRIVATE KEY"):
                    raise KeyStoreError(
                        "this is a private key; give the public key (export it first)"
                    )
            raise KeyStoreError("no '-----BEGIN PUBLIC KEY-----' block found")
        try:
            return _checked_spki(bytes.fromhex(text))
        except ValueError:
            raise KeyStoreError("public key text is neither PEM nor hex DER") from None
    return _checked_spki(public)


def _checked_spki(der: bytes) -> bytes:
    public_key_algorithm(der)
    return der


def public_key_algorithm(spki: bytes) -> str:
    """Algorithm name (``SM2-SM3``, ``Ed25519``, ``ECDSA-P256-SHA256``, ``RSA-SHA256``)."""
    if sm2.is_sm2_spki(spki):
        sm2.load_public_key_der(spki)
        return "SM2-SM3"
    try:
        key = serialization.load_der_public_key(spki)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise KeyStoreError(f"cannot read public key: {exc}") from None
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519"
    if isinstance(key, ec.EllipticCurvePublicKey):
        if isinstance(key.curve, ec.SECP256R1):
            return "ECDSA-P256-SHA256"
        raise KeyStoreError(f"EC public key on unsupported curve {key.curve.name}")
    if isinstance(key, rsa.RSAPublicKey):
        return "RSA-SHA256"
    raise KeyStoreError(f"unsupported public key type {type(key).__name__}")


# ---------------------------------------------------------------------------------------
# Loading private keys
# ---------------------------------------------------------------------------------------
def _signer_from_der(der: bytes, password: bytes | None) -> Signer:
    if sm2.is_sm2_private_der(der):
        return SM2Signer(sm2.load_private_key_der(der))
    try:
        key = serialization.load_der_private_key(der, password=password)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise KeyStoreError(f"cannot read private key: {exc}") from None
    return signer_from_private_key(key)


def _signer_from_bytes(data: bytes, where: str, password: bytes | None = None) -> Signer:
    if b"-----BEGIN" not in data:
        return _signer_from_der(data, password)
    blocks = sm2.pem_decode(data)
    for label, der in blocks:
        if label in ("PRIVATE KEY", "EC PRIVATE KEY", "SM2 PRIVATE KEY"):
            if not der:
                raise KeyStoreError(
                    f"{where}: encrypted legacy PEM keys are not supported; decrypt with "
                    "`openssl pkey -in KEY -out PLAIN.pem`"
                )
            return _signer_from_der(der, None)
        if label == "ENCRYPTED PRIVATE KEY":
            if password is None:
                raise KeyStoreError(
                    f"{where}: the private key is encrypted; supply the password or decrypt "
                    "it with `openssl pkey -in KEY -out PLAIN.pem`"
                )
            try:
                key = serialization.load_der_private_key(der, password=password)
            except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
                raise KeyStoreError(
                    f"{where}: cannot decrypt private key (SM2 keys must be decrypted with "
                    f"openssl first): {exc}"
                ) from None
            return signer_from_private_key(key)
    labels = ", ".join(label for label, _ in blocks) or "none"
    raise KeyStoreError(f"{where}: no private key PEM block found (blocks: {labels})")


def load_signer_file(path: str | os.PathLike[str], *, password: bytes | None = None) -> Signer:
    """A :class:`Signer` from a private key file outside the store (PEM or DER; SM2,
    Ed25519 or ECDSA P-256, detected automatically; OpenSSL PKCS#8 and SEC1 forms)."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise KeyStoreError(f"private key file not found: {p}") from None
    except OSError as exc:
        raise KeyStoreError(f"cannot read private key file {p}: {exc.strerror}") from None
    _check_mode(p, "private key file")
    return _signer_from_bytes(data, str(p), password)


# ---------------------------------------------------------------------------------------
# KeyStore
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class KeyInfo:
    """Metadata of one stored key."""

    key_id: str
    algorithm: str  # "SM2-SM3", "Ed25519", "ECDSA-P256-SHA256"
    name: str
    created: str  # ISO 8601 UTC
    active: bool
    public_key_hex: str  # SubjectPublicKeyInfo DER, hex
    path: Path  # the private key file

    @property
    def public_key_der(self) -> bytes:
        return bytes.fromhex(self.public_key_hex)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["path"] = str(self.path)
        return d


class KeyStore:
    """Private signing keys on disk (see the module docstring for the layout)."""

    def __init__(self, home: Path | None = None):
        self.home = Path(home) if home is not None else default_home()
        self.keys_dir = self.home / "keys"
        #: The trust file next to the keys (``home/trust.json``).
        self.trust = TrustStore(self.home / "trust.json")

    def __repr__(self) -> str:
        return f"KeyStore({str(self.home)!r})"

    # -- paths ----------------------------------------------------------------------
    def _key_path(self, key_id: str) -> Path:
        return self.keys_dir / f"{key_id}.key.pem"

    def _meta_path(self, key_id: str) -> Path:
        return self.keys_dir / f"{key_id}.json"

    def trust_store(self) -> TrustStore:
        """The trust file next to the keys (``home/trust.json``); same as :attr:`trust`."""
        return self.trust

    # -- creating ---------------------------------------------------------------------
    def generate(self, algorithm: str = "sm2", name: str = "", *, trust: bool = True) -> KeyInfo:
        """Make a new key and make it the active one (older keys stay, inactive).

        ``trust=True`` also pins the new public key in ``home/trust.json`` under ``name``
        (or the key id), so labels signed with it verify as trusted on this machine.
        """
        alg = _norm_algorithm(algorithm)
        name = name.strip()
        existing = self.list()
        if name and any(k.name == name for k in existing):
            raise KeyStoreError(f"a key named {name!r} already exists; choose another name")
        signer: SM2Signer | Ed25519Signer | EcdsaP256Signer
        if alg == "SM2-SM3":
            signer = SM2Signer(sm2.generate_private_key())
        elif alg == "Ed25519":
            signer = Ed25519Signer(ed25519.Ed25519PrivateKey.generate())
        else:
            signer = EcdsaP256Signer(ec.generate_private_key(ec.SECP256R1()))
        _ensure_private_dir(self.home)
        _ensure_private_dir(self.keys_dir)
        key_path = self._key_path(signer.key_id)
        try:
            fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise KeyStoreError(f"key file {key_path} already exists") from None
        except OSError as exc:
            raise KeyStoreError(f"cannot create key file {key_path}: {exc.strerror}") from None
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(signer.private_key_pem())
        info = KeyInfo(
            key_id=signer.key_id,
            algorithm=alg,
            name=name,
            created=_now(),
            active=True,
            public_key_hex=signer.public_key_der.hex(),
            path=key_path,
        )
        for old in existing:
            if old.active:
                self._write_meta(_with_active(old, False))
        self._write_meta(info)
        if trust:
            self.trust.add(signer.public_key_der, name or signer.key_id)
        return info

    def rotate(
        self, algorithm: str | None = None, name: str = "", *, trust: bool = True
    ) -> KeyInfo:
        """Generate a replacement for the active key (same algorithm unless given)."""
        current = self.active()
        alg = algorithm or (current.algorithm if current else "sm2")
        return self.generate(alg, name, trust=trust)

    def set_active(self, ref: str) -> KeyInfo:
        """Make an existing key the active one."""
        target = self.get(ref)
        for k in self.list():
            if k.active != (k.key_id == target.key_id):
                self._write_meta(_with_active(k, k.key_id == target.key_id))
        return _with_active(target, True)

    def _write_meta(self, info: KeyInfo) -> None:
        data = {
            "key_id": info.key_id,
            "algorithm": info.algorithm,
            "name": info.name,
            "created": info.created,
            "active": info.active,
            "public_key": info.public_key_hex,
        }
        try:
            _atomic_write(
                self._meta_path(info.key_id),
                (json.dumps(data, indent=2) + "\n").encode("utf-8"),
            )
        except OSError as exc:
            raise KeyStoreError(
                f"cannot write key metadata {self._meta_path(info.key_id)}: {exc.strerror}"
            ) from None

    # -- reading ----------------------------------------------------------------------
    def list(self) -> list[KeyInfo]:
        """All keys, oldest first."""
        if not self.keys_dir.is_dir():
            return []
        out: list[KeyInfo] = []
        for meta in sorted(self.keys_dir.glob("*.json")):
            out.append(self._read_meta(meta))
        out.sort(key=lambda k: (k.created, k.key_id))
        return out

    def _read_meta(self, meta: Path) -> KeyInfo:
        try:
            data = json.loads(meta.read_text(encoding="utf-8"))
        except OSError as exc:
            raise KeyStoreError(f"cannot read key metadata {meta}: {exc.strerror}") from None
        except ValueError as exc:
            raise KeyStoreError(f"key metadata {meta} is not valid JSON: {exc}") from None
        try:
            key_id = str(data["key_id"])
            return KeyInfo(
                key_id=key_id,
                algorithm=str(data["algorithm"]),
                name=str(data.get("name", "")),
                created=str(data.get("created", "")),
                active=bool(data.get("active", False)),
                public_key_hex=str(data["public_key"]),
                path=self._key_path(key_id),
            )
        except (KeyError, TypeError) as exc:
            raise KeyStoreError(f"key metadata {meta} lacks field {exc}") from None

    def get(self, ref: str) -> KeyInfo:
        """A key by exact key id, name, or unique key-id prefix (at least 4 characters)."""
        ref = ref.strip()
        keys = self.list()
        if not ref:
            raise KeyStoreError("empty key reference")
        for k in keys:
            if k.key_id == ref.lower():
                return k
        named = [k for k in keys if k.name and k.name == ref]
        if len(named) == 1:
            return named[0]
        prefix = [k for k in keys if k.key_id.startswith(ref.lower())] if len(ref) >= 4 else []
        if len(prefix) == 1:
            return prefix[0]
        if len(prefix) > 1 or len(named) > 1:
            cands = ", ".join(k.key_id for k in (prefix or named))
            raise KeyStoreError(f"key reference {ref!r} is ambiguous: matches {cands}")
        known = ", ".join(f"{k.key_id}{' (' + k.name + ')' if k.name else ''}" for k in keys)
        hint = "" if len(ref) >= 4 else " (prefixes need at least 4 characters)"
        raise KeyStoreError(
            f"no key matches {ref!r} in {self.keys_dir}{hint}; "
            + (f"known keys: {known}" if known else "the store is empty (generate a key first)")
        )

    def active(self) -> KeyInfo | None:
        """The active key (newest active one if several are marked), or None."""
        act = [k for k in self.list() if k.active]
        return act[-1] if act else None

    def signer(self, ref: str | None = None) -> Signer:
        """A signer for ``ref`` (or the active key)."""
        if ref is None:
            info = self.active()
            if info is None:
                raise KeyStoreError(
                    f"no active signing key in {self.keys_dir}; generate one first "
                    "(`synthlabel keys generate`)"
                )
        else:
            info = self.get(ref)
        _check_mode(self.keys_dir, "key directory")
        try:
            data = info.path.read_bytes()
        except FileNotFoundError:
            raise KeyStoreError(
                f"private key file for key {info.key_id} is missing: {info.path}"
            ) from None
        except OSError as exc:
            raise KeyStoreError(f"cannot read private key {info.path}: {exc.strerror}") from None
        _check_mode(info.path, "private key file")
        signer = _signer_from_bytes(data, str(info.path))
        if signer.key_id != info.key_id:
            raise KeyStoreError(
                f"private key {info.path} does not match its metadata (key id {signer.key_id})"
            )
        return signer

    def export_public(self, ref: str | None = None) -> str:
        """The public key as PEM (``-----BEGIN PUBLIC KEY-----``)."""
        info = self.get(ref) if ref is not None else self.active()
        if info is None:
            raise KeyStoreError("no active key to export")
        return sm2.pem_encode("PUBLIC KEY", info.public_key_der)

    @staticmethod
    def load_signer_file(path: str | os.PathLike[str], *, password: bytes | None = None) -> Signer:
        """See :func:`load_signer_file`."""
        return load_signer_file(path, password=password)


def _with_active(info: KeyInfo, active: bool) -> KeyInfo:
    return KeyInfo(
        key_id=info.key_id,
        algorithm=info.algorithm,
        name=info.name,
        created=info.created,
        active=active,
        public_key_hex=info.public_key_hex,
        path=info.path,
    )


# ---------------------------------------------------------------------------------------
# TrustStore
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class TrustedKey:
    """A pinned public key."""

    key_id: str
    name: str
    algorithm: str
    public_key_hex: str  # SubjectPublicKeyInfo DER, hex
    added: str

    @property
    def public_key_der(self) -> bytes:
        return bytes.fromhex(self.public_key_hex)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class TrustStore:
    """Pinned public keys in a JSON file (default ``home/trust.json``).

    Layout: ``{"version": 1, "keys": [{"key_id", "name", "algorithm", "public_key"
    (hex SPKI DER), "added"}]}``. Key ids are recomputed from the public key on load.
    """

    def __init__(self, path: Path | None = None):
        self.path = Path(path) if path is not None else default_home() / "trust.json"
        self._cache: tuple[tuple[int, int], list[TrustedKey]] | None = None

    def __repr__(self) -> str:
        return f"TrustStore({str(self.path)!r})"

    def _load(self) -> list[TrustedKey]:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise KeyStoreError(f"cannot read trust file {self.path}: {exc.strerror}") from None
        stamp = (st.st_mtime_ns, st.st_size)
        if self._cache is not None and self._cache[0] == stamp:
            return list(self._cache[1])
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise KeyStoreError(f"cannot read trust file {self.path}: {exc.strerror}") from None
        except ValueError as exc:
            raise KeyStoreError(f"trust file {self.path} is not valid JSON: {exc}") from None
        entries = data.get("keys") if isinstance(data, dict) else None
        if not isinstance(entries, list):
            raise KeyStoreError(f"trust file {self.path} has no 'keys' list")
        keys: list[TrustedKey] = []
        for i, e in enumerate(entries):
            try:
                spki = bytes.fromhex(str(e["public_key"]))
                keys.append(
                    TrustedKey(
                        key_id=key_id_for(spki),  # recomputed: never trust a stored id
                        name=str(e.get("name", "")),
                        algorithm=str(e.get("algorithm", "")),
                        public_key_hex=spki.hex(),
                        added=str(e.get("added", "")),
                    )
                )
            except (KeyError, TypeError, ValueError, AttributeError):
                raise KeyStoreError(
                    f"trust file {self.path}: entry {i + 1} has no valid public_key"
                ) from None
        self._cache = (stamp, keys)
        return list(keys)

    def _save(self, keys: Iterable[TrustedKey]) -> None:
        data = {
            "version": 1,
            "keys": [
                {
                    "key_id": k.key_id,
                    "name": k.name,
                    "algorithm": k.algorithm,
                    "public_key": k.public_key_hex,
                    "added": k.added,
                }
                for k in keys
            ],
        }
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            _atomic_write(self.path, (json.dumps(data, indent=2) + "\n").encode("utf-8"), 0o644)
        except OSError as exc:
            raise KeyStoreError(f"cannot write trust file {self.path}: {exc.strerror}") from None
        self._cache = None

    def add(self, public: str | bytes, name: str = "") -> str:
        """Pin a public key (PEM, DER or hex SPKI); returns its key id. Re-adding a key
        updates its name."""
        spki = public_key_der(public)
        alg = public_key_algorithm(spki)
        kid = key_id_for(spki)
        keys = self._load()
        name = name.strip()
        for i, k in enumerate(keys):
            if k.public_key_hex == spki.hex():
                if name and name != k.name:
                    keys[i] = TrustedKey(k.key_id, name, k.algorithm, k.public_key_hex, k.added)
                    self._save(keys)
                return kid
        keys.append(TrustedKey(kid, name or kid, alg, spki.hex(), _now()))
        self._save(keys)
        return kid

    def remove(self, ref: str) -> TrustedKey:
        """Un-pin a key by key id, unique key-id prefix (4+ chars) or name."""
        keys = self._load()
        target = _match_trusted(keys, ref, self.path)
        self._save(k for k in keys if k.public_key_hex != target.public_key_hex)
        return target

    def list(self) -> list[TrustedKey]:
        return self._load()

    def get(self, ref: str) -> TrustedKey:
        return _match_trusted(self._load(), ref, self.path)

    def lookup(self, *, key_id: str | None = None, spki: bytes | None = None) -> TrustedKey | None:
        """The pinned key with exactly this SubjectPublicKeyInfo (when ``spki`` is given) or
        this full key id; None when not pinned."""
        keys = self._load()
        if spki is not None:
            h = spki.hex()
            return next((k for k in keys if k.public_key_hex == h), None)
        if key_id:
            kid = key_id.strip().lower()
            return next((k for k in keys if k.key_id == kid), None)
        return None


def _match_trusted(keys: list[TrustedKey], ref: str, path: Path) -> TrustedKey:
    ref = ref.strip()
    for k in keys:
        if k.key_id == ref.lower():
            return k
    named = [k for k in keys if k.name == ref]
    if len(named) == 1:
        return named[0]
    prefix = [k for k in keys if len(ref) >= 4 and k.key_id.startswith(ref.lower())]
    if len(prefix) == 1:
        return prefix[0]
    if len(prefix) > 1 or len(named) > 1:
        cands = ", ".join(k.key_id for k in (prefix or named))
        raise KeyStoreError(f"trusted key reference {ref!r} is ambiguous: matches {cands}")
    raise KeyStoreError(f"no trusted key matches {ref!r} in {path}")
