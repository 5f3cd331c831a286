"""The typed per-request context every resolver receives as `info.context`."""

from __future__ import annotations

from dataclasses import dataclass, field

from models.db import Database
from models.sessions import Credentials, authenticate
from models.tables import AuthSession

from .loaders import Loaders


@dataclass
class Context:
    db: Database
    credentials: Credentials
    request_id: str
    access_token: str | None = None
    """From `Authorization: Bearer`, the `jwt` cookie or `RBT-JWT` (see `api.graphql`)."""
    client_ip: str | None = None
    """The caller's address (see `api.client_ip`); rate limits key on it."""
    loaders: Loaders = field(init=False)
    _session: AuthSession | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.loaders = Loaders(self.db)

    async def session(self) -> AuthSession:
        """The caller's live session (checked once per request), or UNAUTHENTICATED."""
        if self._session is None:
            self._session = await authenticate(self.db, self.credentials, self.access_token)
        return self._session

    async def profile_id(self) -> int:
        return (await self.session()).profile_id
