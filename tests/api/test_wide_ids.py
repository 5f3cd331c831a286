"""Ids are `Int64` in the schema, and both engines store and compare them as 64-bit integers; a
NUL in an API key (valid Unicode, but PostgreSQL text cannot hold it) is an unknown key. Each
case answers the same on SQLite and PostgreSQL, never INTERNAL_SERVER_ERROR."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from models.pagination import PROFILES, encode_cursor
from models.tables import Notification, Profile
from tests.api.admin_helpers import SET_BALANCE, trader
from tests.api.test_api_keys import RENEW, REVOKE, bearer, market_maker
from tests.api.test_sessions import call, code
from tests.conftest import as_admin

WIDE = 2**40
MARK_READ = "mutation ($ids: [ID!]!) { markNotificationsRead(ids: $ids) { id } }"


def test_notification_ids_beyond_32_bits_are_just_unknown(admin_client: TestClient) -> None:
    user = trader(admin_client)
    body = call(admin_client, MARK_READ, {"ids": ["2147483648", str(WIDE)]}, **bearer(user["jwt"]))
    assert body == {"data": {"markNotificationsRead": []}}


def test_a_profile_id_beyond_32_bits_is_not_found(admin_client: TestClient) -> None:
    body = as_admin(admin_client, SET_BALANCE, {"id": "99999999999", "balance": "1"})
    assert code(body) == "PROFILE_NOT_FOUND"


def test_a_profiles_cursor_beyond_32_bits_pages_on(admin_client: TestClient) -> None:
    user = trader(admin_client)
    query = "query ($after: String) { profiles(first: 5, after: $after) { edges { node { id } } } }"
    body = as_admin(admin_client, query, {"after": encode_cursor(PROFILES, WIDE)})
    assert "errors" not in body, body
    assert body["data"]["profiles"]["edges"] == [{"node": {"id": user["profile"]["id"]}}]


def test_rows_with_ids_beyond_32_bits_are_stored_and_served(admin_client: TestClient) -> None:
    """The columns are 64-bit: a profile and a notification numbered past 2^31 work end to end."""
    db = admin_client.app.state.services.db  # type: ignore[attr-defined]

    async def insert() -> None:
        async with db.write() as session:
            session.add(
                Profile(id=WIDE, wallet="0x" + "1" * 40, exchange_id="rbx", profile_type="trader")
            )
            await session.flush()
            session.add(Notification(id=WIDE + 1, profile_id=WIDE, type="info", title="Hi"))

    admin_client.portal.call(insert)
    funded = as_admin(admin_client, SET_BALANCE, {"id": str(WIDE), "balance": "12.5"})
    assert "errors" not in funded, funded
    assert funded["data"]["setBalance"]["id"] == str(WIDE)
    listed = as_admin(admin_client, "{ profiles(first: 1) { edges { node { id } } } }")
    assert listed["data"]["profiles"]["edges"] == [{"node": {"id": str(WIDE)}}]

    async def notification_owner() -> Any:
        async with db.read() as session:
            found = await session.get(Notification, WIDE + 1)
            return found.profile_id if found else None

    assert admin_client.portal.call(notification_owner) == WIDE


@pytest.mark.parametrize(
    ("mutation", "variables"),
    [(REVOKE, {}), (RENEW, {"days": 5})],
    ids=["revoke", "renew"],
)
@pytest.mark.parametrize(
    ("key", "expected"),
    [
        # NUL is refused at the edge, like any text no column can hold (models/text.py).
        ("A\u0000B", "BAD_USER_INPUT"),
        ("\u0000" * 44, "BAD_USER_INPUT"),
        ("x" * 10_000, "NO_SUCH_KEY"),
    ],
)
def test_an_api_key_argument_that_cannot_be_a_key_is_refused_cleanly(
    client: TestClient, mutation: str, variables: dict[str, Any], key: str, expected: str
) -> None:
    mm = market_maker(client)
    body = call(client, mutation, {"key": key, **variables}, **bearer(mm["jwt"]))
    assert code(body) == expected
