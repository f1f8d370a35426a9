"""``synthlabel worker``: runs the ingest queue's jobs, webhook deliveries and retention.

Each loop a worker thread claims up to ``batch`` due jobs (a lease of ``job_lease_seconds``),
inspects them and commits all their effects in one transaction
(:func:`synthlabel.service.ingest.process_batch`: fewer round trips and audit-chain
appends per item); when that fails, each job is run on its own and the one that raises is put
back with backoff (:func:`synthlabel.service.queue.retry`). When no job is due it delivers due
webhooks and, every ``retention_every`` seconds, runs the retention job, then sleeps ``poll``
seconds. A background thread links the audit events the jobs append into the hash chain every
``audit_chain_seconds`` (:class:`synthlabel.service.audit.BackgroundChainer`).

``concurrency`` threads run in one process (inspection releases the GIL in its native parts);
for CPU-bound loads start several worker processes: the queue's claims keep them apart.
A worker killed at any point loses nothing: its job's lease expires and the job runs again.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from synthlabel.service import audit, ingest, queue, retention, webhooks
from synthlabel.service.db.engine import make_engine, session_factory
from synthlabel.service.settings import Settings
from synthlabel.service.txn import DatabaseUnavailable, transaction

log = logging.getLogger("synthlabel.worker")
KINDS = (ingest.JOB_KIND,)


@dataclass
class Stats:
    jobs_done: int = 0
    jobs_failed: int = 0
    jobs_retried: int = 0
    jobs_dead: int = 0
    jobs_lost: int = 0
    webhooks: dict[str, int] = field(default_factory=dict)
    retention_deleted: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, key: str, n: int = 1) -> None:
        with self.lock:
            setattr(self, key, getattr(self, key) + n)

    def to_dict(self) -> dict[str, Any]:
        return {
            "jobs_done": self.jobs_done,
            "jobs_failed": self.jobs_failed,
            "jobs_retried": self.jobs_retried,
            "jobs_dead": self.jobs_dead,
            "jobs_lost": self.jobs_lost,
            "webhooks": dict(self.webhooks),
            "retention_deleted": self.retention_deleted,
        }


class Worker:
    def __init__(
        self,
        settings: Settings,
        *,
        engine: Engine | None = None,
        name: str | None = None,
        poll: float = 0.5,
        retention_every: float = 6 * 3600.0,
        batch: int = 32,
    ) -> None:
        self.settings = settings
        self.engine = engine or make_engine(settings.database_url)
        self.factory = session_factory(self.engine, settings.secret_key)
        self.ctx = ingest.Context(settings, self.factory)
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self.actor = f"worker:{self.name}"
        self.poll = poll
        self.batch = max(1, batch)
        self.retention_every = retention_every
        self._last_retention = 0.0
        self._retention_lock = threading.Lock()
        self.stats = Stats()
        self.stop = threading.Event()

    # --- one step ---------------------------------------------------------------------------

    def run_one_job(self, thread: str = "") -> bool:
        """Claim up to ``batch`` due jobs and run them; False when none was due."""
        worker = f"{self.name}{thread}"
        jobs = transaction(
            self.factory,
            lambda s: queue.claim(
                s,
                worker,
                kinds=KINDS,
                lease_seconds=self.settings.job_lease_seconds,
                limit=self.batch,
            ),
            actor=self.actor,
        )
        if not jobs:
            return False
        try:
            results = ingest.process_batch(self.ctx, jobs, actor=self.actor)
        except Exception as exc:
            if len(jobs) == 1:
                self._failed(jobs[0], exc)
                return True
            # Something in the batch failed and nothing was committed: run each on its own,
            # so only the job at fault is retried.
            for job in jobs:
                try:
                    self._count(ingest.process(self.ctx, job, actor=self.actor))
                except Exception as one:
                    self._failed(job, one)
            return True
        for result in results:
            self._count(result)
        return True

    def _count(self, result: dict[str, Any] | None) -> None:
        if result is None:
            self.stats.add("jobs_lost")
        elif result.get("status") == "failed":
            self.stats.add("jobs_failed")
        else:
            self.stats.add("jobs_done")

    def _failed(self, job: queue.Job, exc: Exception) -> None:
        log.warning("job %d attempt %d failed: %s", job.id, job.attempts, exc)
        error = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}"
        try:
            status = transaction(
                self.factory, lambda s: queue.retry(s, job, error), actor=self.actor
            )
        except DatabaseUnavailable:
            status = ""  # the lease will expire and the job runs again
        self.stats.add("jobs_dead" if status == "dead" else "jobs_retried")

    def housekeeping(self, *, force_retention: bool = False) -> None:
        """Deliver due webhooks; run retention when it is due."""
        counts = webhooks.deliver_due(
            self.factory,
            max_attempts=self.settings.webhook_max_attempts,
            actor=self.actor,
            allow_private=self.settings.webhook_allow_private,
        )
        with self.stats.lock:
            for k, v in counts.items():
                self.stats.webhooks[k] = self.stats.webhooks.get(k, 0) + v
        now = time.monotonic()
        due = force_retention or (
            self.retention_every > 0 and now - self._last_retention >= self.retention_every
        )
        if due and self._retention_lock.acquire(blocking=False):
            try:
                self._last_retention = now
                res = retention.run(self.settings, self.factory, actor=self.actor)
                self.stats.add("retention_deleted", res.deleted)
            finally:
                self._retention_lock.release()

    # --- loops ------------------------------------------------------------------------------

    def run_until_idle(self) -> Stats:
        """``--once``: run every due job and due webhook, then return."""
        while not self.stop.is_set() and self.run_one_job():
            pass
        self.housekeeping()
        self.chain_audit()
        return self.stats

    def chain_audit(self) -> None:
        """Link the pending audit events into the chain now (unless another chainer is)."""
        try:
            audit.chain_pending(self.engine, self.settings.secret_key)
        except SQLAlchemyError as exc:  # the database is away: the next round chains them
            log.warning("audit chaining failed: %s", str(exc).splitlines()[0])

    def _loop(self, thread: str) -> None:
        while not self.stop.is_set():
            try:
                if self.run_one_job(thread):
                    continue
                self.housekeeping()
            except DatabaseUnavailable as exc:
                log.warning("%s; retrying in %.1f s", exc, max(self.poll, 1.0))
                self.stop.wait(max(self.poll, 1.0))
                continue
            except Exception:
                log.exception("worker loop error")
            self.stop.wait(self.poll)

    def warm_up(self) -> None:
        """Load the format and detector plug-ins and inspect one tiny JPEG before the first
        job, so the first jobs do not pay for the imports (about 1.5 s of CPU)."""
        import io
        import tempfile

        from PIL import Image

        from synthlabel.batch import _preload  # noqa: F401

        buf = io.BytesIO()
        Image.new("RGB", (16, 16), (128, 128, 128)).save(buf, "JPEG")
        with tempfile.TemporaryDirectory(prefix="synthlabel-warm-") as tmp:
            path = Path(tmp) / "warm.jpg"
            path.write_bytes(buf.getvalue())
            try:
                ingest.scan_blob(self.ctx, path, "", hashes=False)
            except Exception as exc:  # never fatal: the jobs load what they need anyway
                log.debug("warm-up inspect failed: %s", exc)

    def run_forever(self, concurrency: int = 1) -> Stats:
        self.warm_up()
        chainer = audit.BackgroundChainer(
            self.engine, self.settings.secret_key, self.settings.audit_chain_seconds
        ).start()
        threads = [
            threading.Thread(target=self._loop, args=(f"#{i}",), name=f"worker-{i}", daemon=True)
            for i in range(max(1, concurrency))
        ]
        for t in threads:
            t.start()
        try:
            while any(t.is_alive() for t in threads):
                for t in threads:
                    t.join(timeout=0.5)
        except KeyboardInterrupt:
            self.stop.set()
            for t in threads:
                t.join(timeout=30)
        finally:
            chainer.stop()
        return self.stats

    def close(self) -> None:
        self.engine.dispose()
