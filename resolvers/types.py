"""GraphQL object types. Each wraps a stored row; figures come from `ProfileMath`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, TypeVar, cast

import strawberry

from models import enums
from models.api_keys import effective_status
from models.errors import AppError, ErrorCode
from models.margin import AccountFigures, PositionFigures
from models.onboarding import ApiCredentials, Onboarded
from models.pagination import (
    API_KEYS,
    DEFAULT_PAGE_SIZE,
    EMBEDDED_ORDERS,
    EMBEDDED_POSITIONS,
    NOTIFICATIONS,
    ORDER_HISTORY,
    decode_api_key_cursor,
    decode_notification_cursor,
    decode_order_cursor,
    encode_cursor,
)
from models.profiles import ProfileMath
from models.tables import ApiKey, Notification, ProfileFields
from models.trading import check_text

from .arguments import MAX_ITEMS, PAGE_SIZE, checked, optional
from .context import Context
from .fields import direct_field
from .loaders import KeysetPageLoader, NotificationRow, OrderRow, Page, PositionRow, Row
from .pagination import Connection, NodeT, connection
from .scalars import Int64

ProfileTypeEnum = strawberry.enum(enums.ProfileType, name="ProfileType")
ProfileStatusEnum = strawberry.enum(enums.ProfileStatus, name="ProfileStatus")
OrderStatusEnum = strawberry.enum(enums.OrderStatus, name="OrderStatus")
OrderTypeEnum = strawberry.enum(enums.OrderType, name="OrderType")
SideEnum = strawberry.enum(enums.Side, name="Side")
TimeInForceEnum = strawberry.enum(enums.TimeInForce, name="TimeInForce")
ApiKeyStatusEnum = strawberry.enum(enums.ApiKeyStatus, name="ApiKeyStatus")
PositionStatusEnum = strawberry.enum(enums.PositionStatus, name="PositionStatus")

Info = strawberry.Info[Context, None]
E = TypeVar("E", bound=StrEnum)
MARKET_ID = checked(optional(lambda market_id: check_text(market_id, "marketId", 64)))
AFTER_ORDER = checked(optional(decode_order_cursor))
AFTER_NOTIFICATION = checked(optional(decode_notification_cursor))
AFTER_API_KEY = checked(optional(decode_api_key_cursor))


@strawberry.type(description="One market's leverage for this profile.")
class MarketLeverage:
    market_id: str
    leverage: Decimal


MICROSECONDS = "Microseconds."


def _copied(row: object, *names: str) -> dict[str, Any]:
    """Columns that reach GraphQL unchanged, by name."""
    return {name: getattr(row, name) for name in names}


def _int64(value: int | None) -> Int64 | None:
    return None if value is None else Int64(value)


@strawberry.type(
    name="Order",
    description=(
        "An order. `Profile.orders` lists the resting ones (open or placed); "
        "`Profile.orderHistory` pages through all of them."
    ),
)
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
    created_at: Int64 = strawberry.field(description=MICROSECONDS)
    updated_at: Int64 = strawberry.field(description=MICROSECONDS)
    timestamp: Int64 = strawberry.field(description=MICROSECONDS)

    @classmethod
    def of(cls, row: OrderRow) -> OrderNode:
        # A response shows up to 100: each enum by one lookup, each column by name.
        return cls(
            id=strawberry.ID(row.id),
            profile_id=strawberry.ID(str(row.profile_id)),
            order_type=_ORDER_TYPES.get(row.order_type) or enums.OrderType(row.order_type),
            side=_SIDES.get(row.side) or enums.Side(row.side),
            status=_ORDER_STATUSES.get(row.status) or enums.OrderStatus(row.status),
            time_in_force=_TIMES_IN_FORCE.get(row.time_in_force)
            or enums.TimeInForce(row.time_in_force),
            client_order_id=row.client_order_id,
            market_id=row.market_id,
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


def _members(enum: type[E]) -> dict[str, E]:
    """An enum's members by value: `enum(value)` costs two Python calls, and stays the
    fallback, so an unknown value is refused as before."""
    return {member.value: member for member in enum}


_ORDER_TYPES = _members(enums.OrderType)
_SIDES = _members(enums.Side)
_ORDER_STATUSES = _members(enums.OrderStatus)
_TIMES_IN_FORCE = _members(enums.TimeInForce)


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
    def of(cls, row: PositionRow, figures: PositionFigures) -> PositionNode:
        return cls(
            id=strawberry.ID(row.id),
            profile_id=strawberry.ID(str(row.profile_id)),
            side=_SIDES.get(row.side) or enums.Side(row.side),
            **_copied(row, "market_id", "size", "entry_price", "fair_price"),
            **_copied(figures, "notional", "unrealized_pnl", "margin", "liquidation_price"),
        )


@strawberry.type(name="Notification")
class NotificationNode:
    id: strawberry.ID
    type: str
    title: str
    description: str
    read: bool
    created_at: Int64 = strawberry.field(description=MICROSECONDS)
    read_at: Int64 | None = strawberry.field(description="Microseconds; null while unread.")

    @classmethod
    def of(cls, row: Notification | NotificationRow) -> NotificationNode:
        return cls(
            id=strawberry.ID(str(row.id)),
            read=row.read_at is not None,
            read_at=_int64(row.read_at),
            **_copied(row, "type", "title", "description", "created_at"),
        )


@strawberry.type(
    name="Profile",
    description="A trading profile, keyed by (wallet, exchange). Amounts are exact decimals.",
)
class ProfileNode:
    row: strawberry.Private[ProfileFields]
    _figures: strawberry.Private[AccountFigures | asyncio.Future[AccountFigures] | None] = None
    owner_proven: strawberry.Private[bool] = False
    """True only where this very request proved wallet ownership (`onboard`)."""
    created: strawberry.Private[bool] = False
    """This request created the profile: it has no orders, positions or notifications yet."""

    def _math(self, info: Info) -> ProfileMath:
        return ProfileMath(self.row, info.context.credentials.config)

    @property
    def _id(self) -> int:
        assert self.row.id is not None
        return self.row.id

    def _account(self, info: Info) -> AccountFigures | asyncio.Future[AccountFigures]:
        """The account's figures, computed once per profile per request from the rows the
        request's loaders hold: at once when they are known (a profile this request created has
        no rows), else the pending computation, which the figure fields resolve concurrently and
        share (caching only the result would let every field compute it again)."""
        figures = self._figures
        if figures is None:
            if self.created:
                figures = self._figures = self._math(info).account([], [])
            else:
                figures = self._figures = asyncio.ensure_future(self._compute_account(info))
        if isinstance(figures, asyncio.Future) and figures.done():
            figures = self._figures = figures.result()
        return figures

    def _figure(self, info: Info, name: str) -> Any:
        """One figure: the value when the account is known, else an awaitable of it (graphql-
        core awaits what a resolver returns): a known figure costs no task or coroutine."""
        figures = self._account(info)
        if isinstance(figures, AccountFigures):
            return getattr(figures, name)

        async def later() -> Decimal:
            value: Decimal = getattr(await figures, name)
            return value

        return later()

    async def _compute_account(self, info: Info) -> AccountFigures:
        loaders = info.context.loaders
        positions, orders = await asyncio.gather(
            loaders.open_positions.load(self._id), loaders.open_orders.resting(self._id)
        )
        return self._math(info).account(positions, orders.all)

    async def _paged(
        self,
        loader: KeysetPageLoader[Row],
        first: int,
        after: tuple[str | None, Callable[[str], tuple[int, int | str]]],
        node_of: Callable[[Row], NodeT],
        cursor_of: Callable[[NodeT], tuple[str, int, int | str]],
        **filters: Any,
    ) -> Connection[NodeT]:
        """One keyset page of this profile's list, as a connection. `after` is the cursor with
        the decoder of its list; one row more than the page shows whether another follows."""
        cursor, decode = after
        page = Page(
            profile_id=self._id,
            limit=first + 1,
            after=decode(cursor) if cursor is not None else None,
            **filters,
        )
        rows = await loader.page(page)
        return connection(
            [node_of(row) for row in rows],
            first,
            lambda node: encode_cursor(*cursor_of(node)),
            after=cursor,
        )

    @direct_field()
    def id(self) -> strawberry.ID:
        return strawberry.ID(str(self._id))

    @direct_field(description="Lower-case 0x address.")
    def wallet(self) -> str:
        return self.row.wallet

    @direct_field()
    def exchange_id(self) -> str:
        return self.row.exchange_id

    @direct_field()
    def profile_type(self) -> ProfileTypeEnum:  # type: ignore[valid-type]
        return enums.ProfileType(self.row.profile_type)

    @direct_field(description="`liquidating` once the account margin falls below forced margin.")
    def status(self, info: Info) -> ProfileStatusEnum:  # type: ignore[valid-type]
        figures = self._account(info)
        if isinstance(figures, AccountFigures):
            return enums.ProfileStatus(self._math(info).status(figures))

        async def later() -> enums.ProfileStatus:
            return enums.ProfileStatus(self._math(info).status(await figures))

        return later()  # graphql-core awaits it (see _figure)

    @direct_field(description="Microseconds.")
    def last_update(self) -> Int64:
        return Int64(self.row.last_update)

    @direct_field(description="Microseconds; 0 until the first liquidation check.")
    def last_liq_check(self) -> Int64:
        return Int64(self.row.last_liq_check)

    @direct_field()
    def balance(self) -> Decimal:
        return self.row.balance

    @direct_field()
    def cum_trading_volume(self) -> Decimal:
        return self.row.cum_trading_volume

    @direct_field()
    def account_equity(self, info: Info) -> Decimal:
        return self._figure(info, "account_equity")  # type: ignore[no-any-return]

    @direct_field()
    def cum_unrealized_pnl(self, info: Info) -> Decimal:
        return self._figure(info, "cum_unrealized_pnl")  # type: ignore[no-any-return]

    @direct_field()
    def total_notional(self, info: Info) -> Decimal:
        return self._figure(info, "total_notional")  # type: ignore[no-any-return]

    @direct_field()
    def total_position_margin(self, info: Info) -> Decimal:
        return self._figure(info, "total_position_margin")  # type: ignore[no-any-return]

    @direct_field()
    def total_order_margin(self, info: Info) -> Decimal:
        return self._figure(info, "total_order_margin")  # type: ignore[no-any-return]

    @direct_field()
    def account_margin(self, info: Info) -> Decimal:
        return self._figure(info, "account_margin")  # type: ignore[no-any-return]

    @direct_field()
    def account_leverage(self, info: Info) -> Decimal:
        return self._figure(info, "account_leverage")  # type: ignore[no-any-return]

    @direct_field()
    def health(self, info: Info) -> Decimal:
        return self._figure(info, "health")  # type: ignore[no-any-return]

    @direct_field()
    def withdrawable_balance(self, info: Info) -> Decimal:
        return self._figure(info, "withdrawable_balance")  # type: ignore[no-any-return]

    @direct_field(description="Leverage per market, every listed market included.")
    def leverage(self, info: Info) -> list[MarketLeverage]:
        leverage = self._math(info).leverage_by_market()
        return [MarketLeverage(market_id=m, leverage=value) for m, value in leverage.items()]

    @direct_field(
        description=(
            f"Resting orders (open or placed), newest first: at most the newest "
            f"{EMBEDDED_ORDERS} (the figures count them all; `orderHistory` pages through all)."
        ),
        metadata={MAX_ITEMS: EMBEDDED_ORDERS},
    )
    def orders(self, info: Info) -> list[OrderNode]:
        # A coroutine stands in for the list: graphql-core awaits what a resolver returns.
        return [] if self.created else cast("list[OrderNode]", self._orders(info))

    async def _orders(self, info: Info) -> list[OrderNode]:
        orders = await info.context.loaders.open_orders.resting(self._id)
        return [OrderNode.of(row) for row in orders.newest[:EMBEDDED_ORDERS]]

    @direct_field(
        description=(
            f"Open positions by market: at most {EMBEDDED_POSITIONS} (the figures count them all)."
        ),
        metadata={MAX_ITEMS: EMBEDDED_POSITIONS},
    )
    def positions(self, info: Info) -> list[PositionNode]:
        return [] if self.created else cast("list[PositionNode]", self._positions(info))

    async def _positions(self, info: Info) -> list[PositionNode]:
        math = self._math(info)
        rows = await info.context.loaders.open_positions.load(self._id)
        return [PositionNode.of(row, math.position(row)) for row in rows[:EMBEDDED_POSITIONS]]

    @direct_field(
        description=(
            "The profile's notifications, newest first, keyset-paginated like `orderHistory` "
            "(`first` 0 to 100). `unreadOnly: true` leaves out the read ones."
        )
    )
    async def notifications(
        self,
        info: Info,
        first: Annotated[int, PAGE_SIZE] = DEFAULT_PAGE_SIZE,
        after: Annotated[str | None, AFTER_NOTIFICATION] = None,
        unread_only: bool = False,
    ) -> Connection[NotificationNode]:
        return await self._paged(
            info.context.loaders.notifications,
            first,
            (after, decode_notification_cursor),
            NotificationNode.of,
            lambda node: (NOTIFICATIONS, node.created_at, int(node.id)),
            unread_only=unread_only,
        )

    @direct_field(
        description=(
            "Every order of this profile, newest first (creation time, then id). Pages are "
            "keyset-based, so orders arriving meanwhile never shift them: pass `pageInfo."
            "endCursor` as `after` for the next one. `first` is 0 to 100. `status` keeps the "
            "listed statuses (null or empty: all); `marketId` keeps one market."
        )
    )
    async def order_history(
        self,
        info: Info,
        first: Annotated[int, PAGE_SIZE] = DEFAULT_PAGE_SIZE,
        after: Annotated[str | None, AFTER_ORDER] = None,
        status: list[OrderStatusEnum] | None = None,  # type: ignore[valid-type]
        market_id: Annotated[str | None, MARKET_ID] = None,
    ) -> Connection[OrderNode]:
        statuses = sorted({enums.OrderStatus(value).value for value in status or ()})
        return await self._paged(
            info.context.loaders.order_history,
            first,
            (after, decode_order_cursor),
            OrderNode.of,
            lambda node: (ORDER_HISTORY, node.created_at, node.id),
            statuses=tuple(statuses) or None,
            market_id=market_id,
        )

    @direct_field(
        description=(
            "The profile's API keys (live, expired and recently revoked), newest first, "
            "keyset-paginated (`first` 0 to 100); never their secrets. Only the owner sees "
            "them: a caller whose access JWT belongs to this profile, or the `onboard` response "
            "that just proved the wallet. Anyone else gets null with FORBIDDEN, the admin token "
            "included (UNAUTHENTICATED without credentials)."
        )
    )
    async def api_keys(
        self,
        info: Info,
        first: Annotated[int, PAGE_SIZE] = DEFAULT_PAGE_SIZE,
        after: Annotated[str | None, AFTER_API_KEY] = None,
    ) -> Connection[ApiKeyNode] | None:
        # The admin token is a caller too, just not the owner: FORBIDDEN, like any stranger's.
        if not self.owner_proven and (
            info.context.admin or await info.context.profile_id() != self._id
        ):
            raise AppError(ErrorCode.FORBIDDEN, "only the profile's owner may list its API keys")
        now_s = int(time.time())
        return await self._paged(
            info.context.loaders.api_keys,
            first,
            (after, decode_api_key_cursor),
            lambda row: ApiKeyNode.of(row, now_s),
            lambda node: (API_KEYS, node.created_at, node.key),
        )


@strawberry.type(
    name="ApiKey",
    description="A market maker's API key, without its secret (shown only once, at creation).",
)
class ApiKeyNode:
    key: str = strawberry.field(description="The public key id, sent as `RBT-API-KEY`.")
    tag: str = strawberry.field(description='Your label; "" is the key `onboard` hands out.')
    status: ApiKeyStatusEnum = strawberry.field(  # type: ignore[valid-type]
        description="EXPIRED is derived from `expiration`."
    )
    expiration: Int64 = strawberry.field(description="Unix seconds.")
    allowed_ips: list[str] = strawberry.field(
        description="CIDRs the key may be used from; empty means any address."
    )
    created_at: Int64 = strawberry.field(description=MICROSECONDS)
    last_used_at: Int64 | None = strawberry.field(
        description="Microseconds; null until the key signs a request."
    )

    @classmethod
    def of(cls, row: ApiKey, now_s: int) -> ApiKeyNode:
        return cls(
            status=effective_status(row, now_s),
            allowed_ips=list(row.allowed_ips),
            last_used_at=_int64(row.last_used_at),
            **_copied(row, "key", "tag", "expiration", "created_at"),
        )


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
            profile=ProfileNode(row=result.profile, owner_proven=True, created=result.created),
        )
