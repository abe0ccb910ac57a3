"""Server-rendered pages: public tracking pages (no login) and the officials' dashboard.

The dashboard works over the same services and scope checks as the API. Sessions are bearer
tokens kept in an HttpOnly, SameSite cookie; every form carries a CSRF token derived from the
session, so a page of another site cannot post on an official's behalf.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

import locales
from backend.api import charts
from backend.api.errors import status_of
from backend.api.export import SIPD_COLUMNS, export_rows, xlsx_bytes
from backend.api.officials import MAX_PAGE_NUMBER, RowId
from backend.api.proxies import client_address, is_https
from backend.domain import Decision, Stage
from backend.errors import (
    DomainError,
    Forbidden,
    InvalidInput,
    TooManyAttempts,
    Unauthenticated,
)
from backend.services.context import Backend
from backend.services.officials import Actor, Role
from backend.services.queues import QueueFilter, csv_text
from backend.services.workflow import REASON_CODES, STAGE_ROLES, DecisionRequest

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
SESSION_COOKIE = "mb_session"
LOGIN_CSRF_COOKIE = "mb_login_csrf"
PER_PAGE = 25


def language_of(request: Request) -> str:
    wanted = request.query_params.get("lang") or request.cookies.get("lang")
    if wanted in locales.LANGUAGES:
        return wanted
    accept = request.headers.get("accept-language", "").lower()
    return "en" if accept.startswith("en") else locales.DEFAULT


def csrf_for(session_token: str) -> str:
    # Only someone holding the (HttpOnly) session cookie can compute it.
    return hashlib.sha256(f"csrf:{session_token}".encode()).hexdigest()


def _when_in(zone: ZoneInfo) -> Callable[[datetime | None], str]:
    """Timestamps are stored in UTC; people read them in the region's time (WIB for Medan)."""

    def when(moment: datetime | None) -> str:
        if moment is None:
            return "-"
        aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        return aware.astimezone(zone).strftime("%d-%m-%Y %H:%M")

    return when


class CsrfRefused(Forbidden):
    """A form without the page's CSRF token: shown as 403 with its own explanation."""


class Pages:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.when = _when_in(ZoneInfo(backend.settings.timezone))

    def render(self, request: Request, name: str, status: int = 200, **context: Any) -> Response:
        lang = language_of(request)

        def t(key: str, **params: Any) -> str:
            return locales.t(lang, key, params)

        response = TEMPLATES.TemplateResponse(
            request,
            name,
            {
                "t": t,
                "lang": lang,
                "when": self.when,
                "number": _number,
                "desa_label": self.desa_label,
                "stages": list(Stage),
                **context,
            },
            status_code=status,
        )
        if request.query_params.get("lang") in locales.LANGUAGES:
            response.set_cookie("lang", lang, max_age=365 * 86400, samesite="lax")
        return response

    def refuse(self, request: Request, exc: Exception, back: str | None = None) -> Response:
        """A domain error or bad form input as a page: a headline in the reader's language
        (by status), the detail below it, and the way back."""
        status = status_of(exc) if isinstance(exc, DomainError) else 422
        lang = language_of(request)
        message = locales.t(lang, "web.csrf_refused") if isinstance(exc, CsrfRefused) else str(exc)
        return self.render(
            request, "error.html", status=status, message=message, back=back,
            headline=f"web.error_{status}",
        )  # fmt: skip

    def desa_label(self, code: str) -> str:
        desa = self.backend.wilayah.get(code)
        return f"{desa.label}, Kec. {desa.kecamatan_name}" if desa else code

    def secure_cookies(self, request: Request) -> bool:
        """Secure when the request came over HTTPS (as told by a trusted proxy) or the service
        is published over it: the browser then never sends the cookie in clear."""
        settings = self.backend.settings
        return is_https(request, settings.trusted_proxies) or (
            settings.public_url or ""
        ).startswith("https://")


def router(backend: Backend) -> APIRouter:
    pages = Pages(backend)
    web = APIRouter(include_in_schema=False)

    # --- public pages -------------------------------------------------------------------

    @web.get("/u/{code}", response_class=HTMLResponse)
    async def public_usulan(code: str, request: Request) -> Response:
        client = client_address(request, backend.settings.trusted_proxies)
        try:
            async with backend.unit() as services:
                found = await services.throttle.code_lookup(
                    client, lambda: services.public.usulan(code)
                )
        except TooManyAttempts as exc:
            lang = language_of(request)
            response = pages.render(
                request, "error.html", status=429, headline="web.error_429", back=None,
                message=locales.t(lang, "web.lookup_throttled", {"minutes": _minutes(exc)}),
            )  # fmt: skip
            response.headers["Retry-After"] = str(exc.retry_after)
            return response
        if found is None:
            return pages.render(request, "not_found.html", status=404, code=code[:20])
        desa = backend.wilayah.get(found.desa_code)
        return pages.render(request, "public_usulan.html", u=found, desa=desa)

    @web.get("/desa/{code}", response_class=HTMLResponse)
    async def public_desa(code: str, request: Request) -> Response:
        desa = backend.wilayah.get(code)
        if desa is None:
            return pages.render(request, "not_found.html", status=404, code=code[:20])
        async with backend.unit() as services:
            items = await services.public.of_desa(code)
        outcomes: dict[str, int] = {}
        for item in items:
            outcomes[item.decision] = outcomes.get(item.decision, 0) + 1
        return pages.render(request, "public_desa.html", desa=desa, items=items, outcomes=outcomes)

    # --- sessions -----------------------------------------------------------------------

    async def actor_of(request: Request) -> tuple[Actor, str]:
        token = request.cookies.get(SESSION_COOKIE)
        if not token:
            raise Unauthenticated("no session")
        async with backend.unit() as services:
            return await services.officials.authenticate(token), token

    def scope_label(actor: Actor) -> str:
        code = actor.wilayah_code or ""
        if actor.opd_code:
            return actor.opd_code
        if backend.wilayah.get(code):
            return pages.desa_label(code)
        if len(code.split(".")) == 3:
            return f"Kec. {backend.wilayah.kecamatan_name(code) or code}"
        return backend.wilayah.kabkota_name(code) or code

    def to_login(request: Request) -> Response:
        target = "/dashboard/login?" + urlencode({"next": request.url.path})
        return RedirectResponse(target, status_code=303)

    async def checked_form(request: Request) -> tuple[Actor, dict[str, Any]] | Response:
        """The session's actor and the posted form, or a refusal when the CSRF token is off."""
        try:
            actor, token = await actor_of(request)
        except Unauthenticated:
            return to_login(request)
        form = await request.form()
        if not hmac.compare_digest(str(form.get("csrf", "")), csrf_for(token)):
            return pages.refuse(request, CsrfRefused())
        return actor, {k: form.getlist(k) if k == "codes" else v for k, v in form.items()}

    @web.get("/dashboard/login", response_class=HTMLResponse)
    async def login_form(request: Request, next: str = "/dashboard") -> Response:
        nonce = secrets.token_urlsafe(16)
        response = pages.render(request, "login.html", csrf=nonce, next=_local(next), error=None)
        response.set_cookie(
            LOGIN_CSRF_COOKIE,
            nonce,
            httponly=True,
            samesite="strict",
            secure=pages.secure_cookies(request),
            max_age=1800,
        )
        return response

    @web.post("/dashboard/login", response_class=HTMLResponse)
    async def login(request: Request) -> Response:
        form = await request.form()
        nonce = request.cookies.get(LOGIN_CSRF_COOKIE, "")
        if not nonce or not hmac.compare_digest(str(form.get("csrf", "")), nonce):
            return pages.refuse(request, CsrfRefused())
        username = str(form.get("username", ""))
        client = client_address(request, backend.settings.trusted_proxies)
        try:
            token = await backend.logins.login(username, str(form.get("password", "")), client)
        except (Unauthenticated, TooManyAttempts) as exc:
            throttled = isinstance(exc, TooManyAttempts)
            lang = language_of(request)
            response = pages.render(
                request,
                "login.html",
                status=429 if throttled else 401,
                csrf=nonce,
                next=_local(str(form.get("next", ""))),
                username=username[:64],
                error=locales.t(lang, "web.login_throttled", {"minutes": _minutes(exc)})
                if throttled
                else locales.t(lang, "web.login_failed"),
            )
            if isinstance(exc, TooManyAttempts):
                response.headers["Retry-After"] = str(exc.retry_after)
            return response
        response = RedirectResponse(_local(str(form.get("next", ""))), status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            token,
            httponly=True,
            samesite="lax",
            secure=pages.secure_cookies(request),
            max_age=12 * 3600,
        )
        response.delete_cookie(LOGIN_CSRF_COOKIE)
        return response

    @web.post("/dashboard/logout")
    async def logout(request: Request) -> Response:
        checked = await checked_form(request)
        if isinstance(checked, Response):
            return checked
        async with backend.unit() as services:
            await services.officials.revoke_token(request.cookies.get(SESSION_COOKIE, ""))
        response = RedirectResponse("/dashboard/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE)
        return response

    # --- desk pages ---------------------------------------------------------------------

    def guarded(view: Callable[..., Any]) -> Callable[..., Any]:
        async def wrapper(request: Request, **kwargs: Any) -> Response:
            try:
                actor, token = await actor_of(request)
            except Unauthenticated:
                return to_login(request)
            try:
                return await view(request, actor, csrf_for(token), **kwargs)
            except DomainError as exc:
                return pages.refuse(request, exc)

        wrapper.__name__ = view.__name__
        return wrapper

    @web.get("/dashboard", response_class=HTMLResponse)
    async def home(request: Request) -> Response:
        async def view(request: Request, actor: Actor, csrf: str) -> Response:
            lang = language_of(request)
            async with backend.unit() as services:
                stats = await services.queues.stats(actor)
            urusan = {c.urusan_code: c.urusan_name for c in backend.categories if c.urusan_code}
            mine = {s.value for s, roles in STAGE_ROLES.items() if actor.role in roles}

            def largest(
                counts: dict[str, int], name: Callable[[str], str], top: int
            ) -> list[tuple[str, int]]:
                rows = sorted(((name(k) or k, v) for k, v in counts.items()), key=lambda x: -x[1])
                return rows[:top]

            by_stage = [(locales.t(lang, f"stage.{s.value}"), stats.by_stage.get(s.value, 0))
                        for s in Stage]  # fmt: skip
            by_urusan = largest(stats.by_urusan, lambda k: urusan.get(k) or k, 12)
            by_kecamatan = largest(
                stats.by_kecamatan, lambda k: backend.wilayah.kecamatan_name(k) or k, 25
            )
            return pages.render(
                request,
                "dashboard.html",
                actor=actor,
                csrf=csrf,
                scope=scope_label(actor),
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

        return await guarded(view)(request)

    def queue_filter(stage: Stage, params: Any) -> QueueFilter:
        decision = params.get("decision", Decision.MENUNGGU.value)
        return QueueFilter(
            stage=stage,
            decision=Decision(decision) if decision in {d.value for d in Decision} else None,
            desa=params.get("desa") or None,
            category=params.get("category") or None,
            text=(params.get("q") or "").strip()[:100] or None,
        )

    @web.get("/dashboard/queue/{stage}", response_class=HTMLResponse)
    async def queue(request: Request, stage: Stage) -> Response:
        async def view(request: Request, actor: Actor, csrf: str) -> Response:
            params = request.query_params
            page = _page_number(params.get("page", ""))
            wanted = queue_filter(stage, params)
            async with backend.unit() as services:
                result = await services.queues.page(actor, wanted, page, PER_PAGE)
            desa_choices = [
                d for d in backend.wilayah.all() if actor.opd_code or actor.covers_desa(d.code)
            ][:400]
            query = {k: v for k, v in params.items() if k != "page"}
            return pages.render(
                request,
                "queue.html",
                actor=actor,
                csrf=csrf,
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

        return await guarded(view)(request)

    @web.get("/dashboard/queue/{stage}/export.{fmt}")
    async def export(request: Request, stage: Stage, fmt: str) -> Response:
        async def view(request: Request, actor: Actor, csrf: str) -> Response:
            wanted = queue_filter(stage, request.query_params)
            async with backend.unit() as services:
                rows = await services.queues.all_rows(actor, wanted)
                recommendations = await services.queues.recommendations([r.code for r in rows])
            table = export_rows(rows, recommendations, backend.wilayah)
            name = f"usulan-{stage.value}.{'csv' if fmt == 'csv' else 'xlsx'}"
            headers = {"Content-Disposition": f'attachment; filename="{name}"'}
            if fmt == "csv":
                return Response(
                    csv_text(SIPD_COLUMNS, table), media_type="text/csv", headers=headers
                )

            data = await xlsx_bytes(SIPD_COLUMNS, table, stage.value)
            return Response(
                data,
                headers=headers,
                media_type=("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
            )

        return await guarded(view)(request)

    @web.get("/dashboard/usulan/{code}", response_class=HTMLResponse)
    async def detail(request: Request, code: str) -> Response:
        async def view(request: Request, actor: Actor, csrf: str) -> Response:
            async with backend.unit() as services:
                found = await services.workflow.detail(actor, code)
            return pages.render(
                request,
                "usulan.html",
                actor=actor,
                csrf=csrf,
                u=found,
                decisions=[d for d in Decision if d is not Decision.MENUNGGU],
                reasons=REASON_CODES,
                notice=request.query_params.get("done"),
            )

        return await guarded(view)(request)

    @web.post("/dashboard/usulan/{code}/decision")
    async def decide(request: Request, code: str) -> Response:
        checked = await checked_form(request)
        if isinstance(checked, Response):
            return checked
        actor, form = checked
        try:
            request_ = _decision_request(form)
            async with backend.unit() as services:
                done = await services.workflow.decide(actor, code, request_)
        except (DomainError, ValueError) as exc:
            return pages.refuse(request, exc, back=f"/dashboard/usulan/{code}")
        return RedirectResponse(f"/dashboard/usulan/{done.code}?done=1", status_code=303)

    @web.post("/dashboard/bulk")
    async def bulk(request: Request) -> Response:
        checked = await checked_form(request)
        if isinstance(checked, Response):
            return checked
        actor, form = checked
        results: list[tuple[str, str]] = []
        try:
            request_ = _decision_request(form)
        except ValueError as exc:
            return pages.refuse(request, exc)
        for code in form.get("codes") or []:
            try:
                async with backend.unit() as services:
                    done = await services.workflow.decide(actor, str(code), request_)
                results.append((done.code, "ok"))
            except DomainError as exc:
                results.append((str(code), str(exc)))
        return pages.render(
            request,
            "bulk_done.html",
            actor=actor,
            results=results,
            back=f"/dashboard/queue/{request_.stage.value}",
        )

    @web.get("/dashboard/rembuk", response_class=HTMLResponse)
    async def rembuk(request: Request) -> Response:
        async def view(request: Request, actor: Actor, csrf: str) -> Response:
            async with backend.unit() as services:
                records = await services.rembuk.records(actor)
                photos = {r.id: await services.rembuk.minutes(r.id) for r in records}
            return pages.render(
                request, "rembuk.html", actor=actor, csrf=csrf, records=records, photos=photos
            )

        return await guarded(view)(request)

    # --- Bappeda's desk: invite codes and the outbox -------------------------------------

    async def admin_page(request: Request, actor: Actor, csrf: str, **extra: Any) -> Response:
        if actor.role != Role.ADMIN:
            raise Forbidden("Bappeda admins only")
        async with backend.unit() as services:
            invites = await services.officials.list_invites()
            outbox = await services.delivery.status()
        return pages.render(
            request, "admin.html", actor=actor, csrf=csrf, invites=invites, outbox=outbox,
            roles=list(Role), opds=await _opds(), **extra,
        )  # fmt: skip

    async def _opds() -> list[tuple[str, str]]:
        async with backend.unit() as services:
            return await services.officials.list_opds()

    @web.get("/dashboard/admin", response_class=HTMLResponse)
    async def admin(request: Request) -> Response:
        return await guarded(admin_page)(request)

    @web.post("/dashboard/admin/invites")
    async def create_invite(request: Request) -> Response:
        checked = await checked_form(request)
        if isinstance(checked, Response):
            return checked
        actor, form = checked
        try:
            role = Role(str(form.get("role")))
            days = int(str(form.get("days") or "7"))
            async with backend.unit() as services:
                created = await services.officials.create_invite(
                    role,
                    wilayah_code=str(form.get("wilayah") or "").strip() or None,
                    opd_code=str(form.get("opd") or "").strip() or None,
                    created_by=actor,
                    ttl=timedelta(days=max(1, min(days, 90))),
                )
        except (DomainError, ValueError) as exc:
            return pages.refuse(request, exc, back="/dashboard/admin")
        link = (
            f"https://t.me/{backend.bot_username}?start={created.code}"
            if backend.bot_username
            else None
        )
        token = request.cookies.get(SESSION_COOKIE, "")
        return await admin_page(request, actor, csrf_for(token), created=created, link=link)

    @web.post("/dashboard/admin/invites/{invite_id}/revoke")
    async def revoke_invite(request: Request, invite_id: RowId) -> Response:
        checked = await checked_form(request)
        if isinstance(checked, Response):
            return checked
        actor, _ = checked
        try:
            async with backend.unit() as services:
                await services.officials.revoke_invite(invite_id, actor)
        except DomainError as exc:
            return pages.refuse(request, exc, back="/dashboard/admin")
        return RedirectResponse("/dashboard/admin", status_code=303)

    @web.post("/dashboard/admin/outbox/retry")
    async def retry_outbox(request: Request) -> Response:
        checked = await checked_form(request)
        if isinstance(checked, Response):
            return checked
        actor, _ = checked
        if actor.role != Role.ADMIN:
            return pages.refuse(request, Forbidden("Bappeda admins only"))
        async with backend.unit() as services:
            await services.delivery.retry_dead()
        return RedirectResponse("/dashboard/admin", status_code=303)

    return web


def _number(value: Any) -> str:
    """120 and 2.5, as people write them; not 120.00 or 1.2E+2."""
    text = format(value, "f") if value is not None else ""
    return text.rstrip("0").rstrip(".") if "." in text else text


def _minutes(exc: Exception) -> int:
    """Whole minutes to wait, for people; the header carries the seconds."""
    seconds = exc.retry_after if isinstance(exc, TooManyAttempts) else 60
    return max(1, -(-seconds // 60))


def _page_number(text: str) -> int:
    """The page asked for in the URL (the first when none is)."""
    if not text:
        return 1
    readable = text.isascii() and text.isdigit() and len(text) <= len(str(MAX_PAGE_NUMBER))
    if not readable or not 0 < int(text) <= MAX_PAGE_NUMBER:
        raise InvalidInput("page", f"a whole number from 1 to {MAX_PAGE_NUMBER}")
    return int(text)


def _local(target: str) -> str:
    """Only redirect within this site after login (no open redirect)."""
    return target if target.startswith("/") and not target.startswith("//") else "/dashboard"


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
