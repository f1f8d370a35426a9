"""Database layer: models, engines/sessions, migrations."""

from __future__ import annotations

from synthlabel.service.db.engine import (
    DatabaseURLError,
    make_engine,
    normalise_url,
    session_factory,
    session_scope,
)
from synthlabel.service.db.models import Base

__all__ = [
    "Base",
    "DatabaseURLError",
    "make_engine",
    "normalise_url",
    "session_factory",
    "session_scope",
]
