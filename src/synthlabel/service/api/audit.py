"""The audit log: paged reading and chain verification (admin)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import select

from synthlabel.service import audit
from synthlabel.service.api.deps import DB, Admin, app_state
from synthlabel.service.api.errors import problem_responses
from synthlabel.service.db.models import AuditEvent

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


class AuditEventOut(BaseModel):
    id: int
    seq: int | None = Field(description="chain position; null while the event is pending")
    ts: datetime
    actor: str
    action: str
    object_type: str | None
    object_id: str | None
    payload: dict[str, Any]
    prev_hash: str | None
    hash: str | None


class AuditPage(BaseModel):
    items: list[AuditEventOut]
    next_after_id: int | None


class AuditProblemOut(BaseModel):
    seq: int = Field(description="chain position (0: a pending event, see id)")
    kind: str
    message: str
    id: int | None = None


class AuditVerifyOut(BaseModel):
    ok: bool
    checked: int
    last_seq: int
    head_seq: int
    head_authenticated: bool | None
    problem: AuditProblemOut | None
    pending: int = Field(0, description="events appended but not chained yet")
    pending_oldest_s: float | None = Field(None, description="the oldest pending event's age")


@router.get("", response_model=AuditPage, responses=problem_responses(401, 403, 422))
def list_events(
    _actor: Admin,
    db: DB,
    after_id: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    object_type: Annotated[str | None, Query(max_length=64)] = None,
    object_id: Annotated[str | None, Query(max_length=64)] = None,
) -> AuditPage:
    """Events in the order they were appended (id), after ``after_id``; follow
    ``next_after_id`` for the next page. ``seq`` is null for events not chained yet."""
    stmt = select(AuditEvent).where(AuditEvent.id > after_id)
    if object_type is not None:
        stmt = stmt.where(AuditEvent.object_type == object_type)
    if object_id is not None:
        stmt = stmt.where(AuditEvent.object_id == object_id)
    rows = db.execute(stmt.order_by(AuditEvent.id).limit(limit)).scalars().all()
    items = [
        AuditEventOut(
            id=r.id,
            seq=r.seq,
            ts=r.ts,
            actor=r.actor,
            action=r.action,
            object_type=r.object_type,
            object_id=r.object_id,
            payload=r.payload,
            prev_hash=r.prev_hash,
            hash=r.hash,
        )
        for r in rows
    ]
    return AuditPage(items=items, next_after_id=rows[-1].id if len(rows) == limit else None)


@router.get("/verify", response_model=AuditVerifyOut, responses=problem_responses(401, 403))
def verify_chain(_actor: Admin, request: Request, db: DB) -> Any:
    """Walk the whole chain and the pending events: ``ok`` false and ``problem`` name the
    first bad one. Pending events are linked by the app's and the workers' chainers (every
    second by default) and by ``synthlabel audit verify``."""
    # The request's own connection: on SQLite a second one would wait for this one's lock.
    return audit.verify(db.connection(), app_state(request).settings.secret_key).to_dict()
