"""The numbers a village head puts in a contingency plan: for an area and each of its
direct children, the share of its land in each hazard class, and the facilities and
people in each class, for every hazard type present (or one).

Land areas are geodesic: square metres on the WGS 84 ellipsoid (pyproj.Geod), never
square degrees. The class geometry follows the exposure rule: where zones of one type
overlap, land counts in the highest class, so the shares of one type add up to at most 1
(the rest is outside every zone of that type).
"""

from __future__ import annotations

from typing import Any

import pyproj
import shapely
from shapely.geometry.base import BaseGeometry

from gis.analysis import exposure as ex
from gis.errors import NotFound
from gis.query import summary as q
from gis.store.base import Store
from layers.catalog import HAZARD_CLASSES

GEOD = pyproj.Geod(ellps="WGS84")


def geodesic_area_m2(geom: BaseGeometry) -> float:
    """Area on the WGS 84 ellipsoid of a lon/lat (Multi)Polygon, holes subtracted."""
    if geom is None or geom.is_empty:
        return 0.0
    area, _ = GEOD.geometry_area_perimeter(geom)
    return abs(float(area))


def class_land(area: BaseGeometry, zones: list[tuple[int, BaseGeometry]]) -> list[BaseGeometry]:
    """The area's land in each class (index rank-1), higher classes taking precedence."""
    out: list[BaseGeometry] = []
    taken: BaseGeometry = shapely.Polygon()
    for rank in range(len(HAZARD_CLASSES), 0, -1):
        parts = [g for r, g in zones if r == rank]
        union = shapely.union_all(parts) if parts else shapely.Polygon()
        land = shapely.intersection(shapely.difference(union, taken), area)
        taken = shapely.union(taken, union)
        out.append(land)
    return out[::-1]


def summary(store: Store, area_code: str, hazard_type: str | None = None) -> dict[str, Any]:
    """The summary as JSON-ready data (the API and the CLI render it)."""
    if hazard_type is not None:
        ex.check_hazard_type(hazard_type)
    ex.check_layers(store)
    ex.area_level(store, area_code)  # 404 for an unknown code
    dialect = ex.dialect_of(store)
    if hazard_type is None:
        types = [str(r[0]) for r in ex.rows(store, q.hazard_types_sql(dialect))]
    else:
        types = [hazard_type]
    selector = q.family(area_code)
    results = [ex.compute(store, t, selector) for t in types]
    if not results:
        raise NotFound("belum ada kawasan rawan bencana / no hazard zones are loaded")
    first = results[0]
    areas: list[dict[str, Any]] = []
    for i, area in enumerate(first.areas):
        geom = area.geometry
        total = geodesic_area_m2(geom)
        hazards = []
        for result in results:
            same = result.areas[i]
            minx, miny, maxx, maxy = (float(v) for v in geom.bounds)
            zones = ex.class_zones(store, result.hazard_type, (minx, miny, maxx, maxy))
            lands = class_land(geom, zones)
            classes = []
            for cls, land in zip(same.classes, lands, strict=True):
                land_m2 = geodesic_area_m2(land)
                classes.append(
                    {
                        **ex.class_json(cls),
                        "land_m2": round(land_m2, 1),
                        "land_share": round(land_m2 / total, 6) if total else 0.0,
                    }
                )
            hazards.append({"hazard_type": result.hazard_type, "classes": classes})
        areas.append(
            {
                "code": area.code,
                "name": area.name,
                "level": area.level,
                "role": "area" if area.code == area_code else "child",
                "area_m2": round(total, 1),
                "population_total": area.population_total,
                "hazards": hazards,
            }
        )
    areas.sort(key=lambda a: (a["role"] != "area", a["code"]))
    return {
        "area_code": area_code,
        "hazard_types": types,
        "population_raster": ex.to_json(first)["population_raster"],
        "rules": {
            "id": ex.RULES["id"] + " Luas dihitung pada elipsoid WGS 84 (m²).",
            "en": ex.RULES["en"] + " Areas are on the WGS 84 ellipsoid (m²).",
        },
        "areas": areas,
    }
