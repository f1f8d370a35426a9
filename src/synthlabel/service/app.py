"""``create_app(settings) -> FastAPI``: the supervision service.

On creation the database is brought to the newest migration (unless ``auto_upgrade`` is off),
and the routers under :mod:`synthlabel.service.api` are mounted. Later flows add their routers
in :data:`ROUTERS`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI

from synthlabel import __version__
from synthlabel.service import web
from synthlabel.service.api import (
    audit,
    auth,
    complaints,
    generation_log,
    health,
    identity,
    ingest,
    providers,
    refutations,
    reports,
    review,
    users,
    webhooks,
)
from synthlabel.service.api.deps import AppState
from synthlabel.service.api.errors import install_error_handlers
from synthlabel.service.audit import BackgroundChainer
from synthlabel.service.auth import ApiKeyCache
from synthlabel.service.db.engine import make_engine, session_factory
from synthlabel.service.limits import TokenBucket, UploadLimitMiddleware
from synthlabel.service.settings import Settings

ROUTERS: list[APIRouter] = [
    health.router,
    auth.router,
    providers.router,
    users.router,
    audit.router,
    review.router,
    complaints.router,
    refutations.router,
    identity.router,
    reports.router,
]

# Ingest, the generation log and webhooks (issue 7, ingest part).
ROUTERS += [ingest.router, generation_log.router, webhooks.router]


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.load()
    engine = make_engine(settings.database_url)
    if settings.auto_upgrade:
        from synthlabel.service.db.migrate import upgrade

        upgrade(engine)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Links the audit events writers append (pending) into the hash chain, every
        # audit_chain_seconds; with the app's other processes and the workers, one at a time.
        chainer = BackgroundChainer(engine, settings.secret_key, settings.audit_chain_seconds)
        chainer.start()
        try:
            yield
        finally:
            chainer.stop()

    app = FastAPI(
        lifespan=lifespan,
        title="synthlabel supervision service",
        version=__version__,
        description=(
            "Providers, filings, content records, review and the audit log for AI-generated "
            "content labelling (GB 45438-2025). Authenticate with `Authorization: Bearer <API "
            "key>`; errors are RFC 9457 problem objects."
        ),
    )
    app.state.synthlabel = AppState(
        settings=settings,
        engine=engine,
        sessions=session_factory(engine, settings.secret_key),
        public_limiter=TokenBucket(settings.public_rate_per_minute, settings.public_rate_burst),
        api_keys=ApiKeyCache(settings.api_key_cache_seconds),
    )
    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    web.install(app)  # the HTML pages (after the error handlers: it wraps them for UI paths)
    app.add_middleware(UploadLimitMiddleware, max_bytes=settings.max_upload_bytes)
    return app
