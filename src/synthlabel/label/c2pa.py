"""Add a signed C2PA manifest that states what the GB 45438 AIGC record states.

Order matters (interop.md §4, design consequence 1): write the AIGC record and XMP first,
then call :func:`add_manifest` on the finished bytes, so the manifest's hard binding covers
the AIGC bytes. c2pa-rs inserts its manifest store (JPEG APP11, PNG ``caBX``, RIFF ``C2PA``,
ISO BMFF ``uuid`` box, ...) and leaves every other byte, the XMP packet included, unchanged.

The manifest holds:

- ``c2pa.actions.v2``: ``c2pa.created`` with ``digitalSourceType`` trainedAlgorithmicMedia
  for generated content; for an AI edit ``c2pa.opened`` (the parent ingredient) then
  ``c2pa.edited`` with compositeWithTrainedAlgorithmicMedia; every action names the
  ``softwareAgent``;
- ``org.synthlabel.gb45438.aigc``: a custom assertion in this project's own namespace whose
  data is the seven AIGC keys verbatim (strings).

Signing uses the caller's certificate chain and private key, offline: no timestamp
authority, no OCSP, no remote manifests.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from synthlabel.errors import (
    KeyStoreError,
    MalformedInput,
    SigningError,
    SynthlabelError,
    UnsupportedFormat,
)
from synthlabel.formats._c2pa import (
    AIGC_ASSERTION_LABEL,
    c2pa_settings,
    import_c2pa,
    looks_like_c2pa,
    normalize_mime,
    one_line,
)
from synthlabel.formats._xmp import DST_COMPOSITE, DST_TRAINED
from synthlabel.model.aigc import AIGCRecord

__all__ = [
    "AIGC_ASSERTION_LABEL",
    "ALGORITHMS",
    "C2paCredentialError",
    "C2paCredentials",
    "C2paSigningError",
    "C2paUnavailable",
    "add_manifest",
    "credential_problems",
    "load_credentials",
    "manifest_definition",
    "supported_mime_types",
]

#: Signature algorithms c2pa-rs accepts (lower case, as C2paSignerInfo wants them).
ALGORITHMS: tuple[str, ...] = ("es256", "es384", "es512", "ps256", "ps384", "ps512", "ed25519")

#: Instance id given to the parent ingredient so the ``c2pa.opened`` action can name it.
PARENT_ID = "synthlabel-parent"

_EKU_NAMES = {
    "1.3.6.1.5.5.7.3.4": "emailProtection",
    "1.3.6.1.5.5.7.3.36": "documentSigning",
    "1.3.6.1.4.1.62558.2.1": "c2pa-kp-claimSigning",
    "1.3.6.1.4.1.311.76.59.1.9": "Microsoft C2PA signing",
    "1.3.6.1.5.5.7.3.8": "timeStamping",
    "1.3.6.1.5.5.7.3.9": "OCSPSigning",
}
_ANY_EKU = "2.5.29.37.0"

Mode = Literal["create", "edit", "metadata", "propagate"]


class C2paUnavailable(SynthlabelError):
    """c2pa-python (the optional ``synthlabel[c2pa]`` extra) is not installed."""


class C2paCredentialError(KeyStoreError):
    """The C2PA certificate chain or private key is missing, unreadable or unusable."""


class C2paSigningError(SigningError):
    """c2pa could not build or sign the manifest."""


@dataclass(frozen=True)
class C2paCredentials:
    """A C2PA signing identity: end-entity certificate first, then intermediates (PEM)."""

    cert_chain_pem: bytes
    private_key_pem: bytes = field(repr=False)
    alg: str = "es256"  # es256 / es384 / es512 / ps256 / ps384 / ps512 / ed25519


# -- credentials ----------------------------------------------------------------------------


def _load_certs(pem: bytes) -> list[Any]:
    from cryptography import x509

    try:
        return list(x509.load_pem_x509_certificates(pem))
    except ValueError:
        return []


def _load_key(pem: bytes) -> Any:
    from cryptography.hazmat.primitives import serialization

    try:
        return serialization.load_pem_private_key(pem, password=None)
    except TypeError:
        raise C2paCredentialError(
            "the C2PA private key is password-protected; supply an unencrypted PEM key"
        ) from None
    except (ValueError, Exception) as exc:
        raise C2paCredentialError(f"the C2PA private key is not a usable PEM key ({exc})") from None


def _alg_for_key(key: Any) -> str | None:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    if isinstance(key, ec.EllipticCurvePrivateKey):
        return {"secp256r1": "es256", "secp384r1": "es384", "secp521r1": "es512"}.get(
            key.curve.name
        )
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "ed25519"
    if isinstance(key, rsa.RSAPrivateKey):
        return "ps256"
    return None


def _key_kind(key: Any) -> str:
    from cryptography.hazmat.primitives.asymmetric import ec

    if isinstance(key, ec.EllipticCurvePrivateKey):
        return f"EC {key.curve.name}"
    return type(key).__name__.removeprefix("_").replace("PrivateKey", "")


def _alg_matches(alg: str, key: Any) -> bool:
    natural = _alg_for_key(key)
    if natural is None:
        return False
    if alg.startswith("ps"):
        return natural == "ps256"
    return alg == natural


def _public_der(public_key: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    der: bytes = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return der


def credential_problems(creds: C2paCredentials) -> list[str]:
    """Why c2pa-rs would refuse these credentials (empty list: no known problem).

    Mirrors what c2pa-rs 0.91 enforces: chain order, key/certificate match, algorithm,
    validity period, not self-signed, not a CA, keyUsage present, an accepted
    extendedKeyUsage (not anyExtendedKeyUsage), authorityKeyIdentifier present.
    """
    from cryptography import x509
    from cryptography.x509.oid import ExtensionOID

    problems: list[str] = []
    if creds.alg not in ALGORITHMS:
        problems.append(
            f"unknown C2PA algorithm {creds.alg!r} (use one of {', '.join(ALGORITHMS)})"
        )
    certs = _load_certs(creds.cert_chain_pem)
    if not certs:
        return [*problems, "the certificate file holds no PEM certificate"]
    try:
        key = _load_key(creds.private_key_pem)
    except C2paCredentialError as exc:
        return [*problems, exc.message]
    ee = certs[0]
    if _public_der(ee.public_key()) != _public_der(key.public_key()):
        problems.append("the private key does not match the first certificate in the chain")
    elif creds.alg in ALGORITHMS and not _alg_matches(creds.alg, key):
        problems.append(
            f"algorithm {creds.alg} does not fit the {_key_kind(key)} key"
            + (f" (use {_alg_for_key(key)})" if _alg_for_key(key) else "")
        )

    def ext(oid: Any) -> Any:
        try:
            return ee.extensions.get_extension_for_oid(oid).value
        except x509.ExtensionNotFound:
            return None

    now = datetime.now(UTC)
    if ee.not_valid_before_utc > now:
        problems.append(f"the certificate is not valid before {ee.not_valid_before_utc:%Y-%m-%d}")
    if ee.not_valid_after_utc < now:
        problems.append(f"the certificate expired on {ee.not_valid_after_utc:%Y-%m-%d}")
    bc = ext(ExtensionOID.BASIC_CONSTRAINTS)
    if bc is not None and bc.ca:
        problems.append(
            "the first certificate is a CA certificate; put the end-entity signing "
            "certificate first, then its intermediates"
        )
    if ee.issuer == ee.subject:
        problems.append(
            "the certificate is self-signed; C2PA needs a signing certificate issued by a CA"
        )
    if ext(ExtensionOID.KEY_USAGE) is None:
        problems.append("needs a keyUsage extension with digitalSignature")
    eku = ext(ExtensionOID.EXTENDED_KEY_USAGE)
    wanted = "EKU emailProtection (1.3.6.1.5.5.7.3.4) or documentSigning (1.3.6.1.5.5.7.3.36)"
    if eku is None:
        problems.append(f"needs an extendedKeyUsage extension with {wanted}")
    else:
        oids = [o.dotted_string for o in eku]
        if _ANY_EKU in oids:
            problems.append(f"anyExtendedKeyUsage is not allowed; needs {wanted}")
        elif not any(o in _EKU_NAMES for o in oids):
            problems.append(f"needs {wanted}, has {', '.join(oids) or 'none'}")
    if ee.issuer != ee.subject and ext(ExtensionOID.AUTHORITY_KEY_IDENTIFIER) is None:
        problems.append("needs an authorityKeyIdentifier extension")
    return problems


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise C2paCredentialError(f"C2PA {what} file not found: {path}") from None
    except IsADirectoryError:
        raise C2paCredentialError(f"C2PA {what} path is a directory: {path}") from None
    except OSError as exc:
        raise C2paCredentialError(f"cannot read C2PA {what} file {path}: {exc.strerror}") from None


def load_credentials(spec: str) -> C2paCredentials:
    """Load ``"CERT.pem,KEY.pem"`` (optionally ``",ALG"``) as given on the command line.

    The algorithm defaults to the one the key implies (P-256 -> es256, P-384 -> es384,
    P-521 -> es512, Ed25519 -> ed25519, RSA -> ps256). Raises :class:`C2paCredentialError`
    with one line naming the problem: missing file, no certificate, unusable key, key and
    certificate that do not match, or a certificate c2pa would refuse.
    """
    parts = [p.strip() for p in spec.split(",")]
    if len(parts) not in (2, 3) or not all(parts):
        raise C2paCredentialError(
            f"C2PA credentials must be given as CERT.pem,KEY.pem[,ALG], got {spec!r}"
        )
    cert_path = Path(os.path.expanduser(parts[0]))
    key_path = Path(os.path.expanduser(parts[1]))
    cert_pem = _read(cert_path, "certificate")
    key_pem = _read(key_path, "private key")
    if b"PRIVATE KEY" in cert_pem and b"CERTIFICATE" in key_pem and b"PRIVATE KEY" not in key_pem:
        raise C2paCredentialError(
            f"C2PA credentials are swapped: give the certificate first ({key_path},{cert_path})"
        )
    if not _load_certs(cert_pem):
        raise C2paCredentialError(f"{cert_path} holds no PEM certificate")
    key = _load_key_at(key_pem, key_path)
    if len(parts) == 3:
        alg = parts[2].lower()
    else:
        natural = _alg_for_key(key)
        if natural is None:
            raise C2paCredentialError(
                f"{key_path}: a {_key_kind(key)} key cannot sign C2PA manifests "
                "(use EC P-256/P-384/P-521, Ed25519 or RSA)"
            )
        alg = natural
    creds = C2paCredentials(cert_chain_pem=cert_pem, private_key_pem=key_pem, alg=alg)
    problems = credential_problems(creds)
    if problems:
        raise C2paCredentialError(
            "certificate is not valid for signing C2PA: " + "; ".join(problems),
            path=str(cert_path),
        )
    return creds


def _load_key_at(pem: bytes, path: Path) -> Any:
    try:
        return _load_key(pem)
    except C2paCredentialError as exc:
        raise exc.with_path(str(path)) from None


# -- manifest ---------------------------------------------------------------------------------


def supported_mime_types() -> list[str]:
    """MIME types c2pa-python can sign into (``type/subtype`` entries only), sorted.

    Empty when c2pa-python is not installed.
    """
    c2pa = import_c2pa()
    if c2pa is None:
        return []
    try:
        types = c2pa.Builder.get_supported_mime_types()
    except Exception:  # pragma: no cover - native library trouble
        return []
    return sorted({normalize_mime(t) for t in types if "/" in t})


def _synthlabel_version() -> str:
    try:
        from importlib.metadata import version

        return version("synthlabel")
    except Exception:  # pragma: no cover - running from a source tree
        return "0"


def _agent(software: str) -> dict[str, str]:
    name, sep, ver = software.strip().rpartition("/")
    if sep and name and ver[:1].isdigit():
        return {"name": name, "version": ver}
    return {"name": software.strip() or "synthlabel"}


def manifest_definition(
    record: AIGCRecord,
    *,
    mode: Mode = "create",
    software: str = "synthlabel",
    title: str | None = None,
) -> dict[str, Any]:
    """The manifest JSON handed to c2pa's Builder (no c2pa needed: pure data).

    ``mode``: ``create`` (generated content), ``edit`` (AI edit of a parent),
    ``metadata`` (AI content whose parent already carries a manifest: only metadata
    was added), ``propagate`` (a platform's metadata update: no AI claim of its own).
    """
    agent = _agent(software)
    opened: dict[str, Any] = {
        "action": "c2pa.opened",
        "parameters": {"ingredientIds": [PARENT_ID]},
        "softwareAgent": agent,
    }
    actions: list[dict[str, Any]]
    if mode == "create":
        actions = [
            {"action": "c2pa.created", "digitalSourceType": DST_TRAINED, "softwareAgent": agent}
        ]
    elif mode == "edit":
        actions = [
            opened,
            {"action": "c2pa.edited", "digitalSourceType": DST_COMPOSITE, "softwareAgent": agent},
        ]
    elif mode == "metadata":
        actions = [
            opened,
            {
                "action": "c2pa.edited.metadata",
                "digitalSourceType": DST_TRAINED,
                "softwareAgent": agent,
            },
        ]
    elif mode == "propagate":
        actions = [opened, {"action": "c2pa.edited.metadata", "softwareAgent": agent}]
    else:  # pragma: no cover - typed
        raise ValueError(f"unknown manifest mode {mode!r}")
    definition: dict[str, Any] = {
        "claim_generator_info": [{"name": "synthlabel", "version": _synthlabel_version()}],
        "assertions": [
            {"label": "c2pa.actions.v2", "data": {"actions": actions}},
            {"label": AIGC_ASSERTION_LABEL, "data": record.to_dict()},
        ],
    }
    if title:
        definition["title"] = title
    return definition


def _has_manifest(c2pa: Any, data: bytes, mime: str) -> bool:
    if not looks_like_c2pa(data):
        return False
    ctx = c2pa.Context.from_dict(c2pa_settings())
    try:
        reader = c2pa.Reader.try_create(mime, io.BytesIO(data), None, ctx)
    except Exception:
        return False  # unreadable store: c2pa replaces it when signing
    finally:
        ctx.close()
    if reader is None:
        return False
    reader.close()
    return True


def _error_kind(exc: BaseException) -> str:
    return type(exc).__name__.lstrip("_").removeprefix("C2pa")


def _translate(exc: BaseException, creds: C2paCredentials, mime: str) -> SynthlabelError:
    msg = one_line(exc)
    kind = _error_kind(exc)
    low = msg.lower()
    if kind == "NotSupported":
        return UnsupportedFormat(f"c2pa cannot sign {mime} files ({msg})")
    if "could not parse" in low or "asset could not be parsed" in low or "invalid asset" in low:
        return MalformedInput(f"c2pa could not parse the {mime} file: {msg}")
    if kind in ("Signature", "Verify") or "certificate" in low or "signing" in low:
        problems = credential_problems(creds)
        if problems:
            return C2paCredentialError(
                "certificate is not valid for signing C2PA: " + "; ".join(problems)
            )
        if "eku" in low:
            return C2paCredentialError(
                "certificate is not valid for signing C2PA: needs EKU emailProtection "
                f"(1.3.6.1.5.5.7.3.4) or documentSigning (1.3.6.1.5.5.7.3.36) ({msg})"
            )
        return C2paSigningError(f"C2PA signing failed: {msg}")
    return C2paSigningError(f"C2PA manifest could not be added: {msg}")


def add_manifest(
    data: bytes,
    mime: str,
    creds: C2paCredentials,
    *,
    record: AIGCRecord,
    edited: bool = False,
    software: str = "synthlabel",
    title: str | None = None,
    parent: bytes | None = None,
    parent_mime: str | None = None,
    propagation: bool = False,
    existing: Literal["keep", "replace", "error"] = "keep",
    verify_carriers: bool = True,
) -> bytes:
    """Return ``data`` with a signed C2PA manifest matching ``record`` embedded.

    Call it on bytes that already carry the AIGC record/XMP, so the hard binding covers
    them. Which actions are written:

    - ``Label`` "1", not ``edited``: ``c2pa.created`` + trainedAlgorithmicMedia;
    - ``edited=True``: ``c2pa.opened`` (parent ingredient) + ``c2pa.edited`` with
      compositeWithTrainedAlgorithmicMedia;
    - ``Label`` "2"/"3" (a platform's assessment) or ``propagation=True``: ``c2pa.opened`` +
      ``c2pa.edited.metadata`` without a digital source type (the platform does not claim
      generation itself);
    - ``data`` (or ``parent``) already carries a C2PA manifest and ``existing="keep"``
      (default): the
      existing provenance is kept as the parent ingredient and ``c2pa.opened`` +
      ``c2pa.edited.metadata`` (with trainedAlgorithmicMedia for Label "1") is written
      instead of ``c2pa.created``; ``existing="replace"`` drops it, ``"error"`` refuses.

    The parent ingredient is ``parent`` (e.g. the original before the AIGC record was
    written, so its own manifest still validates) or else ``data`` itself.

    ``verify_carriers`` (default on) re-reads the output with synthlabel's own container
    handler and refuses it if the AIGC/XMP carriers no longer read back byte-identical.

    Raises :class:`C2paUnavailable`, :class:`C2paCredentialError`,
    :class:`UnsupportedFormat`, :class:`MalformedInput`, :class:`RecordError` or
    :class:`C2paSigningError`, each with a one-line message.
    """
    c2pa = import_c2pa()
    if c2pa is None:
        raise C2paUnavailable("C2PA signing needs c2pa-python: pip install 'synthlabel[c2pa]'")
    record.check()
    mime_n = normalize_mime(mime)
    if mime_n not in supported_mime_types():
        raise UnsupportedFormat(f"c2pa cannot sign {mime} files")
    problems = credential_problems(creds)
    if problems:
        raise C2paCredentialError(
            "certificate is not valid for signing C2PA: " + "; ".join(problems)
        )

    mode: Mode
    if record.label != "1" or propagation:
        mode = "propagate"
    elif edited:
        mode = "edit"
    else:
        mode = "create"
        p_mime = normalize_mime(parent_mime) if parent_mime else mime_n
        if existing != "replace" and (
            _has_manifest(c2pa, data, mime_n)
            or (parent is not None and _has_manifest(c2pa, parent, p_mime))
        ):
            if existing == "error":
                raise C2paSigningError(
                    "the file already carries a C2PA manifest; pass existing='keep' to add "
                    "ours with it as the parent ingredient, or existing='replace' to drop it"
                )
            mode = "metadata"
    definition = manifest_definition(record, mode=mode, software=software, title=title)

    try:
        info = c2pa.C2paSignerInfo(
            creds.alg.encode("ascii"), creds.cert_chain_pem, creds.private_key_pem, None
        )
        signer = c2pa.Signer.from_info(info)
    except Exception as exc:
        raise _translate(exc, creds, mime_n) from None
    ctx = c2pa.Context.from_dict(c2pa_settings())
    out = io.BytesIO()
    try:
        builder = c2pa.Builder(definition, context=ctx)
        if mode != "create":
            p_mime = normalize_mime(parent_mime) if parent_mime else mime_n
            ingredient = {
                "title": "parent",
                "relationship": "parentOf",
                "instance_id": PARENT_ID,
            }
            builder.add_ingredient(
                ingredient, p_mime, io.BytesIO(data if parent is None else parent)
            )
        builder.sign(signer, mime_n, io.BytesIO(data), out)
    except SynthlabelError:
        raise
    except Exception as exc:
        raise _translate(exc, creds, mime_n) from None
    finally:
        signer.close()
        ctx.close()
    signed = out.getvalue()
    if verify_carriers:
        problem = _carriers_lost(data, signed)
        if problem:
            raise C2paSigningError(
                f"c2pa damaged the {mime_n} file while embedding the manifest ({problem}); "
                "output refused"
            )
    return signed


#: Carrier kinds that must read back unchanged after the manifest is embedded.
_KEPT_CARRIERS = ("xmp", "aigc", "exif-usercomment", "exif-imagedescription", "blob")


def _carriers_lost(before: bytes, after: bytes) -> str | None:
    """Why the AIGC/XMP carriers of ``before`` no longer read back from ``after`` (None: fine,
    or no registered handler can tell). Guards against c2pa-rs layout bugs, e.g. 0.91.3
    shifting ``iloc`` offsets twice for items stored in a second ``mdat`` box."""
    from synthlabel.formats import registry

    try:
        handler = registry.sniff(before[: registry.max_sniff_bytes()])
        meta_before = handler.read(before)
    except Exception:
        return None  # not a container synthlabel reads: nothing to compare
    try:
        meta_after = handler.read(after)
    except SynthlabelError as exc:
        return f"the {handler.name} container no longer parses: {exc.message}"
    except Exception as exc:  # pragma: no cover - a handler bug
        return f"the {handler.name} container no longer parses: {type(exc).__name__}"

    def kept(meta: Any) -> list[tuple[str, bytes]]:
        return [(c.kind, c.data) for c in meta.carriers if c.kind in _KEPT_CARRIERS]

    if kept(meta_after) != kept(meta_before):
        lost = {k for k, _ in kept(meta_before)} - {k for k, _ in kept(meta_after)}
        what = ", ".join(sorted(lost)) or "metadata"
        return f"the {what} carrier no longer reads back unchanged"
    return None
