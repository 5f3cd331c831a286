"""Settings from the environment (prefix `ONBOARDING_`); the domain rules are inherited from
`models.config.DomainConfig` so each one is declared once.

Nested values (exchanges, markets) are JSON, e.g.
`ONBOARDING_MARKETS='{"BTC-USD": {"default_leverage": "20"}}'`.
"""

from __future__ import annotations

import logging
import re
from enum import StrEnum
from typing import Literal

from pydantic import Field, IPvAnyNetwork, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from models.config import DEV_JWT_SECRET, DEV_SECRETS_KEY, DomainConfig

log = logging.getLogger("onboarding.settings")
_ORIGIN = re.compile(r"https?://[^/\s?#]+")
MIN_KEY_CHARS = 32
"""Shortest key prod accepts, current or retired."""


class Env(StrEnum):
    DEV = "dev"
    PROD = "prod"


class LegacyDecimals(StrEnum):
    """How the legacy REST envelope writes amounts: JSON numbers (the seed) or strings (live)."""

    NUMBER = "number"
    STRING = "string"


SameSite = Literal["lax", "strict", "none"]
"""The `jwt` cookie's SameSite attribute (RFC 6265bis). `none` lets other sites' requests carry
the cookie, which browsers allow only with `Secure`: the cookie always has it."""


class Settings(DomainConfig, BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="ONBOARDING_", extra="ignore", frozen=False, env_parse_none_str="null"
    )

    env: Env = Env.DEV
    database_url: str = "sqlite+aiosqlite:///./var/onboarding.db"
    db_pool_size: int = Field(default=10, ge=1, le=200)
    db_connect_timeout: float = Field(default=5.0, gt=0, le=120)
    """Seconds to open a connection or wait for a free one in the pool, before 503."""
    db_statement_timeout: float = Field(default=15.0, gt=0, le=600)
    """Seconds any one statement may take (PostgreSQL), before 503: a partition fails fast."""
    shutdown_timeout: int = Field(default=20, ge=1, le=600)
    """Seconds `serve` lets in-flight requests finish after SIGTERM before closing them."""
    previous_jwt_secrets: tuple[SecretStr, ...] = ()
    previous_secrets_keys: tuple[SecretStr, ...] = ()
    """Retired `secrets_key` values: what they sealed still opens (docs/operations.md)."""
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    log_level: str = "INFO"
    legacy_decimals: LegacyDecimals = LegacyDecimals.NUMBER
    trusted_proxies: tuple[IPvAnyNetwork, ...] = ()
    """Peers whose `X-Forwarded-For` names the client (API-key IP allow-lists) and whose
    `X-Request-ID` becomes the request id, as CIDRs."""
    cookie_samesite: SameSite = "lax"
    """SameSite of the `jwt` cookie the legacy routes set (docs/limits.md, cookies)."""

    @field_validator("cookie_samesite", mode="before")
    @classmethod
    def _samesite_any_case(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    admin_token: SecretStr | None = None
    """Bearer token of the admin API (the trading engine, operators); unset: the API is off."""
    graphql_max_depth: int = Field(default=10, ge=1, le=100)
    graphql_max_aliases: int = Field(default=15, ge=0, le=1000)
    graphql_max_tokens: int = Field(default=300, ge=50, le=100_000)
    graphql_max_directives: int = Field(default=4, ge=0, le=100)
    graphql_max_list_items: int = Field(default=2000, ge=100, le=1_000_000)
    """Most list entries one GraphQL document may ask for (docs/limits.md, list cost)."""
    graphql_cache_size: int = Field(default=128, ge=1, le=100_000)
    graphql_introspection: bool | None = None
    """None: on in dev, off in prod."""
    graphql_field_suggestions: bool | None = None
    """None: on in dev, off in prod ("Did you mean …?" would spell out a hidden schema)."""
    graphiql: bool | None = None
    """None: on in dev, off in prod."""
    cors_origins: tuple[str, ...] = ()
    """Browser origins (`scheme://host[:port]`, or `*`) that may call the API cross-origin, as a
    JSON list; empty: same-origin only (no CORS middleware at all). See docs/explorer.md."""
    chain_rpc_urls: dict[int, SecretStr] = {}
    """JSON map from an exchange's chain id (its EIP-712 `chainId`) to the HTTP(S) JSON-RPC URL
    of a node of that chain, e.g. `{"1": "https://…"}`. An exchange whose chain has none refuses
    contract wallets (CONTRACT_WALLET_UNSUPPORTED). Secret: hosted URLs carry API keys."""
    chain_connect_timeout: float = Field(default=2.0, gt=0, le=60)
    """Seconds to open a connection to a chain node."""
    chain_timeout: float = Field(default=5.0, gt=0, le=120)
    """Seconds one contract-wallet proof may wait on its node in all, before CHAIN_UNAVAILABLE."""
    chain_call_gas: int = Field(default=3_000_000, ge=100_000, le=100_000_000)
    """Gas each verification `eth_call` may burn; beyond it, CONTRACT_WALLET_OUT_OF_GAS."""

    @field_validator("chain_rpc_urls")
    @classmethod
    def _http_rpc_urls(cls, urls: dict[int, SecretStr]) -> dict[int, SecretStr]:
        for chain_id, url in urls.items():
            if chain_id < 1:
                raise ValueError(f"chain id {chain_id} must be a positive integer")
            scheme, _, rest = url.get_secret_value().partition("://")
            if scheme.lower() not in ("http", "https") or not rest:
                raise ValueError(f"the RPC URL of chain {chain_id} must be an http(s):// URL")
        return urls

    @model_validator(mode="after")
    def _production_secrets(self) -> Settings:
        """Prod refuses the published dev defaults; dev uses them and says so."""
        weak = self.published_dev_keys
        if weak and self.env is Env.PROD:
            raise ValueError(
                f"ONBOARDING_ENV=prod needs real secrets: set {' and '.join(weak)} "
                "(at least 32 random characters, e.g. from "
                "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`)"
            )
        if self.env is Env.PROD:
            self._refuse_short_or_published_keys()
        for name in weak:
            log.warning("%s is the development default; never use it in production", name)
        return self

    def _refuse_short_or_published_keys(self) -> None:
        """Short current keys are guessable; a retired key that is the published dev default
        would let anyone forge JWTs (or plant sealed secrets) that prod accepts."""
        for name, value in (
            ("ONBOARDING_JWT_SECRET", self.jwt_secret),
            ("ONBOARDING_SECRETS_KEY", self.secrets_key),
        ):
            if len(value.get_secret_value()) < MIN_KEY_CHARS:
                raise ValueError(f"{name} must be at least {MIN_KEY_CHARS} characters in prod")
        if self.jwt_secret.get_secret_value() == self.secrets_key.get_secret_value():
            raise ValueError(
                "ONBOARDING_JWT_SECRET and ONBOARDING_SECRETS_KEY must differ in prod: one key "
                "signing tokens and sealing secrets makes a leak of either a leak of both"
            )
        for name, retired, published in (
            ("ONBOARDING_PREVIOUS_JWT_SECRETS", self.previous_jwt_secret_values, DEV_JWT_SECRET),
            ("ONBOARDING_PREVIOUS_SECRETS_KEYS", self.previous_secrets_key_values, DEV_SECRETS_KEY),
        ):
            if published in retired or "" in retired:
                raise ValueError(f"{name} must not list an empty key or the development default")
            if any(len(key) < MIN_KEY_CHARS for key in retired):
                raise ValueError(
                    f"{name} must list keys of at least {MIN_KEY_CHARS} characters in prod: a "
                    "retired key still verifies (or opens) what it signed"
                )

    @property
    def published_dev_keys(self) -> list[str]:
        """Which of the two keys are the published development defaults (or empty)."""
        return [
            name
            for name, value, default in (
                ("ONBOARDING_JWT_SECRET", self.jwt_secret, DEV_JWT_SECRET),
                ("ONBOARDING_SECRETS_KEY", self.secrets_key, DEV_SECRETS_KEY),
            )
            if value.get_secret_value() in ("", default)
        ]

    @model_validator(mode="after")
    def _admin_token_strength(self) -> Settings:
        """An admin token guards every profile's data: never short, in any environment."""
        token = self.admin_token
        if token is not None and 0 < len(token.get_secret_value()) < 32:
            raise ValueError(
                "ONBOARDING_ADMIN_TOKEN must be at least 32 characters (e.g. from "
                "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`), or unset"
            )
        return self

    @field_validator("cors_origins")
    @classmethod
    def _origins_only(cls, origins: tuple[str, ...]) -> tuple[str, ...]:
        """A browser sends `Origin` as scheme://host[:port] with no path or trailing slash; an
        entry of another shape would never match, so it is refused rather than ignored."""
        for origin in origins:
            if origin != "*" and not _ORIGIN.fullmatch(origin):
                raise ValueError(
                    f"ONBOARDING_CORS_ORIGINS: {origin!r} is not an origin "
                    "(scheme://host[:port], no path, no trailing slash) or *"
                )
        return origins

    @property
    def admin_token_value(self) -> str | None:
        """The configured admin token; an empty one counts as unset."""
        token = self.admin_token.get_secret_value() if self.admin_token else ""
        return token or None

    def in_dev_unless(self, choice: bool | None) -> bool:
        """An explicit choice, or else on in dev and off in prod."""
        return self.env is Env.DEV if choice is None else choice

    @property
    def previous_jwt_secret_values(self) -> tuple[str, ...]:
        return tuple(secret.get_secret_value() for secret in self.previous_jwt_secrets)

    @property
    def previous_secrets_key_values(self) -> tuple[str, ...]:
        return tuple(key.get_secret_value() for key in self.previous_secrets_keys)
