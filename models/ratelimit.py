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

Cost: the per-address check is that one statement, autocommitted (no BEGIN/COMMIT round trips),
on a table PostgreSQL keeps out of its write-ahead log (no disk flush); the per-wallet check is
one more statement inside the onboarding transaction.
"""

from __future__ import annotations

import ipaddress
import math
import time
from typing import Any

from sqlalchemy import BindParameter, Double, bindparam, case, delete
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from .config import Rate
from .db import Database
from .errors import AppError, ErrorCode
from .tables import RateLimitBucket

IPV6_PREFIX = 64
"""One IPv6 subscriber usually holds a whole /64: per-address buckets would be free to dodge."""


class RateLimited(AppError):
    """RATE_LIMITED with the whole seconds to wait (HTTP `Retry-After`, GraphQL `retryAfter`)."""

    def __init__(self, what: str, retry_after: float) -> None:
        """`what` counts the refused things, e.g. "onboarding attempts from this address"."""
        seconds = max(1, math.ceil(retry_after))
        super().__init__(ErrorCode.RATE_LIMITED, f"too many {what}; retry in {seconds} s")
        self.retry_after = seconds
        self.extensions["retryAfter"] = seconds


def client_key(address: str) -> str:
    """The bucket of a client address: the IPv4 address, or the IPv6 /64 it belongs to."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return f"ip:{address[:64]}"  # not an IP (a unix socket, a test client): itself
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return f"ip:{ip.ipv4_mapped}"
        return f"ip:{ipaddress.ip_network(f'{ip}/{IPV6_PREFIX}', strict=False)}"
    return f"ip:{ip}"


def _take_statement(db: Database) -> Any:
    """The check-and-take UPSERT: only its parameters vary."""
    stored = col(RateLimitBucket.full_at)
    now: BindParameter[float] = bindparam("now", type_=Double())
    per_token: BindParameter[float] = bindparam("per_token", type_=Double())
    start = case((stored > now, stored), else_=now)
    return (
        db.insert(RateLimitBucket)
        .values(key=bindparam("key"), full_at=now + per_token)
        .on_conflict_do_update(
            index_elements=["key"],
            set_={"full_at": start + per_token},
            where=start - now <= bindparam("tolerance", type_=Double()),
        )
        .returning(stored)
    )


async def take_token(
    db: Database, connection: AsyncConnection, key: str, rate: Rate, now: float
) -> float | None:
    """Take a token from `key`'s bucket: None when admitted, else the seconds until one is back."""
    tolerance = (rate.burst - 1) * rate.seconds_per_token
    parameters = {"key": key, "now": now, "per_token": rate.seconds_per_token}
    statement = db.prepared("ratelimit.take", lambda: _take_statement(db))
    taken = await connection.execute(statement, {**parameters, "tolerance": tolerance})
    if taken.first() is not None:
        return None
    by_key = select(RateLimitBucket.full_at).where(RateLimitBucket.key == key)
    full_at: float = (await connection.execute(by_key)).scalar_one()
    return max(full_at, now) - now - tolerance


async def admit_client(db: Database, rate: Rate, address: str, now: float) -> None:
    """Count one attempt from a client address: one autocommitted statement, before any work."""
    async with db.autocommit() as connection:
        wait = await take_token(db, connection, client_key(address), rate, now)
    if wait is not None:
        raise RateLimited("onboarding attempts from this address", wait)


async def admit_wallet(
    db: Database, session: AsyncSession, rate: Rate, wallet: str, now: float
) -> None:
    """Count one proven onboarding of `wallet` inside the caller's transaction."""
    connection = await session.connection()
    wait = await take_token(db, connection, f"wallet:{wallet}", rate, now)
    if wait is not None:
        raise RateLimited("onboarding attempts for this wallet", wait)


async def purge_full_buckets(db: Database, now: float | None = None) -> int:
    """Drop buckets that are full again: a missing row means exactly that."""
    cutoff = time.time() if now is None else now
    async with db.write() as session:
        result = await session.exec(
            delete(RateLimitBucket).where(col(RateLimitBucket.full_at) <= cutoff)
        )
    return int(result.rowcount)
