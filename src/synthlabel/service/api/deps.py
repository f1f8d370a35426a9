"""Request dependencies: the database session, the actor, role checks, CSRF, rate limits."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from synthlabel.service.api.errors import ApiProblem
from synthlabel.service.auth import (
    Actor,
    ApiKeyCache,
    credential_generation,
    csrf_ok,
    lookup_api_key,
    session_from_token,
)
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
    api_keys: ApiKeyCache = field(default_factory=lambda: ApiKeyCache(0))


def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.synthlabel
    return state


async def get_db(request: Request) -> AsyncIterator[Session]:
    """A session for this request; handlers commit explicitly, anything else is rolled back.

    Made on the event loop (a session connects only when first used); closed there too unless
    it still holds a connection, whose rollback is database I/O and goes to a thread. A request
    whose actor came from the API-key cache and whose handler does its database work in its
    own session never leaves the event loop for this one."""
    session = app_state(request).sessions()
    session.info["actor"] = "anonymous"
    try:
        yield session
    finally:
        if session.in_transaction():
            await run_in_threadpool(session.close)
        else:
            session.close()


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


async def _api_key_actor(cache: ApiKeyCache, db: Session, key: str) -> Actor | None:
    actor = cache.get(key)
    if actor is not None:
        return actor
    generation = credential_generation()
    # the lookup is blocking database I/O: off the event loop, or it stalls every request
    found = await run_in_threadpool(lookup_api_key, db, key)
    if found is None:
        return None
    cache.put(key, found, generation)
    return found[2]


async def optional_actor(request: Request, db: DB) -> Actor | None:
    """The caller: ``Authorization: Bearer <API key>``, else the UI session cookie (whose
    unsafe requests must carry the session's CSRF token in ``X-CSRF-Token`` or the
    ``csrf_token`` form field), else None."""
    auth = request.headers.get("authorization")
    if auth is not None:
        scheme, _, key = auth.partition(" ")
        actor = (
            await _api_key_actor(app_state(request).api_keys, db, key.strip())
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
