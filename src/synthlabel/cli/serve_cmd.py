"""The supervision service's commands (need the ``[service]`` extra, imported lazily so the
library works without it):

* ``synthlabel serve [--host 127.0.0.1] [--port 8000] [--database-url URL] [--reload]``
* ``synthlabel db upgrade|current [--database-url URL]``
* ``synthlabel users add NAME --role R [--password-stdin]``, ``users key NAME``, ``users list``
* ``synthlabel audit verify [--database-url URL] [--json]``: exit 0 when the chain is intact,
  1 at the first bad seq (edited, inserted, deleted row, broken link, forged head).

Mounted by ``cli/main.py``. Exit codes: 0 ok, 1 problem found, 2 usage / database error.
"""

from __future__ import annotations

import getpass
import os
import sys
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console

from synthlabel.cli._common import EXIT_OK, EXIT_PROBLEM, EXIT_USAGE, JsonOpt, emit_json, fail

out = Console(highlight=False, soft_wrap=True)

DatabaseUrlOpt = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        envvar="SYNTHLABEL_DATABASE_URL",
        help="sqlite:///FILE or postgresql://USER@HOST/DB [default: sqlite:///./synthlabel.db].",
    ),
]

db_app = typer.Typer(help="The service database: migrations.", no_args_is_help=True)
users_app = typer.Typer(help="Service users and their API keys.", no_args_is_help=True)
audit_app = typer.Typer(help="The service's hash-chained audit log.", no_args_is_help=True)


def _need_service() -> None:
    try:
        import fastapi  # noqa: F401
        import sqlalchemy  # noqa: F401
    except ImportError:
        fail("the service needs its extra: pip install 'synthlabel[service]'")


def _settings(database_url: str | None, **overrides: Any) -> Any:
    _need_service()
    from synthlabel.service.settings import Settings, SettingsError

    try:
        return Settings.load(database_url=database_url, **overrides)
    except SettingsError as exc:
        fail(str(exc))


def _db_fail(exc: Exception) -> NoReturn:
    from sqlalchemy.exc import SQLAlchemyError

    if isinstance(exc, SQLAlchemyError):
        msg = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        fail(f"database error: {msg}")
    fail(str(exc))


def _engine(settings: Any, upgrade: bool = True) -> Any:
    from sqlalchemy.exc import SQLAlchemyError

    from synthlabel.service.db.engine import DatabaseURLError, make_engine
    from synthlabel.service.db.migrate import upgrade as do_upgrade

    try:
        engine = make_engine(settings.database_url)
        if upgrade:
            do_upgrade(engine)
    except (DatabaseURLError, SQLAlchemyError, OSError) as exc:
        _db_fail(exc)
    return engine


def _cli_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.", min=1, max=65535)] = 8000,
    database_url: DatabaseUrlOpt = None,
    reload: Annotated[
        bool, typer.Option("--reload", help="Restart on code changes (dev).")
    ] = False,
) -> None:
    """Run the supervision service (FastAPI + uvicorn); migrates the database on start."""
    settings = _settings(database_url)
    _engine(settings).dispose()  # fail here, clearly, on a bad URL or unreachable database
    import uvicorn

    from synthlabel.service.app import create_app

    url_host = f"[{host}]" if ":" in host else host
    out.print(f"synthlabel service on http://{url_host}:{port}  (API docs: /docs)")
    out.print(f"database: {_safe_url(settings.database_url)}")
    if reload:
        os.environ["SYNTHLABEL_DATABASE_URL"] = settings.database_url
        uvicorn.run(
            "synthlabel.service.app:create_app", factory=True, host=host, port=port, reload=True
        )
    else:
        uvicorn.run(create_app(settings), host=host, port=port)


def _safe_url(url: str) -> str:
    from synthlabel.service.db.engine import normalise_url

    return normalise_url(url).render_as_string(hide_password=True)


@db_app.command("upgrade")
def db_upgrade(database_url: DatabaseUrlOpt = None) -> None:
    """Bring the database to the newest schema (creating it if needed)."""
    from synthlabel.service.db.migrate import current_revision

    settings = _settings(database_url)
    engine = _engine(settings)
    out.print(f"{_safe_url(settings.database_url)}: at revision {current_revision(engine)}")


@db_app.command("current")
def db_current(database_url: DatabaseUrlOpt = None, as_json: JsonOpt = False) -> None:
    """Show the database's schema revision and the newest one; exit 1 when behind."""
    from synthlabel.service.db.migrate import current_revision, head_revision

    settings = _settings(database_url)
    engine = _engine(settings, upgrade=False)
    try:
        current = current_revision(engine)
    except Exception as exc:
        _db_fail(exc)
    head = head_revision()
    if as_json:
        emit_json({"current": current, "head": head})
    else:
        out.print(f"current: {current}  head: {head}")
    raise typer.Exit(EXIT_OK if current == head else EXIT_PROBLEM)


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="Login name.")],
    role: Annotated[str, typer.Option("--role", help="admin, reviewer, provider or public.")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read a UI login password from stdin.")
    ] = False,
    database_url: DatabaseUrlOpt = None,
) -> None:
    """Add a user (audited as cli:<your login>)."""
    from synthlabel.service.auth import AuthError, create_user
    from synthlabel.service.db.engine import session_factory, session_scope

    password = sys.stdin.readline().rstrip("\n") if password_stdin else None
    if password_stdin and (not password or len(password) < 8):
        fail("--password-stdin: a password of at least 8 characters is needed")
    settings = _settings(database_url)
    engine = _engine(settings)
    try:
        with session_scope(session_factory(engine, settings.secret_key), _cli_actor()) as s:
            user = create_user(s, name, role, password=password)
            out.print(f"added user {user.name} (id {user.id}, role {user.role})")
    except AuthError as exc:
        fail(str(exc))


@users_app.command("key")
def users_key(
    name: Annotated[str, typer.Argument(help="The user to make a key for.")],
    label: Annotated[str | None, typer.Option("--label", help="A name for the key.")] = None,
    database_url: DatabaseUrlOpt = None,
) -> None:
    """Print a new API key for NAME, once (only its hash is stored)."""
    from synthlabel.service.auth import AuthError, find_user, issue_key
    from synthlabel.service.db.engine import session_factory, session_scope

    settings = _settings(database_url)
    engine = _engine(settings)
    try:
        with session_scope(session_factory(engine, settings.secret_key), _cli_actor()) as s:
            key, row = issue_key(s, find_user(s, name), label)
    except AuthError as exc:
        fail(str(exc))
    sys.stdout.write(key + "\n")
    Console(stderr=True).print(
        f"key {row.prefix} for {name}: shown only now; send it as 'Authorization: Bearer <key>'",
        highlight=False,
    )


@users_app.command("list")
def users_list(database_url: DatabaseUrlOpt = None, as_json: JsonOpt = False) -> None:
    """List users and their roles."""
    from sqlalchemy import select

    from synthlabel.service.db.engine import session_factory
    from synthlabel.service.db.models import User

    settings = _settings(database_url)
    engine = _engine(settings)
    with session_factory(engine, settings.secret_key)() as s:
        users = s.execute(select(User).order_by(User.id)).scalars().all()
        rows = [{"id": u.id, "name": u.name, "role": u.role, "active": u.is_active} for u in users]
    if as_json:
        emit_json(rows)
        return
    for r in rows:
        out.print(
            f"{r['id']:>4}  {r['name']:<24} {r['role']:<9} {'' if r['active'] else '(inactive)'}"
        )


@audit_app.command("verify")
def audit_verify(
    database_url: DatabaseUrlOpt = None,
    as_json: JsonOpt = False,
    no_chain: Annotated[
        bool,
        typer.Option(
            "--no-chain", help="only read: leave pending events pending (they are reported)"
        ),
    ] = False,
) -> None:
    """Link pending audit events into the chain, then check it: every hash, every link, no
    gap, the signed head, the pending events' MACs. Exit 0 when intact, 1 at the first problem
    (its seq and why)."""
    from synthlabel.service import audit

    settings = _settings(database_url)
    engine = _engine(settings, upgrade=False)
    chained: audit.ChainResult | None = None
    try:
        if not no_chain:
            chained = audit.chain_pending(engine, settings.secret_key)
        with engine.connect() as conn:
            result = audit.verify(conn, settings.secret_key)
    except Exception as exc:
        _db_fail(exc)
    if as_json:
        emit_json({**result.to_dict(), "chained_now": chained.chained if chained else 0})
    elif result.ok:
        auth = "signed head verified" if result.head_authenticated else "head not signed"
        now = f", {chained.chained} chained now" if chained and chained.chained else ""
        out.print(f"audit chain intact: {result.checked} events{now}, {auth}")
        if result.pending:
            out.print(
                f"{result.pending} events pending (appended, not chained yet; the oldest "
                f"{result.pending_oldest_s or 0:.1f} s old)"
            )
    else:
        assert result.problem is not None
        p = result.problem
        where = f"seq {p.seq}" if p.seq else f"pending event id {p.id}"
        Console(stderr=True).print(
            f"audit chain broken at {where} ({p.kind}): {p.message}", highlight=False
        )
    raise typer.Exit(EXIT_OK if result.ok else EXIT_PROBLEM)


__all__ = ["EXIT_USAGE", "audit_app", "db_app", "serve", "users_app"]
