"""How amounts leave the service: exact decimals in plain notation, at most 18 decimal places.

Stored amounts are exact; only derived quotients (margin ratios, liquidation prices) can have more
places than 18, and those are rounded half-even there (wei precision), never through floats.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Context, Decimal

DISPLAY_PLACES = 18
_QUANTUM = Decimal(1).scaleb(-DISPLAY_PLACES)
_CONTEXT = Context(prec=80, rounding=ROUND_HALF_EVEN)


def plain(value: Decimal) -> str:
    """`100`, `0.5`, `-12.345`: no exponent, no trailing zeros, no negative zero."""
    if value.as_tuple().exponent < -DISPLAY_PLACES:  # type: ignore[operator]
        value = value.quantize(_QUANTUM, context=_CONTEXT)
    text = format(value.normalize(_CONTEXT), "f")
    return "0" if text == "-0" else text
