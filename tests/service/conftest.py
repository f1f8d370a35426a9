"""Service test fixtures: every test that takes ``db_url`` runs on SQLite (a file in tmp) and on
the PostgreSQL at 127.0.0.1:5432 (user postgres, database test), each test in its own schema
that is dropped afterwards (leftovers of this session are dropped at its end).

PostgreSQL tests are skipped only when the server is unreachable AND ``CI`` is unset; in CI an
unreachable server fails them. ``SYNTHLABEL_TEST_PG_URL`` points elsewhere.
"""

from __future__ import annotations

import itertools
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

pytest.importorskip("fastapi", reason="needs the [service] extra")
pytest.importorskip("sqlalchemy", reason="needs the [service] extra")

from sqlalchemy import Engine

PG_URL = os.environ.get(
    "SYNTHLABEL_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
_RUN = f"sltest_{os.getpid()}_{secrets.token_hex(3)}"
_counter = itertools.count(1)
_pg_state: dict[str, object] = {}


def _pg_reachable() -> str | None:
    """None when PostgreSQL answers, else why not."""
    if "error" not in _pg_state:
        import psycopg

        try:
            with psycopg.connect(PG_URL.replace("+psycopg", ""), connect_timeout=3) as conn:
                conn.execute("SELECT 1")
            _pg_state["error"] = None
        except Exception as exc:
            _pg_state["error"] = f"PostgreSQL at {PG_URL} unreachable: {exc}"
    err = _pg_state["error"]
    return None if err is None else str(err)


def _pg_admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(PG_URL.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


@dataclass
class ServiceDB:
    url: str
    kind: str  # "sqlite" | "postgresql"
    schema: str | None = None

    def engine(self) -> Engine:
        from synthlabel.service.db.engine import make_engine

        return make_engine(self.url)


def _new_db(kind: str, tmp_path: Path) -> Iterator[ServiceDB]:
    if kind == "sqlite":
        yield ServiceDB(f"sqlite:///{tmp_path / 'service.db'}", "sqlite")
        return
    why = _pg_reachable()
    if why is not None:
        if os.environ.get("CI"):
            pytest.fail(why + " (CI is set: the PostgreSQL tests must run)")
        pytest.skip(why)
    schema = f"{_RUN}_{next(_counter)}"
    _pg_admin(f'CREATE SCHEMA "{schema}"')
    try:
        yield ServiceDB(
            f"{PG_URL}?options={quote(f'-csearch_path={schema}')}", "postgresql", schema
        )
    finally:
        _pg_admin(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", "postgresql"])
def test_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServiceDB]:
    """A fresh, empty database (not migrated) on each backend."""
    yield from _new_db(request.param, tmp_path)


@pytest.fixture
def db_url(test_db: ServiceDB) -> str:
    return test_db.url


@pytest.fixture
def pg_db(tmp_path: Path) -> Iterator[ServiceDB]:
    """PostgreSQL only (concurrency tests)."""
    yield from _new_db("postgresql", tmp_path)


@pytest.fixture(scope="session", autouse=True)
def _drop_leftover_schemas() -> Iterator[None]:
    yield
    if _pg_state.get("error", "unchecked") is None:
        import psycopg

        with psycopg.connect(PG_URL.replace("+psycopg", ""), autocommit=True) as conn:
            rows = conn.execute(
                "SELECT nspname FROM pg_namespace WHERE nspname LIKE %s", (_RUN + "%",)
            ).fetchall()
            for (name,) in rows:
                conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')  # type: ignore[arg-type]


# --- the app ----------------------------------------------------------------------------------


@dataclass
class Service:
    """An app on a fresh database, an admin key and helpers to add users."""

    client: Any
    app: Any
    settings: Any
    admin_key: str

    def session(self) -> Any:
        return self.app.state.synthlabel.sessions()

    def add_user(self, name: str, role: str, password: str | None = None) -> str:
        """Create a user; their new API key."""
        from synthlabel.service.auth import create_user, issue_key

        with self.session() as s:
            s.info["actor"] = "test"
            user = create_user(s, name, role, password=password)
            key, _ = issue_key(s, user)
            s.commit()
        return key

    def auth(self, key: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {key or self.admin_key}"}


def make_service(db_url: str, **overrides: Any) -> Iterator[Service]:
    from fastapi.testclient import TestClient

    from synthlabel.service.app import create_app
    from synthlabel.service.settings import Settings

    settings = Settings.load(env={}, database_url=db_url, secret_key="test-secret-key", **overrides)
    app = create_app(settings)
    with TestClient(app) as client:
        svc = Service(client, app, settings, "")
        svc.admin_key = svc.add_user("root", "admin", password="root-password")
        yield svc
    app.state.synthlabel.engine.dispose()


@pytest.fixture
def service(db_url: str) -> Iterator[Service]:
    yield from make_service(db_url)
