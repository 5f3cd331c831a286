"""`CheckedExecutor.build`'s own variable coercion against graphql-core's `get_variable_values`."""

from __future__ import annotations

from typing import Any

from graphql import OperationDefinitionNode, build_schema, parse
from graphql.execution.values import VariableValues, get_variable_values
from hypothesis import given, settings
from hypothesis import strategies as st

from resolvers.arguments import _operation, _variable_values
from resolvers.schema import schema as app_schema

SDL = """
enum Color { RED GREEN }
input Inner { n: Int!, f: Float = 1.5, tags: [String!] }
input Outer {
  name: String!
  color: Color = RED
  inner: Inner
  deep: Inner! = {n: 3}
  flag: Boolean
  id: ID
}
type Query { probe(outer: Outer, n: Int, s: String!, c: Color, l: [Int]): String }
"""
PROBE = build_schema(SDL)
PROBE_DOCUMENT = parse(
    "query ($outer: Outer!, $maybe: Outer, $n: Int, $s: String!, $c: Color!) "
    "{ a: probe(outer: $outer, n: $n, s: $s, c: $c) b: probe(outer: $maybe, s: $s) }"
)
ONBOARD_DOCUMENT = parse("mutation ($input: OnboardInput!) { onboard(input: $input) { jwt } }")

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=8,
)


def _maybe(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly `values`, sometimes any JSON at all."""
    return st.integers(0, 9).flatmap(lambda i: json_values if i == 0 else values)


extra = st.integers(0, 9).flatmap(
    lambda i: (
        st.dictionaries(st.sampled_from(["extra", "Name"]), json_values, max_size=1)
        if i == 0
        else st.just({})
    )
)


inner = st.fixed_dictionaries(
    {"n": _maybe(st.integers(-9, 9) | st.integers(-(2**32), 2**32))},
    optional={
        "f": _maybe(st.floats(allow_nan=False, allow_infinity=False) | st.integers(-9, 9)),
        "tags": _maybe(st.lists(st.text(max_size=3)) | st.text(max_size=3)),
    },
)
outer = st.fixed_dictionaries(
    {"name": _maybe(st.text(max_size=5))},
    optional={
        "color": _maybe(st.sampled_from(["RED", "GREEN", "BLUE", "red"])),
        "inner": _maybe(inner),
        "deep": _maybe(inner),
        "flag": _maybe(st.booleans()),
        "id": _maybe(st.text(max_size=3) | st.integers()),
    },
)
probe_variables = st.fixed_dictionaries(
    {
        "outer": _maybe(st.builds(lambda o, e: {**o, **e}, outer, extra)),
        "s": _maybe(st.text(max_size=5)),
        "c": _maybe(st.sampled_from(["RED", "GREEN", "BLUE"])),
    },
    optional={
        "maybe": _maybe(outer),
        "n": _maybe(st.integers(-9, 9) | st.integers(-(2**32), 2**32)),
    },
)
onboard_input = st.builds(
    lambda fields, more: {**fields, **more},
    st.fixed_dictionaries(
        {
            "wallet": _maybe(st.text(max_size=5)),
            "signature": _maybe(st.text(max_size=5)),
            "timestamp": _maybe(st.integers(-(2**64), 2**64) | st.text(max_size=12)),
            "isClient": _maybe(st.booleans()),
        },
        optional={
            "exchangeId": _maybe(st.sampled_from(["rbx", "bfx"])),
            "profileType": _maybe(st.sampled_from(["TRADER", "VAULT", "INSURANCE", "trader"])),
        },
    ),
    extra,
)


def _same_as_graphql_core(schema: Any, document: Any, inputs: dict[str, Any]) -> bool:
    """Whether the fast path answered; where it did, its answer is graphql-core's."""
    found = _operation(schema, document, None)
    assert found is not None
    fast = _variable_values(found, inputs)
    if fast is None:
        return False
    operation = document.definitions[0]
    assert isinstance(operation, OperationDefinitionNode)
    expected = get_variable_values(schema, operation.variable_definitions or (), inputs)
    assert isinstance(expected, VariableValues)
    assert fast.coerced == expected.coerced
    assert list(fast.coerced) == list(expected.coerced)
    assert _sources(fast) == _sources(expected)
    return True


def _sources(values: VariableValues) -> list[tuple[object, ...]]:
    """Sources by content: each signature's type is a new wrapper per `type_from_ast`."""
    return [
        (
            name,
            source.signature.name,
            str(source.signature.type),
            source.signature.default,
            source.value,
        )
        for name, source in values.sources.items()
    ]


@settings(max_examples=400)
@given(probe_variables)
def test_probe_variables_coerce_as_graphql_core_coerces_them(inputs: dict[str, Any]) -> None:
    _same_as_graphql_core(PROBE, PROBE_DOCUMENT, inputs)


@settings(max_examples=300)
@given(st.fixed_dictionaries({"input": _maybe(onboard_input)}))
def test_onboard_inputs_coerce_as_graphql_core_coerces_them(inputs: dict[str, Any]) -> None:
    _same_as_graphql_core(app_schema._schema, ONBOARD_DOCUMENT, inputs)


def test_the_common_shapes_take_the_fast_path() -> None:
    onboard = {
        "input": {
            "wallet": "0x" + "ab" * 20,
            "signature": "0x" + "cd" * 65,
            "timestamp": 1_900_000_000,
            "isClient": True,
        }
    }
    assert _same_as_graphql_core(app_schema._schema, ONBOARD_DOCUMENT, onboard)
    probe = {
        "outer": {"name": "x", "inner": {"n": 1}, "deep": {"n": 2, "f": 3}, "id": 7},
        "maybe": None,
        "n": None,
        "s": "s",
        "c": "GREEN",
    }
    assert _same_as_graphql_core(PROBE, PROBE_DOCUMENT, probe)
