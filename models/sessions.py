"""Sessions: issuing them, authenticating access tokens, rotating refresh tokens, revoking.

Every access JWT names its session (`sid`); a session counts only while its row is live, so
logout and revocation take effect at once. A refresh spends its session (compare-and-swap on the
row: of two concurrent refreshes exactly one wins) and opens the next one in the same family.
Presenting a spent refresh token again is treated as theft: the whole family is revoked,
including its newest session. A legitimate client that double-submits a refresh is logged out
too; it onboards again. We prefer that to a grace window an attacker could use.

Every session records what it was minted from (`SessionOrigin`, docs/sessions-and-keys.md). A
family lives at most `refresh_family_ttl` from the wallet proof that began it, and no session
outlives its family. A session minted from an API key is only as good as the key: it is checked
against the key (live? the caller's address allowed?) each time it authenticates, so revoking
or expiring the key ends it at once on every worker, and it may not manage keys.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, delete, func
from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from .api_keys import effective_status, require_allowed, revoke_live_keys
from .client_ip import Address
from .config import DomainConfig
from .db import Database
from .enums import ApiKeyStatus, SessionKind, SessionOrigin
from .errors import AppError, ErrorCode
from .secretbox import SecretBox
from .tables import ApiKey, AuthSession
from .tokens import (
    Claims,
    TokenSigner,
    TokenType,
    new_hmac_secret,
    new_session_id,
    new_token_id,
    token_hash,
)

ENDED = "this session has ended (logged out, revoked or replaced); onboard or refresh again"
KEY_ENDED = (
    "this session was minted from an API key that is now revoked or expired, and ended with it; "
    "sign POST /jwt with a live key, or onboard again"
)
NO_CREDENTIALS = (
    "send the access JWT as `Authorization: Bearer <jwt>`, the `jwt` cookie or the RBT-JWT header"
)


@dataclass(frozen=True, slots=True)
class Credentials:
    """The keys sessions need, built once per process from settings."""

    config: DomainConfig
    signer: TokenSigner
    box: SecretBox

    @classmethod
    def from_config(
        cls,
        config: DomainConfig,
        previous_jwt_secrets: tuple[str, ...] = (),
        previous_secrets_keys: tuple[str, ...] = (),
    ) -> Credentials:
        return cls(
            config=config,
            signer=TokenSigner(config.jwt_secret.get_secret_value(), previous_jwt_secrets),
            box=SecretBox(config.secrets_key.get_secret_value(), previous_secrets_keys),
        )


SessionRow = dict[str, Any]
"""The values of every column of an `auth_sessions` row, by column name."""


@dataclass(frozen=True, slots=True)
class ClientTokens:
    jwt: str
    refresh_token: str
    random_secret: str


family_start_column: ColumnElement[int] = func.coalesce(
    col(AuthSession.family_started_at), col(AuthSession.created_at)
)
"""When a session's family began; a row minted before migration 0002 counts from itself."""


def family_start(row: AuthSession) -> int:
    """`family_start_column` of a loaded row."""
    return row.created_at if row.family_started_at is None else row.family_started_at


@dataclass(frozen=True, slots=True)
class Family:
    """The refresh family a new session joins: its id and when its wallet proof was made."""

    id: str
    started_at: int


def _lifetime(creds: Credentials, wanted: int, family_started_at: int, now_s: int) -> int:
    """`wanted` seconds, cut short where the family's absolute lifetime ends."""
    return min(wanted, family_started_at + creds.config.refresh_family_ttl - now_s)


def issue_access_session(
    creds: Credentials,
    profile_id: int,
    kind: SessionKind,
    now_s: int,
    *,
    origin: SessionOrigin = SessionOrigin.WALLET_PROOF,
    api_key: str | None = None,
    family: Family | None = None,
    session_id: str | None = None,
) -> tuple[SessionRow, str]:
    """A session row's values (not yet written) and the access JWT that names it. Without
    `family` the session begins a new one; `api_key` names the key a session minted from a key
    came from."""
    row, ttl = _session_row(creds, kind, now_s, origin, api_key, family, session_id)
    row["profile_id"] = profile_id
    return row, _access_jwt(creds, profile_id, row["id"], now_s, ttl)


def _session_row(
    creds: Credentials,
    kind: SessionKind,
    now_s: int,
    origin: SessionOrigin,
    api_key: str | None,
    family: Family | None,
    session_id: str | None,
) -> tuple[SessionRow, int]:
    """A session row's values but its profile (`profile_id` None), and its access token's
    lifetime."""
    session_id = session_id or new_session_id()
    family = family or Family(id=session_id, started_at=now_s)
    ttl = _lifetime(creds, creds.config.access_token_ttl, family.started_at, now_s)
    row: SessionRow = {
        "id": session_id,
        "profile_id": None,
        "family_id": family.id,
        "kind": kind.value,
        "minted_from": origin.value,
        "api_key": api_key,
        "family_started_at": family.started_at,
        "refresh_hash": None,
        "secret_sealed": None,
        "created_at": now_s,
        "expires_at": now_s + ttl,
        "revoked_at": None,
        "replaced_by": None,
    }
    return row, ttl


def _access_jwt(creds: Credentials, profile_id: int, session_id: str, now_s: int, ttl: int) -> str:
    return creds.signer.issue(
        profile_id=profile_id,
        session_id=session_id,
        token_type=TokenType.ACCESS,
        now=now_s,
        ttl=ttl,
    )


@dataclass(frozen=True, slots=True)
class ClientSession:
    """A browser session made before its profile is known: its row needs only the profile id,
    which the statement that writes it may supply (an onboarding's, from the profile it gets
    or creates), and its tokens are signed once the id is known. So the refresh token's hash,
    stored in the row, is over its `jti`, drawn here, not over the token, which names the
    profile."""

    row: SessionRow
    """Every column's value but `profile_id` (None)."""
    access_ttl: int
    refresh_ttl: int
    refresh_token_id: str
    random_secret: str
    now_s: int

    def row_for(self, profile_id: int) -> SessionRow:
        return {**self.row, "profile_id": profile_id}

    def tokens(self, creds: Credentials, profile_id: int) -> ClientTokens:
        """The access JWT and the refresh token, for the profile the row was written for."""
        session_id = self.row["id"]
        refresh_token = creds.signer.issue(
            profile_id=profile_id,
            session_id=session_id,
            token_type=TokenType.REFRESH,
            now=self.now_s,
            ttl=self.refresh_ttl,
            token_id=self.refresh_token_id,
        )
        return ClientTokens(
            jwt=_access_jwt(creds, profile_id, session_id, self.now_s, self.access_ttl),
            refresh_token=refresh_token,
            random_secret=self.random_secret,
        )


def new_client_session(
    creds: Credentials,
    now_s: int,
    *,
    family: Family | None = None,
    session_id: str | None = None,
) -> ClientSession:
    """A browser session: access JWT, single-use refresh token, HMAC secret (stored sealed).
    With `family`, it is that family's next session (minted from a refresh)."""
    origin = SessionOrigin.WALLET_PROOF if family is None else SessionOrigin.REFRESH
    row, access_ttl = _session_row(
        creds, SessionKind.CLIENT, now_s, origin, None, family, session_id
    )
    ttl = _lifetime(creds, creds.config.refresh_token_ttl, row["family_started_at"], now_s)
    token_id, random_secret = new_token_id(), new_hmac_secret()
    row["refresh_hash"] = token_hash(token_id)
    row["secret_sealed"] = creds.box.seal(random_secret, bound_to=session_binding(row["id"]))
    row["expires_at"] = now_s + ttl
    return ClientSession(row, access_ttl, ttl, token_id, random_secret, now_s)


def session_binding(session_id: str) -> str:
    """What a session's sealed secret is bound to: it opens only on that row."""
    return f"session:{session_id}"


def session_secret(creds: Credentials, session: AuthSession) -> str | None:
    """The session's HMAC secret (clients only)."""
    if session.secret_sealed is None:
        return None
    return creds.box.open(session.secret_sealed, bound_to=session_binding(session.id))


async def authenticate(
    db: Database, creds: Credentials, access_token: str | None, client_ip: Address | None
) -> AuthSession:
    """The live session an access JWT names, or UNAUTHENTICATED; one SELECT, which also reads
    the key a session minted from an API key came from (NOT_ALLOWED_FOR_IP when `client_ip`
    is not on its allow-list)."""
    if not access_token:
        raise AppError(ErrorCode.UNAUTHENTICATED, NO_CREDENTIALS)
    claims = creds.signer.verify(access_token, TokenType.ACCESS)
    statement = (
        select(AuthSession, ApiKey)
        .outerjoin(ApiKey, col(ApiKey.key) == col(AuthSession.api_key))
        .where(col(AuthSession.id) == claims.session_id)
    )
    async with db.read() as session:
        found = (await session.exec(statement)).first()
    now = int(time.time())
    row, key = found if found is not None else (None, None)
    if (
        row is None
        or row.revoked_at is not None
        or row.expires_at <= now
        or family_start(row) + creds.config.refresh_family_ttl <= now
        or row.profile_id != claims.profile_id
    ):
        raise AppError(ErrorCode.UNAUTHENTICATED, ENDED)
    if row.api_key is not None:
        if key is None or effective_status(key, now) is not ApiKeyStatus.API_GEN:
            raise AppError(ErrorCode.UNAUTHENTICATED, KEY_ENDED)
        require_allowed(key, client_ip)
    return row


def require_wallet_proof(session: AuthSession) -> None:
    """Creating, renewing and revoking API keys needs a session the wallet proved (onboarding,
    or a refresh of it): a leaked key must not be able to mint, extend or destroy keys."""
    if session.minted_from not in _PROVEN_BY_WALLET:
        raise AppError(
            ErrorCode.WALLET_PROOF_REQUIRED,
            "only a session proven by the wallet may create, renew or revoke API keys, and this "
            "one was minted from an API key (or by an older release); use the JWT of a wallet "
            "onboarding or of a refreshed browser session",
        )


_PROVEN_BY_WALLET = (SessionOrigin.WALLET_PROOF.value, SessionOrigin.REFRESH.value)


def refresh_claims(creds: Credentials, refresh_token: str) -> Claims:
    """The refresh token's claims, or REFRESH_TOKEN_NOT_FOUND."""
    try:
        return creds.signer.verify(refresh_token, TokenType.REFRESH)
    except AppError as invalid:
        raise AppError(
            ErrorCode.REFRESH_TOKEN_NOT_FOUND, "refresh token is invalid or expired; onboard again"
        ) from invalid


def _refresh_hashes(claims: Claims, refresh_token: str) -> tuple[str, str]:
    """What a live session's row may hold for this (verified) refresh token: the hash of its
    `jti` (`ClientSession`), or, in a row written before sessions were made ahead of their
    profile, the hash of the whole token. Such rows pass with their refresh lifetime."""
    return token_hash(claims.token_id), token_hash(refresh_token)


async def refresh_client_session(
    db: Database,
    creds: Credentials,
    refresh_token: str,
    claims: Claims | None = None,
    *,
    first: Callable[[AsyncSession], Awaitable[None]] | None = None,
) -> tuple[int, ClientTokens]:
    """Spend a refresh token for a new session in the same family: (profile id, new tokens).
    `claims`: the token's, when the caller already checked them (`refresh_claims`). `first`
    runs first in the transaction (the legacy route's single-use spend of its signed request);
    a refused refresh rolls it back with everything else."""
    claims = claims or refresh_claims(creds, refresh_token)
    now = int(time.time())
    presented = _refresh_hashes(claims, refresh_token)
    successor_id = new_session_id()
    async with db.write() as session:
        if first is not None:
            await first(session)
        spend = (
            update(AuthSession)
            .where(
                col(AuthSession.id) == claims.session_id,
                col(AuthSession.refresh_hash).in_(presented),
                col(AuthSession.revoked_at).is_(None),
                col(AuthSession.expires_at) > now,
                family_start_column > now - creds.config.refresh_family_ttl,
            )
            .values(revoked_at=now, replaced_by=successor_id)
            .returning(col(AuthSession.family_id), family_start_column)
        )
        spent = (await session.exec(spend)).one_or_none()
        if spent is not None:
            family = Family(id=spent[0], started_at=spent[1])
            successor = new_client_session(creds, now, family=family, session_id=successor_id)
            session.add(AuthSession(**successor.row_for(claims.profile_id)))
            return claims.profile_id, successor.tokens(creds, claims.profile_id)
        refusal = await _refusal(session, creds, claims.session_id, presented, now)
        if refusal.code is not ErrorCode.REFRESH_TOKEN_REUSED:
            raise refusal  # rolls back: a refused refresh writes nothing
    raise refusal  # after committing the family's revocation


async def _refusal(
    session: AsyncSession,
    creds: Credentials,
    session_id: str,
    presented: tuple[str, str],
    now: int,
) -> AppError:
    """Why a refresh lost. A spent token's family is revoked (the caller commits that)."""
    row = await session.get(AuthSession, session_id)
    if row is None or row.refresh_hash not in presented:
        return AppError(
            ErrorCode.REFRESH_TOKEN_NOT_FOUND, "refresh token is not a live session; onboard again"
        )
    if row.replaced_by is not None:
        await session.exec(
            update(AuthSession)
            .where(
                col(AuthSession.family_id) == row.family_id,
                col(AuthSession.revoked_at).is_(None),
            )
            .values(revoked_at=now)
        )
        return AppError(
            ErrorCode.REFRESH_TOKEN_REUSED,
            "this refresh token was already used; every session of its family is now revoked, "
            "onboard again",
        )
    if row.revoked_at is None and family_start(row) + creds.config.refresh_family_ttl <= now:
        days = creds.config.refresh_family_ttl / 86400
        return AppError(
            ErrorCode.REFRESH_FAMILY_EXPIRED,
            f"this session's family began with a wallet proof more than {days:g} days ago, the "
            "longest a refresh family lives; onboard again",
        )
    return AppError(
        ErrorCode.REFRESH_TOKEN_NOT_FOUND, "refresh token is not a live session; onboard again"
    )


async def revoke_session(db: Database, session_id: str) -> None:
    async with db.write() as session:
        await session.exec(
            update(AuthSession)
            .where(col(AuthSession.id) == session_id, col(AuthSession.revoked_at).is_(None))
            .values(revoked_at=int(time.time()))
        )


async def revoke_all_sessions(db: Database, profile_id: int, *, api_keys: bool = False) -> int:
    """Log the profile out everywhere; with `api_keys`, revoke its live API keys too (one
    transaction). Returns how many live sessions ended."""
    now = int(time.time())
    async with db.write() as session:
        result = await session.exec(
            update(AuthSession)
            .where(col(AuthSession.profile_id) == profile_id, col(AuthSession.revoked_at).is_(None))
            .values(revoked_at=now)
        )
        if api_keys:
            await revoke_live_keys(session, profile_id, now)
    return int(result.rowcount)


async def purge_expired_sessions(db: Database, now: int | None = None) -> int:
    """Delete sessions past their expiry: their tokens are refused by their own `exp` by then,
    so the rows no longer detect anything (a spent row is kept until then for reuse checks)."""
    cutoff = int(time.time()) if now is None else now
    async with db.write() as session:
        result = await session.exec(
            delete(AuthSession).where(col(AuthSession.expires_at) <= cutoff)
        )
    return int(result.rowcount)


async def live_session_ids(db: Database, profile_id: int) -> list[str]:
    async with db.read() as session:
        rows = await session.exec(
            select(AuthSession.id).where(
                col(AuthSession.profile_id) == profile_id, col(AuthSession.revoked_at).is_(None)
            )
        )
        return list(rows.all())
