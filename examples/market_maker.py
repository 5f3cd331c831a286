"""A market maker's session with onboarding-api over the legacy REST routes, in plain httpx.

The same requests the exchange's official Python client makes, so a bot written against the
original exchange works unchanged:

1. ``GET /srvtimestamp``: the server's clock, so ``RBT-TS`` is right even on a skewed machine.
2. ``POST /onboarding`` with ``{"wallet", "signature", "isClient": false}`` and header ``RBT-TS``
   (the signature's expiry, also the number inside the signed text): a long-lived API key and
   secret, a JWT and the profile.
3. ``POST /jwt``, HMAC-signed with the API secret: a fresh JWT.
4. ``GET /account``, HMAC-signed: the profile.

Run it against a server (``make run`` in another terminal)::

    .venv/bin/python examples/market_maker.py --url http://127.0.0.1:8000

The wallet key comes from ``MM_PRIVATE_KEY`` (0x + 64 hex); without it a throwaway wallet is made.
Each step prints one ``name: value`` line; the API secret itself is never printed.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import os
import sys
import time
import uuid
from collections.abc import Mapping
from typing import Any

import httpx
from eth_account import Account
from eth_account.messages import encode_defunct

# What the exchange's users sign (rbx); the signed text is this, a newline, and RBT-TS.
SIGN_IN_TEXT = (
    "Welcome to RabbitX!\n\n"
    "Click to sign in and on-board your wallet for trading perpetuals.\n\n"
    "This request will not trigger a blockchain transaction or cost any gas fees. "
    "This signature only proves you are the true owner of this wallet.\n\n"
    "By signing this message you agree to the terms and conditions of the exchange."
)
SIGNATURE_LIFETIME = 300  # seconds; the server accepts RBT-TS up to 600 s ahead of its clock


class ExchangeError(Exception):
    """A response with ``success != true``; the message is the envelope's ``error`` text."""


def hmac_signature(payload: Mapping[str, Any], timestamp: int, secret: str) -> str:
    """``RBT-SIGNATURE``: HMAC-SHA256 (key: the secret's bytes) of SHA-256 of the sorted
    ``key=value`` pairs of the payload followed by the timestamp."""
    parts = []
    for key in sorted(payload):
        value = payload[key]
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, list):
            text = str(value).replace("'", '"')
        else:
            text = str(value)
        parts.append(f"{key}={text}")
    digest = hashlib.sha256(("".join(parts) + str(timestamp)).encode()).digest()
    return "0x" + hmac.new(bytes.fromhex(secret.removeprefix("0x")), digest, "sha256").hexdigest()


class MarketMaker:
    def __init__(self, http: httpx.Client, private_key: str | None) -> None:
        self.http = http
        self.account = Account.from_key(private_key) if private_key else Account.create()
        self.api_key = ""
        self.api_secret = ""
        self.skew = 0

    def expiry(self) -> int:
        """RBT-TS for a request made now: server time plus the signature lifetime."""
        return int(time.time()) + self.skew + SIGNATURE_LIFETIME

    def envelope(self, response: httpx.Response) -> dict[str, Any]:
        body: dict[str, Any] = response.json()
        if body.get("success") is not True:
            raise ExchangeError(f"{response.request.url.path}: {body.get('error')}")
        result: dict[str, Any] = body["result"][0] if body["result"] else {}
        return result

    def sync_clock(self) -> int:
        body = self.http.get("/srvtimestamp").json()
        server = int(body["result"][0])
        self.skew = server - int(time.time())
        return server

    def onboard(self) -> dict[str, Any]:
        timestamp = self.expiry()
        signed = self.account.sign_message(encode_defunct(text=f"{SIGN_IN_TEXT}\n{timestamp}"))
        raw = bytearray(signed.signature)
        raw[-1] %= 27  # the official client sends v as 0/1
        body = {"wallet": self.account.address, "signature": "0x" + raw.hex(), "isClient": False}
        item = self.envelope(
            self.http.post("/onboarding", json=body, headers=self.headers(timestamp))
        )
        self.api_key = item["apiSecret"]["Key"]
        self.api_secret = item["apiSecret"]["Secret"]
        return item

    def headers(self, timestamp: int, payload: Mapping[str, Any] | None = None) -> dict[str, str]:
        headers = {"RBT-TS": str(timestamp), "X-Request-ID": uuid.uuid4().hex}
        if payload is not None:
            headers["RBT-API-KEY"] = self.api_key
            headers["RBT-SIGNATURE"] = hmac_signature(payload, timestamp, self.api_secret)
        return headers

    def renew_jwt(self, jwt: str) -> str:
        # Like the official client: method and path are signed and sent in the body too.
        body = {"refresh_token": jwt, "is_client": False, "method": "POST", "path": "/jwt"}
        timestamp = self.expiry()
        item = self.envelope(
            self.http.post("/jwt", json=body, headers=self.headers(timestamp, body))
        )
        renewed: str = item["jwt"]
        return renewed

    def account_profile(self) -> dict[str, Any]:
        timestamp = self.expiry()
        payload = {"method": "GET", "path": "/account"}
        return self.envelope(self.http.get("/account", headers=self.headers(timestamp, payload)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="the service's base URL")
    args = parser.parse_args(argv)

    with httpx.Client(base_url=args.url, timeout=10) as http:
        bot = MarketMaker(http, os.environ.get("MM_PRIVATE_KEY"))
        try:
            print(f"server time: {bot.sync_clock()}")
            item = bot.onboard()
            print(f"wallet: {bot.account.address.lower()}")
            print(f"profile: {item['profile']['id']}")
            print(f"api key: {bot.api_key} (expires {item['apiSecret']['Expiration']})")
            renewed = bot.renew_jwt(item["jwt"])
            print(f"jwt renewed: {renewed != item['jwt']}")
            account = bot.account_profile()
            print(f"account: profile {account['id']}, balance {account['balance']}")
        except (ExchangeError, httpx.HTTPError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
