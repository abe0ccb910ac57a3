"""The Musrenbang queues (DESIGN §4): what waits at a stage for one scope, in working order:
village priority rank, then support count, then age."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.domain import Decision, Stage
from backend.errors import Forbidden, InvalidInput
from backend.services.officials import Actor, Role
from backend.storage.models import User, Usulan, UsulanEvent

MAX_PAGE = 200


@dataclass(frozen=True)
class QueueFilter:
    stage: Stage
    decision: Decision | None = Decision.MENUNGGU
    kecamatan: str | None = None
    desa: str | None = None
    opd: str | None = None
    category: str | None = None
    text: str | None = None


@dataclass(frozen=True)
class QueueRow:
    code: str
    created_at: datetime
    desa_code: str
    kecamatan_code: str
    category: str
    urusan_code: str | None
    opd: str | None
    permasalahan: str
    usulan: str
    volume: Decimal | None
    unit: str | None
    dusun: str | None
    rt: str | None
    rw: str | None
    street: str | None
    stage: str
    decision: str
    village_rank: int | None
    support_count: int
    submitter_name: str | None
    submitter_phone: str | None


@dataclass(frozen=True)
class QueuePage:
    items: list[QueueRow]
    total: int
    page: int
    per_page: int


def _scoped(actor: Actor, wanted: QueueFilter) -> QueueFilter:
    """Narrow the filter to the actor's own scope; refuse a scope outside it."""
    # Officials read their scope's queue at any stage; who may decide is the workflow's call.
    if actor.role == Role.OPD:
        if wanted.opd not in (None, actor.opd_code):
            raise Forbidden("another OPD's queue")
        return QueueFilter(**{**wanted.__dict__, "opd": actor.opd_code})
    scope = actor.wilayah_code or ""
    if actor.role == Role.OPERATOR_KECAMATAN:
        if wanted.kecamatan not in (None, scope):
            raise Forbidden("another kecamatan's queue")
        if wanted.desa is not None and not actor.covers_desa(wanted.desa):
            raise Forbidden("a desa outside your kecamatan")
        return QueueFilter(**{**wanted.__dict__, "kecamatan": scope})
    if actor.role in {Role.KEPALA_DESA, Role.OPERATOR_DESA}:
        if wanted.desa not in (None, scope):
            raise Forbidden("another desa's usulan")
        return QueueFilter(**{**wanted.__dict__, "desa": scope})
    return wanted  # admin: the whole kabupaten/kota


def _query(f: QueueFilter) -> Select[Any]:
    query = select(Usulan).where(Usulan.stage == f.stage.value)
    if f.decision is not None:
        query = query.where(Usulan.decision == f.decision.value)
    if f.kecamatan:
        query = query.where(Usulan.kecamatan_code == f.kecamatan)
    if f.desa:
        query = query.where(Usulan.desa_code == f.desa)
    if f.opd:
        query = query.where(Usulan.opd == f.opd)
    if f.category:
        query = query.where(Usulan.category == f.category)
    if f.text:
        needle = f"%{f.text.strip()[:100]}%"
        query = query.where(
            or_(
                Usulan.usulan.ilike(needle),
                Usulan.permasalahan.ilike(needle),
                Usulan.code.ilike(needle),
            )
        )
    return query


def _row(u: Usulan, submitter_name: str | None) -> QueueRow:
    return QueueRow(
        code=u.code,
        created_at=u.created_at,
        desa_code=u.desa_code,
        kecamatan_code=u.kecamatan_code,
        category=u.category,
        urusan_code=u.urusan_code,
        opd=u.opd,
        permasalahan=u.permasalahan,
        usulan=u.usulan,
        volume=u.volume,
        unit=u.unit,
        dusun=u.dusun,
        rt=u.rt,
        rw=u.rw,
        street=u.street,
        stage=u.stage,
        decision=u.decision,
        village_rank=u.village_rank,
        support_count=u.support_count,
        submitter_name=u.submitter_name or submitter_name,
        submitter_phone=u.submitter_phone,
    )


class QueueService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def page(
        self, actor: Actor, wanted: QueueFilter, page: int = 1, per_page: int = 50
    ) -> QueuePage:
        if page < 1 or not 1 <= per_page <= MAX_PAGE:
            raise InvalidInput("page", f"page >= 1 and 1 <= per_page <= {MAX_PAGE}")
        f = _scoped(actor, wanted)
        base = _query(f)
        total = int(
            await self.session.scalar(select(func.count()).select_from(base.subquery())) or 0
        )
        rows = await self._rows(
            base.order_by(
                Usulan.queue_rank, Usulan.support_count.desc(), Usulan.created_at, Usulan.id
            )
            .limit(per_page)
            .offset((page - 1) * per_page)
        )
        return QueuePage(items=rows, total=total, page=page, per_page=per_page)

    async def all_rows(
        self, actor: Actor, wanted: QueueFilter, limit: int = 100_000
    ) -> list[QueueRow]:
        f = _scoped(actor, wanted)
        return await self._rows(
            _query(f)
            .order_by(Usulan.queue_rank, Usulan.support_count.desc(), Usulan.created_at, Usulan.id)
            .limit(limit)
        )

    async def _rows(self, query: Select[Any]) -> list[QueueRow]:
        rows = list((await self.session.execute(
            query.add_columns(User.display_name).outerjoin(User, User.id == Usulan.submitter_id)
        )).all())  # fmt: skip
        return [_row(r[0], r[1]) for r in rows]

    async def stats(self, actor: Actor, planning_year: int | None = None) -> Stats:
        return await stats(self.session, actor, planning_year)

    async def recommendations(self, codes: Sequence[str]) -> dict[str, dict[str, str]]:
        """Per usulan, the decision (with its reason) taken at each stage so far."""
        if not codes:
            return {}
        rows = await self.session.execute(
            select(Usulan.code, UsulanEvent.to_stage, UsulanEvent.to_decision,
                   UsulanEvent.reason_code, UsulanEvent.note)
            .join(UsulanEvent, UsulanEvent.usulan_id == Usulan.id)
            .where(Usulan.code.in_(list(codes)), UsulanEvent.kind == "keputusan")
            .order_by(UsulanEvent.id)
        )  # fmt: skip
        found: dict[str, dict[str, str]] = {}
        for code, stage, decision, reason, note in rows:
            text = decision + (f" ({reason})" if reason else "") + (f": {note}" if note else "")
            found.setdefault(code, {})[stage] = text
        return found


@dataclass(frozen=True)
class Stats:
    by_stage: dict[str, int]
    waiting_by_stage: dict[str, int]
    by_urusan: dict[str, int]
    by_kecamatan: dict[str, int]


def _scope_clause(actor: Actor) -> Any:
    if actor.role == Role.OPD:
        return Usulan.opd == actor.opd_code
    scope = actor.wilayah_code or ""
    return (Usulan.desa_code == scope) | Usulan.desa_code.startswith(scope + ".")


async def stats(session: AsyncSession, actor: Actor, planning_year: int | None = None) -> Stats:
    """Counts for the dashboard's charts, within the actor's scope."""
    base = [_scope_clause(actor)]
    if planning_year is not None:
        base.append(Usulan.planning_year == planning_year)

    async def grouped(column: Any, *extra: Any) -> dict[str, int]:
        rows = await session.execute(
            select(column, func.count()).where(*base, *extra).group_by(column)
        )
        return {str(k or "-"): int(v) for k, v in rows.all()}

    return Stats(
        by_stage=await grouped(Usulan.stage),
        waiting_by_stage=await grouped(Usulan.stage, Usulan.decision == Decision.MENUNGGU.value),
        by_urusan=await grouped(Usulan.urusan_code),
        by_kecamatan=await grouped(Usulan.kecamatan_code),
    )


def mask_phone(phone: str | None) -> str:
    """'081234567890' -> '0812****7890': enough to recognise, not enough to call."""
    if not phone:
        return ""
    digits = phone.strip()
    if len(digits) <= 6:
        return "*" * len(digits)
    return digits[:4] + "*" * (len(digits) - 8 if len(digits) > 8 else 2) + digits[-4:]


def csv_text(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()
