"""The delivery worker: sends the outbox through Telegram within its limits (docs/architecture.md).

Per round it leases due rows, groups them per recipient (one message per person), holds them
during quiet hours, paces sends (an overall rate, one message per second per private chat,
20 per minute per group) and settles each row in its own transaction right after the send.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as clock
from zoneinfo import ZoneInfo

from aiogram import Bot
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)

from backend.errors import Unavailable
from backend.services.delivery import Outgoing
from backend.services.wiring import Backend
from backend.settings import Settings
from backend.storage.models import utcnow
from bot.telegram.render import send_replies
from bot.telegram.translate import CHANNEL
from handlers.events import Say
from handlers.notify import combine

log = logging.getLogger(__name__)


def parse_quiet_hours(text: str) -> tuple[clock, clock] | None:
    """'21:00-06:00' -> (21:00, 06:00); empty -> None."""
    if not text.strip():
        return None
    start, _, end = text.partition("-")
    return clock.fromisoformat(start.strip()), clock.fromisoformat(end.strip())


def quiet_until(
    now: datetime, zone: ZoneInfo, hours: tuple[clock, clock] | None
) -> datetime | None:
    """When quiet hours end, if `now` falls inside them; None otherwise."""
    if hours is None:
        return None
    start, end = hours
    local = now.astimezone(zone)
    t = local.time()
    inside = (start <= t or t < end) if start > end else (start <= t < end)
    if not inside:
        return None
    morning = local.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
    if morning <= local:
        morning += timedelta(days=1)
    return morning


# Pace a little under the configured rate: sends leave on their slots, but the network can
# bunch their arrival, and Telegram counts arrivals.
RATE_MARGIN = 0.97
# How long Telegram counts a message against the overall rate.
WINDOW = 1.0


class Pacer:
    """Spaces sends: an overall rate, and a minimum interval per chat.

    Each send reserves its slot when it is scheduled, not when the previous one finished, so
    the time a send takes does not slow the rate down, and concurrent senders never bunch.
    """

    def __init__(self, per_second: float, chat_interval: float, group_interval: float,
                 monotonic: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        self.interval = 1.0 / (per_second * RATE_MARGIN)
        # Besides even spacing, never more than this many sends in any one second: after the
        # process was held up (a busy machine), sends whose slots passed would go together.
        self.per_window = max(1, int(per_second * RATE_MARGIN))
        # Telegram counts a send from when it arrives, which is somewhere between its start
        # and its answer; so a send holds its place in the window from its start until one
        # second after its answer. Counting from the start alone let a late arrival land in
        # the same second as the sends after it.
        self.in_flight = 0
        self.window: deque[float] = deque()  # when each answered send stops counting
        self.chat_interval = chat_interval
        self.group_interval = group_interval
        self.monotonic = monotonic
        self.next_any = 0.0
        self.paused_until = 0.0
        self.next_chat: OrderedDict[str, float] = OrderedDict()

    def pause(self, seconds: float) -> None:
        self.paused_until = max(self.paused_until, self.monotonic() + seconds)

    def chat_busy_for(self, chat_id: str) -> float:
        """Seconds until this chat may get another message."""
        return max(0.0, self.next_chat.get(chat_id, 0.0) - self.monotonic())

    def window_wait(self) -> float:
        """0 when a send may go now (it counts until `answered`); else how long until one may."""
        now = self.monotonic()
        while self.window and self.window[0] <= now:
            self.window.popleft()
        if self.in_flight + len(self.window) >= self.per_window:
            # Only sends still in flight: look again after one slot.
            return self.window[0] - now if self.window else self.interval
        self.in_flight += 1
        return 0.0

    def answered(self) -> None:
        """The send let through by `window_wait` has its answer (or failed): it counts one
        second more."""
        self.in_flight = max(0, self.in_flight - 1)
        self.window.append(self.monotonic() + WINDOW)

    def pause_left(self) -> float:
        return max(0.0, self.paused_until - self.monotonic())

    def reserve(self, chat_id: str) -> float:
        """Take the next overall slot for this chat; returns how long to wait for it."""
        now = self.monotonic()
        start = max(now, self.next_any, self.paused_until)
        self.next_any = start + self.interval
        group = chat_id.startswith("-")
        self.next_chat[chat_id] = start + (self.group_interval if group else self.chat_interval)
        self.next_chat.move_to_end(chat_id)
        while len(self.next_chat) > 10_000:  # forget chats long past their interval
            self.next_chat.popitem(last=False)
        return start - now


@dataclass
class RoundResult:
    sent: int = 0
    held: int = 0
    failed: int = 0


class DeliveryWorker:
    def __init__(self, backend: Backend, bot: Bot, settings: Settings) -> None:
        self.backend = backend
        self.bot = bot
        self.zone = ZoneInfo(settings.timezone)
        self.quiet = parse_quiet_hours(settings.quiet_hours)
        self.pacer = Pacer(
            settings.delivery_per_second,
            settings.delivery_chat_interval,
            60.0 / settings.delivery_group_per_minute,
        )
        self.batch = max(10, int(settings.delivery_per_second * 2))
        self.concurrency = settings.delivery_concurrency
        self.idle_sleep = 0.5
        self.settings = settings
        self.digest_at = clock.fromisoformat(settings.digest_time)
        self.calendar_done: date | None = None

    async def run(self, stop: asyncio.Event) -> None:
        log.info("delivery worker started")
        while not stop.is_set():
            try:
                await self.calendar()
                result = await self.run_once()
            except Unavailable:
                log.warning("database unavailable; delivery waits for it")
                result = RoundResult()
            except Exception:
                log.exception("delivery round failed; trying again shortly")
                result = RoundResult()
            if result.sent == 0 and result.held == 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.idle_sleep)
        log.info("delivery worker stopped")

    async def calendar(self, now: datetime | None = None) -> int:
        """Once a day, after the digest time: the officials' digest and deadline reminders
        (their dedupe keys make a second worker, or a restart, add nothing more), and the
        housekeeping of update ids too old to be redelivered and of expired throttle counts."""
        local = (now or utcnow()).astimezone(self.zone)
        if local.time() < self.digest_at or self.calendar_done == local.date():
            return 0
        async with self.backend.unit() as services:
            added = await services.alerts.digest(local.date())
            added += await services.alerts.deadline_reminders(
                local.date(), self.settings.stage_deadlines, self.settings.reminder_days
            )
            forgotten = await services.updates.forget_older_than(days=7)
            expired = await services.throttle.forget_expired(now)
        if forgotten:
            log.info("forgot %d processed update ids older than a week", forgotten)
        if expired:
            log.info("deleted %d throttle counts that no longer count", expired)
        self.calendar_done = local.date()
        return added

    async def run_once(self) -> RoundResult:
        result = RoundResult()
        async with self.backend.unit() as services:
            claimed = await services.delivery.claim(self.batch, CHANNEL)
        if not claimed:
            return result
        groups: OrderedDict[int, list[Outgoing]] = OrderedDict()
        for item in claimed:
            groups.setdefault(item.user_id, []).append(item)
        # A few sends in flight at once: with a distant API, one at a time would cap the rate
        # at one message per round trip. The pacer keeps their slots apart.
        gate = asyncio.Semaphore(self.concurrency)

        async def deliver(items: list[Outgoing]) -> None:
            async with gate:
                await self._deliver(items, result)

        await asyncio.gather(*(deliver(items) for items in groups.values()))
        return result

    async def _deliver(self, items: list[Outgoing], result: RoundResult) -> None:
        first = items[0]
        ids = [i.id for i in items]
        until = quiet_until(utcnow(), self.zone, self.quiet)
        if until is not None:
            async with self.backend.unit() as services:
                await services.delivery.later(ids, until, "quiet hours")
            result.held += len(ids)
            return
        busy = self.pacer.chat_busy_for(first.chat_id)
        if busy > 0:
            # Their chat had a message moments ago: put these back for later rather than make
            # everyone else wait; no attempt is counted.
            async with self.backend.unit() as services:
                await services.delivery.later(ids, utcnow() + timedelta(seconds=busy))
            result.held += len(ids)
            return
        message = combine([(i.template, i.params) for i in items])
        await asyncio.sleep(self.pacer.reserve(first.chat_id))
        # A 429 may have come while this one waited, or the second may already be full.
        while True:
            wait = self.pacer.pause_left() or self.pacer.window_wait()
            if wait <= 0:
                break
            await asyncio.sleep(wait)
        try:
            await self._send(int(first.chat_id), message, first.language)
        except TelegramRetryAfter as exc:
            # Telegram says slow down: stop all sending for that long; no attempt is counted.
            self.pacer.pause(exc.retry_after)
            async with self.backend.unit() as services:
                await services.delivery.later(
                    ids, utcnow() + timedelta(seconds=exc.retry_after), "429 retry after"
                )
            log.warning("Telegram asked to wait %ss", exc.retry_after)
            result.held += len(ids)
            return
        except TelegramForbiddenError:
            async with self.backend.unit() as services:
                await services.delivery.unreachable(first.user_id, ids)
            result.failed += len(ids)
            return
        except TelegramBadRequest as exc:
            # A request Telegram refuses ("chat not found") will not succeed later either.
            async with self.backend.unit() as services:
                await services.delivery.dead(ids, exc.message)
            log.warning("notification(s) %s dead: %s", ids, exc.message)
            result.failed += len(ids)
            return
        except (TelegramServerError, TelegramNetworkError, TimeoutError) as exc:
            async with self.backend.unit() as services:
                await services.delivery.failed(ids, f"{type(exc).__name__}: {exc}",
                                               max(i.attempts for i in items))  # fmt: skip
            result.failed += len(ids)
            return
        async with self.backend.unit() as services:
            await services.delivery.sent(ids)
        result.sent += len(ids)

    async def _send(self, chat_id: int, message: Say, language: str) -> None:
        try:
            await send_replies(self.bot, chat_id, [message], language)
        finally:
            # Before the outcome is settled, which takes a database round trip.
            self.pacer.answered()
