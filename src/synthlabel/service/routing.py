"""Review queues and routing rules: which queue (if any) an inspected item goes to.

Routing rules are data (table ``routing_rule`` + ``routing_rule_version``): ordered by
``position`` (then id), the first **live** rule whose condition matches routes the item into its
queue; **background** rules are evaluated too but only record (as an audit event
``routing.shadow_match``) what they would have done; **draft** and **expired** rules are ignored.
A rule's condition lives in its current version, so editing a rule never rewrites history.

A condition is a JSON object; every key present must match (an empty object matches all):

* ``verdict``, ``media_kind``, ``origin``, ``source``, ``provider_id``: a value or a list of
  values; the item's field must equal one of them (``source`` also matches its prefix before
  ``:``, so ``"scan"`` matches ``"scan:12"``);
* ``flags``: a list of flags that must all be on the item; ``flags_any``: at least one of them;
* ``not_flags``: none of them may be on the item.

An item's flags are those stored on the record (``content_record.flags``, e.g. ``refuted`` set
by :mod:`synthlabel.service.refutation`) plus any the caller passes.

Other flows call :func:`route_item` (the ingest worker after each inspection) in their own
transaction; it writes the review job (audited like every ORM write) and returns what happened.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from synthlabel.service import audit
from synthlabel.service.db.models import (
    ContentRecord,
    ReviewJob,
    ReviewQueue,
    RoutingRule,
    RoutingRuleVersion,
)
from synthlabel.service.db.types import utcnow
from synthlabel.service.txn import memo

# The queues every database has (created by migration 0002 and, idempotently, by
# ensure_default_queues): name -> (kind, description, SLA hours).
LABEL_CHECK = "label-check"
COMPLAINT = "complaint"
APPEAL = "appeal"
RUMOUR = "rumour"
DEFAULT_QUEUES: dict[str, tuple[str, str, int]] = {
    LABEL_CHECK: ("review", "Items whose verdict is possible or suspected: check the label", 48),
    COMPLAINT: ("complaint", "Complaints and reports from the public", 72),
    APPEAL: ("appeal", "Appeals against decisions", 168),
    RUMOUR: ("rumour", "Uploads matching a refuted rumour", 24),
}
# Default rules (seeded live by migration 0002): name -> (queue, position, condition).
DEFAULT_RULES: dict[str, tuple[str, int, dict[str, Any]]] = {
    "refuted-match": (RUMOUR, 10, {"flags": ["refuted"]}),
    "possible-or-suspected": (LABEL_CHECK, 20, {"verdict": ["possible", "suspected"]}),
}

SCALAR_KEYS = ("verdict", "media_kind", "origin", "source", "provider_id")
FLAG_KEYS = ("flags", "flags_any", "not_flags")
CONDITION_KEYS = SCALAR_KEYS + FLAG_KEYS
OPEN_JOB_STATUSES = ("pending", "claimed")
SUBJECT_CONTENT = "content_record"


class RoutingError(ValueError):
    """A routing rule or condition is invalid (the message names the field)."""


# --- conditions -----------------------------------------------------------------------------


def validate_condition(condition: Any) -> dict[str, Any]:
    """``condition`` normalised (values as lists), or :class:`RoutingError` naming the key."""
    if not isinstance(condition, Mapping):
        raise RoutingError("condition: must be a JSON object")
    out: dict[str, Any] = {}
    for key, value in condition.items():
        if key not in CONDITION_KEYS:
            raise RoutingError(
                f"condition.{key}: unknown key (allowed: {', '.join(CONDITION_KEYS)})"
            )
        values = list(value) if isinstance(value, list | tuple) else [value]
        if not values:
            raise RoutingError(f"condition.{key}: an empty list matches nothing")
        for v in values:
            if key == "provider_id":
                if not isinstance(v, int) or isinstance(v, bool):
                    raise RoutingError(f"condition.{key}: {v!r} is not an integer id")
            elif not isinstance(v, str) or not v or len(v) > 64:
                raise RoutingError(f"condition.{key}: {v!r} is not a string of 1-64 characters")
        out[key] = values
    return out


def item_fields(record: ContentRecord) -> dict[str, Any]:
    return {
        "verdict": record.verdict,
        "media_kind": record.media_kind,
        "origin": record.origin,
        "source": record.source,
        "provider_id": record.provider_id,
    }


def item_flags(record: ContentRecord, extra: Iterable[str] = ()) -> frozenset[str]:
    stored = record.flags if isinstance(record.flags, list) else []
    return frozenset(str(f) for f in stored) | frozenset(extra)


def matches(condition: Mapping[str, Any], fields: Mapping[str, Any], flags: frozenset[str]) -> bool:
    """Whether an item with ``fields`` and ``flags`` satisfies ``condition``."""
    for key, raw in condition.items():
        values = raw if isinstance(raw, list) else [raw]
        if key in SCALAR_KEYS:
            have = fields.get(key)
            if have is None:
                return False
            if key == "source":
                head = str(have).split(":", 1)[0]
                if have not in values and head not in values:
                    return False
            elif have not in values:
                return False
        elif key == "flags":
            if not all(v in flags for v in values):
                return False
        elif key == "flags_any":
            if not any(v in flags for v in values):
                return False
        elif key == "not_flags":
            if any(v in flags for v in values):
                return False
        else:  # unknown keys never match (validate_condition refuses them on the way in)
            return False
    return True


# --- queues and rules -------------------------------------------------------------------------


def ensure_default_queues(session: Session) -> dict[str, ReviewQueue]:
    """The default queues by name, creating any that are missing (idempotent, race-safe)."""
    have = {q.name: q for q in session.scalars(select(ReviewQueue)).all()}
    for name, (kind, description, sla) in DEFAULT_QUEUES.items():
        if name in have:
            continue
        try:
            with session.begin_nested():
                q = ReviewQueue(
                    name=name, kind=kind, description=description, sla_hours=sla, is_default=True
                )
                session.add(q)
            have[name] = q
        except IntegrityError:  # another transaction created it first
            have[name] = session.scalars(select(ReviewQueue).where(ReviewQueue.name == name)).one()
    return have


def queue_by_name(session: Session, name: str) -> ReviewQueue:
    queue = session.scalars(select(ReviewQueue).where(ReviewQueue.name == name)).first()
    if queue is None:
        if name in DEFAULT_QUEUES:
            return ensure_default_queues(session)[name]
        raise RoutingError(f"queue {name!r} does not exist")
    return queue


def rule_condition(session: Session, rule: RoutingRule) -> dict[str, Any]:
    def load() -> dict[str, Any]:
        version = session.scalars(
            select(RoutingRuleVersion).where(
                RoutingRuleVersion.rule_id == rule.id,
                RoutingRuleVersion.version == rule.current_version,
            )
        ).first()
        return dict(version.condition) if version is not None else {}

    return dict(memo(session, f"rule_condition:{rule.id}:{rule.current_version}", load))


def create_rule(
    session: Session,
    *,
    name: str,
    queue: ReviewQueue,
    condition: Mapping[str, Any],
    position: int = 0,
    status: str = "draft",
    created_by: int | None = None,
) -> RoutingRule:
    cond = validate_condition(condition)
    check_rule_status(status)
    rule = RoutingRule(
        name=name, queue_id=queue.id, position=position, status=status, current_version=1
    )
    session.add(rule)
    session.flush()
    session.add(
        RoutingRuleVersion(
            rule_id=rule.id, version=1, condition=cond, status=status, created_by=created_by
        )
    )
    session.flush()
    return rule


def update_rule(
    session: Session,
    rule: RoutingRule,
    *,
    condition: Mapping[str, Any] | None = None,
    status: str | None = None,
    position: int | None = None,
    queue: ReviewQueue | None = None,
    name: str | None = None,
    created_by: int | None = None,
) -> RoutingRule:
    """Change a rule; a new condition or status is a new version (old versions stay)."""
    if status is not None:
        check_rule_status(status)
    if condition is not None or status is not None:
        cond = (
            validate_condition(condition)
            if condition is not None
            else rule_condition(session, rule)
        )
        rule.current_version += 1
        session.add(
            RoutingRuleVersion(
                rule_id=rule.id,
                version=rule.current_version,
                condition=cond,
                status=status or rule.status,
                created_by=created_by,
            )
        )
    if status is not None:
        rule.status = status
    if position is not None:
        rule.position = position
    if queue is not None:
        rule.queue_id = queue.id
    if name is not None:
        rule.name = name
    session.flush()
    return rule


def check_rule_status(status: str) -> str:
    from synthlabel.service.db.models import RULE_STATUSES

    if status not in RULE_STATUSES:
        raise RoutingError(f"status: {status!r} is not one of {', '.join(RULE_STATUSES)}")
    return status


# --- routing ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShadowMatch:
    """A background rule that matched: what it would have done."""

    rule_id: int
    rule_name: str
    version: int
    queue: str


@dataclass(frozen=True)
class RoutingResult:
    """What :func:`route_item` did: the job it created or found (``None`` when no live rule
    matched), the rule that routed it, and the background rules that matched."""

    job: ReviewJob | None
    queue: ReviewQueue | None = None
    rule: RoutingRule | None = None
    created: bool = False
    shadow: Sequence[ShadowMatch] = field(default_factory=tuple)


def open_job(
    session: Session, queue_id: int, subject_type: str, subject_id: str
) -> ReviewJob | None:
    return session.scalars(
        select(ReviewJob).where(
            ReviewJob.queue_id == queue_id,
            ReviewJob.subject_type == subject_type,
            ReviewJob.subject_id == subject_id,
            ReviewJob.status.in_(OPEN_JOB_STATUSES),
        )
    ).first()


def enqueue(
    session: Session,
    queue: ReviewQueue,
    subject_type: str,
    subject_id: str,
    *,
    reason: str | None = None,
    rule_id: int | None = None,
    priority: int = 0,
    due_at: datetime | None = None,
    now: datetime | None = None,
) -> tuple[ReviewJob, bool]:
    """A pending job for the subject in ``queue`` (an open one is reused); (job, created)."""
    existing = open_job(session, queue.id, subject_type, subject_id)
    if existing is not None:
        return existing, False
    now = now or utcnow()
    if due_at is None and queue.sla_hours:
        due_at = now + timedelta(hours=queue.sla_hours)
    job = ReviewJob(
        queue_id=queue.id,
        subject_type=subject_type,
        subject_id=subject_id,
        routing_rule_id=rule_id,
        priority=priority,
        status="pending",
        reason=reason,
        due_at=due_at,
        created_at=now,
    )
    session.add(job)
    session.flush()
    return job, True


def route_item(
    session: Session,
    content_record: ContentRecord,
    *,
    flags: Iterable[str] = (),
    now: datetime | None = None,
) -> RoutingResult:
    """Route an inspected item: the first matching live rule puts it in its queue (an open job
    for the same item in that queue is reused), matching background rules are recorded.

    Runs in the caller's transaction; the record must be flushed (it needs its id)."""
    if content_record.id is None:
        session.flush()
    fields = item_fields(content_record)
    item_flag_set = item_flags(content_record, flags)
    rules = memo(
        session,
        "routing_rules",
        lambda: session.scalars(
            select(RoutingRule)
            .where(RoutingRule.status.in_(("live", "background")))
            .order_by(RoutingRule.position, RoutingRule.id)
        ).all(),
    )
    queues = memo(
        session,
        "review_queues",
        lambda: {q.id: q for q in session.scalars(select(ReviewQueue)).all()},
    )
    routed: tuple[RoutingRule, ReviewQueue] | None = None
    shadow: list[ShadowMatch] = []
    for rule in rules:
        if rule.status == "live" and routed is not None:
            continue
        if not matches(rule_condition(session, rule), fields, item_flag_set):
            continue
        queue = queues[rule.queue_id]
        if rule.status == "live":
            routed = (rule, queue)
        else:
            shadow.append(ShadowMatch(rule.id, rule.name, rule.current_version, queue.name))
    for s in shadow:
        audit.record(
            session,
            "routing.shadow_match",
            SUBJECT_CONTENT,
            content_record.id,
            {"rule_id": s.rule_id, "rule": s.rule_name, "version": s.version, "queue": s.queue},
        )
    if routed is None:
        return RoutingResult(job=None, shadow=tuple(shadow))
    rule, queue = routed
    job, created = enqueue(
        session,
        queue,
        SUBJECT_CONTENT,
        content_record.id,
        reason=f"rule {rule.name} v{rule.current_version}",
        rule_id=rule.id,
        now=now,
    )
    return RoutingResult(job=job, queue=queue, rule=rule, created=created, shadow=tuple(shadow))
