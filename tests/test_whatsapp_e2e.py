"""Residents on WhatsApp, end to end: the real service behind the Cloud API stand-in, on SQLite
and on PostgreSQL. Each test ends with the stand-in having seen no call Meta would refuse (the
`wa_standin` fixture checks it)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from backend.services.wiring import Backend
from backend.storage.models import ChannelIdentity, Conversation, User
from bot.asgi import create_app
from tests.chat import make_jpeg
from tests.conftest import make_settings
from tests.e2e_fixtures import (
    ADDRESS,
    PASAR_BARU,
    PROBLEM,
    REQUEST,
    t,
    tracking_code,
    usulan_by_code,
)
from tests.harness import RunningService, running_service
from tests.whatsapp import CloudApiStandIn
from tests.whatsapp.fixtures import wa_clock, wa_standin
from tests.whatsapp.payloads import Identity, meta_json, sample_updates

__all__ = ["wa_clock", "wa_standin"]  # fixtures used by name below

SITI = "6281234567890"
BUDI = "6285298765432"


@pytest.fixture
async def service(
    wa_standin: CloudApiStandIn, db_url: str, tmp_path: Path
) -> AsyncIterator[RunningService]:
    """The whole service with WhatsApp only, on SQLite and on PostgreSQL."""
    async with running_service(None, db_url, tmp_path, "webhook", whatsapp=wa_standin) as running:
        yield running


class Resident:
    """One WhatsApp user. Each action posts one webhook and returns what the bot sent back
    (the webhook is answered once the replies went out)."""

    def __init__(self, api: CloudApiStandIn, wa_id: str, identity: Identity = "both") -> None:
        self.api = api
        self.wa_id = wa_id
        self.identity = identity

    async def post(self, payload: dict[str, Any], status: int = 200) -> list[dict[str, Any]]:
        before = len(self.api.messages_to(self.wa_id))
        assert await self.api.post_webhook(payload) == status
        return self.api.messages_to(self.wa_id)[before:]

    async def say(self, text: str) -> list[dict[str, Any]]:
        return await self.post(self.api.text_message(self.wa_id, text, identity=self.identity))

    def choices(self) -> list[tuple[str, str]]:
        """(id, title) of the buttons or list rows of the last interactive message."""
        last = self.api.last_interactive(self.wa_id) or {}
        action = last.get("action", {})
        if last.get("type") == "button":
            return [(b["reply"]["id"], b["reply"]["title"]) for b in action["buttons"]]
        rows = [r for s in action.get("sections", []) for r in s["rows"]]
        return [(r["id"], r["title"]) for r in rows]

    async def choose(self, title: str) -> list[dict[str, Any]]:
        """Tap the button or list row whose title is or contains `title`."""
        last = self.api.last_interactive(self.wa_id) or {}
        found = [(i, tt) for i, tt in self.choices() if tt == title] or [
            (i, tt) for i, tt in self.choices() if title in tt
        ]
        assert len(found) == 1, f"no single choice {title!r} in {self.choices()}"
        row_id, shown = found[0]
        if last.get("type") == "button":
            payload = self.api.button_reply(self.wa_id, row_id, shown, identity=self.identity)
        else:
            payload = self.api.list_reply(self.wa_id, row_id, shown, identity=self.identity)
        return await self.post(payload)


def texts(bodies: list[dict[str, Any]]) -> list[str]:
    shown = []
    for body in bodies:
        kind = body.get("type", "text")
        part = body[kind]
        shown.append(part["body"] if kind == "text" else part.get("body", {}).get("text", ""))
    return shown


async def whatsapp_users(backend: Backend) -> list[User]:
    async with backend.sessionmaker() as session:
        return list(await session.scalars(select(User).where(User.channel == "whatsapp")))


async def walk_to_category(siti: Resident) -> None:
    await siti.say("mulai")
    await siti.choose("✅ Setuju")
    await siti.say("pasar baru")
    await siti.choose("Kelurahan Pasar Baru")
    await siti.post(siti.api.location_message(siti.wa_id, 3.583412, 98.67223))
    await siti.say(ADDRESS)


# --- the handshake and the signature -----------------------------------------------------


async def test_the_subscription_handshake_answers_the_challenge_only_to_the_right_token(
    wa_standin: CloudApiStandIn, service: RunningService
) -> None:
    assert await wa_standin.verify_subscription(challenge="8851") == (200, "8851")
    assert (await wa_standin.verify_subscription(verify_token="guess"))[0] == 403
    assert (await wa_standin.verify_subscription(mode="unsubscribe"))[0] == 403


async def test_a_post_without_the_apps_signature_is_refused_and_nothing_is_processed(
    wa_standin: CloudApiStandIn, service: RunningService
) -> None:
    payload = wa_standin.text_message(SITI, "mulai")
    assert await wa_standin.post_webhook(payload, signature="") == 401
    assert await wa_standin.post_webhook(payload, secret="not-the-app-secret") == 403
    assert await wa_standin.post_webhook(payload, signature="sha256=" + "0" * 64) == 403
    # The right signature over other bytes than those sent.
    forged = wa_standin.signature(b"{}")
    assert await wa_standin.post_webhook(payload, signature=forged) == 403

    assert wa_standin.messages_to(SITI) == [] and wa_standin.read_receipts == []
    assert await whatsapp_users(service.backend) == []


# --- every payload Meta sends ------------------------------------------------------------


async def test_every_vendored_payload_is_acknowledged_without_an_error(
    wa_standin: CloudApiStandIn, service: RunningService, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    statuses = {}
    for file, name, payload in sample_updates():
        statuses[f"{file}/{name}"] = await wa_standin.post_webhook(payload)
    assert set(statuses.values()) == {200}, statuses
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]
    # The only refused calls: looking up the placeholder media ids of upstream's image
    # samples, which the stand-in never held (the resident is asked to send the photo again).
    refused = [v.split(" (")[0] for v in wa_standin.violations]
    assert refused and all(v.startswith("GET /v23.0/") for v in refused), refused
    wa_standin.violations.clear()


# --- a complete intake -------------------------------------------------------------------


async def test_a_resident_submits_an_usulan_with_photos_and_a_location(
    wa_standin: CloudApiStandIn, service: RunningService
) -> None:
    siti = Resident(wa_standin, SITI)

    hello = await siti.say("mulai")
    assert "27/2022" in texts(hello)[-1]  # the privacy notice before anything is stored
    assert [title for _, title in siti.choices()] == ["✅ Setuju", "Tidak setuju"]

    agreed = await siti.choose("✅ Setuju")
    assert texts(agreed) == [t("account.consent_thanks"), t("intake.ask_desa")]

    found = await siti.say("pasar baru")
    assert found[-1]["interactive"]["type"] == "list"  # names longer than a button's title
    rows = found[-1]["interactive"]["action"]["sections"][0]["rows"]
    pasar = next(r for r in rows if r["id"] == f"desa:{PASAR_BARU}")
    assert pasar["title"] == "Kelurahan Pasar Baru…"
    assert pasar["description"] == "Kelurahan Pasar Baru (Kec. Medan Kota)"

    chosen = await siti.choose("Kelurahan Pasar Baru")
    assert [b["type"] for b in chosen] == ["text", "interactive", "interactive"]
    assert chosen[1]["interactive"]["type"] == "location_request_message"
    assert chosen[1]["interactive"]["body"]["text"] == t("intake.ask_location")
    assert siti.choices() == [("typed:Lewati", "Lewati")]

    located = await siti.post(wa_standin.location_message(SITI, 3.583412, 98.67223))
    assert texts(located) == [t("intake.location_saved"), t("intake.ask_address")]
    asked = await siti.say(ADDRESS)
    assert texts(asked) == [t("intake.ask_category")]
    category = await siti.choose("Jalan & jembatan")
    assert texts(category)[-1] == t("intake.ask_problem", max=1000)
    assert texts(await siti.say(PROBLEM)) == [t("intake.ask_request", max=1000)]
    assert texts(await siti.say(REQUEST)) == [t("intake.ask_volume")]
    assert texts(await siti.say("120 meter")) == [t("intake.ask_photos", max=3, have=0)]

    # Two images picked together arrive as two webhooks: one answer for both.
    photos = [make_jpeg((320, 240), (180, 40, 40), gps=True), make_jpeg((320, 240), (40, 160, 40))]
    answered = []
    for payload in wa_standin.image_messages(SITI, photos):
        answered += await siti.post(payload)
    assert texts(answered) == [t("intake.album_received", max=3)]

    done = await siti.choose("Selesai")
    assert texts(done) == [t("intake.ask_beneficiaries")]
    summary = await siti.say("sekitar 200 KK")
    shown = "\n".join(texts(summary))
    for part in ("Kelurahan Pasar Baru, Kec. Medan Kota", "3.58341, 98.67223", "Foto: 2"):
        assert part in shown

    # Eleven choices (nine ways to edit, send, cancel): the list pages, but sending, the
    # summary's main answer, comes first on the first page.
    assert siti.choices()[0] == ("submit", t("button.submit"))
    assert ("more:1", "Lainnya") in siti.choices()
    submitted = await siti.choose(t("button.submit"))
    code = tracking_code("\n".join(texts(submitted)))

    row = await usulan_by_code(service.backend, code)
    (user,) = await whatsapp_users(service.backend)
    assert (row.submitter_id, row.desa_code, row.category) == (user.id, PASAR_BARU, "jalan")
    assert (row.latitude, row.longitude) == (pytest.approx(3.583412), pytest.approx(98.67223))
    assert (row.permasalahan, row.usulan, row.volume) == (PROBLEM, REQUEST, Decimal(120))
    assert len(row.photos) == 2
    for photo in row.photos:
        stored = service.settings.media_dir / photo.sha256[:2] / f"{photo.sha256}.jpg"
        assert b"TestPhone" not in stored.read_bytes()  # EXIF stripped as on Telegram
    assert user.chat_id == SITI
    # Every message the resident sent was marked read.
    inbound = [w.payload["entry"][0]["changes"][0]["value"]["messages"][0]["id"]
               for w in wa_standin.webhooks]  # fmt: skip
    assert wa_standin.read_receipts == inbound


async def test_more_than_ten_choices_page_on_with_a_more_row(
    wa_standin: CloudApiStandIn, service: RunningService
) -> None:
    siti = Resident(wa_standin, SITI)
    await walk_to_category(siti)
    categories = [c.key for c in service.backend.categories]
    assert len(categories) == 13

    first = siti.choices()
    assert [i for i, _ in first[:9]] == [f"cat:{k}" for k in categories[:9]]
    assert first[9] == ("more:1", "Lainnya")
    second = await siti.choose("Lainnya")
    assert [i for i, _ in siti.choices()] == [f"cat:{k}" for k in categories[9:]]
    assert texts(second) == [t("intake.ask_category")]

    # A choice from the second page is taken like any other.
    label = siti.choices()[0][1]
    assert texts(await siti.choose(label))[-1] == t("intake.ask_problem", max=1000)


# --- commands typed as words -------------------------------------------------------------


async def test_status_and_batal_work_without_a_slash(
    wa_standin: CloudApiStandIn, service: RunningService
) -> None:
    siti = Resident(wa_standin, SITI)
    await walk_to_category(siti)

    asked = await siti.say("batal")
    assert texts(asked) == [t("common.cancel_confirm")]
    cancelled = await siti.say("batal")  # a second "batal" means yes, as /batal does
    assert texts(cancelled) == [t("common.cancelled")]
    async with service.backend.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Conversation).where(
            Conversation.state != "idle")) == 0  # fmt: skip

    unknown = await siti.say("status K7QM-4RXT")
    assert "K7QM-4RXT" in texts(unknown)[0]
    assert texts(unknown)[0] != t("common.idle_hint")
    # An answer that starts with a command's name is still an answer.
    assert texts(await siti.say("bantuan sosial untuk lansia")) == [t("common.idle_hint")]
    assert t("common.help") in texts(await siti.say("bantuan"))[0]


# --- redelivery, identity, outage --------------------------------------------------------


async def test_a_message_delivered_twice_is_handled_once(
    wa_standin: CloudApiStandIn, service: RunningService
) -> None:
    siti = Resident(wa_standin, SITI)
    await siti.say("mulai")
    await siti.choose("✅ Setuju")
    payload = wa_standin.text_message(SITI, "pasar baru")
    first = await siti.post(payload)
    again = await siti.post(payload)
    assert len(first) == 1 and again == []
    async with service.backend.sessionmaker() as session:
        state = await session.scalar(select(Conversation.state))
    assert state == "intake.desa"  # the search ran once; still choosing


async def test_a_person_known_by_wa_id_then_seen_with_both_ids_stays_one_user(
    wa_standin: CloudApiStandIn, service: RunningService
) -> None:
    await Resident(wa_standin, SITI, identity="wa_id").say("mulai")
    both = Resident(wa_standin, SITI, identity="both")
    agreed = await both.choose("✅ Setuju")
    assert texts(agreed) == [t("account.consent_thanks"), t("intake.ask_desa")]
    only_user_id = Resident(wa_standin, SITI, identity="user_id")
    found = await only_user_id.say("pasar baru")  # answered at the wa_id learned before
    assert found and found[0]["to"] == SITI

    (user,) = await whatsapp_users(service.backend)
    assert user.consent_at is not None and user.chat_id == SITI
    async with service.backend.sessionmaker() as session:
        kinds = set(await session.scalars(select(ChannelIdentity.kind)))
    assert kinds == {"wa_id", "user_id"}


async def test_a_webhook_is_answered_503_while_the_database_is_unavailable(
    wa_standin: CloudApiStandIn, tmp_path: Path
) -> None:
    url = "postgresql+asyncpg://postgres@127.0.0.1:9/musrenbot"  # port 9: nothing listens
    settings = make_settings(
        url,
        tmp_path,
        whatsapp_token=wa_standin.token,
        whatsapp_phone_number_id=wa_standin.number.phone_number_id,
        whatsapp_app_secret=wa_standin.app_secret,
        whatsapp_verify_token=wa_standin.verify_token,
        whatsapp_api_url=wa_standin.base_url,
    )
    app = create_app(settings)
    payload = wa_standin.text_message(SITI, "mulai")
    raw = meta_json(payload)
    headers = {"X-Hub-Signature-256": wa_standin.signature(raw)}
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as http:
            answer = await http.post("/whatsapp/webhook", content=raw, headers=headers)
    finally:
        await app.state.whatsapp.close()
        await app.state.whatsapp.backend.close()
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "5"
    assert wa_standin.messages_to(SITI) == []  # no apology for what was not the person's fault


# --- side by side ------------------------------------------------------------------------


async def test_telegram_and_whatsapp_run_side_by_side(
    wa_standin: CloudApiStandIn, db_url: str, tmp_path: Path
) -> None:
    from tests.standin import BotApiStandIn

    async with (
        BotApiStandIn() as telegram,
        running_service(telegram, db_url, tmp_path, "webhook", whatsapp=wa_standin) as running,
    ):
        await Resident(wa_standin, SITI).say("mulai")
        status = await telegram.post_to_webhook(telegram.text_update(5_300_001, "/start"))
        assert status == 200
        await telegram.wait_for_calls(1, "sendMessage")
        channels = set()
        async with running.backend.sessionmaker() as session:
            channels = set(await session.scalars(select(User.channel)))
        assert channels == {"telegram", "whatsapp"}
    telegram.assert_no_violations()
