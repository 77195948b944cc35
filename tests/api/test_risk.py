"""/risk on both stores: hazard zones, admin areas, raster values, nearest facilities and
verified flood reports, checked against shapely, rasterio and pyproj.Geod computations
on a hand-made town (answers known) and on the demo city (answers recomputed)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyproj
import pytest
import rasterio
from fastapi.testclient import TestClient
from risk_fixtures import GEOD, LAT0, LON0, NAMED, east, load_town, write_raster
from shapely.geometry import Point

from api.app import create_app
from gis.analysis.risk import RASTERS, decode
from gis.cli import SAMPLE_DIR, load_demo
from gis.ingest.raster import value_at
from gis.store.base import Store
from layers.catalog import HAZARD_ZONES

AT = "2026-03-10T12:00:00Z"


@pytest.fixture
def town(store: Store, tmp_path: Path) -> Iterator[TestClient]:
    load_town(store, tmp_path / "town")
    with TestClient(create_app(store=store)) as c:
        yield c


@pytest.fixture
def demo(store: Store, tmp_path: Path) -> Iterator[TestClient]:
    load_demo(store, SAMPLE_DIR, tmp_path / "rejects")
    with TestClient(create_app(store=store)) as c:
        yield c


def risk(client: TestClient, query: str) -> dict:
    r = client.get(f"/risk?{query}")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    return r.json()


def test_town_hazards_and_advice(town: TestClient) -> None:
    body = risk(town, f"lon={LON0}&lat={LAT0}&at={AT}")
    assert [h["hazard_type"] for h in body["hazards"]] == ["flood"]
    flood = body["hazards"][0]
    assert flood["hazard_class"] == "medium"  # inside both the low and the medium zone
    assert sorted(z["hazard_class"] for z in flood["zones"]) == ["low", "medium"]
    assert {z["valid_from"] for z in flood["zones"]} == {"2025-01-01"}
    assert flood["hazard_type_label"] == {"id": "Banjir", "en": "Flood"}
    medium = HAZARD_ZONES.advice_for("medium", "flood")
    assert medium is not None and flood["advice"] == {"id": medium.id, "en": medium.en}
    # in the flood-high square: the type-specific advice
    high = risk(town, f"lon={LON0}&lat={LAT0 - 0.003}&at={AT}")["hazards"][0]
    assert high["hazard_class"] == "high" and "flood" in high["advice"]["en"].lower()
    assert high["advice"]["id"].startswith("Bahaya banjir tinggi")
    assert risk(town, f"lon={LON0 + 0.03}&lat={LAT0 + 0.03}&at={AT}")["hazards"] == []


def test_town_admin_areas_broadest_first(town: TestClient) -> None:
    body = risk(town, f"lon={LON0}&lat={LAT0}&at={AT}")
    assert [a["code"] for a in body["admin_areas"]] == ["33", "3301", "3301010", "3301010001"]
    assert body["admin_areas"][-1]["level_label"] == {"id": "Desa/kelurahan", "en": "Village"}
    assert body["notice"] is None  # hand-made data carries no DEMO notice


def test_town_nearest_facilities(town: TestClient) -> None:
    body = risk(town, f"lon={LON0}&lat={LAT0}&at={AT}")
    want = {"shelter": "Shelter A open", "hospital": "Hospital E",
            "health_center": "Health centre F"}  # fmt: skip
    for key, name in want.items():
        facility = body["nearest"][key]["facility"]
        assert facility["name"] == name
        _, _, lon, lat = next(f for f in NAMED if f[0] == name)[2:]
        azimuth, _, metres = GEOD.inv(LON0, LAT0, lon, lat)
        assert facility["distance_m"] == pytest.approx(metres, rel=0.005)
        assert facility["bearing_deg"] == pytest.approx(azimuth % 360, abs=0.1)
    # Shelter B (closed) is nearer than every open shelter but C/D: it is never the answer
    north = risk(town, f"lon={LON0}&lat={LAT0 + 0.0021}&at={AT}")
    assert north["nearest"]["shelter"]["facility"]["name"] != "Shelter B closed"


def test_town_flood_reports_radius_and_hours(town: TestClient) -> None:
    body = risk(town, f"lon={LON0}&lat={LAT0}&at={AT}&hours=24&radius_m=1000")
    reports = body["flood_reports"]
    assert [r["source"] for r in reports["reports"]] == [
        "near verified recent",
        "edge verified recent",
    ]
    assert reports["count"] == 2 and reports["complete"] is True
    assert reports["since"] == "2026-03-09T12:00:00Z" and reports["until"] == AT
    lon, lat = east(300)
    assert reports["reports"][0]["distance_m"] == pytest.approx(300, abs=0.5)
    assert (reports["reports"][0]["lon"], reports["reports"][0]["lat"]) == pytest.approx(
        (lon, lat), abs=1e-6
    )
    wider = risk(town, f"lon={LON0}&lat={LAT0}&at={AT}&hours=24&radius_m=2000")["flood_reports"]
    assert wider["count"] == 3
    longer = risk(town, f"lon={LON0}&lat={LAT0}&at={AT}&hours=720&radius_m=1000")
    assert longer["flood_reports"]["count"] == 3  # the old one joins; never the future one
    narrow = risk(town, f"lon={LON0}&lat={LAT0}&at={AT}&hours=24&radius_m=980")
    assert narrow["flood_reports"]["count"] == 1  # 990 m is outside 980 m


def test_town_raster_value_against_rasterio(town: TestClient, tmp_path: Path) -> None:
    path = write_raster(tmp_path)
    to_utm = pyproj.Transformer.from_crs(4326, 32749, always_xy=True)
    rng = np.random.default_rng(11)
    with rasterio.open(path) as ds:
        for lon, lat in zip(
            LON0 + rng.uniform(-0.009, 0.009, 12), LAT0 + rng.uniform(-0.009, 0.009, 12),
            strict=True,
        ):  # fmt: skip
            expected = float(next(ds.sample([to_utm.transform(lon, lat)]))[0])
            rasters = risk(town, f"lon={lon}&lat={lat}&at={AT}")["rasters"]
            depth = next(r for r in rasters if r["name"] == "flood_depth")
            assert depth["unit"] == "m" and depth["value"] == pytest.approx(expected)
    corner = risk(town, f"lon={LON0 - 0.0099}&lat={LAT0 + 0.0099}&at={AT}")["rasters"]
    assert corner[0]["value"] is None  # nodata
    outside = risk(town, f"lon={LON0 + 0.05}&lat={LAT0}&at={AT}")["rasters"]
    assert outside[0]["value"] is None


def test_address_code(town: TestClient) -> None:
    body = risk(town, f"address_code=3301010002&at={AT}")
    assert body["location"]["address_code"] == "3301010002"
    assert 110.41 <= body["location"]["lon"] <= 110.43
    assert body["admin_areas"][-1]["code"] == "3301010002"
    r = town.get("/risk?address_code=9999")
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    ("query", "needle"),
    [
        ("lon=110.4", "lat is required"),
        ("lon=-181&lat=-6.97", "lon must be"),
        ("lon=110.4&lat=95", "lat must be"),
        ("lon=inf&lat=-6.97", "lon must be"),
        ("lon=0&lat=0", "outside the service extent"),
        ("lon=110.4&lat=-6.97&radius_m=0", "radius_m"),
        ("lon=110.4&lat=-6.97&radius_m=10001", "radius_m must be between 1 and 10000"),
        ("lon=110.4&lat=-6.97&hours=721", "hours must be between 1 and 720"),
        ("lon=110.4&lat=-6.97&at=yesterday", "at must be an RFC 3339"),
        ("lon=110.4&lat=-6.97&type=shelter", "unknown query parameter"),
        ("lon=110.4&lat=-6.97&address_code=3301", "not both"),
        ("address_code=" + "9" * 21, "address_code"),
    ],
)
def test_bad_input_is_a_400_problem(town: TestClient, query: str, needle: str) -> None:
    r = town.get(f"/risk?{query}")
    assert r.status_code == 400
    assert r.headers["content-type"] == "application/problem+json"
    assert needle in r.json()["detail"]


def test_demo_answers_recomputed(demo: TestClient, store: Store) -> None:
    zones = list(store.read_features("hazard_zones", ("fid", "hazard_type", "hazard_class")))
    areas = list(store.read_features("admin_areas", ("code",)))
    shelters = [
        (fid, geom)
        for fid, ftype, is_open, geom in store.read_features(
            "facilities", ("fid", "facility_type", "is_open")
        )
        if ftype == "shelter" and is_open
    ]
    depth = store.get_raster("flood_depth")
    rng = np.random.default_rng(5)
    for lon, lat in zip(
        rng.uniform(110.29, 110.51, 20), rng.uniform(-7.06, -6.90, 20), strict=True
    ):
        body = risk(demo, f"lon={lon}&lat={lat}")
        pt = Point(lon, lat)
        got_zones = sorted(z["id"] for h in body["hazards"] for z in h["zones"])
        assert got_zones == sorted(z[0] for z in zones if z[-1].intersects(pt))
        assert {a["code"] for a in body["admin_areas"]} == {
            a[0] for a in areas if a[-1].intersects(pt)
        }
        best = min(shelters, key=lambda s: GEOD.inv(lon, lat, s[1].x, s[1].y)[2])
        facility = body["nearest"]["shelter"]["facility"]
        assert facility["id"] == best[0]
        assert facility["distance_m"] == pytest.approx(
            GEOD.inv(lon, lat, best[1].x, best[1].y)[2], rel=0.005
        )
        value = next(r["value"] for r in body["rasters"] if r["name"] == "flood_depth")
        expected = value_at(depth, lon, lat)
        assert value == (None if expected is None else pytest.approx(expected, abs=1e-4))
        assert "SINTETIS" in body["notice"]["id"] and "SYNTHETIC" in body["notice"]["en"]
        assert body["location"] == {"lon": lon, "lat": lat}


def test_demo_flood_reports_against_brute_force(demo: TestClient, store: Store) -> None:
    rows = list(store.read_features("flood_points", ("fid", "status", "observed_at")))
    body = risk(demo, "lon=110.41&lat=-6.97&radius_m=5000&hours=720&at=2026-03-20T00:00:00Z")
    reports = body["flood_reports"]
    since = np.datetime64("2026-02-18T00:00:00")
    until = np.datetime64("2026-03-20T00:00:00")
    expected = sorted(
        (GEOD.inv(110.41, -6.97, g.x, g.y)[2], fid)
        for fid, status, observed, g in rows
        if status == "verified"
        and since <= np.datetime64(observed.replace(tzinfo=None)) <= until
        and GEOD.inv(110.41, -6.97, g.x, g.y)[2] <= 5000
    )
    assert reports["count"] == len(expected) > 0
    assert [r["id"] for r in reports["reports"]] == [fid for _, fid in expected[:20]]
    assert all(r["status"] == "verified" for r in reports["reports"])


def test_raster_cache_decodes_once(demo: TestClient, store: Store) -> None:
    risk(demo, "lon=110.41&lat=-6.97")
    info = next(r for r in store.rasters() if r.name == "flood_depth")
    stored = store.get_raster("flood_depth")
    cached = RASTERS.get(store, "flood_depth", info.version, stored.sha256)
    assert cached is RASTERS.get(store, "flood_depth", info.version, stored.sha256)
    fresh = decode(stored)
    assert not isinstance(fresh, type(stored))
    assert cached.value_at(110.41, -6.97) == fresh.value_at(110.41, -6.97)  # type: ignore[union-attr]


def test_docs_describe_every_parameter() -> None:
    from api.routes.risk import NEAREST_PARAMS, RISK_PARAMS

    doc = (Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text(encoding="utf-8")
    section = doc.split("## Spatial questions: citizens", 1)[1].split("\n## ", 1)[0]
    for name in RISK_PARAMS | NEAREST_PARAMS:
        assert f"`{name}`" in section, name


def test_private_fields_never_leave(town: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """Facility output follows Field.public: make contact private and it disappears."""
    from dataclasses import replace

    from gis.query import nearest
    from layers.catalog import FACILITIES

    shown = town.get(f"/facilities/nearest?lon={LON0}&lat={LAT0}&type=shelter").json()
    assert "contact" in shown["facilities"][0]
    private = replace(
        FACILITIES,
        fields=tuple(replace(f, public=f.name != "contact") for f in FACILITIES.fields),
    )
    monkeypatch.setattr(nearest, "FACILITIES", private)
    hidden = town.get(f"/facilities/nearest?lon={LON0}&lat={LAT0}&type=shelter").json()
    assert all("contact" not in f for f in hidden["facilities"])
    assert [f["id"] for f in hidden["facilities"]] == [f["id"] for f in shown["facilities"]]
    body = risk(town, f"lon={LON0}&lat={LAT0}&at={AT}")
    assert "contact" not in body["nearest"]["shelter"]["facility"]


def test_openapi_describes_the_citizen_paths(town: TestClient) -> None:
    doc = town.get("/api").json()
    risk_params = {p["name"] for p in doc["paths"]["/risk"]["get"]["parameters"]}
    nearest = doc["paths"]["/facilities/nearest"]["get"]["parameters"]
    from api.routes.risk import NEAREST_PARAMS, RISK_PARAMS

    assert risk_params == RISK_PARAMS
    assert {p["name"] for p in nearest} == NEAREST_PARAMS
    required = {p["name"] for p in nearest if p["required"]}
    assert required == {"lon", "lat", "type"}


def test_large_rasters_are_sampled_from_their_bytes(
    town: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A raster over the decode limit is read per request (GDAL window), same values."""
    from gis.analysis import risk as analysis

    monkeypatch.setattr(analysis, "MAX_DECODED_PIXELS", 0)
    path = write_raster(tmp_path)
    to_utm = pyproj.Transformer.from_crs(4326, 32749, always_xy=True)
    with rasterio.open(path) as ds:
        for lon, lat in ((LON0, LAT0), (LON0 + 0.004, LAT0 - 0.006)):
            expected = float(next(ds.sample([to_utm.transform(lon, lat)]))[0])
            rasters = risk(town, f"lon={lon}&lat={lat}&at={AT}")["rasters"]
            assert rasters[0]["value"] == pytest.approx(expected)
