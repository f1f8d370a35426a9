"""Review work: claiming jobs with a lease, decisions and their effects, bulk decisions, appeals.

Jobs (``review_job``) are about a subject: a ``content_record`` (routed or flagged items), a
``complaint`` (the complaint queue) or an ``appeal`` (the appeal queue).

* **Claiming** is a lease: :func:`claim_next` takes the most urgent claimable job of a queue
  (pending, or claimed with an expired lease) with one ``UPDATE ... RETURNING`` (its row chosen
  ``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite transactions are serial), so two reviewers
  never get the same job. :func:`release` gives a job back; :func:`assign` (admin) claims it for
  someone.
* **Deciding** writes an immutable ``decision`` (outcome, reason, and the actions it applied)
  and marks the job decided. Outcomes on an item: ``label`` (an explicit label is required:
  ``review_state = labelled``, an entry in ``labels_applied``), ``add_notice`` (a notice on the
  item), ``take_down``, ``restore`` (visible again), ``refute`` (publish a rumour refutation:
  every matching upload is flagged), ``no_action``. On a complaint job the outcome is applied to
  the item the complaint is about (if it names one) and the complaint is resolved. Every
  decision emits ``item.decided``.
* **Appeals** are filed against a decision and worked in the appeal queue; ``upheld`` keeps
  the decision (a ``no_action`` decision on the appeal job), ``overturned`` reverses its actions
  with a new decision (outcome ``restore``) that records what it undid.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from synthlabel.service import audit, complaints, refutation, webhooks
from synthlabel.service.db.models import (
    DECISION_OUTCOMES,
    Appeal,
    Complaint,
    ContentRecord,
    Decision,
    ReviewJob,
    ReviewQueue,
    RumourRefutation,
    User,
)
from synthlabel.service.db.types import utcnow
from synthlabel.service.routing import (
    APPEAL,
    SUBJECT_CONTENT,
    enqueue,
    queue_by_name,
)

SUBJECT_COMPLAINT = complaints.SUBJECT_COMPLAINT
SUBJECT_APPEAL = "appeal"
DEFAULT_LEASE = timedelta(minutes=30)
ASSIGN_LEASE = timedelta(hours=24)
LABEL_VALUES = ("confirmed", "possible", "suspected")
#: What each outcome leaves an item in (``no_action`` leaves it as it is).
STATE_AFTER = {
    "label": "labelled",
    "add_notice": "noticed",
    "take_down": "taken_down",
    "restore": "visible",
    "refute": "refuted",
}
REVIEWER_ROLES = ("admin", "reviewer")


class ReviewError(ValueError):
    """A review operation cannot be done; ``status`` is the HTTP status that fits
    (404 unknown, 409 conflicts with the job's state, 422 bad input, 403 not allowed)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Reviewer:
    """Who acts: a user id and whether they are an admin (admins may override leases)."""

    user_id: int
    is_admin: bool = False


@dataclass
class DecisionInput:
    outcome: str
    reason: str
    label: str | None = None
    notice: str | None = None
    source_url: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


# --- jobs -------------------------------------------------------------------------------------


def get_job(session: Session, job_id: int, *, lock: bool = False) -> ReviewJob:
    job = session.get(ReviewJob, job_id, with_for_update=lock or None, populate_existing=lock)
    if job is None:
        raise ReviewError(404, f"no review job with id {job_id}")
    return job


def _claimable(now: datetime) -> Any:
    return or_(
        ReviewJob.status == "pending",
        and_(ReviewJob.status == "claimed", ReviewJob.lease_until < now),
    )


def _on_claimed(session: Session, job: ReviewJob) -> None:
    if job.subject_type == SUBJECT_COMPLAINT:
        complaint = session.get(Complaint, int(job.subject_id))
        if complaint is not None:
            complaints.mark_in_review(session, complaint)
    elif job.subject_type == SUBJECT_APPEAL:
        appeal = session.get(Appeal, int(job.subject_id))
        if appeal is not None and appeal.status == "open":
            appeal.status = "in_review"
    session.flush()


def claim_next(
    session: Session,
    queue: ReviewQueue,
    reviewer: Reviewer,
    *,
    lease: timedelta = DEFAULT_LEASE,
    now: datetime | None = None,
) -> ReviewJob | None:
    """Claim the most urgent claimable job of ``queue`` (priority, then due date, then age)."""
    now = now or utcnow()
    pick = (
        select(ReviewJob.id)
        .where(ReviewJob.queue_id == queue.id, _claimable(now))
        .order_by(
            ReviewJob.priority.desc(),
            ReviewJob.due_at.is_(None),
            ReviewJob.due_at,
            ReviewJob.id,
        )
        .limit(1)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    job_id = session.execute(
        update(ReviewJob)
        .where(ReviewJob.id == pick, _claimable(now))
        .values(
            status="claimed", claimed_by=reviewer.user_id, lease_until=now + lease, updated_at=now
        )
        .returning(ReviewJob.id)
        .execution_options(synchronize_session=False)
    ).scalar_one_or_none()
    if job_id is None:
        return None
    audit.record(
        session,
        "review.claim",
        "review_job",
        job_id,
        {"user_id": reviewer.user_id, "lease_until": now + lease, "queue": queue.name},
    )
    job = get_job(session, job_id, lock=True)
    _on_claimed(session, job)
    return job


def claim(
    session: Session,
    job_id: int,
    reviewer: Reviewer,
    *,
    lease: timedelta = DEFAULT_LEASE,
    now: datetime | None = None,
) -> ReviewJob:
    """Claim one job (or renew one's own lease); 409 if someone else holds a live lease."""
    now = now or utcnow()
    got = session.execute(
        update(ReviewJob)
        .where(
            ReviewJob.id == job_id,
            or_(
                _claimable(now),
                and_(ReviewJob.status == "claimed", ReviewJob.claimed_by == reviewer.user_id),
            ),
        )
        .values(
            status="claimed", claimed_by=reviewer.user_id, lease_until=now + lease, updated_at=now
        )
        .returning(ReviewJob.id)
        .execution_options(synchronize_session=False)
    ).scalar_one_or_none()
    if got is None:
        job = get_job(session, job_id)
        raise ReviewError(409, _why_not_claimable(job, now))
    audit.record(
        session,
        "review.claim",
        "review_job",
        job_id,
        {"user_id": reviewer.user_id, "lease_until": now + lease},
    )
    job = get_job(session, job_id, lock=True)
    _on_claimed(session, job)
    return job


def _why_not_claimable(job: ReviewJob, now: datetime) -> str:
    if job.status == "decided":
        return f"job {job.id} is already decided"
    if job.status == "claimed" and job.lease_until is not None and job.lease_until >= now:
        return (
            f"job {job.id} is claimed by user {job.claimed_by} until "
            f"{job.lease_until.isoformat(timespec='seconds')}"
        )
    return f"job {job.id} is {job.status}"


def release(session: Session, job_id: int, reviewer: Reviewer) -> ReviewJob:
    """Give a claimed job back to the queue (its holder, or an admin)."""
    job = get_job(session, job_id, lock=True)
    if job.status != "claimed":
        raise ReviewError(409, f"job {job_id} is {job.status}, not claimed")
    if job.claimed_by != reviewer.user_id and not reviewer.is_admin:
        raise ReviewError(403, f"job {job_id} is claimed by another reviewer")
    job.status = "pending"
    job.claimed_by = None
    job.lease_until = None
    session.flush()
    return job


def assign(
    session: Session,
    job_id: int,
    user_id: int,
    *,
    lease: timedelta = ASSIGN_LEASE,
    now: datetime | None = None,
) -> ReviewJob:
    """Claim a job for a reviewer (admin): overrides any current lease."""
    now = now or utcnow()
    user = session.get(User, user_id)
    if user is None or not user.is_active or user.role not in REVIEWER_ROLES:
        raise ReviewError(422, f"user_id: {user_id} is not an active reviewer or admin")
    job = get_job(session, job_id, lock=True)
    if job.status == "decided":
        raise ReviewError(409, f"job {job_id} is already decided")
    job.status = "claimed"
    job.claimed_by = user_id
    job.lease_until = now + lease
    session.flush()
    _on_claimed(session, job)
    return job


# --- decisions --------------------------------------------------------------------------------


def _check_input(d: DecisionInput, subject_type: str) -> None:
    if d.outcome not in DECISION_OUTCOMES:
        raise ReviewError(
            422, f"outcome: {d.outcome!r} is not one of {', '.join(DECISION_OUTCOMES)}"
        )
    if not d.reason or not d.reason.strip():
        raise ReviewError(422, "reason: a decision needs a reason")
    if d.outcome == "label" and d.label is not None and d.label not in LABEL_VALUES:
        raise ReviewError(422, f"label: {d.label!r} is not one of {', '.join(LABEL_VALUES)}")
    if d.outcome == "add_notice" and not (d.notice and d.notice.strip()):
        raise ReviewError(422, "notice: add_notice needs the notice text")
    if d.outcome == "refute":
        if not (d.notice and d.notice.strip()):
            raise ReviewError(422, "notice: refute needs the refutation notice text")
        if not (d.source_url and d.source_url.strip()):
            raise ReviewError(422, "source_url: refute needs the source of the refutation")
    if subject_type == SUBJECT_APPEAL:
        raise ReviewError(
            409, "appeal jobs are resolved with POST /api/v1/review/appeals/{id}/resolve"
        )


def _set_state(rec: ContentRecord, new: str) -> dict[str, Any]:
    before = rec.review_state
    rec.review_state = new
    return {"type": "state", "record": rec.id, "from": before, "to": new}


def _apply_to_record(
    session: Session, rec: ContentRecord, job: ReviewJob, d: DecisionInput, now: datetime
) -> list[dict[str, Any]]:
    actions: list[dict[str, Any]] = []
    if d.outcome == "no_action":
        if rec.review_state is None:
            actions.append(_set_state(rec, "visible"))
        return actions
    if d.outcome == "label":
        value = d.label or (rec.verdict if rec.verdict in LABEL_VALUES else None)
        if value is None:
            raise ReviewError(
                422, f"label: item {rec.id} has no label verdict; say confirmed|possible|suspected"
            )
        entry = {"kind": "review_label", "label": value, "job_id": job.id, "at": now.isoformat()}
        rec.labels_applied = [*(rec.labels_applied or []), entry]
        actions.append({"type": "label", "record": rec.id, "label": value, "job_id": job.id})
    elif d.outcome == "add_notice":
        notice_id = secrets.token_hex(8)
        assert d.notice is not None
        notice = {"kind": "notice", "notice_id": notice_id, "text": d.notice, "job_id": job.id}
        rec.notices = [*(rec.notices or []), notice]
        actions.append({"type": "notice", "record": rec.id, "notice_id": notice_id})
    elif d.outcome == "refute":
        assert d.notice is not None
        try:
            ref, flagged = refutation.publish(
                session,
                text=d.notice,
                source_url=d.source_url,
                record=rec,
                now=now,
            )
        except refutation.RefutationError as exc:
            raise ReviewError(422, str(exc)) from None
        actions.append(
            {
                "type": "refutation",
                "refutation_id": ref.id,
                "flagged": [r.id for r in flagged],
            }
        )
    actions.append(_set_state(rec, STATE_AFTER[d.outcome]))
    session.flush()
    return actions


def _subject_record(
    session: Session, job: ReviewJob
) -> tuple[ContentRecord | None, Complaint | None]:
    if job.subject_type == SUBJECT_CONTENT:
        return session.get(ContentRecord, job.subject_id), None
    if job.subject_type == SUBJECT_COMPLAINT:
        complaint = session.get(Complaint, int(job.subject_id))
        if complaint is None:
            return None, None
        rec = (
            session.get(ContentRecord, complaint.content_record_id)
            if complaint.content_record_id
            else None
        )
        return rec, complaint
    return None, None


def decide(
    session: Session,
    job_id: int,
    reviewer: Reviewer,
    d: DecisionInput,
    *,
    now: datetime | None = None,
) -> Decision:
    """Decide a job: the decision row, the effects on its subject, the ``item.decided`` event.

    The reviewer must hold the job's lease, or the job must be pending (it is claimed on the
    spot); an admin may decide any open job."""
    now = now or utcnow()
    job = get_job(session, job_id, lock=True)
    _check_input(d, job.subject_type)
    if job.status == "decided":
        raise ReviewError(409, f"job {job_id} is already decided")
    live_lease = job.status == "claimed" and job.lease_until is not None and job.lease_until >= now
    if live_lease and job.claimed_by != reviewer.user_id and not reviewer.is_admin:
        raise ReviewError(409, _why_not_claimable(job, now))
    rec, complaint = _subject_record(session, job)
    actions: list[dict[str, Any]] = []
    if rec is not None:
        actions += _apply_to_record(session, rec, job, d, now)
    elif d.outcome != "no_action":
        what = (
            f"complaint {complaint.ticket_no} names no stored item"
            if complaint is not None
            else f"the subject of job {job_id} ({job.subject_type} {job.subject_id}) is gone"
        )
        raise ReviewError(422, f"outcome: {what}; decide no_action with the reason")
    if complaint is not None:
        actions.append(
            complaints.resolve(session, complaint, outcome=d.outcome, reason=d.reason, now=now)
        )
    decision = Decision(
        job_id=job.id,
        reviewer_id=reviewer.user_id,
        outcome=d.outcome,
        reason=d.reason,
        actions=audit.jsonable(actions),
        created_at=now,
    )
    session.add(decision)
    job.status = "decided"
    job.claimed_by = job.claimed_by or reviewer.user_id
    job.lease_until = None
    session.flush()
    webhooks.emit(session, "item.decided", decision_payload(job, decision, rec))
    return decision


def decision_payload(
    job: ReviewJob, decision: Decision, rec: ContentRecord | None
) -> dict[str, Any]:
    return {
        "decision_id": decision.id,
        "job_id": job.id,
        "subject_type": job.subject_type,
        "subject_id": job.subject_id,
        "content_record_id": rec.id if rec is not None else None,
        "outcome": decision.outcome,
        "reason": decision.reason,
        "review_state": rec.review_state if rec is not None else None,
    }


@dataclass
class BulkResult:
    decisions: list[Decision]
    errors: dict[int, str]


def bulk_decide(
    session: Session,
    job_ids: Sequence[int],
    reviewer: Reviewer,
    d: DecisionInput,
    *,
    now: datetime | None = None,
) -> BulkResult:
    """Decide many jobs with one outcome and reason, all or nothing: when ``errors`` is not
    empty the caller must roll back (nothing is kept)."""
    now = now or utcnow()
    decisions: list[Decision] = []
    errors: dict[int, str] = {}
    if len(set(job_ids)) != len(job_ids):
        dup = sorted({j for j in job_ids if list(job_ids).count(j) > 1})
        return BulkResult([], {j: "listed more than once" for j in dup})
    for job_id in job_ids:
        try:
            with session.begin_nested():
                decisions.append(decide(session, job_id, reviewer, d, now=now))
        except ReviewError as exc:
            errors[job_id] = str(exc)
    return BulkResult(decisions if not errors else [], errors)


def decisions_of(session: Session, job_id: int) -> list[Decision]:
    return list(
        session.scalars(select(Decision).where(Decision.job_id == job_id).order_by(Decision.id))
    )


# --- appeals ----------------------------------------------------------------------------------


def file_appeal(
    session: Session,
    decision_id: int,
    *,
    appellant_ref: str,
    statement: str,
    now: datetime | None = None,
) -> Appeal:
    """File an appeal against a decision; it becomes a job in the appeal queue."""
    now = now or utcnow()
    decision = session.get(Decision, decision_id)
    if decision is None:
        raise ReviewError(404, f"no decision with id {decision_id}")
    job = session.get(ReviewJob, decision.job_id)
    if job is not None and job.subject_type == SUBJECT_APPEAL:
        raise ReviewError(409, "a decision on an appeal cannot be appealed again")
    if not statement.strip():
        raise ReviewError(422, "statement: say why the decision is wrong")
    open_appeal = session.scalars(
        select(Appeal).where(
            Appeal.decision_id == decision_id, Appeal.status.in_(("open", "in_review"))
        )
    ).first()
    if open_appeal is not None:
        raise ReviewError(409, f"decision {decision_id} already has open appeal {open_appeal.id}")
    appeal = Appeal(
        decision_id=decision_id,
        appellant_ref=appellant_ref,
        statement=statement,
        status="open",
        created_at=now,
    )
    session.add(appeal)
    session.flush()
    appeal_job, _ = enqueue(
        session,
        queue_by_name(session, APPEAL),
        SUBJECT_APPEAL,
        str(appeal.id),
        reason=f"appeal against decision {decision_id} ({decision.outcome})",
        now=now,
    )
    appeal.job_id = appeal_job.id
    session.flush()
    webhooks.emit(
        session,
        "appeal.filed",
        {"appeal_id": appeal.id, "decision_id": decision_id, "job_id": appeal_job.id},
    )
    return appeal


def _reverse(session: Session, decision: Decision) -> list[dict[str, Any]]:
    """Undo a decision's actions (newest first); the reversal actions."""
    undone: list[dict[str, Any]] = [{"type": "reverses", "decision_id": decision.id}]
    for action in reversed(list(decision.actions or [])):
        if not isinstance(action, dict):
            continue
        kind = action.get("type")
        if kind == "state":
            rec = session.get(ContentRecord, action["record"])
            if rec is not None and rec.review_state == action.get("to"):
                undone.append(_set_state(rec, action.get("from") or "visible"))
        elif kind == "label":
            rec = session.get(ContentRecord, action["record"])
            if rec is not None:
                rec.labels_applied = [
                    x
                    for x in (rec.labels_applied or [])
                    if not (
                        isinstance(x, dict)
                        and x.get("job_id") == action.get("job_id")
                        and x.get("kind") == "review_label"
                    )
                ]
                undone.append({"type": "unlabel", "record": rec.id, "label": action.get("label")})
        elif kind == "notice":
            rec = session.get(ContentRecord, action["record"])
            if rec is not None:
                rec.notices = [
                    n
                    for n in (rec.notices or [])
                    if not (isinstance(n, dict) and n.get("notice_id") == action.get("notice_id"))
                ]
                undone.append(
                    {
                        "type": "remove_notice",
                        "record": rec.id,
                        "notice_id": action.get("notice_id"),
                    }
                )
        elif kind == "refutation":
            ref = session.get(RumourRefutation, action["refutation_id"])
            if ref is not None and ref.status == "published":
                changed = refutation.withdraw(session, ref)
                undone.append(
                    {
                        "type": "withdraw_refutation",
                        "refutation_id": ref.id,
                        "unflagged": [r.id for r in changed],
                    }
                )
    session.flush()
    return undone


def resolve_appeal(
    session: Session,
    appeal_id: int,
    reviewer: Reviewer,
    *,
    outcome: str,
    reason: str,
    now: datetime | None = None,
) -> tuple[Appeal, Decision]:
    """``upheld``: the decision stands (a ``no_action`` decision on the appeal job);
    ``overturned``: its actions are reversed by a new ``restore`` decision."""
    now = now or utcnow()
    if outcome not in ("upheld", "overturned"):
        raise ReviewError(422, f"outcome: {outcome!r} is not upheld or overturned")
    if not reason.strip():
        raise ReviewError(422, "reason: an appeal outcome needs a reason")
    appeal = session.get(Appeal, appeal_id, with_for_update=True)
    if appeal is None:
        raise ReviewError(404, f"no appeal with id {appeal_id}")
    if appeal.status == "closed":
        raise ReviewError(409, f"appeal {appeal_id} is closed ({appeal.outcome})")
    job = get_job(session, appeal.job_id, lock=True) if appeal.job_id else None
    if job is not None:
        live = job.status == "claimed" and job.lease_until is not None and job.lease_until >= now
        if live and job.claimed_by != reviewer.user_id and not reviewer.is_admin:
            raise ReviewError(409, _why_not_claimable(job, now))
    original = session.get(Decision, appeal.decision_id)
    assert original is not None
    if outcome == "overturned":
        actions = _reverse(session, original)
        dec_outcome = "restore"
    else:
        actions = [{"type": "upholds", "decision_id": original.id}]
        dec_outcome = "no_action"
    if job is None:  # the appeal job was deleted: make one to hang the decision on
        job, _ = enqueue(session, queue_by_name(session, APPEAL), SUBJECT_APPEAL, str(appeal.id))
        appeal.job_id = job.id
    decision = Decision(
        job_id=job.id,
        reviewer_id=reviewer.user_id,
        outcome=dec_outcome,
        reason=reason,
        actions=audit.jsonable(actions),
        created_at=now,
    )
    session.add(decision)
    job.status = "decided"
    job.claimed_by = job.claimed_by or reviewer.user_id
    job.lease_until = None
    appeal.status = "closed"
    appeal.outcome = outcome
    appeal.resolved_at = now
    session.flush()
    original_job = session.get(ReviewJob, original.job_id)
    rec = None
    if original_job is not None:
        rec, _ = _subject_record(session, original_job)
    webhooks.emit(
        session,
        "appeal.resolved",
        {
            "appeal_id": appeal.id,
            "decision_id": original.id,
            "outcome": outcome,
            "new_decision_id": decision.id,
            "content_record_id": rec.id if rec is not None else None,
            "review_state": rec.review_state if rec is not None else None,
        },
    )
    return appeal, decision
