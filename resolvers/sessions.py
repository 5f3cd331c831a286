"""Who is calling, and the session lifecycle: `me`, refresh, logout."""

from __future__ import annotations

import strawberry

from models.errors import AppError, ErrorCode
from models.sessions import (
    refresh_client_session,
    require_wallet_proof,
    revoke_all_sessions,
    revoke_session,
)
from models.tables import Profile

from .types import Info, ProfileNode


@strawberry.type(description="A new client session; the refresh token it replaces is spent.")
class SessionPayload:
    jwt: str
    refresh_token: str
    random_secret: str


async def viewer_profile(info: Info) -> ProfileNode:
    profile_id = await info.context.profile_id()
    async with info.context.db.read() as session:
        row = await session.get(Profile, profile_id)
    assert row is not None  # sessions reference profiles; profiles are never deleted
    return ProfileNode(row=row)


@strawberry.type
class SessionQuery:
    @strawberry.field(
        description=(
            "The caller's profile, or null without a valid access JWT (signed out, expired, "
            "revoked), so a signed-out page still gets the rest of its query. Operations that "
            "need a session answer UNAUTHENTICATED instead."
        )
    )
    async def me(self, info: Info) -> ProfileNode | None:
        try:
            return await viewer_profile(info)
        except AppError as refused:
            if refused.code is ErrorCode.UNAUTHENTICATED:
                return None
            raise


@strawberry.type
class SessionMutation:
    @strawberry.mutation(
        description=(
            "Trade a refresh token for a new session. A refresh token works once: presenting it "
            "again (REFRESH_TOKEN_REUSED) revokes every session descended from its onboarding."
        )
    )
    async def refresh_session(self, info: Info, refresh_token: str) -> SessionPayload:
        _, tokens = await info.context.ending_sessions(
            refresh_client_session(info.context.db, info.context.credentials, refresh_token)
        )
        return SessionPayload(
            jwt=tokens.jwt, refresh_token=tokens.refresh_token, random_secret=tokens.random_secret
        )

    @strawberry.mutation(description="End the calling session.")
    async def logout(self, info: Info) -> bool:
        session_id = (await info.context.session()).id
        await info.context.ending_sessions(revoke_session(info.context.db, session_id))
        return True

    @strawberry.mutation(
        description=(
            "End every session of the caller's profile (those minted from API keys too); "
            "returns how many. The keys stay, unless `revokeApiKeys` is true: then every live "
            "key is revoked as well (needs a session proven by the wallet)."
        )
    )
    async def logout_everywhere(self, info: Info, revoke_api_keys: bool = False) -> int:
        caller = await info.context.session()
        if revoke_api_keys:
            require_wallet_proof(caller)
        return await info.context.ending_sessions(
            revoke_all_sessions(info.context.db, caller.profile_id, api_keys=revoke_api_keys)
        )
