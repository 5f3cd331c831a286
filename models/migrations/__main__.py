"""`python -m models.migrations "what changes"` (what `make migration m=…` runs).

Migrates a scratch SQLite database to head, then writes a revision with whatever
`models/tables.py` declares beyond it. Review the file: autogenerate misses renames (it sees a
drop and an add) and cannot know how to fill a new NOT NULL column in existing rows.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile

from models.db import Database
from models.migrations import new_revision


async def _write(message: str, directory: str) -> None:
    db = Database(f"sqlite+aiosqlite:///{directory}/scratch.db")
    try:
        await db.migrate()
        async with db.engine.begin() as connection:
            path = await connection.run_sync(new_revision, message)
    finally:
        await db.dispose()
    if path is not None:
        print(f"wrote {path}")


def main() -> None:
    message = " ".join(sys.argv[1:]).strip()
    if not message:
        sys.exit('usage: make migration m="what changes"')
    with tempfile.TemporaryDirectory() as directory:
        asyncio.run(_write(message, directory))


if __name__ == "__main__":
    main()
