"""What a route needs, as FastAPI dependencies: the backend, one unit of work, the caller
(by bearer token or dashboard session), the checked form of a page, the reader's language.

Routes are module-level functions; everything they need arrives through these aliases, so
each route only gathers inputs and calls a service.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any, cast

from fastapi import Depends, Path, Request
from fastapi.security import OAuth2PasswordBearer

import locales
from backend.api.proxies import client_address
from backend.domain import INT32_MAX
from backend.errors import DomainError, Forbidden, Unauthenticated
from backend.services.officials import Actor
from backend.services.wiring import Backend, Services

SESSION_COOKIE = "mb_session"
LOGIN_CSRF_COOKIE = "mb_login_csrf"
# Ids of Integer columns: anything larger names no row, and would overflow the database.
RowId = Annotated[int, Path(ge=1, le=INT32_MAX)]
MAX_PAGE_NUMBER = 1_000_000  # far past any queue; keeps the offset within the database's range


def backend_of(request: Request) -> Backend:
    """The process's one Backend, set on the app when it is created."""
    return cast(Backend, request.app.state.backend)


BackendDep = Annotated[Backend, Depends(backend_of)]


async def unit_of_work(backend: BackendDep) -> AsyncIterator[Services]:
    """One unit of work per request: committed when the route has returned (before the
    response is sent), rolled back when it raised."""
    async with backend.unit() as services:
        yield services


# scope="function": the unit ends with the route, not after the response has gone out.
Unit = Annotated[Services, Depends(unit_of_work, scope="function")]


def client_of(request: Request, backend: BackendDep) -> str:
    """The caller's address, as the trusted proxies tell it."""
    return client_address(request, backend.settings.trusted_proxies)


Client = Annotated[str, Depends(client_of)]


def language_of(request: Request) -> str:
    wanted = request.query_params.get("lang") or request.cookies.get("lang")
    if wanted in locales.LANGUAGES:
        return wanted
    accept = request.headers.get("accept-language", "").lower()
    return "en" if accept.startswith("en") else locales.DEFAULT


Lang = Annotated[str, Depends(language_of)]

# --- the officials' API: bearer tokens ----------------------------------------------------

oauth2 = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


async def bearer(token: Annotated[str | None, Depends(oauth2)]) -> str:
    if not token:
        raise Unauthenticated("a bearer token is required")
    return token


Token = Annotated[str, Depends(bearer)]


async def bearer_official(token: Token, services: Unit) -> Actor:
    """The caller, checked in the same unit of work as the route's work: a request costs
    one connection checkout and one commit."""
    return await services.officials.authenticate(token)


Official = Annotated[Actor, Depends(bearer_official)]

# --- the dashboard: session cookie, CSRF, refusals shown as pages --------------------------


class PageRefusal(Exception):
    """A refusal a page shows to its reader (the dashboard's one error page, or the login
    page for a missing session). Raised through the unit of work, so it rolls back first."""

    def __init__(self, error: Exception, back: str | None = None, key: str | None = None):
        super().__init__(str(error))
        self.error = error
        self.back = back  # where the reader goes from here
        self.key = key  # a catalog key saying it better than the error's own text


class CsrfRefused(Forbidden):
    """A form without the page's CSRF token: shown as 403 with its own explanation."""


def csrf_for(session_token: str) -> str:
    # Only someone holding the (HttpOnly) session cookie can compute it.
    return hashlib.sha256(f"csrf:{session_token}".encode()).hexdigest()


async def page_unit(backend: BackendDep) -> AsyncIterator[Services]:
    """The unit of work of a page: a domain error, once rolled back, becomes a page."""
    try:
        async with backend.unit() as services:
            yield services
    except DomainError as error:
        raise PageRefusal(error) from error


PageUnit = Annotated[Services, Depends(page_unit, scope="function")]


def session_cookie(request: Request) -> str:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise PageRefusal(Unauthenticated("no session"))
    return token


@dataclass(frozen=True)
class SignedIn:
    """The official behind the session cookie, and the CSRF token of their forms."""

    actor: Actor
    token: str
    csrf: str


async def signed_in(token: Annotated[str, Depends(session_cookie)], services: PageUnit) -> SignedIn:
    actor = await services.officials.authenticate(token)
    return SignedIn(actor=actor, token=token, csrf=csrf_for(token))


Session = Annotated[SignedIn, Depends(signed_in)]


async def checked_form(request: Request, session: Session) -> dict[str, Any]:
    """The posted form of a signed-in official, refused when its CSRF token is off."""
    form = await request.form()
    if not hmac.compare_digest(str(form.get("csrf", "")), session.csrf):
        raise PageRefusal(CsrfRefused())
    return {k: form.getlist(k) if k == "codes" else v for k, v in form.items()}


CheckedForm = Annotated[dict[str, Any], Depends(checked_form)]
