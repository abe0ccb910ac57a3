"""Issue 14, part 3, through the Telegram stand-in: locations refused, kept, and used to find
the kelurahan."""

from __future__ import annotations

from pathlib import Path

from tests.e2e_fixtures import PASAR_BARU, Warga, standin, t
from tests.harness import running_service
from tests.standin import BotApiStandIn

__all__ = ["standin"]

SITI = 5_140_001
IN_PASAR_BARU = (3.58428, 98.68465)
IN_THE_SEA = (-3.59, 98.67)  # about 800 km from Medan


async def test_places_through_telegram(standin: BotApiStandIn, db_url: str, tmp_path: Path) -> None:
    async with running_service(standin, db_url, tmp_path, "webhook"):
        siti = Warga(standin, "webhook", SITI)
        await siti.say("/start")
        await siti.press("✅ Setuju", answers=2)

        refused = await siti.share_location(*IN_THE_SEA, answers=2)
        assert refused.texts == [
            t("intake.location_outside_region", region="Kota Medan"),
            t("intake.ask_desa"),
        ]

        found = await siti.share_location(*IN_PASAR_BARU, answers=1)
        assert found.texts == [t("intake.desa_from_location", desa="Kelurahan Pasar Baru")]
        assert found.buttons[0] == ("Kelurahan Pasar Baru (Kec. Medan Kota)", f"desa:{PASAR_BARU}")

        chosen = await siti.press(found.buttons[0][0], answers=3)
        assert chosen.texts == [
            t("intake.desa_chosen", desa="Kelurahan Pasar Baru"),
            t("intake.location_saved"),
            t("intake.ask_address"),
        ]


async def test_a_far_location_is_refused_then_a_good_one_kept(
    standin: BotApiStandIn, db_url: str, tmp_path: Path
) -> None:
    async with running_service(standin, db_url, tmp_path, "webhook"):
        siti = Warga(standin, "webhook", SITI)
        await siti.say("/start")
        await siti.press("✅ Setuju", answers=2)
        await siti.say("psr baru")
        await siti.press("Kelurahan Pasar Baru (Kec. Medan Kota)", answers=2)

        refused = await siti.share_location(*IN_THE_SEA, answers=2)
        assert refused.texts == [
            t("intake.location_outside_region", region="Kota Medan"),
            t("intake.ask_location"),
        ]
        assert (refused.markup or {})["keyboard"][0][0]["request_location"] is True

        kept = await siti.share_location(*IN_PASAR_BARU)
        assert kept.texts == [t("intake.location_saved"), t("intake.ask_address")]
