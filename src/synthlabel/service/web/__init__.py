"""The web UI (server-rendered, English and Chinese): ``install(app)`` mounts its pages, its
static files and the error pages that UI paths get instead of problem+json."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).resolve().parent / "static"
API_PREFIXES = ("/api/", "/docs", "/redoc", "/openapi.json", "/static/")


def is_ui_request(request: Request) -> bool:
    """A browser asking for a page (not the API, the docs or a static file)."""
    path = request.url.path
    if path.startswith(API_PREFIXES):
        return False
    accept = request.headers.get("accept", "")
    return "text/html" in accept or request.method == "POST" or not accept


def install(app: FastAPI) -> None:
    from synthlabel.service.web import pages, pages_more

    app.include_router(pages.router)
    app.include_router(pages_more.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    async def login_required(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, pages.LoginRequired)
        from urllib.parse import quote

        return RedirectResponse(f"/login?next={quote(exc.next_url)}", status_code=303)

    async def web_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, pages.WebError)
        return await _page(request, exc.status, exc.message_key, exc.kwargs)

    app.add_exception_handler(pages.LoginRequired, login_required)
    app.add_exception_handler(pages.WebError, web_error)

    # UI paths get HTML error pages; everything else keeps the API's problem+json handlers.
    for exc_class, previous in list(app.exception_handlers.items()):
        if isinstance(exc_class, type) and exc_class not in (
            pages.LoginRequired,
            pages.WebError,
        ):
            app.add_exception_handler(exc_class, _html_or(previous))


def _html_or(previous: Any) -> Any:
    async def handler(request: Request, exc: Exception) -> Response:
        response: Response = await previous(request, exc)
        if not is_ui_request(request):
            return response
        status = response.status_code
        if isinstance(exc, RequestValidationError):
            where = ", ".join(
                ".".join(str(p) for p in e.get("loc", ())[1:]) or "?" for e in exc.errors()[:3]
            )
            return await _page(request, 400, "error.bad_input", {"where": where})
        key = {404: "error.not_found", 405: "error.not_found", 413: "error.too_large"}.get(
            status, "error.rate" if status == 429 else "error.internal"
        )
        if 400 <= status < 500 and key == "error.internal":
            key = "error.bad_input"
        return await _page(request, status, key, {"where": "-"})

    return handler


async def _page(request: Request, status: int, key: str, kwargs: dict[str, Any]) -> Response:
    from starlette.concurrency import run_in_threadpool

    from synthlabel.service.web import pages

    return await run_in_threadpool(pages.error_page, request, None, status, key, **kwargs)
