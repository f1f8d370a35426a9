"""Real-identity binding of providers' users: verify and record (only a keyed hash and the
last 4 characters of the identifier are kept). Admins see every binding; a provider binds
and sees its own users only."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select

from synthlabel.service import identity
from synthlabel.service.api.deps import DB, app_state, require
from synthlabel.service.api.errors import ApiProblem, problem_responses
from synthlabel.service.api.schemas import ORM, Page
from synthlabel.service.auth import Actor
from synthlabel.service.db.models import IdentityBinding, Provider

router = APIRouter(prefix="/api/v1/identity", tags=["identity"])
READ = problem_responses(401, 403, 422)
WRITE = problem_responses(401, 403, 404, 422)
Binder = Annotated[Actor, Depends(require("admin", "provider"))]
IdKind = Literal["resident_id", "mobile", "credit_code"]


class BindingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    subject_ref: Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f]+$")] = (
        Field(description="the provider's own id of its user (a pseudonym, not a name)")
    )
    id_kind: IdKind
    value: Annotated[str, Field(min_length=1, max_length=40, repr=False)] = Field(
        description="the identifier; checked, hashed and dropped (never stored or logged)"
    )
    verifier: Annotated[str, Field(min_length=1, max_length=64)] = "format-check"
    provider_id: Annotated[int, Field(ge=1, le=2**63 - 1)] | None = Field(
        default=None, description="admins only: the provider whose user this is"
    )


class BindingOut(ORM):
    id: int
    subject_ref: str
    provider_id: int | None
    verifier: str
    id_kind: str
    id_hint: str | None
    status: str
    verifier_ref: str | None
    verified_at: datetime | None
    created_at: datetime


class BindingResult(BindingOut):
    reason: str


class VerifierOut(BaseModel):
    name: str
    id_kinds: list[str]


@router.get("/verifiers", response_model=list[VerifierOut], responses=READ)
def list_verifiers(_actor: Binder) -> Any:
    return [
        VerifierOut(name=name, id_kinds=list(v.id_kinds))
        for name, v in sorted(identity.verifiers().items())
    ]


@router.post("/bindings", response_model=BindingResult, status_code=201, responses=WRITE)
def bind(body: BindingIn, actor: Binder, request: Request, db: DB) -> Any:
    """Verify an identifier and record the binding (``status`` verified or failed, with the
    reason). The identifier itself is never stored: only its keyed hash and last 4."""
    provider_id = actor.provider_id
    if actor.role != "admin" and provider_id is None:
        raise ApiProblem(403, "Forbidden", "this provider account is not linked to a provider")
    if actor.role == "admin":
        provider_id = body.provider_id
    elif body.provider_id is not None and body.provider_id != actor.provider_id:
        raise ApiProblem(403, "Forbidden", "a provider binds its own users only")
    if provider_id is not None and db.get(Provider, provider_id) is None:
        raise ApiProblem(404, "Not found", f"provider_id: no provider with id {provider_id}")
    try:
        outcome = identity.bind(
            db,
            app_state(request).settings.secret_key,
            subject_ref=body.subject_ref,
            id_kind=body.id_kind,
            value=body.value,
            verifier=body.verifier,
            provider_id=provider_id,
        )
    except identity.IdentityError as exc:
        raise ApiProblem(422, "Invalid input", str(exc)) from None
    out = BindingResult(
        **BindingOut.model_validate(outcome.binding).model_dump(), reason=outcome.reason
    )
    db.commit()
    return out


@router.get("/bindings", response_model=Page[BindingOut], responses=READ)
def list_bindings(
    actor: Binder,
    db: DB,
    subject_ref: Annotated[str | None, Query(max_length=128)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=2**62)] = 0,
) -> Any:
    stmt = select(IdentityBinding).order_by(IdentityBinding.id)
    if actor.role != "admin":
        stmt = stmt.where(IdentityBinding.provider_id == actor.provider_id)
    if subject_ref is not None:
        stmt = stmt.where(IdentityBinding.subject_ref == subject_ref)
    total = db.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
    rows = db.scalars(stmt.limit(limit).offset(offset))
    return {
        "items": [BindingOut.model_validate(b) for b in rows],
        "total": total,
        "limit": limit,
        "offset": offset,
    }
