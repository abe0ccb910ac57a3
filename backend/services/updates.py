"""Channel update ids already handled: a redelivered update is acknowledged, not redone."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from backend.storage.models import ProcessedMessage, ProcessedUpdate, utcnow
from backend.storage.upsert import insert_ignoring_duplicates


class UpdateLog:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def first_time(self, channel: str, update_id: int) -> bool:
        """Claim the update id in this transaction; False when it was handled before.

        The row commits together with what handling the update changed, so a crash in
        between leaves neither and the redelivery is processed in full.
        """
        row = {"channel": channel, "update_id": update_id, "processed_at": utcnow()}
        keys = ("channel", "update_id")
        return await insert_ignoring_duplicates(self.session, ProcessedUpdate, [row], keys) == 1

    async def first_time_message(self, channel: str, message_id: str) -> bool:
        """`first_time` for channels whose message ids are strings (WhatsApp's wamid)."""
        row = {"channel": channel, "message_id": message_id, "processed_at": utcnow()}
        keys = ("channel", "message_id")
        return await insert_ignoring_duplicates(self.session, ProcessedMessage, [row], keys) == 1

    async def forget_older_than(self, days: int = 7) -> int:
        """Telegram redelivers for a day at most; a week of ids is plenty to recognise them."""
        cutoff = utcnow() - timedelta(days=days)
        result = await self.session.execute(
            delete(ProcessedUpdate).where(ProcessedUpdate.processed_at < cutoff)
        )
        messages = await self.session.execute(
            delete(ProcessedMessage).where(ProcessedMessage.processed_at < cutoff)
        )
        return int(result.rowcount) + int(messages.rowcount)  # type: ignore[attr-defined]
