"""Faults: the database goes away while residents keep typing, the service is killed in the
middle of updates. What was acknowledged must be stored; what was not stored must not be
acknowledged, so Telegram delivers it again and nothing a resident wrote is lost.

Each test runs a PostgreSQL server of its own (tests/pgserver.py) so it can stop it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select, text

from backend.services.categories import load_categories
from backend.storage.db import create_engine
from backend.storage.migrate import upgrade
from backend.storage.models import Conversation, ProcessedUpdate, User, Usulan
from tests.e2e_fixtures import PROBLEM, REQUEST, Mode, Warga, standin, t
from tests.harness import WEBHOOK_SECRET, RunningService, running_service
from tests.pgserver import PostgresServer, postgres_server
from tests.standin import BotApiStandIn

__all__ = ["standin"]  # fixture used by the tests below

RESIDENTS = (5_800_001, 5_800_002, 5_800_003)
KILLED = tuple(5_810_000 + n for n in range(8))
OUTAGE_SECONDS = 6.0
THINKING = 0.4  # seconds a resident takes between two messages
REDELIVERY_PAUSE = 0.3  # Telegram retries an unacknowledged webhook post after a pause


class PersistentWarga(Warga):
    """A resident whose updates Telegram keeps delivering until the service acknowledges
    them, as it does for a webhook answered with an error. Every attempt is recorded."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.attempts: list[tuple[int, int]] = []  # (update_id, HTTP status)
        self.answer_timeout = 90.0  # polling picks the update up again after the outage

    async def deliver(self, *updates: dict[str, Any], answers: int, queued: bool = False) -> Any:
        await asyncio.sleep(THINKING)
        return await super().deliver(*updates, answers=answers, queued=queued)

    async def post(self, updates: tuple[dict[str, Any], ...]) -> None:
        for update in updates:
            for _ in range(600):
                try:
                    status = await self.standin.post_to_webhook(update)
                except aiohttp.ClientError:
                    status = 0  # the service is not there at all
                self.attempts.append((update["update_id"], status))
                if status == 200:
                    break
                await asyncio.sleep(REDELIVERY_PAUSE)
            else:
                raise AssertionError(f"update {update['update_id']} never acknowledged")


@pytest.fixture
async def own_postgres() -> AsyncIterator[tuple[PostgresServer, str]]:
    with postgres_server() as server:
        engine = create_engine(server.url, isolation_level="AUTOCOMMIT")
        async with engine.connect() as connection:
            await connection.execute(text('CREATE DATABASE "musrenbot"'))
        await engine.dispose()
        url = server.url.rsplit("/", 1)[0] + "/musrenbot"
        upgrade(url)
        yield server, url


async def _stored_update_ids(url: str) -> set[int]:
    engine = create_engine(url, pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as connection:
            return set(await connection.scalars(select(ProcessedUpdate.update_id)))
    finally:
        await engine.dispose()


async def _get(service: RunningService, path: str) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as http, http.get(service.base_url + path) as response:
        return response.status, await response.json()


async def _outage(server: PostgresServer, service: RunningService) -> list[int]:
    """Stop the database for a few seconds; returns what readiness said meanwhile."""
    await asyncio.to_thread(server.stop)
    seen: list[int] = []
    loop = asyncio.get_running_loop()
    until = loop.time() + OUTAGE_SECONDS
    while loop.time() < until:
        status, body = await _get(service, "/health/ready")
        seen.append(status)
        live, health = await _get(service, "/health")
        assert (live, health["database"]) == (200, "unavailable")  # alive, and says why
        await asyncio.sleep(0.5)
    await asyncio.to_thread(server.start)
    return seen


async def _intake(siti: Warga) -> str:
    await siti.walk_to_photos()
    return await siti.finish_from_photos()


@pytest.mark.parametrize("mode", ["webhook", "polling"])
async def test_a_database_outage_mid_conversation_loses_nothing_a_resident_wrote(
    mode: Mode,
    standin: BotApiStandIn,
    own_postgres: tuple[PostgresServer, str],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server, url = own_postgres
    async with running_service(standin, url, tmp_path, mode) as service:
        residents = [
            PersistentWarga(standin, mode, user, first_name=f"Warga{n}")
            for n, user in enumerate(RESIDENTS)
        ]
        await residents[0].say("/start")  # the service works before the outage
        typing = [asyncio.create_task(_intake(r)) for r in residents]
        await asyncio.sleep(1.0)  # mid-conversation
        readiness = await _outage(server, service)
        codes = await asyncio.wait_for(asyncio.gather(*typing), 120)

        assert 503 in readiness and readiness[-1] in {503, 200}
        assert (await _get(service, "/health/ready"))[0] == 200  # back by itself
        assert len(set(codes)) == len(RESIDENTS)  # every intake finished with its own code
        for resident in residents:
            await resident.settled()  # exactly the answers expected: none twice, none lost
            assert t("common.error") not in standin.sent_texts(resident.user_id)
        stored = await _stored_update_ids(url)
        attempts = [a for r in residents for a in r.attempts]
        if mode == "webhook":
            assert {status for _, status in attempts} <= {200, 503}
            assert any(status == 503 for _, status in attempts), "the outage was not felt"
            assert {uid for uid, status in attempts if status == 200} <= stored
        else:  # the offset stopped at what could not be stored, and it came back
            assert any("will be fetched again" in r.getMessage() for r in caplog.records)
        async with service.backend.sessionmaker() as session:
            assert len(list(await session.scalars(select(Usulan.code)))) == len(RESIDENTS)


# --- the service killed mid-update -------------------------------------------------------


def _service_env(standin: BotApiStandIn, url: str, port: int, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MUSRENBOT_")}
    env.update(
        MUSRENBOT_DATABASE_URL=url,
        MUSRENBOT_REGION="12.71",
        MUSRENBOT_PLANNING_YEAR="2027",
        MUSRENBOT_MEDIA_DIR=str(tmp_path / "media"),
        MUSRENBOT_TELEGRAM_TOKEN=standin.token,
        MUSRENBOT_TELEGRAM_API_URL=standin.base_url,
        MUSRENBOT_TELEGRAM_MODE="webhook",
        MUSRENBOT_TELEGRAM_WEBHOOK_SECRET=WEBHOOK_SECRET,
        MUSRENBOT_PUBLIC_URL=f"http://127.0.0.1:{port}",
        MUSRENBOT_QUIET_HOURS="",
        MUSRENBOT_RUN_WORKER="false",
    )
    return env


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _start_process(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(  # noqa: S603, ASYNC220 - our own command line, started once
        [sys.executable, "-m", "bot.cli", "run", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    async with aiohttp.ClientSession() as http:
        for _ in range(600):
            try:
                async with http.get(f"http://127.0.0.1:{port}/health/ready") as response:
                    if response.status == 200:
                        return process
            except aiohttp.ClientError:
                pass
            assert process.poll() is None, "the service stopped while starting"
            await asyncio.sleep(0.1)
    process.kill()
    raise AssertionError("the service did not become ready")


async def _draft_of(url: str, user_id: int) -> tuple[str, dict[str, Any]]:
    engine = create_engine(url, pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as connection:
            row = (
                await connection.execute(
                    select(Conversation.state, Conversation.data)
                    .join(User, User.id == Conversation.user_id)
                    .where(User.channel == "telegram", User.external_id == str(user_id))
                )
            ).one()
    finally:
        await engine.dispose()
    return row.state, dict(row.data or {})


async def test_a_service_killed_mid_update_keeps_every_answer_once_after_redelivery(
    standin: BotApiStandIn, own_postgres: tuple[PostgresServer, str], tmp_path: Path
) -> None:
    _, url = own_postgres
    port = _free_port()
    env = _service_env(standin, url, port, tmp_path)
    categories = [c.key for c in load_categories(None)][: len(KILLED)]
    residents = [PersistentWarga(standin, "webhook", u, first_name="Warga") for u in KILLED]
    process = await _start_process(env, port)
    try:
        for resident, category in zip(residents, categories, strict=True):
            await resident.walk_to_problem(category)
        # Every resident answers at once; the service dies while those updates are in flight.
        answers = [standin.text_update(r.user_id, PROBLEM) for r in residents]
        typing = [
            asyncio.create_task(r.post((a,))) for r, a in zip(residents, answers, strict=True)
        ]
        await asyncio.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        process = await _start_process(env, port)  # Telegram keeps redelivering meanwhile
        await asyncio.wait_for(asyncio.gather(*typing), 120)
        stored = await _stored_update_ids(url)
        attempts = [a for r in residents for a in r.attempts]
        assert any(status != 200 for _, status in attempts), "the kill was not felt"
        assert {a["update_id"] for a in answers} <= stored
        for resident in residents:
            state, draft = await _draft_of(url, resident.user_id)
            # The answer is in the draft exactly once, and the conversation moved one step.
            assert (state, draft["draft"]["permasalahan"]) == ("intake.request", PROBLEM)
            # A reply cut off by the kill is not sent again (it may have arrived); the
            # resident, who knows the next question, goes on.
            resident.expected = len(resident.messages())
        codes = []
        for n, resident in enumerate(residents):
            await resident.say(f"Usulan nomor {n}: {REQUEST}")
            await resident.say("120 meter")
            codes.append(await resident.finish_from_photos())
    finally:
        process.kill()
        process.wait(10)

    engine = create_engine(url, pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as connection:
            stored_usulan = (
                await connection.execute(select(Usulan.code, Usulan.permasalahan))
            ).all()
    finally:
        await engine.dispose()
    assert sorted(code for code, _ in stored_usulan) == sorted(codes)
    assert {text for _, text in stored_usulan} == {PROBLEM}
