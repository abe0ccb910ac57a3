"""Use cases of a resident's usulan: submit a finished draft, look one up, list one's own."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from backend.domain import MAX_PHOTOS, MAX_TEXT_CHARS, MIN_TEXT_CHARS, Decision, Origin, Stage
from backend.errors import InvalidInput
from backend.services.categories import Category
from backend.services.history import append_event
from backend.services.wilayah import WilayahIndex
from backend.storage.models import Usulan, UsulanEvent, UsulanPhoto

# No 0/O, 1/I/L or U: a code read aloud over a bad phone line is not misheard or misread.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 8  # 30**8 ≈ 6.6e11: not guessable, short enough to read aloud as two groups


def new_tracking_code() -> str:
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    return f"{raw[:4]}-{raw[4:]}"


def normalise_code(text: str) -> str | None:
    """'k7qm 4rxt', 'K7QM-4RXT' -> 'K7QM-4RXT'; None when it cannot be a code."""
    raw = "".join(ch for ch in text.upper() if ch.isalnum())
    if len(raw) != CODE_LENGTH or any(ch not in CODE_ALPHABET for ch in raw):
        return None
    return f"{raw[:4]}-{raw[4:]}"


@dataclass(frozen=True)
class Submitted:
    code: str
    desa_code: str
    stage: str
    decision: str


@dataclass(frozen=True)
class HistoryEntry:
    at: datetime
    stage: str
    decision: str
    reason_code: str | None
    note: str | None


@dataclass(frozen=True)
class UsulanSummary:
    code: str
    desa_code: str
    category: str
    usulan: str
    stage: str
    decision: str
    created_at: datetime
    planning_year: int
    photo_count: int
    history: tuple[HistoryEntry, ...] = ()
    permasalahan: str = ""


def clean_text(value: object) -> str:
    """Text as stored: trimmed, and without NUL or other control characters (PostgreSQL
    refuses NUL; the others only garble pages and exports). Line breaks stay."""
    text = str(value or "")
    return "".join(ch for ch in text if ch in "\n\t" or ch.isprintable()).strip()


def _text(draft: dict[str, Any], field: str) -> str:
    value = clean_text(draft.get(field))
    if len(value) < MIN_TEXT_CHARS:
        raise InvalidInput(field, "too_short")
    if len(value) > MAX_TEXT_CHARS:
        raise InvalidInput(field, "too_long")
    return value


def _optional(draft: dict[str, Any], field: str, max_len: int) -> str | None:
    value = clean_text(draft.get(field))
    return value[:max_len] or None


class IntakeService:
    def __init__(
        self,
        session: AsyncSession,
        *,
        wilayah: WilayahIndex,
        categories: dict[str, Category],
        planning_year: int,
    ) -> None:
        self.session = session
        self.wilayah = wilayah
        self.categories = categories
        self.planning_year = planning_year

    async def submit(
        self,
        draft: dict[str, Any],
        *,
        submitter_id: int | None,
        origin: Origin = Origin.WARGA,
        channel: str | None = None,
        message_ref: str | None = None,
        submitter_name: str | None = None,
        submitter_phone: str | None = None,
    ) -> Submitted:
        """Validate a finished draft again on the server and record it with its first event.

        `submitter_name`/`submitter_phone` name the resident when someone else submits for them
        (a kepala desa for a resident without a phone).
        """
        desa = self.wilayah.get(str(draft.get("desa_code") or ""))
        if desa is None:
            raise InvalidInput("desa_code", "unknown")
        category = self.categories.get(str(draft.get("category") or ""))
        if category is None:
            raise InvalidInput("category", "unknown")
        permasalahan = _text(draft, "permasalahan")
        usulan_text = _text(draft, "usulan")
        photos = list(draft.get("photos") or [])
        if len(photos) > MAX_PHOTOS:
            raise InvalidInput("photos", "too_many")
        volume = None
        if draft.get("volume") is not None:
            try:
                volume = Decimal(str(draft["volume"]))
            except InvalidOperation:
                raise InvalidInput("volume", "not_a_number") from None
            if volume <= 0 or volume >= Decimal("1e12"):
                raise InvalidInput("volume", "out_of_range")
        beneficiaries = draft.get("beneficiaries")
        if beneficiaries is not None and not (0 < int(beneficiaries) < 100_000_000):
            raise InvalidInput("beneficiaries", "out_of_range")

        code = await self._unused_code()
        row = Usulan(
            code=code,
            planning_year=self.planning_year,
            origin=origin.value,
            submitter_id=submitter_id,
            submitter_name=clean_text(submitter_name)[:120] or None,
            submitter_phone=clean_text(submitter_phone)[:32] or None,
            desa_code=desa.code,
            kecamatan_code=desa.kecamatan_code,
            dusun=_optional(draft, "dusun", 120),
            rt=_optional(draft, "rt", 8),
            rw=_optional(draft, "rw", 8),
            street=_optional(draft, "street", 200),
            latitude=draft.get("latitude"),
            longitude=draft.get("longitude"),
            category=category.key,
            urusan_code=category.urusan_code,
            opd=category.opd,
            permasalahan=permasalahan,
            usulan=usulan_text,
            volume=volume,
            unit=_optional(draft, "unit", 32) if volume is not None else None,
            beneficiaries=int(beneficiaries) if beneficiaries is not None else None,
            support_count=0,
            stage=Stage.DESA.value,
            decision=Decision.MENUNGGU.value,
        )
        row.photos = [
            UsulanPhoto(
                position=i,
                sha256=p["sha256"],
                width=p["width"],
                height=p["height"],
                bytes=p["bytes"],
            )
            for i, p in enumerate(photos)
        ]
        self.session.add(row)
        await self.session.flush()
        await append_event(
            self.session,
            usulan_id=row.id,
            kind="diajukan",
            to_stage=row.stage,
            to_decision=row.decision,
            actor_user_id=submitter_id,
            payload={"origin": origin.value, "channel": channel, "message_ref": message_ref},
        )
        return Submitted(code=code, desa_code=desa.code, stage=row.stage, decision=row.decision)

    async def _unused_code(self) -> str:
        while True:
            code = new_tracking_code()
            taken = await self.session.scalar(select(Usulan.id).where(Usulan.code == code))
            if taken is None:
                return code

    async def status(self, code: str) -> UsulanSummary | None:
        normalised = normalise_code(code)
        if normalised is None:
            return None
        row = await self.session.scalar(
            select(Usulan).where(Usulan.code == normalised).options(selectinload(Usulan.photos))
        )
        if row is None:
            return None
        events = (
            await self.session.scalars(
                select(UsulanEvent).where(UsulanEvent.usulan_id == row.id).order_by(UsulanEvent.seq)
            )
        ).all()
        history = tuple(
            HistoryEntry(e.at, e.to_stage, e.to_decision, e.reason_code, e.note) for e in events
        )
        return _summary(row, len(row.photos), history)

    async def owned(self, user_id: int, code: str) -> UsulanSummary | None:
        """One of the person's own usulan, with its history; None when it is not theirs."""
        normalised = normalise_code(code)
        if normalised is None:
            return None
        owner = await self.session.scalar(
            select(Usulan.submitter_id).where(Usulan.code == normalised)
        )
        if owner is None or owner != user_id:
            return None
        return await self.status(normalised)

    async def mine(self, user_id: int, limit: int = 20) -> list[UsulanSummary]:
        rows = (
            await self.session.scalars(
                select(Usulan)
                .where(Usulan.submitter_id == user_id)
                .order_by(Usulan.created_at.desc(), Usulan.id.desc())
                .limit(limit)
            )
        ).all()
        return [_summary(r, 0) for r in rows]


def _summary(
    row: Usulan, photo_count: int, history: tuple[HistoryEntry, ...] = ()
) -> UsulanSummary:
    return UsulanSummary(
        code=row.code,
        desa_code=row.desa_code,
        category=row.category,
        usulan=row.usulan,
        stage=row.stage,
        decision=row.decision,
        created_at=row.created_at,
        planning_year=row.planning_year,
        photo_count=photo_count,
        history=history,
        permasalahan=row.permasalahan,
    )
