"""The webhook edge: who may post, what it does with what Telegram really sends, and that an
update delivered twice is handled once. Webhook mode, on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import logging
from typing import Any

import aiohttp
import pytest

from backend.storage.models import ProcessedUpdate, User
from tests.e2e_fixtures import Warga, row_count, standin, t, telegram_user, webhook_service
from tests.harness import WEBHOOK_SECRET, RunningService
from tests.standin import BotApiStandIn
from tests.standin.server import SAMPLES_DIR

__all__ = ["standin", "webhook_service"]  # fixtures used by the tests below

SITI = 5_300_001
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"

SAMPLES = sorted(p.relative_to(SAMPLES_DIR).as_posix() for p in SAMPLES_DIR.rglob("*.json"))
# Ignored on purpose: not a private conversation with the bot, or an edit of an old message.
IGNORED = {
    "telemetree_edited_message_private.json",
    "zanzara_edited_message_reply.json",
    "teloxide_message_pinned_supergroup.json",
    "teloxide_message_reaction_supergroup.json",
    "teloxide_message_supergroup_bot_command_reply.json",
    "zanzara_channel_post_text.json",
    "zanzara_edited_channel_post_text.json",
    # Recorded (the person blocked the bot), never answered: they cannot read it.
    "teloxide_my_chat_member_private_bot_blocked.json",
    # A 2020 sticker without the fields every sticker has had since: acknowledged, dropped.
    "legacy/zanzara_message_sticker_legacy_2020.json",
}
BUTTON_PRESSES = {
    "litegram_callback_query_base64_data.json",
    "zanzara_callback_query_inline_keyboard.json",
}


def _errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    """What the service logged as an error: an operator reads each as something broken."""
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


def _chat_of(update: dict[str, Any]) -> int:
    kind = next(k for k in update if k != "update_id")
    body = update[kind]
    chat = body["message"]["chat"] if kind == "callback_query" else body["chat"]
    return int(chat["id"])


async def _post_raw(
    service: RunningService, body: bytes, headers: dict[str, str]
) -> tuple[int, str]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{service.base_url}/telegram/webhook", data=body, headers=headers) as resp,
    ):
        return resp.status, await resp.text()


# --- 3. who may post --------------------------------------------------------------------


async def test_a_post_without_the_right_secret_is_refused_and_not_processed(
    standin: BotApiStandIn, webhook_service: RunningService
) -> None:
    # "" sends no secret header at all.
    for secret in ("not-the-secret", WEBHOOK_SECRET[:-1], WEBHOOK_SECRET + "x", ""):
        update = standin.text_update(SITI, "/start")

        status = await standin.post_to_webhook(update, secret=secret)

        assert status == 401, secret
    assert standin.sent_texts(SITI) == []
    assert await row_count(webhook_service.backend, User) == 0
    assert await row_count(webhook_service.backend, ProcessedUpdate) == 0


async def test_a_post_with_the_right_secret_is_answered(
    standin: BotApiStandIn, webhook_service: RunningService
) -> None:
    assert standin.webhook_secret == WEBHOOK_SECRET  # what the service registered

    status = await standin.post_to_webhook(standin.text_update(SITI, "/start"))

    assert status == 200
    assert len(standin.sent_texts(SITI)) == 1
    assert "27/2022" in standin.sent_texts(SITI)[0]


async def test_a_body_that_is_not_an_update_object_gets_400(
    standin: BotApiStandIn, webhook_service: RunningService
) -> None:
    headers = {"Content-Type": "application/json", SECRET_HEADER: WEBHOOK_SECRET}
    deep_array = b"[" * 100_000 + b"]" * 100_000  # RecursionError in the JSON decoder
    deep_update = (  # valid JSON, nested too deep for the Update model
        b'{"update_id": 7, "message": ' + b'{"a": ' * 5_000 + b"1" + b"}" * 5_000 + b"}"
    )
    bodies = (b"this is not json", b"", b'{"update_id": 1,', b"[1, 2, 3]", b'"update"',
              deep_array, deep_update)  # fmt: skip
    for body in bodies:
        status, _ = await _post_raw(webhook_service, body, headers)

        assert status in {400, 413}, body[:40]
    assert await row_count(webhook_service.backend, ProcessedUpdate) == 0
    # Nothing broke: the next real update is answered.
    assert await standin.post_to_webhook(standin.text_update(SITI, "/start")) == 200
    assert len(standin.sent_texts(SITI)) == 1


async def test_a_body_that_is_not_json_without_the_secret_still_gets_401(
    standin: BotApiStandIn, webhook_service: RunningService
) -> None:
    status, _ = await _post_raw(webhook_service, b"junk", {"Content-Type": "application/json"})
    assert status == 401


async def test_an_update_delivered_twice_is_acknowledged_twice_and_answered_once(
    standin: BotApiStandIn, webhook_service: RunningService
) -> None:
    siti = Warga(standin, "webhook", SITI)
    await siti.say("/start")
    press = standin.callback_update(SITI, "consent:yes")
    text = standin.text_update(SITI, "pasar baru")

    # Telegram redelivers when it did not see our 200 in time.
    assert [await standin.post_to_webhook(press) for _ in range(2)] == [200, 200]
    assert [await standin.post_to_webhook(text) for _ in range(3)] == [200, 200, 200]

    answers = [
        c for c in standin.calls
        if c.method == "answerCallbackQuery" and c.params["callback_query_id"] == press[
            "callback_query"]["id"]
    ]  # fmt: skip
    assert len(answers) == 1
    assert standin.sent_texts(SITI)[1:] == [
        t("account.consent_thanks"),
        t("intake.ask_desa"),
        t("intake.desa_pick"),
    ]
    user = await telegram_user(webhook_service.backend, SITI)
    assert user is not None and user.consent_at is not None


# --- 4. what Telegram really sends ------------------------------------------------------


async def test_every_recorded_update_is_acknowledged_and_handled_or_ignored_on_purpose(
    standin: BotApiStandIn, webhook_service: RunningService, caplog: pytest.LogCaptureFixture
) -> None:
    assert len(SAMPLES) >= 31 and any(name.startswith("legacy/") for name in SAMPLES)
    for name in SAMPLES:
        update = json.loads((SAMPLES_DIR / name).read_text(encoding="utf-8"))
        update.pop("update_id")  # a fresh id each, so no sample is taken for another's retry
        before = len(standin.calls)

        status = await standin.post_to_webhook(update)

        assert status == 200, name
        made = standin.calls[before:]
        if name in IGNORED:
            assert made == [], f"{name}: {[c.method for c in made]}"
        elif name in BUTTON_PRESSES:
            query_id = update["callback_query"]["id"]
            assert [(c.method, c.params.get("callback_query_id")) for c in made] == [
                ("answerCallbackQuery", query_id)
            ], name
            assert made[0].params.get("text") == t("common.stale_button")
        else:
            replies = [c for c in made if c.method == "sendMessage"]
            assert replies, f"{name}: no answer"
            assert {c.chat_id for c in replies} == {_chat_of(update)}, name
        standin.assert_no_violations()

    assert _errors(caplog) == []
    siti = Warga(standin, "webhook", SITI)
    hello = await siti.say("/start")
    assert "27/2022" in hello.text


async def test_group_messages_and_commands_get_no_answer(
    standin: BotApiStandIn, webhook_service: RunningService
) -> None:
    for kind, text in [
        ("group", "/start"),
        ("group", "pasar baru"),
        ("supergroup", "/start@musrenbot_test_bot"),
        ("supergroup", "/status K7QM-4RXT"),
        ("supergroup", "halo semua"),
    ]:
        update = standin.text_update(SITI, text, chat_type=kind)

        assert await standin.post_to_webhook(update) == 200

    assert standin.calls[-1].method == "setWebhook"  # nothing since the service started
    assert await row_count(webhook_service.backend, User) == 0


async def test_an_edited_message_changes_nothing_and_gets_no_answer(
    standin: BotApiStandIn, webhook_service: RunningService
) -> None:
    siti = Warga(standin, "webhook", SITI)
    await siti.say("/start")
    await siti.press("✅ Setuju", answers=2)
    typed = standin.text_update(SITI, "pasar baru")
    await siti.deliver(typed, answers=1)
    calls = len(standin.calls)

    edited = standin.edited_text_update(SITI, typed["message"]["message_id"], "sei rengas")
    assert await standin.post_to_webhook(edited) == 200

    assert len(standin.calls) == calls
    await siti.settled()


async def test_updates_the_bot_never_asked_for_are_acknowledged_quietly(
    standin: BotApiStandIn, webhook_service: RunningService, caplog: pytest.LogCaptureFixture
) -> None:
    # Not in allowed_updates, yet a proxy may pass them on; the last is a kind newer than
    # this aiogram knows.
    siti = {"id": SITI, "is_bot": False, "first_name": "Siti"}
    inline = {"inline_query": {"id": "77", "from": siti, "query": "jalan", "offset": ""}}
    poll = {"poll_answer": {"poll_id": "5", "user": siti, "option_ids": [0],
                            "option_persistent_ids": ["a"]}}  # fmt: skip
    future = {"some_future_update": {"chat": {"id": SITI, "type": "private"}}}

    for update in (inline, poll, future):
        assert await standin.post_to_webhook(update) == 200

    assert standin.calls[-1].method == "setWebhook"
    assert _errors(caplog) == []
