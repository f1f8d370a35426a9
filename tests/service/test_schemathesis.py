"""The service's OpenAPI description against its behaviour: schemathesis generates requests for
every operation of ``/openapi.json`` (bounded: a few examples each) and sends them to the app
on SQLite and on PostgreSQL, once as an admin (API key) and once unauthenticated. Every answer
must be documented (status code, content type, body schema) and none may be a server error;
afterwards the audit chain still verifies.
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("schemathesis", reason="needs the [dev] extra")

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis import checks as st_checks
from sqlalchemy import select

from synthlabel.service import audit
from synthlabel.service.auth import issue_key
from synthlabel.service.db.models import ApiKey, User
from tests.service.conftest import Service, make_service

# Examples per operation, auth mode and database (half positive, half negative): 77 operations
# x 2 modes x 2 databases take ~45 s on two shared cores; SYNTHLABEL_SCHEMATHESIS_EXAMPLES=25
# is a deeper local run (~90 s).
EXAMPLES = int(os.environ.get("SYNTHLABEL_SCHEMATHESIS_EXAMPLES", "6"))
CHECKS = [
    st_checks.not_a_server_error,
    st_checks.status_code_conformance,
    st_checks.content_type_conformance,
    st_checks.response_schema_conformance,
]


@pytest.fixture
def svc(db_url: str) -> Iterator[Service]:
    """The app over the demo data (providers, items, jobs, a decision, a complaint), so that
    small generated ids reach real rows, with a public bucket large enough that generated
    logins and complaints are not all 429s."""
    from synthlabel.service.settings import Settings
    from synthlabel.service.web import demo_data

    demo_data.seed(Settings.load(env={}, database_url=db_url, secret_key="test-secret-key"))
    yield from make_service(db_url, public_rate_per_minute=6000, public_rate_burst=2000)


def _keep_admin(svc: Service) -> None:
    """Generated requests may deactivate, demote or revoke the admin that runs them (user and
    key ids are small numbers): put the admin back after such a request."""
    with svc.session() as s:
        s.info["actor"] = "test"
        user = s.execute(select(User).where(User.name == "root")).scalar_one_or_none()
        if user is None:
            from synthlabel.service.auth import create_user

            user = create_user(s, "root", "admin", password="root-password")
        user.is_active, user.role = True, "admin"
        prefix = svc.admin_key.split("_")[1]
        key = s.execute(select(ApiKey).where(ApiKey.prefix == prefix)).scalar_one_or_none()
        if key is None or key.revoked_at is not None or key.user_id != user.id:
            svc.admin_key, _ = issue_key(s, user)
        s.commit()


def _check_operation(
    svc: Service,
    op: Any,
    as_admin: bool,
    statuses: dict[str, Counter[int]],
    failures: list[str],
) -> None:
    touches_accounts = op.path.startswith(("/api/v1/users", "/api/v1/keys"))
    strategy = op.as_strategy(GenerationMode.POSITIVE) | op.as_strategy(GenerationMode.NEGATIVE)

    @given(case=strategy)
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],
    )
    def check(case: Any) -> None:
        headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
        if as_admin:
            headers["Authorization"] = f"Bearer {svc.admin_key}"
        case.headers = headers
        response = case.call()
        statuses[op.label][response.status_code] += 1
        try:
            case.validate_response(response, checks=CHECKS)
        except BaseException as exc:  # schemathesis raises a group; every failure is reported
            failures.append(f"{op.label} -> {response.status_code}: {exc}"[:1500])
        if touches_accounts and as_admin:
            _keep_admin(svc)

    check()


def _run(svc: Service, as_admin: bool) -> dict[str, Counter[int]]:
    schema = schemathesis.openapi.from_asgi("/openapi.json", svc.app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 50
    statuses: dict[str, Counter[int]] = defaultdict(Counter)
    failures: list[str] = []
    for op in operations:
        _check_operation(svc, op, as_admin, statuses, failures)
    assert not failures, "\n\n".join(failures[:10]) + f"\n({len(failures)} failures)"
    return statuses


def _audit_intact(svc: Service) -> None:
    with svc.session() as s:
        result = audit.verify(s.connection(), svc.settings.secret_key)
    assert result.ok, result.to_dict()


def test_as_admin(svc: Service) -> None:
    statuses = _run(svc, as_admin=True)
    # the admin really reached the handlers: most operations answered something other than 401
    reached = [label for label, c in statuses.items() if set(c) - {401, 403}]
    assert len(reached) >= 0.9 * len(statuses), sorted(set(statuses) - set(reached))
    assert any(200 <= code < 300 for c in statuses.values() for code in c)
    _audit_intact(svc)


def test_unauthenticated(svc: Service) -> None:
    statuses = _run(svc, as_admin=False)
    # only the public operations may answer a success without credentials
    public = {label for label, c in statuses.items() if any(200 <= code < 300 for code in c)}
    allowed = {"POST /api/v1/auth/login", "POST /api/v1/complaints", "GET /healthz", "GET /readyz"}
    assert public <= allowed | {lbl for lbl in public if "/complaints/" in lbl}, public
    _audit_intact(svc)
