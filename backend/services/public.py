"""What anyone may see without logging in: usulan by code or by desa, their stage history
and whether that history verifies. Never who submitted or supported them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.domain import Decision, Stage
from backend.services.audit import check_chain
from backend.services.intake import normalise_code
from backend.storage.models import Usulan, UsulanEvent, UsulanPhoto

CLOSED = {Decision.DITOLAK.value, Decision.DITUNDA.value, Decision.DIGABUNG.value}


def is_closed(stage: str, decision: str) -> bool:
    """The end of the road: refused, postponed, merged away, or carried out."""
    return decision in CLOSED or (stage == Stage.REALISASI.value and decision == "diterima")


@dataclass(frozen=True)
class PublicEvent:
    at: datetime
    kind: str
    stage: str
    decision: str
    reason_code: str | None
    note: str | None


@dataclass(frozen=True)
class PublicUsulan:
    code: str
    planning_year: int
    created_at: datetime
    updated_at: datetime
    desa_code: str
    category: str
    urusan_code: str | None
    opd: str | None
    permasalahan: str
    usulan: str
    volume: Decimal | None
    unit: str | None
    latitude: float | None
    longitude: float | None
    stage: str
    decision: str
    village_rank: int | None
    support_count: int
    merged_into: str | None
    photos: tuple[str, ...] = ()
    history: tuple[PublicEvent, ...] = ()
    verified: bool | None = None

    @property
    def closed(self) -> bool:
        return is_closed(self.stage, self.decision)


def _public(row: Usulan, merged_into: str | None = None) -> PublicUsulan:
    # Coordinates to 4 decimals (about 11 m): enough to find a road, not a front door.
    return PublicUsulan(
        code=row.code,
        planning_year=row.planning_year,
        created_at=row.created_at,
        updated_at=row.updated_at,
        desa_code=row.desa_code,
        category=row.category,
        urusan_code=row.urusan_code,
        opd=row.opd,
        permasalahan=row.permasalahan,
        usulan=row.usulan,
        volume=row.volume,
        unit=row.unit,
        latitude=round(row.latitude, 4) if row.latitude is not None else None,
        longitude=round(row.longitude, 4) if row.longitude is not None else None,
        stage=row.stage,
        decision=row.decision,
        village_rank=row.village_rank,
        support_count=row.support_count,
        merged_into=merged_into,
    )


@dataclass(frozen=True)
class RequestFilter:
    codes: tuple[str, ...] = ()
    category: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    closed: bool | None = None
    limit: int = 1000


class PublicService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def usulan(self, code: str, *, with_history: bool = True) -> PublicUsulan | None:
        normalised = normalise_code(code)
        if normalised is None:
            return None
        row = await self.session.scalar(select(Usulan).where(Usulan.code == normalised))
        if row is None:
            return None
        merged = None
        if row.merged_into_id:
            merged = await self.session.scalar(
                select(Usulan.code).where(Usulan.id == row.merged_into_id)
            )
        found = _public(row, merged)
        if not with_history:
            return found
        photos = tuple(
            await self.session.scalars(
                select(UsulanPhoto.sha256)
                .where(UsulanPhoto.usulan_id == row.id)
                .order_by(UsulanPhoto.position)
            )
        )
        events = list(
            await self.session.scalars(
                select(UsulanEvent).where(UsulanEvent.usulan_id == row.id).order_by(UsulanEvent.seq)
            )
        )
        history = tuple(
            PublicEvent(e.at, e.kind, e.to_stage, e.to_decision, e.reason_code, e.note)
            for e in events
        )
        verified = check_chain(row.code, events, (row.stage, row.decision)) is None
        return PublicUsulan(**{**found.__dict__, "photos": photos, "history": history,
                               "verified": verified})  # fmt: skip

    async def of_desa(self, desa_code: str, limit: int = 500) -> list[PublicUsulan]:
        rows = await self.session.scalars(
            select(Usulan)
            .where(Usulan.desa_code == desa_code)
            .order_by(Usulan.planning_year.desc(), Usulan.created_at.desc())
            .limit(limit)
        )
        return [_public(r) for r in rows]

    async def requests(self, wanted: RequestFilter) -> list[PublicUsulan]:
        query = select(Usulan)
        if wanted.codes:
            codes = [c for c in (normalise_code(x) for x in wanted.codes) if c]
            query = query.where(Usulan.code.in_(codes))
        if wanted.category:
            query = query.where(Usulan.category == wanted.category)
        if wanted.start:
            query = query.where(Usulan.created_at >= wanted.start)
        if wanted.end:
            query = query.where(Usulan.created_at <= wanted.end)
        if wanted.closed is not None:
            closed = Usulan.decision.in_(CLOSED) | (
                (Usulan.stage == Stage.REALISASI.value) & (Usulan.decision == "diterima")
            )
            query = query.where(closed if wanted.closed else ~closed)
        rows = await self.session.scalars(
            query.order_by(Usulan.created_at.desc(), Usulan.id.desc()).limit(wanted.limit)
        )
        return [_public(r) for r in rows]
