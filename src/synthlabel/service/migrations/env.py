"""Alembic environment, configured in code by :mod:`synthlabel.service.db.migrate`: the engine
comes from ``config.attributes['engine']``; no ``alembic.ini``."""

from __future__ import annotations

from alembic import context

from synthlabel.service.db.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    engine = config.attributes.get("engine")
    if engine is None:
        raise RuntimeError("synthlabel migrations run through synthlabel.service.db.migrate")
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
            transaction_per_migration=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


if context.is_offline_mode():
    raise RuntimeError("offline (SQL script) migrations are not supported")
run_migrations_online()
