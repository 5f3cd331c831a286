from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.amounts import plain


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("100", "100"),
        ("1E+2", "100"),
        ("1.500", "1.5"),
        ("-0.000", "0"),
        ("0E-18", "0"),
        ("-12.345", "-12.345"),
        ("0.000000000000000001", "0.000000000000000001"),
        ("0.0000000000000000005", "0"),  # half-even at the 18th place
        ("0.0000000000000000015", "0.000000000000000002"),
        ("19.41747572815533980582524271844660194174757281553", "19.417475728155339806"),
        ("123456789012345678901234567890.5", "123456789012345678901234567890.5"),
    ],
)
def test_plain(value: str, text: str) -> None:
    assert plain(Decimal(value)) == text


def _general(value: Decimal) -> str:
    """`plain` without its shortcut for text already in plain form."""
    from models.amounts import _CONTEXT, _QUANTUM, DISPLAY_PLACES

    if value.as_tuple().exponent < -DISPLAY_PLACES:  # type: ignore[operator]
        value = value.quantize(_QUANTUM, context=_CONTEXT)
    text = format(value.normalize(_CONTEXT), "f")
    return "0" if text == "-0" else text


@pytest.mark.parametrize(
    "value",
    [
        *["7", "-7", "0", "-0", "100", "0.25", "-0.25", "0.50", "1.000000000000000001"],
        *["1.0000000000000000001", "1" * 79, "1" * 80, "9" * 81, "-" + "9" * 80, "1E+3"],
        *["0.0000001", "1E-7", "12345678901234567890123456789012345678901234567890123456789.5"],
        *["1" * 60 + ".123456789012345678", "1" * 61 + ".123456789012345678"],
    ],
)
def test_plain_shortcut_agrees_with_the_general_rule(value: str) -> None:
    assert plain(Decimal(value)) == _general(Decimal(value))


@given(
    st.decimals(allow_nan=False, allow_infinity=False)
    | st.builds(Decimal, st.from_regex(r"-?[0-9]{1,82}(\.[0-9]{1,22})?", fullmatch=True))
)
@settings(max_examples=2000)
def test_plain_agrees_with_the_general_rule_everywhere(value: Decimal) -> None:
    assert plain(value) == _general(value)


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity"])
def test_plain_refuses_what_is_not_a_number(value: str) -> None:
    with pytest.raises(TypeError):
        plain(Decimal(value))
