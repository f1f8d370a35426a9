"""Reports: counts per day (UTC), by provider, verdict or queue, as rows or CSV.

* ``provider``: content records created per day per provider (``key`` the provider id,
  ``name`` its name; items of no provider have key ``none``);
* ``verdict``: content records created per day per verdict;
* ``queue``: review jobs created per day per queue (``count``), and decisions made that day on
  jobs of that queue (``decided``).

Rows with a zero count are left out. Days are UTC calendar days, grouped in the database.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Date, cast, func, select
from sqlalchemy.orm import Session

from synthlabel.service.db.models import ContentRecord, Decision, Provider, ReviewJob, ReviewQueue

GROUPS = ("provider", "verdict", "queue")
MAX_DAYS = 366
CSV_COLUMNS = ("day", "group", "key", "name", "count", "decided")


class ReportError(ValueError):
    """A report cannot be made as asked (the message names the parameter)."""


@dataclass(frozen=True)
class Row:
    day: str
    group: str
    key: str
    name: str | None
    count: int
    decided: int | None = None


def _day(session: Session, column: Any) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.timezone("UTC", column), Date)
    return func.date(column)  # SQLite stores UTC text: 'YYYY-MM-DD HH:MM:SS...'


def _as_text(value: Any) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)


def check_range(
    start: date | None, end: date | None, *, today: date | None = None
) -> tuple[date, date]:
    today = today or datetime.now(UTC).date()
    end = end or today
    start = start or end - timedelta(days=29)
    if start > end:
        raise ReportError("from: must not be after to")
    if (end - start).days + 1 > MAX_DAYS:
        raise ReportError(f"from/to: at most {MAX_DAYS} days per report")
    return start, end


def daily(session: Session, group: str, start: date, end: date) -> list[Row]:
    if group not in GROUPS:
        raise ReportError(f"group: {group!r} is not one of {', '.join(GROUPS)}")
    lo = datetime.combine(start, time.min, UTC)
    hi = datetime.combine(end + timedelta(days=1), time.min, UTC)
    rows: list[Row] = []
    if group in ("provider", "verdict"):
        day = _day(session, ContentRecord.created_at).label("day")
        col = ContentRecord.provider_id if group == "provider" else ContentRecord.verdict
        stmt = (
            select(day, col, func.count())
            .where(ContentRecord.created_at >= lo, ContentRecord.created_at < hi)
            .group_by(day, col)
        )
        names: dict[Any, str] = {}
        if group == "provider":
            names = {p.id: p.name for p in session.scalars(select(Provider))}
        for d, key, n in session.execute(stmt):
            rows.append(
                Row(
                    _as_text(d),
                    group,
                    "none" if key is None else str(key),
                    names.get(key) if group == "provider" else None,
                    int(n),
                )
            )
    else:
        queues = {q.id: q.name for q in session.scalars(select(ReviewQueue))}
        created: dict[tuple[str, int], int] = defaultdict(int)
        decided: dict[tuple[str, int], int] = defaultdict(int)
        jday = _day(session, ReviewJob.created_at).label("day")
        for d, qid, n in session.execute(
            select(jday, ReviewJob.queue_id, func.count())
            .where(ReviewJob.created_at >= lo, ReviewJob.created_at < hi)
            .group_by(jday, ReviewJob.queue_id)
        ):
            created[(_as_text(d), int(qid))] += int(n)
        dday = _day(session, Decision.created_at).label("day")
        for d, qid, n in session.execute(
            select(dday, ReviewJob.queue_id, func.count())
            .join(ReviewJob, ReviewJob.id == Decision.job_id)
            .where(Decision.created_at >= lo, Decision.created_at < hi)
            .group_by(dday, ReviewJob.queue_id)
        ):
            decided[(_as_text(d), int(qid))] += int(n)
        for d, qid in set(created) | set(decided):
            rows.append(
                Row(
                    d,
                    group,
                    str(qid),
                    queues.get(qid),
                    created.get((d, qid), 0),
                    decided.get((d, qid), 0),
                )
            )
    rows.sort(key=lambda r: (r.day, r.key))
    return rows


def _cell(value: Any) -> Any:
    """Text a spreadsheet would run as a formula gets a leading apostrophe."""
    if value is None:
        return ""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def to_csv(rows: list[Row]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\r\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: _cell(v) for k, v in asdict(r).items()})
    return buf.getvalue()
