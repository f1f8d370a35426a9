"""The HTTP API on SQLite and PostgreSQL: auth, CRUD, CSV import, limits, problem errors."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select, text

from synthlabel.service.db.migrate import head_revision
from synthlabel.service.db.models import ApiKey, User
from tests.service.conftest import Service, make_service

P = "/api/v1"


def test_health_and_ready(service: Service) -> None:
    assert service.client.get("/healthz").json() == {"status": "ok"}
    ready = service.client.get("/readyz").json()
    assert ready["status"] == "ready" and ready["revision"] == head_revision()


def test_no_key_401_bad_key_401_wrong_role_403(service: Service) -> None:
    c = service.client
    r = c.get(f"{P}/providers")
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.headers["www-authenticate"].startswith("Bearer")
    bad = service.admin_key[:-4] + "AAAA"
    assert c.get(f"{P}/providers", headers=service.auth(bad)).status_code == 401
    assert c.get(f"{P}/providers", headers={"Authorization": "Basic eDp5"}).status_code == 401
    reviewer = service.add_user("rita", "reviewer")
    assert c.get(f"{P}/providers", headers=service.auth(reviewer)).status_code == 200
    r = c.post(f"{P}/providers", json={"name": "X"}, headers=service.auth(reviewer))
    assert r.status_code == 403 and "reviewer" in r.json()["detail"]
    public = service.add_user("pat", "public")
    assert c.get(f"{P}/providers", headers=service.auth(public)).status_code == 403
    assert c.get(f"{P}/auth/whoami", headers=service.auth(public)).json()["role"] == "public"


def test_api_keys_are_hashed_at_rest_and_revocable(service: Service) -> None:
    c = service.client
    uid = c.post(f"{P}/users", json={"name": "prov", "role": "provider"}, headers=service.auth())
    assert uid.status_code == 201
    new = c.post(f"{P}/users/{uid.json()['id']}/keys", json={"name": "ci"}, headers=service.auth())
    assert new.status_code == 201
    key = new.json()["key"]
    with service.session() as s:
        rows = s.execute(select(ApiKey)).scalars().all()
        dump = s.execute(text("SELECT * FROM api_key")).all()
    assert all(key not in str(row) for row in dump)
    secret_part = key.split("_", 2)[2]
    assert all(secret_part not in str(row) for row in dump)
    assert any(r.prefix == new.json()["prefix"] and len(r.key_hash) == 64 for r in rows)
    listed = c.get(f"{P}/users/{uid.json()['id']}/keys", headers=service.auth()).json()
    assert all("key" not in k for k in listed)
    assert c.get(f"{P}/auth/whoami", headers=service.auth(key)).json()["name"] == "prov"
    assert c.delete(f"{P}/keys/{new.json()['id']}", headers=service.auth()).status_code == 204
    assert c.get(f"{P}/auth/whoami", headers=service.auth(key)).status_code == 401


def test_api_key_cache_expires_and_follows_writes(db_url: str) -> None:
    """Checked keys are trusted for api_key_cache_seconds; an ORM write to a key or a user in
    this process empties the cache at once, a write it cannot see (raw SQL, as another process
    would do it) is seen once the entry is older than the TTL; TTL 0 looks up every time."""
    import time

    from synthlabel.service.auth import lookup_api_key

    gen = make_service(db_url, api_key_cache_seconds=0.6)
    service = next(gen)
    try:
        for ttl in (0.6, 0.0):
            service.app.state.synthlabel.api_keys.ttl = ttl
            c = service.client
            name = f"cache{int(ttl * 10)}"
            key = service.add_user(name, "reviewer")
            who = f"{P}/auth/whoami"
            assert c.get(who, headers=service.auth(key)).status_code == 200
            with service.session() as s:  # behind the ORM's back
                s.execute(text("UPDATE app_user SET role = 'public' WHERE name = :n"), {"n": name})
                s.commit()
            first = c.get(who, headers=service.auth(key)).json()["role"]
            assert first == ("reviewer" if ttl else "public")
            time.sleep(ttl + 0.1)
            assert c.get(who, headers=service.auth(key)).json()["role"] == "public"
            # an ORM write (disable the user) is seen at once, cached or not
            with service.session() as s:
                s.info["actor"] = "test"
                found = lookup_api_key(s, key)
                assert found is not None
                user = s.get(User, found[2].user_id)
                assert user is not None
                user.is_active = False
                s.commit()
            assert c.get(who, headers=service.auth(key)).status_code == 401
            # a wrong secret with a cached key's prefix is refused from the cache too
            assert c.get(who, headers=service.auth()).status_code == 200
            forged = service.admin_key[:-4] + "AAAA"
            assert c.get(who, headers=service.auth(forged)).status_code == 401
    finally:
        gen.close()


def test_login_session_and_csrf(service: Service) -> None:
    c = service.client
    assert c.post(f"{P}/auth/login", json={"name": "root", "password": "nope"}).status_code == 401
    r = c.post(f"{P}/auth/login", json={"name": "root", "password": "root-password"})
    assert r.status_code == 200
    csrf = r.json()["csrf_token"]
    assert "synthlabel_session" in r.cookies or c.cookies.get("synthlabel_session")
    assert "httponly" in r.headers["set-cookie"].lower()
    # Reads need no token; writes without (or with a wrong) CSRF token are refused.
    assert c.get(f"{P}/auth/whoami").json()["via"] == "session"
    r = c.post(f"{P}/providers", json={"name": "NoToken"})
    assert r.status_code == 403 and "CSRF" in r.json()["detail"]
    r = c.post(f"{P}/providers", json={"name": "Wrong"}, headers={"X-CSRF-Token": "x" * 43})
    assert r.status_code == 403
    r = c.post(f"{P}/providers", json={"name": "WithToken"}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 201
    assert c.post(f"{P}/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
    c.cookies.clear()
    assert c.get(f"{P}/auth/whoami").status_code == 401


def test_provider_service_filing_crud(service: Service) -> None:
    c, h = service.client, service.auth()
    r = c.post(
        f"{P}/providers",
        json={"name": "Acme AI", "credit_code": "91110000MA01", "kind": "both"},
        headers=h,
    )
    assert r.status_code == 201
    pid = r.json()["id"]
    assert (
        c.post(
            f"{P}/providers", json={"name": "Dup", "credit_code": "91110000MA01"}, headers=h
        ).status_code
        == 409
    )
    assert (
        c.post(f"{P}/providers", json={"name": "K", "kind": "robot"}, headers=h).status_code == 422
    )
    assert c.post(f"{P}/providers", json={"name": "x" * 201}, headers=h).status_code == 422
    assert c.post(f"{P}/providers", json={"name": "nul\x00"}, headers=h).status_code == 422
    r = c.patch(f"{P}/providers/{pid}", json={"contact": "ops@acme.example"}, headers=h)
    assert r.status_code == 200 and r.json()["contact"] == "ops@acme.example"
    assert c.patch(f"{P}/providers/{pid}", json={"name": None}, headers=h).status_code == 422
    s = c.post(
        f"{P}/providers/{pid}/services",
        json={"name": "Acme Draw", "url": "https://draw.example"},
        headers=h,
    )
    assert s.status_code == 201
    sid = s.json()["id"]
    f = c.post(
        f"{P}/providers/{pid}/filings",
        json={
            "algorithm_name": "AcmeGen",
            "filing_no": "110108-1",
            "service_id": sid,
            "valid_from": "2025-09-01T00:00:00",
        },
        headers=h,
    )
    assert f.status_code == 201
    assert f.json()["valid_from"].startswith("2025-09-01T00:00:00")
    fid = f.json()["id"]
    assert c.get(f"{P}/filings", params={"filing_no": "110108-1"}, headers=h).json()["total"] == 1
    r = c.patch(
        f"{P}/filings/{fid}",
        json={"status": "revoked", "security_assessment_status": "passed"},
        headers=h,
    )
    assert r.json()["status"] == "revoked"
    assert c.get(f"{P}/providers/{pid}/services", headers=h).json()["total"] == 1
    assert c.get(f"{P}/providers", params={"q": "Acme"}, headers=h).json()["total"] == 1
    assert c.get(f"{P}/providers/999999", headers=h).status_code == 404
    assert c.get(f"{P}/providers/99999999999999999999", headers=h).status_code == 422
    assert c.delete(f"{P}/providers/{pid}", headers=h).status_code == 204
    assert c.get(f"{P}/filings/{fid}", headers=h).status_code == 404


HEADER = (
    "provider_name,credit_code,provider_kind,service_name,service_url,algorithm_name,"
    "filing_no,filing_status,security_assessment_status,valid_from"
)
GOOD_CSV = (
    HEADER
    + """
甲智能科技有限公司,91110108MA00000001,generation,甲绘图,https://a.example,甲生成算法,网信算备110108000000001,filed,passed,2025-03-01
甲智能科技有限公司,91110108MA00000001,generation,甲写作,,甲文本算法,网信算备110108000000002,filed,pending,
Beta Platform,,platform,,,,,,,
"""
)


def test_csv_import_good(service: Service) -> None:
    c, h = service.client, service.auth()
    r = c.post(
        f"{P}/providers/import", files={"file": ("p.csv", GOOD_CSV.encode(), "text/csv")}, headers=h
    )
    assert r.status_code == 200, r.text
    assert r.json() == {
        "rows": 3,
        "providers_created": 2,
        "providers_updated": 0,
        "services_created": 2,
        "filings_created": 2,
        "filings_updated": 0,
    }
    # Importing again updates in place (keys: credit code, filing number).
    again = GOOD_CSV.replace("pending", "passed")
    r = c.post(
        f"{P}/providers/import", files={"file": ("p.csv", again.encode(), "text/csv")}, headers=h
    )
    assert r.json()["providers_created"] == 0 and r.json()["filings_updated"] == 2
    assert c.get(f"{P}/providers", headers=h).json()["total"] == 2
    filings = c.get(f"{P}/filings", headers=h).json()["items"]
    assert {f["security_assessment_status"] for f in filings} == {"passed"}
    cols = c.get(f"{P}/providers/import/columns", headers=h).json()["columns"]
    assert "filing_no" in cols


def test_csv_import_bad_rows_are_all_or_nothing(service: Service) -> None:
    c, h = service.client, service.auth()
    bad = (
        "provider_name,provider_kind,algorithm_name,filing_no,valid_from\n"
        "Good Co,generation,G,F-1,2025-01-01\n"
        ",generation,,,\n"
        "Bad Kind,robot,,,\n"
        "Bad Date,generation,A,F-2,yesterday\n"
        "Half Filing,generation,,F-3,\n"
        "Dup,generation,G2,F-1,\n"
    )
    r = c.post(
        f"{P}/providers/import", files={"file": ("bad.csv", bad.encode(), "text/csv")}, headers=h
    )
    assert r.status_code == 422
    body = r.json()
    assert "bad.csv" in body["detail"] and "nothing was imported" in body["detail"]
    found = {(e["row"], e["column"]) for e in body["errors"]}
    assert {
        (2, "provider_name"),
        (3, "provider_kind"),
        (4, "valid_from"),
        (5, "algorithm_name"),
        (6, "filing_no"),
    } <= found
    assert c.get(f"{P}/providers", headers=h).json()["total"] == 0  # row 1 was not written
    for name, data in [
        ("h.csv", b"name,kind\nA,b\n"),
        ("bin.csv", b"\xff\xfe\x00garbage"),
        ("empty.csv", b""),
    ]:
        r = c.post(f"{P}/providers/import", files={"file": (name, data, "text/csv")}, headers=h)
        assert r.status_code == 422 and name in r.json()["detail"], r.text


def test_csv_import_filing_of_another_provider_rolls_back(service: Service) -> None:
    c, h = service.client, service.auth()
    first = "provider_name,credit_code,algorithm_name,filing_no\nA,CC-A,Alg,F-9\n"
    assert (
        c.post(
            f"{P}/providers/import", files={"file": ("a.csv", first, "text/csv")}, headers=h
        ).status_code
        == 200
    )
    second = (
        "provider_name,credit_code,algorithm_name,filing_no\nNew Co,CC-N,X,F-10\nB,CC-B,Alg,F-9\n"
    )
    r = c.post(f"{P}/providers/import", files={"file": ("b.csv", second, "text/csv")}, headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["row"] == 2
    names = [p["name"] for p in c.get(f"{P}/providers", headers=h).json()["items"]]
    assert names == ["A"]


@pytest.fixture
def tight_service(db_url: str) -> Iterator[Service]:
    yield from make_service(
        # one token a minute: a slow machine (each bad login runs argon2) must not refill the
        # bucket between the requests of the rate-limit test
        db_url,
        public_rate_per_minute=1,
        public_rate_burst=3,
        max_upload_bytes=2048,
    )


def test_public_rate_limit_429(tight_service: Service) -> None:
    c = tight_service.client
    codes = [
        c.post(f"{P}/auth/login", json={"name": "root", "password": "bad"}).status_code
        for _ in range(5)
    ]
    assert codes[:3] == [401, 401, 401]
    assert codes[3:] == [429, 429]
    r = c.post(f"{P}/auth/login", json={"name": "root", "password": "bad"})
    assert int(r.headers["retry-after"]) >= 1
    # Authenticated endpoints are not limited by the public bucket.
    assert c.get(f"{P}/providers", headers=tight_service.auth()).status_code == 200


def test_upload_over_the_limit_413(tight_service: Service) -> None:
    c, h = tight_service.client, tight_service.auth()
    big = "provider_name\n" + "x\n" * 2000
    r = c.post(f"{P}/providers/import", files={"file": ("big.csv", big, "text/csv")}, headers=h)
    assert r.status_code == 413
    assert r.headers["content-type"].startswith("application/problem+json")

    def chunks() -> Iterator[bytes]:  # no Content-Length: the streamed body is counted
        for _ in range(10):
            yield b"{" + b" " * 500

    r = c.post(
        f"{P}/providers", content=chunks(), headers={**h, "Content-Type": "application/json"}
    )
    assert r.status_code == 413
    assert c.get("/healthz").status_code == 200


# Operations that need no account (no 401): logging in, and the public's complaints.
PUBLIC_OPERATIONS = {
    ("/api/v1/auth/login", "post"),
    ("/api/v1/complaints", "post"),
    ("/api/v1/complaints/{ticket}", "get"),
}


def test_openapi_is_complete(service: Service) -> None:
    spec = service.client.get("/openapi.json").json()
    paths = spec["paths"]
    for path in (
        "/api/v1/providers/import",
        "/api/v1/audit/verify",
        "/api/v1/users/{user_id}/keys",
        "/readyz",
    ):
        assert path in paths
    for path, ops in paths.items():
        for method, op in ops.items():
            assert {"200", "201", "202", "204"} & set(op["responses"]), (path, method)
            if path.startswith("/api/v1") and (path, method) not in PUBLIC_OPERATIONS:
                assert "401" in op["responses"], (path, method)
