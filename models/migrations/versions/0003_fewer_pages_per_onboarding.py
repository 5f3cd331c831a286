"""fewer pages per onboarding: text-keyed tables without rowids on SQLite, a partial api_key index

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 09:05:00

Written by hand; SQLite only (on PostgreSQL this revision changes nothing). A new wallet's client
onboarding wrote ~19 pages to SQLite's write-ahead log, each a frame (two writes and a checksum
in the request, a copy into the database file at the next checkpoint), 15 of them on a small
database; now 11:
- `auth_sessions`, `used_signatures` and `rate_limit_buckets` are keyed by text. As rowid tables
  SQLite stored each row in the rowid B-tree and its key again in the primary key's index; as
  WITHOUT ROWID tables the row lives in the key's B-tree: one page less per insert into each.
  SQLite rebuilds the three tables (batch mode), copying their rows.
- `ix_auth_sessions_api_key` holds only the sessions minted from an API key (partial): a browser
  session, whose `api_key` is NULL, writes nothing there. Lookups by key (`api_key = :key`, and
  the foreign key's cascade) imply `api_key IS NOT NULL`, so they still use it. PostgreSQL keeps
  the full index: rebuilding it would lock `auth_sessions` (docs/operations.md), and its NULL
  entries cost the database server, not the service.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

TEXT_KEYED = ("auth_sessions", "used_signatures", "rate_limit_buckets")


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.batch_alter_table("auth_sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_auth_sessions_api_key")
        batch_op.create_index(
            "ix_auth_sessions_api_key",
            ["api_key"],
            unique=False,
            sqlite_where=sa.text("api_key IS NOT NULL"),
        )
    _rebuild(with_rowid=False)


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    _rebuild(with_rowid=True)
    with op.batch_alter_table("auth_sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_auth_sessions_api_key")
        batch_op.create_index("ix_auth_sessions_api_key", ["api_key"], unique=False)


def _rebuild(*, with_rowid: bool) -> None:
    for table in TEXT_KEYED:
        with op.batch_alter_table(
            table, recreate="always", table_kwargs={"sqlite_with_rowid": with_rowid}
        ):
            pass
