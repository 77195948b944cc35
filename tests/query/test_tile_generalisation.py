"""Per-zoom generalisation of vector tiles on both stores, decoded with mapbox-vector-tile:
points cluster below the detail zoom with point_count totals that add up, small polygons
drop out at low zoom and come back at high zoom, simplification keeps outlines where they
belong, and on dense data no tile in a z5..15 grid exceeds its layer's byte budget."""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import mapbox_vector_tile
import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely

from conftest import make_store
from gis.ingest.clean import Cleaner, CleanOptions
from gis.ingest.source import Chunk
from gis.query.tiles import TileRequest
from gis.store.base import IngestRun, Store
from gis.tiles.render import render_tile_checked_sync, shown_layers
from layers.catalog import FLOOD_POINTS, HAZARD_ZONES, RIVERS
from layers.spec import LayerSpec

#: The dense centre of the synthetic data (the demo city, north coast of Java).
CENTRE = (110.40, -6.97)
N_POINTS = 200_000
STATUSES = ("reported", "verified", "receded", "rejected")
#: A 2 km circle drawn with 2000 vertices, a 10 m square and a 3 km square (hazard_zones).
CIRCLE_CENTRE = (110.55, -6.90)
TINY = (110.30, -7.05, 110.30009, -7.04991)
BIG = (110.25, -7.10, 110.277, -7.073)


def _load(store: Store, spec: LayerSpec, attrs: pd.DataFrame, geoms: np.ndarray) -> None:
    options = CleanOptions(source_crs=pyproj.CRS.from_epsg(4326), id_field="kode")
    cleaned = Cleaner(spec, options).clean(Chunk(0, attrs, geoms))
    assert cleaned.rejects.empty, cleaned.rejects
    run = IngestRun(
        id=uuid.uuid4().hex, layer=spec.name, kind="vector", mode="replace",
        source_path="test", source_sha256="0" * 64, source_format="csv", source_bytes=1,
        run_by="pytest",
    )  # fmt: skip
    with store.load(spec, run) as writer:
        writer.write(cleaned.rows, cleaned.geometry)
        run.status = "succeeded"
        writer.commit(run)


def _circle(lon: float, lat: float, radius_m: float, n: int) -> shapely.Polygon:
    angles = np.linspace(0, 2 * math.pi, n, endpoint=False)
    dlat = radius_m / 111_320.0
    dlon = dlat / math.cos(math.radians(lat))
    return shapely.Polygon(np.c_[lon + dlon * np.cos(angles), lat + dlat * np.sin(angles)])


def load_dense(store: Store) -> dict[str, Any]:
    """200k flood points (most within ~1 km of CENTRE, all in one z8 tile), 3000 small
    hazard polygons around it plus the circle, tiny and big squares; a wiggly river."""
    rng = np.random.default_rng(8)
    dense = N_POINTS * 3 // 4
    lon = np.r_[rng.normal(CENTRE[0], 0.01, dense), rng.uniform(110.1, 110.7, N_POINTS - dense)]
    lat = np.r_[rng.normal(CENTRE[1], 0.01, dense), rng.uniform(-7.2, -6.8, N_POINTS - dense)]
    status = rng.choice(STATUSES, N_POINTS)
    attrs = pd.DataFrame({
        "kode": [f"P{i}" for i in range(N_POINTS)],
        "depth_cm": rng.integers(0, 300, N_POINTS).astype(str),
        "observed_at": "2024-01-10T08:00:00Z",
        "status": status,
    })  # fmt: skip
    _load(store, FLOOD_POINTS, attrs, shapely.points(lon, lat))

    n = 3000
    cx, cy = rng.normal(CENTRE[0], 0.03, n), rng.normal(CENTRE[1], 0.03, n)
    half = rng.uniform(0.0002, 0.002, n)  # 20..200 m half-widths
    boxes = list(shapely.box(cx - half, cy - half, cx + half, cy + half))
    boxes += [_circle(*CIRCLE_CENTRE, 2000.0, 2000), shapely.box(*TINY), shapely.box(*BIG)]
    kinds = ["flood"] * n + ["tsunami", "landslide", "fire"]
    attrs = pd.DataFrame({
        "kode": [f"H{i}" for i in range(len(boxes))],
        "hazard_type": kinds,
        "hazard_class": rng.choice(["low", "medium", "high"], len(boxes)),
    })  # fmt: skip
    _load(store, HAZARD_ZONES, attrs, np.array(boxes, dtype=object))

    t = np.linspace(0, 1, 5000)
    river = shapely.LineString(np.c_[110.1 + 0.6 * t, -7.0 + 0.02 * np.sin(t * 60)])
    attrs = pd.DataFrame({"kode": ["R1"], "name": ["Kali DEMO"], "river_class": ["main"]})
    _load(store, RIVERS, attrs, np.array([shapely.MultiLineString([river])], dtype=object))
    return {"status": status}


@pytest.fixture(
    scope="module", params=["embedded", pytest.param("postgis", marks=pytest.mark.postgis)]
)
def dense(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Store, dict[str, Any]]]:
    """One store of each kind with the dense data, shared by the module (read only)."""
    store = make_store(str(request.param), tmp_path_factory.mktemp("tiles"), request)
    try:
        yield store, load_dense(store)
    finally:
        store.close()


def tile_xy(lon: float, lat: float, z: int) -> tuple[float, float]:
    """Fractional WebMercatorQuad column and row of a point."""
    n = 2**z
    fy = (1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n
    return (lon + 180.0) / 360.0 * n, fy


def render(store: Store, specs: list[LayerSpec], z: int, x: int, y: int) -> dict[str, Any]:
    versions = store.layer_versions([s.name for s in specs])
    shown = shown_layers(specs, versions, z)
    tile = render_tile_checked_sync(store, shown, TileRequest(z, x, y))
    assert tile.over_budget == ()
    return mapbox_vector_tile.decode(tile.data) if tile.data else {}


def tiles_over(
    z: int, west: float, south: float, east: float, north: float
) -> Iterator[tuple[int, int]]:
    x0, y0 = (int(v) for v in tile_xy(west, north, z))
    x1, y1 = (int(v) for v in tile_xy(east, south, z))
    for x in range(x0, x1 + 1):
        for y in range(y0, y1 + 1):
            yield x, y


@pytest.mark.parametrize("z", [8, 11])
def test_point_clusters_add_up_to_every_point(dense: tuple[Store, dict[str, Any]], z: int) -> None:
    store, data = dense
    totals: dict[str, int] = dict.fromkeys(STATUSES, 0)
    features = 0
    for x, y in tiles_over(z, 110.0, -7.3, 110.8, -6.7):
        layer = render(store, [FLOOD_POINTS], z, x, y).get("flood_points")
        if layer is None:
            continue
        for f in layer["features"]:
            assert set(f["properties"]) == {"point_count", "status"}
            assert f["geometry"]["type"] == "Point"
            totals[f["properties"]["status"]] += f["properties"]["point_count"]
            features += 1
    expected = {s: int((data["status"] == s).sum()) for s in STATUSES}
    assert totals == expected
    assert features < N_POINTS / 20  # thinned: far fewer features than points


def test_clusters_sit_where_their_points_are(dense: tuple[Store, dict[str, Any]]) -> None:
    """At z11 the densest cell's cluster lies within a cell (16 px) of the dense centre."""
    store, _ = dense
    fx, fy = tile_xy(*CENTRE, 11)
    layer = render(store, [FLOOD_POINTS], 11, int(fx), int(fy))["flood_points"]
    biggest = max(layer["features"], key=lambda f: f["properties"]["point_count"])
    gx, gy = biggest["geometry"]["coordinates"]
    px, py = (fx - int(fx)) * 4096, (1 - (fy - int(fy))) * 4096
    assert math.hypot(gx - px, gy - py) < 16 * 16  # 16 px of 256 = 256 extent units


def test_points_are_exact_at_the_detail_zoom(dense: tuple[Store, dict[str, Any]]) -> None:
    """At z14, in a sparse corner, every point is a feature with its attributes."""
    store, _ = dense
    fx, fy = tile_xy(110.65, -6.85, 14)
    layer = render(store, [FLOOD_POINTS], 14, int(fx), int(fy))["flood_points"]
    assert layer["features"]
    for f in layer["features"]:
        assert "point_count" not in f["properties"]
        assert f["properties"]["status"] in STATUSES and isinstance(f["id"], int)


def _zones_at(store: Store, lon: float, lat: float, z: int) -> list[dict[str, Any]]:
    fx, fy = tile_xy(lon, lat, z)
    layer = render(store, [HAZARD_ZONES], z, int(fx), int(fy)).get("hazard_zones")
    return list(layer["features"]) if layer else []


def _fids_at(store: Store, lon: float, lat: float, z: int) -> dict[str, Any]:
    """The zones drawn as themselves (not merged), by hazard type."""
    zones = _zones_at(store, lon, lat, z)
    return {f["properties"]["hazard_type"]: f for f in zones if "hazard_type" in f["properties"]}


def test_small_polygons_merge_at_low_zoom_and_return(dense: tuple[Store, dict[str, Any]]) -> None:
    store, _ = dense
    for z in (8, 10, 12):  # 10 m square: far below 2 square pixels
        found = _fids_at(store, TINY[0], TINY[1], z)
        assert "landslide" not in found and "fire" in found, z  # the 3 km one stays
    assert "landslide" in _fids_at(store, TINY[0], TINY[1], 16)
    assert "landslide" in _fids_at(store, TINY[0], TINY[1], 14)  # detail zoom: everything


def test_merged_small_polygons_keep_count_and_class(dense: tuple[Store, dict[str, Any]]) -> None:
    """At z10 the 20-200 m zones are merged per cell and class: merged features carry
    only hazard_class and feature_count, and with the zones drawn as themselves they
    account for (nearly) every zone, each once (groups under 2 px in total are left out)."""
    store, _ = dense
    z = 10
    exact: set[int] = set()
    merged = 0
    for x, y in tiles_over(z, 110.0, -7.3, 110.8, -6.7):
        layer = render(store, [HAZARD_ZONES], z, x, y).get("hazard_zones")
        for f in layer["features"] if layer else []:
            if "feature_count" in f["properties"]:
                assert set(f["properties"]) == {"feature_count", "hazard_class"}
                assert f["geometry"]["type"] == "Polygon"
                merged += f["properties"]["feature_count"]
            else:
                exact.add(f["id"])
    total = 3003
    assert merged > 1000 and exact
    assert 0.95 * total <= merged + len(exact) <= total


def test_simplification_keeps_the_outline_in_place(dense: tuple[Store, dict[str, Any]]) -> None:
    """The 2000-vertex circle at z10 has few vertices, each within a pixel of the circle."""
    store, _ = dense
    z = 10
    circle = _fids_at(store, *CIRCLE_CENTRE, z)["tsunami"]
    geometry = circle["geometry"]
    rings = geometry["coordinates"] if geometry["type"] == "Polygon" else geometry["coordinates"][0]
    ring = rings[0]
    assert 8 <= len(ring) < 200
    fx, fy = tile_xy(*CIRCLE_CENTRE, z)
    cx, cy = (fx - int(fx)) * 4096, (1 - (fy - int(fy))) * 4096
    ex, _ = tile_xy(CIRCLE_CENTRE[0] + 2000.0 / 111_320.0 / math.cos(math.radians(-6.9)), -6.9, z)
    radius = (ex - fx) * 4096
    pixel = 4096 / 256
    for vx, vy in ring:
        assert abs(math.hypot(vx - cx, vy - cy) - radius) <= pixel


def test_river_lines_are_simplified_not_moved(dense: tuple[Store, dict[str, Any]]) -> None:
    store, _ = dense
    z = 8
    fx, fy = tile_xy(110.4, -7.0, z)
    layer = render(store, [RIVERS], z, int(fx), int(fy))["rivers"]
    geometry = layer["features"][0]["geometry"]
    lines = (
        [geometry["coordinates"]] if geometry["type"] == "LineString" else geometry["coordinates"]
    )
    vertices = [v for line in lines for v in line]
    assert 10 < len(vertices) < 1000  # 5000 in the data
    for vx, vy in vertices:  # on the sine: y within a pixel (+ grid) of the curve
        lon = (int(fx) + vx / 4096) / 2**z * 360.0 - 180.0
        t = (lon - 110.1) / 0.6
        _, ry = tile_xy(lon, -7.0 + 0.02 * math.sin(t * 60), z)
        assert abs((1 - (ry - int(fy))) * 4096 - vy) <= 4096 / 256 * 1.5


def test_no_tile_exceeds_the_budget(dense: tuple[Store, dict[str, Any]]) -> None:
    """A 3x3 window around the dense centre at every zoom 5..15, all layers: within
    budget, with coarsening doing its job where the points pile up."""
    store, _ = dense
    specs = [HAZARD_ZONES, RIVERS, FLOOD_POINTS]
    versions = store.layer_versions([s.name for s in specs])
    budget = min(s.tiles.budget_bytes for s in specs)
    largest = 0
    for z in range(5, 16):
        fx, fy = tile_xy(*CENTRE, z)
        for dx in (-1, 0, 1):
            for dy in (-1, 0, 1):
                tile = TileRequest(z, int(fx) + dx, int(fy) + dy)
                shown = shown_layers(specs, versions, z)
                for spec in shown:
                    rendered = render_tile_checked_sync(store, [spec], tile)
                    assert rendered.over_budget == ()
                    assert len(rendered.data) <= spec.tiles.budget_bytes, (spec.name, tile)
                    largest = max(largest, len(rendered.data))
    assert largest > budget / 100  # the data is dense enough for the test to mean something
    # At z14 (the detail zoom) the centre tile holds ~100k points: too many for the budget,
    # so it is served clustered (coarsened), while a sparse tile stays exact.
    fx, fy = tile_xy(*CENTRE, 14)
    layer = render(store, [FLOOD_POINTS], 14, int(fx), int(fy))["flood_points"]
    assert all("point_count" in f["properties"] for f in layer["features"])


def test_over_budget_tiles_coarsen_then_say_so(dense: tuple[Store, dict[str, Any]]) -> None:
    """A budget the exact tile breaks is met by coarser clusters; a budget no step can
    meet gives the coarsest tile, whole, named in over_budget (never a silent cut)."""
    store, _ = dense
    fx, fy = tile_xy(*CENTRE, 11)
    tile = TileRequest(11, int(fx), int(fy))
    normal = render_tile_checked_sync(store, [FLOOD_POINTS], tile)
    assert normal.over_budget == () and len(normal.data) > 4000
    tight = replace(FLOOD_POINTS, tiles=replace(FLOOD_POINTS.tiles, budget_bytes=4000))
    coarser = render_tile_checked_sync(store, [tight], tile)
    assert coarser.over_budget == () and 0 < len(coarser.data) <= 4000
    layer = mapbox_vector_tile.decode(coarser.data)["flood_points"]
    assert len(layer["features"]) < len(
        mapbox_vector_tile.decode(normal.data)["flood_points"]["features"]
    )
    impossible = replace(FLOOD_POINTS, tiles=replace(FLOOD_POINTS.tiles, budget_bytes=10))
    served = render_tile_checked_sync(store, [impossible, HAZARD_ZONES], tile)
    assert served.over_budget == ("flood_points",)
    decoded = mapbox_vector_tile.decode(served.data)
    assert decoded["flood_points"]["features"] and "hazard_zones" in decoded
