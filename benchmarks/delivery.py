"""Notification delivery at Telegram's limits: rate, 429s, loss, duplicates, worker memory.

Run: .venv/bin/python benchmarks/delivery.py [--quick] [--db sqlite|postgresql|both] [--gap S]
     [--rtt MS] [--scenario burst|staggered|both] [--runs N]

The target (issue): 10,000 notifications to 5,000 recipients through the Bot API stand-in with
a limit of 30 per second: achieved rate at least 95% of the limit, no 429 caused, nothing lost,
nothing sent twice; report the worker's peak RSS.

The stand-in (tests/standin) runs in this process and enforces Telegram's flood limits: 30
messages per second overall and 1 per second per private chat, answering 429 beyond them. The
delivery worker runs as production runs it (`python -m bot.cli worker`, settings from the
environment, delivery_per_second=30, no quiet hours) in a process of its own, so its peak RSS
(VmHWM, read just before SIGTERM) and CPU time are its own. Each run gets a freshly migrated
database with the region loaded.

Telegram limits messages, not outbox rows, and the worker merges all due rows of one person
into one message; so the 95% target applies to messages per second against the 30/s limit.
Rows per second are reported beside it. Two scenarios, each of two notifications per recipient:

* burst: every row is due at once (the two rows of a person next to each other, as the
  workflow writes them), so each person gets one combined message: rows/2 messages.
* staggered: rows become due as a stream faster than the limit (4/3 of it, so the worker and
  not the schedule sets the pace), each person's second row GAP seconds after the first. With
  the default GAP of 2 s, a person's two rows are at least one claim batch apart in due order,
  so both go out as separate messages and every chat gets two, which the stand-in's 1/s per
  chat limit checks. Only the last few recipients of the stream, whose second rows have fewer
  rows coming due between them and the first, may get theirs combined. A GAP below 1 s puts
  the two rows within a second of each other, which makes the worker's per-chat pacing wait
  (and merges some pairs).

The rate is taken over the sending window (first to last successful sendMessage, as the
stand-in received them): (messages - 1) / window. Every row carries a unique code that the
message text shows, so each message is traced back to the rows it carries:
lost = rows not ending `sent` + rows in no message + recipients who got no message;
duplicates = messages beyond one per (recipient, group of rows) + extra copies of a row.

The stand-in answers over loopback within a few milliseconds; --rtt MS holds every answer back
that long, to see the rate a worker far from api.telegram.org would reach.

A 429 is rare (a few in thousands of messages) and a run on a shared machine is noisy: --runs N
repeats each case N times and prints the medians beside the single runs.

Needs PostgreSQL at MUSRENBOT_BENCH_POSTGRES_URL (default postgresql+asyncpg://postgres@
127.0.0.1:5432/postgres) for the PostgreSQL runs; a database of its own is created and dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# Run as a script, import from the project root (tests.*, benchmarks.common).
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() not in (HERE, ROOT)]

from aiohttp import web  # noqa: E402
from sqlalchemy import func, insert, select  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from backend.services.delivery import STATES  # noqa: E402
from backend.services.wiring import Backend  # noqa: E402
from backend.storage.migrate import upgrade  # noqa: E402
from backend.storage.models import Notification, User  # noqa: E402
from benchmarks.common import (  # noqa: E402
    mb,
    percentile,
    postgres_admin,
    postgres_problem,
    print_table,
    source_state,
)
from bot.telegram.translate import CHANNEL  # noqa: E402
from tests.conftest import make_settings, start_backend  # noqa: E402
from tests.standin import BotApiStandIn  # noqa: E402

POSTGRES_ADMIN_URL = os.environ.get(
    "MUSRENBOT_BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
LIMIT = 30  # messages per second overall: the stand-in's limit and the worker's setting
CHAT_LIMIT = 1  # messages per second per private chat (the stand-in's limit)
TARGET_SHARE = 0.95  # achieved messages per second / LIMIT, at least
PER_RECIPIENT = 2
STREAM_FACTOR = 4 / 3  # staggered: rows become due this much faster than LIMIT
FIRST_CHAT = 800_000
STALL_TIMEOUT = 90.0  # seconds without a delivery before a run is given up (lease is 60 s)
STALL_GAP = 0.1  # seconds between two sends that count as a stall (nominal gap: 1/LIMIT)
CODE = re.compile(r"\bBX(\d{2})-(\d{4})\b")


def row_code(k: int) -> str:
    return f"BX{k // 10_000:02d}-{k % 10_000:04d}"


@dataclass(frozen=True)
class Mode:
    name: str
    recipients: int

    @property
    def rows(self) -> int:
        return self.recipients * PER_RECIPIENT


FULL = Mode("full", recipients=5_000)
QUICK = Mode("quick", recipients=300)


@dataclass(frozen=True)
class Scenario:
    name: str
    describe: str
    # due time of each row, in seconds after t0: offsets(rows, gap)
    offsets: Callable[[int, float], list[float]]
    expected_messages: Callable[[int], int]


def burst_offsets(rows: int, gap: float) -> list[float]:
    return [0.0] * rows


def staggered_offsets(rows: int, gap: float) -> list[float]:
    per_recipient = PER_RECIPIENT / (LIMIT * STREAM_FACTOR)  # seconds between recipients
    return [(k // PER_RECIPIENT) * per_recipient + (k % PER_RECIPIENT) * gap for k in range(rows)]


def scenarios(gap: float) -> list[Scenario]:
    return [
        Scenario(
            "burst",
            "all rows due at once; one combined message per recipient",
            burst_offsets,
            lambda rows: rows // PER_RECIPIENT,
        ),
        Scenario(
            "staggered",
            f"rows due as a stream at {LIMIT * STREAM_FACTOR:.0f} rows/s, each recipient's "
            f"second row {gap:g} s after the first",
            staggered_offsets,
            lambda rows: rows,
        ),
    ]


# --- databases ---------------------------------------------------------------------------


async def _admin(sql: str) -> None:
    await postgres_admin(POSTGRES_ADMIN_URL, sql)


def _remove_sqlite(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


@contextlib.asynccontextmanager
async def fresh_database(kind: str, workdir: Path) -> AsyncIterator[str]:
    """A migrated, empty database of its own; dropped (or deleted) afterwards."""
    if kind == "sqlite":
        path = workdir / f"delivery-{uuid.uuid4().hex[:8]}.sqlite3"
        url = f"sqlite+aiosqlite:///{path}"
        await asyncio.to_thread(upgrade, url)
        try:
            yield url
        finally:
            _remove_sqlite(path)
        return
    name = f"musrenbot_bench_delivery_{uuid.uuid4().hex[:10]}"
    await _admin(f'CREATE DATABASE "{name}"')
    try:
        url = make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(False)
        await asyncio.to_thread(upgrade, url)
        yield url
    finally:
        await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def add_recipients(backend: Backend, count: int) -> list[int]:
    now = datetime.now(UTC)
    async with backend.sessionmaker() as session, session.begin():
        await session.execute(
            insert(User),
            [
                {"channel": CHANNEL, "external_id": str(FIRST_CHAT + i),
                 "chat_id": str(FIRST_CHAT + i), "language": "id", "reachable": True,
                 "notifications_muted": False, "created_at": now}
                for i in range(count)
            ],
        )  # fmt: skip
        found = await session.execute(select(User.chat_id, User.id).where(User.channel == CHANNEL))
        by_chat = {int(chat): uid for chat, uid in found.all()}
    return [by_chat[FIRST_CHAT + i] for i in range(count)]


async def add_notifications(backend: Backend, users: list[int], due: list[datetime]) -> None:
    """Decision notifications as the workflow writes them: a person's rows side by side."""
    now = datetime.now(UTC)
    rows = [
        {"user_id": users[k // PER_RECIPIENT], "channel": CHANNEL, "template": "notify.decision",
         "params": {"code": row_code(k), "stage": "desa", "decision": "ditolak",
                    "reason_code": "duplikat", "note": None, "submitter": True},
         "dedupe_key": f"bench:{k}", "state": "pending", "attempts": 0,
         "next_attempt_at": due[k], "created_at": now}
        for k in range(len(due))
    ]  # fmt: skip
    async with backend.sessionmaker() as session, session.begin():
        await session.execute(insert(Notification), rows)


async def outbox_counts(backend: Backend) -> dict[str, int]:
    """Rows per outbox state (read directly: the service's status view is for admins)."""
    async with backend.sessionmaker() as session:
        query = select(Notification.state, func.count()).group_by(Notification.state)
        found = {state: int(n) for state, n in (await session.execute(query)).all()}
    return {state: found.get(state, 0) for state in STATES}


async def unsent_rows(backend: Backend) -> int:
    async with backend.sessionmaker() as session:
        query = select(func.count()).select_from(Notification).where(Notification.state != "sent")
        return int(await session.scalar(query) or 0)


# --- the worker process ------------------------------------------------------------------


@dataclass
class Worker:
    proc: subprocess.Popen[bytes]
    log_path: Path
    peak_rss_kb: int | None = None
    cpu_seconds: float | None = None
    exit_code: int | None = None


def _proc_status_kb(pid: int, key: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _proc_cpu(pid: int) -> float | None:
    """User + system CPU seconds of a process."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_worker(database_url: str, workdir: Path, standin: BotApiStandIn, tag: str) -> Worker:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MUSRENBOT_")}
    env.update(
        MUSRENBOT_DATABASE_URL=database_url,
        MUSRENBOT_TELEGRAM_TOKEN=standin.token,
        MUSRENBOT_TELEGRAM_API_URL=standin.base_url,
        MUSRENBOT_QUIET_HOURS="",
        MUSRENBOT_DELIVERY_PER_SECOND=str(LIMIT),
        MUSRENBOT_MEDIA_DIR=str(workdir / "media"),
        MUSRENBOT_LOG_LEVEL="INFO",
    )
    log_path = workdir / f"worker-{tag}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(  # noqa: ASYNC220 - started once per run, before any load
            [sys.executable, "-m", "bot.cli", "worker"],
            env=env,
            cwd=workdir,  # no .env file from the project directory
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return Worker(proc, log_path)


async def wait_started(worker: Worker, timeout: float = 60.0) -> float:  # noqa: ASYNC109
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if worker.proc.poll() is not None:
            break
        if "delivery worker started" in worker.log_path.read_text(errors="replace"):
            return time.monotonic() - started
        await asyncio.sleep(0.05)
    tail = worker.log_path.read_text(errors="replace")[-3000:]
    raise RuntimeError(f"worker did not start (exit {worker.proc.poll()}):\n{tail}")


async def stop_worker(worker: Worker) -> None:
    if worker.proc.poll() is None:
        worker.peak_rss_kb = _proc_status_kb(worker.proc.pid, "VmHWM")
        worker.cpu_seconds = _proc_cpu(worker.proc.pid)
        worker.proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.to_thread(worker.proc.wait, 20)
        except subprocess.TimeoutExpired:
            worker.proc.kill()
            await asyncio.to_thread(worker.proc.wait)
    worker.exit_code = worker.proc.returncode


def log_problems(worker: Worker) -> list[str]:
    lines = worker.log_path.read_text(errors="replace").splitlines()
    return [ln for ln in lines if re.search(r"\b(WARNING|ERROR|CRITICAL)\b|Traceback", ln)]


# --- what the stand-in saw -----------------------------------------------------------------


@dataclass(frozen=True)
class Sent:
    at: float  # stand-in's monotonic clock when the request arrived
    chat: int
    rows: frozenset[int]


class Tracker:
    """Follows the stand-in's call log as it grows."""

    def __init__(self, standin: BotApiStandIn) -> None:
        self.standin = standin
        self.position = 0
        self.sent: list[Sent] = []
        self.rows_seen: set[int] = set()
        self.last_progress = time.monotonic()

    def scan(self) -> None:
        calls = self.standin.calls
        for call in calls[self.position :]:
            if call.method != "sendMessage" or call.status != 200:
                continue
            text_ = str(call.params.get("text", ""))
            rows = frozenset(int(a) * 10_000 + int(b) for a, b in CODE.findall(text_))
            self.sent.append(Sent(call.at, int(str(call.chat_id)), rows))
            self.rows_seen |= rows
            self.last_progress = time.monotonic()
        self.position = len(calls)


def delay_answers(standin: BotApiStandIn, seconds: float) -> None:
    """Hold every Bot API answer back for `seconds`, as a distant server would: the stand-in
    still stamps and rate-checks each call when it arrives."""
    handle = standin._handle_api

    async def delayed(request: web.Request) -> web.Response:
        response = await handle(request)
        await asyncio.sleep(seconds)
        return response

    standin._handle_api = delayed  # type: ignore[method-assign] # routed when it starts


# --- one run -----------------------------------------------------------------------------


@dataclass
class Result:
    db: str
    scenario: Scenario
    rows: int
    recipients: int
    insert_seconds: float = 0.0
    worker_start_seconds: float = 0.0
    sent: list[Sent] = field(default_factory=list)
    rate_limited: int = 0
    rate_limited_chat: int = 0
    other_errors: Counter[int] = field(default_factory=Counter)
    violations: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    unsent: int = 0
    worker: Worker | None = None
    problems: list[str] = field(default_factory=list)
    aborted: str | None = None
    schedule_seconds: float = 0.0  # staggered: when the last row became due, after t0
    lag_seconds: float | None = None  # last send after the last row became due
    load: float = 0.0  # the machine's 1-minute load average as the sending ended
    run: int | None = None  # which of several runs of the same case

    @property
    def label(self) -> str:
        return f"{self.db} {self.scenario.name}" + (f" #{self.run}" if self.run else "")

    # rates over the sending window
    @property
    def window(self) -> float:
        return self.sent[-1].at - self.sent[0].at if len(self.sent) > 1 else 0.0

    @property
    def message_rate(self) -> float:
        return (len(self.sent) - 1) / self.window if self.window > 0 else 0.0

    @property
    def row_rate(self) -> float:
        if self.window <= 0:
            return 0.0
        return (sum(len(s.rows) for s in self.sent) - len(self.sent[0].rows)) / self.window

    # correctness
    def copies(self) -> Counter[int]:
        return Counter(row for s in self.sent for row in s.rows)

    @property
    def rows_in_no_message(self) -> int:
        return self.rows - len(self.copies().keys() & set(range(self.rows)))

    @property
    def recipients_without_message(self) -> int:
        chats = {s.chat for s in self.sent}
        return sum(1 for i in range(self.recipients) if FIRST_CHAT + i not in chats)

    @property
    def lost(self) -> int:
        return self.unsent + self.rows_in_no_message + self.recipients_without_message

    @property
    def repeated_messages(self) -> int:
        groups = Counter((s.chat, s.rows) for s in self.sent)
        return sum(n - 1 for n in groups.values())

    @property
    def extra_row_copies(self) -> int:
        return sum(n - 1 for n in self.copies().values())

    @property
    def duplicates(self) -> int:
        return self.repeated_messages + self.extra_row_copies

    @property
    def misdirected(self) -> int:
        return sum(
            1 for s in self.sent for row in s.rows if s.chat != FIRST_CHAT + row // PER_RECIPIENT
        )

    def gaps(self) -> list[float]:
        return [b.at - a.at for a, b in zip(self.sent, self.sent[1:], strict=False)]

    def chat_intervals(self) -> list[float]:
        times: dict[int, list[float]] = defaultdict(list)
        for s in self.sent:
            times[s.chat].append(s.at)
        return [b - a for ts in times.values() for a, b in zip(ts, ts[1:], strict=False)]

    def bucket_rates(self, width: float = 10.0) -> list[float]:
        """Messages per second in consecutive full windows of `width` seconds."""
        if self.window < width:
            return []
        start = self.sent[0].at
        buckets = Counter(int((s.at - start) // width) for s in self.sent)
        full = int(self.window // width)
        return [buckets.get(i, 0) / width for i in range(full)]

    def passed(self) -> bool:
        return (
            self.aborted is None
            and self.message_rate >= TARGET_SHARE * LIMIT
            and self.rate_limited == 0
            and self.lost == 0
            and self.duplicates == 0
            and self.misdirected == 0
            and not self.violations
        )


async def run_one(
    db: str, scenario: Scenario, mode: Mode, gap: float, standin: BotApiStandIn, workdir: Path,
    run: int | None = None,
) -> Result:  # fmt: skip
    result = Result(db, scenario, mode.rows, mode.recipients, run=run)
    async with fresh_database(db, workdir) as url:
        settings = make_settings(
            url,
            workdir,
            telegram_token=standin.token,
            telegram_api_url=standin.base_url,
            quiet_hours="",
            delivery_per_second=float(LIMIT),
        )
        backend = await start_backend(settings)
        try:
            users = await add_recipients(backend, mode.recipients)
            standin.reset()
            standin.set_limits(global_per_second=LIMIT, per_chat_per_second=CHAT_LIMIT)
            worker = start_worker(url, workdir, standin, f"{db}-{scenario.name}")
            result.worker = worker
            try:
                result.worker_start_seconds = await wait_started(worker)
                offsets = scenario.offsets(mode.rows, gap)
                t0 = datetime.now(UTC)
                mono0 = time.monotonic()
                due = [t0 + timedelta(seconds=o) for o in offsets]
                await add_notifications(backend, users, due)
                result.insert_seconds = time.monotonic() - mono0
                result.schedule_seconds = max(offsets)
                await follow(result, backend, standin, worker, mode, scenario)
            finally:
                result.load = os.getloadavg()[0]
                await stop_worker(worker)
            final = Tracker(standin)
            final.scan()
            result.sent = final.sent
            if result.sent:
                result.lag_seconds = result.sent[-1].at - (mono0 + result.schedule_seconds)
            result.rate_limited = len(standin.rate_limited)
            result.rate_limited_chat = sum(
                1 for c in standin.rate_limited if _chat_was_busy(result.sent, c.chat_id, c.at)
            )
            result.other_errors = Counter(
                c.status for c in standin.calls if c.status not in (200, 429)
            )
            result.violations = list(standin.violations)
            result.counts = await outbox_counts(backend)
            result.unsent = await unsent_rows(backend)
            result.problems = log_problems(worker)
        finally:
            await backend.close()
    return result


def _chat_was_busy(sent: list[Sent], chat_id: object, at: float) -> bool:
    """Whether a 429 came within a second of an earlier message to the same chat."""
    chat = int(str(chat_id))
    return any(s.chat == chat and 0 <= at - s.at < 1.0 for s in sent)


async def follow(
    result: Result,
    backend: Backend,
    standin: BotApiStandIn,
    worker: Worker,
    mode: Mode,
    scenario: Scenario,
) -> None:
    """Wait until every row has been delivered and settled, the worker died, or it stalled."""
    tracker = Tracker(standin)
    expected = scenario.expected_messages(mode.rows)
    deadline = time.monotonic() + result.schedule_seconds + 3 * expected / LIMIT + 120
    next_report = time.monotonic() + 30
    while True:
        await asyncio.sleep(0.25)
        tracker.scan()
        now = time.monotonic()
        if len(tracker.rows_seen) >= mode.rows:
            break
        if worker.proc.poll() is not None:
            result.aborted = f"worker exited with {worker.proc.returncode}"
            return
        if now - tracker.last_progress > STALL_TIMEOUT:
            result.aborted = f"no delivery for {STALL_TIMEOUT:.0f} s"
            return
        if now > deadline:
            result.aborted = "out of time"
            return
        if now >= next_report:
            next_report = now + 30
            print(
                f"    … {len(tracker.sent)} messages, {len(tracker.rows_seen)}/{mode.rows} rows",
                flush=True,
            )
    # Every row reached a chat; wait for the last settle, then a moment for stray repeats.
    settle_deadline = time.monotonic() + 15
    while time.monotonic() < settle_deadline:
        counts = await outbox_counts(backend)
        if counts["pending"] == 0 and counts["sending"] == 0:
            break
        await asyncio.sleep(0.2)
    await asyncio.sleep(1.5)


# --- printing ------------------------------------------------------------------------------


def print_detail(r: Result) -> None:
    print(f"\n{r.label}: {r.scenario.describe}")
    if r.aborted:
        print(f"  ! run aborted: {r.aborted}")
    messages = len(r.sent)
    expected = r.scenario.expected_messages(r.rows)
    combined = sum(1 for s in r.sent if len(s.rows) > 1)
    print(
        f"  {r.rows} rows to {r.recipients} recipients -> {messages} messages, {combined} of "
        f"them combined (designed for {expected}; {r.rows / max(messages, 1):.2f} rows per "
        "message)"
    )
    print(
        f"  setup: worker up in {r.worker_start_seconds:.1f} s, rows written in "
        f"{r.insert_seconds:.1f} s"
        + (f", last row due at +{r.schedule_seconds:.0f} s" if r.schedule_seconds else "")
        + f"; machine load average {r.load:.1f} on {os.cpu_count()} CPUs as sending ended"
    )
    if messages > 1:
        ideal = (messages - 1) / LIMIT
        print(
            f"  window {r.window:.1f} s (at exactly {LIMIT}/s: {ideal:.1f} s): "
            f"{r.message_rate:.2f} messages/s = {100 * r.message_rate / LIMIT:.1f}% of the "
            f"limit, {r.row_rate:.2f} rows/s"
        )
        if r.lag_seconds is not None and r.schedule_seconds:
            print(f"  last message {r.lag_seconds:.1f} s after the last row became due")
        gaps = r.gaps()
        stalls = [g for g in gaps if g > STALL_GAP]
        print(
            f"  gap between sends: median {1000 * statistics.median(gaps):.1f} ms, "
            f"p90 {1000 * percentile(gaps, 90):.1f} ms, p99 {1000 * percentile(gaps, 99):.1f} ms, "
            f"max {1000 * max(gaps):.0f} ms (nominal {1000 / LIMIT:.1f} ms)"
        )
        over = sum(max(0.0, g - 1 / LIMIT) for g in gaps)
        print(
            f"  time lost to gaps beyond the nominal one: {over:.1f} s, of which "
            f"{sum(g - 1 / LIMIT for g in stalls):.1f} s in {len(stalls)} gaps > "
            f"{1000 * STALL_GAP:.0f} ms"
        )
        buckets = r.bucket_rates()
        if buckets:
            print(
                f"  10-s windows: min {min(buckets):.1f}, median {statistics.median(buckets):.1f}"
                f", max {max(buckets):.1f} messages/s"
            )
        intervals = r.chat_intervals()
        if intervals:
            close = sum(1 for i in intervals if i < 1.0 / CHAT_LIMIT)
            print(
                f"  repeat messages to a chat: {len(intervals)}; closest {min(intervals):.3f} s "
                f"apart, median {statistics.median(intervals):.1f} s; {close} under "
                f"{1 / CHAT_LIMIT:.0f} s"
            )
    print(
        f"  429s: {r.rate_limited} ({r.rate_limited_chat} to a chat busy within 1 s); "
        f"other errors: {dict(r.other_errors) or 'none'}; stand-in violations: "
        f"{len(r.violations)}"
    )
    print(
        f"  outbox: {', '.join(f'{k} {v}' for k, v in r.counts.items() if v) or 'empty'}; "
        f"lost {r.lost} (not sent {r.unsent}, in no message {r.rows_in_no_message}, "
        f"recipients without a message {r.recipients_without_message}); duplicates "
        f"{r.duplicates} (repeated messages {r.repeated_messages}, extra row copies "
        f"{r.extra_row_copies}); misdirected rows {r.misdirected}"
    )
    w = r.worker
    if w is not None:
        cpu = "n/a" if w.cpu_seconds is None else f"{w.cpu_seconds:.1f} s"
        per = (
            f" ({1000 * w.cpu_seconds / messages:.1f} ms per message)"
            if w.cpu_seconds and messages
            else ""
        )
        print(
            f"  worker pid {w.proc.pid}: peak RSS {mb(w.peak_rss_kb)}, CPU {cpu}{per}, "
            f"exit code {w.exit_code}"
        )
    for line in r.problems[:5]:
        print(f"  ! worker log: {line}")
    if len(r.problems) > 5:
        print(f"  ! … {len(r.problems) - 5} more warning/error lines in the worker log")
    for v in r.violations[:5]:
        print(f"  ! stand-in: {v}")


def print_targets(results: list[Result]) -> None:
    print()
    print(
        f"Targets (limit {LIMIT} messages/s overall, {CHAT_LIMIT}/s per chat; the 95% target "
        "applies to messages/s, which is what Telegram limits)"
    )

    def verdict(ok: bool) -> str:
        return "ok" if ok else "MISSED"

    header = ["figure", "target"] + [r.label for r in results]
    rows = [
        header,
        ["messages/s (first to last send)", f">= {TARGET_SHARE * LIMIT:.1f}"]
        + [
            f"{r.message_rate:.2f} {verdict(r.message_rate >= TARGET_SHARE * LIMIT)}"
            for r in results
        ],
        ["share of the limit", f">= {100 * TARGET_SHARE:.0f}%"]
        + [f"{100 * r.message_rate / LIMIT:.1f}%" for r in results],
        ["rows/s (outbox rows delivered)", "(reported)"] + [f"{r.row_rate:.2f}" for r in results],
        ["messages / rows", "(reported)"] + [f"{len(r.sent)} / {r.rows}" for r in results],
        ["429s caused", "0"]
        + [f"{r.rate_limited} {verdict(r.rate_limited == 0)}" for r in results],
        ["lost", "0"] + [f"{r.lost} {verdict(r.lost == 0)}" for r in results],
        ["duplicates", "0"] + [f"{r.duplicates} {verdict(r.duplicates == 0)}" for r in results],
        ["rows ending `sent`", "all"]
        + [f"{r.rows - r.unsent}/{r.rows} {verdict(r.unsent == 0)}" for r in results],
        ["misdirected / invalid calls", "0"]
        + [f"{n} {verdict(n == 0)}" for n in (r.misdirected + len(r.violations) for r in results)],
        ["worker peak RSS (VmHWM)", "(reported)"]
        + [mb(r.worker.peak_rss_kb if r.worker else None) for r in results],
    ]
    print_table(rows)


def print_medians(results: list[Result]) -> None:
    """Per case, the median of its runs and each run's figures, for noisy repeated runs."""
    cases: dict[str, list[Result]] = defaultdict(list)
    for r in results:
        cases[f"{r.db} {r.scenario.name}"].append(r)
    print(f"\nMedians over runs (targets: >= {TARGET_SHARE * LIMIT:.1f} messages/s, 0 429s)")
    rows = [["case", "runs", "messages/s: median (each)", "429s: median (each)"]]
    for case, runs in cases.items():
        rates = [r.message_rate for r in runs]
        limited = [r.rate_limited for r in runs]
        rows.append([
            case, str(len(runs)),
            f"{statistics.median(rates):.2f} = {100 * statistics.median(rates) / LIMIT:.1f}% "
            f"({', '.join(f'{x:.2f}' for x in rates)})",
            f"{statistics.median(limited):g} ({', '.join(str(n) for n in limited)}; "
            f"total {sum(limited)})",
        ])  # fmt: skip
    print_table(rows)


# --- main --------------------------------------------------------------------------------


async def benchmark(
    mode: Mode, dbs: list[str], gap: float, rtt_ms: float, cases: list[str], runs: int
) -> int:
    print(
        f"Delivery benchmark ({mode.name}): {mode.rows} notifications to {mode.recipients} "
        f"recipients per scenario, databases: {', '.join(dbs)}; {os.cpu_count()} CPUs"
    )
    print(f"code: {source_state()}")
    print(
        f"stand-in limits: {LIMIT}/s overall, {CHAT_LIMIT}/s per chat; worker: "
        f"delivery_per_second={LIMIT}, delivery_chat_interval=1, no quiet hours"
    )
    if rtt_ms:
        print(f"every Bot API answer held back {rtt_ms:g} ms (a distant server's round trip)")
    if "postgresql" in dbs and (problem := await postgres_problem(POSTGRES_ADMIN_URL)):
        print(f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL}: {problem}")
        return 2
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="bench-delivery-") as tmp:
        workdir = Path(tmp)
        standin = BotApiStandIn()
        if rtt_ms:
            delay_answers(standin, rtt_ms / 1000)
        async with standin:
            for db in dbs:
                for scenario in (s for s in scenarios(gap) if s.name in cases):
                    for n in range(1, runs + 1):
                        run = n if runs > 1 else None
                        print(f"\nrunning {db} {scenario.name} {n}/{runs} …", flush=True)
                        started = time.monotonic()
                        result = await run_one(db, scenario, mode, gap, standin, workdir, run)
                        results.append(result)
                        print(f"  done in {time.monotonic() - started:.0f} s", flush=True)
        for r in results:
            print_detail(r)
    print_targets(results)
    if runs > 1:
        print_medians(results)
    failed = [r.label for r in results if not r.passed()]
    if failed:
        print(f"\ntargets missed in: {', '.join(failed)}")
    return 1 if failed else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="600 rows to 300 recipients")
    parser.add_argument(
        "--db", choices=("sqlite", "postgresql", "both"), default="postgresql",
        help="database(s) to run on (default: postgresql)",
    )  # fmt: skip
    parser.add_argument(
        "--gap", type=float, default=2.0, metavar="S",
        help="staggered: seconds between a recipient's two rows becoming due (default 2)",
    )  # fmt: skip
    parser.add_argument(
        "--rtt", type=float, default=0.0, metavar="MS",
        help="hold each Bot API answer back this long, like a distant server (default 0)",
    )  # fmt: skip
    parser.add_argument(
        "--scenario", choices=("burst", "staggered", "both"), default="both",
        help="which case(s) to run (default: both)",
    )  # fmt: skip
    parser.add_argument(
        "--runs", type=int, default=1, metavar="N",
        help="run each case N times and print the medians (default 1)",
    )  # fmt: skip
    args = parser.parse_args()
    dbs = ["postgresql", "sqlite"] if args.db == "both" else [args.db]
    cases = ["burst", "staggered"] if args.scenario == "both" else [args.scenario]
    mode = QUICK if args.quick else FULL
    started = time.perf_counter()
    code = asyncio.run(benchmark(mode, dbs, args.gap, args.rtt, cases, max(1, args.runs)))
    print(f"\nfinished in {time.perf_counter() - started:.0f} s")
    sys.exit(code)


if __name__ == "__main__":
    main()
