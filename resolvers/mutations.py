from __future__ import annotations

import strawberry

from models import enums
from models.onboarding import OnboardRequest, onboard

from .fields import direct_mutation
from .scalars import Int64
from .types import Info, OnboardPayload, ProfileTypeEnum


@strawberry.input(description="A signed sign-in message. See `exchanges` for the texts to sign.")
class OnboardInput:
    wallet: str = strawberry.field(description="0x + 40 hex; case does not matter.")
    signature: str = strawberry.field(
        description=(
            "A key's signature: 0x + 130 hex (r‖s‖v), v ∈ {0, 1, 27, 28}. A contract wallet's "
            "(ERC-1271, or ERC-6492-wrapped when not deployed yet): 0x + up to 8192 hex. "
            "See `exchanges { contractWallets }`."
        )
    )
    timestamp: Int64 = strawberry.field(
        description="Unix seconds: the signature's expiry, and the number in the signed message."
    )
    is_client: bool = strawberry.field(
        description=(
            "true: browser session (refresh token + HMAC secret); false: market maker (API key)."
        )
    )
    exchange_id: str = strawberry.field(default="rbx", description="Exchange id, e.g. rbx or bfx.")
    profile_type: ProfileTypeEnum = strawberry.field(  # type: ignore[valid-type]
        default=enums.ProfileType.TRADER
    )


@strawberry.type
class OnboardingMutation:
    @direct_mutation(
        description=(
            "Prove wallet ownership, get (or create) the profile, and receive credentials. "
            "A signature is single-use."
        )
    )
    async def onboard(self, info: Info, input: OnboardInput) -> OnboardPayload:
        request = OnboardRequest(
            wallet=input.wallet,
            signature=input.signature,
            timestamp=int(input.timestamp),
            is_client=input.is_client,
            exchange_id=input.exchange_id,
            profile_type=enums.ProfileType(input.profile_type).value,
            client_ip=info.context.client_ip,
        )
        onboarded = await onboard(
            info.context.db, info.context.credentials, request, info.context.chains
        )
        if onboarded.created and onboarded.profile.id is not None:
            info.context.loaders.know_empty(onboarded.profile.id)
        return OnboardPayload.of(onboarded)
