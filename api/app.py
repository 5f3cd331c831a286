"""The Starlette application factory."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.body_limit import RequestBodyLimitMiddleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from models.api_keys import sweep_api_keys
from models.notifications import purge_old_notifications
from models.onboarding import purge_spent_signatures
from models.ratelimit import purge_full_buckets
from models.sessions import purge_expired_sessions

from .explorer import explorer_routes
from .graphql import GraphQLView
from .legacy import legacy_routes
from .metrics import GraphQLMetrics, metrics_endpoint, record_http_request
from .observability import RequestContextMiddleware, configure_logging
from .services import Services, services_of
from .settings import Settings

log = logging.getLogger("onboarding.app")
PURGE_INTERVAL_SECONDS = 300
KEY_SWEEP_INTERVAL_SECONDS = 300


async def healthz(_: Request) -> JSONResponse:
    """The process is up and serving."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    """Ready when the database answers; load balancers stop routing here otherwise."""
    if await services_of(request).db.ping():
        return JSONResponse({"status": "ready", "database": "ok"})
    return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)


async def _every(seconds: float, job: Callable[[], Awaitable[object]], what: str) -> None:
    """Run an idempotent housekeeping job forever (every worker may run it); failures retry."""
    while True:
        await asyncio.sleep(seconds)
        try:
            await job()
        except Exception:
            log.exception("%s failed; will retry", what)


async def purge_expired(services: Services, now: float | None = None) -> None:
    """Delete what has outlived its use: spent signatures past their timestamp, full rate-limit
    buckets, expired sessions, and notifications older than `notification_retention`."""
    now = time.time() if now is None else now
    await purge_spent_signatures(services.db, int(now))
    await purge_full_buckets(services.db, now)
    await purge_expired_sessions(services.db, int(now))
    await purge_old_notifications(services.db, services.settings.notification_retention, now)


# What a cross-origin caller may send and read: the GraphQL request, the legacy routes' signed
# headers, and the headers our responses carry for clients (clock skew, rate limits, tracing).
_CORS_REQUEST_HEADERS = (
    "Authorization",
    "Content-Type",
    "X-Request-ID",
    "RBT-TS",
    "RBT-SIGNATURE",
    "RBT-API-KEY",
    "RBT-JWT",
    "EID",
)
_CORS_RESPONSE_HEADERS = ("SRV-TIMESTAMP", "Retry-After", "X-Request-ID")


def cors_middleware(settings: Settings) -> list[Middleware]:
    """Starlette's CORS middleware for the configured origins; none configured, no middleware
    (same-origin only, and the default path pays nothing). Credentials (the `jwt` cookie) are
    never allowed cross-origin: a cross-origin frontend sends `Authorization: Bearer`."""
    if not settings.cors_origins:
        return []
    return [
        Middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=list(_CORS_REQUEST_HEADERS),
            expose_headers=list(_CORS_RESPONSE_HEADERS),
            allow_credentials=False,
            max_age=600,
        )
    ]


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        services = Services.start(settings)
        app.state.services = services
        housekeeping = [
            asyncio.create_task(
                _every(
                    PURGE_INTERVAL_SECONDS,
                    lambda: purge_expired(services),
                    "purging spent signatures, full buckets, expired sessions, old notifications",
                )
            ),
            asyncio.create_task(
                _every(
                    KEY_SWEEP_INTERVAL_SECONDS,
                    lambda: sweep_api_keys(services.db, services.settings),
                    "sweeping API keys (expiry warnings, dead keys)",
                )
            ),
        ]
        try:
            yield
        finally:
            for task in housekeeping:
                task.cancel()
            await services.close()

    return Starlette(
        routes=[
            # Every method reaches the view, so even a 405 is a GraphQL response with a code.
            Route("/graphql", GraphQLView.from_settings(settings, observers=(GraphQLMetrics,))),
            *explorer_routes(),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            *legacy_routes(),
            Route("/metrics", metrics_endpoint),
        ],
        middleware=[
            Middleware(
                RequestContextMiddleware,
                on_response=record_http_request,
                trusted_proxies=settings.trusted_proxies,
            ),
            # Preflights are answered here, before the routes (whose OPTIONS would be a 405).
            *cors_middleware(settings),
            # Inside the request context, so a 413 carries the request id and is logged as one.
            Middleware(RequestBodyLimitMiddleware, max_body_size=settings.max_body_bytes),
        ],
        lifespan=lifespan,
    )


def app_from_environment() -> Starlette:
    """What each uvicorn worker imports: settings and logging from the environment."""
    configure_logging("INFO")  # warnings raised while reading settings are JSON lines too
    settings = Settings()
    configure_logging(settings.log_level)
    return create_app(settings)
