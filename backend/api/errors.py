"""Domain errors -> HTTP statuses: the one table for the API edge."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from backend.errors import (
    Conflict,
    DomainError,
    Forbidden,
    InvalidInput,
    NotFound,
    PhotoRejected,
    Unauthenticated,
)

ERROR_STATUS: tuple[tuple[type[DomainError], int], ...] = (
    (Unauthenticated, 401),
    (Forbidden, 403),
    (NotFound, 404),
    (Conflict, 409),
    (InvalidInput, 422),
    (PhotoRejected, 422),
)


def status_of(exc: DomainError) -> int:
    return next((status for kind, status in ERROR_STATUS if isinstance(exc, kind)), 400)


def install(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def domain_error(_: Request, exc: DomainError) -> JSONResponse:
        status = status_of(exc)
        body: dict[str, object] = {"detail": str(exc)}
        if isinstance(exc, InvalidInput):
            body["field"] = exc.field
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return JSONResponse(body, status_code=status, headers=headers)
