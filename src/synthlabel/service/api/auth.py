"""UI login/logout (a session cookie + a CSRF token) and ``whoami``."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field

from synthlabel.service import audit
from synthlabel.service.api.deps import (
    DB,
    SESSION_COOKIE,
    AnyUser,
    app_state,
    client_key,
    public_rate_limit,
)
from synthlabel.service.api.errors import ApiProblem, problem_responses
from synthlabel.service.auth import check_login, start_session
from synthlabel.service.db.models import LoginSession
from synthlabel.service.db.types import utcnow

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


class LoginRequest(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=1000)


class WhoAmI(BaseModel):
    id: int
    name: str
    role: str
    provider_id: int | None
    via: str = Field(description="api_key or session")


class LoginResult(BaseModel):
    user: WhoAmI
    csrf_token: str = Field(description="send as X-CSRF-Token (or form field csrf_token)")


@router.post(
    "/login",
    response_model=LoginResult,
    dependencies=[Depends(public_rate_limit)],
    responses=problem_responses(401, 422, 429),
)
def login(body: LoginRequest, request: Request, response: Response, db: DB) -> LoginResult:
    """Start a UI session: sets the ``synthlabel_session`` cookie (HttpOnly, SameSite=Lax)."""
    settings = app_state(request).settings
    user = check_login(db, body.name, body.password)
    if user is None:
        raise ApiProblem(401, "Not authenticated", "wrong name or password")
    db.info["actor"] = f"user:{user.name}"
    token, row = start_session(db, user, settings.session_hours, client_key(request))
    db.commit()
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=settings.session_hours * 3600,
        httponly=True,
        samesite="lax",
        secure=settings.cookie_secure,
        path="/",
    )
    who = WhoAmI(
        id=user.id, name=user.name, role=user.role, provider_id=user.provider_id, via="session"
    )
    return LoginResult(user=who, csrf_token=row.csrf_token)


@router.post("/logout", status_code=204, responses=problem_responses(401, 403))
def logout(actor: AnyUser, response: Response, db: DB) -> None:
    """End the UI session (needs the CSRF token); an API key caller gets 204 and nothing
    changes."""
    if actor.session_id is not None:
        row = db.get(LoginSession, actor.session_id)
        if row is not None:
            row.revoked_at = utcnow()
            audit.record(db, "auth.logout", "app_user", actor.user_id)
            db.commit()
    response.delete_cookie(SESSION_COOKIE, path="/")


@router.get("/whoami", response_model=WhoAmI, responses=problem_responses(401))
def whoami(actor: AnyUser) -> WhoAmI:
    return WhoAmI(
        id=actor.user_id,
        name=actor.name,
        role=actor.role,
        provider_id=actor.provider_id,
        via=actor.via,
    )
