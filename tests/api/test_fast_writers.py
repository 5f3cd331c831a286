"""The fast writers (orjson, precomputed cookie attributes) write exactly what the reference
writers write, including where orjson alone would not."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any

import pytest
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from api.app import RouteErrors
from api.legacy import set_jwt_cookie
from api.legacy_shape import reference_render, render
from api.observability import json_line
from api.settings import LegacyDecimals, Settings

AWKWARD: list[object] = [
    {"b": Decimal("1.50"), "a": [Decimal("-0"), Decimal("1E+3"), (1, 2)], "A": None},
    {"text": "".join(chr(i) for i in range(128)), "t": True, "f": False},
    {"non_ascii": "héllo ✓ 𝄞", "id": 2**64 + 1, "neg": -(2**63)},
    {"tiny": Decimal("0.0000000000000000001234"), "big": Decimal("123456789012345678901234.5")},
    {"lone": "\ud800", "profile_notifications": [], "profile_type": "trader"},
    [],
    {},
]


@pytest.mark.parametrize("decimals", list(LegacyDecimals))
@pytest.mark.parametrize("value", AWKWARD)
def test_render_writes_the_reference_bytes(value: object, decimals: LegacyDecimals) -> None:
    assert render(value, decimals) == reference_render(value, decimals).encode()


def test_render_refuses_what_the_reference_refuses() -> None:
    with pytest.raises(TypeError, match="cannot render object"):
        render({"x": object()}, LegacyDecimals.NUMBER)


@pytest.mark.parametrize(
    "token", ["eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig-_", "", 'needs "quoting"; really']
)
@pytest.mark.parametrize("samesite", ["lax", "strict", "none"])
def test_the_jwt_cookie_is_written_as_starlette_writes_it(token: str, samesite: str) -> None:
    settings = Settings(
        database_url="sqlite+aiosqlite:///:memory:",
        cookie_samesite=samesite,
        access_token_ttl=777,
    )
    fast, slow = Response(), Response()
    set_jwt_cookie(fast, token, settings)
    slow.set_cookie(
        "jwt", token, max_age=777, path="/", secure=True, httponly=True, samesite=samesite
    )
    assert fast.raw_headers == slow.raw_headers


@pytest.mark.parametrize(
    "entry",
    [
        {"msg": "request", "status": 200, "ms": 1.25, "path": "/onboarding"},
        {"msg": "héllo\x7f\n", "ip": Decimal("1.5"), 1: "non-string key"},
        {"big": 2**70, "lone": "\udc80", "nested": {"a": [1, None]}},
    ],
)
def test_log_lines_are_compact_ascii_json_of_the_same_entry(entry: dict[object, object]) -> None:
    line = json_line(entry)  # type: ignore[arg-type]
    assert line.isascii()
    assert "\x7f" not in line
    assert json.loads(line) == json.loads(json.dumps(entry, default=str))


async def _asgi(app: Any, headers: list[tuple[bytes, bytes]], chunks: list[bytes]) -> list[Any]:
    messages = [{"type": "http.request", "body": c, "more_body": True} for c in chunks]
    messages.append({"type": "http.request", "body": b"", "more_body": False})
    sent: list[Any] = []

    async def receive() -> Any:
        return messages.pop(0)

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/", "headers": headers}
    await app(scope, receive, send)
    return sent


async def _reads_body(scope: Any, receive: Any, send: Any) -> None:
    await Request(scope, receive).body()
    await PlainTextResponse("read")(scope, receive, send)


async def _ignores_body(scope: Any, receive: Any, send: Any) -> None:
    await PlainTextResponse("ignored")(scope, receive, send)


@pytest.mark.parametrize(
    ("app", "headers", "chunks", "status"),
    [
        (_reads_body, [], [b"x" * 600, b"x" * 600], 413),  # no length: counted as read
        (_reads_body, [], [b"x" * 600], 200),
        (_reads_body, [(b"content-length", b"2000")], [], 413),  # declared over: refused
        (_ignores_body, [(b"content-length", b"2000")], [], 413),  # even when never read
        (_reads_body, [(b"content-length", b"600")], [b"x" * 600], 200),
    ],
)
def test_the_body_limit_is_starlettes(
    app: Any, headers: list[tuple[bytes, bytes]], chunks: list[bytes], status: int
) -> None:
    sent = asyncio.run(_asgi(RouteErrors(app, max_body_size=1024), headers, chunks))
    assert [m["status"] for m in sent if m["type"] == "http.response.start"] == [status]
    if status == 413:
        assert b"".join(m.get("body", b"") for m in sent) == b"Content Too Large"
