"""``synthlabel scan --database-url``: rows into the service database (SQLite and PostgreSQL,
as the service's own tests set them up), through its audited sessions."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

pytest.importorskip("sqlalchemy", reason="needs the [service] extra")

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from synthlabel.batch import LocalExecutor, run_scan
from synthlabel.cli.main import app
from synthlabel.cli.scan_db import DatabaseSink
from synthlabel.service.audit import verify
from synthlabel.service.db.engine import make_engine
from synthlabel.service.db.models import BatchJob, ContentRecord, Finding, Inspection
from synthlabel.service.settings import Settings
from tests.batch.conftest import Corpus
from tests.service.conftest import _new_db

runner = CliRunner()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    for db in _new_db(request.param, tmp_path):
        yield db.url


def _inspections(url: str) -> dict[str, tuple[Inspection, ContentRecord]]:
    engine = make_engine(url)
    try:
        with Session(engine) as s:
            rows = s.execute(
                select(Inspection, ContentRecord).join(
                    ContentRecord, Inspection.content_record_id == ContentRecord.id
                )
            ).all()
            return {i.report["path"]: (i, c) for i, c in rows}
    finally:
        engine.dispose()


def test_cli_scan_into_the_database(corpus: Corpus, db_url: str) -> None:
    res = runner.invoke(
        app,
        [
            "scan",
            str(corpus.root),
            "--database-url",
            db_url,
            "--json",
            "-j",
            "2",
            "--home",
            str(corpus.home),
            "--no-watermarks",
        ],
    )
    assert res.exit_code == 3, res.output  # three unreadable files
    summary = json.loads(res.stdout)
    assert summary["files"] == len(corpus.expected) and summary["errors"] == 3

    stored = _inspections(db_url)
    good = {rel: e for rel, e in corpus.expected.items() if e[2] is None}
    assert sorted(stored) == sorted(str(corpus.root / rel) for rel in good)
    for rel, (verdict, _, _) in good.items():
        insp, rec = stored[str(corpus.root / rel)]
        assert insp.verdict == rec.verdict == verdict, rel
        assert insp.source == "scan" and rec.source.startswith("scan:")
        assert rec.sha256 == insp.report["sha256"] and len(rec.sha256) == 64
        assert rec.retain_until - rec.created_at >= timedelta(days=183)
    signed, rec = stored[str(corpus.root / "img/signed.jpg")]
    assert signed.platform_label == "1" and signed.policy_version.endswith("/1")
    assert rec.record is not None and rec.record["Label"] == "1" and rec.produce_id

    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            job = conn.execute(select(BatchJob)).one()
            assert (job.kind, job.status, job.executor) == ("scan", "done", "local")
            assert job.counts["files"] == len(corpus.expected) and job.counts["errors"] == 3
            findings = conn.execute(select(func.count()).select_from(Finding)).scalar_one()
            assert findings >= 10  # the labelled files' evidence
            secret = Settings.load(database_url=db_url).secret_key
            assert verify(conn, secret).ok  # every write went through the audit chain
    finally:
        engine.dispose()


class Interrupt(KeyboardInterrupt):
    pass


def test_resume_continues_the_scan_job(corpus: Corpus, db_url: str) -> None:
    settings = Settings.load(database_url=db_url)
    seen: list[str] = []

    def stop_after_ten(row: Mapping[str, Any]) -> None:
        seen.append(row["path"])
        if len(seen) == 10:
            raise Interrupt

    def sink(resume: bool) -> DatabaseSink:
        return DatabaseSink(settings, inputs="corpus", engine="local", resume=resume)

    first = sink(False)
    with pytest.raises(Interrupt):
        run_scan(corpus.paths(), corpus.config(), LocalExecutor(2), first, on_row=stop_after_ten)
    stored_first = set(_inspections(db_url))
    assert stored_first and stored_first <= set(seen)

    again = sink(True)
    assert again.job_id == first.job_id and again.done() == stored_first
    summary = run_scan(corpus.paths(), corpus.config(), LocalExecutor(2), again)
    assert summary.skipped == len(stored_first)
    stored = _inspections(db_url)
    assert len(stored) == len(corpus.expected) - 3  # each good file once, none twice
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            job = conn.execute(select(BatchJob)).one()
            assert job.status == "done" and job.counts["files"] == len(seen) + summary.files
    finally:
        engine.dispose()
    # Without --resume: a new job
    assert sink(False).job_id != first.job_id


def test_bad_database_url_is_a_clear_error(corpus: Corpus, tmp_path: Path) -> None:
    res = runner.invoke(
        app, ["scan", str(corpus.root), "--database-url", "mysql://x/y", "--no-watermarks"]
    )
    assert res.exit_code == 2 and "only sqlite" in res.stderr
    res = runner.invoke(
        app,
        [
            "scan",
            str(corpus.root),
            "--database-url",
            "sqlite:///x.db",
            "-o",
            str(tmp_path / "a.jsonl"),
        ],
    )
    assert res.exit_code == 2 and "not both" in res.stderr
