"""`/openapi.json` is a valid OpenAPI 3.1 document, and real responses validate against it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse
from openapi_core.validation.response.exceptions import InvalidData, MissingRequiredHeader
from openapi_spec_validator import validate
from starlette.testclient import TestClient

from api.app import create_app
from api.openapi import openapi_document
from api.services import Services
from api.settings import LegacyDecimals, Settings
from tests.api.legacy import add_trading_rows, ok_item, onboard_rest, update_api_key
from tests.legacy_client import OfficialClient, signed_headers
from tests.signing import Signer, fresh_timestamp


@pytest.mark.parametrize("decimals", list(LegacyDecimals))
def test_the_document_is_valid_openapi_3_1(decimals: LegacyDecimals) -> None:
    document = openapi_document(decimals)
    assert document["openapi"].startswith("3.1")
    validate(document)


def test_the_served_document_follows_the_decimals_setting(client: TestClient) -> None:
    served = client.get("/openapi.json")
    assert served.status_code == 200
    assert served.json() == openapi_document(LegacyDecimals.NUMBER)
    assert served.json()["components"]["schemas"]["Amount"]["type"] == "number"


def check(openapi: OpenAPI, response: httpx.Response) -> None:
    """Validate one real response (status, headers, body) against the document."""
    request = response.request
    openapi.validate_response(
        MockRequest(
            "http://testserver",
            request.method,
            request.url.path,
            args=dict(request.url.params),
            headers=dict(request.headers),
            data=request.content,
        ),
        MockResponse(
            response.content,
            status_code=response.status_code,
            headers=dict(response.headers),
            content_type=response.headers["content-type"],
        ),
    )


def exchanges(client: TestClient, services: Services) -> Iterator[httpx.Response]:
    """Every route, succeeding and refusing, with nested rows in the profile."""
    signer = Signer()
    first = onboard_rest(client, signer, is_client=True, ts=fresh_timestamp(100))
    add_trading_rows(client, services, ok_item(first)["profile"]["id"])
    session_response = onboard_rest(client, signer, is_client=True, ts=fresh_timestamp(101))
    session = ok_item(session_response)
    yield session_response
    yield onboard_rest(client, signer, is_client=False, ts=fresh_timestamp(102))
    yield onboard_rest(client, is_client=True, headers={"EID": "nope"})
    yield client.post("/onboarding", content=b"{", headers={"RBT-TS": "1"})

    body = {"is_client": True, "refresh_token": session["refreshToken"]}
    signed = {**body, "method": "POST", "path": "/jwt"}
    yield client.post("/jwt", json=body, headers=signed_headers(signed, session["randomSecret"]))
    yield client.post("/jwt", json=body, headers=signed_headers(signed, session["randomSecret"]))

    official = OfficialClient(client)
    official.onboarding()
    assert official.api_key
    assert official.api_secret
    mm_body = {"refresh_token": "x", "is_client": False}
    mm_signed = {**mm_body, "method": "POST", "path": "/jwt"}
    yield client.post(
        "/jwt",
        json=mm_body,
        headers=signed_headers(mm_signed, official.api_secret, **{"RBT-API-KEY": official.api_key}),
    )
    account = {"method": "GET", "path": "/account"}
    key = {"RBT-API-KEY": official.api_key}
    yield client.get("/account", headers=signed_headers(account, official.api_secret, **key))
    yield client.get(
        "/account",
        headers=signed_headers(account, official.api_secret, timestamp=int(time.time()), **key),
    )
    yield client.get("/account", headers=signed_headers(account, "0x" + "55" * 32, **key))
    update_api_key(client, services, official.api_key, allowed_ips=["192.0.2.0/24"])
    yield client.get("/account", headers=signed_headers(account, official.api_secret, **key))
    yield client.get("/account/validate", params={"jwt": official.public_jwt or ""})
    yield client.get("/account/validate", params={"jwt": "nope"})
    yield client.get("/srvtimestamp")


@pytest.mark.parametrize("decimals", list(LegacyDecimals))
def test_real_responses_validate_against_the_document(
    settings: Settings, decimals: LegacyDecimals
) -> None:
    settings.legacy_decimals = decimals
    app = create_app(settings)
    openapi = OpenAPI.from_dict(openapi_document(decimals))
    statuses: set[int] = set()
    with TestClient(app) as client:
        client.portal.call(app.state.services.db.create_schema)
        for response in exchanges(client, app.state.services):
            check(openapi, response)
            statuses.add(response.status_code)
    assert statuses == {200, 400, 401, 403}


def test_a_response_off_the_document_fails_validation(client: TestClient) -> None:
    """The validator is not a rubber stamp: an extra key, a wrong type, a missing header."""
    response = onboard_rest(client, is_client=True)
    openapi = OpenAPI.from_dict(openapi_document(LegacyDecimals.NUMBER))
    check(openapi, response)

    def forged(body: dict[str, Any], headers: dict[str, str]) -> httpx.Response:
        return httpx.Response(200, json=body, headers=headers, request=response.request)

    extra_key = response.json()
    extra_key["result"][0]["profile"]["surprise"] = 1
    amount_as_string = response.json()
    amount_as_string["result"][0]["profile"]["balance"] = "0"
    for body in (extra_key, amount_as_string):
        with pytest.raises(InvalidData):
            check(openapi, forged(body, dict(response.headers)))
    headers = dict(response.headers)
    del headers["srv-timestamp"]
    with pytest.raises(MissingRequiredHeader):
        check(openapi, forged(response.json(), headers))


def test_the_document_names_its_server_its_credentials_and_only_possible_responses() -> None:
    document = openapi_document(LegacyDecimals.NUMBER)
    assert document["servers"] == [
        {"url": "/", "description": "The server that serves this document."}
    ]
    schemes = document["components"]["securitySchemes"]
    assert {(s["in"], s["name"]) for s in schemes.values()} == {
        ("header", "RBT-API-KEY"),
        ("header", "RBT-SIGNATURE"),
        ("header", "RBT-JWT"),
        ("cookie", "jwt"),
    }
    paths = document["paths"]
    assert all("hmac" in option for option in paths["/account"]["get"]["security"])
    assert {"hmac": []} in paths["/jwt"]["post"]["security"]
    assert "security" not in paths["/onboarding"]["post"]
    statuses = {
        (path, method): sorted(operation["responses"])
        for path, item in paths.items()
        for method, operation in item.items()
    }
    assert statuses == {
        ("/onboarding", "post"): ["200", "400", "405", "413", "429", "500", "503"],
        ("/jwt", "post"): ["200", "400", "401", "403", "405", "413", "500", "503"],
        ("/account", "get"): ["200", "400", "401", "403", "405", "500", "503"],
        ("/account/validate", "get"): ["200", "400", "401", "403", "405", "500", "503"],
        ("/srvtimestamp", "get"): ["200", "405", "500"],
    }
