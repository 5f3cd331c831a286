"""Settings from the environment (prefix `ONBOARDING_`); the domain rules are inherited from
`models.config.DomainConfig` so each one is declared once.

Nested values (exchanges, markets) are JSON, e.g.
`ONBOARDING_MARKETS='{"BTC-USD": {"default_leverage": "20"}}'`.
"""

from __future__ import annotations

import logging
from enum import StrEnum

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from models.config import DEV_JWT_SECRET, DEV_SECRETS_KEY, DomainConfig

log = logging.getLogger("onboarding.settings")


class Env(StrEnum):
    DEV = "dev"
    PROD = "prod"


class Settings(DomainConfig, BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="ONBOARDING_", extra="ignore", frozen=False, env_parse_none_str="null"
    )

    env: Env = Env.DEV
    database_url: str = "sqlite+aiosqlite:///./var/onboarding.db"
    db_pool_size: int = Field(default=10, ge=1, le=200)
    previous_jwt_secrets: tuple[SecretStr, ...] = ()
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    log_level: str = "INFO"
    trusted_proxies: list[str] = Field(default_factory=list)
    """CIDRs of the proxies whose `X-Forwarded-For` is believed (see `api.client_ip`)."""
    graphql_max_depth: int = Field(default=10, ge=1, le=100)
    graphql_max_aliases: int = Field(default=15, ge=0, le=1000)
    graphql_max_tokens: int = Field(default=300, ge=50, le=100_000)
    graphql_max_directives: int = Field(default=4, ge=0, le=100)
    graphql_cache_size: int = Field(default=128, ge=1, le=100_000)
    graphql_introspection: bool | None = None
    """None: on in dev, off in prod."""
    graphql_field_suggestions: bool | None = None
    """None: on in dev, off in prod ("Did you mean …?" would spell out a hidden schema)."""
    graphiql: bool | None = None
    """None: on in dev, off in prod."""

    @model_validator(mode="after")
    def _production_secrets(self) -> Settings:
        """Prod refuses the published dev defaults; dev uses them and says so."""
        weak = [
            name
            for name, value, default in (
                ("ONBOARDING_JWT_SECRET", self.jwt_secret, DEV_JWT_SECRET),
                ("ONBOARDING_SECRETS_KEY", self.secrets_key, DEV_SECRETS_KEY),
            )
            if value.get_secret_value() in ("", default)
        ]
        if weak and self.env is Env.PROD:
            raise ValueError(
                f"ONBOARDING_ENV=prod needs real secrets: set {' and '.join(weak)} "
                "(at least 32 random characters, e.g. from "
                "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`)"
            )
        if self.env is Env.PROD and len(self.jwt_secret.get_secret_value()) < 32:
            raise ValueError("ONBOARDING_JWT_SECRET must be at least 32 characters in prod")
        for name in weak:
            log.warning("%s is the development default; never use it in production", name)
        return self

    def in_dev_unless(self, choice: bool | None) -> bool:
        """An explicit choice, or else on in dev and off in prod."""
        return self.env is Env.DEV if choice is None else choice

    @property
    def previous_jwt_secret_values(self) -> tuple[str, ...]:
        return tuple(secret.get_secret_value() for secret in self.previous_jwt_secrets)
