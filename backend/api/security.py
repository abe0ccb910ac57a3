"""Security headers on every response: what a browser may load, frame, send on and keep.

The dashboard and the public pages run no script and load nothing from elsewhere; their one
static <style> block is allowed by its hash, so markup slipped into a page can neither run
script nor restyle it. /docs and /redoc (Swagger UI and ReDoc, served from this site) may run
this site's scripts and styles, plus the inline blocks of their own page by hash (the page
sets that policy itself); ReDoc also inline styles, which it writes as it renders. Responses
with personal data (the dashboard, the officials' API) must not be kept by any cache; public
pages, photos and the public API may be.

A pure ASGI middleware: headers are added as the response starts, nothing is buffered.
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

TEMPLATES = Path(__file__).parent / "templates"
STYLE_BLOCK = re.compile(r"<style>(.*?)</style>", re.DOTALL)
SCRIPT_BLOCK = re.compile(r"<script>(.*?)</script>", re.DOTALL)
DOCS_PATHS = ("/docs", "/redoc")  # FastAPI's defaults; /docs/oauth2-redirect included
CACHEABLE_PATHS = ("/u/", "/desa/", "/media/", "/api/v1/public/", "/openapi.json", *DOCS_PATHS)


def source_hash(block: str) -> str:
    """The CSP source that allows one inline block ('sha256-…')."""
    return f"'sha256-{base64.b64encode(hashlib.sha256(block.encode()).digest()).decode()}'"


def style_hashes(directory: Path = TEMPLATES) -> list[str]:
    """The CSP source of every <style> block in the templates."""
    sources: list[str] = []
    for path in sorted(directory.glob("*.html")):
        for block in STYLE_BLOCK.findall(path.read_text(encoding="utf-8")):
            if "{{" in block or "{%" in block:
                raise ValueError(f"{path.name}: a <style> block must be static to be hashed")
            sources.append(source_hash(block))
    return sources


def page_policy() -> str:
    styles = " ".join(style_hashes()) or "'none'"
    return (
        "default-src 'none'; img-src 'self'; "
        f"style-src {styles}; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )


def docs_policy(page: str = "", *, inline_styles: bool = False) -> str:
    """What Swagger UI and ReDoc need: this site's scripts, styles, images and the OpenAPI
    document; the inline blocks of `page` by hash; ReDoc's search runs in a blob: worker.

    `inline_styles` for ReDoc, whose components write <style> elements as they render; its
    scripts stay limited to this site's and the hashed ones all the same."""
    scripts = " ".join(["'self'", *map(source_hash, SCRIPT_BLOCK.findall(page))])
    styles = " ".join(["'self'", *map(source_hash, STYLE_BLOCK.findall(page))])
    if inline_styles:
        styles = "'self' 'unsafe-inline'"  # a hash beside it would switch 'unsafe-inline' off
    return (
        f"default-src 'none'; script-src {scripts}; style-src {styles}; "
        "img-src 'self' data:; font-src 'self'; connect-src 'self'; worker-src blob:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )


DOCS_POLICY = docs_policy()


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.page_policy = page_policy()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        docs = path.startswith(DOCS_PATHS)
        cacheable = path.startswith(CACHEABLE_PATHS)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault(
                    "Content-Security-Policy", DOCS_POLICY if docs else self.page_policy
                )
                headers.setdefault("X-Frame-Options", "DENY")
                headers.setdefault("Referrer-Policy", "same-origin")
                headers.setdefault("X-Content-Type-Options", "nosniff")
                if not cacheable:
                    headers.setdefault("Cache-Control", "no-store")
            await send(message)

        await self.app(scope, receive, send_with_headers)
