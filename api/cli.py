"""`onboarding-api serve | reseal-secrets`."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

import uvicorn
from pydantic import ValidationError

from models.db import Database
from models.rotation import reseal_secrets
from models.secretbox import SecretBox

from .observability import configure_logging
from .settings import Settings


def _settings() -> Settings:
    configure_logging("INFO")  # warnings raised while reading settings are JSON lines too
    try:
        return Settings()
    except ValidationError as error:
        messages = "; ".join(str(e["msg"]) for e in error.errors())
        sys.exit(f"onboarding-api: invalid settings: {messages}")


async def _create_schema(url: str) -> None:
    db = Database(url)
    try:
        await db.create_schema()
    finally:
        await db.dispose()


def serve(args: argparse.Namespace) -> None:
    settings = _settings()
    configure_logging(settings.log_level)
    asyncio.run(_create_schema(settings.database_url))
    uvicorn.run(
        "api.app:app_from_environment",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_config=None,
        access_log=False,
        proxy_headers=False,
        timeout_graceful_shutdown=20,
    )


async def _reseal(settings: Settings) -> int:
    db = Database(settings.database_url)
    box = SecretBox(settings.secrets_key.get_secret_value(), settings.previous_secrets_key_values)
    try:
        return await reseal_secrets(db, box)
    finally:
        await db.dispose()


def reseal(_: argparse.Namespace) -> None:
    """Last step of an at-rest key rotation (README): afterwards the previous keys can go."""
    settings = _settings()
    configure_logging(settings.log_level)
    try:
        moved = asyncio.run(_reseal(settings))
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
    reseal_parser = commands.add_parser(
        "reseal-secrets",
        help="re-encrypt stored secrets under the current ONBOARDING_SECRETS_KEY (key rotation)",
    )
    reseal_parser.set_defaults(run=reseal)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    args.run(args)
