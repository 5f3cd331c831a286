"""Finishing an at-rest key rotation: re-encrypt every stored secret under the current key.

After `ONBOARDING_SECRETS_KEY` changes (old value moved to `ONBOARDING_PREVIOUS_SECRETS_KEYS`),
old ciphertexts still open, but the old key can only be dropped once nothing needs it. Re-sealing
rewrites just the `secret_sealed` column of rows sealed under a previous key, in small committed
batches, so it is idempotent, resumable and safe to run while the service is serving.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlmodel import SQLModel, col, select

from .api_keys import api_key_binding
from .db import Database
from .secretbox import SecretBox
from .sessions import session_binding
from .tables import ApiKey, AuthSession

BATCH = 500


async def reseal_secrets(db: Database, box: SecretBox, batch: int = BATCH) -> int:
    """Re-seal under the current key; returns how many values moved. Raises ValueError if a value
    opens under no configured key (the key that sealed it is missing from the settings)."""
    sessions = await _reseal_table(db, box, AuthSession, "id", session_binding, batch)
    keys = await _reseal_table(db, box, ApiKey, "key", api_key_binding, batch)
    return sessions + keys


async def _reseal_table(
    db: Database,
    box: SecretBox,
    model: type[SQLModel],
    primary_key: str,
    binding: Callable[[str], str],
    batch: int,
) -> int:
    pk: Any = col(getattr(model, primary_key))
    sealed: Any = col(model.secret_sealed)  # type: ignore[attr-defined]
    moved, after = 0, ""
    while True:
        async with db.write() as session:
            page = select(model).where(sealed.is_not(None), pk > after).order_by(pk).limit(batch)
            rows: list[Any] = list((await session.exec(page)).all())
            for row in rows:
                resealed = box.reseal(
                    row.secret_sealed, bound_to=binding(getattr(row, primary_key))
                )
                if resealed is not None:
                    row.secret_sealed = resealed
                    session.add(row)
                    moved += 1
        if len(rows) < batch:
            return moved
        after = getattr(rows[-1], primary_key)
