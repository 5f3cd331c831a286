"""Per-request DataLoaders: each list of each profile in a response costs one SELECT in all.

Loaders are created per request (see `Context`): their caches must never outlive a request.
Each returns, for every key, the rows of that profile in a stable order.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import func, tuple_
from sqlalchemy.orm import aliased
from sqlalchemy.sql import ColumnElement
from sqlmodel import SQLModel, col, select
from strawberry.dataloader import DataLoader

from models.db import Database
from models.enums import RESTING_ORDER_STATUSES, PositionStatus
from models.tables import ApiKey, Notification, Order, Position

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


class ApiKeysByProfileLoader(DataLoader[int, list[ApiKey]]):
    """Every stored key (live, expired, revoked), newest first."""

    def __init__(self, db: Database) -> None:
        async def load(profile_ids: list[int]) -> list[list[ApiKey]]:
            return await _rows_by_profile(
                db,
                ApiKey,
                profile_ids,
                order_by=(col(ApiKey.created_at).desc(), col(ApiKey.key)),
            )

        super().__init__(load_fn=load)


@dataclass(frozen=True, slots=True)
class HistoryPage:
    """One profile's page of order history: `limit` rows after the keyset `after`."""

    profile_id: int
    limit: int
    after: tuple[int, str] | None = None
    """(created_at, id) of the last order already seen."""
    statuses: tuple[str, ...] | None = None
    market_id: str | None = None

    @property
    def shape(self) -> tuple[object, ...]:
        """Pages of the same shape load together, whatever their profile."""
        return (self.limit, self.after, self.statuses, self.market_id)


class OrderHistoryByProfileLoader(DataLoader[HistoryPage, list[Order]]):
    """All orders, newest first by (created_at, id): one SELECT per page shape in a request.

    One profile pages with LIMIT over the (profile_id, created_at, id) index; many (a list of
    profiles asking the same page) share one SELECT that ranks rows per profile.
    """

    def __init__(self, db: Database) -> None:
        async def load(pages: list[HistoryPage]) -> list[list[Order]]:
            by_shape: defaultdict[tuple[object, ...], list[HistoryPage]] = defaultdict(list)
            for page in pages:
                by_shape[page.shape].append(page)
            loaded: dict[HistoryPage, list[Order]] = {}
            for same_shape in by_shape.values():
                rows = await _order_history(db, same_shape)
                for page in same_shape:
                    loaded[page] = rows.get(page.profile_id, [])
            return [loaded[page] for page in pages]

        super().__init__(load_fn=load)


async def _order_history(db: Database, pages: list[HistoryPage]) -> dict[int, list[Order]]:
    shape = pages[0]
    profile_ids = sorted({page.profile_id for page in pages})
    conditions: list[ColumnElement[bool]] = [col(Order.profile_id).in_(profile_ids)]
    if shape.statuses:
        conditions.append(col(Order.status).in_(shape.statuses))
    if shape.market_id is not None:
        conditions.append(col(Order.market_id) == shape.market_id)
    if shape.after is not None:
        conditions.append(tuple_(col(Order.created_at), col(Order.id)) < tuple_(*shape.after))
    newest = (col(Order.created_at).desc(), col(Order.id).desc())
    if len(profile_ids) == 1:
        statement = select(Order).where(*conditions).order_by(*newest).limit(shape.limit)
    else:
        rank = func.row_number().over(partition_by=col(Order.profile_id), order_by=newest)
        ranked = select(Order, rank.label("rank")).where(*conditions).subquery()
        order = aliased(Order, ranked)
        statement = (
            select(order)
            .where(ranked.c.rank <= shape.limit)
            .order_by(ranked.c.profile_id, ranked.c.rank)
        )
    async with db.read() as session:
        rows = (await session.exec(statement)).all()
    grouped: defaultdict[int, list[Order]] = defaultdict(list)
    for row in rows:
        grouped[row.profile_id].append(row)
    return grouped


class Loaders:
    def __init__(self, db: Database) -> None:
        self.open_orders = OpenOrdersByProfileLoader(db)
        self.open_positions = OpenPositionsByProfileLoader(db)
        self.notifications = NotificationsByProfileLoader(db)
        self.api_keys = ApiKeysByProfileLoader(db)
        self.order_history = OrderHistoryByProfileLoader(db)

    def know_empty(self, profile_id: int) -> None:
        """A profile created in this request has no rows yet: answer its lists without a query."""
        self.open_orders.prime(profile_id, [])
        self.open_positions.prime(profile_id, [])
        self.notifications.prime(profile_id, [])
