"""Mapbox Vector Tiles built by the database (ST_AsMVT / ST_AsMVTGeom on PostGIS, the same
functions in DuckDB spatial), in the WebMercatorQuad tile matrix set. Several layers in
one tile are one protobuf: the layers' bytes concatenated."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from gis.errors import InvalidInput
from gis.query.features import _value
from gis.query.sqlparts import Dialect, Sql
from layers.spec import Field, LayerSpec

EXTENT = 4096
#: Pixels of context kept around a tile, so lines and symbols join across tile edges.
BUFFER = 64
MAX_ZOOM = 24


TileMatrixSet = Literal["WebMercatorQuad", "WorldCRS84Quad"]
TILE_MATRIX_SETS: tuple[TileMatrixSet, ...] = ("WebMercatorQuad", "WorldCRS84Quad")


@dataclass(frozen=True)
class TileRequest:
    z: int
    x: int
    y: int
    tms: TileMatrixSet = "WebMercatorQuad"

    def __post_init__(self) -> None:
        if not 0 <= self.z <= MAX_ZOOM:
            raise InvalidInput(f"z must be between 0 and {MAX_ZOOM}, got {self.z}")
        cols, rows = self.matrix_size
        if not (0 <= self.x < cols and 0 <= self.y < rows):
            raise InvalidInput(
                f"at zoom {self.z} of {self.tms}, x (column) must be 0..{cols - 1} "
                f"and y (row) 0..{rows - 1}"
            )

    @property
    def matrix_size(self) -> tuple[int, int]:
        n = 2**self.z
        return (2 * n, n) if self.tms == "WorldCRS84Quad" else (n, n)

    def lonlat_bounds(self, buffer_px: int = 0) -> tuple[float, float, float, float]:
        """The tile's envelope in lon/lat, widened by ``buffer_px`` of the 4096 extent."""
        pad = buffer_px / EXTENT
        if self.tms == "WorldCRS84Quad":
            size = 180.0 / 2**self.z
            west, north = -180.0 + (self.x - pad) * size, 90.0 - (self.y - pad) * size
            east, south = -180.0 + (self.x + 1 + pad) * size, 90.0 - (self.y + 1 + pad) * size
            return (max(west, -180.0), max(south, -90.0), min(east, 180.0), min(north, 90.0))
        n = 2**self.z
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
    crs84 = tile.tms == "WorldCRS84Quad"
    exact = tile.lonlat_bounds()
    if sql.dialect == "postgis":
        props = "".join(f", {_value(sql, f)} AS {sql.ident(f.name)}" for f in fields)
        geom, bounds = (
            ("geom", "ST_MakeEnvelope({}, {}, {}, {}, 4326)::box2d")
            if crs84
            else ("ST_Transform(geom, 3857)", "ST_TileEnvelope({}, {}, {})")
        )
        bound_values = exact if crs84 else (tile.z, tile.x, tile.y)
        sql.add(
            f"coalesce((SELECT CASE WHEN count(*) > 0 THEN "
            f"ST_AsMVT(t, '{spec.name}', {EXTENT}, 'geom', 'fid') END FROM ("
            f"SELECT fid{props}, ST_AsMVTGeom({geom}, {bounds}, {EXTENT}, {BUFFER}, true) AS geom "
            f"FROM {table} WHERE ST_Intersects(geom, ST_MakeEnvelope({{}}, {{}}, {{}}, {{}}, 4326))"
            ") t WHERE geom IS NOT NULL), ''::bytea)",
            *bound_values, *env,
        )  # fmt: skip
        return
    props = "".join(f", '{f.name}': {_duck_value(sql, f)}" for f in fields)
    geom, bounds = (
        ("geom", "ST_Extent(ST_MakeEnvelope({}, {}, {}, {}))")
        if crs84
        else (
            "ST_Transform(geom, 'EPSG:4326', 'EPSG:3857', always_xy := true)",
            "ST_Extent(ST_TileEnvelope({}, {}, {}))",
        )
    )
    bound_values = exact if crs84 else (tile.z, tile.x, tile.y)
    sql.add(
        # DuckDB's ST_AsMVT over no rows still writes a layer: an empty tile must be empty.
        f"coalesce((SELECT CASE WHEN count(*) > 0 THEN "
        f"ST_AsMVT(t, '{spec.name}', {EXTENT}, 'geom', 'fid') END FROM ("
        f"SELECT {{'fid': fid{props}, 'geom': ST_AsMVTGeom({geom}, {bounds}, "
        f"{EXTENT}, {BUFFER}, true)}} AS t FROM {table} "
        f"WHERE ST_Intersects(geom, ST_MakeEnvelope({{}}, {{}}, {{}}, {{}}))) "
        "WHERE t.geom IS NOT NULL), ''::BLOB)",
        *bound_values, *env,
    )  # fmt: skip


def _duck_value(sql: Sql, f: Field) -> str:
    """MVT values are strings, numbers or booleans: dates and times travel as ISO text."""
    value = _value(sql, f)
    return f"CAST({value} AS VARCHAR)" if f.type == "date" else value


def tms_definition(tms: TileMatrixSet) -> dict[str, object]:
    """The OGC Two Dimensional Tile Matrix Set (2.0) JSON of a supported set, zooms 0-24."""
    if tms == "WebMercatorQuad":
        half = 20037508.3427892
        crs, origin, width0, cols0 = (
            "http://www.opengis.net/def/crs/EPSG/0/3857",
            [-half, half],
            2 * half,
            1,
        )
        ordered = ["x", "y"]
    else:
        crs, origin, width0, cols0 = (
            "http://www.opengis.net/def/crs/OGC/1.3/CRS84",
            [-180.0, 90.0],
            180.0,
            2,
        )
        ordered = ["lon", "lat"]
    meters_per_unit = 1.0 if tms == "WebMercatorQuad" else 6378137.0 * math.pi / 180.0
    matrices = []
    for z in range(MAX_ZOOM + 1):
        cell = width0 / 256 / 2**z
        matrices.append({
            "id": str(z), "scaleDenominator": cell * meters_per_unit / 0.00028, "cellSize": cell,
            "pointOfOrigin": origin, "tileWidth": 256, "tileHeight": 256,
            "matrixWidth": cols0 * 2**z, "matrixHeight": 2**z, "cornerOfOrigin": "topLeft",
        })  # fmt: skip
    return {"id": tms, "uri": f"http://www.opengis.net/def/tilematrixset/OGC/1.0/{tms}",
            "crs": crs, "orderedAxes": ordered, "tileMatrices": matrices}  # fmt: skip
