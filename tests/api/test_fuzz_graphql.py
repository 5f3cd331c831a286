"""Property tests of the GraphQL input path: whatever a client sends, the answer is 200/4xx with
coded errors, never a 5xx, and a refused onboarding writes nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from api.app import create_app
from api.services import Services
from api.settings import Settings
from models.errors import ErrorCode
from tests.api.test_onboard import ONBOARD, row_counts
from tests.signing import Signer, fresh_timestamp

REFUSALS = {code.value for code in ErrorCode} - {
    ErrorCode.INTERNAL_SERVER_ERROR,
    ErrorCode.SERVICE_UNAVAILABLE,
}
SIGNER = Signer()


@pytest.fixture(scope="module")
def fuzz(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    database = Path(tmp_path_factory.mktemp("fuzz")) / "fuzz.db"
    app = create_app(
        Settings(
            database_url=f"sqlite+aiosqlite:///{database}",
            rate_limit_per_ip=None,
            rate_limit_per_wallet=None,
        )
    )
    with TestClient(app) as client:
        client.portal.call(app.state.services.db.create_schema)
        yield client


def hex_text(digits: int) -> st.SearchStrategy[str]:
    return st.text("0123456789abcdefABCDEF", min_size=digits, max_size=digits).map("0x".__add__)


def anything() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**80), max_value=2**80),
        st.floats(),
        st.text(max_size=80),
        st.lists(st.integers(), max_size=3),
        st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
    )


RANDOM_INPUT = st.fixed_dictionaries(
    {
        "wallet": st.one_of(anything(), hex_text(40), hex_text(39), hex_text(41)),
        "signature": st.one_of(
            anything(),
            hex_text(130),
            hex_text(128),
            st.binary(min_size=65, max_size=65).map(lambda raw: "0x" + raw.hex()),
        ),
        "timestamp": st.one_of(anything(), st.integers(0, 2**63).map(str)),
        "isClient": st.one_of(st.booleans(), anything()),
    },
    optional={
        "exchangeId": st.one_of(st.sampled_from(["rbx", "bfx", "RBX", "nope"]), anything()),
        "profileType": st.one_of(st.sampled_from(["TRADER", "VAULT", "INSURANCE"]), anything()),
        "extra": anything(),
    },
)


@st.composite
def nearly_valid_input(draw: st.DrawFn) -> dict[str, Any]:
    """A genuine signed input with one thing changed (or nothing)."""
    timestamp = fresh_timestamp(draw(st.integers(-700, 1200)))
    fields: dict[str, Any] = {
        "wallet": SIGNER.address,
        "signature": draw(st.sampled_from([SIGNER.eip191, SIGNER.eip712]))(timestamp),
        "timestamp": timestamp,
        "isClient": draw(st.booleans()),
    }
    key = draw(st.sampled_from(["nothing", "wallet", "signature", "timestamp"]))
    if key == "wallet":
        fields["wallet"] = draw(st.sampled_from([str.lower, str.upper, lambda w: w[:-1] + "0"]))(
            fields["wallet"][2:]
        )
        fields["wallet"] = "0x" + fields["wallet"]
    elif key == "signature":
        position = draw(st.integers(2, 131))
        signature = fields["signature"]
        fields["signature"] = (
            signature[:position] + draw(st.sampled_from("0f")) + signature[position + 1 :]
        )
    elif key == "timestamp":
        fields["timestamp"] = timestamp + draw(st.integers(-5, 5))
    return fields


def post(client: TestClient, body: bytes) -> Any:
    return client.post("/graphql", content=body, headers={"content-type": "application/json"})


def check(response: Any) -> dict[str, Any]:
    assert response.status_code < 500, response.text
    assert response.status_code in (200, 400), response.text
    body: dict[str, Any] = response.json()
    for error in body.get("errors", []):
        assert error["extensions"]["code"] in REFUSALS, error
    return body


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fields=st.one_of(RANDOM_INPUT, nearly_valid_input()))
def test_onboarding_input_never_breaks_the_server(fuzz: TestClient, fields: dict[str, Any]) -> None:
    services: Services = fuzz.app.state.services  # type: ignore[attr-defined]
    before = row_counts(fuzz, services)
    body = json.dumps({"query": ONBOARD, "variables": {"input": fields}}).encode()
    result = check(post(fuzz, body))
    if result.get("errors"):
        assert row_counts(fuzz, services) == before
    else:
        assert result["data"]["onboard"]["profile"]["wallet"] == SIGNER.address.lower()


@settings(max_examples=150, deadline=None)
@given(
    document=st.one_of(
        st.text(max_size=300),
        st.text("{}()[]:$@!.,=|&\"' \\\n#abcdefxyz0123456789_", max_size=300),
    ),
    variables=anything(),
    operation_name=anything(),
)
def test_any_document_is_answered_without_a_server_error(
    fuzz: TestClient, document: str, variables: Any, operation_name: Any
) -> None:
    body = {"query": document, "variables": variables, "operationName": operation_name}
    check(post(fuzz, json.dumps(body).encode()))


@settings(max_examples=100, deadline=None)
@given(raw=st.one_of(st.binary(max_size=300), st.text(max_size=300).map(str.encode)))
def test_any_body_is_answered_without_a_server_error(fuzz: TestClient, raw: bytes) -> None:
    response = post(fuzz, raw)
    assert response.status_code < 500
    assert response.json()["errors"][0]["extensions"]["code"]
