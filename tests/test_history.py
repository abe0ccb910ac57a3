"""The event log of an usulan is a hash chain: an edited or removed row is found."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import delete, select, update

from backend.services.history import append_event, event_hash, hashed_fields
from backend.services.wiring import Backend
from backend.storage.models import Usulan, UsulanEvent
from tests.chat import Resident, submit_usulan


async def events_of(backend: Backend, code: str) -> list[UsulanEvent]:
    async with backend.sessionmaker() as session:
        usulan_id = await session.scalar(select(Usulan.id).where(Usulan.code == code))
        assert usulan_id is not None
        rows = await session.scalars(
            select(UsulanEvent).where(UsulanEvent.usulan_id == usulan_id).order_by(UsulanEvent.seq)
        )
        return list(rows.all())


def broken_links(events: list[UsulanEvent]) -> list[int]:
    """Sequence numbers of the events that do not verify against the chain."""
    broken = []
    previous: str | None = None
    for expected_seq, event in enumerate(events, start=1):
        recomputed = event_hash(event.prev_hash, hashed_fields(event))
        if event.seq != expected_seq or event.prev_hash != previous or event.hash != recomputed:
            broken.append(event.seq)
        previous = event.hash
    return broken


async def test_the_first_event_of_a_submitted_usulan_starts_the_chain(backend: Backend) -> None:
    code = await submit_usulan(Resident(backend))
    events = await events_of(backend, code)
    assert len(events) == 1
    first = events[0]
    assert first.prev_hash is None
    assert first.hash == event_hash(None, hashed_fields(first))
    assert broken_links(events) == []


async def test_a_later_event_links_to_the_one_before(backend: Backend) -> None:
    code = await submit_usulan(Resident(backend))
    [first] = await events_of(backend, code)
    async with backend.sessionmaker() as session, session.begin():
        await append_event(
            session,
            usulan_id=first.usulan_id,
            kind="keputusan",
            from_stage="desa",
            from_decision="menunggu",
            to_stage="kecamatan",
            to_decision="menunggu",
            note="Disepakati dalam rembuk warga",
        )
    events = await events_of(backend, code)
    assert [e.seq for e in events] == [1, 2]
    assert events[1].prev_hash == first.hash
    assert broken_links(events) == []


@pytest.mark.parametrize(
    ("column", "forged"),
    [
        ("to_decision", "diterima"),
        ("to_stage", "apbd"),
        ("note", "diubah diam-diam"),
        ("actor_user_id", None),
        ("payload", {"origin": "kepala_desa"}),
    ],
)
async def test_a_changed_row_no_longer_verifies(backend: Backend, column: str, forged: Any) -> None:
    code = await submit_usulan(Resident(backend))
    [first] = await events_of(backend, code)
    async with backend.sessionmaker() as session, session.begin():
        await session.execute(
            update(UsulanEvent).where(UsulanEvent.id == first.id).values({column: forged})
        )
    assert broken_links(await events_of(backend, code)) == [1]


async def test_a_backdated_row_no_longer_verifies(backend: Backend) -> None:
    code = await submit_usulan(Resident(backend))
    [first] = await events_of(backend, code)
    async with backend.sessionmaker() as session, session.begin():
        await session.execute(
            update(UsulanEvent)
            .where(UsulanEvent.id == first.id)
            .values(at=first.at - timedelta(days=30))
        )
    assert broken_links(await events_of(backend, code)) == [1]


async def test_a_removed_row_breaks_the_chain(backend: Backend) -> None:
    code = await submit_usulan(Resident(backend))
    [first] = await events_of(backend, code)
    for to_decision in ("diterima", "menunggu"):
        async with backend.sessionmaker() as session, session.begin():
            await append_event(
                session,
                usulan_id=first.usulan_id,
                kind="keputusan",
                to_stage="kecamatan",
                to_decision=to_decision,
            )
    assert broken_links(await events_of(backend, code)) == []
    async with backend.sessionmaker() as session, session.begin():
        await session.execute(
            delete(UsulanEvent).where(
                UsulanEvent.usulan_id == first.usulan_id, UsulanEvent.seq == 2
            )
        )
    assert broken_links(await events_of(backend, code)) != []


async def test_two_events_in_one_unit_of_work_chain(backend: Backend) -> None:
    # A decision that moves an usulan on writes "accepted here" and "waiting there" together.
    code = await submit_usulan(Resident(backend))
    [first] = await events_of(backend, code)
    async with backend.sessionmaker() as session, session.begin():
        await append_event(
            session,
            usulan_id=first.usulan_id,
            kind="keputusan",
            from_stage="desa",
            from_decision="menunggu",
            to_stage="desa",
            to_decision="diterima",
        )
        await append_event(
            session,
            usulan_id=first.usulan_id,
            kind="diteruskan",
            from_stage="desa",
            from_decision="diterima",
            to_stage="kecamatan",
            to_decision="menunggu",
        )
    events = await events_of(backend, code)
    assert [e.seq for e in events] == [1, 2, 3]
    assert broken_links(events) == []
