"""Ingest: an item's status, its stored copy and file name on content_record; the item an
ingest job works on (work_queue.content_record_id).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 18:46:23.984986
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("content_record", schema=None) as batch_op:
        batch_op.add_column(sa.Column("status", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("blob_path", sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column("filename", sa.String(length=255), nullable=True))
        batch_op.create_index(batch_op.f("ix_content_record_status"), ["status"], unique=False)

    with op.batch_alter_table("work_queue", schema=None) as batch_op:
        batch_op.add_column(sa.Column("content_record_id", sa.String(length=36), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_work_queue_content_record_id"), ["content_record_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_work_queue_content_record_id_content_record"),
            "content_record",
            ["content_record_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("work_queue", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_work_queue_content_record_id_content_record"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_work_queue_content_record_id"))
        batch_op.drop_column("content_record_id")

    with op.batch_alter_table("content_record", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_content_record_status"))
        batch_op.drop_column("filename")
        batch_op.drop_column("blob_path")
        batch_op.drop_column("status")
