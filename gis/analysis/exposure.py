"""Exposure: per admin area and hazard class, the facilities by type, the shelter
capacity and the population living there. The numbers behind "how many schools lie in
high flood hazard in this district".

Facilities are read by gis.query.exposure and joined in memory; population is summed from
the ``population`` raster in one pass (gis.analysis.zonal). Definitions (highest class
wins, pixel-centre rule) are in those modules' docstrings and in docs/api.md.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from gis.analysis import zonal
from gis.errors import InvalidInput, NotFound
from gis.query import exposure as q
from gis.query.sqlparts import Dialect, Sql
from gis.store.base import Store
from layers.catalog import ADMIN_LEVELS, FACILITY_TYPES, HAZARD_CLASSES, HAZARD_TYPES

POPULATION_RASTER = "population"
NEEDED_LAYERS = ("admin_areas", "hazard_zones", "facilities")
#: Called with a short step name while an analysis runs (the CLI shows it).
Progress = Callable[[str], None]


@dataclass
class ClassExposure:
    hazard_class: str
    facilities: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FACILITY_TYPES, 0))
    shelter_capacity: int = 0
    population: float | None = None

    @property
    def facilities_total(self) -> int:
        return sum(self.facilities.values())


@dataclass
class AreaExposure:
    code: str
    name: str
    level: str
    classes: list[ClassExposure]
    #: Lon/lat geometry, kept for the population pass and the summary's land shares.
    geometry: BaseGeometry = field(repr=False)
    #: Everyone in the area (all classes and none), from the population raster.
    population_total: float | None = None

    def of(self, hazard_class: str) -> ClassExposure:
        return next(c for c in self.classes if c.hazard_class == hazard_class)


@dataclass
class Exposure:
    hazard_type: str
    admin_level: str | None
    area_code: str | None
    population_raster: str | None
    population_version: int | None
    areas: list[AreaExposure]


def dialect_of(store: Store) -> Dialect:
    return "postgis" if store.kind == "postgis" else "duckdb"


def rows(store: Store, sql: Sql) -> list[tuple[Any, ...]]:
    return [r for batch in store.stream(sql.text(), sql.params) for r in batch]


def check_hazard_type(hazard_type: str) -> None:
    if hazard_type not in HAZARD_TYPES:
        raise InvalidInput(
            f"hazard_type {hazard_type!r} tidak dikenal / is unknown; "
            f"known: {', '.join(HAZARD_TYPES)}"
        )


def check_layers(store: Store) -> None:
    """The question needs these layers loaded; say which is missing instead of an SQL error."""
    loaded = {info.name for info in store.layers()}
    missing = [name for name in NEEDED_LAYERS if name not in loaded]
    if missing:
        raise NotFound(
            f"lapisan belum dimuat / layer(s) not loaded yet: {', '.join(missing)}; "
            "load them with `gis ingest`"
        )


def area_level(store: Store, code: str) -> str:
    """The level of an area code; NotFound (404) when no area has that code."""
    sql = q.area_exists_sql(code, dialect_of(store))
    row = store.fetch_one(sql.text(), sql.params)
    if row is None:
        raise NotFound(f"kode wilayah / area code {code!r} tidak ditemukan / not found")
    return str(row[0])


def resolve_selector(
    store: Store, admin_level: str | None, area_code: str | None
) -> q.AreaSelector:
    """Areas of ``admin_level`` (default: the area's own level, else district) at or under
    ``area_code``. A level coarser than the area's own is refused (it cannot lie under it)."""
    if admin_level is not None and admin_level not in ADMIN_LEVELS:
        raise InvalidInput(
            f"admin_level {admin_level!r} tidak dikenal / is not in the catalog; "
            f"known: {', '.join(ADMIN_LEVELS)}"
        )
    if area_code is None:
        return q.AreaSelector(level=admin_level or "district")
    own = area_level(store, area_code)
    level = admin_level or own
    if ADMIN_LEVELS.index(level) < ADMIN_LEVELS.index(own):
        raise InvalidInput(
            f"admin_level {level!r} lebih tinggi dari wilayah / is above area {area_code!r} "
            f"({own}); use {own} or a finer level"
        )
    return q.AreaSelector(level=level, under=area_code)


def exposure(
    store: Store,
    hazard_type: str,
    admin_level: str | None = None,
    area_code: str | None = None,
    progress: Progress | None = None,
) -> Exposure:
    """Answer the exposure question on either store (validated input; errors bilingual)."""
    check_hazard_type(hazard_type)
    check_layers(store)
    selector = resolve_selector(store, admin_level, area_code)
    result = compute(store, hazard_type, selector, progress)
    result.admin_level = selector.level
    result.area_code = area_code
    return result


def compute(
    store: Store, hazard_type: str, selector: q.AreaSelector, progress: Progress | None = None
) -> Exposure:
    """The numbers for already-validated areas (also used by the summary)."""
    step = progress or (lambda _: None)
    dialect = dialect_of(store)
    step("areas")
    area_rows = rows(store, q.areas_sql(selector, dialect))
    areas = [
        AreaExposure(
            code=str(code),
            name=str(name),
            level=str(level),
            classes=[ClassExposure(c) for c in HAZARD_CLASSES],
            geometry=shapely.from_wkb(bytes(wkb)),
        )
        for code, name, level, wkb in area_rows
    ]
    step("hazard zones")
    zones: list[tuple[int, BaseGeometry]] = []
    if areas:
        minx, miny, maxx, maxy = (
            float(v) for v in shapely.total_bounds([a.geometry for a in areas])
        )
        zones = class_zones(store, hazard_type, (minx, miny, maxx, maxy))
        step("facilities")
        _facilities(store, (minx, miny, maxx, maxy), zones, areas)
    step("population")
    raster = zonal.load_raster(store, POPULATION_RASTER)
    if raster is not None and areas:
        _population(areas, zones, raster)
    return Exposure(
        hazard_type=hazard_type,
        admin_level=selector.level,
        area_code=selector.under or selector.family,
        population_raster=POPULATION_RASTER if raster is not None else None,
        population_version=raster.version if raster is not None else None,
        areas=areas,
    )


def class_zones(
    store: Store, hazard_type: str, bbox: tuple[float, float, float, float]
) -> list[tuple[int, BaseGeometry]]:
    """(rank, lon/lat geometry) of the type's zones touching the bbox."""
    sql = q.zones_sql(hazard_type, bbox, dialect_of(store))
    return [
        (HAZARD_CLASSES.index(str(cls)) + 1, shapely.from_wkb(bytes(wkb)))
        for cls, wkb in rows(store, sql)
    ]


def _facilities(
    store: Store,
    bbox: tuple[float, float, float, float],
    zones: list[tuple[int, BaseGeometry]],
    areas: list[AreaExposure],
) -> None:
    """Counts by GEOS STRtree joins over the facilities read from the areas' bbox.

    Why not a spatial join in SQL: on PostGIS 3.3 ST_Intersects cost tens of microseconds
    per (point, zone) pair in the join, so 100,000 facilities x 10,000 zones took ~2 s,
    against ~0.4 s to read the points and join them here with GEOS's STRtree and
    prepared geometries; DuckDB's spatial join was no faster than this (both measured
    with scripts/bench/analysis.py). One code path also makes both stores give the same
    answer by construction. A point on a shared border counts in both areas, as
    ST_Intersects would.
    """
    data = rows(store, q.facility_points_sql(bbox, dialect_of(store)))
    if not data or not zones:
        return
    xy = np.array([(r[2], r[3]) for r in data], dtype=np.float64)
    points: np.ndarray = np.asarray(shapely.points(xy))
    ranks = np.array([r for r, _ in zones], dtype=np.int64)
    hit_point, hit_zone = shapely.STRtree([g for _, g in zones]).query(
        points, predicate="intersects"
    )
    best = np.zeros(len(points), dtype=np.int64)
    np.maximum.at(best, hit_point, ranks[hit_zone])
    exposed = np.flatnonzero(best)
    in_area, area_index = shapely.STRtree([a.geometry for a in areas]).query(
        points[exposed], predicate="intersects"
    )
    types = [str(r[0]) for r in data]
    capacity = [int(r[1] or 0) for r in data]
    for k, a in zip(exposed[in_area].tolist(), area_index.tolist(), strict=True):
        cls = areas[a].classes[int(best[k]) - 1]
        cls.facilities[types[k]] += 1
        if types[k] == "shelter":
            cls.shelter_capacity += capacity[k]


def _population(
    areas: list[AreaExposure], zones: list[tuple[int, BaseGeometry]], raster: zonal.DecodedRaster
) -> None:
    # Areas of one level tile without overlap; the summary mixes an area and its children,
    # so each level is burned separately.
    for level in {a.level for a in areas}:
        members = [a for a in areas if a.level == level]
        sums = zonal.zone_class_sums(
            raster, [a.geometry for a in members], zones, len(HAZARD_CLASSES)
        )
        for area, row in zip(members, sums, strict=True):
            area.population_total = round(float(row.sum()), 3)
            for i, cls in enumerate(area.classes):
                cls.population = round(float(row[i + 1]), 3)


# --- Rendering (shared by the API and the CLI, so both say the same numbers) -----------


def to_json(result: Exposure) -> dict[str, Any]:
    return {
        "hazard_type": result.hazard_type,
        "admin_level": result.admin_level,
        "area_code": result.area_code,
        "population_raster": (
            None
            if result.population_raster is None
            else {"name": result.population_raster, "version": result.population_version}
        ),
        "rules": RULES,
        "areas": [
            {
                "code": a.code,
                "name": a.name,
                "level": a.level,
                "population_total": a.population_total,
                "classes": [class_json(c) for c in a.classes],
            }
            for a in result.areas
        ],
    }


def class_json(c: ClassExposure) -> dict[str, Any]:
    return {
        "hazard_class": c.hazard_class,
        "facilities_total": c.facilities_total,
        "facilities": dict(c.facilities),
        "shelter_capacity": c.shelter_capacity,
        "population": c.population,
    }


CSV_COLUMNS = (
    "area_code",
    "area_name",
    "admin_level",
    "hazard_type",
    "hazard_class",
    "facilities_total",
    *(f"facilities_{t}" for t in FACILITY_TYPES),
    "shelter_capacity",
    "population",
)


def to_csv(result: Exposure) -> str:
    """One row per (area, class); population is empty when no population raster is loaded."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for a in result.areas:
        for c in a.classes:
            writer.writerow(
                [a.code, a.name, a.level, result.hazard_type, c.hazard_class, c.facilities_total]
                + [c.facilities[t] for t in FACILITY_TYPES]
                + [c.shelter_capacity, "" if c.population is None else repr(c.population)]
            )
    return buf.getvalue()


RULES = {
    "id": (
        "Fasilitas dihitung pada kelas bahaya tertinggi yang memuatnya. Penduduk dijumlahkan "
        "dari raster penduduk: satu sel masuk ke wilayah dan kelas yang memuat titik tengahnya."
    ),
    "en": (
        "A facility counts in the highest hazard class that contains it. Population is summed "
        "from the population raster: a cell belongs to the area and class containing its centre."
    ),
}
