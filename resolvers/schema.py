"""The schema object: types, scalars, and the extensions every operation runs through."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from .admin import AdminMutation, AdminQuery
from .api_keys import ApiKeyMutation
from .arguments import CheckedExecutor
from .errors import ErrorShaping
from .fields import resolve_directly
from .limits import DocumentCache, GraphQLLimits
from .mutations import OnboardingMutation
from .notifications import NotificationMutation
from .queries import ExchangeQuery
from .scalars import SCALAR_MAP
from .sessions import SessionMutation, SessionQuery


class Operations(ErrorShaping):
    """Error shaping, and parse and validation from the schema's `DocumentCache`: one extension
    with three hooks where strawberry's stock ones (`MaxTokensLimiter`, `ParserCache`,
    `ValidationCache`, `AddValidationRules`) each add their own per phase.

    A document that does not parse is left to strawberry's own parse step (with the token limit
    as its parse option): raising from the hook would skip error shaping, and the error would
    reach the client without a code. Invalid documents are simply parsed twice.
    """

    def _cache(self) -> DocumentCache:
        schema = self.execution_context.schema
        assert isinstance(schema, Schema)
        return schema.documents

    def on_parse(self) -> Iterator[None]:
        context, cache = self.execution_context, self._cache()
        context.parse_options["max_tokens"] = cache.max_tokens
        if context.query is not None:
            context.graphql_document = cache.parse(context.query)
        yield

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        assert context.query is not None
        assert context.graphql_document is not None
        context.pre_execution_errors = self._cache().validate(
            context.query, context.graphql_document
        )
        yield
        self._validated = not context.pre_execution_errors


@strawberry.type
class Query(ExchangeQuery, SessionQuery, AdminQuery):
    pass


@strawberry.type
class Mutation(
    OnboardingMutation, SessionMutation, ApiKeyMutation, NotificationMutation, AdminMutation
):
    pass


class Schema(strawberry.Schema):
    """strawberry's schema with its `DocumentCache`, and its direct fields pointed at their
    resolvers (`resolvers.fields`)."""

    def __init__(self, *args: Any, limits: GraphQLLimits | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.documents = DocumentCache(self._schema, limits or GraphQLLimits())
        resolve_directly(self)

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """No-op: `ErrorShaping` logs what deserves logging (unexpected errors only)."""


def build_schema(
    limits: GraphQLLimits | None = None,
    *,
    extensions: tuple[Any, ...] = (),
    observers: tuple[Any, ...] = (),
) -> Schema:
    """The schema with `limits` (defaults: `GraphQLLimits()`); its SDL does not depend on them.

    Extensions are factories, so each request gets fresh instances; the limit rules are built
    once per schema, so its `DocumentCache` keys validation by the document text alone.
    `observers` wrap every other extension, so they see the final result with its error codes
    (metrics); `extensions` run inside error shaping.
    """
    limits = limits or GraphQLLimits()
    hide_suggestions = not limits.field_suggestions
    return Schema(
        query=Query,
        mutation=Mutation,
        config=StrawberryConfig(
            sort_schema=True, scalar_map=SCALAR_MAP, disable_field_suggestions=hide_suggestions
        ),
        execution_context_class=CheckedExecutor,
        extensions=[
            *observers,
            lambda: Operations(hide_suggestions=hide_suggestions),
            *extensions,
        ],
        limits=limits,
    )


schema = build_schema()
