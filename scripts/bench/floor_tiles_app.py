"""The floor of the vector-tiles benchmark: a bare ASGI app (no framework, no cache) that
renders tiles with the service's own code (gis.tiles.render.render_tile: the current
tile SQL and its per-layer budget re-renders, imported, so it follows any change) through
a psycopg async pool and returns the database's bytes untouched.

It is what any Python front of PostGIS must at least spend per tile, so ours/floor says
what our routing, version lookup, ETag and caching cost on a cold tile.

Route: ``GET /tiles/{layer}/{z}/{x}/{y}.mvt`` (200 with the MVT, 204 when empty).
Run with ``FLOOR_DATABASE_URL=postgresql://... uvicorn floor_tiles_app:app`` from this
directory, with the repository on the import path (``--app-dir``, or PYTHONPATH).
``FLOOR_POOL_MAX`` (default 10) sets the pool size. Not part of the service.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from psycopg_pool import AsyncConnectionPool

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from gis.query.tiles import TileRequest
from gis.tiles.render import render_tile
from layers.registry import LAYERS

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

ROUTE = re.compile(r"^/tiles/(?P<layer>\w+)/(?P<z>\d{1,2})/(?P<x>\d{1,9})/(?P<y>\d{1,9})\.mvt$")
MVT = b"application/vnd.mapbox-vector-tile"

_pool: AsyncConnectionPool | None = None


class PoolStore:
    """Just what render_tile needs of a Store: its kind and one async read."""

    kind = "postgis"

    def __init__(self) -> None:
        self._keys: dict[str, str] = {}

    async def afetch_one(self, sql: str, params: Any) -> Any:
        assert _pool is not None
        async with _pool.connection() as conn:
            cur = await conn.execute(sql, params)
            return await cur.fetchone()

    async def aoverview_keys(self, names: list[str]) -> dict[str, str]:
        """The layers' tile overview keys, looked up once per layer as the service's
        store does (gis.store.base.Store.overview_keys), so the floor renders low zooms
        from the same overviews."""
        missing = [n for n in names if n not in self._keys]
        if missing:
            row = await self.afetch_one(
                "SELECT array_agg(c.relname::text), "
                "array_agg(obj_description(c.oid, 'pg_class')) FROM pg_class c "
                "WHERE c.relname = ANY(%s) AND c.relnamespace = 'public'::regnamespace",
                ([f"{n}__ovc" for n in missing],),
            )
            if row and row[0]:
                for table, key in zip(row[0], row[1], strict=True):
                    if key:
                        self._keys[table.removesuffix("__ovc")] = key
        return {n: self._keys[n] for n in names if n in self._keys}


_store = PoolStore()


async def _respond(send: Send, status: int, body: bytes = b"", ctype: bytes = MVT) -> None:
    headers = [(b"content-type", ctype), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    global _pool
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                _pool = AsyncConnectionPool(
                    os.environ["FLOOR_DATABASE_URL"],
                    min_size=1,
                    max_size=int(os.environ.get("FLOOR_POOL_MAX", "10")),
                    kwargs={"autocommit": True},
                    open=False,
                )
                await _pool.open(wait=True)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if _pool is not None:
                    await _pool.close()
                await send({"type": "lifespan.shutdown.complete"})
                return
    m = ROUTE.match(scope["path"])
    if m is None or m["layer"] not in LAYERS or _pool is None:
        await _respond(send, 404, b"not found", b"text/plain")
        return
    spec = LAYERS[m["layer"]]
    tile = TileRequest(int(m["z"]), int(m["x"]), int(m["y"]))
    if not spec.min_zoom <= tile.z <= spec.max_zoom:
        await _respond(send, 204)
        return
    data = await render_tile(_store, [spec], tile)  # type: ignore[arg-type]
    await _respond(send, 200 if data else 204, data)
