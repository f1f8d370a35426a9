"""Webhook subscriptions, deliveries and the dead-letter list (admin only)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from synthlabel.service import webhooks
from synthlabel.service.api.deps import DB, Admin, app_state
from synthlabel.service.api.errors import ApiProblem, ProblemItem, problem_responses
from synthlabel.service.api.schemas import Id, Name200, Page
from synthlabel.service.db.models import WebhookDelivery, WebhookSubscription

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"])
R = problem_responses(401, 403, 404, 409, 422)


def _url(value: str) -> str:
    try:
        return webhooks.check_url(value)  # the form; the destination is checked on create
    except webhooks.WebhookError as exc:
        raise ValueError(str(exc)) from None


Url = Annotated[
    str,
    StringConstraints(min_length=8, max_length=1000, pattern=r"^[\x21-\x7e]+$"),
    AfterValidator(_url),
    Field(
        description="http(s); loopback, private and link-local destinations are refused "
        "(at creation and again at each delivery) unless the service allows them"
    ),
]
EventKind = Annotated[str, StringConstraints(pattern=webhooks.EVENT_KIND_PATTERN)]
Secret = Annotated[str, StringConstraints(min_length=16, max_length=200, pattern=r"^[\x21-\x7e]+$")]


class SubscriptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name200
    url: Url
    event_kinds: list[EventKind] = Field(
        default_factory=list,
        max_length=50,
        description=f"globs over {', '.join(webhooks.EVENT_KINDS)}; empty: every event",
    )
    secret: Secret | None = Field(default=None, description="generated when omitted")
    is_active: bool = True


class SubscriptionPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name200 | None = None
    url: Url | None = None
    event_kinds: list[EventKind] | None = Field(default=None, max_length=50)
    secret: Secret | None = None
    is_active: bool | None = None


class SubscriptionOut(BaseModel):
    id: int
    name: str
    url: str
    event_kinds: list[Any]
    is_active: bool
    created_at: datetime


class NewSubscription(SubscriptionOut):
    secret: str = Field(description="the signing secret; shown only now")


class DeliveryOut(BaseModel):
    id: int
    subscription_id: int
    event_kind: str
    payload: dict[str, Any]
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


def _sub_out(s: WebhookSubscription) -> SubscriptionOut:
    return SubscriptionOut(
        id=s.id,
        name=s.name,
        url=s.url,
        event_kinds=list(s.event_kinds or []),
        is_active=s.is_active,
        created_at=s.created_at,
    )


def _delivery_out(d: WebhookDelivery) -> DeliveryOut:
    return DeliveryOut.model_validate(d, from_attributes=True)


def _sub(db: Session, sub_id: int) -> WebhookSubscription:
    sub = db.get(WebhookSubscription, sub_id)
    if sub is None:
        raise ApiProblem(404, "Not found", f"no webhook subscription {sub_id}")
    return sub


def _invalid(exc: webhooks.WebhookError) -> ApiProblem:
    return ApiProblem(
        422,
        "Invalid input",
        f"{exc.field}: {exc}",
        errors=[ProblemItem(loc=["body", exc.field], msg=str(exc))],
    )


@router.post("", response_model=NewSubscription, status_code=201, responses=R)
def create_subscription(body: SubscriptionIn, actor: Admin, db: DB, request: Request) -> Any:
    try:
        sub, secret = webhooks.create_subscription(
            db,
            name=body.name,
            url=body.url,
            event_kinds=body.event_kinds,
            secret=body.secret,
            is_active=body.is_active,
            owner_id=actor.user_id,
            allow_private=app_state(request).settings.webhook_allow_private,
        )
    except webhooks.WebhookError as exc:
        raise _invalid(exc) from None
    db.commit()
    return NewSubscription(**_sub_out(sub).model_dump(), secret=secret)


@router.get("", response_model=Page[SubscriptionOut], responses=R)
def list_subscriptions(
    _actor: Admin,
    db: DB,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=2**62)] = 0,
) -> Any:
    stmt = select(WebhookSubscription).order_by(WebhookSubscription.id)
    total = db.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
    rows = db.scalars(stmt.limit(limit).offset(offset)).all()
    return {"items": [_sub_out(s) for s in rows], "total": total, "limit": limit, "offset": offset}


@router.get("/deliveries", response_model=Page[DeliveryOut], responses=R)
def list_deliveries(
    _actor: Admin,
    db: DB,
    status: Annotated[
        str | None,
        Query(
            pattern=r"^(pending|retrying|delivered|dead)$", description="dead: the dead-letter list"
        ),
    ] = None,
    subscription_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=2**62)] = 0,
) -> Any:
    stmt = select(WebhookDelivery).order_by(WebhookDelivery.id)
    if status:
        stmt = stmt.where(WebhookDelivery.status == status)
    if subscription_id is not None:
        stmt = stmt.where(WebhookDelivery.subscription_id == subscription_id)
    total = db.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
    rows = db.scalars(stmt.limit(limit).offset(offset)).all()
    return {
        "items": [_delivery_out(d) for d in rows],
        "total": total,
        "limit": limit,
        "offset": offset,
    }


@router.post("/deliveries/{delivery_id}/replay", response_model=DeliveryOut, responses=R)
def replay_delivery(delivery_id: Id, _actor: Admin, db: DB) -> Any:
    """Send a delivery again (typically a dead letter): pending now, attempts from zero."""
    d = db.get(WebhookDelivery, delivery_id)
    if d is None:
        raise ApiProblem(404, "Not found", f"no webhook delivery {delivery_id}")
    if d.status not in ("dead", "delivered"):
        raise ApiProblem(409, "Conflict", f"delivery {delivery_id} is {d.status}, not finished")
    webhooks.replay(db, d)
    db.commit()
    return _delivery_out(d)


@router.get("/{subscription_id}", response_model=SubscriptionOut, responses=R)
def get_subscription(subscription_id: Id, _actor: Admin, db: DB) -> Any:
    return _sub_out(_sub(db, subscription_id))


@router.patch("/{subscription_id}", response_model=SubscriptionOut, responses=R)
def update_subscription(
    subscription_id: Id, body: SubscriptionPatch, _actor: Admin, db: DB, request: Request
) -> Any:
    sub = _sub(db, subscription_id)
    try:
        webhooks.update_subscription(
            db,
            sub,
            body.model_dump(exclude_unset=True),
            allow_private=app_state(request).settings.webhook_allow_private,
        )
    except webhooks.WebhookError as exc:
        raise _invalid(exc) from None
    db.commit()
    return _sub_out(sub)


@router.delete("/{subscription_id}", status_code=204, responses=R)
def delete_subscription(subscription_id: Id, _actor: Admin, db: DB) -> Response:
    db.delete(_sub(db, subscription_id))
    db.commit()
    return Response(status_code=204)
