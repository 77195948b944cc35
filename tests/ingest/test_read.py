"""gis.ingest.read and gis.ingest.safety: every format streams back what was written, and
hostile or broken files are refused with a readable error before a library acts on them.

Every fixture is built here in tmp_path; no binary files are committed.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pyogrio
import pytest
import shapely

from gis.errors import IngestRejected, UnsafeInput
from gis.ingest import safety
from gis.ingest.read import _tables, open_source
from gis.ingest.source import Chunk, CsvOptions
from gis.settings import IngestSettings

N = 7
XS = [106.0 + i * 0.5 for i in range(N)]
YS = [-6.0 - i * 0.25 for i in range(N)]
NAMES = [f"titik {i}" for i in range(N)]


def frame(crs: int | None = 4326) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"name": NAMES, "depth": list(range(10, 10 + N))},
        geometry=[shapely.Point(x, y) for x, y in zip(XS, YS, strict=True)],
        crs=crs,
    )


@dataclass
class Read:
    format: str
    crs: object
    feature_count: int | None
    chunks: list[Chunk]

    @property
    def offsets(self) -> list[int]:
        return [c.offset for c in self.chunks]

    @property
    def xy(self) -> list[tuple[float, float] | None]:
        return [
            None if g is None else (round(g.x, 6), round(g.y, 6))
            for c in self.chunks
            for g in c.geometry
        ]

    def column(self, name: str) -> list[Any]:
        return [v for c in self.chunks for v in c.attributes[name].tolist()]


def read(path: Path | str, size: int = 3, **kwargs: object) -> Read:
    with open_source(path, **kwargs) as src:  # type: ignore[arg-type]
        chunks = list(src.chunks(size))
        return Read(src.format, src.crs, src.feature_count, chunks)


def assert_standard(result: Read, *, size: int = 3) -> None:
    """The N features written by frame(), in order, in chunks of ``size``."""
    assert result.offsets == list(range(0, N, size))
    assert [len(c) for c in result.chunks] == [min(size, N - o) for o in result.offsets]
    assert result.xy == list(zip(XS, YS, strict=True))
    assert result.column("name") == NAMES
    assert [int(v) for v in result.column("depth")] == list(range(10, 10 + N))
    for chunk in result.chunks:
        assert isinstance(chunk.attributes.index, pd.RangeIndex)
        assert chunk.attributes.index.tolist() == list(range(len(chunk)))
        assert chunk.geometry.dtype == object


def epsg(crs: object) -> int | None:
    return None if crs is None else crs.to_epsg()  # type: ignore[attr-defined]


# --- GeoJSON and GeoJSONSeq -------------------------------------------------------------


def test_geojson_reads_coordinates_attributes_and_offsets(tmp_path: Path) -> None:
    path = tmp_path / "titik.geojson"
    frame().to_file(path)
    result = read(path)
    assert result.format == "geojson"
    assert epsg(result.crs) == 4326
    assert result.feature_count == N
    assert_standard(result)


def test_json_extension_is_geojson(tmp_path: Path) -> None:
    path = tmp_path / "titik.json"
    frame().to_file(path, driver="GeoJSON")
    assert_standard(read(path, size=2), size=2)


def test_geojsonseq_newline_delimited(tmp_path: Path) -> None:
    path = tmp_path / "titik.geojsonl"
    frame().to_file(path, driver="GeoJSONSeq")
    result = read(path)
    assert result.format == "geojsonseq"
    assert_standard(result)


def _features() -> list[str]:
    return [
        json.dumps(
            {
                "type": "Feature",
                "properties": {"name": n, "depth": 10 + i},
                "geometry": {"type": "Point", "coordinates": [x, y]},
            }
        )
        for i, (n, x, y) in enumerate(zip(NAMES, XS, YS, strict=True))
    ]


def test_geojsonseq_rfc8142_record_separators(tmp_path: Path) -> None:
    path = tmp_path / "titik.geojsonseq"
    path.write_text("".join(f"\x1e{f}\n" for f in _features()))
    result = read(path)
    assert result.format == "geojsonseq"
    assert_standard(result)


def test_ndjson_single_feature_still_geojsonseq(tmp_path: Path) -> None:
    path = tmp_path / "satu.ndjson"
    path.write_text(_features()[0] + "\n")
    result = read(path)
    assert result.format == "geojsonseq"
    assert result.xy == [(XS[0], YS[0])]
    assert result.column("name") == [NAMES[0]]


def test_geojson_null_geometry_is_none(tmp_path: Path) -> None:
    path = tmp_path / "kosong.geojson"
    features = [
        {"type": "Feature", "properties": {"name": "a"}, "geometry": None},
        {
            "type": "Feature",
            "properties": {"name": "b"},
            "geometry": {"type": "Point", "coordinates": [106, -6]},
        },
    ]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    assert read(path).xy == [None, (106.0, -6.0)]


# --- GeoPackage -------------------------------------------------------------------------


def test_gpkg_single_layer_is_chosen(tmp_path: Path) -> None:
    path = tmp_path / "titik.gpkg"
    frame().to_file(path, layer="banjir")  # GDAL adds the standard rtree triggers
    result = read(path)
    assert result.format == "gpkg"
    assert result.feature_count == N
    assert epsg(result.crs) == 4326
    assert_standard(result)


def test_gpkg_several_layers_need_source_layer(tmp_path: Path) -> None:
    path = tmp_path / "multi.gpkg"
    frame().to_file(path, layer="banjir")
    frame(32749).iloc[:2].to_file(path, layer="longsor")
    with pytest.raises(IngestRejected, match=r"source_layer") as info:
        read(path)
    assert "banjir" in info.value.message and "longsor" in info.value.message

    chosen = read(path, source_layer="longsor")
    assert epsg(chosen.crs) == 32749
    assert chosen.column("name") == NAMES[:2]
    assert_standard(read(path, source_layer="banjir"))
    with pytest.raises(IngestRejected, match=r"no layer 'gempa'.*banjir, longsor"):
        read(path, source_layer="gempa")


def test_gpkg_attribute_table_does_not_count_as_a_choice(tmp_path: Path) -> None:
    path = tmp_path / "mixed.gpkg"
    frame().to_file(path, layer="banjir")
    pyogrio.write_dataframe(pd.DataFrame({"kode": [1, 2]}), path, layer="kode")
    assert_standard(read(path))
    table = read(path, source_layer="kode")
    assert table.xy == [None, None]
    assert table.column("kode") == [1, 2]


def _add_sql(path: Path, sql: str) -> None:
    con = sqlite3.connect(path)
    con.execute(sql)
    con.commit()
    con.close()


def test_gpkg_with_foreign_trigger_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "trigger.gpkg"
    frame().to_file(path, layer="banjir")
    _add_sql(
        path,
        "CREATE TRIGGER jahat AFTER INSERT ON banjir BEGIN DELETE FROM gpkg_contents; END",
    )
    with pytest.raises(UnsafeInput, match=r"GeoPackage contains triggers.*jahat"):
        read(path)


def test_gpkg_trigger_disguised_as_rtree_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "disguised.gpkg"
    frame().to_file(path, layer="banjir", SPATIAL_INDEX="NO")
    _add_sql(
        path,
        'CREATE TRIGGER "rtree_banjir_geom_insert" AFTER INSERT ON "banjir" '
        "BEGIN DELETE FROM gpkg_spatial_ref_sys; END",
    )
    with pytest.raises(UnsafeInput, match=r"rtree_banjir_geom_insert"):
        read(path)


def test_gpkg_trigger_calling_unknown_function_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "func.gpkg"
    frame().to_file(path, layer="banjir", SPATIAL_INDEX="NO")
    _add_sql(
        path,
        'CREATE TRIGGER "gpkg_x_insert" BEFORE INSERT ON "gpkg_contents" '
        "BEGIN SELECT load_extension('evil'); END",
    )
    with pytest.raises(UnsafeInput, match=r"gpkg_x_insert"):
        read(path)


def test_gpkg_garbage_is_rejected_readably(tmp_path: Path) -> None:
    path = tmp_path / "rusak.gpkg"
    path.write_bytes(safety.SQLITE_MAGIC + os.urandom(8000))
    with pytest.raises(IngestRejected, match=r"rusak.gpkg") as info:
        read(path)
    assert not isinstance(info.value, UnsafeInput)


def test_plain_sqlite_is_not_a_geopackage(tmp_path: Path) -> None:
    path = tmp_path / "plain.gpkg"
    _add_sql(path, "CREATE TABLE t (a INTEGER)")
    with pytest.raises(IngestRejected, match=r"no gpkg_contents"):
        read(path)


# --- Shapefiles -------------------------------------------------------------------------


def shapefile_parts(
    tmp_path: Path, stem: str = "jalan", crs: int | None = 32749
) -> dict[str, bytes]:
    folder = tmp_path / f"shp-{stem}"
    folder.mkdir()
    frame(crs).to_file(folder / f"{stem}.shp")
    return {p.suffix: p.read_bytes() for p in folder.iterdir()}


def make_zip(path: Path, entries: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return path


def test_zipped_shapefile_reads_with_prj(tmp_path: Path) -> None:
    parts = shapefile_parts(tmp_path)
    path = make_zip(tmp_path / "jalan.zip", {f"data/jalan{s}": b for s, b in parts.items()})
    result = read(path)
    assert result.format == "shapefile"
    assert result.feature_count == N
    assert epsg(result.crs) == 32749
    assert_standard(result)


def test_zip_temp_files_go_away_on_exit(tmp_path: Path) -> None:
    parts = shapefile_parts(tmp_path)
    path = make_zip(tmp_path / "jalan.zip", {f"jalan{s}": b for s, b in parts.items()})
    with open_source(path) as src:
        extracted = Path(src.dataset)  # type: ignore[attr-defined]
        assert extracted.is_file()
    assert not extracted.parent.exists()
    with pytest.raises(IngestRejected, match=r"closed"):
        list(src.chunks(3))


def test_shapefile_without_prj_has_no_crs(tmp_path: Path) -> None:
    parts = shapefile_parts(tmp_path)
    parts.pop(".prj")
    path = make_zip(tmp_path / "jalan.zip", {f"jalan{s}": b for s, b in parts.items()})
    result = read(path)
    assert result.crs is None
    assert_standard(result)


def test_bare_shp_with_sidecars(tmp_path: Path) -> None:
    parts = shapefile_parts(tmp_path, crs=4326)
    for suffix, data in parts.items():
        (tmp_path / f"jalan{suffix}").write_bytes(data)
    result = read(tmp_path / "jalan.shp")
    assert epsg(result.crs) == 4326
    assert_standard(result)


@pytest.mark.parametrize("missing", [".dbf", ".shx"])
def test_shapefile_missing_part_is_rejected(tmp_path: Path, missing: str) -> None:
    parts = shapefile_parts(tmp_path)
    parts.pop(missing)
    path = make_zip(tmp_path / "jalan.zip", {f"jalan{s}": b for s, b in parts.items()})
    with pytest.raises(IngestRejected, match=f"no \\{missing}"):
        read(path)


def test_zip_with_several_shapefiles_needs_source_layer(tmp_path: Path) -> None:
    entries = {f"jalan{s}": b for s, b in shapefile_parts(tmp_path, "jalan").items()}
    entries |= {f"sungai{s}": b for s, b in shapefile_parts(tmp_path, "sungai", 4326).items()}
    entries["__MACOSX/._jalan.shp"] = b"resource fork"
    path = make_zip(tmp_path / "dua.zip", entries)
    with pytest.raises(IngestRejected, match=r"2 shapefiles.*jalan, sungai"):
        read(path)
    assert epsg(read(path, source_layer="sungai").crs) == 4326
    assert_standard(read(path, source_layer="jalan"))
    with pytest.raises(IngestRejected, match=r"no shapefile 'danau'"):
        read(path, source_layer="danau")


def test_zip_without_shapefile_is_rejected(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "isi.zip", {"readme.txt": b"hello"})
    with pytest.raises(IngestRejected, match=r"no \.shp file"):
        read(path)


def test_zip_path_traversal_is_refused(tmp_path: Path) -> None:
    parts = shapefile_parts(tmp_path)
    entries = {f"jalan{s}": b for s, b in parts.items()} | {"../evil.shp": parts[".shp"]}
    path = make_zip(tmp_path / "evil.zip", entries)
    with pytest.raises(UnsafeInput, match=r"outside the archive"):
        read(path)
    assert not (tmp_path.parent / "evil.shp").exists()


def test_zip_absolute_path_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "abs.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(zipfile.ZipInfo("/tmp/evil.shp"), b"x")
    with pytest.raises(UnsafeInput, match=r"outside the archive"):
        read(path)


def test_zip_symlink_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "link.zip"
    info = zipfile.ZipInfo("jalan.dbf")
    info.external_attr = 0o120777 << 16
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(UnsafeInput, match=r"symbolic link"):
        read(path)


def _bomb(path: Path, megabytes: int = 50) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf, zf.open("bom.dbf", "w") as f:
        block = bytes(1024 * 1024)
        for _ in range(megabytes):
            f.write(block)
    return path


def test_zip_bomb_ratio_is_refused(tmp_path: Path) -> None:
    path = _bomb(tmp_path / "bom.zip")
    limits = IngestSettings(max_zip_ratio=100, max_unzipped_bytes=10 * 1024**3)
    with pytest.raises(UnsafeInput, match=r"zip bomb"):
        read(path, limits=limits)


def test_zip_bomb_spread_over_small_entries_is_refused(tmp_path: Path) -> None:
    """Each entry is under the size where its own ratio counts; the total still does."""
    path = make_zip(tmp_path / "sebar.zip", {f"f{i}.dbf": bytes(900 * 1024) for i in range(20)})
    limits = IngestSettings(max_zip_ratio=100, max_unzipped_bytes=10 * 1024**3)
    with pytest.raises(
        UnsafeInput, match=r"the zip compresses \d+:1, over the 100:1 limit \(zip bomb\)"
    ):
        read(path, limits=limits)


def test_small_entries_may_compress_well(tmp_path: Path) -> None:
    parts = shapefile_parts(tmp_path)
    entries = {f"jalan{s}": b for s, b in parts.items()} | {"catatan.txt": bytes(50_000)}
    path = make_zip(tmp_path / "kecil.zip", entries)
    assert_standard(read(path, limits=IngestSettings(max_zip_ratio=10)))


def test_zip_uncompressed_size_is_refused(tmp_path: Path) -> None:
    path = _bomb(tmp_path / "besar.zip", megabytes=5)
    limits = IngestSettings(max_zip_ratio=1e9, max_unzipped_bytes=1024**2)
    with pytest.raises(UnsafeInput, match=r"expands to 5\.0 MiB, over the 1\.0 MiB limit"):
        read(path, limits=limits)


def test_zip_entry_count_is_refused(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "banyak.zip", {f"f{i}.txt": b"x" for i in range(6)})
    with pytest.raises(UnsafeInput, match=r"6 entries.*5 limit"):
        read(path, limits=IngestSettings(max_zip_entries=5))


def test_extraction_stops_when_entry_lies_about_its_size(tmp_path: Path) -> None:
    path = _bomb(tmp_path / "bom.zip", megabytes=2)
    with zipfile.ZipFile(path) as zf:
        info = zf.infolist()[0]
        with pytest.raises(UnsafeInput, match=r"beyond the size limit"):
            safety.extract_member(zf, info, tmp_path / "out.dbf", budget=1024**2)


def test_not_a_zip_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "palsu.zip"
    path.write_bytes(b"PK\x03\x04" + b"garbage" * 100)
    with pytest.raises(IngestRejected, match=r"palsu.zip: cannot read Shapefile"):
        read(path)


# --- FlatGeobuf -------------------------------------------------------------------------


def test_flatgeobuf(tmp_path: Path) -> None:
    path = tmp_path / "titik.fgb"
    frame().to_file(path, SPATIAL_INDEX="NO")  # an index would reorder the features
    result = read(path)
    assert result.format == "flatgeobuf"
    assert result.feature_count == N
    assert epsg(result.crs) == 4326
    assert_standard(result)


def test_truncated_flatgeobuf_fails_while_iterating(tmp_path: Path) -> None:
    path = tmp_path / "potong.fgb"
    big = gpd.GeoDataFrame(
        {"name": [f"n{i}" for i in range(5000)]},
        geometry=shapely.points(np.linspace(106, 107, 5000), np.full(5000, -6.0)),
        crs=4326,
    )
    big.to_file(path, SPATIAL_INDEX="NO")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    with open_source(path) as src:  # the header is intact: it opens
        chunks = src.chunks(1000)
        first = next(chunks)
        assert first.offset == 0
        with pytest.raises(IngestRejected, match=r"potong.fgb: cannot read FlatGeobuf"):
            list(chunks)


# --- GeoParquet -------------------------------------------------------------------------


def test_geoparquet_with_crs_across_row_groups(tmp_path: Path) -> None:
    path = tmp_path / "titik.parquet"
    frame(32749).to_parquet(path, row_group_size=2)
    result = read(path)
    assert result.format == "geoparquet"
    assert result.feature_count == N
    assert epsg(result.crs) == 32749
    assert_standard(result)
    assert all(list(c.attributes.columns) == ["name", "depth"] for c in result.chunks)


def _plain_geoparquet(path: Path, geo: dict[str, object] | None) -> Path:
    table = pa.table(
        {
            "name": NAMES,
            "depth": list(range(10, 10 + N)),
            "geometry": shapely.to_wkb(shapely.points(XS, YS)),
        }
    )
    if geo is not None:
        table = table.replace_schema_metadata({b"geo": json.dumps(geo).encode()})
    pq.write_table(table, path)
    return path


def _geo(**column: object) -> dict[str, object]:
    return {
        "version": "1.1.0",
        "primary_column": "geometry",
        "columns": {"geometry": {"encoding": "WKB", "geometry_types": ["Point"], **column}},
    }


def test_geoparquet_without_crs_is_crs84(tmp_path: Path) -> None:
    result = read(_plain_geoparquet(tmp_path / "a.geoparquet", _geo()))
    assert result.crs is not None
    assert result.crs.to_string() == "OGC:CRS84"  # type: ignore[attr-defined]
    assert_standard(result)


def test_geoparquet_null_crs_is_unknown(tmp_path: Path) -> None:
    assert read(_plain_geoparquet(tmp_path / "a.parquet", _geo(crs=None))).crs is None


def test_parquet_without_geo_metadata_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(IngestRejected, match=r"not a GeoParquet file"):
        read(_plain_geoparquet(tmp_path / "a.parquet", None))


def test_geoparquet_native_encoding_is_rejected(tmp_path: Path) -> None:
    path = _plain_geoparquet(tmp_path / "a.parquet", _geo(encoding="point"))
    with pytest.raises(IngestRejected, match=r"encoding 'POINT' is not supported"):
        read(path)


def test_truncated_parquet_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "potong.parquet"
    frame().to_parquet(path)
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(IngestRejected, match=r"potong.parquet: cannot read GeoParquet"):
        read(path)


# --- CSV --------------------------------------------------------------------------------


def write_csv(path: Path, header: str, rows: list[str], encoding: str = "utf-8") -> Path:
    path.write_text("\n".join([header, *rows]) + "\n", encoding=encoding)
    return path


def csv_rows(fmt: str = "{x},{y},{n},{d}") -> list[str]:
    return [
        fmt.format(x=x, y=y, n=n, d=10 + i)
        for i, (x, y, n) in enumerate(zip(XS, YS, NAMES, strict=True))
    ]


@pytest.mark.parametrize(
    "lon,lat", [("lon", "lat"), ("Longitude", "LATITUDE"), ("Bujur", "Lintang"), ("x", "y")]
)
def test_csv_detects_lon_lat(tmp_path: Path, lon: str, lat: str) -> None:
    path = write_csv(tmp_path / "titik.csv", f"{lon},{lat},name,depth", csv_rows())
    result = read(path)
    assert result.format == "csv"
    assert epsg(result.crs) == 4326
    assert result.feature_count is None
    assert_standard(result)
    assert all(list(c.attributes.columns) == ["name", "depth"] for c in result.chunks)


def test_csv_detects_wkt_and_leaves_crs_unknown(tmp_path: Path) -> None:
    rows = [
        f'"POINT ({x} {y})",{n},{10 + i}'
        for i, (x, y, n) in enumerate(zip(XS, YS, NAMES, strict=True))
    ]
    path = write_csv(tmp_path / "titik.txt", "WKT,name,depth", rows)
    result = read(path)
    assert result.crs is None
    assert_standard(result)
    assert all(list(c.attributes.columns) == ["name", "depth"] for c in result.chunks)


def test_csv_bad_values_give_none_geometry_for_that_row_only(tmp_path: Path) -> None:
    rows = csv_rows()
    rows[1] = f"abc,{YS[1]},{NAMES[1]},11"
    rows[4] = f"{XS[4]},,{NAMES[4]},14"
    path = write_csv(tmp_path / "titik.csv", "lon,lat,name,depth", rows)
    result = read(path)
    expected: list[tuple[float, float] | None] = list(zip(XS, YS, strict=True))
    expected[1] = expected[4] = None
    assert result.xy == expected
    assert result.column("name") == NAMES


def test_csv_bad_wkt_gives_none(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "g.csv", "geometry;name", ["POINT (106 -6);a", "POINT (oops;b", ";c"]
    )
    result = read(path)
    assert result.xy == [(106.0, -6.0), None, None]
    assert result.column("name") == ["a", "b", "c"]


def test_csv_semicolons_and_decimal_commas(tmp_path: Path) -> None:
    rows = [
        f'"{str(x).replace(".", ",")}";"{str(y).replace(".", ",")}";{n};{10 + i}'
        for i, (x, y, n) in enumerate(zip(XS, YS, NAMES, strict=True))
    ]
    path = write_csv(tmp_path / "excel.csv", "bujur;lintang;name;depth", rows, encoding="cp1252")
    assert_standard(read(path))


def test_csv_named_columns(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "t.csv", "timur,utara,name,depth", csv_rows())
    assert_standard(read(path, csv=CsvOptions(lon_field="timur", lat_field="utara")))
    with pytest.raises(IngestRejected, match=r"no column 'barat'; columns: timur, utara"):
        read(path, csv=CsvOptions(lon_field="barat", lat_field="utara"))


def test_csv_without_geometry_columns_names_the_columns(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "t.csv", "a,b,name", ["1,2,x"])
    with pytest.raises(IngestRejected, match=r"no geometry columns found; columns: a, b, name"):
        read(path)


def test_csv_non_utf8_text_survives(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "t.csv", "lon,lat,name", ["106,-6,Sérang"], encoding="cp1252")
    assert read(path).column("name") == ["Sérang"]


def test_csv_broken_row_late_in_file_fails_while_iterating(tmp_path: Path) -> None:
    rows = [f"{106 + i / 1e5},-6,n{i}" for i in range(60_000)] + ["1,2"]
    path = write_csv(tmp_path / "lama.csv", "lon,lat,name", rows)
    seen = 0
    with (
        pytest.raises(IngestRejected, match=r"lama.csv: cannot read CSV.*Expected 3 columns"),
        open_source(path) as src,
    ):
        for chunk in src.chunks(10_000):
            seen += len(chunk)
    assert seen > 0  # the error came mid-stream, as IngestRejected


# --- Safety -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/vsicurl/http://example.com/a.geojson",
        "/vsizip//tmp/a.zip/a.shp",
        "http://x/y.geojson",
        "https://example.com/a.gpkg",
        "PG:dbname=gis",
        "GPKG:/tmp/a.gpkg:layer",
        "WFS:http://example.com/wfs",
        "CSV:/tmp/a.csv",
        "/tmp/a\x00.geojson",
    ],
)
def test_network_and_driver_paths_are_refused(path: str) -> None:
    with pytest.raises(UnsafeInput, match=r"only local file paths"):
        read(path)


def test_vsi_path_as_pathlib_is_refused() -> None:
    with pytest.raises(UnsafeInput):
        read(Path("/vsicurl/http://x/y.geojson"))


def test_path_resolving_into_vsi_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UnsafeInput):
        read(f"{tmp_path}/../../../../../../../vsicurl/http:/x/a.geojson")


@pytest.mark.parametrize("suffix", [".vrt", ".ovf", ".VRT"])
def test_vrt_extension_is_refused(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"a{suffix}"
    path.write_text("<OGRVRTDataSource/>")
    with pytest.raises(UnsafeInput, match=r"VRT"):
        read(path)


@pytest.mark.parametrize("marker", ["<OGRVRTDataSource>", "<VRTDataset rasterXSize='1'>"])
def test_vrt_content_under_another_name_is_refused(tmp_path: Path, marker: str) -> None:
    path = tmp_path / "a.geojson"
    path.write_text(f"\n  <?xml version='1.0'?>{marker}<OGRVRTLayer name='x'/>")
    with pytest.raises(UnsafeInput, match=r"VRT"):
        read(path)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(IngestRejected, match=r"tiada.geojson: file not found"):
        read(tmp_path / "tiada.geojson")
    with pytest.raises(IngestRejected, match=r"file not found"):
        read(tmp_path / "titik.geojson" / "under-a-file.geojson")
    (tmp_path / "titik.geojson").write_text("{}")
    with pytest.raises(IngestRejected, match=r"file not found"):
        read(tmp_path / "titik.geojson" / "under-a-file.geojson")
    folder = tmp_path / "folder.geojson"
    folder.mkdir()
    with pytest.raises(IngestRejected, match=r"not a regular file"):
        read(folder)


def test_size_limit_in_human_units(tmp_path: Path) -> None:
    path = tmp_path / "titik.geojson"
    frame().to_file(path)
    with pytest.raises(IngestRejected, match=r"file is \d+\.\d KiB, over the 1\.0 KiB limit"):
        read(path, limits=IngestSettings(max_bytes=1024))


def test_unknown_extension_lists_supported_formats(tmp_path: Path) -> None:
    path = tmp_path / "peta.kml"
    path.write_text("<kml/>")
    with pytest.raises(IngestRejected, match=r"unsupported file type '.kml'") as info:
        read(path)
    for name in ("GeoJSON", "GeoPackage", "Shapefile", "FlatGeobuf", "GeoParquet", "CSV"):
        assert name in info.value.message


def test_truncated_geojson_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "potong.geojson"
    frame().to_file(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(IngestRejected, match=r"potong.geojson: cannot read GeoJSON") as info:
        read(path)
    assert not isinstance(info.value, UnsafeInput)


@pytest.mark.parametrize(
    "name,content,looks",
    [
        ("a.geojson", b"PK\x03\x04rest", "zip archive"),
        ("a.gpkg", b"lon,lat\n1,2\n", "is text"),
        ("a.fgb", b'{"type": "FeatureCollection"}', "is JSON"),
        ("a.parquet", b"SQLite format 3\x00rest", "SQLite"),
        ("a.csv", b"PAR1\x00\x00", "Parquet"),
        ("a.zip", b'{"type": "FeatureCollection"}', "is JSON"),
        ("a.geojsonl", b"lon,lat\n", "is text"),
        ("a.json", b'{"type": "Topology", "objects": {}}', "is JSON"),
        ("a.csv", b"", "is empty"),
    ],
)
def test_wrong_content_for_extension_is_rejected(
    tmp_path: Path, name: str, content: bytes, looks: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(
        IngestRejected, match=f"{name}: the extension says .* but the content .*{looks}"
    ):
        read(path)


def test_geojson_that_gdal_reads_as_another_driver_is_rejected(tmp_path: Path) -> None:
    """A large ESRI JSON passes the head sniff (no Feature type in the first 64 KiB), so
    the driver GDAL picked has the last word."""
    path = tmp_path / "esri.json"
    esri = {
        "geometryType": "esriGeometryPoint",
        "spatialReference": {"wkid": 4326},
        "fields": [{"name": "a", "type": "esriFieldTypeString"}],
        "features": [
            {"attributes": {"a": f"x{i}"}, "geometry": {"x": 106, "y": -6}} for i in range(3000)
        ],
    }
    path.write_text(json.dumps(esri))
    assert path.stat().st_size > safety.HEAD_BYTES
    with pytest.raises(IngestRejected, match=r"GDAL reads the content as ESRIJSON, not GeoJSON"):
        read(path)


def test_source_layer_is_refused_where_it_means_nothing(tmp_path: Path) -> None:
    path = tmp_path / "titik.geojson"
    frame().to_file(path)
    with pytest.raises(IngestRejected, match=r"source_layer only applies"):
        read(path, source_layer="x")


@pytest.fixture
def listener() -> Iterator[tuple[int, list[bytes]]]:
    """A local TCP server that records whatever connects to it."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    server.settimeout(0.2)
    hits: list[bytes] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            hits.append(conn.recv(1000))
            conn.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1], hits
    stop.set()
    thread.join()
    server.close()


def _linked_geojson(path: Path, port: int, crs_type: str = "link") -> Path:
    data = {
        "type": "FeatureCollection",
        "features": [json.loads(f) for f in _features()],
        "crs": {"type": crs_type, "properties": {"href": f"http://127.0.0.1:{port}/crs"}},
    }
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize("crs_type", ["link", "URL", "Link"])
def test_geojson_crs_link_is_refused_without_a_request(
    tmp_path: Path, listener: tuple[int, list[bytes]], crs_type: str
) -> None:
    port, hits = listener
    with pytest.raises(UnsafeInput, match=r"crs.*link"):
        read(_linked_geojson(tmp_path / "link.geojson", port, crs_type))
    assert hits == []


def test_geojson_escaped_letters_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "esc.geojson"
    text = json.dumps({"type": "FeatureCollection", "features": []})
    path.write_text(text.replace('"features"', '"\\u0066eatures"'))
    with pytest.raises(UnsafeInput, match=r"escaped"):
        read(path)


def test_gdal_itself_stays_off_the_network(
    tmp_path: Path, listener: tuple[int, list[bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Even past the scan, GDAL's own HTTP client goes to a dead proxy."""
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    port, hits = listener
    path = _linked_geojson(tmp_path / "link.geojson", port)
    safety.harden_gdal()
    assert pyogrio.get_gdal_config_option("CPL_VSIL_CURL_ALLOWED_EXTENSIONS") == ".invalid"
    pyogrio.read_info(path)  # bypasses open_source on purpose
    assert hits == []


# --- Chunking ---------------------------------------------------------------------------


def test_tables_regroup_uneven_batches() -> None:
    batches = [
        pa.record_batch({"v": list(range(a, b))}) for a, b in [(0, 1), (1, 6), (6, 6), (6, 11)]
    ]
    grouped = list(_tables(batches, 4))
    assert [o for o, _ in grouped] == [0, 4, 8]
    assert [t.column("v").to_pylist() for _, t in grouped] == [
        [0, 1, 2, 3],
        [4, 5, 6, 7],
        [8, 9, 10],
    ]


def test_chunk_size_must_be_positive(tmp_path: Path) -> None:
    path = tmp_path / "titik.geojson"
    frame().to_file(path)
    with open_source(path) as src, pytest.raises(ValueError, match=r"at least 1"):
        next(src.chunks(0))


_MEMORY_PROBE = """
import resource, sys
from gis.ingest.read import open_source
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
count = 0
with open_source(sys.argv[1]) as src:
    for chunk in src.chunks(50_000):
        assert chunk.offset == count
        last = count + len(chunk) - 1
        assert abs(chunk.geometry[-1].x - (95 + (last % 1000) * 0.04)) < 1e-6
        count += len(chunk)
grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base
print(count, grown // 1024)
"""


def _write_points(path: Path, n: int) -> Path:
    """n points: CSV or GeoJSONSeq by suffix, written line by line."""
    with path.open("w") as f:
        if path.suffix == ".csv":
            f.write("id,lon,lat,name\n")
        for k in range(n):
            x, y = 95 + (k % 1000) * 0.04, -10 + (k // 1000) * 0.015
            if path.suffix == ".csv":
                f.write(f"{k},{x:.2f},{y:.3f},titik {k}\n")
            else:
                f.write(
                    f'{{"type":"Feature","properties":{{"id":{k},"name":"titik {k}"}},'
                    f'"geometry":{{"type":"Point","coordinates":[{x:.2f},{y:.3f}]}}}}\n'
                )
    return path


def _peak_growth_mb(path: Path) -> tuple[int, int]:
    out = subprocess.run(
        [sys.executable, "-c", _MEMORY_PROBE, str(path)],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    ).stdout.split()
    return int(out[0]), int(out[1])


@pytest.mark.slow
@pytest.mark.parametrize("suffix", [".csv", ".geojsonl"])
def test_million_points_stream_in_bounded_memory(tmp_path: Path, suffix: str) -> None:
    """Peak memory for 1,000,000 points stays near that for 100,000: it does not grow
    with the file (reading it whole costs several hundred MB more)."""
    small = _peak_growth_mb(_write_points(tmp_path / f"small{suffix}", 100_000))
    large = _peak_growth_mb(_write_points(tmp_path / f"large{suffix}", 1_000_000))
    assert small[0] == 100_000 and large[0] == 1_000_000
    assert large[1] < small[1] + 150, (small, large)
