"""The append-only, hash-chained audit log.

Every ORM write through a session of :func:`synthlabel.service.db.engine.session_factory`
(insert, update, delete of any model whose ``__audit__`` is true) appends one ``audit_event`` in
the same transaction; :func:`record` appends an explicit event (logins, imports, Core-level
writes such as queue claims). Each event's

    hash = SHA-256(canonical JSON of [seq, ts, actor, action, object_type, object_id,
                                      payload, prev_hash])

and ``prev_hash`` is the previous event's hash (64 zeros for seq 1). Appends lock the
``audit_chain_head`` row (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite transactions here
begin ``IMMEDIATE`` and so are serial already), so concurrent writers cannot fork the chain.
The head row records the last seq and hash and an HMAC of them under the service secret: a
signed checkpoint, so even a fully re-hashed, truncated or extended chain is caught by
:func:`verify` when it is given the secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Table, insert, inspect, select, update
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.attributes import get_history

from synthlabel.service.db.models import AuditChainHead, AuditEvent, Base
from synthlabel.service.db.types import utcnow

GENESIS_HASH = "0" * 64
HEAD_ID = 1
REDACTED = "<redacted>"

_events: Table = AuditEvent.__table__  # type: ignore[assignment]
_head: Table = AuditChainHead.__table__  # type: ignore[assignment]


# --- hashing ------------------------------------------------------------------------------


def jsonable(value: Any) -> Any:
    """A JSON value that survives a database round trip unchanged (and so hashes the same)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, datetime):
        return _ts(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    return str(value)


def _ts(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def event_hash(
    seq: int,
    ts: datetime,
    actor: str,
    action: str,
    object_type: str | None,
    object_id: str | None,
    payload: Any,
    prev_hash: str,
) -> str:
    body = [seq, _ts(ts), actor, action, object_type, object_id, jsonable(payload), prev_hash]
    return hashlib.sha256(canonical(body)).hexdigest()


def head_mac(secret: str, seq: int, hash_: str) -> str:
    msg = f"synthlabel-audit-head:{seq}:{hash_}".encode()
    return hmac.new(secret.encode(), msg, hashlib.sha256).hexdigest()


# --- appending ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PendingEvent:
    action: str
    object_type: str | None
    object_id: str | None
    payload: dict[str, Any]


def _lock_head(conn: Connection) -> tuple[int, str]:
    row = conn.execute(
        select(_head.c.seq, _head.c.hash).where(_head.c.id == HEAD_ID).with_for_update()
    ).one_or_none()
    if row is None:  # a database created without the migration's seed row
        conn.execute(insert(_head).values(id=HEAD_ID, seq=0, hash=GENESIS_HASH))
        return 0, GENESIS_HASH
    return int(row.seq), str(row.hash)


def append_events(
    conn: Connection, actor: str, events: list[PendingEvent], secret: str | None
) -> list[int]:
    """Append ``events`` to the chain on ``conn`` (inside its transaction); their seqs."""
    if not events:
        return []
    seq, prev = _lock_head(conn)
    seqs: list[int] = []
    rows: list[dict[str, Any]] = []
    for ev in events:
        seq += 1
        ts = utcnow()
        payload = jsonable(ev.payload)
        h = event_hash(seq, ts, actor, ev.action, ev.object_type, ev.object_id, payload, prev)
        rows.append(
            {
                "seq": seq,
                "ts": ts,
                "actor": actor,
                "action": ev.action,
                "object_type": ev.object_type,
                "object_id": ev.object_id,
                "payload": payload,
                "prev_hash": prev,
                "hash": h,
            }
        )
        seqs.append(seq)
        prev = h
    conn.execute(insert(_events), rows)
    conn.execute(
        update(_head)
        .where(_head.c.id == HEAD_ID)
        .values(
            seq=seq,
            hash=prev,
            mac=head_mac(secret, seq, prev) if secret else None,
            updated_at=utcnow(),
        )
    )
    return seqs


def record(
    session: Session,
    action: str,
    object_type: str | None = None,
    object_id: str | int | None = None,
    payload: dict[str, Any] | None = None,
) -> int:
    """Append an explicit event in ``session``'s transaction; its seq."""
    ev = PendingEvent(
        action, object_type, None if object_id is None else str(object_id), payload or {}
    )
    actor = str(session.info.get("actor", "system"))
    return append_events(session.connection(), actor, [ev], session.info.get("audit_secret"))[0]


def lock_chain(session: Session) -> None:
    """Take the chain's lock now, before any other row lock of this transaction (the order
    every audited writer uses: head first), e.g. before a ``SELECT ... FOR UPDATE`` of a queue
    row whose update is audited later in the same transaction."""
    if not session.info.get("_audit_locked"):
        _lock_head(session.connection())
        session.info["_audit_locked"] = True


def _audited(obj: Any) -> bool:
    return isinstance(obj, Base) and type(obj).__audit__


def _identity(obj: Base) -> str:
    ident = inspect(type(obj)).primary_key_from_instance(obj)
    return ":".join("" if v is None else str(v) for v in ident)


def _columns(obj: Base) -> dict[str, Any]:
    redact = type(obj).__audit_redact__
    mapper = inspect(type(obj))
    out: dict[str, Any] = {}
    for attr in mapper.column_attrs:
        value = getattr(obj, attr.key)
        out[attr.key] = REDACTED if attr.key in redact and value is not None else value
    return out


def _changes(obj: Base) -> dict[str, Any]:
    redact = type(obj).__audit_redact__
    out: dict[str, Any] = {}
    for attr in inspect(type(obj)).column_attrs:
        hist = get_history(obj, attr.key)
        if not hist.added and not hist.deleted:
            continue
        old = hist.deleted[0] if hist.deleted else None
        new = hist.added[0] if hist.added else None
        if old == new:
            continue
        if attr.key in redact:
            old, new = REDACTED if old is not None else None, REDACTED
        out[attr.key] = {"old": old, "new": new}
    return out


def _before_flush(session: Session, _ctx: Any, _instances: Any) -> None:
    # Take the chain lock before this flush writes data rows: every writer then locks in
    # the same order (head first), so two transactions cannot deadlock on head vs. row.
    dirty = any(_audited(o) for o in (*session.new, *session.dirty, *session.deleted))
    if dirty and not session.info.get("_audit_locked"):
        _lock_head(session.connection())
        session.info["_audit_locked"] = True


def _after_flush(session: Session, _ctx: Any) -> None:
    events: list[PendingEvent] = []
    for obj in session.new:
        if _audited(obj):
            table = obj.__tablename__
            events.append(PendingEvent(f"{table}.create", table, _identity(obj), _columns(obj)))
    for obj in session.dirty:
        if _audited(obj) and session.is_modified(obj, include_collections=False):
            changes = _changes(obj)
            if changes:
                table = obj.__tablename__
                events.append(PendingEvent(f"{table}.update", table, _identity(obj), changes))
    for obj in session.deleted:
        if _audited(obj):
            table = obj.__tablename__
            events.append(PendingEvent(f"{table}.delete", table, _identity(obj), _columns(obj)))
    if events:
        actor = str(session.info.get("actor", "system"))
        append_events(session.connection(), actor, events, session.info.get("audit_secret"))


def _after_end(session: Session, _transaction: Any) -> None:
    session.info.pop("_audit_locked", None)


def install_audit_hooks(factory: sessionmaker[Session], secret: str | None = None) -> None:
    """Audit every ORM write of sessions made by ``factory``; ``secret`` signs the head."""
    from sqlalchemy import event

    if secret is not None:
        factory.kw.setdefault("info", {})["audit_secret"] = secret
    event.listen(factory, "before_flush", _before_flush)
    event.listen(factory, "after_flush", _after_flush)
    event.listen(factory, "after_commit", lambda s: _after_end(s, None))
    event.listen(factory, "after_rollback", lambda s: _after_end(s, None))


# --- verifying ------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditProblem:
    seq: int
    kind: str  # edited | inserted | deleted | broken_link | head
    message: str


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    last_seq: int
    head_seq: int
    head_authenticated: bool | None  # None: no secret to check the head's MAC with
    problem: AuditProblem | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _rows(conn: Connection, batch: int = 1000) -> Iterator[Any]:
    after = 0
    while True:
        chunk = conn.execute(
            select(_events).where(_events.c.seq > after).order_by(_events.c.seq).limit(batch)
        ).all()
        if not chunk:
            return
        yield from chunk
        after = int(chunk[-1].seq)


def verify(conn: Connection, secret: str | None = None) -> VerifyResult:
    """Walk the chain; the first problem found (an edited, inserted or deleted row, a broken
    link, or a head that does not match the chain or its MAC)."""
    head = conn.execute(select(_head).where(_head.c.id == HEAD_ID)).one_or_none()
    head_seq = int(head.seq) if head is not None else 0
    head_hash = str(head.hash) if head is not None else GENESIS_HASH
    expected, prev, checked = 1, GENESIS_HASH, 0

    def result(problem: AuditProblem | None, authenticated: bool | None = None) -> VerifyResult:
        return VerifyResult(
            problem is None, checked, expected - 1, head_seq, authenticated, problem
        )

    for row in _rows(conn):
        seq = int(row.seq)
        if seq != expected:
            gap = f"seq {expected}" if seq == expected + 1 else f"seq {expected}..{seq - 1}"
            return result(AuditProblem(expected, "deleted", f"{gap} missing (deleted rows)"))
        computed = event_hash(
            seq,
            row.ts,
            row.actor,
            row.action,
            row.object_type,
            row.object_id,
            row.payload,
            row.prev_hash,
        )
        if computed != row.hash:
            return result(
                AuditProblem(seq, "edited", f"seq {seq}: stored hash does not match its content")
            )
        if row.prev_hash != prev:
            return result(
                AuditProblem(
                    seq,
                    "broken_link",
                    f"seq {seq}: prev_hash is not seq {seq - 1}'s hash "
                    f"(seq {seq - 1} was changed and re-hashed, or a row was replaced)",
                )
            )
        prev = row.hash
        checked += 1
        expected += 1
    last = expected - 1
    if last > head_seq:
        return result(
            AuditProblem(
                head_seq + 1,
                "inserted",
                f"seq {head_seq + 1}..{last} lie beyond the chain head (seq {head_seq}): "
                "rows inserted outside the service",
            )
        )
    if last < head_seq:
        return result(
            AuditProblem(
                last + 1,
                "deleted",
                f"seq {last + 1}..{head_seq} missing: the chain head is at seq {head_seq}",
            )
        )
    if head_hash != prev:
        return result(
            AuditProblem(
                last, "head", f"the chain head's hash differs from seq {last}'s (re-hashed chain)"
            )
        )
    if secret is None:
        return result(None, None)
    mac = head.mac if head is not None else None
    if head_seq == 0 and mac is None:
        return result(None, True)
    if mac is None or not hmac.compare_digest(str(mac), head_mac(secret, head_seq, head_hash)):
        return result(
            AuditProblem(
                head_seq,
                "head",
                "the chain head's MAC does not match (a forged or re-hashed chain, or another "
                "secret key)",
            ),
            False,
        )
    return result(None, True)
