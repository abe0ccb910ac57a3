"""Bappeda's administration: invite codes for officials and the notification outbox."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from backend.api.dashboard.pages import render
from backend.api.deps import BackendDep, CheckedForm, PageRefusal, PageUnit, RowId, Session
from backend.errors import DomainError
from backend.services.officials import Actor, Role
from backend.services.wiring import Services

router = APIRouter(include_in_schema=False)
BACK = "/dashboard/admin"


@router.get("/dashboard/admin", response_class=HTMLResponse)
async def admin(request: Request, session: Session, services: PageUnit) -> Response:
    return await _admin_page(request, session.actor, session.csrf, services)


@router.post("/dashboard/admin/invites")
async def create_invite(
    request: Request,
    backend: BackendDep,
    session: Session,
    form: CheckedForm,
    services: PageUnit,
) -> Response:
    try:
        role = Role(str(form.get("role")))
        days = int(str(form.get("days") or "7"))
        created = await services.officials.create_invite(
            role,
            wilayah_code=str(form.get("wilayah") or "").strip() or None,
            opd_code=str(form.get("opd") or "").strip() or None,
            created_by=session.actor,
            ttl=timedelta(days=max(1, min(days, 90))),
        )
    except (DomainError, ValueError) as exc:
        raise PageRefusal(exc, back=BACK) from exc
    username = backend.bot_username
    link = f"https://t.me/{username}?start={created.code}" if username else None
    return await _admin_page(
        request, session.actor, session.csrf, services, created=created, link=link
    )


@router.post("/dashboard/admin/invites/{invite_id}/revoke")
async def revoke_invite(
    invite_id: RowId, session: Session, _: CheckedForm, services: PageUnit
) -> Response:
    try:
        await services.officials.revoke_invite(invite_id, session.actor)
    except DomainError as exc:
        raise PageRefusal(exc, back=BACK) from exc
    return RedirectResponse(BACK, status_code=303)


@router.post("/dashboard/admin/outbox/retry")
async def retry_outbox(session: Session, _: CheckedForm, services: PageUnit) -> Response:
    await services.delivery.retry_dead(session.actor)
    return RedirectResponse(BACK, status_code=303)


async def _admin_page(
    request: Request, actor: Actor, csrf: str, services: Services, **extra: Any
) -> Response:
    invites = await services.officials.list_invites(actor)
    outbox = await services.delivery.status(actor)
    opds = await services.officials.list_opds()
    return render(
        request, "admin.html", actor=actor, csrf=csrf, invites=invites, outbox=outbox,
        roles=list(Role), opds=opds, **extra,
    )  # fmt: skip
