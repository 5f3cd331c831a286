"""A profile's figures: the margin formulas applied to its rows and its own leverage."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from sqlmodel import col, select

from .config import DomainConfig
from .db import Database
from .enums import ProfileStatus
from .margin import (
    AccountFigures,
    OrderLike,
    PositionFigures,
    PositionLike,
    account_figures,
    initial_margin,
    position_figures,
)
from .tables import Profile, ProfileFields
from .wallet import parse_wallet, wallet_text


class ProfileMath:
    """Binds the pure formulas to one profile's leverage and the markets' forced margins."""

    def __init__(self, profile: ProfileFields, config: DomainConfig) -> None:
        self._profile = profile
        self._config = config
        self._initial_margins: dict[str, Decimal] = {}
        """IM by market: an account's figures ask it once per order (hundreds of times)."""

    def leverage(self, market_id: str) -> Decimal:
        stored = self._profile.leverage.get(market_id)
        return (
            Decimal(stored)
            if stored is not None
            else self._config.market(market_id).default_leverage
        )

    def leverage_by_market(self) -> dict[str, Decimal]:
        """Every listed market plus any the profile stored, sorted by market id."""
        markets = sorted({*self._config.markets, *self._profile.leverage})
        return {market_id: self.leverage(market_id) for market_id in markets}

    def initial_margin(self, market_id: str) -> Decimal:
        known = self._initial_margins.get(market_id)
        if known is None:
            known = self._initial_margins[market_id] = initial_margin(self.leverage(market_id))
        return known

    def forced_margin(self, market_id: str) -> Decimal:
        return self._config.market(market_id).forced_margin

    def position(self, position: PositionLike) -> PositionFigures:
        return position_figures(
            position,
            initial_margin=self.initial_margin(position.market_id),
            forced_margin=self.forced_margin(position.market_id),
        )

    def account(
        self, positions: Sequence[PositionLike], open_orders: Sequence[OrderLike]
    ) -> AccountFigures:
        return account_figures(
            self._profile.balance,
            positions,
            open_orders,
            initial_margin=self.initial_margin,
            forced_margin=self.forced_margin,
        )

    def status(self, figures: AccountFigures) -> str:
        """Stored status, overridden by the margin rule: below forced margin is liquidating."""
        return ProfileStatus.LIQUIDATING.value if figures.liquidating else self._profile.status


async def list_profiles(
    db: Database,
    *,
    limit: int,
    before_id: int | None = None,
    wallet: str | None = None,
    status: ProfileStatus | None = None,
) -> list[Profile]:
    """Newest first (by id, so new profiles never shift later pages).

    `status` filters on the stored status: the outcome of the last liquidation check, which
    every write that moves the margin runs (see `models.trading`).
    """
    statement = select(Profile).order_by(col(Profile.id).desc()).limit(limit)
    if before_id is not None:
        statement = statement.where(col(Profile.id) < before_id)
    if wallet is not None:
        statement = statement.where(col(Profile.wallet) == wallet_text(parse_wallet(wallet)))
    if status is not None:
        statement = statement.where(col(Profile.status) == status.value)
    async with db.read() as session:
        return list((await session.exec(statement)).all())
