"""Token buckets kept in the database, so every worker (and, on PostgreSQL, every host) shares them.

A bucket holds `burst` tokens and regains one every T = 60 / `per_minute` seconds; each admitted
request takes one. Its whole state is one number, `full_at`: the moment it will be full again
(GCRA's "theoretical arrival time"). At time `now`:

- tokens left = burst - max(0, full_at - now) / T
- admit when a whole token is left, i.e. max(full_at, now) - now <= (burst - 1) * T,
  and then full_at := max(full_at, now) + T
- a refused caller may retry after max(full_at, now) - now - (burst - 1) * T seconds

One `INSERT … ON CONFLICT DO UPDATE … WHERE <admit> RETURNING` checks and takes atomically on both
engines (PostgreSQL row lock; SQLite's single writer): a returned row means admitted, no row means
refused and the bucket is left as it was. A missing row is a full bucket, so rows whose `full_at`
has passed carry no information and are purged. Times are the workers' wall clocks (seconds).

Several buckets are checked and taken by one statement (`take_tokens`): on SQLite an onboarding
takes the client address's and the wallet's tokens together, inside its transaction; on
PostgreSQL its one statement takes the wallet's only once the address's was taken (see
`models.onboarding`). The table is kept out of PostgreSQL's write-ahead log (no disk flush).
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import BindParameter, Double, String, bindparam, case, delete, true, union_all
from sqlalchemy import select as sa_select
from sqlmodel import col

from .config import Rate
from .db import Database, Rows, Step, Transaction
from .errors import AppError, ErrorCode
from .tables import RateLimitBucket

IPV6_PREFIX = 64
"""One IPv6 subscriber usually holds a whole /64: per-address buckets would be free to dodge."""


class RateLimited(AppError):
    """RATE_LIMITED with the whole seconds to wait (HTTP `Retry-After`, GraphQL `retryAfter`)."""

    def __init__(self, what: str, retry_after: float, *, client: bool = False) -> None:
        """`what` counts the refused things, e.g. "onboarding attempts from this address"."""
        seconds = max(1, math.ceil(retry_after))
        self.client = client
        """The client address's bucket refused (not the wallet's)."""
        super().__init__(
            ErrorCode.RATE_LIMITED, f"too many {what}; retry in {seconds} s", retry_after=seconds
        )


@lru_cache(maxsize=4096)
def client_key(address: str) -> str:
    """The bucket of a client address: the IPv4 address, or the IPv6 /64 it belongs to.
    (Cached: parsing an address costs ~4 us, and a client's address repeats.)"""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return f"ip:{address[:64]}"  # not an IP (a unix socket, a test client): itself
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return f"ip:{ip.ipv4_mapped}"
        return f"ip:{ipaddress.ip_network(f'{ip}/{IPV6_PREFIX}', strict=False)}"
    return f"ip:{ip}"


Bucket = tuple[str, Rate]
"""A bucket's key and its rate."""


def take_statement(db: Database, indices: Sequence[int], when: Any = None) -> Any:
    """The check-and-take UPSERT of the buckets numbered `indices` at once, RETURNING the
    admitted keys; with `when`, only if that condition holds.

    Parameters: `now`, and per bucket i `key_i`, `per_token_i`, `tolerance_i`; only those vary,
    so it is built once per number of buckets (`Database.prepared`).
    """
    stored, key = col(RateLimitBucket.full_at), col(RateLimitBucket.key)
    now: BindParameter[float] = bindparam("now", type_=Double())

    def per_bucket(name: str) -> Any:
        """The bucket's own parameter, picked by the key of the row being updated."""
        return case(
            *(
                (key == bindparam(f"key_{i}"), bindparam(f"{name}_{i}", type_=Double()))
                for i in indices
            )
        )

    start = case((stored > now, stored), else_=now)
    # Rows from a SELECT, not a multi-row VALUES: SQLAlchemy caches no compiled multi-row VALUES.
    # (`WHERE true`: SQLite's grammar needs a WHERE before ON CONFLICT.)
    rows = union_all(
        *(
            sa_select(
                bindparam(f"key_{i}", type_=String()),
                now + bindparam(f"per_token_{i}", type_=Double()),
            ).where(true() if when is None else when)
            for i in indices
        )
    )
    return (
        db.insert(RateLimitBucket)
        .from_select(["key", "full_at"], rows)
        .on_conflict_do_update(
            index_elements=["key"],
            set_={"full_at": start + per_bucket("per_token")},
            where=start - now <= per_bucket("tolerance"),
        )
        .returning(key)
    )


def take_parameters(buckets: Sequence[Bucket], now: float) -> dict[str, Any]:
    parameters: dict[str, Any] = {"now": now}
    for i, (key, rate) in enumerate(buckets):
        parameters[f"key_{i}"] = key
        parameters[f"per_token_{i}"] = rate.seconds_per_token
        parameters[f"tolerance_{i}"] = (rate.burst - 1) * rate.seconds_per_token
    return parameters


def take_step(db: Database, buckets: Sequence[Bucket], now: float) -> Step:
    """The statement that takes a token from each bucket, with its parameters."""
    statement = db.driver_statement(
        f"ratelimit.take.{len(buckets)}", lambda: take_statement(db, range(len(buckets)))
    )
    return statement, take_parameters(buckets, now)


async def take_tokens(
    db: Database, transaction: Transaction, buckets: Sequence[Bucket], now: float
) -> dict[str, float]:
    """Take a token from each bucket in one statement: the refused keys, with the seconds until
    each has a token again (empty when all were admitted; then every token is taken)."""
    rows = await transaction.rows(*take_step(db, buckets, now))
    return await refused_waits(db, transaction, buckets, now, rows)


async def refused_waits(
    db: Database, transaction: Transaction, buckets: Sequence[Bucket], now: float, taken: Rows
) -> dict[str, float]:
    """From what the take statement returned (`taken`): the refused keys and their waits."""
    admitted = {row["key"] for row in taken}
    refused = [(key, rate) for key, rate in buckets if key not in admitted]
    return {key: await refused_wait(db, transaction, key, rate, now) for key, rate in refused}


def _full_at_statement() -> Any:
    return sa_select(col(RateLimitBucket.full_at)).where(
        col(RateLimitBucket.key) == bindparam("key")
    )


async def refused_wait(
    db: Database, transaction: Transaction, key: str, rate: Rate, now: float
) -> float:
    """How long a refused bucket stays short of a whole token."""
    statement = db.driver_statement("ratelimit.full_at", _full_at_statement)
    (row,) = await transaction.rows(statement, {"key": key})
    full_at = float(row["full_at"])
    return max(full_at, now) - now - (rate.burst - 1) * rate.seconds_per_token


async def take_token(
    db: Database, transaction: Transaction, key: str, rate: Rate, now: float
) -> float | None:
    """Take a token from `key`'s bucket: None when admitted, else the seconds until one is back."""
    return (await take_tokens(db, transaction, [(key, rate)], now)).get(key)


def client_bucket(rate: Rate, address: str) -> Bucket:
    return client_key(address), rate


def wallet_bucket(rate: Rate, wallet: str) -> Bucket:
    return f"wallet:{wallet}", rate


def refusal(buckets: Sequence[Bucket], waits: dict[str, float]) -> RateLimited | None:
    """The refusal for the first refused bucket (client address before wallet), if any."""
    for key, _ in buckets:
        if key in waits:
            if key.startswith("wallet:"):
                return RateLimited("onboarding attempts for this wallet", waits[key])
            return RateLimited("onboarding attempts from this address", waits[key], client=True)
    return None


async def admit_client(db: Database, rate: Rate, address: str, now: float) -> None:
    """Count one attempt from a client address: one autocommitted statement."""
    bucket = client_bucket(rate, address)
    async with db.autocommit() as transaction:
        waits = await take_tokens(db, transaction, [bucket], now)
    if (refused := refusal([bucket], waits)) is not None:
        raise refused


async def purge_full_buckets(db: Database, now: float | None = None) -> int:
    """Drop buckets that are full again: a missing row means exactly that."""
    cutoff = time.time() if now is None else now
    async with db.write() as session:
        result = await session.exec(
            delete(RateLimitBucket).where(col(RateLimitBucket.full_at) <= cutoff)
        )
    return int(result.rowcount)
