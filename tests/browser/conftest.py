"""Browser tests: a real ``synthlabel serve`` (uvicorn in a subprocess, on a free port, over a
SQLite file seeded by ``synthlabel demo-data``) driven by Debian's headless Chromium through
Playwright.

Skipped only when /usr/bin/chromium (or Playwright) is missing AND ``CI`` is unset; in CI
they must run (``make install`` installs both).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
ADMIN = ("admin", "admin-demo-pass")
REVIEWER = ("reviewer", "reviewer-demo-pass")


def _missing() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} is missing (Debian package chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (the [dev] extra)"
    try:
        import fastapi  # noqa: F401
    except ImportError:
        return "the [service] extra is not installed"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    why = _missing()
    if why is None:
        return
    for item in items:
        if "tests/browser" in str(item.fspath):
            if os.environ.get("CI"):
                item.add_marker(pytest.mark.xfail(reason=why, run=False, strict=True))
            else:
                item.add_marker(pytest.mark.skip(reason=why))


def _synthlabel() -> list[str]:
    exe = shutil.which("synthlabel", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", "synthlabel.cli.main"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    base: str
    db_url: str
    log: Path


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    if _missing():
        pytest.skip(_missing() or "")
    tmp = tmp_path_factory.mktemp("web")
    db_url = f"sqlite:///{tmp / 'demo.db'}"
    env = {**os.environ, "SYNTHLABEL_DATABASE_URL": db_url}
    env.pop("SYNTHLABEL_SECRET_KEY", None)
    seeded = subprocess.run(
        [*_synthlabel(), "demo-data", "--json"], env=env, capture_output=True, text=True
    )
    assert seeded.returncode == 0, seeded.stderr
    port = _free_port()
    log = tmp / "serve.log"
    with log.open("w") as fh:
        proc = subprocess.Popen(
            [*_synthlabel(), "serve", "--port", str(port)], env=env, stdout=fh, stderr=fh
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(base + "/healthz", timeout=2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError("the service did not start:\n" + log.read_text()) from None
                time.sleep(0.2)
        yield Server(base, db_url, log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="session")
def browser(server: Server) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser context (no cookies) in English."""
    context = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15000)
    pg = context.new_page()
    yield pg
    context.close()


def login(page: Any, base: str, who: tuple[str, str]) -> None:
    page.goto(base + "/login")
    page.fill("input[name=name]", who[0])
    page.fill("input[name=password]", who[1])
    page.click("button[type=submit]")
    page.wait_for_url("**/dashboard")
