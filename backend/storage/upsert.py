"""INSERT ... ON CONFLICT DO NOTHING, which both databases have but spell in their own dialect.

One statement instead of a savepoint, an insert and a release: this runs on every update.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession


async def insert_ignoring_duplicates(
    session: AsyncSession, model: Any, rows: Sequence[dict[str, Any]], keys: Sequence[str]
) -> int:
    """Insert `rows`, skipping those that clash on the unique `keys`; returns how many went in."""
    if not rows:
        return 0
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(model).values(list(rows)).on_conflict_do_nothing(index_elements=list(keys))
    result = await session.execute(statement)
    return int(result.rowcount)  # type: ignore[attr-defined]
