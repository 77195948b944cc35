"""GeoTIFF ingestion: classified hazard zones, kept rasters, value at a point, and the
refusals that protect the service from hostile or broken files.

Rasters are built in tmp_path. The UTM ones (EPSG:32749, 10 m pixels, integer origin near
Surabaya) have exactly representable pixel corners, so polygon areas must equal pixel
counts times 100 m^2 exactly, not approximately.
"""

from __future__ import annotations

import hashlib
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pyproj
import pytest
import rasterio
import shapely
from rasterio.io import MemoryFile
from rasterio.transform import Affine
from shapely.geometry import MultiPolygon, Point

from gis.errors import IngestRejected, InvalidInput, UnsafeInput
from gis.ingest import raster
from gis.ingest.raster import StoredRaster, classify_raster, read_raster, value_at
from gis.ingest.source import Chunk
from gis.settings import IngestSettings


def from_origin(west: float, north: float, xsize: float, ysize: float) -> Affine:
    """A north-up geotransform (rasterio's from_origin warns under affine 3)."""
    return Affine(xsize, 0.0, west, 0.0, -ysize, north)


UTM = pyproj.CRS.from_epsg(32749)
UTM_ORIGIN = (690_000.0, 9_200_000.0)
UTM_TRANSFORM = from_origin(*UTM_ORIGIN, 10.0, 10.0)
PIXEL_AREA = 100.0
NODATA = -9999.0
CLASSES = [("low", 0.1), ("medium", 0.5), ("high", 1.5)]
LIMITS = IngestSettings()


def write_tif(
    path: Path,
    data: np.ndarray,
    *,
    crs: str | None = "EPSG:32749",
    transform: Affine | None = UTM_TRANSFORM,
    nodata: float | None = None,
    **options: Any,
) -> Path:
    """Write a (bands, rows, cols) or (rows, cols) array as a GeoTIFF."""
    bands = data if data.ndim == 3 else data[np.newaxis]
    profile: dict[str, Any] = {
        "driver": "GTiff",
        "count": bands.shape[0],
        "height": bands.shape[1],
        "width": bands.shape[2],
        "dtype": str(bands.dtype),
        "nodata": nodata,
        **options,
    }
    if crs is not None:
        profile["crs"] = crs
    if transform is not None:
        profile["transform"] = transform
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(bands)
    return path


def zones(
    path: Path, classes: list[tuple[str, float]] = CLASSES, **kwargs: Any
) -> list[tuple[str, MultiPolygon]]:
    """All (class, geometry) features of a classified raster."""
    with classify_raster(path, classes, limits=LIMITS, **kwargs) as source:
        return [
            (name, geom)
            for chunk in source.chunks(1000)
            for name, geom in zip(chunk.attributes["hazard_class"], chunk.geometry, strict=True)
        ]


def area_by_class(features: list[tuple[str, MultiPolygon]]) -> dict[str, float]:
    areas: dict[str, float] = {}
    for name, geom in features:
        areas[name] = areas.get(name, 0.0) + geom.area
    return areas


def hazard_blocks() -> np.ndarray:
    """A 200 x 200 float32 flood-depth raster with hand-counted classes.

    low 1000 px, medium 800 px, high 402 px; nodata, NaN, inf and sub-threshold pixels
    are no zone.
    """
    a = np.zeros((200, 200), dtype=np.float32)
    a[0:20, 0:30] = 0.1  # low, exactly at the threshold: 600
    a[0:20, 30:50] = 0.49  # low: 400
    a[20:40, 0:25] = 0.5  # medium, exactly at the threshold: 500
    a[20:40, 25:40] = 1.4999  # medium: 300
    a[40:60, 0:10] = 1.5  # high, exactly at the threshold: 200
    a[40:60, 10:20] = 3.0  # high: 200
    a[60:70, 0:50] = NODATA
    a[70:80, 0:50] = np.nan
    a[80:90, 0:50] = 0.0999  # below the first threshold
    a[100, 100] = np.inf
    a[150, 150] = 2.0  # high, two pixels touching only at a corner: 2
    a[151, 151] = 2.0
    return a


EXPECTED_PIXELS = {"low": 1000, "medium": 800, "high": 402}


# --- classify_raster ---------------------------------------------------------------------


def test_classified_areas_equal_pixel_counts(tmp_path: Path) -> None:
    path = write_tif(tmp_path / "depth.tif", hazard_blocks(), nodata=NODATA)
    with classify_raster(path, CLASSES, limits=LIMITS) as source:
        assert source.format == "geotiff"
        assert source.crs is not None and source.crs.equals(UTM)
        assert source.path == path
        chunks = list(source.chunks(1000))

    assert len(chunks) == 1  # one window: one feature per class
    chunk = chunks[0]
    assert isinstance(chunk, Chunk) and chunk.offset == 0
    assert list(chunk.attributes.columns) == ["hazard_class"]
    assert list(chunk.attributes["hazard_class"]) == ["low", "medium", "high"]
    for geom in chunk.geometry:
        assert isinstance(geom, MultiPolygon) and geom.is_valid
    areas = {
        n: g.area for n, g in zip(chunk.attributes["hazard_class"], chunk.geometry, strict=True)
    }
    assert areas == {name: count * PIXEL_AREA for name, count in EXPECTED_PIXELS.items()}


def test_geometry_is_in_raster_crs_at_the_right_place(tmp_path: Path) -> None:
    path = write_tif(tmp_path / "depth.tif", hazard_blocks(), nodata=NODATA)
    by_class = dict(zones(path))
    x0, y0 = UTM_ORIGIN
    # The 'high' 3.0 block covers rows 40-60, cols 10-20.
    assert by_class["high"].contains(Point(x0 + 15 * 10, y0 - 50 * 10))
    assert by_class["low"].bounds == (x0, y0 - 200, x0 + 500, y0)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_value_equal_to_threshold_goes_to_that_class(tmp_path: Path, dtype: str) -> None:
    values = [0.0999, 0.1, 0.4999, 0.5, 1.4999, 1.5, 100.0]
    expected = [None, "low", "low", "medium", "medium", "high", "high"]
    path = write_tif(tmp_path / "row.tif", np.array([values], dtype=dtype))
    assert classes_by_column(zones(path), len(values)) == expected


def test_integer_raster_with_fractional_thresholds(tmp_path: Path) -> None:
    path = write_tif(tmp_path / "int.tif", np.array([[0, 1, 2, 3, 4, 5]], dtype="int16"))
    classes = [("low", 0.5), ("medium", 2.0), ("high", 4.0)]
    assert classes_by_column(zones(path, classes), 6) == [
        None,
        "low",
        "medium",
        "medium",
        "high",
        "high",
    ]


def test_float32_pixel_meets_threshold_not_representable_in_float32(tmp_path: Path) -> None:
    # float32(0.7) < 0.7: a float64 comparison would leave this pixel out of 'deep'.
    assert float(np.float32(0.7)) < 0.7
    path = write_tif(tmp_path / "f32.tif", np.array([[0.69, 0.7]], dtype="float32"))
    assert classes_by_column(zones(path, [("deep", 0.7)]), 2) == [None, "deep"]


def classes_by_column(features: list[tuple[str, MultiPolygon]], width: int) -> list[str | None]:
    """The class whose geometry holds each pixel centre of a one-row UTM raster."""
    x0, y0 = UTM_ORIGIN
    found: list[str | None] = []
    for col in range(width):
        centre = Point(x0 + col * 10 + 5, y0 - 5)
        names = [name for name, geom in features if geom.contains(centre)]
        assert len(names) <= 1
        found.append(names[0] if names else None)
    return found


def test_nodata_nan_and_mask_are_no_zone(tmp_path: Path) -> None:
    a = np.full((10, 10), 5.0, dtype="float32")
    a[:, :5] = NODATA
    a[0:5, 5:] = np.nan
    path = write_tif(tmp_path / "holes.tif", a, nodata=NODATA)
    assert area_by_class(zones(path)) == {"high": 25 * PIXEL_AREA}

    masked = write_tif(tmp_path / "masked.tif", np.full((10, 10), 5.0, dtype="float32"))
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True), rasterio.open(masked, "r+") as dst:
        mask = np.full((10, 10), 255, dtype="uint8")
        mask[:, :4] = 0
        dst.write_mask(mask)
    assert area_by_class(zones(masked)) == {"high": 60 * PIXEL_AREA}


def test_all_nodata_yields_no_chunks(tmp_path: Path) -> None:
    path = write_tif(tmp_path / "empty.tif", np.full((20, 20), NODATA, "float32"), nodata=NODATA)
    with classify_raster(path, CLASSES, limits=LIMITS) as source:
        assert list(source.chunks(10)) == []


def test_windows_give_the_same_zones_as_one_pass(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    data = rng.choice(np.array([0.0, 0.2, 0.8, 2.0, NODATA], dtype="float32"), (200, 200))
    path = write_tif(tmp_path / "noise.tif", data, nodata=NODATA)

    whole = zones(path)
    windowed = zones(path, window_size=64)  # 200 is not a multiple: edge windows are narrow

    expected = {
        "low": (data == np.float32(0.2)).sum() * PIXEL_AREA,
        "medium": (data == np.float32(0.8)).sum() * PIXEL_AREA,
        "high": (data == np.float32(2.0)).sum() * PIXEL_AREA,
    }
    assert area_by_class(whole) == expected
    assert area_by_class(windowed) == expected
    assert len(whole) == 3
    assert len(windowed) == 3 * 16  # every one of the 4 x 4 windows has all classes
    # Noise is full of corner-touching regions and holes; none may come out invalid.
    assert all(isinstance(g, MultiPolygon) and g.is_valid for _, g in whole + windowed)
    for name, geom in whole:
        pieces = shapely.union_all([g for n, g in windowed if n == name])
        assert geom.symmetric_difference(pieces).area == 0.0


def test_chunks_respect_size_and_number_features(tmp_path: Path) -> None:
    path = write_tif(tmp_path / "depth.tif", hazard_blocks(), nodata=NODATA)
    with classify_raster(path, CLASSES, limits=LIMITS) as source:
        chunks = list(source.chunks(2))
    assert [(c.offset, len(c)) for c in chunks] == [(0, 2), (2, 1)]
    assert [n for c in chunks for n in c.attributes["hazard_class"]] == ["low", "medium", "high"]


def test_corner_touching_pixels_are_separate_polygons(tmp_path: Path) -> None:
    """4-connectivity: pixels touching only at corners are separate, valid polygons.

    8-connectivity would join them through the corners into one self-touching ring,
    which is an invalid polygon; the module passes polygons on without repair.
    """
    a = np.zeros((4, 4), dtype="float32")
    a[0, 0] = a[1, 1] = a[2, 2] = 2.0
    a[0, 2] = a[1, 3] = 2.0  # and a diagonal pair touching the chain's corner
    path = write_tif(tmp_path / "diag.tif", a)
    [(name, geom)] = zones(path)
    assert name == "high"
    assert len(geom.geoms) == 5 and geom.is_valid
    assert geom.area == 5 * PIXEL_AREA


@pytest.mark.parametrize(
    ("classes", "message"),
    [
        ([], "at least one"),
        ([("low", 0.5), ("high", 0.5)], "strictly ascending"),
        ([("low", 1.0), ("high", 0.5)], "strictly ascending"),
        ([("low", 0.1), ("low", 0.5)], "unique"),
        ([("", 0.1)], "name"),
        ([("low", math.nan)], "not finite"),
        ([("low", "0.1")], "not a number"),
        ([("low", True)], "not a number"),
        (["low"], "pair"),
    ],
)
def test_bad_classes_are_refused(tmp_path: Path, classes: Any, message: str) -> None:
    path = write_tif(tmp_path / "depth.tif", hazard_blocks())
    with pytest.raises(InvalidInput, match=message):
        classify_raster(path, classes, limits=LIMITS)


def test_thresholds_that_collapse_at_raster_precision_are_refused(tmp_path: Path) -> None:
    path = write_tif(tmp_path / "f32.tif", np.zeros((4, 4), dtype="float32"))
    classes = [("low", 0.1), ("high", 0.1 + 1e-12)]
    with pytest.raises(InvalidInput, match="float32"), classify_raster(path, classes):
        pass


def test_band_out_of_range(tmp_path: Path) -> None:
    path = write_tif(tmp_path / "depth.tif", hazard_blocks())
    with pytest.raises(InvalidInput, match="band 2"), classify_raster(path, CLASSES, band=2):
        pass
    with pytest.raises(InvalidInput, match="band"):
        classify_raster(path, CLASSES, band=0)


def test_second_band_is_classified(tmp_path: Path) -> None:
    data = np.stack([np.zeros((5, 5), "float32"), np.full((5, 5), 0.6, "float32")])
    path = write_tif(tmp_path / "two.tif", data)
    assert area_by_class(zones(path, band=2)) == {"medium": 25 * PIXEL_AREA}
    assert zones(path, band=1) == []


def test_classify_crs_missing_given_and_overridden(tmp_path: Path) -> None:
    bare = write_tif(tmp_path / "bare.tif", hazard_blocks(), crs=None)
    with classify_raster(bare, CLASSES, limits=LIMITS) as source:
        assert source.crs is None
    with classify_raster(bare, CLASSES, limits=LIMITS, source_crs=UTM) as source:
        assert source.crs is not None and source.crs.equals(UTM)

    tagged = write_tif(tmp_path / "tagged.tif", hazard_blocks())
    other = pyproj.CRS.from_epsg(23839)  # DGN95 / Indonesia TM-3 zone 49.1
    with classify_raster(tagged, CLASSES, limits=LIMITS, source_crs=other) as source:
        assert source.crs is not None and source.crs.equals(other)


# --- read_raster and value_at ------------------------------------------------------------


def test_read_raster_round_trips(tmp_path: Path) -> None:
    data = hazard_blocks()
    path = write_tif(tmp_path / "depth.tif", data, nodata=NODATA)

    stored = read_raster(path, limits=LIMITS)

    assert stored.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert (stored.width, stored.height, stored.band_count) == (200, 200, 1)
    assert stored.dtype == "float32" and stored.nodata == NODATA
    assert stored.resolution == (10.0, 10.0)
    assert pyproj.CRS.from_wkt(stored.crs_wkt).equals(UTM)
    with MemoryFile(stored.data) as mem, mem.open() as ds:
        assert ds.driver == "GTiff"
        assert np.array_equal(ds.read(1), data, equal_nan=True)
        assert ds.transform == UTM_TRANSFORM
        assert pyproj.CRS.from_wkt(ds.crs.to_wkt()).equals(UTM)
        assert ds.nodata == NODATA
        assert ds.profile["tiled"] and ds.block_shapes == [(256, 256)]
        assert ds.compression.value == "DEFLATE"


def test_read_raster_bounds_in_lon_lat(tmp_path: Path) -> None:
    path = write_tif(tmp_path / "depth.tif", hazard_blocks())
    stored = read_raster(path, limits=LIMITS)
    to_lonlat = pyproj.Transformer.from_crs(UTM, "EPSG:4326", always_xy=True)
    x0, y0 = UTM_ORIGIN
    lon, lat = to_lonlat.transform([x0, x0 + 2000, x0, x0 + 2000], [y0, y0, y0 - 2000, y0 - 2000])
    expected = (min(lon), min(lat), max(lon), max(lat))
    assert stored.bounds_lonlat == pytest.approx(expected, abs=1e-7)
    assert 112.0 < stored.bounds_lonlat[0] < 113.0 and -8.0 < stored.bounds_lonlat[1] < -7.0


def test_read_raster_multiband_with_scales(tmp_path: Path) -> None:
    data = np.arange(3 * 30 * 40, dtype="int16").reshape(3, 30, 40)
    path = write_tif(tmp_path / "multi.tif", data, nodata=-1)
    with rasterio.open(path, "r+") as dst:
        dst.scales = (0.5, 1.0, 2.0)
        dst.offsets = (0.0, 1.0, 0.0)
    stored = read_raster(path, limits=LIMITS)
    assert stored.band_count == 3 and stored.dtype == "int16" and stored.nodata == -1.0
    with MemoryFile(stored.data) as mem, mem.open() as ds:
        assert np.array_equal(ds.read(), data)
        assert ds.scales == (0.5, 1.0, 2.0) and ds.offsets == (0.0, 1.0, 0.0)


def test_read_raster_geographic(tmp_path: Path) -> None:
    transform = from_origin(106.8, -6.1, 0.001, 0.001)
    data = np.arange(100 * 100, dtype="float32").reshape(100, 100)
    path = write_tif(tmp_path / "jakarta.tif", data, crs="EPSG:4326", transform=transform)
    stored = read_raster(path, limits=LIMITS)
    assert stored.bounds_lonlat == pytest.approx((106.8, -6.2, 106.9, -6.1))
    # Centre of row 10, col 20.
    assert value_at(stored, 106.8 + 0.0205, -6.1 - 0.0105) == float(data[10, 20])
    assert value_at(stored, 106.95, -6.15) is None


def test_read_raster_needs_a_crs(tmp_path: Path) -> None:
    path = write_tif(tmp_path / "bare.tif", hazard_blocks(), crs=None)
    with pytest.raises(IngestRejected, match="raster has no CRS"):
        read_raster(path, limits=LIMITS)
    stored = read_raster(path, limits=LIMITS, source_crs=UTM)
    assert pyproj.CRS.from_wkt(stored.crs_wkt).equals(UTM)
    with MemoryFile(stored.data) as mem, mem.open() as ds:
        assert pyproj.CRS.from_wkt(ds.crs.to_wkt()).equals(UTM)


def test_read_raster_source_crs_overrides_the_file(tmp_path: Path) -> None:
    transform = from_origin(106.8, -6.1, 0.001, 0.001)
    path = write_tif(
        tmp_path / "tagged.tif", np.ones((10, 10), "float32"), crs="EPSG:32749", transform=transform
    )
    # As UTM, these coordinates are a few hundred metres from the zone's false origin.
    with pytest.raises(IngestRejected):
        read_raster(path, limits=LIMITS)
    wgs84 = pyproj.CRS.from_epsg(4326)
    stored = read_raster(path, limits=LIMITS, source_crs=wgs84)
    assert pyproj.CRS.from_wkt(stored.crs_wkt).equals(wgs84)


def test_read_raster_refuses_bounds_outside_lon_lat(tmp_path: Path) -> None:
    transform = from_origin(200.0, -6.0, 0.01, 0.01)
    path = write_tif(
        tmp_path / "far.tif", np.ones((10, 10), "float32"), crs="EPSG:4326", transform=transform
    )
    with pytest.raises(IngestRejected, match="not valid lon/lat"):
        read_raster(path, limits=LIMITS)


def test_read_raster_refuses_rasters_outside_the_service_extent(tmp_path: Path) -> None:
    transform = from_origin(10.0, 50.0, 0.01, 0.01)  # central Europe
    path = write_tif(
        tmp_path / "europe.tif", np.ones((10, 10), "float32"), crs="EPSG:4326", transform=transform
    )
    with pytest.raises(IngestRejected, match="outside the service extent"):
        read_raster(path, limits=LIMITS)


def lonlat_of_pixel(row: int, col: int) -> tuple[float, float]:
    """Lon/lat of a UTM pixel centre."""
    x, y = UTM_ORIGIN[0] + (col + 0.5) * 10, UTM_ORIGIN[1] - (row + 0.5) * 10
    lon, lat = pyproj.Transformer.from_crs(UTM, "EPSG:4326", always_xy=True).transform(x, y)
    return float(lon), float(lat)


def test_value_at(tmp_path: Path) -> None:
    data = hazard_blocks()
    data[120, 77] = 42.25
    stored = read_raster(write_tif(tmp_path / "d.tif", data, nodata=NODATA), limits=LIMITS)

    assert value_at(stored, *lonlat_of_pixel(120, 77)) == 42.25
    assert value_at(stored, *lonlat_of_pixel(50, 15)) == 3.0
    assert value_at(stored, *lonlat_of_pixel(0, 0)) == pytest.approx(0.1)
    assert value_at(stored, *lonlat_of_pixel(65, 10)) is None  # nodata
    assert value_at(stored, *lonlat_of_pixel(75, 10)) is None  # NaN
    assert value_at(stored, *lonlat_of_pixel(-1, 10)) is None  # just north of the raster
    assert value_at(stored, *lonlat_of_pixel(10, 200)) is None  # just east
    assert value_at(stored, 106.8, -6.2) is None  # Jakarta, far outside
    assert value_at(stored, math.nan, -6.2) is None


def test_value_at_respects_an_internal_mask(tmp_path: Path) -> None:
    path = write_tif(tmp_path / "masked.tif", np.full((10, 10), 7.0, dtype="float32"))
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True), rasterio.open(path, "r+") as dst:
        mask = np.full((10, 10), 255, dtype="uint8")
        mask[0, 0] = 0
        dst.write_mask(mask)
    stored = read_raster(path, limits=LIMITS)
    assert value_at(stored, *lonlat_of_pixel(0, 0)) is None
    assert value_at(stored, *lonlat_of_pixel(0, 1)) == 7.0


def test_stored_raster_repr_leaves_out_the_bytes(tmp_path: Path) -> None:
    stored = read_raster(write_tif(tmp_path / "d.tif", hazard_blocks()), limits=LIMITS)
    assert isinstance(stored, StoredRaster)
    text = repr(stored)
    assert text.startswith("StoredRaster(crs_wkt=") and "b'II" not in text


# --- Refusals ----------------------------------------------------------------------------


def both_readers(path: Path | str, limits: IngestSettings = LIMITS) -> list[Any]:
    """Call each reader on the path and collect what it raised (or None)."""
    raised: list[Any] = []
    for read in (
        lambda: read_raster(Path(path), limits=limits),
        lambda: list(enter_and_read(Path(path), limits)),
    ):
        try:
            read()
        except Exception as exc:
            raised.append(exc)
        else:
            raised.append(None)
    return raised


def enter_and_read(path: Path, limits: IngestSettings) -> list[Chunk]:
    with classify_raster(path, CLASSES, limits=limits) as source:
        return list(source.chunks(1000))


def noise_tif(path: Path) -> Path:
    data = np.random.default_rng(1).random((600, 600), dtype=np.float32)
    return write_tif(path, data, tiled=True, blockxsize=256, blockysize=256, compress="deflate")


@pytest.mark.parametrize(
    ("keep", "message"),
    [(100, "corrupt or unreadable GeoTIFF"), (300, "truncated"), (0.5, "truncated")],
)
def test_truncated_tiff_is_rejected_with_the_file_name(
    tmp_path: Path, keep: float, message: str
) -> None:
    whole = noise_tif(tmp_path / "whole.tif").read_bytes()
    cut = tmp_path / "cut.tif"
    cut.write_bytes(whole[: int(keep if keep > 1 else len(whole) * keep)])
    for exc in both_readers(cut):
        assert type(exc) is IngestRejected, exc
        assert "cut.tif" in exc.message
        assert str(tmp_path) not in exc.message
        assert message in exc.message
        assert exc.__cause__ is None and (exc.__context__ is None or exc.__suppress_context__)


def test_corrupt_block_is_rejected_while_reading(tmp_path: Path) -> None:
    """Damage inside the file passes the open-time checks and fails on reading the block;
    that failure must still be an IngestRejected naming the file."""
    path = noise_tif(tmp_path / "damaged.tif")
    with rasterio.open(path) as ds:
        offset = int(ds.get_tag_item("BLOCK_OFFSET_1_1", "TIFF", bidx=1))
    content = bytearray(path.read_bytes())
    content[offset : offset + 64] = b"\xff" * 64
    path.write_bytes(bytes(content))

    with (
        classify_raster(path, CLASSES, limits=LIMITS) as source,
        pytest.raises(IngestRejected, match=r"damaged\.tif: corrupt or unreadable") as err,
    ):
        list(source.chunks(1000))
    assert str(tmp_path) not in err.value.message
    for exc in both_readers(path):
        assert type(exc) is IngestRejected and "damaged.tif" in exc.message


def test_vrt_is_unsafe(tmp_path: Path) -> None:
    source = write_tif(tmp_path / "real.tif", hazard_blocks())
    vrt = tmp_path / "layer.vrt"
    with rasterio.open(source) as ds:
        vrt_xml = (
            f'<VRTDataset rasterXSize="{ds.width}" rasterYSize="{ds.height}">'
            f'<VRTRasterBand dataType="Float32" band="1"><SimpleSource>'
            f"<SourceFilename>{source}</SourceFilename></SimpleSource></VRTRasterBand>"
            "</VRTDataset>"
        )
    vrt.write_text(vrt_xml)
    disguised = tmp_path / "disguised.tif"
    disguised.write_text("\ufeff  \n" + vrt_xml)
    for path in (vrt, disguised):
        for exc in both_readers(path):
            assert isinstance(exc, UnsafeInput), exc
            assert "VRT" in exc.message


@pytest.mark.parametrize(
    "path",
    [
        "/vsicurl/https://example.org/depth.tif",
        "https://example.org/depth.tif",
        "/vsizip/tmp/a.zip/depth.tif",
        "zip+file:///tmp/a.zip!depth.tif",
        Path("https://example.org/depth.tif"),
        "GTIFF_DIR:1:/tmp/depth.tif",
        "/VSICURL/https://example.org/depth.tif",
        "/tmp/../vsicurl/http:/example.org/a.tif",
    ],
)
def test_remote_and_virtual_paths_are_unsafe(path: str | Path) -> None:
    for exc in both_readers(path):
        assert isinstance(exc, UnsafeInput), exc


def test_wrong_magic_is_rejected(tmp_path: Path) -> None:
    fake = tmp_path / "photo.tif"
    fake.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200))
    for exc in both_readers(fake):
        assert type(exc) is IngestRejected, exc
        assert "photo.tif: not a GeoTIFF" in exc.message


def test_size_limit(tmp_path: Path) -> None:
    path = write_tif(tmp_path / "depth.tif", hazard_blocks())
    small = IngestSettings(max_bytes=1000)
    for exc in both_readers(path, small):
        assert type(exc) is IngestRejected and "over the 1000 B limit" in exc.message


def test_pixel_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert raster.MAX_PIXELS == 400_000_000
    path = write_tif(tmp_path / "depth.tif", hazard_blocks())
    monkeypatch.setattr(raster, "MAX_PIXELS", 200 * 200 - 1)
    for exc in both_readers(path):
        assert type(exc) is IngestRejected and "200 x 200 pixels" in exc.message


def test_missing_file_directory_and_fifo(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.tif"
    fifo_supported = hasattr(os, "mkfifo")
    if fifo_supported:
        os.mkfifo(fifo)
    (tmp_path / "dir.tif").mkdir()
    cases = [tmp_path / "missing.tif", tmp_path / "dir.tif"] + ([fifo] if fifo_supported else [])
    for path in cases:
        for exc in both_readers(path):
            assert type(exc) is IngestRejected, exc
            assert path.name in exc.message


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_raster_without_geotransform_is_rejected(tmp_path: Path) -> None:
    path = write_tif(tmp_path / "pixels.tif", np.ones((5, 5), "float32"), crs=None, transform=None)
    for exc in both_readers(path):
        assert type(exc) is IngestRejected and "geotransform" in exc.message
