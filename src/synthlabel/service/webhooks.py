"""Outbound webhooks: HMAC-signed, retried with backoff, dead letters kept for replay.

* :func:`emit` (in the caller's transaction) writes one ``webhook_delivery`` per active
  subscription whose ``event_kinds`` match the event (shell-style globs, e.g. ``complaint.*``;
  an empty list takes every event). Events: ``item.decided`` (an ingested or inspected item got
  its verdict), ``item.flagged`` (it was routed to a review queue), ``complaint.*`` (emitted by
  the complaint flow).
* The worker calls :func:`deliver_due`: it claims due deliveries (``FOR UPDATE SKIP LOCKED`` on
  PostgreSQL) with a short lease, POSTs them, and records the outcome: 2xx is ``delivered``;
  anything else (another status, a timeout, a refused connection) is retried after an
  exponential backoff with jitter, and after ``webhook_max_attempts`` tries it is ``dead``: the
  dead-letter list (``GET /api/v1/webhooks/deliveries?status=dead``), which an admin can replay.

Delivery is at least once: a receiver should ignore a delivery id it has seen.

Each request carries::

    Content-Type: application/json
    X-Synthlabel-Event: item.decided
    X-Synthlabel-Delivery: 42
    X-Synthlabel-Timestamp: 1767312000
    X-Synthlabel-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>." + body)>

and the body ``{"id": 42, "event": "item.decided", "created_at": "...", "data": {...}}``
(the same bytes on every retry; the timestamp and signature are fresh).
"""

from __future__ import annotations

import fnmatch
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, select, update
from sqlalchemy.orm import Session, sessionmaker

from synthlabel.service import audit
from synthlabel.service.audit import jsonable
from synthlabel.service.db.models import WebhookDelivery, WebhookSubscription
from synthlabel.service.db.types import utcnow
from synthlabel.service.queue import backoff
from synthlabel.service.txn import memo, transaction

log = logging.getLogger("synthlabel.service")
EVENT_KINDS = (
    "item.decided",
    "item.flagged",
    "complaint.received",
    "complaint.updated",
    "complaint.resolved",
)
SIGNATURE_HEADER = "X-Synthlabel-Signature"
TIMESTAMP_HEADER = "X-Synthlabel-Timestamp"
LEASE_S = 120
TIMEOUT_S = 10.0


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value: ``sha256=<hex HMAC-SHA256(secret, "<ts>." + body)>``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(
    secret: str, timestamp: str, body: bytes, signature: str, *, tolerance_s: int = 300
) -> bool:
    """What a receiver does: the signature matches and the timestamp is recent."""
    try:
        ts = int(timestamp)
    except ValueError:
        return False
    if abs(time.time() - ts) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, ts, body), signature)


def wants(kinds: Any, event: str) -> bool:
    if not kinds:
        return True
    return any(fnmatch.fnmatchcase(event, str(k)) for k in kinds)


def emit(session: Session, event: str, data: Mapping[str, Any]) -> list[WebhookDelivery]:
    """Queue ``event`` for every matching active subscription (caller's transaction)."""
    subs = memo(
        session,
        "webhook_subscriptions",
        lambda: session.scalars(
            select(WebhookSubscription).where(WebhookSubscription.is_active.is_(True))
        ).all(),
    )
    out = []
    now = utcnow()
    for sub in subs:
        if not wants(sub.event_kinds, event):
            continue
        d = WebhookDelivery(
            subscription_id=sub.id,
            event_kind=event,
            payload=jsonable(dict(data)),
            status="pending",
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
        session.add(d)
        out.append(d)
    if out:
        session.flush()
    return out


def body_of(d: WebhookDelivery) -> bytes:
    doc = {
        "id": d.id,
        "event": d.event_kind,
        "created_at": jsonable(d.created_at),
        "data": d.payload,
    }
    return json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


@dataclass(frozen=True)
class _Claimed:
    id: int
    attempts: int
    url: str
    secret: str
    event: str
    body: bytes
    token: str


def _claim(session: Session, limit: int) -> list[_Claimed]:
    now = utcnow()
    rows = session.scalars(
        select(WebhookDelivery)
        .where(
            WebhookDelivery.status.in_(("pending", "retrying")),
            WebhookDelivery.next_attempt_at <= now,
        )
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    out = []
    for d in rows:
        sub = session.get(WebhookSubscription, d.subscription_id)
        lease = now + timedelta(seconds=LEASE_S)
        # Core update: the lease is bookkeeping, recorded as one explicit audit event.
        session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == d.id)
            .values(attempts=WebhookDelivery.attempts + 1, next_attempt_at=lease)
            .execution_options(synchronize_session=False)
        )
        if sub is None or not sub.is_active:
            session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id == d.id)
                .values(status="dead", last_error="subscription inactive or deleted")
                .execution_options(synchronize_session=False)
            )
            audit.record(
                session,
                "webhook_delivery.dead",
                "webhook_delivery",
                d.id,
                {"reason": "subscription inactive or deleted"},
            )
            continue
        audit.record(
            session,
            "webhook_delivery.attempt",
            "webhook_delivery",
            d.id,
            {"attempt": d.attempts + 1, "url": sub.url},
        )
        out.append(
            _Claimed(
                d.id,
                d.attempts + 1,
                sub.url,
                sub.secret,
                d.event_kind,
                body_of(d),
                lease.isoformat(),
            )
        )
    return out


def _post(c: _Claimed, client: Any) -> tuple[int | None, str | None]:
    import httpx

    ts = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "synthlabel-webhooks",
        "X-Synthlabel-Event": c.event,
        "X-Synthlabel-Delivery": str(c.id),
        TIMESTAMP_HEADER: str(ts),
        SIGNATURE_HEADER: sign(c.secret, ts, c.body),
    }
    try:
        r = client.post(c.url, content=c.body, headers=headers)
    except httpx.HTTPError as exc:
        return None, f"{type(exc).__name__}: {exc}"[:500]
    if 200 <= r.status_code < 300:
        return r.status_code, None
    return r.status_code, f"HTTP {r.status_code}"


def _record(
    session: Session, c: _Claimed, code: int | None, error: str | None, max_attempts: int
) -> str:
    d = session.scalars(
        select(WebhookDelivery)
        .where(and_(WebhookDelivery.id == c.id, WebhookDelivery.attempts == c.attempts))
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()
    if d is None or d.status in ("delivered", "dead"):
        return ""  # replayed or handled meanwhile
    d.last_status_code = code
    if error is None:
        d.status = "delivered"
        d.delivered_at = utcnow()
        d.last_error = None
        d.next_attempt_at = None
    elif c.attempts >= max_attempts:
        d.status = "dead"
        d.last_error = error
        d.next_attempt_at = None
    else:
        d.status = "retrying"
        d.last_error = error
        d.next_attempt_at = utcnow() + timedelta(seconds=backoff(c.attempts))
    session.flush()
    return d.status


def deliver_due(
    factory: sessionmaker[Session],
    *,
    max_attempts: int = 8,
    limit: int = 20,
    actor: str = "worker",
) -> dict[str, int]:
    """Send the deliveries that are due; counts by outcome."""
    import httpx

    claimed = transaction(factory, lambda s: _claim(s, limit), actor=actor)
    counts: dict[str, int] = {}
    if not claimed:
        return counts
    with httpx.Client(timeout=TIMEOUT_S, follow_redirects=False) as client:
        for c in claimed:
            code, error = _post(c, client)

            def outcome(
                s: Session, c: _Claimed = c, code: int | None = code, error: str | None = error
            ) -> str:
                return _record(s, c, code, error, max_attempts)

            status = transaction(factory, outcome, actor=actor)
            if status:
                counts[status] = counts.get(status, 0) + 1
    return counts


def replay(session: Session, delivery: WebhookDelivery) -> None:
    """Send a (dead) delivery again from scratch: pending, attempts reset."""
    delivery.status = "pending"
    delivery.attempts = 0
    delivery.next_attempt_at = utcnow()
    delivery.last_error = None
    session.flush()
