"""Read every label in a file: AIGC records (all carriers), signatures, content binding,
IPTC DigitalSourceType and the C2PA summary."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from synthlabel.errors import RecordError, SynthlabelError
from synthlabel.formats import _xmp, registry
from synthlabel.formats.base import Carrier, ContainerMetadata, FormatHandler
from synthlabel.model import provider_code, signing
from synthlabel.model.aigc import looks_like_record, parse_record
from synthlabel.model.results import (
    BindingStatus,
    C2paSummary,
    Compliance,
    InspectionReport,
    RecordReport,
    SignatureStatus,
)

if TYPE_CHECKING:
    from synthlabel.model.keys import TrustStore

#: The fallback byte scan looks at most at this many bytes from each end of the file.
SCAN_WINDOW = 4 * 1024 * 1024
_SCAN_RE = re.compile(rb"AIGC[\"']?\s*[:=]?\s*[\"']?\s*\{|tc260\.org\.cn/ns/AIGC")


def _carrier_values(c: Carrier, report: InspectionReport) -> list[tuple[str, str]]:
    """(location, raw value) pairs of AIGC values in one carrier."""
    if c.kind == "xmp":
        fields = _xmp.read_fields(c.data)
        if not fields.well_formed:
            report.warnings.append(f"{c.name or 'XMP'}: {fields.problem}")
        for dst in fields.digital_source_types:
            if dst not in report.digital_source_types:
                report.digital_source_types.append(dst)
        return [(c.name or "XMP", v) for v in fields.aigc]
    if c.kind in ("aigc", "blob"):
        return [(c.name or c.kind, c.data.decode("utf-8", "replace"))]
    if c.kind in ("exif-usercomment", "exif-imagedescription"):
        text = c.data.decode("utf-8", "replace")
        if looks_like_record(text):
            return [(c.name or c.kind, text)]
        if c.kind == "exif-imagedescription" and '"AIGC"' in text:
            report.warnings.append(
                f"{c.name or c.kind}: non-standard AIGC record (Tencent-Cloud style schema)"
            )
    return []


def _scan(data: bytes) -> list[tuple[int, str]]:
    """Fallback: find AIGC JSON anywhere in the first/last SCAN_WINDOW bytes."""
    hits: list[tuple[int, str]] = []
    windows = [(0, data[:SCAN_WINDOW])]
    if len(data) > SCAN_WINDOW:
        start = max(SCAN_WINDOW, len(data) - SCAN_WINDOW)
        windows.append((start, data[start:]))
    for base, chunk in windows:
        for m in _SCAN_RE.finditer(chunk):
            brace = chunk.find(b"{", m.start())
            if brace < 0:
                continue
            text = chunk[brace : brace + 65536].decode("latin-1")
            if looks_like_record("AIGC" + text[:4096]):
                hits.append((base + brace, text))
            if len(hits) >= 8:
                return hits
    return hits


def inspect_bytes(
    data: bytes,
    *,
    path: str = "<bytes>",
    handler: FormatHandler | None = None,
    trust: TrustStore | None = None,
    c2pa: bool = True,
    trust_anchors_pem: bytes | None = None,
    verify: bool = True,
    known_digest: tuple[str, bytes] | None = None,
    sidecar: bytes | None = None,
) -> InspectionReport:
    """Inspect one file's bytes. Never raises for bad input: errors land in ``report.error``.

    ``verify=False`` reads and parses every record but skips signature and binding checks
    (signatures are then reported as ``None``). ``known_digest`` (selector, digest) lets a
    caller that has just computed the content digest skip recomputing it.
    """
    report = InspectionReport(path=path, size=len(data))
    try:
        handler = handler or registry.sniff(data[: registry.max_sniff_bytes()], name=path)
        report.format = handler.id
        report.media_kind = handler.media_kind.value
        meta = handler.read(data)
    except SynthlabelError as exc:
        report.error = exc.message + (f" (at byte {exc.offset})" if exc.offset is not None else "")
        report.compliance = Compliance.INCONCLUSIVE
        return report
    report.warnings.extend(meta.warnings)
    _read_records(report, meta, data)
    if sidecar is not None:
        _add_record(report, "sidecar", "sidecar .aigc.json", 0, sidecar.decode("utf-8", "replace"))
        if report.records and report.records[-1].carrier == "sidecar":
            report.records[-1].warnings.append(
                "record kept in a sidecar file (not in the file itself): it does not travel "
                "with the content"
            )
    digest_cache: dict[str, bytes | None] = {}
    if known_digest is not None:
        digest_cache[known_digest[0]] = known_digest[1]
        report.content_selector, report.content_digest = known_digest[0], known_digest[1].hex()

    def digest_for(selector: str) -> bytes | None:
        if selector not in digest_cache:
            try:
                d = handler.content_digest(data)
            except SynthlabelError:
                digest_cache[selector] = None
            else:
                digest_cache[d.selector] = d.digest
                report.content_selector = d.selector
                report.content_digest = d.digest.hex()
                digest_cache.setdefault(selector, None)
        return digest_cache[selector]

    if verify:
        _verify(report, digest_for, trust)
    if c2pa and meta.c2pa:
        report.c2pa = _read_c2pa(data, handler, trust_anchors_pem)
    elif meta.c2pa:
        report.c2pa = C2paSummary(present=True, checked=False)
    report.compliance = _compliance(report)
    return report


def _read_records(report: InspectionReport, meta: ContainerMetadata, data: bytes) -> None:
    for c in meta.carriers:
        for location, raw in _carrier_values(c, report):
            _add_record(report, c.kind, location, c.offset, raw)
    if not report.records:
        for offset, text in _scan(data):
            _add_record(report, "scan", "byte scan", offset, text, quiet=True)
            if report.records:
                report.records[-1].warnings.append(
                    "record found by a byte scan, not in a standard carrier"
                )
                break
    real = [r for r in report.records if r.record is not None]
    if len(real) > 1:
        distinct = {r.record for r in real}
        if len(distinct) > 1:
            for r in real:
                r.errors.append(f"{len(real)} AIGC records in the file disagree")
        else:
            report.warnings.append(
                f"{len(real)} identical copies of the AIGC record (the standard allows one)"
            )


def _add_record(
    report: InspectionReport, kind: str, location: str, offset: int, raw: str, quiet: bool = False
) -> None:
    try:
        parsed = parse_record(raw)
    except RecordError as exc:
        if not quiet:
            report.records.append(
                RecordReport(
                    carrier=kind,
                    location=location,
                    offset=offset,
                    record=None,
                    raw=raw[:2048],
                    errors=[exc.message],
                )
            )
        return
    rec = parsed.record
    errors = list(parsed.errors)
    notes = [w.removeprefix("note: ") for w in parsed.warnings if w.startswith("note:")]
    rr = RecordReport(
        carrier=kind,
        location=location,
        offset=offset,
        record=rec,
        raw=parsed.raw,
        wrapped=parsed.wrapped,
        warnings=notes,
        errors=errors,
        producer_code=provider_code.classify(rec.content_producer) if rec.content_producer else "",
    )
    if rr.producer_code == "code_invalid":
        rr.warnings.append("ContentProducer looks like a provider code but is not valid")
    if rec.content_propagator and provider_code.classify(rec.content_propagator) == "code_invalid":
        rr.warnings.append("ContentPropagator looks like a provider code but is not valid")
    if parsed.wrapped and kind == "xmp":
        rr.warnings.append('record wrapped in {"AIGC":...} inside a named slot')
    report.records.append(rr)


def _verify(
    report: InspectionReport,
    digest_for: Callable[[str], bytes | None],
    trust: TrustStore | None,
) -> None:
    for rr in report.records:
        if rr.record is None:
            continue
        rr.producer_signature = signing.verify_record(
            rr.record, role="producer", digest_for=digest_for, trust=trust
        )
        if rr.record.reserved_code2 or rr.record.content_propagator:
            rr.propagator_signature = signing.verify_record(
                rr.record, role="propagator", digest_for=digest_for, trust=trust
            )
        for check in (rr.producer_signature, rr.propagator_signature):
            if check is None:
                continue
            if check.status is SignatureStatus.INVALID:
                rr.errors.append(check.reason or f"{check.role} signature invalid")
            if check.binding is BindingStatus.BROKEN:
                rr.errors.append(
                    f"{check.role} signature is bound to other content: the label was moved "
                    "or the content was changed"
                )


def _read_c2pa(data: bytes, handler: FormatHandler, anchors: bytes | None) -> C2paSummary:
    try:
        from synthlabel.inspect.c2pa import read_c2pa
    except ImportError:  # pragma: no cover - module missing
        return C2paSummary(present=True, checked=False, error="C2PA reader unavailable")
    return read_c2pa(data, mime_type(handler, data), trust_anchors_pem=anchors)


def mime_type(handler: FormatHandler, data: bytes) -> str:
    """The MIME type of this file (HEIF and AVIF share a handler)."""
    if handler.id == "heif" and data[8:12] in (b"avif", b"avis"):
        return "image/avif"
    return handler.mime_types[0]


def _compliance(report: InspectionReport) -> Compliance:
    if report.error:
        return Compliance.INCONCLUSIVE
    if not report.records:
        return Compliance.NOT_FOUND
    if any(not r.compliant for r in report.records):
        return Compliance.NONCOMPLIANT
    return Compliance.COMPLIANT
