"""Wilayah (Kemendagri codes): the rows a deployment serves, and desa/kelurahan search.

Residents type the name of their desa or kelurahan the way they say it: abbreviated ("psr",
"sei", "tj"), misspelt, with or without "Kel."/"Desa", with digits for roman numerals. Names
and queries are normalised the same way, then scored with rapidfuzz. A kabupaten/kota has at
most ~900 desa, so it is scanned whole; the whole country (83,441) is first narrowed to a few
hundred candidates through a trigram index.
"""

from __future__ import annotations

import asyncio
import csv
import heapq
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any, Literal

from rapidfuzz import fuzz, process
from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.domain import WilayahLevel
from backend.storage.models import Wilayah

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
WILAYAH_CSV = DATA_DIR / "wilayah_kemendagri.csv"
ALL = "ALL"

DesaKind = Literal["kelurahan", "desa"]


class UnknownRegion(ValueError):
    """The region is neither a kabupaten/kota code of the data set nor ALL."""


# --------------------------------------------------------------------------- region rows


def _level(code: str) -> int:
    return code.count(".") + 1


def _parse_region(region: str) -> str:
    value = region.strip()
    if value.upper() == ALL:
        return ALL
    parts = value.split(".")
    if len(parts) != 2 or not all(len(p) == 2 and p.isdigit() for p in parts):
        raise UnknownRegion(
            f"region {region!r} is not a kabupaten/kota code such as 12.71 (Kota Medan), or ALL"
        )
    return value


def _read_csv(path: Path) -> Iterator[tuple[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        for record in csv.reader(handle):
            if len(record) < 2 or record[0] == "kode":
                continue
            yield record[0].strip(), record[1].strip()


def iter_wilayah_rows(region: str, path: Path | None = None) -> Iterator[tuple[str, str]]:
    """(code, name) rows of one kabupaten/kota with its provinsi, kecamatan and desa, or ALL.

    An unknown or malformed region raises UnknownRegion here, before anything is yielded, so a
    caller never starts replacing data it cannot finish.
    """
    source = path or WILAYAH_CSV
    code = _parse_region(region)
    if code == ALL:
        return _read_csv(source)
    provinsi, _ = code.split(".")
    subtree = code + "."
    rows = [
        row for row in _read_csv(source) if row[0] in (provinsi, code) or row[0].startswith(subtree)
    ]
    if not any(row[0] == code for row in rows):
        raise UnknownRegion(f"region {code} is not a kabupaten/kota code in {source.name}")
    return iter(rows)


# --------------------------------------------------------------------------- values


@dataclass(frozen=True, slots=True)
class Desa:
    code: str
    name: str
    kind: DesaKind
    kecamatan_code: str
    kecamatan_name: str
    kabkota_code: str
    kabkota_name: str

    @property
    def label(self) -> str:
        return f"{'Kelurahan' if self.kind == 'kelurahan' else 'Desa'} {self.name}"


@dataclass(frozen=True, slots=True)
class DesaMatch:
    desa: Desa
    score: float
    ambiguous: bool
    # Set when the index covers several kabupaten/kota: the kecamatan alone may not tell apart.
    spans_kabkota: bool = False

    @property
    def where(self) -> str | None:
        """What a button adds to the label so a resident can tell same-named places apart."""
        if not self.ambiguous:
            return None
        place = f"Kec. {self.desa.kecamatan_name or self.desa.kecamatan_code}"
        if self.spans_kabkota:
            place = f"{place}, {self.desa.kabkota_name}"
        return place


def _display_kabkota(name: str) -> str:
    # The data set writes kabupaten/kota in capitals ("KAB. ACEH UTARA"); buttons do not shout.
    if name != name.upper():
        return name
    return " ".join(
        "-".join(p[:1].upper() + p[1:].lower() for p in w.split("-")) for w in name.split()
    )


# --------------------------------------------------------------------------- normalisation


def _roman(number: int) -> str:
    numerals = ((10, "x"), (9, "ix"), (5, "v"), (4, "iv"), (1, "i"))
    out = []
    for value, letters in numerals:
        count, number = divmod(number, value)
        out.append(letters * count)
    return "".join(out)


_ROMAN = {_roman(n): str(n) for n in range(1, 31)}

# Both names and queries go through this table, so an abbreviation in the data ("S. Rengas
# Permata", "Ps.Baru", "Tj. Baru") meets the resident's spelling half way.
_SYNONYMS = {
    "sei": "sungai",
    "sg": "sungai",
    "sng": "sungai",
    "sungei": "sungai",
    "psr": "pasar",
    "ps": "pasar",
    "kp": "kampung",
    "kpg": "kampung",
    "kamp": "kampung",
    "kampong": "kampung",
    "tj": "tanjung",
    "tg": "tanjung",
    "tjg": "tanjung",
    "tanjong": "tanjung",
    "pd": "padang",
    "pdg": "padang",
    "sp": "simpang",
    "spg": "simpang",
    "jl": "jalan",
    "jln": "jalan",
    "bkt": "bukit",
    "bukik": "bukit",
    "mesjid": "masjid",
    "mesj": "masjid",
    "msjd": "masjid",
    "gn": "gunung",
    "gng": "gunung",
    "lb": "lubuk",
    "lbk": "lubuk",
    "mns": "meunasah",
    "tgk": "teungku",
    "btg": "batang",
    "dsn": "dusun",
    "perk": "perkebunan",
    "tgh": "tengah",
}
# Words a resident puts before the name; "kampung", "gampong", "nagari" and "desa" also begin
# some real names, so for those the query is scored both with and without the word.
_PREFIX_WORDS = frozenset({"kel", "kelurahan", "desa", "ds", "gampong", "gp", "nagari", "kampung"})
_NAME_WORDS = frozenset({"desa", "gampong", "nagari", "kampung"})
_KECAMATAN_WORDS = frozenset({"kec", "kecamatan"})

_APOSTROPHES = str.maketrans("", "", "'`\u2019\u2018")
_NON_ALNUM = re.compile(r"[^0-9a-z]+")
_LETTER_DIGIT = re.compile(r"(?<=[a-z])(?=[0-9])|(?<=[0-9])(?=[a-z])")


def _tokens(text: str) -> list[str]:
    if not text.isascii():
        text = "".join(
            c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)
        )
    text = _LETTER_DIGIT.sub(" ", text.lower().translate(_APOSTROPHES))
    raw = [t for t in _NON_ALNUM.split(text) if t]
    out = []
    for position, word in enumerate(raw):
        if word == "s" and position == 0 and len(raw) > 1:
            # "S. Rengas Permata", "S. Pinang": a leading lone S is sungai in this data set
            # (inside a name it is anything: "Tegal S Mandala" is Tegal Sari Mandala).
            out.append("sungai")
        elif word in _ROMAN:
            out.append(_ROMAN[word])
        elif word.isdigit():
            out.append(word.lstrip("0") or "0")
        else:
            out.append(_SYNONYMS.get(word, word))
    return out


def normalise(text: str) -> str:
    """The comparable form of a name: lower case, canonical words, digits for numerals."""
    return " ".join(_tokens(text))


def _trigrams(normalised: str) -> set[str]:
    grams: set[str] = set()
    for token in normalised.split():
        padded = f" {token} "
        grams.update(padded[i : i + 3] for i in range(len(padded) - 2))
    return grams


# Names are at most 37 characters; anything much longer is pasted text, not a desa name.
_MAX_QUERY_CHARS = 120
_MAX_QUERY_TOKENS = 8


@dataclass(frozen=True, slots=True)
class _Query:
    # (normalised text, points taken off its scores)
    variants: tuple[tuple[str, float], ...]
    kecamatan: str


def _parse_query(query: str) -> _Query | None:
    tokens = _tokens(query[:_MAX_QUERY_CHARS])
    hint: list[str] = []
    for position, token in enumerate(tokens):
        if token in _KECAMATAN_WORDS and position > 0:
            # "pasar baru kec medan kota": what follows names the kecamatan, not the desa.
            hint = [t for t in tokens[position + 1 :] if t not in _KECAMATAN_WORDS]
            tokens = tokens[:position]
            break
    tokens = [t for t in tokens if t not in _KECAMATAN_WORDS][:_MAX_QUERY_TOKENS]
    if all(t in _PREFIX_WORDS and t not in _NAME_WORDS for t in tokens):
        return None  # nothing typed, or only "kel."
    variants = [(" ".join(tokens), 0.0)]
    while len(tokens) > 1 and tokens[0] in _PREFIX_WORDS:
        penalty = variants[-1][1]
        if tokens[0] in _NAME_WORDS:
            # "kampung baru" is more likely Kampung Baru than a desa called Baru.
            penalty += 2.0
        else:
            variants.pop()
        tokens = tokens[1:]
        variants.append((" ".join(tokens), penalty))
    return _Query(tuple(variants), " ".join(hint[:_MAX_QUERY_TOKENS]))


# --------------------------------------------------------------------------- index

# Scores are 0..100. Below _MIN_SCORE a match is noise; the bot asks the resident to retype.
_MIN_SCORE = 72.0
# Each rough pass keeps up to this many names above this score for the word-by-word rescoring.
_ROUGH_CUTOFF = 55.0
_SHORTLIST = 24
# A clear winner should not be padded out with far weaker names.
_RELATIVE_MARGIN = 15.0
# Up to this many desa a full scan is faster than the trigram prefilter.
_SCAN_LIMIT = 3000
_CANDIDATES = 400
_MIN_INFORMATIVE_GRAMS = 4


class WilayahIndex:
    """The desa/kelurahan of the loaded region, searchable by what residents type."""

    def __init__(self, desas: Iterable[Desa], kecamatan_names: Mapping[str, str] | None = None):
        self._desa: list[Desa] = sorted(desas, key=lambda d: d.code)
        self._by_code = {d.code: i for i, d in enumerate(self._desa)}
        self._kecamatan = dict(kecamatan_names or {})
        for desa in self._desa:
            self._kecamatan.setdefault(desa.kecamatan_code, desa.kecamatan_name)
        self._norm = [normalise(d.name) for d in self._desa]
        self._compact = [n.replace(" ", "") for n in self._norm]
        self._kecamatan_norm = {code: normalise(name) for code, name in self._kecamatan.items()}
        self.spans_kabkota = len({d.kabkota_code for d in self._desa}) > 1
        self._kabkota = {d.kabkota_code: d.kabkota_name for d in self._desa}

        places: dict[str, set[str]] = {}
        for desa, norm in zip(self._desa, self._norm, strict=True):
            places.setdefault(norm, set()).add(desa.kecamatan_code)
        self._ambiguous = [len(places[norm]) > 1 for norm in self._norm]

        self._grams: dict[str, list[int]] | None = None
        self._common_gram = max(1000, len(self._desa) // 16)
        if len(self._desa) > _SCAN_LIMIT:
            # Postings list shorter names first. The candidates that share most trigrams with
            # the query then keep that order among themselves (nlargest is stable), so when a
            # common word ties thousands of names, the exact and closest ones are kept.
            grams: dict[str, list[int]] = {}
            by_length = sorted(range(len(self._norm)), key=lambda i: len(self._norm[i]))
            for i in by_length:
                for gram in _trigrams(self._norm[i]):
                    grams.setdefault(gram, []).append(i)
            self._grams = grams

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[str, str]]) -> WilayahIndex:
        """Build from (code, name) rows in any order; provinsi rows are ignored."""
        names: dict[str, str] = {}
        desa_rows = []
        for code, name in rows:
            level = _level(code)
            if level == WilayahLevel.DESA:
                desa_rows.append((code, name))
            elif level in (WilayahLevel.KABKOTA, WilayahLevel.KECAMATAN):
                names[code] = name
        desas = []
        for code, name in desa_rows:
            kecamatan_code = code.rsplit(".", 1)[0]
            kabkota_code = kecamatan_code.rsplit(".", 1)[0]
            kind: DesaKind = "kelurahan" if code.rsplit(".", 1)[1].startswith("1") else "desa"
            desas.append(
                Desa(
                    code=code,
                    name=name,
                    kind=kind,
                    kecamatan_code=kecamatan_code,
                    kecamatan_name=names.get(kecamatan_code, ""),
                    kabkota_code=kabkota_code,
                    kabkota_name=_display_kabkota(names.get(kabkota_code, "")),
                )
            )
        kecamatan = {c: n for c, n in names.items() if _level(c) == WilayahLevel.KECAMATAN}
        return cls(desas, kecamatan)

    def __len__(self) -> int:
        return len(self._desa)

    def get(self, code: str) -> Desa | None:
        i = self._by_code.get(code.strip())
        return None if i is None else self._desa[i]

    def all(self) -> list[Desa]:
        """Every desa/kelurahan of the index, by code."""
        return list(self._desa)

    def kabkota_name(self, code: str) -> str | None:
        """Name of a loaded kabupaten/kota, given its code."""
        return self._kabkota.get(code.strip())

    def kecamatan_name(self, code: str) -> str | None:
        """Name of a kecamatan, given its code or the code of one of its desa."""
        parts = code.strip().split(".")
        return self._kecamatan.get(".".join(parts[:3])) if len(parts) >= 3 else None

    def search(self, query: str, limit: int = 6) -> list[DesaMatch]:
        """Best matches first; [] when nothing is close enough to offer."""
        if limit <= 0 or not self._desa:
            return []
        exact = self._by_code.get(query.strip())
        if exact is not None:
            return [self._match(exact, 100.0)]
        parsed = _parse_query(query)
        if parsed is None:
            return []
        ids = None if self._grams is None else self._candidates([v for v, _ in parsed.variants])
        scored = self._score(parsed, ids)
        if not scored:
            return []
        best = max(scored.values())
        floor = max(_MIN_SCORE, best - _RELATIVE_MARGIN)
        ranked = heapq.nsmallest(
            limit,
            ((-s, len(self._desa[i].name), self._desa[i].code, i) for i, s in scored.items()),
        )
        return [self._match(i, -neg) for neg, _, _, i in ranked if -neg >= floor]

    def _match(self, i: int, score: float) -> DesaMatch:
        return DesaMatch(self._desa[i], round(score, 2), self._ambiguous[i], self.spans_kabkota)

    def _candidates(self, variants: Sequence[str]) -> list[int]:
        """The names sharing most trigrams with the query, at most _CANDIDATES of them."""
        assert self._grams is not None
        wanted = set().union(*(_trigrams(v) for v in variants))
        postings = sorted((self._grams[g] for g in wanted if g in self._grams), key=len)
        # The commonest trigrams ("ng ", "ang", " ba") tell little and cost most of the
        # counting; leave them out when the query has enough others.
        informative = [p for p in postings if len(p) <= self._common_gram]
        if len(informative) >= _MIN_INFORMATIVE_GRAMS:
            postings = informative
        counts: Counter[int] = Counter()
        for posting in postings:
            counts.update(posting)
        if len(counts) <= _CANDIDATES:
            return list(counts)
        # Lowest count that still fits, from the histogram of counts (cheaper than a heap).
        histogram = Counter(counts.values())
        room, threshold = _CANDIDATES, 0
        for count in sorted(histogram, reverse=True):
            if histogram[count] >= room:
                threshold = count
                break
            room -= histogram[count]
        chosen = [i for i, c in counts.items() if c > threshold]
        chosen.extend(islice((i for i, c in counts.items() if c == threshold), room))
        return chosen

    def _score(self, parsed: _Query, ids: list[int] | None) -> dict[int, float]:
        if ids is None:
            norms, compacts = self._norm, self._compact
        else:
            norms = [self._norm[i] for i in ids]
            compacts = [self._compact[i] for i in ids]
        best: dict[int, float] = {}
        for variant, penalty in parsed.variants:
            # Rough passes in C over every candidate; each hands its best to _rescore, which
            # orders them. One shortlist per pass, so that names a query contains ("Tanjung"
            # for "tanjung rejo", all 100 to token_set_ratio) cannot crowd out the typo'd
            # whole name, nor the other way round.
            compact = variant.replace(" ", "")
            shortlist: set[int] = set()
            for text, choices, scorer, take in (
                (variant, norms, fuzz.ratio, _SHORTLIST),  # typos over the whole name
                (variant, norms, fuzz.token_set_ratio, _SHORTLIST),  # missing or extra words
                (compact, compacts, fuzz.ratio, _SHORTLIST // 2),  # "sidomulyo", "sido mulyo"
            ):
                found = process.extract(
                    text, choices, scorer=scorer, score_cutoff=_ROUGH_CUTOFF, limit=None
                )
                if len(found) > take:
                    # Among equal scores, names closest in length to the query go first.
                    size = len(text)
                    found = heapq.nlargest(
                        take, found, key=lambda f: f[1] - 0.01 * abs(len(f[0]) - size)
                    )
                shortlist.update(k for _, _, k in found)
            for k in shortlist:
                score = _rescore(variant, norms[k]) - penalty
                i = k if ids is None else ids[k]
                if score > best.get(i, 0.0):
                    best[i] = score
        if parsed.kecamatan:
            for i, score in best.items():
                kecamatan = self._kecamatan_norm.get(self._desa[i].kecamatan_code, "")
                best[i] = 0.85 * score + 0.15 * _rescore(parsed.kecamatan, kecamatan)
        return {i: s for i, s in best.items() if s >= _MIN_SCORE}


def _word_similarity(word: str, others: Sequence[str]) -> float:
    best = 0.0
    for other in others:
        if word == other:
            return 100.0
        similarity = fuzz.ratio(word, other)
        if len(word) >= 3 and other.startswith(word):
            similarity = max(similarity, 95.0)  # a word typed only in part
        best = max(best, similarity)
    return best


def _coverage(words: Sequence[str], others: Sequence[str]) -> float:
    """How well `others` account for `words`, long words weighing more than "2" or "ii"."""
    total = sum(len(w) + 1 for w in words)
    return sum((len(w) + 1) * _word_similarity(w, others) for w in words) / total


def _rescore(query: str, name: str) -> float:
    """Word by word: every query word should be in the name, and the name have few others.

    WRatio alone rates "Aur" high for "pasar baur" (a substring) and "Sei Rengas Permata" as
    high as "Sei Rengas I" for "sei rengas"; weighing coverage both ways orders them.
    """
    query_words, name_words = query.split(), name.split()
    words = 0.7 * _coverage(query_words, name_words) + 0.3 * _coverage(name_words, query_words)
    joined = fuzz.ratio(query.replace(" ", ""), name.replace(" ", ""))
    # Closeness of the whole string breaks the remaining ties.
    return 0.9 * max(words, joined) + 0.1 * fuzz.ratio(query, name)


# --------------------------------------------------------------------------- database

_INSERT_CHUNK = 5000


def _db_row(code: str, name: str) -> dict[str, Any]:
    parent = code.rsplit(".", 1)[0] if "." in code else None
    return {"code": code, "name": name, "level": _level(code), "parent_code": parent}


async def load_region(session: AsyncSession, region: str, path: Path | None = None) -> int:
    """Replace the wilayah table with the region's rows; returns the number of desa/kelurahan.

    Deletes every row first: a deployment serves one region. Does not commit.
    """
    # Reading and filtering 2 MB of CSV is blocking work; keep it off the event loop. It also
    # raises UnknownRegion before anything is deleted.
    rows = await asyncio.to_thread(
        lambda: [_db_row(c, n) for c, n in iter_wilayah_rows(region, path)]
    )
    await session.execute(delete(Wilayah))
    for start in range(0, len(rows), _INSERT_CHUNK):
        await session.execute(insert(Wilayah), rows[start : start + _INSERT_CHUNK])
    return sum(1 for row in rows if row["level"] == WilayahLevel.DESA)


async def index_from_db(session: AsyncSession) -> WilayahIndex:
    """The search index over the wilayah rows loaded in the database."""
    result = await session.execute(
        select(Wilayah.code, Wilayah.name).where(Wilayah.level >= WilayahLevel.KABKOTA)
    )
    rows = [(code, name) for code, name in result]
    # Building over the whole country takes about a second of CPU; let the loop breathe.
    return await asyncio.to_thread(WilayahIndex.from_rows, rows)
