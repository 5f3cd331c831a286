"""The chain port over HTTP JSON-RPC (httpx): every query of a proof in one batch request.

Every batch also asks `eth_chainId`: a node of another chain is refused (CHAIN_UNAVAILABLE).
Timeouts: `connect_timeout` to open a connection, and `timeout` for the whole round trip
(connect, send, node work, the full answer), after which the proof is CHAIN_UNAVAILABLE. Each
`eth_call` carries an explicit gas limit, so a wallet contract that loops stops there and is
refused as out of gas instead of tying up the node. Answers larger than `MAX_ANSWER_BYTES` or not
shaped as JSON-RPC are the node's fault (CHAIN_UNAVAILABLE), never the client's. The URL is never
logged or echoed: hosted RPC URLs carry API keys.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Callable, Sequence
from typing import Any

import httpx

from .chain import Answer, Call, ChainUnavailable, Failed, Failure, GetCode, Query, Returned

# httpx logs every request's URL at INFO (httpcore its connections at DEBUG): never the RPC URL.
for _name in ("httpx", "httpcore"):
    logging.getLogger(_name).setLevel(logging.WARNING)

MAX_ANSWER_BYTES = 4 * 1024 * 1024
"""A batch answer is a few return values and at most one wallet's code (≤ 24 KiB on mainnet)."""
_OUT_OF_GAS = re.compile(r"(?i:out\s*of\s*gas)|OOG")
_HALTED = re.compile(r"(?i)EVM error|invalid opcode|invalid jump|stack (?:underflow|overflow)")
_HEX = re.compile(r"0x(?:[0-9a-fA-F]{2})*")

CallObserver = Callable[[int, str, float], None]
"""(chain id, outcome "ok" or "unavailable", seconds) of each round trip: the latency metric."""


def _hex(value: bytes) -> str:
    return "0x" + value.hex()


def _printable(text: str, limit: int = 200) -> str:
    """A node's error text, short and on one line, for the client's error message."""
    flat = "".join(char if char.isprintable() else " " for char in text)
    return flat[:limit] + ("…" if len(flat) > limit else "")


class JsonRpcChain:
    """One chain's node at an HTTP(S) JSON-RPC endpoint."""

    def __init__(
        self,
        chain_id: int,
        url: str,
        *,
        connect_timeout: float,
        timeout: float,
        gas: int,
        on_call: CallObserver | None = None,
    ) -> None:
        self.chain_id = chain_id
        self._url = url
        self._timeout = timeout
        self._gas = hex(gas)
        self._on_call = on_call
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
            headers={"content-type": "application/json", "accept": "application/json"},
            follow_redirects=False,
        )

    async def close(self) -> None:
        await self._client.aclose()

    def _request(self, index: int, query: Query) -> dict[str, object]:
        params: list[object]
        if isinstance(query, GetCode):
            method, params = "eth_getCode", [_hex(query.address), "latest"]
        else:
            call: dict[str, str] = {"data": _hex(query.data), "gas": self._gas}
            if query.to is not None:
                call["to"] = _hex(query.to)
            method, params = "eth_call", [call, "latest"]
        return {"jsonrpc": "2.0", "id": index, "method": method, "params": params}

    async def ask(self, queries: Sequence[Query]) -> list[Answer]:
        # The batch also asks the node which chain it is: a URL of another chain (a testnet, an
        # L2) would judge the signature against state someone else may control.
        requests = [self._request(i, q) for i, q in enumerate(queries)]
        requests.append(
            {"jsonrpc": "2.0", "id": len(queries), "method": "eth_chainId", "params": []}
        )
        body = json.dumps(requests).encode()
        started = time.perf_counter()
        outcome = "unavailable"
        try:
            async with asyncio.timeout(self._timeout):
                raw = await self._post(body)
            answers = self._parse(raw, queries)
            outcome = "ok"
            return answers
        except (TimeoutError, httpx.TimeoutException):
            raise ChainUnavailable(
                self.chain_id, f"did not answer within {self._timeout:g} s"
            ) from None
        except httpx.HTTPError as error:
            raise ChainUnavailable(
                self.chain_id, f"cannot be reached ({type(error).__name__})"
            ) from None
        finally:
            if self._on_call is not None:
                self._on_call(self.chain_id, outcome, time.perf_counter() - started)

    async def _post(self, body: bytes) -> bytes:
        async with self._client.stream("POST", self._url, content=body) as response:
            if response.status_code != 200:
                raise ChainUnavailable(self.chain_id, f"answered HTTP {response.status_code}")
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > MAX_ANSWER_BYTES:
                    raise ChainUnavailable(self.chain_id, "answered more than 4 MiB")
                chunks.append(chunk)
        return b"".join(chunks)

    def _parse(self, raw: bytes, queries: Sequence[Query]) -> list[Answer]:
        garbage = ChainUnavailable(self.chain_id, "answered something that is not JSON-RPC")
        try:
            parsed: Any = json.loads(raw)
        except (ValueError, RecursionError):
            raise garbage from None
        if isinstance(parsed, dict) and isinstance(parsed.get("error"), dict):
            message = _printable(str(parsed["error"].get("message", "")))
            raise ChainUnavailable(self.chain_id, f"refused the request: {message}")
        if not isinstance(parsed, list) or len(parsed) != len(queries) + 1:
            raise garbage
        by_id: dict[int, dict[str, Any]] = {}
        for item in parsed:
            key = item.get("id") if isinstance(item, dict) else None
            if not isinstance(key, int) or isinstance(key, bool) or key in by_id:
                raise garbage
            by_id[key] = item
        if set(by_id) != set(range(len(queries) + 1)):
            raise garbage
        chain_id = by_id[len(queries)].get("result")
        if not (isinstance(chain_id, str) and re.fullmatch(r"0x[0-9a-fA-F]{1,64}", chain_id)):
            raise garbage
        if int(chain_id, 16) != self.chain_id:
            raise ChainUnavailable(
                self.chain_id,
                f"serves chain {int(chain_id, 16)} instead (check ONBOARDING_CHAIN_RPC_URLS)",
            )
        return [self._answer(by_id[i], query) for i, query in enumerate(queries)]

    def _answer(self, item: dict[str, Any], query: Query) -> Answer:
        result, error = item.get("result"), item.get("error")
        if isinstance(result, str) and _HEX.fullmatch(result):
            return Returned(bytes.fromhex(result[2:]))
        if not isinstance(error, dict) or "result" in item:
            raise ChainUnavailable(self.chain_id, "answered something that is not JSON-RPC")
        message = str(error.get("message", ""))
        data = error.get("data")
        revert_data = (
            bytes.fromhex(data[2:]) if isinstance(data, str) and _HEX.fullmatch(data) else b""
        )
        if isinstance(query, Call):
            if _OUT_OF_GAS.search(message):
                return Failed(Failure.OUT_OF_GAS, _printable(message))
            if error.get("code") == 3 or "revert" in message.lower() or _HALTED.search(message):
                return Failed(Failure.REVERTED, _printable(message), revert_data)
        raise ChainUnavailable(
            self.chain_id, f"answered error {error.get('code')!r}: {_printable(message)}"
        )
