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
from typing import Any, Literal, NamedTuple

import strawberry
from graphql import (
    ArgumentNode,
    DocumentNode,
    FragmentDefinitionNode,
    GraphQLArgument,
    GraphQLError,
    GraphQLField,
    GraphQLFieldResolver,
    GraphQLInputType,
    GraphQLSchema,
    GraphQLTypeResolver,
    Node,
    OperationDefinitionNode,
    StringValueNode,
    TypeInfo,
    TypeInfoVisitor,
    ValidationContext,
    ValidationRule,
    Visitor,
    assert_valid_schema,
    default_field_resolver,
    default_type_resolver,
    is_input_object_type,
    is_leaf_type,
    is_list_type,
    is_non_null_type,
    is_required_input_field,
    value_from_ast,
    visit,
)
from graphql.execution import MiddlewareManager
from graphql.execution.collect_fields import FragmentDetails
from graphql.execution.executor import ExecutionHooks, Executor
from graphql.execution.get_variable_signature import (
    GraphQLVariableSignature,
    get_variable_signature,
)
from graphql.execution.values import VariableValues, VariableValueSource
from graphql.pyutils import AbortSignal, Undefined
from graphql.utilities.coerce_input_value import coerce_default_value
from strawberry.types.arguments import StrawberryArgumentAnnotation

from models.errors import AppError, bad_input
from models.pagination import MAX_PAGE_SIZE, page_size
from models.text import bad_text, text_problem

from .execution import Kept, LeafExecutor, has_variables

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


class _Fallback(Exception):
    """A value `_coercer`'s functions leave to graphql-core (which then reports the error)."""


Coerce = Callable[[Any], Any]
_REQUIRED: Any = object()
"""An input field without a default that must be given."""
_MOST_NESTED = 20
"""Input object types nested deeper than this (or recursive ones) take graphql-core's path."""


def _coercer(type_: GraphQLInputType, depth: int = 0) -> Coerce | None:
    """`coerce_input_value(value, type_)` as a function built once per type, for non-null,
    list, leaf and input object types (not oneOf): the same result for every value it
    accepts, `_Fallback` for any other (a null where none may be, a field that is unknown or
    missing without a default, a leaf that does not coerce, a single value for a list). None
    for a type it cannot do."""
    if depth > _MOST_NESTED:
        return None
    if is_non_null_type(type_):
        inner = _coercer(type_.of_type, depth)
        if inner is None:
            return None

        def non_null(value: Any) -> Any:
            if value is None:
                raise _Fallback
            return inner(value)

        return non_null
    if is_list_type(type_):
        item = _coercer(type_.of_type, depth + 1)
        if item is None:
            return None

        def listed(value: Any) -> Any:
            if value is None:
                return None
            if type(value) is not list:  # graphql-core lists a single value: its path
                raise _Fallback
            return [item(entry) for entry in value]

        return listed
    if is_leaf_type(type_):
        coerce = type_.coerce_input_value

        def leaf(value: Any) -> Any:
            if value is None:
                return None
            try:
                coerced = coerce(value)
            except Exception as error:
                raise _Fallback from error
            if coerced is Undefined:
                raise _Fallback
            return coerced

        return leaf
    if not is_input_object_type(type_) or type_.is_one_of:
        return None
    fields = []
    for name, field in type_.fields.items():
        coerce_field = _coercer(field.type, depth + 1)
        if coerce_field is None:
            return None
        try:  # graphql-core's own, memoized on the field: the same object for every request
            default = _REQUIRED if is_required_input_field(field) else coerce_default_value(field)
        except Exception:  # an invalid default: graphql-core says so
            return None
        fields.append((name, field.out_name or name, coerce_field, default))
    known, out_type = type_.fields.keys(), type_.out_type

    def input_object(value: Any) -> Any:
        if value is None:
            return None
        if type(value) is not dict or not value.keys() <= known:
            raise _Fallback
        coerced: dict[str, Any] = {}
        for name, out_name, coerce_field, default in fields:
            if name in value:
                coerced[out_name] = coerce_field(value[name])
            elif default is _REQUIRED:
                raise _Fallback
            elif default is not Undefined:
                coerced[out_name] = default
        return out_type(coerced)

    return input_object


class _Operation(NamedTuple):
    """What `Executor.build` finds in a document for an operation name, variables aside."""

    operation: OperationDefinitionNode
    fragment_definitions: dict[str, FragmentDefinitionNode]
    fragments: dict[str, FragmentDetails]
    variables: list[tuple[str, GraphQLVariableSignature, Coerce]]


def _operation(
    schema: GraphQLSchema, document: DocumentNode, operation_name: str | None
) -> _Operation | None:
    """`Executor.build`'s walk of the document; None wherever it would report an error, and
    for fragments with variables or a variable type `_coercer` cannot do."""
    operation: OperationDefinitionNode | None = None
    fragment_definitions: dict[str, FragmentDefinitionNode] = {}
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            if operation_name is None:
                if operation is not None:
                    return None
                operation = definition
            elif definition.name and definition.name.value == operation_name:
                operation = definition
        elif isinstance(definition, FragmentDefinitionNode):
            if definition.variable_definitions:
                return None
            fragment_definitions[definition.name.value] = definition
    if operation is None:
        return None
    variables = []
    for node in operation.variable_definitions or ():
        signature = get_variable_signature(schema, node)
        if isinstance(signature, GraphQLError):
            return None
        coerce = _coercer(signature.type)
        if coerce is None:
            return None
        variables.append((signature.name, signature, coerce))
    fragments = {
        name: FragmentDetails(definition, None) for name, definition in fragment_definitions.items()
    }
    return _Operation(operation, fragment_definitions, fragments, variables)


_OPERATIONS: Kept[_Operation | Literal[False]] = Kept(256)
"""An operation's set-up; False where `_operation` found none (graphql-core's path)."""


def _kept_operation(
    schema: GraphQLSchema, document: DocumentNode, operation_name: str | None
) -> _Operation | None:
    """`_operation` once per (document, operation name), for the documents the parser cache
    keeps."""
    key, kept = _OPERATIONS.get((document,), operation_name)
    if kept is None:
        kept = _OPERATIONS.put(
            key, (document,), _operation(schema, document, operation_name) or False
        )
    return kept or None


def _variable_values(found: _Operation, inputs: dict[str, Any] | None) -> VariableValues | None:
    """`get_variable_values` when every variable is given and coerces; None otherwise (then
    graphql-core coerces them: defaults, omitted variables and every error are its own)."""
    sources: dict[str, VariableValueSource] = {}
    coerced: dict[str, Any] = {}
    inputs = inputs or {}
    try:
        for name, signature, coerce in found.variables:
            value = inputs.get(name, Undefined)
            if value is Undefined:
                return None
            sources[name] = VariableValueSource(signature, value)
            coerced[name] = coerce(value)
    except _Fallback:
        return None
    return VariableValues(sources, coerced)


class CheckedExecutor(LeafExecutor):
    """The schema's executor: refuses bad variable values before the first resolver runs, and
    completes basic leaf fields inline (`resolvers.execution`).

    It is built as `Executor.build` builds it, from what the document holds for the operation
    name found once (`_kept_operation`) and the variables coerced by `_coercer`'s functions;
    anything else (an error to report, defaults, middleware given as a list) by graphql-core."""

    @classmethod
    def build(
        cls,
        schema: GraphQLSchema,
        document: DocumentNode,
        root_value: Any = None,
        context_value: Any = None,
        raw_variable_values: dict[str, Any] | None = None,
        operation_name: str | None = None,
        field_resolver: GraphQLFieldResolver | None = None,
        type_resolver: GraphQLTypeResolver | None = None,
        subscribe_field_resolver: GraphQLFieldResolver | None = None,
        max_coercion_errors: int = 50,
        enable_early_execution: bool = False,
        middleware: Any = None,
        is_awaitable: Any = None,
        is_async_iterable: Any = None,
        hide_suggestions: bool = False,
        abort_signal: AbortSignal | None = None,
        hooks: ExecutionHooks | None = None,
        **custom_args: Any,
    ) -> list[GraphQLError] | Executor[Any]:
        for name, value in (raw_variable_values or {}).items():
            refusal = bad_text(name, "a variable name") or bad_text(value, f"variable ${name}")
            if refusal is not None:
                return [GraphQLError(refusal.message, original_error=refusal)]
        found = (
            _kept_operation(schema, document, operation_name)
            if middleware is None or isinstance(middleware, MiddlewareManager)
            else None
        )
        variable_values = None if found is None else _variable_values(found, raw_variable_values)
        built: list[GraphQLError] | Executor[Any]
        if found is None or variable_values is None:
            built = super().build(
                schema,
                document,
                root_value,
                context_value,
                raw_variable_values,
                operation_name,
                field_resolver,
                type_resolver,
                subscribe_field_resolver,
                max_coercion_errors,
                enable_early_execution,
                middleware,
                is_awaitable,
                is_async_iterable,
                hide_suggestions=hide_suggestions,
                abort_signal=abort_signal,
                hooks=hooks,
                **custom_args,
            )
        else:
            assert_valid_schema(schema)
            built = cls(
                schema,
                dict(found.fragment_definitions),
                dict(found.fragments),
                root_value,
                context_value,
                found.operation,
                variable_values,
                field_resolver or default_field_resolver,
                type_resolver or default_type_resolver,
                subscribe_field_resolver or default_field_resolver,
                enable_early_execution,
                middleware,
                is_awaitable,
                is_async_iterable,
                hide_suggestions=hide_suggestions,
                abort_signal=abort_signal,
                hooks=hooks,
                **custom_args,
            )
        if isinstance(built, list) or not built.operation.variable_definitions:
            return built
        usages = _USAGES.get(schema, document, built.operation)
        if not usages:
            return built
        errors = variable_errors(usages, built.variable_values.coerced)
        return errors or built
