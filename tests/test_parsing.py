"""Reading what residents type: volumes, counts and addresses, the way they write them."""

from __future__ import annotations

from decimal import Decimal

import pytest

from handlers.parsing import Address, Volume, parse_address, parse_count, parse_volume


@pytest.mark.parametrize(
    ("typed", "amount", "unit"),
    [
        ("120 meter", "120", "meter"),
        ("4 unit", "4", "unit"),
        ("1.200 m", "1200", "meter"),  # Indonesian thousands separator
        ("2,5 km", "2.5", "km"),  # Indonesian decimal comma
        ("2.5 km", "2.5", "km"),
        ("120m", "120", "meter"),
        ("120 M", "120", "meter"),
        ("sekitar 300 meter", "300", "meter"),
        ("± 50 m2", "50", "m²"),
        ("12 m³", "12", "m³"),
        ("100 meter persegi", "100", "m²"),
        ("2 kilo meter", "2", "km"),
        ("3 titik lampu", "3", "titik"),
        ("5 bh", "5", "unit"),
        ("1 paket", "1", "paket"),
        ("10 gorong-gorong", "10", "gorong-gorong"),  # a plausible unit is kept as written
    ],
)
def test_volumes_residents_write(typed: str, amount: str, unit: str) -> None:
    assert parse_volume(typed) == Volume(Decimal(amount), unit)


@pytest.mark.parametrize(
    "typed",
    ["", "meter", "banyak sekali", "120", "0 meter", "-5 meter", "½ km", "12 !!!", "abc 5 m"],
)
def test_what_is_not_a_volume_is_refused(typed: str) -> None:
    assert parse_volume(typed) is None


def test_a_whole_number_volume_has_no_decimal_places() -> None:
    volume = parse_volume("120,00 meter")
    assert volume is not None
    assert str(volume.amount) == "120"


@pytest.mark.parametrize(
    ("typed", "count"),
    [
        ("200", 200),
        ("sekitar 200 KK", 200),
        ("±1.500 jiwa", 1500),
        ("1.000.000 orang", 1_000_000),
        ("kira-kira 45 rumah", 45),
    ],
)
def test_counts_residents_write(typed: str, count: int) -> None:
    assert parse_count(typed) == count


@pytest.mark.parametrize("typed", ["", "tidak tahu", "0", "banyak"])
def test_what_is_not_a_count_is_refused(typed: str) -> None:
    assert parse_count(typed) is None


def test_a_count_in_thousands_written_with_ribu_is_not_read_as_its_first_digit() -> None:
    # "2 ribu KK" is two thousand families; recording 2 would shrink it a thousandfold.
    assert parse_count("sekitar 2 ribu KK") == 2000


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        (
            "Lingkungan 3, RT 02/RW 05, Jl. Melati",
            Address(dusun="Lingkungan 3", rt="002", rw="005", street="Jl. Melati"),
        ),
        (
            "Jl. Sisingamangaraja Gg. Mawar No. 12, RT.004/RW.002",
            Address(rt="004", rw="002", street="Jl. Sisingamangaraja Gg. Mawar No. 12"),
        ),
        (
            "Lk. VII, Jl. Pelita IV",
            Address(dusun="Lingkungan VII", street="Jl. Pelita IV"),
        ),
        (
            "Jl. Rustam, Lingk. II, RT.03 RW.01",
            Address(dusun="Lingkungan II", rt="003", rw="001", street="Jl. Rustam"),
        ),
        (
            "Jl. Rantau, RT 03, RW 09, Lingkungan 4",
            Address(dusun="Lingkungan 4", rt="003", rw="009", street="Jl. Rantau"),
        ),
        ("Dusun Sukamaju RT 01 RW 02", Address(dusun="Dusun Sukamaju", rt="001", rw="002")),
        ("rt5 rw7 dsn. Melati", Address(dusun="Dusun Melati", rt="005", rw="007")),
        ("RT 002 / RW 005", Address(rt="002", rw="005")),
        ("Lorong Sartika RT 2", Address(rt="002", street="Lorong Sartika")),
        ("Gang Sepakat", Address(street="Gang Sepakat")),
        ("jalan RTM No. 5", Address(street="jalan RTM No. 5")),  # "RTM" is not an RT
    ],
)
def test_addresses_are_split_into_dusun_rt_rw_and_street(typed: str, expected: Address) -> None:
    assert parse_address(typed) == expected


def test_the_rt_rw_form_of_an_identity_card_is_read() -> None:
    # "RT/RW 002/005" is how the KTP writes it, and how many residents copy it.
    assert parse_address("Jl. Melati, RT/RW 002/005") == Address(
        rt="002", rw="005", street="Jl. Melati"
    )


def test_a_street_after_the_dusun_without_commas_stays_the_street() -> None:
    assert parse_address("Dusun II RT 3 RW 1 Jl Kenanga No 5") == Address(
        dusun="Dusun II", rt="003", rw="001", street="Jl Kenanga No 5"
    )


def test_very_long_address_parts_are_kept_whole_for_the_conversation_to_refuse() -> None:
    # Cutting would lose what the resident wrote; the intake says the limit instead.
    address = parse_address("Dusun " + "A" * 300 + ", Jl. " + "B" * 300)
    assert address.dusun == "Dusun " + "A" * 300
    assert address.street == "Jl. " + "B" * 300


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sekitar 60 KK", (60, "KK")),
        ("60 kepala keluarga", (60, "KK")),
        ("±1.500 jiwa", (1500, "orang")),
        ("200 orang warga", (200, "orang")),
        ("12 rumah", (12, "rumah")),
        ("200", (200, None)),
        ("banyak sekali", None),
    ],
)
def test_beneficiaries_keep_what_was_counted(text, expected):
    from handlers.parsing import parse_beneficiaries

    assert parse_beneficiaries(text) == expected
