"""One file in, one flat row out: :func:`scan_one`, the pure function every engine runs.

A row is a plain dict of strings, numbers, booleans and lists of strings (JSON- and
Arrow-friendly); :data:`COLUMNS` names every column in order, with its Arrow type and
meaning (docs/scan.md prints the same table). ``scan_one`` never raises: a file that cannot
be read or inspected yields a row whose ``error`` says why.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from synthlabel import __version__
from synthlabel.model.results import InspectionReport
from synthlabel.pipeline.inspecting import InspectOptions, inspect_file

#: Schema of a scan row: (name, Arrow type, meaning). Arrow types are spelled as
#: ``string``, ``int64``, ``double``, ``bool`` or ``list<string>``; every column is nullable.
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("path", "string", "the path as given or walked; non-UTF-8 bytes as \\xNN (the resume key)"),
    ("size", "int64", "file size in bytes (null: the file could not be read)"),
    ("sha256", "string", "SHA-256 of the whole file, hex (null: not read or --no-hash)"),
    ("media_kind", "string", "image, audio, video, text, document"),
    ("format", "string", "the format plug-in that read it (jpeg, png, wav, markdown, ...)"),
    ("compliance", "string", "compliant, noncompliant, not_found, inconclusive"),
    ("verdict", "string", "confirmed, possible, suspected, no_trace (null: detectors off)"),
    ("label_value", "string", "the GB 45438 Label value for the verdict: 1, 2, 3 or empty"),
    ("records", "int64", "how many AIGC records the file carries"),
    ("record_label", "string", "Label of the file's first AIGC record"),
    ("content_producer", "string", "ContentProducer of that record"),
    ("produce_id", "string", "ProduceID of that record"),
    ("content_propagator", "string", "ContentPropagator of that record"),
    ("propagate_id", "string", "PropagateID of that record"),
    ("signature", "string", "producer signature: valid, invalid, unsigned, unknown_key, ..."),
    ("binding", "string", "content binding: intact, broken, absent, not_checked"),
    ("signer_trusted", "bool", "the producer's key is in the trust file"),
    ("c2pa_present", "bool", "a C2PA manifest store was found"),
    ("c2pa_ai_claim", "bool", "the active C2PA manifest claims AI generation"),
    ("watermarks", "list<string>", "robust watermarks found (algorithm ids)"),
    ("evidence", "string", "the verdict's evidence as JSON text (findings, strongest first)"),
    ("reasons", "list<string>", "the policy rules that fired for the verdict"),
    ("detectors", "list<string>", "detector ids that ran on the file"),
    ("warnings", "list<string>", "notes, conformance problems and detector failures"),
    ("policy", "string", "the verdict policy and its version, e.g. synthlabel-default/1"),
    ("error", "string", "why the file could not be inspected (null: it was)"),
    ("elapsed_ms", "double", "time spent on this file in the worker, milliseconds"),
    ("synthlabel_version", "string", "the synthlabel version that produced the row"),
)
COLUMN_NAMES: tuple[str, ...] = tuple(c[0] for c in COLUMNS)

_HASH_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class ScanConfig:
    """What every worker needs to scan a file (picklable: it travels to processes and actors).

    ``inspect`` are the inspection options (policy, detectors, trust, watermarks, registry
    path ...), exactly those of ``synthlabel inspect``; ``sha256``: hash every file."""

    inspect: InspectOptions = field(default_factory=lambda: InspectOptions(detect=True))
    sha256: bool = True


def row_path(path: str | Path) -> str:
    """The ``path`` column for a path: the path itself, except that bytes which are not UTF-8
    (a file name from another system's encoding) are written as ``\\xNN`` escapes, so the row
    stays valid UTF-8 in JSON, Arrow and the database (and the resume key matches)."""
    text = str(path)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(text).decode("utf-8", "backslashreplace")
    return text


def scan_one(path: str | Path, config: ScanConfig) -> dict[str, Any]:
    """Inspect one file and flatten the report into a row (never raises)."""
    t0 = time.perf_counter()
    p = Path(path)
    row: dict[str, Any] = dict.fromkeys(COLUMN_NAMES)
    row["path"] = row_path(path)
    try:
        report = inspect_file(p, config.inspect)
        _fill(row, report)
        if not report.error and config.sha256:
            row["sha256"] = _sha256(p)
    except Exception as exc:  # a bug in a plug-in must not end a million-file run
        row["error"] = f"internal error while inspecting: {type(exc).__name__}: {exc}"
    row["elapsed_ms"] = round((time.perf_counter() - t0) * 1000.0, 3)
    row["synthlabel_version"] = __version__
    return row


def error_row(path: str, error: str) -> dict[str, Any]:
    """The row of a file no worker could finish (e.g. the worker process died on it)."""
    row: dict[str, Any] = dict.fromkeys(COLUMN_NAMES)
    row.update(path=row_path(path), error=error, elapsed_ms=0.0, synthlabel_version=__version__)
    return row


def _sha256(p: Path) -> str:
    h = hashlib.sha256()
    with open(p, "rb") as fh:
        while chunk := fh.read(_HASH_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _fill(row: dict[str, Any], rep: InspectionReport) -> None:
    if rep.error:
        row["error"] = rep.error
        with contextlib.suppress(OSError):
            row["size"] = Path(rep.path).stat().st_size
        return
    row["size"] = rep.size or Path(rep.path).stat().st_size
    row["media_kind"] = rep.media_kind or None
    row["format"] = rep.format or None
    row["compliance"] = rep.compliance.value
    row["records"] = len(rep.records)
    rec = rep.record
    if rec is not None:
        row["record_label"] = rec.label
        row["content_producer"] = rec.content_producer
        row["produce_id"] = rec.produce_id
        row["content_propagator"] = rec.content_propagator
        row["propagate_id"] = rec.propagate_id
    first = next((r for r in rep.records if r.record is not None), None)
    if first is not None and first.producer_signature is not None:
        sig = first.producer_signature
        row["signature"] = sig.status.value
        row["binding"] = sig.binding.value
        row["signer_trusted"] = sig.trusted
    elif first is not None:
        row["signature"] = "unsigned"
    if rep.c2pa is not None:
        row["c2pa_present"] = rep.c2pa.present
        row["c2pa_ai_claim"] = rep.c2pa.ai_claim
    row["watermarks"] = sorted({str(w["algorithm"]) for w in rep.watermarks if w.get("present")})
    warnings = list(rep.warnings)
    for r in rep.records:
        warnings += r.errors + r.warnings
    for det, msg in sorted(rep.detectors.get("errors", {}).items()):
        warnings.append(f"detector {det} failed: {msg}")
    row["warnings"] = warnings
    row["detectors"] = sorted(rep.detectors.get("ran", {}))
    if rep.decision is not None:
        d = rep.decision
        row["verdict"] = d.verdict.value
        row["label_value"] = d.label_value
        row["policy"] = d.policy
        row["reasons"] = list(d.reasons)
        row["evidence"] = json.dumps(
            [
                {
                    "detector": f.detector,
                    "code": f.code,
                    "strength": f.strength.value,
                    "summary": f.summary,
                    "location": f.location,
                    "confidence": f.confidence,
                }
                for f in d.evidence
            ],
            ensure_ascii=False,
            separators=(",", ":"),
        )
