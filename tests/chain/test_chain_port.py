"""The chain port's failure modes against real loopback servers that misbehave (no anvil needed),
the service without any node configured, and the signature's input rules."""

from __future__ import annotations

import contextlib
import http.server
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from api.services import Services
from api.settings import Settings
from tests.api.test_onboard import row_counts
from tests.conftest import graphql
from tests.live_server import free_port
from tests.signing import Signer, fresh_timestamp

from .conftest import chain_settings, serving
from .test_contract_wallets import EXCHANGES, ROUTES, attempt, refused

CONTRACT_SIGNATURE = b"\x01" * 96  # not ECDSA: only a chain node could judge it
Reply = Callable[[bytes], tuple[int, bytes]]


def _json(status: int, text: str) -> Reply:
    return lambda _: (status, text.encode())


def _silent(_: bytes) -> tuple[int, bytes]:
    time.sleep(3)
    return 200, b"[]"


def _per_request(answer: Callable[[dict[str, Any]], str]) -> Reply:
    """A batch answer built request by request (each answer a JSON object body without id)."""

    def reply(body: bytes) -> tuple[int, bytes]:
        items = [f'{{"jsonrpc":"2.0","id":{r["id"]},{answer(r)}}}' for r in json.loads(body)]
        return 200, f"[{','.join(items)}]".encode()

    return reply


def _chain(chain_id: int, otherwise: str) -> Callable[[dict[str, Any]], str]:
    return lambda r: f'"result":"{hex(chain_id)}"' if r["method"] == "eth_chainId" else otherwise


def _wrong_ids(body: bytes) -> tuple[int, bytes]:
    items = [f'{{"jsonrpc":"2.0","id":{r["id"] + 100},"result":"0x"}}' for r in json.loads(body)]
    return 200, f"[{','.join(items)}]".encode()


HOSTILE: dict[str, tuple[Reply, str]] = {
    "slow": (_silent, "did not answer within"),
    "http-502": (_json(502, "bad gateway"), "HTTP 502"),
    "not-json": (_json(200, "<html>hello</html>"), "not JSON-RPC"),
    "wrong-ids": (_wrong_ids, "not JSON-RPC"),
    "batch-refused": (
        _json(200, '{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"no batches"}}'),
        "no batches",
    ),
    "node-error": (
        _per_request(_chain(1, '"error":{"code":-32000,"message":"header not found"}')),
        "header not found",
    ),
    "other-chain": (_per_request(_chain(5, '"result":"0x"')), "serves chain 5 instead"),
    "bad-chain-id": (_per_request(lambda _: '"result":"one"'), "not JSON-RPC"),
    "huge": (lambda _: (200, b"[" + b" " * (5 * 1024 * 1024) + b"]"), "more than 4 MiB"),
}


class HostileNode:
    """A loopback HTTP server answering every JSON-RPC request with `reply`."""

    def __init__(self, reply: Reply) -> None:
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                status, body = reply(self.rfile.read(int(self.headers["content-length"])))
                self.send_response(status)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                with contextlib.suppress(OSError):  # the service may have given up first
                    self.wfile.write(body)

            def log_message(self, *_: object) -> None:
                return None

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(params=sorted(HOSTILE))
def hostile(request: pytest.FixtureRequest) -> Iterator[tuple[HostileNode, str]]:
    reply, says = HOSTILE[request.param]
    node = HostileNode(reply)
    try:
        yield node, says
    finally:
        node.close()


@pytest.mark.slow
@pytest.mark.parametrize("route", ROUTES)
def test_a_node_that_misbehaves_is_chain_unavailable_and_nothing_is_written(
    database_url: str, hostile: tuple[HostileNode, str], route: str
) -> None:
    node, says = hostile
    settings = chain_settings(database_url, node.url, chain_timeout=1.0)
    with serving(settings) as client:
        services: Services = client.app.state.services  # type: ignore[attr-defined]
        ts = fresh_timestamp()
        outcome = attempt(client, route, Signer().address, CONTRACT_SIGNATURE, ts)
        refused(outcome, "CHAIN_UNAVAILABLE", says, "chain 1")
        assert outcome.status == (503 if route == "legacy" else 200)
        assert outcome.retry_after == "5"
        assert set(row_counts(client, services).values()) == {0}


@pytest.mark.slow
def test_a_node_nobody_listens_on_is_chain_unavailable(database_url: str) -> None:
    with socket.socket() as closed:  # a port that was free a moment ago: connection refused
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    with serving(chain_settings(database_url, f"http://127.0.0.1:{port}")) as client:
        outcome = attempt(
            client, "graphql", Signer().address, CONTRACT_SIGNATURE, fresh_timestamp()
        )
        refused(outcome, "CHAIN_UNAVAILABLE", "cannot be reached")


@pytest.mark.parametrize("route", ROUTES)
def test_without_a_node_contract_wallets_are_unsupported_and_keys_unchanged(
    client: TestClient, services: Services, route: str
) -> None:
    ts = fresh_timestamp()
    outcome = attempt(client, route, Signer().address, CONTRACT_SIGNATURE, ts)
    refused(outcome, "CONTRACT_WALLET_UNSUPPORTED", "exchange 'rbx'", "chain 1")
    # A 65-byte signature by the wrong key keeps today's answer, naming who did sign.
    mismatch = attempt(client, route, Signer().address, Signer().eip191(ts), ts)
    refused(mismatch, "SIGNATURE_MISMATCH", "was made by")
    assert set(row_counts(client, services).values()) == {0}


def test_without_a_node_no_exchange_accepts_contract_wallets(client: TestClient) -> None:
    exchanges = graphql(client, EXCHANGES)["data"]["exchanges"]
    assert [e["contractWallets"] for e in exchanges] == [False, False]


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize(
    ("signature", "code"),
    [
        ("0x" + "ab" * 4096, "CONTRACT_WALLET_UNSUPPORTED"),  # the cap itself is accepted
        ("0x" + "ab" * 4097, "BAD_USER_INPUT"),  # one byte over
        ("0x" + "ab" * 100 + "a", "BAD_USER_INPUT"),  # half a byte
        ("0x" + "ab" * 64, "BAD_USER_INPUT"),  # shorter than any signature
        ("0x" + "zz" * 100, "BAD_USER_INPUT"),
    ],
)
def test_the_signature_may_be_longer_than_65_bytes_up_to_the_cap(
    client: TestClient, route: str, signature: str, code: str
) -> None:
    outcome = attempt(client, route, Signer().address, signature, fresh_timestamp())
    refused(outcome, code)
    if code == "BAD_USER_INPUT":
        assert "8192" in outcome.message


def test_chain_settings_refuse_what_is_not_an_http_url() -> None:
    with pytest.raises(ValueError, match="http"):
        Settings(chain_rpc_urls={1: "ws://127.0.0.1:8545"})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="positive"):
        Settings(chain_rpc_urls={0: "http://127.0.0.1:8545"})  # type: ignore[dict-item]


def test_the_rpc_url_is_a_secret_in_settings() -> None:
    settings = Settings(chain_rpc_urls={1: f"https://node.invalid/v3/key{free_port()}"})  # type: ignore[dict-item]
    assert "node.invalid" not in repr(settings)
