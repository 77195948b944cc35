"""Mapbox Vector Tiles built by the database (ST_AsMVT / ST_AsMVTGeom on PostGIS, the same
functions in DuckDB spatial), in the WebMercatorQuad tile matrix set. Several layers in
one tile are one protobuf: the layers' bytes concatenated."""

from __future__ import annotations

import math
from dataclasses import dataclass

from gis.errors import InvalidInput
from gis.query.features import _value
from gis.query.sqlparts import Dialect, Sql
from layers.spec import LayerSpec

EXTENT = 4096
#: Pixels of context kept around a tile, so lines and symbols join across tile edges.
BUFFER = 64
MAX_ZOOM = 24


@dataclass(frozen=True)
class TileRequest:
    z: int
    x: int
    y: int

    def __post_init__(self) -> None:
        if not 0 <= self.z <= MAX_ZOOM:
            raise InvalidInput(f"z must be between 0 and {MAX_ZOOM}, got {self.z}")
        n = 2**self.z
        if not (0 <= self.x < n and 0 <= self.y < n):
            raise InvalidInput(f"x and y must be between 0 and {n - 1} at zoom {self.z}")

    def lonlat_bounds(self, buffer_px: int = 0) -> tuple[float, float, float, float]:
        """The tile's envelope in lon/lat, widened by ``buffer_px`` of the 4096 extent."""
        n = 2**self.z
        pad = buffer_px / EXTENT
        west = (self.x - pad) / n * 360.0 - 180.0
        east = (self.x + 1 + pad) / n * 360.0 - 180.0
        north = _lat(self.y - pad, n)
        south = _lat(self.y + 1 + pad, n)
        return (max(west, -180.0), max(south, -85.06), min(east, 180.0), min(north, 85.06))


def _lat(y: float, n: int) -> float:
    y = min(max(y, 0.0), float(n))
    return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * y / n))))


def tile_sql(specs: list[LayerSpec], tile: TileRequest, dialect: Dialect) -> Sql:
    """One row: the tile's bytes (NULL or empty when no layer has a feature there)."""
    sql = Sql(dialect)
    sql.add("SELECT ")
    for i, spec in enumerate(specs):
        if i:
            sql.add(" || ")
        _layer(sql, spec, tile)
    return sql


def _layer(sql: Sql, spec: LayerSpec, tile: TileRequest) -> None:
    table = sql.ident(spec.name)
    fields = [f for f in spec.fields if f.public]
    env = tile.lonlat_bounds(BUFFER)
    if sql.dialect == "postgis":
        props = "".join(f", {_value(sql, f)} AS {sql.ident(f.name)}" for f in fields)
        sql.add(
            f"coalesce((SELECT CASE WHEN count(*) > 0 THEN "
            f"ST_AsMVT(t, '{spec.name}', {EXTENT}, 'geom', 'fid') END FROM ("
            f"SELECT fid{props}, ST_AsMVTGeom(ST_Transform(geom, 3857), "
            f"ST_TileEnvelope({{}}, {{}}, {{}}), {EXTENT}, {BUFFER}, true) AS geom "
            f"FROM {table} WHERE ST_Intersects(geom, ST_MakeEnvelope({{}}, {{}}, {{}}, {{}}, 4326))"
            ") t WHERE geom IS NOT NULL), ''::bytea)",
            tile.z, tile.x, tile.y, *env,
        )  # fmt: skip
        return
    props = "".join(f", '{f.name}': {_duck_value(sql, f)}" for f in fields)
    sql.add(
        # DuckDB's ST_AsMVT over no rows still writes a layer: an empty tile must be empty.
        f"coalesce((SELECT CASE WHEN count(*) > 0 THEN "
        f"ST_AsMVT(t, '{spec.name}', {EXTENT}, 'geom', 'fid') END FROM ("
        f"SELECT {{'fid': fid{props}, 'geom': ST_AsMVTGeom(ST_Transform(geom, 'EPSG:4326', "
        f"'EPSG:3857', always_xy := true), ST_Extent(ST_TileEnvelope({{}}, {{}}, {{}})), "
        f"{EXTENT}, {BUFFER}, true)}} AS t FROM {table} "
        f"WHERE ST_Intersects(geom, ST_MakeEnvelope({{}}, {{}}, {{}}, {{}}))) "
        "WHERE t.geom IS NOT NULL), ''::BLOB)",
        tile.z, tile.x, tile.y, *env,
    )  # fmt: skip


def _duck_value(sql: Sql, f: object) -> str:
    """MVT values are strings, numbers or booleans: dates and times travel as ISO text."""
    from layers.spec import Field

    assert isinstance(f, Field)
    value = _value(sql, f)
    return f"CAST({value} AS VARCHAR)" if f.type == "date" else value
