"""Initial schema: every table of the service (issue 7), and the audit chain's head row.

Later flows add columns or tables in new revisions; never edit this one.

Revision ID: 0001
Revises:
Create Date: 2026-12-02 18:31:14.208299
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# BIGINT on PostgreSQL; SQLite only auto-increments "INTEGER PRIMARY KEY".
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
GENESIS_HASH = "0" * 64


def upgrade() -> None:
    op.create_table(
        "audit_chain_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", BIG_ID, nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("mac", sa.String(length=64), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_chain_head")),
    )
    head = sa.table(
        "audit_chain_head",
        sa.column("id", sa.Integer()),
        sa.column("seq", sa.BigInteger()),
        sa.column("hash", sa.String()),
    )
    op.bulk_insert(head, [{"id": 1, "seq": 0, "hash": GENESIS_HASH}])
    op.create_table(
        "audit_event",
        sa.Column("seq", BIG_ID, autoincrement=False, nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=100), nullable=False),
        sa.Column("object_type", sa.String(length=64), nullable=True),
        sa.Column("object_id", sa.String(length=64), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_event")),
    )
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_event_action"), ["action"], unique=False)
        batch_op.create_index("ix_audit_event_object", ["object_type", "object_id"], unique=False)

    op.create_table(
        "batch_job",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("input_manifest", sa.Text(), nullable=True),
        sa.Column("executor", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("checkpoint", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_batch_job")),
    )
    op.create_table(
        "provider",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("credit_code", sa.String(length=32), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("contact", sa.String(length=300), nullable=True),
        sa.Column("provider_code", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provider")),
        sa.UniqueConstraint("credit_code", name=op.f("uq_provider_credit_code")),
    )
    with op.batch_alter_table("provider", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_provider_provider_code"), ["provider_code"], unique=False
        )

    op.create_table(
        "review_queue",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("sla_hours", sa.Integer(), nullable=True),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("auto_close_hours", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_queue")),
        sa.UniqueConstraint("name", name=op.f("uq_review_queue_name")),
    )
    op.create_table(
        "work_queue",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("run_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked_by", sa.String(length=128), nullable=True),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_work_queue")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_work_queue_idempotency_key")),
    )
    with op.batch_alter_table("work_queue", schema=None) as batch_op:
        batch_op.create_index("ix_work_queue_claim", ["status", "run_after"], unique=False)

    op.create_table(
        "app_user",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=True),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("provider_id", BIG_ID, nullable=True),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["provider.id"],
            name=op.f("fk_app_user_provider_id_provider"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_app_user")),
        sa.UniqueConstraint("name", name=op.f("uq_app_user_name")),
    )
    with op.batch_alter_table("app_user", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_app_user_provider_id"), ["provider_id"], unique=False)

    op.create_table(
        "content_record",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("provider_id", BIG_ID, nullable=True),
        sa.Column("produce_id", sa.String(length=128), nullable=True),
        sa.Column("propagate_id", sa.String(length=128), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("perceptual_hash", sa.String(length=256), nullable=True),
        sa.Column("watermark_payload", sa.String(length=128), nullable=True),
        sa.Column("media_kind", sa.String(length=16), nullable=True),
        sa.Column("mime", sa.String(length=100), nullable=True),
        sa.Column("size", BIG_ID, nullable=True),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=True),
        sa.Column("record", sa.JSON(), nullable=True),
        sa.Column("labels_applied", sa.JSON(), nullable=True),
        sa.Column("verdict", sa.String(length=32), nullable=True),
        sa.Column("user_ref", sa.String(length=128), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retain_until", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["provider.id"],
            name=op.f("fk_content_record_provider_id_provider"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_content_record")),
    )
    with op.batch_alter_table("content_record", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_content_record_perceptual_hash"), ["perceptual_hash"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_content_record_produce_id"), ["produce_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_content_record_propagate_id"), ["propagate_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_content_record_provider_id"), ["provider_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_content_record_retain_until"), ["retain_until"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_content_record_sha256"), ["sha256"], unique=False)
        batch_op.create_index(batch_op.f("ix_content_record_user_ref"), ["user_ref"], unique=False)
        batch_op.create_index(batch_op.f("ix_content_record_verdict"), ["verdict"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_content_record_watermark_payload"), ["watermark_payload"], unique=False
        )

    op.create_table(
        "provider_service",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("provider_id", BIG_ID, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["provider.id"],
            name=op.f("fk_provider_service_provider_id_provider"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provider_service")),
        sa.UniqueConstraint("provider_id", "name", name=op.f("uq_provider_service_provider_id")),
    )
    with op.batch_alter_table("provider_service", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_provider_service_provider_id"), ["provider_id"], unique=False
        )

    op.create_table(
        "routing_rule",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("queue_id", BIG_ID, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("current_version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["queue_id"],
            ["review_queue.id"],
            name=op.f("fk_routing_rule_queue_id_review_queue"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_routing_rule")),
    )
    with op.batch_alter_table("routing_rule", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_routing_rule_queue_id"), ["queue_id"], unique=False)

    op.create_table(
        "signing_key",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("provider_id", BIG_ID, nullable=False),
        sa.Column("alg", sa.String(length=32), nullable=False),
        sa.Column("public_key", sa.Text(), nullable=False),
        sa.Column("fingerprint", sa.String(length=128), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=True),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["provider.id"],
            name=op.f("fk_signing_key_provider_id_provider"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signing_key")),
        sa.UniqueConstraint("fingerprint", name=op.f("uq_signing_key_fingerprint")),
    )
    with op.batch_alter_table("signing_key", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_signing_key_provider_id"), ["provider_id"], unique=False
        )

    op.create_table(
        "algorithm_filing",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("provider_id", BIG_ID, nullable=False),
        sa.Column("service_id", BIG_ID, nullable=True),
        sa.Column("algorithm_name", sa.String(length=200), nullable=False),
        sa.Column("filing_no", sa.String(length=100), nullable=False),
        sa.Column("filing_kind", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("security_assessment_status", sa.String(length=16), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=True),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["provider.id"],
            name=op.f("fk_algorithm_filing_provider_id_provider"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["provider_service.id"],
            name=op.f("fk_algorithm_filing_service_id_provider_service"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_algorithm_filing")),
        sa.UniqueConstraint("filing_no", name=op.f("uq_algorithm_filing_filing_no")),
    )
    with op.batch_alter_table("algorithm_filing", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_algorithm_filing_provider_id"), ["provider_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_algorithm_filing_service_id"), ["service_id"], unique=False
        )

    op.create_table(
        "api_key",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("user_id", BIG_ID, nullable=False),
        sa.Column("prefix", sa.String(length=32), nullable=False),
        sa.Column("key_hash", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=True),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["app_user.id"],
            name=op.f("fk_api_key_user_id_app_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_key")),
        sa.UniqueConstraint("prefix", name=op.f("uq_api_key_prefix")),
    )
    with op.batch_alter_table("api_key", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_key_user_id"), ["user_id"], unique=False)

    op.create_table(
        "complaint",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("ticket_no", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("contact", sa.String(length=300), nullable=True),
        sa.Column("subject_type", sa.String(length=32), nullable=True),
        sa.Column("subject_ref", sa.String(length=500), nullable=True),
        sa.Column("content_record_id", sa.String(length=36), nullable=True),
        sa.Column("category", sa.String(length=16), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolution", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["content_record_id"],
            ["content_record.id"],
            name=op.f("fk_complaint_content_record_id_content_record"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_complaint")),
        sa.UniqueConstraint("ticket_no", name=op.f("uq_complaint_ticket_no")),
    )
    with op.batch_alter_table("complaint", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_complaint_content_record_id"), ["content_record_id"], unique=False
        )

    op.create_table(
        "generation_log",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("provider_id", BIG_ID, nullable=False),
        sa.Column("service_id", BIG_ID, nullable=True),
        sa.Column("content_record_id", sa.String(length=36), nullable=True),
        sa.Column("produce_id", sa.String(length=128), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("perceptual_hashes", sa.JSON(), nullable=True),
        sa.Column("record", sa.JSON(), nullable=True),
        sa.Column("generated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["content_record_id"],
            ["content_record.id"],
            name=op.f("fk_generation_log_content_record_id_content_record"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["provider.id"],
            name=op.f("fk_generation_log_provider_id_provider"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["provider_service.id"],
            name=op.f("fk_generation_log_service_id_provider_service"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_generation_log")),
        sa.UniqueConstraint(
            "provider_id", "produce_id", name=op.f("uq_generation_log_provider_id")
        ),
    )
    with op.batch_alter_table("generation_log", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_generation_log_content_record_id"), ["content_record_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_generation_log_provider_id"), ["provider_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_generation_log_sha256"), ["sha256"], unique=False)

    op.create_table(
        "identity_binding",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("subject_ref", sa.String(length=128), nullable=False),
        sa.Column("user_id", BIG_ID, nullable=True),
        sa.Column("provider_id", BIG_ID, nullable=True),
        sa.Column("verifier", sa.String(length=64), nullable=False),
        sa.Column("id_kind", sa.String(length=32), nullable=False),
        sa.Column("id_hash", sa.String(length=128), nullable=False),
        sa.Column("id_hint", sa.String(length=16), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("verifier_ref", sa.String(length=200), nullable=True),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["provider.id"],
            name=op.f("fk_identity_binding_provider_id_provider"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["app_user.id"],
            name=op.f("fk_identity_binding_user_id_app_user"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_binding")),
    )
    with op.batch_alter_table("identity_binding", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_identity_binding_id_hash"), ["id_hash"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_identity_binding_provider_id"), ["provider_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_identity_binding_subject_ref"), ["subject_ref"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_identity_binding_user_id"), ["user_id"], unique=False)

    op.create_table(
        "inspection",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("content_record_id", sa.String(length=36), nullable=True),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("verdict", sa.String(length=32), nullable=False),
        sa.Column("policy_version", sa.String(length=64), nullable=True),
        sa.Column("platform_label", sa.String(length=32), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("report", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["content_record_id"],
            ["content_record.id"],
            name=op.f("fk_inspection_content_record_id_content_record"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inspection")),
    )
    with op.batch_alter_table("inspection", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_inspection_content_record_id"), ["content_record_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_inspection_verdict"), ["verdict"], unique=False)

    op.create_table(
        "login_session",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("user_id", BIG_ID, nullable=False),
        sa.Column("token_hash", sa.String(length=128), nullable=False),
        sa.Column("csrf_token", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("client", sa.String(length=100), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["app_user.id"],
            name=op.f("fk_login_session_user_id_app_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_session")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_login_session_token_hash")),
    )
    with op.batch_alter_table("login_session", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_login_session_user_id"), ["user_id"], unique=False)

    op.create_table(
        "review_job",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("queue_id", BIG_ID, nullable=False),
        sa.Column("subject_type", sa.String(length=32), nullable=False),
        sa.Column("subject_id", sa.String(length=64), nullable=False),
        sa.Column("routing_rule_id", BIG_ID, nullable=True),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("claimed_by", BIG_ID, nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["claimed_by"],
            ["app_user.id"],
            name=op.f("fk_review_job_claimed_by_app_user"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["queue_id"],
            ["review_queue.id"],
            name=op.f("fk_review_job_queue_id_review_queue"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["routing_rule_id"],
            ["routing_rule.id"],
            name=op.f("fk_review_job_routing_rule_id_routing_rule"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_job")),
    )
    with op.batch_alter_table("review_job", schema=None) as batch_op:
        batch_op.create_index(
            "ix_review_job_claim", ["queue_id", "status", "priority"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_review_job_claimed_by"), ["claimed_by"], unique=False)
        batch_op.create_index(batch_op.f("ix_review_job_subject_id"), ["subject_id"], unique=False)

    op.create_table(
        "routing_rule_version",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("rule_id", BIG_ID, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("condition", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_by", BIG_ID, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["app_user.id"],
            name=op.f("fk_routing_rule_version_created_by_app_user"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["rule_id"],
            ["routing_rule.id"],
            name=op.f("fk_routing_rule_version_rule_id_routing_rule"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_routing_rule_version")),
        sa.UniqueConstraint("rule_id", "version", name=op.f("uq_routing_rule_version_rule_id")),
    )
    op.create_table(
        "rumour_refutation",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("subject_ref", sa.String(length=500), nullable=True),
        sa.Column("content_record_id", sa.String(length=36), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("perceptual_hash", sa.String(length=256), nullable=True),
        sa.Column("hashes", sa.JSON(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("source_url", sa.String(length=1000), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["content_record_id"],
            ["content_record.id"],
            name=op.f("fk_rumour_refutation_content_record_id_content_record"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rumour_refutation")),
    )
    with op.batch_alter_table("rumour_refutation", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_rumour_refutation_content_record_id"),
            ["content_record_id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_rumour_refutation_perceptual_hash"), ["perceptual_hash"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_rumour_refutation_sha256"), ["sha256"], unique=False)

    op.create_table(
        "webhook_subscription",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("url", sa.String(length=1000), nullable=False),
        sa.Column("secret", sa.String(length=200), nullable=False),
        sa.Column("event_kinds", sa.JSON(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("owner_id", BIG_ID, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["app_user.id"],
            name=op.f("fk_webhook_subscription_owner_id_app_user"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_subscription")),
    )
    op.create_table(
        "decision",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("job_id", BIG_ID, nullable=False),
        sa.Column("reviewer_id", BIG_ID, nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("actions", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["review_job.id"],
            name=op.f("fk_decision_job_id_review_job"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["reviewer_id"],
            ["app_user.id"],
            name=op.f("fk_decision_reviewer_id_app_user"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_decision")),
    )
    with op.batch_alter_table("decision", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_decision_job_id"), ["job_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_decision_reviewer_id"), ["reviewer_id"], unique=False)

    op.create_table(
        "finding",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("inspection_id", BIG_ID, nullable=False),
        sa.Column("plugin_id", sa.String(length=64), nullable=False),
        sa.Column("plugin_version", sa.String(length=32), nullable=True),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("evidence", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["inspection_id"],
            ["inspection.id"],
            name=op.f("fk_finding_inspection_id_inspection"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_finding")),
    )
    with op.batch_alter_table("finding", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_finding_inspection_id"), ["inspection_id"], unique=False
        )

    op.create_table(
        "webhook_delivery",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("subscription_id", BIG_ID, nullable=False),
        sa.Column("event_kind", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["webhook_subscription.id"],
            name=op.f("fk_webhook_delivery_subscription_id_webhook_subscription"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_delivery")),
    )
    with op.batch_alter_table("webhook_delivery", schema=None) as batch_op:
        batch_op.create_index(
            "ix_webhook_delivery_due", ["status", "next_attempt_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_webhook_delivery_subscription_id"), ["subscription_id"], unique=False
        )

    op.create_table(
        "appeal",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("decision_id", BIG_ID, nullable=False),
        sa.Column("job_id", BIG_ID, nullable=True),
        sa.Column("appellant_ref", sa.String(length=128), nullable=False),
        sa.Column("statement", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["decision_id"],
            ["decision.id"],
            name=op.f("fk_appeal_decision_id_decision"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["review_job.id"],
            name=op.f("fk_appeal_job_id_review_job"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appeal")),
    )
    with op.batch_alter_table("appeal", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_appeal_decision_id"), ["decision_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("appeal", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_appeal_decision_id"))

    op.drop_table("appeal")
    with op.batch_alter_table("webhook_delivery", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_webhook_delivery_subscription_id"))
        batch_op.drop_index("ix_webhook_delivery_due")

    op.drop_table("webhook_delivery")
    with op.batch_alter_table("finding", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_finding_inspection_id"))

    op.drop_table("finding")
    with op.batch_alter_table("decision", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_decision_reviewer_id"))
        batch_op.drop_index(batch_op.f("ix_decision_job_id"))

    op.drop_table("decision")
    op.drop_table("webhook_subscription")
    with op.batch_alter_table("rumour_refutation", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rumour_refutation_sha256"))
        batch_op.drop_index(batch_op.f("ix_rumour_refutation_perceptual_hash"))
        batch_op.drop_index(batch_op.f("ix_rumour_refutation_content_record_id"))

    op.drop_table("rumour_refutation")
    op.drop_table("routing_rule_version")
    with op.batch_alter_table("review_job", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_review_job_subject_id"))
        batch_op.drop_index(batch_op.f("ix_review_job_claimed_by"))
        batch_op.drop_index("ix_review_job_claim")

    op.drop_table("review_job")
    with op.batch_alter_table("login_session", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_login_session_user_id"))

    op.drop_table("login_session")
    with op.batch_alter_table("inspection", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inspection_verdict"))
        batch_op.drop_index(batch_op.f("ix_inspection_content_record_id"))

    op.drop_table("inspection")
    with op.batch_alter_table("identity_binding", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_identity_binding_user_id"))
        batch_op.drop_index(batch_op.f("ix_identity_binding_subject_ref"))
        batch_op.drop_index(batch_op.f("ix_identity_binding_provider_id"))
        batch_op.drop_index(batch_op.f("ix_identity_binding_id_hash"))

    op.drop_table("identity_binding")
    with op.batch_alter_table("generation_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_generation_log_sha256"))
        batch_op.drop_index(batch_op.f("ix_generation_log_provider_id"))
        batch_op.drop_index(batch_op.f("ix_generation_log_content_record_id"))

    op.drop_table("generation_log")
    with op.batch_alter_table("complaint", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_complaint_content_record_id"))

    op.drop_table("complaint")
    with op.batch_alter_table("api_key", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_key_user_id"))

    op.drop_table("api_key")
    with op.batch_alter_table("algorithm_filing", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_algorithm_filing_service_id"))
        batch_op.drop_index(batch_op.f("ix_algorithm_filing_provider_id"))

    op.drop_table("algorithm_filing")
    with op.batch_alter_table("signing_key", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_signing_key_provider_id"))

    op.drop_table("signing_key")
    with op.batch_alter_table("routing_rule", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_routing_rule_queue_id"))

    op.drop_table("routing_rule")
    with op.batch_alter_table("provider_service", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_provider_service_provider_id"))

    op.drop_table("provider_service")
    with op.batch_alter_table("content_record", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_content_record_watermark_payload"))
        batch_op.drop_index(batch_op.f("ix_content_record_verdict"))
        batch_op.drop_index(batch_op.f("ix_content_record_user_ref"))
        batch_op.drop_index(batch_op.f("ix_content_record_sha256"))
        batch_op.drop_index(batch_op.f("ix_content_record_retain_until"))
        batch_op.drop_index(batch_op.f("ix_content_record_provider_id"))
        batch_op.drop_index(batch_op.f("ix_content_record_propagate_id"))
        batch_op.drop_index(batch_op.f("ix_content_record_produce_id"))
        batch_op.drop_index(batch_op.f("ix_content_record_perceptual_hash"))

    op.drop_table("content_record")
    with op.batch_alter_table("app_user", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_app_user_provider_id"))

    op.drop_table("app_user")
    with op.batch_alter_table("work_queue", schema=None) as batch_op:
        batch_op.drop_index("ix_work_queue_claim")

    op.drop_table("work_queue")
    op.drop_table("review_queue")
    with op.batch_alter_table("provider", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_provider_provider_code"))

    op.drop_table("provider")
    op.drop_table("batch_job")
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_event_object")
        batch_op.drop_index(batch_op.f("ix_audit_event_action"))

    op.drop_table("audit_event")
    op.drop_table("audit_chain_head")
