"""Schema migrations (Alembic), one history for SQLite and PostgreSQL alike.

The revisions in `versions/` are the schema: `onboarding-api migrate` applies them, the test
fixtures build every test database through them, and a test proves that on an empty database of
each engine they produce exactly what `models.tables` declares (so forgetting a revision fails).

Everything here is synchronous and takes a connection whose transaction the caller owns
(`Database.migrate` runs it through `run_sync`): both engines have transactional DDL, so a
migration lands whole or not at all. Revision ids are sequence numbers (0001, 0002 …): history
reads in order, and regenerating the first revision gives it the same id.
"""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.autogenerate.api import AutogenContext
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel
from sqlmodel.sql.sqltypes import AutoString

from ..tables import ExactDecimal

SCRIPTS = Path(__file__).parent
METADATA = SQLModel.metadata


class SchemaError(Exception):
    """The database's schema is not one this code can migrate or serve; the message says why."""


class SchemaState(StrEnum):
    CURRENT = "current"
    """At this code's newest revision."""
    BEHIND = "behind"
    """Empty, or at an older revision: `onboarding-api migrate` brings it up."""
    NEWER = "newer"
    """At a revision this code does not know: a later release already migrated it (expand step)."""


def render_item(kind: str, item: Any, _context: AutogenContext) -> str | bool:
    """Write our column types as plain SQLAlchemy, so revisions never import application code."""
    if kind == "type" and isinstance(item, ExactDecimal):
        return 'sa.String(length=80).with_variant(sa.Numeric(), "postgresql")'
    if kind == "type" and isinstance(item, AutoString):
        return f"sa.String(length={item.length!r})"
    return False


COMPARE_OPTIONS: dict[str, Any] = {
    "target_metadata": METADATA,
    "render_as_batch": True,  # SQLite alters tables by copying them; harmless on PostgreSQL
    "compare_type": True,
    "compare_server_default": True,
    "render_item": render_item,
}


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(SCRIPTS))
    config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    config.attributes["connection"] = connection
    return config


def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head() -> str | None:
    """The newest revision this code knows (None only before the first revision exists)."""
    return _scripts().get_current_head()


def current(connection: Connection) -> str | None:
    """The revision the database is at (None: never migrated)."""
    return MigrationContext.configure(connection).get_current_revision()


def state(revision: str | None) -> SchemaState:
    if revision == head():
        return SchemaState.CURRENT
    if revision is None:
        return SchemaState.BEHIND
    try:
        _scripts().get_revision(revision)
    except CommandError:
        return SchemaState.NEWER
    return SchemaState.BEHIND


def upgrade(connection: Connection) -> tuple[str | None, str | None]:
    """Apply every revision up to head: (revision before, revision after)."""
    before = current(connection)
    if state(before) is SchemaState.NEWER:
        raise SchemaError(
            f"the database is at revision {before}, newer than this release knows ({head()}); "
            "it was migrated by a later release, so there is nothing to do here"
        )
    if before is None and (
        stray := set(inspect(connection).get_table_names()) & set(METADATA.tables)
    ):
        raise SchemaError(
            f"the database has tables ({', '.join(sorted(stray))}) but no migration history: "
            "it was created before migrations existed. Point ONBOARDING_DATABASE_URL at an empty "
            "database (for the development SQLite file: delete it) and migrate again"
        )
    command.upgrade(alembic_config(connection), "head")
    return before, head()


def drift(connection: Connection) -> list[Any]:
    """What the database lacks or has beyond `models.tables` (alembic's autogenerate diff)."""
    context = MigrationContext.configure(connection, opts=COMPARE_OPTIONS)
    diff: list[Any] = compare_metadata(context, METADATA)
    return diff


def next_revision_id() -> str:
    newest = _scripts().get_current_head()
    return f"{int(newest) + 1:04d}" if newest else "0001"


def new_revision(connection: Connection, message: str) -> Path | None:
    """Write a revision with what the models declare beyond the (migrated) database; None if
    there is nothing to write."""
    scripts = command.revision(
        alembic_config(connection), message, autogenerate=True, rev_id=next_revision_id()
    )
    written = scripts if isinstance(scripts, list) else [scripts]
    paths = [Path(script.path) for script in written if script is not None]
    return paths[0] if paths else None


def url_from_environment() -> str:
    """For the `alembic` command line (models/migrations/alembic.ini): the service's database."""
    url = os.environ.get("ONBOARDING_DATABASE_URL")
    if not url:
        raise SchemaError("set ONBOARDING_DATABASE_URL to the database to migrate")
    return url
