"""Shared fixtures: migrated databases (SQLite always, PostgreSQL when reachable)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from backend.services.categories import load_opds
from backend.services.wilayah import load_region
from backend.services.wiring import Backend
from backend.settings import Settings
from backend.storage.db import create_engine
from backend.storage.migrate import upgrade
from backend.storage.models import Base

POSTGRES_ADMIN_URL = os.environ.get(
    "MUSRENBOT_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
# CI must prove the PostgreSQL path; a developer without a server still gets the SQLite run.
POSTGRES_REQUIRED = os.environ.get("CI", "").lower() in {"1", "true", "yes"} or bool(
    os.environ.get("MUSRENBOT_REQUIRE_POSTGRES")
)


def _postgres_reachable() -> str | None:
    async def probe() -> None:
        engine = create_engine(POSTGRES_ADMIN_URL, pool_size=1, max_overflow=0)
        try:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        finally:
            await engine.dispose()

    try:
        asyncio.run(asyncio.wait_for(probe(), 5))
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        return f"{type(exc).__name__}: {exc}"
    return None


_PG_PROBLEM: str | None = None


def pytest_configure(config: pytest.Config) -> None:
    global _PG_PROBLEM
    _PG_PROBLEM = _postgres_reachable()
    if _PG_PROBLEM and POSTGRES_REQUIRED:
        raise pytest.UsageError(
            f"PostgreSQL is required (CI) but not reachable at {POSTGRES_ADMIN_URL}: {_PG_PROBLEM}"
        )


def pytest_report_header(config: pytest.Config) -> str:
    if _PG_PROBLEM:
        return (
            f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL}; its tests are skipped "
            "(set MUSRENBOT_TEST_POSTGRES_URL or start the server)"
        )
    return f"PostgreSQL: {make_url(POSTGRES_ADMIN_URL).render_as_string(hide_password=True)}"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file; each test gets a copy, which is much faster than migrating."""
    path = tmp_path_factory.mktemp("db") / "template.sqlite3"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


def _run_in_thread(coro: Coroutine[Any, Any, None]) -> None:
    """Session fixtures may be first set up from inside a test's running event loop."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, coro).result()


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    if _PG_PROBLEM:
        pytest.skip("PostgreSQL not reachable")
    name = f"musrenbot_test_{uuid.uuid4().hex[:10]}"
    admin = make_url(POSTGRES_ADMIN_URL)

    async def admin_exec(sql: str) -> None:
        engine = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as conn:
                await conn.execute(text(sql))
        finally:
            await engine.dispose()

    _run_in_thread(admin_exec(f'CREATE DATABASE "{name}"'))
    url = admin.set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    yield url
    _run_in_thread(admin_exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _truncate_postgres(url: str) -> None:
    engine = create_engine(url, pool_size=1, max_overflow=0)
    try:
        async with engine.begin() as conn:
            tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
            await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    finally:
        await engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
async def db_url(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path
) -> AsyncIterator[str]:
    """A freshly migrated, empty database: once on SQLite, once on PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "musrenbot.sqlite3"
        shutil.copyfile(sqlite_template, path)
        yield f"sqlite+aiosqlite:///{path}"
    else:
        url = request.getfixturevalue("postgres_database")
        await _truncate_postgres(url)
        yield url


@pytest.fixture
async def sqlite_url(tmp_path: Path, sqlite_template: Path) -> AsyncIterator[str]:
    """SQLite only, for tests about the embedded default itself."""
    path = tmp_path / "musrenbot.sqlite3"
    shutil.copyfile(sqlite_template, path)
    yield f"sqlite+aiosqlite:///{path}"


def make_settings(database_url: str, tmp_path: Path, **overrides: Any) -> Settings:
    """Settings for a test: nothing read from the environment or a .env file."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "region": "12.71",
        "media_dir": tmp_path / "media",
        "planning_year": 2027,
        "telegram_token": None,
        "quiet_hours": "",  # tests run at any hour; quiet hours have tests of their own
        "transcribe_model": "off",  # voice notes as without the extra; tests/test_voice.py listens
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


async def start_backend(settings: Settings) -> Backend:
    """A started Backend over a migrated database with the region's villages loaded."""
    backend = Backend(settings)
    async with backend.sessionmaker() as session, session.begin():
        await load_region(session, settings.region)
        await load_opds(session, settings.opd_file)
    await backend.start()
    return backend


@pytest.fixture
async def backend(db_url: str, tmp_path: Path) -> AsyncIterator[Backend]:
    """Kota Medan on a fresh database, once on SQLite and once on PostgreSQL."""
    started = await start_backend(make_settings(db_url, tmp_path))
    yield started
    await started.close()
