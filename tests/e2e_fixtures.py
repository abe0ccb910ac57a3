"""The Telegram edge end to end: a resident typing into the Bot API stand-in, the real service
answering, and what the database holds afterwards.

Import the fixtures into a test module (`from tests.e2e_fixtures import standin, ...`).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

import locales
from backend.services.wiring import Backend
from backend.storage.models import Base, Conversation, User, Usulan
from tests.harness import RunningService, running_service
from tests.standin import BotApiStandIn, Call

Mode = Literal["polling", "webhook"]

# No 0/O, 1/I/L or U in a tracking code (backend/services/intake.py).
TRACKING_CODE = re.compile(r"\b[2-9A-HJKMNP-TV-Z]{4}-[2-9A-HJKMNP-TV-Z]{4}\b")
PASAR_BARU = "12.71.01.1001"  # Kelurahan Pasar Baru, Kec. Medan Kota
MEDAN_LAT, MEDAN_LON = 3.583412, 98.672230
ADDRESS = "Lingkungan 3, RT 02/RW 05, Jl. Melati"
PROBLEM = "Jalan di depan SD rusak berlubang sepanjang 120 meter, tergenang saat hujan."
REQUEST = "Pengaspalan jalan lingkungan 120 meter dan pembuatan parit di kedua sisi."
ANSWER_TIMEOUT = 10.0


def t(key: str, **params: Any) -> str:
    """What the bot says for a catalog key, in Indonesian (every resident here speaks it)."""
    return locales.t("id", key, params)


@pytest.fixture
async def standin() -> AsyncIterator[BotApiStandIn]:
    """One Bot API stand-in per test; the test fails if the bot made any call Telegram refuses."""
    async with BotApiStandIn() as api:
        yield api
    api.assert_no_violations()


@pytest.fixture
async def webhook_service(
    standin: BotApiStandIn, db_url: str, tmp_path: Path
) -> AsyncIterator[RunningService]:
    """The whole service in webhook mode, on SQLite and on PostgreSQL."""
    async with running_service(standin, db_url, tmp_path, "webhook") as service:
        yield service


# --- a resident on Telegram -------------------------------------------------------------


@dataclass
class Answer:
    """What the bot did in reply to one thing the resident did."""

    texts: list[str]
    markup: dict[str, Any] | None  # reply_markup of the last message
    notice: str | None = None  # text of the answerCallbackQuery, for a button press

    @property
    def text(self) -> str:
        return "\n\n".join(self.texts)

    @property
    def buttons(self) -> list[tuple[str, str]]:
        """(label, callback_data) of the inline buttons under the last message."""
        rows = (self.markup or {}).get("inline_keyboard", [])
        return [(b["text"], b["callback_data"]) for row in rows for b in row]


class Warga:
    """One resident in a private chat. Each action waits for the bot's whole answer, as a
    person does before typing the next thing, and checks it was exactly `answers` messages."""

    def __init__(
        self,
        standin: BotApiStandIn,
        mode: Mode,
        user_id: int,
        *,
        first_name: str = "Siti",
    ) -> None:
        self.standin = standin
        self.mode = mode
        self.user_id = user_id
        self.first_name = first_name
        self.expected = 0  # messages this chat should have received so far
        self.presses: list[str] = []  # callback query ids of every button pressed
        self.answer_timeout = ANSWER_TIMEOUT

    # --- what the resident does ----------------------------------------------------------

    async def say(self, text: str, *, answers: int = 1) -> Answer:
        return await self.deliver(
            self.standin.text_update(self.user_id, text, first_name=self.first_name),
            answers=answers,
        )

    async def press(self, label: str, *, answers: int = 1) -> Answer:
        """Press the inline button under the last message labelled `label` (or, when none is,
        the one whose label contains it)."""
        markup = self.standin.last_markup(self.user_id) or {}
        rows = markup.get("inline_keyboard", [])
        buttons = [(b["text"], b["callback_data"]) for row in rows for b in row]
        found = [data for text, data in buttons if text == label] or [
            data for text, data in buttons if label.casefold() in text.casefold()
        ]
        assert len(found) == 1, f"no single button {label!r} in {buttons}"
        return await self.press_data(found[0], answers=answers)

    async def press_data(self, data: str, *, answers: int = 1, check_button: bool = True) -> Answer:
        update = self.standin.callback_update(
            self.user_id, data, first_name=self.first_name, check_button=check_button
        )
        return await self.deliver(update, answers=answers)

    async def share_location(
        self, latitude: float = MEDAN_LAT, longitude: float = MEDAN_LON, *, answers: int = 2
    ) -> Answer:
        update = self.standin.location_update(
            self.user_id, latitude, longitude, first_name=self.first_name
        )
        return await self.deliver(update, answers=answers)

    async def photo(
        self, file_id: str, *, media_group_id: str | None = None, answers: int = 1
    ) -> Answer:
        update = self.standin.photo_update(
            self.user_id, file_id, media_group_id=media_group_id, first_name=self.first_name
        )
        return await self.deliver(update, answers=answers)

    async def album(self, *file_ids: str, media_group_id: str, answers: int = 1) -> Answer:
        """Several photos sent at once: Telegram delivers them as separate updates together."""
        updates = [
            self.standin.photo_update(
                self.user_id, f, media_group_id=media_group_id, first_name=self.first_name
            )
            for f in file_ids
        ]
        return await self.deliver(*updates, answers=answers)

    async def deliver(self, *updates: dict[str, Any], answers: int, queued: bool = False) -> Answer:
        """Hand the updates to the service the way Telegram would, and wait for the answer.

        `queued`: the updates already wait in getUpdates (sent while the service was down).
        """
        start = self.expected
        self.expected += answers
        if queued:
            assert self.mode == "polling"
        elif self.mode == "webhook":
            await self.post(updates)
        else:
            for update in updates:
                self.standin.queue_update(update)
        if self.mode == "polling":
            await self.standin.wait_for(
                lambda s: (
                    len(self.messages()) >= self.expected
                    and all(self._answered(u) for u in updates)
                ),
                timeout=self.answer_timeout,
            )
        # In webhook mode the answer was sent before the post returned.
        messages = self.messages()
        assert len(messages) == self.expected, [c.params.get("text") for c in messages[start:]]
        notice: str | None = None
        for update in updates:
            query = update.get("callback_query")
            if query is not None:
                self.presses.append(query["id"])
                answered = self._callback_answers(query["id"])
                assert len(answered) == 1, f"button press answered {len(answered)} times"
                notice = answered[0].params.get("text")
        mine = messages[start : self.expected]
        return Answer(
            texts=[c.params["text"] for c in mine],
            markup=mine[-1].params.get("reply_markup") if mine else None,
            notice=notice,
        )

    async def post(self, updates: tuple[dict[str, Any], ...]) -> None:
        """Post to the webhook as Telegram does; each post must be acknowledged."""
        # Telegram posts the updates of an album in parallel; one post otherwise.
        statuses = await asyncio.gather(*(self.standin.post_to_webhook(u) for u in updates))
        assert statuses == [200] * len(updates), statuses

    async def settled(self) -> None:
        """Nothing more arrives than what was waited for (polling delivers asynchronously)."""
        if self.mode == "polling":
            await asyncio.sleep(0.2)
        assert len(self.messages()) == self.expected
        for query_id in self.presses:
            assert len(self._callback_answers(query_id)) == 1

    # --- what the resident sees ----------------------------------------------------------

    def messages(self) -> list[Call]:
        return [
            c
            for c in self.standin.calls
            if c.method == "sendMessage" and c.chat_id == self.user_id and c.status == 200
        ]

    def _callback_answers(self, query_id: str) -> list[Call]:
        return [
            c
            for c in self.standin.calls
            if c.method == "answerCallbackQuery"
            and c.params.get("callback_query_id") == query_id
            and c.status == 200
        ]

    def _answered(self, update: dict[str, Any]) -> bool:
        query = update.get("callback_query")
        return query is None or bool(self._callback_answers(query["id"]))

    # --- walking the intake --------------------------------------------------------------

    async def start_intake(self) -> None:
        """/start, consent, Pasar Baru: the village question answered."""
        await self.say("/start")
        await self.press("✅ Setuju", answers=2)
        await self.say("pasar baru")
        await self.press_data(f"desa:{PASAR_BARU}", answers=2)

    async def walk_to_problem(self, category: str = "jalan") -> None:
        await self.start_intake()
        await self.share_location()
        await self.say(ADDRESS)
        await self.press_data(f"cat:{category}", answers=2)

    async def walk_to_photos(self) -> None:
        await self.walk_to_problem()
        await self.say(PROBLEM)
        await self.say(REQUEST)
        await self.say("120 meter")

    async def finish_from_photos(self) -> str:
        """Done with photos, beneficiaries, Kirim: returns the tracking code shown."""
        await self.press_data("skip:intake.photos")
        await self.say("200")
        submitted = await self.press("Kirim")
        if any("Tetap kirim" in label for label, _ in submitted.buttons):
            # Similar usulan of the village were offered first (their codes shown): this
            # resident sends their own.
            submitted = await self.press("Tetap kirim")
        return tracking_code(submitted.text)


def tracking_code(text: str) -> str:
    match = TRACKING_CODE.search(text)
    assert match is not None, f"no tracking code in {text!r}"
    return match.group(0)


# --- what the database holds ------------------------------------------------------------


async def telegram_user(backend: Backend, user_id: int) -> User | None:
    async with backend.sessionmaker() as session:
        return await session.scalar(
            select(User).where(User.channel == "telegram", User.external_id == str(user_id))
        )


async def conversation_of(backend: Backend, user_id: int) -> tuple[str, dict[str, Any]]:
    """(state, data) of the resident's conversation; ("idle", {}) when there is none."""
    async with backend.sessionmaker() as session:
        row = await session.scalar(
            select(Conversation)
            .join(User, User.id == Conversation.user_id)
            .where(User.channel == "telegram", User.external_id == str(user_id))
        )
    return ("idle", {}) if row is None else (row.state, dict(row.data or {}))


async def usulan_by_code(backend: Backend, code: str) -> Usulan:
    async with backend.sessionmaker() as session:
        row = await session.scalar(
            select(Usulan).where(Usulan.code == code).options(selectinload(Usulan.photos))
        )
    assert row is not None, f"no usulan {code} in the database"
    return row


async def row_count(backend: Backend, model: type[Base]) -> int:
    async with backend.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)
