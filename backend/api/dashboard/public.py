"""Public pages, no login: the start page, an usulan by its tracking code, a village's usulan."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from backend.api.dashboard.pages import render
from backend.api.deps import BackendDep, Client, PageRefusal, Unit
from backend.errors import TooManyAttempts

router = APIRouter(include_in_schema=False)
START_MATCHES = 10  # villages listed for a search on the start page


@router.get("/", response_class=HTMLResponse)
async def start(request: Request, backend: BackendDep, q: str = "") -> Response:
    """Where the site begins: the desk, the villages' public pages (by name) and the API."""
    query = q.strip()[:100]
    matches = backend.wilayah.search(query, limit=START_MATCHES) if query else []
    return render(request, "start.html", q=query, matches=[m.desa for m in matches])


@router.get("/u/{code}", response_class=HTMLResponse)
async def public_usulan(code: str, request: Request, services: Unit, client: Client) -> Response:
    try:
        found = await services.throttle.code_lookup(client, lambda: services.public.usulan(code))
    except TooManyAttempts as exc:
        raise PageRefusal(exc, key="web.lookup_throttled") from exc
    if found is None:
        return render(request, "not_found.html", status=404, code=code[:20])
    desa = services.wilayah.get(found.desa_code)
    return render(request, "public_usulan.html", u=found, desa=desa)


@router.get("/desa/{code}", response_class=HTMLResponse)
async def public_desa(code: str, request: Request, backend: BackendDep, services: Unit) -> Response:
    desa = backend.wilayah.get(code)
    if desa is None:
        return render(request, "not_found.html", status=404, code=code[:20])
    items = await services.public.of_desa(code)
    outcomes: dict[str, int] = {}
    for item in items:
        outcomes[item.decision] = outcomes.get(item.decision, 0) + 1
    return render(request, "public_desa.html", desa=desa, items=items, outcomes=outcomes)
