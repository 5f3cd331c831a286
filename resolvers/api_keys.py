"""API key management for the caller's own profile: any live access JWT of that profile whose
session the wallet proved (not one minted from an API key: WALLET_PROOF_REQUIRED)."""

from __future__ import annotations

import time

import strawberry

from models.api_keys import create_api_key, renew_api_key, revoke_api_key
from models.sessions import require_wallet_proof

from .types import ApiKeyNode, Info


async def key_manager(info: Info) -> int:
    """The caller's profile id, if their session may manage keys."""
    session = await info.context.session()
    require_wallet_proof(session)
    return session.profile_id


@strawberry.input(description="A new API key for the caller's profile.")
class CreateApiKeyInput:
    tag: str = strawberry.field(description='Your label, 1–64 characters ("" is reserved).')
    expires_in_days: int = strawberry.field(description="Lifetime in days, 1–365.")
    allowed_ips: list[str] = strawberry.field(
        default_factory=list,
        description=(
            "CIDRs (or bare addresses) the key may sign from; empty or omitted means any address."
        ),
    )


@strawberry.type(description="A new key. `secret` is shown this once and never again.")
class CreatedApiKey:
    secret: str
    api_key: ApiKeyNode


@strawberry.type
class ApiKeyMutation:
    @strawberry.mutation(
        description=(
            "Create an API key. At most 100 live keys per profile (MAX_SECRETS_EXCEED); revoked "
            "and expired keys do not count. Adds a notification to the profile. Rate-limited "
            "per profile (RATE_LIMITED). Needs a session proven by the wallet, not one minted "
            "from an API key (WALLET_PROOF_REQUIRED), as do renewing and revoking."
        )
    )
    async def create_api_key(self, info: Info, input: CreateApiKeyInput) -> CreatedApiKey:
        row, secret = await create_api_key(
            info.context.db,
            info.context.credentials,
            await key_manager(info),
            tag=input.tag,
            expires_in_days=input.expires_in_days,
            allowed_ips=input.allowed_ips,
        )
        return CreatedApiKey(secret=secret, api_key=ApiKeyNode.of(row, int(time.time())))

    @strawberry.mutation(description="Revoke one of your keys at once. Revoking twice is fine.")
    async def revoke_api_key(self, info: Info, key: str) -> ApiKeyNode:
        row = await revoke_api_key(info.context.db, await key_manager(info), key)
        return ApiKeyNode.of(row, int(time.time()))

    @strawberry.mutation(
        description=(
            "Set a live key to expire `days` (1–365) from now. Expired keys cannot be renewed "
            "(KEY_EXPIRED), revoked ones neither (NO_SUCH_KEY): create a new key."
        )
    )
    async def renew_api_key(self, info: Info, key: str, days: int) -> ApiKeyNode:
        row = await renew_api_key(info.context.db, await key_manager(info), key, days)
        return ApiKeyNode.of(row, int(time.time()))
