"""Residents backing an usulan instead of sending a duplicate, and revising a returned one,
through the real services on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import func, select

from backend.domain import Decision, Stage
from backend.services.officials import Actor, Role
from backend.services.wiring import Backend
from backend.services.workflow import DecisionRequest
from backend.storage.models import Support, Usulan, UsulanEvent, UsulanPhoto
from handlers import intake
from tests.chat import (
    CODE_RE,
    PASAR_BARU,
    PROBLEM_TEXT,
    REQUEST_TEXT,
    Resident,
    make_jpeg,
    submit_usulan,
    walk_to,
)
from tests.officials import OPERATOR


async def usulan(backend: Backend, code: str) -> Usulan:
    async with backend.sessionmaker() as session:
        row = await session.scalar(select(Usulan).where(Usulan.code == code))
    assert row is not None
    return row


async def usulan_count(backend: Backend) -> int:
    async with backend.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(Usulan)) or 0)


async def supporters(backend: Backend, code: str) -> int:
    row = await usulan(backend, code)
    async with backend.sessionmaker() as session:
        rows = await session.scalar(
            select(func.count()).select_from(Support).where(Support.usulan_id == row.id)
        )
    assert rows == row.support_count  # the count kept on the usulan matches the rows
    return int(rows or 0)


async def kepala_desa(backend: Backend) -> Actor:
    async with backend.unit() as s:
        user = await s.officials.official_user("Lurah Pasar Baru")
        return await s.officials.grant(
            user, Role.KEPALA_DESA, wilayah_code=PASAR_BARU, granted_by=OPERATOR
        )


async def decide(backend: Backend, code: str, decision: Decision, **kw: object) -> None:
    actor = await kepala_desa(backend)
    async with backend.unit() as s:
        await s.workflow.decide(actor, code, DecisionRequest(Stage.DESA, decision, **kw))  # type: ignore[arg-type]


# --- similar usulan before sending -------------------------------------------------------


async def test_a_resident_backs_a_similar_usulan_instead_of_sending_a_duplicate(
    backend: Backend,
) -> None:
    first = await submit_usulan(Resident(backend, "1001"))
    neighbour = Resident(backend, "1002", display_name="Budi")
    await walk_to(neighbour, intake.SUMMARY)
    draft = await neighbour.draft()

    await neighbour.press("submit")
    assert await neighbour.state() == intake.SIMILAR
    assert f"• {first} – {REQUEST_TEXT[:40]}" in neighbour.text
    assert "(👍 0)" in neighbour.text
    assert neighbour.payloads == [f"dk:{first.replace('-', '')}", "dk:own", "dk:back"]
    assert await neighbour.draft() == draft  # nothing is lost while choosing

    await neighbour.press(f"dk:{first.replace('-', '')}")
    assert f"Anda mendukung usulan {first} (pendukung: 1 warga)" in neighbour.text
    assert await neighbour.state() == "idle"
    assert await neighbour.draft() == {}
    assert await usulan_count(backend) == 1  # no duplicate was sent
    assert await supporters(backend, first) == 1


async def test_a_resident_may_send_their_own_anyway_or_go_back(backend: Backend) -> None:
    first = await submit_usulan(Resident(backend, "1001"))
    neighbour = Resident(backend, "1002")
    await walk_to(neighbour, intake.SUMMARY)
    await neighbour.press("submit")
    await neighbour.press("dk:back")
    assert await neighbour.state() == intake.SUMMARY
    await neighbour.send("halo")  # at the summary a text gets the summary's hint
    await neighbour.press("submit")
    await neighbour.send("yang pertama saja")
    assert neighbour.keys[0] == "support.use_buttons"
    await neighbour.press("dk:ZZZZZZZZ")  # forged: not one of the offered codes
    assert neighbour.keys == ["common.stale_button"]
    assert await supporters(backend, first) == 0

    await neighbour.press("dk:own")
    code = CODE_RE.search(neighbour.text)
    assert code is not None and code.group(0) != first
    assert "Usulan Anda sudah terkirim" in neighbour.text
    assert await usulan_count(backend) == 2


async def test_one_s_own_usulan_and_other_categories_are_not_offered(backend: Backend) -> None:
    resident = Resident(backend, "1001")
    await submit_usulan(resident)
    await submit_usulan(resident)  # the same text again: no offer to back one's own
    assert "Usulan Anda sudah terkirim" in resident.text

    other = Resident(backend, "1002")
    await walk_to(other, intake.CATEGORY)
    await other.press("cat:drainase")
    await walk_to(other, intake.SUMMARY)
    await other.press("submit")
    assert "Usulan Anda sudah terkirim" in other.text  # same words, another category
    assert await usulan_count(backend) == 3


async def test_a_closed_usulan_is_not_offered(backend: Backend) -> None:
    first = await submit_usulan(Resident(backend, "1001"))
    await decide(backend, first, Decision.DITOLAK, reason_code="duplikat")
    neighbour = Resident(backend, "1002")
    await walk_to(neighbour, intake.SUMMARY)
    await neighbour.press("submit")
    assert "Usulan Anda sudah terkirim" in neighbour.text


# --- /dukung KODE -------------------------------------------------------------------------


async def test_dukung_by_code_raises_the_support_count_once(backend: Backend) -> None:
    owner = Resident(backend, "1001")
    code = await submit_usulan(owner)
    fan = Resident(backend, "1002")
    await fan.send("/start")
    await fan.press("consent:yes")
    await fan.send("/batal")

    await fan.send(f"/dukung {code.lower().replace('-', ' ')}")
    assert f"Anda mendukung usulan {code} (pendukung: 1 warga)" in fan.text
    await fan.send(f"/dukung {code}")
    assert fan.texts == [fan.t("support.already", code=code)]
    assert await supporters(backend, code) == 1

    await owner.send(f"/dukung {code}")
    assert owner.texts == [owner.t("support.own", code=code)]
    await fan.send("/dukung 2345-6789")
    assert fan.texts == [fan.t("status.not_found", code="2345-6789")]
    await fan.send("/dukung")
    assert fan.texts == [fan.t("support.ask_code")]
    assert await supporters(backend, code) == 1


async def test_dukung_keeps_a_draft_where_it_was(backend: Backend) -> None:
    code = await submit_usulan(Resident(backend, "1001"))
    resident = Resident(backend, "1002")
    await walk_to(resident, intake.VOLUME)
    await resident.send(f"/dukung {code}")
    assert "(pendukung: 1 warga)" in resident.text
    assert await resident.state() == intake.VOLUME


async def test_a_closed_usulan_cannot_be_backed(backend: Backend) -> None:
    code = await submit_usulan(Resident(backend, "1001"))
    await decide(backend, code, Decision.DITOLAK, reason_code="bukan_kewenangan")
    fan = Resident(backend, "1002")
    await fan.send("/start")
    await fan.press("consent:yes")
    await fan.send(f"/dukung {code}")
    assert fan.texts == [fan.t("support.closed", code=code)]
    assert await supporters(backend, code) == 0


async def test_dukung_before_consent_asks_for_it_then_supports(backend: Backend) -> None:
    code = await submit_usulan(Resident(backend, "1001"))
    newcomer = Resident(backend, "1003", language_code="en")
    await newcomer.send(f"/dukung {code}")
    assert await newcomer.state() == "account.consent"
    assert await supporters(backend, code) == 0
    await newcomer.press("consent:yes")
    assert f"You now support proposal {code} (supporters: 1)" in newcomer.text
    assert await newcomer.state() == "idle"
    assert await supporters(backend, code) == 1


# --- revising an usulan returned for revision ---------------------------------------------


async def test_a_returned_usulan_is_revised_in_chat_and_waits_again(backend: Backend) -> None:
    resident = Resident(backend, "1001")
    code = await submit_usulan(resident, photos=(make_jpeg(color=(200, 0, 0)),))
    await decide(
        backend, code, Decision.PERLU_PERBAIKAN, note="Sebutkan lebar jalan dan tambah foto."
    )

    await resident.send("/usulan_saya")
    assert f"{code} perlu Anda perbaiki" in resident.text
    assert "Sebutkan lebar jalan dan tambah foto." in resident.text  # before pressing Perbaiki
    fix = f"fix:{code.replace('-', '')}"
    assert resident.payloads == [fix]
    await resident.press(fix)
    # The note first, then the usulan as it is, with an edit button for every field.
    assert resident.texts[0].startswith("✏️ Perbaikan usulan")
    assert "Catatan petugas: Sebutkan lebar jalan dan tambah foto." in resident.texts[0]
    assert REQUEST_TEXT in resident.text
    assert await resident.state() == intake.SUMMARY
    assert {"edit:usulan", "edit:volume", "edit:foto", "edit:alamat", "edit:kategori",
            "edit:lokasi", "edit:desa"} <= set(resident.payloads)  # fmt: skip

    await resident.press("edit:usulan")
    await resident.send("pendek")
    assert "intake.text_too_short" in resident.keys
    revised = "Pengaspalan Gang Melati lebar 3 meter sepanjang 120 meter dan parit di kedua sisi."
    await resident.send(revised)
    assert await resident.state() == intake.SUMMARY
    await resident.press("edit:volume")
    await resident.send("150 meter")
    await resident.press("edit:foto")  # the photo there stays; one more is added
    await resident.photo(make_jpeg(color=(0, 200, 0)))
    await resident.press("skip:intake.photos")
    await resident.press("submit")
    assert f"Usulan {code} sudah diperbaiki dan menunggu dibahas lagi" in resident.text
    assert await resident.state() == "idle"

    row = await usulan(backend, code)
    assert (row.stage, row.decision) == ("desa", "menunggu")
    assert (row.usulan, row.permasalahan) == (revised, PROBLEM_TEXT)
    assert float(row.volume) == 150
    async with backend.sessionmaker() as session:
        photos = (
            await session.scalars(select(UsulanPhoto).where(UsulanPhoto.usulan_id == row.id))
        ).all()
        event = await session.scalar(
            select(UsulanEvent).where(
                UsulanEvent.usulan_id == row.id, UsulanEvent.kind == "diperbaiki"
            )
        )
    assert len(photos) == 2
    assert event is not None
    changes = event.payload["changes"]
    assert changes["usulan"] == [REQUEST_TEXT, revised]
    assert changes["volume"] == ["120", "150"]
    assert [len(changes["photos"][0]), len(changes["photos"][1])] == [1, 2]
    assert set(changes) == {"usulan", "volume", "photos"}  # only what changed

    # The old button does nothing more; the usulan is waiting, not returned.
    await resident.press(fix)
    assert resident.texts == [resident.t("revise.not_needed", code=code)]
    await resident.send("/usulan_saya")
    assert resident.payloads == []


async def test_a_revision_can_remove_the_photos_and_move_the_category(backend: Backend) -> None:
    resident = Resident(backend, "1003")
    code = await submit_usulan(resident, photos=(make_jpeg(color=(9, 9, 9)),))
    await decide(backend, code, Decision.PERLU_PERBAIKAN, note="Foto salah; ini soal lampu jalan.")
    await resident.press(f"fix:{code.replace('-', '')}")
    await resident.press("edit:foto")
    await resident.press("photos:clear")
    assert resident.texts[0] == resident.t("intake.photos_cleared")
    await resident.press("skip:intake.photos")
    await resident.press("edit:kategori")
    await resident.press("cat:lampu_jalan")
    await resident.press("submit")

    row = await usulan(backend, code)
    async with backend.sessionmaker() as session:
        left = (
            await session.scalars(select(UsulanPhoto).where(UsulanPhoto.usulan_id == row.id))
        ).all()
    assert left == []
    assert row.category == "lampu_jalan" and row.decision == "menunggu"
    assert (row.urusan_code, row.opd) == ("1.04", "perkim")  # follow the new category


async def test_a_revision_given_up_leaves_the_usulan_waiting_for_it(backend: Backend) -> None:
    resident = Resident(backend, "1004")
    code = await submit_usulan(resident)
    await decide(backend, code, Decision.PERLU_PERBAIKAN, note="Lengkapi ukurannya.")
    await resident.press(f"fix:{code.replace('-', '')}")
    await resident.press("cancel")
    assert resident.texts == [resident.t("revise.abandoned")]
    assert (await usulan(backend, code)).decision == "perlu_perbaikan"


async def test_only_the_submitter_revises_and_a_draft_is_not_lost(backend: Backend) -> None:
    resident = Resident(backend, "1001")
    code = await submit_usulan(resident)
    await decide(backend, code, Decision.PERLU_PERBAIKAN, note="Lengkapi fotonya.")
    fix = f"fix:{code.replace('-', '')}"

    stranger = Resident(backend, "1002")
    await stranger.send("/start")
    await stranger.press("consent:yes")
    await stranger.press(fix)
    assert stranger.texts == [stranger.t("status.not_found", code=code)]
    assert await stranger.state() == intake.DESA  # their own draft is where it was

    await walk_to(resident, intake.VOLUME)
    await resident.press(fix)
    assert resident.keys == ["revise.finish_draft_first"]
    assert await resident.state() == intake.VOLUME
    await resident.send("/batal")
    await resident.press("cancel:yes")
    await resident.press(fix)
    await resident.press("submit")  # sent back as it was: it waits again all the same
    assert resident.texts == [resident.t("revise.sent", code=code)]
    assert (await usulan(backend, code)).decision == "menunggu"
