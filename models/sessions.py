"""Sessions: issuing them, authenticating access tokens, rotating refresh tokens, revoking.

Every access JWT names its session (`sid`); a session counts only while its row is live, so
logout and revocation take effect at once. A refresh spends its session (compare-and-swap on the
row: of two concurrent refreshes exactly one wins) and opens the next one in the same family.
Presenting a spent refresh token again is treated as theft: the whole family is revoked,
including its newest session. A legitimate client that double-submits a refresh is logged out
too; it onboards again. We prefer that to a grace window an attacker could use.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlmodel import col, select, update

from .config import DomainConfig
from .db import Database
from .enums import SessionKind
from .errors import AppError, ErrorCode
from .secretbox import SecretBox
from .tables import AuthSession
from .tokens import Claims, TokenSigner, TokenType, new_hmac_secret, new_session_id, token_hash

ENDED = "this session has ended (logged out, revoked or replaced); onboard or refresh again"
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


@dataclass(frozen=True, slots=True)
class ClientTokens:
    jwt: str
    refresh_token: str
    random_secret: str


def issue_access_session(
    creds: Credentials, profile_id: int, kind: SessionKind, now_s: int
) -> tuple[AuthSession, str]:
    """A session row (not yet added) and the access JWT that names it."""
    session_id = new_session_id()
    jwt = creds.signer.issue(
        profile_id=profile_id,
        session_id=session_id,
        token_type=TokenType.ACCESS,
        now=now_s,
        ttl=creds.config.access_token_ttl,
    )
    row = AuthSession(
        id=session_id,
        profile_id=profile_id,
        family_id=session_id,
        kind=kind.value,
        created_at=now_s,
        expires_at=now_s + creds.config.access_token_ttl,
    )
    return row, jwt


def issue_client_session(
    creds: Credentials, profile_id: int, now_s: int, *, family_id: str | None = None
) -> tuple[AuthSession, ClientTokens]:
    """A browser session: access JWT, single-use refresh token, HMAC secret (stored sealed)."""
    row, jwt = issue_access_session(creds, profile_id, SessionKind.CLIENT, now_s)
    refresh_token = creds.signer.issue(
        profile_id=profile_id,
        session_id=row.id,
        token_type=TokenType.REFRESH,
        now=now_s,
        ttl=creds.config.refresh_token_ttl,
    )
    random_secret = new_hmac_secret()
    row.family_id = family_id or row.id
    row.refresh_hash = token_hash(refresh_token)
    row.secret_sealed = creds.box.seal(random_secret, bound_to=session_binding(row.id))
    row.expires_at = now_s + creds.config.refresh_token_ttl
    return row, ClientTokens(jwt=jwt, refresh_token=refresh_token, random_secret=random_secret)


def session_binding(session_id: str) -> str:
    """What a session's sealed secret is bound to: it opens only on that row."""
    return f"session:{session_id}"


def session_secret(creds: Credentials, session: AuthSession) -> str | None:
    """The session's HMAC secret (clients only)."""
    if session.secret_sealed is None:
        return None
    return creds.box.open(session.secret_sealed, bound_to=session_binding(session.id))


async def authenticate(db: Database, creds: Credentials, access_token: str | None) -> AuthSession:
    """The live session an access JWT names, or UNAUTHENTICATED."""
    if not access_token:
        raise AppError(ErrorCode.UNAUTHENTICATED, NO_CREDENTIALS)
    claims = creds.signer.verify(access_token, TokenType.ACCESS)
    async with db.read() as session:
        row = await session.get(AuthSession, claims.session_id)
    if (
        row is None
        or row.revoked_at is not None
        or row.expires_at <= int(time.time())
        or row.profile_id != claims.profile_id
    ):
        raise AppError(ErrorCode.UNAUTHENTICATED, ENDED)
    return row


def refresh_claims(creds: Credentials, refresh_token: str) -> Claims:
    """The refresh token's claims, or REFRESH_TOKEN_NOT_FOUND."""
    try:
        return creds.signer.verify(refresh_token, TokenType.REFRESH)
    except AppError as invalid:
        raise AppError(
            ErrorCode.REFRESH_TOKEN_NOT_FOUND, "refresh token is invalid or expired; onboard again"
        ) from invalid


async def refresh_client_session(
    db: Database, creds: Credentials, refresh_token: str, claims: Claims | None = None
) -> tuple[int, ClientTokens]:
    """Spend a refresh token for a new session in the same family: (profile id, new tokens).
    `claims`: the token's, when the caller already checked them (`refresh_claims`)."""
    claims = claims or refresh_claims(creds, refresh_token)
    now = int(time.time())
    presented = token_hash(refresh_token)
    successor, tokens = issue_client_session(creds, claims.profile_id, now)
    async with db.write() as session:
        spend = (
            update(AuthSession)
            .where(
                col(AuthSession.id) == claims.session_id,
                col(AuthSession.refresh_hash) == presented,
                col(AuthSession.revoked_at).is_(None),
                col(AuthSession.expires_at) > now,
            )
            .values(revoked_at=now, replaced_by=successor.id)
            .returning(col(AuthSession.family_id))
        )
        family_id = (await session.exec(spend)).scalar_one_or_none()
        if family_id is not None:
            successor.family_id = family_id
            session.add(successor)
            return claims.profile_id, tokens
    await _refuse_spent_token(db, claims.session_id, presented, now)
    raise AssertionError("unreachable")  # pragma: no cover


async def _refuse_spent_token(db: Database, session_id: str, presented: str, now: int) -> None:
    """Explain why a refresh lost; a spent token's family is revoked (committed) first."""
    async with db.write() as session:
        row = await session.get(AuthSession, session_id)
        reused = row is not None and row.refresh_hash == presented and row.replaced_by is not None
        if reused and row is not None:
            await session.exec(
                update(AuthSession)
                .where(
                    col(AuthSession.family_id) == row.family_id,
                    col(AuthSession.revoked_at).is_(None),
                )
                .values(revoked_at=now)
            )
    if reused:
        raise AppError(
            ErrorCode.REFRESH_TOKEN_REUSED,
            "this refresh token was already used; every session of its family is now revoked, "
            "onboard again",
        )
    raise AppError(
        ErrorCode.REFRESH_TOKEN_NOT_FOUND, "refresh token is not a live session; onboard again"
    )


async def revoke_session(db: Database, session_id: str) -> None:
    async with db.write() as session:
        await session.exec(
            update(AuthSession)
            .where(col(AuthSession.id) == session_id, col(AuthSession.revoked_at).is_(None))
            .values(revoked_at=int(time.time()))
        )


async def revoke_all_sessions(db: Database, profile_id: int) -> int:
    """Log the profile out everywhere; returns how many live sessions ended."""
    async with db.write() as session:
        result = await session.exec(
            update(AuthSession)
            .where(col(AuthSession.profile_id) == profile_id, col(AuthSession.revoked_at).is_(None))
            .values(revoked_at=int(time.time()))
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
