"""Scalars GraphQL lacks: exact decimals and integers wider than GraphQL's 32-bit `Int`."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import NewType

import strawberry
from strawberry.types.scalar import ScalarDefinition

from models.amounts import plain

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _parse_int64(value: object) -> int:
    """Accept a JSON integer or a string of digits; refuse floats, booleans and overflow."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError("Int64 must be an integer or a string of digits")
    if isinstance(value, str):
        text = value.strip()
        if not text.lstrip("-").isdigit() or not text.isascii() or len(text) > 20:
            raise ValueError("Int64 must be an integer or a string of at most 20 digits")
        value = int(text)
    if not _INT64_MIN <= value <= _INT64_MAX:
        raise ValueError("Int64 is out of range")
    return value


Int64 = NewType("Int64", int)

INT64_SCALAR = strawberry.scalar(
    name="Int64",
    description=(
        "A signed 64-bit integer (microsecond timestamps, unix seconds). Serialized as a JSON "
        "number; also accepted as a string of digits."
    ),
    serialize=int,
    parse_value=_parse_int64,
)


def _parse_decimal(value: object) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError('Decimal must be a string such as "12.5" (or an integer)')
    try:
        parsed = Decimal(value)
    except InvalidOperation as exc:
        raise ValueError('Decimal must be a number such as "12.5"') from exc
    if not parsed.is_finite():
        raise ValueError("Decimal must be finite")
    return parsed


DECIMAL_SCALAR = strawberry.scalar(
    name="Decimal",
    description=(
        'An exact decimal number, serialized as a string in plain notation ("12.5"); '
        "derived quotients are rounded half-even to 18 decimal places."
    ),
    serialize=plain,
    parse_value=_parse_decimal,
)

SCALAR_MAP: dict[object, ScalarDefinition] = {Decimal: DECIMAL_SCALAR, Int64: INT64_SCALAR}
