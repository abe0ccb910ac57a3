"""Password hashing off the event loop, a few hashes at a time for the whole process.

argon2 is slow and memory-hard on purpose (tens of milliseconds and 64 MiB a hash). On the
event loop one login stalls every conversation; unbounded, a flood of logins takes every
core. So hashes run in one small thread pool per process, whose threads run at a lower CPU
priority: a flood of logins slows logins, not residents' replies.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from backend.errors import TooManyAttempts

T = TypeVar("T")
WAITING_PER_WORKER = 4  # logins queued beyond this are refused at once, not kept waiting
LOWER_PRIORITY = 19  # nice value of the hashing threads: each weighs 1/68 of a normal thread

_hasher = PasswordHasher()
_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_waiting = 0


def _lower_priority() -> None:
    # On Linux the nice value is per thread, and the threads argon2 starts for its lanes
    # inherit it. Elsewhere this is a no-op.
    with contextlib.suppress(OSError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), LOWER_PRIORITY)


def _hash(password: str) -> str:
    return _hasher.hash(password)


def _check(stored_hash: str | None, password: str) -> bool:
    if stored_hash is None:
        _hasher.hash(password)  # the same cost either way: no user enumeration by timing
        return False
    try:
        return _hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _executor(workers: int) -> ThreadPoolExecutor:
    """The process's one pool; its size is the first one asked for."""
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(
                workers, thread_name_prefix="password-hash", initializer=_lower_priority
            )
        return _pool


class Passwords:
    def __init__(self, concurrency: int) -> None:
        self.concurrency = concurrency

    def busy(self) -> bool:
        """Is the queue for the hashing threads full? Lets a login be refused before any
        database work; the hash itself checks again."""
        return _waiting >= WAITING_PER_WORKER * self.concurrency

    async def _run(self, work: Callable[..., T], *args: object) -> T:
        global _waiting
        with _lock:
            if self.busy():
                raise TooManyAttempts(1, "too many logins at once; try again in a moment")
            _waiting += 1
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(_executor(self.concurrency), work, *args)
        finally:
            with _lock:
                _waiting -= 1

    async def hash(self, password: str) -> str:
        return await self._run(_hash, password)

    async def verify(self, stored_hash: str | None, password: str) -> bool:
        """Does `password` match? With no stored hash, False after the same work."""
        return await self._run(_check, stored_hash, password)
