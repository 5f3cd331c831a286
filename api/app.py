"""The Starlette application factory."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from models.api_keys import sweep_api_keys
from models.db import CHECKPOINT_INTERVAL_SECONDS
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


class _BodyTooLarge(HTTPException):
    def __init__(self) -> None:
        super().__init__(status_code=413, detail="Content Too Large")


class _Replaced(Exception):
    """The app's response was replaced by the 413 (it answered without reading the body)."""


class RouteErrors:
    """Between the middleware and the routes: the body limit and `HTTPException`s (404, 405, 413)
    as plain text, what Starlette's `RequestBodyLimitMiddleware` and `ExceptionMiddleware` did,
    in one layer that builds nothing per request unless it has to.

    A body declared over the limit is refused when read, and a response the app starts without
    reading it becomes the 413. A body within its declared `Content-Length` needs no counting:
    the server frames it to exactly that many bytes; one without a length is counted as read."""

    def __init__(self, app: ASGIApp, max_body_size: int) -> None:
        self.app = app
        self.max_body_size = max_body_size

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        limit = self.max_body_size
        started = False
        received = 0

        async def counted() -> Message:
            nonlocal received
            if declared is not None:  # declared over the limit
                raise _BodyTooLarge
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLarge
            return message

        async def sender(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if declared is not None and declared > limit:
                    await _TOO_LARGE(scope, receive, send)
                    raise _Replaced
            await send(message)

        bounded = declared is not None and declared <= limit
        try:
            await self.app(scope, receive if bounded else counted, sender)
        except HTTPException as error:
            if started:
                raise
            await _plain_text(error)(scope, receive, send)
        except _Replaced:
            pass


_TOO_LARGE = PlainTextResponse("Content Too Large", status_code=413)


def _plain_text(error: HTTPException) -> Response:
    if error.status_code in {204, 304}:
        return Response(status_code=error.status_code, headers=error.headers)
    return PlainTextResponse(error.detail, status_code=error.status_code, headers=error.headers)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class OnboardingApp(Starlette):
    """Starlette with our own edge instead of its default per-request layers: the outermost
    user middleware (`RequestContextMiddleware`) is the last resort for errors, and
    `RouteErrors`, innermost, the body limit and the HTTP errors of routing."""

    def __init__(self, *, max_body_size: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.route_max_body_size = max_body_size

    def build_middleware_stack(self) -> ASGIApp:
        app: ASGIApp = RouteErrors(self.router, self.route_max_body_size)
        for cls, args, kwargs in reversed(self.user_middleware):
            app = cls(app, *args, **kwargs)
        return app


def create_app(settings: Settings | None = None, *, freeze_start_up: bool = False) -> Starlette:
    """The app. `freeze_start_up` (serve's workers): once started, what start-up built (modules,
    schema, tables, ~170k objects) leaves the cyclic collector's reach (`gc.freeze`): a full
    collection walked all of it, a 100 ms stall every few thousand GraphQL requests."""
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
        if services.db.dialect == "sqlite":  # off the COMMITs' way (models.db, "Checkpoints")
            housekeeping.append(
                asyncio.create_task(
                    _every(
                        CHECKPOINT_INTERVAL_SECONDS,
                        services.db.checkpoint,
                        "checkpointing the SQLite WAL",
                    )
                )
            )
        if freeze_start_up:
            gc.collect()  # what is garbage already is not kept for good
            gc.freeze()
        try:
            yield
        finally:
            for task in housekeeping:
                task.cancel()
            await services.close()

    return OnboardingApp(
        routes=[
            # Every method reaches the view, so even a 405 is a GraphQL response with a code.
            Route("/graphql", GraphQLView.from_settings(settings, observers=(GraphQLMetrics,))),
            *legacy_routes(),  # matched in order: the busy routes first
            *explorer_routes(),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
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
        ],
        # Inside the request context, so a 413 carries the request id and is logged as one.
        max_body_size=settings.max_body_bytes,
        lifespan=lifespan,
    )


def app_from_environment() -> Starlette:
    """What each uvicorn worker imports: settings and logging from the environment."""
    configure_logging("INFO")  # warnings raised while reading settings are JSON lines too
    settings = Settings()
    configure_logging(settings.log_level)
    return create_app(settings, freeze_start_up=True)
