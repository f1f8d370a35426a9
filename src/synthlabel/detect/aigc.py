"""GB 45438 records as findings: present, signed, bound to the content, or not.

The metadata inspection has already parsed every record, checked its conformance, its
signatures and its content binding (``asset.report.records``); this detector only says what
that means as evidence. Codes:

* ``aigc.record.valid``: a conforming record with ``Label`` 1 whose producer signature is
  valid and bound to this content (conclusive);
* ``aigc.record.unsigned``: a conforming ``Label`` 1 record without a signature, or signed
  with a key we cannot check (strong: it states AI generation, nothing proves who wrote it);
* ``aigc.record.tampered``: the signature is invalid or the content binding is broken;
* ``aigc.record.malformed``: a record that breaks the Annex E rules but still says AI;
* ``aigc.record.label2`` / ``aigc.record.label3``: a platform already marked the content
  possibly / suspected AI-generated.
"""

from __future__ import annotations

from synthlabel.detect.base import Asset, DetectOptions
from synthlabel.model.findings import Finding, Strength
from synthlabel.model.results import BindingStatus, RecordReport, SignatureStatus

SOURCE = "GB 45438-2025 §6.1 and Annex E; TC260-PG-202511A (signatures)"


class AigcRecordDetector:
    id = "aigc"
    name = "GB 45438 implicit label (file metadata)"
    media_kinds = None
    cost = "cheap"
    codes = (
        "aigc.record.valid",
        "aigc.record.unsigned",
        "aigc.record.tampered",
        "aigc.record.malformed",
        "aigc.record.label2",
        "aigc.record.label3",
    )

    def detect(self, asset: Asset, options: DetectOptions) -> list[Finding]:
        return [f for rec in asset.report.records if (f := self._one(rec)) is not None]

    def _one(self, rec: RecordReport) -> Finding | None:
        record = rec.record
        if record is None:
            return None
        where = f"{rec.location} ({rec.carrier})"
        who = record.content_producer or "no producer"
        details = {"record": record.to_dict(), "carrier": rec.carrier}
        if record.label == "2":
            return Finding(
                self.id,
                "aigc.record.label2",
                "record says possibly AI-generated "
                f"(Label 2, propagator {record.content_propagator or '-'})",
                Strength.STRONG,
                where,
                SOURCE,
                details=details,
            )
        if record.label == "3":
            return Finding(
                self.id,
                "aigc.record.label3",
                "record says suspected AI-generated "
                f"(Label 3, propagator {record.content_propagator or '-'})",
                Strength.MODERATE,
                where,
                SOURCE,
                details=details,
            )
        sig = rec.producer_signature
        if sig is not None:
            details["signature"] = sig.status.value
            details["binding"] = sig.binding.value
        if sig is not None and (
            sig.status is SignatureStatus.INVALID or sig.binding is BindingStatus.BROKEN
        ):
            what = (
                "signature invalid"
                if sig.status is SignatureStatus.INVALID
                else ("label moved to other content or content changed")
            )
            return Finding(
                self.id,
                "aigc.record.tampered",
                f"AIGC record from {who}, but {what}",
                Strength.MODERATE,
                where,
                SOURCE,
                details=details,
            )
        if not rec.compliant:
            problems = "; ".join(rec.errors[:2])
            return Finding(
                self.id,
                "aigc.record.malformed",
                f"AIGC record from {who} breaks the standard: {problems}",
                Strength.MODERATE,
                where,
                SOURCE,
                details=details,
            )
        if sig is not None and sig.ok:
            trusted = f", trusted key {sig.trusted_name or sig.key_id}" if sig.trusted else ""
            return Finding(
                self.id,
                "aigc.record.valid",
                f"signed AIGC record from {who} ({sig.algorithm}{trusted})",
                Strength.CONCLUSIVE,
                where,
                SOURCE,
                confidence=1.0,
                details=details,
            )
        state = sig.status.value if sig is not None else "not verified"
        return Finding(
            self.id,
            "aigc.record.unsigned",
            f"AIGC record from {who} (signature: {state})",
            Strength.STRONG,
            where,
            SOURCE,
            details=details,
        )


DETECTOR = AigcRecordDetector()
