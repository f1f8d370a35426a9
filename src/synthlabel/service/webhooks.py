"""Outbound webhooks: HMAC-signed, retried with backoff, dead letters kept for replay.

* :func:`create_subscription` / :func:`update_subscription` (the API and the web UI both use
  them) check the name, the event kinds and the URL: ``http``/``https`` with a host, no
  credentials, and **no private destination**: a loopback, private, link-local, multicast or
  otherwise non-public address, literal or what the name resolves to now, is refused unless
  the admin setting ``webhook_allow_private`` (``SYNTHLABEL_WEBHOOK_ALLOW_PRIVATE``) allows
  it. A name that does not resolve yet is accepted; delivery checks it.
* :func:`emit` (in the caller's transaction) writes one ``webhook_delivery`` per active
  subscription whose ``event_kinds`` match the event (shell-style globs, e.g. ``complaint.*``;
  an empty list takes every event). Events (:data:`EVENT_KINDS`): ``item.decided`` (an
  ingested or inspected item got its verdict, or a reviewer decided it), ``item.flagged`` (it
  was routed to a review queue, or matched a refutation), ``complaint.*`` (the complaint flow)
  and ``appeal.filed`` / ``appeal.resolved`` (appeals against decisions).
* The worker calls :func:`deliver_due`: it claims due deliveries (``FOR UPDATE SKIP LOCKED`` on
  PostgreSQL) with a short lease, POSTs them, and records the outcome: 2xx is ``delivered``;
  anything else (another status, a timeout, a refused connection) is retried after an
  exponential backoff with jitter, and after ``webhook_max_attempts`` tries it is ``dead``: the
  dead-letter list (``GET /api/v1/webhooks/deliveries?status=dead``), which an admin can replay.
  Before each request the host is resolved again and every address checked (a name that now
  points inside the network, DNS rebinding, is refused and counted as a failed attempt); the
  request then goes to the address that was checked (``Host`` and TLS SNI keep the name), and
  redirects are not followed.

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
import ipaddress
import json
import logging
import re
import secrets
import socket
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

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
    "appeal.filed",
    "appeal.resolved",
)
#: An event kind or a glob over them, as a subscription lists it.
EVENT_KIND_PATTERN = r"^[a-z*][a-z0-9_.*]{0,63}$"
_EVENT_KIND_RE = re.compile(EVENT_KIND_PATTERN)
_URL_RE = re.compile(r"^[\x21-\x7e]{8,1000}$")
_SECRET_RE = re.compile(r"^[\x21-\x7e]{16,200}$")
SIGNATURE_HEADER = "X-Synthlabel-Signature"
TIMESTAMP_HEADER = "X-Synthlabel-Timestamp"
LEASE_S = 120
TIMEOUT_S = 10.0


class WebhookError(ValueError):
    """A subscription field is not acceptable: ``field`` names it, the message says why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def blocked_reason(ip: IPAddress) -> str | None:
    """Why a webhook may not go to ``ip`` (None: a public address)."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for reason, hit in (
        ("loopback", ip.is_loopback),
        ("private", ip.is_private and not ip.is_loopback and not ip.is_link_local),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("unspecified", ip.is_unspecified),
        ("reserved", ip.is_reserved),
    ):
        if hit:
            return reason
    return None if ip.is_global else "non-public"


def check_url(url: str) -> str:
    """``url`` if it is a usable webhook URL by its form (no network): http(s), a host, no
    credentials; else :class:`WebhookError`."""
    if not _URL_RE.match(url):
        raise WebhookError("url", "8 to 1000 printable ASCII characters, no spaces")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise WebhookError("url", f"not a URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookError("url", "an http:// or https:// URL with a host")
    if parts.username or parts.password:
        raise WebhookError("url", "no credentials in the URL (the signature authenticates us)")
    return url


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to now (a literal is itself); [] when it does not."""
    lit = _literal(host)
    if lit is not None:
        return [lit]
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []
    out: list[IPAddress] = []
    for info in infos:
        addr = _literal(str(info[4][0]))
        if addr is not None and addr not in out:
            out.append(addr)
    return out


def check_destination(url: str, *, allow_private: bool, must_resolve: bool) -> list[IPAddress]:
    """The addresses ``url``'s host resolves to, all public (unless ``allow_private``);
    :class:`WebhookError` when one is not, or (``must_resolve``) when there are none."""
    parts = urlsplit(url)
    host = (parts.hostname or "").rstrip(".").lower()
    port = parts.port or (443 if parts.scheme == "https" else 80)
    hint = "webhooks go to public addresses only (SYNTHLABEL_WEBHOOK_ALLOW_PRIVATE allows others)"
    if not allow_private and (host == "localhost" or host.endswith(".localhost")):
        raise WebhookError("url", f"{host} is a loopback name: {hint}")
    addrs = resolve(host, port)
    if not addrs and must_resolve:
        raise WebhookError("url", f"{host} does not resolve")
    if not allow_private:
        for addr in addrs:
            reason = blocked_reason(addr)
            if reason is not None:
                shown = host if str(addr) == host.strip("[]") else f"{host} resolves to {addr},"
                raise WebhookError("url", f"{shown} a {reason} address: {hint}")
    return addrs


def _check_fields(
    *,
    name: str | None = None,
    url: str | None = None,
    event_kinds: Sequence[str] | None = None,
    secret: str | None = None,
    allow_private: bool,
) -> None:
    if name is not None and not 1 <= len(name.strip()) <= 200:
        raise WebhookError("name", "1 to 200 characters")
    if event_kinds is not None:
        if len(event_kinds) > 50:
            raise WebhookError("event_kinds", "at most 50")
        for k in event_kinds:
            if not _EVENT_KIND_RE.match(k):
                raise WebhookError(
                    "event_kinds", f"{k!r}: an event kind or glob ({', '.join(EVENT_KINDS)})"
                )
    if secret is not None and not _SECRET_RE.match(secret):
        raise WebhookError("secret", "16 to 200 printable ASCII characters")
    if url is not None:
        check_url(url)
        check_destination(url, allow_private=allow_private, must_resolve=False)


def create_subscription(
    session: Session,
    *,
    name: str,
    url: str,
    event_kinds: Sequence[str] = (),
    secret: str | None = None,
    is_active: bool = True,
    owner_id: int | None = None,
    allow_private: bool = False,
) -> tuple[WebhookSubscription, str]:
    """A new subscription in the caller's transaction (flushed) and its signing secret
    (generated when not given; show it once). :class:`WebhookError` names a bad field."""
    name = name.strip()
    kinds = [str(k) for k in event_kinds]
    _check_fields(name=name, url=url, event_kinds=kinds, secret=secret, allow_private=allow_private)
    secret = secret or secrets.token_urlsafe(32)
    sub = WebhookSubscription(
        name=name,
        url=url,
        secret=secret,
        event_kinds=kinds,
        is_active=is_active,
        owner_id=owner_id,
    )
    session.add(sub)
    session.flush()
    return sub, secret


def update_subscription(
    session: Session,
    sub: WebhookSubscription,
    changes: Mapping[str, Any],
    *,
    allow_private: bool = False,
) -> WebhookSubscription:
    """Apply ``changes`` (name, url, event_kinds, secret, is_active) after the same checks as
    :func:`create_subscription`."""
    unknown = set(changes) - {"name", "url", "event_kinds", "secret", "is_active"}
    if unknown:
        raise WebhookError(sorted(unknown)[0], "not a subscription field")
    for key, value in changes.items():
        if value is None:
            raise WebhookError(key, "cannot be null")
    _check_fields(
        name=changes.get("name"),
        url=changes.get("url"),
        event_kinds=changes.get("event_kinds"),
        secret=changes.get("secret"),
        allow_private=allow_private,
    )
    for key, value in changes.items():
        setattr(sub, key, value.strip() if key == "name" else value)
    session.flush()
    return sub


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


def _pinned(url: str, addr: IPAddress) -> tuple[str, dict[str, str], dict[str, Any]]:
    """(``url`` with its host replaced by the checked address, the Host header, the request
    extensions): the connection goes where the check looked, whatever DNS answers next."""
    parts = urlsplit(url)
    host = str(addr) if addr.version == 4 else f"[{addr}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    pinned = urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
    extensions: dict[str, Any] = {}
    if parts.scheme == "https":
        extensions["sni_hostname"] = parts.hostname
    return pinned, {"Host": parts.netloc}, extensions


def _post(c: _Claimed, client: Any, allow_private: bool = False) -> tuple[int | None, str | None]:
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
    url, extensions = c.url, dict[str, Any]()
    if not allow_private:  # checked again now: the name may point elsewhere than at creation
        try:
            addrs = check_destination(c.url, allow_private=False, must_resolve=True)
        except WebhookError as exc:
            return None, f"blocked: {exc}"[:500]
        url, host, extensions = _pinned(c.url, addrs[0])
        headers.update(host)
    try:
        r = client.post(url, content=c.body, headers=headers, extensions=extensions)
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
    allow_private: bool = False,
) -> dict[str, int]:
    """Send the deliveries that are due; counts by outcome. Each destination is checked
    (and the request pinned to the checked address) unless ``allow_private``."""
    import httpx

    claimed = transaction(factory, lambda s: _claim(s, limit), actor=actor)
    counts: dict[str, int] = {}
    if not claimed:
        return counts
    with httpx.Client(timeout=TIMEOUT_S, follow_redirects=False) as client:
        for c in claimed:
            code, error = _post(c, client, allow_private)

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
