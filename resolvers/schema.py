"""The schema object: types, scalars, and the extensions every operation runs through."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    AddValidationRules,
    MaxTokensLimiter,
    ParserCache,
    ValidationCache,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from .admin import AdminMutation, AdminQuery
from .api_keys import ApiKeyMutation
from .arguments import CheckedExecutor
from .errors import ErrorShaping
from .limits import GraphQLLimits, validation_rules
from .mutations import OnboardingMutation
from .notifications import NotificationMutation
from .queries import ExchangeQuery
from .scalars import SCALAR_MAP
from .sessions import SessionMutation, SessionQuery


class ReportingParserCache(ParserCache):
    """ParserCache that leaves a syntax error to strawberry's own parse step.

    The stock extension raises from its hook, outside the path that builds the result, so the
    error would skip `ErrorShaping` and reach the client without a code. Invalid documents are
    simply parsed twice.
    """

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        with contextlib.suppress(GraphQLError):
            context.graphql_document = self.cached_parse_document(
                context.query, **context.parse_options
            )
        yield


@strawberry.type
class Query(ExchangeQuery, SessionQuery, AdminQuery):
    pass


@strawberry.type
class Mutation(
    OnboardingMutation, SessionMutation, ApiKeyMutation, NotificationMutation, AdminMutation
):
    pass


class Schema(strawberry.Schema):
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
    here once and shared, which keeps the validation cache hitting. `observers` wrap every other
    extension, so they see the final result with its error codes (metrics); `extensions` run
    inside error shaping.
    """
    limits = limits or GraphQLLimits()
    rules = list(validation_rules(limits))
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
            lambda: ErrorShaping(hide_suggestions=hide_suggestions),
            lambda: MaxTokensLimiter(max_token_count=limits.max_tokens),
            lambda: ReportingParserCache(maxsize=limits.cache_size),
            lambda: ValidationCache(maxsize=limits.cache_size),
            lambda: AddValidationRules(rules),
            *extensions,
        ],
    )


schema = build_schema()
