"""Domain events for webhooks: the outbox.

:func:`emit` runs in the caller's transaction and writes one pending ``webhook_delivery`` row
per active subscription that wants the event (``event_kinds`` lists kinds or ``prefix.*``;
an empty list means every kind). The rows commit or roll back with the change that caused
them (the outbox pattern); the webhook sender delivers them later.

Event kinds in use: ``item.decided``, ``item.flagged``, ``complaint.received``,
``complaint.resolved``, ``appeal.filed``, ``appeal.resolved``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from synthlabel.service.audit import jsonable
from synthlabel.service.db.models import WebhookDelivery, WebhookSubscription
from synthlabel.service.db.types import utcnow


def wants(subscription: WebhookSubscription, kind: str) -> bool:
    kinds = [str(k) for k in (subscription.event_kinds or [])]
    if not kinds:
        return True
    return any(k == kind or (k.endswith(".*") and kind.startswith(k[:-1])) for k in kinds)


def emit(session: Session, kind: str, payload: dict[str, Any]) -> list[WebhookDelivery]:
    """Queue ``kind`` with ``payload`` for every subscription that wants it."""
    now = utcnow()
    body = {"event": kind, "occurred_at": now, "data": payload}
    out = []
    for sub in session.scalars(
        select(WebhookSubscription).where(WebhookSubscription.is_active.is_(True))
    ):
        if wants(sub, kind):
            delivery = WebhookDelivery(
                subscription_id=sub.id,
                event_kind=kind,
                payload=jsonable(body),
                status="pending",
                next_attempt_at=now,
                created_at=now,
            )
            session.add(delivery)
            out.append(delivery)
    if out:
        session.flush()
    return out
