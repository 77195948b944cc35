"""CQL2 filters on vector tiles (both stores, demo data): filtered tiles hold only matching
features, clusters count only matching points, the filter is part of the ETag, and a bad
filter, or one that does not fit every requested layer, is a 400 problem naming it."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    fy = (1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n
    return int((lon + 180.0) / 360.0 * n), int(fy)


def _decode(content: bytes, layer: str) -> list[dict[str, Any]]:
    if not content:
        return []
    features: list[dict[str, Any]] = mapbox_vector_tile.decode(content)[layer]["features"]
    return features


def test_filtered_tile_holds_only_matching_features(client: TestClient, store: Store) -> None:
    rows = list(store.read_features("facilities", ("fid", "facility_type")))
    fid, kind, geom = rows[0]
    z = 14
    x, y = tile_of(geom.x, geom.y, z)
    path = f"/tiles/facilities/{z}/{x}/{y}.mvt"
    plain = client.get(path)
    everything = _decode(plain.content, "facilities")
    expected = {f["id"] for f in everything if f["properties"]["facility_type"] == kind}
    assert fid in expected
    text = client.get(path, params={"filter": f"facility_type = '{kind}'"})
    assert text.status_code == 200
    assert {f["id"] for f in _decode(text.content, "facilities")} == expected
    as_json = json.dumps({"op": "=", "args": [{"property": "facility_type"}, kind]})
    js = client.get(path, params={"filter": as_json, "filter-lang": "cql2-json"})
    assert {f["id"] for f in _decode(js.content, "facilities")} == expected
    other = client.get(path, params={"filter": f"facility_type <> '{kind}'"})
    assert not expected & {f["id"] for f in _decode(other.content, "facilities")}
    # the filter is part of the ETag: no 304 across filters, a cache hit within one
    etags = {r.headers["etag"] for r in (plain, text, js, other)}
    assert len(etags) == 4
    again = client.get(path, params={"filter": f"facility_type = '{kind}'"})
    assert again.headers["etag"] == text.headers["etag"]
    assert again.headers["x-tile-cache"] == "hit"


def test_clusters_count_only_matching_points(client: TestClient, store: Store) -> None:
    """At z8 (below flood_points' detail zoom) the tile holds clusters: their counts add
    up to the matching points, per status."""
    points = [(r[1], r[2]) for r in store.read_features("flood_points", ("fid", "status"))]
    z = 8
    tiles = {tile_of(g.x, g.y, z) for _, g in points}
    verified = sum(1 for s, _ in points if s == "verified")
    assert verified
    total = 0
    for x, y in tiles:
        r = client.get(
            f"/tiles/flood_points/{z}/{x}/{y}.mvt", params={"filter": "status='verified'"}
        )
        for f in _decode(r.content, "flood_points"):
            assert f["properties"]["status"] == "verified"
            total += f["properties"]["point_count"]
    assert total == verified


def test_ogc_tile_path_takes_the_filter(client: TestClient, store: Store) -> None:
    fid, kind, geom = next(iter(store.read_features("facilities", ("fid", "facility_type"))))
    z = 14
    x, y = tile_of(geom.x, geom.y, z)
    base = f"/collections/facilities/tiles/WebMercatorQuad/{z}/{y}/{x}"
    hit = _decode(client.get(base, params={"filter": f"facility_type='{kind}'"}).content,
                  "facilities")  # fmt: skip
    assert fid in {f["id"] for f in hit}
    miss = client.get(base, params={"filter": f"facility_type<>'{kind}'"})
    assert fid not in {f["id"] for f in _decode(miss.content, "facilities")}


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"filter": "facility_type = "}, ["filter"]),
        ({"filter": "no_such_field = 1"}, ["filter", "no_such_field"]),
        ({"filter": "{", "filter-lang": "cql2-json"}, ["filter"]),
        ({"filter": "capacity > 1", "filter-lang": "sql"}, ["filter-lang"]),
        ({"filter-lang": "cql2-text"}, ["filter"]),
        ({"filter": "capacity > 1", "filter-crs": "EPSG:999999"}, ["filter-crs"]),
        ({"filter": "capacity > 1", "filters": "x"}, ["filters"]),
    ],
)
def test_bad_tile_filters_are_400_problems(
    client: TestClient, params: dict[str, str], words: list[str]
) -> None:
    r = client.get("/tiles/facilities/14/13133/8527.mvt", params=params)
    assert r.status_code == 400
    assert r.headers["content-type"] == "application/problem+json"
    detail = r.json()["detail"]
    assert all(w in detail for w in words), detail


def test_multi_layer_filter_must_fit_every_layer(client: TestClient, store: Store) -> None:
    ((_, geom),) = list(store.read_features("facilities", ("fid",)))[:1]
    x, y = tile_of(geom.x, geom.y, 12)
    path = f"/tiles/facilities,hazard_zones/12/{x}/{y}.mvt"
    r = client.get(path, params={"filter": "facility_type = 'school'"})
    assert r.status_code == 400 and r.headers["content-type"] == "application/problem+json"
    assert "filter" in r.json()["detail"] and "hazard_zones" in r.json()["detail"]
    # a filter on a property both layers have works on both
    ok = client.get(path, params={"filter": "source IS NOT NULL"})
    assert ok.status_code == 200
    assert {"facilities", "hazard_zones"} <= set(mapbox_vector_tile.decode(ok.content))


def test_openapi_describes_the_tile_paths_with_their_filter(client: TestClient) -> None:
    from openapi_spec_validator import validate

    doc = client.get("/api").json()
    validate(doc)
    paths = doc["paths"]
    ogc = "/collections/flood_points/tiles/{tileMatrixSetId}/{tileMatrix}/{tileRow}/{tileCol}"
    for path in ("/tiles/{layers}/{z}/{x}/{y}.mvt", ogc):
        names = {p["name"] for p in paths[path]["get"]["parameters"]}
        assert {"filter", "filter-lang", "filter-crs"} <= names
        assert (
            "application/vnd.mapbox-vector-tile"
            in paths[path]["get"]["responses"]["200"]["content"]
        )
    assert {"/tiles/{layers}/tilejson.json", "/styles/{layers}/style.json", "/tileMatrixSets",
            "/tileMatrixSets/{tileMatrixSetId}", "/collections/hazard_zones/tiles",
            "/collections/hazard_zones/tiles/{tileMatrixSetId}"} <= set(paths)  # fmt: skip
