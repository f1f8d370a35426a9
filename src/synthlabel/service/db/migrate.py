"""Alembic, configured in code: the migration scripts ship inside the package
(``synthlabel/service/migrations``), so no ``alembic.ini`` is needed at run time.

``synthlabel db upgrade [--database-url URL]`` and the app's start-up call :func:`upgrade`.
Developers make a new revision with::

    .venv/bin/python -m synthlabel.service.db.migrate revision -m "what and why"
"""

from __future__ import annotations

import sys
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"


def alembic_config(engine: Engine | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("version_path_separator", "os")
    if engine is not None:
        cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database to ``revision`` (default: the newest), in one transaction per step."""
    command.upgrade(alembic_config(engine), revision)


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def main(argv: list[str]) -> int:  # pragma: no cover - developer tool
    """``revision -m MSG`` (autogenerate against a fresh SQLite database at head)."""
    import argparse
    import tempfile

    from synthlabel.service.db.engine import make_engine

    ap = argparse.ArgumentParser(prog="python -m synthlabel.service.db.migrate")
    sub = ap.add_subparsers(dest="cmd", required=True)
    rev = sub.add_parser("revision")
    rev.add_argument("-m", "--message", required=True)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{tmp}/rev.db")
        upgrade(engine)
        command.revision(alembic_config(engine), message=args.message, autogenerate=True)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))
