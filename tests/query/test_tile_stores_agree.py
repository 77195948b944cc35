"""The two stores generalise tiles the same way: the same data in PostGIS and in DuckDB
gives, tile by tile, the same clusters (category, point_count, position), the same merged
polygons and the same features drawn as themselves."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import mapbox_vector_tile
import pytest
from test_tile_generalisation import CENTRE, load_dense, tile_xy

from conftest import make_store
from gis.query.tiles import TileRequest
from gis.store.base import Store
from gis.tiles.render import render_tile_checked_sync, shown_layers
from layers.catalog import FLOOD_POINTS, HAZARD_ZONES, RIVERS

#: The two ST_AsMVTGeom differ on points within half a unit of the buffer's edge (PostGIS
#: keeps some that DuckDB clips): compared are the points inside the buffer's inner part.
EDGE = -64 + 2


@pytest.fixture(scope="module")
def both(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Store, Store]]:
    stores = [make_store(kind, tmp_path_factory.mktemp(kind), request)
              for kind in ("embedded", "postgis")]  # fmt: skip
    try:
        for store in stores:
            load_dense(store)
        yield stores[0], stores[1]
    finally:
        for store in stores:
            store.close()


def _summary(store: Store, tile: TileRequest) -> dict[str, Counter[tuple[Any, ...]]]:
    specs = [HAZARD_ZONES, RIVERS, FLOOD_POINTS]
    shown = shown_layers(specs, store.layer_versions([s.name for s in specs]), tile.z)
    data = render_tile_checked_sync(store, shown, tile).data
    out: dict[str, Counter[tuple[Any, ...]]] = {}
    for name, layer in (mapbox_vector_tile.decode(data) if data else {}).items():
        rows: Counter[tuple[Any, ...]] = Counter()
        for f in layer["features"]:
            props = tuple(sorted((k, str(v)) for k, v in f["properties"].items()))
            where: tuple[Any, ...] = ()
            if f["geometry"]["type"] == "Point":  # clusters and points: where they are
                x, y = f["geometry"]["coordinates"]
                if not (EDGE < x < 4096 - EDGE and EDGE < y < 4096 - EDGE):
                    continue
                where = (round(x / 4), round(y / 4))
            rows[(props, f["geometry"]["type"], where)] += 1
        out[name] = rows
    return out


@pytest.mark.postgis
@pytest.mark.parametrize("z", [6, 8, 10, 12, 14])
def test_postgis_and_duckdb_tiles_agree(both: tuple[Store, Store], z: int) -> None:
    embedded, postgis = both
    fx, fy = tile_xy(*CENTRE, z)
    for dx, dy in ((0, 0), (1, 0), (0, 1)):
        tile = TileRequest(z, int(fx) + dx, int(fy) + dy)
        a, b = _summary(embedded, tile), _summary(postgis, tile)
        assert a.keys() == b.keys(), tile
        for name in a:
            assert a[name] == b[name], (tile, name)
