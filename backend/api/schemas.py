"""The shapes of the JSON API (officials' API and the public API), in one place: what the
routes read and answer, with the limits of backend.domain on every input field."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from backend.api.fields import bounded, limited
from backend.domain import Decision, Stage
from backend.services.officials import Role
from backend.services.workflow import REASON_CODES


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth2 token type, no secret
    expires_in: int


class TokenInfoOut(BaseModel):
    id: int
    user_id: int
    owner: str
    kind: Literal["api", "login", "open311"]
    name: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class MeOut(BaseModel):
    role: str
    wilayah_code: str | None
    opd_code: str | None


class QueueItemOut(BaseModel):
    code: str
    created_at: datetime
    desa_code: str
    desa: str | None
    kecamatan: str | None
    category: str
    urusan_code: str | None
    opd: str | None
    permasalahan: str
    usulan: str
    volume: Decimal | None
    unit: str | None
    stage: str
    decision: str
    village_rank: int | None
    support_count: int


class QueueOut(BaseModel):
    stage: str
    total: int
    more: bool = Field(default=False, description="more than `total` (10,000) wait")
    page: int
    per_page: int
    items: list[QueueItemOut]


class EventOut(BaseModel):
    at: datetime
    kind: str
    stage: str
    decision: str
    reason_code: str | None
    note: str | None
    changes: dict[str, Any] | None = None


class UsulanOut(QueueItemOut):
    planning_year: int
    origin: str
    dusun: str | None
    rt: str | None
    rw: str | None
    street: str | None
    latitude: float | None
    longitude: float | None
    beneficiaries: int | None
    beneficiaries_unit: str | None = Field(description="KK, orang or rumah, when the resident said")
    submitter_phone: str | None = Field(description="masked")
    merged_into: str | None
    photos: list[str]
    history: list[EventOut]


class ChangesIn(BaseModel):
    """What an official may change when accepting with changes; null means unchanged."""

    model_config = ConfigDict(extra="forbid")

    volume: float | None = bounded(
        "volume", None, description="at most 2 digits after the decimal point"
    )
    unit: str | None = limited("unit", None)
    opd: str | None = limited("opd", None, description="an OPD code")
    desa_code: str | None = limited("desa_code", None)
    latitude: float | None = bounded("latitude", None)
    longitude: float | None = bounded("longitude", None)
    street: str | None = limited("street", None, description="empty clears it")


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stage: Stage
    decision: Decision
    reason_code: str | None = limited(
        "reason_code", None, description=f"one of {', '.join(REASON_CODES)}"
    )
    note: str | None = limited("note", None)
    changes: ChangesIn | None = Field(default=None, description="for diterima_dengan_perubahan")
    merge_into: str | None = limited("code", None, description="for digabung: the target's code")


class DecisionOut(BaseModel):
    code: str
    stage: str
    decision: str


class BulkItemIn(DecisionIn):
    code: str = limited("code")


class BulkIn(BaseModel):
    items: list[BulkItemIn] = Field(min_length=1, max_length=200)


class BulkItemOut(BaseModel):
    code: str
    status: int
    stage: str | None = None
    decision: str | None = None
    detail: str | None = None


class DeadLetterOut(BaseModel):
    id: int
    template: str
    last_error: str | None


class OutboxOut(BaseModel):
    counts: dict[str, int]
    oldest_due: datetime | None
    dead: list[DeadLetterOut]


class RetryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ids: list[Annotated[int, bounded("id")]] | None = Field(
        default=None, max_length=1000, description="dead letters to retry; all if empty"
    )


class RetriedOut(BaseModel):
    requeued: int


class InviteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role
    wilayah_code: str | None = limited("wilayah_code", None)
    opd_code: str | None = limited("opd", None)
    ttl_days: int = Field(default=7, ge=1, le=90, strict=True)


class InviteOut(BaseModel):
    id: int
    role: str
    wilayah_code: str | None
    opd_code: str | None
    expires_at: datetime
    claimed: bool
    revoked: bool
    code_hint: str


class CreatedInviteOut(InviteOut):
    code: str = Field(description="shown once: give it to the official")
    deep_link: str | None


# --- the public API: what anyone holding the code may see ------------------------------


class HistoryOut(BaseModel):
    at: datetime
    stage: str
    decision: str
    reason_code: str | None


class UsulanStatusOut(BaseModel):
    """What anyone holding the code may see: never who submitted it."""

    code: str
    planning_year: int
    desa_code: str
    desa: str | None
    kecamatan: str | None
    category: str
    usulan: str
    stage: str
    decision: str
    photos: int
    verified: bool = Field(description="its history chain verifies: nothing edited or cut")
    history: list[HistoryOut]
