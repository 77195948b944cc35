"""Spatial questions for planners: exposure per area and hazard class, features inside a
polygon, and an area's contingency-plan summary. Handlers parse, call gis.analysis (which
composes SQL through gis.query) and render; errors are problem+json via api.problems."""

from __future__ import annotations

import hashlib
import json

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from api.params import reject_unknown
from gis.analysis import exposure as ex
from gis.analysis import summary as sm
from gis.analysis import within as wi
from gis.errors import InvalidInput
from gis.store import Store

router = APIRouter()

#: Largest POST /analysis/within body: 10,000 vertices of GeoJSON fit well inside it.
MAX_BODY_BYTES = 1_000_000
CSV = "text/csv; charset=utf-8"


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def _format(request: Request, allowed: tuple[str, ...]) -> str:
    f = request.query_params.get("f", "json")
    if f not in allowed:
        raise InvalidInput(f"f must be one of {', '.join(allowed)}; got {f!r}")
    return f


def _etag(request: Request, store: Store) -> str:
    """Strong ETag from the versions of every input (three layers and the population
    raster) and the request: any ingest into them changes it."""
    versions = sorted((i.name, i.version) for i in store.layers() if i.name in ex.NEEDED_LAYERS)
    rasters = [(r.name, r.version) for r in store.rasters() if r.name == ex.POPULATION_RASTER]
    key = f"{versions}|{rasters}|{request.url.path}|{sorted(request.query_params.multi_items())}"
    return '"' + hashlib.sha256(key.encode()).hexdigest()[:32] + '"'


def _headers(request: Request, etag: str) -> dict[str, str]:
    seconds: int = request.app.state.cache_seconds
    return {"ETag": etag, "Cache-Control": f"public, max-age={seconds}"}


def _not_modified(request: Request, etag: str) -> Response | None:
    if etag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers={"ETag": etag})
    return None


@router.get("/analysis/exposure", summary="Exposure per area and hazard class / Keterpaparan")
async def exposure(request: Request) -> Response:
    reject_unknown(request.query_params, {"hazard_type", "admin_level", "area_code", "f"})
    fmt = _format(request, ("json", "csv"))
    q = request.query_params
    hazard_type = q.get("hazard_type")
    if hazard_type is None:
        raise InvalidInput("hazard_type wajib diisi / is required (e.g. hazard_type=flood)")
    store = _store(request)
    etag = await run_in_threadpool(_etag, request, store)
    if (cached := _not_modified(request, etag)) is not None:
        return cached
    result = await run_in_threadpool(
        ex.exposure, store, hazard_type, q.get("admin_level"), q.get("area_code")
    )
    headers = _headers(request, etag)
    if fmt == "csv":
        headers["Content-Disposition"] = f'attachment; filename="exposure-{hazard_type}.csv"'
        return Response(ex.to_csv(result), media_type=CSV, headers=headers)
    return JSONResponse(ex.to_json(result), headers=headers)


@router.get("/analysis/summary", summary="Contingency-plan summary of an area / Ringkasan")
async def summary(request: Request) -> Response:
    reject_unknown(request.query_params, {"area_code", "hazard_type", "f"})
    _format(request, ("json",))
    code = request.query_params.get("area_code")
    if not code:
        raise InvalidInput("area_code wajib diisi / is required (e.g. area_code=3399010001)")
    store = _store(request)
    etag = await run_in_threadpool(_etag, request, store)
    if (cached := _not_modified(request, etag)) is not None:
        return cached
    body = await run_in_threadpool(sm.summary, store, code, request.query_params.get("hazard_type"))
    return JSONResponse(body, headers=_headers(request, etag))


@router.post("/analysis/within", summary="Features inside a polygon or area / Fitur di dalam")
async def within(request: Request) -> Response:
    reject_unknown(request.query_params, set())
    raw = await _body(request)
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("badan permintaan bukan JSON / the request body is not JSON") from None
    return Response(await wi.within(_store(request), body), media_type="application/json")


async def _body(request: Request) -> bytes:
    """The body, refusing more than MAX_BODY_BYTES without reading it all."""
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > MAX_BODY_BYTES:
        raise InvalidInput(_too_big())
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise InvalidInput(_too_big())
        chunks.append(chunk)
    return b"".join(chunks)


def _too_big() -> str:
    return (
        f"badan permintaan terlalu besar / the request body is over {MAX_BODY_BYTES:,} bytes; "
        "simplify the polygon or use area_code"
    )
