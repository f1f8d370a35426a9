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
from pathlib import Path
from typing import Any, BinaryIO

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
from synthlabel.model.results import C2paManifestInfo, C2paSummary

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
    "read_c2pa_file",
    "read_store",
    "summarize_store",
    "walk_manifests",
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
#: Largest JSON report accepted from c2pa (a hostile store can describe itself at length).
MAX_JSON_CHARS = 32 * 1024 * 1024


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


# -- the deep read: every manifest, its own trust ---------------------------------------------

#: Failure codes that only say the signer is not in the trust anchors (or the timestamp's).
_UNTRUSTED_CODES = frozenset({"signingCredential.untrusted", "timeStamp.untrusted"})
#: Failure codes that say the certificate was not valid at signing time / is now expired.
_EXPIRED_CODES = frozenset({"signingCredential.expired", "claimSignature.outsideValidity"})
#: Standing of a manifest, weakest last (a manifest takes the worst that applies).
TRUST_STATES = ("trusted", "untrusted", "expired", "invalid", "missing")

#: Bounds on the walk (a hostile store can list thousands of ingredients or nest deeply).
MAX_MANIFESTS = 500
MAX_DEPTH = 32


def _url_manifest(url: object) -> str:
    """The manifest label inside a JUMBF URI (``self#jumbf=/c2pa/<label>/...``)."""
    if not isinstance(url, str):
        return ""
    _, sep, rest = url.partition("jumbf=")
    if not sep:
        return ""
    parts = [p for p in rest.split("/") if p]
    if len(parts) >= 2 and parts[0] == "c2pa":
        return parts[1]
    return ""


def _coded(items: object) -> list[tuple[str, str]]:
    """``(code, url)`` pairs of a c2pa status list."""
    if not isinstance(items, list):
        return []
    out: list[tuple[str, str]] = []
    for i in items[:5000]:
        if isinstance(i, dict) and i.get("code"):
            url = i.get("url")
            out.append((str(i["code"]), url if isinstance(url, str) else ""))
    return out


def _current_codes(
    store: dict[str, Any], active_label: str, assertion_owner: dict[tuple[str, str], str]
) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """Success and failure codes of this read, by the manifest they are about."""
    ok: dict[str, set[str]] = {}
    bad: dict[str, set[str]] = {}

    def put(target: dict[str, set[str]], pairs: list[tuple[str, str]], fallback: str) -> None:
        for code, url in pairs:
            target.setdefault(_url_manifest(url) or fallback, set()).add(code)

    results = store.get("validation_results")
    if isinstance(results, dict):
        am = results.get("activeManifest")
        if isinstance(am, dict):
            put(ok, _coded(am.get("success")), active_label)
            put(bad, _coded(am.get("failure")), active_label)
        deltas = results.get("ingredientDeltas")
        for d in deltas[:MAX_MANIFESTS] if isinstance(deltas, list) else []:
            if not isinstance(d, dict):
                continue
            uri = d.get("ingredientAssertionURI")
            owner = _url_manifest(uri)
            assertion = uri.rsplit("/", 1)[-1] if isinstance(uri, str) else ""
            fallback = assertion_owner.get((owner, assertion), "")
            vd = d.get("validationDeltas")
            if isinstance(vd, dict) and fallback:
                put(ok, _coded(vd.get("success")), fallback)
                put(bad, _coded(vd.get("failure")), fallback)
    else:  # v1 validation_status: failures only
        put(bad, _coded(store.get("validation_status")), active_label)
    return ok, bad


def _recorded_failures(ingredient: dict[str, Any]) -> list[str]:
    """Failures recorded when the ingredient was ingested (its content hashes were checked
    then; trust was judged by the ingester's anchors, so trust codes are left out)."""
    vr = ingredient.get("validation_results")
    am = vr.get("activeManifest") if isinstance(vr, dict) else None
    pairs = (
        _coded(am.get("failure"))
        if isinstance(am, dict)
        else _coded(ingredient.get("validation_status"))
    )
    return [c for c, _ in pairs if c not in _UNTRUSTED_CODES and not c.endswith(".success")]


def manifest_trust(failures: set[str] | list[str], trusted_code: bool) -> str:
    """The standing of one manifest from its failure codes; ``trusted_code``: c2pa said the
    signer chains to a caller-given anchor. Invalid beats expired beats untrusted, and any
    failure at all rules out trusted."""
    fails = set(failures)
    if fails - _UNTRUSTED_CODES - _EXPIRED_CODES:
        return "invalid"
    if fails & _EXPIRED_CODES:
        return "expired"
    if fails or not trusted_code:
        return "untrusted"
    return "trusted"


def _term(uri: str) -> str:
    return uri.strip().rstrip("/").rsplit("/", 1)[-1]


def _manifest_info(
    label: str,
    manifest: dict[str, Any],
    *,
    role: str,
    trust: str,
    failures: list[str],
    parent: str = "",
    ingredient: dict[str, Any] | None = None,
    depth: int = 0,
) -> C2paManifestInfo:
    acts = _actions(manifest)
    ai_actions: list[str] = []
    for a in acts:
        dst = list(_walk_dst(a))
        for d in dst:
            if is_ai_source_type(d):
                ai_actions.append(f"{a.get('action', '?')}: {_term(d)}")
    dsts = list(dict.fromkeys(_manifest_dsts(manifest)))
    ing = ingredient or {}
    return C2paManifestInfo(
        label=label,
        role=role,
        trust=trust,
        parent=parent,
        ingredient_title=str(ing.get("title", ""))[:200],
        relationship=str(ing.get("relationship", ""))[:40],
        depth=depth,
        claim_generator=_claim_generator(manifest)[:200],
        signer=_signer(manifest)[:200],
        actions=[str(a.get("action", ""))[:100] for a in acts if a.get("action")][:200],
        ai_actions=list(dict.fromkeys(ai_actions))[:50],
        digital_source_types=dsts[:50],
        ai_claim=any(is_ai_source_type(d) for d in dsts),
        failures=sorted(failures)[:50],
    )


def walk_manifests(
    store: dict[str, Any], validation_state: str | None = None
) -> list[C2paManifestInfo]:
    """Every manifest reachable from the active one through ingredients, breadth first
    (active first), each with its own trust standing. Bounded: :data:`MAX_MANIFESTS`
    entries, :data:`MAX_DEPTH` levels; a manifest reached twice is listed once."""
    manifests = store.get("manifests")
    manifests = manifests if isinstance(manifests, dict) else {}
    active_label = store.get("active_manifest")
    if not isinstance(active_label, str) or not isinstance(manifests.get(active_label), dict):
        return []
    # (manifest label, ingredient assertion label) -> the ingredient's manifest label
    owner: dict[tuple[str, str], str] = {}
    for mlabel, m in list(manifests.items())[: MAX_MANIFESTS * 4]:
        ings = m.get("ingredients") if isinstance(m, dict) else None
        for ing in ings[:MAX_MANIFESTS] if isinstance(ings, list) else []:
            if isinstance(ing, dict):
                target = _ingredient_target(ing)
                if target and isinstance(ing.get("label"), str):
                    owner[(str(mlabel), ing["label"])] = target
    ok, bad = _current_codes(store, active_label, owner)

    active = manifests[active_label]
    a_fail = sorted(bad.get(active_label, set()))
    trusted = "signingCredential.trusted" in ok.get(active_label, set()) or (
        (validation_state or "").lower() == "trusted"
    )
    out = [
        _manifest_info(
            active_label,
            active,
            role="active",
            trust=manifest_trust(a_fail, trusted),
            failures=a_fail,
        )
    ]
    seen = {active_label}
    queue: list[tuple[str, dict[str, Any], int]] = [(active_label, active, 0)]
    while queue and len(out) < MAX_MANIFESTS:
        parent_label, parent, depth = queue.pop(0)
        if depth >= MAX_DEPTH:
            continue
        ings = parent.get("ingredients")
        for ing in ings if isinstance(ings, list) else []:
            if len(out) >= MAX_MANIFESTS:
                break
            if not isinstance(ing, dict):
                continue
            target = _ingredient_target(ing)
            if not target or target in seen:
                continue
            seen.add(target)
            m = manifests.get(target)
            if not isinstance(m, dict):
                out.append(
                    C2paManifestInfo(
                        label=target[:200],
                        role="ingredient",
                        trust="missing",
                        parent=parent_label,
                        ingredient_title=str(ing.get("title", ""))[:200],
                        relationship=str(ing.get("relationship", ""))[:40],
                        depth=depth + 1,
                    )
                )
                continue
            fails = set(_recorded_failures(ing)) | bad.get(target, set())
            info = _manifest_info(
                target,
                m,
                role="ingredient",
                trust=manifest_trust(fails, "signingCredential.trusted" in ok.get(target, set())),
                failures=sorted(fails),
                parent=parent_label,
                ingredient=ing,
                depth=depth + 1,
            )
            out.append(info)
            queue.append((target, m, depth + 1))
    return out


def _ingredient_target(ing: dict[str, Any]) -> str:
    for key in ("active_manifest", "manifest"):
        v = ing.get(key)
        if isinstance(v, str) and v:
            return v
    return ""


def summarize_store(
    store: dict[str, Any], validation_state: str | None = None, *, trust_list: bool = False
) -> C2paSummary:
    """Build the summary from the c2pa-python ``Reader.json()`` document.

    ``trust_list``: whether the store was validated against caller-given trust anchors
    (reported as is; trust itself comes from c2pa's validation codes)."""
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
        summary.trust = "invalid"
        summary.trust_list = trust_list
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
    summary.trust_list = trust_list
    summary.manifests = walk_manifests(store, summary.validation_state)
    summary.trust = summary.manifests[0].trust if summary.manifests else "invalid"
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
    data: bytes | BinaryIO, mime: str, *, trust_anchors_pem: bytes | None = None
) -> tuple[dict[str, Any] | None, str | None]:
    """Low level: ``(Reader.json() document, validation_state)`` or ``(None, None)`` when
    the bytes (or the seekable binary stream) carry no manifest. Raises c2pa's own errors,
    and :class:`SynthlabelError` for a JSON report over :data:`MAX_JSON_CHARS`; needs
    c2pa-python."""
    c2pa = import_c2pa()
    if c2pa is None:
        raise SynthlabelError("c2pa-python not installed (pip install 'synthlabel[c2pa]')")
    import io

    stream = io.BytesIO(data) if isinstance(data, bytes | bytearray) else data
    ctx = c2pa.Context.from_dict(c2pa_settings(trust_anchors_pem=trust_anchors_pem))
    try:
        reader = c2pa.Reader.try_create(normalize_mime(mime) or None, stream, None, ctx)
        if reader is None:
            return None, None
        with reader:
            text = reader.json()
            if len(text) > MAX_JSON_CHARS:
                raise SynthlabelError(f"C2PA manifest report too large ({len(text)} characters)")
            store = json.loads(text)
            state = reader.get_validation_state()
    finally:
        ctx.close()
    return (store if isinstance(store, dict) else None), state


def read_c2pa(
    data: bytes,
    mime: str,
    *,
    trust_anchors_pem: bytes | None = None,
    max_bytes: int = MAX_INPUT_BYTES,
) -> C2paSummary:
    """Summarise the C2PA manifest store in ``data`` (a whole file of type ``mime``).

    ``trust_anchors_pem``: PEM bundle of root certificates to trust; without it a
    cryptographically valid manifest reads as ``validation_state="Valid"`` with
    ``signingCredential.untrusted`` among ``validation_errors``; with a matching anchor it
    reads ``"Trusted"``. Tampering (hash or signature mismatch) gives ``"Invalid"``. The
    deep read (``manifests``, ``trust``) tells trusted, untrusted, expired and invalid apart
    for the active manifest and for every ingredient's.

    ``max_bytes``: inputs larger than this are not handed to c2pa (reported unchecked).

    Raises :class:`KeyStoreError` only for an unusable ``trust_anchors_pem`` (a
    configuration error); never raises on the file bytes.
    """
    if trust_anchors_pem is not None:
        check_trust_anchors(trust_anchors_pem)
    c2pa = import_c2pa()
    if c2pa is None:
        return C2paSummary(present=False, checked=False, error="c2pa-python not installed")
    if len(data) > max_bytes:
        return C2paSummary(
            present=looks_like_c2pa(data[: 64 * 1024 * 1024]),
            checked=False,
            error=f"file too large for C2PA validation ({len(data)} bytes)",
        )
    try:
        store, state = read_store(data, mime, trust_anchors_pem=trust_anchors_pem)
    except Exception as exc:
        return _failed_read(looks_like_c2pa(data), exc)
    return _summary(store, state, trust_anchors_pem is not None)


def read_c2pa_file(
    path: str | Path,
    mime: str,
    *,
    trust_anchors_pem: bytes | None = None,
    max_bytes: int = MAX_INPUT_BYTES,
) -> C2paSummary:
    """:func:`read_c2pa` for a file on disk, streamed to c2pa (never loaded whole). Files
    over ``max_bytes`` are not validated. Never raises on the file's content."""
    if trust_anchors_pem is not None:
        check_trust_anchors(trust_anchors_pem)
    if import_c2pa() is None:
        return C2paSummary(present=False, checked=False, error="c2pa-python not installed")
    try:
        size = Path(path).stat().st_size
        if size > max_bytes:
            return C2paSummary(
                present=False,
                checked=False,
                error=f"file too large for C2PA validation ({size} bytes)",
            )
        with open(path, "rb") as fh:
            try:
                store, state = read_store(fh, mime, trust_anchors_pem=trust_anchors_pem)
            except Exception as exc:
                return _failed_read(file_has_jumbf(path), exc)
    except OSError as exc:
        return C2paSummary(present=False, checked=False, error=f"cannot read: {exc.strerror}")
    return _summary(store, state, trust_anchors_pem is not None)


def file_has_jumbf(path: str | Path, limit: int = MAX_INPUT_BYTES) -> bool:
    """:func:`looks_like_c2pa` over a file, read in bounded windows (up to ``limit`` bytes)."""
    window, overlap, done = 8 * 1024 * 1024, 64, 0
    tail = b""
    try:
        with open(path, "rb") as fh:
            while done < limit:
                chunk = fh.read(window)
                if not chunk:
                    return False
                if looks_like_c2pa(tail + chunk):
                    return True
                tail = chunk[-overlap:]
                done += len(chunk)
    except OSError:
        return False
    return False


def _summary(store: dict[str, Any] | None, state: str | None, trust_list: bool) -> C2paSummary:
    if store is None:
        return C2paSummary(present=False)
    try:
        return summarize_store(store, state, trust_list=trust_list)
    except Exception as exc:  # pragma: no cover - defensive: odd JSON from a future c2pa
        return C2paSummary(
            present=True,
            trust="invalid",
            error=f"could not summarise the C2PA manifest: {one_line(exc)}",
        )


def _failed_read(has_store: bool, exc: BaseException) -> C2paSummary:
    message = one_line(exc)
    if has_store:
        # A manifest store is there but c2pa could not even parse it: treat as invalid.
        return C2paSummary(
            present=True,
            validation_state="Invalid",
            validation_errors=["manifest.unreadable"],
            trust="invalid",
            error=f"C2PA manifest store could not be read: {message}",
        )
    kind = type(exc).__name__.lstrip("_").removeprefix("C2pa")
    if kind == "NotSupported":
        return C2paSummary(
            present=False,
            error=f"c2pa does not recognise the bytes as a supported format ({message})",
        )
    return C2paSummary(present=False, error=f"C2PA read failed: {message}")
