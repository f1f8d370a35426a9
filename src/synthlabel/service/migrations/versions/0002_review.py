"""Review: state, flags and notices on content records; the default queues and routing rules.

Queues: label-check (review), complaint, appeal, rumour. Rules (live, first match):
``refuted-match`` (flag ``refuted`` -> rumour) and ``possible-or-suspected`` (verdict possible
or suspected -> label-check). The values mirror ``synthlabel.service.routing.DEFAULT_*`` as
they were at this revision (a migration must not import code that may change later).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 18:45:24.013558
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

QUEUES = [
    ("label-check", "review", "Items whose verdict is possible or suspected: check the label", 48),
    ("complaint", "complaint", "Complaints and reports from the public", 72),
    ("appeal", "appeal", "Appeals against decisions", 168),
    ("rumour", "rumour", "Uploads matching a refuted rumour", 24),
]
RULES = [
    ("refuted-match", "rumour", 10, {"flags": ["refuted"]}),
    ("possible-or-suspected", "label-check", 20, {"verdict": ["possible", "suspected"]}),
]


def upgrade() -> None:
    with op.batch_alter_table("content_record", schema=None) as batch_op:
        batch_op.add_column(sa.Column("review_state", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("flags", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("notices", sa.JSON(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_content_record_review_state"), ["review_state"], unique=False
        )

    now = datetime.now(UTC)
    if op.get_bind().dialect.name == "sqlite":
        now = now.replace(tzinfo=None)
    conn = op.get_bind()
    queue = sa.table(
        "review_queue",
        sa.column("id", sa.Integer()),
        sa.column("name", sa.String()),
        sa.column("kind", sa.String()),
        sa.column("description", sa.Text()),
        sa.column("sla_hours", sa.Integer()),
        sa.column("is_default", sa.Boolean()),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    rule = sa.table(
        "routing_rule",
        sa.column("id", sa.Integer()),
        sa.column("queue_id", sa.Integer()),
        sa.column("name", sa.String()),
        sa.column("position", sa.Integer()),
        sa.column("status", sa.String()),
        sa.column("current_version", sa.Integer()),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    version = sa.table(
        "routing_rule_version",
        sa.column("rule_id", sa.Integer()),
        sa.column("version", sa.Integer()),
        sa.column("condition", sa.JSON()),
        sa.column("status", sa.String()),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    ids: dict[str, int] = {}
    for name, kind, description, sla in QUEUES:
        existing = conn.execute(sa.select(queue.c.id).where(queue.c.name == name)).scalar()
        if existing is None:
            existing = conn.execute(
                queue.insert()
                .values(
                    name=name,
                    kind=kind,
                    description=description,
                    sla_hours=sla,
                    is_default=True,
                    created_at=now,
                )
                .returning(queue.c.id)
            ).scalar_one()
        ids[name] = int(existing)
    for name, queue_name, position, condition in RULES:
        rule_id = conn.execute(
            rule.insert()
            .values(
                queue_id=ids[queue_name],
                name=name,
                position=position,
                status="live",
                current_version=1,
                created_at=now,
            )
            .returning(rule.c.id)
        ).scalar_one()
        conn.execute(
            version.insert().values(
                rule_id=rule_id, version=1, condition=condition, status="live", created_at=now
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("content_record", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_content_record_review_state"))
        batch_op.drop_column("notices")
        batch_op.drop_column("flags")
        batch_op.drop_column("review_state")
