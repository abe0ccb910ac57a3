"""UU PDP: a resident asks for everything held about them, and deletion says what it does."""

from __future__ import annotations

import json

from sqlalchemy import select

from backend.services.wiring import Backend
from backend.storage.models import Notification, User
from handlers.events import Document
from handlers.intake import VOLUME
from tests.chat import Resident, submit_usulan, walk_to
from tests.e2e_fixtures import Warga, standin, t, webhook_service
from tests.harness import RunningService
from tests.officials import official, warga
from tests.standin import BotApiStandIn

__all__ = ["standin", "webhook_service"]


async def test_data_saya_lists_what_is_held_and_sends_it_as_json(backend: Backend) -> None:
    r = Resident(backend, display_name="Siti Aminah")
    code = await submit_usulan(r)
    neighbour = await submit_usulan(Resident(backend, "neighbour-1", display_name="Budi"))
    await r.send(f"/dukung {neighbour}")
    await walk_to(r, VOLUME)  # a draft in progress is part of what is held

    await r.send("/data_saya")

    summary = r.texts[0]
    assert "Siti Aminah" in summary and code in summary
    assert "Usulan yang Anda dukung: 1" in summary
    assert r.t("intake.ask_volume") in r.last_text  # and the draft goes on where it was
    documents = [reply for reply in r.replies if isinstance(reply, Document)]
    assert len(documents) == 1 and documents[0].filename.endswith(".json")
    held = json.loads(documents[0].data)
    assert held["profile"]["name"] == "Siti Aminah"
    assert held["profile"]["consent_given"] is not None
    assert [u["code"] for u in held["usulan"]] == [code]
    assert held["usulan"][0]["permasalahan"].startswith("Jalan di depan SD")
    assert [s["code"] for s in held["support"]] == [neighbour]
    assert held["draft"]["step"] == VOLUME
    assert "Budi" not in documents[0].data.decode()  # nobody else's data


async def test_hapus_data_says_what_goes_and_what_stays_and_drops_undelivered_news(
    backend: Backend,
) -> None:
    r = Resident(backend)
    await submit_usulan(r)
    async with backend.sessionmaker() as session:
        user = await session.scalar(select(User).where(User.external_id == r.sender.external_id))
    async with backend.unit() as services:
        await services.outbox.add(
            [{"user_id": user.id, "channel": "test", "template": "status.not_found",
              "params": {"code": "X"}, "dedupe_key": "k1"}]
        )  # fmt: skip

    await r.send("/hapus_data")
    assert "nomor HP" in r.text and "tanpa nama" in r.text and "/data_saya" in r.text
    await r.press("delete:yes")

    assert "Usulan dan dukungan Anda tetap tercatat tanpa nama" in r.text
    async with backend.sessionmaker() as session:
        pending = (await session.scalars(select(Notification))).all()
    assert pending == []


async def test_data_saya_arrives_as_a_telegram_document(
    standin: BotApiStandIn, webhook_service: RunningService
) -> None:
    siti = Warga(standin, "webhook", 5_900_001, first_name="Siti")
    await siti.say("/start")
    await siti.press("✅ Setuju", answers=2)

    answer = await siti.say("/data_saya", answers=2)  # the summary, then the question again

    assert t("account.my_data", name="Siti", phone="-", language="Bahasa Indonesia",
             consent=answer.texts[0].split("diberikan: ")[1][:10], usulan=0, codes="-",
             support=0, notifications=0) == answer.texts[0]  # fmt: skip
    documents = [c for c in standin.calls if c.method == "sendDocument"]
    assert len(documents) == 1 and documents[0].chat_id == 5_900_001
    upload = next(iter(documents[0].files.values()))
    held = json.loads(upload.data)
    assert held["profile"]["name"] == "Siti" and held["usulan"] == []


async def test_an_officials_roles_are_part_of_their_data(backend: Backend) -> None:
    from backend.services.officials import Role

    person = await official(backend, Role.KEPALA_DESA, wilayah="12.71.01.1001")
    async with backend.unit() as services:
        held = await services.users.personal_data(person.user_id)
    assert [(o["role"], o["wilayah"]) for o in held["official_roles"]] == [
        ("kepala_desa", "12.71.01.1001")
    ]
    assert held["profile"]["name"]  # recorded at consent
    other = await warga(backend)
    async with backend.unit() as services:
        theirs = await services.users.personal_data(other.user_id)
    assert theirs["official_roles"] == []  # another person's data is not mixed in


async def test_a_residents_voice_is_listed_and_its_recording_erased_on_request(
    backend: Backend,
) -> None:
    from backend.storage.models import UsulanVoice
    from tests.chat import PROBLEM_TEXT

    r = Resident(backend, "voice-1")
    await walk_to(r, "intake.problem")
    recording = backend.media.store_audio_sync(b"OggS" + b"\0" * 200, 4.0)
    await r.heard(PROBLEM_TEXT, sha256=recording.sha256)
    await r.press("voice:use")
    await walk_to(r, "intake.summary")
    await r.press("submit")
    if await r.state() == "intake.similar":
        await r.press("dk:own")
    path = backend.media.audio_path_of(recording.sha256)
    assert path.is_file()

    await r.send("/data_saya")
    held = json.loads(next(x for x in r.replies if isinstance(x, Document)).data)
    assert [(v["field"], v["transcript"], v["recording_kept"]) for v in held["voice_notes"]] == [
        ("permasalahan", PROBLEM_TEXT, True)
    ]

    await r.send("/hapus_data")
    await r.press("delete:yes")

    assert not path.exists()  # their voice is gone; the transcript stays, marked as one
    async with backend.sessionmaker() as session:
        voice = (await session.scalars(select(UsulanVoice))).one()
    assert (voice.sha256, voice.transcript) == ("", PROBLEM_TEXT)
