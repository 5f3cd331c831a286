"""Onboarding a Safe owner (ERC-1271 against a local anvil) beside a key holder (ECDSA), one run.

    python -m bench.contract_wallets [--seconds 10] [--concurrency 8] [--wallets 32]

Method (docs/contract-wallets.md): one anvil node (chain id 1, from tests/chain, installed by
`make test`) with the Safe 1.4.1 contracts and `--wallets` deployed 1-of-1 Safes; one
`onboarding-api serve --workers 1` on SQLite in prod mode with ONBOARDING_CHAIN_RPC_URLS pointing
at the node and the rate limits off. Two targets differ only in the proof: `--wallets` key
holders (ECDSA, EIP-191) and `--wallets` Safe owners (ERC-1271 over the same digest); a warm-up
creates every profile, so each measured request is one proof plus one client onboarding of an
existing profile. Every request is signed before the clock starts and sent once (the ledger
refuses replays). A closed loop of `--concurrency` clients (httpx, one process) sends the GraphQL
`onboard` mutation for `--seconds` per target: ECDSA, then the Safe, then ECDSA again (the two
ECDSA figures bound the drift of a loaded machine). Reported: throughput, p50 and p99 latency,
the Safe/ECDSA ratios, and the mean node round trip from the service's own
`onboarding_chain_call_duration_seconds`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
from eth_account.messages import encode_defunct

from models.config import CURRENT_SIGN_IN_TEXT
from models.wallet import eip191_digest
from tests.chain.node import Anvil, anvil_binary
from tests.chain.safes import Safe, SafeDeployment, owners

from .run import RESULTS, server

ONBOARD = """mutation Onboard($input: OnboardInput!) {
  onboard(input: $input) { jwt refreshToken randomSecret profile { id wallet } }
}"""
Body = dict[str, Any]


def request_body(wallet: str, signature: str, timestamp: int) -> Body:
    return {
        "query": ONBOARD,
        "variables": {
            "input": {
                "wallet": wallet,
                "signature": signature,
                "timestamp": timestamp,
                "isClient": True,
            }
        },
    }


class KeyHolder:
    """A wallet that signs with its own key (EIP-191), the ECDSA target."""

    def __init__(self, seed: str) -> None:
        (self.account,) = owners(1, seed)
        self.address = str(self.account.address)

    def sign(self, timestamp: int) -> str:
        message = encode_defunct(text=f"{CURRENT_SIGN_IN_TEXT}\n{timestamp}")
        return "0x" + bytes(self.account.sign_message(message).signature).hex()


class SafeOwner:
    """A 1-of-1 Safe whose owner signs the Safe message hash of the same digest (ERC-1271)."""

    def __init__(self, safe: Safe) -> None:
        self.safe = safe
        self.address = safe.address

    def sign(self, timestamp: int) -> str:
        digest = eip191_digest(f"{CURRENT_SIGN_IN_TEXT}\n{timestamp}")
        return "0x" + self.safe.sign(digest).hex()


def bodies(wallets: Sequence[KeyHolder | SafeOwner], count: int, last_timestamp: int) -> list[Body]:
    """Each (wallet, timestamp) pair once, timestamps counting down from `last_timestamp`."""
    chosen = []
    for index in range(count):
        wallet = wallets[index % len(wallets)]
        timestamp = last_timestamp - index // len(wallets)
        chosen.append(request_body(wallet.address, wallet.sign(timestamp), timestamp))
    return chosen


async def load(
    base: str, bodies: list[Body], seconds: float, concurrency: int, *, exhaust: bool = False
) -> dict[str, Any]:
    """A closed loop of `concurrency` clients for `seconds` (or, with `exhaust`, until every body
    is sent); latencies of the answered requests."""
    queue = iter(bodies)
    latencies: list[float] = []
    failures: list[str] = []
    deadline = time.perf_counter() + seconds

    async def client(http: httpx.AsyncClient) -> None:
        while time.perf_counter() < deadline:
            body = next(queue, None)
            if body is None:
                if exhaust:
                    return
                raise RuntimeError("ran out of pre-signed requests: raise the estimate")
            started = time.perf_counter()
            response = await http.post("/graphql", json=body)
            elapsed = time.perf_counter() - started
            answer = response.json()
            if answer.get("errors"):
                failures.append(answer["errors"][0]["extensions"]["code"])
            else:
                latencies.append(elapsed)

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as http:
        started = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(concurrency)))
        wall = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"{len(failures)} onboardings failed, e.g. {failures[:3]}")
    latencies.sort()
    return {
        "requests": len(latencies),
        "throughput_rps": round(len(latencies) / wall, 1),
        "p50_ms": round(1000 * latencies[len(latencies) // 2], 2),
        "p99_ms": round(1000 * latencies[int(len(latencies) * 0.99)], 2),
    }


def chain_call_mean_ms(base: str) -> float | None:
    with urllib.request.urlopen(f"{base}/metrics", timeout=5) as response:  # noqa: S310
        text = response.read().decode()
    total = count = 0.0
    for line in text.splitlines():
        if 'chain_id="1"' in line and 'outcome="ok"' in line:
            if line.startswith("onboarding_chain_call_duration_seconds_sum"):
                total = float(line.rsplit(" ", 1)[1])
            elif line.startswith("onboarding_chain_call_duration_seconds_count"):
                count = float(line.rsplit(" ", 1)[1])
    return round(1000 * total / count, 2) if count else None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--wallets", type=int, default=48, help="Safes, and key holders")
    args = parser.parse_args(argv)
    binary = anvil_binary()
    if binary is None:
        raise SystemExit("anvil is not installed: run `make test` (or npm ci --prefix tests/chain)")
    budget = int(args.seconds * 1200) + 200  # more requests than a run can send here
    node = Anvil.start(binary, chain_id=1)
    try:
        deployment = SafeDeployment.deploy(node)
        safes = [
            SafeOwner(Safe.create(node, deployment, owners(1, f"bench-{i}"), 1, salt=1000 + i))
            for i in range(args.wallets)
        ]
        keys = [KeyHolder(f"bench-key-{i}") for i in range(args.wallets)]
        with tempfile.TemporaryDirectory(prefix="bench-contract-wallets-") as work:
            database = f"sqlite+aiosqlite:///{work}/bench.db"
            chain = {"ONBOARDING_CHAIN_RPC_URLS": json.dumps({"1": node.url})}
            with server(
                database, Path(work), "contract-wallets", limits=False, settings=chain
            ) as srv:
                base = srv.base
                # Timestamps are expiries: every one lies within the next 600 s, measured ones
                # at most 590 s ahead and never reused (warm-up: 598 and 599 s ahead).
                now = int(time.time())
                if 2 * (budget // args.wallets + 2) > 580:
                    raise SystemExit("too few wallets for this many requests: raise --wallets")
                # Warm-up: the server's caches, and every wallet's profile, so that both targets
                # measure one proof plus one onboarding (a new session) of an existing profile.
                warm = bodies(safes, 2 * args.wallets, now + 599)
                warm += bodies(keys, 2 * args.wallets, now + 599)
                asyncio.run(load(base, warm, 60.0, 4, exhaust=True))
                start = now + 590
                report: dict[str, Any] = {
                    "method": "see docs/contract-wallets.md (Benchmark)",
                    "seconds": args.seconds,
                    "concurrency": args.concurrency,
                    "wallets": args.wallets,
                }
                for name, wallets in (
                    ("ecdsa", keys),
                    ("safe_eip1271", safes),
                    ("ecdsa_again", keys),
                ):
                    last = start if name != "ecdsa_again" else start - budget // args.wallets - 2
                    report[name] = asyncio.run(
                        load(base, bodies(wallets, budget, last), args.seconds, args.concurrency)
                    )
                report["chain_round_trip_mean_ms"] = chain_call_mean_ms(base)
    finally:
        node.stop()
    ecdsa = (report["ecdsa"]["throughput_rps"] + report["ecdsa_again"]["throughput_rps"]) / 2
    report["safe_over_ecdsa_throughput"] = round(
        report["safe_eip1271"]["throughput_rps"] / ecdsa, 3
    )
    report["safe_over_ecdsa_p99"] = round(
        report["safe_eip1271"]["p99_ms"]
        / max(report["ecdsa"]["p99_ms"], report["ecdsa_again"]["p99_ms"]),
        3,
    )
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"contract-wallets-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    print(f"written to {out}")


if __name__ == "__main__":
    main()
