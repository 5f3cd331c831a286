"""Margin arithmetic of a profile (spec §5 "The profile"), as pure functions over ``Decimal``.

Why pure and exact: the figures are shown to traders and drive liquidation, so they must be
reproducible from the stored balance, positions and orders alone, with no float error and no
dependence on the caller's decimal context. Every computation runs in a private context of
50 significant digits; sums and products of realistic amounts are therefore exact, and only true
divisions (``1 / leverage``, ``equity / notional``, the liquidation price) are rounded, at the 50th
digit (half-even). Nothing is quantized here: presentation decides the number of places.

Notation: ``s`` is +1 for a long, -1 for a short; IM = 1 / leverage of the market for this
profile; FM = the market's forced margin (its default lives in config, not here).

Decisions the spec leaves open:

- **Account-level FM** (for ``liquidating``): the largest FM among the markets of the open
  positions, i.e. the most conservative one. With no positions the account cannot be liquidating
  (its margin is 1 by definition).
- **Order price**: an order without a ``price`` (market / stop-market) counts with its
  ``trigger_price`` if present, otherwise with 0.
- The spec formulas are applied literally otherwise: ``withdrawable_balance`` is not clamped at 0,
  and with negative equity ``account_leverage = 1 / account_margin`` is negative (health is 0).
"""

from __future__ import annotations

import decimal
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

__all__ = [
    "AccountFigures",
    "OrderLike",
    "PositionFigures",
    "PositionLike",
    "account_figures",
    "initial_margin",
    "position_figures",
]

_CONTEXT = decimal.Context(
    prec=50,
    rounding=decimal.ROUND_HALF_EVEN,
    traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow],
)
_ZERO = Decimal(0)
_ONE = Decimal(1)


class PositionLike(Protocol):
    """What the margin maths needs from an open position."""

    @property
    def market_id(self) -> str: ...
    @property
    def side(self) -> str: ...  # "long" or "short"
    @property
    def size(self) -> Decimal: ...  # > 0
    @property
    def entry_price(self) -> Decimal: ...
    @property
    def fair_price(self) -> Decimal: ...


class OrderLike(Protocol):
    """What the margin maths needs from an open order."""

    @property
    def market_id(self) -> str: ...
    @property
    def size(self) -> Decimal: ...
    @property
    def price(self) -> Decimal | None: ...  # None for market / stop-market orders
    @property
    def trigger_price(self) -> Decimal | None: ...


@dataclass(frozen=True, slots=True)
class PositionFigures:
    """Derived figures of one position."""

    notional: Decimal
    unrealized_pnl: Decimal
    margin: Decimal
    liquidation_price: Decimal


@dataclass(frozen=True, slots=True)
class AccountFigures:
    """Derived figures of a whole profile."""

    cum_unrealized_pnl: Decimal
    account_equity: Decimal
    total_notional: Decimal
    total_position_margin: Decimal
    total_order_margin: Decimal
    account_margin: Decimal
    account_leverage: Decimal
    health: Decimal
    withdrawable_balance: Decimal
    liquidating: bool  # account_margin < forced margin of the account (see module docstring)


def initial_margin(leverage: Decimal) -> Decimal:
    """IM = 1 / leverage; a leverage that is not a positive finite number is a caller bug."""
    if not leverage.is_finite() or leverage <= 0:
        raise ValueError(f"leverage must be a positive finite number, got {leverage}")
    with decimal.localcontext(_CONTEXT):
        return _ONE / leverage


def _sign(side: str) -> int:
    """s = +1 for a long, -1 for a short; anything else would silently flip the maths."""
    if side == "long":
        return 1
    if side == "short":
        return -1
    raise ValueError(f"position side must be 'long' or 'short', got {side!r}")


def position_figures(
    position: PositionLike, *, initial_margin: Decimal, forced_margin: Decimal
) -> PositionFigures:
    """Notional, unrealized PnL, margin and liquidation price of one position (spec §5)."""
    s = _sign(position.side)
    with decimal.localcontext(_CONTEXT):
        notional = position.size * position.fair_price
        pnl = position.size * (position.fair_price - position.entry_price) * s
        denominator = _ONE - s * forced_margin
        if denominator == 0:
            # Only a long with FM = 1: no finite price would liquidate it.
            raise ValueError(f"forced margin {forced_margin} leaves no liquidation price")
        liquidation_price = (_ONE - s * initial_margin) * position.entry_price / denominator
        return PositionFigures(
            notional=notional,
            unrealized_pnl=pnl,
            margin=initial_margin * notional,
            liquidation_price=liquidation_price,
        )


def _order_price(order: OrderLike) -> Decimal:
    """Price an open order reserves margin at: its limit price, else its trigger, else 0."""
    if order.price is not None:
        return order.price
    if order.trigger_price is not None:
        return order.trigger_price
    return _ZERO


def account_figures(
    balance: Decimal,
    positions: Sequence[PositionLike],
    open_orders: Sequence[OrderLike],
    *,
    initial_margin: Callable[[str], Decimal],
    forced_margin: Callable[[str], Decimal],
) -> AccountFigures:
    """All account-level figures of a profile (spec §5), from its balance, positions and orders.

    ``initial_margin`` and ``forced_margin`` map a market id to that market's IM (for this
    profile's leverage) and FM.
    """
    with decimal.localcontext(_CONTEXT):
        cum_pnl = _ZERO
        total_notional = _ZERO
        total_position_margin = _ZERO
        account_fm: Decimal | None = None
        for position in positions:
            fm = forced_margin(position.market_id)
            figures = position_figures(
                position, initial_margin=initial_margin(position.market_id), forced_margin=fm
            )
            cum_pnl += figures.unrealized_pnl
            total_notional += figures.notional
            total_position_margin += figures.margin
            account_fm = fm if account_fm is None else max(account_fm, fm)

        total_order_margin = _ZERO
        for order in open_orders:
            total_order_margin += initial_margin(order.market_id) * order.size * _order_price(order)

        equity = balance + cum_pnl
        margin = _ONE if total_notional == 0 else equity / total_notional
        leverage = _ONE if margin == 0 else _ONE / margin
        health = min(_ONE, margin) if margin > 0 else _ZERO
        withdrawable = min(equity, balance) - total_position_margin - total_order_margin
        return AccountFigures(
            cum_unrealized_pnl=cum_pnl,
            account_equity=equity,
            total_notional=total_notional,
            total_position_margin=total_position_margin,
            total_order_margin=total_order_margin,
            account_margin=margin,
            account_leverage=leverage,
            health=health,
            withdrawable_balance=withdrawable,
            liquidating=account_fm is not None and margin < account_fm,
        )
