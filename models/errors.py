"""The one registry of error codes clients may see, and the exception that carries them.

Every expected refusal is an `AppError`; anything else is a bug and gets masked by the caller.
GraphQL copies `extensions` from the original exception, so the code reaches `extensions.code`;
the legacy REST layer writes `"<CODE>: <message>"` and picks the HTTP status from the code.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    BAD_USER_INPUT = "BAD_USER_INPUT"
    SIGNATURE_MISMATCH = "SIGNATURE_MISMATCH"
    SIGNATURE_EXPIRED = "SIGNATURE_EXPIRED"
    TIMESTAMP_TOO_FAR = "TIMESTAMP_TOO_FAR"
    SIGNATURE_REPLAYED = "SIGNATURE_REPLAYED"
    UNSUPPORTED_EXCHANGE = "UNSUPPORTED_EXCHANGE"
    UNSUPPORTED_PROFILE_TYPE = "UNSUPPORTED_PROFILE_TYPE"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    REFRESH_TOKEN_NOT_FOUND = "REFRESH_TOKEN_NOT_FOUND"  # noqa: S105 - a code, not a secret
    REFRESH_TOKEN_REUSED = "REFRESH_TOKEN_REUSED"  # noqa: S105
    REFRESH_FAMILY_EXPIRED = "REFRESH_FAMILY_EXPIRED"
    """The refresh family is older than `refresh_family_ttl`: onboard (prove the wallet) again."""
    WALLET_PROOF_REQUIRED = "WALLET_PROOF_REQUIRED"
    """Managing API keys needs a session minted from a wallet proof, not from an API key."""
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
    INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"
    GRAPHQL_PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
    GRAPHQL_VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
    FORBIDDEN = "FORBIDDEN"
    MAX_SECRETS_EXCEED = "MAX_SECRETS_EXCEED"
    NO_SUCH_KEY = "NO_SUCH_KEY"
    KEY_EXPIRED = "KEY_EXPIRED"
    NOT_YOUR_KEY = "NOT_YOUR_KEY"
    NOT_AUTHENTICATED = "NOT_AUTHENTICATED"
    INVALID_PAYLOAD_SIGNATURE = "INVALID_PAYLOAD_SIGNATURE"
    NOT_ALLOWED_FOR_IP = "NOT_ALLOWED_FOR_IP"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    PROFILE_NOT_FOUND = "PROFILE_NOT_FOUND"
    CONFLICT = "CONFLICT"
    RATE_LIMITED = "RATE_LIMITED"
    BAD_REQUEST = "BAD_REQUEST"
    NOT_FOUND = "NOT_FOUND"
    NOT_ACCEPTABLE = "NOT_ACCEPTABLE"
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
    CONTRACT_WALLET_UNSUPPORTED = "CONTRACT_WALLET_UNSUPPORTED"
    CHAIN_UNAVAILABLE = "CHAIN_UNAVAILABLE"
    CONTRACT_WALLET_REVERTED = "CONTRACT_WALLET_REVERTED"
    CONTRACT_WALLET_WRONG_ANSWER = "CONTRACT_WALLET_WRONG_ANSWER"
    CONTRACT_WALLET_NO_ANSWER = "CONTRACT_WALLET_NO_ANSWER"
    CONTRACT_WALLET_OUT_OF_GAS = "CONTRACT_WALLET_OUT_OF_GAS"

    @property
    def http_status(self) -> int:
        """The HTTP status a REST caller sees for this code."""
        return _HTTP_STATUS.get(self, 400)


_HTTP_STATUS: dict[ErrorCode, int] = {
    ErrorCode.UNAUTHENTICATED: 401,
    ErrorCode.REFRESH_TOKEN_NOT_FOUND: 401,
    ErrorCode.REFRESH_TOKEN_REUSED: 401,
    ErrorCode.REFRESH_FAMILY_EXPIRED: 401,
    ErrorCode.WALLET_PROOF_REQUIRED: 403,
    ErrorCode.SERVICE_UNAVAILABLE: 503,
    ErrorCode.CHAIN_UNAVAILABLE: 503,
    ErrorCode.INTERNAL_SERVER_ERROR: 500,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_AUTHENTICATED: 401,
    ErrorCode.NO_SUCH_KEY: 401,
    ErrorCode.KEY_EXPIRED: 401,
    ErrorCode.INVALID_PAYLOAD_SIGNATURE: 401,
    ErrorCode.NOT_ALLOWED_FOR_IP: 403,
    ErrorCode.METHOD_NOT_ALLOWED: 405,
    ErrorCode.PROFILE_NOT_FOUND: 404,
    ErrorCode.CONFLICT: 409,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.NOT_ACCEPTABLE: 406,
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: 415,
}


class AppError(Exception):
    """An expected refusal: a stable code plus a message that says what to fix. Never a secret."""

    def __init__(self, code: ErrorCode, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.extensions: dict[str, object] = {"code": code.value}
        self.retry_after = retry_after
        """Whole seconds after which a retry may succeed (HTTP `Retry-After`, `retryAfter`)."""
        if retry_after is not None:
            self.extensions["retryAfter"] = retry_after

    @property
    def legacy_text(self) -> str:
        """The REST `error` text: the code first, so clients can match on it."""
        return f"{self.code}: {self.message}"


def bad_input(message: str) -> AppError:
    return AppError(ErrorCode.BAD_USER_INPUT, message)
