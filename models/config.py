"""What the domain needs to know, with production defaults.

`api.settings.Settings` extends `DomainConfig` with the environment-loading and HTTP-level
settings, so each setting is declared exactly once and `models` never imports `api`.
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

CURRENT_SIGN_IN_TEXT = (
    "Welcome to RabbitX!\n\n"
    "Click to sign in and on-board your wallet for trading perpetuals.\n\n"
    "This request will not trigger a blockchain transaction or cost any gas fees. "
    "This signature only proves you are the true owner of this wallet.\n\n"
    "By signing this message you agree to the terms and conditions of the exchange."
)
LEGACY_SIGN_IN_TEXT = "Welcome to Rabbit DEX"
BFX_SIGN_IN_TEXT = CURRENT_SIGN_IN_TEXT.replace("Welcome to RabbitX!", "Welcome to Bfx!", 1)

DEV_JWT_SECRET = "dev-only-jwt-secret-never-use-in-production"  # noqa: S105 - the published dev default prod refuses
DEV_SECRETS_KEY = "dev-only-secrets-key-never-use-in-production"


class Exchange(BaseModel):
    """One exchange id: the texts its users sign and its EIP-712 domain."""

    model_config = ConfigDict(frozen=True)

    sign_in_texts: tuple[str, ...] = Field(min_length=1)
    eip712_name: str
    eip712_version: str = "1"
    chain_id: int = Field(ge=1)


class Market(BaseModel):
    model_config = ConfigDict(frozen=True)

    default_leverage: Decimal = Field(default=Decimal(1), gt=0)
    forced_margin: Decimal = Field(default=Decimal("0.03"), gt=0, lt=1)


class Rate(BaseModel):
    """A token bucket: `burst` tokens, refilled at `per_minute` tokens per minute."""

    model_config = ConfigDict(frozen=True)

    burst: int = Field(ge=1, le=1_000_000_000)
    per_minute: float = Field(gt=0, le=1_000_000_000)

    @property
    def seconds_per_token(self) -> float:
        return 60.0 / self.per_minute


DEFAULT_EXCHANGES: dict[str, Exchange] = {
    "rbx": Exchange(
        sign_in_texts=(CURRENT_SIGN_IN_TEXT, LEGACY_SIGN_IN_TEXT),
        eip712_name="RabbitXId",
        chain_id=1,
    ),
    "bfx": Exchange(sign_in_texts=(BFX_SIGN_IN_TEXT,), eip712_name="BfxId", chain_id=81457),
}

DEFAULT_MARKETS: dict[str, Market] = {
    market_id: Market()
    for market_id in (
        "BTC-USD",
        "ETH-USD",
        "SOL-USD",
        "ARB-USD",
        "DOGE-USD",
        "LDO-USD",
        "SUI-USD",
        "PEPE1000-USD",
        "XRP-USD",
        "TON-USD",
    )
}


class DomainConfig(BaseModel):
    """Rules of onboarding. Lifetimes are in seconds."""

    jwt_secret: SecretStr = SecretStr(DEV_JWT_SECRET)
    secrets_key: SecretStr = SecretStr(DEV_SECRETS_KEY)
    signature_ttl: int = Field(default=600, ge=1, le=3600)
    single_use_signatures: bool = True
    access_token_ttl: int = Field(default=48 * 3600, ge=60)
    refresh_token_ttl: int = Field(default=14 * 24 * 3600, ge=60)
    refresh_family_ttl: int = Field(default=30 * 24 * 3600, ge=60)
    """Absolute lifetime of a refresh family (OAuth 2.1): counted from the wallet proof that
    began it; no session of the family outlives it, and then the client onboards again."""
    api_key_ttl: int = Field(default=180 * 24 * 3600, ge=3600)
    exchanges: dict[str, Exchange] = Field(default_factory=lambda: dict(DEFAULT_EXCHANGES))
    markets: dict[str, Market] = Field(default_factory=lambda: dict(DEFAULT_MARKETS))
    rate_limit_per_ip: Rate | None = Rate(burst=30, per_minute=30)
    """Onboarding attempts per client address (IPv6: per /64); every attempt takes a token."""
    rate_limit_per_wallet: Rate | None = Rate(burst=5, per_minute=6)
    """Onboardings per wallet; only proven ones take a token, so nobody can lock out another."""
    rate_limit_key_creation: Rate | None = Rate(burst=10, per_minute=0.2)
    """`createApiKey` per profile (key churn: each creation adds a key and a notification)."""
    notification_retention: int = Field(default=30 * 24 * 3600, ge=3600)
    """Notifications older than this (by `createdAt`) are deleted by the housekeeping loop."""
    dead_key_retention: int = Field(default=30 * 24 * 3600, ge=0)
    """Revoked and expired API keys stay listed this long, then the housekeeping loop deletes
    them (and whatever sessions were minted from them)."""

    @field_validator("exchanges")
    @classmethod
    def _lower_case_ids(cls, exchanges: dict[str, Exchange]) -> dict[str, Exchange]:
        """Clients send `EID` in any case; ids are matched lower-case."""
        if not exchanges:
            raise ValueError("at least one exchange is required")
        return {key.lower(): value for key, value in exchanges.items()}

    def market(self, market_id: str) -> Market:
        """Known market, or the defaults for one the engine sent before config caught up."""
        return self.markets.get(market_id) or Market()
