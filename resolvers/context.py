"""The typed per-request context every resolver receives as `info.context`."""

from __future__ import annotations

from dataclasses import dataclass, field

from models.db import Database
from models.onboarding import Credentials

from .loaders import Loaders


@dataclass
class Context:
    db: Database
    credentials: Credentials
    request_id: str
    loaders: Loaders = field(init=False)

    def __post_init__(self) -> None:
        self.loaders = Loaders(self.db)
