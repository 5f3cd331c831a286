"""`onboarding-api migrate | serve | seed | reseal-secrets`.

`migrate` brings the database to this release's schema; `serve` refuses to start on a database
that is behind it (and says to run `migrate`), so a deployment cannot serve a half-built schema.
A database that a *later* release already migrated is served with a warning: releases only add
to the schema before the code that stops using something ships (docs/operations.md, zero
downtime).
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

import uvicorn
from pydantic import ValidationError
from sqlalchemy.engine import make_url

from models.db import Database, database_failure, safe_url
from models.errors import AppError
from models.migrations import SchemaError, SchemaState, head
from models.rotation import reseal_secrets
from models.secretbox import SecretBox
from models.seed import Seeded, seed_profile

from .observability import configure_logging
from .settings import Env, Settings

log = logging.getLogger("onboarding.cli")
T = TypeVar("T")
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"  # api.metrics reads it; importing that module here
# would fix prometheus-client's mode before `serve` sets the directory up.


def _settings() -> Settings:
    configure_logging("INFO")  # settings warn while loading: those lines are JSON too
    try:
        return Settings()
    except ValidationError as error:
        messages = "; ".join(str(e["msg"]) for e in error.errors())
        sys.exit(f"onboarding-api: invalid settings: {messages}")


async def _schema_state(settings: Settings) -> tuple[str | None, SchemaState]:
    db = _database(settings)
    try:
        return await db.schema_state()
    finally:
        await db.dispose()


async def _migrate(settings: Settings) -> tuple[str | None, str | None]:
    db = _database(settings)
    try:
        return await db.migrate()
    finally:
        await db.dispose()


def _database(settings: Settings) -> Database:
    return Database(
        settings.database_url,
        connect_timeout=settings.db_connect_timeout,
        statement_timeout=settings.db_statement_timeout,
    )


def _run(settings: Settings, work: Coroutine[Any, Any, T]) -> T:
    """Run a database chore; a database it cannot use or a foreign schema ends the command
    with one line that says why (no traceback)."""
    try:
        return asyncio.run(work)
    except SchemaError as error:
        sys.exit(f"onboarding-api: {error}")
    except Exception as error:
        reason = database_failure(error)
        if reason is None:
            raise
        sys.exit(
            f"onboarding-api: cannot use the database at {safe_url(settings.database_url)}: "
            f"{reason}; check ONBOARDING_DATABASE_URL and that the server is up"
        )


def migrate(_: argparse.Namespace) -> None:
    settings = _settings()
    configure_logging(settings.log_level)
    before, after = _run(settings, _migrate(settings))
    if before == after:
        print(f"database schema already at revision {after}; nothing to do")
    else:
        print(f"database schema migrated from revision {before or '(empty)'} to {after}")


@contextmanager
def metrics_directory() -> Iterator[Path]:
    """An empty directory for prometheus-client's multiprocess files, shared by every worker.

    `PROMETHEUS_MULTIPROC_DIR` when set (its stale sample files are removed: totals restart with
    the server), otherwise a private temporary directory, removed again when the server stops.
    """
    configured = os.environ.get(MULTIPROC_ENV)
    if configured:
        path = Path(configured)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):  # the files prometheus-client writes, nothing else
            stale.unlink()
        yield path
        return
    path = Path(tempfile.mkdtemp(prefix="onboarding-metrics-"))
    os.environ[MULTIPROC_ENV] = str(path)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
        del os.environ[MULTIPROC_ENV]


def new_sqlite_file(database_url: str) -> Path | None:
    """The file of a SQLite database that does not exist yet (the embedded default's first
    start), else None: an existing file, `:memory:` or any other engine."""
    parsed = make_url(database_url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    path = Path(parsed.database)
    return None if path.exists() else path


@contextmanager
def quiet_migrations() -> Iterator[None]:
    """Alembic announces every step at INFO; a command that migrates on the side says it once."""
    alembic = logging.getLogger("alembic")
    level = alembic.level
    alembic.setLevel(logging.WARNING)
    try:
        yield
    finally:
        alembic.setLevel(level)


def _release() -> str:
    try:
        return version("onboarding-api")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


class _WorkerDeathIsAWarning(logging.Filter):
    """uvicorn's supervisor reports a worker that died at INFO; an operator should see it.

    A logger drops records below its level before any filter runs, so `install` lets INFO
    through to this filter, which then holds everything else to the configured level."""

    def __init__(self, level: int) -> None:
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING and record.getMessage().endswith(" died"):
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return record.levelno >= self.level

    @classmethod
    def install(cls) -> None:
        supervisor = logging.getLogger("uvicorn.error")
        level = supervisor.getEffectiveLevel()
        supervisor.setLevel(min(level, logging.INFO))
        supervisor.addFilter(cls(level))


def _exit_cleanly(_signal: int, _frame: FrameType | None) -> None:
    """uvicorn re-raises SIGTERM once its graceful drain is done (one worker: exit 143); the
    drain is the whole point, so the process then ends with 0, as the supervisor does."""
    sys.exit(0)


def is_loopback(host: str) -> bool:
    """`localhost` or a loopback address: only this machine can connect."""
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def serve(args: argparse.Namespace) -> None:
    settings = _settings()
    configure_logging(settings.log_level)
    published = settings.published_dev_keys
    if published and not is_loopback(args.host):
        what = (
            "is the published development default"
            if len(published) == 1
            else ("are the published development defaults")
        )
        sys.exit(
            f"onboarding-api: refusing to serve on {args.host}: {' and '.join(published)} "
            f"{what}, with which anyone can forge sessions; "
            "set real keys (at least 32 random characters each) or serve on 127.0.0.1"
        )
    created = new_sqlite_file(settings.database_url)
    if created is not None:
        with quiet_migrations():
            _, revision = _run(settings, _migrate(settings))
        log.info("created the SQLite database %s at schema revision %s", created, revision)
    with quiet_migrations():
        revision, state = _run(settings, _schema_state(settings))
    if state is SchemaState.BEHIND:
        sys.exit(
            f"onboarding-api: the database schema is at revision {revision or '(empty)'} but "
            f"this release needs {head()}: run `onboarding-api migrate` (with the same "
            "ONBOARDING_DATABASE_URL) first"
        )
    if state is SchemaState.NEWER:
        log.warning(
            "database schema revision %s is newer than this release's %s; serving anyway "
            "(schema changes only add before code stops using anything)",
            revision,
            head(),
        )
    log.info(
        "starting",
        extra={
            "fields": {
                "env": settings.env.value,
                "database": safe_url(settings.database_url),
                "workers": args.workers,
                "version": _release(),
            }
        },
    )
    _WorkerDeathIsAWarning.install()
    signal.signal(signal.SIGTERM, _exit_cleanly)
    with metrics_directory():
        uvicorn.run(
            "api.app:app_from_environment",
            factory=True,
            host=args.host,
            port=args.port,
            workers=args.workers,
            log_config=None,
            access_log=False,  # ours is `onboarding.access`, with the request id
            proxy_headers=False,  # `ONBOARDING_TRUSTED_PROXIES` decides whom to believe
            server_header=False,  # no `server: uvicorn` on every response (`Date` stays)
            timeout_graceful_shutdown=settings.shutdown_timeout,
        )


async def _seed(settings: Settings, args: argparse.Namespace) -> Seeded:
    db = _database(settings)
    try:
        with quiet_migrations():
            await db.migrate()
        return await seed_profile(
            db,
            settings,
            args.wallet,
            args.exchange,
            orders=args.orders,
            positions=args.positions,
            notifications=args.notifications,
        )
    finally:
        await db.dispose()


def seed(args: argparse.Namespace) -> None:
    settings = _settings()
    if settings.env is Env.PROD and not args.force:
        sys.exit(
            "onboarding-api seed: ONBOARDING_ENV=prod: refusing to write demo data into "
            f"{safe_url(settings.database_url)}; pass --force if you really mean it"
        )
    try:
        result = _run(settings, _seed(settings, args))
    except AppError as error:
        sys.exit(f"onboarding-api seed: {error.legacy_text}")
    profile = result.profile
    print(
        f"profile {profile.id} ({profile.wallet} on {profile.exchange_id}): "
        f"{result.orders} orders ({result.resting_orders} resting), "
        f"{result.positions} positions ({result.open_positions} open), "
        f"{result.notifications} notifications ({result.unread_notifications} unread), "
        f"balance {profile.balance}"
    )


async def _reseal(settings: Settings) -> int:
    db = _database(settings)
    box = SecretBox(settings.secrets_key.get_secret_value(), settings.previous_secrets_key_values)
    try:
        return await reseal_secrets(db, box)
    finally:
        await db.dispose()


def reseal(_: argparse.Namespace) -> None:
    """Last step of an at-rest key rotation (docs/operations.md): then the old keys can go."""
    settings = _settings()
    configure_logging(settings.log_level)
    try:
        moved = _run(settings, _reseal(settings))
    except ValueError as error:
        hint = "list the key that sealed it in ONBOARDING_PREVIOUS_SECRETS_KEYS"
        sys.exit(f"onboarding-api: {error}; {hint}")
    print(f"re-sealed {moved} secret(s) under the current ONBOARDING_SECRETS_KEY")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="onboarding-api", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser("serve", help="run the HTTP server")
    serve_parser.add_argument("--host", default="127.0.0.1")
    serve_parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    serve_parser.add_argument("--workers", type=int, default=1)
    serve_parser.set_defaults(run=serve)
    migrate_parser = commands.add_parser(
        "migrate", help="bring the database schema to this release (safe to run repeatedly)"
    )
    migrate_parser.set_defaults(run=migrate)
    reseal_parser = commands.add_parser(
        "reseal-secrets",
        help="re-encrypt stored secrets under the current ONBOARDING_SECRETS_KEY (key rotation)",
    )
    reseal_parser.set_defaults(run=reseal)
    seed_parser = commands.add_parser(
        "seed",
        help="create a wallet's profile if missing and fill it with plausible demo data",
        description=(
            "Idempotent: the same arguments rewrite the same rows; larger counts add rows. "
            "Migrates the database first. Refuses ONBOARDING_ENV=prod unless --force."
        ),
    )
    seed_parser.add_argument("--wallet", required=True, help="0x + 40 hex, any case")
    seed_parser.add_argument("--exchange", default="rbx", help="exchange id (default: %(default)s)")
    seed_parser.add_argument(
        "--orders", type=int, default=50, help="orders to write (default: %(default)s)"
    )
    seed_parser.add_argument(
        "--positions", type=int, default=4, help="positions to write (default: %(default)s)"
    )
    seed_parser.add_argument(
        "--notifications", type=int, default=8, help="notifications to write (default: %(default)s)"
    )
    seed_parser.add_argument(
        "--force", action="store_true", help="write into a prod database (ONBOARDING_ENV=prod)"
    )
    seed_parser.set_defaults(run=seed)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    args.run(args)
