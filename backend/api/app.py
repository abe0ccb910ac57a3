"""The HTTP API. Endpoints gather inputs and call services; errors are mapped once, here."""

from __future__ import annotations

import re
from datetime import datetime

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, Field

from backend.api import errors, limits, officials, open311, security, web
from backend.api.proxies import client_address
from backend.services.context import Backend

SHA256 = re.compile(r"[0-9a-f]{64}")


class HistoryOut(BaseModel):
    at: datetime
    stage: str
    decision: str
    reason_code: str | None


class UsulanStatusOut(BaseModel):
    """What anyone holding the code may see: never who submitted it."""

    code: str
    planning_year: int
    desa_code: str
    desa: str | None
    kecamatan: str | None
    category: str
    usulan: str
    stage: str
    decision: str
    photos: int
    verified: bool = Field(description="its history chain verifies: nothing edited or cut")
    history: list[HistoryOut]


def create_api(backend: Backend) -> FastAPI:
    app = FastAPI(
        title="musrenbot",
        summary="Usulan Musrenbang dari warga, lewat obrolan",
        version="0.1.0",
        responses=errors.error_responses(),
    )
    app.add_middleware(limits.RequestLimits)
    app.add_middleware(security.SecurityHeaders)  # outermost: refusals get the headers too
    app.state.backend = backend
    errors.install(app)
    app.include_router(officials.router(backend))
    app.include_router(open311.router(backend))
    app.include_router(web.router(backend))

    @app.get("/health", tags=["operations"])
    async def health() -> dict[str, object]:
        """Liveness: the process answers. Says whether the database does, without failing."""
        return {
            "status": "ok",
            "database": "ok" if await backend.ready() else "unavailable",
            "wilayah": len(backend.wilayah),
            "region": backend.settings.region,
        }

    @app.get(
        "/health/ready",
        tags=["operations"],
        responses={503: {"description": "the database does not answer"}},
    )
    async def ready() -> JSONResponse:
        """Readiness for a load balancer: 503 while the database does not answer."""
        if await backend.ready():
            return JSONResponse({"status": "ready", "database": "ok"})
        return JSONResponse(
            {"status": "unavailable", "database": "unavailable"},
            status_code=503,
            headers={"Retry-After": "5"},
        )

    @app.get(
        "/media/{name}",
        tags=["public"],
        response_class=FileResponse,
        responses={200: {"content": {"image/jpeg": {}}}, **errors.error_responses(404)},
    )
    async def media(name: str) -> FileResponse:
        """A stored photo: EXIF-free, so it carries no location or device data."""
        sha = name.removesuffix(".jpg")
        path = backend.media.path_of(sha)
        if not SHA256.fullmatch(sha) or not path.is_file():
            raise HTTPException(404, detail="no such photo")
        return FileResponse(
            path,
            media_type="image/jpeg",
            headers={"Cache-Control": "public, max-age=31536000, immutable"},
        )

    @app.get(
        "/api/v1/public/usulan/{code}",
        response_model=UsulanStatusOut,
        tags=["public"],
        responses=errors.error_responses(404, 429),
    )
    async def usulan_status(code: str, request: Request) -> UsulanStatusOut:
        """Limited per client (429 with `Retry-After`), most strictly for unknown codes."""
        client = client_address(request, backend.settings.trusted_proxies)
        async with backend.unit() as services:
            # What the public pages show, no more.
            found = await services.throttle.code_lookup(
                client, lambda: services.public.usulan(code)
            )
        if found is None:
            raise HTTPException(404, detail="no usulan with this code")
        desa = backend.wilayah.get(found.desa_code)
        return UsulanStatusOut(
            code=found.code,
            planning_year=found.planning_year,
            desa_code=found.desa_code,
            desa=desa.label if desa else None,
            kecamatan=desa.kecamatan_name if desa else None,
            category=found.category,
            usulan=found.usulan,
            stage=found.stage,
            decision=found.decision,
            photos=len(found.photos),
            verified=bool(found.verified),
            history=[
                HistoryOut(at=h.at, stage=h.stage, decision=h.decision, reason_code=h.reason_code)
                for h in found.history
            ],
        )

    return app
