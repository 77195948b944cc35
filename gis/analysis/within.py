"""POST /analysis/within: the features of some layers inside a polygon (GeoJSON) or an
admin area, with exact counts.

The polygon is request data, so it is checked before it reaches the database: only
Polygon/MultiPolygon, at most ``MAX_VERTICES`` vertices (the CQL2 literal limit), finite
lon/lat coordinates, valid (OGC rules; the reason is named), and at most
``MAX_AREA_KM2`` on the ellipsoid, which bounds the work one request can ask for. An
admin area's own geometry is trusted (it passed ingest) and has no size limit.

"Inside" means *intersects*: a point inside or on the boundary, a zone or river that
crosses into the polygon. Features come back as GeoJSON text built by the database.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Mapping
from typing import Any

import shapely
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from gis.analysis import exposure as ex
from gis.analysis.summary import geodesic_area_m2
from gis.errors import InvalidInput, NotFound
from gis.query import within as q
from gis.query.cql2 import MAX_VERTICES
from gis.query.exposure import area_exists_sql
from gis.store.base import Store
from layers.registry import LAYERS

#: Largest polygon accepted: a large regency (a province-size question goes by area code).
MAX_AREA_KM2 = 10_000
#: Most layers in one request.
MAX_LAYERS = len(LAYERS)
DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000
BODY_KEYS = {"geometry", "area_code", "layers", "limit"}


def parse_body(body: object) -> tuple[BaseGeometry | None, str | None, list[str], int]:
    """(geometry, area code, layers, limit) from the request JSON, or InvalidInput."""
    if not isinstance(body, Mapping):
        raise InvalidInput(
            "badan permintaan harus objek JSON / the request body must be a JSON object"
        )
    unknown = sorted(set(body) - BODY_KEYS)
    if unknown:
        raise InvalidInput(
            f"kunci tidak dikenal / unknown key(s): {', '.join(map(str, unknown))}; "
            f"allowed: {', '.join(sorted(BODY_KEYS))}"
        )
    has_geom, has_code = body.get("geometry") is not None, body.get("area_code") is not None
    if has_geom == has_code:
        raise InvalidInput(
            "berikan tepat satu dari geometry atau area_code / give exactly one of geometry "
            "or area_code"
        )
    code = body.get("area_code")
    if has_code and (not isinstance(code, str) or not 0 < len(code) <= 20):
        raise InvalidInput("area_code must be a text of 1 to 20 characters")
    geometry = parse_geometry(body["geometry"]) if has_geom else None
    return geometry, code if has_code else None, parse_layers(body.get("layers")), _limit(body)


def _limit(body: Mapping[str, Any]) -> int:
    limit = body.get("limit", DEFAULT_LIMIT)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 0 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be an integer from 0 to {MAX_LIMIT}, got {limit!r}")
    return limit


def parse_layers(value: object) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise InvalidInput(
            "layers harus daftar nama lapisan / layers must be a non-empty list of layer "
            f"names; known: {', '.join(LAYERS)}"
        )
    names = list(dict.fromkeys(value))
    unknown = [n for n in names if n not in LAYERS]
    if unknown:
        raise InvalidInput(
            f"lapisan tidak dikenal / unknown layer(s): {', '.join(unknown)}; "
            f"known: {', '.join(LAYERS)}"
        )
    if len(names) > MAX_LAYERS:
        raise InvalidInput(f"at most {MAX_LAYERS} layers per request")
    return names


def _count_vertices(coords: object, budget: list[int]) -> None:
    """Walk nested coordinate arrays, failing fast once past the vertex limit."""
    if not isinstance(coords, list):
        raise InvalidInput("geometry.coordinates must be nested arrays of numbers")
    if coords and all(isinstance(c, int | float) and not isinstance(c, bool) for c in coords):
        if len(coords) != 2 or not all(math.isfinite(c) for c in coords):
            raise InvalidInput("each position must be two finite numbers (lon, lat)")
        budget[0] -= 1
        if budget[0] < 0:
            raise InvalidInput(
                f"geometri terlalu rumit / the geometry has more than {MAX_VERTICES} vertices"
            )
        return
    for c in coords:
        _count_vertices(c, budget)


def parse_geometry(value: object) -> BaseGeometry:
    if not isinstance(value, Mapping) or value.get("type") not in ("Polygon", "MultiPolygon"):
        raise InvalidInput("geometry must be a GeoJSON Polygon or MultiPolygon (lon/lat, CRS84)")
    _count_vertices(value.get("coordinates"), [MAX_VERTICES])
    try:
        geom = shape(dict(value))
    except (ValueError, TypeError, AttributeError, IndexError) as exc:
        raise InvalidInput(f"geometry is not valid GeoJSON: {exc}") from None
    if geom.is_empty:
        raise InvalidInput("geometry is empty")
    minx, miny, maxx, maxy = geom.bounds
    if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        raise InvalidInput("geometry coordinates must be lon/lat within -180..180, -90..90")
    if not geom.is_valid:
        raise InvalidInput(
            f"geometri tidak valid / the geometry is invalid: {shapely.is_valid_reason(geom)}"
        )
    area_km2 = geodesic_area_m2(geom) / 1e6
    if area_km2 > MAX_AREA_KM2:
        raise InvalidInput(
            f"geometri terlalu luas / the polygon covers {area_km2:,.0f} km², over the limit "
            f"of {MAX_AREA_KM2:,} km²; ask by area_code instead"
        )
    return geom


async def within(store: Store, body: object) -> bytes:
    """The answer as JSON bytes: each layer's count and first ``limit`` features (by fid)."""
    geometry, code, layers, limit = parse_body(body)
    dialect = ex.dialect_of(store)
    loaded = {info.name for info in await asyncio.to_thread(store.layers)}
    if code is not None:
        found = None
        if "admin_areas" in loaded:
            check = area_exists_sql(code, dialect)
            found = await store.afetch_one(check.text(), check.params)
        if found is None:
            raise NotFound(f"kode wilayah / area code {code!r} tidak ditemukan / not found")
    cond = q.condition(dialect, None if geometry is None else shapely.to_wkb(geometry), code)
    head: dict[str, Any] = {"area_code": code}
    if geometry is not None:
        head["geometry_area_m2"] = round(geodesic_area_m2(geometry), 1)
    parts: list[str] = []
    total = 0
    for name in layers:
        count, returned, features = 0, 0, "[]"
        if name in loaded:
            spec = LAYERS[name]
            c = q.count_sql(spec, cond, dialect)
            row = await store.afetch_one(c.text(), c.params)
            count = int(row[0]) if row else 0
            if limit and count:
                f = q.features_sql(spec, cond, limit, dialect)
                frow = await store.afetch_one(f.text(), f.params)
                if frow is not None:
                    features, returned = str(frow[2]), int(frow[3])
        total += count
        parts.append(
            f'{json.dumps(name)}: {{"count": {count}, "returned": {returned}, '
            f'"features": {features}}}'
        )
    head["total"] = total
    start = json.dumps(head)[:-1]
    return (start + ', "layers": {' + ", ".join(parts) + "}}").encode()
