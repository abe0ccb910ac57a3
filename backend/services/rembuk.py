"""Rembuk warga: the village meeting that decides its usulan, ranks the accepted ones and
confirms the result, which forwards them to the Musrenbang Kecamatan queue."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.domain import Decision, Stage
from backend.errors import Conflict, Forbidden, InvalidInput, NotFound
from backend.services.history import append_event
from backend.services.notifications import Outbox
from backend.services.officials import Actor, Role
from backend.storage.models import Rembuk, Usulan, utcnow

ATTENDANCE_FIELDS = ("total", "women", "youth", "disabled", "elderly")
MAX_MINUTES_PHOTOS = 10


@dataclass(frozen=True)
class QueueItem:
    code: str
    category: str
    usulan: str
    support_count: int
    village_rank: int | None
    decision: str


@dataclass(frozen=True)
class RembukView:
    id: int
    desa_code: str
    held_on: date | None
    place: str | None
    attendance: dict[str, int | None]
    minutes_photos: int
    confirmed: bool
    accepted: list[QueueItem] = field(default_factory=list)
    forwarded: list[QueueItem] = field(default_factory=list)
    rejected: int = 0
    waiting: int = 0
    other: int = 0


def _item(row: Usulan) -> QueueItem:
    return QueueItem(row.code, row.category, row.usulan, row.support_count, row.village_rank,
                     row.decision)  # fmt: skip


class RembukService:
    def __init__(self, session: AsyncSession, outbox: Outbox) -> None:
        self.session = session
        self.outbox = outbox

    @staticmethod
    def _village(actor: Actor, desa_code: str | None = None) -> str:
        if actor.role not in {Role.KEPALA_DESA, Role.OPERATOR_DESA, Role.ADMIN}:
            raise Forbidden("only the desa/kelurahan runs its rembuk warga")
        code = desa_code or actor.wilayah_code
        if code is None or not actor.covers_desa(code) or len(code.split(".")) != 4:
            raise Forbidden("outside your desa/kelurahan")
        return code

    async def current(self, actor: Actor, desa_code: str | None = None) -> RembukView | None:
        desa = self._village(actor, desa_code)
        row = await self.session.scalar(
            select(Rembuk)
            .where(Rembuk.desa_code == desa, Rembuk.confirmed_at.is_(None))
            .order_by(Rembuk.id.desc())
            .limit(1)
        )
        return await self.view(row) if row else None

    async def open(
        self, actor: Actor, planning_year: int, *, desa_code: str | None = None
    ) -> RembukView:
        desa = self._village(actor, desa_code)
        if await self.current(actor, desa) is not None:
            raise Conflict("a rembuk warga is already open for this desa")
        row = Rembuk(desa_code=desa, planning_year=planning_year, opened_by=actor.user_id)
        self.session.add(row)
        await self.session.flush()
        return await self.view(row)

    async def _open_row(self, actor: Actor, rembuk_id: int) -> Rembuk:
        row = await self.session.get(Rembuk, rembuk_id)
        if row is None:
            raise NotFound("no such rembuk")
        self._village(actor, row.desa_code)
        if row.confirmed_at is not None:
            raise Conflict("this rembuk warga is already confirmed")
        return row

    async def set_details(
        self, actor: Actor, rembuk_id: int, *, held_on: date | None = None,
        place: str | None = None,
    ) -> None:  # fmt: skip
        row = await self._open_row(actor, rembuk_id)
        if held_on is not None:
            row.held_on = held_on
        if place is not None:
            row.place = place.strip()[:200] or None

    async def set_attendance(self, actor: Actor, rembuk_id: int, **counts: int | None) -> None:
        row = await self._open_row(actor, rembuk_id)
        unknown = set(counts) - set(ATTENDANCE_FIELDS)
        if unknown:
            raise InvalidInput("attendance", f"unknown: {', '.join(sorted(unknown))}")
        for name, value in counts.items():
            if value is not None and not 0 <= value <= 100_000:
                raise InvalidInput(f"attendance.{name}", "out of range")
        merged = {name: getattr(row, f"attendance_{name}") for name in ATTENDANCE_FIELDS}
        merged.update(counts)
        total = merged["total"]
        for name in ATTENDANCE_FIELDS[1:]:
            if total is not None and merged[name] is not None and merged[name] > total:
                raise InvalidInput(f"attendance.{name}", "more than the total attendance")
        for name, value in counts.items():
            setattr(row, f"attendance_{name}", value)

    async def add_minutes_photo(self, actor: Actor, rembuk_id: int, sha256: str) -> int:
        row = await self._open_row(actor, rembuk_id)
        photos = list(row.minutes_photos or [])
        if sha256 in photos:
            return len(photos)
        if len(photos) >= MAX_MINUTES_PHOTOS:
            raise InvalidInput("minutes_photos", f"at most {MAX_MINUTES_PHOTOS}")
        row.minutes_photos = [*photos, sha256]
        return len(row.minutes_photos)

    async def _accepted(self, desa_code: str) -> list[Usulan]:
        rows = await self.session.scalars(
            select(Usulan)
            .where(
                Usulan.desa_code == desa_code,
                Usulan.stage == Stage.DESA.value,
                Usulan.decision == Decision.DITERIMA.value,
            )
            .order_by(Usulan.queue_rank, Usulan.support_count.desc(), Usulan.created_at)
        )
        return list(rows)

    async def rank(self, actor: Actor, rembuk_id: int, codes: list[str]) -> list[QueueItem]:
        """Set the village priority: `codes` first, in that order; the rest keep their order."""
        row = await self._open_row(actor, rembuk_id)
        accepted = await self._accepted(row.desa_code)
        by_code = {u.code: u for u in accepted}
        wanted = [c for c in dict.fromkeys(codes)]
        missing = [c for c in wanted if c not in by_code]
        if missing:
            raise InvalidInput("rank", f"not accepted in this desa: {', '.join(missing)}")
        ordered = [by_code[c] for c in wanted] + [u for u in accepted if u.code not in wanted]
        for position, usulan in enumerate(ordered, 1):
            usulan.village_rank = position
            usulan.queue_rank = position
        await self.session.flush()
        return [_item(u) for u in ordered]

    async def move(self, actor: Actor, rembuk_id: int, code: str, delta: int) -> list[QueueItem]:
        row = await self._open_row(actor, rembuk_id)
        order = [u.code for u in await self._accepted(row.desa_code)]
        if code not in order:
            raise InvalidInput("rank", f"{code} is not accepted in this desa")
        i = order.index(code)
        j = max(0, min(len(order) - 1, i + delta))
        order.insert(j, order.pop(i))
        return await self.rank(actor, rembuk_id, order)

    async def view(self, row: Rembuk) -> RembukView:
        usulan = list(
            await self.session.scalars(
                select(Usulan).where(
                    Usulan.desa_code == row.desa_code, Usulan.stage == Stage.DESA.value
                )
            )
        )
        accepted = sorted(
            (u for u in usulan if u.decision == Decision.DITERIMA.value),
            key=lambda u: (u.queue_rank, -u.support_count, u.created_at),
        )
        count = {d: sum(1 for u in usulan if u.decision == d) for d in {u.decision for u in usulan}}
        return RembukView(
            id=row.id,
            desa_code=row.desa_code,
            held_on=row.held_on,
            place=row.place,
            attendance={n: getattr(row, f"attendance_{n}") for n in ATTENDANCE_FIELDS},
            minutes_photos=len(row.minutes_photos or []),
            confirmed=row.confirmed_at is not None,
            accepted=[_item(u) for u in accepted],
            rejected=count.get(Decision.DITOLAK.value, 0),
            waiting=count.get(Decision.MENUNGGU.value, 0)
            + count.get(Decision.PERLU_PERBAIKAN.value, 0),
            other=count.get(Decision.DITUNDA.value, 0) + count.get(Decision.DIGABUNG.value, 0),
        )

    async def records(self, actor: Actor, limit: int = 200) -> list[RembukView]:
        """Rembuk warga held in the actor's wilayah, newest first (attendance, minutes)."""
        if actor.role == Role.OPD:
            raise Forbidden("rembuk records are kept by wilayah")
        scope = actor.wilayah_code or ""
        rows = await self.session.scalars(
            select(Rembuk)
            .where((Rembuk.desa_code == scope) | Rembuk.desa_code.startswith(scope + "."))
            .order_by(Rembuk.id.desc())
            .limit(limit)
        )
        return [await self.view(r) for r in rows]

    async def minutes(self, rembuk_id: int) -> list[str]:
        row = await self.session.get(Rembuk, rembuk_id)
        return list(row.minutes_photos or []) if row else []

    async def confirm(self, actor: Actor, rembuk_id: int) -> RembukView:
        """Forward the accepted usulan, in rank order, to the Musrenbang Kecamatan queue."""
        row = await self._open_row(actor, rembuk_id)
        if row.held_on is None or not row.place:
            raise InvalidInput("rembuk", "date and place of the rembuk warga are required")
        if row.attendance_total is None or row.attendance_women is None:
            raise InvalidInput("attendance", "total and women's attendance are required")
        accepted = await self._accepted(row.desa_code)
        if not accepted:
            raise InvalidInput("rembuk", "no usulan was accepted")
        # Confirm once: the guard on confirmed_at makes a second, concurrent confirm fail.
        result = await self.session.execute(
            update(Rembuk)
            .where(Rembuk.id == row.id, Rembuk.confirmed_at.is_(None))
            .values(confirmed_at=utcnow(), confirmed_by=actor.user_id)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise Conflict("this rembuk warga is already confirmed")
        for position, usulan in enumerate(accepted, 1):
            usulan.village_rank = position
            usulan.queue_rank = position
            usulan.stage = Stage.KECAMATAN.value
            usulan.decision = Decision.MENUNGGU.value
            usulan.rembuk_id = row.id
            await append_event(
                self.session,
                usulan_id=usulan.id,
                kind="diteruskan",
                from_stage=Stage.DESA.value,
                from_decision=Decision.DITERIMA.value,
                to_stage=Stage.KECAMATAN.value,
                to_decision=Decision.MENUNGGU.value,
                actor_user_id=actor.user_id,
                payload={"rembuk_id": row.id, "village_rank": position},
            )
        await self.session.flush()
        await self.outbox.forwarded(accepted, Stage.DESA)
        await self.outbox.queue_received(Stage.KECAMATAN, accepted, batch=f"rembuk{row.id}")
        await self.session.refresh(row)
        return replace(await self.view(row), forwarded=[_item(u) for u in accepted])
