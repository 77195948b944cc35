"""Mapbox Vector Tiles built by the database (ST_AsMVT / ST_AsMVTGeom on PostGIS, the same
functions in DuckDB spatial), in the WebMercatorQuad and WorldCRS84Quad tile matrix sets.
Several layers in one tile are one protobuf: the layers' bytes concatenated.

Each layer is generalised for the tile's zoom from its spec's TileRules (docs/tiles.md):
lines and polygons simplified by a pixel tolerance, points clustered and small polygons
merged below the detail zoom, an optional CQL2 filter applied; one SQL statement per
tile, the same semantics on both stores. Below the detail zoom an unfiltered tile reads
the same generalisation from the layer's overview, prepared at load time
(gis.store.overviews), when the caller says it is current."""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from gis.errors import InvalidInput
from gis.query.sqlparts import Dialect, Sql
from gis.store import overviews as ov
from gis.store.ddl import mvt_value
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


#: A CQL2 filter compiled for the store's dialect: WHERE text with placeholders, values.
CompiledSql = tuple[str, tuple[object, ...]]
#: Each coarsening step multiplies tolerance, minimum area and cluster cell by this.
COARSEN_FACTOR = 4
WEB_MERCATOR_HALF = 20037508.342789244


def tile_sql(
    specs: list[LayerSpec],
    tile: TileRequest,
    dialect: Dialect,
    filters: Mapping[str, CompiledSql] | None = None,
    overviews: Collection[str] = (),
) -> Sql:
    """One row: the tile's bytes (NULL or empty when no layer has a feature there), at the
    first coarsening step; gis.tiles.render holds each layer to its budget instead.
    ``overviews``: the layers whose overview (gis.store.overviews) is current."""
    sql = Sql(dialect)
    sql.add("SELECT ")
    for i, spec in enumerate(specs):
        if i:
            sql.add(" || ")
        _layer(sql, spec, tile, (filters or {}).get(spec.name), 0, spec.name in overviews)
    return sql


def tile_layers_sql(
    specs: Sequence[LayerSpec],
    tile: TileRequest,
    dialect: Dialect,
    filters: Mapping[str, CompiledSql] | None = None,
    steps: Sequence[int] | None = None,
    overviews: Collection[str] = (),
) -> Sql:
    """One row, one column per layer: each layer's MVT bytes, so the caller can hold each
    to its budget (the tile is their concatenation). ``steps`` are coarsening steps;
    ``overviews`` the layers whose overview is current (read instead of the rows where it
    answers the render exactly)."""
    sql = Sql(dialect)
    sql.add("SELECT ")
    for i, spec in enumerate(specs):
        if i:
            sql.add(", ")
        _layer(sql, spec, tile, (filters or {}).get(spec.name), steps[i] if steps else 0,
               spec.name in overviews)  # fmt: skip
    return sql


def over_budget(specs: Sequence[LayerSpec], parts: Sequence[bytes]) -> list[int]:
    """Indexes of the layers whose bytes exceed their spec's tile budget."""
    return [i for i, (s, p) in enumerate(zip(specs, parts, strict=True))
            if len(p) > s.tiles.budget_bytes]  # fmt: skip


@dataclass(frozen=True)
class _Grid:
    """The tile in its projected units (metres of EPSG:3857, or degrees of CRS84): the
    origin of the tile matrix, the tile's size and the size of one 256-px pixel."""

    origin_x: float
    origin_y: float
    size: float

    @property
    def pixel(self) -> float:
        return self.size / 256

    @classmethod
    def of(cls, tile: TileRequest) -> _Grid:
        if tile.tms == "WorldCRS84Quad":
            return cls(-180.0, 90.0, 180.0 / 2**tile.z)
        half = WEB_MERCATOR_HALF
        return cls(-half, half, 2 * half / 2**tile.z)


def _layer(
    sql: Sql,
    spec: LayerSpec,
    tile: TileRequest,
    where: CompiledSql | None,
    step: int,
    overview: bool = False,
) -> None:
    """One layer's MVT: a single query over the layer table, generalised for the zoom.

    Below the spec's detail_zoom (or on a coarsening step) points are clustered on a
    pixel grid and polygons smaller than min_area_px are merged per grid cell; lines and
    polygons are always simplified with a pixel tolerance. Both dialects compute the same
    thing in the same units, and build the rows first and the MVT from them, so an empty
    layer is an empty string (DuckDB's ST_AsMVT over no rows would still write a layer)."""
    rules = spec.tiles
    # From the detail zoom on, the first coarsening step applies the low-zoom rules as
    # they are (clusters of cluster_px); every further step is COARSEN_FACTOR coarser.
    level = step if tile.z < rules.detail_zoom else step - 1
    generalise = level >= 0
    factor = COARSEN_FACTOR ** max(level, 0)
    layer = _Layer(sql, spec, tile, where, factor)
    read = None
    if overview and where is None and tile.tms == "WebMercatorQuad":
        read = ov.overview_read(spec, tile.z, step)
    if read is not None:
        columns = layer.from_overview(read)
    elif spec.geometry_type == "Point" and generalise:
        columns = layer.clusters(min(rules.cluster_px * factor, 256))
    elif spec.geometry_type == "MultiPolygon" and generalise:
        columns = layer.polygons_merged()
    else:
        columns = layer.features()
    layer.finish(columns)


@dataclass
class _Layer:
    """The pieces of one layer's tile query; each row builder returns its column names."""

    sql: Sql
    spec: LayerSpec
    tile: TileRequest
    where: CompiledSql | None
    factor: int

    def __post_init__(self) -> None:
        self.postgis = self.sql.dialect == "postgis"
        self.grid = _Grid.of(self.tile)
        self.fields = [f for f in self.spec.fields if f.public]
        # DuckDB's ST_AsMVT over no rows still writes a layer, hence its count(*) guard;
        # PostGIS's gives empty bytes, and the guard only costs an aggregate.
        guard = "" if self.postgis else "CASE WHEN count(*) > 0 THEN "
        self.sql.add(f"coalesce((SELECT {guard}ST_AsMVT(")
        self.mark = len(self.sql.parts)  # the MVT's row expression goes here, at the end
        self.sql.add(") FROM (" if self.postgis else ") END FROM (")

    @property
    def projected(self) -> str:
        if self.tile.tms == "WorldCRS84Quad":
            return "geom"
        if self.postgis:
            return "ST_Transform(geom, 3857)"
        return "ST_Transform(geom, 'EPSG:4326', 'EPSG:3857', always_xy := true)"

    def value(self, f: Field) -> str:
        return mvt_value(f, self.sql.dialect)

    def mvt_geom(self, geom: str) -> None:
        self.sql.add(f"ST_AsMVTGeom({geom}, {_bounds(self.sql, self.tile)}, {EXTENT}, "
                     f"{BUFFER}, true) AS geom", *_bound_values(self.tile))  # fmt: skip

    def source(self, extra: str, columns: Sequence[Field] = ()) -> None:
        """FROM the layer rows near the tile: their fid, ``columns`` and ``extra``
        computed columns (not ``*``: a wide row costs at every zoom)."""
        cols = "".join(f"{self.sql.ident(f.name)}, " for f in columns)
        self.sql.add(f" FROM (SELECT fid, {cols}{extra} FROM {self.sql.ident(self.spec.name)} ")
        _where(self.sql, self.tile, self.where)
        self.sql.add(") s")

    def simplified(self) -> str:
        if self.spec.geometry_type == "Point":
            return "g"
        tolerance = float(self.spec.tiles.simplify_px * self.factor * self.grid.pixel)
        return f"ST_SimplifyPreserveTopology(g, {tolerance!r})"

    def in_tile(self, x: str, y: str) -> None:
        """Half-open tile cells: a point (or centroid) counts in exactly one tile."""
        g = self.grid
        self.sql.add(f"floor(({x} - {{}}) / {{}}) = {{}} AND floor(({{}} - {y}) / {{}}) = {{}}",
                     g.origin_x, g.size, self.tile.x, g.origin_y, g.size, self.tile.y)  # fmt: skip

    def cell(self, x: str, y: str, cell: float) -> None:
        g = self.grid
        self.sql.add(f"floor(({x} - {{}}) / {{}}), floor(({{}} - {y}) / {{}})",
                     g.origin_x, cell, g.origin_y, cell)  # fmt: skip

    def category(self) -> Field | None:
        name = self.spec.style.category_field
        return None if name is None else self.spec.field(name)

    def features(self) -> list[str]:
        """Every feature with its public attributes and id."""
        props = "".join(f", {self.value(f)} AS {self.sql.ident(f.name)}" for f in self.fields)
        self.sql.add(f"SELECT fid{props}, ")
        self.mvt_geom(self.simplified())
        self.source(f"{self.projected} AS g", self.fields)
        return ["fid", *(f.name for f in self.fields)]

    def clusters(self, cell_px: int) -> list[str]:
        """Points as clusters: one feature per ``cell_px`` grid cell (and category value)
        at the mean of its points, with ``point_count``. A point counts in the one tile
        that holds it, never in a neighbour's buffer, so the counts of all tiles at a zoom
        add up to the layer's (or the filter's) total."""
        cat = self.category()
        cat_col = f", {self.value(cat)} AS {self.sql.ident(cat.name)}" if cat else ""
        point = "ST_MakePoint" if self.postgis else "ST_Point"
        self.sql.add(f"SELECT count(*) AS point_count{cat_col}, ")
        self.mvt_geom(f"{point}(avg(gx), avg(gy))")
        self.source(f"ST_X({self.projected}) AS gx, ST_Y({self.projected}) AS gy",
                    [cat] if cat else ())  # fmt: skip
        self.sql.add(" WHERE ")
        self.in_tile("gx", "gy")
        self.sql.add(" GROUP BY ")
        self.cell("gx", "gy", self.grid.size * cell_px / 256)
        if cat is not None:
            self.sql.add(f", {self.value(cat)}")
        return ["point_count", *([cat.name] if cat else [])]

    def polygons_merged(self) -> list[str]:
        """Polygons of at least min_area_px square pixels as they are; smaller ones
        merged per cluster_px cell (and category value) into one square of their total
        area at their area-weighted centre, with ``feature_count`` (as tippecanoe keeps
        the area of tiny polygons): a zone made of many small parts stays visible at low
        zoom with about the right extent, and each small polygon counts in one tile."""
        rules = self.spec.tiles
        min_area = float(rules.min_area_px * self.factor * self.grid.pixel**2)
        cell = self.grid.size * min(rules.cluster_px * self.factor, 256) / 256
        cat = self.category()
        names = ["fid", *(f.name for f in self.fields), "feature_count"]
        props = "".join(f", {self.value(f)} AS {self.sql.ident(f.name)}" for f in self.fields)
        self.sql.add(f"SELECT fid{props}, NULL AS feature_count, ")
        self.mvt_geom(self.simplified())
        self.source(f"{self.projected} AS g", self.fields)
        self.sql.add(" WHERE ST_Area(g) >= {}", min_area)
        nulls = "".join(
            f", {'cat_' if cat is not None and f.name == cat.name else 'NULL'} "
            f"AS {self.sql.ident(f.name)}"
            for f in self.fields
        )
        self.sql.add(f" UNION ALL SELECT NULL AS fid{nulls}, n AS feature_count, ")
        envelope = "ST_MakeEnvelope(mx - h, my - h, mx + h, my + h)"
        self.mvt_geom(envelope)
        cat_col = f"{self.value(cat)} AS cat_, " if cat else ""
        self.sql.add(
            f" FROM (SELECT {cat_col}count(*) AS n, sum(a * cx) / sum(a) AS mx, "
            "sum(a * cy) / sum(a) AS my, sqrt(sum(a)) / 2 AS h FROM (SELECT *, "
            "ST_X(ST_Centroid(g)) AS cx, ST_Y(ST_Centroid(g)) AS cy FROM ("
            f"SELECT *, ST_Area(g) AS a FROM (SELECT *, {self.projected} AS g "
            f"FROM {self.sql.ident(self.spec.name)} "
        )
        _where(self.sql, self.tile, self.where)
        self.sql.add(") s WHERE ST_Area(g) < {}) s2 WHERE a > 0) s3 WHERE ", min_area)
        self.in_tile("cx", "cy")
        self.sql.add(" GROUP BY ")
        self.cell("cx", "cy", cell)
        if cat is not None:
            self.sql.add(f", {self.value(cat)}")
        self.sql.add(" HAVING sum(a) >= {}) m", min_area)
        return names

    def from_overview(self, read: ov.Read) -> list[str]:
        """The generalised rows read from the layer's overview (gis.store.overviews):
        the same clusters, merged squares and simplified shapes the row builders above
        compute, prepared at load time, so a low-zoom tile reads a few indexed rows."""
        k = read.cells_per_tile
        x0, y0 = self.tile.x * k, self.tile.y * k
        cells = self.sql.ident(ov.cells_table(self.spec))
        in_tile = " AND cx BETWEEN {} AND {} AND cy BETWEEN {} AND {}"
        cat = self.category()
        if self.spec.geometry_type == "Point":
            cat_col = f", cat AS {self.sql.ident(cat.name)}" if cat else ""
            point = "ST_MakePoint" if self.postgis else "ST_Point"
            self.sql.add(f"SELECT n AS point_count{cat_col}, ")
            self.mvt_geom(f"{point}(sx / n, sy / n)")
            self.sql.add(f" FROM {cells} WHERE z = {int(read.cells_z)}" + in_tile,
                         x0, x0 + k - 1, y0, y0 + k - 1)  # fmt: skip
            return ["point_count", *([cat.name] if cat else [])]
        props = "".join(f", {self.sql.ident(f.name)}" for f in self.fields)
        polygons = self.spec.geometry_type == "MultiPolygon"
        self.sql.add(f"SELECT fid{props}{', NULL AS feature_count' if polygons else ''}, ")
        self.mvt_geom("geom")
        self.sql.add(f" FROM {self.sql.ident(ov.geoms_table(self.spec))} "
                     f"WHERE (z = {int(read.geoms_z)} OR "
                     f"{ov.every_zoom_filter(self.spec, read.geoms_z)}) AND ")  # fmt: skip
        self.near_tile()
        if not polygons:
            return ["fid", *(f.name for f in self.fields)]
        min_area = float(self.spec.tiles.min_area_px * self.factor * self.grid.pixel**2)
        self.sql.add(" AND a >= {}", min_area)
        nulls = "".join(
            f", {'cat' if cat is not None and f.name == cat.name else 'NULL'} "
            f"AS {self.sql.ident(f.name)}"
            for f in self.fields
        )
        self.sql.add(f" UNION ALL SELECT NULL AS fid{nulls}, n AS feature_count, ")
        self.mvt_geom("ST_MakeEnvelope(mx - h, my - h, mx + h, my + h)")
        self.sql.add(f" FROM {cells} WHERE z = {int(read.cells_z)} AND t = {int(read.area_z)}"
                     + in_tile, x0, x0 + k - 1, y0, y0 + k - 1)  # fmt: skip
        return ["fid", *(f.name for f in self.fields), "feature_count"]

    def near_tile(self) -> None:
        """Overview geometries (EPSG:3857) whose box meets the tile and its buffer (a
        hair more: ST_AsMVTGeom clips the rest away)."""
        g, pad = self.grid, (BUFFER + 1) / EXTENT
        west, east = (
            g.origin_x + (self.tile.x - pad) * g.size,
            g.origin_x + (self.tile.x + 1 + pad) * g.size,
        )
        north, south = (
            g.origin_y - (self.tile.y - pad) * g.size,
            g.origin_y - (self.tile.y + 1 + pad) * g.size,
        )
        if self.postgis:
            self.sql.add("geom && ST_MakeEnvelope({}, {}, {}, {}, 3857)", west, south, east, north)
        else:
            self.sql.add("xmax >= {} AND xmin <= {} AND ymax >= {} AND ymin <= {}",
                         west, east, south, north)  # fmt: skip

    def finish(self, columns: list[str]) -> None:
        """Close the rows and put the MVT's row expression (and id column) in place."""
        empty = "''::bytea" if self.postgis else "''::BLOB"
        self.sql.add(f") t WHERE geom IS NOT NULL), {empty})")
        has_id = columns[0] == "fid"
        if self.postgis:
            row = "t"
        else:
            keys = ", ".join(f"'{c}': t.{self.sql.ident(c)}" for c in columns)
            row = f"{{{keys}, 'geom': t.geom}}"
        id_arg = ", 'fid'" if has_id else ""
        self.sql.parts.insert(self.mark, f"{row}, '{self.spec.name}', {EXTENT}, 'geom'{id_arg}")


def _where(sql: Sql, tile: TileRequest, where: CompiledSql | None) -> None:
    """The layer rows near the tile (the buffered envelope, index-backed), filtered."""
    sql.add(
        "WHERE ST_Intersects(geom, ST_MakeEnvelope({}, {}, {}, {}"
        + (", 4326))" if sql.dialect == "postgis" else "))"),
        *tile.lonlat_bounds(BUFFER),
    )
    if where is not None:  # compiled for this dialect, placeholders included
        sql.parts.append(f" AND ({where[0]})")
        sql.params.extend(where[1])


def _bounds(sql: Sql, tile: TileRequest) -> str:
    """ST_AsMVTGeom's bounds: the tile in its projected units (values bound in order)."""
    crs84 = tile.tms == "WorldCRS84Quad"
    if sql.dialect == "postgis":
        return (
            "ST_MakeEnvelope({}, {}, {}, {}, 4326)::box2d"
            if crs84
            else "ST_TileEnvelope({}, {}, {})"
        )
    if crs84:
        return "ST_Extent(ST_MakeEnvelope({}, {}, {}, {}))"
    return "ST_Extent(ST_TileEnvelope({}, {}, {}))"


def _bound_values(tile: TileRequest) -> tuple[object, ...]:
    return tile.lonlat_bounds() if tile.tms == "WorldCRS84Quad" else (tile.z, tile.x, tile.y)


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
