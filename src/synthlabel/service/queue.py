"""The durable work queue (table ``work_queue``): enqueue, claim with a lease, finish, retry.

* **Claim**: one statement, ``UPDATE work_queue SET status='running', attempts=attempts+1,
  locked_by=<token>, locked_until=now+lease WHERE id IN (SELECT id ... ORDER BY run_after, id
  LIMIT n FOR UPDATE SKIP LOCKED) RETURNING ...`` on PostgreSQL (concurrent workers skip each
  other's rows instead of waiting); on SQLite the same ``UPDATE ... RETURNING`` inside the
  ``BEGIN IMMEDIATE`` transaction every session here starts (one writer at a time). A job is
  due when it is ``pending`` and its ``run_after`` has passed, or ``running`` with an expired
  lease (its worker died): it runs again.
* **Fencing**: each claim writes a fresh token into ``locked_by``. :func:`finish` locks the row
  and checks the token in the transaction that commits the job's effects, so a worker whose
  lease ran out (and whose job another worker took over) cannot also commit: a job's effects
  are committed exactly once.
* **Retry**: :func:`retry` puts a failed job back with exponential backoff and full jitter
  (``run_after``), until ``max_attempts`` claims have been used; then it is ``dead``. A job
  whose lease expires on its last attempt is made ``dead`` by the next claim.

Claims, retries and dead jobs are Core-level writes and append their audit events
explicitly; :func:`finish` is an ORM update (audited by the session hooks).
"""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from synthlabel.service import audit
from synthlabel.service.db.models import WorkItem
from synthlabel.service.db.types import utcnow

BACKOFF_BASE_S = 2.0
BACKOFF_CAP_S = 3600.0


@dataclass(frozen=True)
class Job:
    """A claimed job; ``token`` proves the claim when it is finished."""

    id: int
    kind: str
    payload: dict[str, Any]
    attempts: int
    max_attempts: int
    token: str
    content_record_id: str | None
    locked_until: datetime


def backoff(attempts: int, rng: random.Random | None = None) -> float:
    """Seconds to wait after the ``attempts``-th failed try: full jitter over
    ``min(cap, base * 2**(attempts-1))``, at least half of it."""
    ceiling = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** max(0, attempts - 1))
    r = rng.random() if rng is not None else random.random()
    return float(ceiling * (0.5 + 0.5 * r))


def enqueue(
    session: Session,
    kind: str,
    payload: dict[str, Any] | None = None,
    *,
    idempotency_key: str | None = None,
    content_record_id: str | None = None,
    max_attempts: int = 5,
    run_after: datetime | None = None,
) -> WorkItem:
    """Add a pending job in the caller's transaction (flushed: it has its id)."""
    item = WorkItem(
        kind=kind,
        payload=payload or {},
        status="pending",
        attempts=0,
        max_attempts=max_attempts,
        run_after=run_after or utcnow(),
        idempotency_key=idempotency_key,
        content_record_id=content_record_id,
    )
    session.add(item)
    session.flush()
    return item


def _due(now: datetime) -> Any:
    return or_(
        and_(WorkItem.status == "pending", WorkItem.run_after <= now),
        and_(WorkItem.status == "running", WorkItem.locked_until < now),
    )


def claim(
    session: Session,
    worker: str,
    *,
    kinds: tuple[str, ...] = ("ingest",),
    lease_seconds: int = 300,
    limit: int = 1,
) -> list[Job]:
    """Claim up to ``limit`` due jobs for ``worker`` in the caller's transaction (commit it
    before working on them, so the lease is visible)."""
    now = utcnow()
    token = f"{worker[:100]}/{secrets.token_hex(6)}"
    until = now + timedelta(seconds=lease_seconds)
    ids = (
        select(WorkItem.id)
        .where(_due(now), WorkItem.kind.in_(kinds))
        .order_by(WorkItem.run_after, WorkItem.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    stmt = (
        update(WorkItem)
        .where(WorkItem.id.in_(ids.scalar_subquery()))
        .values(
            status="running",
            attempts=WorkItem.attempts + 1,
            locked_by=token,
            locked_until=until,
        )
        .returning(
            WorkItem.id,
            WorkItem.kind,
            WorkItem.payload,
            WorkItem.attempts,
            WorkItem.max_attempts,
            WorkItem.content_record_id,
        )
        .execution_options(synchronize_session=False)
    )
    rows = session.execute(stmt).all()
    jobs: list[Job] = []
    for r in sorted(rows, key=lambda r: int(r.id)):
        if int(r.attempts) > int(r.max_attempts):
            # Its last attempt's lease expired (the worker died on it): give up.
            _set(
                session,
                int(r.id),
                status="dead",
                locked_by=None,
                locked_until=None,
                last_error="lease expired on the last attempt (worker died?)",
                finished_at=now,
            )
            audit.record(
                session,
                "work_queue.dead",
                "work_queue",
                int(r.id),
                {"attempts": int(r.attempts) - 1, "reason": "lease expired"},
            )
            continue
        audit.record(
            session,
            "work_queue.claim",
            "work_queue",
            int(r.id),
            {"worker": worker, "attempt": int(r.attempts), "locked_until": until},
        )
        jobs.append(
            Job(
                int(r.id),
                str(r.kind),
                dict(r.payload or {}),
                int(r.attempts),
                int(r.max_attempts),
                token,
                r.content_record_id,
                until,
            )
        )
    return jobs


def _set(session: Session, job_id: int, **values: Any) -> None:
    session.execute(
        update(WorkItem)
        .where(WorkItem.id == job_id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )


def locked(session: Session, job: Job) -> WorkItem | None:
    """The job's row, locked, if ``job``'s claim still holds it (else None: the lease was lost
    and another worker has it, or it was finished already)."""
    row = session.scalars(
        select(WorkItem)
        .where(WorkItem.id == job.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()
    if row is None or row.status != "running" or row.locked_by != job.token:
        return None
    return row


def locked_many(session: Session, jobs: list[Job]) -> dict[int, WorkItem]:
    """:func:`locked` for several jobs in one statement: id -> row for the claims that hold."""
    if not jobs:
        return {}
    rows = session.scalars(
        select(WorkItem)
        .where(WorkItem.id.in_([j.id for j in jobs]))
        .order_by(WorkItem.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).all()
    tokens = {j.id: j.token for j in jobs}
    return {r.id: r for r in rows if r.status == "running" and r.locked_by == tokens.get(r.id)}


def mark_done(row: WorkItem, result: dict[str, Any] | None, status: str = "done") -> None:
    """Mark a row returned by :func:`locked` / :func:`locked_many` finished (ORM: audited)."""
    row.status = status
    row.result = result
    row.locked_until = None
    row.finished_at = utcnow()


def finish(
    session: Session, job: Job, *, result: dict[str, Any] | None = None, status: str = "done"
) -> bool:
    """Mark ``job`` done in the caller's transaction, the one that commits its effects; False
    (and nothing changed) when the claim no longer holds."""
    row = locked(session, job)
    if row is None:
        return False
    mark_done(row, result, status)
    session.flush()
    return True


def retry(session: Session, job: Job, error: str, *, rng: random.Random | None = None) -> str:
    """After a failed attempt: back to ``pending`` after a backoff, or ``dead`` when every
    attempt is used. Returns the new status ('' when the claim no longer holds)."""
    row = locked(session, job)
    if row is None:
        return ""
    now = utcnow()
    error = error[:2000]
    if job.attempts >= job.max_attempts:
        _set(
            session,
            job.id,
            status="dead",
            locked_by=None,
            locked_until=None,
            last_error=error,
            finished_at=now,
        )
        audit.record(
            session,
            "work_queue.dead",
            "work_queue",
            job.id,
            {"attempts": job.attempts, "error": error},
        )
        return "dead"
    delay = backoff(job.attempts, rng)
    _set(
        session,
        job.id,
        status="pending",
        locked_by=None,
        locked_until=None,
        last_error=error,
        run_after=now + timedelta(seconds=delay),
    )
    audit.record(
        session,
        "work_queue.retry",
        "work_queue",
        job.id,
        {"attempts": job.attempts, "error": error, "delay_s": round(delay, 3)},
    )
    return "pending"


def counts(session: Session) -> dict[str, int]:
    from sqlalchemy import func

    rows = session.execute(select(WorkItem.status, func.count()).group_by(WorkItem.status)).all()
    return {str(s): int(n) for s, n in rows}
