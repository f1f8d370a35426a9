"""PostgreSQL connections killed during ingest and work: nothing accepted is lost.

The shared server cannot be restarted here, so the outage is simulated from another session:
``pg_terminate_backend`` on every connection of the service (found by its
``application_name``), again and again while items are ingested and worked. The engine throws
dead pooled connections away (``pool_pre_ping``) and :func:`synthlabel.service.txn.transaction`
runs a failed transaction again; a request that still fails gets 503 and the client retries it
with the same ``Idempotency-Key``. At the end every accepted item exists once, is done once,
and the audit chain verifies.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import func, select

from synthlabel.service import audit
from synthlabel.service.db.models import ContentRecord, Inspection, WorkItem
from synthlabel.service.txn import DatabaseUnavailable
from synthlabel.service.worker import Worker
from tests.service.conftest import PG_URL, Service, ServiceDB, make_service
from tests.service.ingest_helpers import jpeg, photo, upload

N = 30


class Killer(threading.Thread):
    """Terminates the service's backends every ``every`` seconds until stopped."""

    def __init__(self, app_name: str, every: float) -> None:
        super().__init__(daemon=True)
        self.app_name, self.every = app_name, every
        self.stop = threading.Event()
        self.killed = 0

    def run(self) -> None:
        with psycopg.connect(PG_URL.replace("+psycopg", ""), autocommit=True) as conn:
            while not self.stop.is_set():
                rows = conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = 'test' AND pid <> pg_backend_pid() "
                    "AND application_name = %s",
                    (self.app_name,),
                ).fetchall()
                self.killed += sum(1 for (ok,) in rows if ok)
                self.stop.wait(self.every)


@pytest.fixture
def outage(pg_db: ServiceDB, tmp_path: Path) -> Iterator[tuple[Service, str]]:
    name = f"sltest_outage_{secrets.token_hex(4)}"
    url = f"{pg_db.url}&application_name={name}"
    for svc in make_service(url, blob_dir=tmp_path / "blobs"):
        yield svc, name


def test_killed_connections_during_ingest_and_work_lose_nothing(
    outage: tuple[Service, str],
) -> None:
    svc, app_name = outage
    datas = [jpeg(photo(200 + i, 96, 72)) for i in range(N)]
    killer = Killer(app_name, every=0.15)
    killer.start()
    accepted: dict[str, str] = {}
    unavailable = 0
    try:
        for i, data in enumerate(datas):
            for _ in range(40):
                r = upload(svc.client, svc.auth(), data, f"o{i}.jpg", key=f"outage-{i}")
                if r.status_code == 202:
                    accepted[f"outage-{i}"] = r.json()["item_id"]
                    break
                assert r.status_code == 503, r.text  # never a 500, never a lost item
                unavailable += 1
                time.sleep(0.05)
        killed_during_ingest = killer.killed
        # The worker under the same outage.
        worker = Worker(svc.settings, retention_every=0, poll=0.05)
        deadline = time.monotonic() + 120
        while True:
            with contextlib.suppress(DatabaseUnavailable):
                worker.run_until_idle()
            try:
                with svc.session() as s:
                    left = s.scalar(select(func.count()).where(WorkItem.status != "done"))
            except Exception:  # a killed connection (the query or the close); ask again
                continue
            if left == 0:
                break
            assert time.monotonic() < deadline, f"{left} jobs not done"
            time.sleep(0.1)
        worker.close()
    finally:
        killer.stop.set()
        killer.join(timeout=10)
    assert len(accepted) == N
    assert killed_during_ingest > 0 and killer.killed > killed_during_ingest
    with svc.session() as s:
        recs = s.scalars(select(ContentRecord)).all()
        assert len(recs) == N and {r.id for r in recs} == set(accepted.values())
        assert all(r.status == "done" for r in recs)
        assert s.scalar(select(func.count()).select_from(WorkItem)) == N
        per_item = s.execute(
            select(Inspection.content_record_id, func.count()).group_by(
                Inspection.content_record_id
            )
        ).all()
        assert len(per_item) == N and all(n == 1 for _, n in per_item)
    with svc.app.state.synthlabel.engine.connect() as conn:
        assert audit.verify(conn, svc.settings.secret_key).ok
    print(f"killed {killer.killed} connections; {unavailable} requests answered 503 and retried")
