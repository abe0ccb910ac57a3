"""The officials' API: login, queues, usulan detail, decisions, invites, exports.

Endpoints only gather inputs; the services decide (scope included) and one unit of work per
request commits at the end. Every route below needs a bearer token.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.security import OAuth2PasswordBearer, OAuth2PasswordRequestForm
from pydantic import BaseModel, ConfigDict, Field

from backend.api.errors import error_responses
from backend.api.export import SIPD_COLUMNS, export_rows, xlsx_bytes
from backend.api.fields import bounded, limited
from backend.api.proxies import client_address
from backend.domain import INT32_MAX, Decision, Stage
from backend.errors import DomainError, Forbidden, Unauthenticated
from backend.services.context import Backend, Services
from backend.services.officials import Actor, Role
from backend.services.queues import QueueFilter, csv_text
from backend.services.workflow import REASON_CODES, DecisionRequest

oauth2 = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


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


async def bearer(token: Annotated[str | None, Depends(oauth2)]) -> str:
    if not token:
        raise Unauthenticated("a bearer token is required")
    return token


Token = Annotated[str, Depends(bearer)]
# Ids of Integer columns: anything larger names no row, and would overflow the database.
RowId = Annotated[int, Path(ge=1, le=INT32_MAX)]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MAX_PAGE_NUMBER = 1_000_000  # far past any queue; keeps the offset within the database's range


@asynccontextmanager
async def official_unit(backend: Backend, token: str) -> AsyncIterator[tuple[Actor, Services]]:
    """One unit of work per request: the token is checked in the same transaction as the
    work, so a request costs one connection checkout and one commit."""
    async with backend.unit() as services:
        yield await services.officials.authenticate(token), services


def router(backend: Backend) -> APIRouter:
    api = APIRouter(prefix="/api/v1", tags=["officials"], responses=error_responses(401, 403))

    @api.post("/auth/token", response_model=TokenOut, tags=["auth"], responses=error_responses(429))
    async def login(
        form: Annotated[OAuth2PasswordRequestForm, Depends()], request: Request
    ) -> TokenOut:
        """OAuth2 password login; the token lasts 12 hours. Repeated failures are refused
        with 429 and `Retry-After` (per username and per client address)."""
        client = client_address(request, backend.settings.trusted_proxies)
        issued = await backend.logins.login(form.username, form.password, client)
        return TokenOut(access_token=issued, expires_in=12 * 3600)

    @api.get("/tokens", response_model=list[TokenInfoOut], tags=["auth"])
    async def list_tokens(token: Token) -> list[TokenInfoOut]:
        """API tokens, Open311 keys and login sessions: an admin sees those of the
        kabupaten/kota, anyone else their own. Never the secret itself."""
        async with official_unit(backend, token) as (current, services):
            found = await services.officials.list_tokens(current)
        return [TokenInfoOut(**t.__dict__) for t in found]

    @api.delete(
        "/tokens/{token_id}",
        response_model=TokenInfoOut,
        tags=["auth"],
        responses=error_responses(404),
    )
    async def revoke_token(token_id: RowId, token: Token) -> TokenInfoOut:
        """Revoke one token: an admin any of the kabupaten/kota, anyone else their own."""
        async with official_unit(backend, token) as (current, services):
            revoked = await services.officials.revoke_token_id(token_id, current)
        return TokenInfoOut(**revoked.__dict__)

    @api.get("/me", response_model=MeOut)
    async def me(token: Token) -> MeOut:
        async with official_unit(backend, token) as (current, _):
            return MeOut(
                role=current.role.value,
                wilayah_code=current.wilayah_code,
                opd_code=current.opd_code,
            )

    def _filter(
        stage: Stage,
        decision: Decision | None,
        kecamatan: str | None,
        desa: str | None,
        opd: str | None,
        category: str | None,
        q: str | None,
    ) -> QueueFilter:
        return QueueFilter(stage=stage, decision=decision, kecamatan=kecamatan, desa=desa,
                           opd=opd, category=category, text=q)  # fmt: skip

    def _item(row: Any) -> dict[str, Any]:
        desa = backend.wilayah.get(row.desa_code)
        return {
            **{k: getattr(row, k) for k in QueueItemOut.model_fields if hasattr(row, k)},
            "desa": desa.label if desa else None,
            "kecamatan": desa.kecamatan_name if desa else None,
        }

    @api.get("/queues/{stage}", response_model=QueueOut)
    async def queue(
        stage: Stage,
        token: Token,
        decision: Decision | None = Decision.MENUNGGU,
        kecamatan: str | None = None,
        desa: str | None = None,
        opd: str | None = None,
        category: str | None = None,
        q: Annotated[str | None, Query(max_length=100)] = None,
        page: Annotated[int, Query(ge=1, le=MAX_PAGE_NUMBER)] = 1,
        per_page: Annotated[int, Query(ge=1, le=200)] = 50,
    ) -> QueueOut:
        """The Musrenbang queue of a stage, in working order, narrowed to the caller's scope."""
        wanted = _filter(stage, decision, kecamatan, desa, opd, category, q)
        async with official_unit(backend, token) as (current, services):
            result = await services.queues.page(current, wanted, page, per_page)
        return QueueOut(
            stage=stage.value,
            total=result.total,
            more=result.more,
            page=result.page,
            per_page=result.per_page,
            items=[QueueItemOut(**_item(r)) for r in result.items],
        )

    @api.get(
        "/queues/{stage}/export.{fmt}",
        response_class=Response,
        responses={200: {"content": {"text/csv": {}, XLSX: {}}}},
    )
    async def export(
        stage: Stage,
        fmt: Literal["xlsx", "csv"],
        token: Token,
        decision: Decision | None = Decision.MENUNGGU,
        kecamatan: str | None = None,
        desa: str | None = None,
        opd: str | None = None,
        category: str | None = None,
    ) -> Response:
        """The queue with the columns of SIPD's usulan export; phones are masked."""
        wanted = _filter(stage, decision, kecamatan, desa, opd, category, None)
        async with official_unit(backend, token) as (current, services):
            rows = await services.queues.all_rows(current, wanted)
            recommendations = await services.queues.recommendations([r.code for r in rows])
        table = export_rows(rows, recommendations, backend.wilayah)
        name = f"usulan-{stage.value}-{date.today().isoformat()}.{fmt}"
        headers = {"Content-Disposition": f'attachment; filename="{name}"'}
        if fmt == "csv":
            return Response(csv_text(SIPD_COLUMNS, table), media_type="text/csv; charset=utf-8",
                            headers=headers)  # fmt: skip
        data = await xlsx_bytes(SIPD_COLUMNS, table, stage.value)
        return Response(
            data,
            media_type=XLSX,
            headers=headers,
        )

    @api.get("/usulan/{code}", response_model=UsulanOut, responses=error_responses(404))
    async def usulan_detail(code: str, token: Token, request: Request) -> UsulanOut:
        async with official_unit(backend, token) as (current, services):
            detail = await services.workflow.detail(current, code)
        base = str(request.base_url).rstrip("/")
        desa = backend.wilayah.get(detail["desa_code"])
        return UsulanOut(
            **detail,
            desa=desa.label if desa else None,
            kecamatan=desa.kecamatan_name if desa else None,
            photos=[f"{base}/media/{sha}.jpg" for sha in detail["photo_hashes"]],
        )

    @api.post(
        "/usulan/{code}/decision", response_model=DecisionOut, responses=error_responses(404, 409)
    )
    async def decide(code: str, body: DecisionIn, token: Token) -> DecisionOut:
        async with official_unit(backend, token) as (current, services):
            result = await services.workflow.decide(current, code, _request(body))
        return DecisionOut(code=result.code, stage=result.stage, decision=result.decision)

    @api.post("/decisions", response_model=list[BulkItemOut])
    async def decide_many(body: BulkIn, token: Token) -> list[BulkItemOut]:
        """Each item is decided on its own: one refusal does not undo the others."""
        from backend.api.errors import status_of

        results: list[BulkItemOut] = []
        async with official_unit(backend, token) as (current, services):
            for item in body.items:
                try:
                    async with _savepoint(services):
                        done = await services.workflow.decide(current, item.code, _request(item))
                except DomainError as exc:
                    results.append(BulkItemOut(code=item.code, status=status_of(exc),
                                               detail=str(exc)))  # fmt: skip
                else:
                    results.append(BulkItemOut(code=done.code, status=200, stage=done.stage,
                                               decision=done.decision))  # fmt: skip
        return results

    @api.post("/invites", response_model=CreatedInviteOut, status_code=201, tags=["invites"])
    async def create_invite(body: InviteIn, token: Token) -> CreatedInviteOut:
        async with official_unit(backend, token) as (current, services):
            created = await services.officials.create_invite(
                body.role,
                wilayah_code=body.wilayah_code,
                opd_code=body.opd_code,
                created_by=current,
                ttl=timedelta(days=body.ttl_days),
            )
        username = backend.bot_username
        link = f"https://t.me/{username}?start={created.code}" if username else None
        return CreatedInviteOut(**created.invite.__dict__, code=created.code, deep_link=link)

    @api.get("/invites", response_model=list[InviteOut], tags=["invites"])
    async def list_invites(token: Token) -> list[InviteOut]:
        async with official_unit(backend, token) as (current, services):
            _admin(current)
            return [InviteOut(**i.__dict__) for i in await services.officials.list_invites()]

    @api.delete(
        "/invites/{invite_id}",
        response_model=InviteOut,
        tags=["invites"],
        responses=error_responses(404, 409),
    )
    async def revoke_invite(invite_id: RowId, token: Token) -> InviteOut:
        async with official_unit(backend, token) as (current, services):
            revoked = await services.officials.revoke_invite(invite_id, current)
        return InviteOut(**revoked.__dict__)

    @api.get("/outbox", response_model=OutboxOut, tags=["operations"])
    async def outbox_status(token: Token) -> OutboxOut:
        async with official_unit(backend, token) as (current, services):
            _admin(current)
            status = await services.delivery.status()
        return OutboxOut(
            counts=status.counts,
            oldest_due=status.oldest_due,
            dead=[DeadLetterOut(id=i, template=t, last_error=e) for i, t, e in status.dead],
        )

    @api.post("/outbox/retry", response_model=RetriedOut, tags=["operations"])
    async def outbox_retry(body: RetryIn, token: Token) -> RetriedOut:
        async with official_unit(backend, token) as (current, services):
            _admin(current)
            count = await services.delivery.retry_dead(body.ids or None)
        return RetriedOut(requeued=count)

    return api


def _admin(actor: Actor) -> None:
    if actor.role != Role.ADMIN:
        raise Forbidden("Bappeda admins only")


def _request(body: DecisionIn) -> DecisionRequest:
    return DecisionRequest(
        stage=body.stage,
        decision=body.decision,
        reason_code=body.reason_code,
        note=body.note,
        changes=body.changes.model_dump(exclude_none=True) if body.changes else None,
        merge_into=body.merge_into,
    )


def _savepoint(services: Services) -> Any:
    return services.session.begin_nested()
