"""Plain-language categories residents pick from, each mapped to a bidang urusan and an OPD."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.storage.models import Opd

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


def read_opds(path: Path | None = None) -> list[dict[str, str]]:
    """The perangkat daerah of the deployment (code, name, bidang urusan codes)."""
    with (path or DATA_DIR / "opd.csv").open(encoding="utf-8", newline="") as fh:
        return [
            {
                "code": row["code"].strip(),
                "name": row["name"].strip(),
                "urusan_codes": (row.get("urusan_codes") or "").strip(),
            }
            for row in csv.DictReader(fh)
            if row.get("code", "").strip()
        ]


async def load_opds(session: AsyncSession, path: Path | None = None) -> int:
    """Insert the OPD list, updating names of codes already present; never deletes (officials
    and usulan point at OPD codes)."""
    rows = read_opds(path)
    existing = {o.code: o for o in await session.scalars(select(Opd))}
    for row in rows:
        if row["code"] in existing:
            existing[row["code"]].name = row["name"]
            existing[row["code"]].urusan_codes = row["urusan_codes"]
        else:
            session.add(Opd(**row))
    await session.flush()
    return len(rows)


def check_category_opds(categories: tuple[Category, ...], opd_codes: set[str]) -> list[str]:
    """Categories whose OPD is not in the OPD list: a deployment's mapping error."""
    return [c.key for c in categories if c.opd and c.opd not in opd_codes]
