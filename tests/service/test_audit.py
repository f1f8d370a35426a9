"""The hash-chained audit log: written with every change, in the same transaction (pending),
linked into the chain afterwards by the chainer; any edited, inserted or deleted chained row is
found (raw SQL tampering on SQLite and PostgreSQL), pending rows are reported and forged ones
found; concurrent writers (with rollbacks, with a chainer running) give a valid chain."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine, select, text
from typer.testing import CliRunner

from synthlabel.cli.main import app as cli_app
from synthlabel.service import audit
from synthlabel.service.db.engine import session_factory, session_scope
from synthlabel.service.db.migrate import upgrade
from synthlabel.service.db.models import AuditEvent, Provider
from tests.service.conftest import ServiceDB

SECRET = "audit-test-secret"


@pytest.fixture
def chain(test_db: ServiceDB) -> Engine:
    """A database with 5 audited writes (4 creates, 1 update)."""
    engine = test_db.engine()
    upgrade(engine)
    factory = session_factory(engine, SECRET)
    for i in range(4):
        with session_scope(factory, actor=f"user:u{i}") as s:
            s.add(Provider(name=f"P{i}", contact="x"))
    with session_scope(factory, actor="user:u9") as s:
        p = s.execute(select(Provider).where(Provider.name == "P1")).scalar_one()
        p.contact = "new contact"
    assert audit.chain_pending(engine, SECRET).chained == 5
    return engine


def _verify(engine: Engine, secret: str | None = SECRET) -> audit.VerifyResult:
    with engine.connect() as conn:
        return audit.verify(conn, secret)


def _sql(engine: Engine, sql: str, **params: Any) -> None:
    with engine.begin() as conn:
        conn.execute(text(sql), params)


def _row(engine: Engine, seq: int) -> Any:
    with engine.connect() as conn:
        return conn.execute(select(AuditEvent.__table__).where(AuditEvent.seq == seq)).one()


def test_every_write_is_recorded_with_its_changes(chain: Engine) -> None:
    result = _verify(chain)
    assert result.ok and result.checked == 5 and result.head_authenticated is True
    assert result.pending == 0 and result.pending_oldest_s is None
    last = _row(chain, 5)
    assert last.action == "provider.update" and last.actor == "user:u9"
    payload = last.payload if isinstance(last.payload, dict) else json.loads(last.payload)
    assert payload == {"contact": {"old": "x", "new": "new contact"}}
    assert _row(chain, 1).prev_hash == audit.GENESIS_HASH
    assert _row(chain, 2).prev_hash == _row(chain, 1).hash


def test_rolled_back_write_leaves_no_event(chain: Engine) -> None:
    factory = session_factory(chain, SECRET)
    with pytest.raises(RuntimeError), session_scope(factory) as s:
        s.add(Provider(name="never"))
        s.flush()
        raise RuntimeError("abort")
    assert audit.chain_pending(chain, SECRET).chained == 0
    result = _verify(chain)
    assert result.ok and result.checked == 5 and result.pending == 0


def test_secrets_are_redacted_in_the_audit(test_db: ServiceDB) -> None:
    from synthlabel.service.auth import create_user, issue_key

    engine = test_db.engine()
    upgrade(engine)
    factory = session_factory(engine, SECRET)
    with session_scope(factory) as s:
        user = create_user(s, "alice", "admin", password="correct horse battery")
        key, _ = issue_key(s, user)
    with engine.connect() as conn:
        dump = str(conn.execute(text("SELECT payload FROM audit_event")).all())
    assert "<redacted>" in dump
    assert "argon2" not in dump and key.split("_", 2)[2] not in dump  # the secret part


Tamper = Callable[[Engine], None]


def _edit(engine: Engine) -> None:
    _sql(engine, "UPDATE audit_event SET actor = 'user:mallory' WHERE seq = 3")


def _edit_and_rehash(engine: Engine) -> None:
    r = _row(engine, 3)
    h = audit.event_hash(
        3, r.ts, "user:mallory", r.action, r.object_type, r.object_id, r.payload, r.prev_hash
    )
    if isinstance(r.payload, str):  # SQLite hands back the JSON text
        h = audit.event_hash(
            3,
            r.ts,
            "user:mallory",
            r.action,
            r.object_type,
            r.object_id,
            json.loads(r.payload),
            r.prev_hash,
        )
    _sql(engine, "UPDATE audit_event SET actor = 'user:mallory', hash = :h WHERE seq = 3", h=h)


def _delete_middle(engine: Engine) -> None:
    _sql(engine, "DELETE FROM audit_event WHERE seq = 3")


def _delete_last(engine: Engine) -> None:
    _sql(engine, "DELETE FROM audit_event WHERE seq = 5")


def _insert_valid_looking(engine: Engine) -> None:
    last = _row(engine, 5)
    from datetime import UTC, datetime

    ts = datetime(2026, 1, 1, tzinfo=UTC)
    h = audit.event_hash(6, ts, "user:mallory", "provider.delete", "provider", "1", {}, last.hash)
    _sql(
        engine,
        "INSERT INTO audit_event (seq, ts, actor, action, object_type, object_id, payload, "
        "prev_hash, hash) VALUES (6, :ts, 'user:mallory', 'provider.delete', 'provider', '1', "
        "'{}', :prev, :h)",
        ts=ts if engine.dialect.name != "sqlite" else "2026-01-01 00:00:00.000000",
        prev=last.hash,
        h=h,
    )


@pytest.mark.parametrize(
    ("tamper", "seq", "kind"),
    [
        (_edit, 3, "edited"),
        (_edit_and_rehash, 4, "broken_link"),
        (_delete_middle, 3, "deleted"),
        (_delete_last, 5, "deleted"),
        (_insert_valid_looking, 6, "inserted"),
    ],
    ids=["edit", "edit-rehash", "delete-middle", "delete-last", "insert"],
)
def test_tampering_is_found(chain: Engine, tamper: Tamper, seq: int, kind: str) -> None:
    assert _verify(chain).ok
    tamper(chain)
    result = _verify(chain)
    assert not result.ok
    assert result.problem is not None
    assert (result.problem.seq, result.problem.kind) == (seq, kind), result.problem


def test_a_fully_rehashed_chain_is_caught_by_the_signed_head(chain: Engine) -> None:
    """Someone with database access but not the secret rewrites seq 3 and re-hashes every row
    after it, and the head: consistent hashes, but the head's MAC gives it away."""
    with chain.begin() as conn:
        rows = conn.execute(select(AuditEvent.__table__).order_by(AuditEvent.seq)).all()
        prev = rows[1].hash
        for r in rows[2:]:
            actor = "user:mallory" if r.seq == 3 else r.actor
            payload = json.loads(r.payload) if isinstance(r.payload, str) else r.payload
            h = audit.event_hash(
                r.seq, r.ts, actor, r.action, r.object_type, r.object_id, payload, prev
            )
            conn.execute(
                text("UPDATE audit_event SET actor=:a, prev_hash=:p, hash=:h WHERE seq=:s"),
                {"a": actor, "p": prev, "h": h, "s": r.seq},
            )
            prev = h
        conn.execute(text("UPDATE audit_chain_head SET hash = :h WHERE id = 1"), {"h": prev})
    assert _verify(chain, secret=None).ok  # the chain alone looks fine...
    result = _verify(chain)
    assert not result.ok and result.problem is not None  # ...the signed head does not
    assert result.problem.kind == "head" and result.head_authenticated is False


def test_concurrent_writers_with_rollbacks_and_chainers_give_a_valid_chain(
    pg_db: ServiceDB,
) -> None:
    """Four writers on PostgreSQL (every fifth transaction rolled back after its audit row
    was written: the id sequence gets gaps), while two chainers run: every committed event
    is chained once, in a gap-free seq, and the chain verifies."""
    engine = pg_db.engine()
    upgrade(engine)
    factory = session_factory(engine, SECRET)
    errors: list[BaseException] = []
    start = threading.Barrier(4)
    names = ("a", "b", "c", "d")

    def writer(name: str) -> None:
        try:
            start.wait()
            for i in range(40):
                s = factory()
                s.info["actor"] = f"user:{name}"
                if i % 5 == 4:
                    with s.begin_nested():  # in a savepoint the audit row is written at once
                        s.add(Provider(name=f"{name}-{i}"))
                    s.rollback()  # ...and its id is lost with the transaction
                else:
                    s.add(Provider(name=f"{name}-{i}"))
                    s.commit()
                s.close()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    chainers = [audit.BackgroundChainer(engine, SECRET, 0.01).start() for _ in range(2)]
    threads = [threading.Thread(target=writer, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    for c in chainers:
        c.stop()
    assert not errors, errors
    result = _verify(engine)
    assert result.ok, result.problem
    assert result.checked == 128 and result.head_seq == 128 and result.pending == 0
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT id, seq, actor FROM audit_event ORDER BY seq")).all()
    assert [r.seq for r in rows] == list(range(1, 129))
    ids = sorted(r.id for r in rows)
    missing = set(range(ids[0], ids[-1] + 1)) - set(ids)
    assert len(missing) >= 24  # the 32 rolled-back events used ids too: gaps, no deletion
    actors = [r.actor for r in rows]
    assert all(actors.count(f"user:{n}") == 32 for n in names)
    assert len(set(actors[:40])) >= 2  # they really interleaved


def _pending_factory(engine: Engine) -> Any:
    upgrade(engine)
    return session_factory(engine, SECRET)


def test_pending_events_are_reported_then_chained(test_db: ServiceDB) -> None:
    engine = test_db.engine()
    factory = _pending_factory(engine)
    for i in range(3):
        with session_scope(factory, actor="user:p") as s:
            s.add(Provider(name=f"pending-{i}"))
    result = _verify(engine)
    assert result.ok and result.checked == 0 and result.pending == 3
    assert result.pending_oldest_s is not None and 0 <= result.pending_oldest_s < 60
    first = audit.chain_pending(engine, SECRET, batch=2)  # two transactions
    assert (first.chained, first.rejected, first.busy, first.head_seq) == (3, 0, False, 3)
    result = _verify(engine)
    assert result.ok and result.checked == 3 and result.pending == 0
    with session_scope(factory, actor="user:p") as s:
        s.add(Provider(name="later"))
    assert audit.chain_pending(engine, SECRET).chained == 1
    assert _verify(engine).checked == 4


def _first_pending(engine: Engine) -> Any:
    with engine.connect() as conn:
        return conn.execute(
            select(AuditEvent.__table__).where(AuditEvent.seq.is_(None)).order_by(AuditEvent.id)
        ).first()


def _pending_edit(engine: Engine) -> None:
    r = _first_pending(engine)
    _sql(engine, "UPDATE audit_event SET actor = 'user:mallory' WHERE id = :i", i=r.id)


def _pending_insert(engine: Engine) -> None:
    ts = "2026-01-01 00:00:00.000000" if engine.dialect.name == "sqlite" else "2026-01-01"
    _sql(
        engine,
        "INSERT INTO audit_event (ts, actor, action, object_type, object_id, payload) "
        "VALUES (:ts, 'user:mallory', 'provider.delete', 'provider', '1', '{}')",
        ts=ts,
    )


def _pending_replay(engine: Engine) -> None:
    """A copy of a genuine pending row, MAC and all, under a new id."""
    r = _first_pending(engine)
    payload = r.payload if isinstance(r.payload, str) else json.dumps(r.payload)
    _sql(
        engine,
        "INSERT INTO audit_event (id, ts, actor, action, object_type, object_id, payload, mac) "
        "VALUES (:i, :ts, :a, :ac, :ot, :oi, :p, :m)",
        i=r.id + 1000,
        ts=r.ts,
        a=r.actor,
        ac=r.action,
        ot=r.object_type,
        oi=r.object_id,
        p=payload,
        m=r.mac,
    )


@pytest.mark.parametrize(
    "tamper", [_pending_edit, _pending_insert, _pending_replay], ids=["edit", "insert", "replay"]
)
def test_forged_pending_rows_are_found_and_never_chained(
    test_db: ServiceDB, tamper: Tamper
) -> None:
    engine = test_db.engine()
    factory = _pending_factory(engine)
    for i in range(2):
        with session_scope(factory, actor="user:p") as s:
            s.add(Provider(name=f"genuine-{i}"))
    tamper(engine)
    result = _verify(engine)
    assert not result.ok and result.problem is not None
    assert result.problem.kind == "forged" and result.problem.id is not None
    chained = audit.chain_pending(engine, SECRET)
    assert chained.rejected == 1 and chained.chained == (1 if tamper is _pending_edit else 2)
    after = _verify(engine)  # the chain itself is fine; the forged row stays pending, named
    assert after.checked == chained.chained and after.pending == 1
    assert after.problem is not None and after.problem.kind == "forged"
    assert after.problem.id == result.problem.id


def test_chainers_skip_a_busy_head(pg_db: ServiceDB) -> None:
    engine = pg_db.engine()
    factory = _pending_factory(engine)
    with session_scope(factory) as s:
        s.add(Provider(name="x"))
    with engine.begin() as conn:
        conn.execute(text("SELECT 1 FROM audit_chain_head WHERE id = 1 FOR UPDATE"))
        busy = audit.chain_pending(engine, SECRET)  # another connection: does not wait
    assert busy.busy and busy.chained == 0
    assert audit.chain_pending(engine, SECRET).chained == 1


def test_an_existing_chain_survives_the_migration(test_db: ServiceDB) -> None:
    """A chain written before revision 0004 (seq as the key, no row MACs) still verifies
    after it, and new events continue it."""
    from datetime import UTC, datetime

    engine = test_db.engine()
    upgrade(engine, "0003")
    prev = audit.GENESIS_HASH
    with engine.begin() as conn:
        for seq in (1, 2, 3):
            ts = datetime(2026, 1, seq, tzinfo=UTC)
            h = audit.event_hash(seq, ts, "user:old", "x.create", "x", str(seq), {"n": seq}, prev)
            conn.execute(
                text(
                    "INSERT INTO audit_event (seq, ts, actor, action, object_type, object_id, "
                    "payload, prev_hash, hash) VALUES (:s, :ts, 'user:old', 'x.create', 'x', "
                    ":o, :p, :prev, :h)"
                ),
                {
                    "s": seq,
                    "ts": ts if engine.dialect.name != "sqlite" else f"2026-01-0{seq} 00:00:00",
                    "o": str(seq),
                    "p": json.dumps({"n": seq}),
                    "prev": prev,
                    "h": h,
                },
            )
            prev = h
        conn.execute(
            text("UPDATE audit_chain_head SET seq = 3, hash = :h, mac = :m WHERE id = 1"),
            {"h": prev, "m": audit.head_mac(SECRET, 3, prev)},
        )
    upgrade(engine)
    assert _verify(engine).ok and _verify(engine).checked == 3
    factory = session_factory(engine, SECRET)
    with session_scope(factory) as s:
        s.add(Provider(name="after"))
    assert audit.chain_pending(engine, SECRET).chained == 1
    result = _verify(engine)
    assert result.ok and result.checked == 4 and result.head_authenticated is True
    with engine.connect() as conn:
        ids = [r[0] for r in conn.execute(text("SELECT id FROM audit_event ORDER BY seq"))]
    assert ids[:3] == [1, 2, 3] and ids[3] > 3


def test_cli_audit_verify_exit_codes(chain: Engine, test_db: ServiceDB, monkeypatch: Any) -> None:
    monkeypatch.setenv("SYNTHLABEL_SECRET_KEY", SECRET)
    with session_scope(session_factory(chain, SECRET)) as s:
        s.add(Provider(name="pending"))
    runner = CliRunner()
    args = ["audit", "verify", "--database-url", test_db.url]
    only_read = runner.invoke(cli_app, [*args, "--no-chain"])
    assert only_read.exit_code == 0, only_read.output
    assert "1 events pending" in only_read.output
    ok = runner.invoke(cli_app, [*args, "--json"])
    assert ok.exit_code == 0, ok.output
    body = json.loads(ok.stdout)
    assert body["ok"] is True and body["chained_now"] == 1 and body["pending"] == 0
    assert body["checked"] == 6
    _delete_middle(chain)
    bad = runner.invoke(cli_app, ["audit", "verify", "--database-url", test_db.url, "--json"])
    assert bad.exit_code == 1
    body = json.loads(bad.stdout)
    assert body["problem"]["seq"] == 3 and body["problem"]["kind"] == "deleted"
    text_out = runner.invoke(cli_app, ["audit", "verify", "--database-url", test_db.url])
    assert text_out.exit_code == 1 and "seq 3" in text_out.output


def test_api_audit_list_and_verify(test_db: ServiceDB) -> None:
    from tests.service.conftest import make_service

    for svc in make_service(test_db.url, audit_chain_seconds=0):  # chained by hand below
        c, h = svc.client, svc.auth()
        c.post("/api/v1/providers", json={"name": "Audited"}, headers=h)
        page = c.get("/api/v1/audit", params={"limit": 2}, headers=h).json()
        assert len(page["items"]) == 2 and page["next_after_id"] == page["items"][1]["id"]
        after = page["next_after_id"]
        rest = c.get("/api/v1/audit", params={"after_id": after}, headers=h).json()["items"]
        last = rest[-1]
        assert last["action"] == "provider.create" and last["actor"] == "user:root"
        assert last["seq"] is None and last["hash"] is None  # pending until chained
        v = c.get("/api/v1/audit/verify", headers=h).json()
        assert v["ok"] is True and v["pending"] >= 1
        audit.chain_pending(svc.app.state.synthlabel.engine, svc.settings.secret_key)
        v = c.get("/api/v1/audit/verify", headers=h).json()
        assert v["ok"] is True and v["pending"] == 0 and v["checked"] >= 3
        listed = c.get("/api/v1/audit", params={"after_id": after}, headers=h).json()["items"]
        assert listed[-1]["seq"] == v["head_seq"] and len(listed[-1]["hash"]) == 64
        _sql(svc.app.state.synthlabel.engine, "UPDATE audit_event SET action = 'x' WHERE seq = 1")
        v = c.get("/api/v1/audit/verify", headers=h).json()
        assert v["ok"] is False and v["problem"]["seq"] == 1 and v["problem"]["kind"] == "edited"
        reviewer = svc.add_user("rev", "reviewer")
        assert c.get("/api/v1/audit", headers=svc.auth(reviewer)).status_code == 403


def test_the_migration_goes_down_and_up_with_the_chain(chain: Engine) -> None:
    """0004 down (refused while events are pending; else back to seq as the key) and up
    again: the chain still verifies and new events continue it."""
    from alembic import command

    from synthlabel.service.db.migrate import alembic_config

    factory = session_factory(chain, SECRET)
    with session_scope(factory) as s:
        s.add(Provider(name="pending"))
    with pytest.raises(RuntimeError, match="not chained yet"):
        command.downgrade(alembic_config(chain), "0003")
    assert audit.chain_pending(chain, SECRET).chained == 1
    command.downgrade(alembic_config(chain), "0003")
    from sqlalchemy import inspect as sa_inspect

    cols = {c["name"] for c in sa_inspect(chain).get_columns("audit_event")}
    assert "id" not in cols and "mac" not in cols and "seq" in cols
    upgrade(chain)
    assert _verify(chain).ok and _verify(chain).checked == 6
    with session_scope(factory) as s:
        s.add(Provider(name="after"))
    assert audit.chain_pending(chain, SECRET).chained == 1
    result = _verify(chain)
    assert result.ok and result.checked == 7 and result.head_authenticated is True
