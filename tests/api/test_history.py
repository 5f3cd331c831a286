"""A trader's reads: order history pages and notifications with their read state."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.api.admin_helpers import (
    admin_ok,
    code,
    notification,
    order,
    push,
    trader,
    upsert_orders,
)
from tests.api.test_onboard import signed
from tests.conftest import as_admin
from tests.pages import nodes
from tests.signing import Signer, fresh_timestamp

HISTORY = """
query ($first: Int! = 20, $after: String, $status: [OrderStatus!], $market: String) {
  me {
    orderHistory(first: $first, after: $after, status: $status, marketId: $market) {
      edges { cursor node { id status marketId createdAt } }
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
  }
}
"""
STATUSES = ["OPEN", "CLOSED", "CANCELED", "PLACED", "REJECTED"]
MARKETS = ["BTC-USD", "ETH-USD", "SOL-USD"]


def as_user(
    client: TestClient, jwt: str, query: str, variables: dict[str, Any] | None = None
) -> dict[str, Any]:
    response = client.post(
        "/graphql",
        json={"query": query, "variables": variables or {}},
        headers={"Authorization": f"Bearer {jwt}"},
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def history(client: TestClient, jwt: str, **variables: Any) -> dict[str, Any]:
    body = as_user(client, jwt, HISTORY, variables)
    assert "errors" not in body, body
    page: dict[str, Any] = body["data"]["me"]["orderHistory"]
    return page


def fill(client: TestClient, profile_id: str, count: int, prefix: str = "o") -> list[Any]:
    """`count` orders; every third pair shares a creation time, so ids break the tie."""
    orders = [
        order(
            f"{prefix}-{n:03d}",
            status=STATUSES[n % len(STATUSES)],
            marketId=MARKETS[n % len(MARKETS)],
            createdAt=1_700_000_000_000_000 + (n - n % 3) * 1_000_000,
        )
        for n in range(count)
    ]
    admin_ok(upsert_orders(client, profile_id, *orders), "upsertOrders")
    return orders


def newest_first(orders: list[dict[str, Any]]) -> list[str]:
    return [o["id"] for o in sorted(orders, key=lambda o: (o["createdAt"], o["id"]), reverse=True)]


def walk(client: TestClient, jwt: str, first: int, **filters: Any) -> list[list[str]]:
    pages: list[list[str]] = []
    after = None
    while True:
        page = history(client, jwt, first=first, after=after, **filters)
        pages.append([edge["node"]["id"] for edge in page["edges"]])
        assert page["pageInfo"]["hasPreviousPage"] is (after is not None)
        if not page["pageInfo"]["hasNextPage"]:
            return pages
        after = page["pageInfo"]["endCursor"]
        assert after == page["edges"][-1]["cursor"]


def test_paging_through_the_whole_history_newest_first(admin_client: TestClient) -> None:
    user = trader(admin_client)
    orders = fill(admin_client, user["profile"]["id"], 45)
    fill(admin_client, trader(admin_client)["profile"]["id"], 5, prefix="other")

    pages = walk(admin_client, user["jwt"], first=10)
    assert [len(page) for page in pages] == [10, 10, 10, 10, 5]
    assert [order_id for page in pages for order_id in page] == newest_first(orders)

    exact = walk(admin_client, user["jwt"], first=15)
    assert [len(page) for page in exact] == [15, 15, 15]  # no empty trailing page


def test_pages_are_stable_under_inserts(admin_client: TestClient) -> None:
    user = trader(admin_client)
    profile_id = user["profile"]["id"]
    orders = fill(admin_client, profile_id, 30)
    first = history(admin_client, user["jwt"], first=10)

    # new orders arrive (newer than everything) and an old one changes status meanwhile
    admin_ok(
        upsert_orders(
            admin_client,
            profile_id,
            *[order(f"new-{n}", createdAt=1_800_000_000_000_000 + n) for n in range(7)],
            order("o-000", status="CANCELED"),
        ),
        "upsertOrders",
    )
    seen = [edge["node"]["id"] for edge in first["edges"]]
    after = first["pageInfo"]["endCursor"]
    while after is not None:
        page = history(admin_client, user["jwt"], first=10, after=after)
        seen += [edge["node"]["id"] for edge in page["edges"]]
        after = page["pageInfo"]["endCursor"] if page["pageInfo"]["hasNextPage"] else None
    assert seen == newest_first(orders)  # nothing repeated, nothing skipped

    fresh = history(admin_client, user["jwt"], first=7)
    assert [edge["node"]["id"] for edge in fresh["edges"]] == [f"new-{n}" for n in range(6, -1, -1)]


def test_filters_by_status_and_market(admin_client: TestClient) -> None:
    user = trader(admin_client)
    orders = fill(admin_client, user["profile"]["id"], 40)

    def expected(statuses: set[str] | None, market: str | None) -> list[str]:
        kept = [
            o
            for o in orders
            if (statuses is None or o["status"] in statuses)
            and (market is None or o["marketId"] == market)
        ]
        return newest_first(kept)

    for statuses, market in [
        ({"OPEN", "PLACED"}, None),
        (None, "ETH-USD"),
        ({"CLOSED"}, "SOL-USD"),
        (None, "XRP-USD"),
    ]:
        pages = walk(
            admin_client,
            user["jwt"],
            first=4,
            status=sorted(statuses) if statuses else None,
            market=market,
        )
        got = [order_id for page in pages for order_id in page]
        assert got == expected(statuses, market), (statuses, market)
    everything = walk(admin_client, user["jwt"], first=100, status=[])
    assert everything == [newest_first(orders)]  # an empty status list keeps every status


@pytest.mark.parametrize(
    ("variables", "hint"),
    [
        ({"first": 101}, "between 0 and 100"),
        ({"first": -1}, "between 0 and 100"),
        ({"after": "garbage!"}, "not a cursor"),
        ({"after": "WyJvcmRlcnMiLDEsMl0"}, "not a cursor"),  # ["orders",1,2]: id not a string
        ({"after": "WyJvcmRlcnMiLDFlOTk5LCJ4Il0"}, "not a cursor"),  # created_at not an integer
        # ["orders",9999999999999999999999,"x"]: beyond 64 bits
        ({"after": "WyJvcmRlcnMiLDk5OTk5OTk5OTk5OTk5OTk5OTk5OTksIngiXQ"}, "not a cursor"),
        ({"status": ["SOLD"]}, "OrderStatus"),
        ({"market": "BTC\u0000"}, "NUL"),
        ({"market": ""}, "must not be empty"),
        ({"after": "WyJvcmRlcnMiLDEsIlx1MDAwMCJd"}, "not a cursor"),  # ["orders",1,"\u0000"]
    ],
)
def test_bad_history_arguments_are_refused(
    admin_client: TestClient, variables: dict[str, Any], hint: str
) -> None:
    user = trader(admin_client)
    body = as_user(admin_client, user["jwt"], HISTORY, variables)
    assert code(body) == "BAD_USER_INPUT"
    assert hint in body["errors"][0]["message"]


def test_a_cursor_of_another_list_is_refused(admin_client: TestClient) -> None:
    user = trader(admin_client)
    profiles = as_admin(admin_client, "{ profiles(first: 1) { pageInfo { endCursor } } }")
    cursor = profiles["data"]["profiles"]["pageInfo"]["endCursor"]
    body = as_user(admin_client, user["jwt"], HISTORY, {"after": cursor})
    assert code(body) == "BAD_USER_INPUT"


def test_first_zero_answers_whether_there_is_anything(admin_client: TestClient) -> None:
    user = trader(admin_client)
    assert history(admin_client, user["jwt"], first=0)["pageInfo"]["hasNextPage"] is False
    fill(admin_client, user["profile"]["id"], 1)
    page = history(admin_client, user["jwt"], first=0)
    assert (page["edges"], page["pageInfo"]["hasNextPage"]) == ([], True)


def test_every_profile_of_a_list_gets_its_own_page(admin_client: TestClient) -> None:
    """The listing loads all profiles' pages in one ranked SELECT; it must match `me`'s."""
    users = [trader(admin_client, ahead=100 + n) for n in range(3)]
    for n, user in enumerate(users):
        fill(admin_client, user["profile"]["id"], 2 + 3 * n, prefix=f"u{n}")
    body = as_admin(
        admin_client,
        """
        {
          profiles(first: 10) {
            edges { node { id orderHistory(first: 3, status: [OPEN, CLOSED, PLACED]) {
              edges { node { id } } pageInfo { hasNextPage endCursor }
            } } }
          }
        }
        """,
    )
    assert "errors" not in body, body
    edges = body["data"]["profiles"]["edges"]
    listed = {edge["node"]["id"]: edge["node"]["orderHistory"] for edge in edges}
    for user in users:
        own = history(admin_client, user["jwt"], first=3, status=["OPEN", "CLOSED", "PLACED"])
        assert listed[user["profile"]["id"]] == {
            "edges": [{"node": {"id": edge["node"]["id"]}} for edge in own["edges"]],
            "pageInfo": {
                "hasNextPage": own["pageInfo"]["hasNextPage"],
                "endCursor": own["pageInfo"]["endCursor"],
            },
        }
    assert sorted(len(page["edges"]) for page in listed.values()) == [2, 3, 3]


# --------------------------------------------------------------------------- notifications

NOTIFICATIONS = """
{ me {
  all: notifications { edges { node { id read readAt } } }
  unread: notifications(unreadOnly: true) { edges { node { id } } }
} }
"""
MARK = "mutation ($ids: [ID!]!) { markNotificationsRead(ids: $ids) { id read readAt title } }"


def test_marking_notifications_read(admin_client: TestClient) -> None:
    user = trader(admin_client, ahead=100)
    other = trader(admin_client, ahead=101)
    mine = [
        admin_ok(
            push(admin_client, user["profile"]["id"], notification(f"n{n}", createdAt=n)),
            "pushNotification",
        )["id"]
        for n in range(3)
    ]
    theirs = admin_ok(
        push(admin_client, other["profile"]["id"], notification("theirs")), "pushNotification"
    )["id"]

    before = as_user(admin_client, user["jwt"], NOTIFICATIONS)["data"]["me"]
    assert [n["id"] for n in nodes(before["all"])] == mine[::-1]  # newest first
    assert nodes(before["unread"]) == [{"id": i} for i in mine[::-1]]
    assert {(n["read"], n["readAt"]) for n in nodes(before["all"])} == {(False, None)}

    marked = as_user(admin_client, user["jwt"], MARK, {"ids": [mine[0], theirs, "987654"]})
    (read,) = marked["data"]["markNotificationsRead"]  # another's and unknown ids are ignored
    assert (read["id"], read["read"], read["title"]) == (mine[0], True, "hello n0")
    assert isinstance(read["readAt"], int)

    after = as_user(admin_client, user["jwt"], NOTIFICATIONS)["data"]["me"]
    assert nodes(after["unread"]) == [{"id": mine[2]}, {"id": mine[1]}]
    assert nodes(as_user(admin_client, other["jwt"], NOTIFICATIONS)["data"]["me"]["unread"]) == [
        {"id": theirs}
    ]

    again = as_user(admin_client, user["jwt"], MARK, {"ids": mine})["data"]
    by_id = {n["id"]: n for n in again["markNotificationsRead"]}
    assert set(by_id) == set(mine)
    assert by_id[mine[0]]["readAt"] == read["readAt"]  # first read time is kept
    assert nodes(as_user(admin_client, user["jwt"], NOTIFICATIONS)["data"]["me"]["unread"]) == []


@pytest.mark.parametrize(
    ("ids", "expected"),
    [
        (["abc"], "BAD_USER_INPUT"),
        (["-1"], "BAD_USER_INPUT"),
        (["1"] * 1001, "BAD_USER_INPUT"),
    ],
)
def test_bad_notification_ids_are_refused(
    admin_client: TestClient, ids: list[str], expected: str
) -> None:
    user = trader(admin_client)
    assert code(as_user(admin_client, user["jwt"], MARK, {"ids": ids})) == expected


def test_marking_read_needs_a_session(admin_client: TestClient) -> None:
    response = admin_client.post("/graphql", json={"query": MARK, "variables": {"ids": ["1"]}})
    assert code(response.json()) == "UNAUTHENTICATED"
    assert code(as_admin(admin_client, MARK, {"ids": ["1"]})) == "UNAUTHENTICATED"


def test_history_and_read_state_come_with_the_onboarding_payload(admin_client: TestClient) -> None:
    signer = Signer()
    profile_id = trader(admin_client, signer, ahead=100)["profile"]["id"]
    orders = fill(admin_client, profile_id, 3)
    admin_ok(push(admin_client, profile_id, notification("n")), "pushNotification")
    fields = signed(signer, is_client=True, ts=fresh_timestamp(200))
    query = """
    mutation ($input: OnboardInput!) {
      onboard(input: $input) { profile {
        orderHistory(first: 2) { edges { node { id } } pageInfo { hasNextPage } }
        notifications(unreadOnly: true) { edges { node { id read } } }
      } }
    }
    """
    body = admin_client.post("/graphql", json={"query": query, "variables": {"input": fields}})
    profile = body.json()["data"]["onboard"]["profile"]
    assert [e["node"]["id"] for e in profile["orderHistory"]["edges"]] == newest_first(orders)[:2]
    assert profile["orderHistory"]["pageInfo"]["hasNextPage"] is True
    assert [n["read"] for n in nodes(profile["notifications"])] == [False]
