"""scripts/make_sample_data.py: deterministic, valid, catalog-conformant SYNTHETIC data.

The generator runs into temporary directories at a small --scale, so these tests check
the code path that produces the committed data/ without depending on the committed files.
"""

from __future__ import annotations

import csv
import importlib
import importlib.util
import json
import math
import sys
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from types import ModuleType
from typing import Any

import pyogrio
import pytest
import rasterio
import shapely
import shapely.geometry
from shapely.geometry.base import BaseGeometry

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "make_sample_data.py"
SCALE = 0.05
if str(ROOT) not in sys.path:  # the catalog lives in the repository, not in site-packages
    sys.path.insert(0, str(ROOT))
catalog = importlib.import_module("layers.catalog")
SPECS = {spec.name: spec for spec in catalog.LAYER_SPECS}
WIB = timezone(timedelta(hours=7))


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_sample_data", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while executing
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def gen() -> ModuleType:
    return load_script()


@pytest.fixture(scope="module")
def demo(gen: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    assert gen.main(["--out", str(out), "--scale", str(SCALE)]) == 0
    return out


@pytest.fixture(scope="module")
def bench(gen: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bench")
    args = [
        "--formats",
        "bench",
        "--out",
        str(out),
        "--scale",
        str(SCALE),
        "--points",
        "2500",
        "--polygons",
        "1200",
    ]
    assert gen.main(args) == 0
    return out


def manifest(out: Path) -> dict[str, Any]:
    return json.loads((out / "manifest.json").read_text(encoding="utf-8"))


def features(path: Path) -> Iterator[tuple[dict[str, Any], BaseGeometry]]:
    """(properties, geometry) of a GeoJSON file or a lon/lat CSV, values as written."""
    if path.suffix == ".csv":
        with path.open(encoding="utf-8", newline="") as f:
            for row in csv.DictReader(f):
                point = shapely.Point(float(row.pop("lon")), float(row.pop("lat")))
                yield row, point
        return
    data = json.loads(path.read_text(encoding="utf-8"))
    for feature in data["features"]:
        yield feature["properties"], shapely.geometry.shape(feature["geometry"])


def layer(out: Path, name: str) -> list[tuple[dict[str, Any], BaseGeometry]]:
    (entry,) = [e for e in manifest(out)["layers"] if e["layer"] == name]
    return list(features(out / entry["file"]))


def check_value(field: Any, value: Any) -> None:
    """A written value fits a catalog field (CSV values arrive as text)."""
    if value is None or value == "":
        assert not field.required, f"{field.name} is required"
        return
    if field.type == "text":
        assert isinstance(value, str)
        assert field.max_length is None or len(value) <= field.max_length
        assert field.enum is None or value in field.enum, f"{field.name}={value!r}"
    elif field.type in ("integer", "float"):
        number = int(value) if field.type == "integer" else float(value)
        assert field.minimum is None or number >= field.minimum, f"{field.name}={number}"
        assert field.maximum is None or number <= field.maximum, f"{field.name}={number}"
    elif field.type == "boolean":
        assert value in (True, False, "true", "false"), f"{field.name}={value!r}"
    elif field.type == "date":
        date.fromisoformat(value)
    elif field.type == "datetime":
        moment = datetime.fromisoformat(value)
        assert moment.utcoffset() == timedelta(hours=7), value
        assert datetime(2026, 1, 1, tzinfo=WIB) <= moment < datetime(2026, 4, 1, tzinfo=WIB)


def relative_difference(a: float, b: float) -> float:
    return abs(a - b) / max(abs(a), abs(b))


# --- Determinism and the manifest --------------------------------------------------------


def test_same_seed_gives_byte_identical_files(gen: ModuleType, demo: Path, tmp_path: Path) -> None:
    assert gen.main(["--out", str(tmp_path), "--scale", str(SCALE)]) == 0
    first = sorted(p.name for p in demo.iterdir())
    assert first == sorted(p.name for p in tmp_path.iterdir())
    for name in first:
        assert (demo / name).read_bytes() == (tmp_path / name).read_bytes(), name


def test_another_seed_gives_another_city(gen: ModuleType, demo: Path, tmp_path: Path) -> None:
    assert gen.main(["--out", str(tmp_path), "--scale", str(SCALE), "--seed", "7"]) == 0
    for name in ("admin_areas.geojson", "flood_points.geojson", "population.tif"):
        assert (demo / name).read_bytes() != (tmp_path / name).read_bytes(), name


def test_manifest_lists_existing_files_in_dependency_order(demo: Path) -> None:
    data = manifest(demo)
    assert set(data) == {"notice", "layers", "rasters"}
    assert "SINTETIS" in data["notice"]["id"] and "SYNTHETIC" in data["notice"]["en"]
    assert [e["layer"] for e in data["layers"]] == [s.name for s in catalog.LAYER_SPECS]
    assert [e["raster"] for e in data["rasters"]] == [s.name for s in catalog.RASTER_SPECS]
    for entry in data["layers"] + data["rasters"]:
        assert (demo / entry["file"]).is_file(), entry
    assert data["layers"][0] == {
        "file": "admin_areas.geojson",
        "layer": "admin_areas",
        "id_field": "code",
    }
    assert {"file": "facilities.csv", "layer": "facilities"} in data["layers"]
    assert "make_sample_data.py" in (demo / "README.md").read_text(encoding="utf-8")


# --- Every feature fits the catalog ------------------------------------------------------


@pytest.mark.parametrize("name", [s.name for s in catalog.LAYER_SPECS])
def test_every_feature_is_valid_and_within_the_catalog(
    gen: ModuleType, demo: Path, name: str
) -> None:
    spec = SPECS[name]
    rows = layer(demo, name)
    assert rows, f"{name} is empty"
    for properties, geometry in rows:
        assert set(properties) == set(spec.field_names)
        for field in spec.fields:
            check_value(field, properties.get(field.name))
        assert properties["source"] == gen.DEMO_SOURCE
        assert geometry.geom_type == spec.geometry_type
        assert not geometry.is_empty and shapely.is_valid(geometry)
        if "name" in properties:
            assert properties["name"].endswith("(DEMO)")


def test_admin_codes_and_parents(demo: Path) -> None:
    rows = [p for p, _ in layer(demo, "admin_areas")]
    levels = {level: [p for p in rows if p["level"] == level] for level in catalog.ADMIN_LEVELS}
    (regency,) = levels["regency"]
    assert len(regency["code"]) == 4 and regency["parent_code"] is None
    assert 5 <= len(levels["district"]) <= 7
    district_codes = {p["code"] for p in levels["district"]}
    for district in levels["district"]:
        assert len(district["code"]) == 7 and district["parent_code"] == regency["code"]
    for village in levels["village"]:
        assert len(village["code"]) == 10 and village["parent_code"] in district_codes
        assert village["code"].startswith(village["parent_code"])
    per_district = [
        sum(v["parent_code"] == code for v in levels["village"]) for code in district_codes
    ]
    assert min(per_district) >= 3 and 4 <= sum(per_district) / len(per_district) <= 6
    assert len({p["code"] for p in rows}) == len(rows)
    assert len({p["name"] for p in rows}) == len(rows)


def test_villages_tessellate_districts_and_districts_the_regency(demo: Path) -> None:
    rows = layer(demo, "admin_areas")
    children: dict[str, list[BaseGeometry]] = {}
    for properties, geometry in rows:
        if properties["parent_code"] is not None:
            children.setdefault(properties["parent_code"], []).append(geometry)
    parents = {p["code"]: g for p, g in rows if p["code"] in children}
    assert len(parents) == len(children)  # every parent exists
    for code, parts in children.items():
        parent = parents[code]
        union = shapely.union_all(parts)
        assert relative_difference(union.area, parent.area) < 1e-6, code
        assert relative_difference(sum(p.area for p in parts), parent.area) < 1e-6, code
        assert shapely.symmetric_difference(union, parent).area < 1e-6 * parent.area, code


def test_hazard_zones_do_not_overlap_per_type_and_stay_in_the_regency(demo: Path) -> None:
    regency = next(g for p, g in layer(demo, "admin_areas") if p["level"] == "regency")
    zones = layer(demo, "hazard_zones")
    assert {p["hazard_type"] for p, _ in zones} == {"flood", "landslide"}
    assert {p["hazard_class"] for p, _ in zones if p["hazard_type"] == "flood"} == set(
        catalog.HAZARD_CLASSES
    )
    for hazard_type in ("flood", "landslide"):
        geoms = [g for p, g in zones if p["hazard_type"] == hazard_type]
        total = sum(g.area for g in geoms)
        assert relative_difference(shapely.union_all(geoms).area, total) < 1e-6, hazard_type
    outside = shapely.difference(shapely.union_all([g for _, g in zones]), regency)
    assert outside.area < 1e-6 * regency.area  # snapping to 6 decimals, no more


def test_facilities_are_inside_the_regency_with_realistic_mix(demo: Path) -> None:
    regency = next(g for p, g in layer(demo, "admin_areas") if p["level"] == "regency")
    rows = layer(demo, "facilities")
    xy = shapely.get_coordinates([g for _, g in rows])
    assert shapely.contains_xy(regency, xy[:, 0], xy[:, 1]).all()
    types = [p["facility_type"] for p, _ in rows]
    assert set(types) == set(catalog.FACILITY_TYPES)
    assert max(set(types), key=types.count) == "school"
    assert len({p["name"] for p, _ in rows}) == len(rows)
    assert round(400 * SCALE) <= len(rows) <= round(400 * SCALE) + len(catalog.FACILITY_TYPES)


def test_flood_points_are_mostly_in_medium_or_high_flood_zones(demo: Path) -> None:
    regency = next(g for p, g in layer(demo, "admin_areas") if p["level"] == "regency")
    zones = shapely.union_all(
        [
            g
            for p, g in layer(demo, "hazard_zones")
            if p["hazard_type"] == "flood" and p["hazard_class"] in ("medium", "high")
        ]
    )
    rows = layer(demo, "flood_points")
    assert len(rows) == round(1500 * SCALE)
    xy = shapely.get_coordinates([g for _, g in rows])
    assert shapely.contains_xy(regency, xy[:, 0], xy[:, 1]).all()
    assert shapely.contains_xy(zones, xy[:, 0], xy[:, 1]).mean() > 0.5
    statuses = [p["status"] for p, _ in rows]
    assert max(set(statuses), key=statuses.count) == "verified"
    times = [p["observed_at"] for p, _ in rows]
    assert times == sorted(times)


# --- Rasters -----------------------------------------------------------------------------


def test_rasters_carry_crs_nodata_and_the_demo_tag(demo: Path) -> None:
    expected = {"population": (32749, -1.0), "flood_depth": (4326, -9999.0)}
    for entry in manifest(demo)["rasters"]:
        epsg, nodata = expected[entry["raster"]]
        with rasterio.open(demo / entry["file"]) as src:
            assert src.crs.to_epsg() == epsg
            assert src.tags()["DEMO"] == "synthetic"
            assert src.nodata == nodata and src.dtypes == ("float32",)
            assert src.compression is not None and src.compression.value == "DEFLATE"
            data = src.read(1, masked=True)
        assert data.count() > 0 and data.min() >= 0
        if entry["raster"] == "population":
            assert src.res == (100.0, 100.0)
            assert relative_difference(float(data.sum()), 250_000 * SCALE) < 0.02
        else:
            assert src.res == (0.0005, 0.0005) and data.max() <= 3.0


# --- Benchmark output and the command line -----------------------------------------------


def test_bench_writes_requested_counts_of_valid_features(
    gen: ModuleType, bench: Path, tmp_path: Path
) -> None:
    data = manifest(bench)
    for entry in data["layers"] + data["rasters"]:
        assert (bench / entry["file"]).is_file(), entry
    assert pyogrio.read_info(bench / "flood_points.fgb")["features"] == 2500
    zones = pyogrio.read_dataframe(bench / "hazard_zones.fgb")
    points = pyogrio.read_dataframe(bench / "flood_points.fgb")
    assert len(zones) == 1200 and shapely.is_valid(zones.geometry.values).all()
    assert (zones.geom_type == "MultiPolygon").all() and (points.geom_type == "Point").all()
    for frame, spec in ((zones, SPECS["hazard_zones"]), (points, SPECS["flood_points"])):
        assert (frame["source"] == gen.DEMO_SOURCE).all()
        for field in spec.fields:
            if field.enum is not None:
                assert set(frame[field.name]) <= set(field.enum), field.name
            if field.minimum is not None:
                assert frame[field.name].between(field.minimum, field.maximum).all()
    for hazard_type, group in zones.groupby("hazard_type"):
        total = float(shapely.area(group.geometry.values).sum())
        union = shapely.union_all(group.geometry.values).area
        assert relative_difference(union, total) < 1e-6, hazard_type
    args = [
        "--formats",
        "bench",
        "--out",
        str(tmp_path),
        "--scale",
        str(SCALE),
        "--points",
        "2500",
        "--polygons",
        "1200",
    ]
    assert gen.main(args) == 0
    for path in sorted(bench.iterdir()):
        assert path.read_bytes() == (tmp_path / path.name).read_bytes(), path.name


def test_help_describes_every_option(gen: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        gen.main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for option in ("--out", "--seed", "--scale", "--points", "--polygons", "--formats"):
        assert option in text


@pytest.mark.parametrize("args", [["--scale", "0"], ["--points", "0"], ["--formats", "csv"]])
def test_bad_arguments_are_rejected(gen: ModuleType, args: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        gen.main(args)
    assert exit_info.value.code == 2


def test_scale_sets_extent_by_its_square_root(gen: ModuleType) -> None:
    frame = gen.Frame.for_scale(4.0)
    assert math.isclose(frame.width, 2 * gen.SPAN_LON)
    assert math.isclose(frame.height, 2 * gen.SPAN_LAT)
