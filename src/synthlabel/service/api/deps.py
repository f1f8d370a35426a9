"""Request dependencies: the database session, the actor, role checks, CSRF, rate limits."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from synthlabel.service.api.errors import ApiProblem
from synthlabel.service.auth import Actor, actor_from_api_key, csrf_ok, session_from_token
from synthlabel.service.limits import TokenBucket
from synthlabel.service.settings import Settings

SESSION_COOKIE = "synthlabel_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass
class AppState:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    public_limiter: TokenBucket


def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.synthlabel
    return state


def get_db(request: Request) -> Iterator[Session]:
    """A session for this request; handlers commit explicitly, anything else is rolled back."""
    with app_state(request).sessions() as session:
        session.info["actor"] = "anonymous"
        yield session


DB = Annotated[Session, Depends(get_db)]


def client_key(request: Request) -> str:
    settings = app_state(request).settings
    if settings.trust_forwarded_for:
        fwd = request.headers.get("x-forwarded-for", "")
        if fwd:
            return fwd.split(",")[0].strip()
    return request.client.host if request.client else "unknown"


def public_rate_limit(request: Request) -> None:
    """Public endpoints: a token bucket per client address; 429 with Retry-After when empty."""
    wait = app_state(request).public_limiter.take(client_key(request))
    if wait > 0:
        raise ApiProblem(
            429,
            "Too many requests",
            f"rate limit reached for this client; retry in {wait:.0f} s",
            headers={"Retry-After": str(max(1, round(wait)))},
        )


async def _csrf_token_of(request: Request) -> str | None:
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    ctype = request.headers.get("content-type", "")
    if ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    return None


async def optional_actor(request: Request, db: DB) -> Actor | None:
    """The caller: ``Authorization: Bearer <API key>``, else the UI session cookie (whose
    unsafe requests must carry the session's CSRF token in ``X-CSRF-Token`` or the
    ``csrf_token`` form field), else None."""
    auth = request.headers.get("authorization")
    if auth is not None:
        scheme, _, key = auth.partition(" ")
        # the lookup is blocking database I/O: off the event loop, or it stalls every request
        actor = (
            await run_in_threadpool(actor_from_api_key, db, key.strip())
            if scheme.lower() == "bearer"
            else None
        )
        if actor is None:
            raise ApiProblem(
                401,
                "Not authenticated",
                "invalid, revoked or expired API key (use 'Authorization: Bearer <key>')",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
    else:
        token = request.cookies.get(SESSION_COOKIE)
        if not token:
            return None
        found = await run_in_threadpool(session_from_token, db, token)
        if found is None:
            return None
        actor, login = found
        if request.method not in SAFE_METHODS and not csrf_ok(login, await _csrf_token_of(request)):
            raise ApiProblem(
                403,
                "Forbidden",
                f"missing or wrong CSRF token (send the {CSRF_HEADER} header or the "
                f"{CSRF_FIELD} form field of your session)",
            )
    db.info["actor"] = actor.audit_name
    return actor


def require(*roles: str) -> Callable[..., Any]:
    """A dependency: the authenticated actor, whose role must be one of ``roles``."""

    async def dependency(
        actor: Annotated[Actor | None, Depends(optional_actor)],
    ) -> Actor:
        if actor is None:
            raise ApiProblem(
                401,
                "Not authenticated",
                "send 'Authorization: Bearer <API key>' or log in",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if actor.role not in roles:
            raise ApiProblem(
                403,
                "Forbidden",
                f"role {actor.role!r} may not do this (needs {' or '.join(roles)})",
            )
        return actor

    return dependency


AnyUser = Annotated[Actor, Depends(require("admin", "reviewer", "provider", "public"))]
Admin = Annotated[Actor, Depends(require("admin"))]
Staff = Annotated[Actor, Depends(require("admin", "reviewer"))]
RegistryReader = Annotated[Actor, Depends(require("admin", "reviewer", "provider"))]
