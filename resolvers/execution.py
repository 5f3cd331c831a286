"""Fields of plain objects executed from plans kept across requests: the same result as
graphql-core, without its per-field machinery.

A profile's embedded lists are most of a heavy response: ~100 orders × 18 fields, positions ×
11, ... Each leaf went through `execute_field` (resolve info, strawberry's resolver wrapper, an
awaitable check), `complete_value` (non-null, list, leaf dispatch) and the scalar's coercion:
~10 µs a leaf, ~25 ms for the whole payload. Most of these fields are *basic*: a strawberry
field without a resolver, arguments or extensions, whose value is `getattr(source, name)`.

`execute_fields` below does, for such a field, exactly what graphql-core would: read the
attribute, return null for a null (of a nullable field), else coerce it with the field type's
own `coerce_output_value`, which must not return null. Every other field with its own resolver
(a new wallet's profile has ~20: figures, lists) runs `execute_field`'s own steps from the
plan (field, resolver, nodes, and its arguments when they are immutable literals, found once):
a leaf's value is coerced the same way, an object (without `is_type_of`, as all of ours) goes
straight to its selection's execution, a list of them item by item as `complete_iterable_value`
does it, awaited first when the resolver is async; anything else goes to graphql-core's
`complete_value`, and any error to its `handle_field_error`, exactly as `execute_field` does.
graphql-core's own `execute_field` stays the path for the rest, so its errors, paths and null
propagation are graphql-core's:

- a basic leaf's value that is not a plain scalar or an enum member (awaitables, exceptions,
  `Undefined`), a null for a non-null field, a coercion that fails or returns null; a list
  that is not a `list` or holds a null, an exception or an awaitable (before any item runs);
- introspection fields, fields without a resolver, or any resolve middleware at all.

Which fields of a selection are basic depends only on the parent type and the field nodes
collected for it (names, arguments, directives: never on variables, which only decide *which*
nodes were collected), so the plan is kept across requests by those nodes: the parsed document
is cached by text, so the same nodes come back (`_PLANS`). Within a request graphql-core memoizes
the selection itself, so the 100 orders share one lookup.

Collecting a sub-selection depends on variables only through directives (`@include`, `@skip`,
`@defer`) and fragment arguments; one with none of them anywhere it is collected from (its
inline fragments and fragment spreads, not its fields' own selections) is collected once per
(operation, type, nodes) and kept across requests too, with its plan (`_COLLECTED`).
tests/resolvers/test_execution.py holds the results equal to graphql-core's own on many
documents.
"""

from __future__ import annotations

import weakref
from collections.abc import Awaitable, Callable, Sequence
from decimal import Decimal
from enum import Enum
from typing import Any, Generic, NamedTuple, TypeVar

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLField,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfoHelpers,
    InlineFragmentNode,
    ListValueNode,
    ObjectValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    TypeNameMetaFieldDef,
    ValueNode,
    VariableNode,
    get_nullable_type,
    is_enum_type,
    is_leaf_type,
    is_list_type,
    is_non_null_type,
    is_object_type,
)
from graphql.execution.collect_fields import (
    CollectedFields,
    FieldDetailsList,
    FragmentDetails,
    GroupedFieldSet,
)
from graphql.execution.values import get_argument_values
from graphql.pyutils import AwaitableOrValue, Path, Undefined
from graphql.pyutils.gather_with_cancel import gather_with_cancel
from strawberry.schema.schema import (
    StrawberryGraphQLCoreExecutionContext,
    _OperationContextAwareGraphQLResolveInfo,
)
from strawberry.types.field import StrawberryField

_PLAIN = frozenset({str, int, float, bool, Decimal})
"""Value types whose coercion is a pure function of the value (never awaited, never raised)."""
_CONDITIONS = frozenset({"include", "skip"})
"""Directives graphql-core has already applied when it collected the fields."""
_new_tuple = tuple.__new__
_INFO = _OperationContextAwareGraphQLResolveInfo
"""The resolve info strawberry's executor builds (`build_resolve_info`), made here in one step."""


class _Scalar(NamedTuple):
    """How a leaf field's value is completed."""

    coerce: Callable[[Any], Any]
    non_null: bool
    enum_names: dict[Any, tuple[Any, Any]] | None
    """For an enum: (member, coerced name) by member, filled as members are met."""


class _Leaf(NamedTuple):
    """A basic leaf field of one selection: where its value comes from and how it is coerced."""

    response_name: str
    attribute: str | None
    """None for `__typename`."""
    scalar: _Scalar


class _Field(NamedTuple):
    """A field with its own resolver: what `execute_field` looks up, found once."""

    response_name: str
    field_name: str
    field_def: GraphQLField
    resolve: Callable[..., Any]
    field_nodes: list[FieldNode]
    with_arguments: bool
    arguments: dict[str, Any] | None
    """The coerced arguments when they are literals (or defaults) of immutable values only:
    the same for every request, so coerced once."""
    scalar: _Scalar | None
    """For a leaf type: its completion, tried before graphql-core's."""
    objects: _Objects | None
    """For an object type or a list of one: its completion, tried before graphql-core's."""


class _Objects(NamedTuple):
    """A field of a concrete object type (`item_type` None), or of a list of one."""

    object_type: GraphQLObjectType
    item_type: GraphQLOutputType | None


class _Slow(NamedTuple):
    response_name: str


_Entry = _Leaf | _Field | _Slow
_Plan = list[_Entry]
_PlanKey = tuple[int | str | None, ...]
V = TypeVar("V")


class Kept(Generic[V]):
    """Values by objects of a parsed document (and a type), across requests: the executor's
    plans, an operation's executor set-up (`resolvers.arguments`), its metrics' facts
    (`api.metrics`). Keyed by the objects' identity, plus any `named` parts by value (an
    operation name arrives as a new string each request); each entry holds the objects it
    was keyed by, so no id can be reused while it is kept. Bounded: when full it starts
    afresh (documents come from a bounded cache too)."""

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._entries: dict[_PlanKey, tuple[tuple[Any, ...], V]] = {}

    def get(self, held: tuple[Any, ...], *named: str | None) -> tuple[_PlanKey, V | None]:
        key = (*map(id, held), *named)
        entry = self._entries.get(key)
        return key, None if entry is None else entry[1]

    def put(self, key: _PlanKey, held: tuple[Any, ...], value: V) -> V:
        if len(self._entries) >= self._size:
            self._entries.clear()
        self._entries[key] = (held, value)
        return value


_PLANS: Kept[_Plan] = Kept()
_COLLECTED: Kept[tuple[CollectedFields, _Plan] | bool] = Kept()
"""A selection's fields and their plan; False for one that must be collected per request (it
has directives)."""


def _plan(parent_type: GraphQLObjectType, grouped_field_set: GroupedFieldSet) -> _Plan:
    held: tuple[Any, ...] = (
        parent_type,
        *(details.node for fields in grouped_field_set.values() for details in fields),
    )
    key, plan = _PLANS.get(held)
    if plan is not None:
        return plan
    plan = [_entry(parent_type, name, fields) for name, fields in grouped_field_set.items()]
    return _PLANS.put(key, held, plan)


def _basic_attribute(field: GraphQLField) -> str | None:
    """The attribute a field's value is read from, if it is strawberry's basic field."""
    definition = field.extensions.get("strawberry-definition")
    if (
        field.args
        or not getattr(field.resolve, "_is_default", False)
        or not isinstance(definition, StrawberryField)
        or definition.base_resolver is not None
        or definition.extensions
        or definition.default_resolver is not getattr
    ):
        return None
    return definition.python_name


def _scalar(field_type: GraphQLOutputType) -> _Scalar | None:
    named: Any = get_nullable_type(field_type)
    if not is_leaf_type(named):
        return None
    enum_names: dict[Any, tuple[Any, Any]] | None = {} if is_enum_type(named) else None
    return _Scalar(named.coerce_output_value, is_non_null_type(field_type), enum_names)


def _objects(field_type: GraphQLOutputType) -> _Objects | None:
    """How a value of `field_type` is completed inline: an object type graphql-core completes
    without `is_type_of`, or a list of one (items are listed, not streamed: no directive)."""
    named: Any = get_nullable_type(field_type)
    item_type: GraphQLOutputType | None = None
    if is_list_type(named):
        item_type = named.of_type
        named = get_nullable_type(item_type)
    if is_object_type(named) and named.is_type_of is None:
        return _Objects(named, item_type)
    return None


def _entry(
    parent_type: GraphQLObjectType, response_name: str, field_details_list: FieldDetailsList
) -> _Entry:
    slow = _Slow(response_name)
    for details in field_details_list:
        if any(d.name.value not in _CONDITIONS for d in details.node.directives or ()):
            return slow
    first = field_details_list[0].node
    name = first.name.value
    if name == "__typename":
        if any(details.node.arguments for details in field_details_list):
            return slow
        scalar = _scalar(TypeNameMetaFieldDef.type)
        assert scalar is not None
        return _Leaf(response_name, None, scalar)
    field = None if name.startswith("__") else parent_type.fields.get(name)
    if field is None or field.resolve is None:
        return slow
    scalar = _scalar(field.type)
    attribute = _basic_attribute(field)
    if (
        attribute is not None
        and scalar is not None
        and not any(details.node.arguments for details in field_details_list)
    ):
        return _Leaf(response_name, attribute, scalar)
    return _Field(
        response_name,
        name,
        field,
        field.resolve,
        [details.node for details in field_details_list],
        bool(field.args or first.arguments),
        _literal_arguments(field, first),
        scalar,
        None if scalar is not None else _objects(field.type),
    )


def has_variables(value: ValueNode) -> bool:
    """Whether an argument's literal refers to a variable anywhere in it."""
    if isinstance(value, VariableNode):
        return True
    if isinstance(value, ListValueNode):
        return any(has_variables(item) for item in value.values)
    if isinstance(value, ObjectValueNode):
        return any(has_variables(field.value) for field in value.fields)
    return False


_IMMUTABLE = frozenset({str, int, float, bool, Decimal, type(None)})


def _literal_arguments(field: GraphQLField, node: FieldNode) -> dict[str, Any] | None:
    """`get_argument_values` once, when no argument refers to a variable and every value is
    an immutable scalar or an enum member (nothing a resolver could change for the next
    request); None otherwise, and for arguments that do not coerce (their error is per request)."""
    if not (field.args or node.arguments) or any(
        has_variables(argument.value) for argument in node.arguments or ()
    ):
        return None
    try:
        values = get_argument_values(field, node)
    except Exception:
        return None
    if all(type(value) in _IMMUTABLE or isinstance(value, Enum) for value in values.values()):
        return values
    return None


def _static(
    selection_set: SelectionSetNode, fragments: dict[str, FragmentDetails], seen: set[str]
) -> bool:
    """Whether collecting `selection_set` cannot depend on variables: no directive and no
    fragment with arguments anywhere it is collected from."""
    for selection in selection_set.selections:
        if selection.directives:
            return False
        if isinstance(selection, InlineFragmentNode):
            if not _static(selection.selection_set, fragments, seen):
                return False
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            fragment = fragments.get(name)
            if name in seen or fragment is None:
                continue
            seen.add(name)
            if fragment.variable_signatures or not _static(
                fragment.definition.selection_set, fragments, seen
            ):
                return False
    return True


def _weak_helpers(executor: StrawberryGraphQLCoreExecutionContext) -> GraphQLResolveInfoHelpers:
    """graphql-core's resolve-info helpers, holding the executor weakly.

    graphql-core makes them of the executor's bound methods and keeps them on the executor: a
    reference cycle, so nothing a request built (its context, the loaders' rows) was freed when
    the request ended, only by the cyclic collector. At 16 concurrent requests that garbage
    outlived the young collections and waited in the oldest generation for a full one: the
    worker's peak RSS grew by ~55 MB during heavy re-onboardings. Resolvers call the helpers
    only while the executor runs them, so the executor is alive whenever they are called."""
    executor_ref = weakref.ref(executor)

    def gather(values: Sequence[Awaitable[Any]]) -> Awaitable[list[Any]]:
        return executor_ref().gather_async_work(values)  # type: ignore[union-attr]

    def track(values: Sequence[Any]) -> None:
        executor_ref().track_async_work(values)  # type: ignore[union-attr]

    return GraphQLResolveInfoHelpers(gather=gather, track=track)


class LeafExecutor(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's executor, executing fields from plans (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.async_helpers = _weak_helpers(self)
        self._plans: dict[tuple[int, int], tuple[GroupedFieldSet, _Plan]] = {}
        middleware = self.middleware_manager
        self._inline = middleware is None or not middleware.middlewares
        self._info_tail = (
            (
                self.schema,
                self.fragment_definitions,
                self.root_value,
                self.operation,
                self.variable_values.coerced,
                self.context_value,
                self.is_awaitable,
                self.abort_signal,
                self.async_helpers,
                self.operation_extensions,
            )
            if type(self).build_resolve_info
            is StrawberryGraphQLCoreExecutionContext.build_resolve_info
            else None
        )

    def _plan(self, parent_type: GraphQLObjectType, grouped_field_set: GroupedFieldSet) -> _Plan:
        # Keyed by identity, like graphql-core's own memo; the value keeps the set alive so
        # its id cannot be reused within the request.
        key = (id(parent_type), id(grouped_field_set))
        cached = self._plans.get(key)
        if cached is not None:
            return cached[1]
        if self._inline:
            plan = _plan(parent_type, grouped_field_set)
        else:
            plan = [_Slow(name) for name in grouped_field_set]
        self._plans[key] = (grouped_field_set, plan)
        return plan

    def collect_subfields(
        self, return_type: GraphQLObjectType, field_details_list: FieldDetailsList
    ) -> CollectedFields:
        """graphql-core's, kept across requests for a selection without directives."""
        memo = self._relevant_sub_fields
        memo_key = (return_type, id(field_details_list))
        cached = memo.get(memo_key)
        if cached is not None:
            return cached[1]
        if any(
            details.defer_usage is not None or details.fragment_variable_values is not None
            for details in field_details_list
        ):
            return super().collect_subfields(return_type, field_details_list)
        operation: OperationDefinitionNode = self.operation
        held = (operation, return_type, *(details.node for details in field_details_list))
        key, kept = _COLLECTED.get(held)
        if kept is None:
            seen: set[str] = set()
            static = all(
                details.node.selection_set is None
                or _static(details.node.selection_set, self.fragments, seen)
                for details in field_details_list
            )
            if static:
                collected = super().collect_subfields(return_type, field_details_list)
                kept = _COLLECTED.put(
                    key, held, (collected, _plan(return_type, collected.grouped_field_set))
                )
            else:
                kept = _COLLECTED.put(key, held, False)
        if kept is False:
            return super().collect_subfields(return_type, field_details_list)
        assert isinstance(kept, tuple)
        collected, plan = kept
        memo[memo_key] = (field_details_list, collected)
        if self._inline:  # the plan of a kept selection is kept with it
            grouped_field_set = collected.grouped_field_set
            self._plans[(id(return_type), id(grouped_field_set))] = (grouped_field_set, plan)
        return collected

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: GroupedFieldSet,
        position_context: Any,
    ) -> AwaitableOrValue[dict[str, Any]]:
        """graphql-core's `execute_fields`, with fields executed from the plan."""
        results: dict[str, Any] = {}
        is_awaitable = self.is_awaitable
        awaitable_fields: list[str] = []
        type_name = parent_type.name
        try:
            for entry in self._plan(parent_type, grouped_field_set):
                response_name = entry.response_name
                kind = type(entry)
                if kind is _Leaf:
                    completed = _inline(entry, source_value, type_name)  # type: ignore[arg-type]
                    if completed is not _SLOW:
                        results[response_name] = completed
                        continue
                if kind is _Field:
                    result = self._execute_planned(
                        entry,  # type: ignore[arg-type]
                        parent_type,
                        source_value,
                        grouped_field_set[response_name],
                        Path(path, response_name, type_name),
                        position_context,
                    )
                else:
                    result = self.execute_field(
                        parent_type,
                        source_value,
                        grouped_field_set[response_name],
                        Path(path, response_name, type_name),
                        position_context,
                    )
                if result is not Undefined:
                    results[response_name] = result
                    if is_awaitable(result):
                        awaitable_fields.append(response_name)
        except Exception:
            if awaitable_fields:
                self.settle_in_background([results[field] for field in awaitable_fields])
            raise

        if not awaitable_fields:
            return results

        async def get_results() -> dict[str, Any]:
            if len(awaitable_fields) == 1:
                field = awaitable_fields[0]
                results[field] = await results[field]
            else:
                awaited = await gather_with_cancel(*(results[field] for field in awaitable_fields))
                results.update(zip(awaitable_fields, awaited, strict=True))
            return results

        return get_results()

    def _execute_planned(
        self,
        entry: _Field,
        parent_type: GraphQLObjectType,
        source: Any,
        field_details_list: FieldDetailsList,
        path: Path,
        position_context: Any,
    ) -> AwaitableOrValue[Any]:
        """graphql-core's `execute_field` for a planned field (no middleware): the same steps
        in the same order, with a leaf's plain value coerced inline."""
        field_def = entry.field_def
        return_type = field_def.type
        tail = self._info_tail
        info: Any = (
            self.build_resolve_info(field_def, entry.field_nodes, parent_type, path)
            if tail is None
            else _new_tuple(
                _INFO, (entry.field_name, entry.field_nodes, return_type, parent_type, path, *tail)
            )
        )
        try:
            arguments = entry.arguments
            first = field_details_list[0]
            if arguments is not None and first.fragment_variable_values is None:
                result = entry.resolve(source, info, **arguments)
            elif entry.with_arguments:
                result = entry.resolve(
                    source,
                    info,
                    **get_argument_values(
                        field_def,
                        first.node,
                        self.variable_values,
                        first.fragment_variable_values,
                        self.hide_suggestions,
                    ),
                )
            else:
                result = entry.resolve(source, info)
            if self.is_awaitable(result):
                if entry.objects is None:
                    return self.complete_awaitable_value(
                        return_type, field_details_list, info, path, result, position_context
                    )
                return self._complete_awaited_objects(
                    entry, field_details_list, info, path, result, position_context
                )
            scalar = entry.scalar
            if scalar is not None:
                completed = _coerced(scalar, result)
                if completed is not _SLOW:
                    return completed
            completed = self._complete(
                entry, field_details_list, info, path, result, position_context
            )
            if self.is_awaitable(completed):
                return _await_completed(self, completed, return_type, field_details_list, path)
        except Exception as raw_error:
            self.handle_field_error(raw_error, return_type, field_details_list, path)
            return None
        return completed

    async def _complete_awaited_objects(
        self,
        entry: _Field,
        field_details_list: FieldDetailsList,
        info: Any,
        path: Path,
        result: Awaitable[Any],
        position_context: Any,
    ) -> Any:
        """graphql-core's `complete_awaitable_value`, the awaited objects completed as
        `_complete_objects` does (an async resolver's list: a profile's orders)."""
        return_type = entry.field_def.type
        try:
            resolved = await self.with_abort_signal(result)
            completed = self._complete(
                entry, field_details_list, info, path, resolved, position_context
            )
            if self.is_awaitable(completed):
                completed = await completed
        except Exception as raw_error:
            self.handle_field_error(raw_error, return_type, field_details_list, path)
            completed = None
        return completed

    def _complete(
        self,
        entry: _Field,
        field_details_list: FieldDetailsList,
        info: Any,
        path: Path,
        result: Any,
        position_context: Any,
    ) -> AwaitableOrValue[Any]:
        """A planned field's resolved value completed: its objects inline where
        `_complete_objects` can, else by graphql-core's `complete_value`."""
        objects = entry.objects
        if objects is not None and result is not None and not isinstance(result, Exception):
            completed = self._complete_objects(
                objects, field_details_list, path, result, position_context
            )
            if completed is not _SLOW:
                return completed
        return self.complete_value(
            entry.field_def.type, field_details_list, info, path, result, position_context
        )

    def _complete_objects(
        self,
        objects: _Objects,
        field_details_list: FieldDetailsList,
        path: Path,
        result: Any,
        position_context: Any,
    ) -> Any:
        """`complete_value` of an object (`complete_object_value` without `is_type_of`), or of
        a list of them: a list holding a null, an exception or an awaitable is `_SLOW`, before
        anything is completed, and so is anything but a list. Errors as graphql-core's."""
        object_type, item_type = objects
        if item_type is None:
            return self.collect_and_execute_subfields(
                object_type, field_details_list, path, result, position_context
            )
        if type(result) is not list:
            return _SLOW
        is_awaitable = self.is_awaitable
        for item in result:
            if item is None or isinstance(item, Exception) or is_awaitable(item):
                return _SLOW
        grouped_field_set, new_defer_usages, _ = self.collect_subfields(
            object_type, field_details_list
        )
        execute = self.execute_collected_subfields
        completed: list[Any] = []
        awaitable_indices: list[int] = []
        try:
            for index, item in enumerate(result):
                item_path = Path(path, index, None)
                try:
                    value = execute(
                        object_type,
                        item,
                        item_path,
                        grouped_field_set,
                        new_defer_usages,
                        position_context,
                    )
                    if is_awaitable(value):
                        value = _await_completed(
                            self, value, item_type, field_details_list, item_path
                        )
                        awaitable_indices.append(index)
                except Exception as raw_error:
                    self.handle_field_error(raw_error, item_type, field_details_list, item_path)
                    value = None
                completed.append(value)
        except Exception:
            if awaitable_indices:
                self.settle_in_background([completed[index] for index in awaitable_indices])
            raise
        if not awaitable_indices:
            return completed
        return _gather_items(completed, awaitable_indices)


async def _gather_items(completed: list[Any], awaitable_indices: list[int]) -> list[Any]:
    """`complete_iterable_value`'s own wait for the items that must be awaited."""
    if len(awaitable_indices) == 1:
        index = awaitable_indices[0]
        completed[index] = await completed[index]
    else:
        awaited = await gather_with_cancel(*(completed[index] for index in awaitable_indices))
        for index, value in zip(awaitable_indices, awaited, strict=True):
            completed[index] = value
    return completed


async def _await_completed(
    executor: LeafExecutor,
    completed: Awaitable[Any],
    return_type: GraphQLOutputType,
    field_details_list: FieldDetailsList,
    path: Path,
) -> Any:
    """`execute_field`'s own wrapper of a completion that must be awaited."""
    try:
        return await completed
    except Exception as raw_error:
        executor.handle_field_error(raw_error, return_type, field_details_list, path)
        return None


_SLOW: Any = object()
"""`_inline`'s answer when graphql-core must complete the field itself."""


def _inline(leaf: _Leaf, source: Any, type_name: str) -> Any:
    """The completed value of a basic leaf, or `_SLOW` where graphql-core's path is needed
    (an error to report, or a value that is not plainly a scalar)."""
    try:
        value = type_name if leaf.attribute is None else getattr(source, leaf.attribute)
    except Exception:
        return _SLOW
    return _coerced(leaf.scalar, value)


def _coerced(scalar: _Scalar, value: Any) -> Any:
    """`value` completed as `scalar`'s type, or `_SLOW` where graphql-core must do it (a null
    for a non-null type, a value that is not plainly a scalar, a failing coercion)."""
    try:
        if value is None:
            return _SLOW if scalar.non_null else None
        names = scalar.enum_names
        if names is not None:
            if not isinstance(value, Enum):
                return _SLOW
            # Keyed by the member, checked by identity: members of other enums may compare
            # equal to it (str and int enums).
            known = names.get(value)
            if known is not None and known[0] is value:
                return known[1]
            coerced = scalar.coerce(value)
            names[value] = (value, coerced)
        elif type(value) not in _PLAIN:
            return _SLOW
        else:
            coerced = scalar.coerce(value)
    except Exception:
        return _SLOW
    return _SLOW if coerced is None or coerced is Undefined else coerced
