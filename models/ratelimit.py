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
"""

from __future__ import annotations

import ipaddress
import math
import time

from sqlalchemy import Double, case, delete, literal
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
        seconds = max(1, math.ceil(retry_after))
        super().__init__(
            ErrorCode.RATE_LIMITED, f"too many onboarding attempts {what}; retry in {seconds} s"
        )
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


async def take_token(
    db: Database, session: AsyncSession, key: str, rate: Rate, now: float
) -> float | None:
    """Take a token from `key`'s bucket: None when admitted, else the seconds until one is back."""
    per_token = rate.seconds_per_token
    tolerance = (rate.burst - 1) * per_token
    stored = col(RateLimitBucket.full_at)
    start = case((stored > now, stored), else_=literal(now, Double()))
    take = (
        db.insert(RateLimitBucket)
        .values(key=key, full_at=now + per_token)
        .on_conflict_do_update(
            index_elements=["key"],
            set_={"full_at": start + per_token},
            where=start - now <= tolerance,
        )
        .returning(stored)
    )
    if (await session.exec(take)).first() is not None:
        return None
    by_key = select(RateLimitBucket.full_at).where(RateLimitBucket.key == key)
    full_at = (await session.exec(by_key)).one()
    return max(full_at, now) - now - tolerance


async def admit_client(db: Database, rate: Rate, address: str, now: float) -> None:
    """Count one attempt from a client address, in its own short transaction."""
    async with db.write() as session:
        wait = await take_token(db, session, client_key(address), rate, now)
    if wait is not None:
        raise RateLimited("from this address", wait)


async def admit_wallet(
    db: Database, session: AsyncSession, rate: Rate, wallet: str, now: float
) -> None:
    """Count one proven onboarding of `wallet` inside the caller's transaction."""
    wait = await take_token(db, session, f"wallet:{wallet}", rate, now)
    if wait is not None:
        raise RateLimited("for this wallet", wait)


async def purge_full_buckets(db: Database, now: float | None = None) -> int:
    """Drop buckets that are full again: a missing row means exactly that."""
    cutoff = time.time() if now is None else now
    async with db.write() as session:
        result = await session.exec(
            delete(RateLimitBucket).where(col(RateLimitBucket.full_at) <= cutoff)
        )
    return int(result.rowcount)
