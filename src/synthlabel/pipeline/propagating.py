"""Propagate: a platform's update of the AIGC record when it publishes a file (LM Art. 6).

For each file: inspect it (records, signatures, the detectors' verdict); then

* a valid record is completed in place: ``ContentPropagator`` (the platform's code) and
  ``PropagateID`` are set and ``ReservedCode2`` optionally signed; ``Label``, the producer
  fields and ``ReservedCode1`` are kept byte for byte, so the producer's signature and its
  content binding still verify (the metadata write is lossless: checked after the write);
* no record: the verdict decides the ``Label`` written -- confirmed "1", possible "2",
  suspected "3" -- with the producer fields taken from the evidence when it names them;
  ``no_trace`` leaves the file alone (unless ``force_label``);
* an invalid record (tampered, moved, malformed, copies that disagree) is refused unless
  ``replace_invalid``, which writes a new record from the verdict instead.

Optionally a visible notice ("AI生成" / "可能为AI生成" / "疑似AI生成") is drawn into the
content first -- only where that cannot break a producer's content binding.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from synthlabel.errors import RecordError, SynthlabelError, UnsupportedFormat
from synthlabel.formats import registry
from synthlabel.formats.base import ContentDigest, FormatHandler, LabelWrite
from synthlabel.inspect.reader import inspect_bytes, inspect_path, mime_type
from synthlabel.label import implicit
from synthlabel.model.aigc import AIGCRecord
from synthlabel.model.findings import Finding, Verdict
from synthlabel.model.keys import KeyStore, TrustStore
from synthlabel.model.produce_id import new_ulid, validate_content_id
from synthlabel.model.results import (
    BindingStatus,
    InspectionReport,
    RecordReport,
    SignatureCheck,
    SignatureStatus,
)
from synthlabel.pipeline.inspecting import InspectOptions, inspect_file
from synthlabel.pipeline.io import atomic_write, atomic_write_stream, read_file
from synthlabel.pipeline.labeling import _load_creds, large_streaming_handler, load_signer
from synthlabel.pipeline.parallel import run_file_jobs

#: Per-file outcomes.
PROPAGATED = "propagated"  # an existing record completed with the platform's fields
LABELLED = "labelled"  # no record: a new one written from the verdict
REPLACED = "replaced"  # an invalid record replaced (replace_invalid)
NO_TRACE = "no-trace"  # no record, verdict no_trace: the file was left alone
REFUSED = "refused"  # an invalid record, not replaced: the file was left alone
FAILED = "failed"  # an error (unreadable, no metadata slot, verify-after-write failed)

#: Default visible notice per Label value (Labeling Measures Art. 6 wording).
DEFAULT_NOTICES: dict[str, str] = {"1": "AI生成", "2": "可能为AI生成", "3": "疑似AI生成"}


@dataclass(frozen=True)
class PropagateOptions:
    """Everything that decides how a platform propagates a file (picklable)."""

    platform: str  # the platform's provider code (ContentPropagator)
    propagate_id: str | None = None  # one file only; default: a new ULID per file
    allow_name: bool = False  # accept an ASCII platform name instead of a code
    sign_key: str | None = None  # key id / name in the key store, or a PEM file path
    key_home: str | None = None
    trust_file: str | None = None  # None: the key store's trust file
    declared: bool = False  # the uploader declared the content AI-generated
    force_label: str | None = None  # "2" / "3": write a record even when no trace was found
    replace_invalid: bool = False  # replace a tampered/malformed record instead of refusing
    notice: bool = False  # draw a visible notice into the content
    notice_texts: tuple[tuple[str, str], ...] = ()  # (Label value, text) overrides
    notice_position: str | None = None
    language: str = "auto"
    c2pa: str | None = None  # "CERT.pem,KEY.pem": add the platform's C2PA manifest
    c2pa_trust_anchors: str | None = None
    unknown_producer: str = "unknown"  # ContentProducer/ProduceID for a new Label "1" record
    policy: str | None = None
    watermarks: bool = True  # look for robust watermarks when the file has no record
    max_cost: str = "medium"
    registry_path: str | None = None
    time_budget: float | None = 30.0
    verify: bool = True  # read the output back and check every signature

    def notice_text(self, label: str) -> str:
        return dict(self.notice_texts).get(label) or DEFAULT_NOTICES[label]


@dataclass(slots=True)
class PropagateResult:
    """The outcome of propagating one file."""

    path: str
    status: str = FAILED
    output: str = ""
    format: str = ""
    verdict: str = ""  # the detectors' verdict (confirmed / possible / suspected / no_trace)
    label: str = ""  # the Label value the output carries
    record: AIGCRecord | None = None  # the record written
    previous: AIGCRecord | None = None  # the record found in the input
    evidence: list[str] = field(default_factory=list)  # finding codes behind the verdict
    reasons: list[str] = field(default_factory=list)  # the policy rules that fired
    signed: bool = False  # ReservedCode2 signed by the platform
    producer_signature: str = ""  # status of the producer's signature in the output
    producer_binding: str = ""
    propagator_signature: str = ""
    notice: bool = False
    notice_text: str = ""
    c2pa: bool = False
    bytes_in: int = 0
    bytes_out: int = 0
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status in (PROPAGATED, LABELLED, REPLACED, NO_TRACE)

    @property
    def written(self) -> bool:
        return self.status in (PROPAGATED, LABELLED, REPLACED)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "status": self.status,
            "output": self.output,
            "format": self.format,
            "verdict": self.verdict,
            "label": self.label,
            "record": self.record.to_dict() if self.record else None,
            "previous": self.previous.to_dict() if self.previous else None,
            "evidence": list(self.evidence),
            "reasons": list(self.reasons),
            "signed": self.signed,
            "producer_signature": self.producer_signature,
            "producer_binding": self.producer_binding,
            "propagator_signature": self.propagator_signature,
            "notice": self.notice,
            "notice_text": self.notice_text,
            "c2pa": self.c2pa,
            "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out,
            "seconds": round(self.seconds, 6),
            "warnings": list(self.warnings),
            "error": self.error,
        }


# ------------------------------------------------------------------------------ checks
def check_options(options: PropagateOptions) -> list[str]:
    """Validate options that would fail every file; raises, returns warnings."""
    warnings = implicit.check_propagator(options.platform, allow_name=options.allow_name)
    if options.propagate_id is not None:
        validate_content_id(options.propagate_id, field="PropagateID")
    if options.force_label not in (None, "2", "3"):
        raise RecordError(f'force_label must be "2" or "3", not {options.force_label!r}')
    for lab, text in options.notice_texts:
        if lab not in DEFAULT_NOTICES:
            raise RecordError(f'notice text for Label {lab!r}: use "1", "2" or "3"')
        if not text.strip():
            raise RecordError(f"notice text for Label {lab} is empty")
    if options.unknown_producer:
        validate_content_id(options.unknown_producer, field="unknown producer")
    if options.sign_key:
        load_signer(options.sign_key, options.key_home)
    if options.c2pa:
        _load_creds(options.c2pa)
    return warnings


_trust_cache: dict[tuple[str | None, str | None], TrustStore] = {}


def _trust(options: PropagateOptions) -> TrustStore:
    key = (options.trust_file, options.key_home)
    if key not in _trust_cache:
        if options.trust_file:
            _trust_cache[key] = TrustStore(Path(options.trust_file))
        else:
            home = Path(options.key_home) if options.key_home else None
            _trust_cache[key] = KeyStore(home).trust
    return _trust_cache[key]


def _inspect_options(options: PropagateOptions, *, full: bool) -> InspectOptions:
    """Cheap pass (records, signatures, C2PA, IPTC: enough when a record exists) or the full
    detector run (watermarks, hashes) used to decide about a file without a record."""
    return InspectOptions(
        trust_file=options.trust_file,
        key_home=options.key_home,
        c2pa=True,
        c2pa_trust_anchors=options.c2pa_trust_anchors,
        verify=True,
        watermarks=options.watermarks and full,
        detect=True,
        max_cost=options.max_cost if full else "cheap",  # type: ignore[arg-type]
        policy=options.policy,
        declared=options.declared,
        time_budget=options.time_budget,
        registry_path=options.registry_path,
    )


def invalid_reasons(report: InspectionReport) -> list[str]:
    """Why the file's record cannot be completed in place (empty: it can, or there is none).

    Tampering on the producer's side (signature does not verify, content binding broken),
    unreadable records, copies that disagree and a ``Label`` outside 1/2/3 count; a bad
    propagator signature does not (the platform replaces those fields anyway), nor do
    style deviations the rewrite normalises (a numeric Label, missing empty keys).
    """
    out: list[str] = []
    real = [r for r in report.records if r.record is not None]
    for r in report.records:
        if r.record is None:
            out.append(f"unreadable AIGC record in {r.location}: {'; '.join(r.errors)}")
    if len({r.record for r in real}) > 1:
        out.append(f"{len(real)} AIGC records in the file disagree")
    for r in real:
        assert r.record is not None
        if r.record.label not in ("1", "2", "3"):
            out.append(f"Label is {r.record.label!r}, not 1, 2 or 3")
        sig = r.producer_signature
        if sig is not None and sig.status is SignatureStatus.INVALID:
            out.append(sig.reason or "the producer signature does not verify")
        if sig is not None and sig.binding is BindingStatus.BROKEN:
            out.append(
                "the producer signature is bound to other content: the label was moved or "
                "the content was changed"
            )
    return list(dict.fromkeys(out))


def producer_from_evidence(evidence: Iterable[Finding]) -> tuple[str, str]:
    """(ContentProducer, ProduceID) named by the evidence, or ("", "").

    A detector that identifies the original record (a registry match, a watermark resolved
    through a provider's index) puts it in ``details["record"]`` (the record's dict, Annex E
    keys or attribute names) or as ``details["content_producer"]`` / ``["produce_id"]``.
    Values that break the Annex E charset are ignored, and so are the file's own record
    findings (``aigc.*``): a record that failed its checks does not name its producer.
    """
    for f in evidence:
        if f.code.startswith("aigc."):
            continue
        d = f.details if isinstance(f.details, Mapping) else {}
        rec = d.get("record")
        src: Mapping[str, Any] = rec if isinstance(rec, Mapping) else d
        producer = src.get("ContentProducer", src.get("content_producer"))
        pid = src.get("ProduceID", src.get("produce_id"))
        if not isinstance(producer, str) or not producer:
            continue
        pid = pid if isinstance(pid, str) else ""
        try:
            validate_content_id(producer, field="ContentProducer")
            validate_content_id(pid, field="ProduceID", allow_empty=True)
        except RecordError:
            continue
        return producer, pid
    return "", ""


def _label_for(verdict: Verdict | None, force: str | None) -> str:
    value = verdict.label_value if verdict is not None else ""
    if force and (not value or int(force) < int(value)):
        value = force  # the stronger of the verdict and the forced value
    return value


# ------------------------------------------------------------------------------ one file
def propagate_file(src: Path, dest: Path, options: PropagateOptions) -> PropagateResult:
    """Propagate ``src`` into ``dest`` (may be the same path). Never raises."""
    t0 = time.perf_counter()
    result = PropagateResult(path=str(src))
    try:
        _propagate(src, dest, options, result)
    except SynthlabelError as exc:
        exc.with_path(str(src))
        result.status, result.error = FAILED, str(exc)
    except MemoryError:
        result.status, result.error = FAILED, f"{src}: out of memory"
    result.seconds = time.perf_counter() - t0
    return result


def _propagate(src: Path, dest: Path, options: PropagateOptions, result: PropagateResult) -> None:
    report = inspect_file(src, _inspect_options(options, full=False))
    if report.error:
        raise SynthlabelError(report.error)
    result.format = report.format
    result.bytes_in = report.size
    bad = invalid_reasons(report)
    found = report.record
    before: SignatureCheck | None = None
    if bad:
        result.previous = found
        if not options.replace_invalid:
            result.status = REFUSED
            result.verdict = report.verdict.value if report.verdict else ""
            result.error = (
                f"{src}: the file's AIGC record is invalid ({'; '.join(bad)}); it was left "
                "alone (use --replace-invalid to write a new record from the verdict)"
            )
            return
        result.warnings.append("replaced an invalid AIGC record: " + "; ".join(bad))
        found = None
    if found is not None:
        rr = next(r for r in report.records if r.record is not None)
        before = rr.producer_signature
        _note_existing(rr, options, result)
        result.previous = found
    else:
        report = inspect_file(src, _inspect_options(options, full=True))
        if report.error:
            raise SynthlabelError(report.error)
    result.verdict = report.verdict.value if report.verdict else ""
    if report.decision is not None:
        result.evidence = list(dict.fromkeys(f.code for f in report.decision.evidence))
        result.reasons = list(report.decision.reasons)
    pid = options.propagate_id or new_ulid()
    if found is not None:
        record = implicit.propagated_record(found, options.platform, pid)
        status = PROPAGATED
    else:
        label = _label_for(report.verdict, options.force_label)
        if not label:
            result.status = NO_TRACE
            return
        producer, produce_id = producer_from_evidence(report.evidence)
        if label == "1" and not producer:
            # Annex E requires ContentProducer/ProduceID in a Label "1" record; the evidence
            # proves generation (our watermark, a trusted C2PA claim) but names no producer.
            producer = produce_id = options.unknown_producer
            result.warnings.append(
                f"the evidence names no producer: ContentProducer/ProduceID set to {producer!r}"
            )
        record = implicit.platform_record(
            label, options.platform, pid, producer=producer, produce_id=produce_id
        )
        status = REPLACED if result.previous is not None else LABELLED
    if report.c2pa is not None and report.c2pa.present and not options.c2pa:
        result.warnings.append(
            "the file carries a C2PA manifest whose hard binding covers the metadata just "
            "changed: it will no longer validate (pass --c2pa CERT,KEY to add the platform's "
            "manifest with the original as its parent ingredient)"
        )
    if _try_streaming(src, dest, options, record, before, result):
        result.status = status
        return
    data = read_file(src)
    out = _write(data, options, record, before, result, path=str(src))
    atomic_write(dest, out, like=src)
    result.status = status
    result.output = str(dest)
    result.bytes_out = len(out)


def _note_existing(rr: RecordReport, options: PropagateOptions, result: PropagateResult) -> None:
    rec = rr.record
    assert rec is not None
    if rec.content_propagator:
        same = rec.content_propagator == options.platform
        result.warnings.append(
            ("this platform already propagated the file" if same else "replaced the propagation")
            + f" fields of {rec.content_propagator} (PropagateID {rec.propagate_id or '-'})"
        )
    if rr.carrier == "scan":
        result.warnings.append(
            "the record was found by a byte scan, not in a standard carrier: the completed "
            "record is written in the container's normative place"
        )
    elif rr.carrier == "sidecar":
        result.warnings.append("the record came from a sidecar file: it is written into the file")


def _notice_allowed(before: SignatureCheck | None) -> bool:
    """Drawing into the content keeps a producer signature valid only without a binding."""
    return before is None or before.binding is BindingStatus.ABSENT


def _write(
    data: bytes,
    options: PropagateOptions,
    record: AIGCRecord,
    before: SignatureCheck | None,
    result: PropagateResult,
    *,
    path: str,
) -> bytes:
    handler = registry.sniff(data[: registry.max_sniff_bytes()], name=path)
    body = data
    base_xmp: bytes | None = None
    if options.notice:
        body, base_xmp = _draw_notice(data, handler, options, record, before, result)
    digest = None
    if options.sign_key:
        digest = handler.content_digest(body)
        signer = load_signer(options.sign_key, options.key_home)
        record = implicit.sign(record, signer, digest, role="propagator")
        result.signed = True
    try:
        out = implicit.write_record(
            body, handler, record, digital_source_type=None, base_xmp=base_xmp
        )
    except UnsupportedFormat as exc:
        raise UnsupportedFormat(
            f"no metadata slot for the AIGC record in {handler.name}: {exc.message}"
        ) from None
    if options.c2pa:
        from synthlabel.label.c2pa import add_manifest

        out = add_manifest(
            out,
            mime_type(handler, out),
            _load_creds(options.c2pa),
            record=record,
            propagation=True,
            parent=data,
            parent_mime=mime_type(handler, data),
        )
        result.c2pa = True
    result.record = record
    result.label = record.label
    if options.verify:
        known = (digest.selector, digest.digest) if digest and not options.c2pa else None
        after = inspect_bytes(out, c2pa=False, trust=_trust(options), known_digest=known)
        _check_output(after, record, before, result)
    return out


def _draw_notice(
    data: bytes,
    handler: FormatHandler,
    options: PropagateOptions,
    record: AIGCRecord,
    before: SignatureCheck | None,
    result: PropagateResult,
) -> tuple[bytes, bytes | None]:
    """The content with the visible notice, and the original XMP packet to merge into (the
    renderers may re-encode and drop metadata); (data, None) when no notice was drawn."""
    text = options.notice_text(record.label)
    if not _notice_allowed(before):
        result.warnings.append(
            "no visible notice drawn: it would change the content the producer's signature is "
            "bound to (show the notice beside the content instead)"
        )
        return data, None
    from synthlabel.label.explicit import ExplicitOptions, render_explicit

    try:
        rendered = render_explicit(
            data,
            handler,
            ExplicitOptions(text=text, position=options.notice_position, language=options.language),
        )
    except UnsupportedFormat as exc:
        result.warnings.append(f"no visible notice drawn: {exc.message}")
        return data, None
    result.warnings.extend(rendered.warnings)
    if not rendered.applied:
        return data, None
    result.notice, result.notice_text = True, text
    meta = handler.read(data)
    return rendered.data, (meta.xmp[0].data if meta.xmp else b"")


def _check_output(
    after: InspectionReport,
    record: AIGCRecord,
    before: SignatureCheck | None,
    result: PropagateResult,
) -> None:
    """Verify-after-write: exactly the new record, the producer's signature as it was, the
    platform's signature valid and bound to this content. Raises RecordError otherwise."""
    if after.error:
        raise RecordError(f"verify-after-write failed: the output cannot be read ({after.error})")
    found = [r for r in after.records if r.record is not None]
    if not found or any(r.record != record for r in found) or len(found) != len(after.records):
        raise RecordError(
            "verify-after-write failed: the output does not carry exactly the new record"
        )
    rr = found[0]
    prod = rr.producer_signature
    if prod is not None:
        result.producer_signature = prod.status.value
        result.producer_binding = (
            prod.binding.value if prod.status is not SignatureStatus.UNSIGNED else ""
        )
    if before is not None and prod is not None:
        if prod.status is not before.status:
            raise RecordError(
                f"verify-after-write failed: the producer signature was {before.status.value} "
                f"and is now {prod.status.value} ({prod.reason})"
            )
        if before.binding is BindingStatus.INTACT and prod.binding is not BindingStatus.INTACT:
            raise RecordError(
                "verify-after-write failed: the producer's content binding no longer matches "
                f"({prod.binding.value})"
            )
    prop = rr.propagator_signature
    if prop is not None:
        result.propagator_signature = prop.status.value
    if result.signed and (prop is None or not prop.ok or prop.binding is not BindingStatus.INTACT):
        reason = prop.reason if prop else "no propagator signature"
        raise RecordError(f"verify-after-write failed: the platform signature: {reason}")


def _try_streaming(
    src: Path,
    dest: Path,
    options: PropagateOptions,
    record: AIGCRecord,
    before: SignatureCheck | None,
    result: PropagateResult,
) -> bool:
    """Metadata-only propagation of a large file without loading it (False: not applicable)."""
    if options.notice or options.c2pa:
        return False
    found = large_streaming_handler(src)
    if found is None:
        return False
    handler = found[0]
    digest: ContentDigest | None = None
    if options.sign_key:
        digest = handler.content_digest_path(src)
        signer = load_signer(options.sign_key, options.key_home)
        record = implicit.sign(record, signer, digest, role="propagator")
        result.signed = True
    label = LabelWrite(aigc_json=record.to_json(), digital_source_type=None)

    def check(tmp: Path) -> None:
        after = inspect_path(tmp, trust=_trust(options))
        if after is None:
            raise RecordError("verify-after-write failed: the output cannot be read back")
        _check_output(after, record, before, result)

    atomic_write_stream(
        dest,
        lambda fh: handler.write_label_stream(src, fh, label),
        like=src,
        check=check if options.verify else None,
    )
    result.record = record
    result.label = record.label
    result.output = str(dest)
    result.bytes_out = dest.stat().st_size
    result.warnings.append("streamed (large file): metadata written without loading the file")
    return True


# ------------------------------------------------------------------------------ many files
def propagate_many(
    jobs: Iterable[tuple[Path, Path]],
    options: PropagateOptions,
    *,
    workers: int | None = None,
    on_result: Callable[[PropagateResult], None] | None = None,
) -> list[PropagateResult]:
    """Propagate many files, in parallel processes when there are enough of them."""
    items = list(jobs)
    if options.propagate_id and len(items) > 1:
        raise RecordError(
            "--propagate-id can only be given for a single file (PropagateID must be unique)"
        )
    return run_file_jobs(propagate_file, items, options, workers=workers, on_result=on_result)
