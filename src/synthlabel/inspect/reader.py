"""Read every label in a file: AIGC records (all carriers), signatures, content binding,
IPTC DigitalSourceType and the C2PA summary."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from synthlabel.errors import RecordError, SynthlabelError
from synthlabel.formats import _xmp, registry
from synthlabel.formats._c2pa import SCAN_FORMATS as C2PA_SCAN_FORMATS
from synthlabel.formats._c2pa import looks_like_c2pa
from synthlabel.formats.base import (
    Carrier,
    ContainerMetadata,
    ContentDigest,
    FormatHandler,
    StreamingHandler,
)
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
_SCAN_AT_RE = re.compile(rb"AIGC[\"']?\s*[:=]?\s*[\"']?\s*\{")
_SCAN_URL_PREFIX = b"tc260.org.cn/ns/"


def _carrier_values(c: Carrier, report: InspectionReport) -> list[tuple[str, str]]:
    """(location, raw value) pairs of AIGC values in one carrier."""
    if c.kind == "xmp":
        try:
            fields = _xmp.read_fields(c.data)
        except SynthlabelError as exc:  # e.g. an XMP packet over the size limit
            report.warnings.append(f"{c.name or 'XMP'}: not read: {exc.message}")
            return []
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


def _windows(data: bytes) -> list[tuple[int, bytes]]:
    """The first and last SCAN_WINDOW bytes (with their offsets)."""
    windows = [(0, data[:SCAN_WINDOW])]
    if len(data) > SCAN_WINDOW:
        start = max(SCAN_WINDOW, len(data) - SCAN_WINDOW)
        windows.append((start, data[start:]))
    return windows


def _scan(windows: list[tuple[int, bytes]]) -> list[tuple[int, str]]:
    """Fallback: find AIGC JSON anywhere in the given windows of the file.

    Both patterns contain ``AIGC``: a C-speed ``find`` for it, then the anchored regex at
    each hit, keeps files without the word (nearly all of them) at memchr speed."""
    hits: list[tuple[int, str]] = []
    for base, chunk in windows:
        pos = chunk.find(b"AIGC")
        while pos >= 0:
            start = pos
            if _SCAN_AT_RE.match(chunk, pos) is None:
                lead = len(_SCAN_URL_PREFIX)
                if chunk[max(0, pos - lead) : pos] != _SCAN_URL_PREFIX:
                    pos = chunk.find(b"AIGC", pos + 4)
                    continue
                start = pos - lead
            brace = chunk.find(b"{", start)
            pos = chunk.find(b"AIGC", pos + 4)
            if brace < 0:
                continue
            text = chunk[brace : brace + 65536].decode("latin-1")
            if looks_like_record("AIGC" + text[:4096]):
                hits.append((base + brace, text))
            if len(hits) >= 8:
                return hits
    return hits


class _Input:
    """What the inspector reads: bytes in memory, or a large file through a streaming plug-in."""

    def __init__(self, data: bytes | None = None, path: Path | None = None, size: int = 0):
        self.data, self.path = data, path
        self.size = len(data) if data is not None else size

    def head(self) -> bytes:
        if self.data is not None:
            return self.data[: registry.max_sniff_bytes()]
        assert self.path is not None
        with open(self.path, "rb") as fh:
            return fh.read(registry.max_sniff_bytes())

    def meta(self, handler: FormatHandler) -> ContainerMetadata:
        if self.data is not None:
            return handler.read(self.data)
        assert isinstance(handler, StreamingHandler) and self.path is not None
        return handler.read_path(self.path)

    def digest(self, handler: FormatHandler) -> ContentDigest:
        if self.data is not None:
            return handler.content_digest(self.data)
        assert isinstance(handler, StreamingHandler) and self.path is not None
        return handler.content_digest_path(self.path)

    def windows(self) -> list[tuple[int, bytes]]:
        if self.data is not None:
            return _windows(self.data)
        assert self.path is not None
        out = []
        with open(self.path, "rb") as fh:
            out.append((0, fh.read(SCAN_WINDOW)))
            if self.size > SCAN_WINDOW:
                start = max(SCAN_WINDOW, self.size - SCAN_WINDOW)
                fh.seek(start)
                out.append((start, fh.read(SCAN_WINDOW)))
        return out


def inspect_path(
    path: Path,
    *,
    trust: TrustStore | None = None,
    verify: bool = True,
    sidecar: bytes | None = None,
) -> InspectionReport | None:
    """Inspect a large file through its plug-in's streaming methods (None: the plug-in cannot
    stream, read the bytes instead). C2PA manifests in such files are reported, not validated."""
    size = path.stat().st_size
    src = _Input(path=path, size=size)
    try:
        handler = registry.sniff(src.head(), name=str(path))
    except SynthlabelError:
        return None
    if not isinstance(handler, StreamingHandler):
        return None
    return _inspect(
        src,
        path=str(path),
        handler=handler,
        trust=trust,
        c2pa=False,
        trust_anchors_pem=None,
        verify=verify,
        known_digest=None,
        sidecar=sidecar,
    )


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
    return _inspect(
        _Input(data),
        path=path,
        handler=handler,
        trust=trust,
        c2pa=c2pa,
        trust_anchors_pem=trust_anchors_pem,
        verify=verify,
        known_digest=known_digest,
        sidecar=sidecar,
    )


def _inspect(
    src: _Input,
    *,
    path: str,
    handler: FormatHandler | None,
    trust: TrustStore | None,
    c2pa: bool,
    trust_anchors_pem: bytes | None,
    verify: bool,
    known_digest: tuple[str, bytes] | None,
    sidecar: bytes | None,
) -> InspectionReport:
    report = InspectionReport(path=path, size=src.size)
    try:
        handler = handler or registry.sniff(src.head(), name=path)
        report.format = handler.id
        report.media_kind = handler.media_kind.value
        meta = src.meta(handler)
    except SynthlabelError as exc:
        report.error = exc.message + (f" (at byte {exc.offset})" if exc.offset is not None else "")
        report.compliance = Compliance.INCONCLUSIVE
        return report
    report.warnings.extend(meta.warnings)
    _read_records(report, meta, src)
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
                d = src.digest(handler)
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
    # Some handlers (WAV, PDF) do not expose the manifest store: a cheap scan finds it.
    if (
        c2pa
        and src.data is not None
        and (meta.c2pa or (handler.id in C2PA_SCAN_FORMATS and looks_like_c2pa(src.data)))
    ):
        report.c2pa = _read_c2pa(src.data, handler, trust_anchors_pem)
    elif meta.c2pa:
        report.c2pa = C2paSummary(present=True, checked=False)
    report.compliance = _compliance(report)
    return report


def _read_records(report: InspectionReport, meta: ContainerMetadata, src: _Input) -> None:
    for c in meta.carriers:
        for location, raw in _carrier_values(c, report):
            _add_record(report, c.kind, location, c.offset, raw)
    if not report.records:
        for offset, text in _scan(src.windows()):
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
