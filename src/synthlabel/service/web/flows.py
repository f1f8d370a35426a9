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

from synthlabel.service import complaints, refutation, review, routing, webhooks
from synthlabel.service.auth import Actor
from synthlabel.service.db.models import (
    Appeal,
    Complaint,
    ContentRecord,
    Decision,
    ReviewJob,
    ReviewQueue,
    RumourRefutation,
    WebhookDelivery,
    WebhookSubscription,
)

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


# --- appeals, refutations, webhooks -----------------------------------------------------------

SUBJECT_APPEAL = review.SUBJECT_APPEAL


def file_appeal(db: Session, actor: Actor, decision_id: int, statement: str) -> Appeal:
    """An appeal against a decision, filed by ``actor``; it becomes a job in the appeal queue."""
    statement = statement.strip()
    if len(statement) < 10:
        raise FlowError("appeal.err_statement")
    if len(statement) > 5000:
        raise FlowError("common.too_long", n=5000)
    try:
        return review.file_appeal(
            db, decision_id, appellant_ref=actor.audit_name, statement=statement
        )
    except review.ReviewError as exc:
        raise _refused(exc) from None


def resolve_appeal(
    db: Session, actor: Actor, appeal_id: int, outcome: str, reason: str
) -> tuple[Appeal, Decision]:
    """``upheld`` (the decision stands) or ``overturned`` (its actions are reversed)."""
    if outcome not in ("upheld", "overturned"):
        raise FlowError("flow.bad_outcome")
    if len(reason.strip()) < 3:
        raise FlowError("flow.need_reason")
    try:
        return review.resolve_appeal(
            db, appeal_id, _reviewer(actor), outcome=outcome, reason=reason.strip()
        )
    except review.ReviewError as exc:
        raise _refused(exc) from None


def refute(
    db: Session, record: ContentRecord, text: str, source_url: str
) -> tuple[RumourRefutation, list[ContentRecord]]:
    """Publish a refutation of a stored item: it and every stored copy (same SHA-256 or a
    near PDQ hash) carry the notice; copies are routed to the rumour queue."""
    text, source_url = text.strip(), source_url.strip()
    if len(text) < 3:
        raise FlowError("refute.err_text")
    if len(text) > 5000:
        raise FlowError("common.too_long", n=5000)
    if not source_url.startswith(("http://", "https://")) or len(source_url) > 500:
        raise FlowError("refute.err_source")
    try:
        ref, flagged = refutation.publish(db, text=text, source_url=source_url, record=record)
    except refutation.RefutationError as exc:
        raise FlowError("flow.refused", detail=str(exc)) from None
    if record.review_state != "refuted":
        record.review_state = "refuted"
    return ref, flagged


def withdraw_refutation(db: Session, refutation_id: int) -> list[ContentRecord]:
    ref = db.get(RumourRefutation, refutation_id)
    if ref is None:
        raise FlowError("flow.missing", detail=f"refutation {refutation_id}")
    if ref.status != "published":
        raise FlowError("flow.refused", detail=f"refutation {refutation_id} is {ref.status}")
    return refutation.withdraw(db, ref)


def create_subscription(
    db: Session, actor: Actor, name: str, url: str, event_kinds: str, *, allow_private: bool
) -> tuple[WebhookSubscription, str]:
    """A webhook subscription through :func:`synthlabel.service.webhooks.create_subscription`
    (the API's checks, the private-address rule included); the new secret (shown once).

    Raises :class:`FlowError` with the field that is wrong."""
    kinds = [k.strip() for k in event_kinds.replace(",", " ").split() if k.strip()]
    try:
        return webhooks.create_subscription(
            db,
            name=name,
            url=url.strip(),
            event_kinds=kinds,
            owner_id=actor.user_id,
            allow_private=allow_private,
        )
    except webhooks.WebhookError as exc:
        raise FlowError("webhook.err_field", field=exc.field, detail=str(exc)) from None


def delete_subscription(db: Session, subscription_id: int) -> None:
    sub = db.get(WebhookSubscription, subscription_id)
    if sub is None:
        raise FlowError("flow.missing", detail=f"webhook subscription {subscription_id}")
    db.delete(sub)
    db.flush()


def replay_delivery(db: Session, delivery_id: int) -> WebhookDelivery:
    d = db.get(WebhookDelivery, delivery_id)
    if d is None:
        raise FlowError("flow.missing", detail=f"webhook delivery {delivery_id}")
    if d.status not in ("dead", "delivered"):
        raise FlowError("flow.refused", detail=f"delivery {delivery_id} is {d.status}")
    webhooks.replay(db, d)
    return d
