"""The HTTP API through an in-process client: health, and the public status of an usulan."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator

import httpx
import pytest
from PIL import Image

from backend.api.app import create_api
from backend.services.wiring import Backend
from tests.chat import Resident, make_jpeg, submit_usulan

PUBLIC = "/api/v1/public/usulan"  # what anyone holding a tracking code may read
OFFICIAL = "/api/v1/usulan"  # the officials' view, behind a bearer token
TELEGRAM_ID = "5550001234"
DISPLAY_NAME = "Siti Aminah Lubis"


@pytest.fixture
async def client(backend: Backend) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_api(backend))
    async with httpx.AsyncClient(transport=transport, base_url="http://musrenbot.test") as c:
        yield c


async def test_health_reports_the_region_served(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "database": "ok",
        "wilayah": 151,
        "region": "12.71",
    }


async def test_readiness_answers_200_while_the_database_does(client: httpx.AsyncClient) -> None:
    # The 503 side, with a database really stopped, is in tests/test_faults.py.
    ready = await client.get("/health/ready")
    assert (ready.status_code, ready.json()) == (200, {"status": "ready", "database": "ok"})


async def test_the_status_of_an_usulan_is_public_but_not_who_sent_it(
    backend: Backend, client: httpx.AsyncClient
) -> None:
    resident = Resident(backend, TELEGRAM_ID, display_name=DISPLAY_NAME)
    code = await submit_usulan(resident)

    response = await client.get(f"{PUBLIC}/{code}")
    assert response.status_code == 200
    body = response.json()
    assert body["code"] == code
    assert (body["stage"], body["decision"]) == ("desa", "menunggu")
    assert body["verified"] is True  # the history chain checks out
    assert (body["desa_code"], body["desa"]) == ("12.71.01.1001", "Kelurahan Pasar Baru")
    assert body["kecamatan"] == "Medan Kota"
    assert (body["planning_year"], body["category"], body["photos"]) == (2027, "jalan", 0)
    assert [(h["stage"], h["decision"]) for h in body["history"]] == [("desa", "menunggu")]

    raw = response.text
    for secret in (TELEGRAM_ID, DISPLAY_NAME, "Siti", "Lubis"):
        assert secret not in raw

    lower = await client.get(f"{PUBLIC}/{code.lower()}")
    assert lower.status_code == 200 and lower.json()["code"] == code


@pytest.mark.parametrize("code", ["2345-6789", "hello", "K7QM-4RX", "0000-0000"])
async def test_an_unknown_or_malformed_code_is_404_with_a_reason(
    client: httpx.AsyncClient, code: str
) -> None:
    response = await client.get(f"{PUBLIC}/{code}")
    assert response.status_code == 404
    assert response.json()["detail"]


async def test_the_officials_view_of_an_usulan_needs_a_login(
    backend: Backend, client: httpx.AsyncClient
) -> None:
    resident = Resident(backend, TELEGRAM_ID, display_name=DISPLAY_NAME)
    code = await submit_usulan(resident)
    response = await client.get(f"{OFFICIAL}/{code}")
    assert response.status_code == 401
    assert code not in response.text and "Pengaspalan" not in response.text


async def test_a_submitted_photo_is_served_without_exif(
    backend: Backend, client: httpx.AsyncClient
) -> None:
    resident = Resident(backend, TELEGRAM_ID, display_name=DISPLAY_NAME)
    await submit_usulan(resident, photos=(make_jpeg(gps=True),))
    stored = [p.name for p in backend.media.root.rglob("*.jpg")]
    assert len(stored) == 1

    response = await client.get(f"/media/{stored[0]}")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/jpeg"
    with Image.open(io.BytesIO(response.content)) as served:
        assert not served.getexif()
    assert b"TestPhone" not in response.content

    for name in ("0" * 64 + ".jpg", "..%2F..%2Fetc%2Fpasswd", "not-a-hash.jpg"):
        assert (await client.get(f"/media/{name}")).status_code == 404
