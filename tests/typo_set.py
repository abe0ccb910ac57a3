"""The village-search typo set (tests/data/wilayah_typos.csv) and how a result is judged.

Made by tests/data/make_wilayah_typos.py from the register; see its docstring.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from backend.services.wilayah import DesaMatch, WilayahIndex, iter_wilayah_rows, normalise

TYPO_SET = Path(__file__).resolve().parent / "data" / "wilayah_typos.csv"


@dataclass(frozen=True)
class TypoCase:
    region: str
    code: str  # the village the resident meant
    kind: str  # the habit the query shows (make_wilayah_typos.HABITS)
    query: str


def load_typo_set(path: Path = TYPO_SET) -> list[TypoCase]:
    with path.open(encoding="utf-8", newline="") as handle:
        return [TypoCase(**row) for row in csv.DictReader(handle)]


def region_indexes(cases: list[TypoCase]) -> dict[str, WilayahIndex]:
    return {
        r: WilayahIndex.from_rows(iter_wilayah_rows(r)) for r in sorted({c.region for c in cases})
    }


def is_intended(index: WilayahIndex, case: TypoCase, match: DesaMatch) -> bool:
    """The intended village, or a namesake when the query gives nothing to tell them apart
    by (two "Sei Mati" in Medan: the button names the kecamatan, the resident picks)."""
    if match.desa.code == case.code:
        return True
    wanted = index.get(case.code)
    assert wanted is not None, case
    if normalise(match.desa.name) != normalise(wanted.name):
        return False
    return "kecamatan" not in case.kind or match.desa.kecamatan_code == wanted.kecamatan_code


@dataclass(frozen=True)
class Accuracy:
    cases: int
    first: int
    top3: int
    misses: tuple[tuple[TypoCase, tuple[str, ...]], ...]  # not first: the case, names shown


def accuracy(indexes: dict[str, WilayahIndex], cases: list[TypoCase]) -> Accuracy:
    first = top3 = 0
    misses = []
    for case in cases:
        index = indexes[case.region]
        found = index.search(case.query)
        hits = [is_intended(index, case, m) for m in found]
        first += bool(hits) and hits[0]
        top3 += any(hits[:3])
        if not (hits and hits[0]):
            misses.append((case, tuple(m.desa.name for m in found[:3])))
    return Accuracy(len(cases), first, top3, tuple(misses))
