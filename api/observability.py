"""Request ids and structured logs.

Every request gets an id, echoed in the response and attached to each log line. A sane incoming
`X-Request-ID` becomes the id only when the peer is one of `ONBOARDING_TRUSTED_PROXIES` (a proxy
that assigns ids); from anyone else it could forge or collide with other requests' log lines, so
the id is minted and the client's value is logged beside it as `client_request_id`.
Log lines are JSON. The access log names method, route path and status:
never query strings, headers or bodies, where tokens and secrets travel.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Sequence

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from models.client_ip import Network, is_trusted_peer

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
_SANE_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_CLIENT_ID_CHARS = 64
"""An untrusted client's X-Request-ID is logged (JSON-escaped) up to this many characters."""
access_log = logging.getLogger("onboarding.access")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            "request_id": request_id_var.get(),
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


# Drivers that log SQL parameters (sealed secrets, key ids, token hashes) below INFO.
_PARAMETER_LOGGERS = ("aiosqlite", "asyncpg")


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in _PARAMETER_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.INFO, root.level))


ResponseObserver = Callable[[Scope, int, float], None]
"""Told (scope, status, seconds) once per finished HTTP request, e.g. to export metrics."""


class RequestContextMiddleware:
    """Assigns the request id, stamps `X-Request-ID` and `SRV-TIMESTAMP`, writes the access log."""

    def __init__(
        self,
        app: ASGIApp,
        on_response: ResponseObserver | None = None,
        trusted_proxies: Sequence[Network] = (),
    ) -> None:
        self.app = app
        self.on_response = on_response
        self.trusted_proxies = tuple(trusted_proxies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        peer = scope.get("client")
        honoured = bool(_SANE_ID.fullmatch(incoming)) and is_trusted_peer(
            peer[0] if peer else None, self.trusted_proxies
        )
        request_id = incoming if honoured else uuid.uuid4().hex
        fields: dict[str, object] = {}
        if incoming and not honoured:
            fields["client_request_id"] = incoming[:_CLIENT_ID_CHARS]
        token = request_id_var.set(request_id)
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = MutableHeaders(scope=message)
                headers["X-Request-ID"] = request_id
                headers["SRV-TIMESTAMP"] = str(int(time.time()))
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            seconds = time.perf_counter() - started
            access_log.info(
                "request",
                extra={
                    "fields": {
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": status,
                        "ms": round(seconds * 1000, 2),
                        **fields,
                    }
                },
            )
            if self.on_response is not None:
                self.on_response(scope, status, seconds)
            request_id_var.reset(token)
