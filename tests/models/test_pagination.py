"""Cursors: opaque, round-trip exactly, and anything else is a clean BAD_USER_INPUT."""

from __future__ import annotations

import base64
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.errors import AppError, ErrorCode
from models.pagination import (
    ORDER_HISTORY,
    PROFILES,
    decode_order_cursor,
    decode_profile_cursor,
    encode_cursor,
    page_size,
)

int64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)


# As stored: text without NUL that UTF-8 can encode (no lone surrogates, which no column holds).
stored_ids = st.text(
    st.characters(exclude_characters="\x00", exclude_categories=("Cs",)), max_size=64
)


@given(created_at=int64, order_id=stored_ids)
def test_order_cursors_round_trip(created_at: int, order_id: str) -> None:
    cursor = encode_cursor(ORDER_HISTORY, created_at, order_id)
    assert re.fullmatch(r"[A-Za-z0-9_-]+", cursor)  # URL-safe, no padding
    assert decode_order_cursor(cursor) == (created_at, order_id)


def test_a_cursor_naming_a_lone_surrogate_is_refused() -> None:
    """JSON escapes can spell one ("\\ud800"); no stored id holds one, and no driver sends one."""
    raw = b'["orders",1,"\\ud800"]'
    with pytest.raises(AppError, match="cursor"):
        decode_order_cursor(base64.urlsafe_b64encode(raw).decode().rstrip("="))


@given(profile_id=int64)
def test_profile_cursors_round_trip_and_are_not_order_cursors(profile_id: int) -> None:
    cursor = encode_cursor(PROFILES, profile_id)
    assert decode_profile_cursor(cursor) == profile_id
    with pytest.raises(AppError):
        decode_order_cursor(cursor)


@given(st.text(max_size=700) | st.binary(max_size=300).map(lambda b: b.hex()))
def test_anything_else_is_refused_as_bad_input(garbage: str) -> None:
    refusals: list[AppError] = []
    for decode in (decode_order_cursor, decode_profile_cursor):
        try:
            decode(garbage)
        except AppError as error:  # anything but AppError fails the test
            refusals.append(error)
    assert all(e.code is ErrorCode.BAD_USER_INPUT and "cursor" in e.message for e in refusals)


@pytest.mark.parametrize("first", [-1, 101, 10**9])
def test_page_size_is_refused_outside_0_to_100(first: int) -> None:
    with pytest.raises(AppError, match="between 0 and 100"):
        page_size(first)


@pytest.mark.parametrize("first", [0, 1, 100])
def test_page_size_inside_the_bounds(first: int) -> None:
    assert page_size(first) == first
