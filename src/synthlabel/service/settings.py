"""The service's settings: defaults, overridden by ``SYNTHLABEL_*`` environment variables,
overridden by explicit values (CLI flags, tests).

=========================  ==================================  ===============================
field                      environment variable                default
=========================  ==================================  ===============================
database_url               SYNTHLABEL_DATABASE_URL             sqlite:///./synthlabel.db
secret_key                 SYNTHLABEL_SECRET_KEY               read/generated in secret_file
secret_file                SYNTHLABEL_SECRET_FILE              next to the SQLite file, else
                                                               ~/.config/synthlabel/service.secret
max_upload_bytes           SYNTHLABEL_MAX_UPLOAD_BYTES         52428800 (50 MiB)
public_rate_per_minute     SYNTHLABEL_PUBLIC_RATE_PER_MINUTE   60
public_rate_burst          SYNTHLABEL_PUBLIC_RATE_BURST        20
retention_days             SYNTHLABEL_RETENTION_DAYS           183
genlog_retention_days      SYNTHLABEL_GENLOG_RETENTION_DAYS    183 (generation-log lines)
session_hours              SYNTHLABEL_SESSION_HOURS            12
cookie_secure              SYNTHLABEL_COOKIE_SECURE            false
auto_upgrade               SYNTHLABEL_AUTO_UPGRADE             true
trust_forwarded_for        SYNTHLABEL_TRUST_FORWARDED_FOR      false
blob_dir                   SYNTHLABEL_BLOB_DIR                 next to the SQLite file, else
                                                               ~/.config/synthlabel/blobs
ingest_roots               SYNTHLABEL_INGEST_ROOTS             "" (no path ingest); dirs, ":"
registry_path              SYNTHLABEL_REGISTRY_PATH            <blob_dir>/generation-registry
                                                               .sqlite (generation log hashes)
ingest_hashes              SYNTHLABEL_INGEST_HASHES            true (perceptual hash + match)
inspect_max_bytes          SYNTHLABEL_INSPECT_MAX_BYTES        10485760 (sync inspect)
job_max_attempts           SYNTHLABEL_JOB_MAX_ATTEMPTS         5
job_lease_seconds          SYNTHLABEL_JOB_LEASE_SECONDS        300
webhook_max_attempts       SYNTHLABEL_WEBHOOK_MAX_ATTEMPTS     8
webhook_allow_private      SYNTHLABEL_WEBHOOK_ALLOW_PRIVATE    false (webhooks to loopback,
                                                               private, link-local addresses)
complaint_sla_hours        SYNTHLABEL_COMPLAINT_SLA_HOURS      "" (defaults per category);
                                                               "rumour=12,rights=240"
audit_chain_seconds        SYNTHLABEL_AUDIT_CHAIN_SECONDS      1.0 (how often the app and each
                                                               worker chain pending audit
                                                               events; 0: never in background)
api_key_cache_seconds      SYNTHLABEL_API_KEY_CACHE_SECONDS    5.0 (how long a checked API key
                                                               is trusted without a lookup; a
                                                               revocation by another process
                                                               takes effect within it; 0: off)
=========================  ==================================  ===============================
"""

from __future__ import annotations

import dataclasses
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_DATABASE_URL = "sqlite:///./synthlabel.db"
ENV_PREFIX = "SYNTHLABEL_"


class SettingsError(ValueError):
    """A setting has a value that cannot be used (the message names the variable)."""


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    secret_key: str = field(default="", repr=False)
    secret_file: Path | None = None
    max_upload_bytes: int = 50 * 1024 * 1024
    public_rate_per_minute: int = 60
    public_rate_burst: int = 20
    retention_days: int = 183
    genlog_retention_days: int = 183
    session_hours: int = 12
    cookie_secure: bool = False
    auto_upgrade: bool = True
    trust_forwarded_for: bool = False
    blob_dir: Path | None = None
    ingest_roots: str = ""
    registry_path: Path | None = None
    ingest_hashes: bool = True
    inspect_max_bytes: int = 10 * 1024 * 1024
    job_max_attempts: int = 5
    job_lease_seconds: int = 300
    webhook_max_attempts: int = 8
    webhook_allow_private: bool = False
    complaint_sla_hours: str = ""
    audit_chain_seconds: float = 1.0
    api_key_cache_seconds: float = 5.0

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Defaults < environment < ``overrides`` (``None`` overrides are ignored); then the
        secret key is resolved (env, else the secret file, created 0600 if missing)."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            raw = env.get(ENV_PREFIX + f.name.upper())
            if raw is not None and raw != "":
                values[f.name] = _parse(f.name, f.type, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        unknown = set(values) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise SettingsError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        settings = cls(**values)
        if settings.max_upload_bytes < 1 or settings.public_rate_per_minute < 1:
            raise SettingsError("max_upload_bytes and public_rate_per_minute must be positive")
        if settings.retention_days < 183:
            raise SettingsError(
                "SYNTHLABEL_RETENTION_DAYS: records must be kept at least 6 months (183 days)"
            )
        if settings.genlog_retention_days < 183:
            raise SettingsError(
                "SYNTHLABEL_GENLOG_RETENTION_DAYS: generation-log lines must be kept at least "
                "6 months (183 days)"
            )
        if settings.complaint_sla_hours:
            from synthlabel.service.complaints import parse_sla

            try:
                parse_sla(settings.complaint_sla_hours)
            except ValueError as exc:
                raise SettingsError(f"SYNTHLABEL_COMPLAINT_SLA_HOURS: {exc}") from None
        if not 0 <= settings.audit_chain_seconds <= 3600:
            raise SettingsError("SYNTHLABEL_AUDIT_CHAIN_SECONDS: between 0 and 3600 seconds")
        if not 0 <= settings.api_key_cache_seconds <= 300:
            raise SettingsError("SYNTHLABEL_API_KEY_CACHE_SECONDS: between 0 and 300 seconds")
        if min(settings.job_max_attempts, settings.job_lease_seconds) < 1:
            raise SettingsError("job_max_attempts and job_lease_seconds must be positive")
        if settings.blob_dir is None:
            settings = dataclasses.replace(
                settings, blob_dir=default_blob_dir(settings.database_url)
            )
        if settings.registry_path is None:
            assert settings.blob_dir is not None
            settings = dataclasses.replace(
                settings, registry_path=settings.blob_dir / "generation-registry.sqlite"
            )
        if not settings.secret_key:
            path = settings.secret_file or default_secret_file(settings.database_url)
            settings = dataclasses.replace(
                settings, secret_file=path, secret_key=read_or_create_secret(path)
            )
        return settings


def _parse(name: str, type_: Any, raw: str) -> Any:
    var = ENV_PREFIX + name.upper()
    kind = str(type_)
    if kind == "bool":
        low = raw.strip().lower()
        if low in {"1", "true", "yes", "on"}:
            return True
        if low in {"0", "false", "no", "off"}:
            return False
        raise SettingsError(f"{var}: expected true/false, got {raw!r}")
    if kind == "int":
        try:
            return int(raw)
        except ValueError:
            raise SettingsError(f"{var}: expected an integer, got {raw!r}") from None
    if kind == "float":
        try:
            return float(raw)
        except ValueError:
            raise SettingsError(f"{var}: expected a number, got {raw!r}") from None
    if "Path" in kind:
        return Path(raw).expanduser()
    return raw


def sqlite_path(database_url: str) -> Path | None:
    """The file of a ``sqlite:///`` URL (None for other databases or in-memory SQLite)."""
    if not database_url.startswith("sqlite"):
        return None
    _, _, rest = database_url.partition(":///")
    rest = rest.split("?", 1)[0]
    if not rest or rest == ":memory:":
        return None
    return Path(rest)


def default_blob_dir(database_url: str) -> Path:
    """Where uploads are kept: ``<db>.blobs`` next to a SQLite file, else under the home."""
    db = sqlite_path(database_url)
    if db is not None:
        return db.with_name(db.name + ".blobs")
    home = os.environ.get("SYNTHLABEL_HOME")
    base = Path(home).expanduser() if home else Path.home() / ".config" / "synthlabel"
    return base / "blobs"


def ingest_roots(settings: Settings) -> list[Path]:
    """The directories path ingest may read from (resolved; empty: path ingest is off)."""
    return [Path(p).expanduser().resolve() for p in settings.ingest_roots.split(os.pathsep) if p]


def default_secret_file(database_url: str) -> Path:
    db = sqlite_path(database_url)
    if db is not None:
        return db.with_name(db.name + ".secret")
    home = os.environ.get("SYNTHLABEL_HOME")
    base = Path(home).expanduser() if home else Path.home() / ".config" / "synthlabel"
    return base / "service.secret"


def read_or_create_secret(path: Path) -> str:
    """The secret in ``path``; a new random one written 0600 (atomically) if there is none."""
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        text = ""
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{path}: cannot read the secret key file: {exc}") from None
    if text:
        return text
    key = secrets.token_urlsafe(48)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(key + "\n")
        try:
            os.link(tmp, path)  # never overwrite a secret another process just wrote
        except FileExistsError:
            return read_or_create_secret(path)
        finally:
            tmp.unlink(missing_ok=True)
    except OSError as exc:
        raise SettingsError(f"{path}: cannot write the secret key file: {exc.strerror}") from None
    return key
