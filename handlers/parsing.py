"""Reading what residents type: volumes, counts, addresses. Pure functions, easy to test."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

# Units residents write, mapped to the form planners use in the kamus usulan.
UNITS = {
    "m": "meter",
    "meter": "meter",
    "mtr": "meter",
    "metre": "meter",
    "meters": "meter",
    "km": "km",
    "kilometer": "km",
    "kilo meter": "km",
    "m2": "m²",
    "m²": "m²",
    "meter persegi": "m²",
    "mp": "m²",
    "m3": "m³",
    "m³": "m³",
    "kubik": "m³",
    "meter kubik": "m³",
    "ha": "ha",
    "hektar": "ha",
    "hektare": "ha",
    "unit": "unit",
    "units": "unit",
    "bh": "unit",
    "buah": "unit",
    "pcs": "unit",
    "titik": "titik",
    "lokasi": "lokasi",
    "paket": "paket",
    "set": "set",
    "orang": "orang",
    "org": "orang",
    "jiwa": "orang",
    "people": "orang",
    "persons": "orang",
    "kk": "KK",
    "keluarga": "KK",
    "rumah": "rumah",
    "kelompok": "kelompok",
    "kegiatan": "kegiatan",
    "kali": "kegiatan",
    "ekor": "ekor",
    "batang": "batang",
    "pohon": "batang",
    "lampu": "titik",
    "tiang": "titik",
    "ruang": "ruang",
    "lokal": "ruang",
    "kelas": "ruang",
    "sumur": "unit",
    "gerobak": "unit",
    "tong": "unit",
    "bak": "unit",
}

_NUMBER = r"(\d{1,3}(?:\.\d{3})+(?:,\d+)?|\d+(?:[.,]\d+)?)"
_VOLUME_RE = re.compile(
    rf"^\s*(?:[±~]|sekitar|kurang lebih|kira-kira|about)?\s*{_NUMBER}\s*(.*)$", re.IGNORECASE
)


def parse_number(text: str) -> Decimal | None:
    """'1.200' -> 1200, '2,5' -> 2.5, '2.5' -> 2.5 (Indonesian and English writing)."""
    text = text.strip()
    if re.fullmatch(r"\d{1,3}(?:\.\d{3})+(?:,\d+)?", text):
        text = text.replace(".", "").replace(",", ".")
    else:
        text = text.replace(",", ".")
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


@dataclass(frozen=True)
class Volume:
    amount: Decimal
    unit: str


def parse_volume(text: str) -> Volume | None:
    """'120 meter' -> 120 meter; '4 unit'; '2,5 km'; '120m'. None when no number and unit."""
    match = _VOLUME_RE.match(text)
    if not match:
        return None
    amount = parse_number(match.group(1))
    unit_text = re.sub(r"[^\w²³ -]", " ", match.group(2).lower()).strip(" -")
    unit_text = re.sub(r"\s+", " ", unit_text)
    if amount is None or amount <= 0 or not unit_text:
        return None
    unit = UNITS.get(unit_text) or UNITS.get(unit_text.split(" ")[0])
    if unit is None:
        # An unknown but plausible unit word ("gorong-gorong") is kept as written.
        word = unit_text.split(" ")[0]
        if not word.replace("-", "").isalpha() or len(word) > 24:
            return None
        unit = word
    if amount == amount.to_integral_value():
        amount = Decimal(int(amount))
    return Volume(amount, unit)


_SCALE = {"ribu": 1_000, "rb": 1_000, "juta": 1_000_000, "jt": 1_000_000, "thousand": 1_000}


def parse_count(text: str) -> int | None:
    """'200', 'sekitar 200 KK', '±1.500 jiwa', '2 ribu' -> the whole number meant."""
    match = re.search(r"(\d{1,3}(?:\.\d{3})+|\d+(?:,\d+)?)\s*([a-z]+)?", text.lower())
    if not match:
        return None
    number = match.group(1)
    scale = _SCALE.get(match.group(2) or "", 1)
    if "," in number:  # "1,5 juta"
        if scale == 1:
            return None
        value = int(float(number.replace(",", ".")) * scale)
    else:
        value = int(number.replace(".", "")) * scale
    return value if value > 0 else None  # its upper limit is the conversation's to say


# Who is counted: households, people or houses, as residents write them.
_BENEFICIARY_UNITS = (
    ("KK", re.compile(r"\b(kk|kepala\s+keluarga|keluarga|household|households|families)\b")),
    ("orang", re.compile(r"\b(orang|jiwa|warga|penduduk|people|persons?|residents?)\b")),
    ("rumah", re.compile(r"\b(rumah|houses?|homes?)\b")),
)


def parse_beneficiaries(text: str) -> tuple[int, str | None] | None:
    """'sekitar 60 KK' -> (60, 'KK'); '±1.500 jiwa' -> (1500, 'orang'); '200' -> (200, None)."""
    count = parse_count(text)
    if count is None:
        return None
    lowered = text.lower()
    unit = next((name for name, pattern in _BENEFICIARY_UNITS if pattern.search(lowered)), None)
    return count, unit


@dataclass(frozen=True)
class Address:
    dusun: str | None = None
    rt: str | None = None
    rw: str | None = None
    street: str | None = None


# The identity-card form: "RT/RW 002/005".
_RTRW_PAIR = re.compile(r"\brt\s*/\s*rw\.?\s*0*(\d{1,3})\s*/\s*0*(\d{1,3})\b", re.IGNORECASE)
_RT_RW = re.compile(
    r"\brt\.?\s*0*(\d{1,3})\s*(?:/\s*(?:rw\.?)?|,?\s*rw\.?)\s*0*(\d{1,3})\b", re.IGNORECASE
)
_RT = re.compile(r"\brt\.?\s*0*(\d{1,3})\b", re.IGNORECASE)
_RW = re.compile(r"\brw\.?\s*0*(\d{1,3})\b", re.IGNORECASE)
# A dusun/lingkungan name runs to the next comma or the start of a street word.
_DUSUN = re.compile(
    r"\b(dusun|dsn\.?|lingkungan|lingk\.?|ling\.?|lk\.?|jorong|banjar)\s*"
    r"((?:(?!\b(?:jl|jln|jalan|gg|gang|lorong|komplek|perum)\b)[^,;])+)",
    re.IGNORECASE,
)


def parse_address(text: str) -> Address:
    """'Lingkungan 3, RT 02/RW 05, Jl. Melati' -> its parts; what is left is the street.

    Nothing is cut: whether a part fits its column is for the conversation to check and say."""
    rest = text.strip()
    rt = rw = dusun = None
    # Removed parts leave a comma behind, so the words on either side stay apart.
    if m := (_RTRW_PAIR.search(rest) or _RT_RW.search(rest)):
        rt, rw = m.group(1), m.group(2)
        rest = rest[: m.start()] + ", " + rest[m.end() :]
    else:
        if m := _RT.search(rest):
            rt = m.group(1)
            rest = rest[: m.start()] + ", " + rest[m.end() :]
        if m := _RW.search(rest):
            rw = m.group(1)
            rest = rest[: m.start()] + ", " + rest[m.end() :]
    if m := _DUSUN.search(rest):
        dusun = f"{_dusun_word(m.group(1))} {m.group(2).strip()}".strip()
        rest = rest[: m.start()] + ", " + rest[m.end() :]
    street = re.sub(r"\s+", " ", re.sub(r"(^[\s,;]+|[\s,;]+$)", "", rest)).strip(" ,;")
    street = re.sub(r"\s*,\s*(,\s*)+", ", ", street)
    return Address(
        dusun=dusun or None,
        rt=rt.zfill(3) if rt else None,
        rw=rw.zfill(3) if rw else None,
        street=street or None,
    )


def _dusun_word(word: str) -> str:
    word = word.lower().rstrip(".")
    if word in {"dusun", "dsn"}:
        return "Dusun"
    if word in {"jorong", "banjar"}:
        return word.capitalize()
    return "Lingkungan"
