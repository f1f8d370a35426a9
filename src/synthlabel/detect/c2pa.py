"""C2PA manifests as findings: the AI claim, and how far its signer can be believed.

The metadata inspection reads the manifest store with c2pa-python and validates it against
the user's trust anchors (``asset.report.c2pa``); the deep read walks every manifest, from
the active one through its ingredients at any depth, each with its own standing
(:class:`~synthlabel.model.results.C2paManifestInfo`: trusted, untrusted, expired, invalid).
A manifest *claims AI* when an action or another assertion of it names the IPTC
``trainedAlgorithmicMedia`` or ``compositeWithTrainedAlgorithmicMedia`` digital source type.

Codes (one finding per file, or one per AI ingredient):

* ``c2pa.ai_claim.trusted`` (conclusive): the active manifest claims AI, validates, and its
  signer chains to one of the caller's trust anchors;
* ``c2pa.ai_claim.untrusted`` (strong): it validates, the signer is not in the trust list
  (or none was given): anyone can sign with their own certificate;
* ``c2pa.ai_claim.expired`` (moderate): the signing certificate has expired (or was not valid
  when it signed); even a certificate under a trusted root is never upgraded to trusted;
* ``c2pa.ai_claim.invalid`` (moderate): hashes or signature do not match, the certificate is
  bad or revoked;
* ``c2pa.ai_claim.ingredient``: only an ingredient's manifest claims AI (an edit of an AI
  image); the strength is that ingredient's own standing (as above), lowered to moderate
  when the active manifest itself is invalid (the link from this content to the ingredient
  is then broken). The finding names the ingredient (title, manifest label, depth).

A manifest store without any AI claim gives no finding (``report.c2pa.manifests`` still
lists it). The detector never raises on file content.

WAV and PDF handlers do not expose their C2PA carriers, and large files are inspected in
place without validation; for those the detector reads the store itself (when the bytes or
file contain a JUMBF ``c2pa`` box) with c2pa-python, under a size cap, and fills
``asset.report.c2pa``. Trust anchors for that read come from
``DetectOptions.extra["c2pa"]["trust_anchors_pem"]`` (PEM bytes or a file path); without
them such a manifest can only read as untrusted, never trusted. Cap:
``extra["c2pa"]["max_bytes"]`` (default :data:`MAX_FALLBACK_BYTES`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from synthlabel.detect.base import Asset, DetectOptions
from synthlabel.errors import KeyStoreError
from synthlabel.model.findings import Finding, Strength
from synthlabel.model.results import C2paManifestInfo, C2paSummary

SOURCE = (
    "C2PA 2.1 §15.10 (validation: trust, expiry), §18 (actions, ingredients, "
    "digitalSourceType); IPTC NewsCodes digitalsourcetype"
)

#: Largest file the detector hands to c2pa itself (when the inspection did not).
MAX_FALLBACK_BYTES = 512 * 1024 * 1024
#: At most this many ingredient findings per file.
MAX_INGREDIENT_FINDINGS = 8

_STRENGTH = {
    "trusted": Strength.CONCLUSIVE,
    "untrusted": Strength.STRONG,
    "expired": Strength.MODERATE,
    "invalid": Strength.MODERATE,
}

_WORDS = {
    "trusted": "signed by a trusted certificate",
    "untrusted": "validates, but the signer is not in the trust list",
    "expired": "the signing certificate has expired (not trusted, whatever its root)",
    "invalid": "the manifest does not validate",
}


class C2paDetector:
    id = "c2pa"
    name = "C2PA manifest AI claims"
    media_kinds = None
    cost = "cheap"
    codes = (
        "c2pa.ai_claim.trusted",
        "c2pa.ai_claim.untrusted",
        "c2pa.ai_claim.expired",
        "c2pa.ai_claim.invalid",
        "c2pa.ai_claim.ingredient",
    )

    def detect(self, asset: Asset, options: DetectOptions) -> list[Finding]:
        c2pa = summary_for(asset, options)
        if c2pa is None or not c2pa.present:
            return []
        if not c2pa.manifests:
            return self._legacy(c2pa)
        active = c2pa.manifests[0]
        if active.ai_claim:
            return [self._active_finding(c2pa, active)]
        out: list[Finding] = []
        for m in c2pa.manifests[1:]:
            if m.ai_claim and m.trust in _STRENGTH:
                out.append(self._ingredient_finding(c2pa, active, m))
                if len(out) >= MAX_INGREDIENT_FINDINGS:
                    break
        return out

    def _active_finding(self, c2pa: C2paSummary, m: C2paManifestInfo) -> Finding:
        state = m.trust if m.trust in _STRENGTH else "invalid"
        signer = m.signer or "an unknown signer"
        summary = f"C2PA manifest claims AI generation ({_claim_words(m)}), signed by {signer}: "
        summary += _WORDS[state]
        if state == "untrusted" and not c2pa.trust_list:
            summary += " (no trust list given)"
        if state in ("invalid", "expired") and m.failures:
            summary += f" ({', '.join(m.failures[:3])})"
        return Finding(
            self.id,
            f"c2pa.ai_claim.{state}",
            summary,
            _STRENGTH[state],
            f"C2PA active manifest {m.label}",
            SOURCE,
            1.0 if state == "trusted" else None,
            _details(c2pa, m),
        )

    def _ingredient_finding(
        self, c2pa: C2paSummary, active: C2paManifestInfo, m: C2paManifestInfo
    ) -> Finding:
        state = m.trust
        strength = _STRENGTH[state]
        capped = active.trust == "invalid" and strength.rank > Strength.MODERATE.rank
        if capped:
            strength = Strength.MODERATE
        title = f"'{m.ingredient_title}'" if m.ingredient_title else "an untitled ingredient"
        summary = (
            f"C2PA ingredient {title} ({m.relationship or 'ingredient'}, depth {m.depth}) "
            f"claims AI generation ({_claim_words(m)}), signed by {m.signer or 'an unknown signer'}"
            f": {_WORDS[state]}"
        )
        if capped:
            summary += "; the active manifest does not validate, so the link is unproven"
        details = _details(c2pa, m)
        details.update(
            ingredient_title=m.ingredient_title,
            ingredient_manifest=m.label,
            ingredient_trust=state,
            relationship=m.relationship,
            depth=m.depth,
            parent_manifest=m.parent,
            active_trust=active.trust,
            active_signer=active.signer,
            active_actions=list(active.actions),
        )
        return Finding(
            self.id,
            "c2pa.ai_claim.ingredient",
            summary,
            strength,
            f"C2PA ingredient {title} (manifest {m.label})",
            SOURCE,
            None,
            details,
        )

    def _legacy(self, c2pa: C2paSummary) -> list[Finding]:
        """A summary without the deep read (built by other code): judge the store as a whole
        from its state and failure codes, never better than they allow."""
        if not c2pa.ai_claim:
            return []
        from synthlabel.inspect.c2pa import manifest_trust

        own = [e for e in c2pa.validation_errors if not e.startswith("ingredient:")]
        state = manifest_trust(own, (c2pa.validation_state or "").lower() == "trusted")
        if c2pa.error and state == "trusted":  # pragma: no cover - defensive
            state = "invalid"
        m = C2paManifestInfo(
            label=c2pa.active_manifest,
            role="active",
            trust=state,
            claim_generator=c2pa.claim_generator,
            signer=c2pa.signer,
            actions=list(c2pa.actions),
            digital_source_types=list(c2pa.digital_source_types),
            ai_claim=True,
            failures=own,
        )
        return [self._active_finding(c2pa, m)]


def _claim_words(m: C2paManifestInfo) -> str:
    if m.ai_actions:
        return ", ".join(m.ai_actions[:3])
    terms = [d.rstrip("/").rsplit("/", 1)[-1] for d in m.digital_source_types]
    return ", ".join(t for t in terms if "Trained" in t or t.startswith("trained"))[:200]


def _details(c2pa: C2paSummary, m: C2paManifestInfo) -> dict[str, Any]:
    return {
        "manifest": m.label,
        "trust": m.trust,
        "trust_list": c2pa.trust_list,
        "validation_state": c2pa.validation_state,
        "claim_generator": m.claim_generator,
        "signer": m.signer,
        "actions": list(m.actions),
        "ai_actions": list(m.ai_actions),
        "digital_source_types": list(m.digital_source_types),
        "failures": list(m.failures),
        "manifests": len(c2pa.manifests),
    }


# -- reading the store when the inspection did not -------------------------------------------


def _settings(options: DetectOptions) -> dict[str, Any]:
    s = options.extra.get("c2pa") if isinstance(options.extra, dict) else None
    return s if isinstance(s, dict) else {}


def _anchors(options: DetectOptions) -> bytes | None:
    value = _settings(options).get("trust_anchors_pem")
    if value is None or value == b"" or value == "":
        return None
    if isinstance(value, bytes):
        return value
    if isinstance(value, str | Path):
        try:
            return Path(value).read_bytes()
        except OSError as exc:
            raise KeyStoreError(f"cannot read C2PA trust anchors {value}: {exc.strerror}") from None
    raise KeyStoreError("C2PA trust anchors must be PEM bytes or a file path")


def summary_for(asset: Asset, options: DetectOptions) -> C2paSummary | None:
    """The asset's C2PA summary; read here (and stored in ``asset.report.c2pa``) when the
    inspection did not validate a store that the bytes or the file contain."""
    current = asset.report.c2pa
    if current is not None and current.checked:
        return current
    return asset.cached("c2pa.summary", lambda: _read_here(asset, options, current))


def _read_here(
    asset: Asset, options: DetectOptions, current: C2paSummary | None
) -> C2paSummary | None:
    from synthlabel.formats._c2pa import SCAN_FORMATS, import_c2pa, looks_like_c2pa
    from synthlabel.inspect.c2pa import read_c2pa, read_c2pa_file

    if import_c2pa() is None or asset.handler is None:
        return current
    cap = _settings(options).get("max_bytes", MAX_FALLBACK_BYTES)
    cap = cap if isinstance(cap, int) and cap > 0 else MAX_FALLBACK_BYTES
    mime = _mime(asset)
    found: C2paSummary | None = None
    known = current is not None and current.present
    if asset.data is not None:
        if (known or asset.format in SCAN_FORMATS) and looks_like_c2pa(asset.data):
            found = read_c2pa(asset.data, mime, trust_anchors_pem=_anchors(options), max_bytes=cap)
    elif asset.file is not None:
        from synthlabel.inspect.c2pa import file_has_jumbf

        if known or (asset.format in SCAN_FORMATS and file_has_jumbf(asset.file, cap)):
            found = read_c2pa_file(
                asset.file, mime, trust_anchors_pem=_anchors(options), max_bytes=cap
            )
    if found is None or not found.present:
        return current
    asset.report.c2pa = found
    return found


def _mime(asset: Asset) -> str:
    handler = asset.handler
    if handler is None:  # pragma: no cover - checked by the caller
        return ""
    if asset.data is not None:
        from synthlabel.inspect.reader import mime_type

        return mime_type(handler, asset.data)
    return handler.mime_types[0]


DETECTOR = C2paDetector()
