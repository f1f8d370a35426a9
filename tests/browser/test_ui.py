"""The web UI in headless Chromium: log in, review and decide an item, file and follow a
complaint, see the decision's audit entry, switch to Chinese."""

from __future__ import annotations

import re
from typing import Any

from tests.browser.conftest import ADMIN, REVIEWER, Server, login


def test_login_fails_inline_then_succeeds(page: Any, server: Server) -> None:
    page.goto(server.base + "/dashboard")
    assert "/login" in page.url  # not logged in: sent to the login page
    page.fill("input[name=name]", "reviewer")
    page.fill("input[name=password]", "wrong password")
    page.click("button[type=submit]")
    assert "Wrong user name or password" in page.inner_text("#form-error")
    login(page, server.base, REVIEWER)
    assert page.inner_text("h1") == "Dashboard"
    # server-side SVG charts with the demo's data
    assert page.locator("#chart-per-day svg rect").count() > 3
    assert page.locator("#chart-queues svg").count() == 1
    assert int(page.inner_text("#stat-pending")) >= 1


def test_review_and_decide_then_audit(page: Any, browser: Any, server: Server) -> None:
    from playwright.sync_api import expect

    login(page, server.base, REVIEWER)
    page.goto(server.base + "/review")
    assert page.locator("#review-table tbody tr").count() >= 1
    page.click("#claim-next")
    page.wait_for_url(re.compile(r"/items/[0-9a-f-]{36}"))
    assert "Claimed" in page.inner_text(".alert-ok")
    # wellness: blurred, greyscale, muted by default; revealed on request
    media = page.locator(".media")
    assert "shielded" in (media.get_attribute("class") or "")
    target = page.locator(".media img, .media audio, .media video, .media pre").first
    filt = target.evaluate("el => getComputedStyle(el).filter")
    assert "blur" in filt and "grayscale" in filt
    muted = page.locator(".media audio, .media video")
    if muted.count():
        assert muted.first.evaluate("el => el.muted") is True
    page.click("#reveal-btn")
    assert "shielded" not in (media.get_attribute("class") or "")
    expect(target).to_have_css("filter", "none")  # after the transition
    # the evidence table lists detector, strength, location
    assert (
        page.locator("#evidence-table tbody tr").count() >= 1
        or page.locator("text=No findings.").count()
    )
    # a decision without a reason is refused inline
    page.check("input[name=outcome][value=add_notice]")
    page.click("#decide-btn")
    assert "Give a reason" in page.inner_text("#form-error")
    reason = "Browser test: AI image shown without a notice"
    page.check("input[name=outcome][value=add_notice]")
    page.fill("textarea[name=reason]", reason)
    page.click("#decide-btn")
    assert "Decision recorded" in page.inner_text(".alert-ok")
    history = page.inner_text("#history")
    assert "decided: Add notice" in history and reason in history
    # the admin sees the decision in the audit log, and the chain verifies
    admin_ctx = browser.new_context(locale="en-US")
    admin = admin_ctx.new_page()
    try:
        login(admin, server.base, ADMIN)
        admin.goto(server.base + "/audit?object_type=decision")
        rows = admin.locator("#audit-table tbody tr")
        assert rows.count() >= 1
        texts = [rows.nth(i).inner_text() for i in range(rows.count())]
        mine = [t for t in texts if "user:reviewer" in t and "decision.create" in t]
        assert mine, texts
        admin.locator("#audit-table details").first.click()
        assert reason in admin.inner_text("#audit-table")
        admin.click("#verify-btn")
        assert "The chain is intact" in admin.inner_text("#verify-result")
    finally:
        admin_ctx.close()


def test_file_and_follow_a_complaint(page: Any, server: Server) -> None:
    page.goto(server.base + "/complaints/new")
    page.click("#complaint-submit")  # the browser's own 'required' check stops it
    assert "/complaints/new" in page.url
    page.select_option("select[name=category]", "wrong_label")
    page.fill("textarea[name=description]", "short")
    page.click("#complaint-submit")
    assert "Please correct" in page.inner_text("#form-error")
    assert "at least 10 characters" in page.inner_text(".has-error")
    page.fill("textarea[name=description]", "The video says it is real footage but it is AI.")
    page.fill("input[name=subject_ref]", "https://video.example/watch/123")
    page.click("#complaint-submit")
    page.wait_for_url("**/complaints/status?ticket=*")
    ticket = page.inner_text("#ticket-no")
    assert re.fullmatch(r"C-\d{4}-[0-9A-Z]{8,10}", ticket)
    # follow it later, from another visit, by the ticket number
    page.context.clear_cookies()
    page.goto(server.base + "/complaints/status")
    page.fill("input[name=ticket]", ticket.lower())
    page.click("form.lookup button")
    assert page.inner_text("#ticket-no") == ticket
    assert "Received" in page.inner_text("#ticket-card")
    # an unknown ticket is a clear message, not an error page
    page.goto(server.base + "/complaints/status?ticket=C-2000-NOPE")
    assert "No complaint with ticket" in page.inner_text("#form-error")


def test_language_toggle_shows_chinese(page: Any, server: Server) -> None:
    login(page, server.base, REVIEWER)
    page.click("#lang-zh")
    assert page.inner_text("h1") == "概览"
    assert "审核队列" in page.inner_text("nav.mainnav")
    page.goto(server.base + "/review")  # the choice is remembered
    assert page.inner_text("h1") == "审核队列"
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    page.click("#lang-en")
    assert page.inner_text("h1") == "Review queue"


def test_accept_language_and_errors_are_pages(browser: Any, server: Server) -> None:
    ctx = browser.new_context(locale="zh-CN", extra_http_headers={"Accept-Language": "zh-CN"})
    pg = ctx.new_page()
    try:
        pg.goto(server.base + "/complaints/new")
        assert pg.inner_text("h1") == "投诉举报"
        response = pg.goto(server.base + "/no/such/page")
        assert response is not None and response.status == 404
        assert "未找到" in pg.inner_text("h1")
        assert "Traceback" not in pg.content()
    finally:
        ctx.close()


def test_forms_without_csrf_token_are_refused(page: Any, server: Server) -> None:
    login(page, server.base, REVIEWER)
    response = page.request.post(server.base + "/review/1/claim", form={"csrf_token": "forged"})
    assert response.status == 403
    assert "CSRF" in response.text()
