"""The kepala desa's round through Telegram itself (the Bot API stand-in, webhook mode): enrol
by deep link, review with the usulan's photo, rembuk warga, confirmation; and the kecamatan's
queue afterwards. The conversation's every branch is tested in test_village_chat.py; this
proves the channel carries it, photos and all, with every call valid."""

from __future__ import annotations

import re
from pathlib import Path

from backend.domain import Stage
from backend.services.officials import Role
from backend.services.queues import QueueFilter
from tests.chat import make_jpeg
from tests.e2e_fixtures import PASAR_BARU, TRACKING_CODE, Warga, standin  # noqa: F401
from tests.harness import running_service
from tests.officials import OPERATOR
from tests.standin import BotApiStandIn

KADES = 7_700_001
RESIDENT = 7_700_002


class Official:
    """A chat where the test reads whatever the bot answered (webhook mode is synchronous)."""

    def __init__(self, api: BotApiStandIn, user_id: int) -> None:
        self.standin = api
        self.user_id = user_id

    async def _post(self, update: dict) -> list[str]:
        seen = len(self.standin.sent_texts(self.user_id))
        assert await self.standin.post_to_webhook(update) == 200
        return self.standin.sent_texts(self.user_id)[seen:]

    async def send(self, text: str) -> str:
        return "\n".join(await self._post(self.standin.text_update(self.user_id, text)))

    async def press(self, data: str) -> str:
        return "\n".join(await self._post(self.standin.callback_update(self.user_id, data)))

    async def photo(self, file_id: str) -> str:
        return "\n".join(await self._post(self.standin.photo_update(self.user_id, file_id)))

    def payloads(self) -> list[str]:
        markup = self.standin.last_markup(self.user_id) or {}
        return [b["callback_data"] for row in markup.get("inline_keyboard", []) for b in row]


async def test_a_kepala_desa_runs_the_village_round_on_telegram(
    standin: BotApiStandIn,  # noqa: F811 - the fixture imported above
    db_url: str,
    tmp_path: Path,
) -> None:
    standin.add_file("AgACroad", make_jpeg((320, 240), (90, 90, 90), gps=True))
    standin.add_file("AgACminutes", make_jpeg((320, 240), (200, 200, 180)))
    async with running_service(standin, db_url, tmp_path, "webhook") as service:
        backend = service.backend
        async with backend.unit() as s:
            invite = await s.officials.create_invite(
                Role.KEPALA_DESA, wilayah_code=PASAR_BARU, created_by=OPERATOR
            )

        siti = Warga(standin, "webhook", RESIDENT)
        await siti.walk_to_photos()
        await siti.photo("AgACroad")
        code = await siti.finish_from_photos()

        kades = Official(standin, KADES)
        welcome = await kades.send(f"/start {invite.code}")
        assert "Kelurahan Pasar Baru" in welcome and "/rembuk" in welcome

        menu = await kades.send("/desa")
        assert "Usulan menunggu ditinjau: 1" in menu
        calls_before = len(standin.calls)
        card = await kades.press("vm:review")
        assert code in card
        photos = [c for c in standin.calls[calls_before:] if c.method == "sendPhoto"]
        assert len(photos) == 1 and photos[0].chat_id == KADES  # the usulan's photo, uploaded
        short = code.replace("-", "")
        accepted = await kades.press(f"rv:ok:{short}")
        assert f"{code} diterima" in accepted

        assert "rembuk" in (await kades.press("vm:rembuk")).lower()
        await kades.send("hari ini")
        await kades.send("Balai Kelurahan Pasar Baru")
        await kades.send("35")
        await kades.send("16")
        await kades.send("lewati")
        await kades.photo("AgACminutes")
        ranking = await kades.press("skip:rembuk.minutes")
        assert re.findall(TRACKING_CODE, ranking) == [code]
        summary = await kades.send("1")
        assert "35 orang (16 perempuan)" in summary and code in summary
        confirm = next(p for p in kades.payloads() if p.startswith("rb:confirm:"))
        done = await kades.press(confirm)
        assert "Musrenbang Kecamatan" in done

        async with backend.unit() as s:
            user = await s.officials.official_user("Operator Medan Kota")
            camat = await s.officials.grant(
                user, Role.OPERATOR_KECAMATAN, wilayah_code="12.71.01", granted_by=OPERATOR
            )
            queue = await s.queues.page(camat, QueueFilter(Stage.KECAMATAN))
        assert [(i.code, i.village_rank) for i in queue.items] == [(code, 1)]
