"""The storage CRS (EPSG:4326, lon/lat order), cached transformers and coordinate checks."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pyproj

STORAGE_EPSG = 4326
STORAGE_CRS = pyproj.CRS.from_epsg(STORAGE_EPSG)


def parse_crs(text: str) -> pyproj.CRS:
    """A CRS from user text such as 'EPSG:32749', '32749' or an OGC URI."""
    from gis.errors import InvalidInput

    value = text.strip()
    if value.isdigit():
        value = f"EPSG:{value}"
    try:
        return pyproj.CRS.from_user_input(value)
    except pyproj.exceptions.CRSError as exc:
        raise InvalidInput(f"unknown CRS {text!r}: {exc}") from None


@lru_cache(maxsize=64)
def _transformer(src_wkt: str) -> pyproj.Transformer:
    return pyproj.Transformer.from_crs(pyproj.CRS.from_wkt(src_wkt), STORAGE_CRS, always_xy=True)


def to_storage_transformer(src: pyproj.CRS) -> pyproj.Transformer | None:
    """A lon/lat transformer to EPSG:4326, or None when src already is lon/lat WGS 84."""
    if src.equals(STORAGE_CRS, ignore_axis_order=True):
        return None
    return _transformer(src.to_wkt())


def in_range(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Which lon/lat pairs are finite and within [-180, 180] x [-90, 90]."""
    return np.isfinite(x) & np.isfinite(y) & (np.abs(x) <= 180.0) & (np.abs(y) <= 90.0)


def in_extent(
    x: np.ndarray, y: np.ndarray, extent: tuple[float, float, float, float]
) -> np.ndarray:
    minx, miny, maxx, maxy = extent
    return (x >= minx) & (x <= maxx) & (y >= miny) & (y <= maxy)
