"""Tile overviews: the low-zoom generalisation of a layer, prepared once per layer version
(as tippecanoe does at build time) instead of for every cold tile.

Below a layer's ``detail_zoom`` a tile shows clusters of points, merged squares of small
polygons and simplified lines and polygons (gis.query.tiles). Computing them on the fly
means reading every row under a low-zoom tile (a million points for a z8 tile of the bench
data): seconds per tile. An overview holds exactly what that SQL computes, per zoom:

- ``{layer}__ovc`` (cells): for points, per zoom ``z`` and 16-px cell ``(cx, cy)`` of the
  tile matrix and category value, the count and the coordinate sums (EPSG:3857) of its
  points; for polygons, per zoom, minimum-area zoom ``t`` and cell, the merged square of
  the small polygons (count, area-weighted centre, half side), already held to the
  minimum area.
- ``{layer}__ovg`` (geometries, polygons and lines): per zoom, each line, and each polygon
  big enough to be drawn as itself at that zoom or one coarsening step up, simplified at
  the zoom's tolerance, in EPSG:3857, with its public attributes (already as tile values)
  and its area; a shape no stored tolerance changes is stored once (``EVERY_ZOOM``).

A tile then reads a few index-backed rows: one statement per tile, like before. Point
cells are built from the finest zoom down, each level from the next finer one (counts and
sums add up exactly); polygon cells come from one pass that computes each polygon's
area and centroid once.

The same cells serve the size budget's coarser re-renders (gis.tiles.render): a cell of
64 px at zoom z is a cell of 16 px at z-2, a tolerance 4x coarser is zoom z-2's and a
minimum area 4x larger is zoom z-1's (points: every step; polygons and lines: one). A
render the overview cannot answer exactly (a CQL2 filter, the CRS84 tile matrix set,
a step beyond the levels built, a layer loaded before overviews existed or built for
other tile rules) takes the on-the-fly path: slower, never different.

The overview is built by the store inside the load's transaction, from the rows being
made visible, and swapped in with them (gis.store.postgis / gis.store.embedded), so no
reader combines a layer version with another version's overview. Its table comment holds
``overview_key(spec)``: a spec with other tile rules does not use it.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator
from dataclasses import dataclass

from gis.store.ddl import Dialect, column_type, mvt_value, quote
from layers.spec import Field, LayerSpec

#: Bump when the overview tables' layout or meaning changes: old overviews are then
#: ignored (their key no longer matches) until the next load rebuilds them.
FORMAT = 2
WEB_MERCATOR_HALF = 20037508.342789244
#: Each coarsening step multiplies tolerance, minimum area and cluster cell by this
#: (the same constant as gis.query.tiles.COARSEN_FACTOR).
COARSEN_FACTOR = 4
#: Polygon and line geometries are kept for the first render and one coarser step: a
#: polygon drawn as itself at step s must be stored at zoom z-2s, and the levels hold the
#: polygons of at least the next zoom's minimum area, which covers s <= 1.
MAX_GEOMETRY_STEP = 1
#: Point clusters are also kept for this many zooms from the detail zoom on, for the
#: coarser re-render of a tile over budget there (a z14 or z15 tile with tens of
#: thousands of points is clustered at its first coarser step).
POINT_ZOOMS = 2
#: The zoom of geometries that no stored tolerance simplifies: one row serves every zoom.
#: Simplification (ST_SimplifyPreserveTopology: Douglas-Peucker with topology checks) only
#: drops vertices, and a vertex kept at a tolerance is kept at any smaller one; so a shape
#: the coarsest stored tolerance leaves whole (as many points) is whole at every finer
#: zoom, and is stored once instead of once per zoom (most small zones are).
EVERY_ZOOM = -1


def cells_table(spec: LayerSpec) -> str:
    return f"{spec.name}__ovc"


def geoms_table(spec: LayerSpec) -> str:
    return f"{spec.name}__ovg"


def overview_key(spec: LayerSpec) -> str:
    """What the overview's content depends on: tile rules, zooms, geometry type and the
    public fields (their values are stored). Recorded with the overview and compared
    before it is read."""
    rules = spec.tiles
    fields = tuple((f.name, f.type) for f in spec.fields if f.public)
    text = repr((FORMAT, spec.geometry_type, spec.min_zoom, spec.max_zoom, rules.simplify_px,
                 rules.min_area_px, rules.cluster_px, rules.detail_zoom, rules.coarsen_steps,
                 fields, spec.style.category_field))  # fmt: skip
    return f"ov{FORMAT}-" + hashlib.sha256(text.encode()).hexdigest()[:16]


def tile_size(z: int) -> float:
    """A WebMercatorQuad tile's width in metres (exact powers of two apart per zoom, so
    values derived from it match gis.query.tiles' bit for bit)."""
    return 2 * WEB_MERCATOR_HALF / 2**z


def pixel(z: int) -> float:
    return tile_size(z) / 256


@dataclass(frozen=True)
class Read:
    """Where a tile render at (zoom, step) finds its generalisation in the overview."""

    #: zoom of the cells (16-px cells at cells_z are the render's cluster cells)
    cells_z: int
    #: zoom whose minimum area the render applies (polygon cells are built per (z, t))
    area_z: int
    #: zoom whose tolerance the render applies (geometries are stored per zoom)
    geoms_z: int
    #: cells per tile side at the render's zoom
    cells_per_tile: int


def _read_at(spec: LayerSpec, z: int, step: int) -> Read | None:
    """The levels a render at (zoom, coarsening step) needs (gis.query.tiles._layer's
    rule: from the detail zoom on, step 1 applies the low-zoom rules as they are)."""
    rules = spec.tiles
    if z < rules.detail_zoom:
        level = step
    elif spec.geometry_type == "Point" and step >= 1 and z < rules.detail_zoom + POINT_ZOOMS:
        level = step - 1
    else:
        return None
    cell_px = min(rules.cluster_px * COARSEN_FACTOR**level, 256)
    cells_z = z - int(math.log2(cell_px // rules.cluster_px))
    read = Read(cells_z, z - level, z - 2 * level, 256 // cell_px)
    if min(read.cells_z, read.area_z, read.geoms_z) < 0:
        return None
    if spec.geometry_type != "Point" and level > MAX_GEOMETRY_STEP:
        return None
    return read


def _renders(spec: LayerSpec) -> Iterator[Read]:
    """Every render an overview answers: the layer's zooms below detail_zoom, each step,
    and for points the coarser re-renders of the first zooms from the detail zoom on."""
    extra = POINT_ZOOMS if spec.geometry_type == "Point" else 0
    last = min(spec.tiles.detail_zoom + extra, spec.max_zoom + 1)
    for z in range(spec.min_zoom, last):
        for step in range(spec.tiles.coarsen_steps + 1):
            if (read := _read_at(spec, z, step)) is not None:
                yield read


def overview_read(spec: LayerSpec, z: int, step: int) -> Read | None:
    """The overview levels a render reads, or None when the overview cannot answer it."""
    read = _read_at(spec, z, step)
    if read is None or spec.min_zoom > z or z > spec.max_zoom:
        return None
    return read


def cell_levels(spec: LayerSpec) -> list[tuple[int, int]]:
    """(cells zoom, minimum-area zoom) pairs to build, finest first. Points ignore the
    area zoom (their cells are per zoom only)."""
    if spec.geometry_type == "MultiLineString":
        return []
    if spec.geometry_type == "Point":
        pairs = {(r.cells_z, r.cells_z) for r in _renders(spec)}
    else:
        pairs = {(r.cells_z, r.area_z) for r in _renders(spec)}
    return sorted(pairs, reverse=True)


def geom_levels(spec: LayerSpec) -> list[int]:
    if spec.geometry_type == "Point":
        return []
    return sorted({r.geoms_z for r in _renders(spec)}, reverse=True)


def has_overview(spec: LayerSpec) -> bool:
    return bool(cell_levels(spec) or geom_levels(spec))


def min_area(spec: LayerSpec, z: int) -> float:
    """The minimum area of a polygon drawn as itself at zoom z, in square metres (the
    same float gis.query.tiles computes at any step that maps to z)."""
    return float(spec.tiles.min_area_px * pixel(z) ** 2)


def tolerance(spec: LayerSpec, z: int) -> float:
    return float(spec.tiles.simplify_px * pixel(z))


# -- building ---------------------------------------------------------------------------


def _category(spec: LayerSpec) -> Field | None:
    name = spec.style.category_field
    return None if name is None else spec.field(name)


def _projected(dialect: Dialect) -> str:
    if dialect == "postgis":
        return "ST_Transform(geom, 3857)"
    return "ST_Transform(geom, 'EPSG:4326', 'EPSG:3857', always_xy := true)"


def _int(dialect: Dialect) -> str:
    return "bigint" if dialect == "postgis" else "BIGINT"


def build_sql(spec: LayerSpec, source: str, cells: str, geoms: str, dialect: Dialect) -> list[str]:
    """The statements that build the overview of ``source`` (the layer's rows being
    loaded) into the tables ``cells`` and ``geoms`` (which must not exist). Only spec
    identifiers and numbers computed here reach the text."""
    q = quote
    big = _int(dialect)
    cat = _category(spec)
    cat_expr = mvt_value(cat, dialect) if cat is not None else "NULL"
    cat_type = "" if cat is not None else ("::text" if dialect == "postgis" else "::VARCHAR")
    cat_col = _cat_column(cat, dialect)
    out: list[str] = []
    if spec.geometry_type == "Point":
        out += _point_cells(spec, source, cells, dialect, f"{cat_expr}{cat_type}", cat_col)
        return out
    # One pass over the layer: each row's projected geometry, area and centroid, and
    # whether the coarsest simplification stored leaves it as it is (then every finer
    # one does too: see EVERY_ZOOM).
    levels = geom_levels(spec)
    coarsest = (
        f", ST_SimplifyPreserveTopology(g, {tolerance(spec, levels[-1])!r}) AS s" if levels else ""
    )
    tmp = f"{spec.name}__ovt"
    props = "".join(f", {mvt_value(f, dialect)} AS {q(f.name)}" for f in spec.fields if f.public)
    temp = "CREATE TEMP TABLE {t} ON COMMIT DROP AS" if dialect == "postgis" else (
        "CREATE OR REPLACE TEMP TABLE {t} AS")  # fmt: skip
    out.append(
        temp.format(t=q(tmp))
        + " SELECT *"
        + (", ST_NPoints(s) = ST_NPoints(g) AS whole" if levels else "")
        + f" FROM (SELECT fid{props}, {cat_expr}{cat_type} AS cat_, g, "
        "ST_Area(g) AS a, ST_X(ST_Centroid(g)) AS px, ST_Y(ST_Centroid(g)) AS py"
        f"{coarsest} FROM (SELECT *, {_projected(dialect)} AS g FROM {q(source)}) s) s2"
    )
    out.append(
        f"CREATE TABLE {q(cells)} (z integer, t integer, cx {big}, cy {big}, cat {cat_col}, "
        f"n {big}, mx double precision, my double precision, h double precision)"
        if dialect == "postgis"
        else f"CREATE TABLE {q(cells)} (z INTEGER, t INTEGER, cx BIGINT, cy BIGINT, "
        f"cat {cat_col}, n BIGINT, mx DOUBLE, my DOUBLE, h DOUBLE)"
    )
    dbl = "double precision" if dialect == "postgis" else "DOUBLE"
    pairs = cell_levels(spec) if spec.geometry_type == "MultiPolygon" else []
    if pairs:
        # The small polygons' areas and centres, narrow, then one grouping per level.
        small = f"{spec.name}__ovs"
        largest = max(min_area(spec, tz) for _, tz in pairs)
        out.append(temp.format(t=q(small)) + f" SELECT a, px, py, cat_ FROM {q(tmp)} "
                   f"WHERE a > 0 AND a < {largest!r}")  # fmt: skip
        for cz, tz in pairs:
            cell = tile_size(cz) * spec.tiles.cluster_px / 256
            area = min_area(spec, tz)
            out.append(
                f"INSERT INTO {q(cells)} SELECT {cz}, {tz}, "
                f"CAST(floor((px - {-WEB_MERCATOR_HALF!r}) / {cell!r}) AS {big}), "
                f"CAST(floor(({WEB_MERCATOR_HALF!r} - py) / {cell!r}) AS {big}), cat_, "
                "count(*), sum(a * px) / sum(a), sum(a * py) / sum(a), sqrt(sum(a)) / 2 "
                f"FROM {q(small)} WHERE a < {area!r} GROUP BY 3, 4, 5 "
                f"HAVING sum(a) >= {area!r}"
            )
        if dialect == "duckdb":
            out.append(f"DROP TABLE {q(small)}")
    cols = "".join(f", {q(f.name)}" for f in spec.fields if f.public)
    bbox = "" if dialect == "postgis" else (
        ", ST_XMin(geom) AS xmin, ST_YMin(geom) AS ymin, ST_XMax(geom) AS xmax, "
        "ST_YMax(geom) AS ymax")  # fmt: skip
    if levels:
        # One scan: each shape joins the zooms where it is drawn as itself (polygons of
        # at least the next zoom's minimum area, every line); a shape no stored tolerance
        # changes is stored once, for every zoom (EVERY_ZOOM).
        polygons = spec.geometry_type == "MultiPolygon"
        values = ", ".join(
            f"({gz}, CAST({min_area(spec, gz + 1) if polygons else -1.0!r} AS {dbl}), "
            f"CAST({tolerance(spec, gz)!r} AS {dbl}))"
            for gz in levels
        )
        select = (
            f"SELECT CASE WHEN whole THEN {EVERY_ZOOM} ELSE lv.z END AS z, fid{cols}, a, "
            f"CASE WHEN whole THEN g WHEN lv.z = {levels[-1]} THEN s "
            "ELSE ST_SimplifyPreserveTopology(g, lv.tol) END AS geom "
            f"FROM {q(tmp)} JOIN (VALUES {values}) AS lv(z, area, tol) "
            f"ON a >= lv.area AND (NOT whole OR lv.z = {levels[0]})"
        )
    else:
        select = f"SELECT 0 AS z, fid{cols}, a, g AS geom FROM {q(tmp)} WHERE false"
    # DuckDB has no partial index: rows in zoom order give each zoom its own row groups,
    # which its min/max zone maps skip.
    order = " ORDER BY z, a DESC" if dialect == "duckdb" else ""
    out.append(f"CREATE TABLE {q(geoms)} AS SELECT *{bbox} FROM ({select}) u{order}")
    if dialect == "postgis":
        if levels:
            # Three indexes, not two per zoom (each index build reads the whole table):
            # the shapes of the zooms and those for every zoom by place; and (zoom, area),
            # with which a low zoom finds its few large zones without a spatial scan.
            out.append(f"CREATE INDEX ON {q(geoms)} USING gist (geom) WHERE z >= 0")
            out.append(f"CREATE INDEX ON {q(geoms)} USING gist (geom) WHERE z = {EVERY_ZOOM}")
            out.append(f"CREATE INDEX ON {q(geoms)} (z, a)")
        out.append(f"CREATE INDEX ON {q(cells)} (z, t, cx, cy)")
    else:
        out.append(f"DROP TABLE {q(tmp)}")
    return out


def every_zoom_filter(spec: LayerSpec, z: int) -> str:
    """The rows stored for every zoom (EVERY_ZOOM) that zoom z's level may draw: polygons
    of at least the next zoom's minimum area (the level's own rule), all lines. Literal
    numbers, so PostgreSQL plans with them (a low zoom then reads its few large zones
    through the (z, a) index, not every zone through the spatial one)."""
    if spec.geometry_type != "MultiPolygon":
        return f"z = {EVERY_ZOOM}"
    return f"z = {EVERY_ZOOM} AND a >= {min_area(spec, z + 1)!r}"


def _cat_column(cat: Field | None, dialect: Dialect) -> str:
    """The category's column type in the cells table: the field's own, or text for
    dates and times (tiles carry them as ISO text)."""
    if cat is None or cat.type in ("date", "datetime"):
        return "text" if dialect == "postgis" else "VARCHAR"
    return column_type(cat, dialect)


def _point_cells(
    spec: LayerSpec, source: str, cells: str, dialect: Dialect, cat: str, cat_col: str
) -> list[str]:
    """Point clusters per zoom: the finest level from the rows, each coarser level from
    the one above it (a cell of zoom z-1 is four cells of zoom z; counts and sums add)."""
    q = quote
    big = _int(dialect)
    levels = [cz for cz, _ in cell_levels(spec)]
    out = [
        f"CREATE TABLE {q(cells)} (z integer, cx {big}, cy {big}, cat {cat_col}, n {big}, "
        "sx double precision, sy double precision)"
        if dialect == "postgis"
        else f"CREATE TABLE {q(cells)} (z INTEGER, cx BIGINT, cy BIGINT, cat {cat_col}, "
        "n BIGINT, sx DOUBLE, sy DOUBLE)"
    ]
    previous: int | None = None
    for cz in levels:
        cell = tile_size(cz) * spec.tiles.cluster_px / 256
        if previous == cz + 1:
            out.append(
                f"INSERT INTO {q(cells)} SELECT {cz}, CAST(floor(cx / 2.0) AS {big}), "
                f"CAST(floor(cy / 2.0) AS {big}), cat, CAST(sum(n) AS {big}), sum(sx), sum(sy) "
                f"FROM {q(cells)} WHERE z = {previous} GROUP BY 2, 3, 4"
            )
        else:
            out.append(
                f"INSERT INTO {q(cells)} SELECT {cz}, "
                f"CAST(floor((gx - {-WEB_MERCATOR_HALF!r}) / {cell!r}) AS {big}), "
                f"CAST(floor(({WEB_MERCATOR_HALF!r} - gy) / {cell!r}) AS {big}), cat, "
                "count(*), sum(gx), sum(gy) FROM (SELECT ST_X(g) AS gx, ST_Y(g) AS gy, cat "
                f"FROM (SELECT {_projected(dialect)} AS g, {cat} AS cat FROM {q(source)}) s) s2 "
                "GROUP BY 2, 3, 4"
            )
        previous = cz
    if dialect == "postgis":
        out.append(f"CREATE INDEX ON {q(cells)} (z, cx, cy)")
    return out
