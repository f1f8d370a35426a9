"""Ingest, items, jobs and the synchronous inspect endpoint.

* ``POST /api/v1/ingest``: a multipart upload (field ``file``) or JSON ``{"path": ...}`` for a
  file under one of the configured ``ingest_roots`` (no URLs are ever fetched). The file is
  stored in the blob directory; the pending content record and its queue job are created in one
  transaction; the answer is 202 with both ids. ``Idempotency-Key`` makes it safe to repeat.
* ``GET /api/v1/items/{id}``: status, verdict, evidence, AIGC record, hashes, review state.
* ``GET /api/v1/jobs/{id}``: a queue job's status, attempts, last error and result.
* ``POST /api/v1/inspect``: inspect a small upload now (metadata path) and record it.

Admins and reviewers see every item; a provider account sees the items it submitted.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, BinaryIO

from fastapi import APIRouter, Header, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile

from synthlabel.service.api.deps import DB, RegistryReader, app_state
from synthlabel.service.api.errors import ApiProblem, ProblemItem, problem_responses
from synthlabel.service.auth import Actor
from synthlabel.service.blobs import BlobError, safe_ext
from synthlabel.service.db.models import ContentRecord, Inspection, WorkItem
from synthlabel.service.ingest import (
    Accepted,
    Context,
    IdempotencyConflict,
    InspectFailed,
    accept,
)
from synthlabel.service.settings import ingest_roots

router = APIRouter(prefix="/api/v1", tags=["ingest"])
R = problem_responses(401, 403, 404, 409, 413, 415, 422, 503)

IdemKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="repeat a request safely: the same key returns the same item and job",
        max_length=150,
        pattern=r"^[\x21-\x7e]{1,150}$",
    ),
]
UUID_RE = re.compile(r"^[0-9a-f-]{36}$")


class IngestPath(BaseModel):
    """Ingest a file already on the server, under one of the configured ingest roots."""

    model_config = ConfigDict(extra="forbid")
    path: Annotated[str, StringConstraints(min_length=1, max_length=4096)]


class IngestAccepted(BaseModel):
    item_id: str
    job_id: int
    status: str = Field(description="the job's status (pending for a new item)")
    created: bool = Field(description="false: this Idempotency-Key was seen; same item and job")


class JobOut(BaseModel):
    id: int
    kind: str
    status: str
    attempts: int
    max_attempts: int
    run_after: datetime
    last_error: str | None
    result: dict[str, Any] | None
    item_id: str | None
    created_at: datetime
    finished_at: datetime | None


class EvidenceOut(BaseModel):
    detector: str | None = None
    code: str | None = None
    strength: str | None = None
    summary: str | None = None
    location: str | None = None
    confidence: float | None = None
    details: dict[str, Any] | None = None


class ItemOut(BaseModel):
    id: str
    status: str = Field(description="pending, done or failed")
    verdict: str | None
    label_value: str | None = None
    policy: str | None = None
    reasons: list[str] = []
    evidence: list[EvidenceOut] = []
    record: dict[str, Any] | None
    produce_id: str | None
    propagate_id: str | None
    sha256: str | None
    perceptual_hash: str | None
    media_kind: str | None
    size: int | None
    filename: str | None
    source: str | None
    review_state: str | None = None
    flags: list[Any] | None = None
    job: JobOut | None = None
    created_at: datetime
    retain_until: datetime


_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                    },
                }
            },
            "application/json": {"schema": IngestPath.model_json_schema()},
        },
    }
}
_FILE_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            }
        },
    }
}


def _ctx(request: Request) -> Context:
    state = app_state(request)
    return Context(state.settings, state.sessions)


def _user_ref(actor: Actor) -> str:
    return f"user:{actor.user_id}"


def _can_see(actor: Actor, rec: ContentRecord) -> bool:
    return actor.role in ("admin", "reviewer") or rec.user_ref == _user_ref(actor)


async def _upload(request: Request) -> tuple[UploadFile, dict[str, str]]:
    try:
        form = await request.form(max_files=1, max_fields=10)
    except Exception as exc:  # malformed multipart, too many parts
        raise ApiProblem(400, "Bad request", f"cannot read the multipart body: {exc}") from None
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise ApiProblem(
            422,
            "Invalid input",
            "multipart field 'file' is missing or not a file",
            errors=[ProblemItem(loc=["body", "file"], msg="required file")],
        )
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    return upload, fields


def _json(raw: bytes, model: type[BaseModel]) -> Any:
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        items = [
            ProblemItem(loc=["body", *(str(p) for p in e["loc"])], msg=e["msg"])
            for e in exc.errors()
        ]
        raise ApiProblem(422, "Invalid input", "invalid JSON body", errors=items) from None


def _path_under_roots(ctx: Context, raw: str) -> Path:
    roots = ingest_roots(ctx.settings)
    if not roots:
        raise ApiProblem(403, "Forbidden", "path ingest is off (no SYNTHLABEL_INGEST_ROOTS)")
    if "\x00" in raw:
        raise ApiProblem(422, "Invalid input", "path: contains a NUL byte")
    try:
        path = Path(raw).expanduser().resolve(strict=True)
    except (OSError, RuntimeError):
        raise ApiProblem(422, "Invalid input", f"path: {raw!r} does not exist") from None
    if not any(path.is_relative_to(root) for root in roots):
        raise ApiProblem(403, "Forbidden", f"path: {raw!r} is not under an allowed ingest root")
    if not path.is_file():
        raise ApiProblem(422, "Invalid input", f"path: {raw!r} is not a regular file")
    if path.stat().st_size > ctx.settings.max_upload_bytes:
        raise ApiProblem(413, "Request body too large", f"path: {raw!r} is over the upload limit")
    return path


def _conflict(exc: Exception) -> ApiProblem:
    return ApiProblem(409, "Conflict", str(exc))


@router.post(
    "/ingest",
    response_model=IngestAccepted,
    status_code=202,
    responses=R,
    openapi_extra=_BODY,
)
async def ingest_item(
    request: Request,
    response: Response,
    actor: RegistryReader,
    db: DB,
    idempotency_key: IdemKey = None,
) -> Any:
    """Accept an item for inspection by the worker (multipart ``file``, or JSON ``path``)."""
    if db.in_transaction():
        # end the auth lookup's transaction (SQLite: one writer at a time), off the event loop
        await run_in_threadpool(db.commit)
    ctx = _ctx(request)
    ctype = request.headers.get("content-type", "")
    user_ref = _user_ref(actor)
    fh: BinaryIO | None = None
    body: IngestPath | None = None
    if ctype.startswith("multipart/form-data"):
        upload, _fields = await _upload(request)
        filename = (upload.filename or "")[:255] or None
        fh, source = upload.file, "api:upload"
    elif ctype.startswith("application/json"):
        body = _json(await request.body(), IngestPath)
        filename, source = None, "api:path"
    else:
        raise ApiProblem(
            415, "Unsupported media type", "send multipart/form-data or application/json"
        )

    def store_and_accept() -> Accepted:
        # one trip off the event loop for the blob and the transaction (each trip is a thread
        # hand-off, a large part of a small request's cost)
        nonlocal filename
        try:
            if fh is not None:
                sha, rel, size = ctx.blobs.put_file(fh, safe_ext(filename))
            else:
                assert body is not None
                path = _path_under_roots(ctx, body.path)
                filename = path.name[:255]
                with open(path, "rb") as src:
                    sha, rel, size = ctx.blobs.put_file(src, safe_ext(filename))
        except (BlobError, OSError) as exc:
            raise ApiProblem(
                503, "Service unavailable", f"cannot store the upload: {exc}"
            ) from None
        if size == 0:
            raise ApiProblem(422, "Invalid input", "the file is empty")
        try:
            return accept(
                ctx,
                sha256=sha,
                blob_path=rel,
                size=size,
                filename=filename,
                source=source,
                actor=actor.audit_name,
                user_id=actor.user_id,
                idempotency_key=idempotency_key,
                user_ref=user_ref,
            )
        except IdempotencyConflict as exc:
            raise _conflict(exc) from None

    acc = await run_in_threadpool(store_and_accept)
    if not acc.created:
        response.headers["Idempotent-Replayed"] = "true"
    return IngestAccepted(
        item_id=acc.item_id, job_id=acc.job_id, status=acc.status, created=acc.created
    )


def _job_out(job: WorkItem) -> JobOut:
    return JobOut(
        id=job.id,
        kind=job.kind,
        status=job.status,
        attempts=job.attempts,
        max_attempts=job.max_attempts,
        run_after=job.run_after,
        last_error=(job.last_error or "").splitlines()[0][:500] if job.last_error else None,
        result=job.result,
        item_id=job.content_record_id,
        created_at=job.created_at,
        finished_at=job.finished_at,
    )


def item_out(
    db: Session | None, rec: ContentRecord, report: dict[str, Any] | None = None
) -> ItemOut:
    """The item as the API shows it; ``report``: its inspection's row when the caller has it
    (then ``db`` may be None and no job is looked up)."""
    if report is None and db is not None:
        insp = db.scalars(
            select(Inspection)
            .where(Inspection.content_record_id == rec.id)
            .order_by(Inspection.id.desc())
            .limit(1)
        ).first()
        report = insp.report if insp is not None else None
    report = report or {}
    evidence = report.get("evidence") or []
    if isinstance(evidence, str):
        evidence = json.loads(evidence)
    job = (
        db.scalars(
            select(WorkItem)
            .where(WorkItem.content_record_id == rec.id)
            .order_by(WorkItem.id.desc())
            .limit(1)
        ).first()
        if db is not None
        else None
    )
    return ItemOut(
        id=rec.id,
        status=rec.status or "done",
        verdict=rec.verdict,
        label_value=report.get("label_value"),
        policy=report.get("policy"),
        reasons=list(report.get("reasons") or []),
        evidence=[EvidenceOut.model_validate(e) for e in evidence if isinstance(e, dict)],
        record=rec.record,
        produce_id=rec.produce_id,
        propagate_id=rec.propagate_id,
        sha256=rec.sha256,
        perceptual_hash=rec.perceptual_hash,
        media_kind=rec.media_kind,
        size=rec.size,
        filename=rec.filename,
        source=rec.source,
        review_state=rec.review_state,
        flags=rec.flags,
        job=_job_out(job) if job is not None else None,
        created_at=rec.created_at,
        retain_until=rec.retain_until,
    )


@router.get("/items/{item_id}", response_model=ItemOut, responses=R)
def get_item(
    item_id: Annotated[str, StringConstraints(max_length=36)], actor: RegistryReader, db: DB
) -> Any:
    rec = db.get(ContentRecord, item_id) if UUID_RE.match(item_id) else None
    if rec is None or not _can_see(actor, rec):
        raise ApiProblem(404, "Not found", f"no item {item_id}")
    return item_out(db, rec)


@router.get("/jobs/{job_id}", response_model=JobOut, responses=R)
def get_job(
    job_id: Annotated[int, Field(ge=1, le=2**63 - 1)], actor: RegistryReader, db: DB
) -> Any:
    job = db.get(WorkItem, job_id)
    rec = db.get(ContentRecord, job.content_record_id) if job and job.content_record_id else None
    if job is None or (
        actor.role not in ("admin", "reviewer") and (rec is None or not _can_see(actor, rec))
    ):
        raise ApiProblem(404, "Not found", f"no job {job_id}")
    return _job_out(job)


@router.post("/inspect", response_model=ItemOut, responses=R, openapi_extra=_FILE_BODY)
async def inspect_upload(request: Request, actor: RegistryReader, db: DB) -> Any:
    """Inspect a small file now (metadata path: records, signatures, C2PA, IPTC, metadata
    traces) and store its content record; the answer is the item with its verdict."""
    if db.in_transaction():
        await run_in_threadpool(db.commit)
    ctx = _ctx(request)
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise ApiProblem(415, "Unsupported media type", "send multipart/form-data (field file)")
    limit = ctx.settings.inspect_max_bytes
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > limit + 64 * 1024:
        raise ApiProblem(
            413, "Request body too large", f"inspect takes files up to {limit} bytes; use ingest"
        )
    upload, _ = await _upload(request)
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise ApiProblem(
            413, "Request body too large", f"inspect takes files up to {limit} bytes; use ingest"
        )
    if not data:
        raise ApiProblem(422, "Invalid input", "the file is empty")
    filename = (upload.filename or "")[:255] or None

    def run() -> ItemOut:
        from synthlabel.service.ingest import inspect_now

        rec, row = inspect_now(
            ctx, data, filename, actor=actor.audit_name, user_ref=_user_ref(actor)
        )
        return item_out(None, rec, report=row)

    try:
        return await run_in_threadpool(run)
    except InspectFailed as exc:
        raise ApiProblem(422, "Invalid input", f"cannot inspect the file: {exc}") from None
    except (BlobError, OSError) as exc:
        raise ApiProblem(503, "Service unavailable", f"cannot store the upload: {exc}") from None
