"""The state changes the web pages make, through the service's own review and complaint
flows (:mod:`synthlabel.service.review`, :mod:`synthlabel.service.complaints`), so a decision
made in the browser has the same effects, events and audit entries as one made through the API.

Each function runs in the caller's transaction (the page commits) and raises
:class:`FlowError` with a message key of :mod:`synthlabel.service.web.i18n` when the change is
not allowed, so the page can show it inline.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from synthlabel.service import complaints, review, routing
from synthlabel.service.auth import Actor
from synthlabel.service.db.models import Complaint, Decision, ReviewJob, ReviewQueue

SUBJECT_CONTENT = routing.SUBJECT_CONTENT
SUBJECT_COMPLAINT = complaints.SUBJECT_COMPLAINT


class FlowError(ValueError):
    """The change is not allowed; ``key`` names the message, ``kwargs`` fill it."""

    def __init__(self, key: str, **kwargs: Any) -> None:
        super().__init__(key)
        self.key = key
        self.kwargs = kwargs


def _reviewer(actor: Actor) -> review.Reviewer:
    return review.Reviewer(actor.user_id, actor.role == "admin")


def _refused(exc: review.ReviewError) -> FlowError:
    if exc.status == 404:
        return FlowError("flow.missing", detail=str(exc))
    return FlowError("flow.refused", detail=str(exc))


def claim(db: Session, actor: Actor, job_id: int) -> ReviewJob:
    """Claim a job (or renew one's own lease)."""
    try:
        return review.claim(db, job_id, _reviewer(actor))
    except review.ReviewError as exc:
        raise _refused(exc) from None


def claim_next(db: Session, actor: Actor, queue_id: int | None) -> ReviewJob | None:
    """The most urgent claimable job of one queue (or of the first queue that has one)."""
    stmt = select(ReviewQueue).order_by(ReviewQueue.id)
    if queue_id is not None:
        stmt = stmt.where(ReviewQueue.id == queue_id)
    for queue in db.execute(stmt).scalars().all():
        job = review.claim_next(db, queue, _reviewer(actor))
        if job is not None:
            return job
    return None


def release(db: Session, actor: Actor, job_id: int) -> ReviewJob:
    try:
        return review.release(db, job_id, _reviewer(actor))
    except review.ReviewError as exc:
        raise _refused(exc) from None


def decide(
    db: Session, actor: Actor, job_id: int, outcome: str, reason: str, source_url: str = ""
) -> Decision:
    """An immutable decision on the job; ``reason`` is also the notice text of ``add_notice``
    and ``refute`` (which needs ``source_url`` too)."""
    reason = reason.strip()
    if not outcome:
        raise FlowError("flow.bad_outcome")
    if len(reason) < 3:
        raise FlowError("flow.need_reason")
    if outcome == "refute" and not source_url.strip():
        raise FlowError("flow.need_source")
    d = review.DecisionInput(
        outcome=outcome,
        reason=reason,
        notice=reason if outcome in ("add_notice", "refute") else None,
        source_url=source_url.strip() or None,
    )
    try:
        return review.decide(db, job_id, _reviewer(actor), d)
    except review.ReviewError as exc:
        raise _refused(exc) from None


def file_complaint(
    db: Session,
    *,
    category: str,
    subject_ref: str,
    description: str,
    contact: str,
    sla_text: str = "",
) -> Complaint:
    """A new complaint (ticket number, due date, a job in the complaint queue)."""
    try:
        return complaints.file_complaint(
            db,
            category=category,
            description=description.strip(),
            contact=contact.strip() or None,
            subject_ref=subject_ref.strip() or None,
            channel="web",
            sla_hours=complaints.parse_sla(sla_text),
        )
    except complaints.ComplaintError as exc:
        raise FlowError("flow.refused", detail=str(exc)) from None
