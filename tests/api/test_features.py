"""OGC API Features (Part 1 core, Part 2 CRS) on both stores, against the demo city, with
answers checked against the stored features themselves."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyproj
import pytest
import shapely
from fastapi.testclient import TestClient
from shapely.geometry import box, shape

from api.app import create_app
from api.params import parse_limit
from gis.cli import SAMPLE_DIR, load_demo
from gis.query.features import MAX_LIMIT
from gis.store.base import Store

GEOJSON = "application/geo+json"


@pytest.fixture
def client(store: Store, tmp_path: Path) -> Iterator[TestClient]:
    load_demo(store, SAMPLE_DIR, tmp_path / "rejects")
    with TestClient(create_app(store=store)) as c:
        yield c


def stored(store: Store, layer: str, *columns: str) -> dict[int, tuple]:
    rows = store.read_features(layer, ("fid", *columns))
    return {r[0]: r[1:] for r in rows}


def all_pages(client: TestClient, url: str) -> list[dict]:
    features: list[dict] = []
    while url:
        body = client.get(url).json()
        features += body["features"]
        url = next((link["href"] for link in body["links"] if link["rel"] == "next"), "")
    return features


def test_conformance_and_collections(client: TestClient) -> None:
    conf = client.get("/conformance").json()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core" in conf
    body = client.get("/collections").json()
    ids = [c["id"] for c in body["collections"]]
    assert ids == ["admin_areas", "hazard_zones", "rivers", "facilities", "flood_points"]
    facilities = client.get("/collections/facilities").json()
    assert facilities["synthetic"] is True and "SINTETIS" in facilities["description"]
    minx, miny, maxx, maxy = facilities["extent"]["spatial"]["bbox"][0]
    assert 110 < minx < maxx < 111 and -8 < miny < maxy < -6
    assert {link["rel"] for link in facilities["links"]} >= {"self", "items"}
    assert client.get("/collections/sewers").status_code == 404


def test_items_page_through_everything(client: TestClient, store: Store) -> None:
    truth = stored(store, "facilities", "name")
    first = client.get("/collections/facilities/items?limit=150")
    assert first.headers["content-type"] == GEOJSON
    body = first.json()
    assert (body["numberMatched"], body["numberReturned"]) == (len(truth), 150)
    features = all_pages(client, "/collections/facilities/items?limit=150")
    assert [f["id"] for f in features] == sorted(truth)
    assert {f["id"]: f["properties"]["name"] for f in features} == {
        k: v[0] for k, v in truth.items()
    }
    for f in features[:20]:
        assert shape(f["geometry"]).equals_exact(truth_geom(store, "facilities", f["id"]), 1e-7)
    prev = client.get("/collections/facilities/items?limit=150&offset=150").json()
    assert any(link["rel"] == "prev" for link in prev["links"])


def truth_geom(store: Store, layer: str, fid: int) -> shapely.Geometry:
    return stored(store, layer)[fid][-1]


def test_limit_is_clamped() -> None:
    assert parse_limit("999999999") == MAX_LIMIT
    assert parse_limit(None) == 10


def test_bbox_matches_an_independent_intersection(client: TestClient, store: Store) -> None:
    bbox = (110.38, -6.98, 110.42, -6.94)
    truth = {fid for fid, (g,) in stored(store, "flood_points").items() if box(*bbox).intersects(g)}
    assert truth, "the test box should hold some points"
    got = all_pages(
        client, "/collections/flood_points/items?limit=500&bbox=" + ",".join(map(str, bbox))
    )
    assert {f["id"] for f in got} == truth
    zones = stored(store, "hazard_zones")
    truth_zones = {fid for fid, (g,) in zones.items() if box(*bbox).intersects(g)}
    got_zones = all_pages(
        client, "/collections/hazard_zones/items?limit=100&bbox=" + ",".join(map(str, bbox))
    )
    assert {f["id"] for f in got_zones} == truth_zones


def test_antimeridian_bbox(client: TestClient, store: Store) -> None:
    total = len(stored(store, "facilities"))
    across_far = client.get("/collections/facilities/items?bbox=170,-10,-170,10").json()
    across_here = client.get("/collections/facilities/items?bbox=100,-10,-170,10&limit=1").json()
    assert across_far["numberMatched"] == 0
    assert across_here["numberMatched"] == total


def test_bbox_in_utm(client: TestClient, store: Store) -> None:
    bbox = (110.38, -6.98, 110.42, -6.94)
    to_utm = pyproj.Transformer.from_crs(4326, 32749, always_xy=True)
    utm = to_utm.transform_bounds(*bbox)
    url = "/collections/facilities/items?limit=1000&bbox-crs=http://www.opengis.net/def/crs/EPSG/0/32749&bbox="
    got = {f["id"] for f in client.get(url + ",".join(map(str, utm))).json()["features"]}
    lonlat_box = pyproj.Transformer.from_crs(32749, 4326, always_xy=True).transform_bounds(*utm)
    truth = {
        fid for fid, (g,) in stored(store, "facilities").items() if box(*lonlat_box).intersects(g)
    }
    assert got == truth and got


def test_datetime_intervals(client: TestClient, store: Store) -> None:
    import pandas as pd

    times = {
        fid: pd.Timestamp(t) for fid, (t, _) in stored(store, "flood_points", "observed_at").items()
    }
    start, end = pd.Timestamp("2026-02-01T00:00:00Z"), pd.Timestamp("2026-02-15T00:00:00Z")
    cases = {
        "2026-02-01T00:00:00Z/2026-02-15T00:00:00Z": {
            k for k, t in times.items() if start <= t <= end
        },
        "2026-02-01T00:00:00Z/..": {k for k, t in times.items() if t >= start},
        "../2026-02-01T00:00:00Z": {k for k, t in times.items() if t <= start},
    }
    for value, truth in cases.items():
        body = client.get(f"/collections/flood_points/items?limit=1&datetime={value}").json()
        assert body["numberMatched"] == len(truth), value
    one = next(iter(times.items()))
    instant = one[1].strftime("%Y-%m-%dT%H:%M:%SZ")
    got = client.get(f"/collections/flood_points/items?datetime={instant}").json()
    assert one[0] in {f["id"] for f in got["features"]}
    assert (
        client.get("/collections/facilities/items?datetime=2026-01-01T00:00:00Z").status_code == 400
    )


def test_properties_sortby_skip_geometry(client: TestClient, store: Store) -> None:
    body = client.get(
        "/collections/facilities/items?limit=5&properties=name,capacity&sortby=-capacity,name&skipGeometry=true"
    ).json()
    caps = sorted(
        (c for (c, _g) in stored(store, "facilities", "capacity").values() if c is not None),
        reverse=True,
    )
    assert [f["properties"]["capacity"] for f in body["features"]] == caps[:5]
    assert all(set(f["properties"]) == {"name", "capacity"} for f in body["features"])
    assert all(f["geometry"] is None for f in body["features"])


def test_output_crs(client: TestClient, store: Store) -> None:
    fid, (geom,) = next(iter(stored(store, "facilities").items()))
    utm = client.get(
        f"/collections/facilities/items/{fid}?crs=http://www.opengis.net/def/crs/EPSG/0/32749"
    )
    assert utm.headers["content-crs"] == "<http://www.opengis.net/def/crs/EPSG/0/32749>"
    x, y = pyproj.Transformer.from_crs(4326, 32749, always_xy=True).transform(geom.x, geom.y)
    assert utm.json()["geometry"]["coordinates"] == pytest.approx([x, y], abs=0.01)
    latlon = client.get(
        f"/collections/facilities/items/{fid}?crs=http://www.opengis.net/def/crs/EPSG/0/4326"
    )
    assert latlon.json()["geometry"]["coordinates"] == pytest.approx([geom.y, geom.x], abs=1e-7)
    default = client.get(f"/collections/facilities/items/{fid}").json()
    assert default["geometry"]["coordinates"] == pytest.approx([geom.x, geom.y], abs=1e-7)
    assert client.get("/collections/facilities/items?crs=EPSG:2154").status_code == 400


def test_item_and_missing_item(client: TestClient, store: Store) -> None:
    fid = min(stored(store, "admin_areas"))
    item = client.get(f"/collections/admin_areas/items/{fid}")
    assert item.status_code == 200 and item.json()["id"] == fid
    assert item.json()["geometry"]["type"] == "MultiPolygon"
    assert client.get("/collections/admin_areas/items/99999999").status_code == 404
    assert client.get("/collections/admin_areas/items/abc").status_code == 404


def test_etag_revalidation_and_ingest_invalidation(
    client: TestClient, store: Store, tmp_path: Path
) -> None:
    from gis.ingest.pipeline import IngestRequest, ingest

    first = client.get("/collections/rivers/items")
    etag = first.headers["etag"]
    assert (
        client.get("/collections/rivers/items", headers={"if-none-match": etag}).status_code == 304
    )
    assert "max-age" in first.headers["cache-control"]
    ingest(
        store,
        IngestRequest(path=SAMPLE_DIR / "rivers.geojson", layer="rivers"),
        reject_dir=tmp_path,
    )
    again = client.get("/collections/rivers/items", headers={"if-none-match": etag})
    assert again.status_code == 200 and again.headers["etag"] != etag


@pytest.mark.parametrize(
    "query",
    [
        "colour=red",
        "bbox=1,2,3",
        "bbox=a,b,c,d",
        "bbox=110,-6,111,-7",
        "datetime=yesterday",
        "datetime=2026-02-01T00:00:00Z/2026-01-01T00:00:00Z",
        "sortby=secret",
        "properties=nope",
        "limit=0",
        "limit=x",
        "offset=-1",
        "offset=99999999999999999999",
        "skipGeometry=maybe",
        "f=xml",
    ],
)
def test_bad_parameters_are_400_problems(client: TestClient, query: str) -> None:
    r = client.get(f"/collections/flood_points/items?{query}")
    assert r.status_code == 400, query
    assert r.headers["content-type"] == "application/problem+json"
    name = query.split("=")[0]
    assert name.lower() in r.json()["detail"].lower() or name == "f"


def test_queryables_from_the_spec(client: TestClient) -> None:
    body = client.get("/collections/hazard_zones/queryables").json()
    assert body["properties"]["hazard_class"]["enum"] == ["low", "medium", "high"]
    assert body["properties"]["valid_from"]["format"] == "date"
    assert "geometry" in body["properties"]


def test_html_items_page_is_bilingual_with_the_demo_banner(client: TestClient) -> None:
    html = client.get("/collections/facilities/items?f=html&limit=3").text
    assert "Fasilitas umum" in html and "Public facilities" in html
    assert "SINTETIS" in html and "berikutnya / next" in html


def test_geojsonseq_streams_every_feature(client: TestClient, store: Store) -> None:
    import json

    truth = stored(store, "flood_points")
    r = client.get("/collections/flood_points/items?f=geojsonseq&sortby=-depth_cm")
    assert r.headers["content-type"] == "application/geo+json-seq"
    records = r.content.split(b"\x1e")[1:]
    assert len(records) == len(truth)
    features = [json.loads(rec) for rec in records]
    assert {f["id"] for f in features} == set(truth)
    depths = [f["properties"]["depth_cm"] for f in features]
    assert depths == sorted(depths, key=lambda d: (d is None, -(d or 0)))
    limited = client.get("/collections/flood_points/items?f=geojsonseq&limit=7&bbox=100,-10,120,0")
    assert limited.content.count(b"\x1e") == 7


def test_csv_has_wkt_geometry(client: TestClient, store: Store) -> None:
    import csv
    import io

    truth = stored(store, "facilities", "name")
    r = client.get("/collections/facilities/items?f=csv&properties=name")
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert len(rows) == len(truth)
    first = rows[0]
    assert set(first) == {"id", "name", "wkt"}
    fid = int(first["id"])
    assert first["name"] == truth[fid][0]
    assert shapely.from_wkt(first["wkt"]).equals_exact(truth[fid][1], 1e-6)


def test_cql2_text_and_json_filters(client: TestClient, store: Store) -> None:
    import json
    from urllib.parse import quote

    truth = {
        fid
        for fid, (ftype, cap, _g) in stored(
            store, "facilities", "facility_type", "capacity"
        ).items()
        if ftype == "shelter" and cap is not None and cap >= 500
    }
    assert truth
    text = "facility_type = 'shelter' AND capacity >= 500"
    as_json = {"op": "and", "args": [
        {"op": "=", "args": [{"property": "facility_type"}, "shelter"]},
        {"op": ">=", "args": [{"property": "capacity"}, 500]},
    ]}  # fmt: skip
    for query in (f"filter={quote(text)}",
                  f"filter-lang=cql2-json&filter={quote(json.dumps(as_json))}"):  # fmt: skip
        body = client.get(f"/collections/facilities/items?limit=1000&{query}").json()
        assert {f["id"] for f in body["features"]} == truth
        assert body["numberMatched"] == len(truth)


def test_cql2_spatial_filter_with_filter_crs(client: TestClient, store: Store) -> None:
    from urllib.parse import quote

    bbox = (110.38, -6.98, 110.42, -6.94)
    truth = {fid for fid, (g,) in stored(store, "flood_points").items() if box(*bbox).intersects(g)}
    cql = quote(f"S_INTERSECTS(geometry, {box(*bbox).wkt})")
    r = client.get(f"/collections/flood_points/items?limit=2000&filter={cql}")
    assert {f["id"] for f in r.json()["features"]} == truth
    latlon = shapely.transform(box(*bbox), lambda xy: xy[:, ::-1]).wkt
    r = client.get(
        "/collections/flood_points/items?limit=2000&filter-crs=http://www.opengis.net/def/crs/EPSG/0/4326"
        f"&filter={quote(f'S_INTERSECTS(geometry, {latlon})')}"
    )
    assert {f["id"] for f in r.json()["features"]} == truth


@pytest.mark.parametrize(
    "query",
    [
        "filter=capacity%20%3E",
        "filter=secret%20%3D%201",
        "filter-lang=sql&filter=1=1",
        "filter-lang=cql2-json",
        "filter=name%20LIKE%2012",
    ],
)
def test_bad_filters_are_400_problems_naming_the_parameter(client: TestClient, query: str) -> None:
    r = client.get(f"/collections/facilities/items?{query}")
    assert r.status_code == 400, (query, r.text)
    assert "filter" in r.json()["detail"]


def test_html_has_an_svg_map_preview_without_scripts(client: TestClient) -> None:
    html = client.get("/collections/hazard_zones/items?f=html&limit=20").text
    assert "<svg" in html and html.count("<polyline") >= 20
    assert "<script" not in html
    point = client.get("/collections/facilities/items/1?f=html").text
    assert point.count("<circle") == 1


def test_geojson_is_rfc7946(client: TestClient) -> None:
    """Exterior rings counter-clockwise, holes clockwise, lon/lat within range."""
    for layer in ("hazard_zones", "admin_areas"):
        body = client.get(f"/collections/{layer}/items?limit=1000").json()
        for feature in body["features"]:
            geom = shape(feature["geometry"])
            for poly in geom.geoms:
                assert shapely.is_ccw(poly.exterior), (layer, feature["id"])
                assert all(not shapely.is_ccw(ring) for ring in poly.interiors)
            minx, miny, maxx, maxy = geom.bounds
            assert -180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90
            assert minx > 100  # lon first: the demo city is at lon 110, lat -7


@pytest.mark.parametrize("encoding", ["br", "gzip"])
def test_responses_are_compressed(client: TestClient, encoding: str) -> None:
    r = client.get("/collections/facilities/items?limit=200", headers={"accept-encoding": encoding})
    assert r.headers["content-encoding"] == encoding
    assert len(r.json()["features"]) == 200  # decoded by the client


def test_broad_filter_counts_are_capped_and_paging_still_works(
    client: TestClient, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gis.query import features as fq

    monkeypatch.setattr(fq, "MATCH_COUNT_CAP", 5)
    truth = {f for f, (s, _g) in stored(store, "flood_points", "status").items() if s == "verified"}
    first = client.get(
        "/collections/flood_points/items?limit=300&filter=status%3D'verified'"
    ).json()
    assert "numberMatched" not in first and first["numberReturned"] == 300
    got = all_pages(client, "/collections/flood_points/items?limit=300&filter=status%3D'verified'")
    assert {f["id"] for f in got} == truth
    first_id = min(truth)
    narrow = client.get(f"/collections/flood_points/items?filter=id%3D{first_id}").json()
    assert narrow["numberMatched"] == 1
