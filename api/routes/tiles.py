"""XYZ vector tiles: /tiles/{layers}/{z}/{x}/{y}.mvt, one or several layers per tile,
built by the database. (TileJSON, styles and the OGC API Tiles paths build on this.)"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from api import maplibre
from api.filters import FILTER_PARAMS, compile_request_filter, parse_filter_params
from api.params import reject_unknown
from gis.errors import InvalidInput, NotFound
from gis.query.sqlparts import Dialect
from gis.query.tiles import (
    TILE_MATRIX_SETS,
    CompiledSql,
    TileMatrixSet,
    TileRequest,
    tms_definition,
)
from gis.store import LayerInfo, Store
from gis.tiles.cache import TileCache, cache_max_age, tile_path
from gis.tiles.render import render_tile_checked, shown_layers, tile_etag
from gis.tiles.versions import VERSIONS_KEY, VersionLookup
from layers.registry import get_layer
from layers.spec import LayerSpec

router = APIRouter()

MVT = "application/vnd.mapbox-vector-tile"
MAX_LAYERS_PER_TILE = 10


def _int(value: str, name: str) -> int:
    if not value.isdigit() or len(value) > 9:
        raise InvalidInput(f"{name} must be a non-negative integer, got {value!r}")
    return int(value)


@router.get("/tiles/{layers}/{z}/{x}/{y}.mvt", summary="Vector tile (XYZ, WebMercatorQuad)")
async def xyz_tile(request: Request, layers: str, z: str, x: str, y: str) -> Response:
    """An empty tile, or one where no requested layer is in its zoom range, is a 204."""
    tile = TileRequest(_int(z, "z"), _int(x, "x"), _int(y, "y"))
    return await _tile(request, layers, tile)


@router.get(
    "/collections/{collection_id}/tiles/{tms}/{z}/{row}/{col}",
    summary="Vector tile (OGC API Tiles: tileMatrix/tileRow/tileCol)",
)
async def ogc_tile(
    request: Request, collection_id: str, tms: str, z: str, row: str, col: str
) -> Response:
    tile = TileRequest(_int(z, "tileMatrix"), _int(col, "tileCol"), _int(row, "tileRow"),
                       _tms(tms))  # fmt: skip
    return await _tile(request, collection_id, tile)


@router.get("/tileMatrixSets", summary="Tile matrix sets")
async def tile_matrix_sets(request: Request) -> Response:
    reject_unknown(request.query_params, {"f"})
    base = str(request.base_url).rstrip("/")
    sets = [
        {
            "id": t,
            "title": t,
            "uri": f"http://www.opengis.net/def/tilematrixset/OGC/1.0/{t}",
            "links": [
                {"rel": "self", "type": "application/json", "href": f"{base}/tileMatrixSets/{t}"}
            ],
        }
        for t in TILE_MATRIX_SETS
    ]
    return JSONResponse({"tileMatrixSets": sets})


@router.get("/tileMatrixSets/{tms}", summary="A tile matrix set definition")
async def tile_matrix_set(request: Request, tms: str) -> Response:
    reject_unknown(request.query_params, {"f"})
    return JSONResponse(tms_definition(_tms(tms)))


@router.get("/collections/{collection_id}/tiles", summary="Vector tilesets of a collection")
async def collection_tilesets(request: Request, collection_id: str) -> Response:
    reject_unknown(request.query_params, {"f"})
    spec = get_layer(collection_id)
    base = str(request.base_url).rstrip("/")
    return JSONResponse({"tilesets": [_tileset(base, spec.name, t) for t in TILE_MATRIX_SETS]})


@router.get("/collections/{collection_id}/tiles/{tms}", summary="A vector tileset")
async def collection_tileset(request: Request, collection_id: str, tms: str) -> Response:
    reject_unknown(request.query_params, {"f"})
    spec = get_layer(collection_id)
    body = _tileset(str(request.base_url).rstrip("/"), spec.name, _tms(tms))
    body["tileMatrixSetLimits"] = [
        {"tileMatrix": str(z)} for z in range(spec.min_zoom, spec.max_zoom + 1)
    ]
    return JSONResponse(body)


def _tileset(base: str, name: str, tms: TileMatrixSet) -> dict[str, Any]:
    href = f"{base}/collections/{name}/tiles/{tms}"
    crs = ("http://www.opengis.net/def/crs/EPSG/0/3857" if tms == "WebMercatorQuad"
           else "http://www.opengis.net/def/crs/OGC/1.3/CRS84")  # fmt: skip
    return {
        "title": f"{name} ({tms})",
        "dataType": "vector",
        "crs": crs,
        "tileMatrixSetURI": f"http://www.opengis.net/def/tilematrixset/OGC/1.0/{tms}",
        "links": [
            {"rel": "self", "type": "application/json", "href": href},
            {"rel": "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme",
             "type": "application/json", "href": f"{base}/tileMatrixSets/{tms}"},
            {"rel": "item", "type": MVT, "templated": True,
             "href": f"{href}/{{tileMatrix}}/{{tileRow}}/{{tileCol}}"},
        ],
    }  # fmt: skip


def _tms(value: str) -> TileMatrixSet:
    for t in TILE_MATRIX_SETS:
        if t == value:
            return t
    raise NotFound(f"unknown tile matrix set {value!r}; offered: {', '.join(TILE_MATRIX_SETS)}")


async def _tile(request: Request, layers: str, tile: TileRequest) -> Response:
    reject_unknown(request.query_params, set(FILTER_PARAMS))
    names = _names(layers)
    specs = [get_layer(n) for n in names]
    store: Store = request.app.state.store
    filter_key, filters = _tile_filters(request, specs, store)
    # The versions from a query that starts after this request arrived (shared by the
    # requests of a burst): an ingest by another process or worker shows in the next tile.
    # (api.tile_fast_path may have looked them up already for this very request, and missed.)
    lookup: VersionLookup = request.app.state.tile_versions
    versions = request.scope.get("state", {}).get(VERSIONS_KEY) or await lookup.get(names)
    shown = shown_layers(specs, versions, tile.z)
    etag = tile_etag(specs, versions, tile, filter_key)
    max_age = cache_max_age(specs, request.app.state.cache_seconds)
    headers = {"ETag": etag, "Cache-Control": f"public, max-age={max_age}"}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    if not shown:
        return Response(status_code=204, headers=headers)
    cache: TileCache = request.app.state.tile_cache
    # A filtered tile is cached in memory only (its ETag carries the filter).
    path = tile_path(names, versions, tile) if filters is None else None
    data = cache.get(etag, path)
    headers["X-Tile-Cache"] = "hit" if data is not None else "miss"
    if data is None:
        rendered = await render_tile_checked(store, shown, tile, filters)
        data = rendered.data
        if rendered.over_budget:
            headers["X-Tile-Over-Budget"] = ",".join(rendered.over_budget)
        cache.put(etag, data, path)
    if not data:
        return Response(status_code=204, headers=headers)
    return Response(data, media_type=MVT, headers=headers)


def _tile_filters(
    request: Request, specs: list[LayerSpec], store: Store
) -> tuple[str, dict[str, CompiledSql] | None]:
    """The request's CQL2 filter compiled for every requested layer (a 400 names the
    layer it does not fit), and its cache key ("" without a filter)."""
    parsed = parse_filter_params(request.query_params)
    if parsed is None:
        return "", None
    dialect: Dialect = "postgis" if store.kind == "postgis" else "duckdb"
    several = len(specs) > 1
    compiled = {s.name: compile_request_filter(parsed, s, dialect, name_layer=several)
                for s in specs}  # fmt: skip
    return parsed.key, compiled


#: Attributes of generalised features (docs/tiles.md): point clusters below the detail
#: zoom, and merged small polygons.
_GENERALISED_FIELDS = {"Point": {"point_count": "Number"},
                       "MultiPolygon": {"feature_count": "Number"}}  # fmt: skip

_FIELD_TYPES = {"text": "String", "integer": "Number", "float": "Number", "boolean": "Boolean",
                "date": "String", "datetime": "String"}  # fmt: skip


@router.get("/tiles/{layers}/tilejson.json", summary="TileJSON 3.0.0 of a tileset")
async def tilejson(request: Request, layers: str) -> Response:
    """TileJSON for one or several layers; vector_layers and their fields come from the
    layer specs, bounds from what is loaded, and the DEMO notice goes in attribution."""
    reject_unknown(request.query_params, set())
    names = _names(layers)
    specs = [get_layer(n) for n in names]
    infos = {i.name: i for i in await _layers(request.app.state.store)}
    boxes = [b for s in specs if s.name in infos and (b := infos[s.name].bbox) is not None]
    bounds = [
        min(b[0] for b in boxes), min(b[1] for b in boxes),
        max(b[2] for b in boxes), max(b[3] for b in boxes),
    ] if boxes else [-180.0, -85.05, 180.0, 85.05]  # fmt: skip
    minzoom = min(s.min_zoom for s in specs)
    maxzoom = max(s.max_zoom for s in specs)
    notices = sorted({f"{i.notice.id} / {i.notice.en}" for i in infos.values()
                      if i.notice and i.name in names})  # fmt: skip
    base = str(request.base_url).rstrip("/")
    body = {
        "tilejson": "3.0.0",
        "name": ", ".join(f"{s.title.id} / {s.title.en}" for s in specs),
        "description": " ".join(f"{s.description.id} / {s.description.en}" for s in specs),
        "version": "1.0.0",
        "scheme": "xyz",
        "tiles": [f"{base}/tiles/{','.join(names)}/{{z}}/{{x}}/{{y}}.mvt"],
        "minzoom": minzoom,
        "maxzoom": maxzoom,
        "bounds": bounds,
        "center": [(bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2,
                   max(minzoom, min(maxzoom, 12))],
        "attribution": " ".join(notices) or "GIS Publik",
        "vector_layers": [
            {
                "id": s.name,
                "description": f"{s.title.id} / {s.title.en}",
                "minzoom": s.min_zoom,
                "maxzoom": s.max_zoom,
                "fields": {**{f.name: _FIELD_TYPES[f.type] for f in s.fields if f.public},
                           **_GENERALISED_FIELDS.get(s.geometry_type, {})},
            }
            for s in specs
        ],
    }  # fmt: skip
    return JSONResponse(body, headers={"Cache-Control": "public, max-age=60"})


@router.get("/styles/{layers}/style.json", summary="MapLibre style for a tileset")
async def maplibre_style(request: Request, layers: str) -> Response:
    """Drawn in the given order (first at the bottom), styled by the layer specs."""
    reject_unknown(request.query_params, set())
    names = _names(layers)
    specs = [get_layer(n) for n in names]
    infos = {i.name: i for i in await _layers(request.app.state.store)}
    notices = sorted({f"{i.notice.id} / {i.notice.en}" for i in infos.values()
                      if i.notice and i.name in names})  # fmt: skip
    base = str(request.base_url).rstrip("/")
    body = maplibre.style(specs, f"{base}/tiles/{','.join(names)}/tilejson.json",
                          " ".join(notices) or "GIS Publik")  # fmt: skip
    return JSONResponse(body, headers={"Cache-Control": "public, max-age=60"})


def _names(layers: str) -> list[str]:
    names = [n for n in layers.split(",") if n]
    if not names or len(names) > MAX_LAYERS_PER_TILE or len(set(names)) != len(names):
        raise InvalidInput(f"name 1 to {MAX_LAYERS_PER_TILE} distinct layers, comma-separated")
    return names


async def _layers(store: Store) -> list[LayerInfo]:
    return await asyncio.to_thread(store.layers)
