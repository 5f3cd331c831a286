"""The seed's JSON shapes (`onboarding-response.example.json`), in one place.

Every legacy response is the envelope `{error, pagination, result, success}`. Amounts are exact
`Decimal`s until the very end: `render` writes them as JSON numbers whose text is
`models.amounts.plain` (never through a float), or as JSON strings like the live exchange when
`ONBOARDING_LEGACY_DECIMALS=string`. Ids and timestamps are always JSON numbers.

Decisions where the seed is silent:
- A single-result route sends one page holding everything: `page` 0, `limit` = `total` = the
  number of items (0 on errors), `order` `ASC`.
- An order without a limit price, trigger price or size percent shows `0` there: the seed types
  those fields as numbers, and old clients parse them as such (GraphQL keeps them null).
- Object keys are written sorted, as in the seed.
- The profile's lists are capped like GraphQL's (`models.pagination`, docs/limits.md): the
  newest `EMBEDDED_ORDERS` resting orders, `EMBEDDED_POSITIONS` open positions (by market) and
  the newest `EMBEDDED_NOTIFICATIONS` notifications. The figures count every row.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

import orjson

from models.amounts import plain
from models.config import DomainConfig
from models.db import Database
from models.margin import PositionFigures
from models.onboarding import Onboarded
from models.pagination import EMBEDDED_NOTIFICATIONS, EMBEDDED_ORDERS, EMBEDDED_POSITIONS
from models.profiles import ProfileMath
from models.sessions import ClientTokens
from models.tables import ProfileFields
from resolvers.loaders import (
    Loaders,
    NotificationRow,
    OrderRow,
    Page,
    PositionRow,
    RestingOrders,
)

from .observability import as_json_dumps_would
from .settings import LegacyDecimals

Json = dict[str, Any]
_ZERO = Decimal(0)


def envelope(result: Sequence[object], error: str = "") -> Json:
    return {
        "error": error,
        "pagination": {"limit": len(result), "order": "ASC", "page": 0, "total": len(result)},
        "result": list(result),
        "success": not error,
    }


def _order(row: OrderRow) -> Json:
    return {
        "client_order_id": row.client_order_id,
        "created_at": row.created_at,
        "id": row.id,
        "initial_size": row.initial_size,
        "market_id": row.market_id,
        "order_type": row.order_type,
        "price": row.price if row.price is not None else _ZERO,
        "profile_id": row.profile_id,
        "reason": row.reason,
        "side": row.side,
        "size": row.size,
        "size_percent": row.size_percent if row.size_percent is not None else _ZERO,
        "status": row.status,
        "time_in_force": row.time_in_force,
        "timestamp": row.timestamp,
        "total_filled_size": row.total_filled_size,
        "trigger_price": row.trigger_price if row.trigger_price is not None else _ZERO,
        "updated_at": row.updated_at,
    }


def _position(row: PositionRow, figures: PositionFigures) -> Json:
    return {
        "entry_price": row.entry_price,
        "fair_price": row.fair_price,
        "id": row.id,
        "liquidation_price": figures.liquidation_price,
        "margin": figures.margin,
        "market_id": row.market_id,
        "notional": figures.notional,
        "profile_id": row.profile_id,
        "side": row.side,
        "size": row.size,
        "unrealized_pnl": figures.unrealized_pnl,
    }


def _notification(row: NotificationRow) -> Json:
    return {"description": row.description, "title": row.title, "type": row.type}


async def profile_json(
    db: Database, config: DomainConfig, profile: ProfileFields, *, created: bool = False
) -> Json:
    """The seed's `profile`: figures from `ProfileMath`, rows through the GraphQL loaders.
    A profile `created` by this very request has no rows: its lists cost no query."""
    assert profile.id is not None
    orders = RestingOrders([], [])
    positions: list[PositionRow] = []
    notifications: list[NotificationRow] = []
    if not created:
        loaders = Loaders(db)
        orders, positions, notifications = await asyncio.gather(
            loaders.open_orders.resting(profile.id),
            loaders.open_positions.load(profile.id),
            loaders.notifications.page(Page(profile_id=profile.id, limit=EMBEDDED_NOTIFICATIONS)),
        )
    math = ProfileMath(profile, config)
    figures = math.account(positions, orders.all)
    return {
        "account_equity": figures.account_equity,
        "account_leverage": figures.account_leverage,
        "account_margin": figures.account_margin,
        "balance": profile.balance,
        "cum_trading_volume": profile.cum_trading_volume,
        "cum_unrealized_pnl": figures.cum_unrealized_pnl,
        "health": figures.health,
        "id": profile.id,
        "last_liq_check": profile.last_liq_check,
        "last_update": profile.last_update,
        "leverage": math.leverage_by_market(),
        "orders": [_order(row) for row in orders.newest[:EMBEDDED_ORDERS]],
        "positions": [_position(row, math.position(row)) for row in positions[:EMBEDDED_POSITIONS]],
        "profile_notifications": [_notification(row) for row in notifications],
        "profile_type": profile.profile_type,
        "status": math.status(figures),
        "total_notional": figures.total_notional,
        "total_order_margin": figures.total_order_margin,
        "total_position_margin": figures.total_position_margin,
        "wallet": profile.wallet,
        "withdrawable_balance": figures.withdrawable_balance,
    }


def onboarding_item(onboarded: Onboarded, profile: Json) -> Json:
    """`result[0]` of `POST /onboarding`: the client or the market-maker form (spec §4)."""
    if onboarded.api_secret is None:
        return {
            "jwt": onboarded.jwt,
            "profile": profile,
            "randomSecret": onboarded.random_secret,
            "refreshToken": onboarded.refresh_token,
        }
    api = onboarded.api_secret
    return {
        "apiSecret": {
            "Expiration": api.expiration,
            "Key": api.key,
            "ProfileID": api.profile_id,
            "Secret": api.secret,
            "Status": api.status,
            "Tag": api.tag,
        },
        "jwt": onboarded.jwt,
        "profile": profile,
    }


def client_jwt_item(tokens: ClientTokens) -> Json:
    """Client `POST /jwt`: snake_case, as the original sends it."""
    return {
        "jwt": tokens.jwt,
        "random_secret": tokens.random_secret,
        "refresh_token": tokens.refresh_token,
    }


def market_maker_jwt_item(jwt: str) -> Json:
    return {"jwt": jwt}


def validation_item(profile_id: int, expires_at: int) -> Json:
    """`GET /account/validate`: whose JWT it is and when it expires (unix seconds)."""
    return {"expires_at": expires_at, "profile_id": profile_id}


def render(value: object, decimals: LegacyDecimals) -> bytes:
    """JSON bytes with exact amounts: a `Decimal` becomes its plain digits (or a string).

    orjson writes it (sorted keys, no spaces, as `reference_render`). Where orjson's bytes could
    differ from the reference's, the reference writes it: text beyond printable ASCII (json
    escapes it as `\\uXXXX`, orjson does not), integers beyond 64 bits, lone surrogates."""
    return as_json_dumps_would(
        lambda: orjson.dumps(value, default=_AMOUNT_WRITERS[decimals], option=orjson.OPT_SORT_KEYS),
        lambda: reference_render(value, decimals).encode(),
    )


_PLAIN_CACHE_SIZE = 4096


def _amount_writer(written: Callable[[str], object]) -> Callable[[object], object]:
    """orjson's hook for a `Decimal`: `written(plain(value))`, a number (a JSON fragment) or a
    string (`ONBOARDING_LEGACY_DECIMALS=string`). `plain` depends on the numeric value only
    (trailing zeros and signs of zero are normalised away), so it is cached by value."""
    cache: dict[Decimal, object] = {}

    def write(value: object) -> object:
        if not isinstance(value, Decimal):
            raise TypeError(f"cannot render {type(value).__name__} in a legacy response")
        text = cache.get(value)
        if text is None:
            if len(cache) >= _PLAIN_CACHE_SIZE:
                cache.clear()
            text = cache[value] = written(plain(value))
        return text

    return write


_AMOUNT_WRITERS: dict[LegacyDecimals, Callable[[object], object]] = {
    LegacyDecimals.NUMBER: _amount_writer(orjson.Fragment),
    LegacyDecimals.STRING: _amount_writer(str),
}


def reference_render(value: object, decimals: LegacyDecimals) -> str:
    """The envelope's bytes by definition: `json.dumps` for every key and scalar, keys sorted."""
    if isinstance(value, Decimal):
        text = plain(value)
        return json.dumps(text) if decimals is LegacyDecimals.STRING else text
    if isinstance(value, dict):
        items = sorted(value.items())
        return (
            "{"
            + ",".join(f"{json.dumps(k)}:{reference_render(v, decimals)}" for k, v in items)
            + "}"
        )
    if isinstance(value, list | tuple):
        return "[" + ",".join(reference_render(item, decimals) for item in value) + "]"
    if value is None or isinstance(value, bool | int | str):
        return json.dumps(value)
    raise TypeError(f"cannot render {type(value).__name__} in a legacy response")
