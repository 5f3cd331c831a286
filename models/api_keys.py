"""API keys: creating, renewing, revoking, and warning before they expire.

Rules (docs/market-makers.md, "API keys"):
- A profile holds at most `MAX_LIVE_KEYS` *live* keys (not revoked, not expired), the onboarding
  key included. Revoked and expired keys do not count: they can never authenticate again, and a
  bot that rotates keys must not run out of quota. `createApiKey` is refused at the cap
  (MAX_SECRETS_EXCEED); onboarding is not (proving the wallet always yields a working key), so
  a profile can momentarily hold one more live key than the cap when its onboarding key lapsed
  while 100 others were live. The count runs under a lock on the profile row, so concurrent
  creations cannot overshoot.
- The tag "" is reserved for the onboarding key; keys created here need a 1–64 character tag.
- Lifetimes are whole days, 1–365, counted from now (renewing sets a new expiry, it does not add).
- An expired key cannot be renewed (KEY_EXPIRED) and a revoked one cannot come back
  (NO_SUCH_KEY); create a new key instead. Revoking is idempotent and works on expired keys.
- Revoked and expired keys stay listed (with their status) for `dead_key_retention` (settings),
  then the sweep deletes them, and with them any session minted from them.
- Creating keys is rate-limited per profile (`rate_limit_key_creation`): each creation adds a
  key and a notification, and a create → revoke loop would otherwise grow both without bound.
  Revoking and renewing are not limited: they add nothing, and revoking must always work.
- Only a session proven by the wallet manages keys (`models.sessions.require_wallet_proof`).
- A text that cannot be a key (longer than a key column, or holding NUL, which PostgreSQL text
  cannot store) is an unknown key on every engine, without a query.
- Notifications: one when a key is created here; one when a live key is within
  `EXPIRY_WARNING_SECONDS` of expiring, found by the periodic sweep (`sweep_api_keys`). The sweep
  records the expiry it warned about on the key (compare-and-swap), so each (key, expiry) is
  warned once however many workers sweep, and a renewed key is warned again before its new expiry.

Secrets are sealed (`SecretBox`) and bound to the key, never stored or logged in clear.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import ColumnElement, delete, func, or_
from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from .client_ip import Address, is_allowed
from .config import DomainConfig
from .db import Database
from .enums import ApiKeyStatus
from .errors import AppError, ErrorCode, bad_input
from .ratelimit import RateLimited, take_token
from .tables import ApiKey, Notification, Profile
from .tokens import new_api_key, new_hmac_secret

if TYPE_CHECKING:  # sessions check keys (this module); keys only need the type of credentials
    from .sessions import Credentials

DAY = 24 * 3600
MAX_LIVE_KEYS = 100
MAX_TAG_LENGTH = 64
MIN_DAYS, MAX_DAYS = 1, 365
MAX_ALLOWED_NETWORKS = 100
EXPIRY_WARNING_SECONDS = 7 * DAY
MAX_KEY_LENGTH = 64

KEY_CREATED = "api_key_created"
KEY_EXPIRING = "api_key_expiring"


def validate_tag(tag: str) -> str:
    if not 1 <= len(tag) <= MAX_TAG_LENGTH:
        raise bad_input(
            f"tag must be 1–{MAX_TAG_LENGTH} characters (the empty tag is the onboarding key's)"
        )
    if not tag.isprintable():
        raise bad_input("tag must not contain control characters")
    return tag


def validate_days(days: int) -> int:
    if not MIN_DAYS <= days <= MAX_DAYS:
        raise bad_input(f"days must be between {MIN_DAYS} and {MAX_DAYS}, got {days}")
    return days


def parse_networks(cidrs: Sequence[str]) -> list[str]:
    """Normalised CIDRs (a bare address is a /32 or /128), duplicates dropped, order kept.

    An empty list means "any address". Host bits must be zero: `10.0.0.1/24` is refused with
    a hint rather than silently widened or narrowed.
    """
    if len(cidrs) > MAX_ALLOWED_NETWORKS:
        raise bad_input(f"allowedIps takes at most {MAX_ALLOWED_NETWORKS} networks")
    networks: list[str] = []
    for text in cidrs:
        try:
            network = ipaddress.ip_network(text.strip(), strict=True)
        except ValueError:
            raise bad_input(_cidr_hint(text)) from None
        if network.with_prefixlen not in networks:
            networks.append(network.with_prefixlen)
    return networks


def _cidr_hint(text: str) -> str:
    shown = text[:50]
    try:
        widened = ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return f"allowedIps entry {shown!r} is not an IP address or CIDR (e.g. 203.0.113.0/24)"
    return f"allowedIps entry {shown!r} has host bits set; did you mean {widened.with_prefixlen}?"


def effective_status(key: ApiKey, now_s: int) -> ApiKeyStatus:
    """REVOKED and API_GEN are stored; EXPIRED is derived from the expiry."""
    if key.status == ApiKeyStatus.REVOKED.value:
        return ApiKeyStatus.REVOKED
    return ApiKeyStatus.EXPIRED if key.expiration <= now_s else ApiKeyStatus.API_GEN


def could_be_key(text: str) -> bool:
    """False for a text no stored key can equal (and PostgreSQL could not even compare)."""
    return len(text) <= MAX_KEY_LENGTH and "\x00" not in text


def require_allowed(key: ApiKey, address: Address | None) -> None:
    """The key's IP allow-list admits `address`, or NOT_ALLOWED_FOR_IP. It holds for signed calls
    with the key and for every session minted from it."""
    if not is_allowed(address, key.allowed_ips):
        shown = address or "an undetermined address"
        raise AppError(
            ErrorCode.NOT_ALLOWED_FOR_IP,
            f"this API key only accepts requests from its allowed IPs, and this one came from "
            f"{shown}",
        )


def api_key_binding(key: str) -> str:
    """What a key's sealed secret is bound to: it opens only on that row."""
    return f"api-key:{key}"


def new_api_key_row(
    creds: Credentials,
    profile_id: int,
    *,
    expiration: int,
    now_us: int,
    tag: str = "",
    allowed_ips: list[str] | None = None,
) -> tuple[ApiKey, str]:
    """A key row (not yet added) with its secret sealed, and the secret in clear (shown once)."""
    secret, key = new_hmac_secret(), new_api_key()
    row = ApiKey(
        key=key,
        profile_id=profile_id,
        secret_sealed=creds.box.seal(secret, bound_to=api_key_binding(key)),
        tag=tag,
        expiration=expiration,
        allowed_ips=allowed_ips or [],
        created_at=now_us,
    )
    return row, secret


def api_key_secret(creds: Credentials, key: ApiKey) -> str:
    """The key's HMAC secret in clear (for onboarding's hand-back and HMAC verification)."""
    return creds.box.open(key.secret_sealed, bound_to=api_key_binding(key.key))


def live_keys(profile_id: int, now_s: int) -> tuple[ColumnElement[bool], ...]:
    """The conditions of a profile's usable keys: not revoked, not expired."""
    return (
        col(ApiKey.profile_id) == profile_id,
        col(ApiKey.status) == ApiKeyStatus.API_GEN.value,
        col(ApiKey.expiration) > now_s,
    )


async def create_api_key(
    db: Database,
    creds: Credentials,
    profile_id: int,
    *,
    tag: str,
    expires_in_days: int,
    allowed_ips: Sequence[str] = (),
    now: float | None = None,
) -> tuple[ApiKey, str]:
    """A new key and its secret (returned this once), plus a notification; one transaction,
    which also takes the profile's key-creation token (a refusal takes none)."""
    tag, days = validate_tag(tag), validate_days(expires_in_days)
    networks = parse_networks(allowed_ips)
    now = time.time() if now is None else now
    now_s, now_us = int(now), int(now * 1_000_000)
    async with db.write() as session:
        # Serialises key creation per profile on PostgreSQL (SQLite writers are serial anyway).
        await session.exec(select(Profile.id).where(Profile.id == profile_id).with_for_update())
        await _admit_creation(db, session, creds.config, profile_id, now)
        live = await session.exec(
            select(func.count()).select_from(ApiKey).where(*live_keys(profile_id, now_s))
        )
        if live.one() >= MAX_LIVE_KEYS:
            raise AppError(
                ErrorCode.MAX_SECRETS_EXCEED,
                f"this profile already has {MAX_LIVE_KEYS} live API keys; revoke one first",
            )
        row, secret = new_api_key_row(
            creds,
            profile_id,
            expiration=now_s + days * DAY,
            now_us=now_us,
            tag=tag,
            allowed_ips=networks,
        )
        session.add(row)
        session.add(
            _notification(
                profile_id,
                KEY_CREATED,
                "API key created",
                f"API key {row.key} (tag {tag!r}) was created; it expires {_date(row.expiration)}.",
                now_us,
            )
        )
    return row, secret


async def _admit_creation(
    db: Database, session: AsyncSession, config: DomainConfig, profile_id: int, now: float
) -> None:
    rate = config.rate_limit_key_creation
    if rate is None:
        return
    transaction = await db.joined(await session.connection())
    wait = await take_token(db, transaction, f"keys:{profile_id}", rate, now)
    if wait is not None:
        raise RateLimited("API keys created for this profile", wait)


async def revoke_live_keys(session: AsyncSession, profile_id: int, now_s: int) -> None:
    """Revoke every live key of the profile, in the caller's transaction (logoutEverywhere)."""
    await session.exec(
        update(ApiKey)
        .where(*live_keys(profile_id, now_s))
        .values(status=ApiKeyStatus.REVOKED.value, revoked_at=now_s)
    )


async def revoke_api_key(db: Database, profile_id: int, key: str) -> ApiKey:
    """Revoke one of the caller's keys; revoking twice is fine."""
    now_s = int(time.time())
    async with db.write() as session:
        row = await _owned_key(session, profile_id, key)
        if row.status != ApiKeyStatus.REVOKED.value:
            row.status = ApiKeyStatus.REVOKED.value
            row.revoked_at = now_s
            session.add(row)
    return row


async def renew_api_key(db: Database, profile_id: int, key: str, days: int) -> ApiKey:
    """Give a live key a new expiry, `days` from now."""
    validate_days(days)
    now_s = int(time.time())
    async with db.write() as session:
        row = await _owned_key(session, profile_id, key)
        status = effective_status(row, now_s)
        if status is ApiKeyStatus.REVOKED:
            raise AppError(
                ErrorCode.NO_SUCH_KEY, f"API key {key} was revoked; create a new key instead"
            )
        if status is ApiKeyStatus.EXPIRED:
            raise AppError(
                ErrorCode.KEY_EXPIRED,
                f"API key {key} expired {_date(row.expiration)}; create a new key instead",
            )
        row.expiration = now_s + days * DAY
        session.add(row)
    return row


async def _owned_key(session: AsyncSession, profile_id: int, key: str) -> ApiKey:
    """The caller's key, locked for the rest of the transaction."""
    found = select(ApiKey).where(ApiKey.key == key).with_for_update()
    row = (await session.exec(found)).first() if could_be_key(key) else None
    if row is None:
        raise AppError(ErrorCode.NO_SUCH_KEY, f"there is no API key {key[:64]!r}")
    if row.profile_id != profile_id:
        raise AppError(ErrorCode.NOT_YOUR_KEY, f"API key {key} belongs to another profile")
    return row


async def sweep_api_keys(
    db: Database, config: DomainConfig, now: float | None = None
) -> tuple[int, int]:
    """Warn about keys expiring within 7 days (once per key and expiry) and delete keys that
    have been dead longer than `config.dead_key_retention`; the sessions minted from them go
    with them (ON DELETE CASCADE). Returns (warnings added, keys deleted)."""
    now = time.time() if now is None else now
    now_s, now_us = int(now), int(now * 1_000_000)
    async with db.write() as session:
        expiring = await session.exec(
            update(ApiKey)
            .where(
                col(ApiKey.status) == ApiKeyStatus.API_GEN.value,
                col(ApiKey.expiration) > now_s,
                col(ApiKey.expiration) <= now_s + EXPIRY_WARNING_SECONDS,
                or_(
                    col(ApiKey.expiry_warned_for).is_(None),
                    col(ApiKey.expiry_warned_for) != col(ApiKey.expiration),
                ),
            )
            .values(expiry_warned_for=col(ApiKey.expiration))
            .returning(
                col(ApiKey.key), col(ApiKey.profile_id), col(ApiKey.tag), col(ApiKey.expiration)
            )
        )
        warned = expiring.all()
        for key, profile_id, tag, expiration in warned:
            session.add(
                _notification(
                    profile_id,
                    KEY_EXPIRING,
                    "API key expires soon",
                    f"API key {key} (tag {tag!r}) expires {_date(expiration)}; renew it or "
                    "create a new one.",
                    now_us,
                )
            )
        cutoff = now_s - config.dead_key_retention
        purged = await session.exec(
            delete(ApiKey).where(
                or_(
                    col(ApiKey.expiration) <= cutoff,
                    col(ApiKey.revoked_at) <= cutoff,
                )
            )
        )
    return len(warned), int(purged.rowcount)


def _notification(
    profile_id: int, kind: str, title: str, description: str, now_us: int
) -> Notification:
    return Notification(
        profile_id=profile_id, type=kind, title=title, description=description, created_at=now_us
    )


def _date(unix_s: int) -> str:
    return datetime.fromtimestamp(unix_s, UTC).strftime("%Y-%m-%d %H:%M UTC")
