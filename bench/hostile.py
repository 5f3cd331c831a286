"""A hostile client against a live prod-mode server: `python -m bench.hostile [--db postgresql]`.

Each probe prints what came back (status counts, codes, time). The server trusts 127.0.0.1 as a
proxy so that `X-Forwarded-For` can play many client addresses; limits are the defaults.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import secrets
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from .run import ONBOARD, RESULTS, Proof, database, new_wallet_proofs, server

GRJ = "application/graphql-response+json"
Probe = Callable[[httpx.AsyncClient], Awaitable[list[httpx.Response]]]


def onboard_body(proof: Proof) -> dict[str, Any]:
    fields = {
        "wallet": proof.wallet,
        "signature": proof.signature,
        "timestamp": proof.timestamp,
        "isClient": True,
    }
    return {"query": ONBOARD, "variables": {"input": fields}}


def codes(response: httpx.Response) -> list[str]:
    try:
        body = response.json()
    except ValueError:
        return [response.text[:40]]
    if not isinstance(body, dict):
        return ["(not an object)"]
    return [e.get("extensions", {}).get("code", "?") for e in body.get("errors") or []] or ["ok"]


def fragment_bomb(levels: int, leaf: str) -> str:
    spreads = [f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(levels)]
    return f"{{ ...F0 }} {' '.join(spreads)} fragment F{levels} on Query {{ {leaf} }}"


async def post(client: httpx.AsyncClient, body: Any, **headers: str) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers.setdefault("content-type", "application/json")
    return await client.post("/graphql", content=content, headers=headers)


def probes() -> dict[str, Probe]:
    async def aliases(c: httpx.AsyncClient) -> list[httpx.Response]:
        few = "{ " + " ".join(f"a{i}: serverTime" for i in range(20)) + " }"
        many = "{ " + " ".join(f"a{i}: serverTime" for i in range(500)) + " }"
        return [await post(c, {"query": q}, accept=GRJ) for q in (few, many)]

    async def deep(c: httpx.AsyncClient) -> list[httpx.Response]:
        query = "{ me " + "{ orders " * 30 + "{ id }" + " }" * 30 + " }"
        return [await post(c, {"query": query}, accept=GRJ)]

    async def bombs(c: httpx.AsyncClient) -> list[httpx.Response]:
        return [
            await post(c, {"query": fragment_bomb(20, "a: serverTime")}, accept=GRJ),
            await post(c, {"query": fragment_bomb(20, "serverTime")}, accept=GRJ),
        ]

    async def widest_valid(c: httpx.AsyncClient) -> list[httpx.Response]:
        query = "{ " + "serverTime " * 295 + "}"  # just under the token limit, valid
        return [await post(c, {"query": query + " " * i}) for i in range(5)]

    async def cache_filling(c: httpx.AsyncClient) -> list[httpx.Response]:
        """600 distinct valid documents near the token limit: the caches must stay bounded."""
        return [
            await post(c, {"query": f"{{ a{i}: serverTime " + "serverTime " * 280 + "}"})
            for i in range(600)
        ]

    async def tokens(c: httpx.AsyncClient) -> list[httpx.Response]:
        return [await post(c, {"query": "{ " + "serverTime " * 5000 + "}"}, accept=GRJ)]

    async def directives(c: httpx.AsyncClient) -> list[httpx.Response]:
        query = "{ serverTime" + " @skip(if: false)" * 10 + " }"
        return [await post(c, {"query": query}, accept=GRJ)]

    async def introspection(c: httpx.AsyncClient) -> list[httpx.Response]:
        return [
            await post(c, {"query": "{ __schema { types { name } } }"}),
            await post(c, {"query": "{ serverTim }"}),
            await c.get("/graphql", headers={"accept": "text/html"}),
        ]

    async def huge_bodies(c: httpx.AsyncClient) -> list[httpx.Response]:
        big = b'{"query": "' + b"x" * 2_000_000 + b'"}'

        async def chunks() -> Any:
            for _ in range(100):
                yield b"x" * 10_000

        streamed = await c.post(
            "/graphql", content=chunks(), headers={"content-type": "application/json"}
        )
        return [await post(c, big), streamed]

    async def malformed(c: httpx.AsyncClient) -> list[httpx.Response]:
        bodies = [
            b"{",
            b"null",
            b"[]",
            b'[{"query": "{ serverTime }"}]',
            b'{"query": "{ serverTime }", "variables": {"a": '
            + b"[" * 30000
            + b"]" * 30000
            + b"}}",
            b'{"query": "{ serverTime }", "variables": {"a": ' + b"9" * 50000 + b"}}",
            b'{"query": "\xff\xfe"}',
            b'{"query": "{ serverTime }", "operationName": 7}',
        ]
        return [
            *[await post(c, body) for body in bodies],
            await post(c, b'{"query": "{ serverTime }"}', **{"content-type": "text/plain"}),
            await c.get("/graphql", params={"query": "mutation { logout }"}),
            await c.request("DELETE", "/graphql"),
        ]

    async def broken_signatures(c: httpx.AsyncClient) -> list[httpx.Response]:
        out: list[httpx.Response] = []
        for proof in new_wallet_proofs(20):
            forged = secrets.token_hex(65)
            body = onboard_body(Proof(proof.wallet, "0x" + forged, proof.timestamp))
            out.append(await post(c, body, **{"x-forwarded-for": f"198.51.100.{len(out)}"}))
        return out

    async def flood_one_address(c: httpx.AsyncClient) -> list[httpx.Response]:
        proofs = new_wallet_proofs(80)
        flood = [post(c, onboard_body(p), **{"x-forwarded-for": "203.0.113.66"}) for p in proofs]
        return list(await asyncio.gather(*flood))

    async def flood_one_wallet(c: httpx.AsyncClient) -> list[httpx.Response]:
        from coincurve import PrivateKey

        from .run import repeat_proofs

        proofs = repeat_proofs([PrivateKey(secrets.token_bytes(32))])(20)
        return [
            await post(c, onboard_body(p), **{"x-forwarded-for": f"192.0.2.{i}"})
            for i, p in enumerate(proofs)
        ]

    async def honest_during_flood(c: httpx.AsyncClient) -> list[httpx.Response]:
        """An honest client onboards while one address floods with junk at 16 connections."""
        stop = asyncio.Event()

        async def junk() -> None:
            while not stop.is_set():
                body = {"query": "{ " + "serverTime " * 290 + "}"}  # costliest valid
                await post(c, body, **{"x-forwarded-for": "203.0.113.77"})

        flooders = [asyncio.create_task(junk()) for _ in range(16)]
        await asyncio.sleep(1)
        honest = []
        for i, proof in enumerate(new_wallet_proofs(10)):
            honest.append(await post(c, onboard_body(proof), **{"x-forwarded-for": f"10.9.0.{i}"}))
        stop.set()
        await asyncio.gather(*flooders)
        return honest

    return {name: probe for name, probe in locals().items() if callable(probe)}


async def run(base: str) -> None:
    limits = httpx.Limits(max_connections=32)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:
        await post(client, {"query": "{ serverTime }"})  # warm-up: first-request costs
        for name, probe in probes().items():
            started = time.perf_counter()
            responses = await probe(client)
            seconds = time.perf_counter() - started
            statuses = collections.Counter(r.status_code for r in responses)
            found = collections.Counter(code for r in responses for code in codes(r))
            retry = {r.headers["retry-after"] for r in responses if "retry-after" in r.headers}
            worst = max(statuses)
            print(
                f"{name:20} {dict(statuses)!s:28} {dict(found)!s:70} "
                f"{seconds * 1000 / len(responses):8.1f} ms/req"
                + (f"  Retry-After {sorted(retry)}" if retry else "")
                + ("  <-- 5xx!" if worst >= 500 else "")
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"hostile-{args.db}-", dir=RESULTS))
    settings = {
        "ONBOARDING_TRUSTED_PROXIES": '["127.0.0.1"]',
        "ONBOARDING_RATE_LIMIT_PER_IP": '{"burst": 30, "per_minute": 30}',
        "ONBOARDING_RATE_LIMIT_PER_WALLET": '{"burst": 5, "per_minute": 6}',
    }
    with (
        database(args.db, work, "hostile") as url,
        server(url, work, "hostile", settings=settings) as srv,
    ):
        asyncio.run(run(srv.base))
        print(f"worker peak RSS {srv.peak_rss_mb():.1f} MB; server log: {work / 'hostile.log'}")


if __name__ == "__main__":
    main()
