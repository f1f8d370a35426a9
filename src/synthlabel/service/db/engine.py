"""Engines and sessions for SQLite and PostgreSQL.

* ``postgresql://`` and ``postgres://`` URLs are driven by psycopg 3 (``postgresql+psycopg``).
* SQLite: WAL journal, foreign keys on, a 30 s busy timeout, and every transaction begins with
  ``BEGIN IMMEDIATE`` (one writer at a time, no "database is locked" on a read-to-write upgrade;
  readers are not blocked in WAL mode).
* PostgreSQL in a schema other than ``public``: pass ``schema=`` (tests do) and the connections
  set ``search_path`` to it.

Sessions from :func:`session_factory` carry the audit hooks: every ORM write appends an
``audit_event`` in the same transaction (:mod:`synthlabel.service.audit`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker

_SCHEMA_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class DatabaseURLError(ValueError):
    """The database URL cannot be used (the message says why)."""


def normalise_url(url: str) -> URL:
    """A SQLAlchemy URL for ``url``; plain ``postgresql://`` means psycopg 3."""
    try:
        parsed = make_url(url)
    except Exception as exc:  # sqlalchemy.exc.ArgumentError and friends
        raise DatabaseURLError(f"database URL {url!r} is not a URL: {exc}") from None
    backend = parsed.get_backend_name()
    if backend in {"postgresql", "postgres"}:
        if parsed.drivername in {"postgresql", "postgres"}:
            parsed = parsed.set(drivername="postgresql+psycopg")
    elif backend != "sqlite":
        raise DatabaseURLError(
            f"database URL {parsed.render_as_string(hide_password=True)!r}: "
            "only sqlite:///FILE and postgresql://... are supported"
        )
    return parsed


def make_engine(url: str, *, schema: str | None = None, echo: bool = False) -> Engine:
    """An engine for ``url``; ``schema`` (PostgreSQL only) puts every table in that schema."""
    parsed = normalise_url(url)
    kwargs: dict[str, Any] = {"echo": echo, "future": True}
    if parsed.get_backend_name() == "sqlite":
        kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
        engine = create_engine(parsed, **kwargs)
        _sqlite_setup(engine)
        return engine
    if schema is not None:
        if not _SCHEMA_RE.match(schema):
            raise DatabaseURLError(f"schema {schema!r}: use lowercase letters, digits and _")
        kwargs["connect_args"] = {"options": f"-c search_path={schema}"}
    kwargs["pool_pre_ping"] = True
    return create_engine(parsed, **kwargs)


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below own transaction starts (pysqlite's own
        # implicit BEGIN is deferred and defers the write lock to mid-transaction).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def session_factory(engine: Engine, secret: str | None = None) -> sessionmaker[Session]:
    """Sessions bound to ``engine`` whose writes are audited (``session.info['actor']`` names
    who writes; default ``"system"``); ``secret`` signs the audit chain's head."""
    from synthlabel.service.audit import install_audit_hooks

    factory = sessionmaker(bind=engine, expire_on_commit=False, class_=Session)
    install_audit_hooks(factory, secret)
    return factory


@contextmanager
def session_scope(factory: sessionmaker[Session], actor: str = "system") -> Iterator[Session]:
    """A transaction: commit on success, roll back on any exception."""
    with factory() as session:
        session.info["actor"] = actor
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
