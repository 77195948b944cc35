"""GeoTIFF ingestion: hazard rasters classified into zones, and rasters kept whole.

Two uses of a raster:

* ``classify_raster`` turns a hazard raster (say flood depth in metres) into hazard-class
  polygons and offers them as a :class:`~gis.ingest.source.Source`, so the vector pipeline
  (clean, load) handles them like any other file.
* ``read_raster`` keeps a raster whole (population per cell, flood depth) as a re-encoded,
  compressed GeoTIFF in memory, for value-at-point (``value_at``) and zonal statistics.

Both treat the file as hostile: only a local regular file with TIFF magic bytes reaches
GDAL, only the GTiff driver may open it, GDAL may not list or fetch sibling or remote
files, the pixel count is capped, and every GDAL failure (also while reading blocks of a
truncated file) becomes an ``IngestRejected`` naming the file instead of a traceback.

Design choices:

* Polygonizing uses 4-connectivity: pixels of a class that touch only at a corner become
  separate polygons. GDAL's 8-connectivity joins them through the corner into one ring
  that touches itself, which is an invalid polygon; 4-connectivity output is valid.
* Memory stays bounded by working in square windows of at most ``WINDOW_SIZE`` pixels a
  side. Each window yields at most one MultiPolygon per class, so a zone that spans
  several windows arrives as several features whose pieces share edges exactly along the
  window seams. Their union is the single-pass result; dissolving across windows would
  need the whole raster's geometry in memory, which is what windows avoid.
"""

from __future__ import annotations

import math
import numbers
import os
import warnings
from array import array
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import chain, pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyproj
import rasterio
import rasterio.features
import shapely
from rasterio._err import CPLE_BaseError
from rasterio.crs import CRS as RasterioCRS
from rasterio.enums import MaskFlags
from rasterio.errors import NotGeoreferencedWarning, RasterioError
from rasterio.io import MemoryFile
from rasterio.transform import Affine
from rasterio.windows import Window
from shapely.geometry import MultiPolygon

from gis.crs import STORAGE_CRS, in_range, to_storage_transformer
from gis.errors import IngestRejected, InvalidInput
from gis.ingest.safety import check_path, read_head
from gis.ingest.source import Chunk, Source, file_digest
from gis.settings import IngestSettings, ingest_settings

#: Largest width x height accepted (20,000 x 20,000 pixels, e.g. a 100 m grid over Java
#: and Bali). A few kilobytes of DEFLATE can declare billions of pixels; this cap bounds
#: the work a file can demand, while windows bound the memory it can take.
MAX_PIXELS = 400_000_000
#: Largest band count accepted; real population and hazard rasters have a handful.
MAX_BANDS = 256
#: Side, in pixels, of the square windows read at a time (a multiple of common tile sizes,
#: so windows line up with the blocks of tiled files). It bounds memory per window: the
#: pixels (8 MiB as float64) and, worse, the polygons of a noisy window; a checkerboard
#: of 1024^2 pixels is half a million separate polygons.
WINDOW_SIZE = 1024
#: Block size of the GeoTIFF that read_raster stores.
STORED_BLOCK_SIZE = 256

#: Little- and big-endian classic TIFF, then little- and big-endian BigTIFF.
_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
#: While GDAL has the file open: never list the upload directory or open sidecar files
#: (.aux.xml, .ovr, .msk), never fetch anything over HTTP, never write .aux.xml files.
_GDAL_ENV = {
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".invalid",
    "GDAL_PAM_ENABLED": "NO",
    "GDAL_TIFF_INTERNAL_MASK": "YES",
}

HazardClasses = Sequence[tuple[str, float]]


@dataclass(frozen=True)
class StoredRaster:
    """A raster kept whole: a DEFLATE-compressed, 256-tiled GeoTIFF plus its metadata.

    ``sha256`` is of the source file as uploaded, so re-uploading the same file is
    recognisable. ``bounds_lonlat`` is (min lon, min lat, max lon, max lat) in EPSG:4326.
    """

    data: bytes = field(repr=False)
    crs_wkt: str
    width: int
    height: int
    band_count: int
    dtype: str
    nodata: float | None
    bounds_lonlat: tuple[float, float, float, float]
    resolution: tuple[float, float]
    sha256: str


# --- Public API --------------------------------------------------------------------------


def classify_raster(
    path: Path,
    classes: HazardClasses,
    *,
    band: int = 1,
    limits: IngestSettings | None = None,
    source_crs: pyproj.CRS | None = None,
    window_size: int = WINDOW_SIZE,
) -> AbstractContextManager[Source]:
    """Open a hazard raster as a Source of hazard-class zones.

    ``classes`` are (name, lower threshold) pairs in ascending threshold order: a pixel
    belongs to the last class whose threshold is <= its value, so a value equal to a
    threshold falls in that threshold's class. Pixels below the first threshold, nodata,
    masked, NaN or infinite belong to no zone. Thresholds are compared at the raster's
    own float precision, so a float32 pixel written as 0.7 meets a 0.7 threshold.

    Features have one attribute, ``hazard_class``, and MultiPolygon geometry in the
    raster's CRS; see the module docstring for connectivity and windows. ``source_crs``,
    when given, is used as the raster's CRS whether or not the file declares one.
    ``window_size`` exists for tuning and tests.

    Arguments and the file's safety are checked now; GDAL opens the file on entering
    the returned context, and closes it on leaving.
    """
    limits = limits or ingest_settings()
    _check_classes(classes)
    if band < 1:
        raise InvalidInput(f"band must be 1 or more, not {band}")
    if window_size < 1:
        raise InvalidInput(f"window_size must be 1 or more, not {window_size}")
    resolved = _check_file(path, limits)
    return _open_classified(path, resolved, classes, band, source_crs, window_size)


def read_raster(
    path: Path,
    *,
    limits: IngestSettings | None = None,
    source_crs: pyproj.CRS | None = None,
) -> StoredRaster:
    """Read a raster to keep whole, re-encoded as a compressed, tiled GeoTIFF.

    The raster needs a CRS: from the file, or ``source_crs``, which overrides the file's
    CRS when both exist (the operator knows better than a wrong tag). Its lon/lat bounds
    must be valid coordinates and overlap the service extent; a raster far away almost
    always means a wrong CRS. Values are copied unchanged, with nodata, any internal
    mask, and band scales and offsets.
    """
    limits = limits or ingest_settings()
    resolved = _check_file(path, limits)
    digest = file_digest(resolved)[1]
    with rasterio.Env(**_GDAL_ENV), _open_dataset(path, resolved) as ds:
        crs = _effective_crs(path, ds, source_crs)
        if crs is None:
            raise IngestRejected(f"{path.name}: raster has no CRS; give the source CRS")
        bounds = _bounds_lonlat(path, ds, crs, limits)
        with _rasterio_errors(path):
            data = _reencode(ds, crs)
        return StoredRaster(
            data=data,
            crs_wkt=crs.to_wkt(),
            width=ds.width,
            height=ds.height,
            band_count=ds.count,
            dtype=str(ds.dtypes[0]),
            nodata=None if ds.nodata is None else float(ds.nodata),
            bounds_lonlat=bounds,
            resolution=(float(ds.res[0]), float(ds.res[1])),
            sha256=digest,
        )


def value_at(raster: StoredRaster, lon: float, lat: float) -> float | None:
    """Band 1's value at a lon/lat point; None outside the raster, at nodata or NaN.

    The point is the pixel that contains it (pixels include their top and left edges).
    Opens the stored bytes on each call: fine for single points, not for many.
    """
    if not (math.isfinite(lon) and math.isfinite(lat)):
        return None
    x, y = _from_lonlat(raster.crs_wkt).transform(lon, lat)
    with MemoryFile(raster.data) as mem, mem.open() as ds:
        col, row = _apply(~ds.transform, x, y)
        if not (math.isfinite(col) and math.isfinite(row)):
            return None
        c, r = math.floor(col), math.floor(row)
        if not (0 <= r < ds.height and 0 <= c < ds.width):
            return None
        cell = ds.read(1, window=Window(c, r, 1, 1), masked=True)
    if np.ma.getmaskarray(cell)[0, 0]:
        return None
    value = float(np.ma.getdata(cell)[0, 0])
    return None if math.isnan(value) else value


# --- Classified rasters as a Source ------------------------------------------------------


class ClassifiedRaster:
    """A Source over one band of an open hazard raster; features are class zones."""

    def __init__(
        self,
        path: Path,
        dataset: Any,
        band: int,
        classes: HazardClasses,
        crs: pyproj.CRS | None,
        window_size: int,
    ) -> None:
        self.path: Path = path
        self.format: str = "geotiff"
        self.crs: pyproj.CRS | None = crs
        #: Not known before polygonizing the whole raster.
        self.feature_count: int | None = None
        self._ds = dataset
        self._band = band
        self._names = [name for name, _ in classes]
        self._thresholds = _thresholds_for(path, classes, dataset.dtypes[band - 1])
        self._window_size = window_size

    def chunks(self, size: int) -> Iterator[Chunk]:
        """One chunk per window that has zones (more if a window has over ``size``)."""
        if size < 1:
            raise ValueError("chunk size must be 1 or more")
        offset = 0
        for window in _windows(self._ds.height, self._ds.width, self._window_size):
            with _rasterio_errors(self.path):
                features = self._window_features(window)
            for start in range(0, len(features), size):
                batch = features[start : start + size]
                yield _chunk(offset, batch)
                offset += len(batch)

    def _window_features(self, window: Window) -> list[tuple[str, MultiPolygon]]:
        """Polygonize one window: one MultiPolygon per class present in it."""
        pixels = self._ds.read(self._band, window=window, masked=True)
        codes = _classify_pixels(pixels, self._thresholds)
        transform = _window_transform(self._ds.transform, window)
        return [(self._names[code - 1], geom) for code, geom in _polygonize(codes, transform)]


def _polygonize(codes: np.ndarray, transform: Affine) -> list[tuple[int, MultiPolygon]]:
    """One MultiPolygon per non-zero code, in code order, from 4-connected regions.

    The result is not run through a validity check: GDAL's 4-connected regions are valid
    polygons (holes that meet at a corner come out as separate holes), and regions of one
    code touch at most at corners, which a MultiPolygon allows. The check costs about as
    much as polygonizing, on geometry that clean validates anyway after reprojection.

    The GeoJSON-like rings from rasterio are turned into shapely geometries in bulk:
    building a Polygon per region with shapely's ``shape`` costs more than polygonizing.
    """
    xy = array("d")  # flat x, y doubles: a tenth of the memory of tuples
    ring_lengths: list[int] = []
    ring_polygon: list[int] = []
    polygon_codes: list[int] = []
    for geom, code in rasterio.features.shapes(
        codes, mask=codes > 0, connectivity=4, transform=transform
    ):
        for ring in geom["coordinates"]:
            xy.extend(chain.from_iterable(ring))
            ring_lengths.append(len(ring))
            ring_polygon.append(len(polygon_codes))
        polygon_codes.append(int(code))
    if not polygon_codes:
        return []
    ring_of_point = np.repeat(np.arange(len(ring_lengths)), ring_lengths)
    points = np.frombuffer(xy, dtype=np.float64).reshape(-1, 2)
    rings: Any = shapely.linearrings(points, indices=ring_of_point)
    polygons: Any = shapely.polygons(rings, indices=np.asarray(ring_polygon))
    present, code_index = np.unique(np.asarray(polygon_codes), return_inverse=True)
    order = np.argsort(code_index, kind="stable")  # shapely wants indices sorted
    multipolygons: Any = shapely.multipolygons(polygons[order], indices=code_index[order])
    return list(zip(present.tolist(), multipolygons, strict=True))


def _classify_pixels(pixels: np.ma.MaskedArray, thresholds: np.ndarray) -> np.ndarray:
    """Class codes per pixel: k (1-based) for the k-th class, 0 for no zone.

    ``thresholds`` must be ascending and of a dtype that compares with the pixels the
    way the caller means (see ``_thresholds_for``).
    """
    values = np.ma.getdata(pixels)
    valid = ~np.ma.getmaskarray(pixels)
    if np.issubdtype(values.dtype, np.floating):
        valid &= np.isfinite(values)
    # side="right" counts thresholds <= value: 0 below the first, k from the k-th on.
    codes = np.searchsorted(thresholds, values, side="right").astype(np.int32)
    codes[~valid] = 0
    return codes


@contextmanager
def _open_classified(
    path: Path,
    resolved: Path,
    classes: HazardClasses,
    band: int,
    source_crs: pyproj.CRS | None,
    window_size: int,
) -> Iterator[ClassifiedRaster]:
    with rasterio.Env(**_GDAL_ENV), _open_dataset(path, resolved) as ds:
        if band > ds.count:
            raise InvalidInput(f"{path.name} has {ds.count} band(s); band {band} asked")
        crs = _effective_crs(path, ds, source_crs)
        yield ClassifiedRaster(path, ds, band, classes, crs, window_size)


def _check_classes(classes: HazardClasses) -> None:
    """Non-empty, unique non-empty names, finite strictly ascending thresholds."""
    if not classes:
        raise InvalidInput("hazard classes: give at least one (name, threshold) pair")
    names: list[str] = []
    thresholds: list[float] = []
    for item in classes:
        if not (isinstance(item, tuple | list) and len(item) == 2):
            raise InvalidInput(f"hazard classes: {item!r} is not a (name, threshold) pair")
        name, threshold = item
        if not isinstance(name, str) or not name:
            raise InvalidInput(f"hazard classes: class name {name!r} is not a text")
        if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real):
            raise InvalidInput(f"hazard classes: threshold of {name!r} is not a number")
        if not math.isfinite(threshold):
            raise InvalidInput(f"hazard classes: threshold of {name!r} is not finite")
        names.append(name)
        thresholds.append(float(threshold))
    if len(set(names)) != len(names):
        raise InvalidInput(f"hazard classes: names must be unique, got {names}")
    if any(b <= a for a, b in pairwise(thresholds)):
        raise InvalidInput(
            f"hazard classes: thresholds must be strictly ascending, got {thresholds}"
        )


def _thresholds_for(path: Path, classes: HazardClasses, dtype: str) -> np.ndarray:
    """Thresholds in the dtype they are compared in.

    Float pixels are compared at their own precision: float32(0.7) is below the float64
    0.7, so comparing in float64 would put a pixel written as 0.7 under a 0.7 threshold.
    Integer pixels are compared in float64 so that a 0.5 threshold keeps its meaning.
    """
    values = np.array([t for _, t in classes], dtype=np.float64)
    kind = np.dtype(dtype)
    if not np.issubdtype(kind, np.floating):
        return values
    with np.errstate(over="ignore"):
        typed = values.astype(kind)
    if not (np.all(np.isfinite(typed)) and np.all(np.diff(typed) > 0)):
        raise InvalidInput(
            f"hazard classes: thresholds {values.tolist()} are not distinct finite "
            f"values at the {kind} precision of {path.name}"
        )
    return typed


def _chunk(offset: int, features: list[tuple[str, MultiPolygon]]) -> Chunk:
    geometry = np.empty(len(features), dtype=object)
    geometry[:] = [geom for _, geom in features]
    attributes = pd.DataFrame({"hazard_class": [name for name, _ in features]})
    return Chunk(offset=offset, attributes=attributes, geometry=geometry)


def _windows(height: int, width: int, size: int) -> Iterator[Window]:
    """Square windows of at most ``size`` pixels a side covering the raster, row-major."""
    for row in range(0, height, size):
        for col in range(0, width, size):
            yield Window(col, row, min(size, width - col), min(size, height - row))


# --- Kept rasters ------------------------------------------------------------------------


def _reencode(ds: Any, crs: pyproj.CRS) -> bytes:
    """The raster as a DEFLATE, 256-tiled GeoTIFF, copied window by window and band by
    band so memory stays bounded whatever the band count."""
    profile = {
        "driver": "GTiff",
        "width": ds.width,
        "height": ds.height,
        "count": ds.count,
        "dtype": ds.dtypes[0],
        "crs": RasterioCRS.from_wkt(crs.to_wkt()),
        "transform": ds.transform,
        "nodata": ds.nodata,
        "compress": "deflate",
        "tiled": True,
        "blockxsize": STORED_BLOCK_SIZE,
        "blockysize": STORED_BLOCK_SIZE,
        "BIGTIFF": "IF_SAFER",
    }
    has_mask = ds.nodata is None and MaskFlags.per_dataset in ds.mask_flag_enums[0]
    with MemoryFile() as mem:
        with mem.open(**profile) as dst:
            dst.scales = ds.scales
            dst.offsets = ds.offsets
            for window in _windows(ds.height, ds.width, WINDOW_SIZE):
                for band in range(1, ds.count + 1):
                    dst.write(ds.read(band, window=window), band, window=window)
                if has_mask:
                    dst.write_mask(ds.read_masks(1, window=window), window=window)
        return bytes(mem.getbuffer())


def _bounds_lonlat(
    path: Path, ds: Any, crs: pyproj.CRS, limits: IngestSettings
) -> tuple[float, float, float, float]:
    """Lon/lat bounds of all four corners (rotated grids too), checked for sanity."""
    corners = [
        _apply(ds.transform, c, r)
        for c, r in ((0, 0), (ds.width, 0), (0, ds.height), (ds.width, ds.height))
    ]
    xs = [x for x, _ in corners]
    ys = [y for _, y in corners]
    box = (min(xs), min(ys), max(xs), max(ys))
    transformer = to_storage_transformer(crs)
    if transformer is not None:
        try:
            box = transformer.transform_bounds(*box, densify_pts=21)
        except pyproj.exceptions.ProjError:
            raise IngestRejected(
                f"{path.name}: raster bounds cannot be transformed to lon/lat; check the CRS"
            ) from None
    lon = np.array(box[0::2], dtype=np.float64)
    lat = np.array(box[1::2], dtype=np.float64)
    if not in_range(lon, lat).all():
        raise IngestRejected(
            f"{path.name}: raster bounds {box} are not valid lon/lat; check the CRS"
        )
    minx, miny, maxx, maxy = limits.extent
    if not (box[0] <= maxx and box[2] >= minx and box[1] <= maxy and box[3] >= miny):
        raise IngestRejected(
            f"{path.name}: raster lies outside the service extent {limits.extent}; check the CRS"
        )
    return (float(box[0]), float(box[1]), float(box[2]), float(box[3]))


def _apply(transform: Affine, x: float, y: float) -> tuple[float, float]:
    """``transform`` applied to one point (spelled out: affine 3 deprecates ``*`` for this
    and older affine releases lack ``@``)."""
    t = transform
    return (t.a * x + t.b * y + t.c, t.d * x + t.e * y + t.f)


def _window_transform(transform: Affine, window: Window) -> Affine:
    """The geotransform of a window (rasterio's own helper warns under affine 3)."""
    x, y = _apply(transform, window.col_off, window.row_off)
    return Affine(transform.a, transform.b, x, transform.d, transform.e, y)


@lru_cache(maxsize=64)
def _from_lonlat(crs_wkt: str) -> pyproj.Transformer:
    return pyproj.Transformer.from_crs(STORAGE_CRS, pyproj.CRS.from_wkt(crs_wkt), always_xy=True)


# --- Safety ------------------------------------------------------------------------------


def _check_file(path: Path, limits: IngestSettings) -> Path:
    """Refuse anything but a local regular TIFF file within the size limit.

    The path checks are the vector readers' (gis.ingest.safety); the returned absolute path
    starts with '/', so GDAL never reads it as a '/vsi' path or a driver prefix.
    """
    resolved = check_path(path, limits)
    if read_head(resolved, 4) not in _TIFF_MAGIC:
        raise IngestRejected(f"{path.name}: not a GeoTIFF (no TIFF signature)")
    return resolved


@contextmanager
def _open_dataset(path: Path, resolved: Path) -> Iterator[Any]:
    """Open with the GTiff driver only, and refuse rasters this service cannot use."""
    with _rasterio_errors(path), warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        ds = rasterio.open(resolved, driver="GTiff")
    try:
        with _rasterio_errors(path):
            _check_dataset(path, ds)
        yield ds
    finally:
        ds.close()


def _check_dataset(path: Path, ds: Any) -> None:
    if ds.count < 1:
        raise IngestRejected(f"{path.name}: raster has no bands")
    if ds.count > MAX_BANDS:
        raise IngestRejected(f"{path.name}: {ds.count} bands is over the limit of {MAX_BANDS}")
    if ds.width * ds.height > MAX_PIXELS:
        raise IngestRejected(
            f"{path.name}: {ds.width} x {ds.height} pixels is over the limit of {MAX_PIXELS}"
        )
    _check_not_truncated(path, ds)
    if any(np.issubdtype(np.dtype(d), np.complexfloating) for d in ds.dtypes):
        raise IngestRejected(f"{path.name}: complex-valued rasters are not supported")
    if len(set(ds.dtypes)) > 1:
        raise IngestRejected(f"{path.name}: bands of different data types are not supported")
    if ds.transform.is_identity or ds.transform.determinant == 0:
        raise IngestRejected(
            f"{path.name}: raster has no usable geotransform (GCP-only and unreferenced "
            "rasters are not supported)"
        )


def _check_not_truncated(path: Path, ds: Any) -> None:
    """Refuse a file whose last data block of any band ends beyond the end of the file.

    Writers store blocks in order, so a cut-off upload usually loses the last block
    first; catching that here gives a plain "truncated" message instead of a GDAL read
    error halfway through. A file cut elsewhere still fails while reading, also as an
    IngestRejected. (Blocks at offset 0 are sparse, i.e. legitimately absent.)
    """
    size = os.stat(ds.name).st_size
    for band in range(1, ds.count + 1):
        rows, cols = ds.block_shapes[band - 1]
        last_x, last_y = (ds.width - 1) // cols, (ds.height - 1) // rows
        offset = ds.get_tag_item(f"BLOCK_OFFSET_{last_x}_{last_y}", "TIFF", bidx=band)
        length = ds.get_tag_item(f"BLOCK_SIZE_{last_x}_{last_y}", "TIFF", bidx=band)
        if offset and length and int(offset) + int(length) > size:
            raise IngestRejected(
                f"{path.name}: the file is truncated ({size} bytes; its data runs to "
                f"{int(offset) + int(length)})"
            )


def _effective_crs(path: Path, ds: Any, source_crs: pyproj.CRS | None) -> pyproj.CRS | None:
    """``source_crs`` when given (it overrides the file), else the file's CRS, else None."""
    if source_crs is not None:
        return source_crs
    if ds.crs is None:
        return None
    try:
        return pyproj.CRS.from_wkt(ds.crs.to_wkt())
    except (pyproj.exceptions.CRSError, RasterioError):
        raise IngestRejected(f"{path.name}: the raster's CRS is not understood") from None


@contextmanager
def _rasterio_errors(path: Path) -> Iterator[None]:
    """Turn GDAL/rasterio failures into an IngestRejected naming the file.

    GDAL's own detail is kept, with the server-side directory cut from it.
    """
    try:
        yield
    except (RasterioError, CPLE_BaseError) as exc:
        # rasterio's read errors say "see previous exception"; GDAL's detail is the cause.
        detail = str(exc.__cause__ or exc)
        detail = detail.replace(os.path.dirname(os.path.abspath(path)) + os.sep, "")
        detail = detail.removeprefix(f"{path.name}: ")
        raise IngestRejected(f"{path.name}: corrupt or unreadable GeoTIFF ({detail})") from None
