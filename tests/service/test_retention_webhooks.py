"""Retention (never younger than 183 days, audited, blobs removed) and webhooks (HMAC
signatures checked by a real local HTTP server, retries, dead letters, replay)."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update
from typer.testing import CliRunner

from synthlabel.service import retention, webhooks
from synthlabel.service.db.models import AuditEvent, ContentRecord, Inspection, WebhookDelivery
from synthlabel.service.db.types import utcnow
from tests.service.conftest import Service, make_service
from tests.service.ingest_helpers import a1111_png, jpeg, photo, run_worker, upload

P = "/api/v1"


@pytest.fixture
def svc(db_url: str, tmp_path: Path) -> Iterator[Service]:
    # the test receiver listens on 127.0.0.1: private destinations allowed here
    yield from make_service(
        db_url, blob_dir=tmp_path / "blobs", webhook_max_attempts=2, webhook_allow_private=True
    )


@pytest.fixture
def strict_svc(db_url: str, tmp_path: Path) -> Iterator[Service]:
    """The default: webhooks to public addresses only."""
    yield from make_service(db_url, blob_dir=tmp_path / "blobs", webhook_max_attempts=2)


# --- retention ------------------------------------------------------------------------------


def _age(svc: Service, item_id: str, days: int, *, retain_days: int) -> None:
    now = utcnow()
    with svc.session() as s:
        s.execute(
            update(ContentRecord)
            .where(ContentRecord.id == item_id)
            .values(
                created_at=now - timedelta(days=days),
                retain_until=now - timedelta(days=days) + timedelta(days=retain_days),
            )
        )
        s.commit()


def test_retention_deletes_only_expired_records(svc: Service) -> None:
    ids = [upload(svc.client, svc.auth(), jpeg(photo(300 + i))).json()["item_id"] for i in range(3)]
    run_worker(svc)
    old, young_but_short, fresh = ids
    _age(svc, old, 200, retain_days=183)  # past retention: goes
    _age(svc, young_but_short, 100, retain_days=30)  # retain_until passed, but < 183 days old
    with svc.session() as s:
        blob = s.get(ContentRecord, old).blob_path
    path = svc.settings.blob_dir / blob
    os.utime(path, (time.time() - 7200, time.time() - 7200))

    dry = retention.run(svc.settings, svc.app.state.synthlabel.sessions, dry_run=True)
    assert dry.eligible == 1 and dry.ids == [old] and dry.deleted == 0
    res = retention.run(svc.settings, svc.app.state.synthlabel.sessions)
    assert res.deleted == 1 and res.blobs_deleted == 1 and not path.exists()
    with svc.session() as s:
        assert s.get(ContentRecord, old) is None
        assert s.get(ContentRecord, young_but_short) is not None
        assert s.get(ContentRecord, fresh) is not None
        assert s.scalar(select(func.count()).where(Inspection.content_record_id == old)) == 0
        actions = s.scalars(select(AuditEvent.action).where(AuditEvent.object_id == old)).all()
        assert "content_record.delete" in actions
        assert s.scalar(select(func.count()).where(AuditEvent.action == "retention.run")) == 1
    assert retention.run(svc.settings, svc.app.state.synthlabel.sessions).deleted == 0


def test_retention_cli(svc: Service) -> None:
    from synthlabel.cli.main import app

    item = upload(svc.client, svc.auth(), jpeg(photo(310))).json()["item_id"]
    run_worker(svc)
    _age(svc, item, 400, retain_days=190)
    env = {
        "SYNTHLABEL_SECRET_KEY": svc.settings.secret_key,
        "SYNTHLABEL_BLOB_DIR": str(svc.settings.blob_dir),
    }
    args = ["retention", "run", "--database-url", svc.settings.database_url, "--json"]
    r = CliRunner().invoke(app, [*args, "--dry-run"], env=env)
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["eligible"] == 1
    r = CliRunner().invoke(app, args, env=env)
    assert r.exit_code == 0 and json.loads(r.output)["deleted"] == 1


def test_retention_setting_below_six_months_is_refused() -> None:
    from synthlabel.service.settings import Settings, SettingsError

    with pytest.raises(SettingsError, match="183"):
        Settings.load(env={"SYNTHLABEL_RETENTION_DAYS": "90"}, secret_key="x")


# --- webhooks --------------------------------------------------------------------------------


class Receiver:
    """A local HTTP server that records deliveries and answers with ``self.status``."""

    def __init__(self) -> None:
        self.status = 200
        self.got: list[dict[str, Any]] = []
        outer = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.got.append({"headers": dict(self.headers), "body": body})
                self.send_response(outer.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def _due_now(svc: Service) -> None:
    with svc.session() as s:
        s.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.status.in_(("pending", "retrying")))
            .values(next_attempt_at=utcnow() - timedelta(seconds=1))
        )
        s.commit()


def test_webhooks_signed_retried_dead_lettered_and_replayed(
    svc: Service, receiver: Receiver
) -> None:
    c, h = svc.client, svc.auth()
    r = c.post(
        f"{P}/webhooks",
        json={"name": "hub", "url": receiver.url, "event_kinds": ["item.*"]},
        headers=h,
    )
    assert r.status_code == 201, r.text
    secret = r.json()["secret"]
    assert "secret" not in c.get(f"{P}/webhooks/{r.json()['id']}", headers=h).json()
    c.post(
        f"{P}/webhooks",
        json={"name": "complaints-only", "url": receiver.url + "2", "event_kinds": ["complaint.*"]},
        headers=h,
    )

    upload(c, h, a1111_png(5), "gen.png")  # possible: decided and flagged
    run_worker(svc)
    events = sorted(json.loads(g["body"])["event"] for g in receiver.got)
    assert events == ["item.decided", "item.flagged"]
    for g in receiver.got:
        hd = g["headers"]
        assert webhooks.verify(
            secret, hd["X-Synthlabel-Timestamp"], g["body"], hd["X-Synthlabel-Signature"]
        )
        assert not webhooks.verify(
            "wrong-secret-wrong",
            hd["X-Synthlabel-Timestamp"],
            g["body"],
            hd["X-Synthlabel-Signature"],
        )
        assert not webhooks.verify(
            secret, hd["X-Synthlabel-Timestamp"], g["body"] + b" ", hd["X-Synthlabel-Signature"]
        )
    flagged = next(
        json.loads(g["body"])
        for g in receiver.got
        if json.loads(g["body"])["event"] == "item.flagged"
    )
    assert flagged["data"]["queue"] == "label-check" and flagged["data"]["verdict"] == "possible"

    # The receiver fails: retried with backoff, then dead after 2 attempts.
    receiver.status = 500
    receiver.got.clear()
    upload(c, h, jpeg(photo(6)), "x.jpg")
    run_worker(svc)
    dl = c.get(f"{P}/webhooks/deliveries", params={"status": "retrying"}, headers=h).json()
    assert dl["total"] == 1 and dl["items"][0]["last_status_code"] == 500
    with svc.session() as s:
        d = s.get(WebhookDelivery, dl["items"][0]["id"])
        assert d.next_attempt_at > utcnow()  # backing off
    _due_now(svc)
    run_worker(svc)
    dead = c.get(f"{P}/webhooks/deliveries", params={"status": "dead"}, headers=h).json()
    assert dead["total"] == 1 and dead["items"][0]["attempts"] == 2
    assert len(receiver.got) == 2
    bodies = {g["body"] for g in receiver.got}
    assert len(bodies) == 1  # the same bytes on every try

    # Fixed: replay the dead letter.
    receiver.status = 204
    did = dead["items"][0]["id"]
    rp = c.post(f"{P}/webhooks/deliveries/{did}/replay", headers=h)
    assert rp.status_code == 200 and rp.json()["status"] == "pending"
    run_worker(svc)
    assert (
        c.get(f"{P}/webhooks/deliveries", params={"status": "dead"}, headers=h).json()["total"] == 0
    )
    with svc.session() as s:
        assert s.get(WebhookDelivery, did).status == "delivered"
    assert c.post(f"{P}/webhooks/deliveries/{did}/replay", headers=h).status_code == 200
    assert c.post(f"{P}/webhooks/deliveries/999999/replay", headers=h).status_code == 404


def test_unreachable_receiver_and_bad_subscriptions(svc: Service) -> None:
    c, h = svc.client, svc.auth()
    for bad in ("ftp://x/y", "http://user:pw@host/x", "not a url"):
        r = c.post(f"{P}/webhooks", json={"name": "b", "url": bad}, headers=h)
        assert r.status_code == 422, bad
    reviewer = svc.add_user("rev", "reviewer")
    assert c.get(f"{P}/webhooks", headers=svc.auth(reviewer)).status_code == 403
    c.post(f"{P}/webhooks", json={"name": "gone", "url": "http://127.0.0.1:9/"}, headers=h)
    upload(c, h, jpeg(photo(7)))
    run_worker(svc)
    dl = c.get(f"{P}/webhooks/deliveries", headers=h).json()["items"]
    assert dl and dl[0]["status"] == "retrying" and "ConnectError" in dl[0]["last_error"]


PRIVATE_URLS = [
    "http://127.0.0.1:9/hook",
    "http://localhost/hook",
    "http://api.localhost/hook",
    "http://[::1]/hook",
    "http://10.1.2.3/hook",
    "http://172.16.0.9/hook",
    "https://192.168.1.10/hook",
    "http://169.254.169.254/latest/meta-data",  # cloud metadata (link-local)
    "http://[fe80::1]/hook",
    "http://[fd00::5]/hook",
    "http://[::ffff:127.0.0.1]/hook",  # IPv4-mapped loopback
    "http://0.0.0.0/hook",
    "http://2130706433/hook",  # 127.0.0.1 written as one number: resolved, then refused
    "http://100.64.0.1/hook",  # shared address space (not global)
]


@pytest.mark.parametrize("url", PRIVATE_URLS)
def test_private_destinations_are_refused(strict_svc: Service, url: str) -> None:
    c, h = strict_svc.client, strict_svc.auth()
    r = c.post(f"{P}/webhooks", json={"name": "inside", "url": url}, headers=h)
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["errors"][0]["loc"] == ["body", "url"]
    assert "SYNTHLABEL_WEBHOOK_ALLOW_PRIVATE" in body["detail"]


def test_public_destinations_and_patches(strict_svc: Service) -> None:
    c, h = strict_svc.client, strict_svc.auth()
    public = c.post(
        f"{P}/webhooks", json={"name": "pub", "url": "https://93.184.216.34/hook"}, headers=h
    )
    assert public.status_code == 201, public.text
    # A name that does not resolve (yet) is accepted: each delivery checks it again.
    later = c.post(
        f"{P}/webhooks",
        json={
            "name": "later",
            "url": "https://hooks.example.invalid/x",
            "event_kinds": ["appeal.*"],
        },
        headers=h,
    )
    assert later.status_code == 201, later.text
    sid = public.json()["id"]
    r = c.patch(f"{P}/webhooks/{sid}", json={"url": "http://10.0.0.1/x"}, headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "url"]
    assert c.get(f"{P}/webhooks/{sid}", headers=h).json()["url"] == "https://93.184.216.34/hook"
    r = c.patch(f"{P}/webhooks/{sid}", json={"event_kinds": ["BAD KIND"]}, headers=h)
    assert r.status_code == 422
    r = c.patch(f"{P}/webhooks/{sid}", json={"name": "renamed"}, headers=h)
    assert r.status_code == 200 and r.json()["name"] == "renamed"


def test_every_emitted_event_kind_is_listed() -> None:
    """The kinds the code emits (``emit(session, "kind", ...)``) are all in EVENT_KINDS."""
    import re

    src = Path(webhooks.__file__).parent
    emitted = set()
    for path in src.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        emitted |= set(re.findall(r'emit\(\s*\w+,\s*"([a-z_.]+)"', text))
    assert {"item.decided", "appeal.filed", "appeal.resolved"} <= emitted
    assert emitted <= set(webhooks.EVENT_KINDS), emitted - set(webhooks.EVENT_KINDS)


def test_the_library_checks_what_the_api_and_ui_create(strict_svc: Service) -> None:
    with strict_svc.session() as s:
        s.info["actor"] = "test"
        with pytest.raises(webhooks.WebhookError) as err:
            webhooks.create_subscription(s, name="x", url="http://127.0.0.1/x")
        assert err.value.field == "url" and "loopback" in str(err.value)
        with pytest.raises(webhooks.WebhookError) as err:
            webhooks.create_subscription(s, name=" ", url="https://93.184.216.34/")
        assert err.value.field == "name"
        sub, secret = webhooks.create_subscription(
            s, name="ok", url="http://127.0.0.1/x", allow_private=True
        )
        assert len(secret) >= 32 and sub.id is not None


def test_pinned_request_keeps_the_name() -> None:
    import ipaddress

    url, host, ext = webhooks._pinned(
        "https://hooks.example.net:8443/p?q=1", ipaddress.ip_address("93.184.216.34")
    )
    assert url == "https://93.184.216.34:8443/p?q=1"
    assert host == {"Host": "hooks.example.net:8443"} and ext == {
        "sni_hostname": "hooks.example.net"
    }
    url, host, ext = webhooks._pinned("http://h.example/x", ipaddress.ip_address("2001:db8::1"))
    assert url == "http://[2001:db8::1]/x" and host == {"Host": "h.example"} and ext == {}


def test_delivery_checks_the_address_again(
    strict_svc: Service, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DNS rebinding: a name that did not resolve (or resolved outside) when the subscription
    was made points at a loopback address when the delivery is due: refused, retried later;
    allowed only when the service allows private destinations."""
    import dataclasses
    import socket

    from synthlabel.service.worker import Worker

    c, h = strict_svc.client, strict_svc.auth()
    port = int(receiver.url.rsplit(":", 1)[1].split("/")[0])
    url = f"http://rebind.test:{port}/hook"
    r = c.post(f"{P}/webhooks", json={"name": "rebind", "url": url}, headers=h)
    assert r.status_code == 201, r.text

    real = socket.getaddrinfo

    def fake_dns(host: Any, *args: Any, **kwargs: Any) -> Any:  # the name now points inside
        if host == "rebind.test":
            return real("127.0.0.1", *args, **kwargs)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake_dns)
    upload(c, h, jpeg(photo(8)))
    run_worker(strict_svc)
    dl = c.get(f"{P}/webhooks/deliveries", headers=h).json()["items"]
    assert len(dl) == 1 and dl[0]["status"] == "retrying"
    assert dl[0]["last_error"].startswith("blocked:") and "loopback" in dl[0]["last_error"]
    assert receiver.got == []

    _due_now(strict_svc)
    allowed = dataclasses.replace(strict_svc.settings, webhook_allow_private=True)
    Worker(
        allowed, engine=strict_svc.app.state.synthlabel.engine, retention_every=0
    ).run_until_idle()
    assert len(receiver.got) == 1
    assert receiver.got[0]["headers"]["Host"] == f"rebind.test:{port}"
