"""Leaf fields of plain objects completed inline: the same result as graphql-core, without its
per-field machinery.

A profile's embedded lists are most of a heavy response: ~100 orders × 18 fields, positions ×
11, ... Each leaf went through `execute_field` (resolve info, strawberry's resolver wrapper, an
awaitable check), `complete_value` (non-null, list, leaf dispatch) and the scalar's coercion:
~10 µs a leaf, ~25 ms for the whole payload. Most of these fields are *basic*: a strawberry
field without a resolver, arguments or extensions, whose value is `getattr(source, name)`.

`execute_fields` below does, for such a field, exactly what graphql-core would: read the
attribute, return null for a null (of a nullable field), else coerce it with the field type's
own `coerce_output_value`, which must not return null. Anything else takes graphql-core's own
path for that field, so its errors, paths and null propagation are graphql-core's:

- a value that is not a plain scalar or an enum member (awaitables, exceptions, `Undefined`);
- a null for a non-null field, a coercion that fails or returns null;
- fields with arguments, a resolver, field extensions, or any resolve middleware at all.

Which fields of a selection are basic depends only on the parent type and the field nodes
collected for it (names, arguments, directives: never on variables, which only decide *which*
nodes were collected), so the plan is kept across requests by those nodes: the parsed document
is cached by text, so the same nodes come back (`_PLANS`). Within a request graphql-core memoizes
the selection itself, so the 100 orders share one lookup. tests/resolvers/test_execution.py
holds the results equal to graphql-core's own on many documents.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from enum import Enum
from typing import Any, NamedTuple

from graphql import (
    GraphQLField,
    GraphQLObjectType,
    GraphQLOutputType,
    TypeNameMetaFieldDef,
    get_nullable_type,
    is_enum_type,
    is_leaf_type,
    is_non_null_type,
)
from graphql.execution.collect_fields import FieldDetailsList, GroupedFieldSet
from graphql.pyutils import AwaitableOrValue, Path, Undefined
from graphql.pyutils.gather_with_cancel import gather_with_cancel
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types.field import StrawberryField

_PLAIN = frozenset({str, int, float, bool, Decimal})
"""Value types whose coercion is a pure function of the value (never awaited, never raised)."""
_CONDITIONS = frozenset({"include", "skip"})
"""Directives graphql-core has already applied when it collected the fields."""


class _Leaf(NamedTuple):
    """A basic leaf field of one selection: where its value comes from and how it is coerced."""

    response_name: str
    attribute: str | None
    """None for `__typename`."""
    coerce: Callable[[Any], Any]
    non_null: bool
    enum_names: dict[Any, tuple[Any, Any]] | None
    """For an enum: (member, coerced name) by member, filled as members are met."""


class _Slow(NamedTuple):
    response_name: str


_Plan = list[_Leaf | _Slow]
_PlanKey = tuple[int, ...]


class _Plans:
    """Plans by (parent type, collected field nodes), across requests. Keyed by identity; each
    entry holds the type and nodes it was keyed by, so no id can be reused while it is kept.
    Bounded: when full it starts afresh (documents come from a bounded cache too)."""

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._entries: dict[_PlanKey, tuple[tuple[Any, ...], _Plan]] = {}

    def get(self, parent_type: GraphQLObjectType, grouped_field_set: GroupedFieldSet) -> _Plan:
        held: tuple[Any, ...] = (
            parent_type,
            *(details.node for fields in grouped_field_set.values() for details in fields),
        )
        key = tuple(map(id, held))
        entry = self._entries.get(key)
        if entry is not None:
            return entry[1]
        plan = [_leaf(parent_type, name, fields) for name, fields in grouped_field_set.items()]
        if len(self._entries) >= self._size:
            self._entries.clear()
        self._entries[key] = (held, plan)
        return plan


_PLANS = _Plans()


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


def _leaf(
    parent_type: GraphQLObjectType, response_name: str, field_details_list: FieldDetailsList
) -> _Leaf | _Slow:
    slow = _Slow(response_name)
    for details in field_details_list:
        node = details.node
        if node.arguments or any(d.name.value not in _CONDITIONS for d in node.directives or ()):
            return slow
    name = field_details_list[0].node.name.value
    attribute: str | None
    if name == "__typename":
        field: GraphQLField | None = TypeNameMetaFieldDef
        attribute = None
    else:
        field = parent_type.fields.get(name)
        attribute = _basic_attribute(field) if field is not None else None
        if attribute is None:
            return slow
    assert field is not None
    field_type: GraphQLOutputType = field.type
    non_null = is_non_null_type(field_type)
    named: Any = get_nullable_type(field_type)
    if not is_leaf_type(named):
        return slow
    enum_names: dict[Any, tuple[Any, Any]] | None = {} if is_enum_type(named) else None
    return _Leaf(response_name, attribute, named.coerce_output_value, non_null, enum_names)


class LeafExecutor(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's executor, completing basic leaf fields inline (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._plans: dict[tuple[int, int], tuple[GroupedFieldSet, _Plan]] = {}
        middleware = self.middleware_manager
        self._inline = middleware is None or not middleware.middlewares

    def _plan(self, parent_type: GraphQLObjectType, grouped_field_set: GroupedFieldSet) -> _Plan:
        # Keyed by identity, like graphql-core's own memo; the value keeps the set alive so
        # its id cannot be reused within the request.
        key = (id(parent_type), id(grouped_field_set))
        cached = self._plans.get(key)
        if cached is not None:
            return cached[1]
        if self._inline:
            plan = _PLANS.get(parent_type, grouped_field_set)
        else:
            plan = [_Slow(name) for name in grouped_field_set]
        self._plans[key] = (grouped_field_set, plan)
        return plan

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: GroupedFieldSet,
        position_context: Any,
    ) -> AwaitableOrValue[dict[str, Any]]:
        """graphql-core's `execute_fields`, with basic leaves completed inline."""
        results: dict[str, Any] = {}
        is_awaitable = self.is_awaitable
        awaitable_fields: list[str] = []
        type_name = parent_type.name
        try:
            for entry in self._plan(parent_type, grouped_field_set):
                response_name = entry.response_name
                if type(entry) is _Leaf:
                    completed = _inline(entry, source_value, type_name)
                    if completed is not _SLOW:
                        results[response_name] = completed
                        continue
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


_SLOW: Any = object()
"""`_inline`'s answer when graphql-core must complete the field itself."""


def _inline(leaf: _Leaf, source: Any, type_name: str) -> Any:
    """The completed value of a basic leaf, or `_SLOW` where graphql-core's path is needed
    (an error to report, or a value that is not plainly a scalar)."""
    try:
        value = type_name if leaf.attribute is None else getattr(source, leaf.attribute)
        if value is None:
            return _SLOW if leaf.non_null else None
        names = leaf.enum_names
        if names is not None:
            if not isinstance(value, Enum):
                return _SLOW
            # Keyed by the member, checked by identity: members of other enums may compare
            # equal to it (str and int enums).
            known = names.get(value)
            if known is not None and known[0] is value:
                return known[1]
            coerced = leaf.coerce(value)
            names[value] = (value, coerced)
        elif type(value) not in _PLAIN:
            return _SLOW
        else:
            coerced = leaf.coerce(value)
    except Exception:
        return _SLOW
    return _SLOW if coerced is None or coerced is Undefined else coerced
