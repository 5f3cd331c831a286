"""The `/graphql` endpoint: strawberry's ASGI view with our context and a self-hosted GraphiQL."""

from __future__ import annotations

import hmac

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL

from resolvers.context import Context
from resolvers.schema import Schema

from .explorer import explorer_page
from .services import services_of


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


class GraphQLView(GraphQL[Context, None]):
    def __init__(self, schema: Schema) -> None:
        super().__init__(schema, graphql_ide="graphiql", allow_queries_via_get=True)

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
        )

    async def render_graphql_ide(self, request: Request) -> Response:
        return HTMLResponse(explorer_page(request.url.path))
