"""Which database errors mean "unavailable, retry shortly" (SERVICE_UNAVAILABLE, HTTP 503) and
which are bugs (INTERNAL_SERVER_ERROR)."""

from __future__ import annotations

import asyncpg
import pytest
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, ProgrammingError

from models.db import is_unavailable


def driver_error(sqlstate: str, *, invalidated: bool = False) -> DBAPIError:
    """What SQLAlchemy raises for an asyncpg error with this SQLSTATE."""
    kind = asyncpg.exceptions.PostgresError.get_message_class_for_sqlstate(sqlstate)
    assert kind.sqlstate == sqlstate
    original = kind("from the server")
    wrapper = Exception("driver error")
    wrapper.__cause__ = original
    return DBAPIError("SELECT 1", None, wrapper, connection_invalidated=invalidated)


@pytest.mark.parametrize(
    "sqlstate",
    [
        "57P01",  # admin_shutdown: pg_terminate_backend, a fast shutdown
        "57P02",  # crash_shutdown
        "57P03",  # cannot_connect_now: starting up, shutting down, recovering
        "57014",  # query_canceled
        "53300",  # too_many_connections
        "08006",  # connection_failure
    ],
)
def test_operational_sqlstates_are_unavailability(sqlstate: str) -> None:
    assert is_unavailable(driver_error(sqlstate))


@pytest.mark.parametrize("sqlstate", ["23505", "42601", "22P02", "3D000"])
def test_errors_in_the_query_or_data_are_not(sqlstate: str) -> None:
    assert not is_unavailable(driver_error(sqlstate))


def test_a_connection_the_driver_gave_up_on_is_unavailability() -> None:
    assert is_unavailable(driver_error("XX000", invalidated=True))


@pytest.mark.parametrize(
    ("error", "unavailable"),
    [
        (OperationalError("SELECT 1", None, Exception("database is locked")), True),
        (ConnectionRefusedError(), True),
        (TimeoutError(), True),
        (IntegrityError("INSERT", None, Exception("UNIQUE constraint failed")), False),
        (ProgrammingError("SELECT", None, Exception("no such table")), False),
        (ValueError("bug"), False),
    ],
)
def test_other_errors(error: BaseException, unavailable: bool) -> None:
    assert is_unavailable(error) is unavailable
