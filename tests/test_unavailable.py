"""Which database failures mean "not stored, try again" and which mean "wrong request"."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import exc, text

from backend.errors import Unavailable
from backend.services.wiring import Backend
from backend.storage.db import is_unavailable
from tests.conftest import make_settings


def _wrapped(orig: Exception) -> exc.DBAPIError:
    return exc.OperationalError("SELECT 1", {}, orig)


@pytest.mark.parametrize(
    ("orig", "unavailable"),
    [
        (sqlite3.OperationalError("database is locked"), True),
        (sqlite3.OperationalError("database or disk is full"), True),
        (sqlite3.OperationalError("disk I/O error"), True),
        (sqlite3.OperationalError("no such table: usulan"), False),  # a deployment bug
        (ConnectionRefusedError(111, "Connect call failed"), True),
    ],
)
def test_failures_of_the_database_itself_count_as_unavailable(orig, unavailable):
    assert is_unavailable(_wrapped(orig)) is unavailable


def test_refusals_of_the_statement_do_not():
    assert not is_unavailable(exc.IntegrityError("INSERT", {}, Exception("duplicate key")))
    assert not is_unavailable(ValueError("bad input"))
    assert is_unavailable(ConnectionResetError())
    assert is_unavailable(exc.TimeoutError("QueuePool limit reached"))


async def test_a_unit_of_work_over_a_database_that_is_not_there_raises_unavailable(
    tmp_path: Path,
):
    url = "postgresql+asyncpg://postgres@127.0.0.1:9/musrenbot"  # port 9: nothing listens
    backend = Backend(make_settings(url, tmp_path))
    try:
        with pytest.raises(Unavailable):
            async with backend.unit() as services:
                await services.session.execute(text("SELECT 1"))
        assert await backend.ready() is False
    finally:
        await backend.close()
