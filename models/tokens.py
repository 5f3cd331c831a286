"""JWTs (HS256, algorithm pinned on decode) and the random credentials that go with them."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import jwt
from jwt.algorithms import HMACAlgorithm

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
    token_id: str
    """The `jti`: a refresh token's session row stores its hash (`token_hash`)."""


def key_id(secret: str) -> str:
    """A stable, non-secret name for a signing key (its hash prefix), sent as the JWT `kid`."""
    return hashlib.sha256(secret.encode()).hexdigest()[:16]


class _KeyCheckedOnce(HMACAlgorithm):
    """pyjwt's HS256 with its checks of the signing key (`prepare_key`: not empty, not a PEM,
    SSH, DER or JWK key; `check_key_length`) run once, when the signer is built, instead of on
    every token (they were most of an encode's cost). Any other key is checked as pyjwt does."""

    def __init__(self, secret: str) -> None:
        super().__init__(HMACAlgorithm.SHA256)
        self.key = super().prepare_key(secret)
        self._short = super().check_key_length(self.key)

    def prepare_key(self, key: str | bytes) -> bytes:
        return self.key if key is self.key else super().prepare_key(key)

    def check_key_length(self, key: bytes) -> str | None:
        return self._short if key is self.key else super().check_key_length(key)


class TokenSigner:
    """Signs with the current key; verifies with it and with any previous keys (rotation).

    Signing goes through pyjwt's own JWS encoder (`PyJWS`) with the HS256 algorithm object
    registered once for the current key; the payload is encoded as `jwt.encode` encodes it, so
    the tokens are byte for byte those of `jwt.encode` (tests/models/test_tokens.py)."""

    def __init__(self, secret: str, previous: tuple[str, ...] = ()) -> None:
        self._kid = key_id(secret)
        self._headers = {"kid": self._kid}
        self._verify_keys = {key_id(key): key for key in (secret, *previous)}
        algorithm = _KeyCheckedOnce(secret)
        self._jws = jwt.PyJWS(algorithms=[ALGORITHM])
        self._jws.unregister_algorithm(ALGORITHM)
        self._jws.register_algorithm(ALGORITHM, algorithm)
        self._key = algorithm.key

    def issue(
        self,
        *,
        profile_id: int,
        session_id: str,
        token_type: TokenType,
        now: int,
        ttl: int,
        token_id: str | None = None,
    ) -> str:
        """A signed token; `token_id` (its `jti`) is drawn when not given."""
        claims = {
            "sub": str(profile_id),
            "sid": session_id,
            "typ": token_type.value,
            "iat": now,
            "exp": now + ttl,
            "jti": token_id or new_token_id(),
        }
        return self._jws.encode(_payload(claims), self._key, ALGORITHM, self._headers)

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
                token_id=str(payload["jti"]),
            )
        except (jwt.InvalidTokenError, ValueError, TypeError) as exc:
            raise AppError(
                ErrorCode.UNAUTHENTICATED, f"{token_type.value} token is invalid or expired"
            ) from exc


def _payload(claims: dict[str, Any]) -> bytes:
    """The claims as `jwt.encode` serialises them (`PyJWT._encode_payload`)."""
    return json.dumps(claims, separators=(",", ":")).encode("utf-8")


def new_session_id() -> str:
    return secrets.token_hex(16)


def new_token_id() -> str:
    """A token's `jti`: 128 random bits, in hex."""
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
