"""Persistence: one SQLModel table per stored thing.

Amounts are exact: `NUMERIC` on PostgreSQL, decimal text on SQLite (which has no decimal type).
Ids and the foreign keys to them are 64-bit (the API's `Int64`): `BIGINT` on PostgreSQL, and
`INTEGER` on SQLite, whose integers are 64-bit already and whose `INTEGER PRIMARY KEY` is the
rowid (a `BIGINT` key would not be numbered automatically).
Profile/order/position times are microseconds (BIGINT); credential expiries are unix seconds.
Derived figures (equity, margins, notional …) are never stored: `models.margin` computes them
from the rows, so they cannot drift.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Double,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine
from sqlmodel import Field, SQLModel

from .enums import ApiKeyStatus, OrderType, PositionStatus, ProfileStatus, TimeInForce

ID = BigInteger().with_variant(Integer(), "sqlite")
"""The type of every id and of every foreign key to one (see the module docstring)."""

# Every constraint gets a deterministic name, the same on both engines, so a later migration can
# name what it alters (SQLite's batch mode cannot drop an unnamed constraint).
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class ExactDecimal(TypeDecorator[Decimal]):
    """Decimal that round-trips exactly on every engine."""

    impl = String(80)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(Numeric(asdecimal=True))
        return dialect.type_descriptor(String(80))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None or dialect.name == "postgresql":
            return value
        return str(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(value)


def _decimal(default: Decimal | None = Decimal(0), *, nullable: bool = False) -> Any:
    return Field(
        default=default, sa_column=Column(ExactDecimal(), nullable=nullable, default=default)
    )


def _micros(*, nullable: bool = False, index: bool = False) -> Any:
    default = None if nullable else 0
    return Field(
        default=default,
        sa_column=Column(BigInteger(), nullable=nullable, index=index, default=default),
    )


_WITHOUT_ROWID = {"sqlite_with_rowid": False}
"""SQLite: the row lives in its primary key's B-tree. A table keyed by text otherwise stores
each row twice over (a rowid B-tree and the key's index): one more page per insert."""


def _id() -> Any:
    """An auto-numbered 64-bit primary key."""
    return Field(default=None, sa_column=Column(ID, primary_key=True))


def _profile_ref(*, index: bool = False) -> Any:
    """The owning profile's id."""
    return Field(sa_column=Column(ID, ForeignKey("profiles.id"), nullable=False, index=index))


class Profile(SQLModel, table=True):
    __tablename__ = "profiles"
    __table_args__ = (UniqueConstraint("wallet", "exchange_id", name="uq_profile_wallet_exchange"),)

    id: int | None = _id()
    wallet: str = Field(max_length=42)
    exchange_id: str = Field(max_length=32)
    profile_type: str = Field(max_length=16)
    status: str = Field(default=ProfileStatus.ACTIVE.value, max_length=16)
    balance: Decimal = _decimal()
    cum_trading_volume: Decimal = _decimal()
    leverage: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    last_update: int = _micros()
    last_liq_check: int = _micros()
    created_at: int = _micros()


class ProfileFields(Protocol):
    """What readers of a profile read: a loaded `Profile` or a `ProfileRecord`."""

    @property
    def id(self) -> int | None: ...
    @property
    def wallet(self) -> str: ...
    @property
    def exchange_id(self) -> str: ...
    @property
    def profile_type(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def balance(self) -> Decimal: ...
    @property
    def cum_trading_volume(self) -> Decimal: ...
    @property
    def leverage(self) -> dict[str, str]: ...
    @property
    def last_update(self) -> int: ...
    @property
    def last_liq_check(self) -> int: ...
    @property
    def created_at(self) -> int: ...


@dataclass(frozen=True, slots=True)
class ProfileRecord:
    """A profile's columns as plain values: what the onboarding returns (building a `Profile`,
    validated and instrumented, cost more than the rest of its Python work on the row)."""

    id: int
    wallet: str
    exchange_id: str
    profile_type: str
    status: str
    balance: Decimal
    cum_trading_volume: Decimal
    leverage: dict[str, str]
    last_update: int
    last_liq_check: int
    created_at: int


class Order(SQLModel, table=True):
    __tablename__ = "orders"
    __table_args__ = (
        Index("ix_order_profile_status", "profile_id", "status"),
        # Order history pages newest first by the keyset (created_at, id).
        Index("ix_order_profile_created", "profile_id", "created_at", "id"),
    )

    id: str = Field(primary_key=True, max_length=64)
    profile_id: int = _profile_ref()
    market_id: str = Field(max_length=32)
    order_type: str = Field(default=OrderType.LIMIT.value, max_length=24)
    side: str = Field(max_length=8)
    status: str = Field(max_length=16)
    price: Decimal | None = _decimal(None, nullable=True)
    size: Decimal = _decimal()
    initial_size: Decimal = _decimal()
    total_filled_size: Decimal = _decimal()
    size_percent: Decimal | None = _decimal(None, nullable=True)
    trigger_price: Decimal | None = _decimal(None, nullable=True)
    time_in_force: str = Field(default=TimeInForce.GOOD_TILL_CANCEL.value, max_length=24)
    reason: str = Field(default="", max_length=256)
    client_order_id: str = Field(default="", max_length=64)
    created_at: int = _micros()
    updated_at: int = _micros()
    timestamp: int = _micros()


class Position(SQLModel, table=True):
    __tablename__ = "positions"
    __table_args__ = (Index("ix_position_profile_status", "profile_id", "status"),)

    id: str = Field(primary_key=True, max_length=64)
    profile_id: int = _profile_ref()
    market_id: str = Field(max_length=32)
    side: str = Field(max_length=8)
    status: str = Field(default=PositionStatus.OPEN.value, max_length=8)
    size: Decimal = _decimal()
    entry_price: Decimal = _decimal()
    fair_price: Decimal = _decimal()
    updated_at: int = _micros()


class Notification(SQLModel, table=True):
    __tablename__ = "notifications"
    __table_args__ = (
        # A profile's notifications page newest first by the keyset (created_at, id).
        Index("ix_notification_profile_created", "profile_id", "created_at", "id"),
    )

    id: int | None = _id()
    profile_id: int = _profile_ref()
    type: str = Field(max_length=32)
    title: str = Field(max_length=256)
    description: str = Field(default="", max_length=4096)
    created_at: int = _micros(index=True)
    """Microseconds; the housekeeping loop deletes notifications older than the retention."""
    read_at: int | None = _micros(nullable=True)
    key: str | None = Field(default=None, max_length=64, unique=True)
    """The sender's id for this notification: pushing the same key again writes nothing."""


class AuthSession(SQLModel, table=True):
    """One issued access token (its `jti`), plus, for clients, its refresh token and HMAC secret."""

    __tablename__ = "auth_sessions"
    __table_args__ = (
        # Only sessions minted from a key have one (market makers'): on SQLite a browser
        # session, the common case, writes no page here (migration 0003).
        Index("ix_auth_sessions_api_key", "api_key", sqlite_where=text("api_key IS NOT NULL")),
        _WITHOUT_ROWID,
    )

    id: str = Field(primary_key=True, max_length=32)
    profile_id: int = _profile_ref(index=True)
    family_id: str = Field(max_length=32, index=True)
    kind: str = Field(max_length=16)
    minted_from: str | None = Field(default=None, max_length=16)
    """What proved the caller (`enums.SessionOrigin`): a wallet proof, a refresh, an API key.
    NULL only for a session a release before 0002 minted during a rolling deploy: it is not
    trusted to manage keys."""
    api_key: str | None = Field(
        default=None,
        sa_column=Column(String(64), ForeignKey("api_keys.key", ondelete="CASCADE"), nullable=True),
    )
    """The key a session minted from an API key came from: it lives and dies with the key."""
    family_started_at: int | None = Field(
        default=None, sa_column=Column(BigInteger(), nullable=True)
    )
    """Unix seconds of the wallet proof that began the family (NULL, as for `minted_from`:
    `created_at` stands in); no session outlives its start + `refresh_family_ttl`."""
    refresh_hash: str | None = Field(default=None, max_length=64, unique=True)
    secret_sealed: str | None = Field(default=None, max_length=256)
    created_at: int = Field(sa_column=Column(BigInteger(), nullable=False))
    expires_at: int = Field(sa_column=Column(BigInteger(), nullable=False, index=True))
    revoked_at: int | None = Field(default=None, sa_column=Column(BigInteger(), nullable=True))
    replaced_by: str | None = Field(default=None, max_length=32)
    """Set when a refresh spent this session: presenting its refresh token again is reuse."""


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_keys"
    __table_args__ = (
        # A profile's keys page newest first by the keyset (created_at, key).
        Index("ix_api_key_profile_created", "profile_id", "created_at", "key"),
    )

    key: str = Field(primary_key=True, max_length=64)
    profile_id: int = _profile_ref()
    secret_sealed: str = Field(max_length=256)
    tag: str = Field(default="", max_length=64)
    status: str = Field(default=ApiKeyStatus.API_GEN.value, max_length=16)
    expiration: int = Field(sa_column=Column(BigInteger(), nullable=False))
    allowed_ips: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: int = _micros()
    last_used_at: int | None = _micros(nullable=True)
    revoked_at: int | None = Field(default=None, sa_column=Column(BigInteger(), nullable=True))
    """Unix seconds; dead keys are deleted a while after this (see models.api_keys)."""
    expiry_warned_for: int | None = Field(
        default=None, sa_column=Column(BigInteger(), nullable=True)
    )
    """The `expiration` a "expires soon" notification was sent for: one warning per expiry."""


class UsedSignature(SQLModel, table=True):
    """The single-use ledger: a proof (signer, digest) stays spent until its timestamp passes."""

    __tablename__ = "used_signatures"
    __table_args__ = (_WITHOUT_ROWID,)

    address: str = Field(primary_key=True, max_length=42)
    digest: str = Field(primary_key=True, max_length=64)
    expires_at: int = Field(sa_column=Column(BigInteger(), nullable=False, index=True))


class RateLimitBucket(SQLModel, table=True):
    """One token bucket (see `models.ratelimit`): when it will be full again. No row = full.

    UNLOGGED on PostgreSQL (set by the migration): bucket state is worth nothing after a crash
    (buckets refill within minutes), so its commits need not wait for a disk flush."""

    __tablename__ = "rate_limit_buckets"
    __table_args__ = (_WITHOUT_ROWID,)

    key: str = Field(primary_key=True, max_length=96)
    full_at: float = Field(sa_column=Column(Double(), nullable=False, index=True))
