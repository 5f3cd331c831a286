"""How real clients sign the sign-in message, with eth-account (the reference implementation)."""

from __future__ import annotations

import time
from typing import Any

from eth_account import Account
from eth_account.messages import encode_defunct, encode_typed_data
from eth_account.signers.local import LocalAccount

from models.config import CURRENT_SIGN_IN_TEXT, DEFAULT_EXCHANGES

# A published test key (eth-account docs); never holds funds.
FIXED_KEY = "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
FIXED_ADDRESS = "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23"


def typed_data(text: str, timestamp: int, exchange_id: str = "rbx") -> dict[str, Any]:
    exchange = DEFAULT_EXCHANGES[exchange_id]
    return {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
            ],
            "signin": [
                {"name": "message", "type": "string"},
                {"name": "timestamp", "type": "uint256"},
            ],
        },
        "primaryType": "signin",
        "domain": {
            "name": exchange.eip712_name,
            "version": exchange.eip712_version,
            "chainId": exchange.chain_id,
        },
        "message": {"message": text, "timestamp": timestamp},
    }


class Signer:
    def __init__(self, key: str | None = None) -> None:
        self.account: LocalAccount = Account.from_key(key) if key else Account.create()

    @property
    def address(self) -> str:
        return str(self.account.address)

    def eip191(
        self, timestamp: int, text: str = CURRENT_SIGN_IN_TEXT, *, v: int | None = None
    ) -> str:
        signed = self.account.sign_message(encode_defunct(text=f"{text}\n{timestamp}"))
        return with_v("0x" + signed.signature.hex(), v)

    def eip712(
        self,
        timestamp: int,
        text: str = CURRENT_SIGN_IN_TEXT,
        exchange_id: str = "rbx",
        *,
        v: int | None = None,
    ) -> str:
        signed = self.account.sign_message(
            encode_typed_data(full_message=typed_data(text, timestamp, exchange_id))
        )
        return with_v("0x" + signed.signature.hex(), v)


def with_v(signature: str, v: int | None) -> str:
    """Rewrite the last byte: official clients send v % 27 (0/1); eth-account signs 27/28."""
    if v is None:
        return signature
    current = int(signature[-2:], 16)
    parity = current - 27 if current >= 27 else current
    return signature[:-2] + f"{parity + v:02x}"


def fresh_timestamp(ahead: int = 300) -> int:
    return int(time.time()) + ahead
