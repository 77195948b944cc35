""" "Am I at risk here?": every part of the answer in one SQL round trip.

One row, one JSON text per part: hazard zones containing the point, admin areas
containing it, nearest-facility candidates (see gis.query.nearest), verified flood
reports in a box around the point within a time window, and the versions and notices of
the layers and rasters. A part whose layer was never loaded (no table yet) is NULL.

The flood-report part is a bounding-box prefilter (index-assisted on both stores);
gis.analysis.risk keeps the reports truly within the radius on the ellipsoid.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from gis.geodesy import envelope_around
from gis.query.nearest import NearestQuery, add_candidates, json_array, json_object, point
from gis.query.sqlparts import Dialect, Sql
from gis.store.ddl import served_value
from layers.catalog import ADMIN_AREAS, FACILITIES, FLOOD_POINTS, HAZARD_ZONES

#: Flood reports prefiltered per request: the nearest this many in the box.
MAX_FLOOD_CANDIDATES = 2000


@dataclass(frozen=True)
class RiskQuery:
    lon: float
    lat: float
    #: Flood reports within this many metres, observed in [since, until].
    radius_m: int
    since: datetime
    until: datetime
    #: The nearest-facility questions (open shelter, hospital, health centre).
    nearest: tuple[NearestQuery, ...]
    #: Candidates fetched per nearest question before geodesic ranking.
    candidates: int


def risk_sql(query: RiskQuery, dialect: Dialect, loaded: frozenset[str]) -> Sql:
    """One row: zones, admin areas, *nearest candidates, flood reports, layers, rasters
    (each a JSON array text, or NULL for a layer without a table)."""
    sql = Sql(dialect).add("SELECT ")
    _zones(sql, query) if HAZARD_ZONES.name in loaded else sql.add("NULL")
    sql.add(", ")
    _admin(sql, query) if ADMIN_AREAS.name in loaded else sql.add("NULL")
    for nearest in query.nearest:
        sql.add(", ")
        if FACILITIES.name in loaded:
            add_candidates(
                sql, nearest, query.candidates, hazard_zones_loaded=HAZARD_ZONES.name in loaded
            )
        else:
            sql.add("NULL")
    sql.add(", ")
    _floods(sql, query) if FLOOD_POINTS.name in loaded else sql.add("NULL")
    sql.add(", ")
    _metadata(sql)
    return sql


def _zones(sql: Sql, query: RiskQuery) -> None:
    obj = json_object(sql.dialect)
    valid_from = served_value(HAZARD_ZONES.field("valid_from"), sql.dialect, text_dates=True)
    sql.add(
        f"(SELECT {json_array(sql.dialect, 'c.z', 'c.fid')} FROM (SELECT fid, {obj}('id', fid, "
        "'hazard_type', hazard_type, 'hazard_class', hazard_class, 'source', source, "
        f"'valid_from', {valid_from}) AS z "
        f"FROM {sql.ident(HAZARD_ZONES.name)} WHERE ST_Intersects(geom, {point(sql)})) c)",
        query.lon,
        query.lat,
    )


def _admin(sql: Sql, query: RiskQuery) -> None:
    obj = json_object(sql.dialect)
    sql.add(
        f"(SELECT {json_array(sql.dialect, 'c.a', 'c.fid')} FROM (SELECT fid, {obj}('code', code, "
        "'name', name, 'level', level, 'parent_code', parent_code) AS a "
        f"FROM {sql.ident(ADMIN_AREAS.name)} WHERE ST_Intersects(geom, {point(sql)})) c)",
        query.lon,
        query.lat,
    )


def _floods(sql: Sql, query: RiskQuery) -> None:
    obj = json_object(sql.dialect)
    env = "ST_MakeEnvelope({}, {}, {}, {}" + (", 4326)" if sql.dialect == "postgis" else ")")
    distance = "geom <-> " if sql.dialect == "postgis" else "ST_Distance(geom, "
    close = "" if sql.dialect == "postgis" else ")"
    observed = served_value(FLOOD_POINTS.field("observed_at"), sql.dialect)
    sql.add(
        f"(SELECT {json_array(sql.dialect, 'c.r', 'c.d, c.fid')} FROM (SELECT fid, "
        f"{obj}('id', fid, 'depth_cm', depth_cm, 'observed_at', "
        f"{observed}, 'status', status, 'source', source, "
        f"'lon', ST_X(geom), 'lat', ST_Y(geom)) AS r, {distance}{point(sql)}{close} AS d "
        f"FROM {sql.ident(FLOOD_POINTS.name)} WHERE ST_Intersects(geom, {env})",
        query.lon,
        query.lat,
        *envelope_around(query.lon, query.lat, query.radius_m),
    )
    sql.add(
        " AND status = {} AND observed_at >= {} AND observed_at <= {} ORDER BY d, fid LIMIT {}) c)",
        "verified",
        query.since,
        query.until,
        MAX_FLOOD_CANDIDATES,
    )


def _metadata(sql: Sql) -> None:
    obj = json_object(sql.dialect)
    sql.add(
        f"(SELECT {json_array(sql.dialect, 'c.m', 'c.name')} FROM (SELECT name, {obj}('name', "
        "name, 'version', version, 'notice_id', notice_id, 'notice_en', notice_en) AS m "
        "FROM gis_layer) c), "
        f"(SELECT {json_array(sql.dialect, 'c.m', 'c.name')} FROM (SELECT name, {obj}('name', "
        "name, 'version', version, 'sha256', sha256, 'notice_id', notice_id, "
        "'notice_en', notice_en) AS m FROM gis_raster) c)"
    )


def area_point_sql(code: str, dialect: Dialect) -> Sql:
    """One row (lon, lat) of a point surely inside the admin area, or no row."""
    sql = Sql(dialect)
    sql.add(
        "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) AS p "
        f"FROM {sql.ident(ADMIN_AREAS.name)} WHERE code = {{}} ORDER BY fid LIMIT 1) a",
        code,
    )
    return sql
