"""Content records from scan rows: the one place that turns an inspection (a
:func:`synthlabel.batch.scan_one` row) into ``content_record`` fields, an ``inspection`` and its
``finding`` rows. ``synthlabel scan --database-url``, the ingest worker and the synchronous
inspect endpoint all write through :func:`apply_row`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from synthlabel.service.db.models import ContentRecord, Finding, Inspection
from synthlabel.service.db.types import utcnow


def aigc_record(row: Mapping[str, Any]) -> dict[str, str] | None:
    """The first AIGC record of a row's file (its GB 45438 fields), or None."""
    if not row.get("records"):
        return None
    fields = {
        "Label": row.get("record_label"),
        "ContentProducer": row.get("content_producer"),
        "ProduceID": row.get("produce_id"),
        "ContentPropagator": row.get("content_propagator"),
        "PropagateID": row.get("propagate_id"),
    }
    return {k: v for k, v in fields.items() if v is not None}


def row_evidence(row: Mapping[str, Any]) -> list[dict[str, Any]]:
    ev = row.get("evidence")
    if isinstance(ev, list):
        return [dict(e) for e in ev]
    return json.loads(ev) if ev else []


def new_record(
    *, source: str, retention_days: int, now: datetime | None = None, **fields: Any
) -> ContentRecord:
    """A content record kept ``retention_days`` from ``now`` (the same instant: never short)."""
    now = now or utcnow()
    return ContentRecord(
        source=source,
        created_at=now,
        retain_until=now + timedelta(days=retention_days),
        **fields,
    )


def apply_row(
    session: Session,
    rec: ContentRecord,
    row: Mapping[str, Any],
    *,
    inspection_source: str,
    extra_evidence: Sequence[Mapping[str, Any]] = (),
) -> Inspection:
    """Fill ``rec`` from an inspected row and add its inspection with one finding per piece of
    evidence (``extra_evidence``: findings the caller made, e.g. generation-log matches, already
    part of ``row['evidence']`` or not)."""
    evidence = row_evidence(row)
    seen = {(e.get("code"), e.get("summary")) for e in evidence}
    evidence += [dict(e) for e in extra_evidence if (e.get("code"), e.get("summary")) not in seen]
    if rec.sha256 is None:
        rec.sha256 = row.get("sha256")
    if rec.size is None:
        rec.size = row.get("size")
    rec.media_kind = row.get("media_kind")
    rec.record = aigc_record(row)
    rec.produce_id = row.get("produce_id") or None
    rec.propagate_id = row.get("propagate_id") or None
    rec.verdict = row.get("verdict")
    if rec.id is None:
        session.add(rec)
        session.flush()  # rec.id for the inspection
    inspection = Inspection(
        content_record_id=rec.id,
        verdict=row.get("verdict") or "not_run",
        policy_version=row.get("policy"),
        platform_label=row.get("label_value") or None,
        source=inspection_source,
        report={**row, "evidence": evidence},
        findings=[
            Finding(
                plugin_id=f.get("detector") or "?",
                kind=f.get("code") or "?",
                confidence=f.get("confidence"),
                evidence={
                    k: f.get(k) for k in ("strength", "summary", "location", "details") if k in f
                },
            )
            for f in evidence
        ],
    )
    session.add(inspection)
    return inspection
