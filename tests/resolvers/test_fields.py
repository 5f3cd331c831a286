"""Direct fields (`resolvers.fields`): graphql-core calls the resolver itself, and its arguments
are converted exactly as strawberry's own `convert_arguments` would convert them."""

from __future__ import annotations

from typing import Any

import pytest
import strawberry
from graphql import GraphQLObjectType
from strawberry.types.arguments import convert_arguments
from strawberry.types.field import StrawberryField

from models import enums
from resolvers.fields import argument_converter, direct_field, direct_mutation, resolve_directly
from resolvers.schema import build_schema

SCHEMA = build_schema()


def _definition(
    schema: strawberry.Schema, type_name: str, name: str
) -> tuple[Any, StrawberryField]:
    graphql_type = schema._schema.type_map[type_name]
    assert isinstance(graphql_type, GraphQLObjectType)
    graphql_field = graphql_type.fields[name]
    return graphql_field, graphql_field.extensions["strawberry-definition"]


def test_onboard_is_resolved_directly() -> None:
    graphql_field, _ = _definition(SCHEMA, "Mutation", "onboard")
    assert graphql_field.resolve.__name__ == "resolve_with_arguments"


@pytest.mark.parametrize(
    "raw",
    [
        {"input": {"wallet": "0xab", "signature": "0x01", "timestamp": 5, "isClient": True}},
        {
            "input": {
                "wallet": "0xAB",
                "signature": "0x01",
                "timestamp": -1,
                "isClient": False,
                "exchangeId": "bfx",
                "profileType": enums.ProfileType.TRADER,
            }
        },
    ],
)
def test_onboard_input_converts_as_strawberry_does(raw: dict[str, Any]) -> None:
    _, definition = _definition(SCHEMA, "Mutation", "onboard")
    registry = SCHEMA.schema_converter.scalar_registry
    ours = argument_converter(definition, SCHEMA.config, registry)(raw)
    theirs = convert_arguments(
        raw, definition.arguments, scalar_registry=registry, config=SCHEMA.config
    )
    assert ours.keys() == theirs.keys() == {"input"}
    assert type(ours["input"]) is type(theirs["input"])
    assert vars(ours["input"]) == vars(theirs["input"])


@strawberry.input(one_of=True)
class Choice:
    a: strawberry.Maybe[str]
    b: strawberry.Maybe[int]


@strawberry.input
class Inner:
    names: list[str]
    count: int | None = None


@strawberry.type
class Query:
    ok: bool = True


@strawberry.type
class PickMutation:
    @direct_mutation()
    def pick(self, choice: Choice) -> bool:
        return True


@strawberry.type
class EchoMutation:
    @direct_mutation()
    def echo(self, info: strawberry.Info, inner: Inner, more: list[Inner] | None = None) -> str:
        assert isinstance(info, strawberry.Info)
        assert isinstance(inner, Inner)
        assert all(isinstance(i, Inner) for i in more or ())
        return f"{inner.names}/{inner.count}/{[(i.names, i.count) for i in more or ()]}"


def test_unsupported_argument_kinds_are_refused_when_the_schema_is_built() -> None:
    with pytest.raises(TypeError, match="direct field"):
        resolve_directly(strawberry.Schema(query=Query, mutation=PickMutation))


def test_a_direct_mutation_runs_with_converted_arguments() -> None:
    schema = strawberry.Schema(query=Query, mutation=EchoMutation)
    document = 'mutation { echo(inner: {names: ["a"]}, more: [{names: ["b"], count: 2}]) }'
    stock = schema.execute_sync(document)
    resolve_directly(schema)
    assert (
        _definition(schema, "EchoMutation", "echo")[0].resolve.__name__ == "resolve_with_arguments"
    )
    direct = schema.execute_sync(document)
    assert direct.errors is None
    assert direct.data == stock.data == {"echo": "['a']/None/[(['b'], 2)]"}


@strawberry.type
class Seen:
    @direct_field()
    def usual(self, info: strawberry.Info) -> str:
        return f"{type(info).__name__}:{info.field_name}:{info.path.as_list()}"

    @direct_field()
    def renamed(self, where: strawberry.Info) -> str:
        return f"{type(where).__name__}:{where.field_name}:{where.path.as_list()}"


@strawberry.type
class SeenQuery:
    @strawberry.field
    def seen(self) -> Seen:
        return Seen()


def test_a_direct_fields_info_is_strawberrys_whatever_its_parameter_is_called() -> None:
    schema = strawberry.Schema(query=SeenQuery)
    document = "{ seen { usual renamed r: renamed } }"
    stock = schema.execute_sync(document)
    resolve_directly(schema)
    assert _definition(schema, "Seen", "usual")[0].resolve.__name__ == "resolve_with_info"
    assert _definition(schema, "Seen", "renamed")[0].resolve.__name__ == "resolve_with_named_info"
    direct = schema.execute_sync(document)
    assert direct.errors is None
    assert direct.data == stock.data
    assert direct.data == {
        "seen": {
            "usual": "Info:usual:['seen', 'usual']",
            "renamed": "Info:renamed:['seen', 'renamed']",
            "r": "Info:renamed:['seen', 'r']",
        }
    }
