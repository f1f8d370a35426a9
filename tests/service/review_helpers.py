"""Helpers for the review, complaint, refutation and report tests: items and users."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from synthlabel.service.db.models import ContentRecord, User
from synthlabel.service.db.types import utcnow
from synthlabel.service.routing import route_item
from tests.service.conftest import Service

P = "/api/v1"
PDQ_A = "f0" * 32  # a 256-bit PDQ hash in hex


def flip_bits(hex_hash: str, n: int) -> str:
    """``hex_hash`` with its lowest ``n`` bits flipped."""
    value = int(hex_hash, 16) ^ ((1 << n) - 1)
    return f"{value:064x}"


def add_item(
    service: Service,
    *,
    verdict: str | None = "possible",
    route: bool = True,
    created_at: datetime | None = None,
    **fields: Any,
) -> str:
    """A content record (routed like the ingest worker does); its id."""
    with service.session() as s:
        s.info["actor"] = "test"
        rec = ContentRecord(
            verdict=verdict,
            retain_until=utcnow() + timedelta(days=200),
            created_at=created_at or utcnow(),
            **fields,
        )
        s.add(rec)
        s.flush()
        if route:
            route_item(s, rec)
        s.commit()
        return rec.id


def user_id(service: Service, name: str) -> int:
    with service.session() as s:
        return int(s.scalars(select(User.id).where(User.name == name)).one())


def record(service: Service, item_id: str) -> ContentRecord:
    with service.session() as s:
        rec = s.get(ContentRecord, item_id)
        assert rec is not None
        return rec
