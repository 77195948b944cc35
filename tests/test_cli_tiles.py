"""`gis tiles seed | export | prune` as a user runs them, on both stores: the seeded files
are exactly the pyramid's tiles and the API then serves them as cache hits; the PMTiles
archive opens with the pmtiles reader and its tiles decode to the API's features; bad
input is a readable message and a non-zero exit."""

from __future__ import annotations

import gzip
import json
import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import mapbox_vector_tile
import pytest
from fastapi.testclient import TestClient
from pmtiles.reader import MmapSource, Reader, all_tiles
from pmtiles.tile import Compression, TileType
from test_cli import gis

from api.app import create_app
from conftest import store_env
from gis.settings import ServerSettings, StoreSettings
from gis.store import Store, open_store

LAYERS = "facilities,hazard_zones"


@pytest.fixture
def env(store_kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> dict[str, str]:
    if store_kind == "postgis":
        from conftest import reset_postgis

        reset_postgis(request.getfixturevalue("postgis_url"))
    env = store_env(store_kind, tmp_path, request)
    r = gis(["demo", "--no-serve"], env, timeout=300)
    assert r.returncode == 0, r.stderr
    return env


@pytest.fixture(scope="module")
def demo_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """One embedded demo store for the error cases (they never reach the data's rows)."""
    data = tmp_path_factory.mktemp("tiles-demo")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIS_")}
    env.update(GIS_DATA_DIR=str(data), GIS_EMBEDDED_FILE="store.duckdb", COLUMNS="200")
    r = gis(["demo", "--no-serve"], env, timeout=300)
    assert r.returncode == 0, r.stderr
    return env


@contextmanager
def env_store(env: dict[str, str]) -> Iterator[Store]:
    """The store a `gis` subprocess with ``env`` uses, opened here (after it exited)."""
    store = open_store(StoreSettings(database_url=env.get("GIS_DATABASE_URL"),
                                     data_dir=Path(env["GIS_DATA_DIR"]),
                                     embedded_file=env["GIS_EMBEDDED_FILE"]))  # fmt: skip
    try:
        yield store
    finally:
        store.close()


def tile_xy(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    y = (1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n
    return int((lon + 180.0) / 360.0 * n), int(y)


def expected_tiles(store: Store, names: list[str], zooms: range) -> set[tuple[int, int, int]]:
    """The tiles over the layers' joint extent, computed independently of gis.tiles."""
    boxes = [i.bbox for i in store.layers() if i.name in names and i.bbox]
    w, s = min(b[0] for b in boxes), min(b[1] for b in boxes)
    e, n = max(b[2] for b in boxes), max(b[3] for b in boxes)
    tiles = set()
    for z in zooms:
        (x0, y0), (x1, y1) = tile_xy(w, n, z), tile_xy(e, s, z)
        tiles |= {(z, x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)}
    return tiles


def features_of(tile: bytes) -> dict[str, list[str]]:
    """A tile's features per layer, order aside (the database scans in any order)."""
    return {
        name: sorted(json.dumps(f, sort_keys=True) for f in layer["features"])
        for name, layer in mapbox_vector_tile.decode(tile).items()
    }


def version_dir(store: Store, cache: Path, names: list[str]) -> Path:
    versions = {i.name: i.version for i in store.layers()}
    return (cache / "+".join(names) / ("v" + ".".join(str(versions[n]) for n in names))
            / "WebMercatorQuad")  # fmt: skip


def test_seed_writes_the_pyramid_and_the_api_serves_it_as_hits(
    env: dict[str, str], tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    seed = ["tiles", "seed", "--layers", LAYERS, "--zoom", "10-12", "--cache-dir", str(cache)]
    r = gis(seed, env)
    assert r.returncode == 0, r.stderr
    names = LAYERS.split(",")
    with env_store(env) as store:
        expected = expected_tiles(store, names, range(10, 13))
        root = version_dir(store, cache, names)
        files = {(int(p.parts[-3]), int(p.parts[-2]), int(p.stem)) for p in root.rglob("*.mvt")}
        assert files == expected and len(expected) > 3
        assert f"seeded {len(expected)} tiles" in r.stdout
        app = create_app(store=store, server=ServerSettings(tile_cache_dir=cache))
        features = 0
        with TestClient(app) as c:
            for z, x, y in sorted(expected):
                resp = c.get(f"/tiles/{LAYERS}/{z}/{x}/{y}.mvt")
                assert resp.headers["x-tile-cache"] == "hit"
                data = (root / str(z) / str(x) / f"{y}.mvt").read_bytes()
                assert (resp.status_code, resp.content) == ((200, data) if data else (204, b""))
                if data:
                    features += sum(len(v["features"]) for v in
                                    mapbox_vector_tile.decode(data).values())  # fmt: skip
            assert app.state.tile_cache.stats.misses == 0
        assert features > 0
    again = gis(seed, env)
    assert again.returncode == 0 and f"{len(expected)} already cached" in again.stdout


def test_export_writes_a_pmtiles_archive_with_the_apis_tiles(
    env: dict[str, str], tmp_path: Path
) -> None:
    output = tmp_path / "out" / "city.pmtiles"
    r = gis(["tiles", "export", "--layers", LAYERS, "--zoom", "10-12", "-o", str(output)], env)
    assert r.returncode == 0, r.stderr
    with open(output, "rb") as f:
        source = MmapSource(f)
        reader = Reader(source)
        header, meta = reader.header(), reader.metadata()
        archived = {zxy: gzip.decompress(data) for zxy, data in all_tiles(source)}
        assert reader.get(*next(iter(archived))) is not None
    assert header["tile_type"] == TileType.MVT and header["tile_compression"] == Compression.GZIP
    assert (header["min_zoom"], header["max_zoom"]) == (10, 12)
    assert header["clustered"]
    names = LAYERS.split(",")
    assert [v["id"] for v in meta["vector_layers"]] == names
    assert meta["vector_layers"][0]["fields"]["capacity"] == "Number"
    assert "SINTETIS" in meta["attribution"] and "SYNTHETIC" in meta["attribution"]
    with env_store(env) as store:
        boxes = [i.bbox for i in store.layers() if i.name in names and i.bbox]
        west = min(b[0] for b in boxes)
        assert header["min_lon_e7"] == round(west * 1e7)
        lon, lat = header["center_lon_e7"] / 1e7, header["center_lat_e7"] / 1e7
        assert boxes[0][0] - 1 < lon < boxes[0][2] + 1 and -8 < lat < -6
        expected = expected_tiles(store, names, range(10, 13))
        assert set(archived) <= expected
        app = create_app(store=store, server=ServerSettings(tile_cache_bytes=0))
        with TestClient(app) as c:
            for z, x, y in sorted(expected):
                resp = c.get(f"/tiles/{LAYERS}/{z}/{x}/{y}.mvt")
                if resp.status_code == 204:
                    assert (z, x, y) not in archived
                    continue
                assert features_of(archived[(z, x, y)]) == features_of(resp.content)
    assert len(archived) > 3


def test_prune_removes_stale_versions_only(env: dict[str, str], tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    seed = ["tiles", "seed", "--layers", "rivers", "--zoom", "10", "--cache-dir", str(cache)]
    assert gis(seed, env).returncode == 0
    assert gis([*seed[:3], "admin_areas", *seed[4:]], env).returncode == 0
    (cache / "sewers" / "v1").mkdir(parents=True)  # a layer that no longer exists
    river_file = Path(__file__).resolve().parents[1] / "data" / "rivers.geojson"
    assert gis(["ingest", str(river_file), "--layer", "rivers"], env).returncode == 0
    assert gis(seed, env).returncode == 0
    assert sorted(p.name for p in (cache / "rivers").iterdir()) == ["v1", "v2"]
    r = gis(["tiles", "prune", "--cache-dir", str(cache)], env)
    assert r.returncode == 0, r.stderr
    assert "pruned 2 stale" in r.stdout
    assert [p.name for p in (cache / "rivers").iterdir()] == ["v2"]
    assert [p.name for p in (cache / "admin_areas").iterdir()] == ["v1"]
    assert not (cache / "sewers").exists()


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["seed", "--layers", "facilities", "--bbox", "1,2,3"], 2, "--bbox wants west,south"),
        (["seed", "--layers", "facilities", "--bbox", "5,0,4,1"], 2, "west < east"),
        (["seed", "--layers", "facilities", "--zoom", "12-3"], 2, "--zoom must lie within"),
        (["seed", "--layers", "facilities", "--zoom", "x"], 2, "--zoom wants a zoom"),
        (["seed", "--layers", "sewers"], 1, "unknown layer 'sewers'"),
        (["seed", "--layers", "facilities", "--zoom", "0-4"], 2, "no layer is drawn"),
        (["seed", "--layers", "facilities", "--zoom", "10-20", "--max-tiles", "50"], 2,
         "more than the limit of 50"),
        (["seed", "--layers", "facilities", "--tms", "Nope"], 2, "--tms must be one of"),
        (["export", "--layers", "facilities", "-o", "city.zip"], 2, "should end in .pmtiles"),
    ],
)  # fmt: skip
def test_errors_are_readable(
    demo_env: dict[str, str], tmp_path: Path, args: list[str], code: int, message: str
) -> None:
    env = demo_env
    extra = ["--cache-dir", str(tmp_path / "cache")] if args[0] == "seed" else []
    r = gis(["tiles", *args, *extra], env)
    assert r.returncode == code, r.stdout + r.stderr
    assert message in " ".join(r.stderr.split()), r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "cache").exists()


def test_seed_needs_a_cache_directory(demo_env: dict[str, str]) -> None:
    r = gis(["tiles", "seed", "--layers", "facilities"], demo_env)
    assert r.returncode == 2 and "GIS_TILE_CACHE_DIR" in r.stderr
