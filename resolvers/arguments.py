"""Argument values are checked before anything executes, so a refused document writes nothing.

`onboard { profile { orderHistory(first: 101) } }` used to commit the onboarding and then fail
in the nested resolver; the retry with the same signature was a replay. Now every argument that
declares a check (`checked(...)`, kept in the argument's metadata) is checked up front:

- literal values by `ArgumentValues`, a validation rule (so the verdict is cached with the
  document's validation and costs nothing on the next request);
- variable values by `CheckedExecutor.build`, after graphql-core coerced the variables and before
  the first resolver runs. Which arguments take which variables is worked out once per document.

Text follows the same split (`models.text`): string literals are checked by `ArgumentValues`,
every string in the variables by `CheckedExecutor` (graphql-core's lexer already refuses lone
surrogates in literals). Either refusal is a request error: no `data`, code BAD_USER_INPUT.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import strawberry
from graphql import (
    ArgumentNode,
    DocumentNode,
    GraphQLArgument,
    GraphQLError,
    GraphQLField,
    GraphQLSchema,
    Node,
    OperationDefinitionNode,
    StringValueNode,
    TypeInfo,
    TypeInfoVisitor,
    ValidationContext,
    ValidationRule,
    Visitor,
    value_from_ast,
    visit,
)
from graphql.execution.executor import Executor
from graphql.pyutils import Undefined
from strawberry.types.arguments import StrawberryArgumentAnnotation

from models.errors import AppError, bad_input
from models.pagination import MAX_PAGE_SIZE, page_size
from models.text import bad_text, text_problem

from .execution import LeafExecutor, has_variables

CHECK = "onboarding.check"
"""Argument metadata: a function of the argument's value that raises `AppError` to refuse it."""
MOST = "onboarding.most"
"""Argument metadata: the largest value a page size may take (what a variable counts as)."""
MAX_ITEMS = "onboarding.max_items"
"""Field metadata: the most entries a capped (unpaged) list returns."""
Check = Callable[[Any], object]


def checked(check: Check, *, most: int | None = None) -> StrawberryArgumentAnnotation:
    """`Annotated[T, checked(f)]`: `f(value)` runs before execution (see the module docstring)."""
    metadata: dict[str, object] = {CHECK: check}
    if most is not None:
        metadata[MOST] = most
    return strawberry.argument(metadata=metadata)


PAGE_SIZE = checked(page_size, most=MAX_PAGE_SIZE)
"""The `first` of every page: 0 to `MAX_PAGE_SIZE`."""


def optional(check: Check) -> Check:
    """`check`, letting an explicit null through (the argument's own default then applies)."""
    return lambda value: None if value is None else check(value)


def _metadata(element: GraphQLArgument | GraphQLField | None) -> dict[Any, Any]:
    definition = element.extensions.get("strawberry-definition") if element else None
    return getattr(definition, "metadata", None) or {}


def field_max_items(field: GraphQLField) -> int | None:
    most: int | None = _metadata(field).get(MAX_ITEMS)
    return most


def argument_check(argument: GraphQLArgument | None) -> Check | None:
    check: Check | None = _metadata(argument).get(CHECK)
    return check


def argument_most(argument: GraphQLArgument | None) -> int | None:
    most: int | None = _metadata(argument).get(MOST)
    return most


def _refusal(node: Node, error: AppError) -> GraphQLError:
    return GraphQLError(error.message, node, original_error=error)


def _checked_value(
    node: ArgumentNode, argument: GraphQLArgument, check: Check, variables: dict[str, Any] | None
) -> GraphQLError | None:
    value = value_from_ast(node.value, argument.type, variables)
    if value is Undefined:  # a wrong type (other rules say so) or an absent variable
        return None
    try:
        check(value)
    except AppError as error:
        return _refusal(node, error)
    return None


class ArgumentValues(ValidationRule):
    """Literal argument values against their declared checks; string literals against the
    text rule. Stateless: one class for every request, so the validation cache keeps hitting."""

    def enter_argument(self, node: ArgumentNode, *_: Any) -> None:
        argument = self.context.get_argument()
        check = argument_check(argument)
        if check is None or argument is None or has_variables(node.value):
            return
        error = _checked_value(node, argument, check, None)
        if error is not None:
            self.report_error(error)

    def enter_string_value(self, node: StringValueNode, *_: Any) -> None:
        problem = text_problem(node.value)
        if problem is not None:
            self.report_error(_refusal(node, bad_input(f"a string {problem}")))


Usage = tuple[ArgumentNode, GraphQLArgument, Check]


class _Usages(Visitor):
    """Checked arguments whose value holds a variable, in one operation and its fragments."""

    def __init__(self, type_info: TypeInfo) -> None:
        super().__init__()
        self.type_info = type_info
        self.found: list[Usage] = []

    def enter_argument(self, node: ArgumentNode, *_: Any) -> None:
        argument = self.type_info.get_argument()
        check = argument_check(argument)
        if check is not None and argument is not None and has_variables(node.value):
            self.found.append((node, argument, check))


def variable_usages(
    schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode
) -> list[Usage]:
    type_info = TypeInfo(schema)
    context = ValidationContext(schema, document, type_info, lambda _: None)
    usages = _Usages(type_info)
    for definition in (operation, *context.get_recursively_referenced_fragments(operation)):
        visit(definition, TypeInfoVisitor(type_info, usages))
    return usages.found


class _UsageCache:
    """`variable_usages` per (document, operation), for the documents the parser cache keeps
    (the same objects come back for the same text); bounded like it."""

    def __init__(self, size: int = 256) -> None:
        self._size = size
        self._entries: OrderedDict[tuple[int, int], tuple[Node, list[Usage]]] = OrderedDict()

    def get(
        self, schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode
    ) -> list[Usage]:
        key = (id(document), id(operation))
        entry = self._entries.get(key)
        if entry is not None and entry[0] is operation:
            self._entries.move_to_end(key)
            return entry[1]
        usages = variable_usages(schema, document, operation)
        self._entries[key] = (operation, usages)
        if len(self._entries) > self._size:
            self._entries.popitem(last=False)
        return usages


_USAGES = _UsageCache()


def variable_errors(usages: Sequence[Usage], coerced: dict[str, Any]) -> list[GraphQLError]:
    errors = []
    for node, argument, check in usages:
        error = _checked_value(node, argument, check, coerced)
        if error is not None:
            errors.append(error)
    return errors


class CheckedExecutor(LeafExecutor):
    """The schema's executor: refuses bad variable values before the first resolver runs, and
    completes basic leaf fields inline (`resolvers.execution`)."""

    @classmethod
    def build(
        cls,
        schema: GraphQLSchema,
        document: DocumentNode,
        root_value: Any = None,
        context_value: Any = None,
        raw_variable_values: dict[str, Any] | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> list[GraphQLError] | Executor[Any]:
        for name, value in (raw_variable_values or {}).items():
            refusal = bad_text(name, "a variable name") or bad_text(value, f"variable ${name}")
            if refusal is not None:
                return [GraphQLError(refusal.message, original_error=refusal)]
        built = super().build(
            schema, document, root_value, context_value, raw_variable_values, *args, **kwargs
        )
        if isinstance(built, list) or not built.operation.variable_definitions:
            return built
        usages = _USAGES.get(schema, document, built.operation)
        if not usages:
            return built
        errors = variable_errors(usages, built.variable_values.coerced)
        return errors or built
