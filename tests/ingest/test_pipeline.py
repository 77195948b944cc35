"""The whole ingest on both stores: every format in, rejects reported, failures change
nothing and are recorded."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pyproj
import pytest
import shapely

import samples
from gis.errors import IngestRejected, InvalidInput, UnsafeInput
from gis.ingest.pipeline import IngestRequest, ingest
from gis.settings import IngestSettings
from gis.store.base import Store


def run_ingest(store: Store, tmp_path: Path, path: Path, **kw: object):
    request = IngestRequest(path=path, **kw)  # type: ignore[arg-type]
    return ingest(store, request, reject_dir=tmp_path / "rejects")


@pytest.mark.parametrize("fmt", samples.FORMATS)
def test_every_format_loads_with_rejects_reported(store: Store, tmp_path: Path, fmt: str) -> None:
    path = samples.write(fmt, tmp_path)
    kwargs: dict[str, object] = {"layer": "facilities", "id_field": "kode"}
    if fmt == "gpkg":
        kwargs["source_layer"] = "fasilitas"
    if fmt == "csv_wkt":
        kwargs["source_crs"] = "EPSG:4326"
    if fmt == "shapefile_zip":  # dBase cuts names at 10 characters, as agencies' files do
        kwargs["field_map"] = {"facility_t": "facility_type"}
    result = run_ingest(store, tmp_path, path, **kwargs)
    run = result.run
    assert (run.features_read, run.features_loaded, run.features_rejected) == (3, 2, 1)
    assert result.reasons == {"enum_violation": 1}
    rows = list(store.read_features("facilities", ("name", "facility_type", "capacity", "ext_id")))
    assert [(r[0], r[1], r[2], r[3]) for r in rows] == [
        ("Posko Banjir Sukamaju", "shelter", 300, "F0"),
        ("RSUD Contoh", "hospital", 120, "F1"),
    ]
    assert rows[0][4].equals_exact(shapely.Point(110.41, -6.96), 1e-9)
    with open(run.reject_report or "", newline="", encoding="utf-8") as fh:
        report = list(csv.DictReader(fh))
    assert [(r["feature_index"], r["reason"], r["field"]) for r in report] == [
        ("2", "enum_violation", "facility_type")
    ]
    assert "shelter" in report[0]["detail"]
    assert store.runs("facilities")[0].source_format != "unknown"


def test_utm_file_is_reprojected(store: Store, tmp_path: Path) -> None:
    path = samples.write("gpkg", tmp_path, crs="EPSG:32749")
    run_ingest(store, tmp_path, path, layer="facilities", source_layer="fasilitas")
    (geom,) = [r[-1] for r in store.read_features("facilities", ("name",))][:1]
    assert geom.x == pytest.approx(110.41, abs=1e-8) and geom.y == pytest.approx(-6.96, abs=1e-8)


def test_file_without_crs_needs_source_crs(store: Store, tmp_path: Path) -> None:
    path = samples.write("csv_wkt", tmp_path)
    with pytest.raises(IngestRejected, match="--source-crs"):
        run_ingest(store, tmp_path, path, layer="facilities")
    assert store.count("facilities") == 0
    assert [r.status for r in store.runs("facilities")] == ["failed"]


def test_raster_classified_into_hazard_zones(store: Store, tmp_path: Path) -> None:
    tif = samples.flood_depth_tif(tmp_path / "depth.tif")
    result = run_ingest(
        store,
        tmp_path,
        tif,
        layer="hazard_zones",
        classify=[("low", 0.1), ("medium", 0.5), ("high", 1.5)],
        set_values={"hazard_type": "flood", "source": "uji"},
    )
    assert result.run.features_rejected == 0
    rows = list(store.read_features("hazard_zones", ("hazard_class", "hazard_type")))
    by_class = {r[0]: r[2] for r in rows}
    assert set(by_class) == {"low", "medium", "high"}
    assert {r[1] for r in rows} == {"flood"}
    # areas in UTM: 30, 30 and 20 rows of 100 cells of 10 m x 10 m
    to_utm = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:32749", always_xy=True)
    areas = {
        k: shapely.transform(
            g, lambda xy: np.column_stack(to_utm.transform(xy[:, 0], xy[:, 1]))
        ).area
        for k, g in by_class.items()
    }
    assert areas["low"] == pytest.approx(300_000, rel=1e-6)
    assert areas["medium"] == pytest.approx(300_000, rel=1e-6)
    assert areas["high"] == pytest.approx(200_000, rel=1e-6)


def test_raster_kept_whole(store: Store, tmp_path: Path) -> None:
    tif = samples.flood_depth_tif(tmp_path / "depth.tif")
    run_ingest(store, tmp_path, tif, raster="flood_depth")
    info = store.rasters()[0]
    assert (info.name, info.width, info.height, info.version) == ("flood_depth", 100, 100, 1)
    assert store.runs("flood_depth")[0].source_format == "geotiff"


def test_failed_ingest_keeps_previous_layer(store: Store, tmp_path: Path) -> None:
    good = samples.write("geojson", tmp_path)
    run_ingest(store, tmp_path, good, layer="facilities")
    broken = tmp_path / "broken.geojson"
    broken.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    with pytest.raises(IngestRejected):
        run_ingest(store, tmp_path, broken, layer="facilities")
    assert store.count("facilities") == 2
    assert store.layer("facilities").version == 1  # type: ignore[union-attr]
    assert [r.status for r in store.runs("facilities")] == ["failed", "succeeded"]


def test_all_rejected_replace_changes_nothing(store: Store, tmp_path: Path) -> None:
    run_ingest(store, tmp_path, samples.write("geojson", tmp_path), layer="facilities")
    path = samples.write("csv_lonlat", tmp_path)
    with pytest.raises(IngestRejected, match="no valid feature"):
        run_ingest(store, tmp_path, path, layer="facilities", set_values={"facility_type": "mall"})
    assert store.count("facilities") == 2


def test_max_rejects_aborts(store: Store, tmp_path: Path) -> None:
    with pytest.raises(IngestRejected, match="max-rejects"):
        run_ingest(
            store, tmp_path, samples.write("geojson", tmp_path), layer="facilities", max_rejects=0
        )
    assert store.count("facilities") == 0


def test_append_and_upsert_modes(store: Store, tmp_path: Path) -> None:
    path = samples.write("geojson", tmp_path)
    run_ingest(store, tmp_path, path, layer="facilities", id_field="kode")
    with pytest.raises(InvalidInput, match="--id-field"):
        run_ingest(store, tmp_path, path, layer="facilities", mode="upsert")
    result = run_ingest(
        store,
        tmp_path,
        path,
        layer="facilities",
        mode="upsert",
        id_field="kode",
        set_values={"capacity": "999"},
    )
    assert result.run.version == 2
    caps = sorted(r[0] for r in store.read_features("facilities", ("capacity",)))
    assert caps == [999, 999]
    run_ingest(store, tmp_path, path, layer="facilities", mode="append")
    assert store.count("facilities") == 4


@pytest.mark.parametrize(
    ("name", "content", "error"),
    [
        ("evil.vrt", b"<OGRVRTDataSource></OGRVRTDataSource>", UnsafeInput),
        ("not.geojson", b"\x00\x01garbage", IngestRejected),
        ("data.xyz", b"1,2", IngestRejected),
    ],
)
def test_bad_files_are_refused_and_recorded(
    store: Store, tmp_path: Path, name: str, content: bytes, error: type[Exception]
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(error):
        run_ingest(store, tmp_path, path, layer="facilities")
    (run,) = store.runs("facilities")
    assert run.status == "failed" and run.message


def test_network_paths_are_refused(store: Store, tmp_path: Path) -> None:
    for path in ("/vsicurl/http://example.com/x.geojson", "http://example.com/x.geojson"):
        with pytest.raises(UnsafeInput):
            run_ingest(store, tmp_path, Path(path), layer="facilities")


def test_size_limit(store: Store, tmp_path: Path) -> None:
    path = samples.write("geojson", tmp_path)
    request = IngestRequest(path=path, layer="facilities")
    with pytest.raises(IngestRejected, match="limit"):
        ingest(store, request, limits=IngestSettings(max_bytes=100), reject_dir=tmp_path)
    assert store.count("facilities") == 0
