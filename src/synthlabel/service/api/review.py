"""Review: queues, routing rules, jobs (claim, release, assign, decide, bulk), decisions, appeals.

Staff (admin, reviewer) work jobs; admins manage queues and rules and assign jobs. Anyone
authenticated may appeal a decision (a provider only about its own items).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from synthlabel.service import review, routing
from synthlabel.service.api.deps import DB, Admin, AnyUser, Staff
from synthlabel.service.api.errors import ApiProblem, ProblemItem, problem_responses
from synthlabel.service.api.schemas import ORM, Code100, Id, Page, Text5000, Url500
from synthlabel.service.auth import Actor
from synthlabel.service.db.models import (
    Appeal,
    Complaint,
    ContentRecord,
    Decision,
    Finding,
    Inspection,
    ReviewJob,
    ReviewQueue,
    RoutingRule,
    RoutingRuleVersion,
)
from synthlabel.service.db.types import utcnow

router = APIRouter(prefix="/api/v1/review", tags=["review"])
READ = problem_responses(401, 403, 404, 422)
WRITE = problem_responses(401, 403, 404, 409, 422)

Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0, le=2**62)]
Outcome = Literal["label", "add_notice", "take_down", "restore", "refute", "no_action"]
LabelValue = Literal["confirmed", "possible", "suspected"]
JobStatus = Literal["pending", "claimed", "decided", "expired"]
RuleStatus = Literal["live", "draft", "background", "expired"]
QueueKind = Literal["review", "appeal", "complaint", "rumour"]
SubjectType = Literal["content_record", "complaint", "appeal"]
Reason = Annotated[str, Field(min_length=1, max_length=5000, pattern=r"^[^\x00]*\S[^\x00]*$")]
LeaseMinutes = Annotated[int, Field(ge=1, le=24 * 60)]


def _problem(exc: Exception) -> ApiProblem:
    if isinstance(exc, review.ReviewError):
        titles = {403: "Forbidden", 404: "Not found", 409: "Conflict", 422: "Invalid input"}
        return ApiProblem(exc.status, titles.get(exc.status, "Error"), str(exc))
    return ApiProblem(422, "Invalid input", str(exc))


def _reviewer(actor: Actor) -> review.Reviewer:
    return review.Reviewer(actor.user_id, is_admin=actor.role == "admin")


# --- queues -------------------------------------------------------------------------------------


class QueueOut(ORM):
    id: int
    name: str
    kind: str
    description: str | None
    sla_hours: int | None
    is_default: bool
    pending: int = 0
    claimed: int = 0
    overdue: int = 0


class QueueIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Code100
    kind: QueueKind = "review"
    description: Text5000 | None = None
    sla_hours: Annotated[int, Field(ge=1, le=24 * 366)] | None = None


@router.get("/queues", response_model=list[QueueOut], responses=READ)
def list_queues(_actor: Staff, db: DB) -> Any:
    """Every queue with its open work: pending, claimed and overdue (past due, not decided)."""
    routing.ensure_default_queues(db)
    now = utcnow()
    counts: dict[tuple[int, str], int] = {}
    for qid, status, n in db.execute(
        select(ReviewJob.queue_id, ReviewJob.status, func.count())
        .where(ReviewJob.status.in_(("pending", "claimed")))
        .group_by(ReviewJob.queue_id, ReviewJob.status)
    ):
        counts[(qid, status)] = n
    overdue = dict(
        db.execute(
            select(ReviewJob.queue_id, func.count())
            .where(ReviewJob.status.in_(("pending", "claimed")), ReviewJob.due_at < now)
            .group_by(ReviewJob.queue_id)
        ).all()
    )
    out = []
    for q in db.scalars(select(ReviewQueue).order_by(ReviewQueue.id)):
        item = QueueOut.model_validate(q)
        item.pending = counts.get((q.id, "pending"), 0)
        item.claimed = counts.get((q.id, "claimed"), 0)
        item.overdue = int(overdue.get(q.id, 0))
        out.append(item)
    db.commit()
    return out


@router.post("/queues", response_model=QueueOut, status_code=201, responses=WRITE)
def create_queue(body: QueueIn, _actor: Admin, db: DB) -> Any:
    if db.scalars(select(ReviewQueue).where(ReviewQueue.name == body.name)).first():
        raise ApiProblem(409, "Conflict", f"queue {body.name!r} exists")
    q = ReviewQueue(**body.model_dump())
    db.add(q)
    db.commit()
    return QueueOut.model_validate(q)


def _queue(db: Session, name: str) -> ReviewQueue:
    q = db.scalars(select(ReviewQueue).where(ReviewQueue.name == name)).first()
    if q is None:
        if name in routing.DEFAULT_QUEUES:
            return routing.ensure_default_queues(db)[name]
        raise ApiProblem(404, "Not found", f"no queue named {name!r}")
    return q


# --- routing rules ----------------------------------------------------------------------------


class Condition(BaseModel):
    """Every key given must match (see docs/service.md, "Routing rules")."""

    model_config = ConfigDict(extra="forbid")
    verdict: list[Annotated[str, Field(min_length=1, max_length=64)]] | None = None
    media_kind: list[Annotated[str, Field(min_length=1, max_length=64)]] | None = None
    origin: list[Annotated[str, Field(min_length=1, max_length=64)]] | None = None
    source: list[Annotated[str, Field(min_length=1, max_length=64)]] | None = None
    provider_id: list[Id] | None = None
    flags: list[Annotated[str, Field(min_length=1, max_length=64)]] | None = None
    flags_any: list[Annotated[str, Field(min_length=1, max_length=64)]] | None = None
    not_flags: list[Annotated[str, Field(min_length=1, max_length=64)]] | None = None


class RuleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Code100
    queue: Code100 = Field(description="queue name")
    condition: Condition
    position: Annotated[int, Field(ge=-1_000_000, le=1_000_000)] = 0
    status: RuleStatus = "draft"


class RulePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Code100 | None = None
    queue: Code100 | None = None
    condition: Condition | None = None
    position: Annotated[int, Field(ge=-1_000_000, le=1_000_000)] | None = None
    status: RuleStatus | None = None


class RuleOut(BaseModel):
    id: int
    name: str
    queue: str
    position: int
    status: str
    version: int
    condition: dict[str, Any]
    updated_at: datetime | None


class RuleVersionOut(ORM):
    version: int
    condition: dict[str, Any]
    status: str
    created_by: int | None
    created_at: datetime


def _rule_out(db: Session, rule: RoutingRule) -> RuleOut:
    q = db.get(ReviewQueue, rule.queue_id)
    return RuleOut(
        id=rule.id,
        name=rule.name,
        queue=q.name if q else "?",
        position=rule.position,
        status=rule.status,
        version=rule.current_version,
        condition=routing.rule_condition(db, rule),
        updated_at=rule.updated_at or rule.created_at,
    )


def _cond(c: Condition) -> dict[str, Any]:
    try:
        return routing.validate_condition(c.model_dump(exclude_none=True))
    except routing.RoutingError as exc:
        raise _problem(exc) from None


def _rule(db: Session, rule_id: int) -> RoutingRule:
    rule = db.get(RoutingRule, rule_id)
    if rule is None:
        raise ApiProblem(404, "Not found", f"no routing rule with id {rule_id}")
    return rule


@router.get("/rules", response_model=list[RuleOut], responses=READ)
def list_rules(_actor: Staff, db: DB) -> Any:
    """Rules in evaluation order (position, then id)."""
    rules = db.scalars(select(RoutingRule).order_by(RoutingRule.position, RoutingRule.id))
    return [_rule_out(db, r) for r in rules]


@router.post("/rules", response_model=RuleOut, status_code=201, responses=WRITE)
def create_rule(body: RuleIn, actor: Admin, db: DB) -> Any:
    rule = routing.create_rule(
        db,
        name=body.name,
        queue=_queue(db, body.queue),
        condition=_cond(body.condition),
        position=body.position,
        status=body.status,
        created_by=actor.user_id,
    )
    db.commit()
    return _rule_out(db, rule)


@router.get("/rules/{rule_id}", response_model=RuleOut, responses=READ)
def get_rule(rule_id: Id, _actor: Staff, db: DB) -> Any:
    return _rule_out(db, _rule(db, rule_id))


@router.patch("/rules/{rule_id}", response_model=RuleOut, responses=WRITE)
def update_rule(rule_id: Id, body: RulePatch, actor: Admin, db: DB) -> Any:
    """A new condition or status makes a new version; old versions are kept."""
    rule = _rule(db, rule_id)
    for key in ("name", "queue", "condition", "position", "status"):
        if key in body.model_fields_set and getattr(body, key) is None:
            raise ApiProblem(422, "Invalid input", f"{key} cannot be null")
    routing.update_rule(
        db,
        rule,
        condition=_cond(body.condition) if body.condition is not None else None,
        status=body.status,
        position=body.position,
        queue=_queue(db, body.queue) if body.queue is not None else None,
        name=body.name,
        created_by=actor.user_id,
    )
    db.commit()
    return _rule_out(db, rule)


@router.get("/rules/{rule_id}/versions", response_model=list[RuleVersionOut], responses=READ)
def rule_versions(rule_id: Id, _actor: Staff, db: DB) -> Any:
    _rule(db, rule_id)
    rows = db.scalars(
        select(RoutingRuleVersion)
        .where(RoutingRuleVersion.rule_id == rule_id)
        .order_by(RoutingRuleVersion.version)
    )
    return [RuleVersionOut.model_validate(v) for v in rows]


# --- jobs ---------------------------------------------------------------------------------------


class Wellness(BaseModel):
    """How the review UI shows the media by default (moderator wellness): blurred,
    greyscale and muted until the reviewer reveals it."""

    blur: bool = True
    greyscale: bool = True
    mute: bool = True


class SubjectOut(BaseModel):
    type: str
    id: str
    content_record_id: str | None = None
    media_kind: str | None = None
    mime: str | None = None
    verdict: str | None = None
    review_state: str | None = None
    flags: list[Any] = Field(default_factory=list)
    notices: list[Any] = Field(default_factory=list)
    ticket: str | None = Field(default=None, description="complaint ticket")
    category: str | None = Field(default=None, description="complaint category")
    decision_id: int | None = Field(default=None, description="the appealed decision")


class JobOut(BaseModel):
    id: int
    queue: str
    subject: SubjectOut
    priority: int
    status: str
    reason: str | None
    claimed_by: int | None
    lease_until: datetime | None
    due_at: datetime | None
    overdue: bool
    routing_rule_id: int | None
    created_at: datetime
    wellness: Wellness = Field(default_factory=Wellness)


class DecisionOut(ORM):
    id: int
    job_id: int
    reviewer_id: int | None
    outcome: str
    reason: str
    actions: list[Any]
    created_at: datetime


class EvidenceOut(BaseModel):
    plugin_id: str
    kind: str
    confidence: float | None
    evidence: dict[str, Any] | None


class JobDetail(JobOut):
    decisions: list[DecisionOut]
    evidence: list[EvidenceOut] = Field(
        default_factory=list, description="findings of the item's latest inspection (why)"
    )
    description: str | None = Field(default=None, description="complaint or appeal text")


def _subject(db: Session, job: ReviewJob) -> tuple[SubjectOut, ContentRecord | None, str | None]:
    s = SubjectOut(type=job.subject_type, id=job.subject_id)
    rec: ContentRecord | None = None
    text: str | None = None
    if job.subject_type == "content_record":
        rec = db.get(ContentRecord, job.subject_id)
    elif job.subject_type == "complaint":
        c = db.get(Complaint, int(job.subject_id))
        if c is not None:
            s.ticket, s.category, text = c.ticket_no, c.category, c.description
            if c.content_record_id:
                rec = db.get(ContentRecord, c.content_record_id)
    elif job.subject_type == "appeal":
        a = db.get(Appeal, int(job.subject_id))
        if a is not None:
            s.decision_id, text = a.decision_id, a.statement
    if rec is not None:
        s.content_record_id = rec.id
        s.media_kind, s.mime, s.verdict = rec.media_kind, rec.mime, rec.verdict
        s.review_state = rec.review_state
        s.flags, s.notices = list(rec.flags or []), list(rec.notices or [])
    return s, rec, text


def _job_out(
    db: Session, job: ReviewJob, queues: dict[int, str], cls: type[JobOut] = JobOut
) -> Any:
    subject, rec, text = _subject(db, job)
    now = utcnow()
    data: dict[str, Any] = {
        "id": job.id,
        "queue": queues.get(job.queue_id, "?"),
        "subject": subject,
        "priority": job.priority,
        "status": job.status,
        "reason": job.reason,
        "claimed_by": job.claimed_by,
        "lease_until": job.lease_until,
        "due_at": job.due_at,
        "overdue": bool(job.due_at and job.due_at < now and job.status != "decided"),
        "routing_rule_id": job.routing_rule_id,
        "created_at": job.created_at,
        "wellness": Wellness(mute=(subject.media_kind in (None, "audio", "video"))),
    }
    if cls is JobDetail:
        data["decisions"] = [DecisionOut.model_validate(d) for d in review.decisions_of(db, job.id)]
        data["description"] = text
        if rec is not None:
            insp = db.scalars(
                select(Inspection)
                .where(Inspection.content_record_id == rec.id)
                .order_by(Inspection.submitted_at.desc(), Inspection.id.desc())
                .limit(1)
            ).first()
            if insp is not None:
                data["evidence"] = [
                    EvidenceOut(
                        plugin_id=f.plugin_id,
                        kind=f.kind,
                        confidence=f.confidence,
                        evidence=f.evidence,
                    )
                    for f in db.scalars(
                        select(Finding).where(Finding.inspection_id == insp.id).order_by(Finding.id)
                    )
                ]
    return cls(**data)


def _queue_names(db: Session) -> dict[int, str]:
    return {q.id: q.name for q in db.scalars(select(ReviewQueue))}


@router.get("/jobs", response_model=Page[JobOut], responses=READ)
def list_jobs(
    actor: Staff,
    db: DB,
    queue: Annotated[str | None, Query(max_length=100, description="queue name")] = None,
    status: JobStatus | None = None,
    subject_type: SubjectType | None = None,
    mine: Annotated[bool, Query(description="only jobs claimed by me")] = False,
    overdue: Annotated[bool, Query(description="only open jobs past their due date")] = False,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Any:
    """Jobs, most urgent first (priority, due date, age)."""
    stmt = select(ReviewJob)
    if queue is not None:
        stmt = stmt.where(ReviewJob.queue_id == _queue(db, queue).id)
    if status is not None:
        stmt = stmt.where(ReviewJob.status == status)
    if subject_type is not None:
        stmt = stmt.where(ReviewJob.subject_type == subject_type)
    if mine:
        stmt = stmt.where(ReviewJob.claimed_by == actor.user_id, ReviewJob.status == "claimed")
    if overdue:
        stmt = stmt.where(ReviewJob.status.in_(("pending", "claimed")), ReviewJob.due_at < utcnow())
    total = db.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
    rows = db.scalars(
        stmt.order_by(
            ReviewJob.priority.desc(), ReviewJob.due_at.is_(None), ReviewJob.due_at, ReviewJob.id
        )
        .limit(limit)
        .offset(offset)
    ).all()
    names = _queue_names(db)
    return {
        "items": [_job_out(db, j, names) for j in rows],
        "total": total,
        "limit": limit,
        "offset": offset,
    }


@router.get("/jobs/{job_id}", response_model=JobDetail, responses=READ)
def get_job(job_id: Id, _actor: Staff, db: DB) -> Any:
    try:
        job = review.get_job(db, job_id)
    except review.ReviewError as exc:
        raise _problem(exc) from None
    return _job_out(db, job, _queue_names(db), JobDetail)


class ClaimIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lease_minutes: LeaseMinutes = 30


@router.post(
    "/queues/{queue_name}/claim",
    response_model=JobDetail,
    responses={**WRITE, 204: {"description": "nothing to claim"}},
)
def claim_next(
    queue_name: Annotated[str, Path(min_length=1, max_length=100)],
    actor: Staff,
    db: DB,
    body: ClaimIn | None = None,
) -> Any:
    """Claim the most urgent claimable job of a queue (204 when there is none)."""
    q = _queue(db, queue_name)
    lease = timedelta(minutes=(body or ClaimIn()).lease_minutes)
    job = review.claim_next(db, q, _reviewer(actor), lease=lease)
    if job is None:
        db.commit()
        return Response(status_code=204)
    out = _job_out(db, job, _queue_names(db), JobDetail)
    db.commit()
    return out


@router.post("/jobs/{job_id}/claim", response_model=JobOut, responses=WRITE)
def claim_job(job_id: Id, actor: Staff, db: DB, body: ClaimIn | None = None) -> Any:
    """Claim a job, or renew one's own lease (409 while someone else holds it)."""
    lease = timedelta(minutes=(body or ClaimIn()).lease_minutes)
    try:
        job = review.claim(db, job_id, _reviewer(actor), lease=lease)
    except review.ReviewError as exc:
        raise _problem(exc) from None
    out = _job_out(db, job, _queue_names(db))
    db.commit()
    return out


@router.post("/jobs/{job_id}/release", response_model=JobOut, responses=WRITE)
def release_job(job_id: Id, actor: Staff, db: DB) -> Any:
    try:
        job = review.release(db, job_id, _reviewer(actor))
    except review.ReviewError as exc:
        raise _problem(exc) from None
    out = _job_out(db, job, _queue_names(db))
    db.commit()
    return out


class AssignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user_id: Id
    lease_minutes: LeaseMinutes = 24 * 60


@router.post("/jobs/{job_id}/assign", response_model=JobOut, responses=WRITE)
def assign_job(job_id: Id, body: AssignIn, _actor: Admin, db: DB) -> Any:
    try:
        job = review.assign(db, job_id, body.user_id, lease=timedelta(minutes=body.lease_minutes))
    except review.ReviewError as exc:
        raise _problem(exc) from None
    out = _job_out(db, job, _queue_names(db))
    db.commit()
    return out


class DecideIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    outcome: Outcome
    reason: Reason
    label: LabelValue | None = Field(
        default=None, description="outcome label: the label to show (default: the verdict)"
    )
    notice: Text5000 | None = Field(
        default=None, description="outcome add_notice / refute: the notice text"
    )
    source_url: Url500 | None = Field(default=None, description="outcome refute: its source")

    def as_input(self) -> review.DecisionInput:
        return review.DecisionInput(
            outcome=self.outcome,
            reason=self.reason,
            label=self.label,
            notice=self.notice,
            source_url=self.source_url,
        )


@router.post("/jobs/{job_id}/decide", response_model=DecisionOut, status_code=201, responses=WRITE)
def decide_job(job_id: Id, body: DecideIn, actor: Staff, db: DB) -> Any:
    """Decide a job (held by me, or pending; admins any open job). Decisions are final:
    change one by appeal."""
    try:
        decision = review.decide(db, job_id, _reviewer(actor), body.as_input())
    except review.ReviewError as exc:
        raise _problem(exc) from None
    db.commit()
    return DecisionOut.model_validate(decision)


class BulkDecideIn(DecideIn):
    job_ids: Annotated[list[Id], Field(min_length=1, max_length=500)]


class BulkOut(BaseModel):
    decisions: list[DecisionOut]


@router.post("/jobs/decide-bulk", response_model=BulkOut, status_code=201, responses=WRITE)
def decide_bulk(body: BulkDecideIn, actor: Staff, db: DB) -> Any:
    """Decide many jobs with one outcome and reason: all or nothing. When any job cannot be
    decided nothing is, and the 409 lists every job that failed and why."""
    result = review.bulk_decide(db, body.job_ids, _reviewer(actor), body.as_input())
    if result.errors:
        db.rollback()
        items = [
            ProblemItem(loc=["job_ids", body.job_ids.index(jid)], msg=f"job {jid}: {msg}")
            for jid, msg in sorted(result.errors.items())
        ]
        raise ApiProblem(
            409,
            "Conflict",
            f"{len(items)} of {len(body.job_ids)} jobs cannot be decided; none was",
            errors=items,
        )
    db.commit()
    return BulkOut(decisions=[DecisionOut.model_validate(d) for d in result.decisions])


@router.get("/decisions/{decision_id}", response_model=DecisionOut, responses=READ)
def get_decision(decision_id: Id, _actor: Staff, db: DB) -> Any:
    d = db.get(Decision, decision_id)
    if d is None:
        raise ApiProblem(404, "Not found", f"no decision with id {decision_id}")
    return DecisionOut.model_validate(d)


# --- appeals ------------------------------------------------------------------------------------


class AppealIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    statement: Annotated[str, Field(min_length=1, max_length=5000, pattern=r"\S")]
    appellant_ref: Annotated[str, Field(min_length=1, max_length=128)] | None = Field(
        default=None, description="staff filing for someone: who appeals (default: the caller)"
    )


class AppealOut(ORM):
    id: int
    decision_id: int
    job_id: int | None
    appellant_ref: str
    statement: str
    status: str
    outcome: str | None
    created_at: datetime
    resolved_at: datetime | None


class AppealResolveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    outcome: Literal["upheld", "overturned"]
    reason: Reason


class AppealResolved(BaseModel):
    appeal: AppealOut
    decision: DecisionOut


def _may_appeal(db: Session, actor: Actor, decision: Decision) -> None:
    if actor.role in ("admin", "reviewer", "public"):
        return
    job = db.get(ReviewJob, decision.job_id)
    rec = (
        db.get(ContentRecord, job.subject_id)
        if job and job.subject_type == "content_record"
        else None
    )
    if rec is None or actor.provider_id is None or rec.provider_id != actor.provider_id:
        raise ApiProblem(403, "Forbidden", "a provider may appeal decisions on its own items only")


@router.post(
    "/decisions/{decision_id}/appeals", response_model=AppealOut, status_code=201, responses=WRITE
)
def file_appeal(decision_id: Id, body: AppealIn, actor: AnyUser, db: DB) -> Any:
    """Appeal a decision; the appeal becomes a job in the appeal queue."""
    decision = db.get(Decision, decision_id)
    if decision is None:
        raise ApiProblem(404, "Not found", f"no decision with id {decision_id}")
    _may_appeal(db, actor, decision)
    who = actor.audit_name
    if body.appellant_ref and actor.role in ("admin", "reviewer"):
        who = body.appellant_ref
    try:
        appeal = review.file_appeal(db, decision_id, appellant_ref=who, statement=body.statement)
    except review.ReviewError as exc:
        raise _problem(exc) from None
    db.commit()
    return AppealOut.model_validate(appeal)


@router.get("/appeals", response_model=Page[AppealOut], responses=READ)
def list_appeals(
    _actor: Staff,
    db: DB,
    status: Literal["open", "in_review", "closed"] | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Any:
    stmt = select(Appeal).order_by(Appeal.id)
    if status is not None:
        stmt = stmt.where(Appeal.status == status)
    total = db.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
    rows = db.scalars(stmt.limit(limit).offset(offset)).all()
    return {
        "items": [AppealOut.model_validate(a) for a in rows],
        "total": total,
        "limit": limit,
        "offset": offset,
    }


@router.get("/appeals/{appeal_id}", response_model=AppealOut, responses=READ)
def get_appeal(appeal_id: Id, _actor: Staff, db: DB) -> Any:
    a = db.get(Appeal, appeal_id)
    if a is None:
        raise ApiProblem(404, "Not found", f"no appeal with id {appeal_id}")
    return AppealOut.model_validate(a)


@router.post("/appeals/{appeal_id}/resolve", response_model=AppealResolved, responses=WRITE)
def resolve_appeal(appeal_id: Id, body: AppealResolveIn, actor: Staff, db: DB) -> Any:
    """``upheld`` keeps the decision; ``overturned`` reverses what it did (a new decision)."""
    try:
        appeal, decision = review.resolve_appeal(
            db, appeal_id, _reviewer(actor), outcome=body.outcome, reason=body.reason
        )
    except review.ReviewError as exc:
        raise _problem(exc) from None
    db.commit()
    return AppealResolved(
        appeal=AppealOut.model_validate(appeal), decision=DecisionOut.model_validate(decision)
    )
