"""K nearest facilities (/facilities/nearest) on both stores: order and metres against a
brute force with pyproj.Geod over every facility, filters on a hand-made town where the
answer is known, and the same answers from PostGIS and DuckDB."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from risk_fixtures import GEOD, LAT0, LON0, facilities, load_town

from api.app import create_app
from conftest import make_store
from gis.cli import SAMPLE_DIR, load_demo
from gis.geodesy import planar_bound_is_exact
from gis.store.base import Store

URL = "/facilities/nearest"


@pytest.fixture
def town(store: Store, tmp_path: Path) -> Iterator[TestClient]:
    load_town(store, tmp_path / "town")
    with TestClient(create_app(store=store)) as c:
        yield c


def brute_force(lon: float, lat: float, rows: list[tuple], k: int) -> list[tuple[str, float]]:
    """(name, metres) of the k nearest rows (name, ..., lon, lat), by pyproj.Geod."""
    out = []
    for row in rows:
        _, _, metres = GEOD.inv(lon, lat, row[-2], row[-1])
        out.append((row[0], metres))
    return sorted(out, key=lambda t: t[1])[:k]


def names_and_metres(body: dict) -> list[tuple[str, float]]:
    return [(f["name"], f["distance_m"]) for f in body["facilities"]]


def assert_matches(got: list[tuple[str, float]], want: list[tuple[str, float]]) -> None:
    assert [n for n, _ in got] == [n for n, _ in want]
    for (_, g), (_, w) in zip(got, want, strict=True):
        assert g == pytest.approx(w, rel=0.005, abs=0.1)


def test_nearest_open_shelters_match_brute_force(town: TestClient) -> None:
    body = town.get(f"{URL}?lon={LON0}&lat={LAT0}&type=shelter&limit=7&open=true").json()
    rows = [f for f in facilities() if f[1] == "shelter" and f[3]]
    assert_matches(names_and_metres(body), brute_force(LON0, LAT0, rows, 7))
    first = body["facilities"][0]
    assert first["name"] == "Shelter A open"
    azimuth, _, metres = GEOD.inv(LON0, LAT0, first["lon"], first["lat"])
    assert first["distance_m"] == pytest.approx(metres, abs=0.1)
    assert first["bearing_deg"] == pytest.approx(azimuth % 360, abs=0.1)
    assert first["direction"] == {"id": "T", "en": "E"}
    assert body["label"] == {"id": "Tempat evakuasi", "en": "Shelter"}
    assert body["notice"] is None


def test_closed_shelters_count_unless_open_is_asked(town: TestClient) -> None:
    body = town.get(f"{URL}?lon={LON0}&lat={LAT0}&type=shelter&limit=2").json()
    assert [f["name"] for f in body["facilities"]] == ["Shelter A open", "Shelter B closed"]
    assert body["facilities"][1]["is_open"] is False


def test_min_capacity(town: TestClient) -> None:
    body = town.get(f"{URL}?lon={LON0}&lat={LAT0}&type=shelter&limit=50&min_capacity=600").json()
    rows = [f for f in facilities() if f[1] == "shelter" and f[2] >= 600]
    assert len(body["facilities"]) == len(rows)
    assert_matches(names_and_metres(body), brute_force(LON0, LAT0, rows, 50))
    assert all(f["capacity"] >= 600 for f in body["facilities"])
    assert body["facilities"][0]["name"] == "Shelter D landslide-medium"


def test_exclude_hazard_class(town: TestClient) -> None:
    base = f"{URL}?lon={LON0}&lat={LAT0}&type=shelter&limit=4&open=true"
    every = [f["name"] for f in town.get(base).json()["facilities"]]
    assert every[:3] == ["Shelter A open", "Shelter C flood-high", "Shelter D landslide-medium"]
    no_high = [
        f["name"] for f in town.get(base + "&exclude_hazard_class=high").json()["facilities"]
    ]
    assert "Shelter C flood-high" not in no_high and "Shelter D landslide-medium" in no_high
    # A lies in the flood-low zone: excluding low drops it too
    no_low = [f["name"] for f in town.get(base + "&exclude_hazard_class=low").json()["facilities"]]
    assert "Shelter A open" not in no_low and "Shelter C flood-high" in no_low
    flood_medium = town.get(base + "&exclude_hazard_class=medium&hazard_type=flood").json()
    assert "Shelter D landslide-medium" in [f["name"] for f in flood_medium["facilities"]]
    any_medium = town.get(base + "&exclude_hazard_class=medium,high").json()
    names = [f["name"] for f in any_medium["facilities"]]
    assert "Shelter D landslide-medium" not in names and "Shelter C flood-high" not in names
    assert any_medium["filters"]["exclude_hazard_class"] == ["medium", "high"]


@pytest.mark.parametrize(
    ("query", "needle"),
    [
        ("lon=181&lat=-6.97&type=shelter", "lon"),
        ("lon=110.4&lat=-91&type=shelter", "lat"),
        ("lon=nan&lat=-6.97&type=shelter", "lon"),
        ("lat=-6.97&type=shelter", "lon is required"),
        ("lon=10&lat=50&type=shelter", "outside the service extent"),
        ("lon=110.4&lat=-6.97", "type is required"),
        ("lon=110.4&lat=-6.97&type=mall", "type must be one of"),
        ("lon=110.4&lat=-6.97&type=shelter&limit=0", "limit"),
        ("lon=110.4&lat=-6.97&type=shelter&limit=51", "limit must be between 1 and 50"),
        ("lon=110.4&lat=-6.97&type=shelter&limit=x", "limit must be an integer"),
        ("lon=110.4&lat=-6.97&type=shelter&open=maybe", "open"),
        ("lon=110.4&lat=-6.97&type=shelter&min_capacity=-1", "min_capacity"),
        ("lon=110.4&lat=-6.97&type=shelter&exclude_hazard_class=extreme", "exclude_hazard_class"),
        ("lon=110.4&lat=-6.97&type=shelter&hazard_type=flood", "needs exclude_hazard_class"),
        ("lon=110.4&lat=-6.97&type=shelter&exclude_hazard_class=high&hazard_type=meteor",
         "hazard_type"),
        ("lon=110.4&lat=-6.97&type=shelter&radius=5", "unknown query parameter"),
    ],
)  # fmt: skip
def test_bad_input_is_a_400_problem(town: TestClient, query: str, needle: str) -> None:
    r = town.get(f"{URL}?{query}")
    assert r.status_code == 400
    assert r.headers["content-type"] == "application/problem+json"
    assert needle in r.json()["detail"]


def test_demo_random_points_match_brute_force(store: Store, tmp_path: Path) -> None:
    load_demo(store, SAMPLE_DIR, tmp_path / "rejects")
    rows = [
        (name, ftype, is_open, geom.x, geom.y)
        for name, ftype, is_open, geom in store.read_features(
            "facilities", ("name", "facility_type", "is_open")
        )
    ]
    rng = np.random.default_rng(3)
    with TestClient(create_app(store=store)) as client:
        for lon, lat in zip(
            rng.uniform(110.28, 110.52, 15), rng.uniform(-7.07, -6.89, 15), strict=True
        ):
            for ftype in ("shelter", "school", "hospital"):
                url = f"{URL}?lon={lon}&lat={lat}&type={ftype}&limit=10&open=true"
                body = client.get(url).json()
                assert "SINTETIS" in body["notice"]["id"] and "SYNTHETIC" in body["notice"]["en"]
                got = names_and_metres(body)
                want = [r for r in rows if r[1] == ftype and r[2]]
                assert_matches(got, brute_force(lon, lat, want, 10))


def test_same_answers_on_postgis_and_duckdb(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    answers = []
    for kind in ("embedded", "postgis"):
        store = make_store(kind, tmp_path / kind, request)
        try:
            load_demo(store, SAMPLE_DIR, tmp_path / kind / "rejects")
            with TestClient(create_app(store=store)) as client:
                answers.append(
                    [
                        client.get(
                            f"{URL}?lon={110.3 + i * 0.02}&lat={-7.05 + i * 0.015}&type={t}"
                            "&limit=8&exclude_hazard_class=high"
                        ).json()
                        for i in range(10)
                        for t in ("shelter", "health_center")
                    ]
                )
        finally:
            store.close()
    for a, b in zip(*answers, strict=True):
        assert [f["id"] for f in a["facilities"]] == [f["id"] for f in b["facilities"]]
        for fa, fb in zip(a["facilities"], b["facilities"], strict=True):
            assert fa["distance_m"] == pytest.approx(fb["distance_m"], abs=0.05)


def test_planar_bound() -> None:
    # 1 km found, nothing else within 0.01 degree (>= 1.09 km): exact
    assert planar_bound_is_exact(-7.0, 1000.0, 0.01)
    # 2 km found, but an unseen feature 0.01 degree away may be only ~1.1 km: not exact
    assert not planar_bound_is_exact(-7.0, 2000.0, 0.01)


def test_too_few_candidates_are_widened_until_exact(
    town: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no oversampling the planar order often differs from the geodesic one near the
    K-th facility; the bound must notice and fetch more, so answers stay exact."""
    from gis.analysis import risk as analysis

    verdicts: list[bool] = []
    real_rank = analysis.rank

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        ranked, exact = real_rank(*args, **kwargs)
        verdicts.append(exact)
        return ranked, exact

    monkeypatch.setattr(analysis, "initial_candidates", lambda limit: limit)
    monkeypatch.setattr(analysis, "rank", spy)
    rows = [f for f in facilities() if f[1] == "shelter"]
    rng = np.random.default_rng(9)
    for lon, lat in zip(
        LON0 + rng.uniform(-0.04, 0.04, 25), LAT0 + rng.uniform(-0.04, 0.04, 25), strict=True
    ):
        body = town.get(f"{URL}?lon={lon}&lat={lat}&type=shelter&limit=3").json()
        assert_matches(names_and_metres(body), brute_force(lon, lat, rows, 3))
    assert False in verdicts and verdicts[-1] is True
