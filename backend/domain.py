"""Vocabulary of the Musrenbang (docs/architecture.md), shared by services, storage and API."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from enum import StrEnum

from backend.errors import InvalidInput


class Stage(StrEnum):
    DESA = "desa"
    KECAMATAN = "kecamatan"
    PERANGKAT_DAERAH = "perangkat_daerah"
    KABKOTA = "kabkota"
    RENJA = "renja"
    RKPD = "rkpd"
    APBD = "apbd"
    REALISASI = "realisasi"


class Decision(StrEnum):
    MENUNGGU = "menunggu"
    DITERIMA = "diterima"
    DITERIMA_DENGAN_PERUBAHAN = "diterima_dengan_perubahan"
    PERLU_PERBAIKAN = "perlu_perbaikan"
    DITOLAK = "ditolak"
    DITUNDA = "ditunda"
    DIGABUNG = "digabung"


class Origin(StrEnum):
    WARGA = "warga"
    KEPALA_DESA = "kepala_desa"
    REMBUK_WARGA = "rembuk_warga"
    OPEN311 = "open311"


class WilayahLevel:
    PROVINSI = 1
    KABKOTA = 2
    KECAMATAN = 3
    DESA = 4


# Limits a resident meets in the intake; the conversation states them in its messages.
MAX_TEXT_CHARS = 1000
MIN_TEXT_CHARS = 10
MAX_PHOTOS = 3
MAX_PHOTO_BYTES = 20 * 1024 * 1024  # what the Bot API lets a bot download
MAX_AUDIO_SECONDS = 120  # a voice note longer than this is refused, with the limit stated
MAX_AUDIO_BYTES = 20 * 1024 * 1024


# --- What a field may hold ---------------------------------------------------------------
#
# One table of limits, checked where a value is entered (chat, API, dashboard, Open311) so
# that nothing the database would refuse, round or cut ever reaches it. Each entry names the
# column it guards; tests/test_limits.py checks the table against the models, so the two
# cannot drift apart. Text columns without a length get the limit the Musrenbang needs.

INT32_MAX = 2**31 - 1  # Integer columns (ids, counts) on PostgreSQL


@dataclass(frozen=True)
class TextLimit:
    column: str  # "table.column"
    max_chars: int
    min_chars: int = 0

    def describe(self) -> str:
        if self.min_chars:
            return f"{self.min_chars} to {self.max_chars} characters"
        return f"at most {self.max_chars} characters"


@dataclass(frozen=True)
class NumberLimit:
    column: str
    low: Decimal
    high: Decimal
    scale: int = 0  # digits after the decimal point the column keeps
    rounds: bool = False  # more digits are rounded away (coordinates) instead of refused

    def describe(self) -> str:
        if self.scale == 0:
            return f"a whole number from {self.low} to {self.high}"
        if self.rounds:
            return f"a number from {self.low} to {self.high}"
        return (
            f"a number from {self.low} to {self.high} "
            f"with at most {self.scale} digits after the decimal point"
        )


LIMITS: dict[str, TextLimit | NumberLimit] = {
    "permasalahan": TextLimit("usulan.permasalahan", MAX_TEXT_CHARS, MIN_TEXT_CHARS),
    "usulan": TextLimit("usulan.usulan", MAX_TEXT_CHARS, MIN_TEXT_CHARS),
    "dusun": TextLimit("usulan.dusun", 120),
    "rt": TextLimit("usulan.rt", 8),
    "rw": TextLimit("usulan.rw", 8),
    "street": TextLimit("usulan.street", 200),
    "unit": TextLimit("usulan.unit", 32),
    "submitter_name": TextLimit("usulan.submitter_name", 120),
    "submitter_phone": TextLimit("usulan.submitter_phone", 32),
    "code": TextLimit("usulan.code", 16),
    "category": TextLimit("usulan.category", 32),
    "desa_code": TextLimit("usulan.desa_code", 13),
    "wilayah_code": TextLimit("wilayah.code", 13),
    "opd": TextLimit("opd.code", 32),
    "reason_code": TextLimit("usulan_events.reason_code", 32),
    "note": TextLimit("usulan_events.note", MAX_TEXT_CHARS),
    "display_name": TextLimit("users.display_name", 120),
    "username": TextLimit("credentials.username", 64),
    "token_name": TextLimit("api_tokens.name", 80),
    "place": TextLimit("rembuk.place", 200),
    "volume": NumberLimit("usulan.volume", Decimal("0.01"), Decimal("999999999999.99"), 2),
    "latitude": NumberLimit("usulan.latitude", Decimal(-90), Decimal(90), 6, rounds=True),
    "longitude": NumberLimit("usulan.longitude", Decimal(-180), Decimal(180), 6, rounds=True),
    "beneficiaries": NumberLimit("usulan.beneficiaries", Decimal(1), Decimal(99_999_999)),
    "beneficiaries_unit": TextLimit("usulan.beneficiaries_unit", 8),
    "id": NumberLimit("notifications.id", Decimal(1), Decimal(INT32_MAX)),
    "attendance": NumberLimit("rembuk.attendance_total", Decimal(0), Decimal(1_000_000)),
}


def text_limit(name: str) -> TextLimit:
    limit = LIMITS[name]
    assert isinstance(limit, TextLimit)
    return limit


def number_limit(name: str) -> NumberLimit:
    limit = LIMITS[name]
    assert isinstance(limit, NumberLimit)
    return limit


def has_control_chars(text: str) -> bool:
    """NUL and other control characters: PostgreSQL refuses NUL, the rest garble pages."""
    return any(not (ch.isprintable() or ch in "\n\t") for ch in text)


def check_text(name: str, text: str, field: str | None = None) -> str:
    """`text` (already trimmed) as the column holds it, or InvalidInput naming the limit."""
    limit = text_limit(name)
    if not limit.min_chars <= len(text) <= limit.max_chars or has_control_chars(text):
        raise InvalidInput(field or name, limit.describe())
    return text


def check_number(name: str, value: object, field: str | None = None) -> Decimal:
    """A number as the column holds it: finite, in range, with no more digits than it keeps.

    Strings, ints, floats and Decimals are read alike; booleans are not numbers here.
    """
    limit = number_limit(name)
    try:
        if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
            raise InvalidOperation
        number = Decimal(value.strip() if isinstance(value, str) else str(value))
    except (InvalidOperation, ValueError):
        raise InvalidInput(field or name, f"not a number: {limit.describe()}") from None
    if not number.is_finite():
        raise InvalidInput(field or name, limit.describe())
    if not limit.low <= number <= limit.high:
        raise InvalidInput(field or name, limit.describe())
    quantum = Decimal(1).scaleb(-limit.scale)
    if limit.rounds:
        return number.quantize(quantum)
    if number != number.quantize(quantum, rounding=ROUND_DOWN):
        raise InvalidInput(field or name, limit.describe())
    return number
