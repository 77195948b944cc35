"""Zonal statistics of a stored raster over (zone x class) cells, in one pass.

Why not one raster read per polygon (as rasterstats does): a district question has
areas x classes polygons, a benchmark regency tens of thousands. Instead the zones and
the hazard classes are each burned once onto the raster's own grid, and one weighted
``bincount`` over ``zone * n_classes + class`` sums every cell at once.

The pixel rule is GDAL's default (``all_touched=False``): a pixel belongs to a polygon
when its **centre** lies inside it. Each pixel therefore goes to exactly one zone and one
class, so the totals are conserved (the zones of a level add up to the regency) and the
result equals rasterstats' ``zonal_stats(..., all_touched=False, stats="sum")`` on the
intersection polygons. Where hazard zones of one type overlap, a pixel takes the highest
class (zones are burned from low to high, the later overwriting).

Decoded rasters are cached per (store, name, version): an ingest bumps the version, so a
new raster is never answered from the old cache.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pyproj
import rasterio
import rasterio.enums
import rasterio.features
import shapely
from affine import Affine
from rasterio.io import MemoryFile
from shapely.geometry.base import BaseGeometry

from gis.crs import STORAGE_CRS
from gis.errors import NotFound
from gis.store.base import Store

#: Decoded rasters kept in memory (a regency at 100 m is a few MB of float64).
CACHE_SIZE = 4


@dataclass(frozen=True)
class DecodedRaster:
    """Band 1 as float64 with nodata/NaN/masked cells set to 0, plus its grid."""

    name: str
    version: int
    values: np.ndarray
    transform: Affine
    crs_wkt: str

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.values.shape[0]), int(self.values.shape[1]))


_cache: OrderedDict[tuple[object, ...], DecodedRaster] = OrderedDict()
_lock = threading.Lock()


def raster_version(store: Store, name: str) -> int | None:
    """The raster's version, or None when it was never loaded."""
    info = next((r for r in store.rasters() if r.name == name), None)
    return None if info is None else info.version


def load_raster(store: Store, name: str) -> DecodedRaster | None:
    """The decoded raster, from the cache when its version is unchanged; None if absent."""
    info = next((r for r in store.rasters() if r.name == name), None)
    if info is None:
        return None
    key = (id(store), name, info.version, info.updated_at)
    with _lock:
        hit = _cache.get(key)
        if hit is not None:
            _cache.move_to_end(key)
            return hit
    try:
        stored = store.get_raster(name)
    except NotFound:
        return None
    decoded = _decode(name, info.version, stored.data, stored.crs_wkt)
    with _lock:
        _cache[key] = decoded
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return decoded


def _decode(name: str, version: int, data: bytes, crs_wkt: str) -> DecodedRaster:
    with MemoryFile(data) as mem, mem.open() as ds:
        band = ds.read(1, masked=True).astype(np.float64)
        transform = ds.transform
    values = np.ma.filled(band, 0.0)
    values[~np.isfinite(values)] = 0.0
    return DecodedRaster(name, version, values, transform, crs_wkt)


@lru_cache(maxsize=16)
def _from_lonlat(crs_wkt: str) -> pyproj.Transformer | None:
    """A cached lon/lat -> raster CRS transformer; None when the raster is in lon/lat."""
    target = pyproj.CRS.from_wkt(crs_wkt)
    if target.equals(STORAGE_CRS, ignore_axis_order=True):
        return None
    return pyproj.Transformer.from_crs(STORAGE_CRS, target, always_xy=True)


def to_raster_crs(geoms: Sequence[BaseGeometry], crs_wkt: str) -> list[BaseGeometry]:
    """Lon/lat geometries in the raster's CRS (vectorised, always_xy)."""
    transformer = _from_lonlat(crs_wkt)
    if transformer is None:
        return list(geoms)
    arr = np.asarray(geoms, dtype=object)
    out = shapely.transform(
        arr, lambda xy: np.column_stack(transformer.transform(xy[:, 0], xy[:, 1]))
    )
    return list(out)


def zone_class_sums(
    raster: DecodedRaster,
    zones: Sequence[BaseGeometry],
    classed: Sequence[tuple[int, BaseGeometry]],
    n_classes: int,
) -> np.ndarray:
    """Sum of the raster over each (zone, class): an array [len(zones), n_classes + 1].

    ``zones`` must not overlap each other (the areas of one admin level); ``classed`` are
    (rank 1..n_classes, geometry) in lon/lat, column 0 being "in no class". Pixel rule and
    overlaps: see the module docstring."""
    result = np.zeros((len(zones), n_classes + 1), dtype=np.float64)
    if not zones:
        return result
    shape = raster.shape
    zone_geoms = to_raster_crs(zones, raster.crs_wkt)
    zone_grid = rasterio.features.rasterize(
        [(g, i + 1) for i, g in enumerate(zone_geoms) if not g.is_empty],
        out_shape=shape,
        transform=raster.transform,
        fill=0,
        all_touched=False,
        dtype="int32",
    )
    class_grid = np.zeros(shape, dtype=np.uint8)
    if classed:
        ordered = sorted(classed, key=lambda rc: rc[0])
        class_geoms = to_raster_crs([g for _, g in ordered], raster.crs_wkt)
        shapes = [
            (g, rank) for (rank, _), g in zip(ordered, class_geoms, strict=True) if not g.is_empty
        ]
        if shapes:
            class_grid = rasterio.features.rasterize(
                shapes,
                out_shape=shape,
                transform=raster.transform,
                fill=0,
                all_touched=False,
                merge_alg=rasterio.enums.MergeAlg.replace,
                dtype="uint8",
            )
    inside = zone_grid > 0
    index = (zone_grid[inside].astype(np.int64) - 1) * (n_classes + 1) + class_grid[inside]
    sums = np.bincount(index, weights=raster.values[inside], minlength=len(zones) * (n_classes + 1))
    result[:] = sums.reshape(len(zones), n_classes + 1)
    return result
