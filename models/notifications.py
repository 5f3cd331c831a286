"""A trader's read state of their notifications."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete
from sqlmodel import col, select, update

from .db import Database
from .errors import bad_input
from .tables import Notification
from .trading import now_micros

MAX_IDS = 1000


def parse_notification_ids(ids: Sequence[str]) -> list[int]:
    """Notification ids as the API shows them (decimal integers)."""
    if len(ids) > MAX_IDS:
        raise bad_input(f"at most {MAX_IDS} notification ids per call, got {len(ids)}")
    parsed: list[int] = []
    for text in ids:
        if not (text.isascii() and text.isdigit() and len(text) <= 18):
            raise bad_input(f"{text!r} is not a notification id")
        parsed.append(int(text))
    return parsed


async def mark_read(db: Database, profile_id: int, ids: Sequence[int]) -> list[Notification]:
    """Mark the profile's own notifications among `ids` read; returns them, newest first.

    Ids of other profiles' notifications, and unknown ids, are ignored rather than refused: the
    answer must not tell a caller which ids exist elsewhere. Already-read notifications keep the
    time they were first read, so repeating the call changes nothing.
    """
    if not ids:
        return []
    own = (col(Notification.profile_id) == profile_id, col(Notification.id).in_(ids))
    async with db.write() as session:
        await session.exec(
            update(Notification)
            .where(*own, col(Notification.read_at).is_(None))
            .values(read_at=now_micros())
        )
        rows = await session.exec(
            select(Notification)
            .where(*own)
            .order_by(col(Notification.created_at).desc(), col(Notification.id).desc())
        )
        return list(rows.all())


async def purge_old_notifications(db: Database, retention: int, now: float) -> int:
    """Delete notifications created more than `retention` seconds before `now` (read or not):
    a profile's notifications are bounded by what it can receive within the retention."""
    cutoff_us = int((now - retention) * 1_000_000)
    async with db.write() as session:
        result = await session.exec(
            delete(Notification).where(col(Notification.created_at) < cutoff_us)
        )
    return int(result.rowcount)
