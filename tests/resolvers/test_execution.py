"""The schema's executor completes basic leaf fields inline (`resolvers.execution`): its results
must be graphql-core's own, errors and nulls included, for any document. Each document runs on
the same schema twice, with the schema's executor and with strawberry's stock one."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Awaitable
from decimal import Decimal
from typing import Any

import pytest
import strawberry
from graphql import GraphQLError, execute, parse
from hypothesis import HealthCheck, given, settings
from hypothesis_graphql import queries
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from models import enums
from resolvers.arguments import CheckedExecutor
from resolvers.scalars import SCALAR_MAP, Int64
from resolvers.types import (
    ApiKeyNode,
    MarketLeverage,
    NotificationNode,
    OrderNode,
    PositionNode,
    SideEnum,
)


def _order(i: int, **changes: Any) -> OrderNode:
    values: dict[str, Any] = {
        "id": strawberry.ID(f"o{i}"),
        "profile_id": strawberry.ID("7"),
        "client_order_id": f"c{i}",
        "market_id": "BTC-USD",
        "order_type": enums.OrderType.LIMIT,
        "side": enums.Side.LONG if i % 2 else enums.Side.SHORT,
        "status": enums.OrderStatus.OPEN,
        "time_in_force": enums.TimeInForce.GOOD_TILL_CANCEL,
        "price": Decimal("101.50") if i % 3 else None,
        "trigger_price": None,
        "size": Decimal(i) / 7,
        "initial_size": Decimal(i),
        "total_filled_size": Decimal(0),
        "size_percent": Decimal("0.5"),
        "reason": "",
        "created_at": Int64(1_700_000_000_000_000 + i),
        "updated_at": Int64(2**62),
        "timestamp": Int64(-1),
    }
    values.update(changes)
    return OrderNode(**values)


def _later() -> asyncio.Future[Decimal]:
    """An awaitable value (a future: one left unselected warns nothing)."""
    future = asyncio.get_running_loop().create_future()
    future.set_result(Decimal("3.25"))
    return future


GOOD = [_order(i) for i in range(1, 6)]
BAD = [
    _order(10, size=None),  # null for a non-null leaf
    _order(11, price=ValueError("boom")),  # an exception as the value
    _order(12, side="long"),  # a raw value where an enum member is expected
    _order(13, status=enums.Side.LONG),  # a member of another enum
    _order(14, size=Decimal("NaN")),  # a value the scalar refuses
    _order(15, created_at="12"),  # a value of the wrong type for the scalar
    _order(16, client_order_id=12),  # an int for a String
    None,
]
POSITIONS = [
    PositionNode(
        id=strawberry.ID(f"p{i}"),
        profile_id=strawberry.ID("7"),
        market_id="ETH-USD",
        side=enums.Side.LONG,
        size=Decimal(i),
        entry_price=Decimal("2000"),
        fair_price=Decimal("2100.000000000000000000001"),
        notional=Decimal(i) * 2100,
        unrealized_pnl=Decimal(-i),
        margin=Decimal(1) / 3,
        liquidation_price=Decimal("1E+3"),
    )
    for i in range(3)
]
NOTIFICATIONS = [
    NotificationNode(
        id=strawberry.ID(str(i)),
        type="info",
        title=f"t{i}",
        description="",
        read=bool(i % 2),
        created_at=Int64(i),
        read_at=Int64(i) if i % 2 else None,
    )
    for i in range(3)
]


@strawberry.type
class Holder:
    """Resolver fields under a nullable parent: a non-null null nulls the holder, not the whole
    response (errors that null a parent of pending awaitables leave them unawaited, in both
    executors, and the test run turns that warning into a failure)."""

    @strawberry.field
    def missing(self) -> int:
        return None  # type: ignore[return-value]

    @strawberry.field
    def count(self) -> int:
        return 4


@strawberry.type
class Query:
    @strawberry.field
    def orders(self) -> list[OrderNode]:
        return GOOD

    @strawberry.field
    def bad_orders(self) -> list[OrderNode | None] | None:
        return BAD  # type: ignore[return-value]

    @strawberry.field
    def strict_orders(self) -> list[OrderNode] | None:
        return [*GOOD, BAD[0]]  # a null inside non-null items nulls the list

    @strawberry.field
    def order(self) -> OrderNode:
        return GOOD[0]

    @strawberry.field
    async def later_orders(self) -> list[OrderNode]:
        await asyncio.sleep(0)
        return GOOD

    @strawberry.field
    async def later_bad_orders(self) -> list[OrderNode | None] | None:
        await asyncio.sleep(0)
        return BAD  # type: ignore[return-value]

    @strawberry.field
    async def later_mixed_orders(self) -> list[OrderNode] | None:
        await asyncio.sleep(0)
        return [GOOD[0], BAD[0]]  # type: ignore[list-item]

    @strawberry.field
    async def later_order(self) -> OrderNode | None:
        await asyncio.sleep(0)
        return GOOD[1]

    @strawberry.field
    async def later_failure(self) -> OrderNode | None:
        await asyncio.sleep(0)
        raise ValueError("no order")

    @strawberry.field
    def awaited_leaf(self) -> list[MarketLeverage]:
        return [MarketLeverage(market_id="BTC-USD", leverage=_later())]  # type: ignore[arg-type]

    @strawberry.field
    def positions(self) -> list[PositionNode]:
        return POSITIONS

    @strawberry.field
    def notifications(self) -> list[NotificationNode]:
        return NOTIFICATIONS

    @strawberry.field
    def leverage(self) -> list[MarketLeverage]:
        return [MarketLeverage(market_id=m, leverage=Decimal(v)) for m, v in (("A", 5), ("B", 20))]

    @strawberry.field
    def holder(self) -> Holder | None:
        return Holder()

    @strawberry.field
    def mixed_orders(self) -> list[OrderNode] | None:
        return [GOOD[0], BAD[0]]  # type: ignore[list-item]  # an item's error nulls the list

    @strawberry.field
    def nullable_orders(self) -> list[OrderNode | None] | None:
        return [GOOD[1], BAD[1], BAD[4], GOOD[2]]

    @strawberry.field
    def tuple_orders(self) -> list[OrderNode]:
        return tuple(GOOD)  # type: ignore[return-value]

    @strawberry.field
    def awaited_leaves(self) -> list[MarketLeverage]:
        return [
            MarketLeverage(market_id=market, leverage=_later())  # type: ignore[arg-type]
            for market in ("A", "B", "C")
        ]

    @strawberry.field
    def count(self) -> int:
        return 3

    @strawberry.field
    def broken(self) -> int | None:
        raise ValueError("no count")

    @strawberry.field
    def maybe(self) -> str | None:
        return None

    @strawberry.field
    def wrong(self) -> int | None:
        return "12x"  # type: ignore[return-value]

    @strawberry.field
    def side(self) -> SideEnum:  # type: ignore[valid-type]
        return enums.Side.LONG

    @strawberry.field
    def later_leaf(self) -> Decimal:
        return _later()  # type: ignore[return-value]

    @strawberry.field
    def echo(self, text: str = "x") -> str:
        return text

    @strawberry.field
    def pick(
        self,
        side: SideEnum = enums.Side.LONG,  # type: ignore[valid-type]
        size: Decimal | None = None,
        count: int = 2,
    ) -> str:
        return repr((side, size, count))

    @strawberry.field
    def grow(self, items: list[int]) -> int:
        """Changes its argument: a list argument must be the request's own."""
        items.append(len(items))
        return len(items)

    @strawberry.field
    def seen(self, info: strawberry.Info) -> str:
        """What a resolver sees of its info: the planned executor builds it in one step."""
        raw = info._raw_info
        return repr(
            (
                type(raw).__name__,
                raw.field_name,
                [node.name.value for node in raw.field_nodes],
                str(raw.return_type),
                raw.parent_type.name,
                raw.path.as_list(),
                raw.schema is not None,
                sorted(raw.fragments),
                raw.root_value,
                raw.operation.name and raw.operation.name.value,
                raw.variable_values,
                raw.context is not None,
                getattr(raw, "operation_extensions", None),
            )
        )

    @strawberry.field
    def api_keys(self) -> list[ApiKeyNode]:
        return [
            ApiKeyNode(
                key="k",
                tag="",
                status=enums.ApiKeyStatus.API_GEN,
                expiration=Int64(10),
                allowed_ips=["10.0.0.0/8"],
                created_at=Int64(1),
                last_used_at=None,
            )
        ]


def _schema(executor: type[Any]) -> strawberry.Schema:
    return strawberry.Schema(
        query=Query,
        config=StrawberryConfig(scalar_map=SCALAR_MAP),
        execution_context_class=executor,
    )


FAST = _schema(CheckedExecutor)
STOCK = _schema(StrawberryGraphQLCoreExecutionContext)
ORDER_FIELDS = (
    "id profileId clientOrderId marketId orderType side status timeInForce price triggerPrice "
    "size initialSize totalFilledSize sizePercent reason createdAt updatedAt timestamp"
)

DOCUMENTS = [
    f"{{ orders {{ {ORDER_FIELDS} }} }}",
    f"{{ badOrders {{ {ORDER_FIELDS} }} }}",
    f"{{ strictOrders {{ {ORDER_FIELDS} }} orders {{ id }} }}",
    f"{{ laterOrders {{ {ORDER_FIELDS} }} }}",
    "{ order { __typename id a: id b: price size __typename t: __typename } }",
    "{ orders { size size s: size ... on Order { size price } ...F } } "
    "fragment F on Order { id side }",
    "query ($yes: Boolean!) { orders { id price @include(if: $yes) size @skip(if: $yes) } }",
    "query ($yes: Boolean!) { orders { id ... @include(if: $yes) { side } } }",
    "{ orders { id side @deprecated } }",
    "{ badOrders { __typename id price side status createdAt clientOrderId } }",
    "{ badOrders { size } orders { size } }",
    "{ awaitedLeaf { marketId leverage } }",
    "{ positions { id profileId marketId side size entryPrice fairPrice notional unrealizedPnl "
    "margin liquidationPrice __typename } }",
    "{ notifications { id type title description read createdAt readAt } }",
    "{ leverage { marketId leverage } apiKeys { key tag status expiration allowedIps createdAt "
    "lastUsedAt } }",
    "{ __typename orders { __typename } }",
    "{ order { id } __schema { queryType { name } } }",
    '{ count broken maybe wrong side laterLeaf echo e: echo(text: "y") seen s: seen }',
    "{ count holder { count missing } h: holder { count } }",
    '{ pick a: pick(side: SHORT, size: "1.5") b: pick(count: 7) grow(items: [1, 2]) }',
    "query ($yes: Boolean!) { pick(count: 1) @include(if: $yes) p: pick(side: LONG) }",
    f"{{ mixedOrders {{ {ORDER_FIELDS} }} count }}",
    f"{{ nullableOrders {{ {ORDER_FIELDS} }} tupleOrders {{ id size }} }}",
    "{ awaitedLeaves { marketId leverage } order { id } }",
    f"{{ laterBadOrders {{ {ORDER_FIELDS} }} laterMixedOrders {{ {ORDER_FIELDS} }} }}",
    "{ laterOrder { id awaitedLeaf: __typename } laterFailure { id } awaitedLeaves { leverage } }",
    "query Q($t: String!) { echo(text: $t) seen ...F } fragment F on Query { f: seen }",
    "{ orders { id } o: orders { id ... on Order { price } } }",
    "{ orders { ...G } } fragment G on Order { id ...H } fragment H on Order { side ...G }",
]


def _errors(errors: list[GraphQLError] | None) -> list[dict[str, Any]] | None:
    return None if errors is None else [error.formatted for error in errors]


async def _both(document: str, variables: dict[str, Any] | None = None) -> tuple[Any, Any]:
    fast = await FAST.execute(document, variable_values=variables)
    stock = await STOCK.execute(document, variable_values=variables)
    return (fast.data, _errors(fast.errors)), (stock.data, _errors(stock.errors))


@pytest.mark.parametrize("document", DOCUMENTS)
@pytest.mark.parametrize("yes", [True, False])
def test_results_equal_graphql_cores(document: str, yes: bool) -> None:
    variables: dict[str, Any] | None = {"yes": yes} if "$yes" in document else None
    if "$t" in document:
        variables = {"t": "yes" if yes else ""}
    fast, stock = asyncio.run(_both(document, variables))
    assert fast == stock
    assert fast[0] is not None or fast[1]


def test_the_documents_reach_errors_and_nulls() -> None:
    """The table is worth something only if it reaches the error paths (the raw enum value, the
    digit string and the int for a String are coerced by graphql-core, not refused)."""
    (data, errors), _ = asyncio.run(_both(f"{{ badOrders {{ {ORDER_FIELDS} }} }}"))
    assert errors is not None
    assert len(errors) >= 4
    assert data["badOrders"][0] is None
    assert data["badOrders"][-1] is None


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(document=queries(FAST.as_str()))
def test_generated_documents_equal_graphql_cores(document: str) -> None:
    fast, stock = asyncio.run(_both(document))
    assert fast == stock


def test_a_cached_document_follows_each_requests_variables() -> None:
    """Plans are kept across requests by the parsed document's nodes (the document cache hands
    the same nodes back): @include/@skip must still follow each request's variables."""
    document = parse(
        "query ($yes: Boolean!) { orders { id price @include(if: $yes) size @skip(if: $yes) "
        "... @include(if: $yes) { side } } }"
    )
    for yes in (True, False, True, False):
        fast = execute(
            FAST._schema,
            document,
            variable_values={"yes": yes},
            executor_class=CheckedExecutor,
        )
        stock = execute(
            STOCK._schema,
            document,
            variable_values={"yes": yes},
            executor_class=StrawberryGraphQLCoreExecutionContext,
        )
        assert not isinstance(fast, Awaitable)
        assert not isinstance(stock, Awaitable)
        assert (fast.data, _errors(fast.errors)) == (stock.data, _errors(stock.errors))
        assert ("price" in fast.data["orders"][0]) is yes  # type: ignore[index]


def test_a_cached_document_coerces_literal_arguments_once_and_lists_per_request() -> None:
    """Literal arguments of immutable values are coerced once per plan, defaults included:
    every execution of the same nodes still gets each field's own (strawberry copies a list
    before a resolver sees it, and the plan keeps none)."""
    document = parse(
        '{ pick a: pick(side: SHORT, size: "1.5") b: pick(count: 7) grow(items: [1, 2]) '
        "g: grow(items: [1, 2]) }"
    )
    for _ in range(3):
        fast = execute(FAST._schema, document, executor_class=CheckedExecutor)
        stock = execute(
            STOCK._schema, document, executor_class=StrawberryGraphQLCoreExecutionContext
        )
        assert not isinstance(fast, Awaitable)
        assert not isinstance(stock, Awaitable)
        assert (fast.data, fast.errors) == (stock.data, stock.errors)
        assert fast.data == {
            "pick": "(<Side.LONG: 'long'>, None, 2)",
            "a": "(<Side.SHORT: 'short'>, Decimal('1.5'), 2)",
            "b": "(<Side.LONG: 'long'>, None, 7)",
            "grow": 3,
            "g": 3,
        }


def test_a_request_is_freed_when_it_ends_without_the_cyclic_collector() -> None:
    """graphql-core's executor holds helpers made of its own bound methods, a cycle: everything a
    request built (its context with the loaders' rows) waited for a full collection, ~55 MB at
    16 concurrent heavy re-onboardings. Reference counting alone must free it."""

    class Context:
        pass

    async def run(context: Context) -> Any:
        result = execute(
            FAST._schema,
            parse(f"{{ orders {{ {ORDER_FIELDS} }} laterLeaf }}"),
            context_value=context,
            executor_class=CheckedExecutor,
        )
        return (await result) if isinstance(result, Awaitable) else result

    context = Context()
    freed = weakref.ref(context)
    gc.disable()
    try:
        result = asyncio.run(run(context))
        assert result.errors is None
        assert result.data["laterLeaf"] is not None
        del context, result
        assert freed() is None
    finally:
        gc.enable()
