"""docs/limits.md, on both engines: a refused request writes nothing (argument values are checked
before execution), every list a client reads is bounded (pages, embedded caps, list cost), and
text that is not Unicode scalar values (or holds NUL) is refused at the edge, never a 5xx."""

from __future__ import annotations

import base64
import json
from decimal import Decimal
from typing import Any

import pytest
from graphql import parse
from starlette.testclient import TestClient

from api.services import Services
from models.errors import AppError
from models.pagination import (
    EMBEDDED_NOTIFICATIONS,
    EMBEDDED_ORDERS,
    ORDER_HISTORY,
    decode_order_cursor,
    encode_cursor,
)
from models.tables import ApiKey, Notification, Order
from resolvers.limits import measure
from resolvers.schema import schema
from tests.api.legacy import ok_item, onboard_rest, refusal
from tests.api.test_api_keys import KEY_FIELDS, bearer, create, data, market_maker
from tests.api.test_onboard import ONBOARD, ok, onboard, row_counts, signed
from tests.api.test_sessions import call, client_session
from tests.legacy_client import signed_headers
from tests.pages import nodes
from tests.signing import Signer, fresh_timestamp


def history_under_onboard(arguments: str, variables: str = "") -> str:
    return f"""
    mutation ($input: OnboardInput!{variables}) {{
      onboard(input: $input) {{
        jwt
        profile {{ id orderHistory({arguments}) {{ edges {{ node {{ id }} }} }} }}
      }}
    }}
    """


def post_raw(client: TestClient, path: str, body: str, **headers: str) -> Any:
    """A body written by hand: `json=` cannot carry a lone surrogate, JSON text can."""
    return client.post(
        path, content=body.encode(), headers={"content-type": "application/json", **headers}
    )


def request_error(body: dict[str, Any]) -> str:
    assert "data" not in body, body  # nothing executed
    codes = {error["extensions"]["code"] for error in body["errors"]}
    (code,) = codes
    return str(code)


# ---------------------------------------------------------------- §4: a refusal writes nothing


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        (history_under_onboard("first: 101"), {}),  # a literal over the cap
        (history_under_onboard("first: $n", ", $n: Int!"), {"n": 101}),  # a variable
        (history_under_onboard("first: -1"), {}),
        (history_under_onboard('after: "not-a-cursor"'), {}),  # a cursor that does not decode
        (history_under_onboard("after: $a", ", $a: String"), {"a": "bad"}),
        (history_under_onboard('marketId: "' + "x" * 65 + '"'), {}),
    ],
    ids=["literal", "variable", "negative", "cursor", "cursor-variable", "market"],
)
def test_a_bad_argument_under_onboard_writes_nothing_and_the_retry_onboards(
    client: TestClient, services: Services, query: str, variables: dict[str, Any]
) -> None:
    signer = Signer()
    fields = signed(signer, is_client=True)
    before = row_counts(client, services)
    refused = client.post(
        "/graphql", json={"query": query, "variables": {"input": fields, **variables}}
    )
    assert request_error(refused.json()) == "BAD_USER_INPUT"
    assert row_counts(client, services) == before  # no profile, session or spent signature

    retry = client.post(
        "/graphql",
        json={
            "query": history_under_onboard("first: $n", ", $n: Int!"),
            "variables": {"input": fields, "n": 5},
        },
    ).json()
    assert "errors" not in retry, retry
    assert retry["data"]["onboard"]["profile"]["orderHistory"] == {"edges": []}


def test_the_refusal_names_the_argument_and_its_bounds(client: TestClient) -> None:
    body = call(client, "{ me { notifications(first: 500) { edges { cursor } } } }")
    (error,) = body["errors"]
    assert error["message"] == "first must be between 0 and 100, got 500"
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["locations"]  # points at the argument


# ------------------------------------------------------------------- §3: pages and list caps


def add_rows(client: TestClient, services: Services, profile_id: int, rows: list[Any]) -> None:
    async def insert() -> None:
        async with services.db.write() as session:
            session.add_all(rows)

    client.portal.call(insert)


def notes(profile_id: int, count: int) -> list[Notification]:
    return [
        Notification(profile_id=profile_id, type="info", title=f"n{n}", created_at=1000 + n)
        for n in range(count)
    ]


def walk(client: TestClient, jwt: str, field: str, selection: str, first: int) -> list[Any]:
    """Every page of `me.<field>`, following `endCursor`."""
    query = (
        f"query ($first: Int!, $after: String) {{ me {{ {field}(first: $first, after: $after) "
        f"{{ edges {{ node {{ {selection} }} }} pageInfo {{ hasNextPage endCursor }} }} }} }}"
    )
    pages: list[Any] = []
    after = None
    while True:
        body = call(client, query, {"first": first, "after": after}, **bearer(jwt))
        assert "errors" not in body, body
        connection = body["data"]["me"][field]
        pages.append(nodes(connection))
        if not connection["pageInfo"]["hasNextPage"]:
            return pages
        after = connection["pageInfo"]["endCursor"]


def test_notifications_are_keyset_pages_newest_first(
    client: TestClient, services: Services
) -> None:
    session = client_session(client)
    profile_id = int(session["profile"]["id"])
    add_rows(client, services, profile_id, notes(profile_id, 7))
    pages = walk(client, session["jwt"], "notifications", "title", 3)
    assert [[n["title"] for n in page] for page in pages] == [
        ["n6", "n5", "n4"],
        ["n3", "n2", "n1"],
        ["n0"],
    ]


def test_api_keys_are_keyset_pages_newest_first(client: TestClient) -> None:
    mm = market_maker(client)
    tags = [
        data(create(client, mm["jwt"], tag=f"k{n}"), "createApiKey")["apiKey"]["tag"]
        for n in range(4)
    ]
    pages = walk(client, mm["jwt"], "apiKeys", "tag", 2)
    assert [[k["tag"] for k in page] for page in pages] == [
        [tags[3], tags[2]],
        [tags[1], tags[0]],
        [""],  # the key onboarding handed out is the oldest
    ]
    cursor_of_keys = call(
        client, "{ me { apiKeys(first: 1) { pageInfo { endCursor } } } }", **bearer(mm["jwt"])
    )["data"]["me"]["apiKeys"]["pageInfo"]["endCursor"]
    wrong_list = call(
        client,
        "query ($a: String) { me { notifications(after: $a) { edges { cursor } } } }",
        {"a": cursor_of_keys},
        **bearer(mm["jwt"]),
    )
    assert request_error(wrong_list) == "BAD_USER_INPUT"


def test_embedded_lists_are_capped_newest_first_on_both_routes(
    client: TestClient, services: Services
) -> None:
    signer = Signer()
    session = client_session(client, signer, ahead=100)
    profile_id = int(session["profile"]["id"])
    orders = [
        Order(
            id=f"o{n:03}",
            profile_id=profile_id,
            market_id="BTC-USD",
            side="long",
            status="open",
            price=Decimal(1),
            size=Decimal(1),
            initial_size=Decimal(1),
            created_at=10_000 + n,
        )
        for n in range(EMBEDDED_ORDERS + 20)
    ]
    add_rows(
        client, services, profile_id, [*orders, *notes(profile_id, EMBEDDED_NOTIFICATIONS + 5)]
    )
    newest_orders = [f"o{n:03}" for n in reversed(range(20, EMBEDDED_ORDERS + 20))]

    graphql = call(client, "{ me { orders { id } totalOrderMargin } }", **bearer(session["jwt"]))
    me = graphql["data"]["me"]
    assert [order["id"] for order in me["orders"]] == newest_orders
    assert me["totalOrderMargin"] != "0"  # figures still count every order

    legacy = ok_item(onboard_rest(client, signer, is_client=True, ts=fresh_timestamp(200)))
    profile = legacy["profile"]
    assert [order["id"] for order in profile["orders"]] == newest_orders
    assert Decimal(str(profile["total_order_margin"])) == Decimal(me["totalOrderMargin"])
    titles = [n["title"] for n in profile["profile_notifications"]]
    assert titles == [f"n{n}" for n in reversed(range(5, EMBEDDED_NOTIFICATIONS + 5))]

    account = client.get(
        "/account",
        headers=signed_headers(
            {"method": "GET", "path": "/account"},
            legacy["randomSecret"],
            **{"RBT-JWT": legacy["jwt"]},
        ),
    )
    assert ok_item(account)["orders"] == profile["orders"]
    assert len(ok_item(account)["profile_notifications"]) == EMBEDDED_NOTIFICATIONS


ALIASED = "{ %s }"


def test_list_cost_is_bounded_per_document(client: TestClient) -> None:
    """Aliases multiply a list; a variable `first` counts as the most it may be."""
    session = client_session(client)
    many = ALIASED % " ".join(
        f"a{i}: me {{ orders {{ id }} positions {{ id }} }}" for i in range(15)
    )
    body = call(client, many, **bearer(session["jwt"]))
    assert request_error(body) == "GRAPHQL_VALIDATION_FAILED"
    assert body["errors"][0]["message"] == "list entries asked for 3000 is over the limit of 2000"
    fits = ALIASED % " ".join(f"a{i}: me {{ orders {{ id }} }}" for i in range(15))
    assert "errors" not in call(client, fits, **bearer(session["jwt"]))
    aliases = " ".join(
        f"a{i}: me {{ notifications(first: $n) {{ edges {{ cursor }} }} }}" for i in range(15)
    )
    paged = f"query ($n: Int!) {{ {aliases} }}"
    assert "errors" not in call(client, paged, {"n": 100}, **bearer(session["jwt"]))  # 1 500


@pytest.mark.parametrize(
    ("query", "items"),
    [
        ("{ serverTime }", 0),
        (ONBOARD, 100 + 100 + 20),  # orders, positions, notifications at their defaults
        ("{ me { notifications(first: 7) { edges { node { id } } } } }", 7),
        (
            "{ a: me { orderHistory { edges { cursor } } } "
            "b: me { apiKeys(first: 3) { edges { cursor } } } }",
            23,
        ),
        ("query ($n: Int!) { me { notifications(first: $n) { edges { cursor } } } }", 100),
        ("{ profiles(first: 10) { edges { node { orders { id } } } } }", 10 * (1 + 100)),
        ("{ ...F ...F } fragment F on Query { me { positions { id } } }", 200),
    ],
    ids=["none", "onboard", "literal", "aliases", "variable", "nested", "fragments"],
)
def test_list_cost_measure(query: str, items: int) -> None:
    assert measure(parse(query), schema._schema).items == items


# -------------------------------------------------------- §5: text at the edge, never a 5xx

SURROGATE = "\\ud800"  # as JSON text: a lone surrogate once decoded


def test_a_lone_surrogate_in_a_legacy_body_is_bad_input(client: TestClient) -> None:
    session = client_session(client)
    body = f'{{"is_client": true, "refresh_token": "{SURROGATE}"}}'
    refused = post_raw(client, "/jwt", body, **{"RBT-TS": str(fresh_timestamp())})
    assert "lone surrogate" in refusal(refused, 400, "BAD_USER_INPUT")
    for body in (
        f'{{"wallet": "0x{"0" * 40}", "signature": "{SURROGATE}"}}',
        f'{{"wallet": "0x{"0" * 40}", "signature": "0x", "meta": {{"{SURROGATE}": 1}}}}',
        '{"wallet": "a\\u0000", "signature": "0x"}',
    ):
        response = post_raw(client, "/onboarding", body, **{"RBT-TS": str(fresh_timestamp())})
        refusal(response, 400, "BAD_USER_INPUT")
    assert "errors" not in call(client, "{ me { id } }", **bearer(session["jwt"]))


@pytest.mark.parametrize(
    "text", [SURROGATE, "\\u0000", f"ok{SURROGATE}"], ids=["surrogate", "nul", "tail"]
)
@pytest.mark.parametrize(
    ("document", "variables"),
    [
        (
            "query ($t: String) { me { orderHistory(marketId: $t) { edges { cursor } } } }",
            '{{"t": "{}"}}',
        ),
        ("mutation ($t: String!) { revokeApiKey(key: $t) { key } }", '{{"t": "{}"}}'),
        ("mutation ($t: String!) { renewApiKey(key: $t, days: 1) { key } }", '{{"t": "{}"}}'),
        (
            "mutation ($i: CreateApiKeyInput!) { createApiKey(input: $i) { secret } }",
            '{{"i": {{"tag": "{}", "expiresInDays": 1}}}}',
        ),
    ],
    ids=["marketId", "revoke", "renew", "nested-input"],
)
def test_bad_text_in_graphql_variables_is_bad_input_on_both_engines(
    client: TestClient, services: Services, document: str, variables: str, text: str
) -> None:
    mm = market_maker(client)
    before = row_counts(client, services)
    body = f'{{"query": {json.dumps(document)}, "variables": {variables.format(text)}}}'
    response = post_raw(client, "/graphql", body, **bearer(mm["jwt"]))
    assert response.status_code == 200
    assert request_error(response.json()) == "BAD_USER_INPUT"
    assert row_counts(client, services) == before


def test_nul_in_a_graphql_literal_is_refused_before_execution(client: TestClient) -> None:
    mm = market_maker(client)
    body = call(client, 'mutation { revokeApiKey(key: "a\\u0000") { key } }', **bearer(mm["jwt"]))
    assert request_error(body) == "BAD_USER_INPUT"
    assert body["errors"][0]["message"] == "a string contains a NUL character"
    literal = call(client, '{ me { orderHistory(marketId: "\\ud800") { edges { cursor } } } }')
    assert request_error(literal) == "GRAPHQL_PARSE_FAILED"  # the lexer refuses these itself


def test_a_cursor_that_decodes_to_bad_text_is_refused() -> None:
    for bad in ("\ud800", "a\x00"):
        raw = json.dumps([ORDER_HISTORY, 1, bad])  # ASCII escapes: what a forger would send
        cursor = base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")
        with pytest.raises(AppError):
            decode_order_cursor(cursor)
    assert decode_order_cursor(encode_cursor(ORDER_HISTORY, 1, "é")) == (1, "é")


def test_api_key_rows_are_untouched_by_refused_text(client: TestClient, services: Services) -> None:
    mm = market_maker(client)
    key = mm["apiSecret"]["key"]
    document = json.dumps(f"mutation ($k: String!) {{ revokeApiKey(key: $k) {{ {KEY_FIELDS} }} }}")
    body = f'{{"query": {document}, "variables": {{"k": "{key}{SURROGATE}"}}}}'
    assert (
        request_error(post_raw(client, "/graphql", body, **bearer(mm["jwt"])).json())
        == "BAD_USER_INPUT"
    )

    async def status() -> str:
        async with services.db.read() as session:
            row = await session.get(ApiKey, key)
            assert row is not None
            return row.status

    assert client.portal.call(status) == "API_GEN"
    assert ok(onboard(client, **signed(Signer(), is_client=True)))["jwt"]
