"""Errors as RFC 9457 problem objects (``application/problem+json``), never a 500 for bad input.

Raise :class:`ApiProblem` from handlers; database constraint violations become 409 and values
the database refuses (out of range, NUL bytes) become 422.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import DataError, IntegrityError, OperationalError, StatementError
from starlette.exceptions import HTTPException as StarletteHTTPException

from synthlabel.service.db.models import ImmutableRowError
from synthlabel.service.txn import DatabaseUnavailable

log = logging.getLogger("synthlabel.service")
PROBLEM_TYPE = "application/problem+json"


class ProblemItem(BaseModel):
    """One problem with one part of the input (a field, a CSV row and column)."""

    loc: list[str | int] = Field(default_factory=list, description="Where: field path or row")
    msg: str
    row: int | None = Field(default=None, description="CSV row number (1 = first data row)")
    column: str | None = None


class Problem(BaseModel):
    """An error response (RFC 9457)."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    errors: list[ProblemItem] | None = None


class ApiProblem(Exception):
    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        errors: list[ProblemItem] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or title)
        self.problem = Problem(title=title, status=status, detail=detail, errors=errors)
        self.headers = headers


def problem_response(problem: Problem, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        problem.model_dump(exclude_none=True),
        status_code=problem.status,
        media_type=PROBLEM_TYPE,
        headers=headers,
    )


_TITLES = {
    400: "Bad request",
    401: "Not authenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request body too large",
    415: "Unsupported media type",
    422: "Invalid input",
    429: "Too many requests",
    503: "Service unavailable",
}


def problem_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries for these status codes (and 400: a body that cannot be
    parsed at all)."""
    return {
        code: {
            "model": Problem,
            "description": _TITLES.get(code, "Error"),
            "content": {PROBLEM_TYPE: {}},
        }
        for code in sorted({400, *codes})
    }


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiProblem)
    async def _api_problem(_request: Request, exc: ApiProblem) -> JSONResponse:
        return problem_response(exc.problem, exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        title = _TITLES.get(exc.status_code, "Error")
        detail = exc.detail if isinstance(exc.detail, str) else None
        problem = Problem(title=title, status=exc.status_code, detail=detail)
        return problem_response(problem, getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        items = [
            ProblemItem(
                loc=[p if isinstance(p, int) else str(p) for p in e.get("loc", ())],
                msg=str(e.get("msg", "invalid")),
            )
            for e in exc.errors()
        ]
        where = ", ".join(".".join(str(p) for p in i.loc) for i in items[:3])
        return problem_response(
            Problem(title="Invalid input", status=422, detail=f"invalid: {where}", errors=items)
        )

    @app.exception_handler(IntegrityError)
    async def _integrity(_request: Request, exc: IntegrityError) -> JSONResponse:
        log.info("integrity error: %s", exc.orig)
        return problem_response(
            Problem(
                title="Conflict",
                status=409,
                detail="the change conflicts with existing data (a duplicate unique value or "
                "a reference to a missing or still-referenced row)",
            )
        )

    @app.exception_handler(ImmutableRowError)
    async def _immutable(_request: Request, exc: ImmutableRowError) -> JSONResponse:
        return problem_response(Problem(title="Conflict", status=409, detail=str(exc)))

    @app.exception_handler(DataError)
    async def _data(_request: Request, exc: DataError) -> JSONResponse:
        return problem_response(
            Problem(
                title="Invalid input",
                status=422,
                detail=f"the database refused a value: {str(exc.orig).splitlines()[0]}",
            )
        )

    @app.exception_handler(OperationalError)
    async def _operational(_request: Request, exc: OperationalError) -> JSONResponse:
        # The connection dropped or the database is restarting: the client may retry.
        log.warning("database unavailable: %s", exc.orig)
        return problem_response(
            Problem(
                title="Service unavailable",
                status=503,
                detail="the database is unavailable; retry shortly",
            ),
            {"Retry-After": "1"},
        )

    @app.exception_handler(DatabaseUnavailable)
    async def _unavailable(_request: Request, exc: DatabaseUnavailable) -> JSONResponse:
        log.warning("%s", exc)
        return problem_response(
            Problem(title="Service unavailable", status=503, detail=str(exc)),
            {"Retry-After": "1"},
        )

    @app.exception_handler(StatementError)
    async def _statement(_request: Request, exc: StatementError) -> JSONResponse:
        # Bind-time errors (e.g. an integer too large for SQLite) are bad input; anything else
        # from the database is ours.
        if isinstance(exc.orig, OverflowError | ValueError):
            return problem_response(
                Problem(title="Invalid input", status=422, detail=f"invalid value: {exc.orig}")
            )
        log.exception("database error")
        return problem_response(
            Problem(title="Internal error", status=500, detail="database error; see the log")
        )
