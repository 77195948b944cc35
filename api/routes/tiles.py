"""XYZ vector tiles: /tiles/{layers}/{z}/{x}/{y}.mvt, one or several layers per tile,
built by the database. (TileJSON, styles and the OGC API Tiles paths build on this.)"""

from __future__ import annotations

import asyncio
import hashlib

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from api.params import reject_unknown
from gis.errors import InvalidInput
from gis.query.tiles import TileRequest, tile_sql
from gis.store import LayerInfo, Store
from layers.registry import get_layer

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
    reject_unknown(request.query_params, set())
    tile = TileRequest(_int(z, "z"), _int(x, "x"), _int(y, "y"))
    names = [n for n in layers.split(",") if n]
    if not names or len(names) > MAX_LAYERS_PER_TILE or len(set(names)) != len(names):
        raise InvalidInput(f"name 1 to {MAX_LAYERS_PER_TILE} distinct layers, comma-separated")
    specs = [get_layer(n) for n in names]
    store: Store = request.app.state.store
    infos = {i.name: i for i in await _layers(store)}
    shown = [s for s in specs if s.name in infos and s.min_zoom <= tile.z <= s.max_zoom]
    versions = ",".join(
        f"{s.name}:{infos[s.name].version if s.name in infos else 0}" for s in specs
    )
    etag = '"' + hashlib.sha256(f"{versions}|{tile}".encode()).hexdigest()[:32] + '"'
    headers = {"ETag": etag, "Cache-Control": f"public, max-age={request.app.state.cache_seconds}"}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    if not shown:
        return Response(status_code=204, headers=headers)
    sql = tile_sql(shown, tile, "postgis" if store.kind == "postgis" else "duckdb")
    row = await store.afetch_one(sql.text(), sql.params)
    data = bytes(row[0]) if row and row[0] is not None else b""
    if not data:
        return Response(status_code=204, headers=headers)
    return Response(data, media_type=MVT, headers=headers)


_FIELD_TYPES = {"text": "String", "integer": "Number", "float": "Number", "boolean": "Boolean",
                "date": "String", "datetime": "String"}  # fmt: skip


@router.get("/tiles/{layers}/tilejson.json", summary="TileJSON 3.0.0 of a tileset")
async def tilejson(request: Request, layers: str) -> Response:
    """TileJSON for one or several layers; vector_layers and their fields come from the
    layer specs, bounds from what is loaded, and the DEMO notice goes in attribution."""
    reject_unknown(request.query_params, set())
    names = [n for n in layers.split(",") if n]
    if not names or len(names) > MAX_LAYERS_PER_TILE or len(set(names)) != len(names):
        raise InvalidInput(f"name 1 to {MAX_LAYERS_PER_TILE} distinct layers, comma-separated")
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
                "fields": {f.name: _FIELD_TYPES[f.type] for f in s.fields if f.public},
            }
            for s in specs
        ],
    }  # fmt: skip
    return JSONResponse(body, headers={"Cache-Control": "public, max-age=60"})


async def _layers(store: Store) -> list[LayerInfo]:
    return await asyncio.to_thread(store.layers)
