"""K-nearest facilities: the SQL that finds candidates, index-assisted on both stores.

The database ranks facilities by planar distance in degrees (PostGIS: the ``<->`` KNN
operator on the GiST index; DuckDB: a top-N over ST_Distance) and returns a few more
than asked for; gis.analysis.risk measures them on the ellipsoid (gis.geodesy) and
checks that no unseen facility could be nearer. Ranking on the ellipsoid in SQL would
lose the index on PostGIS (no geography index) and differ between the two stores.

Rows come back as one JSON array text (one round trip, one row), each element holding
the facility's public fields, ``id``, ``lon`` and ``lat``.
"""

from __future__ import annotations

from dataclasses import dataclass

from gis.query.sqlparts import Dialect, Sql
from layers.catalog import FACILITIES, HAZARD_ZONES

#: Largest ``limit`` of /facilities/nearest: a citizen question, not a bulk export.
MAX_NEAREST = 50
DEFAULT_NEAREST = 5


@dataclass(frozen=True)
class NearestQuery:
    """A validated request: facility_type and hazard values are catalogue enums."""

    lon: float
    lat: float
    facility_type: str
    limit: int = DEFAULT_NEAREST
    open_only: bool = False
    min_capacity: int | None = None
    #: Leave out facilities inside a hazard zone of one of these classes...
    exclude_hazard_classes: tuple[str, ...] = ()
    #: ...of this hazard type only (None: any type).
    hazard_type: str | None = None


def point(sql: Sql) -> str:
    """The request point as a geometry expression, taking two bound values (lon, lat)."""
    if sql.dialect == "postgis":
        return "ST_SetSRID(ST_MakePoint({}, {}), 4326)"
    return "ST_Point({}, {})"


def json_object(dialect: Dialect) -> str:
    return "json_build_object" if dialect == "postgis" else "json_object"


def json_array(dialect: Dialect, value: str, order: str) -> str:
    """An aggregate of JSON values as one JSON array text ('[]' when there are none)."""
    if dialect == "postgis":
        return f"coalesce(json_agg({value} ORDER BY {order}), '[]')::text"
    return f"coalesce(to_json(list({value} ORDER BY {order})), '[]')::VARCHAR"


def add_candidates(sql: Sql, query: NearestQuery, count: int, *, hazard_zones_loaded: bool) -> None:
    """Append a scalar subquery: the ``count`` planar-nearest facilities that pass the
    filters, as a JSON array text ordered by planar distance (element key ``d``)."""
    fields = ", ".join(f"'{f.name}', f.{sql.ident(f.name)}" for f in FACILITIES.fields if f.public)
    obj = json_object(sql.dialect)
    table = sql.ident(FACILITIES.name)
    distance = "f.geom <-> " if sql.dialect == "postgis" else "ST_Distance(f.geom, "
    close = "" if sql.dialect == "postgis" else ")"
    sql.add(f"(SELECT {json_array(sql.dialect, 'c.feature', 'c.d, c.fid')} FROM (SELECT ")
    sql.add(
        f"{obj}('id', f.fid, {fields}, 'lon', ST_X(f.geom), 'lat', ST_Y(f.geom), "
        f"'d', {distance}{point(sql)}{close}) AS feature, ",
        query.lon,
        query.lat,
    )
    sql.add(f"{distance}{point(sql)}{close} AS d, f.fid FROM {table} f", query.lon, query.lat)
    sql.add(" WHERE f.facility_type = {}", query.facility_type)
    if query.open_only:
        sql.add(" AND f.is_open")
    if query.min_capacity is not None:
        sql.add(" AND f.capacity >= {}", query.min_capacity)
    if query.exclude_hazard_classes and hazard_zones_loaded:
        marks = ", ".join(["{}"] * len(query.exclude_hazard_classes))
        sql.add(
            f" AND NOT EXISTS (SELECT 1 FROM {sql.ident(HAZARD_ZONES.name)} z "
            f"WHERE z.hazard_class IN ({marks})",
            *query.exclude_hazard_classes,
        )
        if query.hazard_type is not None:
            sql.add(" AND z.hazard_type = {}", query.hazard_type)
        sql.add(" AND ST_Intersects(z.geom, f.geom))")
    # PostGIS walks the GiST index in this order; DuckDB keeps a top-N heap.
    order = f" ORDER BY {distance}{point(sql)}{close}, f.fid LIMIT {{}}) c)"
    sql.add(order, query.lon, query.lat, count)


def nearest_sql(
    query: NearestQuery, dialect: Dialect, count: int, *, hazard_zones_loaded: bool
) -> Sql:
    """One row: the JSON array text of ``count`` candidates (see add_candidates), then
    the facilities layer's notice (id, en), so the answer needs no second round trip."""
    sql = Sql(dialect).add("SELECT ")
    add_candidates(sql, query, count, hazard_zones_loaded=hazard_zones_loaded)
    sql.add(
        ", (SELECT notice_id FROM gis_layer WHERE name = {}), "
        "(SELECT notice_en FROM gis_layer WHERE name = {})",
        FACILITIES.name,
        FACILITIES.name,
    )
    return sql
