"""Authentication of HMAC-signed legacy calls (spec §6), and the `/jwt` renewals built on it.

A market maker names its API key (`RBT-API-KEY`) and signs with the key's secret; a client sends
its access JWT and signs with the session's `randomSecret`. Checks run cheapest first and say
what to fix: timestamp window (no I/O), the key or session, the signature (constant time), then
the key's IP allow-list, so an unsigned caller learns nothing about the allow-list. A call that
passes stamps the key's `last_used_at`.

A signed call that mints credentials (`POST /jwt`, both forms) works once: it is spent in the
single-use ledger (`models.ledger`) in the transaction that writes the new session, so a replay
gets SIGNATURE_REPLAYED and writes nothing (a replayed client refresh is not mistaken for a
reused refresh token, which would end the family). A signed read (`GET /account`) may be
repeated until its `RBT-TS` passes, like the original: reading twice changes nothing.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from sqlmodel import col, update
from sqlmodel.ext.asyncio.session import AsyncSession

from .api_keys import api_key_secret, could_be_key, effective_status, require_allowed
from .client_ip import Address
from .db import Database
from .enums import ApiKeyStatus, SessionKind, SessionOrigin
from .errors import AppError, ErrorCode
from .hmac_payload import signature_matches
from .ledger import spend
from .sessions import (
    ClientTokens,
    Credentials,
    authenticate,
    issue_access_session,
    refresh_claims,
    refresh_client_session,
    session_secret,
)
from .tables import ApiKey, AuthSession
from .tokens import Claims, TokenType
from .wallet import check_timestamp

_SIGNATURE = re.compile(r"0x[0-9a-fA-F]{64}")
HMAC_SIGNER = "hmac"
"""The ledger's signer for HMAC-signed calls (wallet entries are 0x addresses)."""


@dataclass(frozen=True, slots=True)
class SignedCall:
    """What a signed request brings, as parsed by the HTTP layer."""

    fields: Mapping[str, object]
    """The signed fields: the JSON body plus `method` and `path` (`hmac_payload.signed_fields`)."""
    timestamp: int
    signature: str | None
    client_ip: Address | None


@dataclass(frozen=True, slots=True)
class Caller:
    profile_id: int
    api_key: str | None = None
    session_id: str | None = None


def check_fresh(call: SignedCall, creds: Credentials) -> None:
    """RBT-TS is the signature's expiry: inside `(now, now + signature TTL]`."""
    check_timestamp(call.timestamp, now=int(time.time()), ttl=creds.config.signature_ttl)


def verify_signature(call: SignedCall, secret: str) -> None:
    """RBT-SIGNATURE is the HMAC of the call under `secret` (compared in constant time)."""
    if call.signature is None:
        raise AppError(
            ErrorCode.INVALID_PAYLOAD_SIGNATURE,
            "the RBT-SIGNATURE header is missing; send the HMAC-SHA256 of the request payload",
        )
    if not _SIGNATURE.fullmatch(call.signature):
        raise AppError(
            ErrorCode.INVALID_PAYLOAD_SIGNATURE,
            "RBT-SIGNATURE must be 0x followed by 64 hex digits",
        )
    if not signature_matches(call.fields, call.timestamp, secret, call.signature):
        keys = ", ".join(sorted(call.fields))
        raise AppError(
            ErrorCode.INVALID_PAYLOAD_SIGNATURE,
            f"RBT-SIGNATURE does not match this request: sign SHA-256 of the sorted key=value "
            f"pairs of ({keys}) followed by RBT-TS {call.timestamp}, with HMAC-SHA256 keyed by "
            f"the hex-decoded secret",
        )


async def authenticate_signed(
    db: Database,
    creds: Credentials,
    call: SignedCall,
    *,
    api_key: str | None,
    access_token: str | None,
) -> Caller:
    """The profile behind a signed call: by API key if one is named, else by session JWT."""
    check_fresh(call, creds)
    if api_key:
        return await _by_api_key(db, creds, call, api_key)
    if access_token:
        return await _by_session(db, creds, call, access_token)
    raise AppError(
        ErrorCode.NOT_AUTHENTICATED,
        "send RBT-API-KEY (market makers) or the session JWT as the `jwt` cookie or RBT-JWT "
        "header (clients), together with RBT-TS and RBT-SIGNATURE",
    )


async def _by_api_key(db: Database, creds: Credentials, call: SignedCall, key: str) -> Caller:
    row = await _verified_key(db, creds, call, key)
    async with db.write() as session:
        await _stamp(session, row.key, time.time())
    return Caller(profile_id=row.profile_id, api_key=row.key)


async def _verified_key(db: Database, creds: Credentials, call: SignedCall, key: str) -> ApiKey:
    """The live key `call` is signed with, from an allowed address; reads only."""
    row = None
    if could_be_key(key):
        async with db.read() as session:
            row = await session.get(ApiKey, key)
    now = int(time.time())
    status = effective_status(row, now) if row is not None else ApiKeyStatus.REVOKED
    if row is None or status is ApiKeyStatus.REVOKED:
        raise AppError(ErrorCode.NO_SUCH_KEY, "no such API key (unknown or revoked); onboard again")
    if status is ApiKeyStatus.EXPIRED:
        raise AppError(
            ErrorCode.KEY_EXPIRED,
            f"this API key expired at {row.expiration} (server time {now}); onboard again "
            "for a new key",
        )
    verify_signature(call, api_key_secret(creds, row))
    require_allowed(row, call.client_ip)
    return row


async def _stamp(session: AsyncSession, key: str, now: float) -> None:
    await session.exec(
        update(ApiKey).where(col(ApiKey.key) == key).values(last_used_at=int(now * 1_000_000))
    )


def _single_use(
    db: Database, creds: Credentials, call: SignedCall, credential: str
) -> Callable[[AsyncSession], Awaitable[None]]:
    """The step that spends `call` (signed with `credential`'s secret) in the ledger."""

    async def spend_call(session: AsyncSession) -> None:
        if not creds.config.single_use_signatures:
            return
        await spend(
            db,
            await db.joined(await session.connection()),
            signer=HMAC_SIGNER,
            digest=hashlib.sha256(f"{credential}\n{call.signature}".encode()).hexdigest(),
            expires_at=call.timestamp,
            replayed="this signed request was already used; sign it again with a new RBT-TS",
        )

    return spend_call


async def _live_session(
    db: Database, creds: Credentials, access_token: str, client_ip: Address | None
) -> AuthSession:
    """`sessions.authenticate`, refusing with the legacy code."""
    try:
        return await authenticate(db, creds, access_token, client_ip)
    except AppError as error:
        if error.code is not ErrorCode.UNAUTHENTICATED:
            raise
        raise AppError(ErrorCode.NOT_AUTHENTICATED, error.message) from error


async def _by_session(
    db: Database, creds: Credentials, call: SignedCall, access_token: str
) -> Caller:
    row = await _live_session(db, creds, access_token, call.client_ip)
    secret = session_secret(creds, row)
    if secret is None:
        raise AppError(
            ErrorCode.NOT_AUTHENTICATED,
            "this JWT belongs to a market maker, who signs with RBT-API-KEY and the API secret",
        )
    verify_signature(call, secret)
    return Caller(profile_id=row.profile_id, session_id=row.id)


async def validate_access_token(
    db: Database, creds: Credentials, token: str | None, client_ip: Address | None
) -> Claims:
    """The claims of a live access JWT (`GET /account/validate`), or NOT_AUTHENTICATED."""
    if not token:
        raise AppError(
            ErrorCode.NOT_AUTHENTICATED, "send the JWT to check as query `jwt` or header RBT-JWT"
        )
    await _live_session(db, creds, token, client_ip)
    return creds.signer.verify(token, TokenType.ACCESS)


async def renew_client_session(
    db: Database, creds: Credentials, refresh_token: str, call: SignedCall
) -> tuple[int, ClientTokens]:
    """Client `/jwt`: the call is signed with the `randomSecret` of the session the refresh
    token names (its `sid`); then the token is spent (rotation, reuse detection)."""
    check_fresh(call, creds)
    claims = refresh_claims(creds, refresh_token)
    async with db.read() as session:
        row = await session.get(AuthSession, claims.session_id)
    secret = None if row is None else session_secret(creds, row)
    if row is None or secret is None or row.profile_id != claims.profile_id:
        raise AppError(
            ErrorCode.REFRESH_TOKEN_NOT_FOUND,
            "refresh token does not name a client session; onboard again",
        )
    verify_signature(call, secret)
    once = _single_use(db, creds, call, row.id)
    return await refresh_client_session(db, creds, refresh_token, claims, first=once)


async def open_market_maker_session(
    db: Database, creds: Credentials, call: SignedCall, api_key: str
) -> str:
    """Market-maker `/jwt`: a new session minted from the key the call is signed with (it lives
    and dies with the key); spends the call, stamps the key; returns the JWT."""
    check_fresh(call, creds)
    key = await _verified_key(db, creds, call, api_key)
    now = time.time()
    row, jwt = issue_access_session(
        creds,
        key.profile_id,
        SessionKind.MARKET_MAKER,
        int(now),
        origin=SessionOrigin.API_KEY,
        api_key=key.key,
    )
    async with db.write() as session:
        await _single_use(db, creds, call, key.key)(session)
        await _stamp(session, key.key, now)
        session.add(AuthSession(**row))
    return jwt
