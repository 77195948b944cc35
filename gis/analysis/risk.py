"""The citizen questions: "am I at risk here?" and "where is the nearest shelter?".

The SQL (gis.query.risk, gis.query.nearest) narrows candidates with the stores' spatial
indexes in one round trip; this module measures them on the ellipsoid (gis.geodesy),
keeps only exact answers, adds raster values from an in-memory cache, and shapes the
bilingual answer. Being Python on both stores, the figures are identical on PostGIS and
DuckDB.
"""

from __future__ import annotations

import asyncio
import json
import math
import threading
import weakref
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pyproj
from rasterio.io import MemoryFile
from rasterio.transform import Affine

from gis.errors import NotFound
from gis.geodesy import COMPASS_ID, compass, distance_bearing, planar_bound_is_exact
from gis.ingest.raster import StoredRaster, value_at
from gis.query.nearest import NearestQuery, nearest_sql
from gis.query.risk import MAX_FLOOD_CANDIDATES, RiskQuery, area_point_sql, risk_sql
from gis.query.sqlparts import Dialect
from gis.store.base import Store
from layers.catalog import ADMIN_LEVELS, HAZARD_CLASSES, HAZARD_ZONES, RASTER_SPECS
from layers.spec import Bilingual

#: Flood reports listed in a /risk answer (nearest first); the count covers them all.
MAX_FLOOD_REPORTS = 20
#: Rasters up to this many pixels are decoded once and kept in memory (float64: 8 bytes
#: a pixel, so 160 MB at most per raster); larger ones are sampled from their bytes.
MAX_DECODED_PIXELS = 20_000_000

FACILITY_LABELS = {
    "shelter": Bilingual("Tempat evakuasi", "Shelter"),
    "hospital": Bilingual("Rumah sakit", "Hospital"),
    "health_center": Bilingual("Puskesmas", "Health centre"),
    "school": Bilingual("Sekolah", "School"),
    "police": Bilingual("Kantor polisi", "Police station"),
    "fire_station": Bilingual("Pemadam kebakaran", "Fire station"),
    "government_office": Bilingual("Kantor pemerintah", "Government office"),
}
HAZARD_LABELS = {
    "flood": Bilingual("Banjir", "Flood"),
    "landslide": Bilingual("Tanah longsor", "Landslide"),
    "tsunami": Bilingual("Tsunami", "Tsunami"),
    "volcano": Bilingual("Gunung api", "Volcano"),
    "earthquake": Bilingual("Gempa bumi", "Earthquake"),
    "drought": Bilingual("Kekeringan", "Drought"),
    "fire": Bilingual("Kebakaran", "Fire"),
}
CLASS_LABELS = {
    "low": Bilingual("Rendah", "Low"),
    "medium": Bilingual("Sedang", "Medium"),
    "high": Bilingual("Tinggi", "High"),
}
LEVEL_LABELS = {
    "province": Bilingual("Provinsi", "Province"),
    "regency": Bilingual("Kabupaten/kota", "Regency/city"),
    "district": Bilingual("Kecamatan", "District"),
    "village": Bilingual("Desa/kelurahan", "Village"),
}
#: The /risk nearest-facility questions: (key, facility type, open only).
RISK_FACILITIES = (
    ("shelter", "shelter", True),
    ("hospital", "hospital", False),
    ("health_center", "health_center", False),
)


def bilingual(text: Bilingual | None) -> dict[str, str] | None:
    return None if text is None else {"id": text.id, "en": text.en}


def dialect_of(store: Store) -> Dialect:
    return "postgis" if store.kind == "postgis" else "duckdb"


# --- Nearest facilities -------------------------------------------------------------------


def initial_candidates(limit: int) -> int:
    """Planar-nearest rows fetched first: enough that the geodesic order almost never
    needs a second round trip (degrees distort distances by a few per cent at most in
    Indonesia)."""
    return 2 * limit + 8


def rank(
    lon: float, lat: float, rows: list[dict[str, Any]], limit: int, fetched: int
) -> tuple[list[dict[str, Any]], bool]:
    """The ``limit`` geodesically nearest of the candidate rows, and whether that answer
    is exact (no facility the database did not return could be nearer)."""
    metres, bearings = distance_bearing(
        lon, lat, [r["lon"] for r in rows], [r["lat"] for r in rows]
    )
    order = sorted(range(len(rows)), key=lambda i: (metres[i], rows[i]["id"]))[:limit]
    ranked = [_measured(rows[i], float(metres[i]), float(bearings[i])) for i in order]
    if len(rows) < fetched or not ranked:
        return ranked, True  # every matching facility was a candidate
    planar = max(float(r["d"]) for r in rows)
    kth = float(metres[order[-1]]) if len(ranked) == limit else math.inf
    return ranked, planar_bound_is_exact(lat, kth, planar)


def _measured(row: dict[str, Any], metres: float, bearing: float) -> dict[str, Any]:
    out = {k: v for k, v in row.items() if k != "d"}
    direction = compass(bearing)
    out["distance_m"] = round(metres, 1)
    out["bearing_deg"] = round(bearing, 1)
    out["direction"] = {"id": COMPASS_ID[direction], "en": direction}
    return out


async def nearest_facilities(
    store: Store, query: NearestQuery, loaded: frozenset[str]
) -> tuple[list[dict[str, Any]], dict[str, str] | None]:
    """The query's K nearest facilities by geodesic distance, nearest first, and the
    facilities layer's data notice (None when it has none)."""
    if "facilities" not in loaded:
        return [], None
    count = initial_candidates(query.limit)
    while True:
        sql = nearest_sql(
            query, dialect_of(store), count, hazard_zones_loaded=HAZARD_ZONES.name in loaded
        )
        row = await store.afetch_one(sql.text(), sql.params)
        assert row is not None  # scalar subqueries always answer one row
        rows = json.loads(row[0]) if row[0] else []
        ranked, exact = rank(query.lon, query.lat, rows, query.limit, count)
        if exact:
            found = notice([{"notice_id": row[1], "notice_en": row[2]}])
            return ranked, found
        count *= 4  # rare: widen the candidate set until the bound holds


# --- Rasters ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DecodedRaster:
    """Band 1 of a stored raster as an array (NaN where nodata or masked), ready for
    many value-at-point reads without touching GDAL."""

    values: np.ndarray
    inverse: Affine
    to_raster: pyproj.Transformer

    def value_at(self, lon: float, lat: float) -> float | None:
        x, y = self.to_raster.transform(lon, lat)
        t = self.inverse
        col, row = t.a * x + t.b * y + t.c, t.d * x + t.e * y + t.f
        if not (math.isfinite(col) and math.isfinite(row)):
            return None
        c, r = math.floor(col), math.floor(row)
        if not (0 <= r < self.values.shape[0] and 0 <= c < self.values.shape[1]):
            return None
        value = float(self.values[r, c])
        return None if math.isnan(value) else value


def decode(raster: StoredRaster) -> DecodedRaster | StoredRaster:
    """Decode a raster that fits MAX_DECODED_PIXELS; a larger one is kept as bytes."""
    if raster.width * raster.height > MAX_DECODED_PIXELS:
        return raster
    with MemoryFile(raster.data) as mem, mem.open() as ds:
        band = ds.read(1, masked=True)
        transform = ds.transform
    values = np.ma.filled(band.astype(np.float64), np.nan)
    to_raster = pyproj.Transformer.from_crs(
        "EPSG:4326", pyproj.CRS.from_wkt(raster.crs_wkt), always_xy=True
    )
    return DecodedRaster(values, ~transform, to_raster)


class RasterCache:
    """Decoded rasters per store and (name, version): /risk never re-reads a GeoTIFF
    while the raster is unchanged, and a replace (new version) is picked up at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_store: weakref.WeakKeyDictionary[
            Store, dict[str, tuple[int, str, DecodedRaster | StoredRaster]]
        ] = weakref.WeakKeyDictionary()

    def cached(
        self, store: Store, name: str, version: int, sha256: str
    ) -> DecodedRaster | StoredRaster | None:
        """The cached raster if it is this version, without any I/O (the hot path)."""
        with self._lock:
            entry = self._by_store.get(store, {}).get(name)
        return entry[2] if entry is not None and entry[:2] == (version, sha256) else None

    def get(
        self, store: Store, name: str, version: int, sha256: str
    ) -> DecodedRaster | StoredRaster:
        """The raster, read from the store and decoded on a miss (blocking I/O)."""
        if (hit := self.cached(store, name, version, sha256)) is not None:
            return hit
        decoded = decode(store.get_raster(name))
        with self._lock:
            self._by_store.setdefault(store, {})[name] = (version, sha256, decoded)
        return decoded


RASTERS = RasterCache()


async def raster_values(
    store: Store, meta: list[dict[str, Any]], lon: float, lat: float
) -> list[dict[str, Any]]:
    """Each loaded raster's band-1 value at the point (None outside it or at nodata)."""
    loaded = {m["name"]: m for m in meta}
    out: list[dict[str, Any]] = []
    for spec in RASTER_SPECS:
        m = loaded.get(spec.name)
        if m is None:
            continue
        key = (store, spec.name, int(m["version"]), str(m["sha256"]))
        raster = RASTERS.cached(*key)
        if raster is None:  # first use of this version: read and decode off the loop
            raster = await asyncio.to_thread(RASTERS.get, *key)
        if isinstance(raster, DecodedRaster):
            value = raster.value_at(lon, lat)
        else:  # too large to keep decoded: a GDAL windowed read, off the event loop
            value = await asyncio.to_thread(value_at, raster, lon, lat)
        out.append(
            {
                "name": spec.name,
                "kind": spec.kind,
                "title": bilingual(spec.title),
                "unit": spec.unit,
                "value": None if value is None else round(value, 4),
            }
        )
    return out


# --- Risk at a point ---------------------------------------------------------------------


async def area_point(store: Store, code: str) -> tuple[float, float]:
    """A point surely inside the admin area (PostGIS/DuckDB ST_PointOnSurface)."""
    sql = area_point_sql(code, dialect_of(store))
    row = await store.afetch_one(sql.text(), sql.params)
    if row is None:
        raise NotFound(f"no admin area with code {code!r}")
    return float(row[0]), float(row[1])


def risk_query(
    lon: float, lat: float, radius_m: int, since: datetime, until: datetime
) -> RiskQuery:
    nearest = tuple(
        NearestQuery(lon, lat, ftype, limit=1, open_only=open_only)
        for _, ftype, open_only in RISK_FACILITIES
    )
    # Four candidates for one answer: the planar and geodesic orders rarely differ by
    # more; when they might, risk_at asks again (rank's bound says when).
    return RiskQuery(lon, lat, radius_m, since, until, nearest, 4)


async def risk_at(store: Store, query: RiskQuery, loaded: frozenset[str]) -> dict[str, Any]:
    """Everything /risk answers for one point, in one SQL round trip (plus a rare second
    one when a nearest-facility answer needs more candidates)."""
    sql = risk_sql(query, dialect_of(store), loaded)
    row = await store.afetch_one(sql.text(), sql.params)
    assert row is not None  # scalar subqueries always answer one row
    parts = [json.loads(v) if v else [] for v in row]
    zones, admin = parts[0], parts[1]
    n = len(query.nearest)
    candidates, floods, layers, rasters = parts[2 : 2 + n], parts[2 + n], parts[3 + n], parts[4 + n]
    nearest: dict[str, Any] = {}
    for (key, ftype, _), nq, rows in zip(RISK_FACILITIES, query.nearest, candidates, strict=True):
        ranked, exact = rank(query.lon, query.lat, rows, 1, query.candidates)
        if not exact:
            ranked = (await nearest_facilities(store, nq, loaded))[0]
        nearest[key] = {"type": ftype, "label": bilingual(FACILITY_LABELS[ftype]),
                        "facility": ranked[0] if ranked else None}  # fmt: skip
    return {
        "hazards": hazards(zones),
        "admin_areas": admin_areas(admin),
        "rasters": await raster_values(store, rasters, query.lon, query.lat),
        "nearest": nearest,
        "flood_reports": flood_reports(query, floods),
        "notice": notice(layers + rasters),
        "versions": {m["name"]: m["version"] for m in layers + rasters},
    }


def hazards(zones: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Zones grouped by hazard type, highest class first; the advice is the spec's for
    the type's highest class at the point."""
    rank_of = {c: i for i, c in enumerate(HAZARD_CLASSES)}
    by_type: dict[str, list[dict[str, Any]]] = {}
    for z in zones:
        by_type.setdefault(z["hazard_type"], []).append(z)
    out = []
    for htype, group in by_type.items():
        group.sort(key=lambda z: (-rank_of.get(z["hazard_class"], -1), z["id"]))
        top = group[0]["hazard_class"]
        out.append(
            {
                "hazard_type": htype,
                "hazard_type_label": bilingual(HAZARD_LABELS.get(htype)),
                "hazard_class": top,
                "hazard_class_label": bilingual(CLASS_LABELS.get(top)),
                "advice": bilingual(HAZARD_ZONES.advice_for(top, htype)),
                "zones": group,
            }
        )
    out.sort(key=lambda h: (-rank_of.get(h["hazard_class"], -1), h["hazard_type"]))
    return out


def admin_areas(areas: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Broadest first (province, regency, district, village)."""
    order = {level: i for i, level in enumerate(ADMIN_LEVELS)}
    for a in areas:
        a["level_label"] = bilingual(LEVEL_LABELS.get(a["level"]))
    return sorted(areas, key=lambda a: (order.get(a["level"], 99), a["code"]))


def flood_reports(query: RiskQuery, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Verified reports truly within the radius (geodesic), nearest first."""
    metres, bearings = distance_bearing(
        query.lon, query.lat, [r["lon"] for r in rows], [r["lat"] for r in rows]
    )
    inside = sorted(
        (i for i in range(len(rows)) if metres[i] <= query.radius_m),
        key=lambda i: (metres[i], rows[i]["id"]),
    )
    return {
        "radius_m": query.radius_m,
        "since": _stamp(query.since),
        "until": _stamp(query.until),
        "count": len(inside),
        "complete": len(rows) < MAX_FLOOD_CANDIDATES,
        "reports": [
            _measured(rows[i], float(metres[i]), float(bearings[i]))
            for i in inside[:MAX_FLOOD_REPORTS]
        ],
    }


def _stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def notice(meta: list[dict[str, Any]]) -> dict[str, str] | None:
    """The first data notice (e.g. DEMO/synthetic) among the layers and rasters used."""
    for m in meta:
        if m.get("notice_id") or m.get("notice_en"):
            return {"id": m.get("notice_id") or "", "en": m.get("notice_en") or ""}
    return None
