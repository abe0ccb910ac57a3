"""The Musrenbang queues (docs/architecture.md): what waits at a stage for one scope, in
working order: village priority rank, then support count, then age."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, false, func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from backend.domain import Decision, Stage
from backend.errors import Forbidden, InvalidInput
from backend.services.officials import Actor, Role
from backend.storage.models import User, Usulan, UsulanEvent, UsulanVoice

MAX_PAGE = 200
COUNT_CAP = 10_000


@dataclass(frozen=True)
class QueueFilter:
    stage: Stage
    decision: Decision | None = Decision.MENUNGGU
    kecamatan: str | None = None
    desa: str | None = None
    opd: str | None = None
    category: str | None = None
    text: str | None = None
    region: str | None = None  # a kabupaten/kota code; set from the actor's scope


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
    beneficiaries: int | None = None
    beneficiaries_unit: str | None = None  # KK, orang, rumah


@dataclass(frozen=True)
class QueuePage:
    items: list[QueueRow]
    total: int
    page: int
    per_page: int
    more: bool = False  # more than `total` (= COUNT_CAP) wait


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
    # An admin: the whole kabupaten/kota, and nothing of another.
    for code in (wanted.kecamatan, wanted.desa):
        if code is not None and not actor.covers_desa(code):
            raise Forbidden("outside your kabupaten/kota")
    return QueueFilter(**{**wanted.__dict__, "region": actor.wilayah_code})


def _query(f: QueueFilter) -> Select[Any]:
    query = select(Usulan.id).where(Usulan.stage == f.stage.value)
    if f.decision is not None:
        query = query.where(Usulan.decision == f.decision.value)
    if f.region:
        query = query.where(Usulan.kecamatan_code.startswith(f.region + "."))
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


# Only what a queue row shows: loading whole ORM objects costs more than the query itself.
ROW_COLUMNS = tuple(
    getattr(Usulan, name)
    for name in QueueRow.__dataclass_fields__
    if name not in {"submitter_name"}
)


def _row(values: Any) -> QueueRow:
    data = dict(values._mapping)
    display_name = data.pop("display_name")
    data["submitter_name"] = data["submitter_name"] or display_name
    return QueueRow(**data)


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
        # Counting a whole region's queue grows with its size; past COUNT_CAP "more than" is
        # all a desk needs to know.
        capped = base.limit(COUNT_CAP + 1).subquery()
        total = int(await self.session.scalar(select(func.count()).select_from(capped)) or 0)
        rows = await self._rows(
            base.order_by(
                Usulan.queue_rank, Usulan.support_count.desc(), Usulan.created_at, Usulan.id
            )
            .limit(per_page)
            .offset((page - 1) * per_page)
        )
        return QueuePage(
            items=rows, total=min(total, COUNT_CAP), page=page, per_page=per_page,
            more=total > COUNT_CAP,
        )

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
        columns = (*ROW_COLUMNS, Usulan.submitter_name, User.display_name)
        query = query.with_only_columns(*columns).outerjoin(User, User.id == Usulan.submitter_id)
        return [_row(r) for r in (await self.session.execute(query)).all()]

    async def stats(self, actor: Actor, planning_year: int | None = None) -> Stats:
        return await stats(self.session, actor, planning_year)

    async def transcribed(self, codes: Sequence[str]) -> dict[str, dict[str, bool]]:
        """Per usulan, its texts that came from a voice note: field -> corrected by the
        resident."""
        found: dict[str, dict[str, bool]] = {}
        codes = list(codes)
        for start in range(0, len(codes), 5000):  # a driver binds at most 32,767 parameters
            rows = await self.session.execute(
                select(Usulan.code, UsulanVoice.field, UsulanVoice.edited)
                .join(UsulanVoice, UsulanVoice.usulan_id == Usulan.id)
                .where(Usulan.code.in_(codes[start : start + 5000]))
            )
            for code, field, edited in rows:
                found.setdefault(code, {})[field] = edited
        return found

    async def recommendations(
        self, actor: Actor, codes: Sequence[str]
    ) -> dict[str, dict[str, str]]:
        """Per usulan in the actor's scope, the decision (with its reason) taken at each stage
        so far."""
        found: dict[str, dict[str, str]] = {}
        codes = list(codes)
        # In chunks: a driver binds at most 32,767 parameters to one statement.
        for start in range(0, len(codes), 5000):
            rows = await self.session.execute(
                select(Usulan.code, UsulanEvent.to_stage, UsulanEvent.to_decision,
                       UsulanEvent.reason_code, UsulanEvent.note)
                .join(UsulanEvent, UsulanEvent.usulan_id == Usulan.id)
                .where(Usulan.code.in_(codes[start : start + 5000]),
                       UsulanEvent.kind == "keputusan", _scope_clause(actor))
                .order_by(UsulanEvent.id)
            )  # fmt: skip
            for code, stage, decision, reason, note in rows:
                text = decision + (f" ({reason})" if reason else "")
                found.setdefault(code, {})[stage] = text + (f": {note}" if note else "")
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
    if actor.wilayah_code is None:
        return true() if actor.system else false()
    scope = actor.wilayah_code
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
