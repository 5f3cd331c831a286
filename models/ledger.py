"""The single-use ledger (table `used_signatures`): a signed request that mints credentials is
accepted once. Its entry names the signer and a digest of what was signed, and stays until the
request's own timestamp passes; from then on the request is refused as expired anyway, so the
housekeeping loop deletes the entry (`models.onboarding.purge_spent_signatures`).

Spending happens inside the transaction that writes the credentials: a replay is refused with
SIGNATURE_REPLAYED and writes nothing (its transaction is rolled back; in onboarding's one
statement on PostgreSQL, the writes after the spend do not happen).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, exists, literal_column, select

from .db import Database, DriverStatement, Transaction
from .errors import AppError, ErrorCode
from .tables import UsedSignature


def spend_statement(db: Database, when: Any = None) -> Any:
    """INSERT of one ledger entry (`address`, `digest`, `expires_at`) that does nothing when the
    entry exists (or `when` does not hold); with RETURNING it yields a row only for a first use
    (onboarding's one-statement admission on PostgreSQL embeds it as a CTE)."""
    insert, columns = db.insert(UsedSignature), UsedSignature.__table__.c  # type: ignore[attr-defined]
    entry = {
        name: bindparam(name, type_=columns[name].type)
        for name in ("address", "digest", "expires_at")
    }
    if when is None:
        insert = insert.values(entry)
    else:
        insert = insert.from_select(list(entry), select(*entry.values()).where(when))
    return insert.on_conflict_do_nothing().returning(literal_column("1"))


def unspent() -> Any:
    """True while the ledger has no entry for (`address`, `digest`), as of the statement's start."""
    return ~exists().where(
        UsedSignature.address == bindparam("address"),  # type: ignore[arg-type]
        UsedSignature.digest == bindparam("digest"),  # type: ignore[arg-type]
    )


def spend_step(db: Database) -> DriverStatement:
    return db.driver_statement("ledger.spend", lambda: spend_statement(db))


def spend_parameters(*, signer: str, digest: str, expires_at: int) -> dict[str, Any]:
    return {"address": signer, "digest": digest, "expires_at": expires_at}


async def spend(
    db: Database,
    transaction: Transaction,
    *,
    signer: str,
    digest: str,
    expires_at: int,
    replayed: str,
) -> None:
    """Record (signer, digest) as used, inside `transaction`; a second use raises
    SIGNATURE_REPLAYED (`replayed` says what to do instead). `signer` is at most 42 characters,
    `digest` 64 hex digits."""
    parameters = spend_parameters(signer=signer, digest=digest, expires_at=expires_at)
    if not await transaction.rows(spend_step(db), parameters):
        raise AppError(ErrorCode.SIGNATURE_REPLAYED, replayed)
