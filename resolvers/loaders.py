"""Per-request DataLoaders: each list of each profile in a response costs one SELECT in all.

Loaders are created per request (see `Context`): their caches must never outlive a request.
Each returns, for every key, the rows of that profile in a stable order.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
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


@dataclass(frozen=True, slots=True)
class Page:
    """One profile's page of a keyset list, newest first: `limit` rows after the keyset `after`
    (the sort key of the last row already seen). The filters apply to the lists that have them."""

    profile_id: int
    limit: int
    after: tuple[int, int | str] | None = None
    statuses: tuple[str, ...] | None = None
    """Orders: keep these statuses."""
    market_id: str | None = None
    """Orders: keep this market."""
    unread_only: bool = False
    """Notifications: leave out the read ones."""

    @property
    def shape(self) -> tuple[object, ...]:
        """Pages of the same shape load together, whatever their profile."""
        return (self.limit, self.after, self.statuses, self.market_id, self.unread_only)


Filters = Callable[[Page], list[ColumnElement[bool]]]


class KeysetPageLoader(DataLoader[Page, list[Row]]):
    """Pages of one table, newest first by `keys` (a time, then a unique tiebreak): one SELECT
    per page shape in a request.

    One profile pages with LIMIT over its (profile_id, keys…) order; many (a list of profiles
    asking the same page) share one SELECT that ranks rows per profile.
    """

    def __init__(
        self, db: Database, model: type[Row], keys: tuple[Any, Any], filters: Filters
    ) -> None:
        async def load(pages: list[Page]) -> list[list[Row]]:
            by_shape: defaultdict[tuple[object, ...], list[Page]] = defaultdict(list)
            for page in pages:
                by_shape[page.shape].append(page)
            loaded: dict[Page, list[Row]] = {}
            for same_shape in by_shape.values():
                rows = await _keyset_pages(db, model, keys, filters, same_shape)
                for page in same_shape:
                    loaded[page] = rows.get(page.profile_id, [])
            return [loaded[page] for page in pages]

        super().__init__(load_fn=load)
        self.empty_profiles: set[int] = set()
        """Profiles known to have no rows here (created by this request): no query for them."""

    async def page(self, page: Page) -> list[Row]:
        if page.profile_id in self.empty_profiles:
            return []
        return await self.load(page)


async def _keyset_pages(
    db: Database, model: type[Row], keys: tuple[Any, Any], filters: Filters, pages: list[Page]
) -> dict[int, list[Row]]:
    shape = pages[0]
    profile_column = col(model.profile_id)  # type: ignore[attr-defined]
    profile_ids = sorted({page.profile_id for page in pages})
    conditions = [profile_column.in_(profile_ids), *filters(shape)]
    if shape.after is not None:
        conditions.append(tuple_(*keys) < tuple_(*shape.after))
    newest = tuple(key.desc() for key in keys)
    if len(profile_ids) == 1:
        statement = select(model).where(*conditions).order_by(*newest).limit(shape.limit)
    else:
        rank = func.row_number().over(partition_by=profile_column, order_by=newest)
        ranked = select(model, rank.label("rank")).where(*conditions).subquery()
        row = aliased(model, ranked)
        statement = (
            select(row)
            .where(ranked.c.rank <= shape.limit)
            .order_by(ranked.c.profile_id, ranked.c.rank)
        )
    async with db.read() as session:
        rows = (await session.exec(statement)).all()
    grouped: defaultdict[int, list[Row]] = defaultdict(list)
    for found in rows:
        grouped[found.profile_id].append(found)  # type: ignore[attr-defined]
    return grouped


def _order_filters(page: Page) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if page.statuses:
        conditions.append(col(Order.status).in_(page.statuses))
    if page.market_id is not None:
        conditions.append(col(Order.market_id) == page.market_id)
    return conditions


def _notification_filters(page: Page) -> list[ColumnElement[bool]]:
    return [col(Notification.read_at).is_(None)] if page.unread_only else []


def _no_filters(_: Page) -> list[ColumnElement[bool]]:
    return []


class Loaders:
    def __init__(self, db: Database) -> None:
        self.open_orders = OpenOrdersByProfileLoader(db)
        self.open_positions = OpenPositionsByProfileLoader(db)
        self.order_history = KeysetPageLoader(
            db, Order, (col(Order.created_at), col(Order.id)), _order_filters
        )
        self.notifications = KeysetPageLoader(
            db,
            Notification,
            (col(Notification.created_at), col(Notification.id)),
            _notification_filters,
        )
        self.api_keys = KeysetPageLoader(
            db, ApiKey, (col(ApiKey.created_at), col(ApiKey.key)), _no_filters
        )

    def know_empty(self, profile_id: int) -> None:
        """A profile created in this request has no rows yet: answer its lists without a query
        (its API key, for a market maker, is the one thing onboarding wrote)."""
        self.open_orders.prime(profile_id, [])
        self.open_positions.prime(profile_id, [])
        self.notifications.empty_profiles.add(profile_id)
        self.order_history.empty_profiles.add(profile_id)
