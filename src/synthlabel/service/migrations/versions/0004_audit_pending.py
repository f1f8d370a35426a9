"""Audit events are appended pending and chained afterwards: ``audit_event`` gets an ``id``
(a sequence: the primary key), a row ``mac``; ``seq``, ``prev_hash`` and ``hash`` may be empty
until the chainer links the row. Existing rows keep their seq and hash (id = seq).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 07:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = "ts, actor, action, object_type, object_id, payload, prev_hash, hash"


def _sqlite_table(name: str, *, pending: bool) -> None:
    """The new (``pending``) or the old layout of audit_event, as ``name``."""
    id_cols = (
        [
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("seq", sa.Integer(), nullable=True),
        ]
        if pending
        else [sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False)]
    )
    op.create_table(
        name,
        *id_cols,
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=100), nullable=False),
        sa.Column("object_type", sa.String(length=64), nullable=True),
        sa.Column("object_id", sa.String(length=64), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        *([sa.Column("mac", sa.String(length=64), nullable=True)] if pending else []),
        sa.Column("prev_hash", sa.String(length=64), nullable=pending),
        sa.Column("hash", sa.String(length=64), nullable=pending),
        sa.PrimaryKeyConstraint("id" if pending else "seq", name="pk_audit_event"),
        *([sa.UniqueConstraint("seq", name="uq_audit_event_seq")] if pending else []),
    )


def _sqlite_indexes(pending: bool) -> None:
    op.create_index("ix_audit_event_action", "audit_event", ["action"], unique=False)
    op.create_index("ix_audit_event_object", "audit_event", ["object_type", "object_id"])
    if pending:
        op.create_index(
            "ix_audit_event_pending", "audit_event", ["id"], sqlite_where=sa.text("seq IS NULL")
        )


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_table("audit_event_0004", pending=True)
        op.execute(
            f"INSERT INTO audit_event_0004 (id, seq, {COLUMNS}) "
            f"SELECT seq, seq, {COLUMNS} FROM audit_event"
        )
        op.drop_table("audit_event")
        op.rename_table("audit_event_0004", "audit_event")
        _sqlite_indexes(pending=True)
        return
    op.add_column("audit_event", sa.Column("id", sa.BigInteger(), nullable=True))
    op.add_column("audit_event", sa.Column("mac", sa.String(length=64), nullable=True))
    op.execute("UPDATE audit_event SET id = seq")
    op.execute("CREATE SEQUENCE audit_event_id_seq OWNED BY audit_event.id")
    op.execute(
        "SELECT setval('audit_event_id_seq', "
        "COALESCE((SELECT max(id) FROM audit_event), 0) + 1, false)"
    )
    op.execute("ALTER TABLE audit_event ALTER COLUMN id SET DEFAULT nextval('audit_event_id_seq')")
    op.alter_column("audit_event", "id", nullable=False)
    op.drop_constraint("pk_audit_event", "audit_event", type_="primary")
    op.create_primary_key("pk_audit_event", "audit_event", ["id"])
    for col in ("seq", "prev_hash", "hash"):
        op.alter_column("audit_event", col, nullable=True)
    op.create_unique_constraint("uq_audit_event_seq", "audit_event", ["seq"])
    op.create_index(
        "ix_audit_event_pending", "audit_event", ["id"], postgresql_where=sa.text("seq IS NULL")
    )


def downgrade() -> None:
    bind = op.get_bind()
    pending = bind.execute(sa.text("SELECT count(*) FROM audit_event WHERE seq IS NULL")).scalar()
    if pending:
        raise RuntimeError(
            f"{pending} audit events are not chained yet: run 'synthlabel audit verify' "
            "(it chains them) before downgrading"
        )
    if bind.dialect.name == "sqlite":
        _sqlite_table("audit_event_0003", pending=False)
        op.execute(
            f"INSERT INTO audit_event_0003 (seq, {COLUMNS}) SELECT seq, {COLUMNS} FROM audit_event"
        )
        op.drop_table("audit_event")
        op.rename_table("audit_event_0003", "audit_event")
        _sqlite_indexes(pending=False)
        return
    op.drop_index("ix_audit_event_pending", table_name="audit_event")
    op.drop_constraint("uq_audit_event_seq", "audit_event", type_="unique")
    op.drop_constraint("pk_audit_event", "audit_event", type_="primary")
    for col in ("seq", "prev_hash", "hash"):
        op.alter_column("audit_event", col, nullable=False)
    op.create_primary_key("pk_audit_event", "audit_event", ["seq"])
    op.drop_column("audit_event", "mac")
    op.drop_column("audit_event", "id")
