"""The API's documentation pages, /docs (Swagger UI) and /redoc (ReDoc), from the copies of
their scripts that the fastapi-offline package installs: they work on a network without a
CDN, and load nothing from anywhere else."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import FileResponse, HTMLResponse

from backend.api.security import docs_policy

ASSETS = Path(str(files("fastapi_offline") / "static"))
ASSET_TYPES = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "redoc.standalone.js": "text/javascript",
    "favicon.png": "image/png",
}
ASSET_URL = "/docs/assets"
OAUTH2_REDIRECT = "/docs/oauth2-redirect"

router = APIRouter(include_in_schema=False)


def _with_policy(page: HTMLResponse, *, inline_styles: bool = False) -> HTMLResponse:
    """Allow exactly the inline blocks of this page, by their hashes."""
    policy = docs_policy(bytes(page.body).decode(), inline_styles=inline_styles)
    page.headers["Content-Security-Policy"] = policy
    return page


@router.api_route("/docs", methods=["GET", "HEAD"])
async def swagger_ui_html(request: Request) -> HTMLResponse:
    app = request.app
    return _with_policy(
        get_swagger_ui_html(
            openapi_url=app.openapi_url,
            title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=OAUTH2_REDIRECT,
            swagger_js_url=f"{ASSET_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSET_URL}/swagger-ui.css",
            swagger_favicon_url=f"{ASSET_URL}/favicon.png",
            swagger_ui_parameters=app.swagger_ui_parameters,
        )
    )


@router.api_route(OAUTH2_REDIRECT, methods=["GET", "HEAD"])
async def swagger_ui_redirect() -> HTMLResponse:
    return _with_policy(get_swagger_ui_oauth2_redirect_html())


@router.api_route("/redoc", methods=["GET", "HEAD"])
async def redoc_html(request: Request) -> HTMLResponse:
    app = request.app
    return _with_policy(
        get_redoc_html(
            openapi_url=app.openapi_url,
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{ASSET_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{ASSET_URL}/favicon.png",
            with_google_fonts=False,
        ),
        inline_styles=True,
    )


@router.get(ASSET_URL + "/{name}")
async def asset(name: str) -> FileResponse:
    if name not in ASSET_TYPES:
        raise HTTPException(404, detail="no such file")
    return FileResponse(
        ASSETS / name,
        media_type=ASSET_TYPES[name],
        headers={"Cache-Control": "public, max-age=86400"},
    )
