"""Password login (API token endpoint and dashboard alike), in three short units of work.

The limits are checked before any hashing, so a flood of guesses costs a query, not an argon2
run. The hash is checked between units, never inside a transaction: on SQLite that would hold
the write lock, on PostgreSQL a pooled connection, both for as long as the hash (and its wait
for a free hashing thread) takes.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING

from backend.errors import TooManyAttempts, Unauthenticated
from backend.services.passwords import Passwords

if TYPE_CHECKING:
    from backend.services.wiring import Services


class Logins:
    def __init__(
        self,
        unit: Callable[[], AbstractAsyncContextManager[Services]],
        passwords: Passwords,
        failure_delay: float,
    ) -> None:
        self.unit = unit
        self.passwords = passwords
        self.failure_delay = failure_delay

    async def login(self, username: str, password: str, client: str) -> str:
        """A 12-hour token; `TooManyAttempts` when the account is locked, `client` failed
        too often or too many logins wait for hashing; `Unauthenticated` for a wrong username
        or password. Refusals and failures are answered after a pause: a client guessing in
        a loop then costs a sleeping task, not a busy event loop."""
        try:
            return await self._login(username, password, client)
        except (TooManyAttempts, Unauthenticated):
            # Jittered, so that clients refused together do not all come back together.
            await asyncio.sleep(self.failure_delay * random.uniform(0.5, 1.5))
            raise

    async def _login(self, username: str, password: str, client: str) -> str:
        if self.passwords.busy():
            raise TooManyAttempts(1, "too many logins at once; try again in a moment")
        async with self.unit() as services:
            stored = await services.officials.login_gate(username, client)
        matched = await self.passwords.verify(stored.password_hash if stored else None, password)
        if stored is not None and matched:
            async with self.unit() as services:
                return await services.officials.login_succeeded(stored.user_id, username)
        async with self.unit() as services:
            await services.officials.login_failed(
                username, client, stored.user_id if stored else None
            )
        raise Unauthenticated("wrong username or password")
