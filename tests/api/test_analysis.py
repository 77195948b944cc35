"""The planner endpoints on both stores against the demo city: CSV equals JSON, within
counts equal shapely's, summary equals exposure, errors are problem+json, ETags change
with an ingest. Exposure numbers are checked against geopandas in tests/analysis."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
from fastapi.testclient import TestClient
from shapely.geometry import box, mapping, shape

from api.app import create_app
from gis.analysis.within import MAX_AREA_KM2
from gis.cli import SAMPLE_DIR, load_demo
from gis.store.base import Store

PROBLEM = "application/problem+json"


@pytest.fixture
def client(store: Store, tmp_path: Path) -> Iterator[TestClient]:
    load_demo(store, SAMPLE_DIR, tmp_path / "rejects")
    with TestClient(create_app(store=store)) as c:
        yield c


def geometries(store: Store, layer: str, *columns: str) -> list[tuple]:
    return list(store.read_features(layer, ("fid", *columns)))


def test_exposure_json_and_csv_agree(client: TestClient) -> None:
    r = client.get("/analysis/exposure", params={"hazard_type": "flood"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["admin_level"] == "district" and body["population_raster"]["name"] == "population"
    assert len(body["areas"]) == 6
    assert sum(c["facilities_total"] for a in body["areas"] for c in a["classes"]) > 100
    r_csv = client.get("/analysis/exposure", params={"hazard_type": "flood", "f": "csv"})
    assert r_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r_csv.text)))
    assert len(rows) == 6 * 3
    for row in rows:
        area = next(a for a in body["areas"] if a["code"] == row["area_code"])
        cls = next(c for c in area["classes"] if c["hazard_class"] == row["hazard_class"])
        assert int(row["facilities_total"]) == cls["facilities_total"]
        assert int(row["shelter_capacity"]) == cls["shelter_capacity"]
        assert float(row["population"]) == cls["population"]
        for ftype, n in cls["facilities"].items():
            assert int(row[f"facilities_{ftype}"]) == n


def test_exposure_etag_and_area_filter(client: TestClient, store: Store, tmp_path: Path) -> None:
    params = {"hazard_type": "flood", "admin_level": "village", "area_code": "3399010"}
    r = client.get("/analysis/exposure", params=params)
    codes = [a["code"] for a in r.json()["areas"]]
    assert codes and all(c.startswith("3399010") and len(c) == 10 for c in codes)
    etag = r.headers["etag"]
    again = client.get("/analysis/exposure", params=params, headers={"If-None-Match": etag})
    assert again.status_code == 304
    # an ingest into an input layer changes the answer's ETag
    path = tmp_path / "one.geojson"
    point = {"type": "Point", "coordinates": [110.40, -6.95]}
    props = {"name": "Posko", "facility_type": "shelter", "capacity": 10}
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": point, "properties": props}]}))  # fmt: skip
    from gis.ingest.pipeline import IngestRequest, ingest

    ingest(store, IngestRequest(path=path, layer="facilities", mode="append"))
    fresh = client.get("/analysis/exposure", params=params, headers={"If-None-Match": etag})
    assert fresh.status_code == 200 and fresh.headers["etag"] != etag


@pytest.mark.parametrize(
    ("params", "status", "word"),
    [
        ({}, 400, "hazard_type"),
        ({"hazard_type": "lava"}, 400, "lava"),
        ({"hazard_type": "flood", "admin_level": "hamlet"}, 400, "admin_level"),
        ({"hazard_type": "flood", "area_code": "0000"}, 404, "0000"),
        ({"hazard_type": "flood", "colour": "red"}, 400, "colour"),
        ({"hazard_type": "flood", "f": "xlsx"}, 400, "xlsx"),
    ],
)
def test_exposure_errors_are_problems(
    client: TestClient, params: dict[str, str], status: int, word: str
) -> None:
    r = client.get("/analysis/exposure", params=params)
    assert r.status_code == status
    assert r.headers["content-type"] == PROBLEM and word in r.json()["detail"]


def test_within_polygon_counts_equal_shapely(client: TestClient, store: Store) -> None:
    polygon = box(110.36, -6.98, 110.42, -6.92)
    layers = ["facilities", "hazard_zones", "flood_points", "rivers"]
    r = client.post(
        "/analysis/within", json={"geometry": mapping(polygon), "layers": layers, "limit": 5}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    for layer in layers:
        truth = {fid for fid, g in geometries(store, layer) if g.intersects(polygon)}
        got = body["layers"][layer]
        assert got["count"] == len(truth) > 0, layer
        assert got["returned"] == len(got["features"]) == min(5, len(truth))
        assert {f["id"] for f in got["features"]} <= truth
        for f in got["features"]:
            assert shape(f["geometry"]).intersects(polygon.buffer(1e-7))
    assert body["total"] == sum(body["layers"][x]["count"] for x in layers)
    utm = gpd.GeoSeries([polygon], crs=4326).to_crs(32749).area.iloc[0]
    assert body["geometry_area_m2"] == pytest.approx(utm, rel=0.005)


def test_within_area_code_counts_equal_shapely(client: TestClient, store: Store) -> None:
    areas = {code: g for _, code, g in geometries(store, "admin_areas", "code")}
    area = areas["3399010001"]
    r = client.post(
        "/analysis/within",
        json={"area_code": "3399010001", "layers": ["facilities"], "limit": 10_000},
    )
    body = r.json()
    truth = {fid for fid, g in geometries(store, "facilities") if g.intersects(area)}
    assert body["layers"]["facilities"]["count"] == len(truth) > 0
    assert {f["id"] for f in body["layers"]["facilities"]["features"]} == truth


def _ring(n: int, radius: float = 0.01) -> list[list[float]]:
    angles = np.linspace(0, 2 * np.pi, n, endpoint=False)
    ring = [[110.4 + radius * np.cos(a), -6.95 + radius * np.sin(a)] for a in angles]
    return [*ring, ring[0]]


@pytest.mark.parametrize(
    ("body", "status", "word"),
    [
        ({"geometry": {"type": "Polygon", "coordinates": [_ring(10_001)]}, "layers": ["rivers"]},
         400, "vertices"),
        ({"geometry": mapping(box(100, -8, 112, 2)), "layers": ["rivers"]}, 400,
         f"{MAX_AREA_KM2:,} km²"),
        ({"geometry": {"type": "Polygon", "coordinates": [[[110.3, -7], [110.4, -6.9],
          [110.4, -7], [110.3, -6.9], [110.3, -7]]]}, "layers": ["rivers"]}, 400, "invalid"),
        ({"geometry": {"type": "Point", "coordinates": [110.4, -6.9]}, "layers": ["rivers"]},
         400, "Polygon"),
        ({"geometry": mapping(box(110.3, -7, 110.4, -6.9)), "layers": ["sewers"]}, 400, "sewers"),
        ({"geometry": mapping(box(110.3, -7, 110.4, -6.9)), "layers": []}, 400, "layers"),
        ({"area_code": "0000", "layers": ["facilities"]}, 404, "0000"),
        ({"area_code": "3399", "geometry": mapping(box(110.3, -7, 110.4, -6.9)),
          "layers": ["facilities"]}, 400, "exactly one"),
        ({"area_code": "3399", "layers": ["facilities"], "limit": -1}, 400, "limit"),
        ({"area_code": "3399", "layers": ["facilities"], "colour": 1}, 400, "colour"),
        ([1, 2], 400, "object"),
    ],
)  # fmt: skip
def test_within_errors_are_problems(
    client: TestClient, body: object, status: int, word: str
) -> None:
    r = client.post("/analysis/within", json=body)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == PROBLEM and word in r.json()["detail"]


def test_within_refuses_non_json_and_huge_bodies(client: TestClient) -> None:
    r = client.post("/analysis/within", content=b"{not json")
    assert r.status_code == 400 and "JSON" in r.json()["detail"]
    r = client.post("/analysis/within", content=b" " * 1_000_001)
    assert r.status_code == 400 and "bytes" in r.json()["detail"]


def test_summary_matches_exposure(client: TestClient) -> None:
    r = client.get("/analysis/summary", params={"area_code": "3399010"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["areas"][0]["code"] == "3399010" and body["areas"][0]["role"] == "area"
    assert all(a["role"] == "child" for a in body["areas"][1:]) and len(body["areas"]) > 2
    exposure = client.get(
        "/analysis/exposure", params={"hazard_type": "flood", "area_code": "3399010"}
    ).json()
    (district,) = exposure["areas"]
    flood = next(h for h in body["areas"][0]["hazards"] if h["hazard_type"] == "flood")
    for got, want in zip(flood["classes"], district["classes"], strict=True):
        assert {k: got[k] for k in want} == want
        assert 0 < got["land_share"] <= 1
    assert sum(c["land_share"] for c in flood["classes"]) <= 1
    # children's land, people and facilities add up to the parent's (the villages tile it)
    for i, cls in enumerate(flood["classes"]):
        kids = [
            next(h for h in a["hazards"] if h["hazard_type"] == "flood")["classes"][i]
            for a in body["areas"][1:]
        ]
        assert sum(k["land_m2"] for k in kids) == pytest.approx(cls["land_m2"], rel=1e-3)
        assert sum(k["population"] for k in kids) == pytest.approx(cls["population"], rel=0.02)
        assert sum(k["facilities_total"] for k in kids) == cls["facilities_total"]
    assert client.get("/analysis/summary", params={"area_code": "0000"}).status_code == 404
    assert client.get("/analysis/summary").status_code == 400
    one = client.get("/analysis/summary", params={"area_code": "3399010", "hazard_type": "flood"})
    assert one.json()["hazard_types"] == ["flood"]


def test_openapi_describes_the_planner_paths(client: TestClient) -> None:
    paths = client.get("/api").json()["paths"]
    assert "post" in paths["/analysis/within"]
    for path in ("/analysis/exposure", "/analysis/summary"):
        names = {p["name"] for p in paths[path]["get"]["parameters"]}
        assert {"area_code", "hazard_type"} <= names


def test_within_on_an_empty_store_counts_zero(store: Store) -> None:
    with TestClient(create_app(store=store)) as c:
        r = c.post(
            "/analysis/within",
            json={"geometry": mapping(box(110.3, -7, 110.4, -6.9)), "layers": ["facilities"]},
        )
        assert r.status_code == 200, r.text
        assert r.json()["layers"]["facilities"] == {"count": 0, "returned": 0, "features": []}
        gone = c.post("/analysis/within", json={"area_code": "3399", "layers": ["facilities"]})
        assert gone.status_code == 404
        exposure = c.get("/analysis/exposure", params={"hazard_type": "flood"})
        assert exposure.status_code == 404 and "not loaded" in exposure.json()["detail"]
