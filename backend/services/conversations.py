"""Conversation state lives in the database, so a restart resumes where the person was."""

from __future__ import annotations

import copy
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
        # The rows this unit loaded, kept so that saving does not read them again.
        self._rows: dict[int, Conversation | None] = {}

    async def load(self, user_id: int) -> ConversationState:
        # FOR UPDATE serialises two processes handling the same person on PostgreSQL;
        # SQLite ignores it and serialises writers by itself.
        row = await self.session.scalar(
            select(Conversation).where(Conversation.user_id == user_id).with_for_update()
        )
        self._rows[user_id] = row
        if row is None:
            return ConversationState()
        # A deep copy: the conversation edits nested parts of the draft in place, and the row
        # must still hold the old value for the change to be seen and saved.
        return ConversationState(state=row.state, data=copy.deepcopy(row.data or {}))

    async def save(self, user_id: int, state: ConversationState) -> None:
        if state.state == IDLE and not state.data:
            known_absent = user_id in self._rows and self._rows[user_id] is None
            if not known_absent:
                await self.session.execute(
                    delete(Conversation).where(Conversation.user_id == user_id)
                )
            self._rows[user_id] = None
            return
        row = self._rows.get(user_id) or await self.session.get(Conversation, user_id)
        if row is None:
            row = Conversation(user_id=user_id, state=state.state, data=state.data)
            self.session.add(row)
            self._rows[user_id] = row
        else:
            row.state = state.state
            row.data = dict(state.data)  # a new dict, so the JSON column is seen as changed
