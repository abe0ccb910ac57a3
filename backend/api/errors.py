"""Domain errors -> HTTP statuses: the one table for the API edge."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from backend.api.fields import PRINTABLE
from backend.errors import (
    Conflict,
    DomainError,
    Forbidden,
    InvalidInput,
    NotFound,
    PhotoRejected,
    TooManyAttempts,
    Unauthenticated,
    Unavailable,
)

RETRY_AFTER_UNAVAILABLE = "5"  # seconds; the database usually returns within that

ERROR_STATUS: tuple[tuple[type[DomainError], int], ...] = (
    (Unauthenticated, 401),
    (Forbidden, 403),
    (NotFound, 404),
    (Conflict, 409),
    (InvalidInput, 422),
    (PhotoRejected, 422),
    (TooManyAttempts, 429),
)


class ErrorOut(BaseModel):
    """Every refusal of the API has this shape: what went wrong, and for bad input which
    field and why (the limit it broke)."""

    detail: str = Field(description="what went wrong, in a sentence")
    field: str | None = Field(default=None, description="the input to correct, e.g. changes.volume")
    reason: str | None = Field(default=None, description="why it was refused, e.g. its limit")


ERROR_DESCRIPTIONS = {
    400: "the request cannot be read (a NUL character, a body that is not JSON)",
    401: "no valid token",
    403: "outside the caller's role or scope",
    404: "no such thing",
    409: "does not fit the current state (decided already, another stage)",
    413: "the body is too large",
    422: "a field is missing or breaks its limit",
    429: "too many attempts; wait as Retry-After says",
    503: "the database does not answer; nothing was changed, try again",
}
# What any route can answer, whatever it does: unreadable or oversized requests, bad input,
# and a database that is briefly away.
COMMON_ERRORS = (400, 413, 422, 503)


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI `responses=` of a route: the common errors and `statuses`, as ErrorOut."""
    return {
        status: {"model": ErrorOut, "description": ERROR_DESCRIPTIONS[status]}
        for status in sorted({*COMMON_ERRORS, *statuses})
    }


def _readable(error: Any) -> Any:
    """pydantic's error, with our one text pattern said in words."""
    if error.get("type") == "string_pattern_mismatch" and (
        (error.get("ctx") or {}).get("pattern") == PRINTABLE
    ):
        return {**error, "msg": "control characters (NUL and the like) are not allowed"}
    return error


def status_of(exc: DomainError) -> int:
    return next((status for kind, status in ERROR_STATUS if isinstance(exc, kind)), 400)


def install(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def domain_error(_: Request, exc: DomainError) -> JSONResponse:
        status = status_of(exc)
        body: dict[str, object] = {"detail": str(exc)}
        if isinstance(exc, InvalidInput):
            body.update(field=exc.field, reason=exc.reason)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        if isinstance(exc, TooManyAttempts):
            headers = {"Retry-After": str(exc.retry_after)}
        return JSONResponse(body, status_code=status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        # The same ErrorOut as every other refusal; the offending input is not echoed back
        # (it may be huge or nested thousands deep).
        errors = [_readable(e) for e in exc.errors()]
        first = errors[0] if errors else {}
        field = ".".join(str(part) for part in first.get("loc", ())[1:]) or None
        detail = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ())[1:]) or 'body'}: {e.get('msg', '')}"
            for e in errors[:5]
        )
        body = ErrorOut(detail=detail or "invalid request", field=field, reason=first.get("msg"))
        return JSONResponse(body.model_dump(), status_code=422)

    @app.exception_handler(Unavailable)
    async def unavailable(_: Request, exc: Unavailable) -> JSONResponse:
        # Nothing was stored: the client may send the same request again shortly.
        return JSONResponse(
            {"detail": "the service is briefly unavailable; nothing was changed, try again"},
            status_code=503,
            headers={"Retry-After": RETRY_AFTER_UNAVAILABLE},
        )
