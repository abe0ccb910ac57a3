"""The officials' desk: the home page with what waits, the queues, one usulan and its
decision, decisions in bulk, the rembuk records, and the queue exports."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

import locales
from backend.api import charts
from backend.api.dashboard.pages import render, scope_label
from backend.api.deps import (
    MAX_PAGE_NUMBER,
    BackendDep,
    CheckedForm,
    Lang,
    PageRefusal,
    PageUnit,
    Session,
)
from backend.api.export import queue_export
from backend.domain import Decision, Stage
from backend.errors import DomainError, InvalidInput
from backend.services.queues import QueueFilter
from backend.services.workflow import REASON_CODES, STAGE_ROLES, DecisionRequest

router = APIRouter(include_in_schema=False)
PER_PAGE = 25


@router.get("/dashboard", response_class=HTMLResponse)
async def home(
    request: Request, backend: BackendDep, session: Session, services: PageUnit, lang: Lang
) -> Response:
    actor = session.actor
    stats = await services.queues.stats(actor)
    urusan = {c.urusan_code: c.urusan_name for c in backend.categories if c.urusan_code}
    mine = {s.value for s, roles in STAGE_ROLES.items() if actor.role in roles}
    by_stage = [(locales.t(lang, f"stage.{s.value}"), stats.by_stage.get(s.value, 0))
                for s in Stage]  # fmt: skip
    by_urusan = _largest(stats.by_urusan, lambda k: urusan.get(k) or k, 12)
    by_kecamatan = _largest(
        stats.by_kecamatan, lambda k: backend.wilayah.kecamatan_name(k) or k, 25
    )
    return render(
        request,
        "dashboard.html",
        actor=actor,
        csrf=session.csrf,
        scope=scope_label(backend, actor),
        waiting={s: n for s, n in stats.waiting_by_stage.items() if s in mine},
        charts=[
            (title, charts.bars(rows, title))
            for title, rows in (
                (locales.t(lang, "web.chart_stage"), by_stage),
                (locales.t(lang, "web.chart_urusan"), by_urusan),
                (locales.t(lang, "web.chart_kecamatan"), by_kecamatan),
            )
        ],
    )


@router.get("/dashboard/queue/{stage}", response_class=HTMLResponse)
async def queue(
    request: Request, stage: Stage, backend: BackendDep, session: Session, services: PageUnit
) -> Response:
    actor = session.actor
    params = request.query_params
    page = _page_number(params.get("page", ""))
    wanted = _queue_filter(stage, params)
    result = await services.queues.page(actor, wanted, page, PER_PAGE)
    desa_choices = [
        d for d in backend.wilayah.all() if actor.opd_code or actor.covers_desa(d.code)
    ][:400]
    query = {k: v for k, v in params.items() if k != "page"}
    return render(
        request,
        "queue.html",
        actor=actor,
        csrf=session.csrf,
        stage=stage,
        result=result,
        filters=wanted,
        desa_choices=desa_choices,
        categories=backend.categories,
        decisions=list(Decision),
        reasons=REASON_CODES,
        query=urlencode(query),
        pages=(result.total + PER_PAGE - 1) // PER_PAGE,
    )


@router.get("/dashboard/queue/{stage}/export.{fmt}")
async def export(
    request: Request, stage: Stage, fmt: str, session: Session, services: PageUnit
) -> Response:
    wanted = _queue_filter(stage, request.query_params)
    kind: Literal["csv", "xlsx"] = "csv" if fmt == "csv" else "xlsx"
    return await queue_export(services, session.actor, wanted, kind, f"usulan-{stage.value}")


@router.get("/dashboard/usulan/{code}", response_class=HTMLResponse)
async def detail(request: Request, code: str, session: Session, services: PageUnit) -> Response:
    found = await services.workflow.detail(session.actor, code)
    return render(
        request,
        "usulan.html",
        actor=session.actor,
        csrf=session.csrf,
        u=found,
        decisions=[d for d in Decision if d is not Decision.MENUNGGU],
        reasons=REASON_CODES,
        notice=request.query_params.get("done"),
    )


@router.post("/dashboard/usulan/{code}/decision")
async def decide(code: str, session: Session, form: CheckedForm, services: PageUnit) -> Response:
    try:
        done = await services.workflow.decide(session.actor, code, _decision_request(form))
    except (DomainError, ValueError) as exc:
        raise PageRefusal(exc, back=f"/dashboard/usulan/{code}") from exc
    return RedirectResponse(f"/dashboard/usulan/{done.code}?done=1", status_code=303)


@router.post("/dashboard/bulk")
async def bulk(
    request: Request, session: Session, form: CheckedForm, services: PageUnit
) -> Response:
    """Each usulan is decided on its own: one refusal does not undo the others."""
    try:
        wanted = _decision_request(form)
    except ValueError as exc:
        raise PageRefusal(exc) from exc
    results: list[tuple[str, str]] = []
    for code in form.get("codes") or []:
        try:
            async with services.session.begin_nested():
                done = await services.workflow.decide(session.actor, str(code), wanted)
            results.append((done.code, "ok"))
        except DomainError as exc:
            results.append((str(code), str(exc)))
    return render(
        request,
        "bulk_done.html",
        actor=session.actor,
        results=results,
        back=f"/dashboard/queue/{wanted.stage.value}",
    )


@router.get("/dashboard/rembuk", response_class=HTMLResponse)
async def rembuk(request: Request, session: Session, services: PageUnit) -> Response:
    records = await services.rembuk.records(session.actor)
    photos = {r.id: await services.rembuk.minutes(r.id) for r in records}
    return render(
        request,
        "rembuk.html",
        actor=session.actor,
        csrf=session.csrf,
        records=records,
        photos=photos,
    )


def _largest(counts: dict[str, int], name: Callable[[str], str], top: int) -> list[tuple[str, int]]:
    rows = sorted(((name(k) or k, v) for k, v in counts.items()), key=lambda x: -x[1])
    return rows[:top]


def _queue_filter(stage: Stage, params: Mapping[str, str]) -> QueueFilter:
    decision = params.get("decision", Decision.MENUNGGU.value)
    return QueueFilter(
        stage=stage,
        decision=Decision(decision) if decision in {d.value for d in Decision} else None,
        desa=params.get("desa") or None,
        category=params.get("category") or None,
        text=(params.get("q") or "").strip()[:100] or None,
    )


def _page_number(text: str) -> int:
    """The page asked for in the URL (the first when none is)."""
    if not text:
        return 1
    readable = text.isascii() and text.isdigit() and len(text) <= len(str(MAX_PAGE_NUMBER))
    if not readable or not 0 < int(text) <= MAX_PAGE_NUMBER:
        raise InvalidInput("page", f"a whole number from 1 to {MAX_PAGE_NUMBER}")
    return int(text)


def _decision_request(form: dict[str, Any]) -> DecisionRequest:
    try:
        stage = Stage(str(form.get("stage")))
        decision = Decision(str(form.get("decision")))
    except ValueError:
        raise ValueError("choose a stage and a decision") from None
    changes = {
        k: str(form[f"change_{k}"]).strip()
        for k in ("volume", "unit", "opd")
        if str(form.get(f"change_{k}") or "").strip()
    }
    return DecisionRequest(
        stage=stage,
        decision=decision,
        reason_code=str(form.get("reason_code") or "") or None,
        note=str(form.get("note") or "") or None,
        changes=changes or None,
        merge_into=str(form.get("merge_into") or "") or None,
    )
