"""Where a shared location lies: near the region at all, in which desa/kelurahan, and how far
outside the one a resident chose.

Boundaries ship in backend/data/boundaries (see SOURCE.md there): desa/kelurahan polygons for
the kabupaten/kota with detailed data, and a simplified outline of every kabupaten/kota.
Where a region has no desa polygons the checks fall back to its outline, and where it has no
outline either they answer "unknown" (None): a check never refuses what it cannot judge.
Loaded once per process; lookups go through STRtree indexes.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import shapely
from shapely import STRtree
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from backend.services.wilayah import WilayahIndex

BOUNDARIES = Path(__file__).resolve().parent.parent / "data" / "boundaries"
OUTLINES = "kabkota_outline.geojson"

# Metres per degree of latitude. Distances are taken in degrees and scaled by this: across
# Indonesia (within 11 degrees of the equator) an east-west distance comes out at most 2% long.
METRES_PER_DEGREE = 111_320.0
# The outlines are simplified by up to ~550 m and rounded to ~110 m: a point is refused only
# when it is well beyond that from the region, so a resident at the border is never refused.
REGION_MARGIN_M = 3_000.0
# A point in no polygon (on the coast, in a sliver) belongs to the nearest desa this close.
NEAREST_DESA_M = 300.0
# Other desa this close to the point are offered after the one it falls in.
NEIGHBOUR_DESA_M = 400.0
# A location this far outside the chosen desa is questioned (once) before it is kept.
FAR_FROM_DESA_M = 2_000.0


def _degrees(metres: float) -> float:
    return metres / METRES_PER_DEGREE


@dataclass(frozen=True)
class _Layer:
    codes: tuple[str, ...]
    geometries: tuple[BaseGeometry, ...]
    tree: STRtree
    by_code: dict[str, int]

    @classmethod
    def of(cls, shapes: dict[str, BaseGeometry]) -> _Layer | None:
        if not shapes:
            return None
        codes = tuple(sorted(shapes))
        geometries = tuple(shapes[c] for c in codes)
        for geometry in geometries:
            shapely.prepare(geometry)
        return cls(codes, geometries, STRtree(geometries), {c: i for i, c in enumerate(codes)})

    def get(self, code: str) -> BaseGeometry | None:
        i = self.by_code.get(code)
        return None if i is None else self.geometries[i]

    def near(self, point: BaseGeometry, metres: float) -> list[tuple[float, str]]:
        """(metres away, code) of every shape within `metres` of the point, nearest first."""
        found = self.tree.query(point, predicate="dwithin", distance=_degrees(metres))
        out = [
            (self.geometries[i].distance(point) * METRES_PER_DEGREE, self.codes[i]) for i in found
        ]
        return sorted(out)


def _read(path: Path, wanted: set[str] | None) -> dict[str, BaseGeometry]:
    if not path.is_file():
        return {}
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return {
        f["properties"]["code"]: shape(f["geometry"])
        for f in data["features"]
        if wanted is None or f["properties"]["code"] in wanted
    }


def _point(latitude: float, longitude: float) -> BaseGeometry:
    return shapely.Point(longitude, latitude)


@dataclass(frozen=True)
class Places:
    desa: _Layer | None
    outlines: _Layer | None
    kabkota_with_desa: frozenset[str]  # kabupaten/kota whose desa polygons are loaded

    @classmethod
    def empty(cls) -> Places:
        return cls(None, None, frozenset())

    @classmethod
    def load(cls, kabkota_codes: Iterable[str], directory: Path = BOUNDARIES) -> Places:
        """The boundaries of the given kabupaten/kota (register codes) that the data has."""
        wanted = set(kabkota_codes)
        desa: dict[str, BaseGeometry] = {}
        with_desa = set()
        for code in sorted(wanted):
            found = _read(directory / f"desa_{code}.geojson", None)
            if found:
                desa.update(found)
                with_desa.add(code)
        outlines = _read(directory / OUTLINES, wanted)
        return cls(_Layer.of(desa), _Layer.of(outlines), frozenset(with_desa))

    def in_region(self, latitude: float, longitude: float) -> bool | None:
        """Is the point in (or within the margin of) the region served? None: no outline."""
        if self.outlines is None:
            return None
        return bool(self.outlines.near(_point(latitude, longitude), REGION_MARGIN_M))

    def desa_at(self, latitude: float, longitude: float, limit: int = 3) -> list[str]:
        """Codes of the desa the point falls in, then its nearest neighbours; [] if unknown."""
        if self.desa is None or limit <= 0:
            return []
        near = self.desa.near(_point(latitude, longitude), NEIGHBOUR_DESA_M)
        if not near or near[0][0] > NEAREST_DESA_M:
            return []
        return [code for _, code in near[:limit]]

    def metres_outside(self, desa_code: str, latitude: float, longitude: float) -> float | None:
        """How far the point lies outside the desa (0 inside it). Without the desa's polygon,
        how far outside its kabupaten/kota, which the desa lies in; None: no data at all."""
        point = _point(latitude, longitude)
        for layer, code in ((self.desa, desa_code), (self.outlines, desa_code[:5])):
            geometry = layer.get(code) if layer is not None else None
            if geometry is not None:
                return float(geometry.distance(point)) * METRES_PER_DEGREE
        return None


@functools.cache
def _shared(kabkota: frozenset[str]) -> Places:
    # Read-only once built: every Backend of the process serving these kabupaten/kota shares it.
    return Places.load(kabkota)


async def load_places(wilayah: WilayahIndex) -> Places:
    """The boundaries of every kabupaten/kota the village index serves, read off the loop."""
    kabkota = frozenset(desa.kabkota_code for desa in wilayah.all())
    return await asyncio.to_thread(_shared, kabkota)


def kilometres(metres: float) -> int:
    """A distance as a resident reads it: whole kilometres, at least 1."""
    return max(1, round(metres / 1000))
