"""The Starlette application factory."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.body_limit import RequestBodyLimitMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from models.onboarding import purge_spent_signatures
from models.ratelimit import purge_full_buckets

from .explorer import explorer_routes
from .graphql import GraphQLView
from .observability import RequestContextMiddleware, configure_logging
from .services import Services, services_of
from .settings import Settings

log = logging.getLogger("onboarding.app")
PURGE_INTERVAL_SECONDS = 300


async def healthz(_: Request) -> JSONResponse:
    """The process is up and serving."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    """Ready when the database answers; load balancers stop routing here otherwise."""
    if await services_of(request).db.ping():
        return JSONResponse({"status": "ready", "database": "ok"})
    return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)


async def _purge_spent_signatures_forever(services: Services) -> None:
    while True:
        await asyncio.sleep(PURGE_INTERVAL_SECONDS)
        try:
            await purge_spent_signatures(services.db)
            await purge_full_buckets(services.db)
        except Exception:
            log.exception("purging spent signatures or full rate-limit buckets failed; will retry")


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        services = Services.start(settings)
        app.state.services = services
        purger = asyncio.create_task(_purge_spent_signatures_forever(services))
        try:
            yield
        finally:
            purger.cancel()
            await services.db.dispose()

    return Starlette(
        routes=[
            # Every method reaches the view, so even a 405 is a GraphQL response with a code.
            Route("/graphql", GraphQLView.from_settings(settings)),
            *explorer_routes(),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
        ],
        middleware=[
            Middleware(RequestContextMiddleware),
            # Inside the request context, so a 413 carries the request id and is logged as one.
            Middleware(RequestBodyLimitMiddleware, max_body_size=settings.max_body_bytes),
        ],
        lifespan=lifespan,
    )


def app_from_environment() -> Starlette:
    """What each uvicorn worker imports: settings and logging from the environment."""
    settings = Settings()
    configure_logging(settings.log_level)
    return create_app(settings)
