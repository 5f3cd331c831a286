"""Reading legacy REST requests: JSON bodies, the RBT-* headers, field types. Each refusal is a
BAD_USER_INPUT that names the field and what it must be."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from starlette.requests import Request

from models.errors import AppError, bad_input
from models.hmac_payload import signed_fields
from models.signed_requests import SignedCall
from models.text import check_clean_text

from .client_ip import caller_address
from .graphql import access_token
from .services import Services

_UNIX_SECONDS = re.compile(r"[0-9]{1,18}")
MAX_DEPTH = 32
"""Deeper bodies are refused before anything walks them (signing hashes nested values)."""
DEFAULT_EXCHANGE = "rbx"


async def json_object(request: Request) -> dict[str, Any]:
    """The body as a JSON object (POST routes)."""
    raw = await request.body()
    if not raw.strip():
        raise bad_input("the request body is empty; send a JSON object")
    try:
        body = json.loads(raw)
    except RecursionError as error:
        raise _too_deep() from error
    except ValueError as error:  # JSONDecodeError, bad UTF-8, an over-long integer
        raise bad_input(f"the request body is not valid JSON: {error}") from error
    if not isinstance(body, dict):
        raise bad_input(f"the request body must be a JSON object, not {_json_type(body)}")
    if _deeper_than(MAX_DEPTH, body):
        raise _too_deep()
    check_clean_text(body, "the request body")
    return body


def _too_deep() -> AppError:
    return bad_input(f"the request body is nested more than {MAX_DEPTH} levels deep")


def _deeper_than(limit: int, value: object) -> bool:
    """Bounded: recursion stops at `limit`, whatever the interpreter's recursion limit is."""
    if isinstance(value, dict):
        children: Iterable[object] = value.values()
    elif isinstance(value, list):
        children = value
    else:
        return False
    return limit == 0 or any(_deeper_than(limit - 1, child) for child in children)


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def timestamp_header(request: Request) -> int:
    """RBT-TS: the signature's expiry, integer unix seconds."""
    text = request.headers.get("rbt-ts")
    if text is None:
        raise bad_input(
            "the RBT-TS header is required: the signature's expiry in unix seconds (the number "
            "you signed)"
        )
    if not _UNIX_SECONDS.fullmatch(text.strip()):
        raise bad_input(f"the RBT-TS header must be integer unix seconds, got {text!r}")
    return int(text)


def exchange_header(request: Request) -> str:
    """EID: the exchange id, `rbx` when absent (validated by the onboarding use case)."""
    return request.headers.get("eid", "").strip() or DEFAULT_EXCHANGE


def string_field(body: dict[str, Any], name: str, *, required: bool = True) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise bad_input(f"`{name}` is required")
        return None
    if not isinstance(value, str):
        raise bad_input(f"`{name}` must be a string, not {_json_type(value)}")
    return value


def is_client_flag(body: dict[str, Any]) -> bool:
    """`is_client`, also spelled `isClient` (keys matched ignoring case and underscores);
    absent means false, a market maker, as in the original."""
    values = [value for key, value in body.items() if key.replace("_", "").lower() == "isclient"]
    if not values:
        return False
    if not all(isinstance(value, bool) for value in values) or len(set(values)) > 1:
        raise bad_input("`is_client` (or `isClient`) must be one JSON boolean, true or false")
    return bool(values[0])


def object_field(body: dict[str, Any], name: str) -> None:
    """An optional object whose contents are not used (onboarding `meta`)."""
    value = body.get(name)
    if value is not None and not isinstance(value, dict):
        raise bad_input(f"`{name}` must be an object, not {_json_type(value)}")


def signed_call(
    request: Request, services: Services, route_path: str, body: dict[str, Any]
) -> SignedCall:
    """What an HMAC-signed call signs, with its RBT-TS and RBT-SIGNATURE."""
    return SignedCall(
        fields=signed_fields(body, request.method, route_path),
        timestamp=timestamp_header(request),
        signature=request.headers.get("rbt-signature"),
        client_ip=caller_address(request, services.settings.trusted_proxies),
    )


def api_key_header(request: Request) -> str | None:
    return request.headers.get("rbt-api-key") or None


def session_token(request: Request) -> str | None:
    """A client's access JWT: `Authorization: Bearer`, RBT-JWT or the `jwt` cookie."""
    return access_token(request)
