"""Liveness and readiness, for operators and load balancers."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from backend.api.deps import BackendDep

router = APIRouter(tags=["operations"])


@router.get("/health")
async def health(backend: BackendDep) -> dict[str, object]:
    """Liveness: the process answers. Says whether the database does, without failing."""
    return {
        "status": "ok",
        "database": "ok" if await backend.ready() else "unavailable",
        "wilayah": len(backend.wilayah),
        "region": backend.settings.region,
    }


@router.get("/health/ready", responses={503: {"description": "the database does not answer"}})
async def ready(backend: BackendDep) -> JSONResponse:
    """Readiness for a load balancer: 503 while the database does not answer."""
    if await backend.ready():
        return JSONResponse({"status": "ready", "database": "ok"})
    return JSONResponse(
        {"status": "unavailable", "database": "unavailable"},
        status_code=503,
        headers={"Retry-After": "5"},
    )
