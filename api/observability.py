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
import os
import re
import time
from collections.abc import Callable, Sequence

import orjson
from starlette.responses import PlainTextResponse
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
            "level": _LEVELS.get(record.levelname) or record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            "request_id": request_id_var.get(),
        }
        fields = getattr(record, "fields", None)
        if fields:
            entry.update(fields)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json_line(entry)


_LEVELS = {name: name.lower() for name in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")}
_PASSTHROUGH = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
"""Written with `str`, as `json.dumps(default=str)` writes them."""


def json_line(entry: dict[str, object]) -> str:
    """One compact, ASCII-only JSON line (see `as_json_dumps_would`)."""
    return as_json_dumps_would(
        lambda: orjson.dumps(entry, default=str, option=_PASSTHROUGH),
        lambda: json.dumps(entry, default=str, separators=(",", ":")).encode(),
    ).decode()


def as_json_dumps_would(fast: Callable[[], bytes], exact: Callable[[], bytes]) -> bytes:
    """orjson's bytes (`fast`) where they are `json.dumps`'s, else `exact`'s: orjson writes
    text beyond printable ASCII unescaped, and refuses (TypeError) keys that are not strings,
    integers beyond 64 bits and lone surrogates."""
    try:
        text = fast()
    except TypeError:  # orjson.JSONEncodeError, or a `default` hook refusing a type
        return exact()
    return text if text.isascii() and b"\x7f" not in text else exact()


# Drivers that log SQL parameters (sealed secrets, key ids, token hashes) below INFO.
_PARAMETER_LOGGERS = ("aiosqlite", "asyncpg")


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # What a record would otherwise look up on every call and our lines never show (the
    # logging HOWTO's "Optimization"): the caller's source line, thread and process names.
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    for name in _PARAMETER_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.INFO, root.level))


ResponseObserver = Callable[[Scope, int, float], None]
"""Told (scope, status, seconds) once per finished HTTP request, e.g. to export metrics."""


class RequestContextMiddleware:
    """Assigns the request id, stamps `X-Request-ID` and `SRV-TIMESTAMP`, writes the access log.

    Outermost, it is also the last resort Starlette's `ServerErrorMiddleware` was: an exception
    that escapes the app becomes a plain `500 Internal Server Error` (if no response started),
    never a trace, and is raised on for the server to log."""

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
        raw = b""
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                raw = value  # the last one, as a dict of the headers would keep
        incoming = raw.decode("latin-1")
        peer = scope.get("client")
        honoured = bool(_SANE_ID.fullmatch(incoming)) and is_trusted_peer(
            peer[0] if peer else None, self.trusted_proxies
        )
        request_id = incoming if honoured else _new_request_id()
        stamp = (b"x-request-id", request_id.encode("latin-1"))
        fields: dict[str, object] = {}
        if incoming and not honoured:
            fields["client_request_id"] = incoming[:_CLIENT_ID_CHARS]
        token = request_id_var.set(request_id)
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 0

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *(item for item in message.get("headers", ()) if item[0] not in _STAMPED),
                    stamp,
                    (b"srv-timestamp", b"%d" % int(time.time())),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            if not status:
                await _INTERNAL_ERROR(scope, receive, send)
            raise
        finally:
            seconds = time.perf_counter() - started
            status = status or 500
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


def _new_request_id() -> str:
    """`uuid.uuid4().hex`, without building a `UUID`: 16 random bytes with the version 4 and
    RFC 4122 variant bits set."""
    raw = bytearray(os.urandom(16))
    raw[6] = raw[6] & 0x0F | 0x40
    raw[8] = raw[8] & 0x3F | 0x80
    return raw.hex()


_STAMPED = frozenset({b"x-request-id", b"srv-timestamp"})
_INTERNAL_ERROR = PlainTextResponse("Internal Server Error", status_code=500)
