"""The appeal, refutation, reports and webhook pages in headless Chromium."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tests.browser.conftest import ADMIN, REVIEWER, Server, login


def _item_with_decision(page: Any, server: Server) -> str:
    """The id of a demo item with a decision that can still be appealed."""
    page.goto(server.base + "/review?status=all")
    ids = dict.fromkeys(re.findall(r"/items/([0-9a-f-]{36})", page.content()))
    for item_id in ids:
        page.goto(f"{server.base}/items/{item_id}")
        if page.locator("#appeal-form").count():
            return item_id
    raise AssertionError("the demo data has no appealable decision")


def test_appeal_filed_and_resolved_in_the_appeal_queue(page: Any, server: Server) -> None:
    login(page, server.base, REVIEWER)
    item_id = _item_with_decision(page, server)
    page.fill("#appeal-form textarea[name=statement]", "short")
    page.click("#appeal-btn")
    assert "at least 10 characters" in page.inner_text("#appeal-error")
    statement = "Browser test: the photographer sent the original file."
    page.fill("#appeal-form textarea[name=statement]", statement)
    page.click("#appeal-btn")
    assert "Appeal filed" in page.inner_text(".alert-ok")
    assert f"/items/{item_id}" in page.url
    appeal_link = page.locator("#decision-table a", has_text="Appeal #").first
    label = appeal_link.inner_text()
    # the appeal is a job in the appeal queue, shown on the review page
    page.goto(server.base + "/review?status=open")
    page.click(f"#review-table a:text-is('{label}')")
    assert statement in page.inner_text("#appeal-subject")
    page.check("input[name=outcome][value=upheld]")
    page.fill("#resolve-form textarea[name=reason]", "The decision stands.")
    page.click("#resolve-btn")
    assert "Appeal resolved" in page.inner_text(".alert-ok")
    assert "decided: No action" in page.inner_text("#history")


def test_refute_an_item_and_see_the_notice_on_a_copy(page: Any, server: Server) -> None:
    login(page, server.base, ADMIN)
    page.goto(server.base + "/dashboard")
    first = page.locator("table a[href^='/items/']").first.get_attribute("href")
    assert first
    # a copy of the item's file is uploaded (inspect stores it as a new item)
    csrf = page.locator("input[name=csrf_token]").first.get_attribute("value")
    blob = page.request.get(server.base + first + "/blob")
    assert blob.ok
    name = "copy." + (blob.headers.get("content-type", "x/bin").split("/")[1].split(";")[0])
    answer = page.request.post(
        server.base + "/api/v1/inspect",
        headers={"X-CSRF-Token": csrf or ""},
        multipart={
            "file": {"name": name, "mimeType": "application/octet-stream", "buffer": blob.body()}
        },
    )
    assert answer.status == 200, answer.text()
    copy_id = answer.json()["id"]
    page.goto(server.base + first)
    page.fill("#refute-form textarea[name=text]", "x")
    page.fill("#refute-form input[name=source_url]", "not a link")
    page.click("#refute-btn")
    assert "at least 3 characters" in page.inner_text("#refute-error")
    notice = "Browser test: this picture is from 2019, not from today's flood."
    page.fill("#refute-form textarea[name=text]", notice)
    page.click("#refute-btn")  # the link is still not http(s)
    assert "http://" in page.inner_text("#refute-error")
    assert page.input_value("#refute-form textarea[name=text]") == notice  # kept
    page.fill("#refute-form input[name=source_url]", "https://piyao.example/2019-flood")
    page.click("#refute-btn")
    assert "Refutation published" in page.inner_text(".alert-ok")
    row = page.locator("#refutation-table tr.hl")
    assert notice in row.inner_text()
    assert int(row.locator("td.num").inner_text()) >= 2  # the item and its copy
    page.goto(f"{server.base}/items/{copy_id}")
    banner = page.inner_text("#refutation-notice")
    assert "Refuted rumour" in banner and notice in banner
    link = page.locator("#refutation-notice a[target=_blank]").get_attribute("href")
    assert link == "https://piyao.example/2019-flood"


def test_reports_chart_and_csv_download(page: Any, server: Server) -> None:
    login(page, server.base, REVIEWER)
    page.goto(server.base + "/reports")
    assert page.locator("#report-chart svg rect").count() > 3
    page.select_option("#report-form select[name=group]", "queue")
    page.click("#report-form button[type=submit]")
    assert "group=queue" in page.url
    assert page.locator("#report-totals tbody tr").count() >= 1
    with page.expect_download() as info:
        page.click("#csv-link")
    download = info.value
    assert re.fullmatch(
        r"synthlabel-queue-\d{4}-\d\d-\d\d-\d{4}-\d\d-\d\d\.csv", download.suggested_filename
    )
    text = Path(download.path()).read_text(encoding="utf-8")
    assert text.splitlines()[0] == "day,group,key,name,count,decided"
    assert len(text.splitlines()) >= 2 and ",queue," in text


def test_webhook_subscription_created_and_deleted(page: Any, server: Server) -> None:
    login(page, server.base, ADMIN)
    page.click("#nav-admin summary")
    page.click("#nav-admin a[href='/webhooks']")
    page.fill("#webhook-form input[name=name]", "moderation")
    page.fill("#webhook-form input[name=url]", "ftp://hooks.example/x")
    page.click("#webhook-create")
    assert "url" in page.inner_text("#webhook-error")
    page.fill("#webhook-form input[name=url]", "http://169.254.169.254/latest/meta-data")
    page.click("#webhook-create")  # the same private-address rule as the API
    assert "link-local" in page.inner_text("#webhook-error")
    page.fill("#webhook-form input[name=url]", "https://hooks.example/synthlabel")
    page.fill("#webhook-form input[name=event_kinds]", "item.*, appeal.*")
    page.click("#webhook-create")
    secret = page.inner_text("#secret-value")
    assert len(secret) >= 32
    row = page.locator("#webhook-table tr", has_text="hooks.example/synthlabel")
    assert "item.*" in row.inner_text() and "appeal.*" in row.inner_text()
    page.goto(server.base + "/webhooks")
    assert secret not in page.content()  # shown once
    page.on("dialog", lambda dialog: dialog.accept())
    page.locator("#webhook-table tr", has_text="hooks.example/synthlabel").locator(
        "button[type=submit]"
    ).click()
    assert "Subscription deleted" in page.inner_text(".alert-ok")
    assert page.locator("#webhook-table tr", has_text="hooks.example/synthlabel").count() == 0


def test_admin_pages_and_roles(page: Any, server: Server) -> None:
    login(page, server.base, ADMIN)
    for path, heading in (
        ("/generation-log", "Generation log"),
        ("/identity", "Identity bindings"),
        ("/refutations", "Refutations"),
    ):
        page.goto(server.base + path)
        assert page.inner_text("h1") == heading
    page.context.clear_cookies()
    login(page, server.base, REVIEWER)
    response = page.goto(server.base + "/webhooks")
    assert response is not None and response.status == 403
