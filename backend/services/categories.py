"""Plain-language categories residents pick from, each mapped to a bidang urusan and an OPD."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent.parent / "data"


@dataclass(frozen=True)
class Category:
    key: str
    urusan_code: str | None
    urusan_name: str | None
    opd: str | None


def _urusan_names() -> dict[str, str]:
    with (DATA_DIR / "bidang_urusan.csv").open(encoding="utf-8", newline="") as fh:
        return {row["kode"]: row["bidang_urusan"] for row in csv.DictReader(fh)}


def load_categories(path: Path | None = None) -> tuple[Category, ...]:
    """Read the category mapping; a deployment may point CATEGORIES_FILE at its own CSV."""
    names = _urusan_names()
    with (path or DATA_DIR / "categories.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    categories = []
    for row in rows:
        code = (row.get("urusan_code") or "").strip() or None
        if code is not None and code not in names:
            raise ValueError(f"category {row['key']!r}: unknown bidang urusan {code!r}")
        categories.append(
            Category(
                key=row["key"].strip(),
                urusan_code=code,
                urusan_name=names.get(code) if code else None,
                opd=(row.get("opd") or "").strip() or None,
            )
        )
    return tuple(categories)
