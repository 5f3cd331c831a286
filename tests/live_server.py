"""A real `onboarding-api serve` process on a free port, for tests that need a live server."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import httpx

from tests.waiting import NotYet, eventually

CLI = Path(sys.executable).with_name("onboarding-api")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_until_ready(base: str, process: subprocess.Popen[bytes], within: float = 60) -> None:
    """Until `GET /readyz` answers 200; fails with the process's output if it exits first."""

    def ready() -> bool:
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return True
        if process.poll() is not None:
            raise AssertionError(f"the server exited: {process.communicate()}")
        return False

    eventually(ready, within=within, what="the server ready", every=0.2)


@contextlib.contextmanager
def live_server(env: dict[str, str], startup_seconds: float = 30.0) -> Iterator[str]:
    """Serve with `env` (ONBOARDING_* settings) and yield the base URL; stop it afterwards."""
    from tests.conftest import migrate_database  # `serve` refuses an unmigrated database

    if "ONBOARDING_DATABASE_URL" in env:
        migrate_database(env["ONBOARDING_DATABASE_URL"])
    port = free_port()
    log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in `finally`; a pipe could fill up
    process = subprocess.Popen(  # noqa: S603 - our own CLI
        [str(CLI), "serve", "--host", "127.0.0.1", "--port", str(port)],
        env={**os.environ, "ONBOARDING_LOG_LEVEL": "WARNING", **env},
        stdout=log,
        stderr=log,
    )
    base = f"http://127.0.0.1:{port}"
    try:

        def serving() -> bool:
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=1) as response:  # noqa: S310
                    return response.status == 200
            except OSError:
                if process.poll() is None:
                    return False
                raise RuntimeError(f"server exited ({process.returncode})") from None

        try:
            eventually(serving, within=startup_seconds, what="the server serving", every=0.1)
        except (NotYet, RuntimeError) as failed:
            log.seek(0)
            output = log.read().decode(errors="replace")[-2000:]
            raise RuntimeError(f"server did not start ({failed}): {output}") from None
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
