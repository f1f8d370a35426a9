"""A worker SIGKILLed in the middle of a job loses nothing and does nothing twice.

Real worker processes (``synthlabel worker``) on SQLite and PostgreSQL: the first is slowed by
the test hook (``SYNTHLABEL_WORKER_TEST_DELAY``: it sleeps after inspecting, before it commits)
and killed with SIGKILL while it holds a job; a second worker, started after the lease ran out,
finishes everything. Every accepted item ends ``done`` with exactly one inspection, one
``inspection.create`` audit event and one ``work_queue`` ``done``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from synthlabel.service.db.models import AuditEvent, ContentRecord, Finding, Inspection, WorkItem
from tests.service.conftest import Service, make_service
from tests.service.ingest_helpers import jpeg, labelled_jpeg, photo, upload

LEASE_S = 3
N = 4


@pytest.fixture
def svc(db_url: str, tmp_path: Path) -> Iterator[Service]:
    yield from make_service(db_url, blob_dir=tmp_path / "blobs", job_lease_seconds=LEASE_S)


def _worker(svc: Service, *args: str, delay: float = 0.0) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "SYNTHLABEL_SECRET_KEY": svc.settings.secret_key,
        "SYNTHLABEL_BLOB_DIR": str(svc.settings.blob_dir),
        "SYNTHLABEL_REGISTRY_PATH": str(svc.settings.registry_path),
        "SYNTHLABEL_JOB_LEASE_SECONDS": str(LEASE_S),
        "SYNTHLABEL_WORKER_TEST_DELAY": str(delay),
    }
    cmd = [
        sys.executable,
        "-m",
        "synthlabel.cli.main",
        "worker",
        "--database-url",
        svc.settings.database_url,
        "--poll",
        "0.1",
        *args,
    ]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _running_jobs(svc: Service) -> int:
    with svc.session() as s:
        return int(s.scalar(select(func.count()).where(WorkItem.status == "running")) or 0)


def test_sigkill_mid_job_then_every_item_done_exactly_once(svc: Service) -> None:
    items = []
    for i in range(N):
        data = labelled_jpeg(i, f"PID-kill-{i}") if i % 2 else jpeg(photo(100 + i))
        r = upload(svc.client, svc.auth(), data, f"f{i}.jpg")
        assert r.status_code == 202
        items.append(r.json()["item_id"])

    first = _worker(svc, delay=30)
    try:
        deadline = time.monotonic() + 60
        while _running_jobs(svc) == 0:  # it claimed a job and is inside it
            assert first.poll() is None, first.stderr.read().decode() if first.stderr else ""
            assert time.monotonic() < deadline, "the worker never claimed a job"
            time.sleep(0.05)
        time.sleep(0.5)
        in_flight = _running_jobs(svc)  # the killed worker's batch (up to --batch jobs)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == -signal.SIGKILL
    with svc.session() as s:
        assert s.scalar(select(func.count()).select_from(Inspection)) == 0  # nothing half-done
        assert s.scalar(select(func.count()).where(ContentRecord.status == "done")) == 0

    time.sleep(LEASE_S + 0.5)  # the killed worker's lease runs out
    second = _worker(svc, "--once", "--json")
    _out, err = second.communicate(timeout=120)
    assert second.returncode == 0, err.decode()

    with svc.session() as s:
        for item_id in items:
            rec = s.get(ContentRecord, item_id)
            assert rec is not None and rec.status == "done", item_id
            n_insp = s.scalar(select(func.count()).where(Inspection.content_record_id == item_id))
            assert n_insp == 1, f"{item_id}: {n_insp} inspections"
            n_created = s.scalar(
                select(func.count()).where(
                    AuditEvent.action == "inspection.create",
                    AuditEvent.payload["content_record_id"].as_string() == item_id,
                )
            )
            assert n_created == 1
        jobs = s.scalars(select(WorkItem)).all()
        assert len(jobs) == N and all(j.status == "done" for j in jobs)
        # the jobs the killed worker held ran twice, the others once
        assert sorted(j.attempts for j in jobs) == [1] * (N - in_flight) + [2] * in_flight
        assert in_flight >= 1
        done_events = s.scalars(
            select(AuditEvent.payload).where(AuditEvent.action == "work_queue.update")
        ).all()
        dones = [p for p in done_events if (p.get("status") or {}).get("new") == "done"]
        assert len(dones) == N
        findings = s.scalar(select(func.count()).select_from(Finding))
        labelled = sum(1 for i in range(N) if i % 2)
        assert findings >= labelled  # labelled items carry their record's evidence once
