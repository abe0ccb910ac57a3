"""Issue 14, part 3: shared locations that make sense for the region and the chosen desa."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from backend.services.places import BOUNDARIES, Places
from backend.services.wilayah import WilayahIndex, iter_wilayah_rows
from backend.services.wiring import Backend
from tests.chat import PASAR_BARU, Resident, walk_to
from tests.conftest import make_settings, start_backend

# Points inside kelurahan of Kota Medan (from the shipped polygons).
IN_PASAR_BARU = (3.58428, 98.68465)  # Kel. Pasar Baru, Kec. Medan Kota
IN_MABAR = (3.66143, 98.67183)  # Kel. Mabar, Kec. Medan Deli: 8 km north of Pasar Baru
IN_GANAL = (1.41621, 99.80386)  # Desa Ganal, Kec. Huristak, Kab. Padang Lawas
# The README's old example: in the Indian Ocean, about 800 km from Medan.
IN_THE_SEA = (-3.59, 98.67)
JAKARTA = (-6.1754, 106.8272)
MABAR = "12.71.06.1005"
GANAL = "12.21.03.2018"


@pytest.fixture(scope="module")
def medan() -> Places:
    return Places.load({"12.71"})


# --- the shipped data -------------------------------------------------------------------


def test_shipped_boundaries_are_small_and_licensed() -> None:
    files = sorted(BOUNDARIES.iterdir())
    assert {f.name for f in files} >= {
        "LICENSE",
        "SOURCE.md",
        "kabkota_outline.geojson",
        "desa_12.71.geojson",
        "desa_12.21.geojson",
    }
    assert all(f.stat().st_size < 2_500_000 for f in files)
    assert "MIT" in (BOUNDARIES / "LICENSE").read_text()


def test_every_desa_polygon_is_keyed_by_a_code_of_the_register() -> None:
    for region in ("12.71", "12.21"):
        register = {c for c, _ in iter_wilayah_rows(region) if c.count(".") == 3}
        data = json.loads((BOUNDARIES / f"desa_{region}.geojson").read_text())
        codes = {f["properties"]["code"] for f in data["features"]}
        assert codes == register, region  # 151 kelurahan; 304 desa under their register codes


# --- the region -------------------------------------------------------------------------


def test_a_point_in_the_sea_far_away_is_outside_the_region(medan: Places) -> None:
    assert medan.in_region(*IN_PASAR_BARU) is True
    assert medan.in_region(*IN_THE_SEA) is False
    assert medan.in_region(*IN_GANAL) is False  # another kabupaten of the same provinsi


def test_the_whole_country_knows_every_kabupaten_outline() -> None:
    country = Places.load(
        {d.kabkota_code for d in WilayahIndex.from_rows(iter_wilayah_rows("ALL")).all()}
    )
    assert country.in_region(*JAKARTA) is True
    assert country.in_region(*IN_PASAR_BARU) is True
    assert country.in_region(*IN_THE_SEA) is False


def test_without_any_boundary_data_nothing_is_refused(tmp_path: Path) -> None:
    nothing = Places.load({"12.71"}, directory=tmp_path)
    assert nothing.in_region(*IN_THE_SEA) is None
    assert nothing.desa_at(*IN_PASAR_BARU) == []
    assert nothing.metres_outside(PASAR_BARU, *IN_THE_SEA) is None


# --- the desa ---------------------------------------------------------------------------


def test_a_point_is_placed_in_its_kelurahan_first(medan: Places) -> None:
    assert medan.desa_at(*IN_PASAR_BARU)[0] == PASAR_BARU
    assert medan.desa_at(*IN_MABAR)[0] == MABAR
    assert medan.desa_at(*IN_THE_SEA) == []
    assert Places.load({"12.21"}).desa_at(*IN_GANAL)[0] == GANAL


def test_distance_outside_the_chosen_desa(medan: Places) -> None:
    assert medan.metres_outside(PASAR_BARU, *IN_PASAR_BARU) == 0
    outside = medan.metres_outside(PASAR_BARU, *IN_MABAR)
    assert outside is not None and 5_000 < outside < 9_000


def test_a_kabupaten_without_desa_polygons_falls_back_to_its_outline() -> None:
    aceh_utara = Places.load({"11.08"})
    cot_girek = "11.08.17.2001"
    assert aceh_utara.desa_at(5.05, 97.3) == []  # no desa polygons: no guess
    assert aceh_utara.in_region(*IN_PASAR_BARU) is False
    far = aceh_utara.metres_outside(cot_girek, *IN_PASAR_BARU)
    assert far is not None and far > 100_000  # outside the kabupaten, so outside the desa
    assert aceh_utara.metres_outside(cot_girek, 5.05, 97.3) is not None


# --- in the conversation (both databases) -------------------------------------------------


async def test_a_location_800_km_away_is_refused_then_a_good_one_kept(backend: Backend) -> None:
    r = Resident(backend)
    await walk_to(r, "intake.location")
    await r.location(*IN_THE_SEA)
    assert r.texts[0] == r.t("intake.location_outside_region", region="Kota Medan")
    assert r.asks_location and await r.state() == "intake.location"
    assert "latitude" not in await r.draft()

    await r.location(*IN_PASAR_BARU)
    assert r.t("intake.location_saved") in r.text
    assert await r.state() == "intake.address"
    assert ((await r.draft())["latitude"], (await r.draft())["longitude"]) == IN_PASAR_BARU


async def test_in_english_the_refusal_is_in_english(backend: Backend) -> None:
    r = Resident(backend, language_code="en")
    await walk_to(r, "intake.location")
    await r.location(*IN_THE_SEA)
    assert r.language == "en"
    assert r.texts[0] == r.t("intake.location_outside_region", region="Kota Medan")
    assert "outside Kota Medan" in r.texts[0]


async def test_a_location_at_the_desa_step_suggests_its_kelurahan(backend: Backend) -> None:
    r = Resident(backend)
    await walk_to(r, "intake.desa")
    await r.location(*IN_PASAR_BARU)
    assert r.texts[0] == r.t("intake.desa_from_location", desa="Kelurahan Pasar Baru")
    assert r.buttons[0] == ("Kelurahan Pasar Baru (Kec. Medan Kota)", f"desa:{PASAR_BARU}")

    await r.press(f"desa:{PASAR_BARU}")
    # The point found the desa and is the usulan's location: no second question for it.
    assert r.t("intake.location_saved") in r.text
    assert await r.state() == "intake.address"
    draft = await r.draft()
    assert (draft["desa_code"], draft["latitude"], draft["longitude"]) == (
        PASAR_BARU,
        *IN_PASAR_BARU,
    )


async def test_a_location_at_the_desa_step_in_the_sea_is_refused(backend: Backend) -> None:
    r = Resident(backend)
    await walk_to(r, "intake.desa")
    await r.location(*IN_THE_SEA)
    assert r.texts[0] == r.t("intake.location_outside_region", region="Kota Medan")
    assert r.t("intake.ask_desa") in r.text
    assert await r.state() == "intake.desa"


async def test_a_location_far_from_the_chosen_kelurahan_is_questioned_once(
    backend: Backend,
) -> None:
    r = Resident(backend)
    await walk_to(r, "intake.location")  # Pasar Baru chosen
    await r.location(*IN_MABAR)
    assert r.texts == [r.t("intake.location_far_from_desa", desa="Kelurahan Pasar Baru", km=8)]
    assert r.payloads == ["location:keep", "location:again"]
    assert "latitude" not in await r.draft()

    await r.press("location:again")
    assert r.asks_location and await r.state() == "intake.location"
    await r.location(*IN_MABAR)
    await r.press("location:keep")
    assert r.t("intake.location_saved") in r.text
    assert await r.state() == "intake.address"
    assert (await r.draft())["latitude"] == IN_MABAR[0]


async def test_a_stale_keep_button_does_not_store_anything(backend: Backend) -> None:
    r = Resident(backend)
    await walk_to(r, "intake.location")
    await r.press("location:keep")
    assert r.notices == [r.t("common.stale_button")]
    assert "latitude" not in await r.draft()


async def test_a_deployment_of_the_whole_country_still_checks_the_outline(
    db_url: str, tmp_path: Path
) -> None:
    started = await start_backend(make_settings(db_url, tmp_path, region="ALL"))
    try:
        r = Resident(started)
        await walk_to(r, "intake.location")
        await r.location(*IN_THE_SEA)
        assert r.texts[0] == r.t("intake.location_outside_region", region="Indonesia")
        await r.location(*IN_PASAR_BARU)
        assert await r.state() == "intake.address"
    finally:
        await started.close()
