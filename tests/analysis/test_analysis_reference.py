"""gis.analysis against independent computations on both stores: geopandas sjoin for the
facilities, pixel centres joined to polygons for the population, pyproj.Geod and a UTM
overlay for land areas. Each store is compared with the same reference, so agreement
here also means both stores agree."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import pytest
import rasterio
import shapely
from affine import Affine

from conftest import make_store
from gis.analysis import exposure as ex
from gis.analysis import summary as sm
from gis.analysis import zonal
from gis.cli import SAMPLE_DIR, load_demo
from gis.errors import InvalidInput, NotFound
from gis.ingest.pipeline import IngestRequest, ingest
from gis.store.base import Store
from layers.catalog import HAZARD_CLASSES

RANK = {c: i + 1 for i, c in enumerate(HAZARD_CLASSES)}


@pytest.fixture
def demo(store: Store, tmp_path: Path) -> Store:
    load_demo(store, SAMPLE_DIR, tmp_path / "rejects")
    return store


def frame(store: Store, layer: str, *columns: str) -> gpd.GeoDataFrame:
    rows = list(store.read_features(layer, ("fid", *columns)))
    data = pd.DataFrame([r[:-1] for r in rows], columns=["fid", *columns])
    return gpd.GeoDataFrame(data, geometry=[r[-1] for r in rows], crs=4326)


def reference_facilities(store: Store, hazard_type: str, level: str) -> pd.DataFrame:
    """(code, hazard_class, facility_type) -> count, shelter capacity, by geopandas."""
    fac = frame(store, "facilities", "facility_type", "capacity")
    zones = frame(store, "hazard_zones", "hazard_type", "hazard_class")
    zones = zones[zones.hazard_type == hazard_type]
    areas = frame(store, "admin_areas", "code", "level")
    areas = areas[areas.level == level]
    hit = gpd.sjoin(fac, zones[["hazard_class", "geometry"]], predicate="intersects")
    hit["rank"] = hit.hazard_class.map(RANK)
    top = hit.groupby("fid")["rank"].max().rename("rank").reset_index()
    exposed = fac.merge(top, on="fid")
    joined = gpd.sjoin(exposed, areas[["code", "geometry"]], predicate="intersects")
    joined["hazard_class"] = joined["rank"].map(lambda r: HAZARD_CLASSES[r - 1])
    joined["shelter_cap"] = np.where(
        joined.facility_type == "shelter", joined.capacity.fillna(0), 0
    )
    return joined.groupby(["code", "hazard_class", "facility_type"]).agg(
        count=("fid", "size"), capacity=("shelter_cap", "sum")
    )


def reference_population(store: Store, hazard_type: str, level: str) -> pd.Series:
    """(code, hazard_class or 'none') -> people: every pixel centre of the source raster as
    a point, joined to areas and zones (highest class) with geopandas in the raster CRS."""
    with rasterio.open(SAMPLE_DIR / "population.tif") as ds:
        values = ds.read(1, masked=True).filled(0).astype(np.float64)
        crs = ds.crs
        rows, cols = np.mgrid[0 : ds.height, 0 : ds.width]
        xs, ys = rasterio.transform.xy(ds.transform, rows.ravel(), cols.ravel(), offset="center")
    pts = gpd.GeoDataFrame({"pop": values.ravel()}, geometry=gpd.points_from_xy(xs, ys), crs=crs)
    pts = pts[pts["pop"] != 0]
    areas = frame(store, "admin_areas", "code", "level")
    areas = areas[areas.level == level].to_crs(crs)
    zones = frame(store, "hazard_zones", "hazard_type", "hazard_class")
    zones = zones[zones.hazard_type == hazard_type].to_crs(crs)
    in_area = gpd.sjoin(pts, areas[["code", "geometry"]], predicate="within").drop(
        columns="index_right"
    )
    in_zone = gpd.sjoin(
        in_area, zones[["hazard_class", "geometry"]], how="left", predicate="within"
    )
    in_zone["rank"] = in_zone.hazard_class.map(RANK).fillna(0)
    top = (
        in_zone.reset_index()
        .groupby("index")
        .agg(code=("code", "first"), rank=("rank", "max"), pop=("pop", "first"))
    )
    top["hazard_class"] = top["rank"].map(
        lambda r: "none" if r == 0 else HAZARD_CLASSES[int(r) - 1]
    )
    return top.groupby(["code", "hazard_class"])["pop"].sum()


@pytest.mark.parametrize(
    ("hazard_type", "level", "least"), [("flood", "district", 100), ("landslide", "village", 1)]
)
def test_exposure_matches_geopandas(demo: Store, hazard_type: str, level: str, least: int) -> None:
    result = ex.exposure(demo, hazard_type, level)
    ref = reference_facilities(demo, hazard_type, level)
    assert ref["count"].sum() >= least  # the demo city has exposed facilities of both kinds
    got = {
        (a.code, c.hazard_class, t): n
        for a in result.areas
        for c in a.classes
        for t, n in c.facilities.items()
        if n
    }
    assert got == {k: int(v) for k, v in ref["count"].items()}
    caps = {(a.code, c.hazard_class): c.shelter_capacity for a in result.areas for c in a.classes}
    ref_caps = ref["capacity"].groupby(level=[0, 1]).sum()
    for key, cap in caps.items():
        assert cap == int(ref_caps.get(key, 0)), key

    pop = reference_population(demo, hazard_type, level)
    assert pop.sum() > 1000
    for a in result.areas:
        for c in a.classes:
            expected = float(pop.get((a.code, c.hazard_class), 0.0))
            assert c.population == pytest.approx(expected, rel=1e-6, abs=1e-3), (a.code, c)
        total = float(pop[a.code].sum()) if a.code in pop.index.get_level_values(0) else 0.0
        assert a.population_total == pytest.approx(total, rel=1e-6, abs=1e-3)


def test_exposure_under_an_area_and_the_cache(demo: Store) -> None:
    whole = ex.exposure(demo, "flood", "village")
    under = ex.exposure(demo, "flood", "village", "3399010")
    assert under.areas and len(under.areas) < len(whole.areas)
    assert all(a.code.startswith("3399010") for a in under.areas)
    by_code = {a.code: a for a in whole.areas}
    for a in under.areas:  # the same numbers whichever way the areas were chosen
        assert ex.class_json(a.of("high")) == ex.class_json(by_code[a.code].of("high"))
    first = zonal.load_raster(demo, "population")
    assert first is not None and zonal.load_raster(demo, "population") is first


def test_exposure_rejects_bad_input(demo: Store) -> None:
    with pytest.raises(InvalidInput, match="hazard_type"):
        ex.exposure(demo, "lava")
    with pytest.raises(InvalidInput, match="admin_level"):
        ex.exposure(demo, "flood", "hamlet")
    with pytest.raises(NotFound, match="3300"):
        ex.exposure(demo, "flood", None, "3300")
    with pytest.raises(InvalidInput, match="above"):
        ex.exposure(demo, "flood", "regency", "3399010")


def test_exposure_needs_the_layers(store: Store) -> None:
    with pytest.raises(NotFound, match="not loaded"):
        ex.exposure(store, "flood")


def _ingest_geojson(store: Store, path: Path, layer: str, features: list[dict]) -> None:
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    ingest(store, IngestRequest(path=path, layer=layer))


def _square(x0: float, y0: float, size: float) -> dict:
    ring = [[x0, y0], [x0 + size, y0], [x0 + size, y0 + size], [x0, y0 + size], [x0, y0]]
    return {"type": "MultiPolygon", "coordinates": [[ring]]}


def test_overlapping_zones_count_once_in_the_highest_class(store: Store, tmp_path: Path) -> None:
    """A high zone inside a low zone of the same type: a facility and a population cell in
    both count once, in high; cells are taken by their centres."""
    crs = pyproj.CRS.from_epsg(32749)
    to_ll = pyproj.Transformer.from_crs(crs, 4326, always_xy=True)
    x0, y0 = 430_000.0, 9_230_000.0  # 20 x 20 cells of 100 m, each holding 1 person
    path = tmp_path / "pop.tif"
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=20,
        height=20,
        count=1,
        dtype="float32",
        crs=crs,
        transform=Affine(100, 0, x0, 0, -100, y0 + 2000),
    ) as ds:
        ds.write(np.ones((20, 20), dtype="float32"), 1)
    ingest(store, IngestRequest(path=path, raster="population"))

    def ll_square(x: float, y: float, size: float) -> dict:
        geom = shapely.transform(
            shapely.box(x, y, x + size, y + size),
            lambda xy: np.column_stack(to_ll.transform(xy[:, 0], xy[:, 1])),
        )
        return {"type": "MultiPolygon", "coordinates": [[list(map(list, geom.exterior.coords))]]}

    def feature(geometry: dict, **props: object) -> dict:
        return {"type": "Feature", "geometry": geometry, "properties": props}

    _ingest_geojson(
        store,
        tmp_path / "a.geojson",
        "admin_areas",
        [
            feature(ll_square(x0, y0, 2000), code="01", name="D", level="district"),
        ],
    )
    _ingest_geojson(
        store,
        tmp_path / "z.geojson",
        "hazard_zones",
        [
            feature(ll_square(x0, y0, 1000), hazard_type="flood", hazard_class="low"),
            feature(ll_square(x0 + 500, y0 + 500, 1000), hazard_type="flood", hazard_class="high"),
        ],
    )

    def point(x: float, y: float) -> dict:
        return {"type": "Point", "coordinates": list(to_ll.transform(x, y))}

    _ingest_geojson(
        store,
        tmp_path / "f.geojson",
        "facilities",
        [
            feature(point(x0 + 750, y0 + 750), name="both", facility_type="shelter", capacity=50),
            feature(point(x0 + 250, y0 + 250), name="low", facility_type="shelter", capacity=7),
            feature(point(x0 + 1750, y0 + 1750), name="out", facility_type="school"),
        ],
    )
    (area,) = ex.exposure(store, "flood", "district").areas
    low, medium, high = area.classes
    assert (low.facilities_total, medium.facilities_total, high.facilities_total) == (1, 0, 1)
    assert (low.shelter_capacity, high.shelter_capacity) == (7, 50)
    # low: 10x10 cells minus the 5x5 quarter under high; high: 10x10 cells
    assert (low.population, medium.population, high.population) == (75.0, 0.0, 100.0)
    assert area.population_total == 400.0
    body = sm.summary(store, "01", "flood")
    shares = [c["land_share"] for c in body["areas"][0]["hazards"][0]["classes"]]
    assert shares == pytest.approx([0.75 / 4, 0.0, 1 / 4], rel=0.005)


def test_summary_land_shares_against_geod_and_overlay(demo: Store) -> None:
    body = sm.summary(demo, "3399010")
    areas = frame(demo, "admin_areas", "code", "parent_code")
    family = areas[(areas.code == "3399010") | (areas.parent_code == "3399010")]
    assert body["areas"][0]["code"] == "3399010" and body["areas"][0]["role"] == "area"
    assert {a["code"] for a in body["areas"]} == set(family.code)
    assert set(body["hazard_types"]) == {"flood", "landslide"}
    geod = pyproj.Geod(ellps="WGS84")
    zones = frame(demo, "hazard_zones", "hazard_type", "hazard_class").to_crs(32749)
    for a in body["areas"]:
        geom = family[family.code == a["code"]].geometry.iloc[0]
        rings = [p for p in getattr(geom, "geoms", [geom])]
        truth = sum(
            abs(geod.polygon_area_perimeter(*np.asarray(r.coords).T)[0]) * (1 if k == 0 else -1)
            for p in rings
            for k, r in enumerate([p.exterior, *p.interiors])
        )
        assert a["area_m2"] == pytest.approx(truth, rel=0.005)
        utm_area = gpd.GeoDataFrame(geometry=[geom], crs=4326).to_crs(32749)
        for hazard in a["hazards"]:
            shares = [c["land_share"] for c in hazard["classes"]]
            assert all(0 <= s <= 1 for s in shares) and sum(shares) <= 1 + 1e-9
            z = zones[zones.hazard_type == hazard["hazard_type"]]
            for c in hazard["classes"]:
                part = gpd.overlay(
                    utm_area,
                    z[z.hazard_class == c["hazard_class"]],
                    how="intersection",
                    keep_geom_type=True,
                )
                utm = float(part.area.sum())
                assert c["land_m2"] == pytest.approx(utm, rel=0.005, abs=50.0)
                assert c["land_share"] == pytest.approx(c["land_m2"] / a["area_m2"], abs=1e-5)
    # facilities and people per class are the exposure's numbers for the same areas
    villages = {x.code: x for x in ex.exposure(demo, "flood", "village", "3399010").areas}
    for a in body["areas"][1:]:
        flood = next(h for h in a["hazards"] if h["hazard_type"] == "flood")
        for c in flood["classes"]:
            same = ex.class_json(villages[a["code"]].of(c["hazard_class"]))
            assert {k: c[k] for k in same} == same


@pytest.mark.postgis
def test_both_stores_give_the_same_answers(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """The same demo city in DuckDB and PostGIS: the same exposure and summary, to the
    floating-point tolerance."""
    answers = []
    for kind in ("embedded", "postgis"):
        (tmp_path / kind).mkdir()
        store = make_store(kind, tmp_path / kind, request)
        try:
            load_demo(store, SAMPLE_DIR, tmp_path / kind / "rejects")
            exposure = ex.to_json(ex.exposure(store, "flood", "village"))
            answers.append((exposure, sm.summary(store, "3399020")))
        finally:
            store.close()
    (e1, s1), (e2, s2) = answers
    assert e1 == e2
    assert sum(len(a["hazards"]) for a in s1["areas"]) > 3

    def close(a: object, b: object) -> None:
        if isinstance(a, dict) and isinstance(b, dict):
            assert a.keys() == b.keys()
            for k in a:
                close(a[k], b[k])
        elif isinstance(a, list) and isinstance(b, list):
            assert len(a) == len(b)
            for x, y in zip(a, b, strict=True):
                close(x, y)
        elif isinstance(a, float):
            assert a == pytest.approx(b, rel=1e-6, abs=1e-3)
        else:
            assert a == b

    close(s1, s2)
