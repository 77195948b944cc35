"""Query parameter parsing for the OGC API: each parser names the parameter in its error,
so a client learns which one was wrong (400 problem+json)."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache

import pyproj
from starlette.datastructures import QueryParams

from gis.errors import InvalidInput
from gis.query.features import DEFAULT_LIMIT, MAX_LIMIT, OutputCrs
from layers.spec import LayerSpec

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG_URI = "http://www.opengis.net/def/crs/EPSG/0/{}"
#: CRSs offered for output and bbox (OGC API Features Part 2): WGS 84 lon/lat and lat/lon,
#: Web Mercator, DGN95 / Indonesia TM-3 zones, WGS 84 / UTM 46N-54N and 46S-54S.
SUPPORTED_EPSG = (
    4326,
    3857,
    *range(23830, 23846),
    *range(32646, 32655),
    *range(32746, 32755),
)
SUPPORTED_CRS = (CRS84, *(EPSG_URI.format(code) for code in SUPPORTED_EPSG))


def reject_unknown(params: QueryParams, allowed: set[str]) -> None:
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise InvalidInput(
            f"unknown query parameter(s): {', '.join(unknown)}; "
            f"allowed: {', '.join(sorted(allowed))}"
        )


#: Largest offset or streamed limit: past any real layer, inside the databases' BIGINT.
MAX_INT_PARAM = 10**12


def parse_int(value: str | None, name: str, default: int, minimum: int) -> int:
    if value is None:
        return default
    try:
        number = int(value) if len(value) <= 20 else None
    except ValueError:
        number = None
    if number is None:
        raise InvalidInput(f"{name} must be an integer, got {value[:40]!r}")
    if not minimum <= number <= MAX_INT_PARAM:
        raise InvalidInput(f"{name} must be between {minimum} and {MAX_INT_PARAM}, got {number}")
    return number


def parse_limit(value: str | None) -> int:
    """Clamped to MAX_LIMIT (the next link lets a client page on), as OGC API allows."""
    return min(parse_int(value, "limit", DEFAULT_LIMIT, 1), MAX_LIMIT)


def parse_crs(value: str | None, name: str = "crs") -> OutputCrs:
    if value is None or value in (CRS84, "CRS84", "OGC:CRS84"):
        return OutputCrs()
    code = _epsg_code(value)
    if code is None or code not in SUPPORTED_EPSG:
        raise InvalidInput(
            f"{name} {value!r} is not offered; use one of: {', '.join(SUPPORTED_CRS)}"
        )
    return OutputCrs(epsg=code, lat_lon=code == 4326)


def crs_uri(crs: OutputCrs) -> str:
    return CRS84 if crs.epsg == 4326 and not crs.lat_lon else EPSG_URI.format(crs.epsg)


def _epsg_code(value: str) -> int | None:
    text = value.strip()
    for prefix in ("http://www.opengis.net/def/crs/EPSG/0/", "EPSG:", "epsg:"):
        if text.startswith(prefix) and text[len(prefix) :].isdigit():
            return int(text[len(prefix) :])
    return None


def parse_bbox(
    value: str | None, bbox_crs: str | None
) -> tuple[tuple[float, float, float, float], ...]:
    """lon/lat envelopes; a bbox whose west edge is east of its east edge crosses the
    antimeridian and becomes two envelopes."""
    if value is None:
        if bbox_crs is not None:
            raise InvalidInput("bbox-crs given without bbox")
        return ()
    try:
        numbers = [float(v) for v in value.split(",")]
    except ValueError:
        raise InvalidInput(
            f"bbox must be 4 (or 6) comma-separated numbers, got {value!r}"
        ) from None
    if len(numbers) == 6:
        numbers = [numbers[0], numbers[1], numbers[3], numbers[4]]
    if len(numbers) != 4 or not all(abs(n) < float("inf") for n in numbers):
        raise InvalidInput(f"bbox must be 4 (or 6) comma-separated numbers, got {value!r}")
    crs = parse_crs(bbox_crs, "bbox-crs")
    minx, miny, maxx, maxy = numbers
    if crs.lat_lon:
        minx, miny, maxx, maxy = miny, minx, maxy, maxx
    if crs.epsg != 4326:
        minx, miny, maxx, maxy = _to_lonlat(crs.epsg).transform_bounds(minx, miny, maxx, maxy)
    if miny > maxy or not (-90 <= miny <= 90 and -90 <= maxy <= 90):
        raise InvalidInput(f"bbox latitudes must be within -90..90 with south <= north: {value!r}")
    if not (-180 <= minx <= 180 and -180 <= maxx <= 180):
        raise InvalidInput(f"bbox longitudes must be within -180..180: {value!r}")
    if minx > maxx:
        return ((minx, miny, 180.0, maxy), (-180.0, miny, maxx, maxy))
    return ((minx, miny, maxx, maxy),)


@lru_cache(maxsize=64)
def _to_lonlat(epsg: int) -> pyproj.Transformer:
    return pyproj.Transformer.from_crs(epsg, 4326, always_xy=True)


def parse_datetime(
    value: str | None, spec: LayerSpec
) -> tuple[datetime | None, datetime | None] | None:
    """An RFC 3339 instant or interval with '..' (or empty) open ends, on the layer's time
    field. Naive values are read as UTC."""
    if value is None:
        return None
    if spec.time_field is None:
        raise InvalidInput(f"datetime: layer {spec.name} has no time field to filter on")
    if "/" in value:
        start_text, _, end_text = value.partition("/")
        start, end = _instant(start_text, value), _instant(end_text, value)
        if start is None and end is None:
            raise InvalidInput("datetime: an interval needs at least one end")
        if start is not None and end is not None and start > end:
            raise InvalidInput(f"datetime: interval start is after its end: {value!r}")
        return (start, end)
    instant = _instant(value, value)
    if instant is None:
        raise InvalidInput(f"datetime: {value!r} is not an RFC 3339 date-time")
    return (instant, instant)


def _instant(text: str, whole: str) -> datetime | None:
    text = text.strip()
    if text in ("", ".."):
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(
            f"datetime: {whole!r} is not an RFC 3339 date-time or interval"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_properties(value: str | None, spec: LayerSpec) -> tuple[str, ...] | None:
    if value is None:
        return None
    names = tuple(n.strip() for n in value.split(",") if n.strip())
    _check_fields(names, spec, "properties")
    return names


def parse_sortby(value: str | None, spec: LayerSpec) -> tuple[tuple[str, bool], ...]:
    if value is None:
        return ()
    keys: list[tuple[str, bool]] = []
    for raw in value.split(","):
        item = raw.strip()
        asc = not item.startswith("-")
        name = item.lstrip("+-").strip()
        if item.endswith(" DESC") or item.endswith(" ASC"):  # CQL2-style suffix
            name, _, order = item.rpartition(" ")
            asc = order == "ASC"
        keys.append((name, asc))
    _check_fields(tuple(k for k, _ in keys), spec, "sortby")
    return tuple(keys)


def parse_bool(value: str | None, name: str) -> bool:
    if value is None:
        return False
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise InvalidInput(f"{name} must be true or false, got {value!r}")


def _check_fields(names: tuple[str, ...], spec: LayerSpec, param: str) -> None:
    public = {f.name for f in spec.fields if f.public}
    unknown = [n for n in names if n not in public]
    if unknown or not names:
        raise InvalidInput(
            f"{param}: unknown propert{'ies' if len(unknown) > 1 else 'y'} "
            f"{', '.join(unknown) or '(empty)'}; queryable: {', '.join(sorted(public))}"
        )
