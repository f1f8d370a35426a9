"""Retention: content records and generation-log lines are kept at least 6 months, then
deleted.

:func:`run` deletes the content records whose ``retain_until`` has passed **and** that are
older than the retention period (``retention_days``, at least 183; a record is never deleted
younger, whatever its ``retain_until`` says), with their inspections and findings (the
database cascades), in batches of one transaction each. Every deleted record is an audit event
(``content_record.delete`` with its columns: the hashes and the record survive in the audit
log), and each run appends ``retention.run`` with its counts. Stored copies are removed once no
remaining record refers to them. Items still waiting for the worker are left alone.

Generation-log lines (``generation_log``) go by their own period, ``genlog_retention_days``
(at least 183 as well), counted from when the line was logged (``created_at``: the service's
clock, not the provider's ``generated_at``). Each is a ``generation_log.delete`` audit event,
and its perceptual hashes leave the hash registry file too.

``synthlabel retention run [--dry-run] [--json]`` runs it; the worker runs it every few hours.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from synthlabel.service import audit, genlog
from synthlabel.service.blobs import BlobStore
from synthlabel.service.db.models import ContentRecord, GenerationLogEntry
from synthlabel.service.db.types import utcnow
from synthlabel.service.settings import Settings
from synthlabel.service.txn import transaction

MIN_DAYS = 183
BATCH = 500


@dataclass
class RetentionResult:
    cutoff: str
    dry_run: bool
    eligible: int = 0
    deleted: int = 0
    blobs_deleted: int = 0
    ids: list[str] = field(default_factory=list)
    genlog_cutoff: str = ""
    genlog_eligible: int = 0
    genlog_deleted: int = 0
    registry_removed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _eligible(now: datetime, days: int) -> Any:
    return (
        (ContentRecord.retain_until < now)
        & (ContentRecord.created_at < now - timedelta(days=max(days, MIN_DAYS)))
        & ((ContentRecord.status.is_(None)) | (ContentRecord.status != "pending"))
    )


def _genlog_eligible(now: datetime, days: int) -> Any:
    return GenerationLogEntry.created_at < now - timedelta(days=max(days, MIN_DAYS))


def run(
    settings: Settings,
    factory: sessionmaker[Session],
    *,
    dry_run: bool = False,
    now: datetime | None = None,
    actor: str = "retention",
    keep_ids: int = 100,
) -> RetentionResult:
    now = now or utcnow()
    cond = _eligible(now, settings.retention_days)
    log_cond = _genlog_eligible(now, settings.genlog_retention_days)
    result = RetentionResult(cutoff=now.isoformat(), dry_run=dry_run)
    result.genlog_cutoff = (
        now - timedelta(days=max(settings.genlog_retention_days, MIN_DAYS))
    ).isoformat()
    with factory() as s:
        result.eligible = int(s.scalar(select(func.count()).where(cond)) or 0)
        result.genlog_eligible = int(s.scalar(select(func.count()).where(log_cond)) or 0)
        if dry_run:
            result.ids = list(s.scalars(select(ContentRecord.id).where(cond).limit(keep_ids)))
            return result
    blobs = BlobStore(settings.blob_dir) if settings.blob_dir is not None else None
    while True:

        def batch(s: Session) -> list[tuple[str, str | None]]:
            recs = s.scalars(
                select(ContentRecord).where(cond).order_by(ContentRecord.retain_until).limit(BATCH)
            ).all()
            for rec in recs:
                s.delete(rec)
            s.flush()
            return [(r.id, r.blob_path) for r in recs]

        done = transaction(factory, batch, actor=actor)
        if not done:
            break
        result.deleted += len(done)
        result.ids += [i for i, _ in done][: max(0, keep_ids - len(result.ids))]
        if blobs is not None:
            result.blobs_deleted += _drop_blobs(factory, blobs, {b for _, b in done if b})

    while True:

        def log_batch(s: Session) -> list[tuple[int, str]]:
            entries = s.scalars(
                select(GenerationLogEntry)
                .where(log_cond)
                .order_by(GenerationLogEntry.created_at, GenerationLogEntry.id)
                .limit(BATCH)
            ).all()
            for entry in entries:
                s.delete(entry)  # audited: generation_log.delete with its columns
            s.flush()
            return [(e.id, e.produce_id) for e in entries]

        gone = transaction(factory, log_batch, actor=actor)
        if not gone:
            break
        result.genlog_deleted += len(gone)
        if settings.registry_path is not None:
            result.registry_removed += genlog.unregister(settings.registry_path, gone)

    def summary(s: Session) -> None:
        audit.record(
            s,
            "retention.run",
            "content_record",
            None,
            {
                "cutoff": result.cutoff,
                "deleted": result.deleted,
                "blobs_deleted": result.blobs_deleted,
                "retention_days": settings.retention_days,
                "genlog_cutoff": result.genlog_cutoff,
                "genlog_deleted": result.genlog_deleted,
                "registry_removed": result.registry_removed,
                "genlog_retention_days": settings.genlog_retention_days,
            },
        )

    transaction(factory, summary, actor=actor)
    return result


def _drop_blobs(factory: sessionmaker[Session], blobs: BlobStore, paths: set[str]) -> int:
    if not paths:
        return 0
    with factory() as s:
        used = set(
            s.scalars(
                select(ContentRecord.blob_path).where(ContentRecord.blob_path.in_(sorted(paths)))
            )
        )
    return sum(1 for p in paths - used if blobs.delete(p))
