"""``/healthz`` (the process answers) and ``/readyz`` (the database answers, schema at head)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel
from sqlalchemy import text

from synthlabel.service.api.deps import app_state
from synthlabel.service.api.errors import ApiProblem, problem_responses

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str


class Ready(BaseModel):
    status: str
    database: str
    revision: str | None


@router.get("/healthz", response_model=Health)
def healthz() -> Health:
    return Health(status="ok")


@router.get("/readyz", response_model=Ready, responses=problem_responses(503))
def readyz(request: Request) -> Ready:
    from synthlabel.service.db.migrate import current_revision, head_revision

    state = app_state(request)
    try:
        with state.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        revision = current_revision(state.engine)
    except Exception as exc:
        raise ApiProblem(503, "Service unavailable", f"database unreachable: {exc}") from None
    if revision != head_revision():
        raise ApiProblem(
            503,
            "Service unavailable",
            f"database schema at {revision}, expected {head_revision()}: run synthlabel db upgrade",
        )
    return Ready(status="ready", database=state.engine.dialect.name, revision=revision)
