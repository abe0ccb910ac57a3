"""Conversation state lives in the database, so a restart resumes where the person was."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.storage.models import Conversation

IDLE = "idle"


@dataclass
class ConversationState:
    state: str = IDLE
    data: dict[str, Any] = field(default_factory=dict)


class ConversationService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def load(self, user_id: int) -> ConversationState:
        # FOR UPDATE serialises two processes handling the same person on PostgreSQL;
        # SQLite ignores it and serialises writers by itself.
        row = await self.session.scalar(
            select(Conversation).where(Conversation.user_id == user_id).with_for_update()
        )
        if row is None:
            return ConversationState()
        return ConversationState(state=row.state, data=dict(row.data or {}))

    async def save(self, user_id: int, state: ConversationState) -> None:
        if state.state == IDLE and not state.data:
            await self.session.execute(delete(Conversation).where(Conversation.user_id == user_id))
            return
        row = await self.session.get(Conversation, user_id)
        if row is None:
            self.session.add(Conversation(user_id=user_id, state=state.state, data=state.data))
        else:
            row.state = state.state
            row.data = dict(state.data)  # a new dict, so the JSON column is seen as changed
