"""The typed per-request context every resolver receives as `info.context`."""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import TypeVar

from models.chain import NO_CHAINS, Chains
from models.client_ip import parse_address
from models.db import Database
from models.errors import AppError, ErrorCode
from models.sessions import Credentials, authenticate
from models.tables import AuthSession

from .loaders import Loaders

T = TypeVar("T")


@dataclass
class Context:
    db: Database
    credentials: Credentials
    request_id: str
    access_token: str | None = None
    """From `Authorization: Bearer`, the `jwt` cookie or `RBT-JWT` (see `api.graphql`)."""
    admin: bool = False
    """The caller presented the admin token (`ONBOARDING_ADMIN_TOKEN`)."""
    admin_enabled: bool = False
    """An admin token is configured at all; without one the admin API is off."""
    client_ip: str | None = None
    """The caller's address (see `api.client_ip`); rate limits key on it."""
    chains: Chains = NO_CHAINS
    """The chain nodes contract-wallet proofs ask (see `models.chain`)."""
    loaders: Loaders = field(init=False)
    _session: AuthSession | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.loaders = Loaders(self.db)

    async def session(self) -> AuthSession:
        """The caller's live session, or UNAUTHENTICATED.

        Checked once and then remembered, until a mutation ends sessions (`ending_sessions`):
        mutations run one after another, so the next field checks again and finds out.
        """
        if self._session is None:
            address = parse_address(self.client_ip) if self.client_ip else None
            self._session = await authenticate(
                self.db, self.credentials, self.access_token, address
            )
        return self._session

    async def ending_sessions(self, revocation: Awaitable[T]) -> T:
        """Await a write that may end sessions (the caller's among them), then forget what was
        checked: later fields of this document authenticate again, so `mutation { logout
        createApiKey(…) }` cannot use the session it has just ended. Forgotten even when the
        write raises, since it may have revoked before refusing (a reused refresh token)."""
        try:
            return await revocation
        finally:
            self._session = None
            self.forget_loaded()

    async def profile_id(self) -> int:
        return (await self.session()).profile_id

    def require_admin(self) -> None:
        """Admin operations need the admin token; anyone else gets FORBIDDEN, never a hint of it."""
        if self.admin:
            return
        if not self.admin_enabled:
            raise AppError(
                ErrorCode.FORBIDDEN,
                "the admin API is disabled on this server (ONBOARDING_ADMIN_TOKEN is not set)",
            )
        raise AppError(
            ErrorCode.FORBIDDEN,
            "this operation needs the admin token: `Authorization: Bearer <admin token>`",
        )

    def forget_loaded(self) -> None:
        """After a write, later fields of this request must see the new rows, not cached ones."""
        self.loaders = Loaders(self.db)
