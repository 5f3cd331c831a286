"""The schema object: types, scalars, and the extensions every operation runs through."""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any

import strawberry
from graphql import GraphQLError, MiddlewareManager
from strawberry.extensions import SchemaExtension
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext
from strawberry.utils.await_maybe import await_maybe

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


Hook = Callable[[SchemaExtension], AbstractContextManager[None]]
PHASES = ("on_operation", "on_parse", "on_validate", "on_execute")


_HOOKS: dict[type[SchemaExtension], dict[str, Hook] | None] = {}


def _hooks(extension_class: type[SchemaExtension]) -> dict[str, Hook] | None:
    """The class's overridden phase hooks as context-manager factories, found once per class;
    None when one is not a plain generator (async hooks take strawberry's own runner)."""
    if extension_class in _HOOKS:
        return _HOOKS[extension_class]
    functions = {
        phase: function
        for phase in PHASES
        if (function := getattr(extension_class, phase)) is not getattr(SchemaExtension, phase)
    }
    plain = all(inspect.isgeneratorfunction(function) for function in functions.values())
    hooks = _HOOKS[extension_class] = (
        {phase: contextlib.contextmanager(function) for phase, function in functions.items()}
        if plain
        else None
    )
    return hooks


class _Phase:
    """One phase's hooks, entered in order and left in reverse, as strawberry's own context
    managers do, without inspecting every extension again or an async exit stack per phase.
    A phase with one hook (or none: most of them) calls it without a stack."""

    __slots__ = ("_managers", "_stack")

    def __init__(self, managers: list[AbstractContextManager[None]]) -> None:
        self._managers = managers
        self._stack = contextlib.ExitStack() if len(managers) > 1 else None

    def __enter__(self) -> None:
        stack = self._stack
        if stack is None:
            for manager in self._managers:
                manager.__enter__()
            return
        for manager in self._managers:
            stack.enter_context(manager)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        stack = self._stack
        if stack is not None:
            return stack.__exit__(kind, error, tb)
        return self._managers[0].__exit__(kind, error, tb) if self._managers else None

    async def __aenter__(self) -> None:
        self.__enter__()

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        return self.__exit__(kind, error, tb)


class _Runner(SchemaExtensionsRunner):
    """strawberry's runner for extensions whose hooks are all plain generators (ours)."""

    def __init__(self, execution_context: ExecutionContext, extensions: list[SchemaExtension]):
        super().__init__(execution_context, extensions)
        self._hooks = [(extension, _hooks(type(extension)) or {}) for extension in extensions]

    def _phase(self, phase: str) -> Any:
        return _Phase([hooks[phase](e) for e, hooks in self._hooks if phase in hooks])

    def operation(self) -> Any:
        return self._phase("on_operation")

    def parsing(self) -> Any:
        return self._phase("on_parse")

    def validation(self) -> Any:
        return self._phase("on_validate")

    def executing(self) -> Any:
        return self._phase("on_execute")

    async def get_extensions_results(self, ctx: ExecutionContext) -> dict[str, Any]:
        """strawberry's, without awaiting the `{}` of every extension that has no results."""
        data: dict[str, Any] = {}
        for extension in self.extensions:
            if type(extension).get_results is not SchemaExtension.get_results:
                data.update(await await_maybe(extension.get_results()))
        data.update(ctx.extensions_results)
        return data


_NO_MIDDLEWARE = MiddlewareManager()
"""Holds nothing, so one serves every request whose extensions have no `resolve` hook."""


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

    def create_extensions_runner(
        self, execution_context: ExecutionContext, extensions: list[SchemaExtension]
    ) -> SchemaExtensionsRunner:
        if all(_hooks(type(extension)) is not None for extension in extensions):
            return _Runner(execution_context, extensions)
        return super().create_extensions_runner(execution_context, extensions)

    def _get_middleware_manager(self, extensions: list[SchemaExtension]) -> MiddlewareManager:
        if any(extension._implements_resolve() for extension in extensions):
            return super()._get_middleware_manager(extensions)
        return _NO_MIDDLEWARE

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
