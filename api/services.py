"""What one worker process holds for its lifetime: settings, the database, the credential keys,
the chain nodes."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import HTTPConnection

from models.chain import Chains
from models.chain_rpc import JsonRpcChain
from models.db import Database
from models.sessions import Credentials

from .metrics import DB_STATEMENTS, record_chain_call, record_proof
from .settings import Settings


@dataclass(frozen=True, slots=True)
class Services:
    settings: Settings
    db: Database
    credentials: Credentials
    chains: Chains

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
            chains=chains_from_settings(settings),
        )

    async def close(self) -> None:
        await self.chains.close()
        await self.db.dispose()


def chains_from_settings(settings: Settings) -> Chains:
    """One JSON-RPC client per configured chain id, reporting to the metrics."""
    return Chains(
        by_id={
            chain_id: JsonRpcChain(
                chain_id,
                url.get_secret_value(),
                connect_timeout=settings.chain_connect_timeout,
                timeout=settings.chain_timeout,
                gas=settings.chain_call_gas,
                on_call=record_chain_call,
            )
            for chain_id, url in settings.chain_rpc_urls.items()
        },
        on_onboarded=record_proof,
    )


def services_of(connection: HTTPConnection) -> Services:
    services: Services = connection.app.state.services
    return services
