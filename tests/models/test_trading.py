"""The amount rule of the engine's write path."""

from __future__ import annotations

from decimal import Decimal

import pytest

from models.errors import AppError
from models.trading import check_amount

D = Decimal


@pytest.mark.parametrize(
    ("value", "options", "hint"),
    [
        (D(0), {}, "must be positive"),
        (D(-1), {}, "must be positive"),
        (D(-1), {"zero": True}, "must not be negative"),
        (D("1e15") + 1, {}, "at most 1000000000000000"),
        (D("-1e15") - 1, {"negative": True, "zero": True}, "at most"),
        (D("NaN"), {}, "finite"),
        (D("Infinity"), {}, "finite"),
        (D("0.0000000000000000001"), {}, "more than 18 decimal places"),
    ],
)
def test_refused_amounts(value: Decimal, options: dict[str, bool], hint: str) -> None:
    with pytest.raises(AppError, match=hint):
        check_amount(value, "x", **options)


@pytest.mark.parametrize(
    ("value", "options"),
    [
        (D("0.000000000000000001"), {}),
        (D("1.000000000000000000000"), {}),  # trailing zeros are not places
        (D("1e15"), {}),
        (D("1E+3"), {}),
        (D(0), {"zero": True}),
        (D(0), {"zero": True, "negative": True}),
        (D("-12.5"), {"zero": True, "negative": True}),
    ],
)
def test_accepted_amounts(value: Decimal, options: dict[str, bool]) -> None:
    assert check_amount(value, "x", **options) == value
