"""What a refused request tells the caller and the log: the field that is wrong, never its value;
one `refused` line per refusal (code, operation, client address, request id), none otherwise."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from api.app import create_app
from api.observability import JsonFormatter
from api.settings import Settings
from tests.api.test_onboard import ONBOARD, ok, signed
from tests.signing import Signer, fresh_timestamp

PEER = "192.0.2.9"


def post(client: TestClient, variables: dict[str, Any], **headers: str) -> Any:
    response = client.post(
        "/graphql", json={"query": ONBOARD, "variables": variables}, headers=headers
    )
    return response.json()


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"isClient": None}, "'isClient'"),  # left out
        ({"timestamp": "soon"}, "at .timestamp"),
        ({"profileType": "SIGNATURE_LOOKALIKE"}, "at .profileType"),
        ({"extra": "0xdeadbeef"}, "'extra'"),
        ({"isClient": "yes"}, "at .isClient"),
    ],
    ids=["missing-field", "bad-int64", "bad-enum", "unknown-field", "bad-boolean"],
)
def test_a_variable_that_does_not_coerce_is_named_never_echoed(
    client: TestClient, change: dict[str, Any], named: str
) -> None:
    fields = signed(Signer(), is_client=True)
    variables = {k: v for k, v in {**fields, **change}.items() if v is not None}
    body = post(client, {"input": variables})
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert named in error["message"]
    for value in (
        fields["signature"],
        fields["signature"][2:12],
        fields["wallet"],
        *change.values(),
    ):
        if value is not None:
            assert str(value) not in error["message"], error["message"]
    assert "found" not in error["message"].lower()


@pytest.fixture
def peer(settings: Settings) -> Iterator[TestClient]:
    """The app, called from a real-looking address."""
    app = create_app(settings)
    with TestClient(app, client=(PEER, 4000)) as test_client:
        test_client.portal.call(app.state.services.db.create_schema)
        yield test_client


@pytest.fixture
def formatted() -> Iterator[list[dict[str, Any]]]:
    """Refusal lines as the service writes them (formatted when logged, request id included)."""
    lines: list[dict[str, Any]] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(json.loads(JsonFormatter().format(record)))

    handler = Keep()
    logger = logging.getLogger("onboarding.refusals")
    logger.addHandler(handler)
    try:
        yield lines
    finally:
        logger.removeHandler(handler)


def refusal_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [
        {**getattr(record, "fields", {}), "msg": record.getMessage()}
        for record in caplog.records
        if record.name == "onboarding.refusals"
    ]


def test_a_refused_operation_leaves_one_line_and_an_answered_one_none(
    peer: TestClient, caplog: pytest.LogCaptureFixture, formatted: list[dict[str, Any]]
) -> None:
    client = peer
    caplog.set_level(logging.INFO, logger="onboarding.refusals")
    signer = Signer()
    fields = signed(signer, is_client=True)
    ok(post(client, {"input": fields}))
    assert refusal_lines(caplog) == []

    answer = client.post("/graphql", json={"query": ONBOARD, "variables": {"input": fields}})
    replay = answer.json()
    assert replay["errors"][0]["extensions"]["code"] == "SIGNATURE_REPLAYED"
    (line,) = refusal_lines(caplog)
    assert line == {
        "msg": "refused",
        "route": "/graphql",
        "code": "SIGNATURE_REPLAYED",
        "operation": "Onboard",
        "client": PEER,
    }
    (line,) = formatted
    assert line["request_id"] == answer.headers["x-request-id"]
    assert fields["signature"] not in caplog.text


def test_refusals_of_the_http_request_and_of_the_legacy_routes_are_logged(
    peer: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    client = peer
    caplog.set_level(logging.INFO, logger="onboarding.refusals")
    client.post("/graphql", content=b"{}", headers={"content-type": "text/plain"})
    ts = fresh_timestamp()
    client.post(
        "/onboarding",
        json={"wallet": "0x123", "signature": "0x00", "isClient": True},
        headers={"RBT-TS": str(ts)},
    )
    client.delete("/account")
    assert refusal_lines(caplog) == [
        {
            "msg": "refused",
            "route": "/graphql",
            "code": "UNSUPPORTED_MEDIA_TYPE",
            "client": PEER,
        },
        {
            "msg": "refused",
            "route": "/onboarding",
            "code": "BAD_USER_INPUT",
            "client": PEER,
        },
        {
            "msg": "refused",
            "route": "/account",
            "code": "METHOD_NOT_ALLOWED",
            "client": PEER,
        },
    ]
