"""Complaints and reports from the public (投诉/举报), answered by ticket number.

:func:`file_complaint` stores the complaint with a due date (the category's time limit,
setting ``complaint_sla_hours``), resolves what it is about (a stored item by id or SHA-256,
else the reference is kept as text), and puts a job in the ``complaint`` queue. Whoever holds the
ticket number (``C-<year>-<10 random base-32 characters>``, about 50 bits: unguessable) can
follow its status; the status shows no contact details or complaint text.

The complaint moves ``received`` -> ``in_review`` (a reviewer claims its job) -> ``resolved``
(a decision on the job; the decision's outcome is applied to the linked item, if any).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from synthlabel.service import webhooks
from synthlabel.service.db.models import COMPLAINT_CATEGORIES, Complaint, ContentRecord
from synthlabel.service.db.types import utcnow
from synthlabel.service.routing import COMPLAINT, enqueue, queue_by_name

SUBJECT_COMPLAINT = "complaint"
#: Default time limits (hours) per category; ``SYNTHLABEL_COMPLAINT_SLA_HOURS`` overrides them
#: with ``category=hours`` pairs separated by commas.
DEFAULT_SLA_HOURS: dict[str, int] = {
    "rumour": 24,
    "unlabelled_ai": 72,
    "wrong_label": 72,
    "rights": 168,
    "other": 168,
}
#: Queue priority per category (higher is worked first).
PRIORITY: dict[str, int] = {"rumour": 20, "unlabelled_ai": 10, "wrong_label": 10}
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base 32: no I, L, O, U
TICKET_RE = re.compile(r"^C-\d{4}-[0-9A-HJKMNP-TV-Z]{10}$")
_UUID_RE = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)
_SHA_RE = re.compile(r"^(?:sha256:)?([0-9a-fA-F]{64})$")


class ComplaintError(ValueError):
    """A complaint cannot be filed or found (the message says why)."""


def parse_sla(text: str) -> dict[str, int]:
    """``"rumour=12,rights=240"`` over the defaults; ValueError naming the bad pair."""
    out = dict(DEFAULT_SLA_HOURS)
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        cat, sep, hours = part.partition("=")
        cat = cat.strip()
        if not sep or cat not in COMPLAINT_CATEGORIES:
            raise ValueError(
                f"{part!r}: expected category=hours, category one of "
                f"{', '.join(COMPLAINT_CATEGORIES)}"
            )
        try:
            value = int(hours)
        except ValueError:
            raise ValueError(f"{part!r}: hours must be a whole number") from None
        if not 1 <= value <= 24 * 366:
            raise ValueError(f"{part!r}: hours must be between 1 and 8784")
        out[cat] = value
    return out


def new_ticket(now: datetime | None = None) -> str:
    year = (now or utcnow()).year
    return f"C-{year}-" + "".join(secrets.choice(_ALPHABET) for _ in range(10))


def resolve_subject(session: Session, ref: str | None) -> tuple[str | None, ContentRecord | None]:
    """(subject type, the stored item) for a reference: an item id, a SHA-256, or text."""
    if not ref:
        return None, None
    ref = ref.strip()
    if _UUID_RE.match(ref):
        rec = session.get(ContentRecord, ref.lower())
        return ("content_record", rec) if rec is not None else ("text", None)
    m = _SHA_RE.match(ref)
    if m:
        rec = session.scalars(
            select(ContentRecord)
            .where(ContentRecord.sha256 == m.group(1).lower())
            .order_by(ContentRecord.created_at.desc())
            .limit(1)
        ).first()
        return "sha256", rec
    if ref.lower().startswith(("http://", "https://")):
        return "url", None
    return "text", None


def file_complaint(
    session: Session,
    *,
    category: str,
    description: str,
    contact: str | None = None,
    subject_ref: str | None = None,
    channel: str = "api",
    sla_hours: Mapping[str, int] | None = None,
    now: datetime | None = None,
) -> Complaint:
    """Store a complaint and queue it for review; the complaint (with its ticket number)."""
    if category not in COMPLAINT_CATEGORIES:
        raise ComplaintError(
            f"category: {category!r} is not one of {', '.join(COMPLAINT_CATEGORIES)}"
        )
    now = now or utcnow()
    hours = (sla_hours or DEFAULT_SLA_HOURS).get(category, DEFAULT_SLA_HOURS["other"])
    subject_type, record = resolve_subject(session, subject_ref)
    complaint = Complaint(
        ticket_no=new_ticket(now),
        channel=channel,
        contact=contact,
        subject_type=subject_type,
        subject_ref=subject_ref,
        content_record_id=record.id if record is not None else None,
        category=category,
        description=description,
        status="received",
        received_at=now,
        due_at=now + timedelta(hours=hours),
    )
    session.add(complaint)
    session.flush()
    enqueue(
        session,
        queue_by_name(session, COMPLAINT),
        SUBJECT_COMPLAINT,
        str(complaint.id),
        reason=f"complaint {complaint.ticket_no} ({category})",
        priority=PRIORITY.get(category, 0),
        due_at=complaint.due_at,
        now=now,
    )
    webhooks.emit(session, "complaint.received", public_status(complaint))
    return complaint


def by_ticket(session: Session, ticket: str) -> Complaint:
    ticket = ticket.strip().upper()
    if not TICKET_RE.match(ticket):
        raise ComplaintError("ticket: expected C-<year>-<10 characters>")
    found = session.scalars(select(Complaint).where(Complaint.ticket_no == ticket)).first()
    if found is None:
        raise ComplaintError(f"no complaint with ticket {ticket}")
    return found


def public_status(complaint: Complaint) -> dict[str, Any]:
    """What the ticket holder (and webhooks) may see: no contact, no complaint text."""
    return {
        "ticket": complaint.ticket_no,
        "category": complaint.category,
        "status": complaint.status,
        "received_at": complaint.received_at,
        "due_at": complaint.due_at,
        "resolved_at": complaint.resolved_at,
        "resolution": complaint.resolution,
    }


def mark_in_review(session: Session, complaint: Complaint) -> None:
    """A reviewer took the complaint: ``received`` -> ``in_review`` and the
    ``complaint.updated`` event (once: a second claim of the same complaint changes nothing)."""
    if complaint.status == "received":
        complaint.status = "in_review"
        session.flush()
        webhooks.emit(session, "complaint.updated", public_status(complaint))


def resolve(
    session: Session,
    complaint: Complaint,
    *,
    outcome: str,
    reason: str,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Close the complaint with the decision's outcome; the action (for the decision row)."""
    before = complaint.status
    complaint.status = "resolved"
    complaint.resolved_at = now or utcnow()
    complaint.resolution = f"{outcome}: {reason}"
    session.flush()
    webhooks.emit(session, "complaint.resolved", public_status(complaint))
    return {"type": "complaint", "complaint_id": complaint.id, "from": before, "to": "resolved"}
