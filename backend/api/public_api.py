"""The public API: an usulan's status for anyone holding its code, and its photos."""

from __future__ import annotations

import re

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, JSONResponse

from backend.api.deps import BackendDep, Client, Unit
from backend.api.errors import error_responses
from backend.api.schemas import HistoryOut, UsulanStatusOut

router = APIRouter(tags=["public"])
SHA256 = re.compile(r"[0-9a-f]{64}")


@router.get(
    "/media/{name}",
    response_class=FileResponse,
    responses={200: {"content": {"image/jpeg": {}}}, **error_responses(404)},
)
async def media(name: str, backend: BackendDep) -> FileResponse:
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


@router.get(
    "/api/v1/public/usulan/{code}",
    response_model=UsulanStatusOut,
    responses=error_responses(404, 429),
)
async def usulan_status(
    code: str, services: Unit, client: Client
) -> UsulanStatusOut | JSONResponse:
    """Limited per client (429 with `Retry-After`), most strictly for unknown codes."""
    # What the public pages show, no more.
    found = await services.throttle.code_lookup(client, lambda: services.public.usulan(code))
    if found is None:
        # Answered, not raised: the unit of work must keep the miss it just counted.
        return JSONResponse({"detail": "no usulan with this code"}, status_code=404)
    desa = services.wilayah.get(found.desa_code)
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
