"""Distances and bearings on the WGS 84 ellipsoid (pyproj.Geod, Karney's algorithm).

Every distance the service reports is computed here, in Python, from the lon/lat the
store returns, rather than by each database's own spheroid function: PostGIS and DuckDB
then give the very same metres for the same features, and the figures are the ones a
client can reproduce with pyproj. The databases only narrow candidates (index-assisted
KNN, bounding boxes); this module measures them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pyproj

GEOD = pyproj.Geod(ellps="WGS84")

#: Shortest ground length of one degree of latitude (the meridian arc at the equator).
_MIN_METRES_PER_DEGREE_LAT = 110_574.0
#: Length of one degree of longitude on the equator; shorter by cos(latitude) elsewhere.
_METRES_PER_DEGREE_LON_EQUATOR = 111_319.0


def distance_bearing(
    lon: float, lat: float, lons: Sequence[float], lats: Sequence[float]
) -> tuple[np.ndarray, np.ndarray]:
    """Geodesic distance (metres) and initial bearing (degrees clockwise from north,
    0 <= b < 360) from one point to each of many."""
    n = len(lons)
    if n == 0:
        return np.empty(0), np.empty(0)
    azimuth, _, metres = GEOD.inv(
        np.full(n, lon), np.full(n, lat), np.asarray(lons, float), np.asarray(lats, float)
    )
    return np.asarray(metres, float), np.mod(np.asarray(azimuth, float), 360.0)


def compass(bearing: float) -> str:
    """The 8-point compass name of a bearing (N, NE, E, ...), the same in id and en
    except for 'T' (timur) and 'B' (barat); callers pick the language."""
    return ("N", "NE", "E", "SE", "S", "SW", "W", "NW")[int(((bearing % 360) + 22.5) // 45) % 8]


COMPASS_ID = {
    "N": "U",
    "NE": "TL",
    "E": "T",
    "SE": "TG",
    "S": "S",
    "SW": "BD",
    "W": "B",
    "NW": "BL",
}


def envelope_around(lon: float, lat: float, radius_m: float) -> tuple[float, float, float, float]:
    """A lon/lat box that surely contains every point within radius_m of (lon, lat): the
    prefilter a database index can use before the exact geodesic test. The half-widths
    come from the shortest degree lengths within reach, plus 1 % margin."""
    dlat = radius_m / _MIN_METRES_PER_DEGREE_LAT * 1.01
    reach = min(89.0, abs(lat) + dlat)
    dlon = min(180.0, dlat * _MIN_METRES_PER_DEGREE_LAT / lon_metres_per_degree(reach))
    return (lon - dlon, lat - dlat, lon + dlon, lat + dlat)


def lon_metres_per_degree(lat: float) -> float:
    return _METRES_PER_DEGREE_LON_EQUATOR * math.cos(math.radians(min(89.0, abs(lat))))


def planar_bound_is_exact(lat: float, kth_metres: float, planar_degrees: float) -> bool:
    """Whether a K-nearest answer found by planar (degree) distance is exact.

    The database ranks candidates by planar distance in degrees; every feature it did
    not return is at least ``planar_degrees`` away in that metric. Any point within
    ``kth_metres`` of (lon, lat) lies at |latitude| <= |lat| + kth_metres / 110.574 km,
    where one degree in any direction is at least ``scale`` metres long, so its ground
    distance is at least planar_degrees * scale. If that bound exceeds the K-th
    candidate's geodesic distance, no unseen feature can beat it. 1 % margin covers the
    small-angle approximation.
    """
    reach = abs(lat) + kth_metres / _MIN_METRES_PER_DEGREE_LAT
    scale = min(_MIN_METRES_PER_DEGREE_LAT, lon_metres_per_degree(reach)) * 0.99
    return kth_metres <= planar_degrees * scale
