"""Per-request DataLoaders: each list of each profile in a response costs one SELECT in all.

Loaders are created per request (see `Context`): their caches must never outlive a request.
Each returns, for every key, the rows of that profile in a stable order.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy.sql import ColumnElement
from sqlmodel import SQLModel, col, select
from strawberry.dataloader import DataLoader

from models.db import Database
from models.enums import RESTING_ORDER_STATUSES, PositionStatus
from models.tables import Notification, Order, Position

Row = TypeVar("Row", bound=SQLModel)


async def _rows_by_profile(
    db: Database,
    model: type[Row],
    profile_ids: Sequence[int],
    *conditions: ColumnElement[bool],
    order_by: Any,
) -> list[list[Row]]:
    profile_id = col(model.profile_id)  # type: ignore[attr-defined]
    statement = select(model).where(profile_id.in_(profile_ids), *conditions).order_by(*order_by)
    async with db.read() as session:
        rows = (await session.exec(statement)).all()
    grouped: defaultdict[int, list[Row]] = defaultdict(list)
    for row in rows:
        grouped[row.profile_id].append(row)  # type: ignore[attr-defined]
    return [grouped.get(key, []) for key in profile_ids]


class OpenOrdersByProfileLoader(DataLoader[int, list[Order]]):
    """Resting orders (open or placed), newest first."""

    def __init__(self, db: Database) -> None:
        async def load(profile_ids: list[int]) -> list[list[Order]]:
            return await _rows_by_profile(
                db,
                Order,
                profile_ids,
                col(Order.status).in_([s.value for s in RESTING_ORDER_STATUSES]),
                order_by=(col(Order.created_at).desc(), col(Order.id)),
            )

        super().__init__(load_fn=load)


class OpenPositionsByProfileLoader(DataLoader[int, list[Position]]):
    def __init__(self, db: Database) -> None:
        async def load(profile_ids: list[int]) -> list[list[Position]]:
            return await _rows_by_profile(
                db,
                Position,
                profile_ids,
                col(Position.status) == PositionStatus.OPEN.value,
                order_by=(col(Position.market_id), col(Position.id)),
            )

        super().__init__(load_fn=load)


class NotificationsByProfileLoader(DataLoader[int, list[Notification]]):
    """Newest first."""

    def __init__(self, db: Database) -> None:
        async def load(profile_ids: list[int]) -> list[list[Notification]]:
            return await _rows_by_profile(
                db,
                Notification,
                profile_ids,
                order_by=(col(Notification.created_at).desc(), col(Notification.id).desc()),
            )

        super().__init__(load_fn=load)


class Loaders:
    def __init__(self, db: Database) -> None:
        self.open_orders = OpenOrdersByProfileLoader(db)
        self.open_positions = OpenPositionsByProfileLoader(db)
        self.notifications = NotificationsByProfileLoader(db)

    def know_empty(self, profile_id: int) -> None:
        """A profile created in this request has no rows yet: answer its lists without a query."""
        self.open_orders.prime(profile_id, [])
        self.open_positions.prime(profile_id, [])
        self.notifications.prime(profile_id, [])
