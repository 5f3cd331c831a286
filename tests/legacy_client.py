"""Legacy REST clients for tests, written from the outside: they sign with their own code,
never the service's.

`OfficialClient` builds every request the way the exchange's official Python client
(rabbitx-python-client: `OnboardingGroup.onboarding`, `JWTGroup.update`, `AccountGroup.get`,
`AccountGroup.validate`, `Payload.hash/sign`) does: body `{wallet, signature, isClient: false}`,
headers `RBT-TS` (now + 300) and `X-Request-ID`, the EIP-191 signature over the legacy text with
v rewritten to v % 27, then signed `/jwt`, `/account` and `/account/validate`. It raises on
`success != true`, with the envelope as the message, like the original.
"""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
from collections.abc import Mapping
from typing import Any

import httpx

from models.config import LEGACY_SIGN_IN_TEXT
from tests.signing import Signer

SIGNATURE_LIFETIME = 300


def official_signature(data: Mapping[str, Any], timestamp: int, secret: str) -> str:
    """The official client's `Payload(timestamp, data).sign(secret)`."""
    parts = []
    for key in sorted(data):
        value = data[key]
        if isinstance(value, bool):
            text = str(value).lower()
        elif isinstance(value, list):
            text = str(value).replace("'", '"')
        else:
            text = str(value)
        parts.append(f"{key}={text}")
    message = "".join(parts) + str(timestamp)
    digest = hashlib.sha256(message.encode("utf-8")).digest()
    key = bytes.fromhex(secret[2:] if secret.startswith("0x") else secret)
    return "0x" + hmac.new(key, digest, hashlib.sha256).hexdigest()


class LegacyError(Exception):
    def __init__(self, envelope: dict[str, Any]) -> None:
        super().__init__(envelope["error"])
        self.envelope = envelope


class OfficialClient:
    def __init__(self, http: httpx.Client, signer: Signer | None = None, exchange: str = "rbx"):
        self.http = http
        self.signer = signer or Signer()
        self.exchange = exchange
        self.api_key: str | None = None
        self.api_secret: str | None = None
        self.public_jwt: str | None = None
        self.private_jwt: str | None = None
        self.profile_id: int | None = None
        self._signature = ""
        self._last_timestamp = 0

    @property
    def expiration_timestamp(self) -> int:
        """Now + 300 like the official client, but never the same twice: the service refuses a
        signed `/jwt` it has seen (single use), and a test may renew twice within a second."""
        self._last_timestamp = max(int(time.time()) + SIGNATURE_LIFETIME, self._last_timestamp + 1)
        return self._last_timestamp

    def headers(self, timestamp: int) -> dict[str, str]:
        headers = {"RBT-TS": str(timestamp), "X-Request-ID": uuid.uuid4().hex}
        if self.api_key:
            headers["RBT-API-KEY"] = self.api_key
        if self._signature:
            headers["RBT-SIGNATURE"] = self._signature
        if self.exchange != "rbx":
            headers["EID"] = self.exchange
        return headers

    def _sign_request(self, data: dict[str, Any], timestamp: int) -> None:
        assert self.api_secret, "onboard first"
        self._signature = official_signature(data, timestamp, self.api_secret)

    def _checked(self, response: httpx.Response) -> dict[str, Any]:
        self._signature = ""
        body: dict[str, Any] = response.json()
        if body["success"] is not True:
            raise LegacyError(body)
        return body

    def onboarding(self) -> dict[str, Any]:
        timestamp = self.expiration_timestamp
        signature = self.signer.eip191(timestamp, LEGACY_SIGN_IN_TEXT)
        raw = bytearray(bytes.fromhex(signature[2:]))
        raw[-1] = raw[-1] % 27
        data = {"wallet": self.signer.address, "signature": "0x" + raw.hex(), "isClient": False}
        body = self._checked(
            self.http.post("/onboarding", json=data, headers=self.headers(timestamp))
        )
        item: dict[str, Any] = body["result"][0]
        self.api_key = item["apiSecret"]["Key"]
        self.api_secret = item["apiSecret"]["Secret"]
        self.public_jwt = item["jwt"]
        self.profile_id = item["profile"]["id"]
        return item

    def jwt_update(self, jwt_token: str = "") -> str:
        data = {"refresh_token": jwt_token, "is_client": False, "method": "POST", "path": "/jwt"}
        timestamp = self.expiration_timestamp
        self._sign_request(data, timestamp)
        body = self._checked(self.http.post("/jwt", json=data, headers=self.headers(timestamp)))
        jwt: str = body["result"][0]["jwt"]
        self.private_jwt = jwt
        return jwt

    def account_get(self) -> dict[str, Any]:
        timestamp = self.expiration_timestamp
        self._sign_request({"method": "GET", "path": "/account"}, timestamp)
        body = self._checked(self.http.get("/account", headers=self.headers(timestamp)))
        account: dict[str, Any] = body["result"][0]
        return account

    def account_validate(self, jwt: str) -> bool:
        timestamp = self.expiration_timestamp
        self._sign_request({"method": "GET", "path": "/account/validate"}, timestamp)
        body = self._checked(
            self.http.get("/account/validate", params={"jwt": jwt}, headers=self.headers(timestamp))
        )
        return bool(body["success"])


def signed_headers(
    data: Mapping[str, Any], secret: str, *, timestamp: int | None = None, **extra: str
) -> dict[str, str]:
    """RBT-TS and RBT-SIGNATURE for `data` (which must hold method and path), plus `extra`."""
    timestamp = timestamp or int(time.time()) + SIGNATURE_LIFETIME
    return {
        "RBT-TS": str(timestamp),
        "RBT-SIGNATURE": official_signature(data, timestamp, secret),
        **extra,
    }
