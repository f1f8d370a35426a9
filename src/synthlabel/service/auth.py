"""Accounts and credentials: password hashing (Argon2id), API keys (shown once, stored as a
lookup prefix + SHA-256), UI login sessions with a CSRF token, and the user operations the
API and the CLI share (so both are audited the same way).

API key format: ``slk_<12 hex prefix>_<43 url-safe secret chars>``. The prefix finds the row;
the SHA-256 of the whole key is compared in constant time. Keys carry 256 bits of entropy, so
a fast hash is enough (a slow password hash would only slow every request).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from synthlabel.service.db.models import ROLES, ApiKey, LoginSession, User
from synthlabel.service.db.types import utcnow

KEY_PREFIX = "slk_"
_hasher = PasswordHasher()


class AuthError(ValueError):
    """A user operation cannot be done (unknown user, bad role, ...); the message says why."""


@dataclass(frozen=True)
class Actor:
    """Who is making a request."""

    user_id: int
    name: str
    role: str
    provider_id: int | None
    via: str  # "api_key" | "session"
    session_id: int | None = None

    @property
    def audit_name(self) -> str:
        return f"user:{self.name}"


# --- passwords ------------------------------------------------------------------------------


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    if not stored:
        return False
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def check_login(session: Session, name: str, password: str) -> User | None:
    """The active user with this name and password, else None (same work either way)."""
    user = session.execute(select(User).where(User.name == name)).scalar_one_or_none()
    if user is None or not user.is_active or not user.password_hash:
        verify_password(_DUMMY_HASH, password)  # equalise timing
        return None
    return user if verify_password(user.password_hash, password) else None


# --- API keys -------------------------------------------------------------------------------


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def new_api_key() -> tuple[str, str, str]:
    """(the key to show once, its lookup prefix, the hash to store)."""
    prefix = secrets.token_hex(6)
    key = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    return key, prefix, _sha256(key)


def _key_prefix(key: str) -> str:
    """The lookup prefix of a key that starts with :data:`KEY_PREFIX`."""
    return key[len(KEY_PREFIX) :].split("_", 1)[0]


def actor_from_api_key(session: Session, key: str) -> Actor | None:
    found = lookup_api_key(session, key)
    return found[2] if found is not None else None


def lookup_api_key(session: Session, key: str) -> tuple[str, datetime | None, Actor] | None:
    """(the stored hash, the expiry, the actor) of a valid key, else None."""
    if not key.startswith(KEY_PREFIX) or key.count("_") < 2:
        return None
    prefix = _key_prefix(key)
    if len(prefix) != 12:
        return None
    row = session.execute(
        select(ApiKey, User).join(User, ApiKey.user_id == User.id).where(ApiKey.prefix == prefix)
    ).one_or_none()
    if row is None:
        return None
    api_key, user = row
    if not hmac.compare_digest(api_key.key_hash, _sha256(key)):
        return None
    now = utcnow()
    if api_key.revoked_at is not None or (api_key.expires_at and api_key.expires_at <= now):
        return None
    if not user.is_active:
        return None
    actor = Actor(user.id, user.name, user.role, user.provider_id, "api_key")
    return api_key.key_hash, api_key.expires_at, actor


class ApiKeyCache:
    """API keys checked recently, so a busy client's requests skip the database lookup.

    An entry holds what :func:`lookup_api_key` read (the key's SHA-256, its expiry, the
    actor) for ``ttl`` seconds; a hit still compares the whole key's hash in constant time and
    checks the expiry. Any write to an API key or a user through a session of this process
    (revoking, disabling, a role change) empties every cache at once; a write by another
    process (the CLI, a second server process) is seen within ``ttl`` seconds. Only keys that
    were valid are kept, so unknown keys cannot fill it. ``ttl=0`` turns it off.
    """

    MAX_ENTRIES = 10_000

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[str, datetime | None, Actor, float]] = {}
        self._generation = _writes

    def get(self, key: str) -> Actor | None:
        """The actor of a cached, still valid key; None when the database must be asked."""
        if self.ttl <= 0 or not key.startswith(KEY_PREFIX):
            return None
        with self._lock:
            if self._generation != _writes:
                self._entries.clear()
                self._generation = _writes
            entry = self._entries.get(_key_prefix(key))
        if entry is None:
            return None
        key_hash, expires_at, actor, stored = entry
        if time.monotonic() - stored > self.ttl or (expires_at and expires_at <= utcnow()):
            return None
        return actor if hmac.compare_digest(key_hash, _sha256(key)) else None

    def put(self, key: str, found: tuple[str, datetime | None, Actor], generation: int) -> None:
        """Remember a key :func:`lookup_api_key` found valid (``generation``: the write
        generation read before the lookup; a write since then keeps the result out)."""
        if self.ttl <= 0:
            return
        with self._lock:
            if generation != _writes:
                return
            if len(self._entries) >= self.MAX_ENTRIES:
                self._entries.clear()
            self._entries[_key_prefix(key)] = (*found, time.monotonic())


#: Flushes in this process that changed an API key or a user (caches compare it).
_writes = 0


def credential_generation() -> int:
    return _writes


@event.listens_for(Session, "before_flush")
def _credential_write(session: Session, _ctx: Any, _instances: Any) -> None:
    global _writes
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, ApiKey | User):
            _writes += 1
            return


# --- UI sessions ----------------------------------------------------------------------------


def start_session(
    session: Session, user: User, hours: int, client: str | None
) -> tuple[str, LoginSession]:
    """(the cookie token, the stored session row with its CSRF token)."""
    token = secrets.token_urlsafe(32)
    row = LoginSession(
        user_id=user.id,
        token_hash=_sha256(token),
        csrf_token=secrets.token_urlsafe(32),
        expires_at=utcnow() + timedelta(hours=hours),
        client=(client or "")[:100] or None,
    )
    session.add(row)
    session.flush()
    return token, row


def session_from_token(session: Session, token: str) -> tuple[Actor, LoginSession] | None:
    if not token or len(token) > 200:
        return None
    row = session.execute(
        select(LoginSession, User)
        .join(User, LoginSession.user_id == User.id)
        .where(LoginSession.token_hash == _sha256(token))
    ).one_or_none()
    if row is None:
        return None
    login, user = row
    if login.revoked_at is not None or login.expires_at <= utcnow() or not user.is_active:
        return None
    actor = Actor(user.id, user.name, user.role, user.provider_id, "session", login.id)
    return actor, login


def csrf_ok(login: LoginSession, presented: str | None) -> bool:
    return bool(presented) and hmac.compare_digest(login.csrf_token, str(presented))


# --- user operations shared by API and CLI ----------------------------------------------------


def check_role(role: str) -> str:
    if role not in ROLES:
        raise AuthError(f"role {role!r}: expected one of {', '.join(ROLES)}")
    return role


def create_user(
    session: Session,
    name: str,
    role: str,
    *,
    password: str | None = None,
    display_name: str | None = None,
    provider_id: int | None = None,
) -> User:
    check_role(role)
    if session.execute(select(User.id).where(User.name == name)).first() is not None:
        raise AuthError(f"user {name!r} already exists")
    user = User(
        name=name,
        role=role,
        display_name=display_name,
        provider_id=provider_id,
        password_hash=hash_password(password) if password else None,
    )
    session.add(user)
    session.flush()
    return user


def find_user(session: Session, name: str) -> User:
    user = session.execute(select(User).where(User.name == name)).scalar_one_or_none()
    if user is None:
        raise AuthError(f"no user named {name!r}")
    return user


def issue_key(
    session: Session, user: User, name: str | None = None, expires_at: datetime | None = None
) -> tuple[str, ApiKey]:
    """A new API key for ``user``: (the key, shown once; the stored row)."""
    key, prefix, key_hash = new_api_key()
    row = ApiKey(
        user_id=user.id, prefix=prefix, key_hash=key_hash, name=name, expires_at=expires_at
    )
    session.add(row)
    session.flush()
    return key, row
