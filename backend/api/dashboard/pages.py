"""Rendering of the server-side pages: templates, the reader's language and time zone, the
names that stand for codes, and the one page that shows a refusal."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import Request, Response
from fastapi.responses import RedirectResponse
from fastapi.templating import Jinja2Templates

import locales
from backend.api.deps import CsrfRefused, PageRefusal, backend_of, language_of
from backend.api.errors import status_of
from backend.api.proxies import is_https
from backend.domain import Stage
from backend.errors import DomainError, TooManyAttempts, Unauthenticated
from backend.services.officials import Actor
from backend.services.wiring import Backend

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent.parent / "templates"))


def render(request: Request, name: str, status: int = 200, **context: Any) -> Response:
    """A template in the reader's language; a `?lang=` choice is remembered in a cookie."""
    backend = backend_of(request)
    lang = language_of(request)
    zone = ZoneInfo(backend.settings.timezone)

    def t(key: str, **params: Any) -> str:
        return locales.t(lang, key, params)

    def when(moment: datetime | None) -> str:
        # Stored in UTC; people read the region's time (WIB for Medan).
        if moment is None:
            return "-"
        aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        return aware.astimezone(zone).strftime("%d-%m-%Y %H:%M")

    response = TEMPLATES.TemplateResponse(
        request,
        name,
        {
            "t": t,
            "lang": lang,
            "when": when,
            "number": number,
            "desa_label": lambda code: desa_label(backend, code),
            "stages": list(Stage),
            **context,
        },
        status_code=status,
    )
    if request.query_params.get("lang") in locales.LANGUAGES:
        response.set_cookie("lang", lang, max_age=365 * 86400, samesite="lax")
    return response


async def refusal_page(request: Request, exc: Exception) -> Response:
    """A refusal as a page, after the unit of work rolled back: no session leads to the
    login; anything else is a headline in the reader's language (by status), the detail
    below it, and the way back."""
    assert isinstance(exc, PageRefusal)
    error = exc.error
    if isinstance(error, Unauthenticated):
        return to_login(request)
    status = status_of(error) if isinstance(error, DomainError) else 422
    lang = language_of(request)
    if exc.key:
        message = locales.t(lang, exc.key, {"minutes": minutes(error)})
    elif isinstance(error, CsrfRefused):
        message = locales.t(lang, "web.csrf_refused")
    else:
        message = str(error)
    response = render(
        request, "error.html", status=status, message=message, back=exc.back,
        headline=f"web.error_{status}",
    )  # fmt: skip
    if isinstance(error, TooManyAttempts):
        response.headers["Retry-After"] = str(error.retry_after)
    return response


def to_login(request: Request) -> Response:
    target = "/dashboard/login?" + urlencode({"next": request.url.path})
    return RedirectResponse(target, status_code=303)


def desa_label(backend: Backend, code: str) -> str:
    desa = backend.wilayah.get(code)
    return f"{desa.label}, Kec. {desa.kecamatan_name}" if desa else code


def scope_label(backend: Backend, actor: Actor) -> str:
    code = actor.wilayah_code or ""
    if actor.opd_code:
        return actor.opd_code
    if backend.wilayah.get(code):
        return desa_label(backend, code)
    if len(code.split(".")) == 3:
        return f"Kec. {backend.wilayah.kecamatan_name(code) or code}"
    return backend.wilayah.kabkota_name(code) or code


def secure_cookies(request: Request) -> bool:
    """Secure when the request came over HTTPS (as told by a trusted proxy) or the service
    is published over it: the browser then never sends the cookie in clear."""
    settings = backend_of(request).settings
    return is_https(request, settings.trusted_proxies) or (settings.public_url or "").startswith(
        "https://"
    )


def number(value: Any) -> str:
    """120 and 2.5, as people write them; not 120.00 or 1.2E+2."""
    text = format(value, "f") if value is not None else ""
    return text.rstrip("0").rstrip(".") if "." in text else text


def minutes(exc: Exception) -> int:
    """Whole minutes to wait, for people; the header carries the seconds."""
    seconds = exc.retry_after if isinstance(exc, TooManyAttempts) else 60
    return max(1, -(-seconds // 60))


def local(target: str) -> str:
    """Only redirect within this site after login (no open redirect)."""
    return target if target.startswith("/") and not target.startswith("//") else "/dashboard"
