"""Completeness checks (STYLE habit 10): the migrations build the schema the models describe,
and every conversation state can be reached from /start and left with /batal."""

from __future__ import annotations

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection

from backend.services.wiring import Backend
from backend.storage.db import create_engine
from backend.storage.models import Base
from handlers.steps import STEPS
from tests.chat import Resident, walk_to

# Indexes with a DESC column: Alembic cannot compare them, so they are checked apart below.
QUEUE_INDEXES = {"ix_usulan_queue_kecamatan", "ix_usulan_queue_opd", "ix_usulan_queue_region"}


def _not_queue_index(obj: Any, name: str | None, type_: str, reflected: bool, other: Any) -> bool:
    return not (type_ == "index" and name in QUEUE_INDEXES)


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection,
        opts={
            "compare_type": True,
            "target_metadata": Base.metadata,
            "include_object": _not_queue_index,
        },
    )
    return list(compare_metadata(context, Base.metadata))


def _queue_indexes(connection: Connection) -> dict[str, list[str]]:
    from sqlalchemy import inspect

    found = {i["name"]: i for i in inspect(connection).get_indexes("usulan")}
    return {name: [str(c) for c in found[name]["column_names"] if c] for name in QUEUE_INDEXES
            if name in found}  # fmt: skip


async def test_the_queue_indexes_serve_the_queue_order(db_url: str) -> None:
    """The migration's hand-written queue indexes hold the columns the models declare."""
    engine = create_engine(db_url)
    try:
        async with engine.connect() as connection:
            found = await connection.run_sync(_queue_indexes)
    finally:
        await engine.dispose()
    declared = {
        index.name: [c.name for c in index.columns]
        for index in Base.metadata.tables["usulan"].indexes
        if index.name in QUEUE_INDEXES
    }
    assert set(found) == QUEUE_INDEXES
    for name, columns in declared.items():
        assert [c for c in found[name] if c != "support_count"] == columns


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
    if resident.keys == ["common.cancel_confirm"]:  # something typed: asked once first
        await resident.send("/batal")  # a second /batal means yes
    assert resident.texts == [resident.t("common.cancelled")]
    assert await resident.state() == "idle"
    assert await resident.draft() == {}

    await resident.send("/batal")  # and nothing lingers to cancel
    assert resident.texts == [resident.t("common.nothing_to_cancel")]
