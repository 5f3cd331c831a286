"""A trader marks their own notifications read."""

from __future__ import annotations

import strawberry

from models.notifications import MAX_IDS, mark_read, parse_notification_ids

from .arguments import MAX_ITEMS
from .types import Info, NotificationNode


@strawberry.type
class NotificationMutation:
    @strawberry.mutation(
        description=(
            "Mark the caller's notifications read (needs an access JWT) and return them. Ids "
            "that are not the caller's are ignored; already-read ones keep their `readAt`."
        ),
        metadata={MAX_ITEMS: MAX_IDS},
    )
    async def mark_notifications_read(
        self, info: Info, ids: list[strawberry.ID]
    ) -> list[NotificationNode]:
        profile_id = await info.context.profile_id()
        rows = await mark_read(info.context.db, profile_id, parse_notification_ids(ids))
        info.context.forget_loaded()
        return [NotificationNode.of(row) for row in rows]
