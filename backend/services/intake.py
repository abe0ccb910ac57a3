"""Use cases of a resident's usulan: submit a finished draft, look one up, list one's own."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from backend.domain import MAX_PHOTOS, Decision, Origin, Stage, check_number, check_text
from backend.errors import InvalidInput
from backend.services.categories import Category
from backend.services.history import append_event
from backend.services.wilayah import WilayahIndex
from backend.storage.models import Usulan, UsulanEvent, UsulanPhoto, UsulanVoice

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
    latest: HistoryEntry | None = None  # the event that made the status what it is

    @property
    def reason_code(self) -> str | None:
        return self.latest.reason_code if self.latest else None

    @property
    def note(self) -> str | None:
        return self.latest.note if self.latest else None


def clean_text(value: object) -> str:
    """Text as stored: trimmed, and without NUL or other control characters (PostgreSQL
    refuses NUL; the others only garble pages and exports). Line breaks stay."""
    text = str(value or "")
    return "".join(ch for ch in text if ch in "\n\t" or ch.isprintable()).strip()


def _text(draft: dict[str, Any], field: str) -> str:
    return check_text(field, clean_text(draft.get(field)))


def _optional(draft: dict[str, Any], field: str) -> str | None:
    """An optional text as stored, refused (never cut) when longer than its column."""
    value = clean_text(draft.get(field))
    return check_text(field, value) if value else None


def _optional_number(draft: dict[str, Any], field: str) -> Decimal | None:
    value = draft.get(field)
    return None if value is None or value == "" else check_number(field, value)


def _submitter(name: str | None, phone: str | None) -> dict[str, Any]:
    """The resident named on an usulan someone else submits for them."""
    name, phone = (clean_text(v) or None for v in (name, phone))
    return {
        "submitter_name": check_text("submitter_name", name) if name else None,
        "submitter_phone": check_text("submitter_phone", phone) if phone else None,
    }


def _measured(draft: dict[str, Any]) -> dict[str, Any]:
    """The optional columns of a draft, each checked against its limit (never cut)."""
    volume = _optional_number(draft, "volume")
    beneficiaries = _optional_number(draft, "beneficiaries")
    latitude, longitude = (_optional_number(draft, f) for f in ("latitude", "longitude"))
    if (latitude is None) != (longitude is None):
        raise InvalidInput("longitude" if latitude is not None else "latitude", "both or none")
    return {
        **{field: _optional(draft, field) for field in ("dusun", "rt", "rw", "street")},
        "latitude": float(latitude) if latitude is not None else None,
        "longitude": float(longitude) if longitude is not None else None,
        "volume": volume,
        "unit": _optional(draft, "unit") if volume is not None else None,
        "beneficiaries": int(beneficiaries) if beneficiaries is not None else None,
        "beneficiaries_unit": (
            _optional(draft, "beneficiaries_unit") if beneficiaries is not None else None
        ),
    }


# What a resident writes (and may revise); the rest of an usulan's columns follow from these.
RESIDENT_FIELDS = (
    "desa_code", "category", "permasalahan", "usulan", "volume", "unit", "beneficiaries",
    "beneficiaries_unit",
    "dusun", "rt", "rw", "street", "latitude", "longitude",
)  # fmt: skip
# Columns that follow from one the resident chose: a desa's kecamatan, a category's
# bidang urusan and OPD.
DERIVED_FROM = {"desa_code": ("kecamatan_code",), "category": ("urusan_code", "opd")}


def usulan_fields(
    draft: dict[str, Any], wilayah: WilayahIndex, categories: dict[str, Category]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A draft checked as the server checks every usulan: its column values and photos.
    Raises InvalidInput naming the field to correct."""
    desa = wilayah.get(str(draft.get("desa_code") or ""))
    if desa is None:
        raise InvalidInput("desa_code", "unknown")
    category = categories.get(str(draft.get("category") or ""))
    if category is None:
        raise InvalidInput("category", "unknown")
    photos = list(draft.get("photos") or [])
    if len(photos) > MAX_PHOTOS:
        raise InvalidInput("photos", "too_many")
    fields = {
        "desa_code": desa.code,
        "kecamatan_code": desa.kecamatan_code,
        "category": category.key,
        "urusan_code": category.urusan_code,
        "opd": category.opd,
        "permasalahan": _text(draft, "permasalahan"),
        "usulan": _text(draft, "usulan"),
        **_measured(draft),
    }
    return fields, photos


def photo_rows(photos: list[dict[str, Any]]) -> list[UsulanPhoto]:
    return [
        UsulanPhoto(
            position=i, sha256=p["sha256"], width=p["width"], height=p["height"], bytes=p["bytes"]
        )
        for i, p in enumerate(photos)
    ]


VOICE_FIELDS = ("permasalahan", "usulan")


def voice_rows(draft: dict[str, Any], fields: dict[str, Any]) -> list[UsulanVoice]:
    """The texts that came from a voice note, marked as transcripts with the note kept.
    A marker whose text is not the field's (changed since) marks nothing."""
    voice = draft.get("voice")
    if not isinstance(voice, dict):
        return []
    rows = []
    for field in VOICE_FIELDS:
        mark = voice.get(field)
        if not isinstance(mark, dict) or not _is_sha256(mark.get("sha256")):
            continue
        rows.append(
            UsulanVoice(
                field=field,
                sha256=mark["sha256"],
                seconds=float(mark.get("seconds") or 0),
                bytes=int(mark.get("bytes") or 0),
                transcript=str(mark.get("transcript") or fields[field]),
                edited=bool(mark.get("edited")) or fields[field] != mark.get("transcript"),
            )
        )
    return rows


def _is_sha256(value: object) -> bool:
    return isinstance(value, str) and len(value) == 64 and set(value) <= set("0123456789abcdef")


def draft_of(row: Usulan, photos: list[UsulanPhoto]) -> dict[str, Any]:
    """An usulan as the conversation's draft, to revise it with the same steps."""
    draft: dict[str, Any] = {
        field: getattr(row, field)
        for field in RESIDENT_FIELDS
        if getattr(row, field) is not None
    }
    if row.volume is not None:
        draft["volume"] = plain_number(row.volume)
    draft["photos"] = [
        {"sha256": p.sha256, "width": p.width, "height": p.height, "bytes": p.bytes}
        for p in sorted(photos, key=lambda p: p.position)
    ]
    return draft


def plain_number(value: Decimal) -> str:
    """120, 2.5: never 1.2E+2 or 120.000."""
    if value == value.to_integral_value():
        return str(int(value))
    return format(value.normalize(), "f")


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
        fields, photos = usulan_fields(draft, self.wilayah, self.categories)
        code = await self._unused_code()
        row = Usulan(
            code=code,
            planning_year=self.planning_year,
            origin=origin.value,
            submitter_id=submitter_id,
            **fields,
            **_submitter(submitter_name, submitter_phone),
            support_count=0,
            stage=Stage.DESA.value,
            decision=Decision.MENUNGGU.value,
        )
        row.photos = photo_rows(photos)
        row.voice = voice_rows(draft, fields)
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
        return Submitted(code=code, desa_code=row.desa_code, stage=row.stage, decision=row.decision)

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
        history = tuple(_entry(e) for e in events)
        decided = [e for e in events if e.kind != FORWARDED]
        latest = _entry(decided[-1]) if decided else None
        return _summary(row, len(row.photos), history, latest=latest)

    async def revision_draft(self, user_id: int, code: str) -> dict[str, Any] | None:
        """One's own usulan as a draft to revise; None when it is not theirs."""
        normalised = normalise_code(code)
        row = None
        if normalised is not None:
            row = await self.session.scalar(
                select(Usulan)
                .where(Usulan.code == normalised, Usulan.submitter_id == user_id)
                .options(selectinload(Usulan.photos))
            )
        return None if row is None else draft_of(row, list(row.photos))

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
        latest = await self._latest_events([r.id for r in rows])
        return [_summary(r, 0, latest=latest.get(r.id)) for r in rows]

    async def _latest_events(self, usulan_ids: list[int]) -> dict[int, HistoryEntry]:
        """The newest decision of each usulan (a forward to the next stage is not one):
        why its status is what it is, with the official's reason and note."""
        if not usulan_ids:
            return {}
        newest = (
            select(UsulanEvent.usulan_id, func.max(UsulanEvent.seq).label("seq"))
            .where(UsulanEvent.usulan_id.in_(usulan_ids), UsulanEvent.kind != FORWARDED)
            .group_by(UsulanEvent.usulan_id)
            .subquery()
        )
        events = await self.session.scalars(
            select(UsulanEvent).join(
                newest,
                (UsulanEvent.usulan_id == newest.c.usulan_id) & (UsulanEvent.seq == newest.c.seq),
            )
        )
        return {e.usulan_id: _entry(e) for e in events}


FORWARDED = "diteruskan"  # the event kind of a move to the next stage (workflow, rembuk)


def _entry(event: UsulanEvent) -> HistoryEntry:
    return HistoryEntry(
        event.at, event.to_stage, event.to_decision, event.reason_code, event.note
    )


def _summary(
    row: Usulan,
    photo_count: int,
    history: tuple[HistoryEntry, ...] = (),
    latest: HistoryEntry | None = None,
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
        latest=latest,
    )
