"""SQL of the exposure question: the reads behind "which facilities lie in which hazard
class of which admin area". The database selects (areas by level and code, zones and
facilities by an index-friendly bbox); gis.analysis.exposure joins them in memory with
GEOS STRtrees, which measured 5x faster than PostGIS's per-pair ST_Intersects at 100,000
facilities and as fast as DuckDB's spatial join (scripts/bench/analysis.py).

Definitions, shared with gis.analysis and the independent reference in the tests:

* A facility's hazard class is the *highest* class of the hazard type whose zones
  intersect it (zones of one type may overlap across classes in real data; a facility is
  never counted twice). A facility in no zone of the type is not exposed.
* A facility belongs to every admin area (of the requested level) that intersects it; the
  areas of one level tile the regency, so only a point on a shared border counts twice.
* Areas are selected by level, optionally only those at or under one area code (by the
  ``parent_code`` chain, followed with a recursive CTE on both stores).
"""

from __future__ import annotations

from dataclasses import dataclass

from gis.query.sqlparts import Dialect, Sql


@dataclass(frozen=True)
class AreaSelector:
    """Which admin areas a question is about.

    ``level`` with an optional ``under`` code: the areas of that level at or under the code.
    ``family``: the area with that code and its direct children (the summary's rows).
    """

    level: str | None = None
    under: str | None = None
    family: str | None = None


def wkb(dialect: Dialect, column: str = "geom") -> str:
    """A geometry column as WKB, in the function each store names for it."""
    return f"ST_AsBinary({column})" if dialect == "postgis" else f"ST_AsWKB({column})"


def envelope(dialect: Dialect) -> str:
    """An index-friendly bbox test with four bound values (minx, miny, maxx, maxy)."""
    if dialect == "postgis":
        return "geom && ST_MakeEnvelope({}, {}, {}, {}, 4326)"
    return "ST_Intersects(geom, ST_MakeEnvelope({}, {}, {}, {}))"


def _with_areas(sql: Sql, selector: AreaSelector) -> None:
    """Open a WITH clause that defines ``areas(code, name, level, geom)``."""
    if selector.family is not None:
        sql.add(
            "WITH areas AS (SELECT code, name, level, geom FROM admin_areas "
            "WHERE code = {} OR parent_code = {})",
            selector.family,
            selector.family,
        )
        return
    if selector.level is None:
        raise ValueError("an AreaSelector needs a level or a family")
    if selector.under is None:
        sql.add(
            "WITH areas AS (SELECT code, name, level, geom FROM admin_areas WHERE level = {})",
            selector.level,
        )
        return
    # UNION (not UNION ALL) stops on a parent_code cycle in bad data on both stores.
    sql.add(
        "WITH RECURSIVE tree(code) AS (SELECT code FROM admin_areas WHERE code = {} "
        "UNION SELECT c.code FROM admin_areas c JOIN tree t ON c.parent_code = t.code), "
        "areas AS (SELECT code, name, level, geom FROM admin_areas "
        "WHERE level = {} AND code IN (SELECT code FROM tree))",
        selector.under,
        selector.level,
    )


def areas_sql(selector: AreaSelector, dialect: Dialect) -> Sql:
    """Rows (code, name, level, WKB) of the selected areas, by code."""
    sql = Sql(dialect)
    _with_areas(sql, selector)
    sql.add(f" SELECT code, name, level, {wkb(dialect)} FROM areas ORDER BY code")
    return sql


def zones_sql(hazard_type: str, bbox: tuple[float, float, float, float], dialect: Dialect) -> Sql:
    """Rows (hazard_class, WKB) of the type's zones that touch the bbox."""
    sql = Sql(dialect)
    sql.add(
        f"SELECT hazard_class, {wkb(dialect)} FROM hazard_zones WHERE hazard_type = {{}} AND ",
        hazard_type,
    )
    sql.add(envelope(dialect), *bbox)
    return sql


def facility_points_sql(bbox: tuple[float, float, float, float], dialect: Dialect) -> Sql:
    """Rows (facility_type, capacity, lon, lat) of the facilities in the bbox, for the
    in-memory join (facilities are points: the layer spec says so)."""
    sql = Sql(dialect)
    sql.add("SELECT facility_type, capacity, ST_X(geom), ST_Y(geom) FROM facilities WHERE ")
    sql.add(envelope(dialect), *bbox)
    return sql


def area_exists_sql(code: str, dialect: Dialect) -> Sql:
    """One row (level) when the area code exists."""
    return Sql(dialect).add("SELECT level FROM admin_areas WHERE code = {} LIMIT 1", code)
