"""XYZ vector tiles on both stores: decoded with mapbox-vector-tile, features land in the
right tile pixel, attributes are the spec's public fields; errors and empty tiles."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import mapbox_vector_tile
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from gis.cli import SAMPLE_DIR, load_demo
from gis.store.base import Store


@pytest.fixture
def client(store: Store, tmp_path: Path) -> Iterator[TestClient]:
    load_demo(store, SAMPLE_DIR, tmp_path / "rejects")
    with TestClient(create_app(store=store)) as c:
        yield c


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int, float, float]:
    """Tile x, y and the point's position inside it, in 0..4096 (y up, as decoded)."""
    n = 2**z
    fx = (lon + 180.0) / 360.0 * n
    lat_r = math.radians(lat)
    fy = (1.0 - math.asinh(math.tan(lat_r)) / math.pi) / 2.0 * n
    x, y = int(fx), int(fy)
    return x, y, (fx - x) * 4096, (1 - (fy - y)) * 4096


def test_points_land_where_they_should(client: TestClient, store: Store) -> None:
    fid, (name, geom) = next(iter(
        {r[0]: r[1:] for r in store.read_features("facilities", ("fid", "name"))}.items()
    ))  # fmt: skip
    z = 14
    x, y, px, py = tile_of(geom.x, geom.y, z)
    r = client.get(f"/tiles/facilities/{z}/{x}/{y}.mvt")
    assert (
        r.status_code == 200 and r.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    )
    layer = mapbox_vector_tile.decode(r.content)["facilities"]
    assert layer["extent"] == 4096
    feature = next(f for f in layer["features"] if f["id"] == fid)
    assert feature["properties"]["name"] == name
    assert set(feature["properties"]) == {
        "name",
        "facility_type",
        "capacity",
        "address",
        "is_open",
        "contact",
        "source",
    } - {
        k
        for k in ("capacity", "address", "is_open", "contact")
        if feature["properties"].get(k) is None
    }
    gx, gy = feature["geometry"]["coordinates"]
    assert abs(gx - px) <= 1 and abs(gy - py) <= 1


def test_several_layers_in_one_tile(client: TestClient, store: Store) -> None:
    ((_, geom),) = list(store.read_features("facilities", ("fid",)))[:1]
    x, y, _, _ = tile_of(geom.x, geom.y, 12)
    r = client.get(f"/tiles/facilities,hazard_zones,admin_areas/12/{x}/{y}.mvt")
    layers = mapbox_vector_tile.decode(r.content)
    assert {"facilities", "admin_areas"} <= set(layers)
    assert layers["admin_areas"]["features"][0]["geometry"]["type"] in ("Polygon", "MultiPolygon")


def test_empty_tiles_and_zoom_ranges_are_204(client: TestClient) -> None:
    assert client.get("/tiles/facilities/14/0/0.mvt").status_code == 204  # no data there
    assert client.get("/tiles/facilities/3/6/4.mvt").status_code == 204  # below min_zoom 10


@pytest.mark.parametrize(
    ("path", "status"),
    [("/tiles/facilities/25/0/0.mvt", 400), ("/tiles/facilities/2/4/0.mvt", 400),
     ("/tiles/facilities/a/0/0.mvt", 400), ("/tiles/sewers/1/0/0.mvt", 404),
     ("/tiles/facilities,facilities/1/0/0.mvt", 400), ("/tiles/facilities/1/0/0.mvt?x=1", 400)],
)  # fmt: skip
def test_bad_tile_requests(client: TestClient, path: str, status: int) -> None:
    r = client.get(path)
    assert r.status_code == status
    assert r.headers["content-type"] == "application/problem+json"


def test_tile_etag_changes_after_ingest(client: TestClient, store: Store, tmp_path: Path) -> None:
    from gis.ingest.pipeline import IngestRequest, ingest

    ((_, geom),) = list(store.read_features("rivers", ("fid",)))[:1]
    x, y, _, _ = tile_of(*geom.geoms[0].coords[0], 10)
    first = client.get(f"/tiles/rivers/10/{x}/{y}.mvt")
    assert first.status_code == 200
    etag = first.headers["etag"]
    assert (
        client.get(f"/tiles/rivers/10/{x}/{y}.mvt", headers={"if-none-match": etag}).status_code
        == 304
    )
    ingest(
        store,
        IngestRequest(path=SAMPLE_DIR / "rivers.geojson", layer="rivers"),
        reject_dir=tmp_path,
    )
    assert client.get(f"/tiles/rivers/10/{x}/{y}.mvt").headers["etag"] != etag


def test_tilejson_is_valid_and_derived_from_the_specs(client: TestClient) -> None:
    import json

    import jsonschema

    schema_path = (
        Path(__file__).resolve().parents[3] / "shared" / "specs" / "tilejson-3.0.0.schema.json"
    )
    schema = json.loads(schema_path.read_text(encoding="utf-8"))
    body = client.get("/tiles/facilities,hazard_zones/tilejson.json").json()
    jsonschema.validate(body, schema)
    assert body["tilejson"] == "3.0.0"
    assert body["tiles"][0].endswith("/tiles/facilities,hazard_zones/{z}/{x}/{y}.mvt")
    layers = {v["id"]: v for v in body["vector_layers"]}
    assert layers["facilities"]["fields"]["capacity"] == "Number"
    assert layers["hazard_zones"]["fields"]["hazard_class"] == "String"
    assert (body["minzoom"], body["maxzoom"]) == (5, 20)
    assert "SINTETIS" in body["attribution"]
    west, south, east, north = body["bounds"]
    assert 110 < west < east < 111 and -8 < south < north < -6
    assert client.get("/tiles/sewers/tilejson.json").status_code == 404


def test_ogc_tiles_paths_in_both_tile_matrix_sets(client: TestClient, store: Store) -> None:
    fid, geom = next((r[0], r[-1]) for r in store.read_features("facilities", ("fid",)))
    sets = client.get("/tileMatrixSets").json()["tileMatrixSets"]
    assert {s["id"] for s in sets} == {"WebMercatorQuad", "WorldCRS84Quad"}
    crs84 = client.get("/tileMatrixSets/WorldCRS84Quad").json()
    assert crs84["tileMatrices"][0]["matrixWidth"] == 2
    tilesets = client.get("/collections/facilities/tiles").json()["tilesets"]
    assert len(tilesets) == 2
    # OGC order: tileMatrix / tileRow / tileCol
    z = 14
    x, y, _, _ = tile_of(geom.x, geom.y, z)
    wm = client.get(f"/collections/facilities/tiles/WebMercatorQuad/{z}/{y}/{x}")
    assert fid in {f["id"] for f in mapbox_vector_tile.decode(wm.content)["facilities"]["features"]}
    size = 180.0 / 2**z
    col, row = int((geom.x + 180.0) / size), int((90.0 - geom.y) / size)
    r = client.get(f"/collections/facilities/tiles/WorldCRS84Quad/{z}/{row}/{col}")
    feature = next(
        f for f in mapbox_vector_tile.decode(r.content)["facilities"]["features"] if f["id"] == fid
    )
    gx, gy = feature["geometry"]["coordinates"]
    assert abs(gx - ((geom.x + 180.0) / size - col) * 4096) <= 1
    assert abs(gy - (1 - ((90.0 - geom.y) / size - row)) * 4096) <= 1
    assert client.get("/collections/facilities/tiles/NoSuchTMS/1/0/0").status_code == 404
    assert client.get("/collections/facilities/tiles/WorldCRS84Quad/1/2/0").status_code == 400


STYLE_VALIDATOR = (
    Path(__file__).resolve().parents[2]
    / ".ci"
    / "node"
    / "node_modules"
    / ".bin"
    / "gl-style-validate"
)


@pytest.mark.interop
def test_maplibre_style_passes_the_maplibre_validator(client: TestClient, tmp_path: Path) -> None:
    import json
    import subprocess

    if not STYLE_VALIDATOR.exists():
        pytest.skip("MapLibre validator missing; .ci/run installs it from the npm registry")
    body = client.get(
        "/styles/admin_areas,hazard_zones,rivers,facilities,flood_points/style.json"
    ).json()
    assert body["sources"]["gis"]["url"].endswith("/tilejson.json")
    ids = [layer["id"] for layer in body["layers"]]
    assert ids[:3] == ["background", "admin_areas-fill", "admin_areas-outline"]
    fill = next(layer for layer in body["layers"] if layer["id"] == "hazard_zones-fill")
    assert fill["paint"]["fill-color"][:2] == ["match", ["get", "hazard_class"]]
    path = tmp_path / "style.json"
    path.write_text(json.dumps(body), encoding="utf-8")
    result = subprocess.run(
        [str(STYLE_VALIDATOR), str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_tile_cache_hits_and_ingest_invalidates_only_that_layer(
    client: TestClient, store: Store, tmp_path: Path
) -> None:
    from gis.ingest.pipeline import IngestRequest, ingest

    ((_, geom),) = list(store.read_features("rivers", ("fid",)))[:1]
    x, y, _, _ = tile_of(*geom.geoms[0].coords[0], 10)
    rivers, admin = f"/tiles/rivers/10/{x}/{y}.mvt", f"/tiles/admin_areas/10/{x}/{y}.mvt"
    assert client.get(rivers).headers["x-tile-cache"] == "miss"
    hit = client.get(rivers)
    assert hit.headers["x-tile-cache"] == "hit" and mapbox_vector_tile.decode(hit.content)["rivers"]
    assert client.get(admin).headers["x-tile-cache"] == "miss"
    ingest(
        store,
        IngestRequest(path=SAMPLE_DIR / "rivers.geojson", layer="rivers"),
        reject_dir=tmp_path,
    )
    assert client.get(rivers).headers["x-tile-cache"] == "miss"
    assert client.get(admin).headers["x-tile-cache"] == "hit"


def test_tile_cache_is_bounded() -> None:
    from gis.tiles.cache import TileCache

    cache = TileCache(max_bytes=10)
    cache.put("a", b"12345")
    cache.put("b", b"12345")
    cache.get("a")  # a is now the most recently used
    cache.put("c", b"123")
    assert cache.get("b") is None and cache.get("a") == b"12345" and cache.get("c") == b"123"
    assert cache.size_bytes <= 10
    cache.put("huge", b"x" * 11)
    assert cache.get("huge") is None
