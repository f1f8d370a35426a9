"""Review on SQLite and PostgreSQL: routing rules, lease claims, decisions and their effects,
bulk decisions, appeals, events."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from synthlabel.service import review, routing
from synthlabel.service.db.models import (
    AuditEvent,
    ContentRecord,
    Decision,
    ImmutableRowError,
    ReviewJob,
    ReviewQueue,
    WebhookDelivery,
    WebhookSubscription,
)
from synthlabel.service.db.types import utcnow
from tests.service.conftest import Service
from tests.service.review_helpers import P, add_item, record, user_id


def _jobs(service: Service, **params: object) -> list[dict[str, object]]:
    r = service.client.get(f"{P}/review/jobs", params=params, headers=service.auth())
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


# --- routing --------------------------------------------------------------------------------


def test_default_rules_route_possible_and_suspected_only(service: Service) -> None:
    a = add_item(service, verdict="possible")
    b = add_item(service, verdict="suspected")
    add_item(service, verdict="confirmed")
    add_item(service, verdict="no_trace")
    add_item(service, verdict="possible", route=False)
    jobs = _jobs(service, queue="label-check")
    assert sorted(j["subject"]["id"] for j in jobs) == sorted([a, b])
    assert all(j["due_at"] and j["reason"] == "rule possible-or-suspected v1" for j in jobs)
    # Routing the same item again reuses its open job.
    with service.session() as s:
        rec = s.get(ContentRecord, a)
        assert rec is not None
        again = routing.route_item(s, rec)
        assert again.job is not None and not again.created
        s.commit()
    assert len(_jobs(service, queue="label-check")) == 2


def test_rules_first_match_draft_ignored_background_only_recorded(service: Service) -> None:
    c, h = service.client, service.auth()
    r = c.post(f"{P}/review/queues", json={"name": "video-check", "sla_hours": 4}, headers=h)
    assert r.status_code == 201
    # A live rule ahead of the defaults for video; a draft one and a background one too.
    rule = {"name": "videos", "queue": "video-check", "position": 1, "status": "live"}
    r = c.post(
        f"{P}/review/rules", json={**rule, "condition": {"media_kind": ["video"]}}, headers=h
    )
    assert r.status_code == 201, r.text
    video_rule = r.json()["id"]
    draft = {"name": "all-images", "queue": "video-check", "position": 0, "status": "draft"}
    assert (
        c.post(f"{P}/review/rules", json={**draft, "condition": {}}, headers=h).status_code == 201
    )
    shadow = {"name": "shadow-audio", "queue": "video-check", "position": 0, "status": "background"}
    r = c.post(
        f"{P}/review/rules", json={**shadow, "condition": {"media_kind": ["audio"]}}, headers=h
    )
    shadow_id = r.json()["id"]

    v = add_item(service, verdict="possible", media_kind="video")
    i = add_item(service, verdict="possible", media_kind="image")
    a = add_item(service, verdict="possible", media_kind="audio")
    assert [j["subject"]["id"] for j in _jobs(service, queue="video-check")] == [v]
    assert sorted(j["subject"]["id"] for j in _jobs(service, queue="label-check")) == sorted([i, a])
    with service.session() as s:
        shadows = s.scalars(
            select(AuditEvent).where(AuditEvent.action == "routing.shadow_match")
        ).all()
        assert [(e.object_id, e.payload["rule_id"]) for e in shadows] == [(a, shadow_id)]

    # Editing a rule makes a new version; the old one is kept.
    r = c.patch(
        f"{P}/review/rules/{video_rule}",
        json={"condition": {"media_kind": ["video"], "verdict": ["suspected"]}},
        headers=h,
    )
    assert r.json()["version"] == 2
    versions = c.get(f"{P}/review/rules/{video_rule}/versions", headers=h).json()
    assert [v["condition"] for v in versions] == [
        {"media_kind": ["video"]},
        {"media_kind": ["video"], "verdict": ["suspected"]},
    ]
    v2 = add_item(service, verdict="possible", media_kind="video")
    assert v2 not in [j["subject"]["id"] for j in _jobs(service, queue="video-check")]


def test_rule_conditions_are_validated(service: Service) -> None:
    c, h = service.client, service.auth()
    bad = {"name": "x", "queue": "label-check", "condition": {"colour": ["red"]}}
    r = c.post(f"{P}/review/rules", json=bad, headers=h)
    assert r.status_code == 422 and "colour" in r.text
    r = c.post(f"{P}/review/rules", json={**bad, "condition": {"verdict": []}}, headers=h)
    assert r.status_code == 422 and "verdict" in r.json()["detail"]
    r = c.post(f"{P}/review/rules", json={**bad, "condition": {}, "queue": "nope"}, headers=h)
    assert r.status_code == 404
    reviewer = service.add_user("rita", "reviewer")
    r = c.post(f"{P}/review/rules", json={**bad, "condition": {}}, headers=service.auth(reviewer))
    assert r.status_code == 403


def test_condition_matching() -> None:
    cond = routing.validate_condition(
        {"verdict": "possible", "source": ["scan"], "flags": ["a"], "not_flags": ["b"]}
    )
    fields = {"verdict": "possible", "source": "scan:12", "media_kind": None}
    assert routing.matches(cond, fields, frozenset({"a"}))
    assert not routing.matches(cond, fields, frozenset({"a", "b"}))
    assert not routing.matches(cond, {**fields, "source": "api"}, frozenset({"a"}))
    assert not routing.matches({"media_kind": ["image"]}, fields, frozenset())
    assert routing.matches({"flags_any": ["x", "a"]}, fields, frozenset({"a"}))
    with pytest.raises(routing.RoutingError, match="provider_id"):
        routing.validate_condition({"provider_id": ["3"]})


# --- claiming ---------------------------------------------------------------------------------


def test_claim_lease_release_assign(service: Service) -> None:
    c = service.client
    rita = service.auth(service.add_user("rita", "reviewer"))
    rob = service.auth(service.add_user("rob", "reviewer"))
    first = add_item(service)
    second = add_item(service)
    r1 = c.post(f"{P}/review/queues/label-check/claim", headers=rita)
    r2 = c.post(f"{P}/review/queues/label-check/claim", headers=rob)
    assert r1.status_code == r2.status_code == 200
    j1, j2 = r1.json(), r2.json()
    assert {j1["subject"]["id"], j2["subject"]["id"]} == {first, second}
    assert c.post(f"{P}/review/queues/label-check/claim", headers=rob).status_code == 204
    # Rob cannot take or decide Rita's job while her lease runs.
    r = c.post(f"{P}/review/jobs/{j1['id']}/claim", headers=rob)
    assert r.status_code == 409 and "claimed by" in r.json()["detail"]
    r = c.post(
        f"{P}/review/jobs/{j1['id']}/decide",
        json={"outcome": "no_action", "reason": "fine"},
        headers=rob,
    )
    assert r.status_code == 409
    assert c.post(f"{P}/review/jobs/{j1['id']}/release", headers=rob).status_code == 403
    # Her lease expires: the job is claimable again.
    with service.session() as s:
        s.info["actor"] = "test"
        job = s.get(ReviewJob, j1["id"])
        assert job is not None
        job.lease_until = utcnow() - timedelta(seconds=1)
        s.commit()
    r = c.post(f"{P}/review/queues/label-check/claim", headers=rob)
    assert r.status_code == 200 and r.json()["id"] == j1["id"]
    assert r.json()["claimed_by"] == user_id(service, "rob")
    # Release puts it back; an admin assigns it to Rita.
    r = c.post(f"{P}/review/jobs/{j1['id']}/release", headers=rob)
    assert r.json()["status"] == "pending" and r.json()["claimed_by"] is None
    rita_id = user_id(service, "rita")
    r = c.post(f"{P}/review/jobs/{j1['id']}/assign", json={"user_id": rita_id}, headers=rob)
    assert r.status_code == 403
    r = c.post(
        f"{P}/review/jobs/{j1['id']}/assign", json={"user_id": rita_id}, headers=service.auth()
    )
    assert r.status_code == 200 and r.json()["claimed_by"] == rita_id
    mine = c.get(f"{P}/review/jobs", params={"mine": True}, headers=rita).json()["items"]
    assert [j["id"] for j in mine] == [j1["id"]]
    pat = service.add_user("pat", "public")
    r = c.post(
        f"{P}/review/jobs/{j1['id']}/assign",
        json={"user_id": user_id(service, "pat")},
        headers=service.auth(),
    )
    assert r.status_code == 422 and pat


def test_two_reviewers_never_claim_the_same_job(service: Service) -> None:
    """Concurrent claims through the API (threads, one connection each)."""
    for _ in range(12):
        add_item(service)
    keys = [service.auth(service.add_user(f"r{i}", "reviewer")) for i in range(3)]
    got: list[int] = []
    lock = threading.Lock()

    def worker(h: dict[str, str]) -> None:
        from fastapi.testclient import TestClient

        with TestClient(service.app) as cl:
            while True:
                r = cl.post(f"{P}/review/queues/label-check/claim", headers=h)
                if r.status_code == 204:
                    return
                assert r.status_code == 200, r.text
                with lock:
                    got.append(r.json()["id"])

    threads = [threading.Thread(target=worker, args=(h,)) for h in keys]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 12 and len(set(got)) == 12


# --- decisions --------------------------------------------------------------------------------


def _decide(service: Service, job_id: int, **body: object) -> dict[str, object]:
    r = service.client.post(f"{P}/review/jobs/{job_id}/decide", json=body, headers=service.auth())
    assert r.status_code == 201, r.text
    return dict(r.json())


def _job_of(service: Service, item: str) -> int:
    for j in _jobs(service):
        if j["subject"]["id"] == item:
            return int(j["id"])  # type: ignore[call-overload]
    raise AssertionError(f"no job for {item}")


def test_decisions_change_the_item_and_are_immutable(service: Service) -> None:
    with service.session() as s:
        s.info["actor"] = "test"
        s.add(WebhookSubscription(name="all", url="http://127.0.0.1:9/x", secret="s"))
        s.add(
            WebhookSubscription(
                name="complaints",
                url="http://127.0.0.1:9/y",
                secret="s",
                event_kinds=["complaint.*"],
            )
        )
        s.commit()
    items = {k: add_item(service) for k in ("label", "notice", "down", "none")}
    d = _decide(
        service,
        _job_of(service, items["label"]),
        outcome="label",
        reason="AI face",
        label="confirmed",
    )
    rec = record(service, items["label"])
    assert rec.review_state == "labelled"
    assert rec.labels_applied and rec.labels_applied[-1]["label"] == "confirmed"
    _decide(
        service,
        _job_of(service, items["notice"]),
        outcome="add_notice",
        reason="context",
        notice="This picture was made with AI.",
    )
    rec = record(service, items["notice"])
    assert rec.review_state == "noticed" and rec.notices
    assert rec.notices[0]["text"] == "This picture was made with AI."
    down_job = _job_of(service, items["down"])
    _decide(service, down_job, outcome="take_down", reason="deceptive")
    assert record(service, items["down"]).review_state == "taken_down"
    _decide(service, _job_of(service, items["none"]), outcome="no_action", reason="ok")
    assert record(service, items["none"]).review_state == "visible"

    # Decided jobs stay decided; bad input is a 422 naming the field.
    r = service.client.post(
        f"{P}/review/jobs/{down_job}/decide",
        json={"outcome": "restore", "reason": "x"},
        headers=service.auth(),
    )
    assert r.status_code == 409 and "already decided" in r.json()["detail"]
    other = add_item(service)
    for body, field in (
        ({"outcome": "add_notice", "reason": "x"}, "notice"),
        ({"outcome": "refute", "reason": "x", "notice": "n"}, "source_url"),
        ({"outcome": "label", "reason": " "}, "reason"),
        ({"outcome": "ban", "reason": "x"}, "outcome"),
    ):
        r = service.client.post(
            f"{P}/review/jobs/{_job_of(service, other)}/decide", json=body, headers=service.auth()
        )
        assert r.status_code == 422 and field in r.text, (body, r.text)

    with service.session() as s:
        s.info["actor"] = "test"
        dec = s.get(Decision, d["id"])
        assert dec is not None
        dec.reason = "edited"
        with pytest.raises(ImmutableRowError):
            s.flush()
        s.rollback()
        # One item.decided delivery per decision for the catch-all subscription only.
        kinds = s.scalars(select(WebhookDelivery.event_kind)).all()
        assert kinds.count("item.decided") == 4
        payloads = s.scalars(select(WebhookDelivery.payload)).all()
        assert {p["outcome"] for p in payloads} == {
            "label",
            "add_notice",
            "take_down",
            "no_action",
        }


def test_bulk_decide_is_all_or_nothing(service: Service) -> None:
    items = [add_item(service) for _ in range(4)]
    jobs = [_job_of(service, i) for i in items]
    _decide(service, jobs[2], outcome="no_action", reason="first")
    c, h = service.client, service.auth()
    r = c.post(
        f"{P}/review/jobs/decide-bulk",
        json={"job_ids": [*jobs, 999999], "outcome": "take_down", "reason": "spam wave"},
        headers=h,
    )
    assert r.status_code == 409, r.text
    errors = r.json()["errors"]
    assert [e["loc"] for e in errors] == [["job_ids", 2], ["job_ids", 4]]
    assert "already decided" in errors[0]["msg"] and "no review job" in errors[1]["msg"]
    assert all(record(service, i).review_state is None for i in (items[0], items[1], items[3]))
    with service.session() as s:
        assert s.scalar(select(func.count()).select_from(Decision)) == 1
    ok = [jobs[0], jobs[1], jobs[3]]
    r = c.post(
        f"{P}/review/jobs/decide-bulk",
        json={"job_ids": ok, "outcome": "take_down", "reason": "spam wave"},
        headers=h,
    )
    assert r.status_code == 201 and len(r.json()["decisions"]) == 3
    assert all(record(service, items[i]).review_state == "taken_down" for i in (0, 1, 3))


# --- appeals ----------------------------------------------------------------------------------


def test_appeal_upheld_keeps_overturned_reverses(service: Service) -> None:
    c, h = service.client, service.auth()
    a, b = add_item(service), add_item(service)
    da = _decide(service, _job_of(service, a), outcome="take_down", reason="fake")
    db_ = _decide(service, _job_of(service, b), outcome="label", reason="AI", label="possible")
    pat = service.auth(service.add_user("pat", "public"))
    ra = c.post(
        f"{P}/review/decisions/{da['id']}/appeals", json={"statement": "mine, real"}, headers=pat
    )
    assert ra.status_code == 201 and ra.json()["appellant_ref"] == "user:pat"
    again = c.post(
        f"{P}/review/decisions/{da['id']}/appeals", json={"statement": "again"}, headers=pat
    )
    assert again.status_code == 409
    rb = c.post(
        f"{P}/review/decisions/{db_['id']}/appeals", json={"statement": "no AI"}, headers=pat
    )
    # The appeals are jobs in the appeal queue.
    appeal_jobs = _jobs(service, queue="appeal")
    assert sorted(j["subject"]["decision_id"] for j in appeal_jobs) == sorted([da["id"], db_["id"]])
    # A generic decision on an appeal job is refused: appeals are resolved.
    r = c.post(
        f"{P}/review/jobs/{appeal_jobs[0]['id']}/decide",
        json={"outcome": "restore", "reason": "x"},
        headers=h,
    )
    assert r.status_code == 409

    r = c.post(
        f"{P}/review/appeals/{ra.json()['id']}/resolve",
        json={"outcome": "upheld", "reason": "it is fake"},
        headers=h,
    )
    assert r.status_code == 200 and r.json()["decision"]["outcome"] == "no_action"
    assert record(service, a).review_state == "taken_down"
    r = c.post(
        f"{P}/review/appeals/{rb.json()['id']}/resolve",
        json={"outcome": "overturned", "reason": "photo is real"},
        headers=h,
    )
    assert r.status_code == 200
    new = r.json()["decision"]
    assert new["outcome"] == "restore" and new["actions"][0] == {
        "type": "reverses",
        "decision_id": db_["id"],
    }
    rec = record(service, b)
    assert rec.review_state == "visible"
    assert not any(x.get("kind") == "review_label" for x in rec.labels_applied or [])
    r = c.post(
        f"{P}/review/appeals/{rb.json()['id']}/resolve",
        json={"outcome": "upheld", "reason": "again"},
        headers=h,
    )
    assert r.status_code == 409
    # The original decisions are unchanged rows.
    assert c.get(f"{P}/review/decisions/{db_['id']}", headers=h).json() == db_
    closed = c.get(f"{P}/review/appeals", params={"status": "closed"}, headers=h).json()
    assert closed["total"] == 2


def test_provider_appeals_only_its_own_items(service: Service) -> None:
    c, h = service.client, service.auth()
    p1 = c.post(f"{P}/providers", json={"name": "One"}, headers=h).json()["id"]
    p2 = c.post(f"{P}/providers", json={"name": "Two"}, headers=h).json()["id"]
    key = service.add_user("prov", "provider")
    with service.session() as s:
        s.info["actor"] = "test"
        from synthlabel.service.db.models import User

        u = s.scalars(select(User).where(User.name == "prov")).one()
        u.provider_id = p1
        s.commit()
    own, other = add_item(service, provider_id=p1), add_item(service, provider_id=p2)
    d_own = _decide(service, _job_of(service, own), outcome="take_down", reason="x")
    d_other = _decide(service, _job_of(service, other), outcome="take_down", reason="x")
    ph = service.auth(key)
    r = c.post(f"{P}/review/decisions/{d_other['id']}/appeals", json={"statement": "s"}, headers=ph)
    assert r.status_code == 403
    r = c.post(f"{P}/review/decisions/{d_own['id']}/appeals", json={"statement": "s"}, headers=ph)
    assert r.status_code == 201


def test_domain_claim_next_orders_by_priority_then_due(service: Service) -> None:
    with service.session() as s:
        s.info["actor"] = "test"
        q = routing.queue_by_name(s, routing.LABEL_CHECK)
        now = utcnow()
        low, _ = routing.enqueue(s, q, "content_record", "a", priority=0, due_at=now)
        late, _ = routing.enqueue(
            s, q, "content_record", "b", priority=5, due_at=now + timedelta(hours=9)
        )
        soon, _ = routing.enqueue(
            s, q, "content_record", "c", priority=5, due_at=now + timedelta(hours=1)
        )
        s.commit()
        order = []
        me = review.Reviewer(user_id(service, "root"), is_admin=True)
        while (job := review.claim_next(s, q, me)) is not None:
            order.append(job.id)
        s.commit()
        assert order == [soon.id, late.id, low.id]
        assert s.scalar(select(func.count()).select_from(ReviewQueue)) == 4
