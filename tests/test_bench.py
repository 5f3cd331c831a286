"""bench.run's own instrument: the 1-connection client times what a sequential client waits."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bench.run import REFERENCE, new_wallet_proofs, one_connection


class _Slow(BaseHTTPRequestHandler):
    """Every 10th answer after 30 ms; every 4th says `errors`; each echoes the wallet it got."""

    protocol_version = "HTTP/1.1"  # keep-alive, as the product and the reference
    wbufsize = 1 << 16  # the answer in one write (http.server flushes it after each request)
    disable_nagle_algorithm = True
    seen = 0

    def do_POST(self) -> None:
        wallet = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["wallet"]
        type(self).seen += 1
        if self.seen % 10 == 0:
            time.sleep(0.03)
        answer = {"errors": [], "wallet": wallet} if self.seen % 4 == 0 else {"wallet": wallet}
        body = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def slow_server() -> Iterator[str]:
    _Slow.seen = 0
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Slow)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_one_connection_times_every_answer_and_judges_it(slow_server: str) -> None:
    result = one_connection(slow_server, REFERENCE, new_wallet_proofs(200), seconds=60)
    assert result["requests"] == 200
    assert result["ran_out"]
    assert result["errors"] == 50  # every 4th said "errors"
    assert result["p50_ms"] < 10 <= 30 <= result["p99_ms"] < result["max_ms"] + 0.001
    assert result["requests"] * result["mean_ms"] / 1000 <= result["seconds"]  # sequential
    assert result["mean_ms"] >= 30 * 20 / 200  # the twenty 30 ms waits are in the mean


def test_one_connection_stops_at_its_deadline(slow_server: str) -> None:
    result = one_connection(slow_server, REFERENCE, new_wallet_proofs(2000), seconds=0.3)
    assert 0 < result["requests"] < 2000
    assert not result["ran_out"]
    assert result["seconds"] < 5
