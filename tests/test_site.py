"""Issue 9, parts 1, 11 and 12: the HTTP layer is module-level routes, the site root is a
start page in the reader's language, the API documentation works without a CDN, and the
start-up log says where the dashboard is."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import AsyncIterator, Iterator
from html.parser import HTMLParser
from typing import Any

import httpx
import pytest

from backend.api.app import create_api
from backend.services.wiring import Backend
from bot.asgi import create_app, listen_url
from tests.harness import running_service
from tests.officials import PASAR_BARU
from tests.standin import BotApiStandIn
from tests.test_dashboard import CHROMIUM, CHROMIUM_FLAGS, NEEDS_BROWSER
from tests.test_security_headers import CSP_WATCH, assert_page_policy


@pytest.fixture
async def client(backend: Backend) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_api(backend))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


def routes_of(routes: list[Any]) -> Iterator[Any]:
    """Every route of an app, through the routers it includes."""
    for route in routes:
        if hasattr(route, "original_router"):
            yield from routes_of(route.original_router.routes)
        elif hasattr(route, "endpoint"):
            yield route


def test_every_route_is_a_module_level_function(backend: Backend) -> None:
    ours = [
        route
        for route in routes_of(create_api(backend).routes)
        if route.endpoint.__module__.startswith(("backend.", "bot."))
    ]
    assert len(ours) >= 40  # the API, Open311, the dashboard, the docs
    for route in ours:
        endpoint = route.endpoint
        assert "<locals>" not in endpoint.__qualname__, f"{route.path}: {endpoint.__qualname__}"
        # Importable by its name: a route is read where it is written, not built by a factory.
        assert getattr(sys.modules[endpoint.__module__], endpoint.__name__) is endpoint


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [v for k, v in attrs if k in ("href", "src", "action") and v]


def links_of(html: str) -> list[str]:
    parser = Links()
    parser.feed(html)
    return parser.urls


async def test_the_site_root_is_a_start_page_with_the_ways_in(client: httpx.AsyncClient) -> None:
    start = await client.get("/")
    assert start.status_code == 200 and start.headers["content-type"].startswith("text/html")
    assert_page_policy(start)
    assert "Usulan Musrenbang warga" in start.text and '<html lang="id">' in start.text
    assert {"/dashboard", "/docs", "/redoc"} <= set(links_of(start.text))

    found = await client.get("/", params={"q": "pasar baru"})
    assert f"/desa/{PASAR_BARU}" in links_of(found.text)
    village = await client.get(f"/desa/{PASAR_BARU}")
    assert village.status_code == 200
    nothing = await client.get("/", params={"q": "zzqx"})
    assert nothing.status_code == 200 and "Tidak ada desa/kelurahan" in nothing.text

    english = await client.get("/", headers={"Accept-Language": "en-US"})
    assert "Musrenbang proposals from residents" in english.text and "For officials" in english.text


async def test_the_api_documentation_refers_only_to_this_site(client: httpx.AsyncClient) -> None:
    for path in ("/docs", "/redoc", "/docs/oauth2-redirect"):
        page = await client.get(path)
        assert page.status_code == 200
        assert not re.search(r"https?://", page.text.split("<body")[0]), path  # the head
        policy = dict(
            d.strip().split(" ", 1) for d in page.headers["content-security-policy"].split(";")
        )
        assert "http" not in str(policy) and "unsafe" not in policy["script-src"]
        # Styles inline only for ReDoc, which writes them as it renders.
        assert ("unsafe-inline" in policy["style-src"]) == (path == "/redoc")
        for url in links_of(page.text):
            assert url.startswith("/") and not url.startswith("//"), url
            asset = await client.get(url)
            assert asset.status_code == 200, url
            assert asset.headers["content-type"].split(";")[0] in (
                "text/javascript",
                "text/css",
                "image/png",
            )
    assert (await client.get("/docs/assets/../app.py")).status_code == 404
    assert (await client.get("/docs/assets/secret.js")).status_code == 404


@NEEDS_BROWSER
async def test_the_api_documentation_works_offline_in_a_browser(db_url, tmp_path) -> None:
    from playwright.async_api import async_playwright

    async with (
        BotApiStandIn() as standin,
        running_service(standin, db_url, tmp_path, "polling") as service,
        async_playwright() as playwright,
    ):
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM or "/usr/bin/chromium", args=CHROMIUM_FLAGS
        )
        page = await browser.new_page()
        await page.add_init_script(CSP_WATCH)
        requested: list[str] = []
        blocked: list[str] = []
        page.on("request", lambda r: requested.append(r.url))
        page.on(
            "requestfailed",
            lambda r: blocked.append(r.url) if r.failure == "csp" else None,
        )

        await page.goto(f"{service.base_url}/docs")
        await page.wait_for_selector(".opblock", timeout=20_000)  # operations rendered
        assert await page.locator(".opblock").count() >= 20
        await page.click("#operations-operations-health_health_get .opblock-summary")
        await page.click("button.try-out__btn")
        await page.click("button.execute")  # a request from the page to this site's API
        status = page.locator(".live-responses-table tbody .response-col_status").first
        await status.wait_for(timeout=20_000)
        assert (await status.inner_text()).strip() == "200"
        assert await page.evaluate("window.__cspViolations") == []
        swagger_requests = list(requested)

        await page.goto(f"{service.base_url}/redoc")
        await page.wait_for_selector("h1:has-text('musrenbot')", timeout=20_000)
        assert await page.locator("[data-section-id*='operation/']").count() >= 20
        redoc_violations = await page.evaluate("window.__cspViolations")
        await browser.close()
    local = (service.base_url, "data:", "blob:")
    assert [u for u in swagger_requests if not u.startswith(local)] == []
    # ReDoc's sidebar asks for its maker's logo; the policy refuses it, nothing else is asked.
    outside = [u for u in requested if not u.startswith(local)]
    assert outside == blocked == ["https://cdn.redoc.ly/redoc/logo-mini.svg"]
    assert [v for v in redoc_violations if not v.startswith("img-src https://cdn.redoc.ly/")] == []


async def test_the_start_up_log_says_where_the_dashboard_is(
    backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    settings = backend.settings.model_copy(update={"public_url": None})
    app = create_app(settings, backend, listen_url=listen_url("0.0.0.0", 8080))  # noqa: S104
    with caplog.at_level(logging.INFO, logger="bot.asgi"):
        async with app.router.lifespan_context(app):
            pass
    assert "dashboard at http://127.0.0.1:8080/dashboard" in caplog.text
    assert listen_url("::1", 80) == "http://[::1]:80"
    assert listen_url("10.0.0.5", 8080) == "http://10.0.0.5:8080"
