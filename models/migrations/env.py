"""Alembic's entry point.

`Database.migrate` (and the test fixtures, and `make migration`) hand over a connection whose
transaction and lock they own. The `alembic` command line (`alembic -c models/migrations/alembic.ini
history | downgrade …`) gets none and connects to `ONBOARDING_DATABASE_URL` itself.
"""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import context
from alembic.operations import MigrationScript
from alembic.runtime.migration import MigrationContext
from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from models.migrations import COMPARE_OPTIONS, url_from_environment


def skip_empty_revisions(
    _context: MigrationContext, _revision: object, directives: list[MigrationScript]
) -> None:
    """`make migration` with no model change writes nothing instead of an empty revision."""
    script = directives[0]
    if script.upgrade_ops is not None and script.upgrade_ops.is_empty():
        directives[:] = []
        print("no changes: the migrations already produce what models/tables.py declares")


def run(connection: Connection) -> None:
    options: dict[str, Any] = {**COMPARE_OPTIONS}
    if context.config.cmd_opts is None:  # called from code (not the alembic CLI)
        options["process_revision_directives"] = skip_empty_revisions
    context.configure(connection=connection, **options)
    with context.begin_transaction():
        context.run_migrations()


async def run_on_url(url: str) -> None:
    engine = create_async_engine(url, poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(run)
    finally:
        await engine.dispose()


given: Connection | None = context.config.attributes.get("connection")
if given is not None:
    run(given)
else:
    asyncio.run(run_on_url(url_from_environment()))
