"""The append-only, hash-chained audit log.

Every ORM write through a session of :func:`synthlabel.service.db.engine.session_factory`
(insert, update, delete of any model whose ``__audit__`` is true) appends one ``audit_event`` in
the same transaction; :func:`record` appends an explicit event (logins, imports, Core-level
writes such as queue claims).

Appending and chaining are two steps, so that writers never wait for each other:

1. **Append** (in the writer's transaction, no lock): the row gets an ``id`` from the database
   (a PostgreSQL sequence; on SQLite, whose writers are serial anyway, the next rowid) and

       mac = HMAC-SHA256(service secret, canonical JSON of [id, ts, actor, action,
                                                            object_type, object_id, payload])

   It is *pending*: ``seq``, ``prev_hash`` and ``hash`` are empty. A rolled-back transaction
   leaves no row (its id is simply never used).
2. **Chain** (:func:`chain_pending`, run every second or so by the app and by each worker, and
   by ``synthlabel audit verify`` first): it locks the ``audit_chain_head`` row (``FOR UPDATE
   SKIP LOCKED``: one chainer at a time, the others skip), takes the committed pending rows in
   id order, checks each one's MAC, and gives it the next chain position ``seq`` with

       hash = SHA-256(canonical JSON of [seq, ts, actor, action, object_type, object_id,
                                         payload, prev_hash])

   ``prev_hash`` being the previous seq's hash (64 zeros for seq 1). The chain position is
   assigned when the row is chained, in the chainer's own transaction, so ``seq`` has no gaps
   whatever the order in which writers committed, and ids lost to rollbacks do not matter.
   The head row records the last seq and hash and an HMAC of them under the secret: a signed
   checkpoint, so a re-hashed, truncated or extended chain is caught by :func:`verify`.

:func:`verify` walks the chained rows (any edited, inserted or deleted chained row is found)
and reports the pending ones: their number, the oldest one's age, and any whose MAC does not
match (edited, or inserted by someone without the secret). A pending row deleted before it was
chained cannot be told from one that was never written: the chainer's interval bounds that
window.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import logging
import math
import threading
import uuid
import weakref
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Table,
    bindparam,
    func,
    insert,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.attributes import get_history

from synthlabel.service.db.models import AuditChainHead, AuditEvent, Base
from synthlabel.service.db.types import utcnow

GENESIS_HASH = "0" * 64
HEAD_ID = 1
REDACTED = "<redacted>"
#: Rows chained per chainer transaction.
CHAIN_BATCH = 2000

log = logging.getLogger("synthlabel.service")
_events: Table = AuditEvent.__table__  # type: ignore[assignment]
_head: Table = AuditChainHead.__table__  # type: ignore[assignment]


# --- hashing ------------------------------------------------------------------------------


def jsonable(value: Any) -> Any:
    """A JSON value that survives a database round trip unchanged (and so hashes the same)."""
    t = type(value)
    if t is str or t is int or t is bool or value is None:  # the common cases, fast
        return value
    if t is dict:
        return {k if type(k) is str else str(k): jsonable(v) for k, v in value.items()}
    if t is list:
        return [jsonable(v) for v in value]
    if isinstance(value, bool | int | str):
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


def _payload(value: Any) -> Any:
    # SQLite may hand JSON back as text when read with a plain text() query
    return json.loads(value) if isinstance(value, str) else value


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
    """A chained event's hash (the chain position ``seq`` and the previous hash included)."""
    return _event_hash(seq, ts, actor, action, object_type, object_id, jsonable(payload), prev_hash)


def _event_hash(
    seq: int,
    ts: datetime,
    actor: str,
    action: str,
    object_type: str | None,
    object_id: str | None,
    payload: Any,
    prev_hash: str,
) -> str:
    # payload: JSON values already (as read back from the database, or jsonable()'s)
    body = [seq, _ts(ts), actor, action, object_type, object_id, payload, prev_hash]
    return hashlib.sha256(canonical(body)).hexdigest()


def row_mac(
    secret: str,
    id_: int,
    ts: datetime,
    actor: str,
    action: str,
    object_type: str | None,
    object_id: str | None,
    payload: Any,
) -> str:
    """The MAC a row gets when it is appended: it proves a pending row was written by the
    service (and is not a copy: the id is in it) until the chainer links it."""
    return _row_mac(secret, id_, ts, actor, action, object_type, object_id, jsonable(payload))


def _row_mac(
    secret: str,
    id_: int,
    ts: datetime,
    actor: str,
    action: str,
    object_type: str | None,
    object_id: str | None,
    payload: Any,
) -> str:
    body = [id_, _ts(ts), actor, action, object_type, object_id, payload]
    msg = b"synthlabel-audit-row:" + canonical(body)
    return hmac.new(secret.encode(), msg, hashlib.sha256).hexdigest()


def head_mac(secret: str, seq: int, hash_: str) -> str:
    msg = f"synthlabel-audit-head:{seq}:{hash_}".encode()
    return hmac.new(secret.encode(), msg, hashlib.sha256).hexdigest()


def _mac_ok(row: Any, secret: str) -> bool:
    if not row.mac:
        return False
    expected = _row_mac(
        secret,
        int(row.id),
        row.ts,
        row.actor,
        row.action,
        row.object_type,
        row.object_id,
        _payload(row.payload),
    )
    return hmac.compare_digest(str(row.mac), expected)


# --- appending ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PendingEvent:
    action: str
    object_type: str | None
    object_id: str | None
    payload: dict[str, Any]


class _IdPool:
    """Event ids taken from the PostgreSQL sequence a block at a time, handed out in this
    process (a round trip per ``block`` events, not per transaction). Ids of a block that
    are never used (the process ends) are gaps, which mean nothing: the chain's order is the
    ``seq`` the chainer assigns."""

    def __init__(self, block: int = 256) -> None:
        self.block = block
        self.free: list[int] = []
        self.lock = threading.Lock()

    def take(self, conn: Connection, n: int) -> list[int]:
        with self.lock:
            if len(self.free) < n:
                more = conn.execute(
                    text("SELECT nextval('audit_event_id_seq') FROM generate_series(1, :n)"),
                    {"n": max(n, self.block)},
                ).scalars()
                self.free.extend(sorted(int(i) for i in more))
            ids, self.free = self.free[:n], self.free[n:]
            return ids


_pools: weakref.WeakKeyDictionary[Engine, _IdPool] = weakref.WeakKeyDictionary()
_pools_lock = threading.Lock()


def _new_ids(conn: Connection, n: int) -> list[int]:
    """``n`` fresh event ids (before the insert: the row MAC covers the id)."""
    if conn.dialect.name == "postgresql":
        with _pools_lock:
            pool = _pools.setdefault(conn.engine, _IdPool())
        return pool.take(conn, n)
    # SQLite: every transaction here begins IMMEDIATE (one writer at a time), so the next
    # rowids are free until this transaction ends.
    last = int(conn.execute(select(func.max(_events.c.id))).scalar() or 0)
    return list(range(last + 1, last + n + 1))


def append_events(
    conn: Connection, actor: str, events: list[PendingEvent], secret: str | None
) -> list[int]:
    """Write ``events`` as pending rows on ``conn`` now (inside its transaction, taking no
    lock); their ids. :func:`chain_pending` links them into the chain once committed."""
    if not events:
        return []
    ts = utcnow()
    rows = [
        (actor, ts, ev.action, ev.object_type, ev.object_id, jsonable(ev.payload)) for ev in events
    ]
    return _write(conn, rows, secret)


def record(
    session: Session,
    action: str,
    object_type: str | None = None,
    object_id: str | int | None = None,
    payload: dict[str, Any] | None = None,
) -> None:
    """Append an explicit event in ``session``'s transaction (written when it commits)."""
    ev = PendingEvent(
        action, object_type, None if object_id is None else str(object_id), payload or {}
    )
    _add(session, [ev])


# Events are buffered in the session and written in one statement when the transaction
# commits (one id fetch and one insert per transaction, not per flush). Inside a savepoint
# they are written at once, so that rolling the savepoint back drops them too.
_BUFFER = "_audit_buffer"


def _add(session: Session, events: list[PendingEvent]) -> None:
    actor = str(session.info.get("actor", "system"))
    ts = utcnow()
    rows = [
        (actor, ts, ev.action, ev.object_type, ev.object_id, jsonable(ev.payload)) for ev in events
    ]
    if session.in_nested_transaction():
        _write(session.connection(), rows, session.info.get("audit_secret"))
    else:
        session.info.setdefault(_BUFFER, []).extend(rows)


Row = tuple[str, datetime, str, str | None, str | None, Any]


def _write(conn: Connection, rows: list[Row], secret: str | None) -> list[int]:
    ids = _new_ids(conn, len(rows))
    values: list[dict[str, Any]] = []
    for id_, (actor, ts, action, object_type, object_id, payload) in zip(ids, rows, strict=True):
        values.append(
            {
                "id": id_,
                "ts": ts,
                "actor": actor,
                "action": action,
                "object_type": object_type,
                "object_id": object_id,
                "payload": payload,
                "mac": (
                    _row_mac(secret, id_, ts, actor, action, object_type, object_id, payload)
                    if secret
                    else None
                ),
            }
        )
    conn.execute(insert(_events), values)
    return ids


def _before_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint's release: its events were written already
    session.flush()  # the last changes' events join the buffer
    rows = session.info.pop(_BUFFER, None)
    if rows:
        _write(session.connection(), rows, session.info.get("audit_secret"))


def _after_transaction_end(session: Session, transaction: Any) -> None:
    if transaction.parent is None:  # the outer transaction: committed (written) or rolled back
        session.info.pop(_BUFFER, None)


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
        _add(session, events)


def install_audit_hooks(factory: sessionmaker[Session], secret: str | None = None) -> None:
    """Audit every ORM write of sessions made by ``factory``; ``secret`` signs the rows."""
    from sqlalchemy import event

    if secret is not None:
        factory.kw.setdefault("info", {})["audit_secret"] = secret
    event.listen(factory, "after_flush", _after_flush)
    event.listen(factory, "before_commit", _before_commit)
    event.listen(factory, "after_transaction_end", _after_transaction_end)


# --- chaining -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChainResult:
    chained: int  # rows linked into the chain by this call
    rejected: int  # pending rows left pending: their MAC does not match (verify reports them)
    busy: bool  # another chainer held the head (nothing done here)
    head_seq: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _lock_head(conn: Connection) -> tuple[int, str] | None:
    """The head's (seq, hash), locked for this transaction; None when another chainer holds
    it (PostgreSQL: ``SKIP LOCKED``; SQLite transactions are serial already)."""
    row = conn.execute(
        select(_head.c.seq, _head.c.hash)
        .where(_head.c.id == HEAD_ID)
        .with_for_update(skip_locked=True)
    ).one_or_none()
    if row is not None:
        return int(row.seq), str(row.hash)
    if conn.execute(select(_head.c.id).where(_head.c.id == HEAD_ID)).first() is not None:
        return None  # locked by another chainer
    # a database created without the migration's seed row
    conn.execute(insert(_head).values(id=HEAD_ID, seq=0, hash=GENESIS_HASH))
    return 0, GENESIS_HASH


_link = (
    update(_events)
    .where(_events.c.id == bindparam("b_id"), _events.c.seq.is_(None))
    .values(seq=bindparam("b_seq"), prev_hash=bindparam("b_prev"), hash=bindparam("b_hash"))
)


def _chain_batch(
    conn: Connection, secret: str | None, after_id: int, batch: int
) -> tuple[int, int, int, bool, int] | None:
    """One transaction's worth: (chained, rejected, last id read, more left, head seq), or
    None when the head is busy."""
    head = _lock_head(conn)
    if head is None:
        return None
    seq, prev = head
    rows = conn.execute(
        select(_events)
        .where(_events.c.seq.is_(None), _events.c.id > after_id)
        .order_by(_events.c.id)
        .limit(batch)
    ).all()
    links: list[dict[str, Any]] = []
    rejected = 0
    for r in rows:
        if secret is not None and not _mac_ok(r, secret):
            rejected += 1  # stays pending: verify names it
            continue
        seq += 1
        h = _event_hash(
            seq, r.ts, r.actor, r.action, r.object_type, r.object_id, _payload(r.payload), prev
        )
        links.append({"b_id": int(r.id), "b_seq": seq, "b_prev": prev, "b_hash": h})
        prev = h
    if links:
        conn.execute(_link, links)
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
    last = int(rows[-1].id) if rows else after_id
    return len(links), rejected, last, len(rows) == batch, seq


def chain_pending(
    engine: Engine, secret: str | None, *, batch: int = CHAIN_BATCH, max_rows: int | None = None
) -> ChainResult:
    """Link every committed pending event into the chain (``batch`` rows per transaction, at
    most ``max_rows`` in all); returns at once when another chainer is at work."""
    chained = rejected = after = 0
    head_seq = 0
    while True:
        with engine.begin() as conn:
            step = _chain_batch(conn, secret, after, batch)
        if step is None:
            return ChainResult(chained, rejected, True, head_seq)
        n, bad, after, more, head_seq = step
        chained += n
        rejected += bad
        if not more or (max_rows is not None and chained >= max_rows):
            return ChainResult(chained, rejected, False, head_seq)


class BackgroundChainer:
    """A daemon thread running :func:`chain_pending` every ``interval`` seconds (the app and
    each worker run one; ``SKIP LOCKED`` keeps them out of each other's way). Errors (a
    database that is down) are logged and the next round tries again."""

    def __init__(self, engine: Engine, secret: str | None, interval: float = 1.0) -> None:
        self.engine, self.secret, self.interval = engine, secret, interval
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, name="audit-chainer", daemon=True)

    def start(self) -> BackgroundChainer:
        if self.interval > 0:
            self.thread.start()
        return self

    def _run(self) -> None:
        while not self.stop_event.wait(self.interval):
            try:
                chain_pending(self.engine, self.secret)
            except Exception as exc:  # the database is down: the next round tries again
                log.warning("audit chainer: %s", str(exc).splitlines()[0] if str(exc) else exc)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the thread, then chain what is left once."""
        self.stop_event.set()
        if self.thread.is_alive():
            self.thread.join(timeout)
        with contextlib.suppress(Exception):
            chain_pending(self.engine, self.secret)


# --- verifying ------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditProblem:
    seq: int  # the chain position (0 for a pending row)
    kind: str  # edited | inserted | deleted | broken_link | head | forged
    message: str
    id: int | None = None  # the row's id, where there is one


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    last_seq: int
    head_seq: int
    head_authenticated: bool | None  # None: no secret to check the head's MAC with
    problem: AuditProblem | None
    pending: int = 0  # appended, not chained yet
    pending_oldest_s: float | None = None  # the oldest pending event's age, seconds

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _chained(conn: Connection, batch: int = 1000) -> Iterator[Any]:
    after = 0
    while True:
        chunk = conn.execute(
            select(_events).where(_events.c.seq > after).order_by(_events.c.seq).limit(batch)
        ).all()
        if not chunk:
            return
        yield from chunk
        after = int(chunk[-1].seq)


def _pending(conn: Connection, batch: int = 1000) -> Iterator[Any]:
    after = 0
    while True:
        chunk = conn.execute(
            select(_events)
            .where(_events.c.seq.is_(None), _events.c.id > after)
            .order_by(_events.c.id)
            .limit(batch)
        ).all()
        if not chunk:
            return
        yield from chunk
        after = int(chunk[-1].id)


def verify(conn: Connection, secret: str | None = None) -> VerifyResult:
    """Walk the chain, then the pending rows; the first problem found (an edited, inserted or
    deleted chained row, a broken link, a head that does not match the chain or its MAC, a
    pending row whose MAC does not match). The head is read ``FOR SHARE`` on PostgreSQL, so
    no chainer moves it while the walk runs."""
    head = conn.execute(
        select(_head).where(_head.c.id == HEAD_ID).with_for_update(read=True)
    ).one_or_none()
    head_seq = int(head.seq) if head is not None else 0
    head_hash = str(head.hash) if head is not None else GENESIS_HASH
    expected, prev, checked = 1, GENESIS_HASH, 0
    pending = 0
    oldest: datetime | None = None

    def result(problem: AuditProblem | None, authenticated: bool | None = None) -> VerifyResult:
        age = None
        if oldest is not None:
            ts = oldest if oldest.tzinfo else oldest.replace(tzinfo=UTC)
            age = round(max(0.0, (utcnow() - ts).total_seconds()), 3)
        return VerifyResult(
            problem is None,
            checked,
            expected - 1,
            head_seq,
            authenticated,
            problem,
            pending,
            age,
        )

    for row in _chained(conn):
        seq = int(row.seq)
        if seq != expected:
            gap = f"seq {expected}" if seq == expected + 1 else f"seq {expected}..{seq - 1}"
            return result(AuditProblem(expected, "deleted", f"{gap} missing (deleted rows)"))
        computed = _event_hash(
            seq,
            row.ts,
            row.actor,
            row.action,
            row.object_type,
            row.object_id,
            _payload(row.payload),
            row.prev_hash or "",
        )
        if computed != row.hash:
            return result(
                AuditProblem(
                    seq, "edited", f"seq {seq}: stored hash does not match its content", row.id
                )
            )
        if row.prev_hash != prev:
            return result(
                AuditProblem(
                    seq,
                    "broken_link",
                    f"seq {seq}: prev_hash is not seq {seq - 1}'s hash "
                    f"(seq {seq - 1} was changed and re-hashed, or a row was replaced)",
                    row.id,
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
    authenticated: bool | None = None
    if secret is not None:
        mac = head.mac if head is not None else None
        if head_seq == 0 and mac is None:
            authenticated = True
        elif mac is None or not hmac.compare_digest(
            str(mac), head_mac(secret, head_seq, head_hash)
        ):
            return result(
                AuditProblem(
                    head_seq,
                    "head",
                    "the chain head's MAC does not match (a forged or re-hashed chain, or "
                    "another secret key)",
                ),
                False,
            )
        else:
            authenticated = True
    count, first_ts = conn.execute(
        select(func.count(), func.min(_events.c.ts)).where(_events.c.seq.is_(None))
    ).one()
    pending, oldest = int(count or 0), first_ts
    if secret is not None and pending:
        for row in _pending(conn):
            if not _mac_ok(row, secret):
                return result(
                    AuditProblem(
                        0,
                        "forged",
                        f"pending event id {row.id}: its MAC does not match (edited, or "
                        "inserted outside the service)",
                        int(row.id),
                    ),
                    authenticated,
                )
    return result(None, authenticated)
