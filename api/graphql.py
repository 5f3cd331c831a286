"""The `/graphql` endpoint: strawberry's ASGI view, held to the GraphQL-over-HTTP specification.

- Media types: the response is `application/graphql-response+json` or `application/json`, the one
  the `Accept` header prefers (no header or `*/*`: `application/json`); neither acceptable → 406.
- A request error (the document does not parse or validate, variables do not coerce) has no
  `data` entry; with `application/graphql-response+json` it is HTTP 400, with `application/json`
  HTTP 200 as the specification asks for legacy clients.
- POST bodies must be `application/json` (UTF-8) → else 415; the body must be a JSON object →
  else 400 (batching is off). Mutations over GET → 405 with `Allow: POST`.
- Every refusal the view makes itself is a GraphQL-shaped JSON body with `extensions.code`.
- A RATE_LIMITED error makes the response HTTP 429; any error with `extensions.retryAfter`
  (rate limits, CHAIN_UNAVAILABLE) sets `Retry-After`.
"""

from __future__ import annotations

import functools
import hmac
import json
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from cross_web import AsyncHTTPRequestAdapter, HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.http.parse_content_type import parse_content_type
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.types import ExecutionResult

from models.errors import ErrorCode
from resolvers.context import Context
from resolvers.errors import log_refusal
from resolvers.limits import GraphQLLimits
from resolvers.schema import Schema, build_schema

from .client_ip import caller_ip
from .explorer import explorer_page
from .services import services_of
from .settings import Settings

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
JSON = "application/json"
_STATUS_CODES = {
    400: ErrorCode.BAD_REQUEST,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    406: ErrorCode.NOT_ACCEPTABLE,
    415: ErrorCode.UNSUPPORTED_MEDIA_TYPE,
}


def graphql_limits(settings: Settings) -> GraphQLLimits:
    return GraphQLLimits(
        max_depth=settings.graphql_max_depth,
        max_aliases=settings.graphql_max_aliases,
        max_tokens=settings.graphql_max_tokens,
        max_directives=settings.graphql_max_directives,
        max_list_items=settings.graphql_max_list_items,
        introspection=settings.in_dev_unless(settings.graphql_introspection),
        field_suggestions=settings.in_dev_unless(settings.graphql_field_suggestions),
        cache_size=settings.graphql_cache_size,
    )


def bearer_token(request: Request | WebSocket) -> str | None:
    """The token of `Authorization: Bearer <token>`."""
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return None


def access_token(request: Request | WebSocket) -> str | None:
    """The caller's JWT: `Authorization: Bearer`, else the `RBT-JWT` header, else cookie `jwt`."""
    return (
        bearer_token(request)
        or request.headers.get("rbt-jwt")
        or request.cookies.get("jwt")
        or None
    )


def is_admin(token: str | None, admin_token: str | None) -> bool:
    """Constant-time match of the bearer token against the configured admin token.

    Checked before any JWT verification; only the Authorization header may carry it.
    """
    if token is None or admin_token is None:
        return False
    return hmac.compare_digest(token.encode(), admin_token.encode())


@functools.lru_cache(maxsize=64)
def negotiate(accept: str | None) -> str | None:
    """The media type to answer with, or None when `accept` allows neither of ours.

    Highest q wins; at equal q a named type beats a wildcard, and the GraphQL type beats JSON.
    Remembered by header value (bounded, as `is_json_utf8`): clients send the same few.
    """
    if accept is None or not accept.strip():
        return JSON
    best: tuple[float, int, int] = (0.0, 0, 0)
    chosen: str | None = None
    for entry in accept.split(","):
        media_range, *params = (part.strip().lower() for part in entry.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    quality = min(max(float(value), 0.0), 1.0)
                except ValueError:
                    quality = 0.0
        if media_range == GRAPHQL_RESPONSE_JSON:
            candidate, score = GRAPHQL_RESPONSE_JSON, (quality, 1, 1)
        elif media_range == JSON:
            candidate, score = JSON, (quality, 1, 0)
        elif media_range in ("*/*", "application/*"):
            candidate, score = JSON, (quality, 0, 0)
        else:
            continue
        if quality > 0 and score > best:
            best, chosen = score, candidate
    return chosen


def _retry_after(errors: Sequence[Any]) -> int | None:
    """Seconds to wait when any error is retryable (the longest wait wins)."""
    waits = [
        int(wait)
        for error in errors
        if isinstance(error, Mapping)
        and isinstance(wait := error.get("extensions", {}).get("retryAfter"), int)
    ]
    return max(waits) if waits else None


def _rate_limited(errors: Sequence[Any]) -> bool:
    return any(
        isinstance(error, Mapping)
        and error.get("extensions", {}).get("code") == ErrorCode.RATE_LIMITED
        for error in errors
    )


@functools.lru_cache(maxsize=64)
def is_json_utf8(content_type: str) -> bool:
    """`application/json` with no charset or a UTF-8 one, by strawberry's own parser; remembered
    by header value (bounded: a client can send any text), since parsing one with
    `email.message` costs more than the rest of the body's checks."""
    media_type, params = parse_content_type(content_type)
    return media_type == JSON and params.get("charset", "utf-8").lower() in ("utf-8", "utf8")


def _check_operation_name(name: object) -> None:
    if not isinstance(name, str | None):
        raise HTTPException(400, "operationName must be a string or null")


class GraphQLView(GraphQL[Context, None]):
    def __init__(self, schema: Schema, *, graphiql: bool = True) -> None:
        super().__init__(
            schema,
            graphql_ide="graphiql" if graphiql else None,
            allow_queries_via_get=True,
            subscription_protocols=(),
        )
        # What `_run_http` leaves out of strawberry's `run` must stay off.
        assert not self._stream_transport_map
        assert not schema.config.enable_experimental_incremental_execution

    @classmethod
    def from_settings(cls, settings: Settings, *, observers: tuple[Any, ...] = ()) -> GraphQLView:
        return cls(
            build_schema(graphql_limits(settings), observers=observers),
            graphiql=settings.in_dev_unless(settings.graphiql),
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope, receive)
        try:
            response = await self._run_http(request)
        except HTTPException as error:
            response = self._refusal(request, error.status_code, error.reason)
        await response(scope, receive, send)

    async def _run_http(self, request: Request) -> Response:
        """strawberry's `run` for an HTTP request: the same steps in the same order, without
        the branches this view has switched off (WebSockets, streaming transports, incremental
        delivery, batches, which `parse_http_body` refuses; the root value, always None), whose
        checks (one an `isinstance` against a `Protocol`) cost as much as some of the steps."""
        request_adapter = self.request_adapter_class(request)
        sub_response = await self.get_sub_response(request)
        context = await self.get_context(request, response=sub_response)
        if not self.is_request_allowed(request_adapter):
            raise HTTPException(405, "GraphQL only supports GET and POST requests.")
        if self.should_render_graphql_ide(request_adapter):
            if self.graphql_ide:
                return await self.render_graphql_ide(request)
            raise HTTPException(404, "Not Found")
        try:
            request_data = await self.parse_http_body(request_adapter)
        except json.JSONDecodeError as error:
            raise HTTPException(400, "Unable to parse request body as JSON") from error
        except KeyError as error:
            raise HTTPException(400, "File(s) missing in form data") from error
        if not isinstance(request_data, GraphQLRequestData):
            raise HTTPException(400, "Batching is not enabled")
        result = await self.execute_single(
            request, request_adapter, sub_response, context, None, request_data
        )
        response_data = await self.process_result(request, result)
        if result.errors:
            self._handle_errors(result.errors, response_data)
        return self.create_response(response_data, sub_response)

    def _refusal(self, request: Request, status: int, reason: str) -> Response:
        """A refusal of the HTTP request itself, still as a GraphQL response with a code."""
        code = _STATUS_CODES.get(status, ErrorCode.BAD_REQUEST)
        log_refusal(
            "/graphql", (code,), caller_ip(request, services_of(request).settings.trusted_proxies)
        )
        media_type = negotiate(request.headers.get("accept")) or JSON
        response = Response(
            self.encode_json({"errors": [{"message": reason, "extensions": {"code": code}}]}),
            status_code=status,
            media_type=f"{media_type}; charset=utf-8",
        )
        if status == 405:
            response.headers["Allow"] = "POST" if request.method == "GET" else "GET, POST"
        return response

    async def get_sub_response(self, request: Request | WebSocket) -> Response:
        """Carries the negotiated media type to `create_response`; 406 before any work is done.

        strawberry's own is an empty `Response` without a status and with its Content-Length
        deleted; a 204 is made without one, so there is nothing to delete."""
        sub_response = Response(status_code=204)
        sub_response.status_code = None  # type: ignore[assignment]
        media_type = negotiate(request.headers.get("accept"))
        if media_type is None and not (
            isinstance(request, Request)
            and self.should_render_graphql_ide(self.request_adapter_class(request))
        ):
            raise HTTPException(
                406, f"accept {GRAPHQL_RESPONSE_JSON} or {JSON}; this endpoint answers nothing else"
            )
        sub_response.media_type = media_type or JSON
        return sub_response

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        services = services_of(request)
        admin_token = services.settings.admin_token_value
        admin = is_admin(bearer_token(request), admin_token)
        return Context(
            db=services.db,
            credentials=services.credentials,
            request_id=request.scope.get("state", {}).get("request_id", "-"),
            access_token=None if admin else access_token(request),
            admin=admin,
            admin_enabled=admin_token is not None,
            client_ip=caller_ip(request, services.settings.trusted_proxies),
            chains=services.chains,
        )

    def parse_json(self, data: str | bytes) -> Any:
        """Any undecodable body is a 400: bad UTF-8, nesting deeper than Python recurses, or
        integers longer than Python converts all raise, and none of them may become a 500."""
        try:
            parsed = json.loads(data)
        except (ValueError, RecursionError) as error:
            raise HTTPException(400, "the body is not valid JSON (UTF-8)") from error
        if not isinstance(parsed, dict | list):
            raise HTTPException(400, "the body must be a JSON object")
        return parsed

    def encode_json(self, data: object) -> bytes:
        """orjson: the same JSON as `json.dumps` (non-ASCII text as UTF-8, not escaped), in a
        fraction of the time. What it refuses (an integer beyond 64 bits) goes to `json`."""
        try:
            return orjson.dumps(data)
        except TypeError:
            return json.dumps(data, separators=(",", ":")).encode()

    async def parse_http_body(
        self, request: AsyncHTTPRequestAdapter
    ) -> GraphQLRequestData | list[GraphQLRequestData]:
        """POST: one JSON object (UTF-8) with strawberry's checks, read without its general
        machinery (multipart, streaming transports and batching are all off here)."""
        if request.method != "POST":
            parsed = await super().parse_http_body(request)
            if isinstance(parsed, GraphQLRequestData):
                _check_operation_name(parsed.operation_name)
            return parsed
        if not is_json_utf8(request.content_type or ""):
            raise HTTPException(415, f"send the request body as {JSON} (UTF-8)")
        data = self.parse_json(await request.get_body())
        if not isinstance(data, dict):
            raise HTTPException(400, "Batching is not enabled")
        query, variables = data.get("query"), data.get("variables")
        extensions, operation_name = data.get("extensions"), data.get("operationName")
        for name, value, kinds in (
            ("query", query, (str, type(None))),
            ("variables", variables, (dict, type(None))),
            ("extensions", extensions, (dict, type(None))),
        ):
            if not isinstance(value, kinds):
                kind = "a string" if name == "query" else "an object"
                raise HTTPException(
                    400, f"The GraphQL operation's `{name}` must be {kind} or null, if provided."
                )
        _check_operation_name(operation_name)
        return GraphQLRequestData(
            query=query,
            variables=variables,
            operation_name=operation_name,
            extensions=extensions,
            protocol="http",
        )

    async def execute_single(
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        sub_response: Response,
        context: Context,
        root_value: None,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        try:
            return await super().execute_single(
                request, request_adapter, sub_response, context, root_value, request_data
            )
        except HTTPException as error:
            if request_adapter.method == "GET" and isinstance(
                error.__cause__, InvalidOperationTypeError
            ):
                raise HTTPException(405, "mutations need POST") from error
            raise

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        """A request error (nothing executed: every error lacks a path) has no `data` entry."""
        response = await super().process_result(request, result)
        if result.data is None and result.errors and all(e.path is None for e in result.errors):
            del response["data"]
        return response

    def create_response(
        self,
        response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse],
        sub_response: Response,
    ) -> Response:
        """strawberry's response (the sub-response's headers, status and background kept), its
        headers written once: the negotiated type, `Vary`, and what the errors ask for."""
        media_type = sub_response.media_type or JSON
        status = sub_response.status_code or 200
        headers = {"content-type": f"{media_type}; charset=utf-8", "vary": "Accept"}
        if isinstance(response_data, dict):
            errors = response_data.get("errors") or ()
            wait = _retry_after(errors)
            if wait is not None:
                headers["retry-after"] = str(wait)
            if _rate_limited(errors):
                status = 429
            elif "data" not in response_data and media_type == GRAPHQL_RESPONSE_JSON:
                status = 400
        response = Response(self.encode_json(response_data), status_code=status, headers=headers)
        response.raw_headers.extend(sub_response.raw_headers)
        if sub_response.background:
            response.background = sub_response.background
        return response

    async def render_graphql_ide(self, request: Request) -> Response:
        return HTMLResponse(explorer_page(request.url.path))
