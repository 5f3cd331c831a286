"""What one worker process holds for its lifetime: settings, the database, the credential keys."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import HTTPConnection

from models.db import Database
from models.sessions import Credentials

from .metrics import DB_STATEMENTS
from .settings import Settings


@dataclass(frozen=True, slots=True)
class Services:
    settings: Settings
    db: Database
    credentials: Credentials

    @classmethod
    def start(cls, settings: Settings) -> Services:
        return cls(
            settings=settings,
            db=Database(
                settings.database_url,
                pool_size=settings.db_pool_size,
                on_statement=DB_STATEMENTS.inc,
                connect_timeout=settings.db_connect_timeout,
                statement_timeout=settings.db_statement_timeout,
            ),
            credentials=Credentials.from_config(
                settings, settings.previous_jwt_secret_values, settings.previous_secrets_key_values
            ),
        )


def services_of(connection: HTTPConnection) -> Services:
    services: Services = connection.app.state.services
    return services
