"""Identity binding on SQLite and PostgreSQL: check digits, pluggable verifiers (a real entry
point), and the raw number in no table, audit payload or log line."""

from __future__ import annotations

import json
import logging
import sys
import textwrap
from pathlib import Path

import pytest
from sqlalchemy import inspect, select, text

from synthlabel.service import identity
from synthlabel.service.db.models import Base, IdentityBinding
from tests.service.conftest import Service
from tests.service.review_helpers import P

GOOD_ID = "11010519491231002X"  # the GB 11643 standard's example number
GOOD_CODE = "91350100M000100Y43"
MOBILE = "13912345678"


def _with_check(first17: str) -> str:
    total = sum(int(c) * w for c, w in zip(first17, identity._ID_WEIGHTS, strict=True))
    return first17 + identity._ID_CHECK[total % 11]


def test_check_digits() -> None:
    assert identity.resident_id_check(GOOD_ID) is None
    assert identity.resident_id_check(_with_check("44030419900307123")) is None
    assert "check digit" in (identity.resident_id_check(GOOD_ID[:-1] + "1") or "")
    assert "date of birth" in (identity.resident_id_check(_with_check("11010519491331002")) or "")
    assert "18" in (identity.resident_id_check("1234") or "")
    assert identity.credit_code_check(GOOD_CODE) is None
    assert "check" in (identity.credit_code_check(GOOD_CODE[:-1] + "2") or "")
    assert "0-9 and A-Y" in (identity.credit_code_check("91350100M000100I43") or "")
    v = identity.FormatCheckVerifier()
    assert v.verify("mobile", MOBILE).ok and not v.verify("mobile", "12912345678").ok
    assert identity.normalise("mobile", "+86 139-1234-5678") == MOBILE
    assert identity.normalise("resident_id", "11010519491231002x") == GOOD_ID


def _all_text(service: Service) -> str:
    """Every value of every table, as text."""
    out = []
    with service.session() as s:
        names = inspect(s.connection()).get_table_names()
        assert "identity_binding" in names and "audit_event" in names
        for name in names:
            for row in s.execute(text(f'SELECT * FROM "{name}"')):
                out.append(json.dumps([str(v) for v in row], ensure_ascii=False))
    return "\n".join(out)


def test_binding_keeps_no_raw_number(service: Service, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    c, h = service.client, service.auth()
    r = c.post(
        f"{P}/identity/bindings",
        json={"subject_ref": "user-1", "id_kind": "resident_id", "value": GOOD_ID.lower()},
        headers=h,
    )
    assert r.status_code == 201, r.text
    b = r.json()
    assert b["status"] == "verified" and b["id_hint"] == "****002X" and b["verified_at"]
    bad = GOOD_ID[:-1] + "7"
    r = c.post(
        f"{P}/identity/bindings",
        json={"subject_ref": "user-2", "id_kind": "resident_id", "value": bad},
        headers=h,
    )
    assert r.status_code == 201 and r.json()["status"] == "failed"
    assert "check digit" in r.json()["reason"] and bad not in r.text
    r = c.post(
        f"{P}/identity/bindings",
        json={"subject_ref": "user-3", "id_kind": "mobile", "value": "+86 139 1234 5678"},
        headers=h,
    )
    assert r.json()["status"] == "verified"
    r = c.post(
        f"{P}/identity/bindings",
        json={"subject_ref": "u", "id_kind": "resident_id", "value": GOOD_ID, "verifier": "nope"},
        headers=h,
    )
    assert r.status_code == 422 and GOOD_ID not in r.text

    dump = _all_text(service)
    for raw in (GOOD_ID, GOOD_ID.lower(), bad, MOBILE, GOOD_ID[:14]):
        assert raw not in dump, raw
        assert raw not in caplog.text
    with service.session() as s:
        rows = s.scalars(select(IdentityBinding).order_by(IdentityBinding.id)).all()
        secret = service.settings.secret_key
        assert rows[0].id_hash == identity.pseudonym(secret, "resident_id", GOOD_ID)
        assert rows[2].id_hash == identity.pseudonym(secret, "mobile", MOBILE)
        # Every table of the model was scanned (the audit log included).
        assert set(Base.metadata.tables) <= set(inspect(s.connection()).get_table_names())
    listed = c.get(f"{P}/identity/bindings", params={"subject_ref": "user-1"}, headers=h).json()
    assert [x["id_hint"] for x in listed["items"]] == ["****002X"]


def test_providers_bind_their_own_users(service: Service) -> None:
    c, h = service.client, service.auth()
    p1 = c.post(f"{P}/providers", json={"name": "One"}, headers=h).json()["id"]
    p2 = c.post(f"{P}/providers", json={"name": "Two"}, headers=h).json()["id"]
    key = service.add_user("prov", "provider")
    with service.session() as s:
        s.info["actor"] = "test"
        from synthlabel.service.db.models import User

        s.scalars(select(User).where(User.name == "prov")).one().provider_id = p1
        s.commit()
    ph = service.auth(key)
    body = {"subject_ref": "u1", "id_kind": "mobile", "value": MOBILE}
    r = c.post(f"{P}/identity/bindings", json=body, headers=ph)
    assert r.status_code == 201 and r.json()["provider_id"] == p1
    r = c.post(f"{P}/identity/bindings", json={**body, "provider_id": p2}, headers=ph)
    assert r.status_code == 403
    c.post(f"{P}/identity/bindings", json={**body, "provider_id": p2}, headers=h)
    assert c.get(f"{P}/identity/bindings", headers=ph).json()["total"] == 1
    assert c.get(f"{P}/identity/bindings", headers=h).json()["total"] == 2
    reviewer = service.auth(service.add_user("rita", "reviewer"))
    assert c.get(f"{P}/identity/bindings", headers=reviewer).status_code == 403


@pytest.fixture
def plugin_dist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """An installed distribution (a real .dist-info on sys.path) declaring a verifier."""
    (tmp_path / "acme_verifier.py").write_text(
        textwrap.dedent(
            """
            from synthlabel.service.identity import VerificationResult

            class CarrierVerifier:
                name = "acme-carrier"
                id_kinds = ("mobile",)

                def verify(self, id_kind, value):
                    ok = value.endswith("8")
                    return VerificationResult(ok, "carrier says " + ("yes" if ok else "no"),
                                              reference="acme-tx-1")
            """
        )
    )
    info = tmp_path / "acme_verifier-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-verifier\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        f"[{identity.ENTRY_POINT_GROUP}]\nacme-carrier = acme_verifier:CarrierVerifier\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "acme-carrier"
    sys.modules.pop("acme_verifier", None)


def test_verifier_plugins_by_entry_point(service: Service, plugin_dist: str) -> None:
    c, h = service.client, service.auth()
    names = [v["name"] for v in c.get(f"{P}/identity/verifiers", headers=h).json()]
    assert names == ["acme-carrier", "format-check"]
    body = {"subject_ref": "u9", "id_kind": "mobile", "value": MOBILE, "verifier": plugin_dist}
    r = c.post(f"{P}/identity/bindings", json=body, headers=h)
    assert r.json()["status"] == "verified" and r.json()["verifier_ref"] == "acme-tx-1"
    r = c.post(
        f"{P}/identity/bindings",
        json={**body, "id_kind": "resident_id", "value": GOOD_ID},
        headers=h,
    )
    assert r.status_code == 422 and "does not check resident_id" in r.text
