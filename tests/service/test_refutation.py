"""Rumour refutation on SQLite and PostgreSQL: a refuted item's hashes flag every matching
upload (existing and future), attach the notice to their evidence and route them; reversal."""

from __future__ import annotations

from pathlib import Path

import cv2
from sqlalchemy import select

from synthlabel.service import refutation
from synthlabel.service.db.models import (
    ContentRecord,
    Finding,
    Inspection,
    WebhookDelivery,
    WebhookSubscription,
)
from synthlabel.service.db.types import utcnow
from tests.service.conftest import Service, make_service
from tests.service.ingest_helpers import jpeg, photo, run_worker, upload
from tests.service.review_helpers import PDQ_A, P, add_item, flip_bits, record

SHA = "cd" * 32


def test_pdq_matching_threshold() -> None:
    assert refutation.pdq_int("pdq:" + PDQ_A) == int(PDQ_A, 16)
    assert refutation.pdq_int("xyz") is None
    ref = refutation.RumourRefutation(perceptual_hash=PDQ_A, text="t")
    assert refutation.hashes_match(ref, None, flip_bits(PDQ_A, 31))
    assert not refutation.hashes_match(ref, None, flip_bits(PDQ_A, 32))


def test_refute_flags_existing_and_future_matches(service: Service) -> None:
    c, h = service.client, service.auth()
    with service.session() as s:
        s.info["actor"] = "test"
        s.add(
            WebhookSubscription(
                name="w", url="http://127.0.0.1:9/", secret="s", event_kinds=["item.flagged"]
            )
        )
        s.commit()
    rumour = add_item(service, verdict="possible", sha256=SHA, perceptual_hash=PDQ_A)
    same_file = add_item(service, verdict="no_trace", sha256=SHA, route=False)
    near = add_item(service, verdict="no_trace", perceptual_hash=flip_bits(PDQ_A, 20), route=False)
    far = add_item(service, verdict="no_trace", perceptual_hash=flip_bits(PDQ_A, 60), route=False)
    # The near copy has an inspection: the notice is added to its evidence.
    with service.session() as s:
        s.info["actor"] = "test"
        s.add(Inspection(content_record_id=near, verdict="no_trace", source="api"))
        s.commit()

    job = next(
        j
        for j in c.get(f"{P}/review/jobs", headers=h).json()["items"]
        if j["subject"]["id"] == rumour
    )
    notice = "This picture is not of the 2026 flood; it was generated."
    r = c.post(
        f"{P}/review/jobs/{job['id']}/decide",
        json={
            "outcome": "refute",
            "reason": "fabricated",
            "notice": notice,
            "source_url": "https://piyao.example/123",
        },
        headers=h,
    )
    assert r.status_code == 201, r.text
    action = next(a for a in r.json()["actions"] if a["type"] == "refutation")
    assert sorted(action["flagged"]) == sorted([rumour, same_file, near])
    assert record(service, rumour).review_state == "refuted"
    for item in (same_file, near):
        rec = record(service, item)
        assert "refuted" in (rec.flags or [])
        assert rec.notices and rec.notices[0]["text"] == notice
        assert rec.notices[0]["source_url"] == "https://piyao.example/123"
    assert not record(service, far).flags
    # The flagged copies are in the rumour queue, with the notice as evidence.
    rumour_jobs = c.get(f"{P}/review/jobs", params={"queue": "rumour"}, headers=h).json()["items"]
    assert sorted(j["subject"]["id"] for j in rumour_jobs) == sorted([same_file, near])
    near_job = next(j for j in rumour_jobs if j["subject"]["id"] == near)
    detail = c.get(f"{P}/review/jobs/{near_job['id']}", headers=h).json()
    assert detail["evidence"][-1]["kind"] == "rumour_refuted"
    assert detail["evidence"][-1]["evidence"]["text"] == notice

    # A future upload: check_refutations (called by the ingest worker) flags it.
    with service.session() as s:
        s.info["actor"] = "test"
        new = ContentRecord(
            verdict="no_trace", perceptual_hash="pdq:" + flip_bits(PDQ_A, 8), retain_until=utcnow()
        )
        s.add(new)
        s.flush()
        matched = refutation.check_refutations(s, new, route=True)
        assert [m.id for m in matched] == [action["refutation_id"]]
        s.commit()
        new_id = new.id
        assert s.scalars(
            select(Finding.kind).join(Inspection).where(Inspection.content_record_id == new_id)
        ).all() == ["rumour_refuted"]
        flagged_events = s.scalars(
            select(WebhookDelivery).where(WebhookDelivery.event_kind == "item.flagged")
        ).all()
        assert {d.payload["content_record_id"] for d in flagged_events} == {
            rumour,
            same_file,
            near,
            new_id,
        }
    rumour_jobs = c.get(f"{P}/review/jobs", params={"queue": "rumour"}, headers=h).json()["items"]
    assert new_id in [j["subject"]["id"] for j in rumour_jobs]
    # Checking again does not add the notice twice.
    with service.session() as s:
        s.info["actor"] = "test"
        rec = s.get(ContentRecord, new_id)
        assert rec is not None
        refutation.check_refutations(s, rec)
        s.commit()
    assert len(record(service, new_id).notices or []) == 1

    # Overturning the refutation on appeal withdraws it: notices and flags come off.
    r = c.post(
        f"{P}/review/decisions/{r.json()['id']}/appeals",
        json={"statement": "real photo"},
        headers=h,
    )
    r = c.post(
        f"{P}/review/appeals/{r.json()['id']}/resolve",
        json={"outcome": "overturned", "reason": "verified by the photographer"},
        headers=h,
    )
    assert r.status_code == 200, r.text
    for item in (rumour, same_file, near, new_id):
        rec = record(service, item)
        assert not rec.flags and not rec.notices, item
    assert record(service, rumour).review_state == "visible"
    got = c.get(f"{P}/refutations/{action['refutation_id']}", headers=h).json()
    assert got["refutation"]["status"] == "withdrawn" and got["flagged"] == []


def test_refutation_by_hash_only_and_errors(service: Service) -> None:
    c, h = service.client, service.auth()
    item = add_item(service, verdict="no_trace", sha256=SHA, route=False)
    r = c.post(f"{P}/refutations", json={"text": "false", "sha256": SHA.upper()}, headers=h)
    assert r.status_code == 201 and r.json()["flagged"] == [item]
    assert c.post(f"{P}/refutations", json={"text": "x"}, headers=h).status_code == 422
    r = c.post(f"{P}/refutations", json={"text": "x", "sha256": "zz"}, headers=h)
    assert r.status_code == 422
    plain = add_item(service, verdict="no_trace", route=False)
    r = c.post(f"{P}/refutations", json={"text": "x", "content_record_id": plain}, headers=h)
    assert r.status_code == 422 and "nothing to match" in r.json()["detail"]
    ref_id = c.get(f"{P}/refutations", headers=h).json()["items"][0]["id"]
    reviewer = service.auth(service.add_user("rita", "reviewer"))
    assert c.post(f"{P}/refutations/{ref_id}/withdraw", headers=reviewer).status_code == 403
    r = c.post(f"{P}/refutations/{ref_id}/withdraw", headers=h)
    assert r.status_code == 200 and r.json()["flagged"] == [item]
    assert c.post(f"{P}/refutations/{ref_id}/withdraw", headers=h).status_code == 409


def test_a_reupload_of_a_refuted_picture_is_flagged_on_ingest(db_url: str, tmp_path: Path) -> None:
    """Upload, refute, then upload a re-compressed, resized copy: the worker flags it."""
    for svc in make_service(db_url, blob_dir=tmp_path / "blobs"):
        c, h = svc.client, svc.auth()
        first = upload(c, h, jpeg(photo(21)), "flood.jpg").json()["item_id"]
        other = upload(c, h, jpeg(photo(22)), "other.jpg").json()["item_id"]
        run_worker(svc)
        r = c.post(
            f"{P}/refutations",
            json={"text": "Not this year's flood.", "content_record_id": first},
            headers=h,
        )
        assert r.status_code == 201 and r.json()["flagged"] == [first]
        copy = cv2.resize(photo(21), (400, 300), interpolation=cv2.INTER_AREA)
        again = upload(c, h, jpeg(copy, quality=60), "repost.jpg").json()["item_id"]
        unrelated = upload(c, h, jpeg(photo(23)), "new.jpg").json()["item_id"]
        run_worker(svc)
        rec = record(svc, again)
        assert rec.flags == ["refuted"] and rec.notices
        assert rec.notices[0]["text"] == "Not this year's flood."
        assert not record(svc, unrelated).flags and not record(svc, other).flags
        jobs = c.get(f"{P}/review/jobs", params={"queue": "rumour"}, headers=h).json()
        assert [j["subject"]["id"] for j in jobs["items"]] == [again]


def test_flagged_counts_are_counted_in_the_database(service: Service) -> None:
    """The refutation list's counts: one query per page, however many items are flagged."""
    other_sha = "ef" * 32
    items = [
        add_item(service, verdict="no_trace", sha256=SHA, route=False),
        add_item(service, verdict="no_trace", perceptual_hash=flip_bits(PDQ_A, 10), route=False),
        add_item(service, verdict="no_trace", sha256=other_sha, perceptual_hash=PDQ_A, route=False),
        add_item(service, verdict="no_trace", sha256="01" * 32, route=False),
    ]
    with service.session() as s:
        s.info["actor"] = "test"
        rec = s.get(ContentRecord, items[3])
        assert rec is not None
        rec.notices = [{"kind": "added", "text": "unrelated notice"}, "not an object"]
        r1, flagged1 = refutation.publish(
            s, text="one", source_url=None, sha256=SHA, perceptual_hash=PDQ_A, route=False
        )
        r2, flagged2 = refutation.publish(
            s, text="two", source_url=None, sha256=other_sha, route=False
        )
        r3, flagged3 = refutation.publish(
            s, text="three", source_url=None, sha256="00" * 32, route=False
        )
        s.commit()
        assert (len(flagged1), len(flagged2), len(flagged3)) == (3, 1, 0)
        counts = refutation.flagged_counts(s, [r1.id, r2.id, r3.id, 987654])
        assert counts == {r1.id: 3, r2.id: 1, r3.id: 0, 987654: 0}
        assert refutation.flagged_counts(s, []) == {}
        refutation.withdraw(s, r1)
        s.commit()
        assert refutation.flagged_counts(s, [r1.id, r2.id]) == {r1.id: 0, r2.id: 1}
