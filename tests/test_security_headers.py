"""What browsers are told (issue 8, defect 12): a content security policy that allows no script
and only the dashboard's own stylesheet, no framing, no referrer to other sites, no sniffing,
no caching of pages or API answers with personal data, and a session cookie that is Secure
whenever the request came over HTTPS (as a trusted proxy says, never as anyone says)."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import AsyncIterator

import httpx
import pytest

from backend.api.app import create_api
from backend.services.officials import Role
from backend.services.wiring import Backend
from tests.harness import running_service
from tests.officials import MEDAN_KOTA, PASAR_BARU, forward_to_kecamatan, official, submit, warga
from tests.standin import BotApiStandIn
from tests.test_dashboard import CHROMIUM, CHROMIUM_FLAGS, NEEDS_BROWSER, csrf_of, log_in

PROXY = "10.20.0.7"  # the reverse proxy in front of the service
STRANGER = "203.0.113.9"  # anyone else on the network


def client_for(backend: Backend, peer: str = "127.0.0.1") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=create_api(backend), client=(peer, 50123))
    return httpx.AsyncClient(transport=transport, base_url="http://test")


@pytest.fixture
async def client(backend: Backend) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(backend) as http:
        yield http


def style_source(html: str) -> str:
    [block] = re.findall(r"<style>(.*?)</style>", html, re.DOTALL)
    return f"'sha256-{base64.b64encode(hashlib.sha256(block.encode()).digest()).decode()}'"


def assert_protected(response: httpx.Response) -> dict[str, str]:
    """The headers every response carries; returns the CSP's directives by name."""
    headers = response.headers
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "same-origin"
    assert headers["x-content-type-options"] == "nosniff"
    directives = dict(
        (d.split(" ", 1) + [""])[:2] for d in (p.strip() for p in
        headers["content-security-policy"].split(";")) if d
    )  # fmt: skip
    assert directives["frame-ancestors"] == "'none'"
    return directives


def assert_page_policy(response: httpx.Response) -> None:
    """No script at all, nothing from elsewhere, and only the page's own <style> block."""
    csp = assert_protected(response)
    assert csp["default-src"] == "'none'" and "script-src" not in csp
    assert style_source(response.text) in csp["style-src"].split()
    assert "unsafe-inline" not in response.headers["content-security-policy"]
    assert csp["img-src"] == "'self'" and csp["form-action"] == "'self'"


async def test_pages_with_personal_data_are_framed_by_nobody_and_kept_by_no_cache(
    backend: Backend, client: httpx.AsyncClient
) -> None:
    resident = await warga(backend)
    await official(backend, Role.KEPALA_DESA, wilayah=PASAR_BARU, username="lurah")
    code = await submit(backend, resident)

    login = await client.get("/dashboard/login")
    assert login.status_code == 200
    assert_page_policy(login)
    assert login.headers["cache-control"] == "no-store"

    await log_in(client, "lurah")
    for path in ("/dashboard", "/dashboard/queue/desa", f"/dashboard/usulan/{code}"):
        page = await client.get(path)
        assert page.status_code == 200 and "<form" in page.text, path
        assert_page_policy(page)
        assert page.headers["cache-control"] == "no-store", path
    assert re.search(r"<[^>]+ (style|on\w+)=", page.text) is None  # nothing inline to block

    export = await client.get("/dashboard/queue/desa/export.csv")
    assert export.status_code == 200 and export.headers["cache-control"] == "no-store"


async def test_the_officials_api_is_not_cached_and_public_pages_may_be(
    backend: Backend, client: httpx.AsyncClient
) -> None:
    resident = await warga(backend)
    lurah = await official(backend, Role.KEPALA_DESA, wilayah=PASAR_BARU)
    code = await submit(backend, resident)
    bearer = {"Authorization": f"Bearer {lurah.token}"}

    detail = await client.get(f"/api/v1/usulan/{code}", headers=bearer)
    assert detail.status_code == 200 and detail.json()["code"] == code
    assert detail.headers["cache-control"] == "no-store"
    assert assert_protected(detail)["default-src"] == "'none'"
    refused = await client.get(f"/api/v1/usulan/{code}")  # no token: still not cacheable
    assert refused.status_code == 401 and refused.headers["cache-control"] == "no-store"

    public = await client.get(f"/u/{code}")
    assert public.status_code == 200 and code in public.text
    assert_page_policy(public)
    assert "no-store" not in public.headers.get("cache-control", "")
    status = await client.get(f"/api/v1/public/usulan/{code}")
    assert status.status_code == 200 and "no-store" not in status.headers.get("cache-control", "")


async def test_the_api_documentation_still_loads_its_viewer(client: httpx.AsyncClient) -> None:
    for path in ("/docs", "/redoc"):
        docs = await client.get(path)
        assert docs.status_code == 200 and "<script" in docs.text
        # Swagger UI and ReDoc are served from this site: its scripts, and the page's own
        # inline blocks by hash; nothing from elsewhere, no framing.
        policy = assert_protected(docs)
        assert policy["default-src"] == "'none'" and policy["frame-ancestors"] == "'none'"
        assert policy["script-src"].startswith("'self'") and "unsafe" not in policy["script-src"]
        assert "http" not in " ".join(policy.values())
    assert (await client.get("/openapi.json")).json()["info"]["title"] == "musrenbot"


# --- the session cookie -----------------------------------------------------------------


def cookie_flags(response: httpx.Response, name: str) -> set[str]:
    [cookie] = [c for c in response.headers.get_list("set-cookie") if c.startswith(f"{name}=")]
    return {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}


async def log_in_over(
    http: httpx.AsyncClient, headers: dict[str, str]
) -> tuple[httpx.Response, httpx.Response]:
    """The login form and the answer to posting it, both sent with `headers`."""
    form = await http.get("/dashboard/login", headers=headers)
    assert form.status_code == 200
    # Sent back by hand: a client on plain http (the proxy's side) keeps a Secure cookie to
    # itself, as the browser on the HTTPS side would not.
    [nonce] = re.findall(r"mb_login_csrf=([^;]+)", form.headers["set-cookie"])
    http.cookies.clear()
    sent = {**headers, "Cookie": f"mb_login_csrf={nonce}"}
    done = await http.post("/dashboard/login", headers=sent, data={
        "csrf": csrf_of(form.text), "username": "lurah", "password": "rahasia-sekali-123",
        "next": "/dashboard",
    })  # fmt: skip
    assert done.status_code == 303, done.text
    return form, done


@pytest.mark.parametrize(
    ("peer", "trusted", "public_url", "secure"),
    [
        (STRANGER, [], None, False),  # anyone may write X-Forwarded-Proto
        (STRANGER, [f"{PROXY}/32"], None, False),  # ... unless they are the proxy
        (PROXY, ["10.20.0.0/16"], None, True),  # the proxy saw HTTPS
        (STRANGER, [], "https://musrenbang.example.id", True),  # published over HTTPS
    ],
)
async def test_the_session_cookie_is_secure_when_the_request_came_over_https(
    backend: Backend, peer: str, trusted: list[str], public_url: str | None, secure: bool
) -> None:
    backend.settings = backend.settings.model_copy(
        update={"trusted_proxies": trusted, "public_url": public_url}
    )
    await official(backend, Role.KEPALA_DESA, wilayah=PASAR_BARU, username="lurah")
    async with client_for(backend, peer) as http:
        form, done = await log_in_over(http, {"X-Forwarded-Proto": "https"})
    assert ("secure" in cookie_flags(form, "mb_login_csrf")) is secure
    flags = cookie_flags(done, "mb_session")
    assert {"httponly", "samesite"} <= flags and ("secure" in flags) is secure


async def test_a_trusted_proxy_that_saw_plain_http_gets_no_secure_cookie(backend: Backend) -> None:
    backend.settings = backend.settings.model_copy(update={"trusted_proxies": [PROXY]})
    await official(backend, Role.KEPALA_DESA, wilayah=PASAR_BARU, username="lurah")
    async with client_for(backend, PROXY) as http:
        _, done = await log_in_over(http, {"X-Forwarded-Proto": "http"})
    assert "secure" not in cookie_flags(done, "mb_session")


# --- in a real browser ------------------------------------------------------------------

CSP_WATCH = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI}:${e.lineNumber}`);
});
"""


@NEEDS_BROWSER
async def test_the_dashboard_renders_and_works_under_its_policy(db_url, tmp_path) -> None:
    from playwright.async_api import async_playwright

    async with (
        BotApiStandIn() as standin,
        running_service(standin, db_url, tmp_path, "webhook") as service,
    ):
        backend = service.backend
        resident = await warga(backend)
        kepala = await official(backend, Role.KEPALA_DESA, wilayah=PASAR_BARU)
        await official(backend, Role.OPERATOR_KECAMATAN, wilayah=MEDAN_KOTA, username="camat")
        code = await submit(backend, resident)
        await forward_to_kecamatan(backend, kepala, [code])
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=CHROMIUM or "/usr/bin/chromium", args=CHROMIUM_FLAGS
            )
            page = await browser.new_page(viewport={"width": 1024, "height": 768}, locale="id-ID")
            await page.add_init_script(CSP_WATCH)
            console: list[str] = []
            page.on("console", lambda m: console.append(m.text))
            seen: list[str] = []

            async def violations() -> list[str]:
                return [*await page.evaluate("window.__cspViolations"), *[
                    c for c in console if "Content Security Policy" in c]]  # fmt: skip

            await page.goto(f"{service.base_url}/dashboard/login")
            seen += await violations()
            await page.fill("input[name=username]", "camat")
            await page.fill("input[name=password]", "rahasia-sekali-123")
            await page.click("button[type=submit]")
            await page.wait_for_url("**/dashboard")
            seen += await violations()
            # The stylesheet applied: the header's colour and the charts' sizing are its own.
            header = await page.eval_on_selector(
                "header", "e => getComputedStyle(e).backgroundColor"
            )
            assert header == "rgb(11, 93, 75)"
            assert await page.locator("svg.chart").count() >= 1
            for path in ("/dashboard/queue/kecamatan", f"/dashboard/usulan/{code}", f"/u/{code}"):
                await page.goto(f"{service.base_url}{path}")
                seen += await violations()
            await page.goto(f"{service.base_url}/dashboard/usulan/{code}")
            row = await page.eval_on_selector("form.card .row", "e => getComputedStyle(e).display")
            assert row == "flex"
            await page.select_option("select[name=decision]", "perlu_perbaikan")
            await page.fill("textarea[name=note]", "Mohon lampirkan foto jalan")
            await page.click("text=Simpan keputusan")
            await page.wait_for_url("**done=1")
            seen += await violations()
            await browser.close()
        assert seen == []
