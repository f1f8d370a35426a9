"""Reports: counts per day by provider, verdict or queue, as JSON or CSV (staff)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from synthlabel.service import reports
from synthlabel.service.api.deps import DB, Staff
from synthlabel.service.api.errors import ApiProblem, problem_responses

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])
READ = problem_responses(401, 403, 422)
Group = Literal["provider", "verdict", "queue"]
From = Annotated[date | None, Query(alias="from", description="first day (UTC); default to-29")]
To = Annotated[date | None, Query(description="last day (UTC), inclusive; default today")]


class ReportRow(BaseModel):
    day: str
    group: str
    key: str
    name: str | None
    count: int
    decided: int | None = None


class DailyReport(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    group: str
    from_: date = Field(alias="from")
    to: date
    rows: list[ReportRow]
    total: int


def _rows(db: DB, group: str, start: date | None, end: date | None) -> tuple[date, date, Any]:
    try:
        lo, hi = reports.check_range(start, end)
        return lo, hi, reports.daily(db, group, lo, hi)
    except reports.ReportError as exc:
        raise ApiProblem(422, "Invalid input", str(exc)) from None


@router.get("/daily", response_model=DailyReport, responses=READ)
def daily(
    _actor: Staff, db: DB, group: Group = "verdict", start: From = None, to: To = None
) -> Any:
    """Counts per UTC day: items by ``provider`` or ``verdict``; review jobs created (and
    decided) by ``queue``. At most 366 days."""
    lo, hi, rows = _rows(db, group, start, to)
    return DailyReport.model_validate(
        {
            "group": group,
            "from": lo,
            "to": hi,
            "rows": [ReportRow(**r.__dict__) for r in rows],
            "total": sum(r.count for r in rows),
        }
    )


@router.get(
    "/daily.csv",
    response_class=Response,
    responses={**READ, 200: {"content": {"text/csv": {}}, "description": "the rows as CSV"}},
)
def daily_csv(
    _actor: Staff, db: DB, group: Group = "verdict", start: From = None, to: To = None
) -> Response:
    """The same rows as CSV (columns day, group, key, name, count, decided)."""
    lo, hi, rows = _rows(db, group, start, to)
    return Response(
        reports.to_csv(rows),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="daily-{group}-{lo}-{hi}.csv"'},
    )
