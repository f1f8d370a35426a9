"""Daily reports on SQLite and PostgreSQL: counts per UTC day by provider, verdict and queue,
as JSON and CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

from tests.service.conftest import Service
from tests.service.review_helpers import P, add_item

D1 = datetime(2026, 3, 1, 23, 59, 59, tzinfo=UTC)
D2 = datetime(2026, 3, 2, 0, 0, 1, tzinfo=UTC)


def _report(service: Service, **params: str) -> dict[str, object]:
    r = service.client.get(f"{P}/reports/daily", params=params, headers=service.auth())
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_counts_per_day_by_provider_verdict_and_queue(service: Service) -> None:
    c, h = service.client, service.auth()
    p = c.post(f"{P}/providers", json={"name": "=HYPERLINK(1)"}, headers=h).json()["id"]
    add_item(service, verdict="possible", provider_id=p, created_at=D1)
    add_item(service, verdict="possible", created_at=D1)
    add_item(service, verdict="confirmed", provider_id=p, created_at=D2)
    add_item(service, verdict="no_trace", created_at=D2 - timedelta(days=40))
    span = {"from": "2026-03-01", "to": "2026-03-02"}

    by_verdict = _report(service, group="verdict", **span)
    rows = [(r["day"], r["key"], r["count"]) for r in by_verdict["rows"]]  # type: ignore[index, attr-defined]
    assert rows == [("2026-03-01", "possible", 2), ("2026-03-02", "confirmed", 1)]
    assert by_verdict["total"] == 3 and by_verdict["from"] == "2026-03-01"

    by_provider = _report(service, group="provider", **span)
    rows = [(r["day"], r["key"], r["name"], r["count"]) for r in by_provider["rows"]]  # type: ignore[index, attr-defined]
    assert rows == [
        ("2026-03-01", str(p), "=HYPERLINK(1)", 1),
        ("2026-03-01", "none", None, 1),
        ("2026-03-02", str(p), "=HYPERLINK(1)", 1),
    ]

    # Queue counts: the two possible items were routed (jobs made today), one decided today.
    today = datetime.now(UTC).date().isoformat()
    jobs = c.get(f"{P}/review/jobs", headers=h).json()["items"]
    assert len(jobs) == 2
    c.post(
        f"{P}/review/jobs/{jobs[0]['id']}/decide",
        json={"outcome": "no_action", "reason": "ok"},
        headers=h,
    )
    by_queue = _report(service, group="queue")
    assert [(r["day"], r["name"], r["count"], r["decided"]) for r in by_queue["rows"]] == [  # type: ignore[index, attr-defined]
        (today, "label-check", 2, 1)
    ]

    r = c.get(f"{P}/reports/daily.csv", params={"group": "provider", **span}, headers=h)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    table = list(csv.DictReader(io.StringIO(r.text)))
    assert [(t["day"], t["key"], t["count"]) for t in table] == [
        ("2026-03-01", str(p), "1"),
        ("2026-03-01", "none", "1"),
        ("2026-03-02", str(p), "1"),
    ]
    assert table[0]["name"] == "'=HYPERLINK(1)"  # no formula for spreadsheets


def test_bad_ranges_and_roles(service: Service) -> None:
    c, h = service.client, service.auth()
    r = c.get(f"{P}/reports/daily", params={"from": "2026-03-02", "to": "2026-03-01"}, headers=h)
    assert r.status_code == 422 and "from" in r.json()["detail"]
    r = c.get(f"{P}/reports/daily", params={"from": "2024-01-01", "to": "2026-03-01"}, headers=h)
    assert r.status_code == 422 and "366" in r.json()["detail"]
    assert c.get(f"{P}/reports/daily", params={"group": "colour"}, headers=h).status_code == 422
    assert c.get(f"{P}/reports/daily", params={"from": "yesterday"}, headers=h).status_code == 422
    prov = service.auth(service.add_user("prov", "provider"))
    assert c.get(f"{P}/reports/daily.csv", headers=prov).status_code == 403
