"""Closed vocabularies of the protocol (spec §5). Values are the wire strings."""

from enum import StrEnum


class ProfileType(StrEnum):
    TRADER = "trader"
    VAULT = "vault"
    INSURANCE = "insurance"


SELF_ONBOARDING_TYPES = frozenset({ProfileType.TRADER, ProfileType.VAULT})


class ProfileStatus(StrEnum):
    ACTIVE = "active"
    LIQUIDATING = "liquidating"


class OrderStatus(StrEnum):
    PROCESSING = "processing"
    OPEN = "open"
    PLACED = "placed"
    CLOSED = "closed"
    REJECTED = "rejected"
    CANCELED = "canceled"
    CANCELING = "canceling"
    AMENDING = "amending"
    CANCELINGALL = "cancelingall"


RESTING_ORDER_STATUSES = (OrderStatus.OPEN, OrderStatus.PLACED)
"""The orders a profile embeds and that reserve order margin."""


class OrderType(StrEnum):
    LIMIT = "limit"
    MARKET = "market"
    STOP_LOSS = "stop_loss"
    TAKE_PROFIT = "take_profit"
    STOP_LOSS_LIMIT = "stop_loss_limit"
    TAKE_PROFIT_LIMIT = "take_profit_limit"
    STOP_MARKET = "stop_market"
    STOP_LIMIT = "stop_limit"


class Side(StrEnum):
    LONG = "long"
    SHORT = "short"


class TimeInForce(StrEnum):
    GOOD_TILL_CANCEL = "good_till_cancel"
    POST_ONLY = "post_only"
    IMMEDIATE_OR_CANCEL = "immediate_or_cancel"
    FILL_OR_KILL = "fill_or_kill"


class PositionStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class ApiKeyStatus(StrEnum):
    API_GEN = "API_GEN"
    REVOKED = "REVOKED"
    EXPIRED = "EXPIRED"
    """Derived from the expiry when a key is shown; never stored."""


class SessionKind(StrEnum):
    CLIENT = "client"
    MARKET_MAKER = "market_maker"


class SessionOrigin(StrEnum):
    """What a session was minted from; it decides what the session may do (see
    `models.sessions.require_wallet_proof`)."""

    WALLET_PROOF = "wallet_proof"
    """Onboarding: the wallet's signature."""
    REFRESH = "refresh"
    """A refresh token, so ultimately the wallet proof that began its family."""
    API_KEY = "api_key"
    """A market maker's signed `POST /jwt`: only as good as the key (`AuthSession.api_key`)."""
