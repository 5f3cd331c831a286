from __future__ import annotations

import time

import strawberry

from .scalars import Int64
from .types import Info


@strawberry.type(description="The EIP-712 domain an exchange's typed-data sign-in uses.")
class Eip712Domain:
    name: str
    version: str
    chain_id: int


@strawberry.type(description="An exchange this service onboards to, and what its users sign.")
class Exchange:
    id: str
    sign_in_texts: list[str] = strawberry.field(
        description=(
            'EIP-191: sign `text + "\\n" + timestamp`. EIP-712: sign '
            "`signin{message: text, timestamp}` in `eip712Domain`. The first text is current."
        )
    )
    eip712_domain: Eip712Domain
    contract_wallets: bool = strawberry.field(
        description=(
            "Smart-contract wallets (ERC-1271; ERC-6492 when not deployed yet) may onboard: the "
            "service has a node of this exchange's chain. Otherwise only keys (65-byte ECDSA)."
        )
    )


@strawberry.type
class ExchangeQuery:
    @strawberry.field(description="Server time in unix seconds, to correct client clock skew.")
    def server_time(self) -> Int64:
        return Int64(int(time.time()))

    @strawberry.field(description="Exchanges this service onboards to.")
    def exchanges(self, info: Info) -> list[Exchange]:
        return [
            Exchange(
                id=exchange_id,
                sign_in_texts=list(exchange.sign_in_texts),
                eip712_domain=Eip712Domain(
                    name=exchange.eip712_name,
                    version=exchange.eip712_version,
                    chain_id=exchange.chain_id,
                ),
                contract_wallets=info.context.chains.supports(exchange.chain_id),
            )
            for exchange_id, exchange in sorted(info.context.credentials.config.exchanges.items())
        ]
