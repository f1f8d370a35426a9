"""Read-only queries behind the pages: dashboard counts, queue sizes, item history."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from synthlabel.service.db.models import (
    AuditEvent,
    Complaint,
    ContentRecord,
    Decision,
    Provider,
    ReviewJob,
    ReviewQueue,
)
from synthlabel.service.db.types import utcnow

VERDICTS = ("confirmed", "possible", "suspected", "no_trace")
OPEN_COMPLAINT = ("received", "in_review")


def _day(db: Session, column: Any) -> ColumnElement[Any]:
    """The UTC calendar day of a timestamp column, as text or a date, on either database."""
    if db.get_bind().dialect.name == "postgresql":
        return func.date(func.timezone("UTC", column))
    return func.date(column)


@dataclass
class Dashboard:
    days: list[str]
    per_verdict: dict[str, list[int]]
    queues: list[tuple[ReviewQueue, int]]
    complaints: dict[str, int]
    pending_review: int
    open_complaints: int
    items_window: int
    decisions_window: int
    providers: int


def dashboard(db: Session, days: int = 14) -> Dashboard:
    today = utcnow().date()
    first = today - timedelta(days=days - 1)
    since = datetime(first.year, first.month, first.day, tzinfo=utcnow().tzinfo)
    labels = [(first + timedelta(days=i)).isoformat() for i in range(days)]
    index = {d: i for i, d in enumerate(labels)}
    per_verdict: dict[str, list[int]] = {v: [0] * days for v in (*VERDICTS, "pending")}
    day = _day(db, ContentRecord.created_at)
    rows = db.execute(
        select(day, ContentRecord.verdict, func.count())
        .where(ContentRecord.created_at >= since)
        .group_by(day, ContentRecord.verdict)
    ).all()
    items_window = 0
    for d, verdict, n in rows:
        key = d.isoformat() if isinstance(d, date) else str(d)[:10]
        series = verdict if verdict in per_verdict else "pending"
        if key in index:
            per_verdict[series][index[key]] += n
            items_window += n
    open_jobs = dict(
        db.execute(
            select(ReviewJob.queue_id, func.count())
            .where(ReviewJob.status.in_(("pending", "claimed")))
            .group_by(ReviewJob.queue_id)
        ).all()
    )
    queues = [
        (q, int(open_jobs.get(q.id, 0)))
        for q in db.execute(select(ReviewQueue).order_by(ReviewQueue.id)).scalars()
    ]
    complaints = dict(
        db.execute(select(Complaint.status, func.count()).group_by(Complaint.status)).all()
    )
    decisions = db.execute(
        select(func.count()).select_from(Decision).where(Decision.created_at >= since)
    ).scalar_one()
    pending = db.execute(
        select(func.count()).select_from(ReviewJob).where(ReviewJob.status == "pending")
    ).scalar_one()
    providers = db.execute(select(func.count()).select_from(Provider)).scalar_one()
    return Dashboard(
        days=labels,
        per_verdict=per_verdict,
        queues=queues,
        complaints={k: int(v) for k, v in complaints.items()},
        pending_review=int(pending),
        open_complaints=sum(int(complaints.get(s, 0)) for s in OPEN_COMPLAINT),
        items_window=items_window,
        decisions_window=int(decisions),
        providers=int(providers),
    )


def open_counts(db: Session) -> dict[int, int]:
    return {
        int(q): int(n)
        for q, n in db.execute(
            select(ReviewJob.queue_id, func.count())
            .where(ReviewJob.status.in_(("pending", "claimed")))
            .group_by(ReviewJob.queue_id)
        ).all()
    }


def history(db: Session, record_id: str, job_ids: list[int], decision_ids: list[int]) -> list[Any]:
    """The audit events about an item, its review jobs and their decisions, oldest first."""
    conds = [(AuditEvent.object_type == "content_record") & (AuditEvent.object_id == record_id)]
    if job_ids:
        conds.append(
            (AuditEvent.object_type == "review_job")
            & AuditEvent.object_id.in_([str(j) for j in job_ids])
        )
    if decision_ids:
        conds.append(
            (AuditEvent.object_type == "decision")
            & AuditEvent.object_id.in_([str(d) for d in decision_ids])
        )
    return list(
        db.execute(select(AuditEvent).where(or_(*conds)).order_by(AuditEvent.id).limit(200))
        .scalars()
        .all()
    )


def provider_filing_states(db: Session, provider_ids: list[int]) -> dict[int, dict[str, int]]:
    from synthlabel.service.db.models import AlgorithmFiling

    out: dict[int, dict[str, int]] = defaultdict(dict)
    if not provider_ids:
        return out
    for pid, status, n in db.execute(
        select(AlgorithmFiling.provider_id, AlgorithmFiling.status, func.count())
        .where(AlgorithmFiling.provider_id.in_(provider_ids))
        .group_by(AlgorithmFiling.provider_id, AlgorithmFiling.status)
    ).all():
        out[int(pid)][str(status)] = int(n)
    return out
