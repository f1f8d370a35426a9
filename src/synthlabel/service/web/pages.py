"""The web UI's pages: server-rendered Jinja2 templates over the service's tables.

Staff (admin, reviewer) log in with a UI session (the same ``login_session`` rows and cookie
as ``POST /api/v1/auth/login``); every form that changes something carries the session's CSRF
token, and the public forms (login, complaint) a double-submit token in their own cookie.
Errors are rendered inline or as an error page, never as a stack trace.
"""

from __future__ import annotations

import hmac
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar
from urllib.parse import quote, urlencode

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import FileResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from synthlabel import __version__
from synthlabel.service import audit
from synthlabel.service.api.deps import DB, SESSION_COOKIE, app_state, client_key
from synthlabel.service.api.errors import ApiProblem
from synthlabel.service.auth import Actor, check_login, csrf_ok, session_from_token, start_session
from synthlabel.service.db.models import (
    COMPLAINT_CATEGORIES,
    DECISION_OUTCOMES,
    Appeal,
    AuditEvent,
    Complaint,
    ContentRecord,
    Decision,
    Finding,
    Inspection,
    LoginSession,
    Provider,
    ProviderService,
    ReviewJob,
    ReviewQueue,
    User,
)
from synthlabel.service.db.types import utcnow
from synthlabel.service.web import charts, flows, queries
from synthlabel.service.web.i18n import LANG_COOKIE, Translator, pick_language

HERE = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
router = APIRouter(include_in_schema=False)

ANON_CSRF_COOKIE = "synthlabel_form"
STAFF = ("admin", "reviewer")
PAGE_SIZE = 50
REASON_PRESETS = ("ai_unlabelled", "label_ok", "label_wrong", "notice_added", "rights", "rumour")
OBJECT_LINKS = {"content_record": "/items/{}", "provider": "/providers/{}"}


# --- request context, errors --------------------------------------------------------------


class LoginRequired(Exception):
    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


class WebError(Exception):
    """An error page: ``status`` and message keys (translated when rendered)."""

    def __init__(self, status: int, message_key: str, **kwargs: Any) -> None:
        super().__init__(message_key)
        self.status = status
        self.message_key = message_key
        self.kwargs = kwargs


@dataclass
class Ctx:
    request: Request
    db: Session
    t: Translator
    user: Actor | None = None
    login: LoginSession | None = None
    cookies: dict[str, str] = field(default_factory=dict)

    @property
    def csrf(self) -> str:
        return self.login.csrf_token if self.login is not None else ""


def context(request: Request, db: Session) -> Ctx:
    """Who is asking (from the session cookie) and in which language."""
    ctx = Ctx(request, db, Translator(pick_language(request)))
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        found = session_from_token(db, token)
        if found is not None:
            ctx.user, ctx.login = found
            db.info["actor"] = ctx.user.audit_name
    return ctx


def need(request: Request, db: Session, *roles: str) -> Ctx:
    ctx = context(request, db)
    if ctx.user is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(target)
    if roles and ctx.user.role not in roles:
        raise WebError(403, "error.forbidden", role=ctx.user.role)
    return ctx


def check_csrf(ctx: Ctx, token: str) -> None:
    if ctx.login is None or not csrf_ok(ctx.login, token):
        raise WebError(403, "error.csrf")


def _anon_token(ctx: Ctx) -> str:
    token = ctx.request.cookies.get(ANON_CSRF_COOKIE) or secrets.token_urlsafe(24)
    ctx.cookies[ANON_CSRF_COOKIE] = token
    return token


def check_anon_csrf(ctx: Ctx, token: str) -> None:
    cookie = ctx.request.cookies.get(ANON_CSRF_COOKIE, "")
    if not cookie or not token or not hmac.compare_digest(cookie, token):
        raise WebError(403, "error.csrf_form")


def rate_limit(ctx: Ctx) -> None:
    if app_state(ctx.request).public_limiter.take(client_key(ctx.request)) > 0:
        raise WebError(429, "error.rate")


def _safe_next(url: str | None, default: str = "/dashboard") -> str:
    if not url or not url.startswith("/") or url.startswith("//") or "\\" in url:
        return default
    return url


def redirect(url: str, done: str | None = None) -> RedirectResponse:
    if done:
        url += ("&" if "?" in url else "?") + "done=" + quote(done)
    return RedirectResponse(url, status_code=303)


# --- rendering ------------------------------------------------------------------------------


def _fmt_dt(value: datetime | None) -> str:
    if value is None:
        return "—"
    return value.strftime("%Y-%m-%d %H:%M") + " UTC"


def _fmt_date(value: datetime | None) -> str:
    return "…" if value is None else value.strftime("%Y-%m-%d")


def _fmt_size(size: int | None) -> str:
    if size is None:
        return "—"
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return str(size)


BADGE_COLOURS = {
    "verdict": {"confirmed": "red", "possible": "amber", "suspected": "blue", "no_trace": "green"},
    "jobstatus": {"pending": "amber", "claimed": "blue", "decided": "green", "expired": "grey"},
    "cstatus": {"received": "blue", "in_review": "amber", "resolved": "green", "rejected": "grey"},
    "strength": {"conclusive": "red", "strong": "amber", "moderate": "blue", "weak": "grey"},
    "fstatus": {"filed": "green", "pending": "amber", "revoked": "red", "cancelled": "grey"},
    "assess": {"passed": "green", "pending": "amber", "failed": "red", "not_required": "grey"},
    "astatus": {"open": "amber", "in_review": "blue", "closed": "grey"},
    "aoutcome": {"upheld": "grey", "overturned": "green"},
    "rfstatus": {"published": "red", "withdrawn": "grey", "draft": "amber"},
    "dstatus": {"pending": "amber", "retrying": "amber", "delivered": "green", "dead": "red"},
    "bstatus": {"verified": "green", "failed": "red", "pending": "amber"},
}


def render(ctx: Ctx, template: str, code: int = 200, /, **values: Any) -> Response:
    t = ctx.t
    request = ctx.request

    def badge(group: str, value: str | None) -> Markup:
        if not value:
            return Markup('<span class="badge badge-grey">—</span>')
        tone = BADGE_COLOURS.get(group, {}).get(value, "grey")
        text = t(f"{group}.{value}")
        return Markup(f'<span class="badge badge-{tone}" data-value="{escape(value)}">') + (
            escape(text) + Markup("</span>")
        )

    def verdict_badge(value: str | None) -> Markup:
        if value is None:
            return (
                Markup('<span class="badge badge-grey">')
                + escape(t("verdict.pending"))
                + (Markup("</span>"))
            )
        return badge("verdict", value)

    def lang_url(lang: str) -> str:
        params = dict(request.query_params)
        params.pop("done", None)
        params["lang"] = lang
        return f"{request.url.path}?{urlencode(params)}"

    def pager(page: dict[str, Any] | None) -> Markup:
        if not page or page["total"] <= page["limit"]:
            return Markup("")
        offset, limit, total = page["offset"], page["limit"], page["total"]
        params = {k: v for k, v in request.query_params.items() if k not in {"offset", "done"}}
        out = [
            Markup('<div class="pager">'),
            escape(t("common.showing", start=offset + 1, end=min(offset + limit, total), n=total)),
        ]
        for label, target in (
            (t("common.previous"), offset - limit if offset > 0 else None),
            (t("common.next"), offset + limit if offset + limit < total else None),
        ):
            if target is not None:
                href = f"?{urlencode({**params, 'offset': max(0, target)})}"
                out.append(Markup(f' <a class="btn btn-sm" href="{escape(href)}">') + label)
                out.append(Markup("</a>"))
        out.append(Markup("</div>"))
        return Markup("").join(out)

    def queue_name(queue: Any) -> str:
        key = f"queue.{queue.name}"
        return t(key) if t.has(key) else str(queue.name)

    flashes = list(values.pop("flashes", []))
    done = request.query_params.get("done")
    if done and t.has(f"flash.{done}"):
        flashes.append(("ok", t(f"flash.{done}")))
    values.setdefault("section", "")
    data = {
        "request": request,
        "t": t,
        "lang": t.lang,
        "user": ctx.user,
        "csrf": ctx.csrf,
        "version": __version__,
        "flashes": flashes,
        "static_url": lambda file: f"/static/{file}?v={__version__}",
        "lang_url": lang_url,
        "status_badge": badge,
        "verdict_badge": verdict_badge,
        "queue_name": queue_name,
        "pager": pager,
        "fmt_dt": _fmt_dt,
        "fmt_date": _fmt_date,
        "fmt_size": _fmt_size,
        **values,
    }
    response = templates.TemplateResponse(request, template, data, status_code=code)
    settings = app_state(request).settings
    for cookie, value in ctx.cookies.items():
        response.set_cookie(
            cookie, value, httponly=True, samesite="lax", secure=settings.cookie_secure
        )
    if request.query_params.get("lang") == t.lang:
        response.set_cookie(LANG_COOKIE, t.lang, max_age=365 * 86400, samesite="lax")
    response.headers["Cache-Control"] = "no-store"
    return response


def error_page(request: Request, db: Session | None, status: int, key: str, **kw: Any) -> Response:
    if db is None:
        with app_state(request).sessions() as session:
            return error_page(request, session, status, key, **kw)
    ctx = context(request, db)
    t = ctx.t
    heading = t(f"error.title_{status}") if t.has(f"error.title_{status}") else t("error.title")
    return render(ctx, "error.html", status, status=status, heading=heading, message=t(key, **kw))


# --- login ----------------------------------------------------------------------------------


@router.get("/")
def home(request: Request, db: DB) -> Response:
    ctx = context(request, db)
    if ctx.user is None:
        return redirect("/login")
    return redirect("/dashboard" if ctx.user.role in STAFF else "/complaints/new")


@router.get("/login")
def login_form(request: Request, db: DB, next: str | None = None) -> Response:
    ctx = context(request, db)
    if ctx.user is not None:
        return redirect(_safe_next(next))
    return render(
        ctx, "login.html", form_csrf=_anon_token(ctx), next=_safe_next(next), name="", error=None
    )


@router.post("/login")
def login_submit(
    request: Request,
    db: DB,
    name: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    ctx = context(request, db)
    check_anon_csrf(ctx, csrf_token)
    rate_limit(ctx)
    user = check_login(db, name.strip(), password) if name.strip() and password else None
    if user is None:
        return render(
            ctx,
            "login.html",
            401,
            form_csrf=_anon_token(ctx),
            next=_safe_next(next),
            name=name,
            error=ctx.t("login.failed"),
        )
    settings = app_state(request).settings
    db.info["actor"] = f"user:{user.name}"
    token, _row = start_session(db, user, settings.session_hours, client_key(request))
    audit.record(db, "auth.login", "app_user", user.id, {"via": "web"})
    db.commit()
    default = "/dashboard" if user.role in STAFF else "/complaints/new"
    response = redirect(_safe_next(next, default))
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=settings.session_hours * 3600,
        httponly=True,
        samesite="lax",
        secure=settings.cookie_secure,
        path="/",
    )
    return response


@router.post("/logout")
def logout(
    request: Request, db: DB, csrf_token: Annotated[str, Form(max_length=200)] = ""
) -> Response:
    ctx = context(request, db)
    if ctx.login is not None and ctx.user is not None:
        check_csrf(ctx, csrf_token)
        ctx.login.revoked_at = utcnow()
        audit.record(db, "auth.logout", "app_user", ctx.user.user_id, {"via": "web"})
        db.commit()
    response = redirect("/login")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# --- dashboard ------------------------------------------------------------------------------


@router.get("/dashboard")
def dashboard(request: Request, db: DB) -> Response:
    ctx = need(request, db, *STAFF)
    t = ctx.t
    days = 14
    d = queries.dashboard(db, days)
    verdict_labels = {v: t(f"verdict.{v}") for v in d.per_verdict}
    per_verdict = {k: v for k, v in d.per_verdict.items() if k != "pending" or any(v)}
    chart_items = charts.stacked_bars(
        d.days,
        per_verdict,
        verdict_labels,
        title=t("dash.items_per_day"),
        empty=t("dash.no_data"),
    )
    queue_rows = [
        (q.name, t(f"queue.{q.name}") if t.has(f"queue.{q.name}") else q.name, n)
        for q, n in d.queues
    ]
    chart_queues = charts.hbars(queue_rows, title=t("dash.queue_sizes"), empty=t("dash.no_data"))
    complaint_rows = [
        (s, t(f"cstatus.{s}"), d.complaints.get(s, 0))
        for s in ("received", "in_review", "resolved", "rejected")
    ]
    chart_complaints = charts.hbars(
        complaint_rows if any(n for *_, n in complaint_rows) else [],
        title=t("dash.complaints_by_status"),
        empty=t("dash.no_data"),
    )
    recent = (
        db.execute(select(ContentRecord).order_by(ContentRecord.created_at.desc()).limit(8))
        .scalars()
        .all()
    )
    return render(
        ctx,
        "dashboard.html",
        section="dashboard",
        days=days,
        stats=d,
        charts={"per_day": chart_items, "queues": chart_queues, "complaints": chart_complaints},
        recent=recent,
    )


# --- review queue ---------------------------------------------------------------------------


@dataclass
class JobRow:
    id: int
    status: str
    href: str
    subject_label: str
    media_kind: str | None
    verdict: str | None
    queue_name: str
    reason: str | None
    claimed_by: str | None
    due_at: datetime | None
    overdue: bool
    content: bool = True


def _job_href(job: ReviewJob) -> str:
    if job.subject_type == flows.SUBJECT_CONTENT:
        return f"/items/{job.subject_id}?job={job.id}"
    return f"/review/{job.id}"


@router.get("/review")
def review_list(
    request: Request,
    db: DB,
    queue: Annotated[str | None, Query(max_length=20)] = None,
    status: Annotated[str, Query(max_length=20)] = "open",
    verdict: Annotated[str | None, Query(max_length=20)] = None,
    offset: Annotated[int, Query(ge=0, le=2**31)] = 0,
) -> Response:
    ctx = need(request, db, *STAFF)
    t = ctx.t
    queue_id = int(queue) if queue and queue.isdigit() else None
    if status not in {"open", "pending", "claimed", "decided", "all"}:
        status = "open"
    stmt = select(ReviewJob, ContentRecord).outerjoin(
        ContentRecord,
        (ReviewJob.subject_type == flows.SUBJECT_CONTENT)
        & (ContentRecord.id == ReviewJob.subject_id),
    )
    if queue_id is not None:
        stmt = stmt.where(ReviewJob.queue_id == queue_id)
    if status == "open":
        stmt = stmt.where(ReviewJob.status.in_(("pending", "claimed")))
    elif status != "all":
        stmt = stmt.where(ReviewJob.status == status)
    if verdict in queries.VERDICTS:
        stmt = stmt.where(ContentRecord.verdict == verdict)
    rows, page = page_of(
        db,
        stmt.order_by(ReviewJob.priority.desc(), ReviewJob.created_at, ReviewJob.id),
        offset,
        scalars=False,
    )
    queues = list(db.execute(select(ReviewQueue).order_by(ReviewQueue.id)).scalars())
    qnames = {q.id: (t(f"queue.{q.name}") if t.has(f"queue.{q.name}") else q.name) for q in queues}
    counts = queries.open_counts(db)
    user_ids = {j.claimed_by for j, _ in rows if j.claimed_by}
    names = (
        dict(db.execute(select(User.id, User.name).where(User.id.in_(user_ids))).all())
        if user_ids
        else {}
    )
    complaint_ids = [
        int(j.subject_id)
        for j, _ in rows
        if j.subject_type == flows.SUBJECT_COMPLAINT and j.subject_id.isdigit()
    ]
    tickets = (
        dict(
            db.execute(
                select(Complaint.id, Complaint.ticket_no).where(Complaint.id.in_(complaint_ids))
            ).all()
        )
        if complaint_ids
        else {}
    )
    now = utcnow()
    jobs = []
    for job, rec in rows:
        if job.subject_type == flows.SUBJECT_COMPLAINT and job.subject_id.isdigit():
            label = tickets.get(int(job.subject_id), f"#{job.subject_id}")
        elif job.subject_type == flows.SUBJECT_APPEAL:
            label = t("appeal.label", id=job.subject_id)
        else:
            label = job.subject_id[:8]
        jobs.append(
            JobRow(
                id=job.id,
                status=job.status,
                href=_job_href(job),
                subject_label=label,
                media_kind=rec.media_kind if rec is not None else None,
                verdict=rec.verdict if rec is not None else None,
                queue_name=qnames.get(job.queue_id, str(job.queue_id)),
                reason=job.reason,
                claimed_by=names.get(job.claimed_by) if job.claimed_by else None,
                due_at=job.due_at,
                overdue=bool(
                    job.due_at and job.due_at < now and job.status in ("pending", "claimed")
                ),
                content=rec is not None,
            )
        )
    for q in queues:
        q.open = counts.get(q.id, 0)  # type: ignore[attr-defined]
    return render(
        ctx,
        "review.html",
        section="review",
        jobs=jobs,
        queues=queues,
        verdicts=queries.VERDICTS,
        filters={"queue": queue_id, "status": status, "verdict": verdict},
        page=page,
    )


T = TypeVar("T")


def flow_action(
    ctx: Ctx,
    action: Callable[[], T],
    to: str | Callable[[T], str],
    done: str,
    *,
    error_status: int = 409,
) -> Response:
    """A form's state change: ``action()`` (a :mod:`flows` function) committed, then a
    redirect to ``to`` (or ``to(result)``) with the ``done`` notice; a :class:`FlowError`
    rolls back and answers the error page with ``error_status``."""
    try:
        result = action()
    except flows.FlowError as exc:
        ctx.db.rollback()
        return error_page(ctx.request, ctx.db, error_status, exc.key, **exc.kwargs)
    ctx.db.commit()
    return redirect(to(result) if callable(to) else to, done)


def page_of(
    db: Session, stmt: Any, offset: int, *, scalars: bool = True
) -> tuple[list[Any], dict[str, int]]:
    """One page (``PAGE_SIZE`` rows from ``offset``) of ``stmt`` and the pager's numbers."""
    total = db.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
    result = db.execute(stmt.limit(PAGE_SIZE).offset(offset))
    rows = list(result.scalars().all() if scalars else result.all())
    return rows, {"offset": offset, "limit": PAGE_SIZE, "total": int(total)}


@router.post("/review/claim-next")
def review_claim_next(
    request: Request,
    db: DB,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    queue: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    ctx = need(request, db, *STAFF)
    check_csrf(ctx, csrf_token)
    assert ctx.user is not None
    job = flows.claim_next(db, ctx.user, int(queue) if queue.isdigit() else None)
    if job is None:
        return redirect("/review", "queue_empty")
    db.commit()
    return redirect(_job_href(job), "claimed")


@router.post("/review/{job_id}/claim")
def review_claim(
    request: Request,
    db: DB,
    job_id: int,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    ctx = need(request, db, *STAFF)
    check_csrf(ctx, csrf_token)
    user = ctx.user
    assert user is not None
    return flow_action(
        ctx,
        lambda: flows.claim(db, user, job_id),
        lambda job: _safe_next(next, _job_href(job)),
        "claimed",
    )


@router.post("/review/{job_id}/release")
def review_release(
    request: Request, db: DB, job_id: int, csrf_token: Annotated[str, Form(max_length=200)] = ""
) -> Response:
    ctx = need(request, db, *STAFF)
    check_csrf(ctx, csrf_token)
    user = ctx.user
    assert user is not None
    return flow_action(ctx, lambda: flows.release(db, user, job_id), "/review", "released")


@router.post("/review/{job_id}/decide")
def review_decide(
    request: Request,
    db: DB,
    job_id: int,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    outcome: Annotated[str, Form(max_length=20)] = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
    source_url: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    ctx = need(request, db, *STAFF)
    check_csrf(ctx, csrf_token)
    assert ctx.user is not None
    job = db.get(ReviewJob, job_id)
    if job is None:
        raise WebError(404, "flow.no_job", id=job_id)
    try:
        flows.decide(db, ctx.user, job_id, outcome, reason, source_url)
    except flows.FlowError as exc:
        db.rollback()
        form = {"outcome": outcome, "reason": reason, "source_url": source_url}
        message = ctx.t(exc.key, **exc.kwargs)
        if job.subject_type == flows.SUBJECT_CONTENT:
            return item_page(ctx, job.subject_id, job.id, error=message, form=form, status=422)
        return job_page(ctx, job, error=message, form=form, status=422)
    db.commit()
    if job.subject_type == flows.SUBJECT_CONTENT:
        return redirect(f"/items/{job.subject_id}?job={job.id}", "decided")
    return redirect(f"/review/{job.id}", "decided")


@router.get("/review/{job_id}")
def review_job(request: Request, db: DB, job_id: int) -> Response:
    ctx = need(request, db, *STAFF)
    job = db.get(ReviewJob, job_id)
    if job is None:
        raise WebError(404, "flow.no_job", id=job_id)
    if job.subject_type == flows.SUBJECT_CONTENT:
        return redirect(f"/items/{job.subject_id}?job={job.id}")
    return job_page(ctx, job)


def job_page(
    ctx: Ctx,
    job: ReviewJob,
    *,
    error: str | None = None,
    form: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    """A job whose subject is not a stored item (a complaint): the subject and the form."""
    complaint = appeal = appealed = appealed_job = None
    if job.subject_type == flows.SUBJECT_COMPLAINT and job.subject_id.isdigit():
        complaint = ctx.db.get(Complaint, int(job.subject_id))
    if job.subject_type == flows.SUBJECT_APPEAL and job.subject_id.isdigit():
        appeal = ctx.db.get(Appeal, int(job.subject_id))
        appealed = ctx.db.get(Decision, appeal.decision_id) if appeal is not None else None
        appealed_job = ctx.db.get(ReviewJob, appealed.job_id) if appealed is not None else None
    decisions = list(
        ctx.db.execute(select(Decision).where(Decision.job_id == job.id).order_by(Decision.id))
        .scalars()
        .all()
    )
    events = queries.history(ctx.db, "-", [job.id], [d.id for d in decisions])
    return render(
        ctx,
        "job.html",
        status,
        section="review",
        job=job,
        job_queue=_queue_label(ctx, job.queue_id),
        back_url=f"/review/{job.id}",
        complaint=complaint,
        appeal=appeal,
        appealed=appealed,
        appealed_href=_job_href(appealed_job) if appealed_job is not None else None,
        mine=ctx.user is not None and job.claimed_by == ctx.user.user_id,
        claimed_by=_user_name(ctx.db, job.claimed_by),
        outcomes=DECISION_OUTCOMES,
        presets=REASON_PRESETS,
        form=form or {"outcome": "", "reason": "", "source_url": ""},
        error=error,
        history=_history_rows(ctx, events, decisions),
    )


def _queue_label(ctx: Ctx, queue_id: int) -> str:
    q = ctx.db.get(ReviewQueue, queue_id)
    if q is None:
        return str(queue_id)
    return ctx.t(f"queue.{q.name}") if ctx.t.has(f"queue.{q.name}") else q.name


def _user_name(db: Session, user_id: int | None) -> str:
    if user_id is None:
        return ""
    return db.execute(select(User.name).where(User.id == user_id)).scalar_one_or_none() or ""


# --- items ----------------------------------------------------------------------------------


@dataclass
class HistoryRow:
    ts: datetime
    actor: str
    text: str
    reason: str | None = None
    event_id: int | None = None


def _history_rows(ctx: Ctx, events: list[AuditEvent], decisions: list[Decision]) -> list[Any]:
    t = ctx.t
    reasons = {str(d.id): d.reason for d in decisions}
    rows: list[HistoryRow] = []
    for e in events:
        payload = e.payload or {}
        reason = None
        if e.action == "decision.create":
            outcome = str(payload.get("outcome", ""))
            text = t("hist.decided", outcome=t(f"outcome.{outcome}"))
            reason = reasons.get(e.object_id or "") or payload.get("reason")
        elif e.action.endswith(".update") and isinstance(payload.get("status"), dict):
            new = str(payload["status"].get("new"))
            group = "jobstatus" if e.object_type == "review_job" else "cstatus"
            text = t("hist.status", what=t(f"object.{e.object_type}"), status=t(f"{group}.{new}"))
        elif e.action.endswith(".update") and isinstance(payload.get("review_state"), dict):
            new = str(payload["review_state"].get("new"))
            text = t("hist.state", state=t(f"rstate.{new}"))
        elif t.has(f"action.{e.action}"):
            text = t(f"action.{e.action}")
        else:
            text = e.action
        rows.append(HistoryRow(e.ts, e.actor, text, reason, e.id))
    return rows


def _preview_kind(rec: ContentRecord) -> str | None:
    kind = (rec.media_kind or "").lower()
    mime = (rec.mime or "").lower()
    if kind in {"image", "video", "audio"}:
        return kind
    for k in ("image", "video", "audio"):
        if mime.startswith(k + "/"):
            return k
    if kind in {"text", "document"} or mime.startswith("text/"):
        return "text"
    return None


def blob_file(request: Request, rec: ContentRecord) -> Path | None:
    """The stored copy of an item (under the blob directory), if it is there."""
    if not rec.blob_path:
        return None
    base = getattr(app_state(request).settings, "blob_dir", None)
    if base is None:
        return None
    root = Path(base).resolve()
    path = (root / rec.blob_path).resolve()
    if root not in path.parents or not path.is_file():
        return None
    return path


def item_page(
    ctx: Ctx,
    record_id: str,
    job_id: int | None = None,
    *,
    error: str | None = None,
    form: dict[str, str] | None = None,
    status: int = 200,
    appeal_error: str | None = None,
    appeal_form: dict[str, Any] | None = None,
    refute_error: str | None = None,
    refute_form: dict[str, str] | None = None,
) -> Response:
    db = ctx.db
    rec = db.get(ContentRecord, record_id) if len(record_id) <= 36 else None
    if rec is None:
        raise WebError(404, "error.no_item", id=record_id[:40])
    jobs = list(
        db.execute(
            select(ReviewJob)
            .where(ReviewJob.subject_type == flows.SUBJECT_CONTENT, ReviewJob.subject_id == rec.id)
            .order_by(ReviewJob.id)
        )
        .scalars()
        .all()
    )
    job = next((j for j in jobs if j.id == job_id), None)
    if job is None:
        open_jobs = [j for j in jobs if j.status in ("pending", "claimed")]
        job = open_jobs[0] if open_jobs else (jobs[-1] if jobs else None)
    inspection = db.execute(
        select(Inspection)
        .where(Inspection.content_record_id == rec.id)
        .order_by(Inspection.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    findings = []
    if inspection is not None:
        for f in db.execute(
            select(Finding).where(Finding.inspection_id == inspection.id).order_by(Finding.id)
        ).scalars():
            ev = f.evidence or {}
            findings.append(
                {
                    "plugin_id": f.plugin_id,
                    "kind": f.kind,
                    "confidence": f.confidence,
                    "strength": ev.get("strength"),
                    "location": ev.get("location"),
                    "summary": ev.get("summary") or ev.get("text"),
                }
            )
    decisions = list(
        db.execute(
            select(Decision).where(Decision.job_id.in_([j.id for j in jobs])).order_by(Decision.id)
        )
        .scalars()
        .all()
        if jobs
        else []
    )
    events = queries.history(db, rec.id, [j.id for j in jobs], [d.id for d in decisions])
    preview = _preview_kind(rec) if blob_file(ctx.request, rec) is not None else None
    text_preview = None
    if preview == "text":
        path = blob_file(ctx.request, rec)
        assert path is not None
        with path.open("rb") as fh:
            text_preview = fh.read(4000).decode("utf-8", "replace")
    provider = db.get(Provider, rec.provider_id) if rec.provider_id else None
    appeals = (
        list(
            db.execute(
                select(Appeal)
                .where(Appeal.decision_id.in_([d.id for d in decisions]))
                .order_by(Appeal.id)
            ).scalars()
        )
        if decisions
        else []
    )
    appeal_jobs = {j.id for j in jobs if j.subject_type == flows.SUBJECT_APPEAL}
    appealable = [
        d
        for d in decisions
        if d.job_id not in appeal_jobs
        and not any(a.decision_id == d.id and a.status != "closed" for a in appeals)
    ]
    notices = [n for n in (rec.notices or []) if isinstance(n, dict)]
    return render(
        ctx,
        "item.html",
        status,
        section="review",
        rec=rec,
        job=job,
        job_queue=_queue_label(ctx, job.queue_id) if job else "",
        back_url=f"/items/{rec.id}" + (f"?job={job.id}" if job else ""),
        mine=job is not None and ctx.user is not None and job.claimed_by == ctx.user.user_id,
        claimed_by=_user_name(db, job.claimed_by if job else None),
        findings=findings,
        preview=preview,
        text_preview=text_preview,
        provider=provider,
        outcomes=DECISION_OUTCOMES,
        presets=REASON_PRESETS,
        form=form or {"outcome": "", "reason": "", "source_url": ""},
        error=error,
        history=_history_rows(ctx, events, decisions),
        decisions=decisions,
        appeals=appeals,
        appealable=appealable,
        appeal_form=appeal_form or {"decision_id": "", "statement": ""},
        appeal_error=appeal_error,
        highlight_appeal=_int_param(ctx.request, "appeal"),
        refutation_notices=[n for n in notices if n.get("kind") == "refutation"],
        other_notices=[n for n in notices if n.get("kind") != "refutation"],
        refute_form=refute_form or {"text": "", "source_url": ""},
        refute_error=refute_error,
    )


def _int_param(request: Request, name: str) -> int | None:
    value = request.query_params.get(name, "")
    return int(value) if value.isdigit() and len(value) < 18 else None


@router.get("/items/{record_id}")
def item(
    request: Request,
    db: DB,
    record_id: str,
    job: Annotated[int | None, Query(ge=1, le=2**62)] = None,
) -> Response:
    ctx = need(request, db, *STAFF)
    return item_page(ctx, record_id, job)


@router.get("/items/{record_id}/blob")
def item_blob(request: Request, db: DB, record_id: str) -> Response:
    need(request, db, *STAFF)
    rec = db.get(ContentRecord, record_id) if len(record_id) <= 36 else None
    path = blob_file(request, rec) if rec is not None else None
    if rec is None or path is None:
        raise WebError(404, "item.no_blob")
    return FileResponse(
        path,
        media_type=rec.mime or "application/octet-stream",
        headers={
            "Cache-Control": "private, max-age=300",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
        },
    )


# --- complaints -----------------------------------------------------------------------------


@router.get("/complaints/new")
def complaint_form(request: Request, db: DB, ref: str | None = None) -> Response:
    ctx = context(request, db)
    return render(
        ctx,
        "complaint_new.html",
        section="complaints",
        form_csrf=_anon_token(ctx),
        categories=COMPLAINT_CATEGORIES,
        form={"category": "", "subject_ref": (ref or "")[:500], "description": "", "contact": ""},
        errors={},
    )


@router.post("/complaints/new")
def complaint_submit(
    request: Request,
    db: DB,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    category: Annotated[str, Form(max_length=50)] = "",
    subject_ref: Annotated[str, Form(max_length=2000)] = "",
    description: Annotated[str, Form(max_length=20000)] = "",
    contact: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    ctx = context(request, db)
    check_anon_csrf(ctx, csrf_token)
    t = ctx.t
    errors: dict[str, str] = {}
    if category not in COMPLAINT_CATEGORIES:
        errors["category"] = t("complaint.err_category")
    if len(subject_ref.strip()) > 500:
        errors["subject_ref"] = t("common.too_long", n=500)
    if len(description.strip()) < 10:
        errors["description"] = t("complaint.err_description")
    elif len(description) > 5000:
        errors["description"] = t("common.too_long", n=5000)
    if len(contact) > 300:
        errors["contact"] = t("common.too_long", n=300)
    if any(ord(c) < 32 and c not in "\t\r\n" for c in subject_ref + description + contact):
        errors.setdefault("description", t("common.control_chars"))
    form = {
        "category": category,
        "subject_ref": subject_ref,
        "description": description,
        "contact": contact,
    }
    if errors:
        return render(
            ctx,
            "complaint_new.html",
            422,
            section="complaints",
            form_csrf=_anon_token(ctx),
            categories=COMPLAINT_CATEGORIES,
            form=form,
            errors=errors,
        )
    rate_limit(ctx)
    if ctx.user is None:
        db.info["actor"] = "public:web"
    try:
        complaint = flows.file_complaint(
            db,
            category=category,
            subject_ref=subject_ref,
            description=description,
            contact=contact,
            sla_text=str(getattr(app_state(request).settings, "complaint_sla_hours", "") or ""),
        )
    except (flows.FlowError, ValueError) as exc:
        db.rollback()
        key = exc.key if isinstance(exc, flows.FlowError) else "flow.refused"
        kwargs = exc.kwargs if isinstance(exc, flows.FlowError) else {"detail": str(exc)}
        return render(
            ctx,
            "complaint_new.html",
            422,
            section="complaints",
            form_csrf=_anon_token(ctx),
            categories=COMPLAINT_CATEGORIES,
            form=form,
            errors={"description": t(key, **kwargs)},
        )
    db.commit()
    return redirect(f"/complaints/status?ticket={quote(complaint.ticket_no)}&new=1")


def _steps(status: str) -> list[dict[str, str]]:
    order = ["received", "in_review", "resolved" if status != "rejected" else "rejected"]
    at = order.index(status) if status in order else 0
    return [
        {"name": s, "state": "done" if i < at or (i == at == 2) else "current" if i == at else ""}
        for i, s in enumerate(order)
    ]


@router.get("/complaints/status")
def complaint_status(
    request: Request,
    db: DB,
    ticket: Annotated[str | None, Query(max_length=100)] = None,
    new: Annotated[str | None, Query(max_length=2)] = None,
) -> Response:
    ctx = context(request, db)
    complaint = None
    ticket = (ticket or "").strip().upper() or None
    if ticket:
        complaint = db.execute(
            select(Complaint).where(Complaint.ticket_no == ticket)
        ).scalar_one_or_none()
    return render(
        ctx,
        "complaint_status.html",
        200 if complaint is not None or not ticket else 404,
        section="status",
        ticket=ticket,
        complaint=complaint,
        created=bool(new),
        steps=_steps(complaint.status) if complaint else [],
    )


@router.get("/complaints")
def complaints(
    request: Request,
    db: DB,
    status: Annotated[str, Query(max_length=20)] = "open",
    offset: Annotated[int, Query(ge=0, le=2**31)] = 0,
) -> Response:
    ctx = need(request, db, *STAFF)
    stmt = select(Complaint)
    if status == "open":
        stmt = stmt.where(Complaint.status.in_(queries.OPEN_COMPLAINT))
    elif status in ("received", "in_review", "resolved", "rejected"):
        stmt = stmt.where(Complaint.status == status)
    else:
        status = "all"
    rows, page = page_of(db, stmt.order_by(Complaint.received_at.desc()), offset)
    now = utcnow()
    for c in rows:
        c.overdue = bool(c.due_at and c.due_at < now and c.status in queries.OPEN_COMPLAINT)
    return render(
        ctx,
        "complaints.html",
        section="complaints",
        rows=rows,
        status=status,
        page=page,
    )


# --- providers and filings ------------------------------------------------------------------


@dataclass
class ProviderRow:
    id: int
    name: str
    credit_code: str | None
    kind: str
    services: int
    filings: int
    filing_states: list[tuple[str, int]]


def _providers_page(
    ctx: Ctx, q: str | None, offset: int, status: int = 200, **extra: Any
) -> Response:
    db = ctx.db
    stmt = select(Provider)
    if q:
        like = f"%{q}%"
        stmt = stmt.where(or_(Provider.name.like(like), Provider.credit_code.like(like)))
    providers, page = page_of(db, stmt.order_by(Provider.name), offset)
    ids = [p.id for p in providers]
    services = (
        dict(
            db.execute(
                select(ProviderService.provider_id, func.count())
                .where(ProviderService.provider_id.in_(ids))
                .group_by(ProviderService.provider_id)
            ).all()
        )
        if ids
        else {}
    )
    states = queries.provider_filing_states(db, ids)
    rows = [
        ProviderRow(
            p.id,
            p.name,
            p.credit_code,
            p.kind,
            int(services.get(p.id, 0)),
            sum(states.get(p.id, {}).values()),
            sorted(states.get(p.id, {}).items()),
        )
        for p in providers
    ]
    return render(
        ctx,
        "providers.html",
        status,
        section="providers",
        rows=rows,
        q=q,
        is_admin=ctx.user is not None and ctx.user.role == "admin",
        page=page,
        **extra,
    )


@router.get("/providers")
def providers(
    request: Request,
    db: DB,
    q: Annotated[str | None, Query(max_length=200)] = None,
    offset: Annotated[int, Query(ge=0, le=2**31)] = 0,
) -> Response:
    ctx = need(request, db, "admin", "reviewer", "provider")
    return _providers_page(ctx, q, offset)


@router.get("/providers/{provider_id}")
def provider_detail(request: Request, db: DB, provider_id: int) -> Response:
    ctx = need(request, db, "admin", "reviewer", "provider")
    p = db.get(Provider, provider_id) if 0 < provider_id < 2**62 else None
    if p is None:
        raise WebError(404, "error.no_provider", id=provider_id)
    p.filings.sort(key=lambda f: f.filing_no)
    items = list(
        db.execute(
            select(ContentRecord)
            .where(ContentRecord.provider_id == p.id)
            .order_by(ContentRecord.created_at.desc())
            .limit(10)
        ).scalars()
    )
    return render(ctx, "provider.html", section="providers", p=p, items=items)


@router.post("/providers/import")
async def providers_import(
    request: Request,
    db: DB,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    from starlette.concurrency import run_in_threadpool

    from synthlabel.service.api.providers import import_csv

    ctx = await run_in_threadpool(need, request, db, "admin")
    check_csrf(ctx, csrf_token)
    if file is None or not file.filename:
        return await run_in_threadpool(
            _providers_page, ctx, None, 0, 422, import_error=ctx.t("import.no_file")
        )
    data = await file.read()
    try:
        result = await run_in_threadpool(import_csv, db, data, file.filename)
    except ApiProblem as exc:
        await run_in_threadpool(db.rollback)
        problem = exc.problem
        return await run_in_threadpool(
            _providers_page,
            ctx,
            None,
            0,
            422,
            import_error=problem.detail or problem.title,
            import_items=problem.errors or [],
        )
    await run_in_threadpool(db.commit)
    return await run_in_threadpool(
        _providers_page, ctx, None, 0, 200, import_result=result.model_dump()
    )


# --- audit ----------------------------------------------------------------------------------


def _summary(e: AuditEvent) -> str:
    payload = e.payload or {}
    keys = list(payload)[:4]
    parts = []
    for k in keys:
        v = payload[k]
        if isinstance(v, dict) and "new" in v:
            v = v["new"]
        text = json.dumps(v, ensure_ascii=False) if not isinstance(v, str) else v
        parts.append(f"{k}={text[:40]}")
    return ", ".join(parts) or "—"


@router.get("/audit")
def audit_view(
    request: Request,
    db: DB,
    before_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    event: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    object_type: Annotated[str | None, Query(max_length=64)] = None,
    object_id: Annotated[str | None, Query(max_length=64)] = None,
    action: Annotated[str | None, Query(max_length=100)] = None,
    actor: Annotated[str | None, Query(max_length=200)] = None,
    verify: Annotated[str | None, Query(max_length=2)] = None,
) -> Response:
    ctx = need(request, db, "admin")
    result = None
    if verify:
        secret = app_state(request).settings.secret_key
        result = audit.verify(db.connection(), secret).to_dict()
    stmt = select(AuditEvent)
    if object_type:
        stmt = stmt.where(AuditEvent.object_type == object_type)
    if object_id:
        stmt = stmt.where(AuditEvent.object_id == object_id)
    if action:
        stmt = stmt.where(AuditEvent.action.like(f"{action}%"))
    if actor:
        stmt = stmt.where(AuditEvent.actor == actor)
    if event is not None and before_id is None:
        before_id = event + 4
    page = stmt.where(AuditEvent.id < before_id) if before_id else stmt
    events = list(db.execute(page.order_by(AuditEvent.id.desc()).limit(PAGE_SIZE)).scalars().all())
    newest = db.execute(stmt.order_by(AuditEvent.id.desc()).limit(1)).scalar_one_or_none()
    params = {
        k: v
        for k, v in {
            "object_type": object_type,
            "object_id": object_id,
            "action": action,
            "actor": actor,
        }.items()
        if v
    }
    older_url = newer_url = None
    if len(events) == PAGE_SIZE:
        older_url = "?" + urlencode({**params, "before_id": events[-1].id})
    if events and newest is not None and events[0].id < newest.id:
        newer_url = "?" + urlencode({**params, "before_id": events[0].id + PAGE_SIZE + 1})
    rows = []
    for e in events:
        link = OBJECT_LINKS.get(e.object_type or "")
        rows.append(
            {
                "id": e.id,
                "seq": e.seq,
                "ts": e.ts,
                "actor": e.actor,
                "action": e.action,
                "object_type": e.object_type,
                "object_id_short": (e.object_id or "")[:12],
                "href": link.format(e.object_id) if link and e.object_id else None,
                "summary": _summary(e),
                "payload_json": json.dumps(e.payload, ensure_ascii=False, indent=2),
                "hash": e.hash,
            }
        )
    object_types = sorted(
        str(o)
        for o in db.execute(select(AuditEvent.object_type).distinct()).scalars()
        if o is not None
    )
    return render(
        ctx,
        "audit.html",
        section="audit",
        rows=rows,
        verify=result,
        filters={"object_type": object_type, "action": action, "actor": actor},
        object_types=object_types,
        highlight=event,
        older_url=older_url,
        newer_url=newer_url,
    )
