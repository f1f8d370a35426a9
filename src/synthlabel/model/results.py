"""Typed results shared by signing, inspection, labelling, the CLI and the service.

Every result serialises to plain JSON (``to_dict``); the JSON layout is versioned by
:data:`SCHEMA_VERSION` and documented in ``docs/json-schema.md``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from synthlabel.model.aigc import AIGCRecord
from synthlabel.model.findings import Decision, Finding, Verdict

SCHEMA_VERSION = "synthlabel.inspect/1"


class SignatureStatus(StrEnum):
    """The five verification states."""

    VALID = "valid"  # signature checks out under a known signed-message rule
    INVALID = "invalid"  # known rule, signature does not match: the label was altered
    UNSIGNED = "unsigned"  # no SecurityData in the reserved code
    UNKNOWN_KEY = "unknown_key"  # signature present, no public key in the file or trust store
    UNVERIFIABLE = "unverifiable"  # signed-message rule or algorithm unknown: cannot judge


class BindingStatus(StrEnum):
    """Whether a signed label is bound to this file's content."""

    INTACT = "intact"  # signed digest equals the digest of this file's content
    BROKEN = "broken"  # differs: the label was moved to another file or the content changed
    ABSENT = "absent"  # the signature carries no content binding
    NOT_CHECKED = "not_checked"  # unknown selector, or no content available to hash


class Compliance(StrEnum):
    """Reader outcome for one file (gb45438-labels.md §4.2)."""

    COMPLIANT = "compliant"
    NONCOMPLIANT = "noncompliant"
    NOT_FOUND = "not_found"
    INCONCLUSIVE = "inconclusive"


@dataclass(slots=True)
class SignatureCheck:
    """Verification of one SecurityData object (ReservedCode1 or ReservedCode2)."""

    role: str  # "producer" (ReservedCode1) or "propagator" (ReservedCode2)
    status: SignatureStatus
    algorithm: str = ""  # "SM2-SM3", "Ed25519", "ECDSA-P256-SHA256", "RSA-SHA256", ...
    alg_id: str = ""  # the OID string found in the file
    key_id: str = ""
    key_source: str = ""  # "embedded", "trust-store", ""
    trusted: bool = False  # the key is in the user's trust file
    trusted_name: str = ""  # name given to the key in the trust file
    binding: BindingStatus = BindingStatus.ABSENT
    binding_selector: str = ""
    reason: str = ""  # one plain-language sentence

    @property
    def ok(self) -> bool:
        return self.status is SignatureStatus.VALID and self.binding in (
            BindingStatus.INTACT,
            BindingStatus.ABSENT,
        )

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["status"] = self.status.value
        d["binding"] = self.binding.value
        return d


@dataclass(slots=True)
class RecordReport:
    """One AIGC record found in a file."""

    carrier: str  # "xmp", "aigc", "exif-usercomment", "blob", "scan"
    location: str  # e.g. "APP1 XMP", "iTXt XML:com.adobe.xmp"
    offset: int
    record: AIGCRecord | None
    raw: str
    wrapped: bool = False
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # conformance failures
    producer_code: str = ""  # "code_valid", "code_invalid", "name"
    producer_signature: SignatureCheck | None = None
    propagator_signature: SignatureCheck | None = None

    @property
    def compliant(self) -> bool:
        return self.record is not None and not self.errors

    def to_dict(self) -> dict[str, Any]:
        return {
            "carrier": self.carrier,
            "location": self.location,
            "offset": self.offset,
            "record": self.record.to_dict() if self.record else None,
            "raw": self.raw,
            "wrapped": self.wrapped,
            "compliant": self.compliant,
            "warnings": list(self.warnings),
            "errors": list(self.errors),
            "producer_code": self.producer_code,
            "producer_signature": (
                self.producer_signature.to_dict() if self.producer_signature else None
            ),
            "propagator_signature": (
                self.propagator_signature.to_dict() if self.propagator_signature else None
            ),
        }


@dataclass(slots=True)
class C2paManifestInfo:
    """One manifest of a C2PA store: the active one or an ingredient's (at any depth).

    ``trust`` is this manifest's own standing, judged with the reader's trust anchors:
    ``trusted`` (validates and the signer chains to an anchor), ``untrusted`` (validates,
    signer not in the anchors or none given), ``expired`` (the signing certificate was not
    valid at signing time or has expired; never upgraded to trusted), ``invalid`` (hash or
    signature mismatch, bad or revoked certificate, unreadable), ``missing`` (an ingredient
    points at a manifest the store does not hold). For an ingredient it combines the
    results recorded when it was ingested (content hashes) with c2pa's re-validation now
    (signature, trust).
    """

    label: str
    role: str  # "active" or "ingredient"
    trust: str
    parent: str = ""  # label of the manifest that lists this one as an ingredient
    ingredient_title: str = ""
    relationship: str = ""  # parentOf, componentOf, inputTo
    depth: int = 0  # 0 for the active manifest, 1 for its ingredients, ...
    claim_generator: str = ""
    signer: str = ""
    actions: list[str] = field(default_factory=list)
    #: actions that carry an AI digitalSourceType, as "action: term"
    ai_actions: list[str] = field(default_factory=list)
    digital_source_types: list[str] = field(default_factory=list)
    ai_claim: bool = False
    failures: list[str] = field(default_factory=list)


@dataclass(slots=True)
class C2paSummary:
    """What a C2PA manifest store says (read with c2pa-python)."""

    present: bool
    checked: bool = True  # False when c2pa-python is not installed
    active_manifest: str = ""
    claim_generator: str = ""
    actions: list[str] = field(default_factory=list)
    digital_source_types: list[str] = field(default_factory=list)
    ai_claim: bool = False
    validation_state: str = ""  # "Valid", "Invalid", "Trusted", ... as c2pa reports
    validation_errors: list[str] = field(default_factory=list)
    signer: str = ""
    error: str = ""
    # The deep read (every manifest walked from the active one through its ingredients):
    # ``trust`` is the active manifest's standing (see C2paManifestInfo), ``trust_list`` says
    # whether trust anchors were given at all, ``manifests`` lists each manifest once.
    trust: str = ""
    trust_list: bool = False
    manifests: list[C2paManifestInfo] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class InspectionReport:
    """Everything synthlabel found in one file."""

    path: str
    format: str = ""
    media_kind: str = ""
    size: int = 0
    compliance: Compliance = Compliance.NOT_FOUND
    records: list[RecordReport] = field(default_factory=list)
    digital_source_types: list[str] = field(default_factory=list)
    c2pa: C2paSummary | None = None
    content_digest: str = ""
    content_selector: str = ""
    warnings: list[str] = field(default_factory=list)
    error: str = ""  # set when the file could not be read at all
    # Robust watermarks looked for (one entry per algorithm tried): the detector's Detection
    # as a dict, plus "matches_record" (True/False when the file also carries a record whose
    # watermark key can be compared, None otherwise). Empty when detection was not run.
    watermarks: list[dict[str, Any]] = field(default_factory=list)
    # The Labeling Measures' verdict with its evidence (set when the detectors ran) and what
    # the detector run did (timings, skipped detectors, detector errors).
    decision: Decision | None = None
    detectors: dict[str, Any] = field(default_factory=dict)

    @property
    def verdict(self) -> Verdict | None:
        return self.decision.verdict if self.decision else None

    @property
    def evidence(self) -> tuple[Finding, ...]:
        return self.decision.evidence if self.decision else ()

    @property
    def record(self) -> AIGCRecord | None:
        """The file's record (the first one found), if any."""
        for r in self.records:
            if r.record is not None:
                return r.record
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA_VERSION,
            "path": self.path,
            "format": self.format,
            "media_kind": self.media_kind,
            "size": self.size,
            "compliance": self.compliance.value,
            "records": [r.to_dict() for r in self.records],
            "digital_source_types": list(self.digital_source_types),
            "c2pa": self.c2pa.to_dict() if self.c2pa else None,
            "content_digest": self.content_digest,
            "content_selector": self.content_selector,
            "warnings": list(self.warnings),
            "error": self.error,
            "watermarks": [dict(w) for w in self.watermarks],
            "verdict": self.decision.to_dict() if self.decision else None,
            "evidence": [f.to_dict() for f in self.evidence],
            "detectors": dict(self.detectors),
        }


@dataclass(slots=True)
class LabelResult:
    """The outcome of labelling one file."""

    path: str
    output: str = ""
    format: str = ""
    record: AIGCRecord | None = None
    visible: bool = False
    signed: bool = False
    c2pa: bool = False
    implicit: bool = True  # False when the container has no metadata slot (plain text)
    sidecar: str = ""  # path of the <output>.aigc.json sidecar, when written
    replaced_existing: bool = False
    bytes_in: int = 0
    bytes_out: int = 0
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)
    error: str = ""
    # The robust watermark embedded, when asked for: algorithm, payload (hex), payload_bits,
    # strength and quality figures (psnr/ssim for images, snr_db for audio, ...).
    watermark: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return not self.error

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "output": self.output,
            "format": self.format,
            "record": self.record.to_dict() if self.record else None,
            "visible": self.visible,
            "signed": self.signed,
            "c2pa": self.c2pa,
            "implicit": self.implicit,
            "sidecar": self.sidecar,
            "replaced_existing": self.replaced_existing,
            "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out,
            "seconds": round(self.seconds, 6),
            "warnings": list(self.warnings),
            "error": self.error,
            "watermark": dict(self.watermark) if self.watermark else None,
        }
