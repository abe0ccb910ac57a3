"""The append-only event log of an usulan. Each event carries the hash of the one before it,
so an edited or deleted row breaks the chain and can be found."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.storage.models import UsulanEvent, utcnow


def event_hash(prev_hash: str | None, fields: dict[str, Any]) -> str:
    canonical = json.dumps(
        {"prev": prev_hash, **fields}, sort_keys=True, separators=(",", ":"), default=str
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _utc_iso(at: datetime) -> str:
    # SQLite reads timestamps back without their zone; both databases store UTC.
    if at.tzinfo is not None:
        at = at.astimezone(UTC).replace(tzinfo=None)
    return at.isoformat(timespec="microseconds")


def hashed_fields(event: UsulanEvent) -> dict[str, Any]:
    return {
        "usulan_id": event.usulan_id,
        "seq": event.seq,
        "at": _utc_iso(event.at),
        "actor": event.actor_user_id,
        "kind": event.kind,
        "from": [event.from_stage, event.from_decision],
        "to": [event.to_stage, event.to_decision],
        "reason": event.reason_code,
        "note": event.note,
        "payload": event.payload,
    }


async def append_event(
    session: AsyncSession,
    *,
    usulan_id: int,
    kind: str,
    to_stage: str,
    to_decision: str,
    from_stage: str | None = None,
    from_decision: str | None = None,
    actor_user_id: int | None = None,
    reason_code: str | None = None,
    note: str | None = None,
    payload: dict[str, Any] | None = None,
) -> UsulanEvent:
    last = (
        await session.execute(
            select(UsulanEvent.seq, UsulanEvent.hash)
            .where(UsulanEvent.usulan_id == usulan_id)
            .order_by(UsulanEvent.seq.desc())
            .limit(1)
        )
    ).first()
    seq, prev_hash = (last[0] + 1, last[1]) if last else (1, None)
    event = UsulanEvent(
        usulan_id=usulan_id,
        seq=seq,
        at=utcnow(),
        actor_user_id=actor_user_id,
        kind=kind,
        from_stage=from_stage,
        from_decision=from_decision,
        to_stage=to_stage,
        to_decision=to_decision,
        reason_code=reason_code,
        note=note,
        payload=payload or {},
        prev_hash=prev_hash,
    )
    event.hash = event_hash(prev_hash, hashed_fields(event))
    session.add(event)
    await session.flush()  # the next event of this usulan reads this one's seq and hash
    return event
