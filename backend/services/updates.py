"""Channel update ids already handled: a redelivered update is acknowledged, not redone."""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from backend.storage.models import ProcessedUpdate, utcnow


class UpdateLog:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def first_time(self, channel: str, update_id: int) -> bool:
        """Claim the update id in this transaction; False when it was handled before.

        The row commits together with what handling the update changed, so a crash in
        between leaves neither and the redelivery is processed in full.
        """
        try:
            async with self.session.begin_nested():
                self.session.add(ProcessedUpdate(channel=channel, update_id=update_id))
        except IntegrityError:
            return False
        return True

    async def forget_older_than(self, days: int = 7) -> int:
        from datetime import timedelta

        cutoff = utcnow() - timedelta(days=days)
        result = await self.session.execute(
            delete(ProcessedUpdate).where(ProcessedUpdate.processed_at < cutoff)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]
