"""Spatial questions of citizens: /risk ("am I at risk here?") and /facilities/nearest.

Handlers only parse and validate (every bad value is a 400 problem naming the
parameter; an unknown admin area code is a 404), call gis.analysis.risk, and render
JSON with bilingual labels. Distances are geodesic metres on WGS 84.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from api.params import parse_bool, parse_int, reject_unknown
from gis.analysis import risk as analysis
from gis.errors import InvalidInput, NotFound
from gis.query.nearest import DEFAULT_NEAREST, MAX_NEAREST, NearestQuery
from gis.settings import ingest_settings
from gis.store import Store
from layers.catalog import FACILITY_TYPES, HAZARD_CLASSES, HAZARD_TYPES, LAYER_SPECS

router = APIRouter()

RISK_PARAMS = {"lon", "lat", "address_code", "radius_m", "hours", "at"}
NEAREST_PARAMS = {
    "lon",
    "lat",
    "type",
    "limit",
    "open",
    "min_capacity",
    "exclude_hazard_class",
    "hazard_type",
}
DEFAULT_RADIUS_M, MAX_RADIUS_M = 1000, 10_000
DEFAULT_HOURS, MAX_HOURS = 24, 720
#: Admin area codes are digits and dots (BPS/Kemendagri), 20 characters at most.
MAX_CODE_LENGTH = 20


def parse_coordinate(value: str | None, name: str, bound: float) -> float:
    if value is None:
        raise InvalidInput(f"{name} is required (decimal degrees, WGS 84)")
    try:
        number = float(value) if len(value) <= 40 else math.nan
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or abs(number) > bound:
        raise InvalidInput(
            f"{name} must be a number within -{bound:g}..{bound:g}, got {value[:40]!r}"
        )
    return number


def parse_point(request: Request) -> tuple[float, float]:
    """lon/lat within range and within the service extent (GIS_INGEST_EXTENT)."""
    q = request.query_params
    lon = parse_coordinate(q.get("lon"), "lon", 180.0)
    lat = parse_coordinate(q.get("lat"), "lat", 90.0)
    minx, miny, maxx, maxy = ingest_settings().extent
    if not (minx <= lon <= maxx and miny <= lat <= maxy):
        raise InvalidInput(
            f"point {lon:g},{lat:g} is outside the service extent {minx:g},{miny:g},{maxx:g},"
            f"{maxy:g} / titik di luar wilayah layanan"
        )
    return lon, lat


def parse_choice(value: str | None, name: str, allowed: tuple[str, ...]) -> str | None:
    if value is None:
        return None
    if value not in allowed:
        raise InvalidInput(f"{name} must be one of {', '.join(allowed)}; got {value[:40]!r}")
    return value


def parse_bounded(value: str | None, name: str, default: int, lo: int, hi: int) -> int:
    """An integer that must lie in [lo, hi]: out of range is a 400, never clamped."""
    number = parse_int(value, name, default, lo)
    if number > hi:
        raise InvalidInput(f"{name} must be between {lo} and {hi}, got {number}")
    return number


def parse_at(value: str | None) -> datetime:
    if value is None:
        return datetime.now(UTC).replace(microsecond=0)
    try:
        parsed = datetime.fromisoformat(value.strip().replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"at must be an RFC 3339 date-time, got {value[:40]!r}") from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


async def loaded_layers(request: Request) -> frozenset[str]:
    """Layers that have a table; the app-wide set is refreshed only while one is missing."""
    loaded: set[str] = request.app.state.loaded_layers
    if not {s.name for s in LAYER_SPECS} <= loaded:
        loaded.update(i.name for i in await run_in_threadpool(_store(request).layers))
    return frozenset(loaded)


def _json(request: Request, body: dict[str, Any]) -> JSONResponse:
    seconds: int = request.app.state.cache_seconds
    return JSONResponse(body, headers={"Cache-Control": f"public, max-age={seconds}"})


@router.get("/risk", summary="Risk at a place / Risiko di suatu lokasi")
async def risk(request: Request) -> JSONResponse:
    q = request.query_params
    reject_unknown(q, RISK_PARAMS)
    code = q.get("address_code")
    radius = parse_bounded(q.get("radius_m"), "radius_m", DEFAULT_RADIUS_M, 1, MAX_RADIUS_M)
    hours = parse_bounded(q.get("hours"), "hours", DEFAULT_HOURS, 1, MAX_HOURS)
    until = parse_at(q.get("at"))
    store = _store(request)
    loaded = await loaded_layers(request)
    if code is not None:
        if "lon" in q or "lat" in q:
            raise InvalidInput("give either lon and lat, or address_code, not both")
        if not code or len(code) > MAX_CODE_LENGTH:
            raise InvalidInput(f"address_code must be 1 to {MAX_CODE_LENGTH} characters")
        if "admin_areas" not in loaded:  # no area has any code yet
            raise NotFound(f"no admin area with code {code!r} (no admin areas are loaded)")
        lon, lat = await analysis.area_point(store, code)
    else:
        lon, lat = parse_point(request)
    query = analysis.risk_query(lon, lat, radius, until - timedelta(hours=hours), until)
    answer = await analysis.risk_at(store, query, loaded)
    location: dict[str, Any] = {"lon": lon, "lat": lat}
    if code is not None:
        location["address_code"] = code
        location["note"] = {
            "id": "Titik di dalam wilayah dengan kode ini (ST_PointOnSurface).",
            "en": "A point inside the area with this code (ST_PointOnSurface).",
        }
    return _json(request, {"location": location, "hours": hours, **answer})


@router.get("/facilities/nearest", summary="Nearest facilities / Fasilitas terdekat")
async def facilities_nearest(request: Request) -> JSONResponse:
    q = request.query_params
    reject_unknown(q, NEAREST_PARAMS)
    ftype = parse_choice(q.get("type"), "type", FACILITY_TYPES)
    if ftype is None:
        raise InvalidInput(f"type is required: one of {', '.join(FACILITY_TYPES)}")
    lon, lat = parse_point(request)
    limit = parse_bounded(q.get("limit"), "limit", DEFAULT_NEAREST, 1, MAX_NEAREST)
    min_capacity = (
        None
        if q.get("min_capacity") is None
        else parse_int(q.get("min_capacity"), "min_capacity", 0, 0)
    )
    excluded: tuple[str, ...] = ()
    if (text := q.get("exclude_hazard_class")) is not None:
        excluded = tuple(
            dict.fromkeys(
                str(parse_choice(c.strip(), "exclude_hazard_class", HAZARD_CLASSES))
                for c in text.split(",")
            )
        )
    hazard_type = parse_choice(q.get("hazard_type"), "hazard_type", HAZARD_TYPES)
    if hazard_type is not None and not excluded:
        raise InvalidInput("hazard_type needs exclude_hazard_class (it narrows that exclusion)")
    query = NearestQuery(
        lon, lat, ftype, limit=limit, open_only=parse_bool(q.get("open"), "open"),
        min_capacity=min_capacity, exclude_hazard_classes=excluded, hazard_type=hazard_type,
    )  # fmt: skip
    store = _store(request)
    loaded = await loaded_layers(request)
    found, notice = await analysis.nearest_facilities(store, query, loaded)
    body = {
        "location": {"lon": lon, "lat": lat},
        "type": ftype,
        "label": analysis.bilingual(analysis.FACILITY_LABELS[ftype]),
        "filters": {
            "open": query.open_only,
            "min_capacity": min_capacity,
            "exclude_hazard_class": list(excluded),
            "hazard_type": hazard_type,
        },
        "facilities": found,
        "notice": notice,
    }
    return _json(request, body)
