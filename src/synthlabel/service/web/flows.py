"""The state changes the web pages make: claim, release and decide review jobs, file
complaints.

Each function runs in the caller's transaction (the page commits) and raises
:class:`FlowError` with a message key of :mod:`synthlabel.service.web.i18n` when the change is
not allowed, so the page can show it inline. Every write goes through the ORM and so is in the
audit chain.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from synthlabel.service.auth import Actor
from synthlabel.service.db.models import (
    COMPLAINT_CATEGORIES,
    DECISION_OUTCOMES,
    Complaint,
    ContentRecord,
    Decision,
    ReviewJob,
    ReviewQueue,
)
from synthlabel.service.db.types import utcnow

LEASE_MINUTES = 30
# The state a decision leaves the item in (None: unchanged).
OUTCOME_STATE: dict[str, str | None] = {
    "label": "labelled",
    "add_notice": "noticed",
    "take_down": "taken_down",
    "restore": "visible",
    "refute": "refuted",
    "no_action": None,
}
# Days to answer a complaint, per category.
COMPLAINT_DUE_DAYS = {"rumour": 1, "unlabelled_ai": 3, "wrong_label": 3, "rights": 7, "other": 7}
TICKET_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I
SUBJECT_CONTENT = "content_record"
SUBJECT_COMPLAINT = "complaint"


class FlowError(ValueError):
    """The change is not allowed; ``key`` names the message, ``args`` fill it."""

    def __init__(self, key: str, **kwargs: Any) -> None:
        super().__init__(key)
        self.key = key
        self.kwargs = kwargs


def _job(db: Session, job_id: int) -> ReviewJob:
    job = db.get(ReviewJob, job_id, with_for_update=True)
    if job is None:
        raise FlowError("flow.no_job", id=job_id)
    return job


def _expire_lease(job: ReviewJob) -> None:
    if job.status == "claimed" and job.lease_until is not None and job.lease_until <= utcnow():
        job.status, job.claimed_by, job.lease_until = "pending", None, None


def claim(db: Session, actor: Actor, job_id: int) -> ReviewJob:
    """Claim a pending job (or a claimed one whose lease ran out) for ``actor``."""
    job = _job(db, job_id)
    _expire_lease(job)
    if job.status == "claimed" and job.claimed_by == actor.user_id:
        job.lease_until = utcnow() + timedelta(minutes=LEASE_MINUTES)
        return job
    if job.status != "pending":
        raise FlowError("flow.not_claimable", id=job_id)
    job.status = "claimed"
    job.claimed_by = actor.user_id
    job.lease_until = utcnow() + timedelta(minutes=LEASE_MINUTES)
    return job


def claim_next(db: Session, actor: Actor, queue_id: int | None) -> ReviewJob | None:
    """The oldest, most urgent pending job (of one queue, or any), claimed; None when none."""
    stmt = select(ReviewJob.id).where(ReviewJob.status == "pending")
    if queue_id is not None:
        stmt = stmt.where(ReviewJob.queue_id == queue_id)
    stmt = stmt.order_by(ReviewJob.priority.desc(), ReviewJob.created_at, ReviewJob.id).limit(1)
    job_id = db.execute(stmt).scalar_one_or_none()
    return None if job_id is None else claim(db, actor, job_id)


def release(db: Session, actor: Actor, job_id: int) -> ReviewJob:
    job = _job(db, job_id)
    if job.status != "claimed" or (job.claimed_by != actor.user_id and actor.role != "admin"):
        raise FlowError("flow.not_yours", id=job_id)
    job.status, job.claimed_by, job.lease_until = "pending", None, None
    return job


def decide(db: Session, actor: Actor, job_id: int, outcome: str, reason: str) -> Decision:
    """Record an immutable decision on a job ``actor`` holds; the item takes its new state."""
    if outcome not in DECISION_OUTCOMES:
        raise FlowError("flow.bad_outcome")
    reason = reason.strip()
    if len(reason) < 3:
        raise FlowError("flow.need_reason")
    job = _job(db, job_id)
    _expire_lease(job)
    if job.status != "claimed" or job.claimed_by != actor.user_id:
        raise FlowError("flow.claim_first", id=job_id)
    decision = Decision(
        job_id=job.id,
        reviewer_id=actor.user_id,
        outcome=outcome,
        reason=reason,
        actions=[{"set_state": OUTCOME_STATE[outcome]}] if OUTCOME_STATE[outcome] else [],
    )
    db.add(decision)
    job.status = "decided"
    job.lease_until = None
    if job.subject_type == SUBJECT_CONTENT:
        record = db.get(ContentRecord, job.subject_id)
        state = OUTCOME_STATE[outcome]
        if record is not None and state is not None:
            record.review_state = state
    elif job.subject_type == SUBJECT_COMPLAINT:
        complaint = db.get(Complaint, int(job.subject_id)) if job.subject_id.isdigit() else None
        if complaint is not None:
            complaint.status = "rejected" if outcome == "no_action" else "resolved"
            complaint.resolution = reason
            complaint.resolved_at = utcnow()
    db.flush()
    return decision


def new_ticket_no(db: Session) -> str:
    year = utcnow().year
    while True:
        code = "".join(secrets.choice(TICKET_ALPHABET) for _ in range(8))
        ticket = f"C-{year}-{code}"
        if db.execute(select(Complaint.id).where(Complaint.ticket_no == ticket)).first() is None:
            return ticket


def complaint_queue(db: Session) -> ReviewQueue:
    queue = db.execute(
        select(ReviewQueue).where(ReviewQueue.kind == "complaint").order_by(ReviewQueue.id)
    ).scalar_one_or_none()
    if queue is None:
        queue = ReviewQueue(name="complaint", kind="complaint", sla_hours=72)
        db.add(queue)
        db.flush()
    return queue


def file_complaint(
    db: Session,
    *,
    category: str,
    subject_ref: str,
    description: str,
    contact: str,
    channel: str = "web",
) -> Complaint:
    """A new complaint with an unguessable ticket number and a due date, and a job for it in
    the complaint queue."""
    if category not in COMPLAINT_CATEGORIES:
        raise FlowError("flow.bad_category")
    now = utcnow()
    record_id = None
    ref = subject_ref.strip()
    if ref:
        found = db.get(ContentRecord, ref) if len(ref) == 36 else None
        if found is None and len(ref) == 64:
            found = db.execute(
                select(ContentRecord).where(ContentRecord.sha256 == ref.lower()).limit(1)
            ).scalar_one_or_none()
        record_id = found.id if found is not None else None
    complaint = Complaint(
        ticket_no=new_ticket_no(db),
        channel=channel,
        contact=contact.strip() or None,
        subject_type=SUBJECT_CONTENT if record_id else ("reference" if ref else None),
        subject_ref=ref or None,
        content_record_id=record_id,
        category=category,
        description=description.strip(),
        status="received",
        received_at=now,
        due_at=now + timedelta(days=COMPLAINT_DUE_DAYS.get(category, 7)),
    )
    db.add(complaint)
    db.flush()
    queue = complaint_queue(db)
    db.add(
        ReviewJob(
            queue_id=queue.id,
            subject_type=SUBJECT_COMPLAINT,
            subject_id=str(complaint.id),
            status="pending",
            reason=f"complaint {complaint.ticket_no}: {category}",
            priority=1 if category == "rumour" else 0,
            due_at=complaint.due_at,
        )
    )
    db.flush()
    return complaint
