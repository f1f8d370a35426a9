"""Service CLI commands and settings."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from synthlabel.cli.main import app as cli_app
from synthlabel.service.db.migrate import head_revision
from synthlabel.service.settings import Settings, SettingsError
from tests.service.conftest import ServiceDB


def test_users_add_and_key_give_a_working_key(
    test_db: ServiceDB, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fastapi.testclient import TestClient

    from synthlabel.service.app import create_app

    monkeypatch.setenv("SYNTHLABEL_SECRET_KEY", "cli-secret")
    runner = CliRunner()
    url = ["--database-url", test_db.url]
    r = runner.invoke(cli_app, ["users", "add", "boss", "--role", "admin", *url])
    assert r.exit_code == 0, r.output
    assert runner.invoke(cli_app, ["users", "add", "boss", "--role", "admin", *url]).exit_code == 2
    bad_role = runner.invoke(cli_app, ["users", "add", "x", "--role", "king", *url])
    assert bad_role.exit_code == 2 and "king" in bad_role.output
    k = runner.invoke(cli_app, ["users", "key", "boss", *url])
    assert k.exit_code == 0
    key = k.stdout.strip()
    assert key.startswith("slk_")
    assert runner.invoke(cli_app, ["users", "key", "nobody", *url]).exit_code == 2
    with TestClient(create_app(Settings.load(database_url=test_db.url))) as c:
        who = c.get("/api/v1/auth/whoami", headers={"Authorization": f"Bearer {key}"})
        assert who.json()["name"] == "boss"
        # The CLI's writes are in the audit chain as cli:<login>.
        events = c.get("/api/v1/audit", headers={"Authorization": f"Bearer {key}"}).json()
        assert events["items"][0]["actor"].startswith("cli")
    assert runner.invoke(cli_app, ["audit", "verify", *url]).exit_code == 0
    current = runner.invoke(cli_app, ["db", "current", *url])
    assert current.exit_code == 0 and str(head_revision()) in current.output


def test_db_upgrade_and_bad_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    url = f"sqlite:///{tmp_path / 'new.db'}"
    r = runner.invoke(cli_app, ["db", "upgrade", "--database-url", url])
    assert r.exit_code == 0 and str(head_revision()) in r.output
    secret = tmp_path / "new.db.secret"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    r = runner.invoke(cli_app, ["db", "upgrade", "--database-url", "mysql://u@h/db"])
    assert r.exit_code == 2 and "only sqlite" in r.output
    r = runner.invoke(
        cli_app, ["db", "upgrade", "--database-url", "postgresql://nobody@127.0.0.1:1/none"]
    )
    assert r.exit_code == 2 and "database error" in r.output
    assert "Traceback" not in r.output


def test_settings_env_and_validation(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    env = {
        "SYNTHLABEL_DATABASE_URL": f"sqlite:///{db}",
        "SYNTHLABEL_MAX_UPLOAD_BYTES": "1234",
        "SYNTHLABEL_COOKIE_SECURE": "yes",
    }
    s = Settings.load(env=env)
    assert s.max_upload_bytes == 1234 and s.cookie_secure is True
    assert s.retention_days == 183
    assert s.secret_file == tmp_path / "s.db.secret" and len(s.secret_key) > 40
    assert Settings.load(env=env).secret_key == s.secret_key  # read back, not regenerated
    assert Settings.load(env=env, max_upload_bytes=99).max_upload_bytes == 99
    with pytest.raises(SettingsError, match="SYNTHLABEL_MAX_UPLOAD_BYTES"):
        Settings.load(env={**env, "SYNTHLABEL_MAX_UPLOAD_BYTES": "lots"})
    with pytest.raises(SettingsError, match="6 months"):
        Settings.load(env={**env, "SYNTHLABEL_RETENTION_DAYS": "30"})
