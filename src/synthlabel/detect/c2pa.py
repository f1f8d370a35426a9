"""C2PA manifests as findings: the AI claim, and whether its signer is trusted.

The metadata inspection has read the manifest store with c2pa-python and validated it
against the user's trust anchors (``asset.report.c2pa``). Codes:

* ``c2pa.ai_claim.trusted``: a manifest signed by a trusted certificate claims trained-model
  generation (a ``c2pa.created``/``c2pa.edited`` action or assertion with an AI
  ``digitalSourceType``), conclusive;
* ``c2pa.ai_claim.untrusted``: the same claim, the manifest validates, the signer is not in
  the trust list (strong: anyone can sign with their own certificate);
* ``c2pa.ai_claim.invalid``: the claim is there but the manifest does not validate (hashes
  do not match, signature broken, certificate expired): moderate, never upgraded.
"""

from __future__ import annotations

from synthlabel.detect.base import Asset, DetectOptions
from synthlabel.model.findings import Finding, Strength

SOURCE = "C2PA 2.1 §18 (actions, digitalSourceType); IPTC NewsCodes digitalsourcetype"


class C2paDetector:
    id = "c2pa"
    name = "C2PA manifest AI claims"
    media_kinds = None
    cost = "cheap"
    codes = ("c2pa.ai_claim.trusted", "c2pa.ai_claim.untrusted", "c2pa.ai_claim.invalid")

    def detect(self, asset: Asset, options: DetectOptions) -> list[Finding]:
        c2pa = asset.report.c2pa
        if c2pa is None or not c2pa.present or not c2pa.ai_claim:
            return []
        state = (c2pa.validation_state or "").lower()
        signer = c2pa.signer or "unknown signer"
        where = f"C2PA manifest {c2pa.active_manifest}".strip()
        details = {
            "validation_state": c2pa.validation_state,
            "claim_generator": c2pa.claim_generator,
            "digital_source_types": list(c2pa.digital_source_types),
            "actions": list(c2pa.actions),
            "signer": c2pa.signer,
        }
        if state == "trusted":
            return [
                Finding(
                    self.id,
                    "c2pa.ai_claim.trusted",
                    f"C2PA AI claim signed by trusted {signer}",
                    Strength.CONCLUSIVE,
                    where,
                    SOURCE,
                    1.0,
                    details,
                )
            ]
        if state == "valid" and not c2pa.validation_errors:
            return [
                Finding(
                    self.id,
                    "c2pa.ai_claim.untrusted",
                    f"C2PA AI claim signed by {signer} (not in the trust list)",
                    Strength.STRONG,
                    where,
                    SOURCE,
                    None,
                    details,
                )
            ]
        errors = "; ".join(c2pa.validation_errors[:2]) or c2pa.error or "does not validate"
        details["validation_errors"] = list(c2pa.validation_errors)
        return [
            Finding(
                self.id,
                "c2pa.ai_claim.invalid",
                f"C2PA AI claim by {signer}, but the manifest is invalid: {errors}",
                Strength.MODERATE,
                where,
                SOURCE,
                None,
                details,
            )
        ]


DETECTOR = C2paDetector()
