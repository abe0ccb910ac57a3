"""Checking the hash chains of the event log: an edited, inserted or deleted row shows."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.services.history import event_hash, hashed_fields
from backend.storage.models import Usulan, UsulanEvent


@dataclass(frozen=True)
class BrokenChain:
    code: str
    seq: int
    problem: str


@dataclass(frozen=True)
class AuditReport:
    usulan: int
    events: int
    broken: list[BrokenChain]

    @property
    def ok(self) -> bool:
        return not self.broken


Chain = tuple[str, tuple[str, str], list[UsulanEvent]]


async def _chains(session: AsyncSession, batch: int = 2000) -> AsyncIterator[Chain]:
    """Each usulan with its status and events in order, read in batches (flat memory)."""
    last_id = 0
    while True:
        ids = list(
            (
                await session.execute(
                    select(Usulan.id, Usulan.code, Usulan.stage, Usulan.decision)
                    .where(Usulan.id > last_id)
                    .order_by(Usulan.id)
                    .limit(batch)
                )
            ).all()
        )
        if not ids:
            return
        last_id = ids[-1][0]
        events = await session.scalars(
            select(UsulanEvent)
            .where(UsulanEvent.usulan_id.in_([row[0] for row in ids]))
            .order_by(UsulanEvent.usulan_id, UsulanEvent.seq)
        )
        grouped: dict[int, list[UsulanEvent]] = {}
        for event in events:
            grouped.setdefault(event.usulan_id, []).append(event)
        for usulan_id, code, stage, decision in ids:
            yield code, (stage, decision), grouped.get(usulan_id, [])


def check_chain(
    code: str, events: list[UsulanEvent], status: tuple[str, str] | None = None
) -> BrokenChain | None:
    if not events:
        return BrokenChain(code, 0, "no events: its history was deleted")
    prev: str | None = None
    for expected_seq, event in enumerate(events, 1):
        if event.seq != expected_seq:
            return BrokenChain(code, event.seq, f"event {expected_seq} is missing")
        if event.prev_hash != prev:
            return BrokenChain(code, event.seq, "does not chain to the event before it")
        if event_hash(prev, hashed_fields(event)) != event.hash:
            return BrokenChain(code, event.seq, "its content was changed after it was written")
        prev = event.hash
    last = events[-1]
    if status is not None and (last.to_stage, last.to_decision) != status:
        # The chain is whole but ends elsewhere: its newest events were removed, or the status
        # row was changed without an event.
        return BrokenChain(code, last.seq, "the usulan's status does not match its history")
    return None


async def verify(session: AsyncSession) -> AuditReport:
    usulan = events = 0
    broken: list[BrokenChain] = []
    async for code, status, chain in _chains(session):
        usulan += 1
        events += len(chain)
        problem = check_chain(code, chain, status)
        if problem:
            broken.append(problem)
    return AuditReport(usulan=usulan, events=events, broken=broken)
