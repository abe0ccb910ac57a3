"""The HTTP API. Endpoints gather inputs and call services; errors are mapped once, here."""

from __future__ import annotations

from datetime import datetime

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from backend.errors import DomainError, InvalidInput, NotFound
from backend.services.context import Backend

# Domain error -> HTTP status; the one table for this edge.
ERROR_STATUS: dict[type[DomainError], int] = {NotFound: 404, InvalidInput: 422}


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
    history: list[HistoryOut]


def create_api(backend: Backend) -> FastAPI:
    app = FastAPI(
        title="musrenbot",
        summary="Usulan Musrenbang dari warga, lewat obrolan",
        version="0.1.0",
    )
    app.state.backend = backend

    @app.exception_handler(DomainError)
    async def domain_error(_: Request, exc: DomainError) -> JSONResponse:
        status = next((s for t, s in ERROR_STATUS.items() if isinstance(exc, t)), 400)
        return JSONResponse({"detail": str(exc)}, status_code=status)

    @app.get("/health", tags=["operations"])
    async def health() -> dict[str, object]:
        return {"status": "ok", "wilayah": len(backend.wilayah), "region": backend.settings.region}

    @app.get("/api/v1/usulan/{code}", response_model=UsulanStatusOut, tags=["usulan"])
    async def usulan_status(code: str) -> UsulanStatusOut:
        async with backend.unit() as services:
            found = await services.intake.status(code)
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
            photos=found.photo_count,
            history=[
                HistoryOut(at=h.at, stage=h.stage, decision=h.decision, reason_code=h.reason_code)
                for h in found.history
            ],
        )

    return app
