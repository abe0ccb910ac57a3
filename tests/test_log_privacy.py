"""Nothing personal in the log (issue 8, defect 7).

A whole round at DEBUG, with the service's own logging configuration and uvicorn's access log
on: a resident's intake over the Telegram stand-in, a kepala desa's usulan on behalf of a
resident who shares a contact card, a database error while that usulan (name and phone in
its row) is written, an official's decision and search through the API, and the delivery
worker's notification. Then the log is searched for the names, the phone in the spellings
people write it, and the chat and user ids: none may appear.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from backend.services.officials import Role
from backend.services.wiring import Backend
from bot import logs
from tests.e2e_fixtures import PASAR_BARU, Warga, standin
from tests.harness import running_service
from tests.officials import OPERATOR, official
from tests.standin import BotApiStandIn

__all__ = ["standin"]  # the fixture used below

RESIDENT = 7_391_046_285
RESIDENT_NAME = "Zulaikha Tampubolon"
RESIDENT_USERNAME = "zulaikha_tpb77"
KADES = 7_482_913_506
KADES_NAME = "Hotmauli Sinaga"
BEHALF_NAME = "Marihot Simanjuntak"
BEHALF_PHONE = "+6281377712345"
PHONE_SPELLINGS = (
    "+6281377712345", "6281377712345", "081377712345", "81377712345",
    "+62 813 7771 2345", "+62 813-7771-2345", "0813-7771-2345", "0813 7771 2345",
)  # fmt: skip


UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")
CLIENT_LOGGERS = ("httpx", "httpcore")  # the test's own HTTP client, not the service


@pytest.fixture
def service_log() -> Iterator[io.StringIO]:
    """What the service's configured handler writes, at DEBUG, for the length of the test."""
    names = ("", *logs.FLOORS, *UVICORN_LOGGERS, *CLIENT_LOGGERS)
    saved = {n: (lg.level, lg.propagate, lg.handlers[:]) for n in names
             for lg in [logging.getLogger(n)]}  # fmt: skip
    for name in UVICORN_LOGGERS:
        # Earlier runs with uvicorn's own logging config leave its loggers on handlers of
        # their own; production (log_config=None) leaves them propagating to ours.
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True
    buffer = io.StringIO()
    logs.configure("DEBUG", stream=buffer)
    for name in CLIENT_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        yield buffer
    finally:
        for name, (level, propagate, handlers) in saved.items():
            logger = logging.getLogger(name)
            logger.setLevel(level)
            logger.propagate = propagate
            logger.handlers = handlers


class Chat:
    """One Telegram chat in webhook mode: each post returns the texts the bot sent back."""

    def __init__(self, api: BotApiStandIn, user_id: int, first_name: str) -> None:
        self.api = api
        self.user_id = user_id
        self.first_name = first_name

    async def post(self, update: dict) -> str:
        seen = len(self.api.sent_texts(self.user_id))
        assert await self.api.post_to_webhook(update) == 200
        return "\n".join(self.api.sent_texts(self.user_id)[seen:])

    async def say(self, words: str) -> str:
        return await self.post(
            self.api.text_update(self.user_id, words, first_name=self.first_name)
        )

    async def press(self, data: str) -> str:
        update = self.api.callback_update(self.user_id, data, first_name=self.first_name)
        return await self.post(update)

    def button(self, label: str) -> str:
        """callback_data of the button labelled `label` under the last message."""
        rows = (self.api.last_markup(self.user_id) or {}).get("inline_keyboard", [])
        [data] = [b["callback_data"] for row in rows for b in row if label in b["text"]]
        return data


async def forced_failure(backend: Backend, *, on: bool) -> None:
    """Make the database refuse any usulan that names a phone (PostgreSQL quotes the failing
    row, name and phone included, in its error; SQLite's says only which trigger fired)."""
    async with backend.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(text(
                "ALTER TABLE usulan ADD CONSTRAINT ck_usulan_forced CHECK (submitter_phone IS NULL)"
                " NOT VALID" if on else "ALTER TABLE usulan DROP CONSTRAINT ck_usulan_forced"
            ))  # fmt: skip
        elif on:
            await conn.execute(text(
                "CREATE TRIGGER forced_failure BEFORE INSERT ON usulan"
                " WHEN NEW.submitter_phone IS NOT NULL BEGIN SELECT RAISE(ABORT, 'refused'); END"
            ))  # fmt: skip
        else:
            await conn.execute(text("DROP TRIGGER forced_failure"))


async def on_behalf_with_a_database_error(api: BotApiStandIn, backend: Backend) -> None:
    async with backend.unit() as s:
        invite = await s.officials.create_invite(
            Role.KEPALA_DESA, wilayah_code=PASAR_BARU, created_by=OPERATOR
        )
    kades = Chat(api, KADES, KADES_NAME)
    assert "Kelurahan Pasar Baru" in await kades.say(f"/start {invite.code}")
    await kades.say("/usulan_warga")
    await kades.say(BEHALF_NAME)
    contact = api.contact_update(KADES, BEHALF_PHONE, BEHALF_NAME, first_name=KADES_NAME)
    await kades.post(contact)
    await kades.post(api.location_update(KADES, 3.5834, 98.6722, first_name=KADES_NAME))
    await kades.say("Lingkungan 5, Jl. Kenanga")
    await kades.press("cat:drainase")
    await kades.say("Parit tersumbat sampah sehingga rumah warga kebanjiran tiap hujan deras.")
    await kades.say("Normalisasi parit dan pemasangan penutup parit sepanjang 80 meter.")
    await kades.say("80 meter")
    await kades.press("skip:intake.photos")
    summary = await kades.say("40")
    assert BEHALF_NAME in summary  # the summary shows it; the log must not

    submit = kades.button("Kirim")
    await forced_failure(backend, on=True)
    refused = await kades.press(submit)
    assert "Usulan atas nama" not in refused  # nothing was stored, and the chat was told
    await forced_failure(backend, on=False)
    stored = await kades.press(submit)
    if "Usulan atas nama" not in stored:
        stored = await kades.press(kades.button("Tetap kirim"))
    assert f"Usulan atas nama {BEHALF_NAME} sudah tercatat" in stored


async def test_a_full_round_logs_no_name_phone_or_chat_id(
    standin: BotApiStandIn, db_url: str, tmp_path: Path, service_log: io.StringIO
) -> None:
    uvicorn_logging = {**logs.UVICORN, "log_level": "debug", "access_log": True}
    async with running_service(
        standin, db_url, tmp_path, "webhook", uvicorn_logging=uvicorn_logging
    ) as service:
        backend = service.backend
        zulaikha = Warga(standin, "webhook", RESIDENT, first_name=RESIDENT_NAME)
        await zulaikha.walk_to_photos()
        await zulaikha.deliver(
            standin.text_update(RESIDENT, "/bantuan", first_name=RESIDENT_NAME,
                                username=RESIDENT_USERNAME),
            answers=2,
        )  # fmt: skip
        # Her own number, shared where the bot does not ask for one.
        await zulaikha.deliver(
            standin.contact_update(RESIDENT, BEHALF_PHONE, RESIDENT_NAME, first_name=RESIDENT_NAME,
                                   contact_user_id=RESIDENT),
            answers=2,
        )  # fmt: skip
        code = await zulaikha.finish_from_photos()

        await on_behalf_with_a_database_error(standin, backend)

        lurah = await official(backend, Role.KEPALA_DESA, wilayah=PASAR_BARU)
        headers = {"Authorization": f"Bearer {lurah.token}"}
        async with httpx.AsyncClient(base_url=service.base_url, headers=headers) as http:
            found = await http.get("/api/v1/queues/desa", params={"q": BEHALF_NAME})
            assert found.status_code == 200  # an official may well search for a name
            assert (await http.get(f"/api/v1/usulan/{code}")).status_code == 200
            decided = await http.post(f"/api/v1/usulan/{code}/decision", json={
                "stage": "desa", "decision": "perlu_perbaikan", "note": "Mohon lampirkan foto.",
            })  # fmt: skip
            assert decided.status_code == 200, decided.text

        def told(api: BotApiStandIn) -> bool:
            return any("Mohon lampirkan foto." in m for m in api.sent_texts(RESIDENT))

        await standin.wait_for(told, timeout=15)

    written = service_log.getvalue()
    # The log did see the round: the access lines, the failed write and the delivery worker.
    assert f"POST /api/v1/usulan/{code}/decision" in written
    assert "could not be handled" in written and "IntegrityError" in written
    assert "delivery worker stopped" in written
    secrets = [RESIDENT_NAME, "Zulaikha", "Tampubolon", RESIDENT_USERNAME, KADES_NAME, "Hotmauli",
               BEHALF_NAME, "Marihot", *PHONE_SPELLINGS]  # fmt: skip
    leaks = [s for s in secrets if s.casefold() in written.casefold()]
    leaks += [str(i) for i in (RESIDENT, KADES) if re.search(rf"(?<!\d){i}(?!\d)", written)]
    lines = [line for line in written.splitlines() if any(s.casefold() in line.casefold()
             for s in leaks)]  # fmt: skip
    assert not leaks, f"{leaks} in the log:\n" + "\n".join(lines[:20])


@pytest.mark.parametrize("spelling", PHONE_SPELLINGS[:3] + PHONE_SPELLINGS[4:])
def test_a_phone_in_any_spelling_is_cut_from_a_line(spelling: str) -> None:
    assert logs.redact(f"sent to {spelling} ok") == "sent to [phone] ok"


@pytest.mark.parametrize(
    "line",
    [
        "2026-12-04 20:15:18,392 INFO uvicorn.error: Started server process [20946]",
        "update 812345678 seen before; not processed again",
        "notification(s) [81, 82] dead: Bad Request: chat not found",
        "GET /u/K7QM-4RXT at 3.583412, 98.672230",
    ],
)
def test_lines_without_a_phone_are_left_as_they_are(line: str) -> None:
    assert logs.redact(line) == line
