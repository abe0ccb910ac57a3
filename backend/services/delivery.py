"""Claiming and settling outbox rows for the delivery worker (docs/architecture.md).

Delivery is at least once: a row is leased to one worker while it is sent; a worker that dies
leaves the lease to expire, and the row is claimed again. So after a crash at most the
message in flight is repeated, and nothing is lost.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.services.officials import Actor, require_admin
from backend.storage.models import Notification, User, utcnow

PENDING, SENDING, SENT, PARKED, DEAD, MUTED = (
    "pending", "sending", "sent", "parked", "dead", "muted",
)  # fmt: skip
STATES = (PENDING, SENDING, SENT, PARKED, DEAD, MUTED)
LEASE = timedelta(seconds=60)
MAX_ATTEMPTS = 8
BACKOFF_BASE = 2.0  # seconds; doubles per attempt, with jitter, up to the cap
BACKOFF_CAP = 3600.0


@dataclass(frozen=True)
class Outgoing:
    id: int
    user_id: int
    channel: str
    chat_id: str
    language: str
    template: str
    params: dict[str, Any]
    attempts: int
    created_at: datetime


@dataclass(frozen=True)
class OutboxStatus:
    counts: dict[str, int]
    oldest_due: datetime | None
    dead: list[tuple[int, str, str | None]]  # id, template, last error


def backoff(attempts: int, rng: random.Random | None = None) -> timedelta:
    """Exponential with full jitter: spreads retries so a recovering API is not stampeded."""
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** max(0, attempts - 1))
    return timedelta(seconds=(rng or random).uniform(ceiling / 2, ceiling))


class DeliveryService:
    def __init__(self, session: AsyncSession, lease: timedelta = LEASE) -> None:
        self.session = session
        self.lease = lease

    @property
    def _postgres(self) -> bool:
        return self.session.bind is not None and self.session.bind.dialect.name == "postgresql"

    async def claim(self, limit: int, channel: str, now: datetime | None = None) -> list[Outgoing]:
        """Lease up to `limit` due rows, oldest first, with their recipients."""
        now = now or utcnow()
        due = (
            select(Notification.id)
            .where(
                Notification.channel == channel,
                or_(
                    (Notification.state == PENDING) & (Notification.next_attempt_at <= now),
                    # A lease that ran out belongs to a worker that died mid-send.
                    (Notification.state == SENDING) & (Notification.lease_until < now),
                ),
            )
            .order_by(Notification.next_attempt_at, Notification.id)
            .limit(limit)
        )
        if self._postgres:
            # Several workers claim side by side: each skips the rows another has locked.
            due = due.with_for_update(skip_locked=True)
        # On SQLite the claiming transaction holds the database's single write lock, so
        # claims are serialised by the engine itself.
        ids = list(await self.session.scalars(due))
        if not ids:
            return []
        await self.session.execute(
            update(Notification)
            .where(Notification.id.in_(ids))
            .values(state=SENDING, lease_until=now + self.lease)
            .execution_options(synchronize_session=False)
        )
        rows = await self.session.execute(
            select(Notification, User)
            .join(User, User.id == Notification.user_id)
            .where(Notification.id.in_(ids))
            .order_by(Notification.next_attempt_at, Notification.id)
        )
        claimed: list[Outgoing] = []
        for note, user in rows.all():
            if user.notifications_muted:
                await self._settle(note.id, state=MUTED)
                continue
            if not user.reachable or not user.chat_id:
                await self._settle(note.id, state=PARKED)
                continue
            claimed.append(
                Outgoing(
                    id=note.id,
                    user_id=user.id,
                    channel=note.channel,
                    chat_id=user.chat_id,
                    language=user.language,
                    template=note.template,
                    params=dict(note.params or {}),
                    attempts=note.attempts,
                    created_at=note.created_at,
                )
            )
        return claimed

    async def _settle(self, note_id: int, **values: Any) -> None:
        await self.session.execute(
            update(Notification)
            .where(Notification.id == note_id)
            .values(lease_until=None, **values)
            .execution_options(synchronize_session=False)
        )

    async def sent(self, ids: list[int]) -> None:
        await self.session.execute(
            update(Notification)
            .where(Notification.id.in_(ids))
            .values(state=SENT, sent_at=utcnow(), lease_until=None, last_error=None)
            .execution_options(synchronize_session=False)
        )

    async def later(self, ids: list[int], when: datetime, reason: str | None = None) -> None:
        """Put back without counting an attempt (rate limit, quiet hours)."""
        await self.session.execute(
            update(Notification)
            .where(Notification.id.in_(ids))
            .values(state=PENDING, next_attempt_at=when, lease_until=None, last_error=reason)
            .execution_options(synchronize_session=False)
        )

    async def failed(self, ids: list[int], error: str, attempts: int) -> str:
        """A transient failure: back off, or give up into dead letters after MAX_ATTEMPTS."""
        attempts += 1
        if attempts >= MAX_ATTEMPTS:
            await self.session.execute(
                update(Notification)
                .where(Notification.id.in_(ids))
                .values(state=DEAD, attempts=attempts, lease_until=None, last_error=error[:500])
                .execution_options(synchronize_session=False)
            )
            return DEAD
        await self.session.execute(
            update(Notification)
            .where(Notification.id.in_(ids))
            .values(
                state=PENDING,
                attempts=attempts,
                next_attempt_at=utcnow() + backoff(attempts),
                lease_until=None,
                last_error=error[:500],
            )
            .execution_options(synchronize_session=False)
        )
        return PENDING

    async def dead(self, ids: list[int], error: str) -> None:
        await self.session.execute(
            update(Notification)
            .where(Notification.id.in_(ids))
            .values(
                state=DEAD,
                lease_until=None,
                last_error=error[:500],
                attempts=Notification.attempts + 1,
            )  # fmt: skip
            .execution_options(synchronize_session=False)
        )

    async def unreachable(self, user_id: int, ids: list[int]) -> None:
        """The recipient blocked the bot: park everything waiting for them."""
        await self.session.execute(
            update(User)
            .where(User.id == user_id)
            .values(reachable=False, reachability_changed_at=utcnow())
        )
        await self.session.execute(
            update(Notification)
            .where(
                or_(
                    Notification.id.in_(ids),
                    (Notification.user_id == user_id) & (Notification.state == PENDING),
                )
            )
            .values(state=PARKED, lease_until=None, last_error="blocked by the user")
            .execution_options(synchronize_session=False)
        )

    async def resume(self, user_id: int) -> int:
        """The recipient is back (unblocked the bot): their parked rows are due again."""
        result = await self.session.execute(
            update(Notification)
            .where(Notification.user_id == user_id, Notification.state == PARKED)
            .values(state=PENDING, next_attempt_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def resume_external(self, channel: str, external_id: str) -> int:
        user_id = await self.session.scalar(
            select(User.id).where(User.channel == channel, User.external_id == external_id)
        )
        return 0 if user_id is None else await self.resume(user_id)

    async def retry_dead(self, actor: Actor, ids: list[int] | None = None) -> int:
        """Give dead rows (all, or those of `ids`) a fresh start; Bappeda admins only."""
        require_admin(actor)
        query = update(Notification).where(Notification.state == DEAD)
        if ids:
            query = query.where(Notification.id.in_(ids))
        result = await self.session.execute(
            query.values(
                state=PENDING, attempts=0, next_attempt_at=utcnow(), last_error=None
            ).execution_options(synchronize_session=False)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def status(self, actor: Actor, dead_limit: int = 20) -> OutboxStatus:
        """The outbox of the deployment at a glance; Bappeda admins only."""
        require_admin(actor)
        counts = dict(
            (
                await self.session.execute(
                    select(Notification.state, func.count()).group_by(Notification.state)
                )
            ).all()
        )
        oldest = await self.session.scalar(
            select(func.min(Notification.next_attempt_at)).where(Notification.state == PENDING)
        )
        dead = (
            await self.session.execute(
                select(Notification.id, Notification.template, Notification.last_error)
                .where(Notification.state == DEAD)
                .order_by(Notification.id.desc())
                .limit(dead_limit)
            )
        ).all()
        if oldest is not None and oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=UTC)
        return OutboxStatus(
            counts={state: int(counts.get(state, 0)) for state in STATES},
            oldest_due=oldest,
            dead=[(int(i), str(t), e) for i, t, e in dead],
        )

    async def set_muted(self, user_id: int, muted: bool) -> None:
        await self.session.execute(
            update(User).where(User.id == user_id).values(notifications_muted=muted)
        )
