"""More web UI pages: appeals and refutations (from the item page), the refutation list,
reports with a chart and CSV, and the admin pages for the generation log, webhooks and
identity bindings.

State changes go through :mod:`synthlabel.service.web.flows` (the service's review,
refutation and webhook functions); every form carries the session's CSRF token.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response
from sqlalchemy import func, select

from synthlabel.service import refutation, reports
from synthlabel.service.api.deps import DB, app_state
from synthlabel.service.db.models import (
    ContentRecord,
    GenerationLogEntry,
    IdentityBinding,
    Provider,
    RumourRefutation,
    WebhookDelivery,
    WebhookSubscription,
)
from synthlabel.service.db.types import utcnow
from synthlabel.service.web import charts, flows
from synthlabel.service.web.pages import (
    STAFF,
    Ctx,
    WebError,
    check_csrf,
    error_page,
    flow_action,
    item_page,
    job_page,
    need,
    page_of,
    redirect,
    render,
)

router = APIRouter(include_in_schema=False)


def _record(ctx: Ctx, record_id: str) -> ContentRecord:
    rec = ctx.db.get(ContentRecord, record_id) if len(record_id) <= 36 else None
    if rec is None:
        raise WebError(404, "error.no_item", id=record_id[:40])
    return rec


# --- appeals --------------------------------------------------------------------------------


@router.post("/items/{record_id}/appeal")
def item_appeal(
    request: Request,
    db: DB,
    record_id: str,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    decision_id: Annotated[int, Form(ge=1, le=2**62)] = 1,
    statement: Annotated[str, Form(max_length=20000)] = "",
) -> Response:
    ctx = need(request, db, *STAFF)
    check_csrf(ctx, csrf_token)
    assert ctx.user is not None
    _record(ctx, record_id)
    try:
        appeal = flows.file_appeal(db, ctx.user, decision_id, statement)
    except flows.FlowError as exc:
        db.rollback()
        message = ctx.t(exc.key, **exc.kwargs)
        return item_page(
            ctx,
            record_id,
            appeal_error=message,
            appeal_form={"decision_id": decision_id, "statement": statement},
            status=422,
        )
    db.commit()
    return redirect(f"/items/{record_id}?appeal={appeal.id}&done=appealed#appeals")


@router.post("/review/appeals/{appeal_id}/resolve")
def appeal_resolve(
    request: Request,
    db: DB,
    appeal_id: int,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    outcome: Annotated[str, Form(max_length=20)] = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    from synthlabel.service.db.models import Appeal, ReviewJob

    ctx = need(request, db, *STAFF)
    check_csrf(ctx, csrf_token)
    assert ctx.user is not None
    appeal = db.get(Appeal, appeal_id) if 0 < appeal_id < 2**62 else None
    if appeal is None:
        raise WebError(404, "appeal.missing", id=appeal_id)
    job_id = appeal.job_id
    try:
        flows.resolve_appeal(db, ctx.user, appeal_id, outcome, reason)
    except flows.FlowError as exc:
        db.rollback()
        job = db.get(ReviewJob, job_id) if job_id else None
        if job is None:
            return error_page(request, db, 409, exc.key, **exc.kwargs)
        form = {"outcome": outcome, "reason": reason, "source_url": ""}
        return job_page(ctx, job, error=ctx.t(exc.key, **exc.kwargs), form=form, status=422)
    db.commit()
    return redirect(f"/review/{job_id}" if job_id else "/review", "appeal_resolved")


# --- refutations ----------------------------------------------------------------------------


@router.post("/items/{record_id}/refute")
def item_refute(
    request: Request,
    db: DB,
    record_id: str,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    text: Annotated[str, Form(max_length=20000)] = "",
    source_url: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    ctx = need(request, db, *STAFF)
    check_csrf(ctx, csrf_token)
    rec = _record(ctx, record_id)
    try:
        ref, _flagged = flows.refute(db, rec, text, source_url)
    except flows.FlowError as exc:
        db.rollback()
        return item_page(
            ctx,
            record_id,
            refute_error=ctx.t(exc.key, **exc.kwargs),
            refute_form={"text": text, "source_url": source_url},
            status=422,
        )
    db.commit()
    return redirect(f"/refutations?highlight={ref.id}", "refuted")


@router.get("/refutations")
def refutation_list(
    request: Request,
    db: DB,
    status: Annotated[str, Query(max_length=20)] = "all",
    highlight: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    offset: Annotated[int, Query(ge=0, le=2**31)] = 0,
) -> Response:
    ctx = need(request, db, *STAFF)
    stmt = select(RumourRefutation)
    if status in ("published", "withdrawn", "draft"):
        stmt = stmt.where(RumourRefutation.status == status)
    else:
        status = "all"
    rows, page = page_of(db, stmt.order_by(RumourRefutation.id.desc()), offset)
    counts = refutation.flagged_counts(db, [r.id for r in rows])  # this page's only
    return render(
        ctx,
        "refutations.html",
        section="refutations",
        rows=rows,
        counts=counts,
        status=status,
        highlight=highlight,
        is_admin=ctx.user is not None and ctx.user.role == "admin",
        page=page,
    )


@router.post("/refutations/{refutation_id}/withdraw")
def refutation_withdraw(
    request: Request,
    db: DB,
    refutation_id: int,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    ctx = need(request, db, "admin")
    check_csrf(ctx, csrf_token)
    return flow_action(
        ctx,
        lambda: flows.withdraw_refutation(db, refutation_id),
        f"/refutations?highlight={refutation_id}",
        "withdrawn",
    )


# --- reports --------------------------------------------------------------------------------


def _report_range(ctx: Ctx, start: str | None, end: str | None) -> tuple[date, date, str | None]:
    """The range asked for, or the default (last 30 days) and why it was not usable."""
    try:
        lo = date.fromisoformat(start) if start else None
        hi = date.fromisoformat(end) if end else None
        lo, hi = reports.check_range(lo, hi)
        return lo, hi, None
    except ValueError as exc:  # a bad date, or ReportError (a ValueError)
        lo, hi = reports.check_range(None, None)
        return lo, hi, ctx.t("reports.bad_range", detail=str(exc))


@router.get("/reports")
def reports_page(
    request: Request,
    db: DB,
    group: Annotated[str, Query(max_length=20)] = "verdict",
    start: Annotated[str | None, Query(alias="from", max_length=20)] = None,
    end: Annotated[str | None, Query(alias="to", max_length=20)] = None,
) -> Response:
    ctx = need(request, db, *STAFF)
    t = ctx.t
    if group not in reports.GROUPS:
        group = "verdict"
    lo, hi, error = _report_range(ctx, start, end)
    rows = reports.daily(db, group, lo, hi)
    days = [(lo + timedelta(days=i)).isoformat() for i in range((hi - lo).days + 1)]
    index = {d: i for i, d in enumerate(days)}
    series: dict[str, list[int]] = {}
    labels: dict[str, str] = {}
    totals: dict[str, list[Any]] = {}
    for r in rows:
        key = r.key
        series.setdefault(key, [0] * len(days))[index[r.day]] += r.count
        labels[key] = _series_label(ctx, group, r.key, r.name)
        total = totals.setdefault(key, [labels[key], 0, 0])
        total[1] += r.count
        total[2] += r.decided or 0
    chart = charts.stacked_bars(
        [d for d in days],
        series,
        labels,
        title=t("reports.chart_title", group=t(f"rgroup.{group}")),
        empty=t("reports.empty"),
    )
    query = urlencode({"group": group, "from": lo.isoformat(), "to": hi.isoformat()})
    return render(
        ctx,
        "reports.html",
        400 if error else 200,
        section="reports",
        group=group,
        groups=reports.GROUPS,
        start=lo.isoformat(),
        end=hi.isoformat(),
        error=error,
        chart=chart,
        rows=rows,
        labels=labels,
        totals=sorted(totals.values(), key=lambda v: -int(v[1])),
        csv_url=f"/reports.csv?{query}",
        api_url=f"/api/v1/reports/daily?{query}",
    )


def _series_label(ctx: Ctx, group: str, key: str, name: str | None) -> str:
    t = ctx.t
    if group == "verdict":
        return t(f"verdict.{key}") if t.has(f"verdict.{key}") else key
    if group == "queue" and name and t.has(f"queue.{name}"):
        return t(f"queue.{name}")
    if group == "provider" and key == "none":
        return t("reports.no_provider")
    return name or key


@router.get("/reports.csv")
def reports_csv(
    request: Request,
    db: DB,
    group: Annotated[str, Query(max_length=20)] = "verdict",
    start: Annotated[str | None, Query(alias="from", max_length=20)] = None,
    end: Annotated[str | None, Query(alias="to", max_length=20)] = None,
) -> Response:
    ctx = need(request, db, *STAFF)
    if group not in reports.GROUPS:
        raise WebError(400, "reports.bad_group", group=group[:20])
    lo, hi, error = _report_range(ctx, start, end)
    if error:
        raise WebError(400, "reports.bad_range", detail=error)
    body = reports.to_csv(reports.daily(db, group, lo, hi))
    name = f"synthlabel-{group}-{lo.isoformat()}-{hi.isoformat()}.csv"
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )


# --- generation log -------------------------------------------------------------------------


@router.get("/generation-log")
def generation_log(
    request: Request,
    db: DB,
    produce_id: Annotated[str | None, Query(max_length=128)] = None,
    provider_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    offset: Annotated[int, Query(ge=0, le=2**31)] = 0,
) -> Response:
    ctx = need(request, db, "admin")
    stmt = select(GenerationLogEntry)
    if produce_id:
        stmt = stmt.where(GenerationLogEntry.produce_id.like(f"{produce_id.strip()}%"))
    if provider_id is not None:
        stmt = stmt.where(GenerationLogEntry.provider_id == provider_id)
    rows, page = page_of(db, stmt.order_by(GenerationLogEntry.id.desc()), offset)
    providers = dict(db.execute(select(Provider.id, Provider.name).order_by(Provider.name)).all())
    entries = []
    for e in rows:
        hashes = e.perceptual_hashes or {}
        entries.append(
            {
                "id": e.id,
                "provider_id": e.provider_id,
                "provider": providers.get(e.provider_id, f"#{e.provider_id}"),
                "produce_id": e.produce_id,
                "sha256": e.sha256,
                "hash_kinds": sorted(k for k in hashes if k not in ("quality", "step")),
                "label": (e.record or {}).get("Label"),
                "content_record_id": e.content_record_id,
                "created_at": e.created_at,
            }
        )
    return render(
        ctx,
        "generation_log.html",
        section="admin",
        entries=entries,
        providers=providers,
        filters={"produce_id": produce_id or "", "provider_id": provider_id},
        page=page,
    )


# --- webhooks -------------------------------------------------------------------------------


def _webhooks_page(
    ctx: Ctx,
    *,
    status: int = 200,
    form: dict[str, str] | None = None,
    error: str | None = None,
    new_secret: str | None = None,
    offset: int = 0,
) -> Response:
    from synthlabel.service import webhooks

    db = ctx.db
    subs = list(db.execute(select(WebhookSubscription).order_by(WebhookSubscription.id)).scalars())
    per_sub = dict(
        db.execute(
            select(WebhookDelivery.subscription_id, func.count())
            .where(WebhookDelivery.status == "dead")
            .group_by(WebhookDelivery.subscription_id)
        ).all()
    )
    dead, page = page_of(
        db,
        select(WebhookDelivery)
        .where(WebhookDelivery.status == "dead")
        .order_by(WebhookDelivery.id.desc()),
        offset,
    )
    names = {s.id: s.name for s in subs}
    return render(
        ctx,
        "webhooks.html",
        status,
        section="admin",
        subs=subs,
        dead_counts=per_sub,
        dead=dead,
        names=names,
        event_kinds=webhooks.EVENT_KINDS,
        form=form or {"name": "", "url": "", "event_kinds": ""},
        error=error,
        new_secret=new_secret,
        page=page,
    )


@router.get("/webhooks")
def webhooks_page(
    request: Request, db: DB, offset: Annotated[int, Query(ge=0, le=2**31)] = 0
) -> Response:
    ctx = need(request, db, "admin")
    return _webhooks_page(ctx, offset=offset)


@router.post("/webhooks")
def webhook_create(
    request: Request,
    db: DB,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    name: Annotated[str, Form(max_length=500)] = "",
    url: Annotated[str, Form(max_length=2000)] = "",
    event_kinds: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    ctx = need(request, db, "admin")
    check_csrf(ctx, csrf_token)
    assert ctx.user is not None
    form = {"name": name, "url": url, "event_kinds": event_kinds}
    try:
        _sub, secret = flows.create_subscription(
            db,
            ctx.user,
            name,
            url,
            event_kinds,
            allow_private=app_state(request).settings.webhook_allow_private,
        )
    except flows.FlowError as exc:
        db.rollback()
        return _webhooks_page(ctx, status=422, form=form, error=ctx.t(exc.key, **exc.kwargs))
    db.commit()
    # The secret is shown once, on this answer (not in a redirect URL or a log line).
    return _webhooks_page(ctx, status=201, new_secret=secret)


@router.post("/webhooks/{subscription_id}/delete")
def webhook_delete(
    request: Request,
    db: DB,
    subscription_id: int,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    ctx = need(request, db, "admin")
    check_csrf(ctx, csrf_token)
    return flow_action(
        ctx,
        lambda: flows.delete_subscription(db, subscription_id),
        "/webhooks",
        "webhook_deleted",
        error_status=404,
    )


@router.post("/webhooks/deliveries/{delivery_id}/replay")
def webhook_replay(
    request: Request,
    db: DB,
    delivery_id: int,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    ctx = need(request, db, "admin")
    check_csrf(ctx, csrf_token)
    return flow_action(ctx, lambda: flows.replay_delivery(db, delivery_id), "/webhooks", "replayed")


# --- identity bindings ----------------------------------------------------------------------


@router.get("/identity")
def identity_bindings(
    request: Request,
    db: DB,
    status: Annotated[str, Query(max_length=20)] = "all",
    offset: Annotated[int, Query(ge=0, le=2**31)] = 0,
) -> Response:
    """Only the pseudonym (keyed hash), the last 4 characters and the result: never the
    subject's reference or anything that would re-identify the number."""
    ctx = need(request, db, "admin")
    stmt = select(IdentityBinding)
    if status in ("verified", "failed"):
        stmt = stmt.where(IdentityBinding.status == status)
    else:
        status = "all"
    rows, page = page_of(db, stmt.order_by(IdentityBinding.id.desc()), offset)
    providers = dict(db.execute(select(Provider.id, Provider.name)).all())
    bindings = [
        {
            "id": b.id,
            "pseudonym": (b.id_hash or "")[:16],
            "hint": b.id_hint or "—",
            "id_kind": b.id_kind,
            "status": b.status,
            "verifier": b.verifier,
            "provider": providers.get(b.provider_id) if b.provider_id else None,
            "at": b.verified_at or b.created_at,
        }
        for b in rows
    ]
    return render(
        ctx,
        "identity.html",
        section="admin",
        bindings=bindings,
        status=status,
        page=page,
        now=utcnow(),
    )
