"""The legacy REST routes (spec §4, §6) in the seed's envelope.

`POST /onboarding`, `POST /jwt`, `GET /account`, `GET /account/validate`, `GET /srvtimestamp`.
Each translates the request into the same use cases GraphQL calls (`models.onboarding.onboard`,
`models.sessions`, `models.signed_requests`) and writes the result with `legacy_shape`.

Every answer is an envelope. An `AppError` takes its HTTP status from its code (400 bad input,
401 authentication, 403 IP allow-list, 429 rate limits, 503 database), so any code added later
is served correctly; anything unexpected is logged and becomes a 500 envelope naming the
request id, never a stack trace.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import cache

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from models.db import unavailable_refusal
from models.enums import ProfileType
from models.errors import AppError, ErrorCode
from models.onboarding import OnboardRequest, onboard
from models.signed_requests import (
    authenticate_signed,
    open_market_maker_session,
    renew_client_session,
    validate_access_token,
)
from models.tables import Profile
from resolvers.errors import log_refusal

from .client_ip import caller_address, caller_ip
from .legacy_input import (
    api_key_header,
    exchange_header,
    is_client_flag,
    json_object,
    object_field,
    session_token,
    signed_call,
    string_field,
    timestamp_header,
)
from .legacy_shape import (
    client_jwt_item,
    envelope,
    market_maker_jwt_item,
    onboarding_item,
    profile_json,
    render,
    validation_item,
)
from .metrics import record_onboard_outcome
from .openapi import openapi_document
from .services import Services, services_of
from .settings import LegacyDecimals, SameSite, Settings

log = logging.getLogger("onboarding.legacy")


@dataclass(frozen=True, slots=True)
class Reply:
    result: list[object]
    jwt_cookie: str | None = None
    """A client's access JWT, also set as the `jwt` cookie."""


Handler = Callable[[Request, Services], Awaitable[Reply]]
ANY_METHOD = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def envelope_response(
    result: list[object], decimals: LegacyDecimals, *, error: str = "", status: int = 200
) -> Response:
    return Response(
        render(envelope(result, error), decimals), status_code=status, media_type="application/json"
    )


def error_response(error: AppError, decimals: LegacyDecimals) -> Response:
    """Any refusal, whatever its code: the status comes from the code, the text starts with it.
    A retryable refusal (429 rate limit, 503 chain unavailable) also says in `Retry-After` when
    to come back."""
    response = envelope_response(
        [], decimals, error=error.legacy_text, status=error.code.http_status
    )
    if error.retry_after is not None:
        response.headers["Retry-After"] = str(error.retry_after)
    return response


def _unexpected(request: Request, error: Exception) -> AppError:
    if (refusal := unavailable_refusal(error)) is not None:
        return refusal
    request_id = request.scope.get("state", {}).get("request_id", "-")
    log.error("unexpected error on %s (request %s)", request.url.path, request_id, exc_info=error)
    return AppError(
        ErrorCode.INTERNAL_SERVER_ERROR, f"Internal server error (request id {request_id})"
    )


_UNQUOTED_COOKIE_VALUE = re.compile(r"[A-Za-z0-9._-]+")
"""Characters `http.cookies` writes as they are (a JWT has no others)."""


def set_jwt_cookie(response: Response, token: str, settings: Settings) -> None:
    """The `jwt` cookie, exactly as Starlette's `set_cookie` writes it, with its attributes
    written once per setting rather than through `http.cookies` on every response."""
    attributes = _jwt_cookie_attributes(settings.access_token_ttl, settings.cookie_samesite)
    if _UNQUOTED_COOKIE_VALUE.fullmatch(token) is None:
        _set_jwt_cookie(response, token, settings.access_token_ttl, settings.cookie_samesite)
        return
    response.raw_headers.append((b"set-cookie", b"jwt=" + token.encode() + attributes))


def _set_jwt_cookie(response: Response, token: str, max_age: int, samesite: SameSite) -> None:
    response.set_cookie(
        "jwt", token, max_age=max_age, path="/", secure=True, httponly=True, samesite=samesite
    )


@cache
def _jwt_cookie_attributes(max_age: int, samesite: SameSite) -> bytes:
    """What follows `jwt=<token>` in the header, taken from Starlette's own writing of it."""
    probe = Response()
    _set_jwt_cookie(probe, "x", max_age, samesite)
    header = next(value for name, value in probe.raw_headers if name == b"set-cookie")
    assert header.startswith(b"jwt=x")
    return header.removeprefix(b"jwt=x")


def legacy_route(path: str, method: str, handler: Handler) -> Route:
    allowed = {method, "HEAD"} if method == "GET" else {method}

    async def endpoint(request: Request) -> Response:
        # Read the body first, outside the catch-all: an oversized one must reach the app's 413.
        await request.body()
        services = services_of(request)
        decimals = services.settings.legacy_decimals
        client_ip = caller_ip(request, services.settings.trusted_proxies)
        if request.method not in allowed:
            wrong = AppError(ErrorCode.METHOD_NOT_ALLOWED, f"use {method} {path}")
            log_refusal(path, (wrong.code,), client_ip)
            response = error_response(wrong, decimals)
            response.headers["Allow"] = ", ".join(sorted(allowed))
            return response
        try:
            reply = await handler(request, services)
        except AppError as error:
            log_refusal(path, (error.code,), client_ip)
            return error_response(error, decimals)
        except Exception as error:
            return error_response(_unexpected(request, error), decimals)
        response = envelope_response(reply.result, decimals)
        if reply.jwt_cookie is not None:
            set_jwt_cookie(response, reply.jwt_cookie, services.settings)
        return response

    # Every method reaches the endpoint, so a wrong one gets a 405 envelope, not plain text.
    return Route(path, endpoint, methods=ANY_METHOD)


async def onboarding(request: Request, services: Services) -> Reply:
    """Counted like the GraphQL mutation: by the code the client saw."""
    try:
        reply = await _onboarding(request, services)
    except AppError as refused:
        record_onboard_outcome(refused.code.value)
        raise
    record_onboard_outcome("OK")
    return reply


async def _onboarding(request: Request, services: Services) -> Reply:
    body = await json_object(request)
    object_field(body, "meta")
    profile_type = string_field(body, "profile_type", required=False) or ProfileType.TRADER
    wanted = OnboardRequest(
        wallet=string_field(body, "wallet"),
        signature=string_field(body, "signature"),
        timestamp=timestamp_header(request),
        is_client=is_client_flag(body),
        exchange_id=exchange_header(request),
        profile_type=profile_type.lower(),
        client_ip=caller_ip(request, services.settings.trusted_proxies),
    )
    onboarded = await onboard(services.db, services.credentials, wanted, services.chains)
    profile = await profile_json(
        services.db, services.settings, onboarded.profile, created=onboarded.created
    )
    return Reply(
        [onboarding_item(onboarded, profile)],
        jwt_cookie=onboarded.jwt if wanted.is_client else None,
    )


async def renew_jwt(request: Request, services: Services) -> Reply:
    body = await json_object(request)
    call = signed_call(request, services, "/jwt", body)
    if is_client_flag(body):
        refresh_token = string_field(body, "refresh_token")
        assert refresh_token is not None
        _, tokens = await renew_client_session(
            services.db, services.credentials, refresh_token, call
        )
        return Reply([client_jwt_item(tokens)], jwt_cookie=tokens.jwt)
    api_key = api_key_header(request)
    if api_key is None:
        raise AppError(
            ErrorCode.NOT_AUTHENTICATED,
            "market makers renew their JWT with RBT-API-KEY and an HMAC signed with the API "
            "secret; clients send is_client: true and their refresh_token",
        )
    jwt = await open_market_maker_session(services.db, services.credentials, call, api_key)
    return Reply([market_maker_jwt_item(jwt)])


async def account(request: Request, services: Services) -> Reply:
    caller = await authenticate_signed(
        services.db,
        services.credentials,
        signed_call(request, services, "/account", {}),
        api_key=api_key_header(request),
        access_token=session_token(request),
    )
    async with services.db.read() as session:
        profile = await session.get(Profile, caller.profile_id)
    assert profile is not None  # sessions and keys reference profiles; profiles are never deleted
    return Reply([await profile_json(services.db, services.settings, profile)])


async def validate(request: Request, services: Services) -> Reply:
    token = request.query_params.get("jwt") or request.headers.get("rbt-jwt")
    address = caller_address(request, services.settings.trusted_proxies)
    claims = await validate_access_token(services.db, services.credentials, token, address)
    return Reply([validation_item(claims.profile_id, claims.expires_at)])


async def server_time(_: Request, __: Services) -> Reply:
    return Reply([int(time.time())])


async def openapi_json(request: Request) -> JSONResponse:
    return JSONResponse(openapi_document(services_of(request).settings.legacy_decimals))


def legacy_routes() -> list[Route]:
    return [
        legacy_route("/onboarding", "POST", onboarding),
        legacy_route("/jwt", "POST", renew_jwt),
        legacy_route("/account", "GET", account),
        legacy_route("/account/validate", "GET", validate),
        legacy_route("/srvtimestamp", "GET", server_time),
        Route("/openapi.json", openapi_json, methods=["GET"]),
    ]
