"""Per-request DataLoaders: each list of each profile in a response costs one SELECT in all.

Loaders are created per request (see `Context`): their caches must never outlive a request.
Each returns, for every key, the rows of that profile in a stable order.

Orders, positions and notifications come back as plain records (`OrderRow`, `PositionRow`,
`NotificationRow`: the table's columns, decoded as the column types would), not ORM instances:
a heavy profile has hundreds of rows, and the ORM's identity map and instrumented instances
cost several µs per row per column. One profile's list (every onboarding) runs on the bare
driver (`Database.read_tuples`); many profiles' lists at once run through Core. API keys stay
ORM rows (few per profile, and `models.api_keys` works on them).
"""

from __future__ import annotations

import functools
import weakref
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Any, Generic, TypeVar

from sqlalchemy import Table, bindparam, func, tuple_
from sqlalchemy import select as select_columns
from sqlalchemy.orm import aliased
from sqlalchemy.sql import ColumnElement
from sqlmodel import SQLModel, select
from strawberry.dataloader import DataLoader

from models.db import Database
from models.enums import RESTING_ORDER_STATUSES, PositionStatus
from models.pagination import EMBEDDED_ORDERS
from models.tables import ApiKey, ExactDecimal, Notification, Order, Position

Row = TypeVar("Row")
Model = TypeVar("Model", bound=SQLModel)


@dataclass(slots=True)
class OrderRow:
    """An `orders` row, read-only by convention."""

    id: str
    profile_id: int
    market_id: str
    order_type: str
    side: str
    status: str
    price: Decimal | None
    size: Decimal
    initial_size: Decimal
    total_filled_size: Decimal
    size_percent: Decimal | None
    trigger_price: Decimal | None
    time_in_force: str
    reason: str
    client_order_id: str
    created_at: int
    updated_at: int
    timestamp: int


@dataclass(slots=True)
class PositionRow:
    """A `positions` row."""

    id: str
    profile_id: int
    market_id: str
    side: str
    status: str
    size: Decimal
    entry_price: Decimal
    fair_price: Decimal
    updated_at: int


@dataclass(slots=True)
class NotificationRow:
    """A `notifications` row."""

    id: int
    profile_id: int
    type: str
    title: str
    description: str
    created_at: int
    read_at: int | None
    key: str | None


@dataclass(slots=True)
class OrderMargin:
    """What the figures read of a resting order that is not shown (`RestingOrders`)."""

    market_id: str
    price: Decimal | None
    size: Decimal
    trigger_price: Decimal | None
    created_at: int


@dataclass(frozen=True, slots=True)
class RestingOrders:
    """A profile's resting orders, newest first: `newest` whole (at least the newest
    `EMBEDDED_ORDERS`, or all), `all` every one in the same order, as far as the figures need
    (those beyond `newest` as `OrderMargin`)."""

    newest: list[OrderRow]
    all: list[OrderRow | OrderMargin]


class Records(Generic[Row]):
    """How one table's rows become records: its columns in order (or the record's fields, a
    subset), and which hold decimals (SQLite returns their text; PostgreSQL's driver, and
    SQLAlchemy's result types, a `Decimal`)."""

    def __init__(self, model: type[SQLModel], record: Callable[..., Row]) -> None:
        self.table: Table = model.__table__  # type: ignore[attr-defined]
        self.record = record
        names = [f.name for f in fields(record)]  # type: ignore[arg-type]
        self.columns = [self.table.c[name] for name in names]
        self.decimals = tuple(
            i for i, c in enumerate(self.columns) if isinstance(c.type, ExactDecimal)
        )
        self.all: Callable[[Iterable[Sequence[Any]]], list[Row]] = _decoder(
            record, len(names), self.decimals
        )
        """The records of rows of values in `columns` order."""


def _decoder(
    record: Callable[..., Row], width: int, decimals: tuple[int, ...]
) -> Callable[[Iterable[Sequence[Any]]], list[Row]]:
    """One comprehension that unpacks each row and converts its decimal columns inline, built
    from the column positions alone (as `dataclasses` builds `__init__`): a heavy profile reads
    ~500 rows, and a loop over each row's columns cost more than the record itself."""
    names = [f"c{i}" for i in range(width)]
    values = [
        f"(_decimal({name}) if type({name}) is _str else {name})" if i in decimals else name
        for i, name in enumerate(names)
    ]
    source = (
        "def decode(rows):\n"
        f"    return [_record({', '.join(values)}) for {', '.join(names)} in rows]\n"
    )
    namespace: dict[str, Any] = {"_record": record, "_decimal": Decimal, "_str": str}
    exec(source, namespace)  # noqa: S102 - the source holds only generated names
    decode: Callable[[Iterable[Sequence[Any]]], list[Row]] = namespace["decode"]
    return decode


ORDERS = Records(Order, OrderRow)
MARGINS = Records(Order, OrderMargin)
POSITIONS = Records(Position, PositionRow)
NOTIFICATIONS = Records(Notification, NotificationRow)


async def _fetch(
    db: Database,
    records: Records[Row],
    name: str,
    build: Callable[[], Any],
    parameters: dict[str, Any],
) -> list[Row]:
    """One profile's rows: `build()` (compiled once, under `name`) on the bare driver."""
    statement = db.driver_statement(name, build)
    return records.all(await db.read_tuples(statement, parameters))


async def _fetch_core(db: Database, records: Records[Row], statement: Any) -> list[Row]:
    async with db.read() as session:
        result = await (await session.connection()).execute(statement)
        return records.all(result)


def _grouped(rows: Sequence[Any], profile_ids: Sequence[int]) -> list[list[Any]]:
    grouped: defaultdict[int, list[Any]] = defaultdict(list)
    for row in rows:
        grouped[row.profile_id].append(row)
    return [grouped.get(key, []) for key in profile_ids]


_RESTING = tuple(s.value for s in RESTING_ORDER_STATUSES)


def _resting_orders(profile: Any, records: Records[Any] = ORDERS, *also: Any) -> Any:
    t = ORDERS.table
    statuses = [bindparam(f"status_{i}", type_=t.c.status.type) for i in range(len(_RESTING))]
    return (
        select_columns(*records.columns)
        .where(profile, t.c.status.in_(statuses), *also)
        .order_by(t.c.created_at.desc(), t.c.id.desc())  # the index's order: see _ties_by_id
    )


def _newest_shown(profile: Any) -> Any:
    """`created_at` of the `EMBEDDED_ORDERS`th newest resting order (null with fewer): every
    order at least as new is read whole, ties included (`_ties_by_id` may move one up)."""
    t = ORDERS.table
    last = _resting_orders(profile).with_only_columns(t.c.created_at)
    return last.limit(bindparam("one")).offset(bindparam("shown")).scalar_subquery()


def _newest_orders(profile: Any) -> Any:
    t = ORDERS.table
    since = func.coalesce(_newest_shown(profile), bindparam("earliest", type_=t.c.created_at.type))
    return _resting_orders(profile, ORDERS, t.c.created_at >= since)


def _older_orders(profile: Any) -> Any:
    t = ORDERS.table
    before = bindparam("before", type_=t.c.created_at.type)
    return _resting_orders(profile, MARGINS, t.c.created_at < before)


Timed = TypeVar("Timed", OrderRow, OrderMargin)


def _ties_by_id(orders: list[Timed]) -> list[Timed]:
    """Resting orders newest first and, at the same `created_at`, by id: read in the order of
    the index (profile_id, created_at, id) backwards, which puts ties by id descending, and
    each run of ties reversed here (ids are unique, so this is that order). Sorting ties by id
    in the SELECT made SQLite sort every row in a temporary B-tree: ~20 % of the read."""
    times = [order.created_at for order in orders]
    if len(set(times)) == len(times):
        return orders
    ordered: list[Timed] = []
    start = 0
    for end in range(1, len(orders) + 1):
        if end == len(orders) or times[end] != times[start]:
            ordered.extend(reversed(orders[start:end]))
            start = end
    return ordered


def _open_positions(profile: Any) -> Any:
    t = POSITIONS.table
    return (
        select_columns(*POSITIONS.columns)
        .where(profile, t.c.status == bindparam("open", type_=t.c.status.type))
        .order_by(t.c.market_id, t.c.id)
    )


def _one_profile(table: Table) -> Any:
    return table.c.profile_id == bindparam("profile_id", type_=table.c.profile_id.type)


async def _by_profile(
    db: Database,
    records: Records[Row],
    name: str,
    statement: Callable[[Any], Any],
    profile_ids: list[int],
    parameters: dict[str, Any],
) -> list[list[Row]]:
    if len(profile_ids) == 1:
        build = lambda: statement(_one_profile(records.table))  # noqa: E731
        rows = await _fetch(db, records, name, build, {"profile_id": profile_ids[0], **parameters})
    else:
        many = records.table.c.profile_id.in_(profile_ids)
        rows = await _fetch_core(db, records, statement(many).params(parameters))
    return _grouped(rows, profile_ids)


class OpenOrdersByProfileLoader(DataLoader[int, list[OrderRow]]):
    """Resting orders (open or placed), newest first: every one whole (`load`), or as a profile
    shows them (`resting`)."""

    def __init__(self, db: Database) -> None:
        statuses = {f"status_{i}": status for i, status in enumerate(_RESTING)}
        # Weak: `_resting`'s function holding this loader would make a reference cycle, and the
        # request's orders would outlive it until the cyclic collector came by (at load, several
        # megabytes of heavy profiles' orders kept alive at once).
        whole = weakref.ref(self)

        async def load(profile_ids: list[int]) -> list[list[OrderRow]]:
            found = await _by_profile(
                db, ORDERS, "loaders.resting_orders", _resting_orders, profile_ids, statuses
            )
            return [_ties_by_id(orders) for orders in found]

        async def load_resting(profile_ids: list[int]) -> list[RestingOrders]:
            if len(profile_ids) > 1:  # a listing: one SELECT for all, as `load`
                loader = whole()
                assert loader is not None  # it is running its own `_resting`
                listed = await loader.load_many(profile_ids)
                return [RestingOrders(rows, [*rows]) for rows in listed]
            parameters = {"profile_id": profile_ids[0], **statuses, **_SHOWN}
            newest = await _fetch(db, ORDERS, "loaders.newest", _one(_newest_orders), parameters)
            older: list[OrderMargin] = []
            if len(newest) >= EMBEDDED_ORDERS:  # then there may be more, all older than these
                parameters["before"] = newest[-1].created_at
                older = await _fetch(db, MARGINS, "loaders.older", _one(_older_orders), parameters)
            shown = _ties_by_id(newest)
            return [RestingOrders(shown, [*shown, *_ties_by_id(older)])]

        super().__init__(load_fn=load)
        self._resting = DataLoader[int, RestingOrders](load_fn=load_resting)

    async def resting(self, profile_id: int) -> RestingOrders:
        """The newest whole and the rest only as far as the figures read them: a heavy profile
        shows 100 of its 400, and on SQLite every column read costs (the driver takes the
        GIL and the connection's mutex for each), so the other 300 come as 5 columns of 18 in
        a second SELECT, only when there are more than it shows. The two SELECTs split the
        orders by `created_at`, which an order keeps from its first write: none is counted
        twice."""
        return await self._resting.load(profile_id)


def _one(statement: Callable[[Any], Any]) -> Callable[[], Any]:
    return lambda: statement(_one_profile(ORDERS.table))


_SHOWN = {"one": 1, "shown": EMBEDDED_ORDERS - 1, "earliest": -(2**63)}


_OPEN = {"open": PositionStatus.OPEN.value}
"""Every value is a bound parameter: the driver path passes only named ones."""


class OpenPositionsByProfileLoader(DataLoader[int, list[PositionRow]]):
    def __init__(self, db: Database) -> None:
        async def load(profile_ids: list[int]) -> list[list[PositionRow]]:
            return await _by_profile(
                db, POSITIONS, "loaders.open_positions", _open_positions, profile_ids, _OPEN
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


Filters = Callable[[Table, Page], tuple[list[ColumnElement[bool]], dict[str, Any]]]
"""A page's filters on a table: conditions with bind parameters, and their values."""


class KeysetPageLoader(DataLoader[Page, list[Row]]):
    """Pages of one table, newest first by `keys` (column names: a time, then a unique
    tiebreak): one SELECT per page shape in a request.

    One profile pages with LIMIT over its (profile_id, keys…) order; many (a list of profiles
    asking the same page) share one SELECT that ranks rows per profile. Rows are `records`, or
    ORM instances of `model` where there are none.
    """

    def __init__(
        self,
        db: Database,
        model: type[SQLModel],
        keys: tuple[str, str],
        filters: Filters,
        records: Records[Row] | None = None,
    ) -> None:
        async def load(pages: list[Page]) -> list[list[Row]]:
            by_shape: defaultdict[tuple[object, ...], list[Page]] = defaultdict(list)
            for page in pages:
                by_shape[page.shape].append(page)
            loaded: dict[Page, list[Row]] = {}
            for same_shape in by_shape.values():
                rows = await _keyset_pages(db, model, records, keys, filters, same_shape)
                grouped = _grouped(rows, [page.profile_id for page in same_shape])
                for page, found in zip(same_shape, grouped, strict=True):
                    loaded[page] = found
            return [loaded[page] for page in pages]

        super().__init__(load_fn=load)
        self.empty_profiles: set[int] = set()
        """Profiles known to have no rows here (created by this request): no query for them."""

    async def page(self, page: Page) -> list[Row]:
        if page.profile_id in self.empty_profiles:
            return []
        return await self.load(page)


def _page_conditions(
    table: Table, keys: tuple[str, str], filters: Filters, page: Page
) -> tuple[list[ColumnElement[bool]], dict[str, Any]]:
    conditions, parameters = filters(table, page)
    if page.after is not None:
        after = [bindparam(f"after_{i}", type_=table.c[key].type) for i, key in enumerate(keys)]
        conditions.append(tuple_(*(table.c[key] for key in keys)) < tuple_(*after))
        parameters.update({f"after_{i}": value for i, value in enumerate(page.after)})
    return conditions, parameters


async def _keyset_pages(
    db: Database,
    model: type[SQLModel],
    records: Records[Row] | None,
    keys: tuple[str, str],
    filters: Filters,
    pages: list[Page],
) -> list[Row]:
    shape = pages[0]
    table: Table = model.__table__  # type: ignore[attr-defined]
    profile_ids = sorted({page.profile_id for page in pages})
    newest = tuple(table.c[key].desc() for key in keys)
    if len(profile_ids) == 1 and records is not None:
        name = f"loaders.page.{table.name}.{_signature(shape)}"

        def build() -> Any:
            conditions, _ = _page_conditions(table, keys, filters, shape)
            return (
                select_columns(*records.columns)
                .where(_one_profile(table), *conditions)
                .order_by(*newest)
                .limit(bindparam("limit"))
                .offset(bindparam("offset"))  # SQLite's LIMIT ? comes with OFFSET ?
            )

        _, parameters = _page_conditions(table, keys, filters, shape)
        parameters.update(profile_id=profile_ids[0], limit=shape.limit, offset=0)
        return await _fetch(db, records, name, build, parameters)
    conditions, parameters = _page_conditions(table, keys, filters, shape)
    conditions.insert(0, table.c.profile_id.in_(profile_ids))
    statement: Any
    if len(profile_ids) == 1:
        statement = select(model).where(*conditions).order_by(*newest).limit(shape.limit)
    else:
        rank = func.row_number().over(partition_by=table.c.profile_id, order_by=newest)
        ranked = select_columns(*table.c, rank.label("rank")).where(*conditions).subquery()
        chosen = (
            [ranked.c[c.name] for c in records.columns] if records else [aliased(model, ranked)]
        )
        statement = (
            select_columns(*chosen)
            .where(ranked.c.rank <= shape.limit)
            .order_by(ranked.c.profile_id, ranked.c.rank)
        )
    statement = statement.params(parameters)
    if records is not None:
        return await _fetch_core(db, records, statement)
    async with db.read() as session:
        return list((await session.exec(statement)).all())


def _signature(page: Page) -> str:
    """Which filters a page uses: one compiled statement per signature."""
    statuses = len(page.statuses or ())
    return f"{statuses}.{page.market_id is not None}.{page.after is not None}.{page.unread_only}"


def _order_filters(table: Table, page: Page) -> tuple[list[ColumnElement[bool]], dict[str, Any]]:
    conditions: list[ColumnElement[bool]] = []
    parameters: dict[str, Any] = {}
    if page.statuses:
        names = [f"status_{i}" for i in range(len(page.statuses))]
        conditions.append(table.c.status.in_([bindparam(name) for name in names]))
        parameters.update(zip(names, page.statuses, strict=True))
    if page.market_id is not None:
        conditions.append(table.c.market_id == bindparam("market_id"))
        parameters["market_id"] = page.market_id
    return conditions, parameters


def _notification_filters(
    table: Table, page: Page
) -> tuple[list[ColumnElement[bool]], dict[str, Any]]:
    return ([table.c.read_at.is_(None)] if page.unread_only else []), {}


def _no_filters(_: Table, __: Page) -> tuple[list[ColumnElement[bool]], dict[str, Any]]:
    return [], {}


ListLoader = TypeVar("ListLoader", OpenOrdersByProfileLoader, OpenPositionsByProfileLoader)


class Loaders:
    """A request's loaders, each built when first used: a request reads one or two of them.
    Built without subscripting the generic class (`KeysetPageLoader[Row](…)` makes an alias and
    sets `__orig_class__` on every call)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._empty: set[int] = set()
        """Profiles created in this request (`know_empty`)."""

    @functools.cached_property
    def open_orders(self) -> OpenOrdersByProfileLoader:
        return self._primed(OpenOrdersByProfileLoader(self._db))

    @functools.cached_property
    def open_positions(self) -> OpenPositionsByProfileLoader:
        return self._primed(OpenPositionsByProfileLoader(self._db))

    @functools.cached_property
    def order_history(self) -> KeysetPageLoader[OrderRow]:
        loader = KeysetPageLoader(self._db, Order, ("created_at", "id"), _order_filters, ORDERS)
        loader.empty_profiles = self._empty
        return loader

    @functools.cached_property
    def notifications(self) -> KeysetPageLoader[NotificationRow]:
        loader = KeysetPageLoader(
            self._db, Notification, ("created_at", "id"), _notification_filters, NOTIFICATIONS
        )
        loader.empty_profiles = self._empty
        return loader

    @functools.cached_property
    def api_keys(self) -> KeysetPageLoader[ApiKey]:
        keys: KeysetPageLoader[ApiKey] = KeysetPageLoader(
            self._db, ApiKey, ("created_at", "key"), _no_filters
        )
        return keys

    def know_empty(self, profile_id: int) -> None:
        """A profile created in this request has no rows yet: answer its lists without a query
        (its API key, for a market maker, is the one thing onboarding wrote). Builds no loader:
        a new wallet's onboarding usually reads none."""
        self._empty.add(profile_id)
        for name in ("open_orders", "open_positions"):
            if name in vars(self):
                getattr(self, name).prime(profile_id, [])

    def _primed(self, loader: ListLoader) -> ListLoader:
        for profile_id in self._empty:
            loader.prime(profile_id, [])
        return loader
