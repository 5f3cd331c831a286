"""`GET /metrics`: statements, requests by route, operations by name, onboarding outcomes."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

import api.metrics
from resolvers.execution import Kept
from tests.api.metrics_helpers import Samples, parse, value
from tests.api.test_onboard import ONBOARD, ok, onboard, signed
from tests.signing import Signer, fresh_timestamp


def scrape(client: TestClient) -> Samples:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    return parse(response.text)


def delta(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def test_every_metric_is_exported_with_help(client: TestClient) -> None:
    text = client.get("/metrics").text
    for name in (
        "onboarding_db_statements_total",
        "onboarding_http_requests_total",
        "onboarding_http_request_duration_seconds",
        "onboarding_graphql_operations_total",
        "onboarding_graphql_operation_duration_seconds",
        "onboarding_onboard_outcomes_total",
    ):
        assert f"# HELP {name.removesuffix('_total')}" in text, name


def test_the_statement_counter_counts_what_the_database_executes(
    client: TestClient,
) -> None:
    db = client.app.state.services.db  # type: ignore[attr-defined]
    before, executed = scrape(client), db.statements
    ok(onboard(client, **signed(Signer(), is_client=True)))
    after = scrape(client)
    counted = delta(before, after, "onboarding_db_statements_total")
    assert counted == db.statements - executed
    assert counted > 0


def test_http_requests_are_counted_and_timed_by_route_template(client: TestClient) -> None:
    before = scrape(client)
    for _ in range(3):
        client.get("/healthz")
    client.get("/no/such/path")
    client.request("BREW", "/healthz")
    after = scrape(client)
    healthz = {"method": "GET", "route": "/healthz"}
    assert delta(before, after, "onboarding_http_requests_total", **healthz, status="200") == 3
    assert delta(before, after, "onboarding_http_request_duration_seconds_count", **healthz) == 3
    assert (
        delta(
            before,
            after,
            "onboarding_http_requests_total",
            method="GET",
            route="unmatched",
            status="404",
        )
        == 1
    )
    assert (
        delta(
            before,
            after,
            "onboarding_http_requests_total",
            method="other",
            route="/healthz",
            status="405",
        )
        == 1
    )


def test_graphql_operations_are_counted_by_name_type_and_outcome(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(api.metrics, "_operation_names", set())
    monkeypatch.setattr(api.metrics, "MAX_OPERATION_NAMES", 3)
    before = scrape(client)
    for query in (
        "query Clock { serverTime }",
        "query Clock { serverTime }",
        "query Broken { nope }",
        "{ serverTime }",
        "{",
        f"query {'N' * 65} {{ serverTime }}",  # not a name we keep
        "query Third { serverTime }",
        "query Fourth { serverTime }",  # past the cap of distinct names
    ):
        client.post("/graphql", json={"query": query})
    after = scrape(client)

    def operations(operation: str, kind: str, outcome: str) -> float:
        labels = {"operation": operation, "type": kind, "outcome": outcome}
        return delta(before, after, "onboarding_graphql_operations_total", **labels)

    assert operations("Clock", "query", "ok") == 2
    assert operations("Broken", "query", "error") == 1
    assert operations("anonymous", "query", "ok") == 1
    assert operations("anonymous", "unknown", "error") == 1
    assert operations("Third", "query", "ok") == 1
    assert operations("other", "query", "ok") == 2
    assert (
        delta(
            before,
            after,
            "onboarding_graphql_operation_duration_seconds_count",
            operation="Clock",
            type="query",
        )
        == 2
    )


def test_onboarding_outcomes_are_counted_by_the_code_the_client_saw(client: TestClient) -> None:
    signer = Signer()
    before = scrape(client)
    fields = signed(signer, is_client=True)
    ok(onboard(client, **fields))
    onboard(client, **fields)  # replayed
    onboard(client, **signed(signer, is_client=True, ts=fresh_timestamp(-60)))  # expired
    onboard(client, **{**signed(signer, is_client=True), "timestamp": "soon"})  # coercion
    client.post("/graphql", json={"query": "mutation { onboard(input: {}) { jwt } }"})
    aliased = signed(signer, is_client=False, ts=fresh_timestamp(200))
    client.post(
        "/graphql",
        json={
            "query": ONBOARD.replace("onboard(input", "mine: onboard(input"),
            "variables": {"input": aliased},
        },
    )
    client.post("/graphql", json={"query": "{ serverTime }"})  # not an onboarding at all
    after = scrape(client)
    counts = {
        code: delta(before, after, "onboarding_onboard_outcomes_total", code=code)
        for code in (
            "OK",
            "SIGNATURE_REPLAYED",
            "SIGNATURE_EXPIRED",
            "BAD_USER_INPUT",
            "GRAPHQL_VALIDATION_FAILED",
        )
    }
    assert counts == {
        "OK": 2,
        "SIGNATURE_REPLAYED": 1,
        "SIGNATURE_EXPIRED": 1,
        "BAD_USER_INPUT": 1,
        "GRAPHQL_VALIDATION_FAILED": 1,
    }


def test_legacy_onboardings_count_in_the_same_outcomes(client: TestClient) -> None:
    signer = Signer()
    before = scrape(client)
    ts = fresh_timestamp()
    body = {"wallet": signer.address, "signature": signer.eip191(ts), "is_client": True}
    assert client.post("/onboarding", json=body, headers={"RBT-TS": str(ts)}).status_code == 200
    assert client.post("/onboarding", json=body, headers={"RBT-TS": str(ts)}).status_code == 400
    after = scrape(client)
    assert delta(before, after, "onboarding_onboard_outcomes_total", code="OK") == 1
    replayed = delta(before, after, "onboarding_onboard_outcomes_total", code="SIGNATURE_REPLAYED")
    assert replayed == 1


def test_an_operations_facts_are_found_once_per_document_and_name(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The root `onboard` keys and the type are found once per (document, operation name), and
    each name of one document still gets its own."""
    monkeypatch.setattr(api.metrics, "_FACTS", Kept(1024))
    walks: list[str | None] = []
    walk = api.metrics._onboard_response_keys

    def counted(context: object) -> list[str]:
        walks.append(getattr(context, "operation_name", None))
        return walk(context)  # type: ignore[arg-type]

    monkeypatch.setattr(api.metrics, "_onboard_response_keys", counted)
    document = "query A { serverTime } mutation B { logout }"
    before = scrape(client)
    for _ in range(3):
        client.post("/graphql", json={"query": document, "operationName": "A"})
    client.post("/graphql", json={"query": document, "operationName": "B"})
    after = scrape(client)
    assert walks == ["A", "B"]
    labels = {"operation": "A", "type": "query", "outcome": "ok"}
    assert delta(before, after, "onboarding_graphql_operations_total", **labels) == 3
    labels = {"operation": "B", "type": "mutation", "outcome": "error"}
    assert delta(before, after, "onboarding_graphql_operations_total", **labels) == 1
