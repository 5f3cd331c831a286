"""The single-use ledger (table `used_signatures`): a signed request that mints credentials is
accepted once. Its entry names the signer and a digest of what was signed, and stays until the
request's own timestamp passes; from then on the request is refused as expired anyway, so the
housekeeping loop deletes the entry (`models.onboarding.purge_spent_signatures`).

Spending happens inside the transaction that writes the credentials: a replay is refused with
SIGNATURE_REPLAYED and its transaction, rolled back, writes nothing.
"""

from __future__ import annotations

from sqlalchemy import bindparam
from sqlmodel.ext.asyncio.session import AsyncSession

from .db import Database
from .errors import AppError, ErrorCode
from .tables import UsedSignature


async def spend(
    db: Database,
    session: AsyncSession,
    *,
    signer: str,
    digest: str,
    expires_at: int,
    replayed: str,
) -> None:
    """Record (signer, digest) as used; a second use raises SIGNATURE_REPLAYED (`replayed` says
    what to do instead). `signer` is at most 42 characters, `digest` 64 hex digits."""
    statement = db.prepared(
        "ledger.spend",
        lambda: (
            db.insert(UsedSignature)
            .values(
                address=bindparam("address"),
                digest=bindparam("digest"),
                expires_at=bindparam("expires_at"),
            )
            .on_conflict_do_nothing()
        ),
    )
    parameters = {"address": signer, "digest": digest, "expires_at": expires_at}
    result = await (await session.connection()).execute(statement, parameters)
    if result.rowcount != 1:
        raise AppError(ErrorCode.SIGNATURE_REPLAYED, replayed)
