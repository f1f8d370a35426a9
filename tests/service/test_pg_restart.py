"""PostgreSQL really restarted during ingest and work: nothing accepted is lost.

The test runs its own PostgreSQL server (``initdb`` + ``pg_ctl`` from the installed
PostgreSQL, in a temporary directory, on a free port), so restarting it disturbs no other test
or user of the shared server. While items are uploaded it restarts the server twice: once with
``pg_ctl restart -m fast`` (connections terminated, clean shutdown) and once with
``-m immediate`` (a crash: no shutdown checkpoint, WAL recovery on start); then once more
while the worker runs the jobs. Requests that fail while the server is away get 503 and the
client repeats them with the same ``Idempotency-Key``. At the end every accepted item exists
once and is done once, and the audit chain verifies.

Marked ``pg_restart``: ``make test`` runs these after the main (parallel) run, on their own.
Skipped, with the reason, where there is no ``initdb``/``pg_ctl``, or where the tests run as
root and there is no ``postgres`` account to run the server as.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import func, select

from synthlabel.service import audit
from synthlabel.service.db.models import ContentRecord, Inspection, WorkItem
from synthlabel.service.txn import DatabaseUnavailable
from synthlabel.service.worker import Worker
from tests.service.conftest import Service, make_service
from tests.service.ingest_helpers import jpeg, photo, upload

pytestmark = pytest.mark.pg_restart
N = 24


def _bindir() -> Path | None:
    for pg_ctl in [shutil.which("pg_ctl"), *sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))]:
        if pg_ctl and Path(pg_ctl).with_name("initdb").is_file():
            return Path(pg_ctl).parent
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PrivatePG:
    bindir: Path
    data: Path
    port: int
    run_as: list[str]  # e.g. ["runuser", "-u", "postgres", "--"] when we are root
    restarts: int = 0

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def ctl(self, *args: str, timeout: float = 120) -> None:
        cmd = [*self.run_as, str(self.bindir / "pg_ctl"), "-D", str(self.data), *args]
        subprocess.run(cmd, check=True, capture_output=True, timeout=timeout)

    def start(self) -> None:
        opts = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.data}"
        self.ctl("-o", opts, "-l", str(self.data / "server.log"), "-w", "start")

    def restart(self, mode: str) -> None:
        opts = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.data}"
        self.ctl("-o", opts, "-l", str(self.data / "server.log"), "-m", mode, "-w", "restart")
        self.restarts += 1

    def ready(self) -> bool:
        try:
            with psycopg.connect(self.url.replace("+psycopg", ""), connect_timeout=2) as c:
                c.execute("SELECT 1")
            return True
        except psycopg.Error:
            return False

    def started_at(self) -> object:
        with psycopg.connect(self.url.replace("+psycopg", ""), connect_timeout=5) as c:
            row = c.execute("SELECT pg_postmaster_start_time()").fetchone()
            assert row is not None
            return row[0]


@pytest.fixture
def private_pg() -> Iterator[PrivatePG]:
    bindir = _bindir()
    if bindir is None:
        pytest.skip("no initdb/pg_ctl here (install PostgreSQL's server package to run it)")
    run_as: list[str] = []
    if os.geteuid() == 0:  # initdb and postgres refuse to run as root
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no 'postgres' account to run a server as")
        runuser = shutil.which("runuser")
        if runuser is None:
            pytest.skip("running as root without runuser: cannot start a server as postgres")
        run_as = [runuser, "-u", "postgres", "--"]
    base = Path(tempfile.mkdtemp(prefix="sltest-pg-restart-"))
    base.chmod(0o755)  # the server's account must reach its data directory
    data = base / "data"
    data.mkdir(mode=0o700)
    if run_as:
        shutil.chown(data, "postgres", "postgres")
    pg = PrivatePG(bindir, data, _free_port(), run_as)
    try:
        initdb = [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust"]
        subprocess.run(
            [*run_as, *initdb, "--no-sync", "-E", "UTF8"],
            check=True,
            capture_output=True,
            timeout=180,
        )
        pg.start()
        yield pg
    finally:
        # Whatever happened: the server is brought up (and answers) before it is stopped, so a
        # failure mid-restart never leaves a half-started server behind; then it goes.
        with contextlib.suppress(Exception):
            if not pg.ready():
                pg.start()
            deadline = time.monotonic() + 60
            while not pg.ready() and time.monotonic() < deadline:
                time.sleep(0.2)
        with contextlib.suppress(Exception):
            pg.ctl("-m", "immediate", "stop")
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def svc(private_pg: PrivatePG, tmp_path: Path) -> Iterator[Service]:
    yield from make_service(private_pg.url, blob_dir=tmp_path / "blobs", audit_chain_seconds=0.2)


def _upload_retrying(svc: Service, data: bytes, i: int) -> tuple[str, int]:
    """(the item id, how many times the service answered 503 first)."""
    unavailable = 0
    for _ in range(200):
        try:
            r = upload(svc.client, svc.auth(), data, f"r{i}.jpg", key=f"restart-{i}")
        except Exception:  # the test client's own connection broke: repeat
            unavailable += 1
            time.sleep(0.1)
            continue
        if r.status_code == 202:
            return r.json()["item_id"], unavailable
        assert r.status_code == 503, r.text  # never a 500, never a lost item
        unavailable += 1
        time.sleep(0.1)
    raise AssertionError(f"item {i} was never accepted")


def test_restart_during_ingest_and_work_loses_nothing(private_pg: PrivatePG, svc: Service) -> None:
    datas = [jpeg(photo(300 + i, 96, 72)) for i in range(N)]
    first_start = private_pg.started_at()
    accepted: dict[int, str] = {}
    unavailable = 0
    restarter: threading.Thread | None = None
    errors: list[BaseException] = []

    def restart(mode: str) -> None:
        try:
            private_pg.restart(mode)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    for i, data in enumerate(datas):
        if i in (N // 3, 2 * N // 3):  # restart while the uploads go on
            if restarter is not None:
                restarter.join(timeout=120)
            mode = "fast" if i == N // 3 else "immediate"
            restarter = threading.Thread(target=restart, args=(mode,))
            restarter.start()
        accepted[i], failed = _upload_retrying(svc, data, i)
        unavailable += failed
    if restarter is not None:
        restarter.join(timeout=120)
    assert not errors, errors
    assert private_pg.restarts == 2

    worker = Worker(svc.settings, retention_every=0, poll=0.05, batch=4)
    try:
        assert worker.run_one_job()  # a first batch, then the server goes away once more
        restarter = threading.Thread(target=restart, args=("immediate",))
        restarter.start()
        deadline = time.monotonic() + 180
        while True:
            with contextlib.suppress(DatabaseUnavailable):
                worker.run_until_idle()
            try:
                with svc.session() as s:
                    left = s.scalar(select(func.count()).where(WorkItem.status != "done"))
            except Exception:  # the server is still away: ask again
                left = -1
            if left == 0 and not restarter.is_alive():
                break
            assert time.monotonic() < deadline, f"{left} jobs not done"
            time.sleep(0.2)
        restarter.join(timeout=120)
        worker.chain_audit()
    finally:
        worker.close()
    assert not errors, errors
    assert private_pg.restarts == 3
    assert private_pg.started_at() != first_start  # really a new server process

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
    audit.chain_pending(svc.app.state.synthlabel.engine, svc.settings.secret_key)
    with svc.app.state.synthlabel.engine.connect() as conn:
        result = audit.verify(conn, svc.settings.secret_key)
    assert result.ok, result.problem
    assert result.pending == 0
    print(f"3 restarts; {unavailable} upload attempts answered 503 (or broke) and were repeated")
