"""Make the boundary files the project ships, from the wilayah_boundaries GeoJSON set.

Run: .venv/bin/python scripts/make_boundaries.py SOURCE_DIR

SOURCE_DIR holds `kabkota.geojson` and `detail/<kabkota>.geojson` (see
backend/data/boundaries/SOURCE.md). Writes into backend/data/boundaries/:

- `desa_<kabkota>.geojson`: the desa/kelurahan polygons of each detailed kabupaten/kota,
  keyed by the code of the register the project loads (`code_csv`), unsimplified.
- `kabkota_outline.geojson`: every kabupaten/kota outline, simplified to at most
  OUTLINE_TOLERANCE degrees off the source and rounded to OUTLINE_DECIMALS, keyed the same way.
  Only used to tell whether a point is near a region at all, with a margin far above that error.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import shapely
from shapely.geometry import mapping, shape

TARGET = Path(__file__).resolve().parent.parent / "backend" / "data" / "boundaries"
DETAILED = ("12.71", "12.21")
OUTLINE_TOLERANCE = 0.005  # degrees, about 550 m
OUTLINE_DECIMALS = 3  # about 110 m


def _rounded(geometry: Any, decimals: int) -> dict[str, Any]:
    def walk(value: Any) -> Any:
        if isinstance(value, float):
            return round(value, decimals)
        return [walk(v) for v in value]

    out = mapping(geometry)
    return {"type": out["type"], "coordinates": walk(out["coordinates"])}


def _write(path: Path, features: list[dict[str, Any]]) -> None:
    collection = {"type": "FeatureCollection", "features": features}
    path.write_text(json.dumps(collection, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"{path.name}: {len(features)} features, {path.stat().st_size / 1e6:.2f} MB")


def make_desa(source: Path, kabkota: str) -> None:
    data = json.loads((source / "detail" / f"{kabkota}.geojson").read_text(encoding="utf-8"))
    features = []
    for feature in data["features"]:
        props = feature["properties"]
        if props["level"] != 4 or not props.get("code_csv"):
            continue
        geometry = shape(feature["geometry"])
        features.append(
            {
                "type": "Feature",
                "properties": {"code": props["code_csv"], "name": props["name"]},
                "geometry": _rounded(geometry, 6),
            }
        )
    features.sort(key=lambda f: f["properties"]["code"])
    _write(TARGET / f"desa_{kabkota}.geojson", features)


def make_outlines(source: Path) -> None:
    data = json.loads((source / "kabkota.geojson").read_text(encoding="utf-8"))
    features = []
    for feature in data["features"]:
        props = feature["properties"]
        geometry = shape(feature["geometry"]).simplify(OUTLINE_TOLERANCE, preserve_topology=True)
        geometry = shapely.make_valid(shapely.set_precision(geometry, 10**-OUTLINE_DECIMALS))
        if geometry.is_empty:
            continue
        features.append(
            {
                "type": "Feature",
                "properties": {"code": props["code_csv"] or props["code"], "name": props["name"]},
                "geometry": _rounded(geometry, OUTLINE_DECIMALS),
            }
        )
    features.sort(key=lambda f: f["properties"]["code"])
    _write(TARGET / "kabkota_outline.geojson", features)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__)
        return 2
    source = Path(argv[0])
    TARGET.mkdir(parents=True, exist_ok=True)
    for kabkota in DETAILED:
        make_desa(source, kabkota)
    make_outlines(source)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
