"""Ingest, items, jobs, the synchronous inspect endpoint and the queue, on SQLite and
PostgreSQL: idempotency keys, path ingest under allowed roots only, one transaction per
accepted item, retries with backoff, dead jobs, fencing of lost leases, routing to review."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update

from synthlabel.service import queue
from synthlabel.service.db.models import (
    AuditEvent,
    ContentRecord,
    Inspection,
    ReviewJob,
    WorkItem,
)
from synthlabel.service.db.types import utcnow
from tests.service.conftest import Service, make_service
from tests.service.ingest_helpers import a1111_png, jpeg, labelled_jpeg, photo, run_worker, upload

P = "/api/v1"


@pytest.fixture
def svc(db_url: str, tmp_path: Path) -> Iterator[Service]:
    roots = tmp_path / "incoming"
    roots.mkdir()
    yield from make_service(db_url, blob_dir=tmp_path / "blobs", ingest_roots=str(roots))


def _count(svc: Service, stmt: Any) -> int:
    with svc.session() as s:
        return int(s.scalar(stmt) or 0)


def test_ingest_idempotency_worker_and_item(svc: Service) -> None:
    c, h = svc.client, svc.auth()
    data = labelled_jpeg(1, "PID-ingest-1")
    r = upload(c, h, data, "photo.jpg", key="key-1")
    assert r.status_code == 202, r.text
    first = r.json()
    assert first["created"] is True and first["status"] == "pending"
    # The same key: the same item and job, never a second one.
    again = upload(c, h, data, "photo.jpg", key="key-1")
    assert again.status_code == 202 and again.headers["idempotent-replayed"] == "true"
    assert (again.json()["item_id"], again.json()["job_id"]) == (first["item_id"], first["job_id"])
    # The same key for other content is a conflict.
    assert upload(c, h, jpeg(photo(2)), key="key-1").status_code == 409
    assert _count(svc, select(func.count()).select_from(ContentRecord)) == 1
    assert _count(svc, select(func.count()).select_from(WorkItem)) == 1

    item = c.get(f"{P}/items/{first['item_id']}", headers=h).json()
    assert item["status"] == "pending" and item["verdict"] is None
    assert item["job"]["status"] == "pending"

    stats = run_worker(svc)
    assert stats["jobs_done"] == 1
    item = c.get(f"{P}/items/{first['item_id']}", headers=h).json()
    assert item["status"] == "done" and item["verdict"] == "confirmed"
    assert item["record"]["ProduceID"] == "PID-ingest-1"
    assert item["label_value"] == "1"
    assert any(e["code"].startswith("aigc.record") for e in item["evidence"])
    assert item["sha256"] and item["filename"] == "photo.jpg"
    assert item["job"]["status"] == "done" and item["job"]["attempts"] == 1
    job = c.get(f"{P}/jobs/{first['job_id']}", headers=h).json()
    assert job["result"]["verdict"] == "confirmed"
    # the stored copy is content-addressed, and kept at least 183 days
    assert (svc.settings.blob_dir / item["sha256"][:2] / f"{item['sha256']}.jpg").is_file()
    with svc.session() as s:
        rec = s.get(ContentRecord, first["item_id"])
        assert rec.retain_until - rec.created_at >= timedelta(days=183)


def test_stripped_upload_gets_a_perceptual_hash(svc: Service) -> None:
    r = upload(svc.client, svc.auth(), jpeg(photo(3)))
    run_worker(svc)
    item = svc.client.get(f"{P}/items/{r.json()['item_id']}", headers=svc.auth()).json()
    assert item["verdict"] == "no_trace"
    assert item["perceptual_hash"].startswith("pdq:") and len(item["perceptual_hash"]) == 68


def test_items_are_visible_to_staff_and_their_submitter_only(svc: Service) -> None:
    p1 = svc.add_user("platform-a", "provider")
    p2 = svc.add_user("platform-b", "provider")
    r = upload(svc.client, svc.auth(p1), jpeg(photo(4)))
    assert r.status_code == 202
    item_id = r.json()["item_id"]
    assert svc.client.get(f"{P}/items/{item_id}", headers=svc.auth(p1)).status_code == 200
    assert svc.client.get(f"{P}/items/{item_id}", headers=svc.auth(p2)).status_code == 404
    assert svc.client.get(f"{P}/items/{item_id}", headers=svc.auth()).status_code == 200
    pub = svc.add_user("someone", "public")
    assert upload(svc.client, svc.auth(pub), jpeg(photo(4))).status_code == 403
    assert svc.client.get(f"{P}/items/not-an-id", headers=svc.auth()).status_code == 404


def test_path_ingest_only_under_allowed_roots(svc: Service, tmp_path: Path) -> None:
    c, h = svc.client, svc.auth()
    inside = tmp_path / "incoming" / "a.jpg"
    inside.write_bytes(jpeg(photo(5)))
    r = c.post(f"{P}/ingest", json={"path": str(inside)}, headers=h)
    assert r.status_code == 202, r.text
    assert inside.read_bytes() == jpeg(photo(5))  # the original is not touched
    outside = tmp_path / "secret.jpg"
    outside.write_bytes(b"\xff\xd8secret")
    assert c.post(f"{P}/ingest", json={"path": str(outside)}, headers=h).status_code == 403
    escape = tmp_path / "incoming" / "link.jpg"
    escape.symlink_to(outside)
    assert c.post(f"{P}/ingest", json={"path": str(escape)}, headers=h).status_code == 403
    dotdot = str(tmp_path / "incoming" / ".." / "secret.jpg")
    assert c.post(f"{P}/ingest", json={"path": dotdot}, headers=h).status_code == 403
    missing = c.post(f"{P}/ingest", json={"path": str(tmp_path / "incoming" / "no.jpg")}, headers=h)
    assert missing.status_code == 422 and "does not exist" in missing.json()["detail"]
    assert c.post(f"{P}/ingest", json={"url": "http://127.0.0.1/x"}, headers=h).status_code == 422
    assert (
        c.post(f"{P}/ingest", content=b"x", headers={**h, "Content-Type": "text/plain"}).status_code
        == 415
    )
    assert c.post(f"{P}/ingest", files={"other": ("a", b"x")}, headers=h).status_code == 422


def test_path_ingest_is_off_without_roots(db_url: str, tmp_path: Path) -> None:
    for svc in make_service(db_url, blob_dir=tmp_path / "b"):
        f = tmp_path / "a.jpg"
        f.write_bytes(jpeg(photo(6)))
        r = svc.client.post(f"{P}/ingest", json={"path": str(f)}, headers=svc.auth())
        assert r.status_code == 403 and "path ingest is off" in r.json()["detail"]


def test_inspect_endpoint_answers_and_records(svc: Service) -> None:
    c, h = svc.client, svc.auth()
    r = c.post(
        f"{P}/inspect",
        files={"file": ("l.jpg", labelled_jpeg(7, "PID-sync"), "image/jpeg")},
        headers=h,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["verdict"] == "confirmed" and body["status"] == "done"
    assert body["record"]["ProduceID"] == "PID-sync"
    assert _count(svc, select(func.count()).select_from(Inspection)) == 1
    bad = c.post(
        f"{P}/inspect",
        files={"file": ("x.bin", b"\x00\x01garbage", "application/octet-stream")},
        headers=h,
    )
    assert bad.status_code == 422 and "cannot inspect" in bad.json()["detail"]
    assert c.post(f"{P}/inspect", json={"path": "/etc/passwd"}, headers=h).status_code == 415


def test_inspect_refuses_big_files(db_url: str, tmp_path: Path) -> None:
    for svc in make_service(db_url, blob_dir=tmp_path / "b", inspect_max_bytes=1000):
        r = svc.client.post(
            f"{P}/inspect",
            files={"file": ("a.jpg", jpeg(photo(8)), "image/jpeg")},
            headers=svc.auth(),
        )
        assert r.status_code == 413


def test_possible_items_are_routed_to_review(svc: Service) -> None:
    r = upload(svc.client, svc.auth(), a1111_png(9), "gen.png")
    run_worker(svc)
    item = svc.client.get(f"{P}/items/{r.json()['item_id']}", headers=svc.auth()).json()
    assert item["verdict"] == "possible"
    with svc.session() as s:
        jobs = s.scalars(select(ReviewJob).where(ReviewJob.subject_id == item["id"])).all()
    assert len(jobs) == 1 and jobs[0].status == "pending"


# --- the queue itself -------------------------------------------------------------------------


def _enqueue(svc: Service, n: int = 1, max_attempts: int = 3) -> list[int]:
    with svc.session() as s:
        s.info["actor"] = "test"
        ids = [queue.enqueue(s, "ingest", {"n": i}, max_attempts=max_attempts).id for i in range(n)]
        s.commit()
    return ids


def _claim(svc: Service, worker: str = "w", lease: int = 60, limit: int = 1) -> list[queue.Job]:
    with svc.session() as s:
        s.info["actor"] = "test"
        jobs = queue.claim(s, worker, lease_seconds=lease, limit=limit)
        s.commit()
    return jobs


def test_claim_retry_backoff_and_dead(svc: Service) -> None:
    [jid] = _enqueue(svc, max_attempts=2)
    [job] = _claim(svc)
    assert job.id == jid and job.attempts == 1
    assert _claim(svc) == []  # leased: nobody else gets it
    with svc.session() as s:
        s.info["actor"] = "test"
        assert queue.retry(s, job, "boom", rng=random.Random(1)) == "pending"
        s.commit()
        row = s.get(WorkItem, jid)
        delay = (row.run_after - utcnow()).total_seconds()
    assert 0.5 <= delay <= 2.1 and row.last_error == "boom"
    assert _claim(svc) == []  # backing off
    with svc.session() as s:
        s.execute(update(WorkItem).values(run_after=utcnow() - timedelta(seconds=1)))
        s.commit()
    [job2] = _claim(svc)
    assert job2.attempts == 2
    with svc.session() as s:
        s.info["actor"] = "test"
        assert queue.retry(s, job2, "boom again") == "dead"
        s.commit()
        assert s.get(WorkItem, jid).status == "dead"
        actions = s.scalars(select(AuditEvent.action).where(AuditEvent.object_id == str(jid))).all()
    assert actions.count("work_queue.claim") == 2
    assert "work_queue.retry" in actions and "work_queue.dead" in actions


def test_backoff_grows_and_is_jittered() -> None:
    rng = random.Random(7)
    d = [queue.backoff(a, rng) for a in (1, 2, 3, 4, 10, 30)]
    assert 1 <= d[0] <= 2 and 2 <= d[1] <= 4 and 4 <= d[2] <= 8 and 8 <= d[3] <= 16
    assert d[-1] <= queue.BACKOFF_CAP_S
    assert len({round(queue.backoff(3), 6) for _ in range(20)}) > 1


def test_expired_lease_runs_again_and_the_old_claim_cannot_finish(svc: Service) -> None:
    [jid] = _enqueue(svc)
    [old] = _claim(svc, "dead-worker", lease=60)
    with svc.session() as s:  # its worker died: the lease runs out
        s.execute(update(WorkItem).values(locked_until=utcnow() - timedelta(seconds=1)))
        s.commit()
    [new] = _claim(svc, "live-worker")
    assert new.id == jid and new.attempts == 2 and new.token != old.token
    with svc.session() as s:
        s.info["actor"] = "test"
        assert queue.finish(s, old, result={"by": "old"}) is False
        s.rollback()
    with svc.session() as s:
        s.info["actor"] = "test"
        assert queue.finish(s, new, result={"by": "new"}) is True
        s.commit()
        row = s.get(WorkItem, jid)
    assert row.status == "done" and row.result == {"by": "new"}


def test_lease_expired_on_the_last_attempt_is_dead(svc: Service) -> None:
    [jid] = _enqueue(svc, max_attempts=1)
    _claim(svc)
    with svc.session() as s:
        s.execute(update(WorkItem).values(locked_until=utcnow() - timedelta(seconds=1)))
        s.commit()
    assert _claim(svc) == []
    with svc.session() as s:
        assert s.get(WorkItem, jid).status == "dead"


def test_claims_in_order_and_in_batches(svc: Service) -> None:
    ids = _enqueue(svc, 5)
    jobs = _claim(svc, limit=3)
    assert [j.id for j in jobs] == ids[:3]
    assert [j.id for j in _claim(svc, limit=10)] == ids[3:]


def test_a_failing_job_is_retried_by_the_worker(
    svc: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    from synthlabel.service import ingest

    r = upload(svc.client, svc.auth(), jpeg(photo(10)))
    calls = {"n": 0}
    real = ingest.process_batch

    def flaky(*a: Any, **k: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("transient trouble")
        return real(*a, **k)

    monkeypatch.setattr(ingest, "process_batch", flaky)
    assert run_worker(svc)["jobs_retried"] == 1
    with svc.session() as s:
        s.execute(update(WorkItem).values(run_after=utcnow() - timedelta(seconds=1)))
        s.commit()
    assert run_worker(svc)["jobs_done"] == 1
    item = svc.client.get(f"{P}/items/{r.json()['item_id']}", headers=svc.auth()).json()
    assert item["status"] == "done" and item["job"]["attempts"] == 2
    assert "transient trouble" in item["job"]["last_error"]
    assert _count(svc, select(func.count()).select_from(Inspection)) == 1


def test_one_bad_job_in_a_batch_does_not_hold_back_the_others(
    svc: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    from synthlabel.service import ingest

    ids = [upload(svc.client, svc.auth(), jpeg(photo(20 + i))).json()["item_id"] for i in range(3)]
    real = ingest._finish_item

    def poisoned(s: Any, rec: ContentRecord, *a: Any, **k: Any) -> Any:
        if rec.id == ids[1]:
            raise RuntimeError("poison")
        return real(s, rec, *a, **k)

    monkeypatch.setattr(ingest, "_finish_item", poisoned)
    stats = run_worker(svc)
    assert stats["jobs_done"] == 2 and stats["jobs_retried"] == 1
    with svc.session() as s:
        status = {i: s.get(ContentRecord, i).status for i in ids}
    assert status == {ids[0]: "done", ids[1]: "pending", ids[2]: "done"}
    assert _count(svc, select(func.count()).select_from(Inspection)) == 2


def test_worker_warm_up_loads_the_plugins_before_the_first_job(tmp_path: Path) -> None:
    """A fresh worker process loads the format and detector plug-ins and the trace rules
    before it claims a job (the first jobs otherwise pay ~1.5 s of imports)."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from synthlabel.service.settings import Settings\n"
        "from synthlabel.service.worker import Worker\n"
        f"url = 'sqlite:///{tmp_path}/w.db'\n"
        "s = Settings.load(env={}, database_url=url, secret_key='k' * 20)\n"
        "w = Worker(s, retention_every=0)\n"
        "import synthlabel.formats.registry as f\n"
        "assert f._handlers is None\n"
        "w.warm_up()\n"
        "from synthlabel.detect import registry as d\n"
        "mods = ('synthlabel.detect.traces', 'synthlabel.formats.jpeg')\n"
        "print(f._handlers is not None, d._point._items is not None,\n"
        "      *(m in sys.modules for m in mods))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.split() == ["True"] * 4, out.stdout + out.stderr
