"""Tests of the Bot API stand-in itself, driven through a real aiogram Bot where possible."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiogram import Bot, Dispatcher, F
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramRetryAfter,
    TelegramUnauthorizedError,
)
from aiogram.types import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    Update,
)
from aiohttp import web
from pydantic import ValidationError

from tests.standin import BotApiStandIn
from tests.standin.server import SAMPLES_DIR

USER = 700_001


@pytest.fixture
async def standin() -> AsyncIterator[BotApiStandIn]:
    async with BotApiStandIn() as s:
        yield s


@pytest.fixture
async def bot(standin: BotApiStandIn) -> AsyncIterator[Bot]:
    session = AiohttpSession(api=TelegramAPIServer.from_base(standin.base_url))
    bot = Bot(standin.token, session=session)
    yield bot
    await session.close()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def keyboard(*datas: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text=f"b{i}", callback_data=d)] for i, d in
                         enumerate(datas)]
    )  # fmt: skip


async def raw_call(
    http: aiohttp.ClientSession, standin: BotApiStandIn, method: str, **params: Any
) -> tuple[int, dict[str, Any]]:
    url = f"{standin.base_url}/bot{standin.token}/{method}"
    async with http.post(url, data={k: str(v) for k, v in params.items()}) as resp:
        return resp.status, await resp.json()


# ---------------------------------------------------------------- sending and validation


async def test_valid_send_message_is_recorded_and_parsed(standin: BotApiStandIn, bot: Bot) -> None:
    first = await bot.send_message(USER, "Usulan diterima", reply_markup=keyboard("ok", "batal"))
    second = await bot.send_message(USER, "Kedua")

    assert isinstance(first, Message)
    assert first.text == "Usulan diterima"
    assert first.chat.id == USER and first.chat.type == "private"
    assert first.from_user is not None and first.from_user.id == bot.id
    assert first.reply_markup is not None
    assert first.reply_markup.inline_keyboard[1][0].callback_data == "batal"
    assert second.message_id == first.message_id + 1
    call = standin.calls[0]
    assert call.method == "sendMessage" and call.chat_id == USER and call.status == 200
    assert call.params["reply_markup"]["inline_keyboard"][0][0] == {
        "text": "b0",
        "callback_data": "ok",
    }
    assert standin.sent_texts(USER) == ["Usulan diterima", "Kedua"]
    assert standin.last_markup(USER) is None  # the last message had no keyboard
    standin.assert_no_violations()


async def test_get_me_returns_the_bot_user(bot: Bot) -> None:
    me = await bot.get_me()
    assert me.is_bot and me.id == 123456 and me.username == "musrenbot_test_bot"


async def test_callback_data_over_64_bytes_is_a_violation(standin: BotApiStandIn, bot: Bot) -> None:
    await bot.send_message(USER, "64 bytes fit", reply_markup=keyboard("é" * 32))
    standin.assert_no_violations()

    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(USER, "65 bytes do not", reply_markup=keyboard("x" * 65))
    assert len(standin.violations) == 1
    assert "65 bytes" in standin.violations[0]
    assert standin.calls[-1].status == 400
    with pytest.raises(AssertionError, match="BUTTON_DATA_INVALID"):
        standin.assert_no_violations()


async def test_button_without_action_or_with_unknown_field_is_a_violation(
    standin: BotApiStandIn, http: aiohttp.ClientSession
) -> None:
    markups = [
        {"inline_keyboard": [[{"text": "no action"}]]},
        {"inline_keyboard": [[{"text": "two", "callback_data": "a", "url": "https://x.id"}]]},
        {"inline_keyboard": [[{"text": "odd", "callback_data": "a", "colour": "red"}]]},
        "{not json",
    ]
    for markup in markups:
        value = markup if isinstance(markup, str) else json.dumps(markup)
        status, _ = await raw_call(
            http, standin, "sendMessage", chat_id=USER, text="t", reply_markup=value
        )
        assert status == 400
    assert len(standin.violations) == len(markups)
    assert "exactly one action" in standin.violations[0]
    assert "colour" in standin.violations[2]
    assert "can't parse" in standin.violations[3]


async def test_text_length_limits_count_utf16_after_html(standin: BotApiStandIn, bot: Bot) -> None:
    await bot.send_message(USER, "a" * 4096)
    await bot.send_message(USER, "<b>" + "a" * 4090 + "</b>&lt;&amp;&gt;xyz", parse_mode="HTML")
    await bot.send_message(USER, "😀" * 2048)  # 4096 UTF-16 units
    standin.assert_no_violations()

    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(USER, "a" * 4097)
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(USER, "😀" * 2049)
    assert len(standin.violations) == 2


async def test_caption_limit_and_invalid_html(standin: BotApiStandIn, bot: Bot) -> None:
    standin.add_file("photo-1", b"\xff\xd8jpeg")
    await bot.send_photo(USER, "photo-1", caption="c" * 1024)
    standin.assert_no_violations()

    with pytest.raises(TelegramBadRequest, match="caption is too long"):
        await bot.send_photo(USER, "photo-1", caption="c" * 1025)
    with pytest.raises(TelegramBadRequest, match="Unsupported start tag"):
        await bot.send_message(USER, "baris<br>baris", parse_mode="HTML")
    with pytest.raises(TelegramBadRequest, match="can't parse entities"):
        await bot.send_message(USER, "skor 3 < 5", parse_mode="HTML")
    assert len(standin.violations) == 3


async def test_unknown_and_missing_parameters_are_violations(
    standin: BotApiStandIn, http: aiohttp.ClientSession
) -> None:
    status, body = await raw_call(http, standin, "sendMessage", chat_id=USER, text="a", colour=1)
    assert status == 400 and body["ok"] is False and body["error_code"] == 400
    assert 'unknown parameter "colour"' in body["description"]

    status, body = await raw_call(http, standin, "sendMessage", chat_id=USER)
    assert status == 400 and body["description"] == "Bad Request: message text is empty"

    status, body = await raw_call(http, standin, "sendPhoto", chat_id=USER)
    assert status == 400 and 'parameter "photo" is required' in body["description"]

    assert len(standin.violations) == 3


async def test_chat_id_must_be_integer_or_username(
    standin: BotApiStandIn, http: aiohttp.ClientSession
) -> None:
    status, _ = await raw_call(http, standin, "sendMessage", chat_id="@kelurahan", text="a")
    assert status == 200
    status, _ = await raw_call(http, standin, "sendMessage", chat_id="warga-1", text="a")
    assert status == 400
    assert len(standin.violations) == 1 and "chat not found" in standin.violations[0]


async def test_unknown_method_and_wrong_token_are_violations(
    standin: BotApiStandIn, http: aiohttp.ClientSession
) -> None:
    status, body = await raw_call(http, standin, "sendMesage", chat_id=USER, text="a")
    assert status == 404 and body["description"] == "Not Found"

    bad = Bot(
        "999:WRONG",
        session=AiohttpSession(api=TelegramAPIServer.from_base(standin.base_url)),
    )
    try:
        with pytest.raises(TelegramUnauthorizedError):
            await bad.get_me()
    finally:
        await bad.session.close()
    assert len(standin.violations) == 2
    assert "sendMesage" in standin.violations[0]
    assert "token" in standin.violations[1]


async def test_methods_match_case_insensitively_and_accept_json_and_get(
    standin: BotApiStandIn, http: aiohttp.ClientSession
) -> None:
    base = f"{standin.base_url}/bot{standin.token}"
    async with http.post(f"{base}/SENDMESSAGE", json={"chat_id": USER, "text": "json"}) as resp:
        assert resp.status == 200
    async with http.get(f"{base}/sendmessage", params={"chat_id": USER, "text": "get"}) as resp:
        assert resp.status == 200
    assert [c.method for c in standin.calls] == ["sendMessage", "sendMessage"]
    assert standin.sent_texts(USER) == ["json", "get"]
    standin.assert_no_violations()


async def test_reply_keyboard_is_refused_where_only_inline_is_allowed(
    standin: BotApiStandIn, bot: Bot, http: aiohttp.ClientSession
) -> None:
    sent = await bot.send_message(
        USER,
        "Bagikan lokasi",
        reply_markup=ReplyKeyboardMarkup(
            keyboard=[[KeyboardButton(text="Kirim lokasi", request_location=True)]]
        ),
    )
    assert sent.reply_markup is None  # Telegram only echoes inline keyboards
    assert standin.last_markup(USER) is not None
    standin.assert_no_violations()

    # aiogram refuses this client-side, so send it raw as another client could.
    status, body = await raw_call(
        http,
        standin,
        "editMessageReplyMarkup",
        chat_id=USER,
        message_id=sent.message_id,
        reply_markup=json.dumps({"keyboard": [["x"]]}),
    )
    assert status == 400 and "inline keyboard expected" in body["description"]
    assert len(standin.violations) == 1


async def test_editing_to_identical_content_is_refused_like_telegram(
    standin: BotApiStandIn, bot: Bot
) -> None:
    sent = await bot.send_message(USER, "Status: baru", reply_markup=keyboard("a"))
    edited = await bot.edit_message_text(
        "Status: diverifikasi", chat_id=USER, message_id=sent.message_id
    )
    assert isinstance(edited, Message)
    assert edited.text == "Status: diverifikasi" and edited.edit_date is not None
    assert standin.last_markup(USER) is None  # editing without a markup removes it

    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text(
            "Status: diverifikasi", chat_id=USER, message_id=sent.message_id
        )
    standin.assert_no_violations()  # a Telegram refusal, not an invalid call


# ---------------------------------------------------------------- polling


async def test_get_updates_honours_offset_and_limit(standin: BotApiStandIn, bot: Bot) -> None:
    for text in ("satu", "dua", "tiga"):
        standin.queue_update(standin.text_update(USER, text))

    first = await bot.get_updates(limit=2, timeout=0)
    assert [u.message.text for u in first if u.message] == ["satu", "dua"]
    again = await bot.get_updates(timeout=0)  # nothing confirmed yet
    assert len(again) == 3
    rest = await bot.get_updates(offset=first[-1].update_id + 1, timeout=0)
    assert [u.message.text for u in rest if u.message] == ["tiga"]
    assert len(standin.pending_updates) == 1
    assert await bot.get_updates(offset=rest[-1].update_id + 1, timeout=0) == []
    assert standin.pending_updates == []


async def test_long_poll_wakes_when_an_update_is_queued(standin: BotApiStandIn, bot: Bot) -> None:
    poll = asyncio.create_task(bot.get_updates(timeout=10))
    await standin.wait_for(lambda s: s.waiting_pollers == 1)
    started = time.monotonic()
    standin.queue_update(standin.text_update(USER, "halo"))
    updates = await asyncio.wait_for(poll, 2)
    assert time.monotonic() - started < 0.5
    assert updates[0].message is not None and updates[0].message.text == "halo"


async def test_long_poll_returns_empty_after_its_timeout(bot: Bot) -> None:
    started = time.monotonic()
    assert await bot.get_updates(timeout=1) == []
    assert 0.9 <= time.monotonic() - started < 2.0


async def test_stop_is_prompt_while_a_long_poll_is_pending() -> None:
    standin = BotApiStandIn()
    await standin.start()
    async with aiohttp.ClientSession() as http:
        url = f"{standin.base_url}/bot{standin.token}/getUpdates"
        poll = asyncio.create_task(http.post(url, data={"timeout": "30"}))
        await standin.wait_for(lambda s: s.waiting_pollers == 1)
        started = time.monotonic()
        await standin.stop()
        assert time.monotonic() - started < 1.5
        resp = await asyncio.wait_for(poll, 2)
        assert (await resp.json())["result"] == []
        resp.release()


async def test_update_types_not_allowed_are_not_delivered(standin: BotApiStandIn, bot: Bot) -> None:
    standin.queue_update(standin.text_update(USER, "pesan"))
    standin.queue_update(standin.callback_update(USER, "x"))
    updates = await bot.get_updates(timeout=0, allowed_updates=["callback_query"])
    assert [u.callback_query is not None for u in updates] == [True]


async def test_dispatcher_polling_round_trip(standin: BotApiStandIn, bot: Bot) -> None:
    dp = Dispatcher()

    @dp.message(F.text == "/start")
    async def start(message: Message) -> None:
        await message.answer("Selamat datang", reply_markup=keyboard("usul"))

    @dp.callback_query(F.data == "usul")
    async def usul(query: Any) -> None:
        await query.answer()
        await query.message.edit_text("Tulis usulan Anda")

    polling = asyncio.create_task(
        dp.start_polling(bot, handle_signals=False, close_bot_session=False, polling_timeout=1)
    )
    try:
        standin.queue_update(standin.text_update(USER, "/start"))
        await standin.wait_for_calls(1, "sendMessage", chat_id=USER)
        assert standin.last_markup(USER) == {
            "inline_keyboard": [[{"text": "b0", "callback_data": "usul"}]]
        }
        with pytest.raises(ValueError, match="no button"):
            standin.callback_update(USER, "hapus")
        standin.queue_update(standin.callback_update(USER, "usul"))
        await standin.wait_for_calls(1, "editMessageText", chat_id=USER)
        await standin.wait_for_calls(1, "answerCallbackQuery")
    finally:
        await dp.stop_polling()
        await polling
    assert standin.sent_texts(USER) == ["Selamat datang", "Tulis usulan Anda"]
    standin.assert_no_violations()


async def test_wait_for_times_out_with_the_recent_calls(standin: BotApiStandIn, bot: Bot) -> None:
    await bot.send_message(USER, "sudah terkirim")
    with pytest.raises(TimeoutError, match="sudah terkirim"):
        await standin.wait_for_calls(2, "sendMessage", timeout=0.1)


# ---------------------------------------------------------------- files


async def test_get_file_and_download(standin: BotApiStandIn, bot: Bot) -> None:
    content = b"\xff\xd8foto-jalan-rusak" * 100
    standin.add_file("photo-jalan", content)
    file = await bot.get_file("photo-jalan")
    assert file.file_size == len(content) and file.file_path
    downloaded = await bot.download(file)
    assert downloaded is not None and downloaded.read() == content

    with pytest.raises(TelegramBadRequest, match="invalid file_id"):
        await bot.get_file("tidak-ada")


async def test_file_over_20_mb_is_refused(standin: BotApiStandIn, bot: Bot) -> None:
    standin.add_file("video-besar", size=21 * 1024 * 1024)
    with pytest.raises(TelegramBadRequest, match="file is too big"):
        await bot.get_file("video-besar")
    standin.assert_no_violations()  # a refusal the bot must handle, not an invalid call


# ---------------------------------------------------------------- failure injection


async def test_fail_next_429_raises_retry_after(standin: BotApiStandIn, bot: Bot) -> None:
    standin.fail_next("sendmessage", 429, retry_after=7)
    with pytest.raises(TelegramRetryAfter) as caught:
        await bot.send_message(USER, "coba")
    assert caught.value.retry_after == 7
    await bot.send_message(USER, "coba lagi")
    assert [c.status for c in standin.calls] == [429, 200]
    assert standin.sent_texts(USER) == ["coba lagi"]
    standin.assert_no_violations()


async def test_fail_next_403_and_count(standin: BotApiStandIn, bot: Bot) -> None:
    standin.fail_next("sendMessage", 403, count=2)
    for _ in range(2):
        with pytest.raises(TelegramForbiddenError, match="blocked by the user"):
            await bot.send_message(USER, "halo")
    await bot.send_message(USER, "halo")

    standin.fail_next("getChat", 400)
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.get_chat(USER)
    with pytest.raises(ValueError, match="unknown Bot API method"):
        standin.fail_next("sendMesage", 500)
    standin.assert_no_violations()


async def test_rate_limits_answer_429(standin: BotApiStandIn, bot: Bot) -> None:
    standin.set_limits(per_chat_per_second=2)
    await bot.send_message(USER, "1")
    await bot.send_message(USER, "2")
    with pytest.raises(TelegramRetryAfter) as caught:
        await bot.send_message(USER, "3")
    assert caught.value.retry_after >= 1
    await bot.send_message(USER + 1, "other chat is fine")
    assert len(standin.rate_limited) == 1 and standin.rate_limited[0].params["text"] == "3"
    standin.assert_no_violations()

    standin.set_limits(global_per_second=1)
    await bot.send_message(USER + 2, "a")
    with pytest.raises(TelegramRetryAfter):
        await bot.send_message(USER + 3, "b")


async def test_group_limit_counts_per_minute(standin: BotApiStandIn, bot: Bot) -> None:
    standin.set_limits(group_per_minute=1)
    await bot.send_message(-1001234, "rapat")
    await bot.send_message(USER, "private chats are not limited by it")
    with pytest.raises(TelegramRetryAfter) as caught:
        await bot.send_message(-1001234, "rapat lagi")
    assert caught.value.retry_after > 50


# ---------------------------------------------------------------- webhook


async def test_post_to_webhook_sends_secret_and_runs_the_reply(
    standin: BotApiStandIn, bot: Bot
) -> None:
    received: list[tuple[str | None, dict[str, Any]]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(
            (request.headers.get("X-Telegram-Bot-Api-Secret-Token"), await request.json())
        )
        return web.json_response({"method": "sendMessage", "chat_id": USER, "text": "dibalas"})

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        url = f"http://{host}:{port}/hook"
        assert await bot.set_webhook(url, secret_token="rahasia-123")
        info = await bot.get_webhook_info()
        assert info.url == url

        update = standin.text_update(USER, "halo")
        assert await standin.post_to_webhook(update) == 200
        assert await standin.post_to_webhook(update, secret="") == 200
    finally:
        await runner.cleanup()

    assert received[0][0] == "rahasia-123"
    assert received[0][1] == update
    assert received[1][0] is None
    assert standin.sent_texts(USER) == ["dibalas", "dibalas"]

    with pytest.raises(TelegramConflictError, match="webhook is active"):
        await bot.get_updates(timeout=0)
    assert len(standin.violations) == 1


# ---------------------------------------------------------------- simulated users and samples


async def test_update_helpers_build_updates_aiogram_accepts(standin: BotApiStandIn) -> None:
    standin.add_file("foto-1", b"jpeg", size=90_000)
    updates = [
        standin.text_update(USER, "/start kode"),
        standin.callback_update(USER, "menu"),
        standin.location_update(USER, -6.2, 106.8),
        standin.photo_update(USER, "foto-1", media_group_id="g1", caption="jalan rusak"),
        standin.document_update(USER, "doc-1", "application/pdf", "proposal.pdf"),
        standin.sticker_update(USER),
        standin.voice_update(USER),
        standin.video_update(USER),
        standin.my_chat_member_update(USER, "member", "kicked"),
        standin.edited_text_update(USER, 1, "/start kode baru"),
    ]
    parsed = [Update.model_validate(u) for u in updates]
    ids = [u.update_id for u in parsed]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert [u.event_type for u in parsed] == [
        "message", "callback_query", "message", "message", "message", "message", "message",
        "message", "my_chat_member", "edited_message",
    ]  # fmt: skip
    start = parsed[0].message
    assert start is not None and start.chat.id == USER and start.from_user is not None
    assert start.entities is not None and start.entities[0].type == "bot_command"
    assert start.entities[0].length == len("/start")
    photo = parsed[3].message
    assert photo is not None and photo.photo is not None
    assert [p.file_size for p in photo.photo] == sorted(p.file_size or 0 for p in photo.photo)
    assert photo.photo[-1].file_id == "foto-1" and photo.photo[-1].file_size == 90_000
    message_ids = [u.message.message_id for u in parsed if u.message]
    assert message_ids == sorted(message_ids)
    member = parsed[8].my_chat_member
    assert member is not None and member.new_chat_member.status == "kicked"


def test_vendored_samples_parse_and_legacy_one_is_rejected() -> None:
    names = sorted(p.name for p in SAMPLES_DIR.glob("*.json"))
    assert len(names) == 30
    for name in names:
        Update.model_validate(BotApiStandIn.sample_update(name))
    legacy = json.loads((SAMPLES_DIR / "legacy" / "zanzara_message_sticker_legacy_2020.json")
                        .read_text(encoding="utf-8"))  # fmt: skip
    with pytest.raises(ValidationError):
        Update.model_validate(legacy)


async def test_queue_update_assigns_ids_and_refuses_confirmed_ones(
    standin: BotApiStandIn, bot: Bot
) -> None:
    sample = BotApiStandIn.sample_update("zanzara_message_text_private")
    queued = standin.queue_update(sample)
    assert queued["update_id"] == sample["update_id"]
    fresh = standin.queue_update({"message": sample["message"]})
    assert fresh["update_id"] == sample["update_id"] + 1
    updates = await bot.get_updates(timeout=0)
    await bot.get_updates(offset=updates[-1].update_id + 1, timeout=0)
    with pytest.raises(ValueError, match="already confirmed"):
        standin.queue_update(sample)
