"""A small hand-made town for the citizen questions, where every answer is known.

Around ORIGIN: facilities at chosen offsets (some open, some closed, some inside hazard
zones), a ring of random shelters (for brute-force checks), nested admin areas, hazard
zones, flood reports at chosen distances and times, and a flood-depth raster in UTM
(so the value at a point goes through a CRS transform).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyproj
import rasterio
from rasterio.transform import from_origin
from shapely.geometry import box, mapping

from gis.ingest.pipeline import IngestRequest, ingest
from gis.store.base import Store

ORIGIN = (110.40, -6.97)
LON0, LAT0 = ORIGIN
GEOD = pyproj.Geod(ellps="WGS84")
SINCE_UNTIL_AT = "2026-03-10T12:00:00Z"

#: name, type, capacity, is_open, lon, lat
NAMED = [
    ("Shelter A open", "shelter", 100, True, LON0 + 0.001, LAT0),
    ("Shelter B closed", "shelter", 500, False, LON0, LAT0 + 0.002),
    ("Shelter C flood-high", "shelter", 50, True, LON0, LAT0 - 0.003),
    ("Shelter D landslide-medium", "shelter", 800, True, LON0 - 0.005, LAT0),
    ("Hospital E", "hospital", 200, True, LON0 + 0.010, LAT0 + 0.010),
    ("Health centre F", "health_center", 20, True, LON0 - 0.004, LAT0 - 0.004),
]
RANDOM_SHELTERS = 80

#: hazard_type, hazard_class, box (minx, miny, maxx, maxy)
ZONES = [
    ("flood", "high", (LON0 - 0.0005, LAT0 - 0.0035, LON0 + 0.0005, LAT0 - 0.0025)),
    ("landslide", "medium", (LON0 - 0.0055, LAT0 - 0.0005, LON0 - 0.0045, LAT0 + 0.0005)),
    ("flood", "low", (LON0 - 0.002, LAT0 - 0.002, LON0 + 0.002, LAT0 + 0.002)),
    ("flood", "medium", (LON0 - 0.0005, LAT0 - 0.0005, LON0 + 0.0005, LAT0 + 0.0005)),
    ("landslide", "low", (LON0 + 0.05, LAT0 + 0.05, LON0 + 0.06, LAT0 + 0.06)),
]
ADMIN = [
    ("33", "Provinsi Uji", "province", None, (110.0, -7.5, 111.0, -6.5)),
    ("3301", "Kabupaten Uji", "regency", "33", (110.2, -7.2, 110.6, -6.8)),
    ("3301010", "Kecamatan Uji", "district", "3301", (110.35, -7.0, 110.45, -6.9)),
    ("3301010001", "Desa Uji", "village", "3301010", (110.39, -6.98, 110.41, -6.96)),
    ("3301010002", "Desa Tetangga", "village", "3301010", (110.41, -6.98, 110.43, -6.96)),
]
#: name, status, observed_at, metres east of ORIGIN
FLOODS = [
    ("near verified recent", "verified", "2026-03-10T06:00:00Z", 300),
    ("far verified recent", "verified", "2026-03-10T06:00:00Z", 1500),
    ("near reported recent", "reported", "2026-03-10T06:00:00Z", 200),
    ("near verified old", "verified", "2026-03-01T06:00:00Z", 100),
    ("near verified future", "verified", "2026-03-11T06:00:00Z", 100),
    ("edge verified recent", "verified", "2026-03-10T11:00:00Z", 990),
]


def random_shelters(seed: int = 7) -> list[tuple[str, str, int, bool, float, float]]:
    rng = np.random.default_rng(seed)
    lons = LON0 + rng.uniform(-0.05, 0.05, RANDOM_SHELTERS)
    lats = LAT0 + rng.uniform(-0.05, 0.05, RANDOM_SHELTERS)
    caps = rng.integers(0, 1000, RANDOM_SHELTERS)
    opens = rng.random(RANDOM_SHELTERS) < 0.7
    return [
        (f"Random {i}", "shelter", int(caps[i]), bool(opens[i]), float(lons[i]), float(lats[i]))
        for i in range(RANDOM_SHELTERS)
    ]


def facilities() -> list[tuple[str, str, int, bool, float, float]]:
    return NAMED + random_shelters()


def east(metres: float) -> tuple[float, float]:
    lon, lat, _ = GEOD.fwd(LON0, LAT0, 90.0, metres)
    return float(lon), float(lat)


def _collection(features: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": features}


def _write(folder: Path, name: str, features: list[dict[str, Any]]) -> Path:
    path = folder / f"{name}.geojson"
    path.write_text(json.dumps(_collection(features)), encoding="utf-8")
    return path


def write_raster(folder: Path) -> Path:
    """Flood depth in UTM 49S, 20 m cells, value = row * 100 + col (no two alike)."""
    to_utm = pyproj.Transformer.from_crs(4326, 32749, always_xy=True)
    x0, y0 = to_utm.transform(LON0 - 0.01, LAT0 + 0.01)
    data = (np.arange(120)[:, None] * 100 + np.arange(120)[None, :]).astype("float32")
    data[0:5, 0:5] = -9999.0
    path = folder / "depth.tif"
    with rasterio.open(
        path, "w", driver="GTiff", width=120, height=120, count=1, dtype="float32",
        crs="EPSG:32749", transform=from_origin(x0, y0, 20.0, 20.0), nodata=-9999.0,
    ) as ds:  # fmt: skip
        ds.write(data, 1)
    return path


def load_town(store: Store, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    fac = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [lon, lat]},
            "properties": {"name": n, "facility_type": t, "capacity": c, "is_open": o,
                           "source": "test"},
        }
        for n, t, c, o, lon, lat in facilities()
    ]  # fmt: skip
    zones = [
        {"type": "Feature", "geometry": mapping(box(*b)),
         "properties": {"hazard_type": t, "hazard_class": c, "source": "test",
                        "valid_from": "2025-01-01"}}
        for t, c, b in ZONES
    ]  # fmt: skip
    admin = [
        {"type": "Feature", "geometry": mapping(box(*b)),
         "properties": {"code": code, "name": n, "level": lv, "parent_code": p}}
        for code, n, lv, p, b in ADMIN
    ]  # fmt: skip
    floods = [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": list(east(m))},
         "properties": {"status": s, "observed_at": t, "depth_cm": 10 + i, "source": n}}
        for i, (n, s, t, m) in enumerate(FLOODS)
    ]  # fmt: skip
    rejects = folder / "rejects"
    for layer, feats, id_field in (
        ("facilities", fac, None),
        ("hazard_zones", zones, None),
        ("admin_areas", admin, "code"),
        ("flood_points", floods, None),
    ):
        path = _write(folder, layer, feats)
        result = ingest(
            store, IngestRequest(path=path, layer=layer, id_field=id_field), reject_dir=rejects
        )
        assert result.run.features_loaded == len(feats), layer
    ingest(
        store, IngestRequest(path=write_raster(folder), raster="flood_depth"), reject_dir=rejects
    )
