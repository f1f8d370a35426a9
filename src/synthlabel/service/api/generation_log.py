"""The generation log: providers post what they generated; stripped copies are traced back.

``POST /api/v1/generation-log`` (a provider account, for its own provider; an admin for any):
JSON ``{"produce_id", "record", "hashes", "sha256", ...}`` or multipart with the ``file`` itself
(the service hashes it) and the other fields as form fields (``record`` as JSON text).
``GET /api/v1/generation-log`` lists entries (a provider sees its own).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from synthlabel.service import genlog
from synthlabel.service.api.deps import DB, RegistryReader, app_state, require
from synthlabel.service.api.errors import ApiProblem, ProblemItem, problem_responses
from synthlabel.service.api.schemas import Id, Page, UtcDatetime
from synthlabel.service.auth import Actor
from synthlabel.service.db.models import GenerationLogEntry, Provider, ProviderService
from synthlabel.service.txn import transaction

router = APIRouter(prefix="/api/v1", tags=["generation log"])
R = problem_responses(401, 403, 404, 409, 413, 415, 422, 503)
Poster = Annotated[Actor, Depends(require("admin", "provider"))]

ProduceId = Annotated[
    str, StringConstraints(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f\x7f]+$")
]
Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


class GenerationLogIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    produce_id: ProduceId
    provider_id: Id | None = Field(default=None, description="admins only; else the caller's")
    service_id: Id | None = None
    record: dict[str, Any] | None = Field(default=None, description="the AIGC record written")
    hashes: dict[str, Any] | None = Field(
        default=None,
        description='{"pdq": hex, "quality": n} | {"pdq_frames": [hex...], "step": s} | '
        '{"hk_audio": base64, "step": s}',
    )
    sha256: Sha256 | None = None
    generated_at: UtcDatetime | None = None


class GenerationLogOut(BaseModel):
    id: int
    provider_id: int
    service_id: int | None
    produce_id: str
    sha256: str | None
    perceptual_hashes: dict[str, Any] | None
    record: dict[str, Any] | None
    generated_at: datetime | None
    created_at: datetime


def _out(e: GenerationLogEntry) -> GenerationLogOut:
    hashes = dict(e.perceptual_hashes or {})
    if "hk_audio" in hashes:  # long; the registry keeps it
        hashes["hk_audio"] = f"<{len(hashes['hk_audio'])} base64 chars>"
    return GenerationLogOut(
        id=e.id,
        provider_id=e.provider_id,
        service_id=e.service_id,
        produce_id=e.produce_id,
        sha256=e.sha256,
        perceptual_hashes=hashes or None,
        record=e.record,
        generated_at=e.generated_at,
        created_at=e.created_at,
    )


_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": GenerationLogIn.model_json_schema()},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file", "produce_id"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "produce_id": {"type": "string", "maxLength": 128},
                        "record": {"type": "string", "description": "JSON object"},
                        "provider_id": {"type": "integer"},
                        "service_id": {"type": "integer"},
                    },
                }
            },
        },
    }
}


def _invalid(loc: str, msg: str) -> ApiProblem:
    return ApiProblem(
        422, "Invalid input", f"{loc}: {msg}", errors=[ProblemItem(loc=["body", loc], msg=msg)]
    )


async def _parse(request: Request) -> tuple[GenerationLogIn, bytes | None, str | None]:
    ctype = request.headers.get("content-type", "")
    raw: dict[str, Any]
    data: bytes | None = None
    filename: str | None = None
    if ctype.startswith("application/json"):
        try:
            raw = json.loads(await request.body())
        except (ValueError, UnicodeDecodeError):
            raise ApiProblem(400, "Bad request", "the body is not JSON") from None
        if not isinstance(raw, dict):
            raise _invalid("body", "expected a JSON object")
    elif ctype.startswith("multipart/form-data"):
        from starlette.datastructures import UploadFile

        try:
            form = await request.form(max_files=1, max_fields=10)
        except Exception as exc:
            raise ApiProblem(400, "Bad request", f"cannot read the multipart body: {exc}") from None
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise _invalid("file", "required file")
        data = await upload.read()
        filename = upload.filename
        raw = {}
        for k, v in form.items():
            if k == "file" or not isinstance(v, str):
                continue
            if k == "record":
                try:
                    raw[k] = json.loads(v)
                except ValueError:
                    raise _invalid("record", "not JSON") from None
            elif k in ("provider_id", "service_id"):
                if not v.isdigit():
                    raise _invalid(k, "not an integer")
                raw[k] = int(v)
            else:
                raw[k] = v
    else:
        raise ApiProblem(415, "Unsupported media type", "send application/json or multipart")
    try:
        body = GenerationLogIn.model_validate(raw)
    except ValidationError as exc:
        items = [
            ProblemItem(loc=["body", *(str(p) for p in e["loc"])], msg=e["msg"])
            for e in exc.errors()
        ]
        raise ApiProblem(
            422, "Invalid input", "invalid generation log entry", errors=items
        ) from None
    if data is None and body.hashes is None and body.sha256 is None:
        raise _invalid("hashes", "give hashes, sha256 or the file")
    if data is not None and not data:
        raise _invalid("file", "the file is empty")
    return body, data, filename


def _provider_for(db: Session, actor: Actor, body: GenerationLogIn) -> Provider:
    if actor.role == "provider":
        if actor.provider_id is None:
            raise ApiProblem(403, "Forbidden", "this account is not linked to a provider")
        if body.provider_id is not None and body.provider_id != actor.provider_id:
            raise ApiProblem(403, "Forbidden", "a provider may post only its own generation log")
        pid = actor.provider_id
    else:
        if body.provider_id is None:
            raise _invalid("provider_id", "required for an admin")
        pid = body.provider_id
    provider = db.get(Provider, pid)
    if provider is None:
        raise ApiProblem(404, "Not found", f"no provider with id {pid}")
    if body.service_id is not None:
        svc = db.get(ProviderService, body.service_id)
        if svc is None or svc.provider_id != pid:
            raise _invalid("service_id", "not a service of this provider")
    return provider


def _hash_file(data: bytes, filename: str | None) -> tuple[str, Any]:
    import hashlib

    from synthlabel.detect.hashes import hash_bytes
    from synthlabel.errors import SynthlabelError
    from synthlabel.formats import registry

    sha = hashlib.sha256(data).hexdigest()
    try:
        handler = registry.sniff(data[: registry.max_sniff_bytes()], filename or "")
        return sha, hash_bytes(data, handler.id)
    except SynthlabelError as exc:
        raise _invalid("file", f"cannot hash it: {exc}") from None


@router.post(
    "/generation-log",
    response_model=GenerationLogOut,
    status_code=201,
    responses=R,
    openapi_extra=_BODY,
)
async def post_generation_log(request: Request, actor: Poster, db: DB) -> Any:
    """Log one generated output: its ProduceID, AIGC record and hashes (or the file)."""
    body, data, filename = await _parse(request)

    def provider_id_of() -> int:  # blocking database I/O: off the event loop
        provider = _provider_for(db, actor, body)
        db.commit()
        return provider.id

    provider_id = await run_in_threadpool(provider_id_of)
    content = None
    sha = body.sha256
    if data is not None:
        sha, content = await run_in_threadpool(_hash_file, data, filename)
    elif body.hashes is not None:
        try:
            content = genlog.content_hash_from_json(body.hashes)
        except genlog.HashInputError as exc:
            raise _invalid("hashes", str(exc)) from None
    state = app_state(request)
    registry_path = state.settings.registry_path

    def tx(s: Session) -> GenerationLogOut:
        entry = GenerationLogEntry(
            provider_id=provider_id,
            service_id=body.service_id,
            produce_id=body.produce_id,
            sha256=sha,
            record=body.record,
            perceptual_hashes=genlog.hash_summary(content) if content is not None else None,
            generated_at=body.generated_at,
        )
        s.add(entry)
        s.flush()
        if content is not None and registry_path is not None:
            prov = s.get(Provider, provider_id)
            assert prov is not None
            reg_id = genlog.register(registry_path, entry, prov, content)
            entry.perceptual_hashes = {**(entry.perceptual_hashes or {}), "registry_entry": reg_id}
        s.flush()
        return _out(entry)

    try:
        return await run_in_threadpool(
            lambda: transaction(state.sessions, tx, actor=actor.audit_name)
        )
    except IntegrityError:
        raise ApiProblem(
            409, "Conflict", f"ProduceID {body.produce_id!r} is already in this provider's log"
        ) from None
    except genlog.RegistryUnavailable as exc:
        raise ApiProblem(503, "Service unavailable", str(exc)) from None


@router.get("/generation-log", response_model=Page[GenerationLogOut], responses=R)
def list_generation_log(
    actor: RegistryReader,
    db: DB,
    produce_id: Annotated[str | None, Query(max_length=128)] = None,
    provider_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=2**62)] = 0,
) -> Any:
    stmt = select(GenerationLogEntry).order_by(GenerationLogEntry.id)
    if actor.role == "provider":
        stmt = stmt.where(GenerationLogEntry.provider_id == (actor.provider_id or -1))
    elif provider_id is not None:
        stmt = stmt.where(GenerationLogEntry.provider_id == provider_id)
    if produce_id:
        stmt = stmt.where(GenerationLogEntry.produce_id == produce_id)
    total = db.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
    rows = db.scalars(stmt.limit(limit).offset(offset)).all()
    return {"items": [_out(e) for e in rows], "total": total, "limit": limit, "offset": offset}
