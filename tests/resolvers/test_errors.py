"""Error shaping: refusals keep their code; bugs are masked with a request id and logged."""

from __future__ import annotations

import asyncio
import logging

import pytest
import strawberry

from models.errors import AppError, ErrorCode
from resolvers.errors import ErrorShaping
from resolvers.schema import Schema


class _Ctx:
    request_id = "req-42"


@strawberry.type
class Boom:
    @strawberry.field
    def bug(self) -> str:
        raise RuntimeError("kaboom: internal detail")

    @strawberry.field
    def refusal(self) -> str:
        raise AppError(ErrorCode.SIGNATURE_EXPIRED, "sign again")


SCHEMA = Schema(query=Boom, extensions=[ErrorShaping])


def run(query: str) -> list[dict[str, object]]:
    result = asyncio.run(SCHEMA.execute(query, context_value=_Ctx()))
    assert result.errors
    return [error.formatted for error in result.errors]  # type: ignore[misc]


def test_unexpected_errors_are_masked_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="onboarding.graphql"):
        (error,) = run("{ bug }")
    assert error["message"] == "Internal server error (request id req-42)"
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR", "requestId": "req-42"}
    assert "kaboom" not in str(error)
    (record,) = caplog.records
    assert "req-42" in record.getMessage()
    assert record.exc_info is not None
    assert "kaboom" in str(record.exc_info[1])


def test_expected_refusals_keep_code_and_message(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        (error,) = run("{ refusal }")
    assert error["message"] == "sign again"
    assert error["extensions"] == {"code": "SIGNATURE_EXPIRED"}
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.mark.parametrize(
    ("query", "code"),
    [("{ refusal ", "GRAPHQL_PARSE_FAILED"), ("{ nothing }", "GRAPHQL_VALIDATION_FAILED")],
)
def test_request_errors_get_codes(query: str, code: str) -> None:
    (error,) = run(query)
    assert error["extensions"] == {"code": code}
