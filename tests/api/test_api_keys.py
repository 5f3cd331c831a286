"""API key management over GraphQL: create (secret once), list (owner only), revoke, renew, the
100-live-key cap, expiry, and the notifications that go with them."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import re
import time
from typing import Any

import pytest
import strawberry
from sqlalchemy import func
from sqlmodel import select
from starlette.testclient import TestClient
from strawberry.schema.config import StrawberryConfig

from api.services import Services
from models.api_keys import DAY, MAX_LIVE_KEYS, create_api_key, sweep_api_keys
from models.errors import AppError, ErrorCode
from models.sessions import Credentials
from models.tables import ApiKey, Notification, Profile
from resolvers.context import Context
from resolvers.scalars import SCALAR_MAP
from resolvers.types import Info, ProfileNode
from tests.api.test_onboard import ok, onboard, signed
from tests.api.test_sessions import call, code, me, signed_in
from tests.pages import nodes
from tests.signing import Signer, fresh_timestamp

KEY_FIELDS = "key tag status expiration allowedIps createdAt lastUsedAt"
ME_KEYS = f"""{{ me {{
  id
  apiKeys(first: 100) {{ edges {{ node {{ {KEY_FIELDS} }} }} }}
  notifications(first: 100) {{ edges {{ node {{ type title description }} }} }}
}} }}"""
CREATE = f"""
mutation ($input: CreateApiKeyInput!) {{
  createApiKey(input: $input) {{ secret apiKey {{ {KEY_FIELDS} }} }}
}}
"""
REVOKE = f"mutation ($key: String!) {{ revokeApiKey(key: $key) {{ {KEY_FIELDS} }} }}"
RENEW = f"""
mutation ($key: String!, $days: Int!) {{ renewApiKey(key: $key, days: $days) {{ {KEY_FIELDS} }} }}
"""


def market_maker(
    client: TestClient, signer: Signer | None = None, ahead: int = 300
) -> dict[str, Any]:
    fields = signed(signer or Signer(), is_client=False, ts=fresh_timestamp(ahead))
    return ok(onboard(client, **fields))


def bearer(jwt: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {jwt}"}


def data(body: dict[str, Any], field: str) -> Any:
    assert "errors" not in body, body
    return body["data"][field]


def create(client: TestClient, jwt: str, **fields: Any) -> dict[str, Any]:
    fields = {"tag": "bot", "expiresInDays": 30, **fields}
    return call(client, CREATE, {"input": fields}, **bearer(jwt))


def my_keys(client: TestClient, jwt: str) -> dict[str, Any]:
    """The caller's profile with its first 100 keys and notifications, as plain lists."""
    result: dict[str, Any] = data(call(client, ME_KEYS, **bearer(jwt)), "me")
    return {
        **result,
        "apiKeys": nodes(result["apiKeys"]),
        "notifications": nodes(result["notifications"]),
    }


def count(client: TestClient, services: Services, model: type[Any]) -> int:
    async def rows() -> int:
        async with services.db.read() as session:
            return int((await session.exec(select(func.count()).select_from(model))).one())

    return client.portal.call(rows)


def unlimited(services: Services) -> Credentials:
    """The service's credentials with key creation not rate-limited (to fill a profile)."""
    config = services.credentials.config.model_copy(update={"rate_limit_key_creation": None})
    return dataclasses.replace(services.credentials, config=config)


def add_keys(
    client: TestClient, services: Services, profile_id: str, n: int, *, now: float | None = None
) -> list[str]:
    """Create keys through the use case directly (fast), optionally as of another time."""

    async def make() -> list[str]:
        made = []
        for i in range(n):
            row, _ = await create_api_key(
                services.db,
                unlimited(services),
                int(profile_id),
                tag=f"bulk-{i}",
                expires_in_days=1,
                now=now,
            )
            made.append(row.key)
        return made

    return client.portal.call(make)


def test_create_shows_the_secret_once_and_the_key_is_listed_without_it(client: TestClient) -> None:
    mm = market_maker(client)
    assert my_keys(client, mm["jwt"])["notifications"] == []  # onboarding's key adds none
    before = int(time.time())
    created = data(
        create(
            client,
            mm["jwt"],
            tag="arb bot",
            expiresInDays=30,
            allowedIps=["203.0.113.0/24", "198.51.100.7", "2001:DB8::/32"],
        ),
        "createApiKey",
    )
    assert re.fullmatch(r"0x[0-9a-f]{64}", created["secret"])
    key = created["apiKey"]
    assert len(key["key"]) == 44
    assert (key["tag"], key["status"], key["lastUsedAt"]) == ("arb bot", "API_GEN", None)
    assert key["allowedIps"] == ["203.0.113.0/24", "198.51.100.7/32", "2001:db8::/32"]
    assert before + 30 * DAY <= key["expiration"] <= int(time.time()) + 30 * DAY
    assert abs(key["createdAt"] - before * 1_000_000) < 60_000_000  # microseconds

    mine = my_keys(client, mm["jwt"])
    assert [k["key"] for k in mine["apiKeys"]] == [key["key"], mm["apiSecret"]["key"]]
    assert mine["apiKeys"][0] == key
    assert mine["apiKeys"][1]["tag"] == ""
    listing = json.dumps(mine)
    assert created["secret"] not in listing
    assert created["secret"][2:] not in listing
    assert mine["notifications"] == [
        {
            "type": "api_key_created",
            "title": "API key created",
            "description": mine["notifications"][0]["description"],
        }
    ]
    assert key["key"] in mine["notifications"][0]["description"]


def test_revoke_is_idempotent_and_a_revoked_key_cannot_be_renewed(client: TestClient) -> None:
    mm = market_maker(client)
    key = data(create(client, mm["jwt"]), "createApiKey")["apiKey"]["key"]
    revoked = data(call(client, REVOKE, {"key": key}, **bearer(mm["jwt"])), "revokeApiKey")
    assert revoked["status"] == "REVOKED"
    again = data(call(client, REVOKE, {"key": key}, **bearer(mm["jwt"])), "revokeApiKey")
    assert again == revoked
    renewed = call(client, RENEW, {"key": key, "days": 10}, **bearer(mm["jwt"]))
    assert code(renewed) == "NO_SUCH_KEY"
    assert "revoked" in renewed["errors"][0]["message"]
    statuses = {k["key"]: k["status"] for k in my_keys(client, mm["jwt"])["apiKeys"]}
    assert statuses == {key: "REVOKED", mm["apiSecret"]["key"]: "API_GEN"}


def test_renew_sets_a_new_expiry_and_onboarding_hands_the_renewed_key_back(
    client: TestClient,
) -> None:
    signer = Signer()
    mm = market_maker(client, signer, ahead=100)
    onboarding_key = mm["apiSecret"]["key"]
    renewed = data(
        call(client, RENEW, {"key": onboarding_key, "days": 10}, **bearer(mm["jwt"])),
        "renewApiKey",
    )
    assert abs(renewed["expiration"] - (time.time() + 10 * DAY)) < 60
    again = market_maker(client, signer, ahead=101)
    assert again["apiSecret"]["key"] == onboarding_key
    assert again["apiSecret"]["secret"] == mm["apiSecret"]["secret"]
    assert again["apiSecret"]["expiration"] == renewed["expiration"]
    for days in (0, 366):
        refused = call(client, RENEW, {"key": onboarding_key, "days": days}, **bearer(mm["jwt"]))
        assert code(refused) == "BAD_USER_INPUT"


def test_revoking_the_onboarding_key_makes_onboarding_mint_a_new_one(client: TestClient) -> None:
    signer = Signer()
    mm = market_maker(client, signer, ahead=100)
    data(call(client, REVOKE, {"key": mm["apiSecret"]["key"]}, **bearer(mm["jwt"])), "revokeApiKey")
    again = market_maker(client, signer, ahead=101)
    assert again["apiSecret"]["key"] != mm["apiSecret"]["key"]
    assert again["apiSecret"]["secret"] != mm["apiSecret"]["secret"]


def test_keys_of_another_profile_are_neither_listed_nor_touchable(client: TestClient) -> None:
    alice, bob = market_maker(client), market_maker(client)
    bobs = data(create(client, bob["jwt"]), "createApiKey")["apiKey"]["key"]
    alices_view = [k["key"] for k in my_keys(client, alice["jwt"])["apiKeys"]]
    assert alices_view == [alice["apiSecret"]["key"]]
    for mutation, variables in ((REVOKE, {"key": bobs}), (RENEW, {"key": bobs, "days": 5})):
        assert code(call(client, mutation, variables, **bearer(alice["jwt"]))) == "NOT_YOUR_KEY"
    assert my_keys(client, bob["jwt"])["apiKeys"][0]["status"] == "API_GEN"
    unknown = call(client, REVOKE, {"key": "A" * 44}, **bearer(alice["jwt"]))
    assert code(unknown) == "NO_SUCH_KEY"


@pytest.mark.parametrize(
    "operation",
    [
        (CREATE, {"input": {"tag": "x", "expiresInDays": 1}}),
        (REVOKE, {"key": "A" * 44}),
        (RENEW, {"key": "A" * 44, "days": 1}),
    ],
    ids=["create", "revoke", "renew"],
)
def test_key_management_needs_an_access_token(
    client: TestClient, operation: tuple[str, dict[str, Any]]
) -> None:
    mm = market_maker(client)
    query, variables = operation
    assert code(call(client, query, variables)) == "UNAUTHENTICATED"
    assert code(call(client, query, variables, **bearer(mm["refreshToken"] or "x"))) == (
        "UNAUTHENTICATED"
    )


def test_without_a_session_there_is_no_one_to_list_keys_for(client: TestClient) -> None:
    mm = market_maker(client)
    for headers in ({}, bearer(mm["refreshToken"] or "x")):
        assert call(client, ME_KEYS, {}, **headers) == {"data": {"me": None}}


def test_the_onboard_response_lists_the_keys_of_the_wallet_it_just_proved(
    client: TestClient,
) -> None:
    signer = Signer()
    mm = market_maker(client, signer, ahead=100)
    data(create(client, mm["jwt"], tag="second"), "createApiKey")
    query = """
    mutation ($i: OnboardInput!) {
      onboard(input: $i) { profile { apiKeys { edges { node { tag } } } } }
    }
    """
    # No JWT is sent: the signature in this very request is the proof of ownership.
    listed = call(client, query, {"i": signed(signer, is_client=True, ts=fresh_timestamp(101))})
    keys = nodes(data(listed, "onboard")["profile"]["apiKeys"])
    assert keys == [{"tag": "second"}, {"tag": ""}]


@strawberry.type
class AnyProfileQuery:
    """Stands in for the coming admin listing: a Profile reached without an ownership proof."""

    @strawberry.field
    async def profile(self, info: Info, id: strawberry.ID) -> ProfileNode:
        async with info.context.db.read() as session:
            row = await session.get(Profile, int(id))
        assert row is not None
        return ProfileNode(row=row)


def test_a_profile_reached_any_other_way_shows_keys_only_to_its_owner(
    client: TestClient, services: Services
) -> None:
    alice, bob = market_maker(client), market_maker(client)
    schema = strawberry.Schema(
        query=AnyProfileQuery, config=StrawberryConfig(scalar_map=SCALAR_MAP)
    )
    query = "query ($id: ID!) { profile(id: $id) { id apiKeys { edges { node { key } } } } }"

    def as_caller(jwt: str | None) -> Any:
        context = Context(
            db=services.db, credentials=services.credentials, request_id="t", access_token=jwt
        )
        run = functools.partial(
            schema.execute,
            query,
            variable_values={"id": bob["profile"]["id"]},
            context_value=context,
        )
        return client.portal.call(run)

    owner = as_caller(bob["jwt"])
    assert owner.errors is None
    assert nodes(owner.data["profile"]["apiKeys"]) == [{"key": bob["apiSecret"]["key"]}]
    for jwt, expected in ((alice["jwt"], ErrorCode.FORBIDDEN), (None, ErrorCode.UNAUTHENTICATED)):
        stranger = as_caller(jwt)
        assert stranger.data["profile"] == {"id": bob["profile"]["id"], "apiKeys": None}
        (error,) = stranger.errors
        assert error.extensions["code"] == expected


@pytest.mark.parametrize(
    ("fields", "hint"),
    [
        ({"tag": ""}, "1–64 characters"),
        ({"tag": "x" * 65}, "1–64 characters"),
        ({"tag": "a\u0000b"}, "NUL"),  # refused at the edge, like every string
        ({"tag": "a\u0001b"}, "control characters"),
        ({"expiresInDays": 0}, "between 1 and 365"),
        ({"expiresInDays": 366}, "between 1 and 365"),
        ({"expiresInDays": -5}, "between 1 and 365"),
        ({"allowedIps": ["10.0.0.1/24"]}, "did you mean 10.0.0.0/24"),
        ({"allowedIps": ["10.0.0.0/8", "nope"]}, "not an IP address"),
        ({"expiresInDays": 2**40}, "Int"),
        ({"allowedIps": "10.0.0.0/8, 10.1.0.0/16"}, "not an IP address"),
    ],
)
def test_bad_input_is_refused_and_writes_nothing(
    client: TestClient, services: Services, fields: dict[str, Any], hint: str
) -> None:
    mm = market_maker(client)
    keys, notes = count(client, services, ApiKey), count(client, services, Notification)
    body = create(client, mm["jwt"], **fields)
    assert code(body) == "BAD_USER_INPUT"
    assert hint in body["errors"][0]["message"]
    assert (count(client, services, ApiKey), count(client, services, Notification)) == (keys, notes)


def test_the_101st_live_key_is_refused_revoked_and_expired_ones_do_not_count(
    client: TestClient, services: Services
) -> None:
    mm = market_maker(client)  # the onboarding key counts: 1 live
    profile_id = mm["profile"]["id"]
    add_keys(client, services, profile_id, 2, now=time.time() - 2 * DAY)  # expired: not counted
    add_keys(client, services, profile_id, MAX_LIVE_KEYS - 2)
    last = data(create(client, mm["jwt"], tag="100th"), "createApiKey")["apiKey"]["key"]
    assert count(client, services, ApiKey) == MAX_LIVE_KEYS + 2

    refused = create(client, mm["jwt"], tag="101st")
    assert code(refused) == "MAX_SECRETS_EXCEED"
    assert "revoke one" in refused["errors"][0]["message"]
    assert count(client, services, ApiKey) == MAX_LIVE_KEYS + 2

    data(call(client, REVOKE, {"key": last}, **bearer(mm["jwt"])), "revokeApiKey")
    data(create(client, mm["jwt"], tag="fits again"), "createApiKey")
    assert code(create(client, mm["jwt"], tag="over again")) == "MAX_SECRETS_EXCEED"


def test_concurrent_creations_at_the_cap_let_exactly_one_through(
    client: TestClient, services: Services
) -> None:
    mm = market_maker(client)
    profile_id = int(mm["profile"]["id"])
    add_keys(client, services, mm["profile"]["id"], MAX_LIVE_KEYS - 2)  # + onboarding key = 99

    async def race() -> list[object]:
        attempts = [
            create_api_key(
                services.db, services.credentials, profile_id, tag=f"racer-{i}", expires_in_days=1
            )
            for i in range(5)
        ]
        return await asyncio.gather(*attempts, return_exceptions=True)

    outcomes = client.portal.call(race)
    refusals = [o for o in outcomes if isinstance(o, AppError)]
    assert len(refusals) == 4, outcomes
    assert {r.code for r in refusals} == {ErrorCode.MAX_SECRETS_EXCEED}
    assert count(client, services, ApiKey) == MAX_LIVE_KEYS


def test_an_expired_key_is_shown_expired_cannot_be_renewed_but_can_be_revoked(
    client: TestClient, services: Services
) -> None:
    mm = market_maker(client)
    (old,) = add_keys(client, services, mm["profile"]["id"], 1, now=time.time() - 2 * DAY)
    listed = {k["key"]: k["status"] for k in my_keys(client, mm["jwt"])["apiKeys"]}
    assert listed[old] == "EXPIRED"
    renewed = call(client, RENEW, {"key": old, "days": 30}, **bearer(mm["jwt"]))
    assert code(renewed) == "KEY_EXPIRED"
    assert "create a new key" in renewed["errors"][0]["message"]
    revoked = data(call(client, REVOKE, {"key": old}, **bearer(mm["jwt"])), "revokeApiKey")
    assert revoked["status"] == "REVOKED"


def test_any_live_session_of_the_profile_manages_its_keys(client: TestClient) -> None:
    """A browser (client) session may manage the keys of its own profile too."""
    signer = Signer()
    mm = market_maker(client, signer, ahead=100)
    browser = ok(onboard(client, **signed(signer, is_client=True, ts=fresh_timestamp(101))))
    key = data(create(client, browser["jwt"]), "createApiKey")["apiKey"]["key"]
    assert key in {k["key"] for k in my_keys(client, mm["jwt"])["apiKeys"]}
    assert signed_in(me(client, browser["jwt"]))


def expiring_warnings(client: TestClient, jwt: str) -> list[str]:
    notes = my_keys(client, jwt)["notifications"]
    return [n["description"] for n in notes if n["type"] == "api_key_expiring"]


def test_a_key_near_expiry_is_warned_once_per_expiry(
    client: TestClient, services: Services
) -> None:
    mm = market_maker(client)  # onboarding key: 180 days, not near expiry
    soon = data(create(client, mm["jwt"], tag="soon", expiresInDays=3), "createApiKey")["apiKey"]
    later = data(create(client, mm["jwt"], tag="later", expiresInDays=30), "createApiKey")["apiKey"]
    gone = data(create(client, mm["jwt"], tag="gone", expiresInDays=2), "createApiKey")["apiKey"]
    data(call(client, REVOKE, {"key": gone["key"]}, **bearer(mm["jwt"])), "revokeApiKey")

    def sweep(at: float) -> tuple[int, int]:
        return client.portal.call(
            functools.partial(sweep_api_keys, services.db, services.settings, at)
        )

    now = time.time()
    assert sweep(now) == (1, 0)
    assert sweep(now) == (0, 0)  # idempotent
    (warning,) = expiring_warnings(client, mm["jwt"])
    assert soon["key"] in warning
    assert "renew" in warning

    data(call(client, RENEW, {"key": soon["key"], "days": 30}, **bearer(mm["jwt"])), "renewApiKey")
    assert sweep(now) == (0, 0)  # the new expiry is 30 days away
    # 24 days on, both the renewed key and `later` are within a week of expiring: one each.
    assert sweep(now + 24 * DAY) == (2, 0)
    assert sweep(now + 24 * DAY) == (0, 0)
    warnings = expiring_warnings(client, mm["jwt"])
    assert sum(soon["key"] in w for w in warnings) == 2  # once per expiry
    assert sum(later["key"] in w for w in warnings) == 1
    assert not any(gone["key"] in w for w in warnings)  # revoked keys are not warned about


def test_dead_keys_are_deleted_after_the_retention(client: TestClient, services: Services) -> None:
    mm = market_maker(client)
    revoked = data(create(client, mm["jwt"], tag="r", expiresInDays=365), "createApiKey")["apiKey"]
    data(call(client, REVOKE, {"key": revoked["key"]}, **bearer(mm["jwt"])), "revokeApiKey")
    expiring = data(create(client, mm["jwt"], tag="e", expiresInDays=1), "createApiKey")["apiKey"]

    def sweep(at: float) -> tuple[int, int]:
        return client.portal.call(
            functools.partial(sweep_api_keys, services.db, services.settings, at)
        )

    assert sweep(time.time() + 29 * DAY)[1] == 0
    assert sweep(time.time() + 32 * DAY)[1] == 2
    remaining = {k["key"] for k in my_keys(client, mm["jwt"])["apiKeys"]}
    assert remaining == {mm["apiSecret"]["key"]}
    assert expiring["key"] not in remaining
