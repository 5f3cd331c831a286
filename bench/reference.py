"""The yardstick of issue 10: the least a hand-written onboarding endpoint does, with no tuning.

    BENCH_REFERENCE_DB=sqlite:///path.db (or postgresql://...) BENCH_REFERENCE_JWT_SECRET=... \\
        uvicorn bench.reference:app --workers 1

Written as the libraries' own documentation shows: Starlette, eth-account's
`Account.recover_message(encode_defunct(text=...))`, an expiry check, then on one connection
(aiosqlite in WAL with `synchronous=NORMAL`, or asyncpg) BEGIN, insert the profile
`ON CONFLICT DO NOTHING`, select its id, insert a session row, COMMIT; one HS256 JWT; a small JSON
answer through `JSONResponse`. It keeps this plain on purpose: the product does more (ledger,
rate limits, refresh token, sealed secret, the whole profile) and must still keep up with it.

It is never imported by the product. One connection is shared by the concurrent requests of the
worker, so the transaction holds an `asyncio.Lock`: without it two requests would interleave
statements on one connection (correctness, not tuning). The tables are its own (`ref_*`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any

import jwt
from eth_account import Account
from eth_account.messages import encode_defunct
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

SIGN_IN_TEXT = (
    "Welcome to RabbitX!\n\n"
    "Click to sign in and on-board your wallet for trading perpetuals.\n\n"
    "This request will not trigger a blockchain transaction or cost any gas fees. "
    "This signature only proves you are the true owner of this wallet.\n\n"
    "By signing this message you agree to the terms and conditions of the exchange."
)
SIGNATURE_TTL = 600
TOKEN_TTL = 172800

SQLITE_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS ref_profiles (id INTEGER PRIMARY KEY, wallet TEXT NOT NULL "
    "UNIQUE, status TEXT NOT NULL DEFAULT 'active', created_at INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS ref_sessions (id TEXT PRIMARY KEY, profile_id INTEGER NOT NULL "
    "REFERENCES ref_profiles(id), created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL)",
)
POSTGRES_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS ref_profiles (id BIGSERIAL PRIMARY KEY, wallet TEXT NOT NULL "
    "UNIQUE, status TEXT NOT NULL DEFAULT 'active', created_at BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS ref_sessions (id TEXT PRIMARY KEY, profile_id BIGINT NOT NULL "
    "REFERENCES ref_profiles(id), created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL)",
)


class SQLiteStore:
    def __init__(self, path: str) -> None:
        self.path = path
        self.lock = asyncio.Lock()

    async def open(self) -> None:
        import aiosqlite

        self.connection = await aiosqlite.connect(self.path, isolation_level=None)
        await self.connection.execute("PRAGMA journal_mode=WAL")
        await self.connection.execute("PRAGMA synchronous=NORMAL")
        for statement in SQLITE_SCHEMA:
            await self.connection.execute(statement)

    async def onboard(self, wallet: str, session_id: str, now: int) -> tuple[int, str]:
        db = self.connection
        async with self.lock:
            await db.execute("BEGIN")
            try:
                await db.execute(
                    "INSERT INTO ref_profiles (wallet, created_at) VALUES (?, ?) "
                    "ON CONFLICT DO NOTHING",
                    (wallet, now),
                )
                cursor = await db.execute(
                    "SELECT id, status FROM ref_profiles WHERE wallet = ?", (wallet,)
                )
                profile_id, status = await cursor.fetchone()  # type: ignore[misc]
                await db.execute(
                    "INSERT INTO ref_sessions (id, profile_id, created_at, expires_at) "
                    "VALUES (?, ?, ?, ?)",
                    (session_id, profile_id, now, now + TOKEN_TTL),
                )
                await db.execute("COMMIT")
            except BaseException:
                await db.execute("ROLLBACK")
                raise
        return int(profile_id), str(status)

    async def close(self) -> None:
        await self.connection.close()


class PostgresStore:
    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.lock = asyncio.Lock()

    async def open(self) -> None:
        import asyncpg

        self.connection = await asyncpg.connect(self.dsn)
        for statement in POSTGRES_SCHEMA:
            await self.connection.execute(statement)

    async def onboard(self, wallet: str, session_id: str, now: int) -> tuple[int, str]:
        db = self.connection
        async with self.lock, db.transaction():
            await db.execute(
                "INSERT INTO ref_profiles (wallet, created_at) VALUES ($1, $2) "
                "ON CONFLICT DO NOTHING",
                wallet,
                now,
            )
            row = await db.fetchrow("SELECT id, status FROM ref_profiles WHERE wallet = $1", wallet)
            await db.execute(
                "INSERT INTO ref_sessions (id, profile_id, created_at, expires_at) "
                "VALUES ($1, $2, $3, $4)",
                session_id,
                row["id"],
                now,
                now + TOKEN_TTL,
            )
        return int(row["id"]), str(row["status"])

    async def close(self) -> None:
        await self.connection.close()


def store_from(url: str) -> SQLiteStore | PostgresStore:
    if url.startswith("sqlite:///"):
        return SQLiteStore(url.removeprefix("sqlite:///"))
    return PostgresStore(url)


store = store_from(os.environ.get("BENCH_REFERENCE_DB", "sqlite:///reference.db"))
JWT_SECRET = os.environ.get("BENCH_REFERENCE_JWT_SECRET") or secrets.token_urlsafe(48)


def refuse(message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=400)


async def onboarding(request: Request) -> JSONResponse:
    body: dict[str, Any] = await request.json()
    wallet, signature, timestamp = body["wallet"], body["signature"], int(body["timestamp"])
    now = int(time.time())
    if not now < timestamp <= now + SIGNATURE_TTL:
        return refuse("signature expired")
    message = encode_defunct(text=f"{SIGN_IN_TEXT}\n{timestamp}")
    if Account.recover_message(message, signature=signature).lower() != wallet.lower():
        return refuse("signature does not match the wallet")
    session_id = secrets.token_hex(16)
    profile_id, status = await store.onboard(wallet.lower(), session_id, now)
    token = jwt.encode(
        {"sub": str(profile_id), "sid": session_id, "iat": now, "exp": now + TOKEN_TTL},
        JWT_SECRET,
        algorithm="HS256",
    )
    return JSONResponse(
        {
            "jwt": token,
            "randomSecret": "0x" + secrets.token_hex(32),
            "profile": {"id": profile_id, "wallet": wallet.lower(), "status": status},
        }
    )


async def healthz(_: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


@contextlib.asynccontextmanager
async def lifespan(_: Starlette) -> AsyncIterator[None]:
    await store.open()
    try:
        yield
    finally:
        await store.close()


app = Starlette(
    routes=[Route("/onboarding", onboarding, methods=["POST"]), Route("/healthz", healthz)],
    lifespan=lifespan,
)
