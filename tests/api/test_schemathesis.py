"""Schemathesis against the GraphQL schema, over real HTTP: every generated operation (valid by the
committed SDL, arguments drawn at random) gets an answer below 500 whose errors all carry a known
refusal code. The number of cases is bounded (`MAX_EXAMPLES` per root field).

Schemathesis' own `not_a_server_error` check counts every GraphQL field error as a server error,
which does not fit this API (refusals are field errors with codes), so the test checks what the
service promises instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.graphql import nodes

from models.errors import ErrorCode

SDL = Path(__file__).resolve().parents[2] / "schema.graphql"
MAX_EXAMPLES = 50
REFUSALS = {code.value for code in ErrorCode} - {
    ErrorCode.INTERNAL_SERVER_ERROR,
    ErrorCode.SERVICE_UNAVAILABLE,
}

schemathesis.graphql.scalar(
    "Int64",
    st.one_of(st.integers(-(2**63), 2**63 - 1), st.integers(0, 2**40).map(str)).map(
        lambda value: nodes.Int(value) if isinstance(value, int) else nodes.String(value)
    ),
)
schemathesis.graphql.scalar(
    "Decimal",
    st.one_of(
        st.decimals(allow_nan=False, allow_infinity=False).map(str), st.text(max_size=10)
    ).map(nodes.String),
)
schema = schemathesis.graphql.from_path(SDL)


@pytest.fixture(scope="module")
def endpoint(fuzz_server: str) -> str:
    return f"{fuzz_server}/graphql"


@pytest.mark.slow
@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_no_operation_gets_a_server_error(case: Any, endpoint: str) -> None:
    response = case.call(base_url=endpoint)
    assert response.status_code < 500, response.text
    body = response.json()
    assert isinstance(body, dict), body
    for error in body.get("errors") or []:
        assert error["extensions"]["code"] in REFUSALS, error
