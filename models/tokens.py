"""JWTs (HS256, algorithm pinned on decode) and the random credentials that go with them."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from enum import StrEnum

import jwt

from .errors import AppError, ErrorCode

ALGORITHM = "HS256"
_REQUIRED_CLAIMS = ["sub", "exp", "iat", "jti", "typ", "sid"]


class TokenType(StrEnum):
    ACCESS = "access"
    REFRESH = "refresh"


@dataclass(frozen=True, slots=True)
class Claims:
    profile_id: int
    session_id: str
    token_type: TokenType
    expires_at: int


def key_id(secret: str) -> str:
    """A stable, non-secret name for a signing key (its hash prefix), sent as the JWT `kid`."""
    return hashlib.sha256(secret.encode()).hexdigest()[:16]


class TokenSigner:
    """Signs with the current key; verifies with it and with any previous keys (rotation)."""

    def __init__(self, secret: str, previous: tuple[str, ...] = ()) -> None:
        self._secret = secret
        self._kid = key_id(secret)
        self._verify_keys = {key_id(key): key for key in (secret, *previous)}

    def issue(
        self, *, profile_id: int, session_id: str, token_type: TokenType, now: int, ttl: int
    ) -> str:
        claims = {
            "sub": str(profile_id),
            "sid": session_id,
            "typ": token_type.value,
            "iat": now,
            "exp": now + ttl,
            "jti": secrets.token_hex(16),
        }
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM, headers={"kid": self._kid})

    def verify(self, token: str, token_type: TokenType) -> Claims:
        """Decode and check signature, expiry and type; any failure is UNAUTHENTICATED."""
        try:
            kid = jwt.get_unverified_header(token).get("kid", self._kid)
            key = self._verify_keys.get(kid) if isinstance(kid, str) else None
            if key is None:
                raise jwt.InvalidTokenError("unknown signing key")
            payload = jwt.decode(
                token, key, algorithms=[ALGORITHM], options={"require": _REQUIRED_CLAIMS}
            )
            if payload["typ"] != token_type.value:
                raise jwt.InvalidTokenError("wrong token type")
            return Claims(
                profile_id=int(payload["sub"]),
                session_id=str(payload["sid"]),
                token_type=token_type,
                expires_at=int(payload["exp"]),
            )
        except (jwt.InvalidTokenError, ValueError, TypeError) as exc:
            raise AppError(
                ErrorCode.UNAUTHENTICATED, f"{token_type.value} token is invalid or expired"
            ) from exc


def new_session_id() -> str:
    return secrets.token_hex(16)


def new_hmac_secret() -> str:
    """`0x` + 64 lower-case hex: the per-session (or per-API-key) HMAC key."""
    return "0x" + secrets.token_hex(32)


def new_api_key() -> str:
    """Base64 of 32 random bytes (44 characters), the original's key format."""
    return base64.b64encode(secrets.token_bytes(32)).decode()


def token_hash(token: str) -> str:
    """What is stored instead of a refresh token."""
    return hashlib.sha256(token.encode()).hexdigest()
