"""The service's data model: one set of SQLAlchemy 2 models for SQLite and PostgreSQL.

Portable types only: integer ids (``BigId``) or UUID strings, ``String``/``Text``, ``JSON``,
timezone-aware ``UTCDateTime``. Enumerations are plain strings; the allowed values are the
``*_VALUES`` tuples below (the API validates them, the database does not, so a later flow can
add a value without a migration).

Every ORM write through a session from :func:`synthlabel.service.db.engine.session_factory`
appends an :class:`AuditEvent` in the same transaction (see :mod:`synthlabel.service.audit`).
Columns named in a model's ``__audit_redact__`` are written to the audit payload as
``"<redacted>"`` (hashes, secrets).

Tables whose flows are built later (ingest queue, review, complaints, refutation, webhooks,
identity binding, reports) exist here already so their authors only add logic; they may add
columns with a new migration.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from synthlabel.service.db.types import BigId, UTCDateTime, new_uuid, utcnow

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ROLES = ("admin", "reviewer", "provider", "public")
PROVIDER_KINDS = ("generation", "platform", "both")
FILING_STATUSES = ("pending", "filed", "revoked", "cancelled")
SECURITY_ASSESSMENT_STATUSES = ("not_required", "pending", "passed", "failed")
CONTENT_ORIGINS = ("generated", "uploaded")
INSPECTION_SOURCES = ("api", "batch", "ui", "scan")
WORK_STATUSES = ("pending", "running", "done", "failed", "dead")
ITEM_STATUSES = ("pending", "done", "failed")
QUEUE_KINDS = ("review", "appeal", "complaint", "rumour")
RULE_STATUSES = ("live", "draft", "background", "expired")
REVIEW_JOB_STATUSES = ("pending", "claimed", "decided", "expired")
DECISION_OUTCOMES = ("label", "add_notice", "take_down", "restore", "refute", "no_action")
REVIEW_STATES = ("visible", "labelled", "noticed", "taken_down", "refuted")
APPEAL_STATUSES = ("open", "in_review", "closed")
APPEAL_OUTCOMES = ("upheld", "overturned")
COMPLAINT_CATEGORIES = ("unlabelled_ai", "wrong_label", "rights", "rumour", "other")
COMPLAINT_STATUSES = ("received", "in_review", "resolved", "rejected")
REFUTATION_STATUSES = ("draft", "published", "withdrawn")
BINDING_STATUSES = ("pending", "verified", "failed", "revoked")
DELIVERY_STATUSES = ("pending", "delivered", "retrying", "dead")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        int: BigId,
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
        list[Any]: JSON(),
    }
    __audit__: ClassVar[bool] = True
    __audit_redact__: ClassVar[frozenset[str]] = frozenset()


def _created() -> Mapped[datetime]:
    return mapped_column(UTCDateTime(), default=utcnow, nullable=False)


# --- registry: providers, their services, algorithm filings, signing keys -------------------


class Provider(Base):
    """A deep-synthesis service provider or a content platform."""

    __tablename__ = "provider"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # Unified social credit code (统一社会信用代码, 18 characters) when known.
    credit_code: Mapped[str | None] = mapped_column(String(32), unique=True)
    kind: Mapped[str] = mapped_column(String(16), default="generation")
    contact: Mapped[str | None] = mapped_column(String(300))
    # The 27-character provider code written into AIGC records (TC260-PG-20252A), if known.
    provider_code: Mapped[str | None] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime | None] = mapped_column(onupdate=utcnow)

    services: Mapped[list[ProviderService]] = relationship(
        back_populates="provider", cascade="all, delete-orphan", passive_deletes=True
    )
    filings: Mapped[list[AlgorithmFiling]] = relationship(
        back_populates="provider", cascade="all, delete-orphan", passive_deletes=True
    )


class ProviderService(Base):
    """One service (app, site, API) a provider runs."""

    __tablename__ = "provider_service"
    __table_args__ = (UniqueConstraint("provider_id", "name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    provider_id: Mapped[int] = mapped_column(
        ForeignKey("provider.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    url: Mapped[str | None] = mapped_column(String(500))
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime | None] = mapped_column(onupdate=utcnow)

    provider: Mapped[Provider] = relationship(back_populates="services")


class AlgorithmFiling(Base):
    """An algorithm filing (算法备案) of a provider, optionally for one of its services."""

    __tablename__ = "algorithm_filing"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    provider_id: Mapped[int] = mapped_column(
        ForeignKey("provider.id", ondelete="CASCADE"), index=True
    )
    service_id: Mapped[int | None] = mapped_column(
        ForeignKey("provider_service.id", ondelete="SET NULL"), index=True
    )
    algorithm_name: Mapped[str] = mapped_column(String(200))
    filing_no: Mapped[str] = mapped_column(String(100), unique=True)
    filing_kind: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="filed")
    security_assessment_status: Mapped[str] = mapped_column(String(16), default="not_required")
    valid_from: Mapped[datetime | None]
    valid_to: Mapped[datetime | None]
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime | None] = mapped_column(onupdate=utcnow)

    provider: Mapped[Provider] = relationship(back_populates="filings")


class SigningKey(Base):
    """A provider's public key for implicit-label signatures; rotation by validity + revocation."""

    __tablename__ = "signing_key"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    provider_id: Mapped[int] = mapped_column(
        ForeignKey("provider.id", ondelete="CASCADE"), index=True
    )
    alg: Mapped[str] = mapped_column(String(32))
    public_key: Mapped[str] = mapped_column(Text)
    fingerprint: Mapped[str] = mapped_column(String(128), unique=True)
    valid_from: Mapped[datetime | None]
    valid_to: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = _created()


# --- people and access --------------------------------------------------------------------


class User(Base):
    """A person or system with a role. Table ``app_user``: ``user`` is reserved in PostgreSQL."""

    __tablename__ = "app_user"
    __audit_redact__ = frozenset({"password_hash"})

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    # For role "provider": the provider this account speaks for.
    provider_id: Mapped[int | None] = mapped_column(
        ForeignKey("provider.id", ondelete="SET NULL"), index=True
    )
    password_hash: Mapped[str | None] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime | None] = mapped_column(onupdate=utcnow)

    api_keys: Mapped[list[ApiKey]] = relationship(back_populates="user")


class ApiKey(Base):
    """An API key: shown once, stored as ``prefix`` (lookup) + SHA-256 of the secret part."""

    __tablename__ = "api_key"
    __audit_redact__ = frozenset({"key_hash"})

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    prefix: Mapped[str] = mapped_column(String(32), unique=True)
    key_hash: Mapped[str] = mapped_column(String(128))
    name: Mapped[str | None] = mapped_column(String(100))
    scopes: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime] = _created()
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    user: Mapped[User] = relationship(back_populates="api_keys")


class LoginSession(Base):
    """A web UI login: the cookie carries the token, the row its hash and the CSRF token."""

    __tablename__ = "login_session"
    __audit_redact__ = frozenset({"token_hash", "csrf_token"})

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(128), unique=True)
    csrf_token: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = _created()
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    client: Mapped[str | None] = mapped_column(String(100))


class IdentityBinding(Base):
    """Real-identity binding (实名) of an account holder. Never the raw ID number: ``id_hash``
    is a keyed hash (HMAC with the service secret), ``id_hint`` at most a masked tail."""

    __tablename__ = "identity_binding"
    __audit_redact__ = frozenset({"id_hash"})

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    subject_ref: Mapped[str] = mapped_column(String(128), index=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("app_user.id", ondelete="SET NULL"), index=True
    )
    provider_id: Mapped[int | None] = mapped_column(
        ForeignKey("provider.id", ondelete="SET NULL"), index=True
    )
    verifier: Mapped[str] = mapped_column(String(64))
    id_kind: Mapped[str] = mapped_column(String(32))
    id_hash: Mapped[str] = mapped_column(String(128), index=True)
    id_hint: Mapped[str | None] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    verifier_ref: Mapped[str | None] = mapped_column(String(200))
    verified_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = _created()


# --- records of content ---------------------------------------------------------------------


class ContentRecord(Base):
    """The record the rules require for every generated or inspected item (kept >= 6 months:
    ``retain_until``); the lookup key for stripped files by SHA-256, perceptual hash or
    watermark payload."""

    __tablename__ = "content_record"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    provider_id: Mapped[int | None] = mapped_column(
        ForeignKey("provider.id", ondelete="SET NULL"), index=True
    )
    produce_id: Mapped[str | None] = mapped_column(String(128), index=True)
    propagate_id: Mapped[str | None] = mapped_column(String(128), index=True)
    sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    perceptual_hash: Mapped[str | None] = mapped_column(String(256), index=True)
    watermark_payload: Mapped[str | None] = mapped_column(String(128), index=True)
    media_kind: Mapped[str | None] = mapped_column(String(16))
    mime: Mapped[str | None] = mapped_column(String(100))
    size: Mapped[int | None] = mapped_column(BigId)
    origin: Mapped[str] = mapped_column(String(16), default="uploaded")
    source: Mapped[str | None] = mapped_column(String(32))
    # The AIGC record as read (or as posted by the provider), and labels applied by us.
    record: Mapped[dict[str, Any] | None]
    labels_applied: Mapped[list[Any] | None]
    verdict: Mapped[str | None] = mapped_column(String(32), index=True)
    user_ref: Mapped[str | None] = mapped_column(String(128), index=True)
    created_at: Mapped[datetime] = _created()
    retain_until: Mapped[datetime] = mapped_column(index=True)
    # Review: the state decisions left it in (REVIEW_STATES; None = never reviewed), flags that
    # routing rules test (e.g. "refuted"), and notices shown with it (refutations, added notices).
    review_state: Mapped[str | None] = mapped_column(String(16), index=True)
    flags: Mapped[list[Any] | None]
    notices: Mapped[list[Any] | None]
    # Ingest: pending -> done | failed (None: written whole, e.g. by a scan); the stored copy
    # (a path relative to the blob directory, content-addressed) and the uploaded name.
    status: Mapped[str | None] = mapped_column(String(16), index=True)
    blob_path: Mapped[str | None] = mapped_column(String(300))
    filename: Mapped[str | None] = mapped_column(String(255))


class GenerationLogEntry(Base):
    """A provider's generation log line: posted when it produced content (ProduceID, record,
    perceptual hashes)."""

    __tablename__ = "generation_log"
    __table_args__ = (UniqueConstraint("provider_id", "produce_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    provider_id: Mapped[int] = mapped_column(
        ForeignKey("provider.id", ondelete="CASCADE"), index=True
    )
    service_id: Mapped[int | None] = mapped_column(
        ForeignKey("provider_service.id", ondelete="SET NULL")
    )
    content_record_id: Mapped[str | None] = mapped_column(
        ForeignKey("content_record.id", ondelete="SET NULL"), index=True
    )
    produce_id: Mapped[str] = mapped_column(String(128))
    sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    perceptual_hashes: Mapped[dict[str, Any] | None]
    record: Mapped[dict[str, Any] | None]
    generated_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = _created()


class Inspection(Base):
    """One inspection run over an item: the verdict under a policy version."""

    __tablename__ = "inspection"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    content_record_id: Mapped[str | None] = mapped_column(
        ForeignKey("content_record.id", ondelete="CASCADE"), index=True
    )
    submitted_at: Mapped[datetime] = _created()
    verdict: Mapped[str] = mapped_column(String(32), index=True)
    policy_version: Mapped[str | None] = mapped_column(String(64))
    platform_label: Mapped[str | None] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(16), default="api")
    report: Mapped[dict[str, Any] | None]

    findings: Mapped[list[Finding]] = relationship(
        back_populates="inspection", cascade="all, delete-orphan", passive_deletes=True
    )


class Finding(Base):
    """A detector's finding with its evidence: explainable verdicts, re-evaluable later."""

    __tablename__ = "finding"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    inspection_id: Mapped[int] = mapped_column(
        ForeignKey("inspection.id", ondelete="CASCADE"), index=True
    )
    plugin_id: Mapped[str] = mapped_column(String(64))
    plugin_version: Mapped[str | None] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(64))
    confidence: Mapped[float | None] = mapped_column(Float)
    evidence: Mapped[dict[str, Any] | None]

    inspection: Mapped[Inspection] = relationship(back_populates="findings")


# --- durable work: online ingest queue, batch runs ------------------------------------------


class WorkItem(Base):
    """The online ingest queue (a table, not a broker): claimed with ``FOR UPDATE SKIP LOCKED``
    on PostgreSQL and ``BEGIN IMMEDIATE`` on SQLite; leases expire; retries with backoff."""

    __tablename__ = "work_queue"
    __table_args__ = (Index("ix_work_queue_claim", "status", "run_after"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=5)
    run_after: Mapped[datetime] = mapped_column(default=utcnow)
    locked_by: Mapped[str | None] = mapped_column(String(128))
    locked_until: Mapped[datetime | None]
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    last_error: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime] = _created()
    finished_at: Mapped[datetime | None]
    # The item an ingest job inspects.
    content_record_id: Mapped[str | None] = mapped_column(
        ForeignKey("content_record.id", ondelete="SET NULL"), index=True
    )


class BatchJob(Base):
    """A resumable batch run (scan / label / rescan) on the local or Ray executor."""

    __tablename__ = "batch_job"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    input_manifest: Mapped[str | None] = mapped_column(Text)
    executor: Mapped[str] = mapped_column(String(16), default="local")
    status: Mapped[str] = mapped_column(String(16), default="pending")
    counts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    checkpoint: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime] = _created()
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


# --- review: queues, routing, jobs, decisions, appeals --------------------------------------


class ReviewQueue(Base):
    """A queue of human work (review, appeal, complaint, rumour)."""

    __tablename__ = "review_queue"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(16), default="review")
    description: Mapped[str | None] = mapped_column(Text)
    sla_hours: Mapped[int | None] = mapped_column(Integer)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    auto_close_hours: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = _created()


class RoutingRule(Base):
    """First-match routing into a queue; the condition lives in versions (shadow mode:
    status ``background`` evaluates without routing)."""

    __tablename__ = "routing_rule"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    queue_id: Mapped[int] = mapped_column(
        ForeignKey("review_queue.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    position: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default="draft")
    current_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime | None] = mapped_column(onupdate=utcnow)


class RoutingRuleVersion(Base):
    __tablename__ = "routing_rule_version"
    __table_args__ = (UniqueConstraint("rule_id", "version"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    rule_id: Mapped[int] = mapped_column(ForeignKey("routing_rule.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    condition: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="draft")
    created_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = _created()


class ReviewJob(Base):
    """One review work item (lease-based claiming)."""

    __tablename__ = "review_job"
    __table_args__ = (Index("ix_review_job_claim", "queue_id", "status", "priority"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    queue_id: Mapped[int] = mapped_column(ForeignKey("review_queue.id", ondelete="CASCADE"))
    subject_type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[str] = mapped_column(String(64), index=True)
    routing_rule_id: Mapped[int | None] = mapped_column(
        ForeignKey("routing_rule.id", ondelete="SET NULL")
    )
    priority: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    reason: Mapped[str | None] = mapped_column(Text)
    claimed_by: Mapped[int | None] = mapped_column(
        ForeignKey("app_user.id", ondelete="SET NULL"), index=True
    )
    lease_until: Mapped[datetime | None]
    due_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime | None] = mapped_column(onupdate=utcnow)


class Decision(Base):
    """A reviewer's decision; immutable (the ORM refuses updates and deletes)."""

    __tablename__ = "decision"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    job_id: Mapped[int] = mapped_column(
        ForeignKey("review_job.id", ondelete="RESTRICT"), index=True
    )
    reviewer_id: Mapped[int | None] = mapped_column(
        ForeignKey("app_user.id", ondelete="SET NULL"), index=True
    )
    outcome: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    actions: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime] = _created()


class ImmutableRowError(RuntimeError):
    """A decision (or another append-only row) was about to be changed."""


@event.listens_for(Decision, "before_update")
def _decision_no_update(mapper: Any, connection: Any, target: Decision) -> None:
    raise ImmutableRowError(f"decision {target.id} is immutable; record a new decision")


@event.listens_for(Decision, "before_delete")
def _decision_no_delete(mapper: Any, connection: Any, target: Decision) -> None:
    raise ImmutableRowError(f"decision {target.id} is immutable; it cannot be deleted")


class Appeal(Base):
    """An appeal against a decision (worked as a job in an ``appeal`` queue)."""

    __tablename__ = "appeal"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    decision_id: Mapped[int] = mapped_column(
        ForeignKey("decision.id", ondelete="RESTRICT"), index=True
    )
    job_id: Mapped[int | None] = mapped_column(ForeignKey("review_job.id", ondelete="SET NULL"))
    appellant_ref: Mapped[str] = mapped_column(String(128))
    statement: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="open")
    outcome: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = _created()
    resolved_at: Mapped[datetime | None]


# --- the public: complaints, rumour refutation ----------------------------------------------


class Complaint(Base):
    """A complaint or report from the public, answered by ticket number, with a deadline."""

    __tablename__ = "complaint"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ticket_no: Mapped[str] = mapped_column(String(32), unique=True)
    channel: Mapped[str] = mapped_column(String(16), default="web")
    contact: Mapped[str | None] = mapped_column(String(300))
    subject_type: Mapped[str | None] = mapped_column(String(32))
    subject_ref: Mapped[str | None] = mapped_column(String(500))
    content_record_id: Mapped[str | None] = mapped_column(
        ForeignKey("content_record.id", ondelete="SET NULL"), index=True
    )
    category: Mapped[str] = mapped_column(String(16), default="other")
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="received")
    received_at: Mapped[datetime] = _created()
    due_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    resolution: Mapped[str | None] = mapped_column(Text)


class RumourRefutation(Base):
    """A published refutation (辟谣); its hashes flag every matching upload."""

    __tablename__ = "rumour_refutation"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    subject_ref: Mapped[str | None] = mapped_column(String(500))
    content_record_id: Mapped[str | None] = mapped_column(
        ForeignKey("content_record.id", ondelete="SET NULL"), index=True
    )
    sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    perceptual_hash: Mapped[str | None] = mapped_column(String(256), index=True)
    hashes: Mapped[dict[str, Any] | None]
    text: Mapped[str] = mapped_column(Text)
    source_url: Mapped[str | None] = mapped_column(String(1000))
    status: Mapped[str] = mapped_column(String(16), default="draft")
    published_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = _created()


# --- outbound: webhooks ---------------------------------------------------------------------


class WebhookSubscription(Base):
    """An HMAC-signed outbound webhook; ``secret`` signs deliveries (redacted in the audit)."""

    __tablename__ = "webhook_subscription"
    __audit_redact__ = frozenset({"secret"})

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    url: Mapped[str] = mapped_column(String(1000))
    secret: Mapped[str] = mapped_column(String(200))
    event_kinds: Mapped[list[Any]] = mapped_column(default=list)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = _created()


class WebhookDelivery(Base):
    """One delivery attempt series; ``dead`` is the dead-letter list."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (Index("ix_webhook_delivery_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    subscription_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_subscription.id", ondelete="CASCADE"), index=True
    )
    event_kind: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _created()
    delivered_at: Mapped[datetime | None]


# --- the audit chain ------------------------------------------------------------------------


class AuditEvent(Base):
    """Append-only. A writer appends the row *pending* (``id`` from the database, ``mac`` =
    HMAC(secret) of id and content; no lock); the chainer later gives it its chain position
    ``seq`` with ``hash = SHA-256(canonical(seq, ts, actor, action, object_type, object_id,
    payload, prev_hash))``. Written only by the audit module."""

    __tablename__ = "audit_event"
    __audit__ = False

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    seq: Mapped[int | None] = mapped_column(BigId, unique=True)
    ts: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(100), index=True)
    object_type: Mapped[str | None] = mapped_column(String(64))
    object_id: Mapped[str | None] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    mac: Mapped[str | None] = mapped_column(String(64))
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    hash: Mapped[str | None] = mapped_column(String(64))


Index("ix_audit_event_object", AuditEvent.object_type, AuditEvent.object_id)
# The chainer's work list: the pending rows in id order (a small partial index).
Index(
    "ix_audit_event_pending",
    AuditEvent.id,
    postgresql_where=AuditEvent.seq.is_(None),
    sqlite_where=AuditEvent.seq.is_(None),
)


class AuditChainHead(Base):
    """The one row (id 1) that serialises chainers (locked ``FOR UPDATE SKIP LOCKED``; writers
    never touch it) and records the last chained seq and hash, with ``mac`` = HMAC(service
    secret) over them: a signed checkpoint that makes a re-hashed, truncated or extended chain
    detectable by whoever holds the secret."""

    __tablename__ = "audit_chain_head"
    __audit__ = False

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigId, default=0)
    hash: Mapped[str] = mapped_column(String(64))
    mac: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime | None]
