"""The hash-chained audit log: written with every change, in the same transaction; any edited,
inserted or deleted row is found (raw SQL tampering on SQLite and PostgreSQL); concurrent
writers cannot fork the chain."""

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
    result = _verify(chain)
    assert result.ok and result.checked == 5


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
    assert "argon2" not in dump and key.split("_")[2] not in dump


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


def test_concurrent_writers_do_not_fork_the_chain(pg_db: ServiceDB) -> None:
    engine = pg_db.engine()
    upgrade(engine)
    factory = session_factory(engine, SECRET)
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def writer(name: str) -> None:
        try:
            start.wait()
            for i in range(50):
                with session_scope(factory, actor=f"user:{name}") as s:
                    s.add(Provider(name=f"{name}-{i}"))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    result = _verify(engine)
    assert result.ok, result.problem
    assert result.checked == 100 and result.head_seq == 100
    with engine.connect() as conn:
        actors = [r[0] for r in conn.execute(text("SELECT actor FROM audit_event ORDER BY seq"))]
    assert actors.count("user:a") == 50 and actors.count("user:b") == 50
    assert len(set(actors[:60])) == 2  # they really interleaved


def test_cli_audit_verify_exit_codes(chain: Engine, test_db: ServiceDB, monkeypatch: Any) -> None:
    monkeypatch.setenv("SYNTHLABEL_SECRET_KEY", SECRET)
    runner = CliRunner()
    ok = runner.invoke(cli_app, ["audit", "verify", "--database-url", test_db.url, "--json"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["ok"] is True
    _delete_middle(chain)
    bad = runner.invoke(cli_app, ["audit", "verify", "--database-url", test_db.url, "--json"])
    assert bad.exit_code == 1
    body = json.loads(bad.stdout)
    assert body["problem"]["seq"] == 3 and body["problem"]["kind"] == "deleted"
    text_out = runner.invoke(cli_app, ["audit", "verify", "--database-url", test_db.url])
    assert text_out.exit_code == 1 and "seq 3" in text_out.output


def test_api_audit_list_and_verify(test_db: ServiceDB) -> None:
    from tests.service.conftest import make_service

    for svc in make_service(test_db.url):
        c, h = svc.client, svc.auth()
        c.post("/api/v1/providers", json={"name": "Audited"}, headers=h)
        page = c.get("/api/v1/audit", params={"limit": 2}, headers=h).json()
        assert len(page["items"]) == 2 and page["next_after_seq"] == 2
        rest = c.get("/api/v1/audit", params={"after_seq": 2}, headers=h).json()["items"]
        last = rest[-1]
        assert last["action"] == "provider.create" and last["actor"] == "user:root"
        assert c.get("/api/v1/audit/verify", headers=h).json()["ok"] is True
        _sql(svc.app.state.synthlabel.engine, "UPDATE audit_event SET action = 'x' WHERE seq = 1")
        v = c.get("/api/v1/audit/verify", headers=h).json()
        assert v["ok"] is False and v["problem"]["seq"] == 1 and v["problem"]["kind"] == "edited"
        reviewer = svc.add_user("rev", "reviewer")
        assert c.get("/api/v1/audit", headers=svc.auth(reviewer)).status_code == 403
