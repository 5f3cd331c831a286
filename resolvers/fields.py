"""Fields that graphql-core resolves by calling their resolver directly.

strawberry (0.341) takes its fast path only for plain attributes: every field with a resolver,
even one without arguments, goes through `extension_resolver` (an `Info`, `get_arguments`,
`convert_arguments`, the field-extension chain) on every resolution (strawberry PR #4620 would
widen the fast path). `direct_field` (`direct_mutation`) marks a resolver that has no field
extensions or permissions; `resolve_directly` then points graphql-core straight at it once the
schema is built, with strawberry's own `Info` when the resolver asks for one. Its arguments, as
graphql-core coerced them, are converted to Python values by a converter built once per argument
that does what strawberry's `convert_argument` does for the kinds it accepts (scalars, enums,
lists, optionals, plain input types); any other kind is refused when the schema is built. The
SDL comes from the resolver exactly as before; errors and awaitables reach graphql-core
unchanged. Argument checks run before execution (`resolvers.arguments`), not in the resolver.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import MISSING
from typing import Any, cast

import strawberry
from graphql import GraphQLObjectType, GraphQLResolveInfo
from strawberry.relay.types import GlobalID
from strawberry.schema.config import StrawberryConfig
from strawberry.types.arguments import _is_leaf_type
from strawberry.types.base import (
    StrawberryList,
    StrawberryMaybe,
    StrawberryOptional,
    StrawberryType,
    has_object_definition,
)
from strawberry.types.enum import has_enum_definition
from strawberry.types.field import StrawberryField
from strawberry.types.lazy_type import LazyType
from strawberry.types.unset import UNSET

DIRECT = "onboarding.direct"
"""Field metadata: resolve this field by calling its resolver directly (see above)."""


def direct_field(
    *, description: str | None = None, metadata: Mapping[str, object] | None = None
) -> Any:
    """`@strawberry.field`, resolved directly (its arguments converted as described above)."""
    return strawberry.field(description=description, metadata={**(metadata or {}), DIRECT: True})


def direct_mutation(*, description: str | None = None) -> Any:
    """`@strawberry.mutation`, resolved directly (its arguments converted as described above)."""
    return strawberry.mutation(description=description, metadata={DIRECT: True})


Convert = Callable[[Any], Any]
Registry = Mapping[object, Any]
"""The schema's scalar registry, as strawberry's `convert_argument` consults it."""


def _same(value: Any) -> Any:
    return value


def _converter(
    type_: StrawberryType | type | Any, config: StrawberryConfig, registry: Registry
) -> Convert:
    """What `strawberry.types.arguments.convert_argument` does with a value of `type_`."""
    if isinstance(type_, StrawberryMaybe) or type_ is GlobalID or isinstance(type_, LazyType):
        raise TypeError(f"{type_}: not an argument type a direct field converts")
    if isinstance(type_, StrawberryOptional):
        return _converter(type_.of_type, config, registry)
    if isinstance(type_, StrawberryList):
        item = _converter(type_.of_type, config, registry)
        if item is _same:  # copied: graphql-core shares one default across requests
            return lambda value: value if value is None or value is UNSET else list(value)
        return lambda value: (
            value if value is None or value is UNSET else [item(entry) for entry in value]
        )
    if _is_leaf_type(type_, registry) or has_enum_definition(type_):
        return _same
    if has_object_definition(type_):
        definition = type_.__strawberry_definition__
        if not definition.is_input or definition.from_input is not None:
            raise TypeError(f"{type_}: not an input type a direct field converts")
        implicit = {
            field.python_name: None
            for field in definition.fields
            if field.default_value is MISSING and field.default_factory is MISSING
        }
        fields = [
            (
                config.name_converter.from_field(field),
                field.python_name,
                _converter(field.resolve_type(type_definition=definition), config, registry),
            )
            for field in definition.fields
        ]
        cls = cast("type", type_)

        def convert_input(value: Any) -> Any:
            if value is None or value is UNSET:
                return value
            kwargs = dict(implicit)
            for graphql_name, python_name, convert in fields:
                if graphql_name in value:
                    kwargs[python_name] = convert(value[graphql_name])
            return cls(**kwargs)

        return convert_input
    raise TypeError(f"{type_}: not an argument type a direct field converts")


def _direct_resolver(
    field: StrawberryField,
    info_class: type[strawberry.Info],
    config: StrawberryConfig,
    registry: Registry,
) -> Callable[..., Any]:
    resolver = field.base_resolver
    if resolver is None or field.extensions or field.permission_classes:
        raise TypeError(f"{field.python_name}: a direct field takes no extensions")
    func = cast("Callable[..., Any]", resolver.wrapped_func)
    info_parameter = resolver.info_parameter
    if field.arguments:
        return _with_arguments(field, func, info_class, config, registry)
    if info_parameter is None:

        def resolve(source: Any, _: GraphQLResolveInfo[Any]) -> Any:
            return func(source)

        return resolve
    name = info_parameter.name
    if name == "info":  # the usual name: a plain keyword, no dict per call

        def resolve_with_info(source: Any, info: GraphQLResolveInfo[Any]) -> Any:
            return func(source, info=info_class(info, field))

        return resolve_with_info

    def resolve_with_named_info(source: Any, info: GraphQLResolveInfo[Any]) -> Any:
        return func(source, **{name: info_class(info, field)})

    return resolve_with_named_info


def argument_converter(
    field: StrawberryField, config: StrawberryConfig, registry: Registry
) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    """graphql-core's coerced arguments of `field` → the resolver's keyword arguments, as
    strawberry's `convert_arguments` makes them; refuses what it does not convert."""
    converters = {
        config.name_converter.from_argument(argument): (
            argument.python_name,
            _converter(argument.type, config, registry),
        )
        for argument in field.arguments
    }

    def convert(raw: Mapping[str, Any]) -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
        for graphql_name, value in raw.items():
            python_name, convert_value = converters[graphql_name]
            kwargs[python_name] = convert_value(value)
        return kwargs

    return convert


def _with_arguments(
    field: StrawberryField,
    func: Callable[..., Any],
    info_class: type[strawberry.Info],
    config: StrawberryConfig,
    registry: Registry,
) -> Callable[..., Any]:
    resolver = field.base_resolver
    assert resolver is not None
    if not resolver.self_parameter or resolver.parent_parameter or resolver.root_parameter:
        raise TypeError(f"{field.python_name}: a direct field with arguments takes only self")
    convert = argument_converter(field, config, registry)
    info_name = resolver.info_parameter.name if resolver.info_parameter else None

    def resolve_with_arguments(source: Any, info: GraphQLResolveInfo[Any], **raw: Any) -> Any:
        kwargs = convert(raw)
        if info_name is not None:
            kwargs[info_name] = info_class(info, field)
        return func(source, **kwargs)

    return resolve_with_arguments


def resolve_directly(schema: strawberry.Schema) -> None:
    """Point every `direct_field` of `schema` at its resolver (call once, after building)."""
    for graphql_type in schema._schema.type_map.values():
        if not isinstance(graphql_type, GraphQLObjectType):
            continue
        for graphql_field in graphql_type.fields.values():
            field = graphql_field.extensions.get("strawberry-definition")
            if isinstance(field, StrawberryField) and field.metadata.get(DIRECT):
                graphql_field.resolve = _direct_resolver(
                    field,
                    schema.config.info_class,
                    schema.config,
                    schema.schema_converter.scalar_registry,
                )
