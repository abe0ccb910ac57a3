"""The officials' API over HTTP: login, scope, queues, decisions, invites, exports."""

from __future__ import annotations

import asyncio
import csv
import io

import httpx
import pytest
from openpyxl import load_workbook
from sqlalchemy import update

from backend.api.app import create_api
from backend.services.officials import Role
from backend.storage.models import Usulan
from tests.officials import (
    MEDAN_KOTA,
    OPERATOR,
    PASAR_BARU,
    PUSAT_PASAR,
    forward_to_kecamatan,
    official,
    submit,
    warga,
)


@pytest.fixture
async def client(backend):
    transport = httpx.ASGITransport(app=create_api(backend))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


def auth(person) -> dict[str, str]:
    return {"Authorization": f"Bearer {person.token}"}


async def test_without_or_with_a_bad_token_the_api_answers_401(client):
    for headers in ({}, {"Authorization": "Bearer mrb_nope"}):
        response = await client.get("/api/v1/queues/kecamatan", headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"


async def test_password_login_gives_a_token_that_works(backend, client):
    await official(backend, Role.OPERATOR_KECAMATAN, wilayah=MEDAN_KOTA, username="camat.kota")
    bad = await client.post(
        "/api/v1/auth/token", data={"username": "camat.kota", "password": "salah-sekali-123"}
    )
    assert bad.status_code == 401
    good = await client.post(
        "/api/v1/auth/token", data={"username": "Camat.Kota", "password": "rahasia-sekali-123"}
    )
    assert good.status_code == 200
    token = good.json()["access_token"]
    me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json() == {"role": "operator_kecamatan", "wilayah_code": MEDAN_KOTA,
                         "opd_code": None}  # fmt: skip


async def test_kecamatan_moves_usulan_on_and_scope_is_enforced(backend, client):
    resident = await warga(backend)
    kepala = await official(backend, Role.KEPALA_DESA, wilayah=PASAR_BARU)
    camat = await official(backend, Role.OPERATOR_KECAMATAN, wilayah=MEDAN_KOTA)
    dpupr = await official(backend, Role.OPD, opd="dpupr")
    other_kepala = await official(backend, Role.KEPALA_DESA, wilayah=PUSAT_PASAR)
    codes = [await submit(backend, resident, n=i) for i in range(3)]
    await forward_to_kecamatan(backend, kepala, codes)

    queue = await client.get("/api/v1/queues/kecamatan", headers=auth(camat))
    assert queue.status_code == 200
    body = queue.json()
    assert body["total"] == 3 and [i["code"] for i in body["items"]] == codes
    assert body["items"][0]["desa"] == "Kelurahan Pasar Baru"

    detail = await client.get(f"/api/v1/usulan/{codes[0]}", headers=auth(other_kepala))
    assert detail.status_code == 403
    refused = await client.post(
        f"/api/v1/usulan/{codes[0]}/decision",
        headers=auth(dpupr),
        json={"stage": "kecamatan", "decision": "diterima"},
    )
    assert refused.status_code == 403
    missing = await client.post(
        "/api/v1/usulan/ZZZZ-ZZZZ/decision",
        headers=auth(camat),
        json={"stage": "kecamatan", "decision": "diterima"},
    )
    assert missing.status_code == 404
    invalid = await client.post(
        f"/api/v1/usulan/{codes[0]}/decision",
        headers=auth(camat),
        json={"stage": "kecamatan", "decision": "ditolak"},
    )
    assert invalid.status_code == 422 and invalid.json()["field"] == "reason_code"
    nonsense = await client.post(
        f"/api/v1/usulan/{codes[0]}/decision",
        headers=auth(camat),
        json={"stage": "kecamatan", "decision": "maybe"},
    )
    assert nonsense.status_code == 422

    accepted = await client.post(
        f"/api/v1/usulan/{codes[0]}/decision",
        headers=auth(camat),
        json={"stage": "kecamatan", "decision": "diterima"},
    )
    assert accepted.json() == {"code": codes[0], "stage": "perangkat_daerah",
                               "decision": "menunggu"}  # fmt: skip
    again = await client.post(
        f"/api/v1/usulan/{codes[0]}/decision",
        headers=auth(camat),
        json={"stage": "kecamatan", "decision": "diterima"},
    )
    assert again.status_code == 409

    opd_queue = await client.get("/api/v1/queues/perangkat_daerah", headers=auth(dpupr))
    assert [i["code"] for i in opd_queue.json()["items"]] == [codes[0]]
    seen = await client.get(f"/api/v1/usulan/{codes[0]}", headers=auth(dpupr))
    history = [(h["stage"], h["decision"]) for h in seen.json()["history"]]
    assert history[-2:] == [("kecamatan", "diterima"), ("perangkat_daerah", "menunggu")]


async def test_bulk_decisions_report_each_item(backend, client):
    resident = await warga(backend)
    kepala = await official(backend, Role.KEPALA_DESA, wilayah=PASAR_BARU)
    camat = await official(backend, Role.OPERATOR_KECAMATAN, wilayah=MEDAN_KOTA)
    codes = [await submit(backend, resident, n=i) for i in range(3)]
    await forward_to_kecamatan(backend, kepala, codes[:2])
    items = [
        {"code": codes[0], "stage": "kecamatan", "decision": "diterima"},
        {"code": codes[1], "stage": "kecamatan", "decision": "ditolak",
         "reason_code": "pagu_tidak_cukup"},
        {"code": codes[2], "stage": "kecamatan", "decision": "diterima"},  # still at desa
    ]  # fmt: skip
    response = await client.post("/api/v1/decisions", headers=auth(camat), json={"items": items})
    assert [r["status"] for r in response.json()] == [200, 200, 409]
    queue = await client.get("/api/v1/queues/kecamatan?decision=ditolak", headers=auth(camat))
    assert [i["code"] for i in queue.json()["items"]] == [codes[1]]


async def test_two_officials_racing_over_http_one_gets_409(backend, client):
    resident = await warga(backend)
    kepala = await official(backend, Role.KEPALA_DESA, wilayah=PASAR_BARU)
    camat = await official(backend, Role.OPERATOR_KECAMATAN, wilayah=MEDAN_KOTA)
    bappeda = await official(backend, Role.ADMIN, wilayah="12.71")
    code = await submit(backend, resident)
    await forward_to_kecamatan(backend, kepala, [code])
    responses = await asyncio.gather(
        client.post(f"/api/v1/usulan/{code}/decision", headers=auth(camat),
                    json={"stage": "kecamatan", "decision": "diterima"}),
        client.post(f"/api/v1/usulan/{code}/decision", headers=auth(bappeda),
                    json={"stage": "kecamatan", "decision": "ditunda", "note": "tahun depan"}),
    )  # fmt: skip
    assert sorted(r.status_code for r in responses) == [200, 409]


async def test_invites_through_the_api_are_admin_only_and_revocable(backend, client):
    bappeda = await official(backend, Role.ADMIN, wilayah="12.71")
    camat = await official(backend, Role.OPERATOR_KECAMATAN, wilayah=MEDAN_KOTA)
    wanted = {"role": "kepala_desa", "wilayah_code": PASAR_BARU}
    assert (
        await client.post("/api/v1/invites", headers=auth(camat), json=wanted)
    ).status_code == 403
    created = await client.post("/api/v1/invites", headers=auth(bappeda), json=wanted)
    assert created.status_code == 201
    invite = created.json()
    assert len(invite["code"]) == 12 and invite["claimed"] is False
    wrong = await client.post(
        "/api/v1/invites", headers=auth(bappeda), json={"role": "opd", "opd_code": "tidak-ada"}
    )
    assert wrong.status_code == 422
    listed = await client.get("/api/v1/invites", headers=auth(bappeda))
    assert invite["code"] not in listed.text  # only a hint of the code is ever shown again
    revoked = await client.delete(f"/api/v1/invites/{invite['id']}", headers=auth(bappeda))
    assert revoked.json()["revoked"] is True
    claimer = await warga(backend)
    async with backend.unit() as s:
        from backend.errors import NotFound

        with pytest.raises(NotFound):
            await s.officials.claim(claimer.user_id, invite["code"])


async def test_exports_carry_sipd_columns_and_mask_phones(backend, client):
    resident = await warga(backend, name="Siti Aminah")
    kepala = await official(backend, Role.KEPALA_DESA, wilayah=PASAR_BARU)
    camat = await official(backend, Role.OPERATOR_KECAMATAN, wilayah=MEDAN_KOTA)
    code = await submit(backend, resident, beneficiaries="60", beneficiaries_unit="KK")
    async with backend.unit() as s:
        await s.session.execute(
            update(Usulan).where(Usulan.code == code).values(submitter_phone="081234567890")
        )
    await forward_to_kecamatan(backend, kepala, [code])

    as_csv = await client.get("/api/v1/queues/kecamatan/export.csv", headers=auth(camat))
    assert as_csv.status_code == 200 and "attachment" in as_csv.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(as_csv.text)))
    assert rows[0][:6] == ["No", "Kode", "Tanggal Usul", "Pengusul", "Usulan", "Permasalahan"]
    assert "Rekomendasi Kecamatan" in rows[0]
    assert rows[1][1] == code and "081234567890" not in as_csv.text
    assert rows[1][3] == "Siti Aminah (0812****7890)"
    assert rows[1][rows[0].index("Desa/Kelurahan")] == "Pasar Baru"
    assert rows[1][rows[0].index("Rekomendasi Desa/Kelurahan")] == "diterima"
    assert rows[1][rows[0].index("Penerima Manfaat")] == "60 KK"  # what was counted, kept

    as_xlsx = await client.get("/api/v1/queues/kecamatan/export.xlsx", headers=auth(camat))
    sheet = load_workbook(io.BytesIO(as_xlsx.content)).active
    values = list(sheet.iter_rows(values_only=True))
    assert values[0][1] == "Kode" and values[1][1] == code
    assert values[1][values[0].index("Volume")] == 120


async def test_outbox_status_and_retry_are_for_admins(backend, client):
    from backend.storage.models import Notification

    resident = await warga(backend)
    kepala = await official(backend, Role.KEPALA_DESA, wilayah=PASAR_BARU)
    bappeda = await official(backend, Role.ADMIN, wilayah="12.71")
    code = await submit(backend, resident)
    async with backend.unit() as s:
        from backend.domain import Decision, Stage
        from backend.services.workflow import DecisionRequest

        await s.workflow.decide(kepala.actor, code, DecisionRequest(
            Stage.DESA, Decision.DITOLAK, reason_code="duplikat"))  # fmt: skip
        await s.session.execute(
            update(Notification).values(state="dead", last_error="Bad Request: chat not found")
        )
    assert (await client.get("/api/v1/outbox", headers=auth(kepala))).status_code == 403
    status = (await client.get("/api/v1/outbox", headers=auth(bappeda))).json()
    assert status["counts"]["dead"] == 1 and "chat not found" in status["dead"][0]["last_error"]
    retried = await client.post("/api/v1/outbox/retry", headers=auth(bappeda), json={})
    assert retried.json() == {"requeued": 1}
    after = (await client.get("/api/v1/outbox", headers=auth(bappeda))).json()
    assert after["counts"]["pending"] == 1 and after["counts"]["dead"] == 0


async def test_a_revoked_official_can_no_longer_act(backend, client):
    camat = await official(backend, Role.OPERATOR_KECAMATAN, wilayah=MEDAN_KOTA)
    assert (await client.get("/api/v1/me", headers=auth(camat))).status_code == 200
    async with backend.unit() as s:
        officials = await s.officials.list_officials(OPERATOR)
        [listed] = [o for o in officials if o.role == "operator_kecamatan"]
        await s.officials.revoke_official(listed.id, OPERATOR)
    refused = await client.get("/api/v1/queues/kecamatan", headers=auth(camat))
    assert refused.status_code == 401
