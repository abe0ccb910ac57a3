"""Whole conversations of a resident, through the real services, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import io
import re
from decimal import Decimal

import pytest
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from backend.domain import MAX_PHOTO_BYTES, MAX_TEXT_CHARS
from backend.services import media
from backend.services.media import StoredPhoto
from backend.services.wiring import Backend
from backend.storage.models import Conversation, User, Usulan, UsulanEvent
from handlers.events import Photo
from handlers.intake import CATEGORY, DESA, PHOTOS, PROBLEM, REQUEST, SUMMARY, VOLUME
from tests.chat import (
    ADDRESS_TEXT,
    CODE_RE,
    PASAR_BARU,
    PROBLEM_TEXT,
    REQUEST_TEXT,
    Resident,
    make_jpeg,
    png_bomb,
    submit_usulan,
    walk_to,
)
from tests.officials import OPERATOR

SEI_RENGAS_II = "12.71.10.1003"  # Kec. Medan Area
TRACKING_CODE = re.compile(r"[2-9A-HJKMNP-TV-Z]{4}-[2-9A-HJKMNP-TV-Z]{4}")


async def usulan_row(backend: Backend, code: str) -> Usulan:
    async with backend.sessionmaker() as session:
        row = await session.scalar(
            select(Usulan).where(Usulan.code == code).options(selectinload(Usulan.photos))
        )
    assert row is not None, code
    return row


async def user_row(backend: Backend, external_id: str) -> User | None:
    async with backend.sessionmaker() as session:
        return await session.scalar(
            select(User).where(User.channel == "test", User.external_id == external_id)
        )


# --- the happy path ---------------------------------------------------------------------


async def test_a_resident_submits_a_complete_usulan(backend: Backend) -> None:
    r = Resident(backend)
    await r.send("/start")
    assert "27/2022" in r.text  # the privacy notice comes before anything is stored
    assert r.payloads == ["consent:yes", "consent:no"]

    await r.press_label("✅ Setuju")
    assert r.t("intake.ask_desa") in r.text

    await r.send("sei rengas")
    labels = [lbl for lbl, _ in r.buttons]
    assert "Kelurahan Sei Rengas I (Kec. Medan Kota)" in labels
    assert "Kelurahan Sei Rengas II (Kec. Medan Area)" in labels
    await r.press_label("Sei Rengas II")
    assert "Kelurahan Sei Rengas II" in r.text
    assert r.asks_location

    await r.location(3.585762, 98.696224)  # in Sei Rengas II
    assert r.t("intake.location_saved") in r.text
    await r.send(ADDRESS_TEXT)
    assert r.t("intake.ask_category") in r.text
    await r.press_label("Jalan & jembatan")
    assert "Jalan & jembatan" in r.text
    await r.send(PROBLEM_TEXT)
    await r.send(REQUEST_TEXT)
    assert r.t("intake.ask_volume") in r.text
    await r.send("120 meter")

    with_gps = make_jpeg(color=(180, 40, 40), gps=True)
    plain = make_jpeg(color=(40, 160, 40))
    await r.photo(with_gps)
    assert r.texts == [r.t("intake.ask_photos", max=3, have=1)]
    assert [lbl for lbl, _ in r.buttons] == ["Selesai", "🗑 Hapus foto yang ada"]
    await r.photo(plain)
    await r.press_label("Selesai")
    assert r.t("intake.ask_beneficiaries") in r.text
    await r.send("sekitar 200 KK")

    summary = r.text
    for shown in (
        "Kelurahan Sei Rengas II, Kec. Medan Area",
        "3.58576, 98.69622",
        "Lingkungan 3, RT 002, RW 005, Jl. Melati",
        "Jalan & jembatan",
        PROBLEM_TEXT,
        REQUEST_TEXT,
        "120 meter",
        "Foto: 2",
        "Penerima manfaat: 200",
    ):
        assert shown in summary
    await r.press_label("Kirim usulan")

    match = CODE_RE.search(r.text)
    assert match is not None, r.text
    code = match.group(0)
    assert TRACKING_CODE.fullmatch(code)
    assert "Kelurahan Sei Rengas II" in r.text and "2027" in r.text
    assert (await r.state(), await r.draft()) == ("idle", {})  # nothing left behind

    submitter = await user_row(backend, r.sender.external_id)
    assert submitter is not None and submitter.consent_at is not None
    row = await usulan_row(backend, code)
    assert (row.planning_year, row.origin, row.submitter_id) == (2027, "warga", submitter.id)
    assert row.desa_code == SEI_RENGAS_II
    assert (row.dusun, row.rt, row.rw, row.street) == ("Lingkungan 3", "002", "005", "Jl. Melati")
    assert row.latitude == pytest.approx(3.585762)
    assert row.longitude == pytest.approx(98.696224)
    jalan = backend.categories_by_key["jalan"]  # the deployment's category mapping
    assert (row.category, row.urusan_code, row.opd) == ("jalan", jalan.urusan_code, jalan.opd)
    assert row.urusan_code == "1.03" and row.opd
    assert (row.permasalahan, row.usulan) == (PROBLEM_TEXT, REQUEST_TEXT)
    assert (row.volume, row.unit, row.beneficiaries) == (Decimal(120), "meter", 200)
    assert row.beneficiaries_unit == "KK"  # "sekitar 200 KK": households, not people
    assert (row.stage, row.decision, row.support_count) == ("desa", "menunggu", 0)

    async with backend.sessionmaker() as session:
        events = (
            await session.scalars(select(UsulanEvent).where(UsulanEvent.usulan_id == row.id))
        ).all()
    assert len(events) == 1
    first = events[0]
    assert (first.seq, first.kind, first.prev_hash) == (1, "diajukan", None)
    assert (first.to_stage, first.to_decision, first.actor_user_id) == (
        "desa",
        "menunggu",
        submitter.id,
    )
    assert first.payload["channel"] == "test"

    assert [p.position for p in row.photos] == [0, 1]
    for photo in row.photos:
        path = backend.media.path_of(photo.sha256)
        data = path.read_bytes()
        assert hashlib.sha256(data).hexdigest() == photo.sha256
        assert len(data) == photo.bytes
        assert b"Exif" not in data and b"TestPhone" not in data
        with Image.open(io.BytesIO(data)) as stored:
            assert stored.format == "JPEG"
            assert not stored.getexif()
            assert stored.size == (photo.width, photo.height)

    async with backend.unit() as services:
        status = await services.intake.status(code.lower().replace("-", " "))
    assert status is not None
    assert (status.code, status.stage, status.decision, status.photo_count) == (
        code,
        "desa",
        "menunggu",
        2,
    )
    assert [(h.stage, h.decision) for h in status.history] == [("desa", "menunggu")]


async def test_status_command_shows_stage_decision_and_history(backend: Backend) -> None:
    r = Resident(backend)
    code = await submit_usulan(r)

    await r.send(f"/status {code}")
    text = r.text
    assert code in text
    assert "Kelurahan Pasar Baru" in text
    assert "Status: Musrenbang Desa/Kelurahan, menunggu dibahas" in text
    assert "Tahun perencanaan 2027" in text
    assert text.count("• ") == 1  # one history entry: submitted

    await r.send(f"/status {code.lower().replace('-', ' ')}")
    assert "Status: Musrenbang Desa/Kelurahan, menunggu dibahas" in r.text

    assert "Berikutnya: dibahas di Musrenbang Desa/Kelurahan." in r.text

    await r.send("/status 2345-6789")
    assert r.texts == [r.t("status.not_found", code="2345-6789")]
    await r.send("/status")  # no code: one's own usulan
    assert code in r.text and r.t("status.mine_header", count=1) in r.text
    stranger = Resident(backend, "no-usulan-yet")
    await stranger.send("/status")
    assert stranger.texts == [stranger.t("status.ask_code")]


async def test_my_usulan_lists_only_my_own(backend: Backend) -> None:
    me = Resident(backend, "111")
    neighbour = Resident(backend, "222", display_name="Budi")
    await me.send("/usulan_saya")
    assert me.texts == [me.t("status.mine_empty")]

    mine = await submit_usulan(me)
    theirs = await submit_usulan(neighbour)
    await me.send("/usulan_saya")
    assert mine in me.text
    assert theirs not in me.text
    assert "menunggu dibahas" in me.text
    assert "Kelurahan Pasar Baru" in me.text


async def test_an_english_speaker_is_answered_in_english(backend: Backend) -> None:
    r = Resident(backend, language_code="en")
    await r.send("/start")
    assert r.language == "en"
    assert "Welcome to musrenbot" in r.text
    await r.press_label("I agree")
    assert "Which village" in r.text
    code = await submit_usulan(r)
    assert "Your proposal for Kelurahan Pasar Baru has been sent" in r.text
    await r.send(f"/status {code}")
    assert "Village Musrenbang" in r.text
    assert "waiting to be discussed" in r.text


async def test_bahasa_switches_language_and_asks_the_current_question_again(
    backend: Backend,
) -> None:
    r = Resident(backend)
    await walk_to(r, VOLUME)
    before = await r.draft()

    await r.send("/bahasa")
    assert [lbl for lbl, _ in r.buttons] == ["Bahasa Indonesia", "English"]
    await r.press_label("English")
    assert r.language == "en"
    assert r.notices == []  # confirmed once, in the chat, not also in a toast
    assert r.texts[0] == "Language changed to English."
    assert r.text.count("Language changed") == 1
    assert "How much is needed?" in r.last_text
    assert await r.state() == VOLUME
    assert await r.draft() == before

    await r.send("/bantuan")  # the choice is remembered
    assert "Commands you can use" in r.text

    await r.send("/bahasa")
    await r.press_label("Indonesia")
    assert "Berapa besar kebutuhannya?" in r.last_text


async def test_batal_in_the_middle_discards_the_draft(backend: Backend) -> None:
    r = Resident(backend)
    await walk_to(r, REQUEST)
    before = await r.draft()
    await r.send("/batal")  # asked once: the draft holds what the resident typed
    assert r.texts == [r.t("common.cancel_confirm")]
    await r.press("cancel:no")
    assert r.texts[0] == r.t("common.cancel_kept")
    assert await r.state() == REQUEST and await r.draft() == before

    await r.send("/batal")
    await r.press("cancel:yes")
    assert r.texts == [r.t("common.cancelled")]
    assert await r.state() == "idle"
    assert await r.draft() == {}

    await r.send("/batal")
    assert r.texts == [r.t("common.nothing_to_cancel")]
    await r.send("/start")  # no draft to resume, and consent is not asked again
    assert r.keys == ["account.welcome_back", "intake.ask_desa"]


async def test_bantuan_helps_and_keeps_the_step(backend: Backend) -> None:
    r = Resident(backend)
    await walk_to(r, CATEGORY)
    before = await r.draft()
    await r.send("/bantuan")
    assert "/usulan_saya" in r.texts[0] and "/hapus_data" in r.texts[0]
    assert r.t("intake.ask_category") in r.last_text
    assert "cat:jalan" in r.payloads
    assert await r.state() == CATEGORY
    assert await r.draft() == before


async def test_a_restart_resumes_at_the_same_step_with_the_draft(
    backend: Backend,
) -> None:
    r = Resident(backend)
    await walk_to(r, VOLUME)
    before = await r.draft()
    await backend.close()

    restarted = Backend(backend.settings)
    await restarted.start()
    try:
        r.backend = restarted
        assert await r.state() == VOLUME
        await r.send("4 unit")
        assert r.t("intake.ask_photos", max=3, have=0) in r.text
        draft = await r.draft()
        assert draft == {**before, "volume": "4", "unit": "unit", "photos": []}
    finally:
        await restarted.close()


async def test_start_with_a_draft_offers_to_resume_or_begin_anew(backend: Backend) -> None:
    r = Resident(backend)
    await walk_to(r, PROBLEM)
    before = await r.draft()

    await r.send("/start")
    assert r.texts == [r.t("intake.draft_exists")]
    assert r.payloads == ["draft:resume", "draft:new"]
    await r.press_label("Lanjutkan draf")
    assert r.t("intake.ask_problem", max=MAX_TEXT_CHARS) in r.text
    assert await r.state() == PROBLEM
    assert await r.draft() == before

    await r.send("/start")
    await r.press_label("Mulai usulan baru")
    assert r.t("intake.ask_desa") in r.text
    assert await r.state() == DESA
    assert await r.draft() == {}


async def test_editing_a_field_from_the_summary_comes_back_to_the_summary(
    backend: Backend,
) -> None:
    r = Resident(backend)
    await walk_to(r, SUMMARY)
    assert "120 meter" in r.text

    await r.press_label("Ubah volume")
    assert r.t("intake.ask_volume") in r.text
    await r.send("4 unit")
    assert await r.state() == SUMMARY
    assert "Volume: 4 unit" in r.text
    assert "Volume: 120 meter" not in r.text

    await r.press_label("Ubah desa")
    await r.send("sei rengas")
    await r.press_label("Sei Rengas I")
    assert await r.state() == SUMMARY
    assert "Kelurahan Sei Rengas I, Kec. Medan Kota" in r.text

    await r.press_label("Kirim usulan")
    code = CODE_RE.search(r.text)
    assert code is not None
    row = await usulan_row(backend, code.group(0))
    assert (row.volume, row.unit, row.desa_code) == (Decimal(4), "unit", "12.71.01.1003")


async def test_every_optional_step_can_be_skipped(backend: Backend) -> None:
    r = Resident(backend)
    await walk_to(r, "intake.location")
    await r.send("Lewati")  # the reply keyboard's skip button sends its label as text
    assert r.t("intake.location_skipped") in r.text
    await r.press("skip:intake.address")
    await r.press("cat:drainase")
    await r.send(PROBLEM_TEXT)
    await r.send(REQUEST_TEXT)
    await r.send("-")
    await r.press_label("Lewati")  # photos
    await r.send("tidak ada")  # beneficiaries
    assert await r.state() == SUMMARY
    for empty in ("Titik lokasi: -", "Alamat: -", "Volume: -", "Foto: 0", "Penerima manfaat: -"):
        assert empty in r.text

    await r.press("submit")
    code = CODE_RE.search(r.text)
    assert code is not None
    row = await usulan_row(backend, code.group(0))
    assert row.desa_code == PASAR_BARU
    assert (row.latitude, row.longitude, row.dusun, row.rt, row.rw, row.street) == (None,) * 6
    assert (row.volume, row.unit, row.beneficiaries, row.photos) == (None, None, None, [])


# --- what residents get wrong -----------------------------------------------------------


async def test_stickers_voice_video_and_files_are_answered_kindly_and_keep_the_draft(
    backend: Backend,
) -> None:
    r = Resident(backend)
    await walk_to(r, PROBLEM)
    before = await r.draft()
    for kind in ("sticker", "voice", "video", "document"):
        await r.unsupported(kind)
        assert r.texts[0] == r.t(f"common.unexpected.{kind}"), kind
        assert r.t("intake.ask_problem", max=MAX_TEXT_CHARS) in r.last_text, kind
        assert await r.state() == PROBLEM
        assert await r.draft() == before


async def test_a_problem_longer_than_the_limit_is_refused_with_the_limit(
    backend: Backend,
) -> None:
    r = Resident(backend)
    await walk_to(r, PROBLEM)
    await r.send("x" * (MAX_TEXT_CHARS + 1))
    assert "1000" in r.text and "1001" in r.text
    assert await r.state() == PROBLEM
    assert "permasalahan" not in await r.draft()

    await r.send("x" * MAX_TEXT_CHARS)
    assert await r.state() == REQUEST
    assert (await r.draft())["permasalahan"] == "x" * MAX_TEXT_CHARS


async def test_an_unknown_village_is_asked_again(backend: Backend) -> None:
    r = Resident(backend)
    await walk_to(r, DESA)
    await r.send("xyzzy qwerty")
    assert r.texts == [r.t("intake.desa_not_found", query="xyzzy qwerty")]
    assert r.buttons == []
    assert await r.state() == DESA


async def test_stale_and_forged_buttons_get_a_notice_and_change_nothing(
    backend: Backend,
) -> None:
    r = Resident(backend)
    await walk_to(r, DESA)
    await r.press("desa:99.99.99.9999")
    assert r.notices == [r.t("common.stale_button")] and r.texts == []
    assert await r.draft() == {}

    await walk_to(r, CATEGORY)
    before = await r.draft()
    for payload in (f"desa:{SEI_RENGAS_II}", "cat:nope", "submit", "consent:yes"):
        await r.press(payload)
        assert r.notices == [r.t("common.stale_button")], payload
        assert r.texts == [], payload
        assert await r.state() == CATEGORY
        assert await r.draft() == before

    await r.send("/batal")
    await r.press("cancel:yes")
    await r.press("cat:jalan")  # a button of a discarded draft
    assert r.notices == [r.t("common.stale_button")]
    assert await r.state() == "idle"


async def test_a_file_that_is_not_an_image_is_refused(backend: Backend) -> None:
    r = Resident(backend)
    await walk_to(r, PHOTOS)
    await r.photo(b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n")
    assert r.texts == [r.t("intake.photo_not_image")]
    assert await r.state() == PHOTOS
    assert (await r.draft())["photos"] == []


async def test_an_oversize_photo_is_refused_with_the_limit(backend: Backend) -> None:
    r = Resident(backend)
    await walk_to(r, PHOTOS)
    await r.photo(make_jpeg(), file_size=MAX_PHOTO_BYTES + 1)
    assert "20 MB" in r.text
    assert await r.state() == PHOTOS
    assert (await r.draft())["photos"] == []


async def test_the_same_photo_twice_is_kept_once(backend: Backend) -> None:
    r = Resident(backend)
    await walk_to(r, PHOTOS)
    picture = make_jpeg()
    await r.photo(picture)
    await r.photo(picture)
    assert r.texts == [r.t("intake.photo_duplicate")]
    assert len((await r.draft())["photos"]) == 1


async def test_an_album_of_five_keeps_three_and_is_answered_once(backend: Backend) -> None:
    r = Resident(backend)
    await walk_to(r, PHOTOS)
    answers = []
    for i in range(5):
        await r.photo(make_jpeg(color=(40 * i, 100, 100)), media_group_id="album-1")
        answers.append(r.keys)

    assert len((await r.draft())["photos"]) == 3
    assert await r.state() == "intake.beneficiaries"
    # No count on the album's first answer: its other photos were still on their way.
    assert answers[0] == ["intake.album_received"]
    # The first photo is acknowledged; the rest of the album is quiet until the set is full,
    # then one message says so and asks the next question; the extra two are passed over.
    assert answers[1] == [] and answers[3] == [] and answers[4] == []
    assert answers[2] == ["intake.photos_complete", "intake.ask_beneficiaries"]
    assert sum("intake.photos_complete" in a for a in answers) == 1


async def test_an_album_where_text_is_expected_is_answered_once(backend: Backend) -> None:
    r = Resident(backend)
    await walk_to(r, PROBLEM)
    before = await r.draft()
    answered = 0
    for i in range(4):
        await r.photo(make_jpeg(color=(10, 60 * i, 10)), media_group_id="album-2")
        answered += bool(r.texts)
    assert answered == 1  # not four copies of the same question
    assert await r.state() == PROBLEM
    assert await r.draft() == before


async def test_a_category_typed_as_its_label_is_understood(backend: Backend) -> None:
    r = Resident(backend)
    await walk_to(r, CATEGORY)
    await r.send("Lampu jalan")  # the button's words, without its emoji
    assert await r.state() == PROBLEM
    assert (await r.draft())["category"] == "lampu_jalan"


async def test_a_declined_consent_stores_no_draft(backend: Backend) -> None:
    r = Resident(backend)
    await r.send("/start")
    await r.press_label("Tidak setuju")
    assert r.texts == [r.t("account.consent_declined")]
    async with backend.sessionmaker() as session:
        assert (await session.scalars(select(Conversation))).all() == []
    user = await user_row(backend, r.sender.external_id)
    assert user is not None and user.consent_at is None

    await r.send("/start")  # asked again, nothing assumed
    assert r.payloads == ["consent:yes", "consent:no"]


async def test_hapus_data_erases_name_and_account_but_the_usulan_stays(
    backend: Backend,
) -> None:
    r = Resident(backend)
    code = await submit_usulan(r)
    await walk_to(r, VOLUME)  # a draft in progress is erased too
    await r.send("/hapus_data")
    assert r.payloads == ["delete:yes", "delete:no"]
    await r.press_label("Ya, hapus data saya")
    assert r.texts == [r.t("account.deleted")]

    async with backend.sessionmaker() as session:
        users = (await session.scalars(select(User))).all()
        conversations = (await session.scalars(select(Conversation))).all()
    assert len(users) == 1
    erased = users[0]
    assert erased.display_name is None and erased.phone is None
    assert erased.external_id != r.sender.external_id and erased.chat_id == ""
    assert erased.consent_at is None
    assert conversations == []

    row = await usulan_row(backend, code)
    assert (row.stage, row.decision, row.submitter_id) == ("desa", "menunggu", erased.id)
    assert row.submitter_name is None and row.submitter_phone is None

    await r.send("/usulan_saya")  # the same Telegram account is now a stranger
    assert r.texts == [r.t("status.mine_empty")]
    await r.send(f"/status {code}")  # the usulan is still in the plan
    assert "menunggu dibahas" in r.text


async def test_keeping_one_s_data_returns_to_the_step(backend: Backend) -> None:
    r = Resident(backend)
    await walk_to(r, VOLUME)
    before = await r.draft()
    await r.send("/hapus_data")
    await r.press("delete:no")
    assert r.texts[0] == r.t("account.delete_kept")
    assert r.t("intake.ask_volume") in r.last_text
    assert await r.state() == VOLUME
    assert await r.draft() == before


async def test_hapus_data_asked_twice_then_kept_returns_to_the_step(backend: Backend) -> None:
    r = Resident(backend)
    await walk_to(r, VOLUME)
    before = await r.draft()
    await r.send("/hapus_data")
    await r.send("/hapus_data")  # impatient double tap
    await r.press("delete:no")
    assert r.t("intake.ask_volume") in r.last_text
    assert await r.state() == VOLUME
    assert await r.draft() == before


async def test_a_tracking_code_typed_alone_shows_its_status(backend: Backend) -> None:
    r = Resident(backend)
    code = await submit_usulan(r)
    stranger = Resident(backend, "999", display_name="Orang Lain")
    await stranger.send(code.lower())
    assert code in stranger.text
    assert "menunggu dibahas" in stranger.text

    await stranger.send("halo")
    assert stranger.texts == [stranger.t("common.idle_hint")]


async def test_an_unknown_command_gets_a_polite_answer(backend: Backend) -> None:
    r = Resident(backend)
    await r.send("/foo")
    assert r.texts == [r.t("common.unknown_command", command="foo")]

    await walk_to(r, CATEGORY)
    await r.send("/ramalan_cuaca")
    assert r.texts[0] == r.t("common.unknown_command", command="ramalan_cuaca")
    assert r.t("intake.ask_category") in r.last_text
    assert await r.state() == CATEGORY


async def test_wrong_answers_at_the_location_and_summary_steps_reask(backend: Backend) -> None:
    r = Resident(backend)
    await walk_to(r, "intake.location")
    await r.send("Jl. Melati no 5")
    assert r.texts[0] == r.t("intake.location_use_button")
    assert r.asks_location
    await r.location(91.0, 200.0)
    assert r.texts[0] == r.t("intake.location_invalid")
    assert await r.state() == "intake.location"

    await walk_to(r, SUMMARY)
    await r.send("ok kirim")
    assert r.texts[0] == r.t("summary.use_buttons")
    assert "submit" in r.payloads
    assert await r.state() == SUMMARY


async def test_notifikasi_mutes_and_unmutes_and_keeps_the_step(backend: Backend) -> None:
    from sqlalchemy import select

    from backend.storage.models import User

    r = Resident(backend)
    await walk_to(r, PROBLEM)
    await r.send("/notifikasi")
    assert r.keys[0] == "account.notifications_muted" and await r.state() == PROBLEM
    async with backend.unit() as s:
        muted = await s.session.scalar(
            select(User.notifications_muted).where(User.external_id == r.sender.external_id)
        )
    assert muted is True
    await r.send("/notifikasi")
    assert r.keys[0] == "account.notifications_on"


async def test_status_links_to_the_public_page_when_the_service_has_one(backend: Backend) -> None:
    r = Resident(backend)
    code = await submit_usulan(r)
    await r.send(f"/status {code}")
    assert "/u/" not in r.last_text  # no public address configured
    backend.settings = backend.settings.model_copy(
        update={"public_url": "https://musrenbot.pemkomedan.go.id"}
    )
    await r.send(f"/status {code}")
    assert f"https://musrenbot.pemkomedan.go.id/u/{code}" in r.last_text


@pytest.mark.parametrize("language", ["id", "en"])
async def test_a_photo_bomb_is_refused_for_its_resolution_and_the_draft_is_kept(
    backend: Backend, language: str
) -> None:
    r = Resident(backend, language_code=language)
    await walk_to(r, PHOTOS)
    before = await r.draft()

    await r.photo(png_bomb())  # 172 KB that would decode to 59 megapixels

    assert r.texts == [r.t("intake.photo_too_many_pixels")]
    assert "MB" not in r.text  # not the file-size message: the file is small
    assert await r.state() == PHOTOS
    after = await r.draft()
    assert after.pop("photos") == [] and after == {k: v for k, v in before.items() if k != "photos"}
    await r.photo(make_jpeg())  # the next, ordinary photo is taken as usual
    assert r.texts == [r.t("intake.ask_photos", max=3, have=1)]


async def test_the_photo_step_records_a_stored_photo_and_decodes_nothing(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    r = Resident(backend)
    await walk_to(r, PHOTOS)
    stored = await backend.media.store_photo(make_jpeg(gps=True))

    def no_decoding(data: bytes) -> Image.Image:
        raise AssertionError("decoded inside the conversation step")

    monkeypatch.setattr(media, "_decode", no_decoding)

    async def already_stored() -> StoredPhoto:
        return stored

    await r.deliver(Photo(load=already_stored, file_size=stored.bytes))

    assert r.texts == [r.t("intake.ask_photos", max=3, have=1)]
    assert [p["sha256"] for p in (await r.draft())["photos"]] == [stored.sha256]


async def _lurah_decides(backend: Backend, code: str, decision: str, **why: str) -> None:
    from backend.domain import Decision, Stage
    from backend.services.officials import Role
    from backend.services.workflow import DecisionRequest

    async with backend.unit() as services:
        user = await services.officials.official_user("Lurah Pasar Baru")
        lurah = await services.officials.grant(
            user, Role.KEPALA_DESA, wilayah_code=PASAR_BARU, granted_by=OPERATOR
        )
        request = DecisionRequest(Stage.DESA, Decision(decision), **why)
        await services.workflow.decide(lurah, code, request)


async def test_a_rejected_resident_reads_the_reason_and_note_wherever_they_look(
    backend: Backend,
) -> None:
    r = Resident(backend)
    code = await submit_usulan(r)
    await _lurah_decides(
        backend, code, "ditolak", reason_code="bukan_kewenangan",
        note="Jalan ini jalan provinsi; sampaikan ke Dinas PU Provinsi.",
    )  # fmt: skip

    await r.send(f"/status {code}")
    assert "Status: Musrenbang Desa/Kelurahan, ditolak" in r.text
    assert r.t("reason.bukan_kewenangan") in r.text
    assert "Jalan ini jalan provinsi; sampaikan ke Dinas PU Provinsi." in r.text
    assert r.t("status.next_ditolak") in r.text
    assert "Keputusan terakhir (" in r.text

    await r.send("/usulan_saya")
    assert r.t("reason.bukan_kewenangan") in r.text
    assert "Jalan ini jalan provinsi" in r.text


async def test_a_returned_usulan_shows_the_note_in_the_list_before_perbaiki(
    backend: Backend,
) -> None:
    r = Resident(backend)
    code = await submit_usulan(r)
    await _lurah_decides(backend, code, "perlu_perbaikan", note="Tambahkan foto kondisi jalan.")

    await r.send("/usulan_saya")
    assert "Catatan petugas: “Tambahkan foto kondisi jalan.”" in r.text
    await r.send(f"/status {code}")
    assert "Tambahkan foto kondisi jalan." in r.text
    assert r.t("status.next_perlu_perbaikan") in r.text


async def test_a_lone_number_at_the_address_step_is_questioned_not_stored(
    backend: Backend,
) -> None:
    from handlers.intake import ADDRESS

    r = Resident(backend)
    await walk_to(r, ADDRESS)
    await r.send("3")
    assert r.texts[0] == r.t("intake.address_only_number", number="3")
    assert await r.state() == ADDRESS
    assert "street" not in await r.draft() and "dusun" not in await r.draft()
    await r.send("Lingkungan 3")
    assert (await r.draft())["dusun"] == "Lingkungan 3"


async def test_a_photo_after_the_photo_step_says_where_photos_are_changed(
    backend: Backend,
) -> None:
    r = Resident(backend)
    await walk_to(r, SUMMARY)
    before = await r.draft()
    await r.photo(make_jpeg())
    assert r.texts[0] == r.t("common.unexpected.photo_late")
    assert await r.state() == SUMMARY and await r.draft() == before

    fresh = Resident(backend, "photo-early")
    await walk_to(fresh, PROBLEM)  # before the photo step: "later, at the photo step"
    await fresh.photo(make_jpeg())
    assert fresh.texts[0] == fresh.t("common.unexpected.photo")
