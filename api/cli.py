"""`onboarding-api migrate | serve`.

`migrate` brings the database to this release's schema; `serve` refuses to start on a database
that is behind it (and says to run `migrate`), so a deployment cannot serve a half-built schema.
A database that a *later* release already migrated is served with a warning: releases only add
to the schema before the code that stops using something ships (see README, zero downtime).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Coroutine
from typing import Any, TypeVar

import uvicorn
from pydantic import ValidationError

from models.db import Database, database_failure, safe_url
from models.migrations import SchemaError, SchemaState, head

from .observability import configure_logging
from .settings import Settings

log = logging.getLogger("onboarding.cli")
T = TypeVar("T")


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


def serve(args: argparse.Namespace) -> None:
    settings = _settings()
    configure_logging(settings.log_level)
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
    uvicorn.run(
        "api.app:app_from_environment",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_config=None,
        access_log=False,
        proxy_headers=False,
        timeout_graceful_shutdown=settings.shutdown_timeout,
    )


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
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    args.run(args)
