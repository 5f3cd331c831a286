"""GraphQL over HTTP: one test per rule of the specification the view implements.

The official audit (npm `graphql-http`) runs too, against a real server: tests/test_http_audit.py.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from api.app import create_app
from api.graphql import GRAPHQL_RESPONSE_JSON, JSON, graphql_limits, negotiate
from api.settings import Settings

PARSE_ERROR = {"query": "{"}
VALIDATION_ERROR = {"query": "{ noSuchField }"}
COERCION_ERROR = {
    "query": "query ($name: String!) { __type(name: $name) { name } }",
    "variables": {"name": 5},
}


@pytest.fixture(scope="module")
def http() -> Any:
    """No database work happens here: one app for the module, on a throwaway SQLite file."""
    app = create_app(Settings(database_url="sqlite+aiosqlite:///:memory:"))
    with TestClient(app) as client:
        yield client


@pytest.fixture
def production_recursion_limit() -> Iterator[None]:
    """Python's default limit, which decides how deep a JSON body may nest (test tools raise it)."""
    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)
    yield
    sys.setrecursionlimit(previous)


def post(client: TestClient, body: Any, accept: str | None = None, **headers: str) -> Any:
    if accept is not None:
        headers["accept"] = accept
    return client.post("/graphql", json=body, headers=headers)


def codes(response: Any) -> list[str]:
    return [error["extensions"]["code"] for error in response.json()["errors"]]


@pytest.mark.parametrize(
    ("accept", "chosen"),
    [
        (None, JSON),
        ("", JSON),
        ("*/*", JSON),
        ("application/*", JSON),
        (JSON, JSON),
        (GRAPHQL_RESPONSE_JSON, GRAPHQL_RESPONSE_JSON),
        (f"{GRAPHQL_RESPONSE_JSON}, {JSON};q=0.9", GRAPHQL_RESPONSE_JSON),
        (f"{JSON}, {GRAPHQL_RESPONSE_JSON}", GRAPHQL_RESPONSE_JSON),
        (f"{GRAPHQL_RESPONSE_JSON};q=0.5, {JSON}", JSON),
        (f"{JSON};charset=utf-8", JSON),
        ("*/*;q=0.8, text/html", JSON),
        (f"{GRAPHQL_RESPONSE_JSON};q=0.1, */*", JSON),
        ("text/html", None),
        (f"{JSON};q=0", None),
        (f"{JSON};q=abc", None),
        ("image/png, text/*", None),
    ],
)
def test_accept_negotiation(accept: str | None, chosen: str | None) -> None:
    assert negotiate(accept) == chosen


@pytest.mark.parametrize("accept", [None, "*/*", JSON, GRAPHQL_RESPONSE_JSON])
def test_successful_responses_use_the_negotiated_media_type(http: TestClient, accept: str) -> None:
    response = post(http, {"query": "{ __typename }"}, accept)
    assert response.status_code == 200
    expected = GRAPHQL_RESPONSE_JSON if accept == GRAPHQL_RESPONSE_JSON else JSON
    assert response.headers["content-type"] == f"{expected}; charset=utf-8"
    assert response.headers["vary"] == "Accept"
    assert response.json() == {"data": {"__typename": "Query"}}


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (PARSE_ERROR, "GRAPHQL_PARSE_FAILED"),
        (VALIDATION_ERROR, "GRAPHQL_VALIDATION_FAILED"),
        (COERCION_ERROR, "BAD_USER_INPUT"),
    ],
    ids=["parse", "validation", "variables"],
)
def test_request_errors_have_no_data_and_are_400_for_graphql_response_json(
    http: TestClient, body: dict[str, Any], code: str
) -> None:
    strict = post(http, body, GRAPHQL_RESPONSE_JSON)
    assert strict.status_code == 400
    assert "data" not in strict.json()
    assert codes(strict) == [code]
    legacy = post(http, body, JSON)  # the specification keeps application/json clients on 200
    assert legacy.status_code == 200
    assert "data" not in legacy.json()
    assert codes(legacy) == [code]


def test_field_errors_keep_data_and_200(http: TestClient) -> None:
    response = post(http, {"query": "mutation { logout }"}, GRAPHQL_RESPONSE_JSON)
    assert response.status_code == 200
    assert response.json()["data"] is None
    assert codes(response) == ["UNAUTHENTICATED"]


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "",
        "application/x-www-form-urlencoded",
        "application/jsonx",
        f"{JSON}; charset=latin-1",
    ],
)
def test_other_content_types_are_415(http: TestClient, content_type: str) -> None:
    response = http.post(
        "/graphql", content=b'{"query": "{ __typename }"}', headers={"content-type": content_type}
    )
    assert response.status_code == 415
    assert codes(response) == ["UNSUPPORTED_MEDIA_TYPE"]


def test_utf8_charset_is_accepted(http: TestClient) -> None:
    response = http.post(
        "/graphql",
        content='{"query": "{ __type(name: \\"Run🏃\\") { name } }"}'.encode(),
        headers={"content-type": f"{JSON}; charset=UTF-8"},
    )
    assert response.status_code == 200
    assert response.json() == {"data": {"__type": None}}


def test_queries_work_over_get_and_mutations_get_405(http: TestClient) -> None:
    query = http.get("/graphql", params={"query": "{ __typename }"})
    assert (query.status_code, query.json()) == (200, {"data": {"__typename": "Query"}})
    mutation = http.get("/graphql", params={"query": "mutation { logout }"})
    assert mutation.status_code == 405
    assert mutation.headers["allow"] == "POST"
    assert codes(mutation) == ["METHOD_NOT_ALLOWED"]


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
def test_other_methods_are_405(http: TestClient, method: str) -> None:
    response = http.request(method, "/graphql", json={"query": "{ __typename }"})
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"
    assert codes(response) == ["METHOD_NOT_ALLOWED"]


def test_unacceptable_accept_is_406_before_anything_runs(http: TestClient) -> None:
    response = post(http, {"query": "mutation { logout }"}, "text/xml")
    assert response.status_code == 406
    assert codes(response) == ["NOT_ACCEPTABLE"]


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"",
        b"5",
        b"null",
        b'"query"',
        b'{"query": "{ \xff }"}',
        b'{"query": "{ serverTime }", "variables": {"a": ' + b"[" * 20_000 + b"]" * 20_000 + b"}}",
        b'{"query": "{ serverTime }", "variables": {"a": ' + b"9" * 5000 + b"}}",
        b'[{"query": "{ serverTime }"}]',
        b'{"query": {"obj": "ect"}}',
        b'{"query": "{ serverTime }", "operationName": {"obj": "ect"}}',
        b'{"query": "{ serverTime }", "variables": "x"}',
        b'{"notquery": "{ serverTime }"}',
    ],
    ids=[
        "broken",
        "empty",
        "number",
        "null",
        "string",
        "bad-utf8",
        "deep-nesting",
        "huge-integer",
        "batch",
        "query-object",
        "operation-name-object",
        "variables-string",
        "no-query",
    ],
)
def test_malformed_bodies_are_400_with_a_code(
    http: TestClient, body: bytes, production_recursion_limit: None
) -> None:
    response = http.post("/graphql", content=body, headers={"content-type": JSON})
    assert response.status_code == 400, response.text
    assert codes(response) == ["BAD_REQUEST"]


def test_oversized_bodies_are_413_with_a_request_id(http: TestClient) -> None:
    response = http.post("/graphql", content=b"x" * (65 * 1024), headers={"content-type": JSON})
    assert response.status_code == 413
    assert len(response.headers["x-request-id"]) == 32


def test_graphiql_and_introspection_are_off_in_prod() -> None:
    settings = Settings(
        database_url="sqlite+aiosqlite:///:memory:",
        env="prod",
        jwt_secret="j" * 40,
        secrets_key="k" * 40,
    )
    with TestClient(create_app(settings)) as client:
        page = client.get("/graphql", headers={"accept": "text/html"})
        assert page.status_code == 404
        assert codes(page) == ["NOT_FOUND"]
        introspection = post(client, {"query": "{ __schema { queryType { name } } }"})
        assert set(codes(introspection)) == {"GRAPHQL_VALIDATION_FAILED"}
        assert "introspection has been disabled" in introspection.json()["errors"][0]["message"]
        assert post(client, {"query": "{ __typename }"}).json() == {"data": {"__typename": "Query"}}
        typo = post(client, {"query": "{ serverTim }"}).json()["errors"][0]["message"]
        assert typo == "Cannot query field 'serverTim' on type 'Query'."


def test_prod_defaults_give_way_to_explicit_settings() -> None:
    prod: dict[str, Any] = {"env": "prod", "jwt_secret": "j" * 40, "secrets_key": "k" * 40}
    hidden = graphql_limits(Settings(**prod))
    assert (hidden.introspection, hidden.field_suggestions) == (False, False)
    shown = graphql_limits(
        Settings(**prod, graphql_introspection=True, graphql_field_suggestions=True)
    )
    assert (shown.introspection, shown.field_suggestions) == (True, True)
    dev = graphql_limits(Settings(env="dev", graphql_introspection=False))
    assert (dev.introspection, dev.field_suggestions) == (False, True)


def test_dev_suggests_field_names(http: TestClient) -> None:
    typo = post(http, {"query": "{ serverTim }"}).json()["errors"][0]["message"]
    assert "Did you mean 'serverTime'?" in typo
