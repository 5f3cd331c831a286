"""The `/graphql` endpoint: strawberry's ASGI view with our context and a self-hosted GraphiQL."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL

from resolvers.context import Context
from resolvers.schema import Schema

from .explorer import explorer_page
from .services import services_of


def access_token(request: Request | WebSocket) -> str | None:
    """The caller's JWT: `Authorization: Bearer`, else the `RBT-JWT` header, else cookie `jwt`."""
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return request.headers.get("rbt-jwt") or request.cookies.get("jwt") or None


class GraphQLView(GraphQL[Context, None]):
    def __init__(self, schema: Schema) -> None:
        super().__init__(schema, graphql_ide="graphiql", allow_queries_via_get=True)

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        services = services_of(request)
        return Context(
            db=services.db,
            credentials=services.credentials,
            request_id=request.scope.get("state", {}).get("request_id", "-"),
            access_token=access_token(request),
        )

    async def render_graphql_ide(self, request: Request) -> Response:
        return HTMLResponse(explorer_page(request.url.path))
