"""Schemathesis against the legacy REST OpenAPI document, over real HTTP: every operation of
`/openapi.json`, with requests that follow the document and requests that break it (schemathesis'
positive and negative modes), gets an answer below 500. The number of cases is bounded
(`MAX_EXAMPLES` per operation and mode).

The document is built at import (`openapi_document`, with the default decimals) because pytest
collects the cases before any server runs (schemathesis' lazy `from_fixture` does not work with
pytest 9); the first test proves the live server serves exactly that document. The check is
schemathesis' own `not_a_server_error`, so a failure prints the request as a curl command.
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from api.openapi import openapi_document
from api.settings import Settings

MAX_EXAMPLES = 50
DOCUMENT = openapi_document(Settings().legacy_decimals)
schema = schemathesis.openapi.from_dict(DOCUMENT)


def test_the_fuzzed_document_is_the_served_one(fuzz_server: str) -> None:
    with urllib.request.urlopen(f"{fuzz_server}/openapi.json", timeout=10) as response:  # noqa: S310
        assert json.load(response) == DOCUMENT


def test_the_fuzzer_covers_every_operation() -> None:
    operations = {f"{op.ok().method.upper()} {op.ok().path}" for op in schema.get_all_operations()}
    assert operations == {
        "POST /onboarding",
        "POST /jwt",
        "GET /account",
        "GET /account/validate",
        "GET /srvtimestamp",
    }


@pytest.mark.slow
@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_no_operation_gets_a_server_error(case: Any, fuzz_server: str) -> None:
    response = case.call(base_url=fuzz_server)
    case.validate_response(response, checks=[not_a_server_error])
    assert response.status_code < 500, response.text
