"""Ingest: accept an item (stored blob + pending content record + queued job, in one
transaction), and process the job (inspect, hash, match the generation log, route, notify).

Accepting is idempotent: the job's ``idempotency_key`` is unique, so the same key (per user)
returns the same item and job, never a second one. Without a key the request gets a fresh
internal one, which makes the transaction safe to retry after a lost connection (a retry that
finds its own key knows the first commit landed).

Processing commits every effect of a job (the content record's verdict, hashes and status, the
inspection with its findings, the review job, the webhook deliveries, the job's ``done``) in
one transaction fenced by the job's claim (:func:`synthlabel.service.queue.finish`): a worker
killed mid-way leaves nothing, and the job's next run does it all once.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from synthlabel.service import genlog, queue, webhooks
from synthlabel.service.blobs import BlobStore
from synthlabel.service.db.models import ContentRecord, GenerationLogEntry, WorkItem
from synthlabel.service.db.types import new_uuid
from synthlabel.service.records import apply_row, new_record, row_evidence
from synthlabel.service.settings import Settings
from synthlabel.service.txn import MEMO, transaction

log = logging.getLogger("synthlabel.service")
JOB_KIND = "ingest"
#: Test hook: seconds a worker sleeps after inspecting, before it commits (crash tests).
DELAY_ENV = "SYNTHLABEL_WORKER_TEST_DELAY"
FLAG_VERDICTS = ("possible", "suspected")


class IdempotencyConflict(ValueError):
    """The idempotency key was used before for different content."""


class InspectFailed(ValueError):
    """The file could not be inspected (the message says why)."""


@dataclass
class Context:
    settings: Settings
    factory: sessionmaker[Session]

    @property
    def blobs(self) -> BlobStore:
        assert self.settings.blob_dir is not None
        return BlobStore(self.settings.blob_dir)


@dataclass(frozen=True)
class Accepted:
    item_id: str
    job_id: int
    created: bool
    status: str


def accept(
    ctx: Context,
    *,
    sha256: str,
    blob_path: str,
    size: int,
    filename: str | None,
    source: str,
    actor: str,
    user_id: int | None,
    idempotency_key: str | None,
    user_ref: str | None = None,
) -> Accepted:
    """Create the pending item and its job (or find the ones of this idempotency key)."""
    key = f"u{user_id}:{idempotency_key}" if idempotency_key else f"auto:{uuid.uuid4()}"
    tries = 0

    def tx(s: Session) -> Accepted:
        nonlocal tries
        tries += 1
        # The first try inserts without looking the key up (one round trip saved: keys are
        # nearly always new); a key that exists fails the insert on its unique index, and the
        # next try (below, or a retry after a lost connection) finds its job.
        job = (
            s.scalars(select(WorkItem).where(WorkItem.idempotency_key == key)).first()
            if tries > 1
            else None
        )
        if job is not None:
            if (job.payload or {}).get("sha256") != sha256:
                raise IdempotencyConflict("Idempotency-Key was already used for a different file")
            return Accepted(str(job.content_record_id), job.id, False, job.status)
        rec = new_record(
            source=source,
            retention_days=ctx.settings.retention_days,
            id=new_uuid(),  # known now: the record and its job go in one flush
            origin="uploaded",
            sha256=sha256,
            size=size,
            blob_path=blob_path,
            filename=filename,
            status="pending",
            user_ref=user_ref,
        )
        s.add(rec)
        job = queue.enqueue(
            s,
            JOB_KIND,
            {"sha256": sha256, "filename": filename},
            idempotency_key=key,
            content_record_id=rec.id,
            max_attempts=ctx.settings.job_max_attempts,
        )
        return Accepted(rec.id, job.id, True, "pending")

    try:
        return transaction(ctx.factory, tx, actor=actor)
    except IntegrityError:
        # The key exists (a repeated request, or a concurrent one committed first): answer
        # with its item (or a conflict when it was used for another file).
        return transaction(ctx.factory, tx, actor=actor)


# --- inspection ------------------------------------------------------------------------------


def _scan_config(settings: Settings) -> Any:
    from synthlabel.batch.row import ScanConfig
    from synthlabel.pipeline.inspecting import InspectOptions

    # The metadata path: records, signatures, C2PA, IPTC, metadata traces (no pixel decoding);
    # content matching against the generation log is done below, once per item.
    return ScanConfig(InspectOptions(detect=True, max_cost="cheap", watermarks=False), sha256=False)


def inspect_blob(
    ctx: Context, session: Session, path: Path, sha256: str, *, hashes: bool
) -> tuple[dict[str, Any], list[dict[str, Any]], str | None]:
    """(the scan row with its verdict, generation-log evidence, the perceptual hash) for the
    stored file; the verdict already counts the generation-log matches."""
    row, content = scan_blob(ctx, path, sha256, hashes=hashes)
    return match_log(ctx, session, row, content)


def scan_blob(ctx: Context, path: Path, sha256: str, *, hashes: bool) -> tuple[dict[str, Any], Any]:
    """The stored file's scan row (metadata path) and, for a file without an AIGC record when
    ``hashes``, its content hash (no database work)."""
    from synthlabel.batch.row import scan_one

    row = scan_one(path, _scan_config(ctx.settings))
    row["sha256"] = sha256
    content = None
    if hashes and not row.get("error") and not row.get("records"):
        # A file without an AIGC record: its content is all that can trace it.
        content = _content_hash(path, row.get("format"))
    return row, content


def match_log(
    ctx: Context,
    session: Session,
    row: dict[str, Any],
    content: Any,
    candidates: Sequence[GenerationLogEntry] | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]], str | None]:
    """:func:`scan_blob`'s row matched against the generation log (``candidates``: the entries
    :func:`synthlabel.service.genlog.candidates` read for a whole batch)."""
    if row.get("error"):
        return row, [], None
    phash = genlog.primary_hash(content) if content is not None else None
    extra = genlog.match(
        session,
        sha256=row.get("sha256"),
        content=content,
        produce_id=row.get("produce_id") or None,
        registry_path=ctx.settings.registry_path,
        candidates=candidates,
    )
    strong = [e for e in extra if str(e.get("code", "")).startswith("registry.match.")]
    row = genlog.redecide(row, strong) if strong else row
    return row, [e for e in extra if e not in strong], phash


def _content_hash(path: Path, format_id: Any) -> Any:
    from synthlabel.detect.hashes import hash_bytes, kind_of_format
    from synthlabel.errors import SynthlabelError

    if not format_id or kind_of_format(str(format_id)) is None:
        return None
    try:
        return hash_bytes(None, str(format_id), path=path)
    except SynthlabelError:
        return None


def _finish_item(
    s: Session,
    rec: ContentRecord,
    row: dict[str, Any],
    extra: list[dict[str, Any]],
    phash: str | None,
    source: str,
) -> dict[str, Any]:
    """Write an inspected item's effects in ``s`` (routing and webhooks included)."""
    from synthlabel.service.refutation import check_refutations
    from synthlabel.service.routing import route_item

    # No flush here: the queries below autoflush when they need to, and a worker batch's
    # rows go to the database together (one INSERT per table for the whole batch).
    if row.get("error"):
        rec.status = "failed"
        return {"status": "failed", "error": row["error"]}
    if phash:
        rec.perceptual_hash = phash
    apply_row(s, rec, row, inspection_source=source, extra_evidence=extra)
    rec.status = "done"
    check_refutations(s, rec)  # a copy of a refuted rumour gets its notice and the flag
    routed = route_item(s, rec)
    data = {
        "item_id": rec.id,
        "verdict": rec.verdict,
        "label_value": row.get("label_value"),
        "sha256": rec.sha256,
        "filename": rec.filename,
        "produce_id": rec.produce_id,
    }
    webhooks.emit(s, "item.decided", data)
    result: dict[str, Any] = {"status": "done", "verdict": rec.verdict}
    if routed.job is not None:
        queue_name = routed.queue.name if routed.queue is not None else None
        result["review_job_id"] = routed.job.id
        if routed.created:
            webhooks.emit(
                s,
                "item.flagged",
                {**data, "review_job_id": routed.job.id, "queue": queue_name},
            )
    return result


def process(ctx: Context, job: queue.Job, *, actor: str) -> dict[str, Any] | None:
    """Run one claimed ingest job; its result, or None when the claim was lost."""
    return process_batch(ctx, [job], actor=actor)[0]


Prepared = tuple[dict[str, Any], list[dict[str, Any]], str | None] | None


def process_batch(
    ctx: Context, jobs: list[queue.Job], *, actor: str
) -> list[dict[str, Any] | None]:
    """Run claimed ingest jobs: inspect each (outside any transaction), then commit all their
    effects and their ``done`` in one transaction (all or nothing); a result per job, None
    where the claim was lost. An exception means nothing was committed."""
    ids = [j.content_record_id for j in jobs if j.content_record_id]
    prepared: dict[int, Prepared] = {}
    with ctx.factory() as s:
        blobs = {
            r.id: (r.blob_path, r.sha256)
            for r in s.execute(
                select(ContentRecord.id, ContentRecord.blob_path, ContentRecord.sha256).where(
                    ContentRecord.id.in_(ids)
                )
            )
        }
        s.rollback()  # no transaction open while the files are read
        scanned: dict[int, tuple[dict[str, Any], Any]] = {}
        for job in jobs:
            blob_path, sha256 = blobs.get(job.content_record_id or "", (None, None))
            if not blob_path:
                prepared[job.id] = None
                continue
            scanned[job.id] = scan_blob(
                ctx, ctx.blobs.path(blob_path), sha256 or "", hashes=ctx.settings.ingest_hashes
            )
        rows = [row for row, _ in scanned.values()]
        logged = genlog.candidates(  # one query for the whole batch
            s, (r.get("sha256") for r in rows), (r.get("produce_id") for r in rows)
        )
        for job_id, (row, content) in scanned.items():
            prepared[job_id] = match_log(ctx, s, row, content, logged)
        s.rollback()
    delay = float(os.environ.get(DELAY_ENV) or 0)
    if delay > 0:
        time.sleep(delay)

    def effects(s: Session) -> list[dict[str, Any] | None]:
        s.info[MEMO] = {}  # routing rules, queues, webhook subscriptions: read once per batch
        held = queue.locked_many(s, jobs)
        wanted = [j.content_record_id for j in jobs if j.id in held and j.content_record_id]
        targets = {
            r.id: r
            for r in s.scalars(
                select(ContentRecord)
                .where(ContentRecord.id.in_(wanted))
                .execution_options(populate_existing=True)
            )
        }
        results: list[dict[str, Any] | None] = []
        for job in jobs:
            if job.id not in held:
                results.append(None)  # another worker took over (lease expired) or done
                continue
            prep = prepared[job.id]
            target = targets.get(job.content_record_id or "")
            if target is None or prep is None:
                result: dict[str, Any] = {
                    "status": "skipped",
                    "error": "the item no longer exists",
                }
            else:
                row, extra, phash = prep
                result = _finish_item(s, target, row, extra, phash, "api")
            queue.mark_done(held[job.id], result)
            results.append(result)
        s.flush()
        return results

    return transaction(ctx.factory, effects, actor=actor)


def inspect_now(
    ctx: Context,
    data: bytes,
    filename: str | None,
    *,
    actor: str,
    user_ref: str | None = None,
) -> tuple[ContentRecord, dict[str, Any]]:
    """The synchronous path: store, inspect (metadata path), record; (record, its
    inspection report: the row with every piece of evidence)."""
    from synthlabel.service.blobs import safe_ext

    sha, rel, size = ctx.blobs.put_bytes(data, safe_ext(filename))
    with ctx.factory() as s:
        row, extra, phash = inspect_blob(ctx, s, ctx.blobs.path(rel), sha, hashes=False)
        s.rollback()
    if row.get("error"):
        raise InspectFailed(str(row["error"]))

    def tx(s: Session) -> ContentRecord:
        rec = new_record(
            source="api:inspect",
            retention_days=ctx.settings.retention_days,
            origin="uploaded",
            sha256=sha,
            size=size,
            blob_path=rel,
            filename=filename,
            user_ref=user_ref,
        )
        s.add(rec)
        s.flush()
        _finish_item(s, rec, row, extra, phash, "api")
        return rec

    rec = transaction(ctx.factory, tx, actor=actor)
    return rec, {**row, "evidence": row_evidence(row) + [dict(e) for e in extra]}
