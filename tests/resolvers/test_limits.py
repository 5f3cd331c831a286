"""Document limits: what they measure, that they refuse with a code, and that they stay cached."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from graphql import parse

from resolvers import limits as limits_module
from resolvers.limits import Cost, GraphQLLimits, measure
from resolvers.schema import build_schema
from tests.api.test_onboard import ONBOARD

INTROSPECTION = """
query IntrospectionQuery {
  __schema {
    queryType { name } mutationType { name }
    types { ...FullType }
  }
}
fragment FullType on __Type {
  kind name
  fields(includeDeprecated: true) { name args { name type { ...TypeRef } } type { ...TypeRef } }
  inputFields { name type { ...TypeRef } }
}
fragment TypeRef on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType {
    kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } }
}
"""


class _Ctx:
    request_id = "limits"


def errors(query: str, limits: GraphQLLimits | None = None) -> list[dict[str, Any]]:
    result = asyncio.run(build_schema(limits).execute(query, context_value=_Ctx()))
    return [error.formatted for error in result.errors or []]  # type: ignore[misc]


def bomb(levels: int, leaf: str = "a: serverTime") -> str:
    """Each fragment spreads the next one twice: 2^levels copies of the leaf, in a few bytes."""
    fragments = [f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(levels)]
    return f"{{ ...F0 }} {' '.join(fragments)} fragment F{levels} on Query {{ {leaf} }}"


@pytest.mark.parametrize(
    ("query", "cost"),
    [
        ("{ serverTime }", Cost(depth=1)),
        (ONBOARD, Cost(depth=6)),
        ("{ a: serverTime b: serverTime exchanges { c: id } }", Cost(depth=2, aliases=3)),
        ("{ ...F ...F } fragment F on Query { x: serverTime }", Cost(depth=1, aliases=2)),
        ("{ ... on Query { exchanges { id } } }", Cost(depth=2)),
        ("{ serverTime @skip(if: false) @include(if: true) }", Cost(depth=1, directives=2)),
        (
            "{ ...F @skip(if: false) } fragment F on Query { serverTime }",
            Cost(depth=1, directives=1),
        ),
        ("{ ...Missing }", Cost()),
        ("{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }", Cost()),
        (INTROSPECTION, Cost(depth=1)),
    ],
    ids=[
        "leaf",
        "onboard",
        "aliases",
        "fragment-twice",
        "inline",
        "directives",
        "spread-directive",
        "unknown-fragment",
        "cycle",
        "introspection",
    ],
)
def test_measure(query: str, cost: Cost) -> None:
    assert measure(parse(query)) == cost


def test_a_fragment_bomb_is_measured_fragment_by_fragment() -> None:
    """2^60 aliases: walking every spread would never finish; each fragment is measured once."""
    assert measure(parse(bomb(60))).aliases == 2**60


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (
            "{ a { b { c { d { e { f { g { h { i { j { k } } } } } } } } } } }",
            "query depth 11 is over the limit of 10",
        ),
        (
            "{ " + " ".join(f"a{i}: serverTime" for i in range(16)) + " }",
            "alias count 16 is over the limit of 15",
        ),
        (bomb(4), "alias count 16 is over the limit of 15"),
        ("{ serverTime" + " @include(if: true)" * 5 + " }", "directives on one field 5 is over"),
    ],
    ids=["depth", "aliases", "fragment-bomb", "directives"],
)
def test_over_a_limit_is_refused_before_the_other_rules_run(query: str, message: str) -> None:
    (error,) = errors(query)  # `a { b … }` and the repeated @include break other rules too
    assert error["extensions"] == {"code": "GRAPHQL_VALIDATION_FAILED"}
    assert str(error["message"]).startswith(message)


def test_limits_are_settings() -> None:
    tight = GraphQLLimits(max_depth=1, max_aliases=0, max_directives=0)
    assert errors("{ exchanges { id } }", tight)[0]["message"] == (
        "query depth 2 is over the limit of 1"
    )
    assert errors("{ a: serverTime }", tight)
    assert errors("{ serverTime @skip(if: false) }", tight)
    assert errors("{ serverTime __typename }") == []


def test_too_many_tokens_is_refused_while_parsing() -> None:
    (error,) = errors("{ " + "serverTime " * 600 + "}")
    assert error["extensions"] == {"code": "GRAPHQL_PARSE_FAILED"}
    assert "more than 300 tokens" in str(error["message"])
    assert errors("{ " + "serverTime " * 100 + "}", GraphQLLimits(max_tokens=50))


def test_honest_documents_fit_the_default_limits() -> None:
    assert errors(INTROSPECTION) == []
    assert len(parse(INTROSPECTION).loc.source.body) < 2000  # type: ignore[union-attr]


def test_introspection_can_be_switched_off_but_typename_stays() -> None:
    off = GraphQLLimits(introspection=False)
    refused = errors("{ __schema { queryType { name } } }", off)
    assert {e["extensions"]["code"] for e in refused} == {"GRAPHQL_VALIDATION_FAILED"}
    assert errors("{ __typename }", off) == []


def test_deep_introspection_is_bounded() -> None:
    deep = "{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }"
    (error,) = errors(deep)
    assert error["message"] == "Maximum introspection depth exceeded"


def test_hidden_suggestions() -> None:
    quiet = GraphQLLimits(field_suggestions=False)
    assert errors("{ serverTim }", quiet)[0]["message"] == (
        "Cannot query field 'serverTim' on type 'Query'."
    )
    enum = (
        'mutation { onboard(input: {wallet: "", signature: "", timestamp: 1, isClient: true, '
        "profileType: TRADR}) { jwt } }"
    )
    assert "Did you mean" in errors(enum)[0]["message"]
    assert "Did you mean" not in errors(enum, quiet)[0]["message"]


def test_a_document_is_parsed_and_validated_once(monkeypatch: pytest.MonkeyPatch) -> None:
    schema = build_schema(GraphQLLimits(cache_size=97))
    parsed: list[str] = []
    validated: list[object] = []
    real_parse, real_validate = limits_module.parse, limits_module.validate_document

    def counting_parse(text: str, **options: Any) -> Any:
        parsed.append(text)
        return real_parse(text, **options)

    def counting_validate(*args: Any) -> Any:
        validated.append(args[1])
        return real_validate(*args)

    monkeypatch.setattr(limits_module, "parse", counting_parse)
    monkeypatch.setattr(limits_module, "validate_document", counting_validate)
    for _ in range(3):
        result = asyncio.run(schema.execute("{ serverTime }", context_value=_Ctx()))
        assert result.errors is None
    for _ in range(2):
        result = asyncio.run(schema.execute("{ serverTim }", context_value=_Ctx()))
        assert result.errors
        assert result.errors[0].extensions == {"code": "GRAPHQL_VALIDATION_FAILED"}
    assert parsed == ["{ serverTime }", "{ serverTim }"]
    assert len(validated) == 2


def test_the_document_cache_is_bounded() -> None:
    schema = build_schema(GraphQLLimits(cache_size=31))
    for i in range(40):
        asyncio.run(schema.execute(f"{{ a{i}: serverTime }}", context_value=_Ctx()))
    assert len(schema.documents) == 31
    asyncio.run(schema.execute("{ a39: serverTime }", context_value=_Ctx()))
    assert len(schema.documents) == 31
