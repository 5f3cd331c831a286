"""A real local chain for the contract-wallet tests: one anvil node, its JSON-RPC, deployments.

anvil comes from npm `@foundry-rs/anvil` (tests/chain/package.json, installed by `make test`): the
package ships the Linux binary in its platform package, so nothing downloads at run time.
"""

from __future__ import annotations

import http.server
import json
import platform
import subprocess
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from eth_abi.abi import encode
from eth_hash.auto import keccak

from tests.live_server import free_port
from tests.waiting import NotYet, eventually

HERE = Path(__file__).resolve().parent
NODE_MODULES = HERE / "node_modules"
SAFE_ARTIFACTS = (
    NODE_MODULES / "@safe-global" / "safe-contracts" / "build" / "artifacts" / "contracts"
)
_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


def anvil_binary() -> Path | None:
    """The binary the npm package ships for this platform, if `make test` installed it."""
    system = platform.system().lower()
    arch = _ARCH.get(platform.machine().lower())
    binary = NODE_MODULES / "@foundry-rs" / f"anvil-{system}-{arch}" / "bin" / "anvil"
    return binary if binary.is_file() else None


def selector(signature: str) -> bytes:
    return bytes(keccak(signature.encode()))[:4]


def call_data(signature: str, types: Sequence[str], values: Sequence[object]) -> bytes:
    return selector(signature) + encode(list(types), list(values))


class RpcError(Exception):
    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(error.get("message"))
        self.error = error


@dataclass
class Anvil:
    """One running anvil node, its chain id and its first pre-funded (unlocked) account."""

    process: subprocess.Popen[bytes]
    url: str
    chain_id: int
    deployer: str = ""

    @classmethod
    def start(cls, binary: Path, *, chain_id: int = 1) -> Anvil:
        port = free_port()
        command = [str(binary), "--host", "127.0.0.1", "--port", str(port)]
        command += ["--chain-id", str(chain_id), "--accounts", "2", "--silent"]
        process = subprocess.Popen(  # noqa: S603 - the binary npm installed for the tests
            command,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        node = cls(process=process, url=f"http://127.0.0.1:{port}", chain_id=chain_id)

        def answering() -> bool:
            if process.poll() is not None:
                raise RuntimeError(f"anvil exited with status {process.returncode}")
            try:
                node.deployer = node.rpc("eth_accounts")[0]
            except httpx.TransportError:
                return False
            return True

        try:
            eventually(answering, within=30, what="anvil answering")
        except NotYet:
            process.kill()
            raise
        return node

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def rpc(self, method: str, *params: object) -> Any:
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
        answer = httpx.post(self.url, json=body, timeout=30).json()
        if "error" in answer:
            raise RpcError(answer["error"])
        return answer["result"]

    def send(self, to: str | None, data: bytes) -> dict[str, Any]:
        """A transaction from the unlocked deployer, mined (automine); its receipt."""
        tx: dict[str, object] = {
            "from": self.deployer,
            "data": "0x" + data.hex(),
            "gas": hex(15_000_000),
        }
        if to is not None:
            tx["to"] = to
        tx_hash = self.rpc("eth_sendTransaction", tx)
        # Automining answers with the hash and may mine a moment later: no receipt (null) yet.
        receipt = eventually(
            lambda: self.rpc("eth_getTransactionReceipt", tx_hash),
            within=10,
            what=f"transaction {tx_hash} mined",
            every=0.01,
        )
        if receipt["status"] != "0x1":
            raise RuntimeError(f"transaction failed: {receipt}")
        mined: dict[str, Any] = receipt
        return mined

    def deploy(self, creation_code: bytes) -> str:
        address: str = self.send(None, creation_code)["contractAddress"]
        return address

    def call(self, to: str | None, data: bytes) -> bytes:
        tx: dict[str, object] = {"data": "0x" + data.hex()}
        if to is not None:
            tx["to"] = to
        return bytes.fromhex(self.rpc("eth_call", tx, "latest")[2:])

    def code(self, address: str) -> bytes:
        return bytes.fromhex(self.rpc("eth_getCode", address, "latest")[2:])


def safe_artifact(relative: str) -> bytes:
    """Creation bytecode of a Safe contract from the npm package's build artifacts."""
    artifact = json.loads((SAFE_ARTIFACTS / relative).read_text())
    return bytes.fromhex(artifact["bytecode"][2:])


def compile_contracts(*sources: Path) -> dict[str, bytes]:
    """Creation bytecode by contract name, compiled by solc-js with the fixed settings."""
    command = ["node", str(HERE / "compile.mjs"), *map(str, sources)]
    # node is on PATH wherever npm is (make test needs both).
    output = subprocess.run(  # noqa: S603
        command,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return {name: bytes.fromhex(code) for name, code in json.loads(output)["bytecodes"].items()}


class CountingProxy:
    """A loopback HTTP proxy in front of a node that counts the requests the service sends it."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.requests = 0
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                proxy.requests += 1
                answer = httpx.post(
                    proxy.upstream,
                    content=body,
                    headers={"content-type": "application/json"},
                    timeout=30,
                )
                self.send_response(answer.status_code)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            def log_message(self, *_: object) -> None:
                return None

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
