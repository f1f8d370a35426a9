"""Rumour refutations: publish (by item or by hashes), list, withdraw.

A reviewer usually refutes from a job (decision ``refute``); this router also publishes a
refutation of content that is not stored (its SHA-256 and/or PDQ hash) and lists the items each
refutation flagged.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select

from synthlabel.service import refutation
from synthlabel.service.api.deps import DB, Admin, Staff
from synthlabel.service.api.errors import ApiProblem, problem_responses
from synthlabel.service.api.schemas import ORM, Id, Page, Url500
from synthlabel.service.db.models import ContentRecord, RumourRefutation

router = APIRouter(prefix="/api/v1", tags=["refutations"])
READ = problem_responses(401, 403, 404, 422)
WRITE = problem_responses(401, 403, 404, 409, 422)


class RefutationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: Annotated[str, Field(min_length=1, max_length=5000, pattern=r"^[^\x00]*\S[^\x00]*$")]
    source_url: Url500 | None = Field(default=None, description="the published refutation")
    content_record_id: Annotated[str, Field(min_length=36, max_length=36)] | None = None
    sha256: Annotated[str, Field(pattern=r"^[0-9a-fA-F]{64}$")] | None = None
    perceptual_hash: (
        Annotated[str, Field(pattern=r"^(pdq:)?[0-9a-fA-F]{64}$", description="PDQ, 64 hex digits")]
        | None
    ) = None


class RefutationOut(ORM):
    id: int
    subject_ref: str | None
    content_record_id: str | None
    sha256: str | None
    perceptual_hash: str | None
    text: str
    source_url: str | None
    status: str
    published_at: datetime | None
    created_at: datetime


class RefutationResult(BaseModel):
    refutation: RefutationOut
    flagged: list[str] = Field(description="ids of the items it flagged")


@router.post("/refutations", response_model=RefutationResult, status_code=201, responses=WRITE)
def publish(body: RefutationIn, _actor: Staff, db: DB) -> Any:
    """Publish a refutation; every stored item matching its hashes is flagged (and routed)."""
    record = None
    if body.content_record_id is not None:
        record = db.get(ContentRecord, body.content_record_id.lower())
        if record is None:
            raise ApiProblem(404, "Not found", f"no item with id {body.content_record_id}")
    try:
        ref, flagged = refutation.publish(
            db,
            text=body.text,
            source_url=body.source_url,
            record=record,
            sha256=body.sha256,
            perceptual_hash=body.perceptual_hash,
        )
    except refutation.RefutationError as exc:
        raise ApiProblem(422, "Invalid input", str(exc)) from None
    if record is not None and record.review_state != "refuted":
        record.review_state = "refuted"
    db.commit()
    return RefutationResult(
        refutation=RefutationOut.model_validate(ref), flagged=[r.id for r in flagged]
    )


@router.get("/refutations", response_model=Page[RefutationOut], responses=READ)
def list_refutations(
    _actor: Staff,
    db: DB,
    status: Literal["draft", "published", "withdrawn"] | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=2**62)] = 0,
) -> Any:
    stmt = select(RumourRefutation).order_by(RumourRefutation.id.desc())
    if status is not None:
        stmt = stmt.where(RumourRefutation.status == status)
    total = db.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
    rows = db.scalars(stmt.limit(limit).offset(offset))
    return {
        "items": [RefutationOut.model_validate(r) for r in rows],
        "total": total,
        "limit": limit,
        "offset": offset,
    }


def _get(db: DB, refutation_id: int) -> RumourRefutation:
    ref = db.get(RumourRefutation, refutation_id)
    if ref is None:
        raise ApiProblem(404, "Not found", f"no refutation with id {refutation_id}")
    return ref


@router.get("/refutations/{refutation_id}", response_model=RefutationResult, responses=READ)
def get_refutation(refutation_id: Id, _actor: Staff, db: DB) -> Any:
    """A refutation and the items that carry its notice."""
    ref = _get(db, refutation_id)
    flagged = [
        r.id
        for r in refutation.matching_records(db, ref)
        if ref.id in refutation.refutation_ids(r.notices or [])
    ]
    return RefutationResult(refutation=RefutationOut.model_validate(ref), flagged=flagged)


@router.post(
    "/refutations/{refutation_id}/withdraw", response_model=RefutationResult, responses=WRITE
)
def withdraw(refutation_id: Id, _actor: Admin, db: DB) -> Any:
    """Withdraw a refutation: its notice comes off every item (``flagged``: those changed)."""
    ref = _get(db, refutation_id)
    if ref.status != "published":
        raise ApiProblem(409, "Conflict", f"refutation {refutation_id} is {ref.status}")
    changed = refutation.withdraw(db, ref)
    db.commit()
    return RefutationResult(
        refutation=RefutationOut.model_validate(ref), flagged=[r.id for r in changed]
    )
