"""The HTTP application: its middleware, the routers of each audience, and the one place
where errors are mapped to answers (JSON for the API, pages for the dashboard, Open311's
error list for Open311)."""

from __future__ import annotations

from fastapi import FastAPI

from backend.api import (
    dashboard,
    docs,
    errors,
    health,
    limits,
    officials,
    open311,
    public_api,
    security,
)
from backend.api.dashboard.pages import refusal_page
from backend.api.deps import PageRefusal
from backend.services.wiring import Backend


def create_api(backend: Backend) -> FastAPI:
    app = FastAPI(
        title="musrenbot",
        summary="Usulan Musrenbang dari warga, lewat obrolan",
        version="0.1.0",
        responses=errors.error_responses(),
        docs_url=None,  # served from local copies of their scripts, by backend.api.docs
        redoc_url=None,
    )
    app.add_middleware(limits.RequestLimits)
    app.add_middleware(security.SecurityHeaders)  # outermost: refusals get the headers too
    app.state.backend = backend
    errors.install(app)
    app.add_exception_handler(PageRefusal, refusal_page)
    app.add_exception_handler(open311.Open311Error, open311.open311_error)
    app.include_router(officials.router)
    app.include_router(open311.router)
    app.include_router(dashboard.router)
    app.include_router(health.router)
    app.include_router(public_api.router)
    app.include_router(docs.router)
    return app
