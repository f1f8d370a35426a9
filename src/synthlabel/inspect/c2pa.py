"""Read a C2PA manifest store with c2pa-python and summarise what it claims.

The summary answers the questions a GB 45438 platform asks (interop.md §3.2): is there a
manifest, does it (or any ingredient's manifest) claim AI generation through an IPTC
``digitalSourceType``, and is the signature valid, valid-but-untrusted or invalid.

The AI verdict is kept apart from signature validity: a tampered or untrusted manifest still
reports the digital source types it names, and ``validation_state`` says how far to believe
them.

Everything runs offline: remote manifests and OCSP are never fetched, and trust comes only
from the anchors the caller passes. :func:`read_c2pa` never raises on arbitrary bytes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from synthlabel.errors import KeyStoreError, SynthlabelError
from synthlabel.formats._c2pa import (
    AIGC_ASSERTION_LABEL,
    c2pa_settings,
    import_c2pa,
    looks_like_c2pa,
    normalize_mime,
    one_line,
)
from synthlabel.formats._xmp import DST_COMPOSITE, DST_TRAINED
from synthlabel.model.results import C2paSummary

__all__ = [
    "AIGC_ASSERTION_LABEL",
    "AI_TERMS",
    "DST_COMPOSITE",
    "DST_TRAINED",
    "aigc_assertion",
    "c2pa_available",
    "c2pa_settings",
    "is_ai_source_type",
    "looks_like_c2pa",
    "normalize_mime",
    "read_c2pa",
    "read_store",
    "summarize_store",
]

#: IPTC digital source type terms that claim generative (trained-model) AI.
#: ``algorithmicMedia`` (procedural, no training data) and ``compositeSynthetic`` are not.
AI_TERMS = frozenset({"trainedAlgorithmicMedia", "compositeWithTrainedAlgorithmicMedia"})

_DST_PREFIXES = (
    "http://cv.iptc.org/newscodes/digitalsourcetype/",
    "https://cv.iptc.org/newscodes/digitalsourcetype/",
)

#: Largest input handed to c2pa (the pipeline limit; the native reader streams it).
MAX_INPUT_BYTES = 2 * 1024 * 1024 * 1024


def c2pa_available() -> bool:
    return import_c2pa() is not None


def check_trust_anchors(pem: bytes) -> None:
    """Raise :class:`KeyStoreError` unless ``pem`` holds at least one X.509 certificate."""
    from cryptography import x509

    try:
        certs = x509.load_pem_x509_certificates(pem)
    except ValueError as exc:
        raise KeyStoreError(
            f"C2PA trust anchors are not a PEM certificate bundle ({exc})"
        ) from None
    if not certs:  # pragma: no cover - load_pem_x509_certificates raises instead
        raise KeyStoreError("C2PA trust anchors hold no certificate")


def is_ai_source_type(uri: str) -> bool:
    """True for IPTC ``trainedAlgorithmicMedia`` and ``compositeWithTrainedAlgorithmicMedia``."""
    u = uri.strip()
    for prefix in _DST_PREFIXES:
        if u.startswith(prefix):
            return u[len(prefix) :].strip("/") in AI_TERMS
    return False


# -- manifest-store walking ---------------------------------------------------------------


def _assertions(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    items = manifest.get("assertions")
    return [a for a in items if isinstance(a, dict)] if isinstance(items, list) else []


def _is_actions_label(label: object) -> bool:
    if not isinstance(label, str):
        return False
    base = label.split("__", 1)[0]  # repeated assertions carry a __N suffix
    return base in ("c2pa.actions", "c2pa.actions.v2")


def _actions(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for a in _assertions(manifest):
        if not _is_actions_label(a.get("label")):
            continue
        data = a.get("data")
        acts = data.get("actions") if isinstance(data, dict) else None
        if isinstance(acts, list):
            out.extend(x for x in acts if isinstance(x, dict))
    return out


def _walk_dst(value: Any, depth: int = 0) -> Iterator[str]:
    """Every digitalSourceType value nested anywhere in an assertion's data."""
    if depth > 12:
        return
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(k, str) and k.split(":")[-1].lower() == "digitalsourcetype":
                if isinstance(v, str):
                    yield v
                elif isinstance(v, dict):  # JSON-LD {"@id": uri}
                    ident = v.get("@id")
                    if isinstance(ident, str):
                        yield ident
                    yield from _walk_dst(v, depth + 1)
                else:
                    yield from _walk_dst(v, depth + 1)
            else:
                yield from _walk_dst(v, depth + 1)
    elif isinstance(value, list):
        for v in value:
            yield from _walk_dst(v, depth + 1)


def _manifest_dsts(manifest: dict[str, Any]) -> list[str]:
    """DSTs in actions (v1/v2, templates too) and in metadata assertions (IPTC fields)."""
    out: list[str] = []
    for a in _assertions(manifest):
        out.extend(d.strip() for d in _walk_dst(a.get("data")) if d.strip())
    return out


def _ingredient_manifest_labels(manifest: dict[str, Any]) -> list[str]:
    labels: list[str] = []
    ingredients = manifest.get("ingredients")
    if not isinstance(ingredients, list):
        return labels
    for ing in ingredients:
        if not isinstance(ing, dict):
            continue
        for key in ("active_manifest", "manifest"):
            v = ing.get(key)
            if isinstance(v, str) and v:
                labels.append(v)
                break
    return labels


def _claim_generator(manifest: dict[str, Any]) -> str:
    info = manifest.get("claim_generator_info")
    if isinstance(info, list) and info and isinstance(info[0], dict):
        name = str(info[0].get("name", "")).strip()
        version = str(info[0].get("version", "")).strip()
        if name:
            return f"{name}/{version}" if version else name
    gen = manifest.get("claim_generator")
    return gen.strip() if isinstance(gen, str) else ""


def _signer(manifest: dict[str, Any]) -> str:
    sig = manifest.get("signature_info")
    if not isinstance(sig, dict):
        return ""
    for key in ("common_name", "issuer"):
        v = sig.get(key)
        if isinstance(v, str) and v.strip():
            return v.strip()
    return ""


def _failure_codes(store: dict[str, Any], active: dict[str, Any] | None) -> list[str]:
    """Failure codes of the active manifest, then ``ingredient:``-prefixed ones: failures
    found now in ingredient manifests (deltas) and those recorded when each parent or
    component was ingested (e.g. ``ingredient:assertion.dataHash.mismatch`` after a
    platform rewrote the AIGC record of a signed file and re-signed it)."""
    out: list[str] = []
    results = store.get("validation_results")
    if isinstance(results, dict):
        current = results.get("activeManifest")
        if isinstance(current, dict):
            out.extend(_codes(current.get("failure")))
        deltas = results.get("ingredientDeltas")
        if isinstance(deltas, list):
            for d in deltas:
                vd = d.get("validationDeltas") if isinstance(d, dict) else None
                if isinstance(vd, dict):
                    out.extend("ingredient:" + c for c in _codes(vd.get("failure")))
    else:
        out.extend(_codes(store.get("validation_status")))
    ingredients = active.get("ingredients") if isinstance(active, dict) else None
    for ing in ingredients if isinstance(ingredients, list) else []:
        vr = ing.get("validation_results") if isinstance(ing, dict) else None
        am = vr.get("activeManifest") if isinstance(vr, dict) else None
        recorded = (
            _codes(am.get("failure"))
            if isinstance(am, dict)
            else _codes(ing.get("validation_status") if isinstance(ing, dict) else None)
        )
        # Trust was judged by the signer's settings at ingest time, not by this reader's.
        out.extend("ingredient:" + c for c in recorded if c not in _INGEST_TRUST_CODES)
    return list(dict.fromkeys(out))


_INGEST_TRUST_CODES = frozenset({"signingCredential.untrusted"})


def _codes(items: object) -> list[str]:
    if not isinstance(items, list):
        return []
    return [str(i["code"]) for i in items if isinstance(i, dict) and i.get("code")]


def summarize_store(store: dict[str, Any], validation_state: str | None = None) -> C2paSummary:
    """Build the summary from the c2pa-python ``Reader.json()`` document."""
    manifests = store.get("manifests")
    manifests = manifests if isinstance(manifests, dict) else {}
    active_label = store.get("active_manifest")
    active_label = active_label if isinstance(active_label, str) else ""
    active = manifests.get(active_label)
    summary = C2paSummary(present=True, active_manifest=active_label)
    state = validation_state or store.get("validation_state")
    summary.validation_state = state if isinstance(state, str) else ""
    summary.validation_errors = _failure_codes(store, active if isinstance(active, dict) else None)
    if not isinstance(active, dict):
        summary.error = "manifest store has no active manifest"
        if not summary.validation_state:
            summary.validation_state = "Invalid"
        return summary
    summary.claim_generator = _claim_generator(active)
    summary.signer = _signer(active)
    summary.actions = [str(a.get("action", "")) for a in _actions(active) if a.get("action")]

    dsts: list[str] = list(_manifest_dsts(active))
    seen = {active_label}
    queue = _ingredient_manifest_labels(active)
    while queue and len(seen) <= 1000:
        label = queue.pop(0)
        if label in seen:
            continue
        seen.add(label)
        m = manifests.get(label)
        if isinstance(m, dict):
            dsts.extend(_manifest_dsts(m))
            queue.extend(_ingredient_manifest_labels(m))
    summary.digital_source_types = list(dict.fromkeys(dsts))
    summary.ai_claim = any(is_ai_source_type(d) for d in summary.digital_source_types)
    return summary


def aigc_assertion(store: dict[str, Any]) -> dict[str, str] | None:
    """The AIGC record carried by our custom assertion in the active manifest, if any."""
    manifests = store.get("manifests")
    active = manifests.get(store.get("active_manifest")) if isinstance(manifests, dict) else None
    if not isinstance(active, dict):
        return None
    for a in _assertions(active):
        if a.get("label") == AIGC_ASSERTION_LABEL and isinstance(a.get("data"), dict):
            return {str(k): str(v) for k, v in a["data"].items()}
    return None


def read_store(
    data: bytes, mime: str, *, trust_anchors_pem: bytes | None = None
) -> tuple[dict[str, Any] | None, str | None]:
    """Low level: ``(Reader.json() document, validation_state)`` or ``(None, None)`` when
    the bytes carry no manifest. Raises c2pa's own errors; needs c2pa-python."""
    c2pa = import_c2pa()
    if c2pa is None:
        raise SynthlabelError("c2pa-python not installed (pip install 'synthlabel[c2pa]')")
    import io

    ctx = c2pa.Context.from_dict(c2pa_settings(trust_anchors_pem=trust_anchors_pem))
    try:
        reader = c2pa.Reader.try_create(normalize_mime(mime) or None, io.BytesIO(data), None, ctx)
        if reader is None:
            return None, None
        with reader:
            store = json.loads(reader.json())
            state = reader.get_validation_state()
    finally:
        ctx.close()
    return (store if isinstance(store, dict) else None), state


def read_c2pa(data: bytes, mime: str, *, trust_anchors_pem: bytes | None = None) -> C2paSummary:
    """Summarise the C2PA manifest store in ``data`` (a whole file of type ``mime``).

    ``trust_anchors_pem``: PEM bundle of root certificates to trust; without it a
    cryptographically valid manifest reads as ``validation_state="Valid"`` with
    ``signingCredential.untrusted`` among ``validation_errors``; with a matching anchor it
    reads ``"Trusted"``. Tampering (hash or signature mismatch) gives ``"Invalid"``.

    Raises :class:`KeyStoreError` only for an unusable ``trust_anchors_pem`` (a
    configuration error); never raises on the file bytes.
    """
    if trust_anchors_pem is not None:
        check_trust_anchors(trust_anchors_pem)
    c2pa = import_c2pa()
    if c2pa is None:
        return C2paSummary(present=False, checked=False, error="c2pa-python not installed")
    if len(data) > MAX_INPUT_BYTES:
        return C2paSummary(
            present=looks_like_c2pa(data[: 64 * 1024 * 1024]),
            checked=False,
            error=f"file too large for C2PA validation ({len(data)} bytes)",
        )
    try:
        store, state = read_store(data, mime, trust_anchors_pem=trust_anchors_pem)
    except Exception as exc:
        return _failed_read(data, exc)
    if store is None:
        return C2paSummary(present=False)
    try:
        return summarize_store(store, state)
    except Exception as exc:  # pragma: no cover - defensive: odd JSON from a future c2pa
        return C2paSummary(
            present=True, error=f"could not summarise the C2PA manifest: {one_line(exc)}"
        )


def _failed_read(data: bytes, exc: BaseException) -> C2paSummary:
    message = one_line(exc)
    if looks_like_c2pa(data):
        # A manifest store is there but c2pa could not even parse it: treat as invalid.
        return C2paSummary(
            present=True,
            validation_state="Invalid",
            validation_errors=["manifest.unreadable"],
            error=f"C2PA manifest store could not be read: {message}",
        )
    kind = type(exc).__name__.lstrip("_").removeprefix("C2pa")
    if kind == "NotSupported":
        return C2paSummary(
            present=False,
            error=f"c2pa does not recognise the bytes as a supported format ({message})",
        )
    return C2paSummary(present=False, error=f"C2PA read failed: {message}")
