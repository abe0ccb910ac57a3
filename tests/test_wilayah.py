"""Desa/kelurahan search as residents type, and loading the region an operator deploys."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.services.wilayah import (
    DesaMatch,
    UnknownRegion,
    WilayahIndex,
    index_from_db,
    iter_wilayah_rows,
    load_region,
)
from backend.storage.db import create_engine, create_sessionmaker
from backend.storage.models import Wilayah

MEDAN = "12.71"
ACEH_UTARA = "11.08"
PASAR_BARU = "12.71.01.1001"  # Kelurahan Pasar Baru, Kec. Medan Kota


@pytest.fixture(scope="module")
def medan() -> WilayahIndex:
    return WilayahIndex.from_rows(iter_wilayah_rows(MEDAN))


@pytest.fixture(scope="module")
def aceh_utara() -> WilayahIndex:
    return WilayahIndex.from_rows(iter_wilayah_rows(ACEH_UTARA))


@pytest.fixture(scope="module")
def indonesia() -> WilayahIndex:
    return WilayahIndex.from_rows(iter_wilayah_rows("ALL"))


def names(matches: list[DesaMatch]) -> list[str]:
    return [m.desa.name for m in matches]


# --------------------------------------------------------------------------- region rows


def test_region_rows_are_the_kabkota_subtree_with_its_provinsi() -> None:
    rows = list(iter_wilayah_rows(MEDAN))
    codes = {code for code, _ in rows}
    assert ("12", "SUMATERA UTARA") in rows
    assert ("12.71", "KOTA MEDAN") in rows
    assert all(code == "12" or code == MEDAN or code.startswith("12.71.") for code in codes)
    assert sum(code.count(".") == 2 for code in codes) == 21  # kecamatan
    assert sum(code.count(".") == 3 for code in codes) == 151  # kelurahan


def test_all_serves_every_desa_and_kelurahan_of_the_country(indonesia: WilayahIndex) -> None:
    assert len(indonesia) == 83_441
    assert indonesia.get(PASAR_BARU) is not None
    assert indonesia.get("92.71.10.1004") is not None  # the last row of the file


@pytest.mark.parametrize("region", ["99.99", "12.7", "12.71.01", "12", "medan", ""])
def test_unknown_region_is_refused_with_a_clear_message(region: str) -> None:
    with pytest.raises(UnknownRegion, match="kabupaten/kota code") as excinfo:
        list(iter_wilayah_rows(region))
    assert isinstance(excinfo.value, ValueError)


def test_region_code_is_read_leniently() -> None:
    assert list(iter_wilayah_rows(" 12.71 ")) == list(iter_wilayah_rows(MEDAN))
    assert next(iter_wilayah_rows("all")) == ("11", "ACEH")


# --------------------------------------------------------------------------- lookups by code


def test_get_returns_the_desa_with_its_kecamatan_and_kabkota(medan: WilayahIndex) -> None:
    desa = medan.get(PASAR_BARU)
    assert desa is not None
    assert (desa.name, desa.kind, desa.label) == ("Pasar Baru", "kelurahan", "Kelurahan Pasar Baru")
    assert (desa.kecamatan_code, desa.kecamatan_name) == ("12.71.01", "Medan Kota")
    assert (desa.kabkota_code, desa.kabkota_name) == ("12.71", "Kota Medan")
    assert len(medan) == 151


def test_a_desa_code_starting_with_2_is_labelled_desa(aceh_utara: WilayahIndex) -> None:
    desa = aceh_utara.get("11.08.17.2001")
    assert desa is not None
    assert (desa.kind, desa.label) == ("desa", "Desa Cot Girek")
    assert desa.kabkota_name == "Kab. Aceh Utara"
    assert len(aceh_utara) == 852


def test_get_knows_only_the_loaded_region(medan: WilayahIndex) -> None:
    assert medan.get("11.08.17.2001") is None
    assert medan.get("12.71.01") is None  # a kecamatan, not a desa
    assert medan.get("") is None


def test_kecamatan_name_from_its_code_or_a_desa_code(medan: WilayahIndex) -> None:
    assert medan.kecamatan_name("12.71.01") == "Medan Kota"
    assert medan.kecamatan_name(PASAR_BARU) == "Medan Kota"
    assert medan.kecamatan_name("11.08.17") is None
    assert medan.kecamatan_name("12.71") is None


def test_typing_the_code_finds_that_desa(medan: WilayahIndex) -> None:
    [match] = medan.search(f" {PASAR_BARU} ")
    assert match.desa.code == PASAR_BARU
    assert match.score == 100


# --------------------------------------------------------------------------- search


def test_sei_rengas_offers_every_sei_rengas_first(medan: WilayahIndex) -> None:
    found = names(medan.search("sei rengas"))
    assert set(found[:3]) == {"Sei Rengas I", "Sei Rengas II", "S. Rengas Permata"}
    assert set(found[:2]) == {"Sei Rengas I", "Sei Rengas II"}


@pytest.mark.parametrize(
    "query",
    [
        "Pasar Baru",
        "psr baru",
        "kelurahan pasar baru",
        "Kel. Pasar Baru",
        "kel pasar baru",
        "PASAR BARU",
        "pasar baur",
        "pasar  baru!",
        "desa pasar baru",
        "pasar baru kec medan kota",
        "pasarbaru",
    ],
)
def test_the_ways_residents_write_pasar_baru_find_it_first(medan: WilayahIndex, query: str) -> None:
    matches = medan.search(query)
    assert matches[0].desa.code == PASAR_BARU
    assert not matches[0].ambiguous
    assert matches[0].where is None


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("sei rengas 2", "Sei Rengas II"),
        ("sungai rengas ii", "Sei Rengas II"),
        ("sg rengas 1", "Sei Rengas I"),
        ("rengas permata", "S. Rengas Permata"),
        ("tj rejo", "Tanjung Rejo"),
        ("sp selayang", "Simpang Selayang"),
        ("helvetia tmur", "Helvetia Timur"),
        ("sido mulyo", "Sidomulyo"),
    ],
)
def test_abbreviations_numerals_and_missing_words(
    medan: WilayahIndex, query: str, expected: str
) -> None:
    assert names(medan.search(query))[0] == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("cot girik", "Cot Girek"),
        ("gampong cot girek", "Cot Girek"),
        ("lhoksukon", "Kuta Lhoksukon"),
        ("kd krueng", "Keude Krueng"),
    ],
)
def test_aceh_utara_names(aceh_utara: WilayahIndex, query: str, expected: str) -> None:
    assert names(aceh_utara.search(query))[0] == expected


def test_same_name_in_two_kecamatan_says_which_kecamatan(medan: WilayahIndex) -> None:
    matches = medan.search("sei mati")
    assert names(matches[:2]) == ["Sei Mati", "Sei Mati"]
    assert all(m.ambiguous for m in matches[:2])
    assert {m.where for m in matches[:2]} == {"Kec. Medan Labuhan", "Kec. Medan Maimun"}


def test_across_the_country_the_kabkota_is_named_too(indonesia: WilayahIndex) -> None:
    matches = indonesia.search("pasar baru kec medan kota")
    assert matches[0].desa.code == PASAR_BARU
    assert matches[0].ambiguous
    assert matches[0].where == "Kec. Medan Kota, Kota Medan"
    assert all(m.desa.name == "Pasar Baru" for m in indonesia.search("psr baru"))


def test_country_wide_search_finds_typed_names(indonesia: WilayahIndex) -> None:
    assert {"Sei Rengas I", "Sei Rengas II"} <= set(names(indonesia.search("sei rengas")))
    assert names(indonesia.search("sei rengas 2"))[0] == "Sei Rengas II"
    assert names(indonesia.search("cot girik"))[0] == "Cot Girek"
    # Hundreds of desa are called just "Tanjung"; they must not crowd out the misspelt name.
    assert set(names(indonesia.search("tanjong rjo"))) == {"Tanjung Rejo"}
    exact = indonesia.search("jaya")
    assert exact[0].desa.name == "Jaya"  # the one exact name among ~1,200 that contain it


def test_village_of_another_kabupaten_is_not_offered(medan: WilayahIndex) -> None:
    assert medan.search("Cot Girek") == []
    assert medan.search("Kuta Lhoksukon") == []


@pytest.mark.parametrize("query", ["", "   ", "...", "?!-", "kel.", "kec", "Kelurahan"])
def test_nothing_to_search_returns_nothing(medan: WilayahIndex, query: str) -> None:
    assert medan.search(query) == []


@pytest.mark.parametrize("query", ["xyzzy qwerty", "qqqq", "12345678"])
def test_junk_returns_nothing_so_the_bot_asks_again(
    medan: WilayahIndex, aceh_utara: WilayahIndex, indonesia: WilayahIndex, query: str
) -> None:
    assert medan.search(query) == []
    assert aceh_utara.search(query) == []
    assert indonesia.search(query) == []


def test_long_pasted_text_returns_promptly(indonesia: WilayahIndex) -> None:
    query = ("pasar baru jalan besar dekat masjid " * 40)[:1000]
    start = time.perf_counter()
    indonesia.search(query)
    indonesia.search("x" * 1000)
    assert time.perf_counter() - start < 0.5


def test_limit_caps_the_buttons(aceh_utara: WilayahIndex) -> None:
    assert len(aceh_utara.search("blang")) == 6
    assert len(aceh_utara.search("blang", limit=3)) == 3
    assert aceh_utara.search("blang", limit=0) == []


def test_search_over_the_whole_country_stays_fast(indonesia: WilayahIndex) -> None:
    # Generous bound, far above the measured ~2 ms: it catches a fall back to a full scan.
    queries = ["pasar baur", "sei rengas", "tanjung rejo", "kampung baru", "meunasah mesjid"] * 4
    start = time.perf_counter()
    for query in queries:
        indonesia.search(query)
    assert (time.perf_counter() - start) / len(queries) < 0.05


def test_an_empty_index_finds_nothing() -> None:
    index = WilayahIndex.from_rows(())
    assert len(index) == 0
    assert index.search("pasar baru") == []
    assert index.get(PASAR_BARU) is None


# --------------------------------------------------------------------------- database

QUERIES = ["sei rengas", "psr baru", "pasar baur", "sei mati", "tj rejo", "xyzzy qwerty"]


async def _count(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(Wilayah)) or 0)


async def test_loaded_region_searches_like_the_csv(db_url: str, medan: WilayahIndex) -> None:
    engine = create_engine(db_url)
    sessions = create_sessionmaker(engine)
    try:
        async with sessions() as session:
            assert await load_region(session, MEDAN) == 151
            await session.commit()
        async with sessions() as session:
            from_db = await index_from_db(session)
            row = await session.get(Wilayah, PASAR_BARU)
            provinsi = await session.get(Wilayah, "12")
        assert row is not None and (row.level, row.parent_code) == (4, "12.71.01")
        assert provinsi is not None and (provinsi.level, provinsi.parent_code) == (1, None)
        assert len(from_db) == len(medan)
        for query in QUERIES:
            assert from_db.search(query) == medan.search(query), query
        assert from_db.get(PASAR_BARU) == medan.get(PASAR_BARU)
        assert from_db.kecamatan_name("12.71.01") == "Medan Kota"

        rows = len(list(iter_wilayah_rows(MEDAN)))
        assert await _count(sessions) == rows
        async with sessions() as session:
            assert await load_region(session, MEDAN) == 151
            await session.commit()
        assert await _count(sessions) == rows  # replaced, not duplicated
    finally:
        await engine.dispose()


async def test_loading_another_region_replaces_the_first(db_url: str) -> None:
    engine = create_engine(db_url)
    sessions = create_sessionmaker(engine)
    try:
        async with sessions() as session:
            await load_region(session, MEDAN)
            await session.commit()
        async with sessions() as session:
            assert await load_region(session, ACEH_UTARA) == 852
            await session.commit()
        async with sessions() as session:
            index = await index_from_db(session)
        assert len(index) == 852
        assert index.get(PASAR_BARU) is None
        assert names(index.search("cot girek"))[0] == "Cot Girek"
    finally:
        await engine.dispose()


async def test_unknown_region_leaves_the_loaded_one_in_place(db_url: str) -> None:
    engine = create_engine(db_url)
    sessions = create_sessionmaker(engine)
    try:
        async with sessions() as session:
            await load_region(session, MEDAN)
            await session.commit()
        async with sessions() as session:
            with pytest.raises(UnknownRegion):
                await load_region(session, "99.99")
            await session.commit()
        async with sessions() as session:
            assert len(await index_from_db(session)) == 151
    finally:
        await engine.dispose()


# ----------------------------------------------------------------- issue 14: how people type

PADANG_LAWAS = "12.21"


@pytest.fixture(scope="module")
def padang_lawas() -> WilayahIndex:
    return WilayahIndex.from_rows(iter_wilayah_rows(PADANG_LAWAS))


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("mabar medan deli", "12.71.06.1005"),  # the kecamatan after the village
        ("mabar medn deli", "12.71.06.1005"),
        ("seimati", "12.71.13.1002"),  # run together (two Sei Mati: either is right first)
        ("S. Rengas Permata", "12.71.10.1004"),
        ("sei rengas permata", "12.71.10.1004"),
        ("P Berayan Darat 2", "12.71.20.1007"),  # the register's abbreviation
        ("pulo brayan darat ii", "12.71.20.1007"),  # spelt out, with a slip
        ("pulo berayan bengkel baru", "12.71.20.1009"),  # the register writes "PB"
        ("padang bulan selayang 1", "12.71.21.1005"),  # "P Bulan Selayang I"
        ("tegal sari mandala 3", "12.71.04.1003"),  # "Tegal S Mandala III"
        ("kel. sidorejo hilr", "12.71.14.1002"),
        ("ds sukaramai 2", "12.71.10.1002"),
    ],
)
def test_medan_as_residents_type_it(medan: WilayahIndex, query: str, code: str) -> None:
    found = medan.search(query)
    assert found and found[0].desa.name == medan.get(code).name, (query, names(found))  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("ganal huristak", "12.21.03.2018"),
        ("ujungbatuii", "12.21.05.2020"),
        ("ujung batu 2", "12.21.05.2020"),
        ("desa hutaraja tinggi", "12.21.05.2017"),
        ("huta bara sosopan", "12.21.01.2020"),
    ],
)
def test_padang_lawas_as_residents_type_it(
    padang_lawas: WilayahIndex, query: str, code: str
) -> None:
    found = padang_lawas.search(query)
    assert found and found[0].desa.code == code, (query, names(found))


def test_buttons_say_the_name_as_people_say_it(medan: WilayahIndex) -> None:
    darat = medan.get("12.71.20.1006")
    assert darat is not None and darat.name == "P Berayan Darat I"
    assert (darat.said, darat.label) == ("Pulo Berayan Darat I", "Kelurahan Pulo Berayan Darat I")
    assert medan.get("12.71.21.1005").said == "Padang Bulan Selayang I"  # type: ignore[union-attr]
    assert medan.get("12.71.10.1004").said == "Sei Rengas Permata"  # type: ignore[union-attr]
    assert medan.get(PASAR_BARU).said == "Pasar Baru"  # type: ignore[union-attr]
    match = medan.match_code("12.71.20.1006")
    assert match is not None and match.place == "Kec. Medan Timur"


def test_an_abbreviation_without_a_single_reading_is_left_alone(
    padang_lawas: WilayahIndex, medan: WilayahIndex
) -> None:
    assert padang_lawas.get("12.21.02.2005").said == "PP. Makmur"  # type: ignore[union-attr]
    assert medan.get("12.71.02.1002").said == "Sei Sikambing B"  # type: ignore[union-attr]
    sikambing_c = [d for d in medan.all() if d.name == "Sei Sikambing C II"]
    assert [d.said for d in sikambing_c] == ["Sei Sikambing C II"]  # a section letter


def test_the_typo_set_meets_the_targets() -> None:
    from tests.typo_set import accuracy, load_typo_set, region_indexes

    cases = load_typo_set()
    assert {c.region for c in cases} == {"12.71", "12.21"} and len(cases) > 1000
    result = accuracy(region_indexes(cases), cases)
    assert result.first >= 0.98 * result.cases, result.misses
    assert result.top3 == result.cases, result.misses


def test_the_typo_set_is_made_deterministically(tmp_path: Path) -> None:
    from tests.data.make_wilayah_typos import OUT, main

    again = tmp_path / "typos.csv"
    assert main(["--out", str(again)]) == 0
    assert again.read_bytes() == OUT.read_bytes()


def test_the_search_command_reads_queries_from_stdin() -> None:
    from typer.testing import CliRunner

    from bot.cli import app

    result = CliRunner().invoke(
        app,
        ["wilayah", "search", "--region", "12.71", "--limit", "2"],
        input="mabar medan deli\nxyzzy qwerty\n",
    )
    assert result.exit_code == 0, result.output
    first, second = (json.loads(line) for line in result.output.splitlines())
    assert first["query"] == "mabar medan deli"
    assert first["results"][0] == {
        "code": "12.71.06.1005",
        "name": "Mabar",
        "kecamatan": "Medan Deli",
    }
    assert len(first["results"]) <= 2
    assert second == {"query": "xyzzy qwerty", "results": []}


def test_the_search_command_takes_one_query_and_refuses_an_unknown_region() -> None:
    from typer.testing import CliRunner

    from bot.cli import app

    result = CliRunner().invoke(app, ["wilayah", "search", "--region", "12.21", "ganal huristak"])
    assert result.exit_code == 0
    assert json.loads(result.output)["results"][0]["name"] == "Ganal"
    refused = CliRunner().invoke(app, ["wilayah", "search", "--region", "99.99", "x"])
    assert refused.exit_code == 2
