"""Issue 8, defect 10: the API keeps the contract its OpenAPI document states.

Timestamps carry a time zone on both databases; every refusal has one documented shape
(ErrorOut), and every status a route can answer is declared.
"""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import select

from backend.api.app import create_api
from backend.services.officials import Role
from backend.services.wiring import Backend
from backend.storage.models import Usulan, UsulanEvent
from tests.officials import MEDAN_KOTA, PASAR_BARU, forward_to_kecamatan, official, submit, warga

# The readiness probe's 503 is its answer ("not ready"), with a body of its own.
READINESS = ("/health/ready", "503")


@pytest.fixture
async def client(backend: Backend):  # type: ignore[no-untyped-def]
    transport = httpx.ASGITransport(app=create_api(backend))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


async def test_timestamps_are_time_zone_aware_in_utc_on_both_databases(
    backend: Backend, client: httpx.AsyncClient
) -> None:
    resident = await warga(backend)
    camat = await official(backend, Role.OPERATOR_KECAMATAN, wilayah=MEDAN_KOTA)
    kepala = await official(backend, Role.KEPALA_DESA, wilayah=PASAR_BARU)
    code = await submit(backend, resident)
    await forward_to_kecamatan(backend, kepala, [code])
    async with backend.unit() as s:
        row = await s.session.scalar(select(Usulan).where(Usulan.code == code))
        events = list(await s.session.scalars(select(UsulanEvent)))
    assert row is not None and row.created_at.utcoffset() is not None
    assert row.created_at.tzinfo == UTC
    assert all(e.at.tzinfo == UTC for e in events)
    detail = await client.get(
        f"/api/v1/usulan/{code}", headers={"Authorization": f"Bearer {camat.token}"}
    )
    assert detail.status_code == 200
    stamps = [detail.json()["created_at"], *(h["at"] for h in detail.json()["history"])]
    for stamp in stamps:
        moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        assert moment.utcoffset() is not None, stamp
        assert abs((datetime.now(UTC) - moment).total_seconds()) < 600, stamp


async def test_a_naive_moment_is_taken_as_utc_and_compares_with_stored_ones(
    backend: Backend,
) -> None:
    resident = await warga(backend)
    code = await submit(backend, resident)
    naive_past = datetime.now(UTC).replace(tzinfo=None).replace(year=2000)
    async with backend.unit() as s:
        found = await s.session.scalar(
            select(Usulan.code).where(Usulan.code == code, Usulan.created_at > naive_past)
        )
    assert found == code


async def test_domain_errors_have_the_documented_shape(
    backend: Backend, client: httpx.AsyncClient
) -> None:
    resident = await warga(backend)
    camat = await official(backend, Role.OPERATOR_KECAMATAN, wilayah=MEDAN_KOTA)
    kepala = await official(backend, Role.KEPALA_DESA, wilayah=PASAR_BARU)
    code = await submit(backend, resident)
    await forward_to_kecamatan(backend, kepala, [code])
    headers = {"Authorization": f"Bearer {camat.token}"}
    refused = await client.post(
        f"/api/v1/usulan/{code}/decision",
        json={"stage": "kecamatan", "decision": "ditolak", "reason_code": "entah"},
        headers=headers,
    )
    assert refused.status_code == 422
    assert set(refused.json()) == {"detail", "field", "reason"}
    assert refused.json()["field"] == "reason_code"
    invalid = await client.post("/api/v1/outbox/retry", json={"ids": [False]}, headers=headers)
    assert invalid.status_code == 422
    assert set(invalid.json()) == {"detail", "field", "reason"}
    assert invalid.json()["field"] == "ids.0"
    missing = await client.get("/api/v1/usulan/AAAA-AAAA", headers=headers)
    assert missing.status_code == 404 and set(missing.json()) <= {"detail", "field", "reason"}


async def test_every_route_declares_its_refusals_with_the_error_schema(
    backend: Backend, client: httpx.AsyncClient
) -> None:
    document = (await client.get("/openapi.json")).json()
    assert "ErrorOut" in document["components"]["schemas"]
    error_ref = "#/components/schemas/ErrorOut"
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            for status in ("400", "413", "422", "503"):
                assert status in responses, (method, path, status)
            if (
                path.startswith("/api/v1/")
                and "public" not in path
                and path != "/api/v1/auth/token"
            ):
                assert {"401", "403"} <= set(responses), (method, path)
            for status, response in responses.items():
                if not status.startswith(("4", "5")) or (path, status) == READINESS:
                    continue
                schema = response["content"]["application/json"]["schema"]
                refs = [schema.get("$ref"), *(s.get("$ref") for s in schema.get("anyOf", []))]
                assert error_ref in refs, (method, path, status, schema)
    decision = document["paths"]["/api/v1/usulan/{code}/decision"]["post"]["responses"]
    assert {"404", "409"} <= set(decision)
    assert "429" in document["paths"]["/api/v1/auth/token"]["post"]["responses"]
