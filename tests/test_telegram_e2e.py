"""Residents on Telegram, end to end: the real service (polling and webhook) behind the Bot API
stand-in, on SQLite and on PostgreSQL. Each test ends with the stand-in having seen no call that
Telegram would refuse (the `standin` fixture checks it)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest
from PIL import Image

from backend.services import media
from backend.services.wiring import Services
from backend.storage.models import Usulan
from tests.chat import make_jpeg, png_bomb
from tests.e2e_fixtures import (
    ADDRESS,
    PASAR_BARU,
    PROBLEM,
    REQUEST,
    Mode,
    Warga,
    conversation_of,
    row_count,
    standin,
    t,
    telegram_user,
    tracking_code,
    usulan_by_code,
    webhook_service,
)
from tests.harness import RunningService, running_service
from tests.standin import BotApiStandIn

__all__ = ["standin", "webhook_service"]  # fixtures used by the tests below

SITI = 5_100_001
BUDI = 5_100_002


def _has_exif(data: bytes) -> bool:
    with Image.open(io.BytesIO(data)) as image:
        return bool(image.getexif()) or "exif" in image.info


# --- 1. a complete conversation ---------------------------------------------------------


@pytest.mark.parametrize("mode", ["polling", "webhook"])
async def test_a_resident_submits_an_usulan_with_photos_and_follows_it(
    standin: BotApiStandIn, db_url: str, tmp_path: Path, mode: Mode
) -> None:
    with_gps = make_jpeg((320, 240), (180, 40, 40), gps=True)
    plain = make_jpeg((320, 240), (40, 160, 40))
    assert _has_exif(with_gps) and b"TestPhone" in with_gps  # what must not be kept
    standin.add_file("AgACphoto-gps", with_gps)
    standin.add_file("AgACphoto-plain", plain)

    async with running_service(standin, db_url, tmp_path, mode) as service:
        siti = Warga(standin, mode, SITI)

        hello = await siti.say("/start")
        assert "27/2022" in hello.text  # the privacy notice comes before anything is stored
        assert [label for label, _ in hello.buttons] == ["✅ Setuju", "Tidak setuju"]

        agreed = await siti.press("✅ Setuju", answers=2)
        assert agreed.texts == [t("account.consent_thanks"), t("intake.ask_desa")]

        found = await siti.say("pasar baru")
        pasar_baru = "Kelurahan Pasar Baru (Kec. Medan Kota)"
        assert (pasar_baru, f"desa:{PASAR_BARU}") in found.buttons

        chosen = await siti.press(pasar_baru, answers=2)
        assert chosen.texts == [t("intake.desa_chosen", desa="Kelurahan Pasar Baru"),
                                t("intake.ask_location")]  # fmt: skip
        keyboard = chosen.markup or {}
        assert keyboard["keyboard"][0][0]["request_location"] is True

        located = await siti.share_location(3.583412, 98.67223)
        assert located.texts == [t("intake.location_saved"), t("intake.ask_address")]

        asked = await siti.say(ADDRESS)
        assert asked.texts == [t("intake.ask_category")]
        category = await siti.press("Jalan & jembatan", answers=2)
        assert category.texts[1] == t("intake.ask_problem", max=1000)
        assert (await siti.say(PROBLEM)).texts == [t("intake.ask_request", max=1000)]
        assert (await siti.say(REQUEST)).texts == [t("intake.ask_volume")]
        photos = await siti.say("120 meter")
        assert photos.texts == [t("intake.ask_photos", max=3, have=0)]

        # Both photos as one album: one answer for the album, both photos kept.
        album = await siti.album("AgACphoto-gps", "AgACphoto-plain", media_group_id="13579")
        assert len(album.texts) == 1 and album.buttons == [("Selesai", "skip:intake.photos")]

        done = await siti.press("Selesai")
        assert done.texts == [t("intake.ask_beneficiaries")]
        summary = await siti.say("sekitar 200 KK")
        for shown in (
            "Kelurahan Pasar Baru, Kec. Medan Kota",
            "3.58341, 98.67223",
            "Lingkungan 3, RT 002, RW 005, Jl. Melati",
            "Jalan & jembatan",
            PROBLEM,
            REQUEST,
            "Volume: 120 meter",
            "Foto: 2",
            "Penerima manfaat: 200",
        ):
            assert shown in summary.text

        submitted = await siti.press("Kirim usulan")
        code = tracking_code(submitted.text)
        assert "Kelurahan Pasar Baru" in submitted.text and "2027" in submitted.text

        status = await siti.say(f"/status {code}")
        assert code in status.text and "Kelurahan Pasar Baru" in status.text
        assert "Musrenbang Desa/Kelurahan, menunggu dibahas" in status.text
        mine = await siti.say("/usulan_saya")
        assert code in mine.text and t("status.mine_header", count=1) in mine.text
        await siti.settled()

        row = await usulan_by_code(service.backend, code)
        user = await telegram_user(service.backend, SITI)
        assert user is not None and user.consent_at is not None and user.reachable
        assert (row.submitter_id, row.origin, row.planning_year) == (user.id, "warga", 2027)
        assert row.desa_code == PASAR_BARU
        address = (row.dusun, row.rt, row.rw, row.street)
        assert address == ("Lingkungan 3", "002", "005", "Jl. Melati")
        assert (row.latitude, row.longitude) == (pytest.approx(3.583412), pytest.approx(98.67223))
        assert (row.category, row.urusan_code) == ("jalan", "1.03")
        assert (row.permasalahan, row.usulan) == (PROBLEM, REQUEST)
        assert (row.volume, row.unit, row.beneficiaries) == (Decimal(120), "meter", 200)
        assert (row.stage, row.decision) == ("desa", "menunggu")
        assert await conversation_of(service.backend, SITI) == ("idle", {})

        assert len(row.photos) == 2
        media = service.settings.media_dir
        for photo in row.photos:
            stored = (media / photo.sha256[:2] / f"{photo.sha256}.jpg").read_bytes()
            assert hashlib.sha256(stored).hexdigest() == photo.sha256
            assert (photo.width, photo.height, photo.bytes) == (320, 240, len(stored))
            assert not _has_exif(stored) and b"TestPhone" not in stored
    assert len(siti.presses) == 5  # each press was answered once (checked as it happened)


# --- 2. many residents at once ----------------------------------------------------------


async def test_ten_residents_at_once_each_get_their_own_usulan(
    standin: BotApiStandIn, webhook_service: RunningService
) -> None:
    # One category each: nobody is offered another's usulan to back instead of sending.
    categories = [c.key for c in webhook_service.backend.categories][:10]
    assert len(categories) == 10

    async def resident(n: int) -> tuple[Warga, str]:
        warga = Warga(standin, "webhook", 5_200_000 + n, first_name=f"Warga {n}")
        await warga.walk_to_problem(categories[n])
        await warga.say(f"Warga nomor {n}: {PROBLEM}")
        await warga.say(f"Usulan warga nomor {n}: {REQUEST}")
        await warga.say(f"{10 * (n + 1)} meter")
        return warga, await warga.finish_from_photos()

    finished = await asyncio.gather(*(resident(n) for n in range(10)))

    codes = [code for _, code in finished]
    assert len(set(codes)) == 10
    assert await row_count(webhook_service.backend, Usulan) == 10
    for n, (warga, code) in enumerate(finished):
        await warga.settled()  # nobody received anything meant for someone else
        row = await usulan_by_code(webhook_service.backend, code)
        assert row.permasalahan == f"Warga nomor {n}: {PROBLEM}"
        assert row.usulan == f"Usulan warga nomor {n}: {REQUEST}"
        assert row.volume == Decimal(10 * (n + 1))
        assert row.category == categories[n]
        user = await telegram_user(webhook_service.backend, warga.user_id)
        assert user is not None and row.submitter_id == user.id


async def test_one_chat_is_answered_in_the_order_it_wrote(
    standin: BotApiStandIn, webhook_service: RunningService
) -> None:
    budi = Warga(standin, "webhook", BUDI)
    await budi.walk_to_problem()
    updates = [
        standin.text_update(BUDI, text)
        for text in (PROBLEM, REQUEST, "120 meter", "selesai", "200")
    ]

    # Telegram may post the next update of a chat before the previous one was answered.
    statuses = await asyncio.gather(*(standin.post_to_webhook(u) for u in updates))

    assert statuses == [200] * 5
    replies = [c.params["text"] for c in budi.messages()[budi.expected :]]
    assert replies[:4] == [
        t("intake.ask_request", max=1000),
        t("intake.ask_volume"),
        t("intake.ask_photos", max=3, have=0),
        t("intake.ask_beneficiaries"),
    ]
    assert len(replies) == 5
    assert f"Masalah: {PROBLEM}\nUsulan: {REQUEST}\nVolume: 120 meter" in replies[4]
    state, data = await conversation_of(webhook_service.backend, BUDI)
    assert state == "intake.summary"
    assert data["draft"]["beneficiaries"] == 200


async def test_an_album_larger_than_the_photo_limit_is_answered_once_and_keeps_three(
    standin: BotApiStandIn, webhook_service: RunningService
) -> None:
    for n in range(4):
        standin.add_file(f"AgACalbum-{n}", make_jpeg((160, 120), (60 * n, 100, 40)))
    siti = Warga(standin, "webhook", SITI)
    await siti.walk_to_photos()

    album = await siti.album(*(f"AgACalbum-{n}" for n in range(4)), media_group_id="24680",
                             answers=3)  # fmt: skip

    assert album.texts[1:] == [t("intake.photos_complete", max=3), t("intake.ask_beneficiaries")]
    summary = await siti.say("200")
    assert "Foto: 3" in summary.text
    state, data = await conversation_of(webhook_service.backend, SITI)
    assert state == "intake.summary" and len(data["draft"]["photos"]) == 3
    await siti.settled()


async def test_pressing_kirim_twice_sends_one_usulan(
    standin: BotApiStandIn, webhook_service: RunningService
) -> None:
    siti = Warga(standin, "webhook", SITI)
    await siti.walk_to_photos()
    await siti.press_data("skip:intake.photos")
    await siti.say("200")
    presses = [standin.callback_update(SITI, "submit") for _ in range(2)]

    answer = await siti.deliver(*presses, answers=1)  # a double tap: two presses at once

    code = tracking_code(answer.text)
    assert await row_count(webhook_service.backend, Usulan) == 1
    notices = [
        c.params.get("text")
        for c in standin.calls
        if c.method == "answerCallbackQuery"
        and c.params["callback_query_id"] in {p["callback_query"]["id"] for p in presses}
    ]
    assert sorted(notices, key=str) == sorted([None, t("common.stale_button")], key=str)
    assert (await usulan_by_code(webhook_service.backend, code)).permasalahan == PROBLEM
    await siti.settled()


# --- 5. what a resident may send where it does not fit ----------------------------------


async def test_a_text_step_answers_what_it_cannot_use_politely_and_keeps_the_draft(
    standin: BotApiStandIn, webhook_service: RunningService
) -> None:
    backend = webhook_service.backend
    siti = Warga(standin, "webhook", SITI)
    await siti.walk_to_problem()
    kept = await conversation_of(backend, SITI)
    assert kept[0] == "intake.problem" and kept[1]["draft"]["desa_code"] == PASAR_BARU
    question = t("intake.ask_problem", max=1000)
    standin.add_file("BQACproposal-pdf", b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\n%%EOF\n")

    for update, polite in [
        (standin.sticker_update(SITI), "common.unexpected.sticker"),
        (standin.voice_update(SITI), "common.unexpected.voice"),
        (standin.video_update(SITI), "common.unexpected.video"),
        (
            standin.document_update(SITI, "BQACproposal-pdf", "application/pdf", "usulan.pdf"),
            "common.unexpected.document",
        ),
    ]:
        answer = await siti.deliver(update, answers=2)

        assert answer.texts == [t(polite), question]
        assert await conversation_of(backend, SITI) == kept

    too_long = await siti.say("x" * 1001)
    assert too_long.texts == [t("intake.text_too_long", max=1000, length=1001)]
    assert "1000" in too_long.text
    assert await conversation_of(backend, SITI) == kept

    # Buttons of earlier questions, and one no message of ours ever carried.
    consent_prompt = next(
        c.result["message_id"] for c in siti.messages() if "27/2022" in c.params["text"]
    )
    old_press = standin.callback_update(SITI, "consent:yes", message_id=consent_prompt)
    for update in (
        old_press,
        standin.callback_update(SITI, f"desa:{PASAR_BARU}", check_button=False),
        standin.callback_update(SITI, "cat:tidak-ada", check_button=False),
    ):
        stale = await siti.deliver(update, answers=0)

        assert stale.notice == t("common.stale_button")
        assert len(stale.notice) <= 200
        assert await conversation_of(backend, SITI) == kept

    # The step still takes its answer, even one carrying a character PostgreSQL cannot store.
    pasted = PROBLEM.replace("rusak", "rusak\x00")
    assert (await siti.say(pasted)).texts == [t("intake.ask_request", max=1000)]
    state, data = await conversation_of(backend, SITI)
    assert (state, data["draft"]["permasalahan"]) == ("intake.request", PROBLEM)
    await siti.settled()


async def test_the_photo_step_refuses_what_is_not_a_usable_photo_and_takes_an_image_file(
    standin: BotApiStandIn, webhook_service: RunningService
) -> None:
    backend = webhook_service.backend
    standin.add_file("AgACnot-an-image", bytes(range(256)) * 40)
    standin.add_file("AgACtoo-big", b"", size=21 * 1024 * 1024)
    standin.add_file("BQACscan", make_jpeg((400, 300), (90, 90, 200), gps=True))
    siti = Warga(standin, "webhook", SITI)
    await siti.walk_to_photos()

    not_image = await siti.photo("AgACnot-an-image")
    assert not_image.texts == [t("intake.photo_not_image")]
    too_big = await siti.photo("AgACtoo-big")
    assert too_big.texts == [t("intake.photo_too_large", max_mb=20)]
    state, data = await conversation_of(backend, SITI)
    assert state == "intake.photos" and data["draft"]["photos"] == []
    assert data["draft"]["permasalahan"] == PROBLEM

    # An uncompressed photo, sent as a file, is still a photo.
    as_file = standin.document_update(SITI, "BQACscan", "image/jpeg", "IMG_2041.JPG")
    taken = await siti.deliver(as_file, answers=1)
    assert taken.texts == [t("intake.ask_photos", max=3, have=1)]

    code = await siti.finish_from_photos()
    row = await usulan_by_code(backend, code)
    assert [(p.width, p.height) for p in row.photos] == [(400, 300)]
    stored = webhook_service.settings.media_dir / row.photos[0].sha256[:2]
    assert not _has_exif((stored / f"{row.photos[0].sha256}.jpg").read_bytes())
    await siti.settled()


# --- 6. blocking the bot ----------------------------------------------------------------


async def test_blocking_and_unblocking_the_bot_is_recorded_without_a_word(
    standin: BotApiStandIn, webhook_service: RunningService
) -> None:
    backend = webhook_service.backend
    siti = Warga(standin, "webhook", SITI)
    await siti.say("/start")
    calls = len(standin.calls)

    blocked = standin.my_chat_member_update(SITI, "member", "kicked")
    assert await standin.post_to_webhook(blocked) == 200
    user = await telegram_user(backend, SITI)
    assert user is not None and user.reachable is False
    assert user.reachability_changed_at is not None

    unblocked = standin.my_chat_member_update(SITI, "kicked", "member")
    assert await standin.post_to_webhook(unblocked) == 200
    user = await telegram_user(backend, SITI)
    assert user is not None and user.reachable is True

    # Removing the bot from a group they run says nothing about their private chat.
    left_group = standin.my_chat_member_update(SITI, "member", "left")
    left_group["my_chat_member"]["chat"] = {"id": -1_001_234_567, "type": "supergroup",
                                            "title": "Forum Warga Pasar Baru"}  # fmt: skip
    assert await standin.post_to_webhook(left_group) == 200
    user = await telegram_user(backend, SITI)
    assert user is not None and user.reachable is True

    assert len(standin.calls) == calls  # nothing is said to someone who just blocked the bot
    assert await conversation_of(backend, SITI) == ("account.consent", {})


# --- 7. when Telegram or the service fails ----------------------------------------------


async def test_a_telegram_server_error_does_not_stop_the_service(
    standin: BotApiStandIn, webhook_service: RunningService
) -> None:
    siti = Warga(standin, "webhook", SITI)
    standin.fail_next("sendMessage", 500)

    lost = await siti.say("/start", answers=0)  # acknowledged; the answer could not be sent

    assert lost.texts == []
    assert [c.status for c in standin.calls if c.method == "sendMessage"] == [500]
    again = await siti.say("/start")
    assert "27/2022" in again.text
    await siti.press("✅ Setuju", answers=2)
    budi = Warga(standin, "webhook", BUDI)
    assert "27/2022" in (await budi.say("/start")).text
    await siti.settled()


async def test_a_resident_who_blocked_the_bot_is_marked_unreachable_when_a_send_is_refused(
    standin: BotApiStandIn, webhook_service: RunningService
) -> None:
    backend = webhook_service.backend
    siti = Warga(standin, "webhook", SITI)
    await siti.say("/start")
    standin.fail_next("sendMessage", 403)

    await siti.say("/bantuan", answers=0)

    user = await telegram_user(backend, SITI)
    assert user is not None and user.reachable is False
    # Writing again proves the chat is open: reachable, and answered.
    assert t("common.help") in (await siti.say("/bantuan", answers=2)).texts
    user = await telegram_user(backend, SITI)
    assert user is not None and user.reachable is True


async def test_a_restart_mid_conversation_resumes_at_the_same_step(
    standin: BotApiStandIn, db_url: str, tmp_path: Path
) -> None:
    siti = Warga(standin, "polling", SITI)
    async with running_service(standin, db_url, tmp_path, "polling"):
        await siti.walk_to_problem()

    # Written while the service was down: Telegram keeps it until someone polls.
    waiting = standin.queue_update(standin.text_update(SITI, PROBLEM, first_name="Siti"))

    async with running_service(standin, db_url, tmp_path, "polling") as service:
        resumed = await siti.deliver(waiting, answers=1, queued=True)
        assert resumed.texts == [t("intake.ask_request", max=1000)]
        await siti.say(REQUEST)
        await siti.say("120 meter")
        code = await siti.finish_from_photos()

        row = await usulan_by_code(service.backend, code)
        assert (row.desa_code, row.street, row.category) == (PASAR_BARU, "Jl. Melati", "jalan")
        assert (row.permasalahan, row.usulan) == (PROBLEM, REQUEST)
        assert row.latitude == pytest.approx(3.583412)
        await siti.settled()


async def test_answers_held_back_by_telegrams_flood_limit_still_arrive_in_order(
    standin: BotApiStandIn, webhook_service: RunningService
) -> None:
    standin.set_limits(per_chat_per_second=1)
    siti = Warga(standin, "webhook", SITI)
    await siti.say("/start")

    agreed = await siti.press("✅ Setuju", answers=2)  # two messages within one second

    assert standin.rate_limited, "the stand-in did not hold anything back"
    assert agreed.texts == [t("account.consent_thanks"), t("intake.ask_desa")]
    assert await conversation_of(webhook_service.backend, SITI) == (
        "intake.desa",
        {"draft": {}},
    )
    await siti.settled()


async def test_a_summary_longer_than_one_telegram_message_arrives_whole(
    standin: BotApiStandIn, webhook_service: RunningService
) -> None:
    # 1000 characters each, as the intake allows, but 2000 UTF-16 units each for Telegram.
    problem, request = "🚧" * 1000, "🌊" * 1000
    siti = Warga(standin, "webhook", SITI)
    await siti.walk_to_problem()
    await siti.say(problem)
    await siti.say(request)
    await siti.say("120 meter")
    await siti.press_data("skip:intake.photos")

    summary = await siti.say("200", answers=2)

    assert f"Masalah: {problem}" in summary.text and f"Usulan: {request}" in summary.text
    assert all(len(text.encode("utf-16-le")) // 2 <= 4096 for text in summary.texts)
    assert ("✅ Kirim usulan", "submit") in summary.buttons  # under the last part
    code = tracking_code((await siti.press("Kirim usulan")).text)
    row = await usulan_by_code(webhook_service.backend, code)
    assert (row.permasalahan, row.usulan) == (problem, request)
    await siti.settled()


async def test_a_photo_is_decoded_before_the_transaction_and_a_bomb_refused_politely(
    standin: BotApiStandIn, webhook_service: RunningService, monkeypatch: pytest.MonkeyPatch
) -> None:
    # On SQLite the transaction holds the write lock: a decode inside it stalls every chat.
    backend = webhook_service.backend
    open_units, decoded_with_units_open = 0, []
    unit, decode = backend.unit, media._decode

    @contextlib.asynccontextmanager
    async def watched_unit() -> AsyncIterator[Services]:
        nonlocal open_units
        async with unit() as services:
            open_units += 1
            try:
                yield services
            finally:
                open_units -= 1

    def watched_decode(data: bytes) -> Image.Image:
        decoded_with_units_open.append(open_units)
        return decode(data)

    monkeypatch.setattr(backend, "unit", watched_unit)
    monkeypatch.setattr(media, "_decode", watched_decode)
    standin.add_file("AgACbomb", png_bomb())
    standin.add_file("AgACroad", make_jpeg((320, 240), (90, 90, 90)))
    siti = Warga(standin, "webhook", SITI)
    await siti.walk_to_photos()

    bomb = await siti.photo("AgACbomb")
    assert bomb.texts == [t("intake.photo_too_many_pixels")]
    state, data = await conversation_of(backend, SITI)
    assert state == "intake.photos" and data["draft"]["photos"] == []

    road = await siti.photo("AgACroad")
    assert road.texts == [t("intake.ask_photos", max=3, have=1)]
    assert decoded_with_units_open == [0, 0]  # both photos, neither inside a transaction
    await siti.settled()
