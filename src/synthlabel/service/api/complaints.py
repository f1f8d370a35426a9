"""Complaints and reports from the public: filing (no account, rate-limited), status by ticket
number, and the staff view. Resolution is a decision on the complaint's review job."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select

from synthlabel.service import complaints
from synthlabel.service.api.deps import DB, Staff, app_state, public_rate_limit
from synthlabel.service.api.errors import ApiProblem, problem_responses
from synthlabel.service.api.schemas import ORM, Id, Page, Str300
from synthlabel.service.db.models import Complaint

router = APIRouter(prefix="/api/v1", tags=["complaints"])
PUBLIC = problem_responses(404, 422, 429)
READ = problem_responses(401, 403, 404, 422)

Category = Literal["unlabelled_ai", "wrong_label", "rights", "rumour", "other"]
Ticket = Annotated[str, Path(min_length=1, max_length=40, description="C-<year>-<10 chars>")]
_TEXT = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"


class ComplaintIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    category: Category = Field(
        description="unlabelled_ai: AI content without a label; wrong_label: a label that is "
        "wrong; rights: infringes your rights; rumour: false information; other"
    )
    text: Annotated[str, Field(min_length=1, max_length=5000, pattern=_TEXT)] = Field(
        description="what is wrong"
    )
    subject: Annotated[str, Field(min_length=1, max_length=500, pattern=_TEXT)] | None = Field(
        default=None, description="what it is about: an item id, a URL, or a file's SHA-256"
    )
    contact: Str300 | None = Field(default=None, description="how to reach you (optional)")


class ComplaintStatus(BaseModel):
    """What a ticket holder sees: no contact details, no complaint text."""

    ticket: str
    category: str
    status: str
    received_at: datetime
    due_at: datetime | None
    resolved_at: datetime | None
    resolution: str | None


class ComplaintReceipt(ComplaintStatus):
    status_url: str


class ComplaintOut(ORM):
    id: int
    ticket_no: str
    channel: str
    contact: str | None
    subject_type: str | None
    subject_ref: str | None
    content_record_id: str | None
    category: str
    description: str | None
    status: str
    received_at: datetime
    due_at: datetime | None
    resolved_at: datetime | None
    resolution: str | None


@router.post(
    "/complaints",
    response_model=ComplaintReceipt,
    status_code=201,
    responses=PUBLIC,
    dependencies=[Depends(public_rate_limit)],
)
def file_complaint(body: ComplaintIn, request: Request, db: DB) -> Any:
    """File a complaint or report (no account needed). Keep the ticket number: it is the only
    way to follow the complaint."""
    db.info["actor"] = "public"
    settings = app_state(request).settings
    sla = complaints.parse_sla(settings.complaint_sla_hours)
    complaint = complaints.file_complaint(
        db,
        category=body.category,
        description=body.text,
        contact=body.contact,
        subject_ref=body.subject,
        channel="api",
        sla_hours=sla,
    )
    status = complaints.public_status(complaint)
    db.commit()
    return ComplaintReceipt(**status, status_url=f"/api/v1/complaints/{complaint.ticket_no}")


@router.get(
    "/complaints/{ticket}",
    response_model=ComplaintStatus,
    responses=PUBLIC,
    dependencies=[Depends(public_rate_limit)],
)
def complaint_status(ticket: Ticket, db: DB) -> Any:
    """The status of a complaint by its ticket number."""
    try:
        complaint = complaints.by_ticket(db, ticket)
    except complaints.ComplaintError as exc:
        raise ApiProblem(404, "Not found", str(exc)) from None
    return ComplaintStatus(**complaints.public_status(complaint))


@router.get("/complaints", response_model=Page[ComplaintOut], responses=READ)
def list_complaints(
    _actor: Staff,
    db: DB,
    status: Literal["received", "in_review", "resolved", "rejected"] | None = None,
    category: Category | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=2**62)] = 0,
) -> Any:
    """Complaints with their contact details (staff only), oldest due first."""
    stmt = select(Complaint)
    if status is not None:
        stmt = stmt.where(Complaint.status == status)
    if category is not None:
        stmt = stmt.where(Complaint.category == category)
    total = db.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
    rows = db.scalars(stmt.order_by(Complaint.due_at, Complaint.id).limit(limit).offset(offset))
    return {
        "items": [ComplaintOut.model_validate(c) for c in rows],
        "total": total,
        "limit": limit,
        "offset": offset,
    }


@router.get("/complaints/by-id/{complaint_id}", response_model=ComplaintOut, responses=READ)
def get_complaint(complaint_id: Id, _actor: Staff, db: DB) -> Any:
    c = db.get(Complaint, complaint_id)
    if c is None:
        raise ApiProblem(404, "Not found", f"no complaint with id {complaint_id}")
    return ComplaintOut.model_validate(c)
