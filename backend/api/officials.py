"""The officials' API: login, queues, usulan detail, decisions, invites, exports.

Endpoints only gather inputs; the services decide (scope included) and one unit of work per
request commits at the end. Every route below but the login needs a bearer token.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.security import OAuth2PasswordRequestForm

from backend.api.deps import MAX_PAGE_NUMBER, BackendDep, Client, Official, RowId, Unit
from backend.api.errors import error_responses, status_of
from backend.api.export import XLSX, queue_export
from backend.api.schemas import (
    BulkIn,
    BulkItemOut,
    CreatedInviteOut,
    DeadLetterOut,
    DecisionIn,
    DecisionOut,
    InviteIn,
    InviteOut,
    MeOut,
    OutboxOut,
    QueueItemOut,
    QueueOut,
    RetriedOut,
    RetryIn,
    TokenInfoOut,
    TokenOut,
    UsulanOut,
)
from backend.domain import Decision, Stage
from backend.errors import DomainError
from backend.services.queues import QueueFilter, QueueRow
from backend.services.wilayah import WilayahIndex
from backend.services.workflow import DecisionRequest

router = APIRouter(prefix="/api/v1", tags=["officials"], responses=error_responses(401, 403))


@router.post("/auth/token", response_model=TokenOut, tags=["auth"], responses=error_responses(429))
async def login(
    form: Annotated[OAuth2PasswordRequestForm, Depends()], backend: BackendDep, client: Client
) -> TokenOut:
    """OAuth2 password login; the token lasts 12 hours. Repeated failures are refused
    with 429 and `Retry-After` (per username and per client address)."""
    issued = await backend.logins.login(form.username, form.password, client)
    return TokenOut(access_token=issued, expires_in=12 * 3600)


@router.get("/tokens", response_model=list[TokenInfoOut], tags=["auth"])
async def list_tokens(current: Official, services: Unit) -> list[TokenInfoOut]:
    """API tokens, Open311 keys and login sessions: an admin sees those of the
    kabupaten/kota, anyone else their own. Never the secret itself."""
    found = await services.officials.list_tokens(current)
    return [TokenInfoOut(**t.__dict__) for t in found]


@router.delete(
    "/tokens/{token_id}",
    response_model=TokenInfoOut,
    tags=["auth"],
    responses=error_responses(404),
)
async def revoke_token(token_id: RowId, current: Official, services: Unit) -> TokenInfoOut:
    """Revoke one token: an admin any of the kabupaten/kota, anyone else their own."""
    revoked = await services.officials.revoke_token_id(token_id, current)
    return TokenInfoOut(**revoked.__dict__)


@router.get("/me", response_model=MeOut)
async def me(current: Official) -> MeOut:
    return MeOut(
        role=current.role.value, wilayah_code=current.wilayah_code, opd_code=current.opd_code
    )


@router.get("/queues/{stage}", response_model=QueueOut)
async def queue(
    stage: Stage,
    current: Official,
    services: Unit,
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
    wanted = QueueFilter(stage=stage, decision=decision, kecamatan=kecamatan, desa=desa,
                         opd=opd, category=category, text=q)  # fmt: skip
    result = await services.queues.page(current, wanted, page, per_page)
    return QueueOut(
        stage=stage.value,
        total=result.total,
        more=result.more,
        page=result.page,
        per_page=result.per_page,
        items=[QueueItemOut(**_item(r, services.wilayah)) for r in result.items],
    )


@router.get(
    "/queues/{stage}/export.{fmt}",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}, XLSX: {}}}},
)
async def export(
    stage: Stage,
    fmt: Literal["xlsx", "csv"],
    current: Official,
    services: Unit,
    decision: Decision | None = Decision.MENUNGGU,
    kecamatan: str | None = None,
    desa: str | None = None,
    opd: str | None = None,
    category: str | None = None,
) -> Response:
    """The queue with the columns of SIPD's usulan export; phones are masked."""
    wanted = QueueFilter(stage=stage, decision=decision, kecamatan=kecamatan, desa=desa,
                         opd=opd, category=category)  # fmt: skip
    name = f"usulan-{stage.value}-{date.today().isoformat()}"
    return await queue_export(services, current, wanted, fmt, name)


@router.get("/usulan/{code}", response_model=UsulanOut, responses=error_responses(404))
async def usulan_detail(
    code: str, request: Request, current: Official, services: Unit
) -> UsulanOut:
    detail = await services.workflow.detail(current, code)
    base = str(request.base_url).rstrip("/")
    desa = services.wilayah.get(detail["desa_code"])
    return UsulanOut(
        **detail,
        desa=desa.label if desa else None,
        kecamatan=desa.kecamatan_name if desa else None,
        photos=[f"{base}/media/{sha}.jpg" for sha in detail["photo_hashes"]],
    )


@router.post(
    "/usulan/{code}/decision", response_model=DecisionOut, responses=error_responses(404, 409)
)
async def decide(code: str, body: DecisionIn, current: Official, services: Unit) -> DecisionOut:
    result = await services.workflow.decide(current, code, _request(body))
    return DecisionOut(code=result.code, stage=result.stage, decision=result.decision)


@router.post("/decisions", response_model=list[BulkItemOut])
async def decide_many(body: BulkIn, current: Official, services: Unit) -> list[BulkItemOut]:
    """Each item is decided on its own: one refusal does not undo the others."""
    results: list[BulkItemOut] = []
    for item in body.items:
        try:
            async with services.session.begin_nested():
                done = await services.workflow.decide(current, item.code, _request(item))
        except DomainError as exc:
            results.append(BulkItemOut(code=item.code, status=status_of(exc), detail=str(exc)))
        else:
            results.append(BulkItemOut(code=done.code, status=200, stage=done.stage,
                                       decision=done.decision))  # fmt: skip
    return results


@router.post("/invites", response_model=CreatedInviteOut, status_code=201, tags=["invites"])
async def create_invite(
    body: InviteIn, backend: BackendDep, current: Official, services: Unit
) -> CreatedInviteOut:
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


@router.get("/invites", response_model=list[InviteOut], tags=["invites"])
async def list_invites(current: Official, services: Unit) -> list[InviteOut]:
    return [InviteOut(**i.__dict__) for i in await services.officials.list_invites(current)]


@router.delete(
    "/invites/{invite_id}",
    response_model=InviteOut,
    tags=["invites"],
    responses=error_responses(404, 409),
)
async def revoke_invite(invite_id: RowId, current: Official, services: Unit) -> InviteOut:
    revoked = await services.officials.revoke_invite(invite_id, current)
    return InviteOut(**revoked.__dict__)


@router.get("/outbox", response_model=OutboxOut, tags=["operations"])
async def outbox_status(current: Official, services: Unit) -> OutboxOut:
    status = await services.delivery.status(current)
    return OutboxOut(
        counts=status.counts,
        oldest_due=status.oldest_due,
        dead=[DeadLetterOut(id=i, template=t, last_error=e) for i, t, e in status.dead],
    )


@router.post("/outbox/retry", response_model=RetriedOut, tags=["operations"])
async def outbox_retry(body: RetryIn, current: Official, services: Unit) -> RetriedOut:
    count = await services.delivery.retry_dead(current, body.ids or None)
    return RetriedOut(requeued=count)


def _item(row: QueueRow, wilayah: WilayahIndex) -> dict[str, Any]:
    desa = wilayah.get(row.desa_code)
    return {
        **{k: getattr(row, k) for k in QueueItemOut.model_fields if hasattr(row, k)},
        "desa": desa.label if desa else None,
        "kecamatan": desa.kecamatan_name if desa else None,
    }


def _request(body: DecisionIn) -> DecisionRequest:
    return DecisionRequest(
        stage=body.stage,
        decision=body.decision,
        reason_code=body.reason_code,
        note=body.note,
        changes=body.changes.model_dump(exclude_none=True) if body.changes else None,
        merge_into=body.merge_into,
    )
