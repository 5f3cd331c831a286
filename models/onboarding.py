"""The onboarding use case: verify the wallet proof, get or create the profile, issue credentials.

The wallet proof comes first and writes nothing; for a contract wallet it is the one step that
asks a chain node (`models.contract_wallets`). Everything that writes happens in one transaction:
the spent-signature entry, the profile and the credentials land together or not at all, so a
refusal leaves no trace. Rate limits (see `models.ratelimit`): every attempt from a client address
takes a token first, before any work (and before any chain call); a wallet's token is taken only
once its proof is verified, inside the transaction.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

from sqlalchemy import bindparam, delete
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from .api_keys import api_key_secret, live_keys, new_api_key_row
from .chain import NO_CHAINS, Chains
from .config import DomainConfig, Exchange
from .contract_wallets import prove_wallet
from .db import Database
from .enums import SELF_ONBOARDING_TYPES, ProfileType, SessionKind
from .errors import AppError, ErrorCode
from .ledger import spend
from .ratelimit import admit_client, admit_wallet
from .sessions import Credentials, issue_access_session, issue_client_session
from .tables import ApiKey, Profile, UsedSignature
from .wallet import WalletProof, wallet_text


@dataclass(frozen=True, slots=True)
class OnboardRequest:
    wallet: object
    signature: object
    timestamp: int
    is_client: bool
    exchange_id: str = "rbx"
    profile_type: str = ProfileType.TRADER.value
    client_ip: str | None = None
    """The caller's address, for the per-IP rate limit; None (in-process callers) skips it."""


@dataclass(frozen=True, slots=True)
class ApiCredentials:
    key: str
    secret: str
    expiration: int
    status: str
    tag: str
    profile_id: int


@dataclass(frozen=True, slots=True)
class Onboarded:
    profile: Profile
    jwt: str
    refresh_token: str | None = None
    random_secret: str | None = None
    api_secret: ApiCredentials | None = None
    created: bool = False
    """The profile was created by this onboarding (so it has no orders, positions or notes)."""


async def onboard(
    db: Database, creds: Credentials, request: OnboardRequest, chains: Chains = NO_CHAINS
) -> Onboarded:
    config = creds.config
    now = time.time()
    if request.client_ip is not None and config.rate_limit_per_ip is not None:
        await admit_client(db, config.rate_limit_per_ip, request.client_ip, now)
    exchange_id = request.exchange_id.lower()
    exchange = known_exchange(config, request.exchange_id)
    if request.profile_type not in SELF_ONBOARDING_TYPES:
        allowed = " or ".join(sorted(SELF_ONBOARDING_TYPES))
        raise AppError(
            ErrorCode.UNSUPPORTED_PROFILE_TYPE,
            f"profile type {request.profile_type!r} cannot self-onboard; use {allowed}",
        )
    now_s, now_us = int(now), int(now * 1_000_000)
    # The only step that may wait on a chain node (contract wallets), before any transaction.
    proof = await prove_wallet(
        request.wallet,
        request.signature,
        request.timestamp,
        exchange,
        exchange_id,
        chains,
        now=now_s,
        ttl=config.signature_ttl,
    )
    async with db.write() as session:
        if config.rate_limit_per_wallet is not None:
            await admit_wallet(
                db, session, config.rate_limit_per_wallet, wallet_text(proof.address), now
            )
        if config.single_use_signatures:
            await _spend(db, session, proof, expires_at=request.timestamp)
        profile, created = await get_or_create_profile(
            db,
            session,
            config,
            wallet_text(proof.address),
            exchange_id,
            request.profile_type,
            now_us,
        )
        assert profile.id is not None
        if request.is_client:
            onboarded = await _client_session(session, creds, profile, now_s)
        else:
            onboarded = await _market_maker_session(session, creds, profile, now_s, now_us)
    chains.on_onboarded(proof.kind)
    return dataclasses.replace(onboarded, created=created)


def known_exchange(config: DomainConfig, exchange_id: str) -> Exchange:
    """The configured exchange for an id in any case, or UNSUPPORTED_EXCHANGE."""
    exchange = config.exchanges.get(exchange_id.lower())
    if exchange is None:
        known = ", ".join(sorted(config.exchanges))
        raise AppError(
            ErrorCode.UNSUPPORTED_EXCHANGE, f"exchange id {exchange_id!r} is not one of: {known}"
        )
    return exchange


async def _spend(
    db: Database, session: AsyncSession, proof: WalletProof, *, expires_at: int
) -> None:
    """Record the proof as used; a second use of the same (signer, digest) is a replay."""
    await spend(
        db,
        session,
        signer=wallet_text(proof.address),
        digest=proof.digest.hex(),
        expires_at=expires_at,
        replayed="this signature was already used to onboard; sign a new message with a new "
        "timestamp",
    )


async def purge_spent_signatures(db: Database, now: int | None = None) -> int:
    """Drop ledger entries whose timestamp has passed: those can no longer be replayed anyway."""
    cutoff = int(time.time()) if now is None else now
    async with db.write() as session:
        result = await session.exec(
            delete(UsedSignature).where(col(UsedSignature.expires_at) <= cutoff)
        )
    return int(result.rowcount)


async def get_or_create_profile(
    db: Database,
    session: AsyncSession,
    config: DomainConfig,
    wallet: str,
    exchange_id: str,
    profile_type: str,
    now_us: int,
) -> tuple[Profile, bool]:
    """Atomic under any concurrency: the unique (wallet, exchange) key decides the one winner.
    Returns the profile and whether this call created it."""
    key = {"wallet": wallet, "exchange_id": exchange_id}
    by_key = db.prepared(
        "onboarding.profile_by_key",
        lambda: select(Profile).where(
            Profile.wallet == bindparam("wallet"), Profile.exchange_id == bindparam("exchange_id")
        ),
    )
    existing: Profile | None = (await session.exec(by_key, params=key)).first()
    if existing is not None:
        return existing, False
    insert = db.prepared(
        "onboarding.create_profile",
        lambda: (
            db.insert(Profile)
            .values(
                wallet=bindparam("wallet"),
                exchange_id=bindparam("exchange_id"),
                profile_type=bindparam("profile_type"),
                leverage=bindparam("leverage"),
                last_update=bindparam("now_us"),
                created_at=bindparam("now_us"),
            )
            .on_conflict_do_nothing(index_elements=["wallet", "exchange_id"])
            .returning(Profile)
        ),
    )
    parameters = {
        **key,
        "profile_type": profile_type,
        "leverage": {market: str(m.default_leverage) for market, m in config.markets.items()},
        "now_us": now_us,
    }
    created: Profile | None = (await session.exec(insert, params=parameters)).scalars().first()
    if created is not None:
        return created, True
    concurrent: Profile = (await session.exec(by_key, params=key)).one()
    return concurrent, False  # a concurrent onboarding created it first


async def _client_session(
    session: AsyncSession, creds: Credentials, profile: Profile, now_s: int
) -> Onboarded:
    """A brand-new browser session: access JWT, single-use refresh token, HMAC secret."""
    assert profile.id is not None
    row, tokens = issue_client_session(creds, profile.id, now_s)
    session.add(row)
    return Onboarded(
        profile=profile,
        jwt=tokens.jwt,
        refresh_token=tokens.refresh_token,
        random_secret=tokens.random_secret,
    )


async def _market_maker_session(
    session: AsyncSession, creds: Credentials, profile: Profile, now_s: int, now_us: int
) -> Onboarded:
    """A fresh JWT, and the onboarding API key: the unexpired one, or a new one."""
    assert profile.id is not None
    row, jwt = issue_access_session(creds, profile.id, SessionKind.MARKET_MAKER, now_s)
    session.add(row)
    # Concurrent onboardings of one market maker (on any worker) must agree on one key: they
    # queue on the profile row (PostgreSQL; SQLite runs one writer at a time anyway). NO KEY
    # UPDATE leaves client onboardings of the profile (foreign-key checks) unblocked.
    await session.exec(
        select(Profile.id).where(Profile.id == profile.id).with_for_update(key_share=True)
    )
    current = select(ApiKey).where(*live_keys(profile.id, now_s), ApiKey.tag == "")
    api_key = (await session.exec(current.order_by(col(ApiKey.expiration).desc()).limit(1))).first()
    if api_key is None:
        api_key, secret = new_api_key_row(
            creds, profile.id, expiration=now_s + creds.config.api_key_ttl, now_us=now_us
        )
        session.add(api_key)
    else:
        secret = api_key_secret(creds, api_key)
    return Onboarded(
        profile=profile,
        jwt=jwt,
        api_secret=ApiCredentials(
            key=api_key.key,
            secret=secret,
            expiration=api_key.expiration,
            status=api_key.status,
            tag=api_key.tag,
            profile_id=profile.id,
        ),
    )
