"""Complete resident intakes through the Telegram webhook: throughput, latency, memory.

Run: .venv/bin/python benchmarks/intake.py [--quick]

The service runs as production runs it (`musrenbot run`: uvicorn + FastAPI, webhook mode) in a
process of its own, once over SQLite and once over PostgreSQL, each on a freshly migrated
database. A bare aiogram echo bot (one message handler answering with sendMessage, one callback
handler answering answerCallbackQuery) runs the same way, behind a FastAPI route under
uvicorn. This process holds the Bot API stand-in (tests/standin) and the load generator: the
stand-in posts every update to the webhook over real HTTP, and the calls the bot makes while
handling it come back to the stand-in before the webhook answers.

* Closed loop: N residents at once, each sending its next update when the last was answered,
  every one going through a complete intake (13 updates: /start, consent, desa search and
  pick, location, address, category, problem, request, volume, no photos, beneficiaries,
  submit). The echo bot gets the same updates. Rounds take echo, SQLite and PostgreSQL in
  turn, so each ratio compares runs made moments apart on this shared, noisy machine.
* Open loop: updates sent at fixed times (a fixed rate), independent of the answers, from many
  residents each in their own conversation; per-update latency is webhook POST -> response.
* Correctness: every intake ends with a tracking code (and a row in the usulan table), every
  button press is answered, the stand-in saw no invalid Bot API call, no errors or timeouts.

Needs PostgreSQL at MUSRENBOT_BENCH_POSTGRES_URL (default postgresql+asyncpg://postgres@
127.0.0.1:5432/postgres); a database of its own is created and dropped. Without a reachable
server only SQLite runs.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
# Run as a script, import from the project root (tests.standin, benchmarks.common); hence
# the imports below this.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import argparse  # noqa: E402
import asyncio  # noqa: E402
import contextlib  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import resource  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Awaitable, Callable, Iterator  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from typing import Any  # noqa: E402

import aiohttp  # noqa: E402
from fastapi import FastAPI, Request, Response  # noqa: E402 - the echo bot's route needs them here
from fastapi.responses import JSONResponse  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from backend.services.categories import load_categories  # noqa: E402
from backend.services.wilayah import WilayahIndex, iter_wilayah_rows, load_region  # noqa: E402
from backend.storage.db import create_engine, create_sessionmaker  # noqa: E402
from backend.storage.migrate import upgrade  # noqa: E402
from benchmarks.common import (  # noqa: E402
    mb,
    percentile,
    postgres_admin,
    postgres_problem,
    print_table,
    source_state,
)
from tests.standin import BotApiStandIn  # noqa: E402

REGION = "12.71"  # Kota Medan
POSTGRES_ADMIN_URL = os.environ.get(
    "MUSRENBOT_BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
WEBHOOK_PATH = "/telegram/webhook"
SECRET = "bench-secret_0123456789"
REQUEST_TIMEOUT = 15.0  # seconds before a webhook call counts as timed out
TRACKING_CODE = re.compile(r"\b[2-9A-HJKMNP-TV-Z]{4}-[2-9A-HJKMNP-TV-Z]{4}\b")

TARGET_RATIO = 0.40  # PostgreSQL throughput / echo bot throughput, at least
TARGET_P99_MS = 50.0  # PostgreSQL p99 at the open-loop rate, below

ADDRESSES = (
    "Lingkungan 3, RT 02/RW 05, Jl. Melati",
    "Jl. Sisingamangaraja Gg. Mawar No. 12",
    "Dusun II RT 001 RW 003",
)
PROBLEMS = (
    "Jalan di depan SD rusak berlubang sepanjang 120 meter, tergenang saat hujan.",
    "Parit tersumbat sampah sehingga rumah warga kebanjiran setiap hujan deras.",
    "Lampu jalan di gang kami mati sejak tiga bulan, rawan kejahatan malam hari.",
    "Posyandu belum punya timbangan bayi dan meja periksa yang layak dipakai.",
)
REQUESTS = (
    "Pengaspalan jalan lingkungan 120 meter dan pembuatan parit di kedua sisi.",
    "Normalisasi parit dan pemasangan penutup beton agar sampah tidak masuk.",
    "Pemasangan enam titik lampu jalan tenaga surya di sepanjang gang.",
    "Pengadaan alat timbang bayi, meja periksa dan lemari obat untuk posyandu.",
)
STEP_NAMES = (
    "/start",
    "consent",
    "desa search",
    "desa pick",
    "location",
    "address",
    "category",
    "problem",
    "request",
    "volume",
    "photos skip",
    "beneficiaries",
    "submit",
    "send own",  # only when similar usulan of the village were offered first
)
INTAKE_STEPS = 13  # the steps every intake has; "send own" comes on top when offered


@dataclass(frozen=True)
class Mode:
    name: str
    residents: int  # closed loop: residents at once
    rounds: int  # closed loop rounds (each: echo, SQLite, PostgreSQL)
    warmup_residents: int
    rate: float  # open loop: updates per second
    duration: float  # open loop: seconds of load
    lanes: int  # open loop: conversations the fixed-rate stream is spread over
    quiet_wait: float  # open loop: seconds to wait at most for others to leave the CPUs


FULL = Mode(
    "full",
    residents=200,
    rounds=3,
    warmup_residents=20,
    rate=100,
    duration=20,
    lanes=200,
    quiet_wait=10,
)
QUICK = Mode(
    "quick",
    residents=20,
    rounds=1,
    warmup_residents=5,
    rate=100,
    duration=5,
    lanes=130,
    quiet_wait=0,
)


# --- residents --------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    kind: str  # "text", "press" or "location"
    value: str = ""


def village_queries() -> list[tuple[str, str]]:
    """(what a resident types, code of the desa they then pick) for villages of the region."""
    rows = list(iter_wilayah_rows(REGION))
    index = WilayahIndex.from_rows(rows)
    desas = sorted(code for code, _ in rows if code.count(".") == 3)
    names = dict(rows)
    out: list[tuple[str, str]] = []
    for code in desas[::3]:
        query = names[code].lower()
        if any(m.desa.code == code for m in index.search(query)):
            out.append((query, code))
    assert out, "no village of the region can be found by its own name"
    return out


def intake_script(i: int, villages: list[tuple[str, str]], categories: list[str]) -> list[Step]:
    query, code = villages[i % len(villages)]
    return [
        Step("text", "/start"),
        Step("press", "consent:yes"),
        Step("text", query),
        Step("press", f"desa:{code}"),
        Step("location") if i % 2 == 0 else Step("text", "Lewati"),
        Step("text", ADDRESSES[i % 3]) if i % 3 else Step("press", "skip:intake.address"),
        Step("press", f"cat:{categories[i % len(categories)]}"),
        Step("text", PROBLEMS[i % len(PROBLEMS)]),
        Step("text", REQUESTS[i % len(REQUESTS)]),
        Step("text", f"{100 + i % 50} meter"),
        Step("press", "skip:intake.photos"),
        Step("text", str(50 + i % 300)),
        Step("press", "submit"),
    ]


class Resident:
    def __init__(self, user_id: int, steps: list[Step]) -> None:
        self.user_id = user_id
        self.steps = steps
        self.pos = 0
        self.failed: str | None = None

    @property
    def done(self) -> bool:
        return self.pos >= len(self.steps) or self.failed is not None


# --- targets (processes under test) ------------------------------------------------------


@dataclass
class Target:
    name: str
    proc: subprocess.Popen[bytes]
    port: int
    log_path: Path
    database_url: str | None = None
    peak_rss_kb: int | None = None

    @property
    def pg_database(self) -> str | None:
        if self.database_url is None or not self.database_url.startswith("postgresql"):
            return None
        return make_url(self.database_url).database

    @property
    def webhook_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{WEBHOOK_PATH}"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("MUSRENBOT_")}


def start_service(name: str, database_url: str, workdir: Path, standin: BotApiStandIn) -> Target:
    """`musrenbot run` with settings from the environment, as a deployment starts it."""
    port = _free_port()
    env = _clean_env()
    env.update(
        MUSRENBOT_DATABASE_URL=database_url,
        MUSRENBOT_REGION=REGION,
        MUSRENBOT_PLANNING_YEAR="2027",
        MUSRENBOT_MEDIA_DIR=str(workdir / f"media-{name}"),
        MUSRENBOT_TELEGRAM_TOKEN=standin.token,
        MUSRENBOT_TELEGRAM_API_URL=standin.base_url,
        MUSRENBOT_TELEGRAM_MODE="webhook",
        MUSRENBOT_TELEGRAM_WEBHOOK_SECRET=SECRET,
        MUSRENBOT_PUBLIC_URL=f"http://127.0.0.1:{port}",
        MUSRENBOT_LOG_LEVEL="warning",
    )
    script = Path(sys.executable).with_name("musrenbot")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "bot.cli"]
    command += ["run", "--host", "127.0.0.1", "--port", str(port), "--no-migrate"]
    log_path = workdir / f"{name}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(  # noqa: ASYNC220 - started once, before any load
            command, env=env, cwd=workdir, stdout=log, stderr=subprocess.STDOUT
        )
    return Target(name, proc, port, log_path, database_url)


def start_echo(workdir: Path, standin: BotApiStandIn) -> Target:
    port = _free_port()
    log_path = workdir / "echo.log"
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--serve-echo",
        str(port),
        "--api-url",
        standin.base_url,
        "--token",
        standin.token,
    ]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(  # noqa: ASYNC220 - started once, before any load
            command, env=_clean_env(), cwd=workdir, stdout=log, stderr=subprocess.STDOUT
        )
    return Target("echo", proc, port, log_path)


async def wait_ready(target: Target, timeout: float = 60.0) -> None:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if target.proc.poll() is not None:
                break
            with contextlib.suppress(aiohttp.ClientError, OSError):
                async with session.get(f"http://127.0.0.1:{target.port}/health") as resp:
                    if resp.status == 200:
                        return
            await asyncio.sleep(0.1)
    tail = target.log_path.read_text(errors="replace")[-3000:]
    raise RuntimeError(f"{target.name} did not start (exit {target.proc.poll()}):\n{tail}")


def _proc_status_kb(pid: int, key: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def stop_target(target: Target) -> None:
    if target.proc.poll() is None:
        target.peak_rss_kb = _proc_status_kb(target.proc.pid, "VmHWM")
        target.proc.send_signal(signal.SIGINT)  # uvicorn shuts down gracefully on SIGINT
        try:
            target.proc.wait(20)
        except subprocess.TimeoutExpired:
            target.proc.kill()
            target.proc.wait()


def log_problems(target: Target) -> list[str]:
    """Lines of the process's log that report an error (it logs warnings and above only)."""
    lines = target.log_path.read_text(errors="replace").splitlines()
    return [ln for ln in lines if re.search(r"\b(ERROR|CRITICAL)\b|Traceback", ln)]


# --- CPU accounting ---------------------------------------------------------------------

TICK = os.sysconf("SC_CLK_TCK")


def _proc_cpu(pid: int) -> float:
    """User + system CPU seconds of a process (all its threads)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def _machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return (sum(values) - idle) / TICK, sum(values) / TICK


def _self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _backends_cpu(database: str | None) -> dict[int, float]:
    """CPU seconds of each PostgreSQL backend process connected to `database`."""
    out: dict[int, float] = {}
    if database is None:
        return out
    marker = f" {database} ".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if cmdline.startswith(b"postgres: ") and marker in cmdline:
            out[int(entry.name)] = _proc_cpu(int(entry.name))
    return out


async def quiet_machine(max_wait: float, threshold: float = 0.3) -> float:
    """Wait (up to `max_wait` s) until the machine is nearly idle; returns its busy share.

    Others share this machine; a load test that starts while someone's test suite holds both
    cores measures them, not us. Busy share is in cores (0.3 = 30% of one core).
    """
    deadline = time.monotonic() + max_wait
    while True:
        busy0, _ = _machine_cpu()
        await asyncio.sleep(1.0)
        busy, _ = _machine_cpu()
        busy -= busy0
        if busy < threshold or time.monotonic() >= deadline:
            return busy


@dataclass
class CpuUse:
    wall: float
    service: float  # CPU seconds of the process under test
    generator: float  # CPU seconds of this process (stand-in + load generator)
    postgres: float  # CPU seconds of the PostgreSQL backends serving the benchmark's database
    machine_busy: float  # CPU seconds of every process on the machine

    def share(self, seconds: float) -> float:
        """Percent of one core."""
        return 100.0 * seconds / self.wall if self.wall else 0.0

    @property
    def others(self) -> float:
        return max(0.0, self.machine_busy - self.service - self.generator - self.postgres)


@contextlib.contextmanager
def cpu_meter(pid: int, database: str | None) -> Iterator[list[CpuUse]]:
    out: list[CpuUse] = []
    pg0 = _backends_cpu(database)
    wall0, svc0, gen0, (busy0, _) = time.perf_counter(), _proc_cpu(pid), _self_cpu(), _machine_cpu()
    yield out
    busy1, _ = _machine_cpu()
    wall, svc, gen = time.perf_counter() - wall0, _proc_cpu(pid) - svc0, _self_cpu() - gen0
    pg = sum(cpu - pg0.get(p, 0.0) for p, cpu in _backends_cpu(database).items())
    out.append(CpuUse(wall, svc, gen, pg, busy1 - busy0))


# --- load generation --------------------------------------------------------------------


@dataclass
class Tally:
    updates: int = 0  # answered with 200
    presses: int = 0  # of which button presses
    errors: int = 0  # HTTP status other than 200, or connection failures
    timeouts: int = 0
    flow_errors: int = 0  # the bot did not offer the button the resident was to press
    skipped: int = 0  # open loop: slot not used, the lane's previous update still in flight
    redelivered: int = 0  # sent again after the server closed a kept-alive connection
    latencies: list[tuple[int, float]] = field(default_factory=list)  # (step, seconds)
    problems: list[str] = field(default_factory=list)

    def note(self, problem: str) -> None:
        if len(self.problems) < 10:
            self.problems.append(problem)


class Driver:
    """Sends a resident's next update through the stand-in to one target."""

    def __init__(
        self,
        standin: BotApiStandIn,
        villages: list[tuple[str, str]],
        categories: list[str],
    ) -> None:
        self.standin = standin
        self.villages = villages
        self.categories = categories
        self._next_user = 600_000_000

    def residents(self, count: int) -> list[Resident]:
        out = []
        for _ in range(count):
            self._next_user += 1
            steps = intake_script(self._next_user, self.villages, self.categories)
            out.append(Resident(self._next_user, steps))
        return out

    def _update(self, resident: Resident, step: Step) -> dict[str, Any]:
        uid = resident.user_id
        if step.kind == "text":
            return self.standin.text_update(uid, step.value)
        if step.kind == "press":
            # Raises ValueError when the bot's last message has buttons but not this one.
            return self.standin.callback_update(uid, step.value)
        jitter = (uid % 1000) / 100_000
        return self.standin.location_update(uid, 3.583412 + jitter, 98.67223 - jitter)

    async def _deliver(self, target: Target, update: dict[str, Any], tally: Tally) -> int:
        """POST the update; once more, like Telegram, if a kept-alive connection was closed.

        uvicorn closes idle connections after 5 s while the client may still pick one for
        the next request; Telegram redelivers then, with the same update_id.
        """
        try:
            return await self.standin.post_to_webhook(update, url=target.webhook_url, secret=SECRET)
        except aiohttp.ServerDisconnectedError:
            tally.redelivered += 1
            return await self.standin.post_to_webhook(update, url=target.webhook_url, secret=SECRET)

    async def send(self, target: Target, resident: Resident, tally: Tally, measure: bool) -> None:
        """Send the resident's next update and wait for the webhook's answer."""
        index = resident.pos
        step = resident.steps[index]
        try:
            update = self._update(resident, step)
        except ValueError as exc:
            tally.flow_errors += 1
            resident.failed = f"step {STEP_NAMES[index]}: {exc}"
            tally.note(f"{target.name} user {resident.user_id}: {resident.failed}")
            return
        started = time.perf_counter()
        try:
            status = await asyncio.wait_for(self._deliver(target, update, tally), REQUEST_TIMEOUT)
        except TimeoutError:
            tally.timeouts += 1
            resident.failed = f"step {STEP_NAMES[index]}: timed out"
            tally.note(f"{target.name} user {resident.user_id}: {resident.failed}")
            return
        except (aiohttp.ClientError, OSError) as exc:
            tally.errors += 1
            resident.failed = f"step {STEP_NAMES[index]}: {type(exc).__name__}: {exc}"
            tally.note(f"{target.name} user {resident.user_id}: {resident.failed}")
            return
        elapsed = time.perf_counter() - started
        if status != 200:
            tally.errors += 1
            resident.failed = f"step {STEP_NAMES[index]}: HTTP {status}"
            tally.note(f"{target.name} user {resident.user_id}: {resident.failed}")
            return
        tally.updates += 1
        tally.presses += step.kind == "press"
        if measure:
            tally.latencies.append((index, elapsed))
        resident.pos += 1
        if step.kind == "press" and step.value == "submit" and self._similar_offered(resident):
            # Residents of one village asking for the same thing are shown each other's usulan
            # to support; these send their own, as a resident may.
            resident.steps.append(Step("press", "dk:own"))

    def _similar_offered(self, resident: Resident) -> bool:
        markup = self.standin.last_markup(resident.user_id) or {}
        rows = markup.get("inline_keyboard", [])
        return any(b.get("callback_data") == "dk:own" for row in rows for b in row)

    async def walk(
        self, target: Target, resident: Resident, tally: Tally, until: int, measure: bool
    ) -> None:
        while resident.pos < until and resident.failed is None:
            await self.send(target, resident, tally, measure)


async def closed_loop(driver: Driver, target: Target, count: int, tally: Tally) -> list[Resident]:
    residents = driver.residents(count)
    await asyncio.gather(
        *(driver.walk(target, r, tally, len(r.steps), measure=False) for r in residents)
    )
    return residents


async def bounded(jobs: list[Callable[[], Awaitable[None]]], limit: int) -> None:
    gate = asyncio.Semaphore(limit)

    async def run(job: Callable[[], Awaitable[None]]) -> None:
        async with gate:
            await job()

    await asyncio.gather(*(run(job) for job in jobs))


@dataclass
class OpenLoopResult:
    tally: Tally
    residents: list[Resident]
    measured_seconds: float
    lag: list[float]  # actual send time - scheduled time, seconds
    lanes: int
    period: float  # seconds between two updates of one conversation
    cpu: CpuUse  # during the measured window
    slots: int  # updates scheduled


async def open_loop(driver: Driver, target: Target, mode: Mode) -> OpenLoopResult:
    """A fixed-rate stream of updates spread round-robin over `lanes` conversations.

    Before the clock starts, lane j's first resident is walked (unmeasured) to step j mod 13,
    so from the first second every step of the intake is in the mix in equal parts, rather
    than every resident sending /start together. When a lane's resident is done the lane
    starts a new one. After the measured window the unfinished intakes are completed
    (unmeasured), so every resident still has to end with a tracking code.
    """
    total = int(mode.rate * mode.duration)
    lanes = min(mode.lanes, total)
    steps = INTAKE_STEPS
    prep = Tally()
    first = driver.residents(lanes)
    await bounded(
        [
            (lambda r=r, j=j: driver.walk(target, r, prep, j % steps, measure=False))
            for j, r in enumerate(first)
        ],
        100,
    )
    current = list(first)
    residents = list(first)
    busy = [False] * lanes
    tally = Tally()
    lag: list[float] = []
    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task[None]] = set()

    async def fire(lane: int, scheduled: float) -> None:
        busy[lane] = True
        try:
            resident = current[lane]
            if resident.done:
                resident = current[lane] = driver.residents(1)[0]
                residents.append(resident)
            lag.append(loop.time() - scheduled)
            await driver.send(target, resident, tally, measure=True)
        finally:
            busy[lane] = False

    with cpu_meter(target.proc.pid, target.pg_database) as cpu:
        start = loop.time() + 0.05
        for k in range(total):
            scheduled = start + k / mode.rate
            delay = scheduled - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            lane = k % lanes
            if busy[lane]:
                tally.skipped += 1
                continue
            task = asyncio.create_task(fire(lane, scheduled))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        await asyncio.gather(*tasks)
        measured = loop.time() - start
    await bounded(
        [(lambda r=r: driver.walk(target, r, prep, len(r.steps), measure=False)) for r in current],
        100,
    )
    tally.presses += prep.presses
    tally.redelivered += prep.redelivered
    tally.errors += prep.errors
    tally.timeouts += prep.timeouts
    tally.flow_errors += prep.flow_errors
    tally.problems.extend(prep.problems[:5])
    return OpenLoopResult(tally, residents, measured, lag, lanes, lanes / mode.rate, cpu[0], total)


# --- auditing ---------------------------------------------------------------------------


@dataclass
class Audit:
    intakes: int = 0  # residents whose every update was answered
    with_code: int = 0  # of which ended with a tracking code (echo: with an echo)
    codes: set[str] = field(default_factory=set)
    presses: int = 0
    answered_presses: int = 0
    calls: int = 0  # Bot API calls made
    failed_calls: int = 0  # Bot API calls the stand-in refused
    violations: list[str] = field(default_factory=list)


def audit(standin: BotApiStandIn, residents: list[Resident], presses: int, echo: bool) -> Audit:
    """Check what the bot sent, from the stand-in's record; then forget the record."""
    last_text: dict[int, str] = {}
    answered = failed = 0
    for call in standin.calls:
        if call.status != 200:
            failed += 1
            continue
        if call.method == "sendMessage" and isinstance(call.chat_id, int):
            last_text[call.chat_id] = str(call.params.get("text", ""))
        elif call.method == "answerCallbackQuery":
            answered += 1
    out = Audit(
        presses=presses, answered_presses=answered, calls=len(standin.calls), failed_calls=failed
    )
    out.violations = list(standin.violations)
    for resident in residents:
        if resident.failed is not None or resident.pos < len(resident.steps):
            continue
        out.intakes += 1
        last = last_text.get(resident.user_id, "")
        if echo:
            out.with_code += bool(last)
            continue
        match = TRACKING_CODE.search(last)
        if match:
            out.with_code += 1
            out.codes.add(match.group(0))
    standin.reset()
    return out


def merge(into: Audit, other: Audit) -> None:
    into.intakes += other.intakes
    into.with_code += other.with_code
    into.codes |= other.codes
    into.presses += other.presses
    into.answered_presses += other.answered_presses
    into.calls += other.calls
    into.failed_calls += other.failed_calls
    into.violations.extend(other.violations)


# --- databases --------------------------------------------------------------------------


async def _admin(sql: str) -> None:
    await postgres_admin(POSTGRES_ADMIN_URL, sql)


async def postgres_reachable() -> str | None:
    return await postgres_problem(POSTGRES_ADMIN_URL)


async def prepare_database(url: str) -> None:
    """Migrate a fresh database and load the region's villages, as `musrenbot run` would."""
    upgrade(url)
    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            await load_region(session, REGION)
    finally:
        await engine.dispose()


async def usulan_count(url: str) -> int:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return int(await conn.scalar(text("SELECT count(*) FROM usulan")) or 0)
    finally:
        await engine.dispose()


# --- statistics and printing ------------------------------------------------------------


@dataclass
class ClosedRun:
    round: int
    target: str
    updates: int
    intakes: int
    seconds: float
    cpu: CpuUse
    calls: int  # Bot API calls the target made

    @property
    def rate(self) -> float:
        return self.updates / self.seconds


# --- the benchmark ----------------------------------------------------------------------


async def benchmark(mode: Mode) -> int:
    print(f"Intake benchmark ({mode.name}): region {REGION}, webhook mode, {os.cpu_count()} CPUs")
    print(f"code: {source_state()}")
    villages = village_queries()
    categories = [c.key for c in load_categories()]
    pg_problem = await postgres_reachable()
    workdir = Path(tempfile.mkdtemp(prefix="musrenbot-bench-"))
    pg_name = f"musrenbot_bench_{uuid.uuid4().hex[:10]}"
    pg_url: str | None = None
    standin = BotApiStandIn()
    await standin.start()
    targets: dict[str, Target] = {}
    try:
        databases = {"sqlite": f"sqlite+aiosqlite:///{workdir / 'musrenbot.sqlite3'}"}
        if pg_problem is None:
            await _admin(f'CREATE DATABASE "{pg_name}"')
            pg_url = make_url(POSTGRES_ADMIN_URL).set(database=pg_name)
            databases["postgres"] = pg_url.render_as_string(hide_password=False)
        else:
            print(f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL} ({pg_problem}): SQLite only")
        for url in databases.values():
            await prepare_database(url)
        targets["echo"] = start_echo(workdir, standin)
        for name, url in databases.items():
            targets[name] = start_service(name, url, workdir, standin)
        for target in targets.values():
            await wait_ready(target)
        standin.reset()  # startup calls: setMyCommands, setWebhook
        pids = ", ".join(f"{t.name} {t.proc.pid}" for t in targets.values())
        print(f"processes: load generator + stand-in {os.getpid()}, {pids}")
        print(
            "service: `musrenbot run` (uvicorn + FastAPI, log level warning), own process; "
            "echo bot: aiogram Dispatcher behind a FastAPI route under uvicorn, own process"
        )
        return await measure(mode, standin, targets, villages, categories)
    finally:
        for target in targets.values():
            stop_target(target)
        await standin.stop()
        if pg_url is not None:
            await _admin(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')
        shutil.rmtree(workdir, ignore_errors=True)


async def measure(
    mode: Mode,
    standin: BotApiStandIn,
    targets: dict[str, Target],
    villages: list[tuple[str, str]],
    categories: list[str],
) -> int:
    driver = Driver(standin, villages, categories)
    order = [name for name in ("echo", "sqlite", "postgres") if name in targets]
    services = [name for name in order if name != "echo"]
    audits = {name: Audit() for name in order}
    tallies = {name: Tally() for name in order}
    residents_by: dict[str, list[Resident]] = {name: [] for name in order}

    def check(name: str, residents: list[Resident], tally: Tally) -> Audit:
        result = audit(standin, residents, tally.presses, name == "echo")
        merge(audits[name], result)
        residents_by[name].extend(residents)
        for attr in ("errors", "timeouts", "flow_errors", "skipped", "redelivered"):
            setattr(tallies[name], attr, getattr(tallies[name], attr) + getattr(tally, attr))
        tallies[name].problems.extend(tally.problems)
        return result

    # Warm-up: connections, lazy imports, caches. Checked, not timed.
    for name in order:
        tally = Tally()
        residents = await closed_loop(driver, targets[name], mode.warmup_residents, tally)
        check(name, residents, tally)

    steps = INTAKE_STEPS
    print()
    print(
        f"Closed loop: {mode.residents} residents at once, one complete intake each "
        f"({steps} updates); {mode.rounds} rounds, each running "
        f"{', '.join(order)} in turn"
    )
    print(
        "  (the stand-in's HTTP client keeps at most 100 webhook connections open, like "
        "Telegram's max_connections ceiling; the others wait for a free one)"
    )
    runs: list[ClosedRun] = []
    for rnd in range(1, mode.rounds + 1):
        for name in order:
            target = targets[name]
            tally = Tally()
            with cpu_meter(target.proc.pid, target.pg_database) as cpu:
                started = time.perf_counter()
                residents = await closed_loop(driver, target, mode.residents, tally)
                seconds = time.perf_counter() - started
            calls = check(name, residents, tally).calls
            done = sum(r.failed is None for r in residents)
            runs.append(ClosedRun(rnd, name, tally.updates, done, seconds, cpu[0], calls))
    rows = [
        [
            "round",
            "target",
            "updates",
            "intakes",
            "seconds",
            "updates/s",
            "API calls/update",
            "service CPU",
            "postgres CPU",
            "generator CPU",
            "other CPU",
            "service CPU ms/update",
        ]
    ]
    for run in runs:
        rows.append(
            [
                str(run.round),
                run.target,
                str(run.updates),
                str(run.intakes),
                f"{run.seconds:.2f}",
                f"{run.rate:.0f}",
                f"{run.calls / max(1, run.updates):.2f}",
                f"{run.cpu.share(run.cpu.service):.0f}%",
                f"{run.cpu.share(run.cpu.postgres):.0f}%",
                f"{run.cpu.share(run.cpu.generator):.0f}%",
                f"{run.cpu.share(run.cpu.others):.0f}%",
                f"{1000 * run.cpu.service / max(1, run.updates):.2f}",
            ]
        )
    print_table(rows, right={0, *range(2, len(rows[0]))})
    print(
        "  CPU in % of one core (2 cores = 200%): service = the bot's process; postgres = the "
        "backends of the benchmark's database; generator = stand-in + load generator; other = "
        "everything else on this shared machine"
    )

    def median_rate(name: str) -> float:
        return statistics.median(r.rate for r in runs if r.target == name)

    ratios: dict[str, float] = {}
    for name in services:
        per_round = [
            next(r.rate for r in runs if r.round == n and r.target == name)
            / next(r.rate for r in runs if r.round == n and r.target == "echo")
            for n in range(1, mode.rounds + 1)
        ]
        ratios[name] = statistics.median(per_round)

    def cpu_ms(name: str) -> float:
        return statistics.median(
            1000 * r.cpu.service / max(1, r.updates) for r in runs if r.target == name
        )

    cpu_ratios = {name: cpu_ms("echo") / cpu_ms(name) for name in services}
    print(
        "  median updates/s: "
        + ", ".join(f"{name} {median_rate(name):.0f}" for name in order)
        + "; median ratio to echo (per round): "
        + ", ".join(f"{name} {100 * ratios[name]:.0f}%" for name in services)
    )
    print(
        "  median service CPU per update: "
        + ", ".join(f"{name} {cpu_ms(name):.2f} ms" for name in order)
        + "; echo's / ours (the throughput ratio on one free core, less sensitive to noise): "
        + ", ".join(f"{name} {100 * cpu_ratios[name]:.0f}%" for name in services)
    )

    print()
    print(
        f"Open loop: {mode.rate:.0f} updates/s at fixed times for {mode.duration:.0f} s, "
        "latency = webhook POST -> response"
    )
    opens: dict[str, OpenLoopResult] = {}
    for name in services:
        busy = await quiet_machine(mode.quiet_wait)
        if busy >= 0.3:
            print(f"  (machine still busy before {name}: {100 * busy:.0f}% of a core in use)")
        result = opens[name] = await open_loop(driver, targets[name], mode)
        check(name, result.residents, result.tally)
    rows = [
        [
            "target",
            "residents",
            "slots",
            "sent",
            "answered",
            "rate/s",
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "max ms",
            "send lag p99 ms",
            "service CPU",
            "postgres CPU",
            "generator CPU",
            "other CPU",
        ]
    ]
    for name, result in opens.items():
        lat = [s * 1000 for _, s in result.tally.latencies]
        rows.append(
            [
                name,
                str(len(result.residents)),
                str(result.slots),
                str(result.slots - result.tally.skipped),
                str(len(lat)),
                f"{len(lat) / result.measured_seconds:.1f}",
                f"{percentile(lat, 50):.1f}",
                f"{percentile(lat, 95):.1f}",
                f"{percentile(lat, 99):.1f}",
                f"{max(lat, default=float('nan')):.1f}",
                f"{1000 * percentile(result.lag, 99):.1f}",
                f"{result.cpu.share(result.cpu.service):.0f}%",
                f"{result.cpu.share(result.cpu.postgres):.0f}%",
                f"{result.cpu.share(result.cpu.generator):.0f}%",
                f"{result.cpu.share(result.cpu.others):.0f}%",
            ]
        )
    print_table(rows)
    some = next(iter(opens.values()), None)
    if some is not None:
        print(
            f"  {some.lanes} conversations open at once, each sending every "
            f"{some.period:.1f} s (lane j's first resident pre-walked to step j mod {steps}); "
            "every intake completed afterwards; a slot is skipped when its conversation's "
            "previous update is still unanswered"
        )
        header = ["step", *(f"{name} p50/p99 ms" for name in opens)]
        rows = [header]
        for i, step_name in enumerate(STEP_NAMES):
            row = [step_name]
            for result in opens.values():
                lat = [s * 1000 for k, s in result.tally.latencies if k == i]
                row.append(f"{percentile(lat, 50):.1f} / {percentile(lat, 99):.1f}")
            rows.append(row)
        print("  latency by step:")
        print_table(rows)

    print()
    print("Correctness")
    failures = 0
    verdicts: dict[str, str] = {}
    rows = [
        [
            "target",
            "intakes",
            "ended with code",
            "distinct codes",
            "usulan rows",
            "presses answered",
            "errors",
            "timeouts",
            "flow errors",
            "skipped slots",
            "redelivered",
            "refused calls",
            "violations",
            "log errors",
        ]
    ]
    for name in order:
        a, t, target = audits[name], tallies[name], targets[name]
        expected = len(residents_by[name])
        rows_in_db = (
            "-" if target.database_url is None else str(await usulan_count(target.database_url))
        )
        problems = log_problems(target)
        bad = (
            a.intakes != expected
            or a.with_code != expected
            or (name != "echo" and (len(a.codes) != expected or rows_in_db != str(expected)))
            or a.answered_presses != a.presses
            or t.errors
            or t.timeouts
            or t.flow_errors
            or a.failed_calls
            or a.violations
            or problems
        )
        failures += bool(bad)
        verdicts[name] = "FAILED" if bad else "ok"
        rows.append(
            [
                name,
                f"{a.intakes}/{expected}",
                f"{a.with_code}" + (" (echoed)" if name == "echo" else ""),
                "-" if name == "echo" else str(len(a.codes)),
                rows_in_db,
                f"{a.answered_presses}/{a.presses}",
                str(t.errors),
                str(t.timeouts),
                str(t.flow_errors),
                str(t.skipped),
                str(t.redelivered),
                str(a.failed_calls),
                str(len(a.violations)),
                str(len(problems)),
            ]
        )
        for line in a.violations[:5] + t.problems[:5] + problems[:5]:
            print(f"  ! {name}: {line}")
    print_table(rows)

    print()
    print("Memory (peak RSS)")
    for name in order:
        stop_target(targets[name])  # reads VmHWM first
    for name in order:
        print(f"  {name:<9} {mb(targets[name].peak_rss_kb):>8}  (VmHWM of its own process)")
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        f"  {'generator':<9} {mb(own):>8}  (ru_maxrss of this process: stand-in + load generator)"
    )

    print()
    print("Targets (one service process; ratios from rounds run moments apart)")
    rows = [["measure", "target", "PostgreSQL", "SQLite"]]

    def fig(name: str, fn: Callable[[str], str]) -> str:
        return fn(name) if name in targets else "n/a"

    def p99(name: str) -> float:
        return percentile([s * 1000 for _, s in opens[name].tally.latencies], 99)

    def verdict(ok: bool) -> str:
        return "ok" if ok else "MISSED"

    rows.append(
        [
            "throughput / echo bot (closed loop)",
            f">= {100 * TARGET_RATIO:.0f}%",
            fig(
                "postgres",
                lambda n: f"{100 * ratios[n]:.0f}% {verdict(ratios[n] >= TARGET_RATIO)}",
            ),
            fig("sqlite", lambda n: f"{100 * ratios[n]:.0f}%"),
        ]
    )
    rows.append(
        [
            "throughput, updates/s (median)",
            "-",
            fig("postgres", lambda n: f"{median_rate(n):.0f} (echo {median_rate('echo'):.0f})"),
            fig("sqlite", lambda n: f"{median_rate(n):.0f}"),
        ]
    )
    rows.append(
        [
            "CPU per update, echo's / ours",
            "-",
            fig("postgres", lambda n: f"{100 * cpu_ratios[n]:.0f}%"),
            fig("sqlite", lambda n: f"{100 * cpu_ratios[n]:.0f}%"),
        ]
    )
    rows.append(
        [
            f"p99 at {mode.rate:.0f} updates/s (open loop)",
            f"< {TARGET_P99_MS:.0f} ms",
            fig("postgres", lambda n: f"{p99(n):.1f} ms {verdict(p99(n) < TARGET_P99_MS)}"),
            fig("sqlite", lambda n: f"{p99(n):.1f} ms"),
        ]
    )
    rows.append(
        [
            "correctness (see above)",
            "every intake coded, no errors",
            fig("postgres", lambda n: verdicts[n]),
            fig("sqlite", lambda n: verdicts[n]),
        ]
    )
    print_table(rows, right=set())
    noise = statistics.median(r.cpu.share(r.cpu.others) for r in runs)
    print(
        f"  Others on this machine used {noise:.0f}% of a core (median) during the closed-loop "
        "runs"
        + "".join(
            f", {r.cpu.share(r.cpu.others):.0f}% during the {n} open loop" for n, r in opens.items()
        )
        + "."
    )
    if any(r.cpu.share(r.cpu.others) > 50 for r in opens.values()):
        need = max(mode.rate * cpu_ms(name) / 10 for name in services)  # % of one core
        print(
            "  The open-loop latencies were measured on an oversubscribed machine: rerun when it "
            f"is quiet before judging p99 (at this rate the service needs ~{need:.0f}% of a core)."
        )
    if failures:
        print(f"\n{failures} target(s) failed the correctness checks")
    return 1 if failures else 0


# --- the echo bot (run in its own process with --serve-echo) ----------------------------


def serve_echo(port: int, api_url: str, token: str) -> None:
    import hmac
    import logging
    from collections.abc import AsyncIterator

    import uvicorn
    from aiogram import Bot, Dispatcher
    from aiogram.client.session.aiohttp import AiohttpSession
    from aiogram.client.telegram import TelegramAPIServer
    from aiogram.types import CallbackQuery, Message, Update

    logging.getLogger("aiogram.event").setLevel(logging.WARNING)
    bot = Bot(token, session=AiohttpSession(api=TelegramAPIServer.from_base(api_url)))
    dispatcher = Dispatcher()
    expected = SECRET.encode()

    @dispatcher.message()
    async def echo(message: Message) -> None:
        await message.answer(message.text or "ok")

    @dispatcher.callback_query()
    async def pressed(query: CallbackQuery) -> None:
        await query.answer()

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await bot.set_webhook(f"http://127.0.0.1:{port}{WEBHOOK_PATH}", secret_token=SECRET)
        yield
        await bot.session.close()

    app = FastAPI(lifespan=lifespan)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post(WEBHOOK_PATH)
    async def webhook(request: Request) -> Response:
        given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "").encode()
        if not hmac.compare_digest(given, expected):
            return JSONResponse({"detail": "wrong or missing secret token"}, status_code=401)
        body = await request.json()
        update = Update.model_validate(body, context={"bot": bot})
        await dispatcher.feed_update(bot, update)
        return Response(status_code=200)

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="a small run, for a smoke check")
    parser.add_argument("--serve-echo", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--api-url", help=argparse.SUPPRESS)
    parser.add_argument("--token", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_echo is not None:
        serve_echo(args.serve_echo, args.api_url, args.token)
        return
    started = time.perf_counter()
    code = asyncio.run(benchmark(QUICK if args.quick else FULL))
    print(f"\nfinished in {time.perf_counter() - started:.0f} s")
    sys.exit(code)


if __name__ == "__main__":
    main()
