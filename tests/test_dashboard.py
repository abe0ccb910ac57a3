"""The officials' dashboard and the public pages, in a real browser where it matters.

The browser tests drive headless Chromium (Debian's package, installed by .ci/run) through
Playwright against the real service, whose delivery worker sends the resident's notification
to the Bot API stand-in.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import update

from backend.api.app import create_api
from backend.services.officials import Role
from backend.storage.models import Usulan
from tests.harness import running_service
from tests.officials import (
    MEDAN_KOTA,
    PASAR_BARU,
    PUSAT_PASAR,
    forward_to_kecamatan,
    official,
    submit,
    warga,
)
from tests.standin import BotApiStandIn

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
NEEDS_BROWSER = pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("CI"),
    reason="no Chromium here (apt-get install chromium); CI installs it",
)
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
RESIDENT_CHAT = 901_001


@pytest.fixture
async def client(backend) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_api(backend))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


async def log_in(client: httpx.AsyncClient, username: str) -> None:
    form = await client.get("/dashboard/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
    done = await client.post(
        "/dashboard/login",
        data={
            "csrf": csrf,
            "username": username,
            "password": "rahasia-sekali-123",
            "next": "/dashboard",
        },
    )
    assert done.status_code == 303, done.text


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


async def test_public_pages_show_the_usulan_but_nobody_s_personal_data(backend, client):
    resident = await warga(backend, name="Siti Aminah Lubis")
    kepala = await official(backend, Role.KEPALA_DESA, wilayah=PASAR_BARU)
    code = await submit(backend, resident)
    async with backend.unit() as s:
        await s.session.execute(
            update(Usulan)
            .where(Usulan.code == code)
            .values(submitter_name="Siti Aminah Lubis", submitter_phone="081298765432")
        )
    await forward_to_kecamatan(backend, kepala, [code])
    page = await client.get(f"/u/{code}")
    desa = await client.get(f"/desa/{PASAR_BARU}")
    for html in (page.text, desa.text):
        assert "Siti" not in html and "Lubis" not in html
        assert "081298765432" not in html and "98765432" not in html
    assert page.status_code == 200 and code in page.text
    assert "Musrenbang Kecamatan" in page.text and "Riwayat utuh" in page.text
    assert f'href="/u/{code}"' in desa.text
    english = await client.get(f"/u/{code}?lang=en")
    assert "History intact" in english.text
    assert (await client.get("/u/ZZZZ-ZZZZ")).status_code == 404
    assert (await client.get("/desa/99.99.99.9999")).status_code == 404


async def test_a_tampered_history_shows_on_the_public_page(backend, client):
    from backend.storage.models import UsulanEvent

    resident = await warga(backend)
    code = await submit(backend, resident)
    async with backend.unit() as s:
        await s.session.execute(update(UsulanEvent).values(note="diubah diam-diam"))
    page = await client.get(f"/u/{code}")
    assert "Riwayat TIDAK utuh" in page.text


async def test_a_kepala_desa_cannot_open_another_desa_s_usulan(backend, client):
    resident = await warga(backend)
    code = await submit(backend, resident, desa=PUSAT_PASAR)
    await official(backend, Role.KEPALA_DESA, wilayah=PASAR_BARU, username="kades.pasarbaru")
    await log_in(client, "kades.pasarbaru")
    refused = await client.get(f"/dashboard/usulan/{code}")
    assert refused.status_code == 403 and code not in refused.text.split("<main>")[0]
    assert "Anda tidak berwenang untuk ini" in refused.text  # said in the official's language
    queue = await client.get("/dashboard/queue/desa?desa=" + PUSAT_PASAR)
    assert queue.status_code == 403


async def test_posts_without_the_csrf_token_are_refused(backend, client):
    resident = await warga(backend)
    kepala = await official(backend, Role.KEPALA_DESA, wilayah=PASAR_BARU)
    await official(backend, Role.OPERATOR_KECAMATAN, wilayah=MEDAN_KOTA, username="camat")
    code = await submit(backend, resident)
    await forward_to_kecamatan(backend, kepala, [code])
    await log_in(client, "camat")
    wanted = {"stage": "kecamatan", "decision": "diterima"}
    unprotected = await client.post(f"/dashboard/usulan/{code}/decision", data=wanted)
    assert unprotected.status_code == 403 and "Muat ulang halaman" in unprotected.text
    forged = {**wanted, "csrf": "0" * 64}
    assert (await client.post(f"/dashboard/usulan/{code}/decision", data=forged)).status_code == 403
    bulk = await client.post("/dashboard/bulk", data={**wanted, "codes": code})
    assert bulk.status_code == 403
    async with backend.unit() as s:
        assert (await s.intake.status(code)).decision == "menunggu"
    login = await client.post(
        "/dashboard/login", data={"username": "camat", "password": "rahasia-sekali-123"}
    )
    assert login.status_code == 403  # the login form is protected too


async def test_bulk_decisions_and_exports_from_the_queue_page(backend, client):
    resident = await warga(backend)
    kepala = await official(backend, Role.KEPALA_DESA, wilayah=PASAR_BARU)
    await official(backend, Role.OPERATOR_KECAMATAN, wilayah=MEDAN_KOTA, username="camat")
    codes = [await submit(backend, resident, n=i) for i in range(3)]
    await forward_to_kecamatan(backend, kepala, codes)
    await log_in(client, "camat")
    queue = await client.get("/dashboard/queue/kecamatan")
    assert all(code in queue.text for code in codes)
    done = await client.post(
        "/dashboard/bulk",
        data={
            "csrf": csrf_of(queue.text),
            "stage": "kecamatan",
            "decision": "ditolak",
            "reason_code": "pagu_tidak_cukup",
            "codes": codes[:2],
        },
    )
    assert done.status_code == 200 and done.text.count("Keputusan tersimpan") == 2
    remaining = await client.get("/dashboard/queue/kecamatan")
    assert codes[2] in remaining.text and codes[0] not in remaining.text
    csv = await client.get("/dashboard/queue/kecamatan/export.csv?decision=ditolak")
    assert csv.text.startswith("No,Kode") and codes[0] in csv.text
    xlsx = await client.get("/dashboard/queue/kecamatan/export.xlsx")
    assert xlsx.content[:2] == b"PK"  # a zip container: a real workbook


@NEEDS_BROWSER
async def test_an_official_decides_in_the_browser_and_the_resident_hears(db_url, tmp_path):
    from playwright.async_api import async_playwright

    async with (
        BotApiStandIn() as standin,
        running_service(standin, db_url, tmp_path, "webhook") as service,
    ):
        backend = service.backend
        async with backend.unit() as s:
            resident = await s.users.get_or_create(
                channel="telegram",
                external_id=str(RESIDENT_CHAT),
                chat_id=str(RESIDENT_CHAT),
                language_hint="id",
            )
        kepala = await official(backend, Role.KEPALA_DESA, wilayah=PASAR_BARU)
        await official(backend, Role.OPERATOR_KECAMATAN, wilayah=MEDAN_KOTA, username="camat")
        from tests.officials import Person

        mine = await submit(backend, Person(resident.id), n=1)
        other = await submit(backend, Person(resident.id), desa=PUSAT_PASAR, n=2)
        await forward_to_kecamatan(backend, kepala, [mine])
        other_kepala = await official(backend, Role.KEPALA_DESA, wilayah=PUSAT_PASAR)
        await forward_to_kecamatan(backend, other_kepala, [other])
        standin.reset()

        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=CHROMIUM or "/usr/bin/chromium", args=CHROMIUM_FLAGS
            )
            page = await browser.new_page(viewport={"width": 1024, "height": 768}, locale="id-ID")
            await page.goto(f"{service.base_url}/dashboard/queue/kecamatan")
            assert "/dashboard/login" in page.url  # no session: sent to log in first
            await page.fill("input[name=username]", "camat")
            await page.fill("input[name=password]", "rahasia-sekali-123")
            await page.click("button[type=submit]")
            await page.wait_for_url("**/dashboard/queue/kecamatan")
            assert await page.locator(f"text={other}").count() == 1
            await page.select_option("select[name=desa]", PASAR_BARU)
            await page.click("text=Saring")
            await page.wait_for_load_state()
            assert await page.locator(f"text={other}").count() == 0
            await page.click(f"text={mine}")
            await page.wait_for_url(f"**/dashboard/usulan/{mine}")
            await page.select_option("select[name=decision]", "perlu_perbaikan")
            await page.fill("textarea[name=note]", "Mohon lampirkan foto jalan")
            await page.click("text=Simpan keputusan")
            await page.wait_for_url("**done=1")
            assert await page.locator("text=Keputusan tersimpan").count() == 1
            await page.screenshot(path=str(tmp_path / "decided.png"), full_page=True)
            await browser.close()

        def revision_asked(s: BotApiStandIn) -> list[str]:
            return [t for t in s.sent_texts(RESIDENT_CHAT) if "perlu perbaikan" in t]

        await standin.wait_for(revision_asked, timeout=15)
        [told] = revision_asked(standin)
        assert mine in told and "Mohon lampirkan foto jalan" in told
        standin.assert_no_violations()
    assert (tmp_path / "decided.png").read_bytes()[:4] == b"\x89PNG"  # noqa: ASYNC240


async def test_bappeda_issues_and_revokes_invites_from_the_dashboard(backend, client):
    await official(backend, Role.ADMIN, wilayah="12.71", username="bappeda")
    await official(backend, Role.OPERATOR_KECAMATAN, wilayah=MEDAN_KOTA, username="camat")
    await log_in(client, "bappeda")
    page = await client.get("/dashboard/admin")
    assert page.status_code == 200 and "Undang petugas" in page.text
    created = await client.post("/dashboard/admin/invites", data={
        "csrf": csrf_of(page.text), "role": "kepala_desa", "wilayah": PASAR_BARU, "days": "7",
    })  # fmt: skip
    code = re.search(r'monospace">([2-9A-Z]{12})<', created.text).group(1)
    listed = await client.get("/dashboard/admin")
    assert code not in listed.text and f"…{code[-4:]}" in listed.text  # shown once, then hinted
    wrong = await client.post("/dashboard/admin/invites", data={
        "csrf": csrf_of(page.text), "role": "kepala_desa", "wilayah": MEDAN_KOTA,
    })  # fmt: skip
    assert wrong.status_code == 422  # a kepala desa's invite needs a desa code
    invite_id = re.search(r"/dashboard/admin/invites/(\d+)/revoke", listed.text).group(1)
    await client.post(f"/dashboard/admin/invites/{invite_id}/revoke",
                      data={"csrf": csrf_of(listed.text)})  # fmt: skip
    claimer = await warga(backend)
    async with backend.unit() as s:
        from backend.errors import NotFound

        with pytest.raises(NotFound):
            await s.officials.claim(claimer.user_id, code)

    client.cookies.clear()
    await log_in(client, "camat")
    assert (await client.get("/dashboard/admin")).status_code == 403


async def test_the_home_page_counts_the_official_s_queues_in_charts(backend, client):
    resident = await warga(backend)
    kepala = await official(backend, Role.KEPALA_DESA, wilayah=PASAR_BARU)
    await official(backend, Role.OPERATOR_KECAMATAN, wilayah=MEDAN_KOTA, username="camat")
    codes = [await submit(backend, resident, n=i) for i in range(3)]
    await forward_to_kecamatan(backend, kepala, codes[:2])
    await log_in(client, "camat")
    home = (await client.get("/dashboard")).text
    assert "Operator kecamatan: Kec. Medan Kota" in home
    assert 'href="/dashboard/queue/kecamatan">Musrenbang Kecamatan</a>: 2' in home
    assert "/dashboard/queue/desa" not in home.split("<main>")[1].split("</ul>")[0]  # not theirs
    assert home.count("<svg") == 3 and ">Medan Kota</text>" in home
