"""Rumour refutation (辟谣): a refuted item's hashes flag every matching upload, past and future.

A published :class:`~synthlabel.service.db.models.RumourRefutation` carries the refuted item's
SHA-256 and perceptual hash (and the notice text and source URL). Its hashes are the refutation
index: :func:`publish` flags every stored item that matches, and :func:`check_refutations`
(called by the ingest worker for each new item, before routing) flags a new one.

Matching: equal SHA-256, or perceptual hashes within :data:`PDQ_MATCH_BITS` bits when both are
256-bit PDQ hashes (64 hex digits, optionally written ``pdq:<hex>``; the registry's "exact"
image threshold), else equal perceptual hash strings.

Flagging an item adds the flag ``refuted`` (routing rules send it to the ``rumour`` queue), a
notice ``{"kind": "refutation", "refutation_id", "text", "source_url"}`` on the record, and a
``rumour_refuted`` finding with the same notice on its latest inspection (its evidence). It
emits ``item.flagged``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, or_, select, text
from sqlalchemy.orm import Session

from synthlabel.service import webhooks
from synthlabel.service.db.models import ContentRecord, Finding, Inspection, RumourRefutation
from synthlabel.service.db.types import utcnow
from synthlabel.service.txn import MEMO, memo

REFUTED_FLAG = "refuted"
NOTICE_KIND = "refutation"
FINDING_KIND = "rumour_refuted"
FINDING_PLUGIN = "service.refutation"
#: PDQ distance (bits of 256) at or below which two images are the same picture
#: (synthlabel.detect.hashregistry.EXACT_IMAGE: false matches <= 1e-6).
PDQ_MATCH_BITS = 31
_PDQ_RE = re.compile(r"^(?:pdq:)?([0-9a-fA-F]{64})$")
_SCAN_BATCH = 2000


class RefutationError(ValueError):
    """A refutation cannot be made as asked (the message says why)."""


def pdq_int(perceptual_hash: str | None) -> int | None:
    """The 256-bit PDQ hash as an integer, or None when the text is not one."""
    if not perceptual_hash:
        return None
    m = _PDQ_RE.match(perceptual_hash.strip())
    return int(m.group(1), 16) if m else None


def hashes_match(
    refutation: RumourRefutation, sha256: str | None, perceptual_hash: str | None
) -> bool:
    if refutation.sha256 and sha256 and refutation.sha256.lower() == sha256.lower():
        return True
    if not refutation.perceptual_hash or not perceptual_hash:
        return False
    a, b = pdq_int(refutation.perceptual_hash), pdq_int(perceptual_hash)
    if a is not None and b is not None:
        return (a ^ b).bit_count() <= PDQ_MATCH_BITS
    return refutation.perceptual_hash == perceptual_hash


def notice_of(refutation: RumourRefutation) -> dict[str, Any]:
    return {
        "kind": NOTICE_KIND,
        "refutation_id": refutation.id,
        "text": refutation.text,
        "source_url": refutation.source_url,
    }


def _latest_inspection(session: Session, record: ContentRecord) -> Inspection | None:
    return session.scalars(
        select(Inspection)
        .where(Inspection.content_record_id == record.id)
        .order_by(Inspection.submitted_at.desc(), Inspection.id.desc())
        .limit(1)
    ).first()


def flag(session: Session, record: ContentRecord, refutation: RumourRefutation) -> bool:
    """Flag ``record`` as matching ``refutation``; False if it already carried this notice."""
    notices = list(record.notices or [])
    if any(
        n.get("kind") == NOTICE_KIND and n.get("refutation_id") == refutation.id
        for n in notices
        if isinstance(n, dict)
    ):
        return False
    notice = notice_of(refutation)
    record.notices = [*notices, notice]
    flags = list(record.flags or [])
    if REFUTED_FLAG not in flags:
        record.flags = [*flags, REFUTED_FLAG]
    inspection = _latest_inspection(session, record)
    if inspection is None:
        inspection = Inspection(
            content_record_id=record.id,
            verdict=record.verdict or "no_trace",
            source="refutation",
        )
        session.add(inspection)
        session.flush()
    session.add(
        Finding(
            inspection_id=inspection.id,
            plugin_id=FINDING_PLUGIN,
            kind=FINDING_KIND,
            confidence=1.0,
            evidence=notice,
        )
    )
    session.flush()
    webhooks.emit(
        session,
        "item.flagged",
        {"content_record_id": record.id, "flag": REFUTED_FLAG, "notice": notice},
    )
    return True


def unflag(session: Session, record: ContentRecord, refutation_id: int) -> bool:
    """Remove one refutation's notice (a withdrawn refutation); the flag goes when no
    refutation notice is left."""
    notices = [n for n in (record.notices or []) if isinstance(n, dict)]
    kept = [
        n
        for n in notices
        if not (n.get("kind") == NOTICE_KIND and n.get("refutation_id") == refutation_id)
    ]
    if len(kept) == len(notices):
        return False
    record.notices = kept
    if not any(n.get("kind") == NOTICE_KIND for n in kept):
        record.flags = [f for f in (record.flags or []) if f != REFUTED_FLAG]
    session.flush()
    return True


def matching_records(session: Session, refutation: RumourRefutation) -> list[ContentRecord]:
    """Every stored item whose hashes match ``refutation``."""
    found: dict[str, ContentRecord] = {}
    if refutation.sha256:
        for rec in session.scalars(
            select(ContentRecord).where(ContentRecord.sha256 == refutation.sha256.lower())
        ):
            found[rec.id] = rec
    if refutation.perceptual_hash:
        target = pdq_int(refutation.perceptual_hash)
        if target is None:
            for rec in session.scalars(
                select(ContentRecord).where(
                    ContentRecord.perceptual_hash == refutation.perceptual_hash
                )
            ):
                found[rec.id] = rec
        else:
            # A scan of the stored PDQ hashes (once per refutation; ids and hashes only).
            stmt = (
                select(ContentRecord.id, ContentRecord.perceptual_hash)
                .where(ContentRecord.perceptual_hash.is_not(None))
                .execution_options(yield_per=_SCAN_BATCH)
            )
            ids = [
                rid
                for rid, ph in session.execute(stmt)
                if (value := pdq_int(ph)) is not None
                and (value ^ target).bit_count() <= PDQ_MATCH_BITS
            ]
            for i in range(0, len(ids), 500):
                for rec in session.scalars(
                    select(ContentRecord).where(ContentRecord.id.in_(ids[i : i + 500]))
                ):
                    found[rec.id] = rec
    return sorted(found.values(), key=lambda r: (r.created_at, r.id))


def publish(
    session: Session,
    *,
    text: str,
    source_url: str | None,
    record: ContentRecord | None = None,
    sha256: str | None = None,
    perceptual_hash: str | None = None,
    subject_ref: str | None = None,
    route: bool = True,
    now: datetime | None = None,
) -> tuple[RumourRefutation, list[ContentRecord]]:
    """Publish a refutation of ``record`` (or of the given hashes) and flag every stored item
    that matches it; matching items other than ``record`` are routed (to the rumour queue by
    the default rules). Returns the refutation and the items flagged."""
    if not text.strip():
        raise RefutationError("text: the refutation notice is empty")
    if record is not None:
        sha256 = sha256 or record.sha256
        perceptual_hash = perceptual_hash or record.perceptual_hash
    if not sha256 and not perceptual_hash:
        raise RefutationError(
            "the refuted item has no SHA-256 and no perceptual hash: nothing to match uploads by"
        )
    if sha256 and not re.fullmatch(r"[0-9a-fA-F]{64}", sha256):
        raise RefutationError("sha256: expected 64 hexadecimal digits")
    now = now or utcnow()
    refutation = RumourRefutation(
        subject_ref=subject_ref or (record.id if record is not None else None),
        content_record_id=record.id if record is not None else None,
        sha256=sha256.lower() if sha256 else None,
        perceptual_hash=perceptual_hash,
        hashes={"sha256": sha256, "perceptual_hash": perceptual_hash},
        text=text,
        source_url=source_url,
        status="published",
        published_at=now,
        created_at=now,
    )
    session.add(refutation)
    session.flush()
    flagged = []
    for rec in matching_records(session, refutation):
        if flag(session, rec, refutation):
            flagged.append(rec)
            if route and (record is None or rec.id != record.id):
                from synthlabel.service.routing import route_item

                route_item(session, rec, now=now)
    return refutation, flagged


def withdraw(session: Session, refutation: RumourRefutation) -> list[ContentRecord]:
    """Withdraw a published refutation: its notice comes off every item it flagged."""
    refutation.status = "withdrawn"
    changed = []
    # Every item it flagged matches its hashes (at publication or, later, on ingest).
    candidates = {r.id: r for r in matching_records(session, refutation)}
    for rec in candidates.values():
        if unflag(session, rec, refutation.id):
            changed.append(rec)
    session.flush()
    return changed


def check_refutations(
    session: Session, content_record: ContentRecord, *, route: bool = False
) -> list[RumourRefutation]:
    """Flag a (new) item against every published refutation; the refutations it matched.

    The ingest worker calls this after storing an item's hashes and before
    :func:`synthlabel.service.routing.route_item` (so the ``refuted`` flag routes it);
    ``route=True`` routes it here instead."""
    if not content_record.sha256 and not content_record.perceptual_hash:
        return []
    conds = []
    if content_record.sha256:
        conds.append(RumourRefutation.sha256 == content_record.sha256.lower())
    if content_record.perceptual_hash:
        conds.append(RumourRefutation.perceptual_hash.is_not(None))
    matched = []
    if session.info.get(MEMO) is not None:  # a worker batch: read the published ones once
        published = memo(
            session,
            "published_refutations",
            lambda: session.scalars(
                select(RumourRefutation)
                .where(RumourRefutation.status == "published")
                .order_by(RumourRefutation.id)
            ).all(),
        )
        sha = (content_record.sha256 or "").lower()
        refs: Iterable[RumourRefutation] = [
            r
            for r in published
            if (sha and r.sha256 == sha)
            or (content_record.perceptual_hash and r.perceptual_hash is not None)
        ]
    else:
        refs = session.scalars(
            select(RumourRefutation)
            .where(RumourRefutation.status == "published", or_(*conds))
            .order_by(RumourRefutation.id)
        )
    for ref in refs:
        if hashes_match(ref, content_record.sha256, content_record.perceptual_hash):
            if content_record.id is None:
                session.flush()
            flag(session, content_record, ref)
            matched.append(ref)
    if matched and route:
        from synthlabel.service.routing import route_item

        route_item(session, content_record)
    return matched


_COUNTS_SQL = {
    # The notices are unpacked in the database: one aggregate query returns a count per
    # refutation, however many items are flagged (nothing is read back row by row).
    "postgresql": """
        SELECT n.value ->> 'refutation_id' AS rid, count(DISTINCT cr.id) AS n
        FROM content_record cr
        CROSS JOIN LATERAL json_array_elements(
            CASE WHEN json_typeof(cr.notices) = 'array' THEN cr.notices ELSE '[]'::json END
        ) AS n(value)
        WHERE cr.notices IS NOT NULL
          AND n.value ->> 'kind' = :kind
          AND n.value ->> 'refutation_id' IN :ids
        GROUP BY 1
    """,
    "sqlite": """
        SELECT CAST(json_extract(obj, '$.refutation_id') AS TEXT) AS rid,
               count(DISTINCT id) AS n
        FROM (
            SELECT cr.id AS id, CASE WHEN n.type = 'object' THEN n.value END AS obj
            FROM content_record cr,
                 json_each(CASE WHEN json_type(cr.notices) = 'array'
                                THEN cr.notices ELSE '[]' END) n
            WHERE cr.notices IS NOT NULL
        )
        WHERE json_extract(obj, '$.kind') = :kind
          AND CAST(json_extract(obj, '$.refutation_id') AS TEXT) IN :ids
        GROUP BY 1
    """,
}


def flagged_counts(session: Session, refutation_ids: Iterable[int]) -> dict[int, int]:
    """How many stored items carry each refutation's notice now (0 for none); one query for
    the whole list (a page of refutations), counted in the database."""
    ids = sorted({int(i) for i in refutation_ids})
    counts = dict.fromkeys(ids, 0)
    if not ids:
        return counts
    stmt = text(_COUNTS_SQL[session.get_bind().dialect.name]).bindparams(
        bindparam("ids", expanding=True)
    )
    for rid, n in session.execute(stmt, {"kind": NOTICE_KIND, "ids": [str(i) for i in ids]}):
        if rid is not None and str(rid).isdigit() and int(rid) in counts:
            counts[int(rid)] = int(n)
    return counts


def refutation_ids(notices: Iterable[Any]) -> list[int]:
    return [
        int(n["refutation_id"])
        for n in notices
        if isinstance(n, dict) and n.get("kind") == NOTICE_KIND and "refutation_id" in n
    ]
