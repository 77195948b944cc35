"""The tile cache on both stores: the directory store survives an app restart, an ingest
invalidates exactly that layer's tiles (in memory and on disk), empty tiles are cached as
empty, Cache-Control follows the layers' TileRules, and the version lookup sees an ingest
made through another connection at once."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from types import MappingProxyType

import mapbox_vector_tile
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from gis.cli import SAMPLE_DIR, load_demo
from gis.ingest.pipeline import IngestRequest, ingest
from gis.settings import ServerSettings
from gis.store.base import Store
from gis.tiles.cache import TileCache, TileDirectory
from layers import registry


def tile_xy(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    y = (1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n
    return int((lon + 180.0) / 360.0 * n), int(y)


@pytest.fixture
def demo(store: Store, tmp_path: Path) -> Store:
    load_demo(store, SAMPLE_DIR, tmp_path / "rejects")
    return store


def client_for(store: Store, cache_dir: Path | None, **server: object) -> TestClient:
    settings = ServerSettings(tile_cache_dir=cache_dir, **server)  # type: ignore[arg-type]
    return TestClient(create_app(store=store, server=settings))


def river_tile(store: Store, z: int = 10) -> tuple[int, int]:
    ((_, geom),) = list(store.read_features("rivers", ("fid",)))[:1]
    return tile_xy(*geom.geoms[0].coords[0], z)


def test_directory_cache_survives_a_restart(demo: Store, tmp_path: Path) -> None:
    cache = tmp_path / "tiles"
    x, y = river_tile(demo)
    url = f"/tiles/rivers,admin_areas/10/{x}/{y}.mvt"
    with client_for(demo, cache) as c:
        first = c.get(url)
        empty = c.get("/tiles/rivers/10/0/0.mvt")  # far from the city: no feature
    assert first.status_code == 200 and first.headers["x-tile-cache"] == "miss"
    assert empty.status_code == 204 and empty.headers["x-tile-cache"] == "miss"
    versions = {i.name: i.version for i in demo.layers()}
    path = (cache / "rivers+admin_areas" / f"v{versions['rivers']}.{versions['admin_areas']}"
            / "WebMercatorQuad" / "10" / str(x) / f"{y}.mvt")  # fmt: skip
    assert path.read_bytes() == first.content
    empty_path = cache / "rivers" / f"v{versions['rivers']}" / "WebMercatorQuad/10/0/0.mvt"
    assert empty_path.is_file() and empty_path.stat().st_size == 0
    assert not list(cache.rglob("*.tmp")), "no temporary file is left behind"
    # A new app (a restart, or another worker): empty memory, the files answer.
    with client_for(demo, cache) as c:
        again = c.get(url)
        assert again.headers["x-tile-cache"] == "hit" and again.content == first.content
        assert again.headers["etag"] == first.headers["etag"]
        assert c.get(url, headers={"if-none-match": first.headers["etag"]}).status_code == 304
        empty_again = c.get("/tiles/rivers/10/0/0.mvt")
        assert empty_again.status_code == 204 and empty_again.headers["x-tile-cache"] == "hit"
        assert c.app.state.tile_cache.stats.disk_hits == 2  # type: ignore[attr-defined]
    decoded = mapbox_vector_tile.decode(again.content)
    assert decoded["rivers"]["features"] and decoded["admin_areas"]["features"]


def test_ingest_invalidates_exactly_that_layer_in_the_directory(
    demo: Store, tmp_path: Path
) -> None:
    cache = tmp_path / "tiles"
    x, y = river_tile(demo)
    rivers, admin = f"/tiles/rivers/10/{x}/{y}.mvt", f"/tiles/admin_areas/10/{x}/{y}.mvt"
    with client_for(demo, cache) as c:
        old = c.get(rivers)
        c.get(admin)
    ingest(demo, IngestRequest(path=SAMPLE_DIR / "rivers.geojson", layer="rivers"),
           reject_dir=tmp_path)  # fmt: skip
    with client_for(demo, cache) as c:
        new = c.get(rivers)
        assert new.headers["x-tile-cache"] == "miss" and new.headers["etag"] != old.headers["etag"]
        assert c.get(admin).headers["x-tile-cache"] == "hit"
        assert c.get(rivers).headers["x-tile-cache"] == "hit"
    assert sorted(p.name for p in (cache / "rivers").iterdir()) == ["v1", "v2"]
    versions = {i.name: i.version for i in demo.layers()}
    removed, freed = TileDirectory(cache).prune(lambda names: versions)
    assert (removed, sorted(p.name for p in (cache / "rivers").iterdir())) == (1, ["v2"])
    assert freed == len(old.content)
    assert [p.name for p in (cache / "admin_areas").iterdir()] == ["v1"]


def test_memory_only_cache_and_cache_off(demo: Store) -> None:
    x, y = river_tile(demo)
    url = f"/tiles/rivers/10/{x}/{y}.mvt"
    with client_for(demo, None) as c:
        assert [c.get(url).headers["x-tile-cache"] for _ in range(2)] == ["miss", "hit"]
    with client_for(demo, None, tile_cache_bytes=0) as c:
        first, second = c.get(url), c.get(url)
        assert [first.headers["x-tile-cache"], second.headers["x-tile-cache"]] == ["miss", "miss"]
        assert first.content == second.content and first.content
        assert len(c.app.state.tile_cache) == 0  # type: ignore[attr-defined]


def test_cache_control_is_the_shortest_layer_max_age(
    demo: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The catalog is read-only: swap in one where two layers have rules of their own.
    rules = {"rivers": 7, "admin_areas": 3600}
    patched = {
        name: dataclasses.replace(
            spec, tiles=dataclasses.replace(spec.tiles, cache_seconds=rules[name])
        )
        if name in rules
        else spec
        for name, spec in registry.LAYERS.items()
    }
    monkeypatch.setattr(registry, "LAYERS", MappingProxyType(patched))
    x, y = river_tile(demo)
    with client_for(demo, None, cache_seconds=45) as c:
        both = c.get(f"/tiles/admin_areas,rivers/10/{x}/{y}.mvt")
        assert both.headers["cache-control"] == "public, max-age=7"
        assert c.get(f"/tiles/admin_areas/10/{x}/{y}.mvt").headers["cache-control"] == (
            "public, max-age=3600"
        )
        # hazard_zones has no rule of its own: the server default
        assert c.get(f"/tiles/hazard_zones/10/{x}/{y}.mvt").headers["cache-control"] == (
            "public, max-age=45"
        )
        # 304 and 204 carry the same freshness
        etag = both.headers["etag"]
        again = c.get(f"/tiles/admin_areas,rivers/10/{x}/{y}.mvt", headers={"if-none-match": etag})
        assert again.status_code == 304 and again.headers["cache-control"] == "public, max-age=7"
        assert c.get("/tiles/rivers/10/0/0.mvt").headers["cache-control"] == "public, max-age=7"


def test_layer_versions_match_layers(demo: Store) -> None:
    full = {i.name: i.version for i in demo.layers()}
    assert demo.layer_versions(["rivers", "facilities", "sewers"]) == {
        "rivers": full["rivers"],
        "facilities": full["facilities"],
    }
    assert demo.layer_versions([]) == {}


@pytest.mark.postgis
def test_an_ingest_by_another_process_shows_in_the_next_tile(
    postgis_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """On PostGIS several workers and the CLI share the data: the API's store must see a
    version bumped through another connection pool on the very next request."""
    from conftest import make_store

    serving = make_store("postgis", tmp_path, request)
    other = None
    try:
        load_demo(serving, SAMPLE_DIR, tmp_path / "rejects")
        x, y = river_tile(serving)
        url = f"/tiles/rivers/10/{x}/{y}.mvt"
        with client_for(serving, tmp_path / "tiles") as c:
            first = c.get(url)
            assert c.get(url).headers["x-tile-cache"] == "hit"
            from gis.store.postgis import PostgisStore

            other = PostgisStore(postgis_url)
            ingest(other, IngestRequest(path=SAMPLE_DIR / "rivers.geojson", layer="rivers"),
                   reject_dir=tmp_path)  # fmt: skip
            after = c.get(url)
            assert after.headers["x-tile-cache"] == "miss"
            assert after.headers["etag"] != first.headers["etag"]
    finally:
        serving.close()
        if other is not None:
            other.close()


def test_memory_cache_bounds_entries_too() -> None:
    cache = TileCache(max_bytes=1024)
    for i in range(100):
        cache.put(f"k{i}", b"")
    assert len(cache) == cache.max_entries == 16
    assert cache.get("k99") == b"" and cache.get("k0") is None


def test_hits_before_routing_answer_like_the_route(demo: Store) -> None:
    """A hit on /tiles/... is answered ahead of FastAPI (api.tile_fast_path); the same tile
    through the OGC path goes through the route: same bytes and headers, compressed."""
    x, y = river_tile(demo)
    xyz, ogc = (f"/tiles/admin_areas/10/{x}/{y}.mvt",
                f"/collections/admin_areas/tiles/WebMercatorQuad/10/{y}/{x}")  # fmt: skip
    plain = {"accept-encoding": "identity"}
    with client_for(demo, None) as c:
        assert c.get(xyz, headers=plain).headers["x-tile-cache"] == "miss"
        routed, fast = c.get(ogc, headers=plain), c.get(xyz, headers=plain)
        assert routed.headers["x-tile-cache"] == fast.headers["x-tile-cache"] == "hit"
        assert routed.content == fast.content and len(fast.content) > 1024
        keys = ("etag", "cache-control", "content-type", "content-length", "x-tile-cache")
        assert {k: routed.headers[k] for k in keys} == {k: fast.headers[k] for k in keys}
        gz = c.get(xyz, headers={"accept-encoding": "gzip"})
        assert gz.headers["content-encoding"] == "gzip" and gz.content == fast.content
        # what the fast path does not answer still reaches the route
        assert c.get(f"/tiles/admin_areas/10/{x}/{y}.mvt?x=1").status_code == 400
        assert c.get("/tiles/sewers/10/1/1.mvt").status_code == 404
        assert c.get("/tiles/admin_areas/30/1/1.mvt").status_code == 400


def test_version_lookups_are_shared_but_never_stale(demo: Store, tmp_path: Path) -> None:
    import asyncio

    from gis.tiles.versions import VersionLookup

    async def scenario() -> None:
        lookup = VersionLookup(demo)
        try:
            burst = await asyncio.gather(*(lookup.get(["rivers", "sewers"]) for _ in range(20)))
            assert lookup.queries == 1 and lookup.requests == 20
            assert burst == [{"rivers": 1}] * 20
            ingest(demo, IngestRequest(path=SAMPLE_DIR / "rivers.geojson", layer="rivers"),
                   reject_dir=tmp_path)  # fmt: skip
            assert await lookup.get(["rivers"]) == {"rivers": 2}
            assert lookup.queries == 2
        finally:
            await demo.aclose()

    asyncio.run(scenario())


def test_misses_on_the_fast_path_render_like_the_route(demo: Store) -> None:
    """With the cache off, a plain XYZ tile is rendered ahead of FastAPI: the same bytes
    and headers as the OGC path's route, and an ingest-free repeat still misses."""
    x, y = river_tile(demo)
    xyz, ogc = (f"/tiles/admin_areas/10/{x}/{y}.mvt",
                f"/collections/admin_areas/tiles/WebMercatorQuad/10/{y}/{x}")  # fmt: skip
    plain = {"accept-encoding": "identity"}
    app = create_app(store=demo, server=ServerSettings(tile_cache_bytes=0))
    with TestClient(app) as c:
        fast, routed = c.get(xyz, headers=plain), c.get(ogc, headers=plain)
        assert fast.status_code == routed.status_code == 200
        assert fast.headers["x-tile-cache"] == routed.headers["x-tile-cache"] == "miss"
        assert fast.content == routed.content and len(fast.content) > 1024
        keys = ("etag", "cache-control", "content-type", "content-length")
        assert {k: routed.headers[k] for k in keys} == {k: fast.headers[k] for k in keys}
        again = c.get(xyz, headers={**plain, "if-none-match": fast.headers["etag"]})
        assert again.status_code == 304
