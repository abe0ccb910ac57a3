"""Issue 8, defect 8: every limit the database imposes is checked where the value is entered.

One table (backend.domain.LIMITS) matches the columns of backend.storage.models; the chat, the
API, the dashboard and Open311 refuse what does not fit, with a message naming the limit,
instead of failing at the database or cutting what a person wrote.
"""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest
from sqlalchemy import Integer, Numeric, String, Text, select

from backend.api.app import create_api
from backend.domain import INT32_MAX, LIMITS, NumberLimit, TextLimit
from backend.services.officials import Role
from backend.services.wiring import Backend
from backend.storage.models import Base, Usulan
from handlers.intake import ADDRESS, BENEFICIARIES, SUMMARY, VOLUME
from tests.chat import CODE_RE, Resident, walk_to
from tests.officials import MEDAN_KOTA, PASAR_BARU, forward_to_kecamatan, official, submit, warga


def _column(dotted: str):  # type: ignore[no-untyped-def]
    table, column = dotted.split(".")
    return Base.metadata.tables[table].columns[column]


@pytest.mark.parametrize("name", sorted(LIMITS))
def test_each_limit_matches_the_column_it_guards(name: str) -> None:
    limit = LIMITS[name]
    kind = _column(limit.column).type
    if isinstance(limit, TextLimit):
        if isinstance(kind, String) and not isinstance(kind, Text):
            assert kind.length == limit.max_chars, f"{limit.column} is String({kind.length})"
        else:
            assert isinstance(kind, Text), f"{limit.column} holds no text"
        assert 0 <= limit.min_chars <= limit.max_chars
    else:
        assert isinstance(limit, NumberLimit)
        if isinstance(kind, Numeric):
            assert kind.scale == limit.scale, f"{limit.column} keeps {kind.scale} decimals"
            assert kind.precision is not None
            whole_digits = kind.precision - kind.scale
            assert abs(limit.high) < Decimal(10) ** whole_digits
            assert abs(limit.low) < Decimal(10) ** whole_digits
        else:
            assert isinstance(kind, Integer), f"{limit.column} is neither Numeric nor Integer"
            assert limit.scale == 0
            assert -INT32_MAX - 1 <= limit.low <= limit.high <= INT32_MAX


def test_every_text_column_of_an_usulan_that_people_write_has_a_limit() -> None:
    written = {"permasalahan", "usulan", "dusun", "rt", "rw", "street", "unit",
               "submitter_name", "submitter_phone", "volume", "latitude", "longitude",
               "beneficiaries"}  # fmt: skip
    guarded = {limit.column.split(".")[1] for limit in LIMITS.values()
               if limit.column.startswith("usulan.")}  # fmt: skip
    assert written <= guarded


# --- chat -------------------------------------------------------------------------------


async def test_a_volume_the_column_cannot_hold_is_refused_in_chat_and_the_draft_can_be_sent(
    backend: Backend,
) -> None:
    r = Resident(backend)
    await walk_to(r, VOLUME)
    await r.send("999999999999,999 meter")
    assert r.texts[0] == r.t("intake.volume_limit", digits=12, decimals=2)
    assert "12" in r.texts[0] and r.t("intake.ask_volume") in r.last_text
    assert await r.state() == VOLUME
    assert "volume" not in await r.draft()
    await r.send("999999999999,99 meter")  # the largest that fits is taken
    assert (await r.draft())["volume"] == "999999999999.99"


async def test_the_limit_message_is_in_the_resident_s_language(backend: Backend) -> None:
    r = Resident(backend, language_code="en")
    await walk_to(r, VOLUME)
    await r.send("1.000.000.000.000 meter")
    assert r.language == "en"
    assert r.texts[0] == r.t("intake.volume_limit", digits=12, decimals=2)
    assert "digits before the decimal point" in r.texts[0]


async def test_a_street_longer_than_its_column_is_refused_not_cut(backend: Backend) -> None:
    r = Resident(backend)
    await walk_to(r, ADDRESS)
    await r.send("Jl. " + "Melati " * 40)  # 284 characters: under the 300 of the message
    assert r.texts[0] == r.t("intake.street_too_long", max=200)
    assert await r.state() == ADDRESS


async def test_too_many_beneficiaries_are_refused_with_the_limit(backend: Backend) -> None:
    r = Resident(backend)
    await walk_to(r, BENEFICIARIES)
    await r.send("100000000")
    assert r.texts[0] == r.t("intake.beneficiaries_limit", max=99999999)
    assert await r.state() == BENEFICIARIES


async def test_a_draft_that_once_could_not_be_sent_now_reaches_the_database(
    backend: Backend,
) -> None:
    # What an older conversation may still hold: refused at Kirim with the field to fix.
    r = Resident(backend)
    await walk_to(r, SUMMARY)
    state = await r.conversation()
    state.data["draft"]["volume"] = "999999999999.999"
    await r.restore(state)
    await r.press("submit")
    assert r.texts[0] == r.t("summary.invalid.volume")
    assert await r.state() == VOLUME
    await r.send("120 meter")
    await r.press("submit")
    code = CODE_RE.search(r.text)
    assert code is not None, r.text
    async with backend.unit() as s:
        row = await s.session.scalar(select(Usulan).where(Usulan.code == code.group()))
        assert row is not None and row.volume == Decimal(120)


# --- API, dashboard, Open311 ------------------------------------------------------------


@pytest.fixture
async def client(backend: Backend):  # type: ignore[no-untyped-def]
    transport = httpx.ASGITransport(app=create_api(backend))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


async def _waiting_at_kecamatan(backend: Backend) -> tuple[str, str]:
    resident = await warga(backend)
    kepala = await official(backend, Role.KEPALA_DESA, wilayah=PASAR_BARU)
    camat = await official(backend, Role.OPERATOR_KECAMATAN, wilayah=MEDAN_KOTA)
    code = await submit(backend, resident)
    await forward_to_kecamatan(backend, kepala, [code])
    assert camat.token is not None
    return code, camat.token


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"volume": 999999999999.999}, "changes.volume"),
        ({"volume": 12.345}, "changes.volume"),
        ({"unit": "u" * 33}, "changes.unit"),
        ({"street": "j" * 201}, "changes.street"),
        ({"street": 12}, "changes.street"),
        ({"latitude": 91.0}, "changes.latitude"),
        ({"colour": "red"}, "changes.colour"),
    ],
)
async def test_the_api_refuses_changes_the_columns_cannot_hold(
    backend: Backend, client: httpx.AsyncClient, changes: dict[str, object], field: str
) -> None:
    code, token = await _waiting_at_kecamatan(backend)
    answer = await client.post(
        f"/api/v1/usulan/{code}/decision",
        json={"stage": "kecamatan", "decision": "diterima_dengan_perubahan", "changes": changes},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == field and answer.json()["reason"]
    async with backend.unit() as s:
        row = await s.session.scalar(select(Usulan).where(Usulan.code == code))
        assert row is not None and row.decision == "menunggu"


async def test_the_dashboard_refuses_a_volume_beyond_the_column(
    backend: Backend, client: httpx.AsyncClient
) -> None:
    from backend.api.deps import csrf_for

    code, token = await _waiting_at_kecamatan(backend)
    client.cookies.set("mb_session", token)
    answer = await client.post(
        f"/dashboard/usulan/{code}/decision",
        data={"stage": "kecamatan", "decision": "diterima_dengan_perubahan",
              "change_volume": "1000000000000", "csrf": csrf_for(token)},
    )  # fmt: skip
    assert answer.status_code == 422
    assert "999999999999.99" in answer.text


async def test_open311_refuses_a_volume_beyond_the_column(
    backend: Backend, client: httpx.AsyncClient
) -> None:
    async with backend.unit() as s:
        key = await s.officials.create_client_key("lapor")
    answer = await client.post(
        "/open311/v2/requests.json",
        data={"api_key": key, "service_code": "jalan", "attribute[desa]": PASAR_BARU,
              "description": "Pengaspalan jalan lingkungan",
              "attribute[permasalahan]": "Jalan rusak berlubang dan tergenang",
              "attribute[volume]": "999999999999.999"},
    )  # fmt: skip
    assert answer.status_code == 400
    assert answer.json()[0]["description"].startswith("attribute[volume]: a number from 0.01")


async def test_a_resident_s_usulan_keeps_the_largest_volume_the_column_holds(
    backend: Backend,
) -> None:
    resident = await warga(backend)
    big = await submit(backend, resident, volume="999999999999.99")
    async with backend.unit() as s:
        row = await s.session.scalar(select(Usulan).where(Usulan.code == big))
        assert row is not None and row.volume == Decimal("999999999999.99")
