"""Fields that graphql-core resolves by calling their resolver directly.

strawberry (0.341) takes its fast path only for plain attributes: every field with a resolver,
even one without arguments, goes through `extension_resolver` (an `Info`, `get_arguments`,
`convert_arguments`, the field-extension chain) on every resolution (strawberry PR #4620 would
widen the fast path). `direct_field` marks a resolver that takes no GraphQL arguments and has no
field extensions or permissions; `resolve_directly` then points graphql-core straight at it once
the schema is built, with strawberry's own `Info` when the resolver asks for one. The SDL comes
from the resolver exactly as before; errors and awaitables reach graphql-core unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, cast

import strawberry
from graphql import GraphQLObjectType, GraphQLResolveInfo
from strawberry.types.field import StrawberryField

DIRECT = "onboarding.direct"
"""Field metadata: resolve this field by calling its resolver directly (see above)."""


def direct_field(
    *, description: str | None = None, metadata: Mapping[str, object] | None = None
) -> Any:
    """`@strawberry.field`, resolved directly: only for resolvers without arguments."""
    return strawberry.field(description=description, metadata={**(metadata or {}), DIRECT: True})


def _direct_resolver(
    field: StrawberryField, info_class: type[strawberry.Info]
) -> Callable[..., Any]:
    resolver = field.base_resolver
    if resolver is None or field.arguments or field.extensions:
        raise TypeError(f"{field.python_name}: a direct field takes no arguments or extensions")
    func = cast("Callable[..., Any]", resolver.wrapped_func)
    info_parameter = resolver.info_parameter
    if info_parameter is None:

        def resolve(source: Any, _: GraphQLResolveInfo[Any]) -> Any:
            return func(source)

        return resolve
    name = info_parameter.name

    def resolve_with_info(source: Any, info: GraphQLResolveInfo[Any]) -> Any:
        return func(source, **{name: info_class(_raw_info=info, _field=field)})

    return resolve_with_info


def resolve_directly(schema: strawberry.Schema) -> None:
    """Point every `direct_field` of `schema` at its resolver (call once, after building)."""
    for graphql_type in schema._schema.type_map.values():
        if not isinstance(graphql_type, GraphQLObjectType):
            continue
        for graphql_field in graphql_type.fields.values():
            field = graphql_field.extensions.get("strawberry-definition")
            if isinstance(field, StrawberryField) and field.metadata.get(DIRECT):
                graphql_field.resolve = _direct_resolver(field, schema.config.info_class)
