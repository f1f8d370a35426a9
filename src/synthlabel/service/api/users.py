"""Users and API keys (admin only). A new key is returned once; only its prefix is kept."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import select

from synthlabel.service.api.deps import DB, Admin
from synthlabel.service.api.errors import ApiProblem, problem_responses
from synthlabel.service.api.schemas import ORM, Id, Name200, Role, UtcDatetime
from synthlabel.service.auth import AuthError, create_user, hash_password, issue_key
from synthlabel.service.db.models import ApiKey, Provider, User
from synthlabel.service.db.types import utcnow

router = APIRouter(prefix="/api/v1", tags=["users"])
R = problem_responses(401, 403, 404, 409, 422)

UserName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.@-]{1,100}$")]
Password = Annotated[str, StringConstraints(min_length=8, max_length=1000)]


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: UserName
    role: Role
    display_name: Name200 | None = None
    password: Password | None = Field(default=None, description="for UI login; API keys need none")
    provider_id: Id | None = None


class UserPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Role | None = None
    display_name: Name200 | None = None
    password: Password | None = None
    provider_id: Id | None = None
    is_active: bool | None = None


class UserOut(ORM):
    id: int
    name: str
    display_name: str | None
    role: str
    provider_id: int | None
    is_active: bool
    has_password: bool
    created_at: datetime


class KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: (
        Annotated[str, StringConstraints(max_length=100, pattern=r"^[^\x00-\x1f\x7f]*$")] | None
    ) = None
    expires_at: UtcDatetime | None = None


class KeyOut(ORM):
    id: int
    user_id: int
    prefix: str
    name: str | None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


class NewKey(KeyOut):
    key: str = Field(description="the API key; shown only now, store it safely")


def _user_out(user: User) -> UserOut:
    return UserOut(
        id=user.id,
        name=user.name,
        display_name=user.display_name,
        role=user.role,
        provider_id=user.provider_id,
        is_active=user.is_active,
        has_password=bool(user.password_hash),
        created_at=user.created_at,
    )


def _user(db: DB, user_id: int) -> User:
    user = db.get(User, user_id)
    if user is None:
        raise ApiProblem(404, "Not found", f"no user with id {user_id}")
    return user


def _check_provider(db: DB, provider_id: int | None) -> None:
    if provider_id is not None and db.get(Provider, provider_id) is None:
        raise ApiProblem(422, "Invalid input", f"provider_id {provider_id}: no such provider")


@router.get("/users", response_model=list[UserOut], responses=R)
def list_users(_actor: Admin, db: DB) -> Any:
    return [_user_out(u) for u in db.execute(select(User).order_by(User.id)).scalars()]


@router.post("/users", response_model=UserOut, status_code=201, responses=R)
def add_user(body: UserIn, _actor: Admin, db: DB) -> Any:
    _check_provider(db, body.provider_id)
    try:
        user = create_user(
            db,
            body.name,
            body.role,
            password=body.password,
            display_name=body.display_name,
            provider_id=body.provider_id,
        )
    except AuthError as exc:
        raise ApiProblem(409, "Conflict", str(exc)) from None
    db.commit()
    return _user_out(user)


@router.get("/users/{user_id}", response_model=UserOut, responses=R)
def get_user(user_id: Id, _actor: Admin, db: DB) -> Any:
    return _user_out(_user(db, user_id))


@router.patch("/users/{user_id}", response_model=UserOut, responses=R)
def update_user(user_id: Id, body: UserPatch, actor: Admin, db: DB) -> Any:
    user = _user(db, user_id)
    fields = body.model_dump(exclude_unset=True)
    if fields.get("role", "") is None or fields.get("is_active", False) is None:
        raise ApiProblem(422, "Invalid input", "role and is_active cannot be null")
    if user.id == actor.user_id and (
        fields.get("is_active") is False or fields.get("role", "admin") != "admin"
    ):
        raise ApiProblem(409, "Conflict", "you cannot demote or deactivate yourself")
    if "provider_id" in fields:
        _check_provider(db, fields["provider_id"])
    if "password" in fields:
        pw = fields.pop("password")
        user.password_hash = hash_password(pw) if pw else None
    for key, value in fields.items():
        setattr(user, key, value)
    db.commit()
    return _user_out(user)


@router.get("/users/{user_id}/keys", response_model=list[KeyOut], responses=R)
def list_keys(user_id: Id, _actor: Admin, db: DB) -> Any:
    _user(db, user_id)
    rows = db.execute(select(ApiKey).where(ApiKey.user_id == user_id).order_by(ApiKey.id))
    return [KeyOut.model_validate(k) for k in rows.scalars()]


@router.post("/users/{user_id}/keys", response_model=NewKey, status_code=201, responses=R)
def new_key(user_id: Id, body: KeyIn, _actor: Admin, db: DB) -> Any:
    """A new API key for the user; the answer is the only time the key is shown."""
    user = _user(db, user_id)
    key, row = issue_key(db, user, body.name, body.expires_at)
    db.commit()
    return NewKey(key=key, **KeyOut.model_validate(row).model_dump())


@router.delete("/keys/{key_id}", status_code=204, responses=R)
def revoke_key(key_id: Id, _actor: Admin, db: DB) -> Response:
    row = db.get(ApiKey, key_id)
    if row is None:
        raise ApiProblem(404, "Not found", f"no API key with id {key_id}")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        db.commit()
    return Response(status_code=204)
