"""Officials' alerts that come from the calendar: the daily digest of their queues and the
reminders before each stage's deadline. Idempotent: a dedupe key per day and recipient, so
several workers (or a restart) never send one twice."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.domain import Decision, Stage
from backend.services.notifications import Outbox
from backend.services.officials import Role
from backend.services.workflow import STAGE_ROLES
from backend.storage.models import Official, User, Usulan


@dataclass(frozen=True)
class Waiting:
    stage: Stage
    count: int
    oldest: datetime | None


def _stages_of(role: Role) -> list[Stage]:
    # Admins can act anywhere, but their own queues are the stages only they run.
    if role == Role.ADMIN:
        return [s for s, roles in STAGE_ROLES.items() if roles == {Role.ADMIN}]
    return [s for s, roles in STAGE_ROLES.items() if role in roles]


class AlertService:
    def __init__(self, session: AsyncSession, outbox: Outbox) -> None:
        self.session = session
        self.outbox = outbox

    async def _officials(self) -> list[tuple[Official, User]]:
        rows = await self.session.execute(
            select(Official, User)
            .join(User, User.id == Official.user_id)
            .where(Official.revoked_at.is_(None), User.chat_id != "")
        )
        return [(o, u) for o, u in rows.all()]

    async def waiting(self, official: Official, stages: Iterable[Stage]) -> list[Waiting]:
        found = []
        for stage in stages:
            query = select(func.count(), func.min(Usulan.created_at)).where(
                Usulan.stage == stage.value, Usulan.decision == Decision.MENUNGGU.value
            )
            if official.role == Role.OPD:
                query = query.where(Usulan.opd == official.opd_code)
            elif official.role != Role.ADMIN or official.wilayah_code:
                scope = official.wilayah_code or ""
                query = query.where(
                    (Usulan.desa_code == scope) | Usulan.desa_code.startswith(scope + ".")
                )
            count, oldest = (await self.session.execute(query)).one()
            found.append(Waiting(stage, int(count or 0), oldest))
        return found

    async def digest(self, today: date) -> int:
        """One message per official with work waiting: counts per queue and the oldest item."""
        rows = []
        for official, user in await self._officials():
            queues = [w for w in await self.waiting(official, _stages_of(Role(official.role)))
                      if w.count]  # fmt: skip
            if not queues:
                continue
            oldest = min(w.oldest for w in queues if w.oldest is not None)
            rows.append(
                {
                    "user_id": user.id,
                    "channel": user.channel,
                    "template": "alert.digest",
                    "params": {
                        "queues": [[w.stage.value, w.count] for w in queues],
                        "oldest": oldest.date().isoformat() if oldest else None,
                    },
                    "dedupe_key": f"digest:{today.isoformat()}:{user.id}",
                }
            )
        return await self.outbox.add(rows)

    async def deadline_reminders(
        self, today: date, deadlines: dict[str, date], days_before: Iterable[int]
    ) -> int:
        """Officials working a stage hear, N days before its deadline, how much still waits."""
        due = {
            Stage(stage): (deadline, (deadline - today).days)
            for stage, deadline in deadlines.items()
            if (deadline - today).days in set(days_before)
        }
        if not due:
            return 0
        rows = []
        for official, user in await self._officials():
            stages = [s for s in _stages_of(Role(official.role)) if s in due]
            for waiting in await self.waiting(official, stages):
                deadline, days = due[waiting.stage]
                rows.append(
                    {
                        "user_id": user.id,
                        "channel": user.channel,
                        "template": "alert.deadline",
                        "params": {
                            "stage": waiting.stage.value,
                            "deadline": deadline.isoformat(),
                            "days": days,
                            "count": waiting.count,
                        },
                        "dedupe_key": f"deadline:{waiting.stage.value}:{deadline}:{days}:{user.id}",
                    }
                )
        return await self.outbox.add(rows)
