"""``synthlabel worker`` and ``synthlabel retention run`` (need the ``[service]`` extra).

* ``synthlabel worker [--database-url URL] [--concurrency N] [--batch N] [--once] [--json]``:
  run the ingest queue's jobs, deliver webhooks and run retention every few hours. ``--once`` runs
  what is due and exits (exit 0; 1 when a job failed, was retried or died). SIGTERM/SIGINT stop
  it after the jobs in hand (a job cut off by SIGKILL runs again when its lease expires).
* ``synthlabel retention run [--dry-run] [--json]``: delete content records past their
  retention date (never younger than the retention period, at least 183 days) and
  generation-log lines older than theirs (at least 183 days); audited.

Exit codes: 0 ok, 1 problem (a job failed), 2 usage or database error.
"""

from __future__ import annotations

import signal
from typing import Annotated, Any

import typer

from synthlabel.cli._common import EXIT_OK, EXIT_PROBLEM, JsonOpt, emit_json, fail
from synthlabel.cli.serve_cmd import DatabaseUrlOpt, _db_fail, _engine, _settings, out

retention_app = typer.Typer(
    help="Retention of content records and the generation log (kept at least 6 months).",
    no_args_is_help=True,
)


def worker(
    database_url: DatabaseUrlOpt = None,
    concurrency: Annotated[
        int, typer.Option("--concurrency", "-c", min=1, max=64, help="Worker threads.")
    ] = 1,
    once: Annotated[
        bool, typer.Option("--once", help="Run the jobs that are due now, then exit.")
    ] = False,
    poll: Annotated[
        float, typer.Option("--poll", min=0.05, max=60, help="Seconds between idle polls.")
    ] = 0.5,
    retention_hours: Annotated[
        float,
        typer.Option("--retention-every", min=0, help="Hours between retention runs (0: off)."),
    ] = 6.0,
    batch: Annotated[
        int, typer.Option("--batch", min=1, max=256, help="Jobs claimed and committed together.")
    ] = 32,
    as_json: JsonOpt = False,
) -> None:
    """Run the ingest queue: inspect, hash, match the generation log, route, notify."""
    settings = _settings(database_url)
    engine = _engine(settings)  # migrates; fails clearly on a bad URL
    from synthlabel.service.txn import DatabaseUnavailable
    from synthlabel.service.worker import Worker

    w = Worker(
        settings, engine=engine, poll=poll, retention_every=retention_hours * 3600, batch=batch
    )

    def stop(_sig: int, _frame: Any) -> None:
        w.stop.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if not as_json and not once:
        out.print(f"worker {w.name}: {concurrency} thread(s); Ctrl-C to stop")
    try:
        stats = w.run_until_idle() if once else w.run_forever(concurrency)
    except DatabaseUnavailable as exc:
        fail(str(exc))
    except Exception as exc:
        _db_fail(exc)
    finally:
        w.close()
    d = stats.to_dict()
    if as_json:
        emit_json(d)
    else:
        out.print(
            f"jobs: {d['jobs_done']} done, {d['jobs_failed']} failed (bad file), "
            f"{d['jobs_retried']} retried, {d['jobs_dead']} dead; webhooks: {d['webhooks']}; "
            f"retention deleted {d['retention_deleted']}"
        )
    bad = d["jobs_retried"] or d["jobs_dead"] or d["jobs_failed"]
    raise typer.Exit(EXIT_PROBLEM if once and bad else EXIT_OK)


@retention_app.command("run")
def retention_run(
    database_url: DatabaseUrlOpt = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count (and list some) records; delete nothing.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Delete content records and generation-log lines past retention (audited)."""
    from synthlabel.service import retention
    from synthlabel.service.db.engine import session_factory

    settings = _settings(database_url)
    engine = _engine(settings)
    try:
        res = retention.run(
            settings,
            session_factory(engine, settings.secret_key),
            dry_run=dry_run,
            actor="cli:retention",
        )
    except Exception as exc:
        _db_fail(exc)
    finally:
        engine.dispose()
    if as_json:
        emit_json(res.to_dict())
    elif dry_run:
        out.print(
            f"{res.eligible} content record(s) and {res.genlog_eligible} generation-log "
            f"line(s) past retention (cutoff {res.cutoff}; log lines logged before "
            f"{res.genlog_cutoff}); nothing deleted (--dry-run)"
        )
    else:
        out.print(
            f"deleted {res.deleted} content record(s) and {res.blobs_deleted} stored "
            f"file(s) past retention (cutoff {res.cutoff}), and {res.genlog_deleted} "
            f"generation-log line(s) logged before {res.genlog_cutoff}"
        )
    raise typer.Exit(EXIT_OK)
