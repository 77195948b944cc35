"""SQL of "what lies inside this polygon": per layer, the exact count and a page of
features (GeoJSON built by the database via gis.query.features) that intersect a bound
geometry or an admin area's own geometry."""

from __future__ import annotations

from gis.query import features as fq
from gis.query.sqlparts import Dialect, Sql
from layers.spec import LayerSpec


def condition(
    dialect: Dialect, wkb: bytes | None, area_code: str | None
) -> tuple[str, tuple[object, ...]]:
    """The spatial test on ``geom`` as (sql with this dialect's placeholders, params):
    intersects the given lon/lat geometry, or the admin area with that code."""
    mark = "%s" if dialect == "postgis" else "?"
    if wkb is not None:
        literal = (
            f"ST_SetSRID(ST_GeomFromWKB({mark}), 4326)"
            if dialect == "postgis"
            else f"ST_GeomFromWKB({mark})"
        )
        return f"ST_Intersects(geom, {literal})", (wkb,)
    if area_code is None:
        raise ValueError("a geometry or an area code is needed")
    return (
        f"ST_Intersects(geom, (SELECT a.geom FROM admin_areas a WHERE a.code = {mark} LIMIT 1))",
        (area_code,),
    )


def count_sql(spec: LayerSpec, cond: tuple[str, tuple[object, ...]], dialect: Dialect) -> Sql:
    """One row: how many features of the layer meet the condition (exact, no cap)."""
    sql = Sql(dialect)
    sql.parts.append(f"SELECT count(*) FROM {sql.ident(spec.name)} WHERE {cond[0]}")
    sql.params.extend(cond[1])
    return sql


def features_sql(
    spec: LayerSpec, cond: tuple[str, tuple[object, ...]], limit: int, dialect: Dialect
) -> Sql:
    """One row (version, capped match count, features JSON text, returned), in fid order."""
    query = fq.ItemsQuery(spec=spec, limit=limit, filter_sql=cond)
    return fq.items_sql(query, dialect)
