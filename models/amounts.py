"""How amounts leave the service: exact decimals in plain notation, at most 18 decimal places.

Stored amounts are exact; only derived quotients (margin ratios, liquidation prices) can have more
places than 18, and those are rounded half-even there (wei precision), never through floats.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Context, Decimal

DISPLAY_PLACES = 18
_QUANTUM = Decimal(1).scaleb(-DISPLAY_PLACES)
_CONTEXT = Context(prec=80, rounding=ROUND_HALF_EVEN)
_SHORT = 80
"""Texts shorter than this have fewer digits than `_CONTEXT` keeps: normalizing never rounds."""


def plain(value: Decimal) -> str:
    """`100`, `0.5`, `-12.345`: no exponent, no trailing zeros, no negative zero."""
    text = str(value)
    if len(text) < _SHORT and "E" not in text:
        # Most amounts are already in that form (`str` writes plain notation for these): a
        # response carries hundreds, and the general path costs several times more.
        point = text.find(".")
        if point < 0:
            if text.lstrip("-").isdigit():
                return "0" if text == "-0" else text
        elif len(text) - point - 1 <= DISPLAY_PLACES and text[-1] != "0":
            return text
    if value.as_tuple().exponent < -DISPLAY_PLACES:  # type: ignore[operator]
        value = value.quantize(_QUANTUM, context=_CONTEXT)
    text = format(value.normalize(_CONTEXT), "f")
    return "0" if text == "-0" else text
