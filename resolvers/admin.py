"""The admin API: the trading engine's writes and the operators' profile listing.

Every field here needs the admin token (`Authorization: Bearer <ONBOARDING_ADMIN_TOKEN>`); the
rules live in `models.trading`, this module only translates GraphQL input to them.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

import strawberry

from models import enums
from models.errors import bad_input
from models.pagination import (
    DEFAULT_PAGE_SIZE,
    PROFILES,
    decode_profile_cursor,
    encode_cursor,
)
from models.profiles import list_profiles
from models.trading import (
    NotificationPush,
    OrderUpdate,
    PositionUpdate,
    push_notification,
    set_balance,
    upsert_orders,
    upsert_positions,
)

from .arguments import PAGE_SIZE, checked, optional
from .pagination import Connection, connection
from .scalars import Int64
from .types import (
    Info,
    NotificationNode,
    OrderStatusEnum,
    OrderTypeEnum,
    PositionStatusEnum,
    ProfileNode,
    ProfileStatusEnum,
    SideEnum,
    TimeInForceEnum,
)


@strawberry.input(description="An order as the engine reports it. Sizes and prices are positive.")
class OrderInput:
    id: strawberry.ID = strawberry.field(description="The engine's id; upserts by it.")
    market_id: str = strawberry.field(description="One of the configured markets.")
    order_type: OrderTypeEnum  # type: ignore[valid-type]
    side: SideEnum  # type: ignore[valid-type]
    status: OrderStatusEnum  # type: ignore[valid-type]
    size: Decimal
    price: Decimal | None = None
    trigger_price: Decimal | None = None
    initial_size: Decimal | None = strawberry.field(default=None, description="Defaults to size.")
    total_filled_size: Decimal = Decimal(0)
    size_percent: Decimal | None = None
    time_in_force: TimeInForceEnum = enums.TimeInForce.GOOD_TILL_CANCEL  # type: ignore[valid-type]
    reason: str = ""
    client_order_id: str = ""
    created_at: Int64 | None = strawberry.field(
        default=None, description="Microseconds; defaults to now; kept from the first write."
    )
    timestamp: Int64 | None = strawberry.field(
        default=None, description="Microseconds; defaults to now."
    )


@strawberry.input(description="A position as the engine reports it (size 0 only when closed).")
class PositionInput:
    id: strawberry.ID = strawberry.field(description="The engine's id; upserts by it.")
    market_id: str
    side: SideEnum  # type: ignore[valid-type]
    size: Decimal
    entry_price: Decimal
    fair_price: Decimal
    status: PositionStatusEnum = enums.PositionStatus.OPEN  # type: ignore[valid-type]


@strawberry.input
class NotificationInput:
    key: str = strawberry.field(
        description="The sender's id for it: pushing the same key again changes nothing."
    )
    type: str
    title: str
    description: str = ""
    created_at: Int64 | None = strawberry.field(
        default=None, description="Microseconds; defaults to now."
    )


def parse_profile_id(profile_id: strawberry.ID) -> int:
    text = str(profile_id)
    if not (text.isascii() and text.isdigit() and len(text) <= 18):
        raise bad_input(f"{text!r} is not a profile id")
    return int(text)


def _order(order: OrderInput) -> OrderUpdate:
    return OrderUpdate(
        id=str(order.id),
        market_id=order.market_id,
        order_type=enums.OrderType(order.order_type),
        side=enums.Side(order.side),
        status=enums.OrderStatus(order.status),
        size=order.size,
        price=order.price,
        trigger_price=order.trigger_price,
        initial_size=order.initial_size,
        total_filled_size=order.total_filled_size,
        size_percent=order.size_percent,
        time_in_force=enums.TimeInForce(order.time_in_force),
        reason=order.reason,
        client_order_id=order.client_order_id,
        created_at=order.created_at,
        timestamp=order.timestamp,
    )


def _position(position: PositionInput) -> PositionUpdate:
    return PositionUpdate(
        id=str(position.id),
        market_id=position.market_id,
        side=enums.Side(position.side),
        size=position.size,
        entry_price=position.entry_price,
        fair_price=position.fair_price,
        status=enums.PositionStatus(position.status),
    )


@strawberry.type
class AdminQuery:
    @strawberry.field(
        description=(
            "Admin: profiles, newest first, keyset-paginated (`first` 0 to 100, `after` an "
            "endCursor). `wallet` finds one wallet's profiles; `status` filters on the outcome "
            "of the profile's last liquidation check, which every admin write that moves the "
            "margin runs."
        )
    )
    async def profiles(
        self,
        info: Info,
        first: Annotated[int, PAGE_SIZE] = DEFAULT_PAGE_SIZE,
        after: Annotated[str | None, checked(optional(decode_profile_cursor))] = None,
        wallet: str | None = None,
        status: ProfileStatusEnum | None = None,  # type: ignore[valid-type]
    ) -> Connection[ProfileNode]:
        info.context.require_admin()
        rows = await list_profiles(
            info.context.db,
            limit=first + 1,
            before_id=decode_profile_cursor(after) if after is not None else None,
            wallet=wallet,
            status=enums.ProfileStatus(status) if status is not None else None,
        )
        return connection(
            [ProfileNode(row=row) for row in rows],
            first,
            lambda node: encode_cursor(PROFILES, node.row.id or 0),
            after=after,
        )


@strawberry.type
class AdminMutation:
    @strawberry.mutation(
        description=(
            "Admin: insert or update a profile's orders by id (at most 1000, one transaction). "
            "Returns the profile with its figures as of this write."
        )
    )
    async def upsert_orders(
        self, info: Info, profile_id: strawberry.ID, orders: list[OrderInput]
    ) -> ProfileNode:
        info.context.require_admin()
        updates = [_order(order) for order in orders]
        row = await upsert_orders(
            info.context.db, info.context.credentials.config, parse_profile_id(profile_id), updates
        )
        info.context.forget_loaded()
        return ProfileNode(row=row)

    @strawberry.mutation(
        description=(
            "Admin: insert or update a profile's positions by id (at most 1000, one transaction), "
            "then run the liquidation check."
        )
    )
    async def upsert_positions(
        self, info: Info, profile_id: strawberry.ID, positions: list[PositionInput]
    ) -> ProfileNode:
        info.context.require_admin()
        updates = [_position(position) for position in positions]
        row = await upsert_positions(
            info.context.db, info.context.credentials.config, parse_profile_id(profile_id), updates
        )
        info.context.forget_loaded()
        return ProfileNode(row=row)

    @strawberry.mutation(
        description=(
            "Admin: set the balance (negative allowed) and optionally the cumulative trading "
            "volume, then run the liquidation check."
        )
    )
    async def set_balance(
        self,
        info: Info,
        profile_id: strawberry.ID,
        balance: Decimal,
        cum_trading_volume: Decimal | None = None,
    ) -> ProfileNode:
        info.context.require_admin()
        row = await set_balance(
            info.context.db,
            info.context.credentials.config,
            parse_profile_id(profile_id),
            balance,
            cum_trading_volume,
        )
        info.context.forget_loaded()
        return ProfileNode(row=row)

    @strawberry.mutation(
        description="Admin: give a profile a notification, once per `key`. Returns the stored one."
    )
    async def push_notification(
        self, info: Info, profile_id: strawberry.ID, notification: NotificationInput
    ) -> NotificationNode:
        info.context.require_admin()
        push = NotificationPush(
            key=notification.key,
            type=notification.type,
            title=notification.title,
            description=notification.description,
            created_at=notification.created_at,
        )
        row = await push_notification(info.context.db, parse_profile_id(profile_id), push)
        info.context.forget_loaded()
        return NotificationNode.of(row)
