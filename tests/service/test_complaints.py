"""Complaints from the public on SQLite and PostgreSQL: filing without an account, ticket
status without personal data, due dates per category, review and resolution, rate limit."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest
from sqlalchemy import select

from synthlabel.service import complaints
from synthlabel.service.db.models import WebhookDelivery
from tests.service.conftest import Service, make_service
from tests.service.review_helpers import P, add_item, record


def _file(service: Service, **body: object) -> dict[str, object]:
    r = service.client.post(f"{P}/complaints", json=body)
    assert r.status_code == 201, r.text
    return dict(r.json())


def test_file_and_follow_a_complaint(service: Service) -> None:
    c = service.client
    hook = c.post(
        f"{P}/webhooks",
        json={"name": "cx", "url": "https://hooks.example.org/in", "event_kinds": ["complaint.*"]},
        headers=service.auth(),
    )
    assert hook.status_code == 201, hook.text
    item = add_item(service, verdict="no_trace", sha256="ab" * 32)
    receipt = _file(
        service,
        category="unlabelled_ai",
        text="This video is AI-made and has no label",
        subject="AB" * 32,  # an upload's SHA-256, any case
        contact="reporter@example.org",
    )
    ticket = str(receipt["ticket"])
    assert complaints.TICKET_RE.match(ticket)
    received = datetime.fromisoformat(str(receipt["received_at"]))
    due = datetime.fromisoformat(str(receipt["due_at"]))
    assert (due - received).total_seconds() == 72 * 3600
    status = c.get(str(receipt["status_url"]))
    assert status.status_code == 200
    body = status.json()
    assert body["status"] == "received" and body["ticket"] == ticket
    assert "reporter@example.org" not in status.text and "no label" not in status.text
    # Lower-case tickets are found too; unknown and malformed ones are 404.
    assert c.get(f"{P}/complaints/{ticket.lower()}").status_code == 200
    assert c.get(f"{P}/complaints/C-2026-0000000000").status_code == 404
    assert c.get(f"{P}/complaints/nonsense").status_code == 404

    # Staff see it (with the contact) and its job in the complaint queue, linked to the item.
    h = service.auth()
    listed = c.get(f"{P}/complaints", headers=h).json()["items"]
    assert listed[0]["contact"] == "reporter@example.org"
    assert listed[0]["content_record_id"] == item and listed[0]["subject_type"] == "sha256"
    assert c.get(f"{P}/complaints").status_code == 401
    job = c.post(f"{P}/review/queues/complaint/claim", headers=h).json()
    assert job["subject"]["ticket"] == ticket and job["subject"]["content_record_id"] == item
    assert job["description"] == "This video is AI-made and has no label"
    assert c.get(f"{P}/complaints/{ticket}").json()["status"] == "in_review"
    r = c.post(
        f"{P}/review/jobs/{job['id']}/decide",
        json={"outcome": "label", "reason": "AI-generated face", "label": "confirmed"},
        headers=h,
    )
    assert r.status_code == 201, r.text
    done = c.get(f"{P}/complaints/{ticket}").json()
    assert done["status"] == "resolved" and done["resolved_at"]
    assert done["resolution"] == "label: AI-generated face"
    assert record(service, item).review_state == "labelled"
    # Each step of the flow was one webhook event, with the public status of that moment.
    with service.session() as s:
        sent = s.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)).all()
        events = [(d.event_kind, d.payload["status"]) for d in sent]
    assert events == [
        ("complaint.received", "received"),
        ("complaint.updated", "in_review"),
        ("complaint.resolved", "resolved"),
    ]


def test_due_dates_priorities_and_unlinked_subjects(service: Service) -> None:
    c, h = service.client, service.auth()
    r1 = _file(service, category="rights", text="my photo", subject="https://x.example/p/1")
    r2 = _file(service, category="rumour", text="fake flood picture")
    hours = {
        r["category"]: (
            datetime.fromisoformat(str(r["due_at"])) - datetime.fromisoformat(str(r["received_at"]))
        ).total_seconds()
        / 3600
        for r in (r1, r2)
    }
    assert hours == {"rights": 168, "rumour": 24}
    # The rumour complaint is worked first.
    job = c.post(f"{P}/review/queues/complaint/claim", headers=h).json()
    assert job["subject"]["category"] == "rumour"
    # A complaint that names no stored item can only be closed without an action on an item.
    r = c.post(
        f"{P}/review/jobs/{job['id']}/decide",
        json={"outcome": "take_down", "reason": "x"},
        headers=h,
    )
    assert r.status_code == 422 and "names no stored item" in r.json()["detail"]
    r = c.post(
        f"{P}/review/jobs/{job['id']}/decide",
        json={"outcome": "no_action", "reason": "not found on our platform"},
        headers=h,
    )
    assert r.status_code == 201
    assert c.get(f"{P}/complaints/{r2['ticket']}").json()["status"] == "resolved"


def test_bad_complaints_are_422(service: Service) -> None:
    c = service.client
    for body, field in (
        ({"category": "spam", "text": "x"}, "category"),
        ({"category": "other", "text": ""}, "text"),
        ({"category": "other", "text": "x\x00y"}, "text"),
        ({"category": "other", "text": "x", "contact": "c" * 301}, "contact"),
        ({"category": "other", "text": "x", "extra": 1}, "extra"),
    ):
        r = c.post(f"{P}/complaints", json=body)
        assert r.status_code == 422 and field in r.text, (body, r.text)


def test_sla_setting_parses_and_refuses_bad_pairs() -> None:
    assert complaints.parse_sla("rumour=6, rights=240")["rumour"] == 6
    assert complaints.parse_sla("")["other"] == 168
    for bad in ("rumour", "spam=3", "rumour=x", "rumour=0"):
        with pytest.raises(ValueError):
            complaints.parse_sla(bad)


def test_tickets_are_unique_and_random() -> None:
    tickets = {complaints.new_ticket() for _ in range(2000)}
    assert len(tickets) == 2000
    assert all(complaints.TICKET_RE.match(t) for t in tickets)


@pytest.fixture
def tight(db_url: str) -> Iterator[Service]:
    # one token a minute: slow machines must not refill the bucket within the test
    yield from make_service(db_url, public_rate_per_minute=1, public_rate_burst=3)


def test_filing_is_rate_limited(tight: Service) -> None:
    codes = [
        tight.client.post(f"{P}/complaints", json={"category": "other", "text": "x"}).status_code
        for _ in range(5)
    ]
    assert codes[:3] == [201, 201, 201] and codes[3:] == [429, 429]


def test_sla_setting_sets_due_dates(db_url: str) -> None:
    from synthlabel.service.settings import Settings, SettingsError

    with pytest.raises(SettingsError, match="COMPLAINT_SLA_HOURS"):
        Settings.load(env={"SYNTHLABEL_COMPLAINT_SLA_HOURS": "spam=3"}, secret_key="k")
    for svc in make_service(db_url, complaint_sla_hours="rights=240"):
        r = _file(svc, category="rights", text="my photo")
        due = datetime.fromisoformat(str(r["due_at"])) - datetime.fromisoformat(
            str(r["received_at"])
        )
        assert due.total_seconds() == 240 * 3600
