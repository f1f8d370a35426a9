"""``synthlabel scan --database-url URL``: scan rows into the supervision service's database.

It lives in the CLI because the batch layer must not import the service. For every file the
sink writes, through the service's models and audited sessions:

* a ``content_record``: sha256, size, media kind, the AIGC record read, the verdict, the
  retention date, with ``source = "scan:<job id>"``;
* an ``inspection`` (``source = "scan"``): the verdict, the policy version, the platform label
  value and the whole row as its report;
* one ``finding`` per piece of evidence.

The run itself is a ``batch_job`` (``kind = "scan"``, the inputs, the engine, its status and
counts). Rows arrive in batches, and each batch is one transaction. ``--resume`` continues the
latest scan job with the same inputs (interrupted or finished) and skips the paths it already
stored; without it every run is a new job. Files
that could not be inspected are counted on the job but not stored (an inspection needs a
verdict), so a resumed run tries them again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from synthlabel.errors import SynthlabelError

JOB_KIND = "scan"


class DatabaseSink:
    """A :class:`synthlabel.batch.Sink` that writes to the service database."""

    def __init__(self, settings: Any, *, inputs: str, engine: str, resume: bool) -> None:
        from sqlalchemy import select
        from sqlalchemy.exc import SQLAlchemyError

        from synthlabel.service.db.engine import DatabaseURLError, make_engine, session_factory
        from synthlabel.service.db.migrate import upgrade
        from synthlabel.service.db.models import BatchJob
        from synthlabel.service.db.types import utcnow

        self._settings = settings
        self._actor = "scan"
        try:
            self._engine = make_engine(settings.database_url)
            upgrade(self._engine)  # as `synthlabel serve` does: a new database is created
            self._factory = session_factory(self._engine, settings.secret_key)
            with self._session() as s:
                job = None
                if resume:
                    job = s.scalars(
                        select(BatchJob)
                        .where(BatchJob.kind == JOB_KIND, BatchJob.input_manifest == inputs)
                        .order_by(BatchJob.id.desc())
                        .limit(1)
                    ).first()
                self.resumed = job is not None
                if job is None:
                    job = BatchJob(kind=JOB_KIND, input_manifest=inputs, counts={})
                    s.add(job)
                job.executor = engine
                job.status = "running"
                job.started_at = job.started_at or utcnow()
                s.flush()
                self.job_id: int = job.id
                self._actor = f"scan:{job.id}"
                self.counts: dict[str, Any] = dict(job.counts or {})
        except (DatabaseURLError, SQLAlchemyError, OSError) as exc:
            raise SynthlabelError(f"database: {_reason(exc)}") from None

    def _session(self) -> Any:
        from synthlabel.service.db.engine import session_scope

        return session_scope(self._factory, actor=self._actor)

    @property
    def source(self) -> str:
        return f"scan:{self.job_id}"

    def done(self) -> set[str]:
        if not self.resumed:
            return set()
        from sqlalchemy import select

        from synthlabel.service.db.models import ContentRecord, Inspection

        with self._factory() as s:
            reports = s.scalars(
                select(Inspection.report)
                .join(ContentRecord, Inspection.content_record_id == ContentRecord.id)
                .where(ContentRecord.source == self.source, Inspection.source == "scan")
            )
            return {r["path"] for r in reports if r and "path" in r}

    def write(self, rows: Sequence[Mapping[str, Any]]) -> None:
        if not rows:
            return
        from sqlalchemy.exc import SQLAlchemyError

        from synthlabel.service.db.types import utcnow
        from synthlabel.service.records import apply_row, new_record

        now = utcnow()
        try:
            with self._session() as s:
                for row in rows:
                    self._count(row)
                    if row.get("error"):
                        continue
                    rec = new_record(
                        source=self.source,
                        retention_days=self._settings.retention_days,
                        now=now,
                        origin="uploaded",
                    )
                    apply_row(s, rec, row, inspection_source="scan")
        except SQLAlchemyError as exc:
            raise SynthlabelError(f"database: {_reason(exc)}") from None

    def _count(self, row: Mapping[str, Any]) -> None:
        c = self.counts
        c["files"] = c.get("files", 0) + 1
        if row.get("error"):
            c["errors"] = c.get("errors", 0) + 1
        elif row.get("verdict"):
            key = f"verdict_{row['verdict']}"
            c[key] = c.get(key, 0) + 1

    def _finish(self, status: str) -> None:
        from sqlalchemy.exc import SQLAlchemyError

        from synthlabel.service.db.models import BatchJob
        from synthlabel.service.db.types import utcnow

        try:
            with self._session() as s:
                job = s.get(BatchJob, self.job_id)
                if job is not None:
                    job.status = status
                    job.counts = dict(self.counts)
                    if status == "done":
                        job.finished_at = utcnow()
        except SQLAlchemyError as exc:
            raise SynthlabelError(f"database: {_reason(exc)}") from None
        finally:
            self._engine.dispose()

    def close(self) -> None:
        self._finish("done")

    def abort(self) -> None:
        self._finish("interrupted")


def _reason(exc: Exception) -> str:
    return str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
