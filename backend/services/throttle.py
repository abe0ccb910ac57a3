"""Limits on attempts that cost us work or could walk a secret space: failed logins per
username and per client address, a lockout after repeated failures, and tracking-code lookups
per client (every lookup, and stricter, lookups of codes that do not exist).

Each counted attempt is one row holding the moment it stops counting, so a limit is a sliding
window and a check reads at most `count` entries of one index. The rows are in the database:
every process and instance sees the same counts. Refused attempts are not counted, so a flood
adds no rows once refused and the window frees itself; the daily housekeeping deletes rows
that no longer count. Only digests of usernames and addresses are stored.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.errors import TooManyAttempts
from backend.settings import Settings
from backend.storage.models import ThrottleHit, utcnow

T = TypeVar("T")


@dataclass(frozen=True)
class Limit:
    scope: str  # what is counted; keys of different scopes never mix
    count: int  # attempts allowed within `window`
    window: timedelta


@dataclass(frozen=True)
class Limits:
    login_username: Limit  # failed logins of one username; reaching it locks the account
    login_address: Limit  # failed logins from one client address, whatever the username
    lockout: Limit  # a locked account: one row, refusing every login while it lasts
    lookups: Limit  # tracking-code lookups of one client
    lookup_misses: Limit  # lookups of codes that do not exist, of one client

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        login_window = timedelta(minutes=settings.login_failure_window_minutes)
        return cls(
            login_username=Limit("login_user", settings.login_failures_per_username, login_window),
            login_address=Limit("login_address", settings.login_failures_per_address, login_window),
            lockout=Limit("login_lock", 1, timedelta(minutes=settings.login_lockout_minutes)),
            lookups=Limit("lookup", settings.lookups_per_minute, timedelta(minutes=1)),
            lookup_misses=Limit(
                "lookup_miss",
                settings.lookup_misses_per_client,
                timedelta(minutes=settings.lookup_miss_window_minutes),
            ),
        )


def digest(value: str) -> str:
    """The stored key: no username or address in the clear, and any input fits the column."""
    return hashlib.sha256(value.encode("utf-8", "replace")).hexdigest()


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class Throttle:
    def __init__(self, session: AsyncSession, limits: Limits) -> None:
        self.session = session
        self.limits = limits

    async def retry_after(self, limit: Limit, key: str, now: datetime | None = None) -> int | None:
        """Seconds until `key` may try again under `limit`; None when it may now."""
        now = now or utcnow()
        # The count-th newest attempt still counting: once it lapses, fewer than `count` are
        # left. Reads at most `count` index entries, however many rows a race let in.
        lapses = await self.session.scalar(
            select(ThrottleHit.expires_at)
            .where(
                ThrottleHit.scope == limit.scope,
                ThrottleHit.key == digest(key),
                ThrottleHit.expires_at > now,
            )
            .order_by(ThrottleHit.expires_at.desc())
            .offset(limit.count - 1)
            .limit(1)
        )
        if lapses is None:
            return None
        return max(1, math.ceil((_aware(lapses) - now).total_seconds()))

    async def check(self, limit: Limit, key: str, now: datetime | None = None) -> None:
        """Refuse with `TooManyAttempts` when `key` has used up `limit`."""
        wait = await self.retry_after(limit, key, now)
        if wait is not None:
            raise TooManyAttempts(wait, f"too many attempts ({limit.scope}); retry in {wait} s")

    async def hit(self, limit: Limit, key: str, now: datetime | None = None) -> None:
        """Count one attempt of `key` under `limit`."""
        now = now or utcnow()
        await self.session.execute(
            insert(ThrottleHit).values(
                scope=limit.scope, key=digest(key), expires_at=now + limit.window
            )
        )

    async def count(self, limit: Limit, key: str, now: datetime | None = None) -> int:
        counted = await self.session.scalar(
            select(func.count())
            .select_from(ThrottleHit)
            .where(
                ThrottleHit.scope == limit.scope,
                ThrottleHit.key == digest(key),
                ThrottleHit.expires_at > (now or utcnow()),
            )
        )
        return int(counted or 0)

    async def clear(self, limit: Limit, key: str) -> None:
        await self.session.execute(
            delete(ThrottleHit).where(
                ThrottleHit.scope == limit.scope, ThrottleHit.key == digest(key)
            )
        )

    async def code_lookup(self, client: str, lookup: Callable[[], Awaitable[T | None]]) -> T | None:
        """Look a tracking code up for `client` (an address, a chat user), within its limits.

        Every lookup counts against a generous limit; a code that does not exist also counts
        against a strict one, so the code space cannot be walked while people who mistype
        now and then are not bothered.
        """
        await self.check(self.limits.lookups, client)
        await self.check(self.limits.lookup_misses, client)
        await self.hit(self.limits.lookups, client)
        found = await lookup()
        if found is None:
            await self.hit(self.limits.lookup_misses, client)
        return found

    async def code_lookups(
        self,
        client: str,
        codes: Sequence[str],
        lookup: Callable[[], Awaitable[list[T]]],
        code_of: Callable[[T], str],
    ) -> list[T]:
        """Several codes looked up at once (Open311's `service_request_id=A,B,...`): each
        counts as one lookup, each one not found as a miss, so a list walks no faster than
        one code at a time."""
        await self.check(self.limits.lookups, client)
        await self.check(self.limits.lookup_misses, client)
        found = await lookup()
        known = {code_of(item) for item in found}
        for code in codes:
            await self.hit(self.limits.lookups, client)
            if code not in known:
                await self.hit(self.limits.lookup_misses, client)
        return found

    async def forget_expired(self, now: datetime | None = None) -> int:
        """Housekeeping: rows that no longer count."""
        result = await self.session.execute(
            delete(ThrottleHit).where(ThrottleHit.expires_at <= (now or utcnow()))
        )
        return int(result.rowcount)  # type: ignore[attr-defined]
