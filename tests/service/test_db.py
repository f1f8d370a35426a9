"""Migrations and models on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select, text

from synthlabel.service.db.engine import (
    DatabaseURLError,
    normalise_url,
    session_factory,
    session_scope,
)
from synthlabel.service.db.migrate import current_revision, head_revision, upgrade
from synthlabel.service.db.models import (
    Base,
    ContentRecord,
    Decision,
    ImmutableRowError,
    Provider,
    ReviewJob,
    ReviewQueue,
    WorkItem,
)
from tests.service.conftest import ServiceDB


def test_upgrade_creates_every_table_and_matches_the_models(test_db: ServiceDB) -> None:
    engine = test_db.engine()
    assert current_revision(engine) is None
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    tables = set(inspect(engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    with engine.connect() as conn:
        # The migration head and the models agree: autogenerate would write nothing.
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
    upgrade(engine)  # idempotent
    assert current_revision(engine) == head_revision()


def test_postgres_tables_live_in_the_test_schema(pg_db: ServiceDB) -> None:
    test_db = pg_db
    engine = test_db.engine()
    upgrade(engine)
    with engine.connect() as conn:
        schema = conn.execute(text("SELECT current_schema()")).scalar_one()
        assert schema == test_db.schema
        n = conn.execute(
            text("SELECT count(*) FROM information_schema.tables WHERE table_schema = :s"),
            {"s": test_db.schema},
        ).scalar_one()
    assert n == len(Base.metadata.tables) + 1  # + alembic_version


def test_timestamps_round_trip_timezone_aware(test_db: ServiceDB) -> None:
    engine = test_db.engine()
    upgrade(engine)
    factory = session_factory(engine)
    cst = datetime(2026, 3, 1, 20, 30, 15, 123456, tzinfo=UTC) + timedelta(hours=0)
    with session_scope(factory) as s:
        rec = ContentRecord(sha256="ab" * 32, retain_until=cst, record={"Label": "1", "n": [1, 2]})
        s.add(rec)
    with session_scope(factory) as s:
        got = s.execute(select(ContentRecord)).scalar_one()
        assert got.retain_until == cst
        assert got.retain_until.tzinfo is not None
        assert got.record == {"Label": "1", "n": [1, 2]}
        assert len(got.id) == 36
    with pytest.raises(Exception, match="naive datetime"), session_scope(factory) as s:
        s.add(ContentRecord(retain_until=datetime(2026, 1, 1)))


def test_foreign_keys_are_enforced(test_db: ServiceDB) -> None:
    from sqlalchemy.exc import IntegrityError

    engine = test_db.engine()
    upgrade(engine)
    factory = session_factory(engine)
    with pytest.raises(IntegrityError), session_scope(factory) as s:
        s.add(ReviewJob(queue_id=999, subject_type="content", subject_id="x"))


def test_decisions_are_immutable(test_db: ServiceDB) -> None:
    engine = test_db.engine()
    upgrade(engine)
    factory = session_factory(engine)
    with session_scope(factory) as s:
        q = ReviewQueue(name="default")
        s.add(q)
        s.flush()
        job = ReviewJob(queue_id=q.id, subject_type="content", subject_id="c1")
        s.add(job)
        s.flush()
        d = Decision(job_id=job.id, outcome="label", reason="AI image without a label")
        s.add(d)
    with pytest.raises(ImmutableRowError), session_scope(factory) as s:
        s.get(Decision, d.id).reason = "changed"  # type: ignore[union-attr]
    with pytest.raises(ImmutableRowError), session_scope(factory) as s:
        s.delete(s.get(Decision, d.id))


def test_work_queue_idempotency_key_is_unique(test_db: ServiceDB) -> None:
    from sqlalchemy.exc import IntegrityError

    engine = test_db.engine()
    upgrade(engine)
    factory = session_factory(engine)
    with session_scope(factory) as s:
        s.add(WorkItem(kind="ingest", idempotency_key="k1"))
    with pytest.raises(IntegrityError), session_scope(factory) as s:
        s.add(WorkItem(kind="ingest", idempotency_key="k1"))
    with session_scope(factory) as s:  # no key: any number
        s.add_all([WorkItem(kind="ingest"), WorkItem(kind="ingest")])
    with session_scope(factory) as s:
        assert len(s.execute(select(WorkItem)).scalars().all()) == 3


def test_provider_delete_cascades_to_services(test_db: ServiceDB) -> None:
    from synthlabel.service.db.models import ProviderService

    engine = test_db.engine()
    upgrade(engine)
    factory = session_factory(engine)
    with session_scope(factory) as s:
        p = Provider(name="P", services=[ProviderService(name="app")])
        s.add(p)
    with session_scope(factory) as s:
        s.delete(s.get(Provider, p.id))
    with session_scope(factory) as s:
        assert s.execute(select(ProviderService)).first() is None


@pytest.mark.parametrize(
    ("url", "driver"),
    [
        ("postgresql://u@h/db", "postgresql+psycopg"),
        ("postgres://u@h/db", "postgresql+psycopg"),
        ("sqlite:///x.db", "sqlite"),
    ],
)
def test_url_normalisation(url: str, driver: str) -> None:
    assert normalise_url(url).drivername == driver


@pytest.mark.parametrize("url", ["mysql://u@h/db", "not a url"])
def test_unsupported_urls_are_refused_clearly(url: str) -> None:
    with pytest.raises(DatabaseURLError):
        normalise_url(url)
