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
from rapidfuzz.distance import OSA
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
    # The name as people say it, where the register abbreviates ("P Berayan Darat I" is
    # Pulo Berayan Darat I); empty when the register's name is already that.
    spoken_name: str = ""

    @property
    def said(self) -> str:
        return self.spoken_name or self.name

    @property
    def label(self) -> str:
        return f"{'Kelurahan' if self.kind == 'kelurahan' else 'Desa'} {self.said}"


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
        return self.place if self.ambiguous else None

    @property
    def place(self) -> str:
        """The kecamatan (and, across kabupaten/kota, the kabupaten/kota) for a button."""
        place = f"Kec. {self.desa.kecamatan_name or self.desa.kecamatan_code}"
        return f"{place}, {self.desa.kabkota_name}" if self.spans_kabkota else place


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


def _raw_tokens(text: str) -> list[str]:
    """Lower-case words and numbers as typed, before any word is made canonical."""
    if not text.isascii():
        text = "".join(
            c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)
        )
    text = _LETTER_DIGIT.sub(" ", text.lower().translate(_APOSTROPHES))
    return [t for t in _NON_ALNUM.split(text) if t]


def _tokens(text: str) -> list[str]:
    return _canonical(_raw_tokens(text))


def _canonical(raw: Sequence[str], synonyms: bool = True) -> list[str]:
    out = []
    for position, word in enumerate(raw):
        if not synonyms and not word.isdigit() and word not in _ROMAN:
            out.append(word)
        elif word == "s" and position == 0 and len(raw) > 1:
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


# --------------------------------------------------------------------------- spoken names

# A register abbreviation: "P", "PB", "S.", "Tj.", "Mns." (a section letter before a numeral,
# as in "Sei Sikambing C II", is not one).
_ABBREVIATION = re.compile(r"^(?:[A-Z]{1,3}|[A-Za-z]{1,3}\.)$")
_ROMAN_WORDS = frozenset(n.upper() for n in _ROMAN)


def _name_words(name: str) -> list[str]:
    return re.sub(r"\.(?=[A-Za-z])", ". ", name).split()


def _is_abbreviation(words: Sequence[str], i: int, shouting: bool) -> bool:
    word = words[i]
    if i == len(words) - 1 or not _ABBREVIATION.match(word) or word in _ROMAN_WORDS:
        return False
    if shouting and not word.endswith("."):
        return False  # a name all in capitals: every short word looks like "PB"
    following = words[i + 1].rstrip(".").upper()
    return following not in _ROMAN_WORDS and not following.isdigit()


def _fits(letters: str, words: Sequence[str]) -> bool:
    """Do `words` spell out the abbreviation: one word per capital ("PB": Pulo Berayan), or
    one word it begins ("Tj": Tanjung, "S": Sei)."""
    if len(words) == 1:
        return words[0].startswith(letters) and len(words[0]) > len(letters)
    return len(words) == len(letters) and all(
        w.startswith(c) for w, c in zip(words, letters, strict=True)
    )


def _expansions(words: Sequence[str], i: int, others: Sequence[Sequence[str]]) -> set[str]:
    """What the abbreviation words[i] stands for in the other names that share a neighbour."""
    letters = words[i].rstrip(".")
    width = len(letters) if letters.isupper() and len(letters) > 1 else 1
    letters = letters.lower()
    after = words[i + 1].lower() if i + 1 < len(words) else None
    before = words[i - 1].lower() if i > 0 else None
    found: set[str] = set()
    for other in others:
        lower = [w.lower() for w in other]
        for j in range(len(other) - width + 1):
            piece = lower[j : j + width]
            if not _fits(letters, piece) or any("." in w or len(w) < 3 for w in piece):
                continue
            follows = after is not None and j + width < len(lower) and lower[j + width] == after
            precedes = before is not None and j > 0 and lower[j - 1] == before
            if follows or precedes:
                found.add(" ".join(other[j : j + width]))
    return found


def _known(words: Sequence[str], i: int) -> str | None:
    """An abbreviation of the shared table ("Tj", "KP", "Mns."): no need to learn it."""
    key = words[i].rstrip(".").lower()
    canonical = _SYNONYMS.get(key)
    return canonical.capitalize() if canonical and key != canonical else None


def _dotted_fallback(words: Sequence[str], i: int) -> str | None:
    # A leading "S." is sungai in this data set, as _canonical reads it.
    return "Sungai" if i == 0 and words[i] == "S." else None


def spoken_names(names: Mapping[str, str]) -> dict[str, str]:
    """Code -> the name as people say it, for the desa of one kabupaten/kota whose register
    name abbreviates a word the region writes out elsewhere unambiguously.

    Learnt from the names themselves: "P Berayan Darat I" has the neighbour "Berayan", which
    "Pulo Berayan Kota" writes out, so P is Pulo here, while "P Bulan Selayang I" is Padang
    (Padang Bulan). Two rounds, so "PB Bengkel Baru" learns from the spelt-out "P Berayan
    Bengkel". An abbreviation with no single reading is left as it is.
    """
    words = {code: _name_words(name) for code, name in names.items()}
    shouting = {code: name == name.upper() for code, name in names.items()}
    spoken: dict[str, str] = {}
    for _ in range(2):
        pending = [
            code
            for code, ws in words.items()
            if any(_is_abbreviation(ws, i, shouting[code]) for i in range(len(ws)))
        ]
        if not pending:
            break
        changed: dict[str, list[str]] = {}
        for code in pending:
            ws = words[code]
            others = [o for c, o in words.items() if c != code]
            out = list(ws)
            for i in range(len(ws)):
                if not _is_abbreviation(ws, i, shouting[code]):
                    continue
                expansion = _known(ws, i)
                if expansion is None:
                    found = _expansions(ws, i, others)
                    expansion = found.pop() if len(found) == 1 else _dotted_fallback(ws, i)
                if expansion:
                    out[i] = expansion
            if out != ws:
                changed[code] = " ".join(out).split()
        words.update(changed)
        spoken.update({code: " ".join(ws) for code, ws in changed.items()})
    return spoken


def _trigrams(normalised: str) -> set[str]:
    grams: set[str] = set()
    for token in normalised.split():
        padded = f" {token} "
        grams.update(padded[i : i + 3] for i in range(len(padded) - 2))
    return grams


# Names are at most 37 characters; anything much longer is pasted text, not a desa name.
_MAX_QUERY_CHARS = 120
_MAX_QUERY_TOKENS = 8
# A kecamatan typed after the desa ("mabar medan deli") is at most this many words, and must
# be this close to a kecamatan's name to be read as one.
_KECAMATAN_SUFFIX_WORDS = 3
_KECAMATAN_CUTOFF = 80.0
# Kecamatan names that close to what was typed are looked in (across the country, several
# kecamatan share a name).
_KECAMATAN_NAMESAKES = 8
# Reading the query another way than typed costs a little, so the plain reading wins ties.
_SPLIT_PENALTY = 1.0
# A run-together word is only split into known words of at least this many letters (numerals
# such as "ii" excepted), so "sidorjo" is not read as "sido" + "r" + "jo".
_MIN_PIECE = 3


@dataclass(frozen=True, slots=True)
class _Variant:
    text: str  # normalised desa part
    penalty: float  # points taken off its scores
    kecamatan: str = ""  # normalised kecamatan the resident named, if any
    # Forms to look in when the kecamatan was read off the end of the query; () for all.
    within: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class _Query:
    variants: tuple[_Variant, ...]


def _strip_kecamatan_word(raw: list[str]) -> tuple[list[str], list[str]]:
    """ "pasar baru kec medan kota": what follows "kec" names the kecamatan, not the desa."""
    for position, token in enumerate(raw):
        if token in _KECAMATAN_WORDS and position > 0:
            hint = [t for t in raw[position + 1 :] if t not in _KECAMATAN_WORDS]
            return raw[:position], hint
    return [t for t in raw if t not in _KECAMATAN_WORDS], []


def _without_prefix(tokens: list[str]) -> list[tuple[list[str], float]]:
    """The desa words with and without a leading "kel."/"desa"/"kampung", with penalties."""
    readings = [(tokens, 0.0)]
    while len(tokens) > 1 and tokens[0] in _PREFIX_WORDS:
        penalty = readings[-1][1]
        if tokens[0] in _NAME_WORDS:
            # "kampung baru" is more likely Kampung Baru than a desa called Baru.
            penalty += 2.0
        else:
            readings.pop()
        tokens = tokens[1:]
        readings.append((tokens, penalty))
    return readings


# --------------------------------------------------------------------------- index

# Scores are 0..100. Below _MIN_SCORE a match is noise; the bot asks the resident to retype.
_MIN_SCORE = 72.0
# Each rough pass keeps up to this many names above this score for the word-by-word rescoring.
_ROUGH_CUTOFF = 55.0
_SHORTLIST = 24
# A clear winner should not be padded out with far weaker names.
_RELATIVE_MARGIN = 15.0
# Up to this many names a full scan is faster than the trigram prefilter.
_SCAN_LIMIT = 3000
_CANDIDATES = 400
_MIN_INFORMATIVE_GRAMS = 4
_MAX_GRAMS = 12
# Weight of the kecamatan's similarity when the resident named one.
_KECAMATAN_WEIGHT = 0.15


class WilayahIndex:
    """The desa/kelurahan of the loaded region, searchable by what residents type."""

    def __init__(self, desas: Iterable[Desa], kecamatan_names: Mapping[str, str] | None = None):
        self._desa: list[Desa] = sorted(desas, key=lambda d: d.code)
        self._by_code = {d.code: i for i, d in enumerate(self._desa)}
        self._kecamatan = dict(kecamatan_names or {})
        for desa in self._desa:
            self._kecamatan.setdefault(desa.kecamatan_code, desa.kecamatan_name)
        # A desa is found under its register name and, where different, its spoken name: the
        # search runs over these forms, each pointing back at its desa.
        self._norm: list[str] = []
        self._owner: list[int] = []
        primary: list[str] = []
        # Words a run-together query may be made of: the names' own words as typed (before
        # the shared table rewrites "sei"), the table's words, and numerals.
        vocabulary: set[str] = set(_SYNONYMS) | set(_SYNONYMS.values()) | set(_ROMAN)
        for i, desa in enumerate(self._desa):
            raw = _raw_tokens(desa.name)
            said = _raw_tokens(desa.spoken_name) if desa.spoken_name else raw
            vocabulary.update(raw, said)
            primary.append(" ".join(_canonical(raw)))
            # The name as written too ("mesjid", "sei"), so a slip in a word the shared table
            # rewrites ("mewjid", "sie") is still one slip away from it.
            forms = (primary[-1], " ".join(_canonical(said)), " ".join(_canonical(said, False)))
            for form in dict.fromkeys(forms):
                self._norm.append(form)
                self._owner.append(i)
        self._vocabulary = frozenset(
            w for w in vocabulary if len(w) >= _MIN_PIECE or w in _ROMAN or w in _SYNONYMS
        )
        self._compact = [n.replace(" ", "") for n in self._norm]
        self._kecamatan_norm = {code: normalise(name) for code, name in self._kecamatan.items()}
        self._kecamatan_texts = sorted(set(self._kecamatan_norm.values()) - {""})
        self._forms_in: dict[str, list[int]] = {}
        for form_id, owner in enumerate(self._owner):
            named = self._kecamatan_norm.get(self._desa[owner].kecamatan_code, "")
            self._forms_in.setdefault(named, []).append(form_id)
        self.spans_kabkota = len({d.kabkota_code for d in self._desa}) > 1
        self._kabkota = {d.kabkota_code: d.kabkota_name for d in self._desa}

        places: dict[str, set[str]] = {}
        for desa, norm in zip(self._desa, primary, strict=True):
            places.setdefault(norm, set()).add(desa.kecamatan_code)
        self._ambiguous = [len(places[norm]) > 1 for norm in primary]

        self._grams: dict[str, list[int]] | None = None
        self._common_gram = max(1000, len(self._norm) // 16)
        if len(self._norm) > _SCAN_LIMIT:
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
        by_kabkota: dict[str, dict[str, str]] = {}
        for code, name in rows:
            level = _level(code)
            if level == WilayahLevel.DESA:
                by_kabkota.setdefault(code.rsplit(".", 2)[0], {})[code] = name
            elif level in (WilayahLevel.KABKOTA, WilayahLevel.KECAMATAN):
                names[code] = name
        desas = []
        for kabkota_code, desa_names in by_kabkota.items():
            spoken = spoken_names(desa_names)
            kabkota_name = _display_kabkota(names.get(kabkota_code, ""))
            for code, name in desa_names.items():
                kecamatan_code = code.rsplit(".", 1)[0]
                kind: DesaKind = "kelurahan" if code.rsplit(".", 1)[1].startswith("1") else "desa"
                desas.append(
                    Desa(
                        code=code,
                        name=name,
                        kind=kind,
                        kecamatan_code=kecamatan_code,
                        kecamatan_name=names.get(kecamatan_code, ""),
                        kabkota_code=kabkota_code,
                        kabkota_name=kabkota_name,
                        spoken_name=spoken.get(code, ""),
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
            return [self.match(exact, 100.0)]
        parsed = self._parse(query)
        if parsed is None:
            return []
        texts = [v.text for v in parsed.variants if not v.within]
        ids = None if self._grams is None else self._candidates(texts)
        scored = self._score(parsed, ids)
        if not scored:
            return []
        best = max(scored.values())
        floor = max(_MIN_SCORE, best - _RELATIVE_MARGIN)
        ranked = heapq.nsmallest(
            limit,
            ((-s, len(self._desa[i].name), self._desa[i].code, i) for i, s in scored.items()),
        )
        return [self.match(i, -neg) for neg, _, _, i in ranked if -neg >= floor]

    def match(self, i: int, score: float) -> DesaMatch:
        """The desa at position `i` (in code order) as a search result."""
        return DesaMatch(self._desa[i], round(score, 2), self._ambiguous[i], self.spans_kabkota)

    def match_code(self, code: str) -> DesaMatch | None:
        """The desa of a code as a search result (a button), or None if not loaded."""
        i = self._by_code.get(code.strip())
        return None if i is None else self.match(i, 100.0)

    def region_name(self) -> str | None:
        """The kabupaten/kota served, when the index holds exactly one."""
        names = list(self._kabkota.values())
        return names[0] if len(names) == 1 else None

    # --- reading the query ---------------------------------------------------------------

    def _parse(self, query: str) -> _Query | None:
        raw, hint = _strip_kecamatan_word(_raw_tokens(query[:_MAX_QUERY_CHARS]))
        raw = raw[:_MAX_QUERY_TOKENS]
        tokens = _canonical(raw)
        if all(t in _PREFIX_WORDS and t not in _NAME_WORDS for t in tokens):
            return None  # nothing typed, or only "kel."
        kecamatan = " ".join(_canonical(hint)[:_MAX_QUERY_TOKENS])
        readings = [(tokens, 0.0)]
        split = self._split_run_together(raw)
        if split is not None:
            readings.append((_canonical(split), _SPLIT_PENALTY / 2))
        variants: dict[tuple[str, str], _Variant] = {}
        for words_read, cost in readings:
            for words, penalty in _without_prefix(words_read):
                found = [_Variant(" ".join(words), cost + penalty, kecamatan)]
                if not kecamatan:
                    found += [
                        _Variant(" ".join(words[:k]), cost + penalty + _SPLIT_PENALTY, kec, forms)
                        for k, kec, forms in self._kecamatan_suffixes(words)
                    ]
                for variant in found:
                    key = (variant.text, variant.kecamatan)
                    if key not in variants or variant.penalty < variants[key].penalty:
                        variants[key] = variant
        return _Query(tuple(variants.values()))

    def _split_run_together(self, raw: Sequence[str]) -> list[str] | None:
        """ "seimati", "ujungbatuii": words of the region's names typed without spaces."""
        out: list[str] = []
        for token in raw:
            pieces = None
            if len(token) >= 2 * _MIN_PIECE and token.isalpha() and token not in self._vocabulary:
                pieces = _segment(token, self._vocabulary)
            out.extend(pieces or (token,))
        return out if len(out) > len(raw) else None

    def _kecamatan_suffixes(
        self, words: Sequence[str]
    ) -> Iterator[tuple[int, str, tuple[int, ...]]]:
        """Where the last words name a kecamatan ("mabar medan deli", "ganal huristak"): the
        split, the kecamatan as typed (a slip in it should cost a little), and the forms of
        the desa of every kecamatan it may be."""
        for k in range(max(1, len(words) - _KECAMATAN_SUFFIX_WORDS), len(words)):
            suffix = " ".join(words[k:])
            if len(suffix) < 4:
                continue
            found = process.extract(
                suffix,
                self._kecamatan_texts,
                scorer=fuzz.ratio,
                score_cutoff=_KECAMATAN_CUTOFF,
                limit=_KECAMATAN_NAMESAKES,
            )
            if found:
                forms = tuple(f for text, _, _ in found for f in self._forms_in.get(text, ()))
                yield k, suffix, forms

    # --- scoring ---------------------------------------------------------------------------

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
        # A long query ("tanah enam ratus medan marelan") is told apart by its rarer trigrams;
        # counting all of them costs more than it sorts out.
        postings = postings[:_MAX_GRAMS]
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

    def _shortlist(self, text: str, norms: Sequence[str], compacts: Sequence[str]) -> set[int]:
        # Rough passes in C over every candidate; each hands its best to _rescore, which
        # orders them. One shortlist per pass, so that names a query contains ("Tanjung"
        # for "tanjung rejo", all 100 to token_set_ratio) cannot crowd out the typo'd
        # whole name, nor the other way round.
        compact = text.replace(" ", "")
        shortlist: set[int] = set()
        for typed, choices, scorer, take in (
            (text, norms, fuzz.ratio, _SHORTLIST),  # typos over the whole name
            (text, norms, fuzz.token_set_ratio, _SHORTLIST),  # missing or extra words
            (compact, compacts, fuzz.ratio, _SHORTLIST // 2),  # "sidomulyo", "sido mulyo"
        ):
            found = process.extract(
                typed, choices, scorer=scorer, score_cutoff=_ROUGH_CUTOFF, limit=None
            )
            if len(found) > take:
                # Among equal scores, names closest in length to the query go first.
                size = len(typed)
                found = heapq.nlargest(
                    take, found, key=lambda f: f[1] - 0.01 * abs(len(f[0]) - size)
                )
            shortlist.update(k for _, _, k in found)
        return shortlist

    def _score(self, parsed: _Query, ids: list[int] | None) -> dict[int, float]:
        if ids is None:
            norms, compacts = self._norm, self._compact
        else:
            norms = [self._norm[i] for i in ids]
            compacts = [self._compact[i] for i in ids]
        best: dict[int, float] = {}
        for variant in parsed.variants:
            if not variant.text:
                continue
            kecamatan_scores: dict[str, float] = {}
            if variant.within:
                # Only the desa of the kecamatan named: a few dozen names, not the region.
                forms: Sequence[int] | None = variant.within
                shortlist = self._shortlist(
                    variant.text,
                    [self._norm[f] for f in variant.within],
                    [self._compact[f] for f in variant.within],
                )
            else:
                forms = ids
                shortlist = self._shortlist(variant.text, norms, compacts)
            for k in shortlist:
                form = k if forms is None else forms[k]
                i = self._owner[form]
                score = _rescore(variant.text, self._norm[form])
                if variant.kecamatan:
                    code = self._desa[i].kecamatan_code
                    if code not in kecamatan_scores:
                        named = self._kecamatan_norm.get(code, "")
                        kecamatan_scores[code] = _rescore(variant.kecamatan, named)
                    score = (1 - _KECAMATAN_WEIGHT) * score + _KECAMATAN_WEIGHT * kecamatan_scores[
                        code
                    ]
                score -= variant.penalty
                if score > best.get(i, 0.0):
                    best[i] = score
        return {i: s for i, s in best.items() if s >= _MIN_SCORE}


def _segment(word: str, vocabulary: frozenset[str]) -> list[str] | None:
    """The fewest vocabulary words that spell `word` exactly, or None."""
    best: list[list[str] | None] = [None] * (len(word) + 1)
    best[0] = []
    for end in range(1, len(word) + 1):
        for start in range(end):
            before = best[start]
            piece = word[start:end]
            if before is None or piece not in vocabulary:
                continue
            current = best[end]
            if current is None or len(before) + 1 < len(current):
                best[end] = [*before, piece]
    pieces = best[-1]
    return pieces if pieces and len(pieces) > 1 else None


def _word_similarity(word: str, others: Sequence[str]) -> float:
    best = 0.0
    for other in others:
        if word == other:
            return 100.0
        # One slip of the thumb (a swapped, missing, extra or wrong letter) is one edit;
        # the plain ratio would count a swap or a wrong letter as two.
        slip = 100.0 * (1 - OSA.distance(word, other) / (max(len(word), len(other)) + 1))
        similarity = max(fuzz.ratio(word, other), slip)
        if len(word) >= 3 and other.startswith(word):
            similarity = max(similarity, 95.0)  # a word typed only in part
        elif _initial_of(word, other) or _initial_of(other, word):
            similarity = max(similarity, 90.0)  # "p berayan" for Pulo Berayan
        best = max(best, similarity)
    return best


def _initial_of(letter: str, word: str) -> bool:
    return len(letter) == 1 and letter.isalpha() and len(word) > 1 and word.startswith(letter)


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
    if not query_words or not name_words:
        return 0.0
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
