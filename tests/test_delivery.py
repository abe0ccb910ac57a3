"""The delivery worker against the Bot API stand-in: limits kept, failures survived, nothing
lost, nothing sent twice (docs/architecture.md)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from sqlalchemy import select, update

from backend.services.wiring import Backend
from backend.storage.models import Notification, User
from bot.delivery import DeliveryWorker, parse_quiet_hours, quiet_until
from tests.conftest import make_settings, start_backend
from tests.officials import OPERATOR
from tests.standin import BotApiStandIn

FIRST_CHAT = 700_000


@pytest.fixture
async def standin() -> AsyncIterator[BotApiStandIn]:
    async with BotApiStandIn() as api:
        yield api
    api.assert_no_violations()


def delivery_settings(db_url: str, tmp_path: Path, standin: BotApiStandIn, **overrides):
    values = {
        "telegram_token": standin.token,
        "telegram_api_url": standin.base_url,
        "quiet_hours": "",
        "delivery_per_second": 150.0,
        "delivery_chat_interval": 1.0,
        "delivery_lease_seconds": 2.0,
    }
    values.update(overrides)
    return make_settings(db_url, tmp_path, **values)


@pytest.fixture
async def env(db_url, tmp_path, standin) -> AsyncIterator[tuple[Backend, Bot, object]]:
    settings = delivery_settings(db_url, tmp_path, standin)
    backend = await start_backend(settings)
    bot = Bot(
        standin.token, session=AiohttpSession(api=TelegramAPIServer.from_base(standin.base_url))
    )
    yield backend, bot, settings
    await bot.session.close()
    await backend.close()


async def residents(backend: Backend, count: int, language: str = "id") -> list[int]:
    async with backend.unit() as s:
        users = [
            User(channel="telegram", external_id=str(FIRST_CHAT + i), chat_id=str(FIRST_CHAT + i),
                 language=language, reachable=True)
            for i in range(count)
        ]  # fmt: skip
        s.session.add_all(users)
        await s.session.flush()
        return [u.id for u in users]


async def enqueue(backend: Backend, user_ids: list[int], per_user: int) -> int:
    """Decision notifications as the workflow writes them (the writer is tested elsewhere)."""
    async with backend.unit() as s:
        n = 0
        for user_id in user_ids:
            for k in range(per_user):
                s.session.add(Notification(
                    user_id=user_id, channel="telegram", template="notify.decision",
                    params={"code": f"AB{k:02d}-CDEF", "stage": "desa", "decision": "ditolak",
                            "reason_code": "duplikat", "note": None, "submitter": True},
                    dedupe_key=f"test:{user_id}:{k}",
                ))  # fmt: skip
                n += 1
    return n


async def counts(backend: Backend) -> dict[str, int]:
    async with backend.unit() as s:
        return (await s.delivery.status(OPERATOR)).counts


async def drain(worker: DeliveryWorker, backend: Backend, within: float = 60) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        c = await counts(backend)
        if c["pending"] == 0 and c["sending"] == 0:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not delivered in time: {c}")
        result = await worker.run_once()
        if result.sent == 0:
            await asyncio.sleep(0.05)


def messages_per_chat(standin: BotApiStandIn) -> Counter[int]:
    return Counter(
        c.chat_id for c in standin.calls if c.method == "sendMessage" and c.status == 200
    )


async def test_two_thousand_notifications_to_500_residents_no_429(env, standin):
    backend, bot, settings = env
    standin.set_limits(global_per_second=200, per_chat_per_second=1)
    users = await residents(backend, 500)
    assert await enqueue(backend, users, per_user=4) == 2000
    worker = DeliveryWorker(backend, bot, settings)
    await drain(worker, backend, within=90)
    assert (await counts(backend))["sent"] == 2000
    assert standin.rate_limited == []  # the worker kept within the limits: no 429 at all
    per_chat = messages_per_chat(standin)
    assert len(per_chat) == 500 and set(per_chat.values()) == {1}  # 4 changes, one message
    text = standin.sent_texts(FIRST_CHAT)[0]
    assert "AB00-CDEF" in text and "AB03-CDEF" in text


async def test_a_429_storm_is_waited_out_without_counting_attempts(env, standin):
    backend, bot, settings = env
    users = await residents(backend, 5)
    await enqueue(backend, users, per_user=1)
    standin.fail_next("sendMessage", 429, count=3, retry_after=1)
    worker = DeliveryWorker(backend, bot, settings)
    started = asyncio.get_running_loop().time()
    await drain(worker, backend, within=30)
    assert asyncio.get_running_loop().time() - started >= 1.0  # it did wait
    async with backend.unit() as s:
        attempts = list(await s.session.scalars(select(Notification.attempts)))
    assert attempts == [0] * 5 and (await counts(backend))["sent"] == 5
    assert len(messages_per_chat(standin)) == 5


async def test_blocked_recipient_is_parked_and_resumes_after_unblock(env, standin):
    backend, bot, settings = env
    [user] = await residents(backend, 1)
    await enqueue(backend, [user], per_user=2)
    standin.fail_next("sendMessage", 403)
    worker = DeliveryWorker(backend, bot, settings)
    await drain(worker, backend)
    assert (await counts(backend))["parked"] == 2
    async with backend.unit() as s:
        assert (await s.session.get(User, user)).reachable is False
        # The person unblocks the bot: Telegram sends my_chat_member, the channel records it.
        await s.users.set_reachable("telegram", str(FIRST_CHAT), True)
        assert await s.delivery.resume_external("telegram", str(FIRST_CHAT)) == 2
    await drain(worker, backend)
    assert (await counts(backend))["sent"] == 2
    assert messages_per_chat(standin)[FIRST_CHAT] == 1


async def test_chat_not_found_goes_to_dead_letters_and_retry_sends_it(env, standin):
    backend, bot, settings = env
    [user] = await residents(backend, 1)
    await enqueue(backend, [user], per_user=1)
    standin.fail_next("sendMessage", 400, description="Bad Request: chat not found")
    worker = DeliveryWorker(backend, bot, settings)
    await drain(worker, backend)
    async with backend.unit() as s:
        status = await s.delivery.status(OPERATOR)
        assert status.counts["dead"] == 1 and "chat not found" in (status.dead[0][2] or "")
        assert await s.delivery.retry_dead(OPERATOR) == 1
    await drain(worker, backend)
    assert (await counts(backend))["sent"] == 1


async def test_server_errors_back_off_then_succeed(env, standin):
    backend, bot, settings = env
    [user] = await residents(backend, 1)
    await enqueue(backend, [user], per_user=1)
    standin.fail_next("sendMessage", 500, count=2)
    worker = DeliveryWorker(backend, bot, settings)
    await worker.run_once()
    async with backend.unit() as s:
        row = await s.session.scalar(select(Notification))
        assert (row.state, row.attempts) == ("pending", 1) and "Server" in (row.last_error or "")
        # Skip the backoff wait rather than sleeping in a test.
        await s.session.execute(update(Notification).values(next_attempt_at=datetime.now(UTC)))
    await worker.run_once()
    async with backend.unit() as s:
        await s.session.execute(update(Notification).values(next_attempt_at=datetime.now(UTC)))
    await drain(worker, backend)
    async with backend.unit() as s:
        row = await s.session.scalar(select(Notification))
    assert (row.state, row.attempts) == ("sent", 2)


async def test_quiet_hours_hold_until_morning_then_release(env, standin):
    backend, bot, settings = env
    [user] = await residents(backend, 1)
    await enqueue(backend, [user], per_user=1)
    night = settings.model_copy(update={"quiet_hours": "00:00-23:59"})
    await DeliveryWorker(backend, bot, night).run_once()
    async with backend.unit() as s:
        row = await s.session.scalar(select(Notification))
    assert row.state == "pending" and row.attempts == 0
    assert messages_per_chat(standin) == Counter()
    async with backend.unit() as s:  # the morning comes
        await s.session.execute(update(Notification).values(next_attempt_at=datetime.now(UTC)))
    await drain(DeliveryWorker(backend, bot, settings), backend)
    assert (await counts(backend))["sent"] == 1


def test_quiet_hours_in_wib():
    wib = ZoneInfo("Asia/Jakarta")
    hours = parse_quiet_hours("21:00-06:00")
    late = datetime(2026, 11, 23, 15, 30, tzinfo=UTC)  # 22:30 WIB
    until = quiet_until(late, wib, hours)
    assert until is not None and until.astimezone(wib).hour == 6 and until.day == 24
    assert quiet_until(datetime(2026, 11, 23, 2, 0, tzinfo=UTC), wib, hours) is None  # 09:00
    early = datetime(2026, 11, 22, 22, 0, tzinfo=UTC)  # 05:00 WIB
    assert quiet_until(early, wib, hours).astimezone(wib).hour == 6
    assert quiet_until(late, wib, parse_quiet_hours("")) is None


async def test_muted_resident_gets_nothing(env, standin):
    backend, bot, settings = env
    [user] = await residents(backend, 1)
    async with backend.unit() as s:
        await s.delivery.set_muted(user, True)
    await enqueue(backend, [user], per_user=1)
    await drain(DeliveryWorker(backend, bot, settings), backend)
    assert (await counts(backend))["muted"] == 1
    assert messages_per_chat(standin) == Counter()


async def test_two_workers_side_by_side_send_no_duplicate(env, standin, db_url):
    backend, bot, settings = env
    users = await residents(backend, 60)
    await enqueue(backend, users, per_user=1)
    other = await start_backend(settings)  # a second process's connection pool
    try:
        first, second = DeliveryWorker(backend, bot, settings), DeliveryWorker(other, bot, settings)
        for w in (first, second):
            w.batch = 7  # small batches so the two interleave
        await asyncio.gather(drain(first, backend), drain(second, other))
    finally:
        await other.close()
    per_chat = messages_per_chat(standin)
    assert len(per_chat) == 60 and set(per_chat.values()) == {1}


async def test_worker_killed_mid_run_delivers_everything_after_restart(db_url, tmp_path, standin):
    """SIGKILL in the middle of sending: on restart everything arrives, at most one twice."""
    settings = delivery_settings(db_url, tmp_path, standin, delivery_per_second=20.0)
    backend = await start_backend(settings)
    users = await residents(backend, 40)
    await enqueue(backend, users, per_user=1)
    env = {
        **os.environ,
        "MUSRENBOT_DATABASE_URL": db_url,
        "MUSRENBOT_TELEGRAM_TOKEN": standin.token,
        "MUSRENBOT_TELEGRAM_API_URL": standin.base_url,
        "MUSRENBOT_QUIET_HOURS": "",
        "MUSRENBOT_DELIVERY_PER_SECOND": "20",
        "MUSRENBOT_DELIVERY_LEASE_SECONDS": "2",
        # One send in flight, so "at most the message in flight" means at most one.
        "MUSRENBOT_DELIVERY_CONCURRENCY": "1",
        "MUSRENBOT_MEDIA_DIR": str(tmp_path / "media"),
    }

    def start() -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", "bot.cli", "worker"]
        return subprocess.Popen(
            command, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )

    try:
        process = start()
        await standin.wait_for(lambda s: len(messages_per_chat(s)) >= 10, timeout=30)
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        killed_at = sum(messages_per_chat(standin).values())
        assert killed_at < 40, "the worker finished before it could be killed"
        process = start()
        await standin.wait_for(lambda s: len(messages_per_chat(s)) >= 40, timeout=60)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(20)
    per_chat = messages_per_chat(standin)
    assert len(per_chat) == 40  # nothing lost
    assert sum(per_chat.values()) - 40 <= 1  # at most the message in flight repeated
    assert (await counts(backend))["sent"] == 40
    await backend.close()


# --- from a decision to the person's phone ----------------------------------------------


async def telegram_person(backend: Backend, chat_id: int, language: str = "id") -> int:
    async with backend.unit() as s:
        user = await s.users.get_or_create(
            channel="telegram", external_id=str(chat_id), chat_id=str(chat_id),
            language_hint=language,
        )  # fmt: skip
    return user.id


async def telegram_official(backend: Backend, chat_id: int, role, **scope):
    user_id = await telegram_person(backend, chat_id)
    async with backend.unit() as s:
        invite = await s.officials.create_invite(role, created_by=OPERATOR, **scope)
        return await s.officials.claim(user_id, invite.code)


async def test_a_decision_reaches_submitter_and_supporter_in_their_language(env, standin):
    from backend.domain import Decision, Stage
    from backend.services.officials import Role
    from backend.services.workflow import DecisionRequest
    from tests.officials import PASAR_BARU, draft

    backend, bot, settings = env
    resident = await telegram_person(backend, 810_001, "id")
    supporter = await telegram_person(backend, 810_002, "en")
    kepala = await telegram_official(backend, 810_003, Role.KEPALA_DESA, wilayah_code=PASAR_BARU)
    async with backend.unit() as s:
        code = (await s.intake.submit(draft(), submitter_id=resident)).code
        await s.support.support(supporter, code)
    async with backend.unit() as s:
        await s.workflow.decide(kepala, code, DecisionRequest(
            Stage.DESA, Decision.PERLU_PERBAIKAN, note="Mohon tambahkan foto"))  # fmt: skip
    await drain(DeliveryWorker(backend, bot, settings), backend)

    [to_resident] = standin.sent_texts(810_001)
    assert code in to_resident and "perlu perbaikan" in to_resident
    assert "Mohon tambahkan foto" in to_resident
    fix = standin.last_markup(810_001)["inline_keyboard"][0][0]
    assert fix["text"] == "✏️ Perbaiki" and fix["callback_data"] == "fix:" + code.replace("-", "")
    [to_supporter] = standin.sent_texts(810_002)
    assert code in to_supporter and "needs revision" in to_supporter
    assert standin.last_markup(810_002) is None  # only the submitter revises
    assert standin.sent_texts(810_003) == []  # the official who decided is not told


async def test_a_confirmed_rembuk_alerts_the_kecamatan_once_and_its_group(
    db_url, tmp_path, standin
):
    from datetime import date

    from backend.domain import Decision, Stage
    from backend.services.officials import Role
    from backend.services.workflow import DecisionRequest
    from tests.officials import MEDAN_KOTA, PASAR_BARU, draft

    group = -100_555
    settings = delivery_settings(db_url, tmp_path, standin,
                                 telegram_alert_groups={MEDAN_KOTA: group})  # fmt: skip
    backend = await start_backend(settings)
    api = TelegramAPIServer.from_base(standin.base_url)
    bot = Bot(standin.token, session=AiohttpSession(api=api))
    try:
        resident = await telegram_person(backend, 820_001)
        kepala = await telegram_official(backend, 820_002, Role.KEPALA_DESA,
                                         wilayah_code=PASAR_BARU)  # fmt: skip
        await telegram_official(backend, 820_003, Role.OPERATOR_KECAMATAN, wilayah_code=MEDAN_KOTA)
        async with backend.unit() as s:
            codes = [(await s.intake.submit(draft(n=i), submitter_id=resident)).code
                     for i in range(2)]  # fmt: skip
        async with backend.unit() as s:
            for code in codes:
                await s.workflow.decide(
                    kepala, code, DecisionRequest(Stage.DESA, Decision.DITERIMA)
                )
            rembuk = await s.rembuk.open(kepala, 2027)
            await s.rembuk.set_details(kepala, rembuk.id, held_on=date(2026, 11, 20), place="Balai")
            await s.rembuk.set_attendance(kepala, rembuk.id, total=30, women=12)
            await s.rembuk.confirm(kepala, rembuk.id)
        await drain(DeliveryWorker(backend, bot, settings), backend)
        [alert] = standin.sent_texts(820_003)
        assert "Pasar Baru mengirim 2 usulan" in alert and "Musrenbang Kecamatan" in alert
        assert standin.sent_texts(group) == [alert]
        [told] = standin.sent_texts(820_001)  # both usulan, one message
        assert all(code in told for code in codes) and "Peringkat prioritas desa: 1" in told
    finally:
        await bot.session.close()
        await backend.close()


async def test_digest_and_deadline_reminders_come_once_a_day(db_url, tmp_path, standin):

    from backend.services.officials import Role
    from tests.officials import MEDAN_KOTA, PASAR_BARU, draft

    settings = delivery_settings(
        db_url, tmp_path, standin, stage_deadlines={"desa": "2026-11-30"}, reminder_days=[7, 1]
    )
    backend = await start_backend(settings)
    api = TelegramAPIServer.from_base(standin.base_url)
    bot = Bot(standin.token, session=AiohttpSession(api=api))
    try:
        resident = await telegram_person(backend, 830_001)
        await telegram_official(backend, 830_002, Role.KEPALA_DESA, wilayah_code=PASAR_BARU)
        await telegram_official(backend, 830_003, Role.OPERATOR_KECAMATAN, wilayah_code=MEDAN_KOTA)
        async with backend.unit() as s:
            for i in range(3):
                await s.intake.submit(draft(n=i), submitter_id=resident)
        worker = DeliveryWorker(backend, bot, settings)
        before_digest = datetime(2026, 11, 23, 23, 0, tzinfo=UTC)  # 06:00 WIB on the 24th
        assert await worker.calendar(before_digest) == 0
        morning = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # 08:00 WIB, 7 days before
        assert await worker.calendar(morning) == 2  # digest + reminder for the kepala desa
        assert await worker.calendar(morning) == 0  # once a day
        worker.calendar_done = None  # a restarted worker, or a second one
        assert await worker.calendar(morning) == 0
        await drain(worker, backend)
        [digest] = standin.sent_texts(830_002)
        assert "3 usulan menunggu" in digest and "7 hari lagi" in digest
        assert "2026-11-30" in digest  # the deadline the reminder counts down to
        assert standin.sent_texts(830_003) == []  # nothing waits at the kecamatan yet
    finally:
        await bot.session.close()
        await backend.close()


def test_after_a_stall_the_pacer_never_lets_more_than_the_limit_into_one_second():
    from bot.delivery import Pacer

    clock = [100.0]
    pacer = Pacer(30, 1.0, 3.0, monotonic=lambda: clock[0])
    slots = [pacer.reserve(f"chat{i}") for i in range(60)]  # two seconds' worth, in advance
    assert slots == sorted(slots) and slots[1] - slots[0] > 1 / 30  # evenly spaced, under 30/s
    clock[0] += 2.5  # the process was held up: every slot has passed
    allowed = sum(pacer.window_wait() == 0 for _ in range(60))
    assert allowed == pacer.per_window < 30  # the late ones wait for the next second
    for _ in range(allowed):
        pacer.answered()
    clock[0] += 1.0
    assert pacer.window_wait() == 0


def arrivals_of_paced_sends(pacer, clock: list[float], latency, seconds: float) -> list[float]:
    """Drive the pacer as the worker does (4 sends in flight, each reserving its slot, then
    asking the window) on a 1 ms clock; send k reaches Telegram latency(k) after its start and
    its answer is back 1 ms later. Returns when each send arrived."""
    start = clock[0]
    arrivals: list[float] = []
    answers: list[float] = []  # answer times of the sends in flight
    slot: float | None = None  # the next send's reserved slot
    for tick in range(int(seconds * 1000)):
        clock[0] = start + tick / 1000
        for due in [a for a in answers if a <= clock[0]]:
            answers.remove(due)
            pacer.answered()
        if slot is None and len(answers) < 4:
            slot = clock[0] + pacer.reserve(f"chat{len(arrivals)}")
        if slot is not None and clock[0] >= slot and pacer.window_wait() == 0:
            arrivals.append(clock[0] + latency(len(arrivals)))
            answers.append(arrivals[-1] + 0.001)
            slot = None
    return arrivals


def most_in_one_second(arrivals: list[float]) -> int:
    """The most arrivals any one-second sliding window holds, as the receiving side counts."""
    times = sorted(arrivals)
    return max(sum(1 for b in times[i:] if b - a < 1.0) for i, a in enumerate(times))


def test_issue_13_sends_that_arrive_late_never_crowd_the_next_second():
    """A slow send arrives a moment after its start; Telegram counts it from then, in the same
    second as the sends after it. Counted from the start alone, 30 sends reached one second."""
    from bot.delivery import Pacer

    clock = [100.0]
    pacer = Pacer(30, 1.0, 3.0, monotonic=lambda: clock[0])
    # Most answers within 2 ms over loopback; every 15th held up for 120 ms on the way.
    arrivals = arrivals_of_paced_sends(
        pacer, clock, lambda k: 0.120 if k % 15 == 0 else 0.002, seconds=6.0
    )
    assert most_in_one_second(arrivals) <= pacer.per_window < 30
    assert len(arrivals) >= 0.95 * 6.0 * 29  # it still sends at nearly the pacer's rate


async def test_the_daily_round_forgets_update_ids_older_than_a_week(env, standin):
    from datetime import timedelta

    from backend.storage.models import ProcessedUpdate

    backend, bot, settings = env
    old = datetime.now(UTC) - timedelta(days=8)
    async with backend.unit() as s:
        s.session.add_all([
            ProcessedUpdate(channel="telegram", update_id=1, processed_at=old),
            ProcessedUpdate(channel="telegram", update_id=2),
        ])  # fmt: skip
    await DeliveryWorker(backend, bot, settings).calendar(datetime(2026, 11, 23, 1, 0, tzinfo=UTC))
    async with backend.unit() as s:
        kept = list(await s.session.scalars(select(ProcessedUpdate.update_id)))
        assert await s.updates.first_time("telegram", 1)  # forgotten: would be handled again
        assert not await s.updates.first_time("telegram", 2)  # recent: still recognised
    assert kept == [2]
