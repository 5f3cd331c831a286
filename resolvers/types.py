"""GraphQL object types. Each wraps a stored row; figures come from `ProfileMath`."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import strawberry

from models import enums
from models.margin import AccountFigures, PositionFigures
from models.onboarding import ApiCredentials, Onboarded
from models.profiles import ProfileMath
from models.tables import Notification, Order, Position, Profile

from .context import Context
from .scalars import Int64

ProfileTypeEnum = strawberry.enum(enums.ProfileType, name="ProfileType")
ProfileStatusEnum = strawberry.enum(enums.ProfileStatus, name="ProfileStatus")
OrderStatusEnum = strawberry.enum(enums.OrderStatus, name="OrderStatus")
OrderTypeEnum = strawberry.enum(enums.OrderType, name="OrderType")
SideEnum = strawberry.enum(enums.Side, name="Side")
TimeInForceEnum = strawberry.enum(enums.TimeInForce, name="TimeInForce")

Info = strawberry.Info[Context, None]


@strawberry.type(description="One market's leverage for this profile.")
class MarketLeverage:
    market_id: str
    leverage: Decimal


# Orders, positions and notifications are plain fields filled in once per row: a profile can carry
# hundreds of orders, and strawberry resolves a plain field several times faster than a resolver
# method (benchmark (c), bench/README.md).


@strawberry.type(name="Order", description="A resting order (status open or placed).")
class OrderNode:
    id: strawberry.ID
    profile_id: strawberry.ID
    client_order_id: str
    market_id: str
    order_type: OrderTypeEnum  # type: ignore[valid-type]
    side: SideEnum  # type: ignore[valid-type]
    status: OrderStatusEnum  # type: ignore[valid-type]
    time_in_force: TimeInForceEnum  # type: ignore[valid-type]
    price: Decimal | None
    trigger_price: Decimal | None
    size: Decimal
    initial_size: Decimal
    total_filled_size: Decimal
    size_percent: Decimal | None
    reason: str
    created_at: Int64 = strawberry.field(description="Microseconds.")
    updated_at: Int64 = strawberry.field(description="Microseconds.")
    timestamp: Int64 = strawberry.field(description="Microseconds.")

    @classmethod
    def of(cls, row: Order) -> OrderNode:
        return cls(
            id=strawberry.ID(row.id),
            profile_id=strawberry.ID(str(row.profile_id)),
            client_order_id=row.client_order_id,
            market_id=row.market_id,
            order_type=enums.OrderType(row.order_type),
            side=enums.Side(row.side),
            status=enums.OrderStatus(row.status),
            time_in_force=enums.TimeInForce(row.time_in_force),
            price=row.price,
            trigger_price=row.trigger_price,
            size=row.size,
            initial_size=row.initial_size,
            total_filled_size=row.total_filled_size,
            size_percent=row.size_percent,
            reason=row.reason,
            created_at=Int64(row.created_at),
            updated_at=Int64(row.updated_at),
            timestamp=Int64(row.timestamp),
        )


@strawberry.type(
    name="Position", description="An open position, valued at its market's fair price."
)
class PositionNode:
    id: strawberry.ID
    profile_id: strawberry.ID
    market_id: str
    side: SideEnum  # type: ignore[valid-type]
    size: Decimal
    entry_price: Decimal
    fair_price: Decimal
    notional: Decimal
    unrealized_pnl: Decimal
    margin: Decimal
    liquidation_price: Decimal

    @classmethod
    def of(cls, row: Position, figures: PositionFigures) -> PositionNode:
        return cls(
            id=strawberry.ID(row.id),
            profile_id=strawberry.ID(str(row.profile_id)),
            market_id=row.market_id,
            side=enums.Side(row.side),
            size=row.size,
            entry_price=row.entry_price,
            fair_price=row.fair_price,
            notional=figures.notional,
            unrealized_pnl=figures.unrealized_pnl,
            margin=figures.margin,
            liquidation_price=figures.liquidation_price,
        )


@strawberry.type(name="Notification")
class NotificationNode:
    id: strawberry.ID
    type: str
    title: str
    description: str
    created_at: Int64 = strawberry.field(description="Microseconds.")

    @classmethod
    def of(cls, row: Notification) -> NotificationNode:
        return cls(
            id=strawberry.ID(str(row.id)),
            type=row.type,
            title=row.title,
            description=row.description,
            created_at=Int64(row.created_at),
        )


@strawberry.type(
    name="Profile",
    description="A trading profile, keyed by (wallet, exchange). Amounts are exact decimals.",
)
class ProfileNode:
    row: strawberry.Private[Profile]
    _figures: strawberry.Private[asyncio.Future[AccountFigures] | None] = None

    def _math(self, info: Info) -> ProfileMath:
        return ProfileMath(self.row, info.context.credentials.config)

    @property
    def _id(self) -> int:
        assert self.row.id is not None
        return self.row.id

    async def _account(self, info: Info) -> AccountFigures:
        """Computed once per profile per request; the rows come through the request's loaders.

        The ten figure fields resolve concurrently, so the first caller's computation is shared
        as a future; caching only the result would let every field compute it again.
        """
        if self._figures is None:
            self._figures = asyncio.ensure_future(self._compute_account(info))
        return await self._figures

    async def _compute_account(self, info: Info) -> AccountFigures:
        loaders = info.context.loaders
        positions, orders = await asyncio.gather(
            loaders.open_positions.load(self._id), loaders.open_orders.load(self._id)
        )
        return self._math(info).account(positions, orders)

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(str(self._id))

    @strawberry.field(description="Lower-case 0x address.")
    def wallet(self) -> str:
        return self.row.wallet

    @strawberry.field
    def exchange_id(self) -> str:
        return self.row.exchange_id

    @strawberry.field
    def profile_type(self) -> ProfileTypeEnum:  # type: ignore[valid-type]
        return enums.ProfileType(self.row.profile_type)

    @strawberry.field(
        description="`liquidating` once the account margin falls below forced margin."
    )
    async def status(self, info: Info) -> ProfileStatusEnum:  # type: ignore[valid-type]
        return enums.ProfileStatus(self._math(info).status(await self._account(info)))

    @strawberry.field(description="Microseconds.")
    def last_update(self) -> Int64:
        return Int64(self.row.last_update)

    @strawberry.field(description="Microseconds; 0 until the first liquidation check.")
    def last_liq_check(self) -> Int64:
        return Int64(self.row.last_liq_check)

    @strawberry.field
    def balance(self) -> Decimal:
        return self.row.balance

    @strawberry.field
    def cum_trading_volume(self) -> Decimal:
        return self.row.cum_trading_volume

    @strawberry.field
    async def account_equity(self, info: Info) -> Decimal:
        return (await self._account(info)).account_equity

    @strawberry.field
    async def cum_unrealized_pnl(self, info: Info) -> Decimal:
        return (await self._account(info)).cum_unrealized_pnl

    @strawberry.field
    async def total_notional(self, info: Info) -> Decimal:
        return (await self._account(info)).total_notional

    @strawberry.field
    async def total_position_margin(self, info: Info) -> Decimal:
        return (await self._account(info)).total_position_margin

    @strawberry.field
    async def total_order_margin(self, info: Info) -> Decimal:
        return (await self._account(info)).total_order_margin

    @strawberry.field
    async def account_margin(self, info: Info) -> Decimal:
        return (await self._account(info)).account_margin

    @strawberry.field
    async def account_leverage(self, info: Info) -> Decimal:
        return (await self._account(info)).account_leverage

    @strawberry.field
    async def health(self, info: Info) -> Decimal:
        return (await self._account(info)).health

    @strawberry.field
    async def withdrawable_balance(self, info: Info) -> Decimal:
        return (await self._account(info)).withdrawable_balance

    @strawberry.field(description="Leverage per market, every listed market included.")
    def leverage(self, info: Info) -> list[MarketLeverage]:
        math = self._math(info)
        markets = sorted({*info.context.credentials.config.markets, *self.row.leverage})
        return [MarketLeverage(market_id=m, leverage=math.leverage(m)) for m in markets]

    @strawberry.field(description="Resting orders (open or placed), newest first.")
    async def orders(self, info: Info) -> list[OrderNode]:
        return [OrderNode.of(row) for row in await info.context.loaders.open_orders.load(self._id)]

    @strawberry.field(description="Open positions.")
    async def positions(self, info: Info) -> list[PositionNode]:
        math = self._math(info)
        rows = await info.context.loaders.open_positions.load(self._id)
        return [PositionNode.of(row, math.position(row)) for row in rows]

    @strawberry.field(description="Newest first.")
    async def notifications(self, info: Info) -> list[NotificationNode]:
        rows = await info.context.loaders.notifications.load(self._id)
        return [NotificationNode.of(row) for row in rows]


@strawberry.type(description="A market maker's API key pair. `Expiration` is unix seconds.")
class ApiSecret:
    key: str
    secret: str
    expiration: Int64
    status: str
    tag: str
    profile_id: strawberry.ID

    @classmethod
    def of(cls, credentials: ApiCredentials) -> ApiSecret:
        return cls(
            key=credentials.key,
            secret=credentials.secret,
            expiration=Int64(credentials.expiration),
            status=credentials.status,
            tag=credentials.tag,
            profile_id=strawberry.ID(str(credentials.profile_id)),
        )


@strawberry.type(
    description=(
        "Clients get `jwt`, `refreshToken` and `randomSecret`; market makers get `jwt` and "
        "`apiSecret`. The other fields are null."
    )
)
class OnboardPayload:
    jwt: str
    refresh_token: str | None
    random_secret: str | None
    api_secret: ApiSecret | None
    profile: ProfileNode

    @classmethod
    def of(cls, result: Onboarded) -> OnboardPayload:
        return cls(
            jwt=result.jwt,
            refresh_token=result.refresh_token,
            random_secret=result.random_secret,
            api_secret=ApiSecret.of(result.api_secret) if result.api_secret else None,
            profile=ProfileNode(row=result.profile),
        )
