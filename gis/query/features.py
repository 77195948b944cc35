"""OGC API Features queries built by the database: the GeoJSON of a page of features, or of
one feature, comes back from PostGIS or DuckDB as JSON text, with no per-feature Python
objects on the way out."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from gis.query.sqlparts import Dialect, Sql
from gis.store.ddl import served_value
from layers.spec import Field, LayerSpec

#: Largest page a client may ask for; larger limits are clamped (with a next link).
MAX_LIMIT = 10_000
DEFAULT_LIMIT = 10
#: numberMatched of a filtered request is counted up to this many; past it, left out.
MATCH_COUNT_CAP = 10_000
#: Decimal digits of output coordinates: 7 is ~1 cm in degrees.
COORDINATE_DIGITS = 7


@dataclass(frozen=True)
class OutputCrs:
    """How to write coordinates: EPSG code, and whether to swap to lat/lon (EPSG:4326)."""

    epsg: int = 4326
    lat_lon: bool = False


@dataclass(frozen=True)
class ItemsQuery:
    """A validated items request; everything here is already in storage terms (lon/lat
    envelopes, UTC datetimes, whitelisted field names)."""

    spec: LayerSpec
    limit: int = DEFAULT_LIMIT
    offset: int = 0
    #: lon/lat envelopes ORed together (two when a bbox crosses the antimeridian).
    envelopes: tuple[tuple[float, float, float, float], ...] = ()
    #: (start, end) on the spec's time field; None is an open end.
    interval: tuple[datetime | None, datetime | None] | None = None
    properties: tuple[str, ...] | None = None
    sortby: tuple[tuple[str, bool], ...] = ()
    skip_geometry: bool = False
    crs: OutputCrs = field(default_factory=OutputCrs)
    #: A compiled CQL2 filter for this dialect: (sql with placeholders, params).
    filter_sql: tuple[str, tuple[object, ...]] | None = None

    @property
    def fields(self) -> tuple[Field, ...]:
        wanted = self.properties
        return tuple(
            f for f in self.spec.fields if f.public and (wanted is None or f.name in wanted)
        )


def items_sql(query: ItemsQuery, dialect: Dialect) -> Sql:
    """One row, one round trip: (layer version, number matched, features JSON array text,
    number returned). Matched is the layer's recorded count unless the query filters."""
    sql = Sql(dialect)
    agg = (
        "coalesce(json_agg(feature), '[]')::text"
        if dialect == "postgis"
        else ("coalesce(json_group_array(feature), '[]')::VARCHAR")
    )
    sql.add("SELECT (SELECT version FROM gis_layer WHERE name = {}), ", query.spec.name)
    if is_filtered(query):
        # Counting every match of a broad filter costs a full scan per request: count up
        # to a cap, and say nothing (numberMatched is optional) beyond it.
        sql.add(f"(SELECT count(*) FROM (SELECT 1 FROM {sql.ident(query.spec.name)}")
        _where(sql, query)
        sql.add(" LIMIT {}) capped), ", MATCH_COUNT_CAP + 1)
    else:
        sql.add("(SELECT feature_count FROM gis_layer WHERE name = {}), ", query.spec.name)
    sql.add(f"{agg}, count(*) FROM (SELECT ")
    _feature(sql, query)
    sql.add(f" AS feature FROM {sql.ident(query.spec.name)}")
    _where(sql, query)
    _order(sql, query)
    sql.add(" LIMIT {} OFFSET {}", query.limit, query.offset)
    sql.add(") page")
    return sql


def feature_rows_sql(query: ItemsQuery, dialect: Dialect, limit: int | None) -> Sql:
    """One row per feature (its GeoJSON text), for streamed encodings (GeoJSONSeq)."""
    sql = Sql(dialect)
    sql.add("SELECT (")
    _feature(sql, query)
    cast = "::text" if dialect == "postgis" else "::VARCHAR"
    sql.add(f"){cast} FROM {sql.ident(query.spec.name)}")
    _where(sql, query)
    _order(sql, query)
    _page(sql, limit, query.offset)
    return sql


def table_rows_sql(query: ItemsQuery, dialect: Dialect, limit: int | None) -> Sql:
    """One row per feature: fid, the public fields, WKT geometry (CSV)."""
    sql = Sql(dialect)
    cols = ", ".join(_value(sql, f) for f in query.fields)
    geom = "NULL" if query.skip_geometry else f"ST_AsText({_transformed(sql, query.crs)})"
    sql.add(f"SELECT fid, {cols}{', ' if cols else ''}{geom} FROM {sql.ident(query.spec.name)}")
    _where(sql, query)
    _order(sql, query)
    _page(sql, limit, query.offset)
    return sql


def _page(sql: Sql, limit: int | None, offset: int) -> None:
    if limit is not None:
        sql.add(" LIMIT {}", limit)
    if offset:
        sql.add(" OFFSET {}", offset)


def version_sql(name: str, dialect: Dialect) -> Sql:
    """The layer's version (no row: never loaded), for conditional requests."""
    return Sql(dialect).add("SELECT version FROM gis_layer WHERE name = {}", name)


def item_sql(query: ItemsQuery, fid: int, dialect: Dialect) -> Sql:
    """One row (layer version, the feature's JSON text), or no row."""
    sql = Sql(dialect)
    sql.add("SELECT (SELECT version FROM gis_layer WHERE name = {}), (", query.spec.name)
    _feature(sql, query)
    cast = "::text" if dialect == "postgis" else "::VARCHAR"
    sql.add(f"){cast} FROM {sql.ident(query.spec.name)} WHERE fid = {{}}", fid)
    return sql


def is_filtered(query: ItemsQuery) -> bool:
    return bool(query.envelopes or query.interval or query.filter_sql)


def _feature(sql: Sql, query: ItemsQuery) -> None:
    obj = "json_build_object" if sql.dialect == "postgis" else "json_object"
    props = ", ".join(f"'{f.name}', {_value(sql, f)}" for f in query.fields)
    geometry = "NULL" if query.skip_geometry else _geometry(sql, query.crs)
    sql.add(
        f"{obj}('type', 'Feature', 'id', fid, 'geometry', {geometry}, 'properties', {obj}({props}))"
    )


def _value(sql: Sql, f: Field) -> str:
    return served_value(f, sql.dialect)


def _transformed(sql: Sql, crs: OutputCrs) -> str:
    """The geometry column in the output CRS (axis order included)."""
    geom = "geom"
    if crs.epsg != 4326:
        geom = (
            f"ST_Transform(geom, {int(crs.epsg)})"
            if sql.dialect == "postgis"
            else f"ST_Transform(geom, 'EPSG:4326', 'EPSG:{int(crs.epsg)}', always_xy := true)"
        )
    return f"ST_FlipCoordinates({geom})" if crs.lat_lon else geom


def _geometry(sql: Sql, crs: OutputCrs) -> str:
    geom = _transformed(sql, crs)
    if sql.dialect == "postgis":
        digits = COORDINATE_DIGITS if crs.epsg == 4326 else 3
        return f"ST_AsGeoJSON({geom}, {digits})::json"
    return f"ST_AsGeoJSON({geom})"


def _where(sql: Sql, query: ItemsQuery) -> None:
    conjunction = iter([" WHERE "] + [" AND "] * 2)
    if query.envelopes:
        env = "ST_MakeEnvelope({}, {}, {}, {}" + (", 4326)" if sql.dialect == "postgis" else ")")
        # PostGIS's ST_Intersects brings its own index test (&&); DuckDB's uses the RTREE.
        test = " OR ".join([f"ST_Intersects(geom, {env})"] * len(query.envelopes))
        sql.add(next(conjunction) + f"({test})", *(v for e in query.envelopes for v in e))
    if query.interval is not None:
        text, values = _interval(sql, query)
        sql.add(next(conjunction) + text, *values)
    if query.filter_sql is not None:  # compiled for this dialect, placeholders included
        sql.parts.append(f"{next(conjunction)}({query.filter_sql[0]})")
        sql.params.extend(query.filter_sql[1])


def _interval(sql: Sql, query: ItemsQuery) -> tuple[str, tuple[object, ...]]:
    assert query.interval is not None and query.spec.time_field is not None
    col = sql.ident(query.spec.time_field)
    start, end = query.interval
    field_type = query.spec.field(query.spec.time_field).type
    conds: list[str] = []
    values: list[object] = []
    for bound, op in ((start, ">="), (end, "<=")):
        if bound is None:
            continue
        conds.append(f"{col} {op} {{}}")
        values.append(bound.date() if field_type == "date" else bound)
    return ("(" + " AND ".join(conds) + ")" if conds else "TRUE", tuple(values))


def _order(sql: Sql, query: ItemsQuery) -> None:
    # NULLS LAST on both stores (PostgreSQL would put them first when descending).
    keys = [
        f"{sql.ident(name)} {'ASC' if asc else 'DESC'} NULLS LAST" for name, asc in query.sortby
    ]
    keys.append("fid")  # a stable order makes offset paging consistent
    sql.add(" ORDER BY " + ", ".join(keys))
