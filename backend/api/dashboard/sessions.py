"""Signing in and out of the dashboard. A session is a bearer token kept in an HttpOnly,
SameSite cookie; every form carries a CSRF token derived from it, so a page of another site
cannot post on an official's behalf. The login form has a nonce of its own."""

from __future__ import annotations

import hmac
import secrets

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

import locales
from backend.api.dashboard.pages import local, minutes, render, secure_cookies
from backend.api.deps import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    BackendDep,
    CheckedForm,
    Client,
    CsrfRefused,
    Lang,
    PageRefusal,
    PageUnit,
    Session,
)
from backend.errors import TooManyAttempts, Unauthenticated

router = APIRouter(include_in_schema=False)


@router.get("/dashboard/login", response_class=HTMLResponse)
async def login_form(request: Request, next: str = "/dashboard") -> Response:
    nonce = secrets.token_urlsafe(16)
    response = render(request, "login.html", csrf=nonce, next=local(next), error=None)
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        nonce,
        httponly=True,
        samesite="strict",
        secure=secure_cookies(request),
        max_age=1800,
    )
    return response


@router.post("/dashboard/login", response_class=HTMLResponse)
async def login(request: Request, backend: BackendDep, client: Client, lang: Lang) -> Response:
    form = await request.form()
    nonce = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not nonce or not hmac.compare_digest(str(form.get("csrf", "")), nonce):
        raise PageRefusal(CsrfRefused())
    username = str(form.get("username", ""))
    target = local(str(form.get("next", "")))
    try:
        token = await backend.logins.login(username, str(form.get("password", "")), client)
    except (Unauthenticated, TooManyAttempts) as exc:
        throttled = isinstance(exc, TooManyAttempts)
        response = render(
            request,
            "login.html",
            status=429 if throttled else 401,
            csrf=nonce,
            next=target,
            username=username[:64],
            error=locales.t(lang, "web.login_throttled", {"minutes": minutes(exc)})
            if throttled
            else locales.t(lang, "web.login_failed"),
        )
        if isinstance(exc, TooManyAttempts):
            response.headers["Retry-After"] = str(exc.retry_after)
        return response
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=secure_cookies(request),
        max_age=12 * 3600,
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE)
    return response


@router.post("/dashboard/logout")
async def logout(session: Session, _: CheckedForm, services: PageUnit) -> Response:
    await services.officials.revoke_token(session.token)
    response = RedirectResponse("/dashboard/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response
