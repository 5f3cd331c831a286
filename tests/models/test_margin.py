"""Tests of the spec §5 margin formulas in models.margin.

Expected values are worked out by hand in the comments (or are literal decimal strings), never
by calling the code under test.
"""

from __future__ import annotations

import decimal
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.margin import (
    AccountFigures,
    PositionFigures,
    account_figures,
    initial_margin,
    position_figures,
)

D = Decimal


@dataclass(frozen=True)
class Pos:
    market_id: str
    side: str
    size: Decimal
    entry_price: Decimal
    fair_price: Decimal


@dataclass(frozen=True)
class Order:
    market_id: str
    size: Decimal
    price: Decimal | None
    trigger_price: Decimal | None = None


def lookup(table: Mapping[str, Decimal]) -> Callable[[str], Decimal]:
    return lambda market_id: table[market_id]


def fm_003(market_id: str) -> Decimal:
    return D("0.03")


def im_01(market_id: str) -> Decimal:
    return D("0.1")


# --------------------------------------------------------------------------- initial_margin


@pytest.mark.parametrize(
    ("leverage", "expected"),
    [
        (D(1), D(1)),
        (D(10), D("0.1")),
        (D(4), D("0.25")),
        (D("2.5"), D("0.4")),
        (D(3), D("0.33333333333333333333333333333333333333333333333333")),  # 50 digits
    ],
)
def test_initial_margin_is_one_over_leverage(leverage: Decimal, expected: Decimal) -> None:
    assert initial_margin(leverage) == expected


@pytest.mark.parametrize("leverage", [D(0), D("-0"), D(-5), D("NaN"), D("Infinity")])
def test_initial_margin_rejects_non_positive_or_non_finite(leverage: Decimal) -> None:
    with pytest.raises(ValueError, match="leverage"):
        initial_margin(leverage)


# --------------------------------------------------------------------------- position_figures


def test_long_position_figures() -> None:
    # long 0.5 @ entry 60000, fair 62000, IM 0.1 (10x), FM 0.04
    #   notional = 0.5 * 62000                     = 31000
    #   pnl      = 0.5 * (62000 - 60000) * (+1)    = 1000
    #   margin   = 0.1 * 31000                     = 3100
    #   liq      = (1 - 0.1) * 60000 / (1 - 0.04)  = 54000 / 0.96 = 56250
    pos = Pos("BTC-USD", "long", D("0.5"), D(60000), D(62000))
    got = position_figures(pos, initial_margin=D("0.1"), forced_margin=D("0.04"))
    assert got == PositionFigures(
        notional=D(31000), unrealized_pnl=D(1000), margin=D(3100), liquidation_price=D(56250)
    )


def test_short_position_figures() -> None:
    # short 4 @ entry 3500, fair 3600, IM 0.2 (5x), FM 0.05
    #   notional = 4 * 3600                        = 14400
    #   pnl      = 4 * (3600 - 3500) * (-1)        = -400
    #   margin   = 0.2 * 14400                     = 2880
    #   liq      = (1 + 0.2) * 3500 / (1 + 0.05)   = 4200 / 1.05 = 4000  (above entry: short)
    pos = Pos("ETH-USD", "short", D(4), D(3500), D(3600))
    got = position_figures(pos, initial_margin=D("0.2"), forced_margin=D("0.05"))
    assert got == PositionFigures(
        notional=D(14400), unrealized_pnl=D(-400), margin=D(2880), liquidation_price=D(4000)
    )


def test_liquidation_price_non_terminating_is_rounded_at_50_digits() -> None:
    # long 1 @ 60000, IM 0.1, FM 0.03: liq = 0.9 * 60000 / 0.97 = 5400000 / 97
    #   = 55670.10309278350515463917525773195876288659793814432989... (period 96)
    #   50 significant digits (next digit 3: rounds down):
    pos = Pos("BTC-USD", "long", D(1), D(60000), D(60000))
    got = position_figures(pos, initial_margin=D("0.1"), forced_margin=D("0.03"))
    assert got.liquidation_price == D("55670.103092783505154639175257731958762886597938144")


def test_results_do_not_depend_on_callers_context() -> None:
    pos = Pos("BTC-USD", "long", D("0.5"), D(60000), D("62000.12345"))
    with decimal.localcontext(prec=3, rounding=decimal.ROUND_DOWN):
        got = position_figures(pos, initial_margin=D("0.1"), forced_margin=D("0.03"))
        account = account_figures(
            D("1000.01"), [pos], [], initial_margin=im_01, forced_margin=fm_003
        )
    # 0.5 * 62000.12345 = 31000.061725 (would be 3.10E+4 at prec 3)
    assert got.notional == D("31000.061725")
    # 0.5 * 2000.12345 = 1000.061725
    assert got.unrealized_pnl == D("1000.061725")
    # 0.1 * 31000.061725
    assert got.margin == D("3100.0061725")
    assert got.liquidation_price == D("55670.103092783505154639175257731958762886597938144")
    # 1000.01 + 1000.061725
    assert account.account_equity == D("2000.071725")


def test_position_rejects_unknown_side() -> None:
    pos = Pos("BTC-USD", "buy", D(1), D(1), D(1))
    with pytest.raises(ValueError, match="side"):
        position_figures(pos, initial_margin=D("0.1"), forced_margin=D("0.03"))


def test_long_with_forced_margin_one_has_no_liquidation_price() -> None:
    pos = Pos("BTC-USD", "long", D(1), D(1), D(1))
    with pytest.raises(ValueError, match="forced margin"):
        position_figures(pos, initial_margin=D("0.1"), forced_margin=D(1))


# --------------------------------------------------------------------------- account_figures


IMS = {"BTC-USD": D("0.1"), "ETH-USD": D("0.2")}  # leverage 10 and 5
FMS = {"BTC-USD": D("0.04"), "ETH-USD": D("0.05")}


def test_two_markets_hand_worked() -> None:
    # Positions (figures from the two position tests above):
    #   BTC long  0.5 @ 60000, fair 62000: notional 31000, pnl  1000, margin 3100
    #   ETH short 4   @ 3500,  fair 3600:  notional 14400, pnl  -400, margin 2880
    # Orders (IM of their market * size * price used):
    #   BTC limit       0.2 @ 59000           : 0.1 * 0.2 * 59000 = 1180
    #   BTC stop-market 0.1, trigger 65000    : 0.1 * 0.1 * 65000 =  650
    #   ETH limit       2   @ 3400            : 0.2 * 2 * 3400    = 1360
    #   ETH market      1, no price/trigger   : 0.2 * 1 * 0       =    0
    # balance 10750
    #   cum_unrealized_pnl    = 1000 - 400                   = 600
    #   account_equity        = 10750 + 600                  = 11350
    #   total_notional        = 31000 + 14400                = 45400
    #   total_position_margin = 3100 + 2880                  = 5980
    #   total_order_margin    = 1180 + 650 + 1360 + 0        = 3190
    #   account_margin        = 11350 / 45400                = 0.25
    #   account_leverage      = 1 / 0.25                     = 4
    #   health                = min(1, 0.25)                 = 0.25
    #   withdrawable_balance  = min(11350, 10750) - 5980 - 3190 = 1580
    #   liquidating           = 0.25 < max(0.04, 0.05)       = False
    positions = [
        Pos("BTC-USD", "long", D("0.5"), D(60000), D(62000)),
        Pos("ETH-USD", "short", D(4), D(3500), D(3600)),
    ]
    orders = [
        Order("BTC-USD", D("0.2"), D(59000)),
        Order("BTC-USD", D("0.1"), None, D(65000)),
        Order("ETH-USD", D(2), D(3400)),
        Order("ETH-USD", D(1), None, None),
    ]
    got = account_figures(
        D(10750), positions, orders, initial_margin=lookup(IMS), forced_margin=lookup(FMS)
    )
    assert got == AccountFigures(
        cum_unrealized_pnl=D(600),
        account_equity=D(11350),
        total_notional=D(45400),
        total_position_margin=D(5980),
        total_order_margin=D(3190),
        account_margin=D("0.25"),
        account_leverage=D(4),
        health=D("0.25"),
        withdrawable_balance=D(1580),
        liquidating=False,
    )


def test_limit_price_wins_over_trigger_price() -> None:
    # stop-limit: price 100 and trigger 90 -> the limit price counts: 0.1 * 3 * 100 = 30
    orders = [Order("BTC-USD", D(3), D(100), D(90))]
    got = account_figures(D(0), [], orders, initial_margin=im_01, forced_margin=fm_003)
    assert got.total_order_margin == D(30)
    # 0 - 0 - 30
    assert got.withdrawable_balance == D(-30)


def test_fresh_profile() -> None:
    got = account_figures(D(0), [], [], initial_margin=im_01, forced_margin=fm_003)
    assert got == AccountFigures(
        cum_unrealized_pnl=D(0),
        account_equity=D(0),
        total_notional=D(0),
        total_position_margin=D(0),
        total_order_margin=D(0),
        account_margin=D(1),
        account_leverage=D(1),
        health=D(1),
        withdrawable_balance=D(0),
        liquidating=False,
    )
    for field in fields(got):
        value = getattr(got, field.name)
        assert isinstance(value, bool if field.name == "liquidating" else Decimal), field.name


def test_no_positions_is_never_liquidating() -> None:
    # Only orders, negative balance: notional 0 -> margin 1, and no market supplies an FM.
    orders = [Order("BTC-USD", D(1), D(100))]
    got = account_figures(D(-50), [], orders, initial_margin=im_01, forced_margin=lambda _: D(2))
    assert got.account_margin == D(1)
    assert got.liquidating is False


def test_liquidating_profile() -> None:
    # long 1 @ 50000, fair 48000, IM 0.1, FM 0.03, balance 3200
    #   pnl = 1 * (48000 - 50000)         = -2000
    #   equity = 3200 - 2000              = 1200
    #   notional = 48000, position margin = 4800
    #   margin = 1200 / 48000             = 0.025  < 0.03 -> liquidating
    #   leverage = 1 / 0.025              = 40
    #   health = 0.025
    #   withdrawable = min(1200, 3200) - 4800 - 0 = -3600
    pos = Pos("BTC-USD", "long", D(1), D(50000), D(48000))
    got = account_figures(D(3200), [pos], [], initial_margin=im_01, forced_margin=fm_003)
    assert got == AccountFigures(
        cum_unrealized_pnl=D(-2000),
        account_equity=D(1200),
        total_notional=D(48000),
        total_position_margin=D(4800),
        total_order_margin=D(0),
        account_margin=D("0.025"),
        account_leverage=D(40),
        health=D("0.025"),
        withdrawable_balance=D(-3600),
        liquidating=True,
    )


def test_just_at_forced_margin_is_not_liquidating() -> None:
    # long 1 @ 50000, fair 50000, balance 1500: margin = 1500 / 50000 = 0.03 == FM -> not (<)
    pos = Pos("BTC-USD", "long", D(1), D(50000), D(50000))
    got = account_figures(D(1500), [pos], [], initial_margin=im_01, forced_margin=fm_003)
    assert got.account_margin == D("0.03")
    assert got.account_leverage == D("33.333333333333333333333333333333333333333333333333")
    assert got.liquidating is False

    # one cent less: 1499.99 / 50000 = 0.0299998 < 0.03 -> liquidating
    got = account_figures(D("1499.99"), [pos], [], initial_margin=im_01, forced_margin=fm_003)
    assert got.account_margin == D("0.0299998")
    assert got.liquidating is True


def test_account_forced_margin_is_the_largest_among_position_markets() -> None:
    # BTC long 1 @ 100, fair 100 (FM 0.02); ETH long 1 @ 100, fair 100 (FM 0.05); balance 8
    #   equity 8, notional 200, margin 8 / 200 = 0.04: above 0.02 but below 0.05 -> liquidating
    positions = [
        Pos("BTC-USD", "long", D(1), D(100), D(100)),
        Pos("ETH-USD", "long", D(1), D(100), D(100)),
    ]
    fms = {"BTC-USD": D("0.02"), "ETH-USD": D("0.05"), "SOL-USD": D("0.5")}
    # the SOL FM is irrelevant: an order alone does not make its market count
    orders = [Order("SOL-USD", D(1), D(1))]
    ims = {"BTC-USD": D("0.1"), "ETH-USD": D("0.1"), "SOL-USD": D("0.1")}
    got = account_figures(
        D(8), positions, orders, initial_margin=lookup(ims), forced_margin=lookup(fms)
    )
    assert got.account_margin == D("0.04")
    assert got.liquidating is True

    # with only the BTC position: 0.04 > 0.02 -> not liquidating
    got = account_figures(
        D(4), positions[:1], orders, initial_margin=lookup(ims), forced_margin=lookup(fms)
    )
    assert got.account_margin == D("0.04")
    assert got.liquidating is False


def test_negative_equity() -> None:
    # long 1 @ 50000, fair 40000, IM 0.1, FM 0.03, balance 5000, one order 0.1 * 1 * 40000 = 4000
    #   pnl = 1 * (40000 - 50000)           = -10000
    #   equity = 5000 - 10000               = -5000
    #   notional = 40000, position margin   = 4000
    #   margin = -5000 / 40000              = -0.125
    #   leverage = 1 / -0.125               = -8  (margin is not 0, so the rule is 1 / margin)
    #   health = 0 (margin not positive)
    #   withdrawable = min(-5000, 5000) - 4000 - 4000 = -13000
    pos = Pos("BTC-USD", "long", D(1), D(50000), D(40000))
    orders = [Order("BTC-USD", D(1), D(40000))]
    got = account_figures(D(5000), [pos], orders, initial_margin=im_01, forced_margin=fm_003)
    assert got == AccountFigures(
        cum_unrealized_pnl=D(-10000),
        account_equity=D(-5000),
        total_notional=D(40000),
        total_position_margin=D(4000),
        total_order_margin=D(4000),
        account_margin=D("-0.125"),
        account_leverage=D(-8),
        health=D(0),
        withdrawable_balance=D(-13000),
        liquidating=True,
    )


def test_zero_equity() -> None:
    # short 2 @ 1000, fair 1250, balance 500: pnl = 2 * 250 * (-1) = -500, equity 0
    #   margin = 0 / 2500 = 0 -> leverage 1 (rule for margin 0), health 0, liquidating (0 < 0.03)
    pos = Pos("BTC-USD", "short", D(2), D(1000), D(1250))
    got = account_figures(D(500), [pos], [], initial_margin=im_01, forced_margin=fm_003)
    assert got.account_equity == D(0)
    assert got.account_margin == D(0)
    assert got.account_leverage == D(1)
    assert got.health == D(0)
    assert got.liquidating is True


def test_health_is_capped_at_one() -> None:
    # long 1 @ 100, fair 100, balance 250: margin 250 / 100 = 2.5, leverage 0.4, health 1
    pos = Pos("BTC-USD", "long", D(1), D(100), D(100))
    got = account_figures(D(250), [pos], [], initial_margin=im_01, forced_margin=fm_003)
    assert got.account_margin == D("2.5")
    assert got.account_leverage == D("0.4")
    assert got.health == D(1)
    # min(250, 250) - 0.1 * 100 = 240
    assert got.withdrawable_balance == D(240)


def test_withdrawable_uses_balance_when_pnl_is_positive() -> None:
    # long 1 @ 100, fair 300, balance 50: equity 250 but only the balance 50 is withdrawable
    #   withdrawable = min(250, 50) - 0.1 * 300 = 50 - 30 = 20
    pos = Pos("BTC-USD", "long", D(1), D(100), D(300))
    got = account_figures(D(50), [pos], [], initial_margin=im_01, forced_margin=fm_003)
    assert got.withdrawable_balance == D(20)


# --------------------------------------------------------------------------- properties

MARKETS = ("BTC-USD", "ETH-USD", "SOL-USD")

sizes = st.decimals(min_value=D("0.0001"), max_value=D(10000), places=4)
prices = st.decimals(min_value=D("0.01"), max_value=D(100000), places=2)
balances = st.decimals(min_value=D(-1_000_000), max_value=D(1_000_000), places=2)
ims_st = st.decimals(min_value=D("0.01"), max_value=D(1), places=4)
fms_st = st.decimals(min_value=D(0), max_value=D("0.5"), places=4)

positions_st = st.lists(
    st.builds(
        Pos,
        market_id=st.sampled_from(MARKETS),
        side=st.sampled_from(["long", "short"]),
        size=sizes,
        entry_price=prices,
        fair_price=prices,
    ),
    max_size=6,
)
orders_st = st.lists(
    st.builds(
        Order,
        market_id=st.sampled_from(MARKETS),
        size=sizes,
        price=st.none() | prices,
        trigger_price=st.none() | prices,
    ),
    max_size=6,
)
tables = st.fixed_dictionaries(dict.fromkeys(MARKETS, ims_st))
fm_tables = st.fixed_dictionaries(dict.fromkeys(MARKETS, fms_st))


@settings(deadline=None)
@given(balances, positions_st, orders_st, tables, fm_tables)
def test_aggregates_are_sums_over_positions_and_orders(
    balance: Decimal,
    positions: list[Pos],
    orders: list[Order],
    ims: dict[str, Decimal],
    fms: dict[str, Decimal],
) -> None:
    got = account_figures(
        balance, positions, orders, initial_margin=lookup(ims), forced_margin=lookup(fms)
    )
    # All inputs have few digits: every sum and product below is exact at this precision.
    with decimal.localcontext(prec=100):
        per_position = [
            position_figures(p, initial_margin=ims[p.market_id], forced_margin=fms[p.market_id])
            for p in positions
        ]
        assert got.cum_unrealized_pnl == sum((f.unrealized_pnl for f in per_position), D(0))
        assert got.total_notional == sum((f.notional for f in per_position), D(0))
        assert got.total_position_margin == sum((f.margin for f in per_position), D(0))
        # independent formulas, not via the module
        signs = {"long": 1, "short": -1}
        assert got.cum_unrealized_pnl == sum(
            (p.size * (p.fair_price - p.entry_price) * signs[p.side] for p in positions), D(0)
        )
        assert got.total_notional == sum((p.size * p.fair_price for p in positions), D(0))
        expected_order_margin = D(0)
        for o in orders:
            used = o.price if o.price is not None else (o.trigger_price or D(0))
            expected_order_margin += ims[o.market_id] * o.size * used
        assert got.total_order_margin == expected_order_margin
        assert got.account_equity == balance + got.cum_unrealized_pnl
        assert got.withdrawable_balance == (
            min(got.account_equity, balance) - got.total_position_margin - expected_order_margin
        )


@settings(deadline=None)
@given(balances, positions_st, tables, fm_tables)
def test_liquidating_iff_margin_below_largest_position_fm(
    balance: Decimal, positions: list[Pos], ims: dict[str, Decimal], fms: dict[str, Decimal]
) -> None:
    got = account_figures(
        balance, positions, [], initial_margin=lookup(ims), forced_margin=lookup(fms)
    )
    if not positions:
        assert got.liquidating is False
        assert got.account_margin == D(1)
    else:
        largest = max(fms[p.market_id] for p in positions)
        assert got.liquidating == (got.account_margin < largest)


@settings(deadline=None)
@given(balances, positions_st, orders_st, tables, fm_tables)
def test_health_in_unit_interval_and_consistent_with_margin(
    balance: Decimal,
    positions: list[Pos],
    orders: list[Order],
    ims: dict[str, Decimal],
    fms: dict[str, Decimal],
) -> None:
    got = account_figures(
        balance, positions, orders, initial_margin=lookup(ims), forced_margin=lookup(fms)
    )
    assert D(0) <= got.health <= D(1)
    if got.account_margin <= 0:
        assert got.health == 0
    elif got.account_margin >= 1:
        assert got.health == 1
    else:
        assert got.health == got.account_margin
    if got.account_margin == 0:
        assert got.account_leverage == 1
    else:
        # leverage is 1 / margin to 50 significant digits
        with decimal.localcontext(prec=100):
            assert abs(got.account_leverage * got.account_margin - 1) < D("1e-45")
