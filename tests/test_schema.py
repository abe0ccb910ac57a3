"""Completeness checks (STYLE habit 10): the migrations build the schema the models describe,
and every conversation state can be reached from /start and left with /batal."""

from __future__ import annotations

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection

from backend.services.context import Backend
from backend.storage.db import create_engine
from backend.storage.models import Base
from handlers.context import STEPS
from tests.chat import Resident, walk_to


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection,
        opts={"compare_type": True, "target_metadata": Base.metadata},
    )
    return list(compare_metadata(context, Base.metadata))


async def test_the_migrated_schema_matches_the_models(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        async with engine.connect() as connection:
            differences = await connection.run_sync(_differences)
    finally:
        await engine.dispose()
    assert differences == [], "a model changed without a migration (or the reverse)"


@pytest.mark.parametrize("state", sorted(STEPS))
async def test_every_state_is_reachable_from_start_and_cancellable(
    backend: Backend, state: str
) -> None:
    resident = Resident(backend)
    await walk_to(resident, state)
    assert await resident.state() == state

    await resident.send("/batal")
    assert resident.texts == [resident.t("common.cancelled")]
    assert await resident.state() == "idle"
    assert await resident.draft() == {}

    await resident.send("/batal")  # and nothing lingers to cancel
    assert resident.texts == [resident.t("common.nothing_to_cancel")]
