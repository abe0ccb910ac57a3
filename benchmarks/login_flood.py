"""A resident's reply time while anonymous clients flood the login with wrong passwords.

Run: .venv/bin/python benchmarks/login_flood.py [--quick]

The service runs as production runs it (`musrenbot run`: uvicorn + FastAPI, webhook mode,
behind a reverse proxy it trusts, so each flood request can come from its own address) in a
process of its own, over a freshly migrated PostgreSQL database. This process holds the Bot
API stand-in (tests/standin), one resident and the flood:

* The resident walks complete intakes through the webhook, one update after the other (as a
  person would, a short pause between), and each update's webhook POST -> response is timed.
* N flood clients (0, 16, 64), in a process of their own, each loop POST /api/v1/auth/token
  with a wrong password, every request from a random address and for one of 1,000 usernames
  (among them a real official's), so the per-address and per-username limits rarely refuse:
  the worst case for the hashing.

Target: the resident's p99 below 100 ms with 64 flood clients. Needs PostgreSQL at
MUSRENBOT_BENCH_POSTGRES_URL (default postgresql+asyncpg://postgres@127.0.0.1:5432/postgres); a
database of its own is created and dropped.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
# Run as a script, import from the project root; hence the imports below this.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections import Counter  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402

import aiohttp  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from backend.services.categories import load_categories  # noqa: E402
from benchmarks.common import percentile, print_table, source_state  # noqa: E402
from benchmarks.intake import (  # noqa: E402
    POSTGRES_ADMIN_URL,
    REGION,
    SECRET,
    Driver,
    Resident,
    Tally,
    Target,
    _admin,
    _clean_env,
    _free_port,
    log_problems,
    postgres_reachable,
    prepare_database,
    quiet_machine,
    stop_target,
    village_queries,
    wait_ready,
)
from tests.standin import BotApiStandIn  # noqa: E402

TARGET_P99_MS = 100.0
USERNAMES = 1000
REAL_USERNAME = "camat.kota"
PAUSE = 0.01  # seconds between a resident's updates


@dataclass(frozen=True)
class Mode:
    name: str
    floods: tuple[int, ...]
    updates: int  # resident updates measured per flood level
    warmup: float  # seconds of flood before the resident starts


FULL = Mode("full", floods=(0, 16, 64), updates=400, warmup=3.0)
QUICK = Mode("quick", floods=(0, 64), updates=60, warmup=1.0)


@dataclass
class Flood:
    statuses: Counter[int] = field(default_factory=Counter)
    errors: int = 0
    seconds: float = 0.0


def start_service(
    database_url: str, workdir: Path, standin: BotApiStandIn, hash_concurrency: int
) -> Target:
    """`musrenbot run` as a deployment behind its own reverse proxy (127.0.0.1) starts it."""
    port = _free_port()
    env = _clean_env()
    env.update(
        MUSRENBOT_DATABASE_URL=database_url,
        MUSRENBOT_REGION=REGION,
        MUSRENBOT_PLANNING_YEAR="2027",
        MUSRENBOT_MEDIA_DIR=str(workdir / "media"),
        MUSRENBOT_TELEGRAM_TOKEN=standin.token,
        MUSRENBOT_TELEGRAM_API_URL=standin.base_url,
        MUSRENBOT_TELEGRAM_MODE="webhook",
        MUSRENBOT_TELEGRAM_WEBHOOK_SECRET=SECRET,
        MUSRENBOT_PUBLIC_URL=f"http://127.0.0.1:{port}",
        MUSRENBOT_TRUSTED_PROXIES='["127.0.0.1"]',
        MUSRENBOT_LOGIN_HASH_CONCURRENCY=str(hash_concurrency),
        MUSRENBOT_LOG_LEVEL="warning",
    )
    script = Path(sys.executable).with_name("musrenbot")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "bot.cli"]
    command += ["run", "--host", "127.0.0.1", "--port", str(port), "--no-migrate"]
    log_path = workdir / "service.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(  # noqa: ASYNC220 - started once, before any load
            command, env=env, cwd=workdir, stdout=log, stderr=subprocess.STDOUT
        )
    return Target("postgres", proc, port, log_path, database_url)


async def enrol_official(url: str) -> None:
    """A real official with a password, so some of the flood's usernames exist."""
    from backend.services.officials import Role, system_actor
    from backend.services.wiring import Backend
    from backend.settings import Settings

    backend = Backend(Settings(_env_file=None, database_url=url, region=REGION))  # type: ignore[call-arg]
    await backend.start()
    try:
        async with backend.unit() as s:
            user_id = await s.officials.official_user("Operator Kecamatan Medan Kota")
            await s.officials.grant(
                user_id, Role.OPERATOR_KECAMATAN, wilayah_code="12.71.01",
                granted_by=system_actor(REGION),
            )  # fmt: skip
            await s.officials.set_password(user_id, REAL_USERNAME, "rahasia-sekali-123")
    finally:
        await backend.close()


async def flood_client(
    session: aiohttp.ClientSession, url: str, stop: asyncio.Event, flood: Flood, rng: random.Random
) -> None:
    while not stop.is_set():
        n = rng.randrange(USERNAMES)
        username = REAL_USERNAME if n == 0 else f"pengguna{n}"
        address = f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        try:
            async with session.post(
                url,
                data={"username": username, "password": f"tebakan-{rng.random()}"},
                headers={"X-Forwarded-For": address},
            ) as response:
                await response.read()
                flood.statuses[response.status] += 1
        except (aiohttp.ClientError, OSError):
            flood.errors += 1
            await asyncio.sleep(0.05)


async def resident_replies(driver: Driver, target: Target, updates: int) -> Tally:
    """One resident after another walking intakes, `updates` webhook calls in all."""
    tally = Tally()
    resident: Resident | None = None
    while len(tally.latencies) + tally.errors + tally.timeouts < updates:
        if resident is None or resident.done:
            resident = driver.residents(1)[0]
        await driver.send(target, resident, tally, measure=True)
        await asyncio.sleep(PAUSE)
    return tally


@dataclass
class Level:
    clients: int
    tally: Tally
    flood: Flood


async def flood_until_stopped(url: str, clients: int, seed: int) -> None:
    """The flood's own process (like the looping curl clients of the report): hammer until
    SIGTERM, then print what came back as JSON."""
    flood = Flood()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    started = time.perf_counter()
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        rng = random.Random(seed)
        await asyncio.gather(
            *(flood_client(session, url, stop, flood, random.Random(rng.random()))
              for _ in range(clients))
        )  # fmt: skip
    seconds = time.perf_counter() - started
    print(json.dumps({"statuses": dict(flood.statuses), "errors": flood.errors,
                      "seconds": seconds}))  # fmt: skip


async def one_level(driver: Driver, target: Target, clients: int, mode: Mode, seed: int) -> Level:
    flood = Flood()
    child: subprocess.Popen[str] | None = None
    if clients:
        url = f"http://127.0.0.1:{target.port}/api/v1/auth/token"
        command = [sys.executable, str(HERE / "login_flood.py"), "--flood", url, str(clients),
                   str(seed)]  # fmt: skip
        child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)  # noqa: ASYNC220
        await asyncio.sleep(mode.warmup)
    tally = await resident_replies(driver, target, mode.updates)
    if child is not None:
        child.send_signal(signal.SIGTERM)
        out, _ = await asyncio.to_thread(child.communicate, timeout=60)
        counts = json.loads(out.strip().splitlines()[-1])
        flood.statuses.update({int(k): v for k, v in counts["statuses"].items()})
        flood.errors, flood.seconds = counts["errors"], counts["seconds"]
    return Level(clients, tally, flood)


def report(levels: list[Level]) -> bool:
    rows = [["flood clients", "resident p50", "p95", "p99", "max", "replies ok", "logins/s",
             "401", "429", "other"]]  # fmt: skip
    met = True
    for level in levels:
        ms = [seconds * 1000 for _, seconds in level.tally.latencies]
        p99 = percentile(ms, 99)
        if level.clients == max(lv.clients for lv in levels):
            met = p99 < TARGET_P99_MS and level.tally.errors == 0 and level.tally.timeouts == 0
        statuses = level.flood.statuses
        total = sum(statuses.values())
        other = total - statuses[401] - statuses[429] + level.flood.errors
        rate = total / level.flood.seconds if level.clients and level.flood.seconds else 0.0
        rows.append([
            str(level.clients), f"{percentile(ms, 50):.1f} ms", f"{percentile(ms, 95):.1f} ms",
            f"{p99:.1f} ms", f"{max(ms, default=float('nan')):.1f} ms",
            f"{len(ms)} / {len(ms) + level.tally.errors + level.tally.timeouts}",
            f"{rate:.1f}", str(statuses[401]), str(statuses[429]), str(other),
        ])  # fmt: skip
    print_table(rows)
    print(f"\nresident p99 < {TARGET_P99_MS:.0f} ms with the largest flood: "
          f"{'met' if met else 'MISSED'}")  # fmt: skip
    return met


async def benchmark(mode: Mode, hash_concurrency: int) -> int:
    print(f"Login flood benchmark ({mode.name}): {os.cpu_count()} CPUs, code {source_state()}, "
          f"{hash_concurrency} hash(es) at once")  # fmt: skip
    problem = await postgres_reachable()
    if problem is not None:
        print(f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL}: {problem}")
        return 2
    villages = village_queries()
    categories = [c.key for c in load_categories()]
    workdir = Path(tempfile.mkdtemp(prefix="musrenbot-flood-"))
    name = f"musrenbot_bench_{uuid.uuid4().hex[:10]}"
    standin = BotApiStandIn()
    await standin.start()
    target: Target | None = None
    try:
        await _admin(f'CREATE DATABASE "{name}"')
        url = make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
        await prepare_database(url)
        await enrol_official(url)
        target = start_service(url, workdir, standin, hash_concurrency)
        await wait_ready(target)
        driver = Driver(standin, villages, categories)
        await resident_replies(driver, target, 30)  # warm the service up, unmeasured
        levels = []
        for n, clients in enumerate(mode.floods):
            busy = await quiet_machine(10.0)
            print(f"flood of {clients}: machine busy {busy:.2f} cores before the run")
            levels.append(await one_level(driver, target, clients, mode, seed=n))
            standin.reset()
        print()
        met = report(levels)
        problems = log_problems(target)
        if problems:
            print("service log problems:", *problems[:5], sep="\n  ")
        return 0 if met and not problems else 1
    finally:
        if target is not None:
            stop_target(target)
        await standin.stop()
        await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="a small run, for a smoke check")
    parser.add_argument(
        "--hash-concurrency", type=int, default=1, help="MUSRENBOT_LOGIN_HASH_CONCURRENCY"
    )
    parser.add_argument("--flood", nargs=3, metavar=("URL", "CLIENTS", "SEED"),
                        help=argparse.SUPPRESS)  # fmt: skip
    args = parser.parse_args()
    if args.flood:
        url, clients, seed = args.flood
        asyncio.run(flood_until_stopped(url, int(clients), int(seed)))
        return
    started = time.perf_counter()
    code = asyncio.run(benchmark(QUICK if args.quick else FULL, args.hash_concurrency))
    print(f"\nfinished in {time.perf_counter() - started:.0f} s")
    sys.exit(code)


if __name__ == "__main__":
    main()
