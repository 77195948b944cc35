"""Plain XYZ tiles answered before FastAPI's routing.

A map view is dozens of tile requests per second per visitor. For a plain
``GET /tiles/{layers}/{z}/{x}/{y}.mvt`` (no query string) FastAPI's route matching and
parameter solving cost more than a cache hit, and a good share of a cold tile whose
generalisation comes from the overviews. This ASGI middleware answers such a request in
full, with exactly the headers of api.routes.tiles._tile: the same version lookup (so an
ingest shows at once), ETag, 304, Cache-Control, X-Tile-Cache, X-Tile-Over-Budget, and a
render through gis.tiles.render on a miss. Anything else (a filter, an OGC path, a bad
address, an unknown layer, a store error) goes on to the route, which validates and
answers problems as usual. It sits inside the compression middleware, so clients still
get brotli/gzip."""

from __future__ import annotations

import re
from typing import Any

from gis.errors import GisError
from gis.query.tiles import TileRequest
from gis.tiles.cache import TileCache, cache_max_age, tile_path
from gis.tiles.render import render_tile_checked, shown_layers, tile_etag
from gis.tiles.versions import VERSIONS_KEY, VersionLookup
from layers import registry

MVT = b"application/vnd.mapbox-vector-tile"
_PATH = re.compile(r"^/tiles/([a-z0-9_,]{1,400})/(\d{1,2})/(\d{1,9})/(\d{1,9})\.mvt$")
MAX_LAYERS = 10

Scope = dict[str, Any]


class TileFastPath:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "GET"
            or scope.get("query_string")
            or (m := _PATH.match(scope["path"])) is None
            or not await self._answer(scope, m, send)
        ):
            await self.app(scope, receive, send)

    async def _answer(self, scope: Scope, m: re.Match[str], send: Any) -> bool:
        """Answer the tile and return True, or return False to let the route work."""
        names = m[1].split(",")
        layers = registry.LAYERS
        if len(names) > MAX_LAYERS or len(set(names)) != len(names):
            return False
        if any(n not in layers for n in names):
            return False
        try:
            tile = TileRequest(int(m[2]), int(m[3]), int(m[4]))
        except GisError:
            return False
        state = scope["app"].state
        cache: TileCache = state.tile_cache
        specs = [layers[n] for n in names]
        lookup: VersionLookup = state.tile_versions
        try:
            versions = await lookup.get(names)
        except GisError:  # the route asks again and answers the problem (503, ...)
            return False
        if not versions:
            return False
        scope.setdefault("state", {})[VERSIONS_KEY] = versions  # the route reuses them
        shown = shown_layers(specs, versions, tile.z)
        if not shown:
            return False
        etag = tile_etag(specs, versions, tile)
        headers = [
            (b"etag", etag.encode()),
            (b"cache-control",
             f"public, max-age={cache_max_age(specs, state.cache_seconds)}".encode()),
        ]  # fmt: skip
        if etag.encode() in _header(scope, b"if-none-match"):
            await _send(send, 304, headers, b"")
            return True
        path = tile_path(names, versions, tile)
        data = cache.get(etag, path)
        if data is not None:
            headers.append((b"x-tile-cache", b"hit"))
        else:
            try:
                rendered = await render_tile_checked(state.store, shown, tile)
            except GisError:  # the route renders again and answers the problem (503, ...)
                return False
            data = rendered.data
            headers.append((b"x-tile-cache", b"miss"))
            if rendered.over_budget:
                headers.append((b"x-tile-over-budget", ",".join(rendered.over_budget).encode()))
            cache.put(etag, data, path)
        if not data:
            await _send(send, 204, headers, b"")
            return True
        headers.append((b"content-type", MVT))
        await _send(send, 200, headers, data)
        return True


def _header(scope: Scope, name: bytes) -> bytes:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return b""


async def _send(send: Any, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    if status == 200:
        headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
