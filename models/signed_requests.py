"""Authentication of HMAC-signed legacy calls (spec §6), and the `/jwt` renewals built on it.

A market maker names its API key (`RBT-API-KEY`) and signs with the key's secret; a client sends
its access JWT and signs with the session's `randomSecret`. Checks run cheapest first and say
what to fix: timestamp window (no I/O), the key or session, the signature (constant time), then
the key's IP allow-list, so an unsigned caller learns nothing about the allow-list. A call that
passes stamps the key's `last_used_at`.

Like the original, a signed call may be repeated until its `RBT-TS` passes (at most the signature
TTL); what it can do twice is harmless here: read the account, or mint another market-maker JWT.
A client refresh is single-use anyway (`models.sessions.refresh_client_session`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass

from sqlmodel import col, update

from .api_keys import api_key_secret, effective_status
from .client_ip import Address, is_allowed
from .db import Database
from .enums import ApiKeyStatus, SessionKind
from .errors import AppError, ErrorCode
from .hmac_payload import signature_matches
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
_MAX_KEY_LENGTH = 64


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
    row = None
    if len(key) <= _MAX_KEY_LENGTH:
        async with db.read() as session:
            row = await session.get(ApiKey, key)
    now = time.time()
    status = effective_status(row, int(now)) if row is not None else ApiKeyStatus.REVOKED
    if row is None or status is ApiKeyStatus.REVOKED:
        raise AppError(ErrorCode.NO_SUCH_KEY, "no such API key (unknown or revoked); onboard again")
    if status is ApiKeyStatus.EXPIRED:
        raise AppError(
            ErrorCode.KEY_EXPIRED,
            f"this API key expired at {row.expiration} (server time {int(now)}); onboard again "
            "for a new key",
        )
    secret = api_key_secret(creds, row)
    verify_signature(call, secret)
    if not is_allowed(call.client_ip, row.allowed_ips):
        shown = call.client_ip or "an undetermined address"
        raise AppError(
            ErrorCode.NOT_ALLOWED_FOR_IP,
            f"this API key only accepts requests from its allowed IPs, and this one came from "
            f"{shown}",
        )
    async with db.write() as session:
        await session.exec(
            update(ApiKey)
            .where(col(ApiKey.key) == row.key)
            .values(last_used_at=int(now * 1_000_000))
        )
    return Caller(profile_id=row.profile_id, api_key=row.key)


async def _live_session(db: Database, creds: Credentials, access_token: str) -> AuthSession:
    """`sessions.authenticate`, refusing with the legacy code."""
    try:
        return await authenticate(db, creds, access_token)
    except AppError as error:
        if error.code is not ErrorCode.UNAUTHENTICATED:
            raise
        raise AppError(ErrorCode.NOT_AUTHENTICATED, error.message) from error


async def _by_session(
    db: Database, creds: Credentials, call: SignedCall, access_token: str
) -> Caller:
    row = await _live_session(db, creds, access_token)
    secret = session_secret(creds, row)
    if secret is None:
        raise AppError(
            ErrorCode.NOT_AUTHENTICATED,
            "this JWT belongs to a market maker, who signs with RBT-API-KEY and the API secret",
        )
    verify_signature(call, secret)
    return Caller(profile_id=row.profile_id, session_id=row.id)


async def validate_access_token(db: Database, creds: Credentials, token: str | None) -> Claims:
    """The claims of a live access JWT (`GET /account/validate`), or NOT_AUTHENTICATED."""
    if not token:
        raise AppError(
            ErrorCode.NOT_AUTHENTICATED, "send the JWT to check as query `jwt` or header RBT-JWT"
        )
    await _live_session(db, creds, token)
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
    return await refresh_client_session(db, creds, refresh_token, claims)


async def open_market_maker_session(db: Database, creds: Credentials, profile_id: int) -> str:
    """Market-maker `/jwt`: a new access session for the key's profile; returns its JWT."""
    row, jwt = issue_access_session(creds, profile_id, SessionKind.MARKET_MAKER, int(time.time()))
    async with db.write() as session:
        session.add(row)
    return jwt
