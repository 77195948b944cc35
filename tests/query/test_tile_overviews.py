"""Tile overviews (gis.store.overviews) give, tile by tile, the very tiles the on-the-fly
generalisation gives: same clusters and counts, same positions, same merged squares, same
simplified polygons and lines; on both stores, at every zoom, also on the coarser
re-renders of the size budget. And they are never used where they could be wrong: after
a load without them, for another spec's rules, with a CQL2 filter."""

from __future__ import annotations

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
from test_tile_generalisation import CENTRE, load_dense, tile_xy

from conftest import make_store
from gis.ingest.clean import Chunk, Cleaner, CleanOptions
from gis.query.features import _value
from gis.query.sqlparts import Sql
from gis.query.tiles import TileRequest, tile_layers_sql
from gis.store.base import IngestRun, Store
from gis.store.ddl import mvt_value
from gis.store.overviews import build_sql, overview_key
from gis.tiles.render import render_tile_checked_sync, shown_layers
from layers.catalog import FLOOD_POINTS, HAZARD_ZONES, RIVERS
from layers.spec import LayerSpec

SPECS = [HAZARD_ZONES, RIVERS, FLOOD_POINTS]


@pytest.fixture(
    scope="module", params=["embedded", pytest.param("postgis", marks=pytest.mark.postgis)]
)
def dense(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Store]:
    store = make_store(str(request.param), tmp_path_factory.mktemp("ov"), request)
    try:
        load_dense(store)
        yield store
    finally:
        store.close()


def _features(data: bytes) -> dict[str, list[tuple[Any, ...]]]:
    """Every feature of every layer, decoded, as sortable tuples (id, properties, geometry)."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    for name, layer in (mapbox_vector_tile.decode(data) if data else {}).items():
        out[name] = sorted(
            (str(f.get("id")), sorted(f["properties"].items()), repr(f["geometry"]))
            for f in layer["features"]
        )
    return out


def _both(store: Store, specs: list[LayerSpec], tile: TileRequest) -> tuple[Any, Any]:
    shown = shown_layers(specs, store.layer_versions([s.name for s in specs]), tile.z)
    fast = render_tile_checked_sync(store, shown, tile)
    slow = render_tile_checked_sync(store, shown, tile, overviews=False)
    assert fast.over_budget == slow.over_budget
    return _features(fast.data), _features(slow.data)


def _window(z: int, radius: int) -> Iterator[TileRequest]:
    fx, fy = tile_xy(*CENTRE, z)
    for dx in range(-radius, radius + 1):
        for dy in range(-radius, radius + 1):
            yield TileRequest(z, int(fx) + dx, int(fy) + dy)


def test_overviews_are_built_for_the_current_rules(dense: Store) -> None:
    keys = dense.overview_keys([s.name for s in SPECS])
    assert keys == {s.name: overview_key(s) for s in SPECS}
    sql = tile_layers_sql(SPECS, TileRequest(8, 206, 132), "postgis", overviews=set(keys))
    assert sql.text().count("__ov") == 4  # polygons: geometries and cells; lines; points


@pytest.mark.parametrize("z", range(5, 16))
def test_overview_tiles_equal_on_the_fly_tiles(dense: Store, z: int) -> None:
    """Every layer, a 5x5 window around the dense centre (a 3x3 one from z12 on)."""
    compared = 0
    for tile in _window(z, 2 if z < 12 else 1):
        fast, slow = _both(dense, SPECS, tile)
        assert fast.keys() == slow.keys(), tile
        for name in fast:
            assert fast[name] == slow[name], (tile, name)
            compared += len(fast[name])
    assert compared > 0


@pytest.mark.parametrize("budget", [4000, 20_000, 10])
def test_coarser_rerenders_equal_on_the_fly(dense: Store, budget: int) -> None:
    """A budget the first render breaks: the coarser steps read from the overview give
    the same tiles (and the same over-budget verdict) as the on-the-fly steps."""
    specs = [replace(s, tiles=replace(s.tiles, budget_bytes=budget)) for s in SPECS]
    for z in (8, 10, 11, 13):
        for tile in _window(z, 1):
            for spec in specs:
                fast, slow = _both(dense, [spec], tile)
                assert fast == slow, (tile, spec.name, budget)


def test_filtered_and_crs84_tiles_take_the_rows(dense: Store) -> None:
    keys = set(dense.overview_keys([s.name for s in SPECS]))
    where = ("status = %s", ("verified",))
    filtered = tile_layers_sql([FLOOD_POINTS], TileRequest(8, 206, 132), "postgis",
                               {"flood_points": where}, overviews=keys)  # fmt: skip
    assert "__ov" not in filtered.text()
    crs84 = tile_layers_sql(SPECS, TileRequest(8, 412, 132, "WorldCRS84Quad"), "postgis",
                            overviews=keys)  # fmt: skip
    assert "__ov" not in crs84.text()


def test_other_rules_do_not_use_the_overview(dense: Store) -> None:
    coarse = replace(FLOOD_POINTS, tiles=replace(FLOOD_POINTS.tiles, cluster_px=32))
    assert overview_key(coarse) != overview_key(FLOOD_POINTS)
    fx, fy = tile_xy(*CENTRE, 10)
    fast, slow = _both(dense, [coarse], TileRequest(10, int(fx), int(fy)))
    assert fast == slow and fast["flood_points"]


@pytest.mark.parametrize("dialect", ["postgis", "duckdb"])
def test_stored_values_are_the_tile_values(dialect: Any) -> None:
    """The overview stores attributes with the same expressions the tile SQL uses: the
    feature API's values, with dates as text on DuckDB."""
    for spec in SPECS:
        for f in spec.fields:
            expected = _value(Sql(dialect), f)
            if dialect == "duckdb" and f.type == "date":
                expected = f"CAST({expected} AS VARCHAR)"
            assert mvt_value(f, dialect) == expected
        if spec.geometry_type != "Point":  # shapes keep every public attribute
            built = "\n".join(build_sql(spec, "src", "c", "g", dialect))
            for f in spec.fields:
                if f.public:
                    assert mvt_value(f, dialect) in built


def _load(store: Store, mode: str, ids: list[str], lon: np.ndarray, lat: np.ndarray) -> None:
    attrs = pd.DataFrame({
        "kode": ids, "depth_cm": "10", "observed_at": "2024-01-10T08:00:00Z",
        "status": "verified",
    })  # fmt: skip
    options = CleanOptions(source_crs=pyproj.CRS.from_epsg(4326), id_field="kode")
    cleaned = Cleaner(FLOOD_POINTS, options).clean(Chunk(0, attrs, shapely.points(lon, lat)))
    run = IngestRun(
        id=uuid.uuid4().hex, layer="flood_points", kind="vector", mode=mode,  # type: ignore[arg-type]
        source_path="test", source_sha256="0" * 64, source_format="csv", source_bytes=1,
        run_by="pytest",
    )  # fmt: skip
    with store.load(FLOOD_POINTS, run) as writer:
        writer.write(cleaned.rows, cleaned.geometry)
        run.status = "succeeded"
        writer.commit(run)


def _count(store: Store, z: int) -> int:
    total = 0
    for tile in _window(z, 1):
        fast, slow = _both(store, [FLOOD_POINTS], tile)
        assert fast == slow, tile
        for _, props, _ in fast.get("flood_points", []):
            total += int(dict(props)["point_count"])
    return total


def test_every_load_mode_rebuilds_the_overview(store: Store) -> None:
    """Replace, append and upsert each leave an overview of exactly the new rows."""
    rng = np.random.default_rng(3)
    lon, lat = rng.normal(CENTRE[0], 0.002, 300), rng.normal(CENTRE[1], 0.002, 300)
    _load(store, "replace", [f"A{i}" for i in range(200)], lon[:200], lat[:200])
    assert _count(store, 9) == 200
    _load(store, "append", [f"B{i}" for i in range(50)], lon[200:250], lat[200:250])
    assert _count(store, 9) == 250
    _load(store, "upsert", [f"C{i}" for i in range(50)], lon[250:], lat[250:])
    assert _count(store, 9) == 300
    assert store.overview_keys(["flood_points"]) == {"flood_points": overview_key(FLOOD_POINTS)}
