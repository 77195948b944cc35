"""The floor of the Features benchmark: a bare ASGI app (no framework) over a psycopg pool.

Each request runs ONE SQL statement that builds the whole GeoJSON response in PostgreSQL
(``json_build_object`` / ``json_agg`` over ``ST_AsGeoJSON``) and the app returns the
database's bytes untouched: no parsing, no Python objects per feature. It is the
ceiling-ish reference for what a Python service in front of PostGIS can do.

Routes (only what scripts/bench/features.py asks for):

- ``GET /collections``: the tables it serves;
- ``GET /collections/{table}/items?limit=N[&bbox=x1,y1,x2,y2][&filter=CQL2]``: a
  FeatureCollection of at most N features ordered by ``fid``; ``filter`` takes the tiny
  subset of CQL2 text the benchmark uses (``prop op literal`` terms joined by AND);
- ``GET /collections/{table}/items/{fid}``: one Feature.

Run with ``FLOOR_DATABASE_URL=postgresql://... uvicorn floor_app:app`` from this directory
(``FLOOR_POOL_MAX``, default 10, sets the pool size). Not part of the service.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

from psycopg import sql
from psycopg.adapt import Loader
from psycopg_pool import AsyncConnectionPool

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

TABLES = ("flood_points", "hazard_zones")
GEOM, ID = "geom", "fid"
MAX_LIMIT = 10_000
TERM = re.compile(
    r"^\s*(?P<col>[A-Za-z_]\w*)\s*(?P<op><>|<=|>=|=|<|>)\s*"
    r"(?P<val>'(?:[^']|'')*'|-?\d+(?:\.\d+)?)\s*$"
)
AND = re.compile(r"\s+AND\s+", re.IGNORECASE)


def _literal(text: str) -> str | int | float:
    """A CQL2 literal as a Python value: 'quoted' text, an integer or a float."""
    if text.startswith("'"):
        return text[1:-1].replace("''", "'")
    return float(text) if "." in text else int(text)


class BytesLoader(Loader):
    """Hand json values back as the bytes PostgreSQL sent."""

    def load(self, data: Any) -> bytes:
        return bytes(data)


class BadRequest(Exception):
    """A parameter the floor does not understand (400)."""


class Floor:
    """The app: a pool, the column list of each table, and three routes."""

    def __init__(self, dsn: str, pool_max: int) -> None:
        self.pool = AsyncConnectionPool(
            dsn, min_size=1, max_size=pool_max, open=False, configure=self._configure
        )
        self.columns: dict[str, list[str]] = {}

    @staticmethod
    async def _configure(conn: Any) -> None:
        conn.adapters.register_loader("json", BytesLoader)
        await conn.set_autocommit(True)

    async def startup(self) -> None:
        await self.pool.open(wait=True)
        async with self.pool.connection() as conn:
            for table in TABLES:
                cur = await conn.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_schema = "
                    "'public' AND table_name = %s ORDER BY ordinal_position",
                    (table,),
                )
                cols = [row[0] for row in await cur.fetchall()]
                if cols:
                    self.columns[table] = [c for c in cols if c not in (GEOM, ID)]

    async def shutdown(self) -> None:
        await self.pool.close()

    # -- SQL --------------------------------------------------------------------------------

    def _feature(self, table: str) -> sql.Composable:
        """The json_build_object of one Feature of row ``t``."""
        props = sql.SQL(", ").join(
            sql.SQL("{}, t.{}").format(sql.Literal(c), sql.Identifier(c))
            for c in self.columns[table]
        )
        return sql.SQL(
            "json_build_object('type', 'Feature', 'id', t.fid, "
            "'geometry', ST_AsGeoJSON(t.geom)::json, 'properties', json_build_object({}))"
        ).format(props)

    def _where(self, table: str, params: dict[str, list[str]], args: list[Any]) -> sql.Composable:
        """WHERE clause for bbox and the CQL2 subset; values go to ``args``."""
        terms: list[sql.Composable] = []
        if "bbox" in params:
            try:
                box = [float(v) for v in params["bbox"][0].split(",")]
            except ValueError as exc:
                raise BadRequest("bbox must be four numbers") from exc
            if len(box) != 4:
                raise BadRequest("bbox must be four numbers")
            terms.append(sql.SQL("ST_Intersects(geom, ST_MakeEnvelope(%s, %s, %s, %s, 4326))"))
            args.extend(box)
        if "filter" in params:
            for text in AND.split(params["filter"][0].strip()):
                match = TERM.match(text)
                if not match or match["col"] not in self.columns[table] + [ID]:
                    raise BadRequest(f"unsupported filter term: {text!r}")
                val = match["val"]
                terms.append(
                    sql.SQL("{} {} %s").format(sql.Identifier(match["col"]), sql.SQL(match["op"]))
                )
                args.append(_literal(val))
        if not terms:
            return sql.SQL("")
        return sql.SQL("WHERE ") + sql.SQL(" AND ").join(terms)

    def items_sql(
        self, table: str, params: dict[str, list[str]]
    ) -> tuple[sql.Composable, list[Any]]:
        """One statement that returns the whole FeatureCollection."""
        try:
            limit = int(params.get("limit", ["10"])[0])
        except ValueError as exc:
            raise BadRequest("limit must be an integer") from exc
        if not 1 <= limit <= MAX_LIMIT:
            raise BadRequest(f"limit must be 1..{MAX_LIMIT}")
        args: list[Any] = []
        where = self._where(table, params, args)
        args.append(limit)
        query = sql.SQL(
            "SELECT json_build_object('type', 'FeatureCollection', "
            "'numberReturned', count(*), "
            "'features', coalesce(json_agg({feature}), '[]'::json)) "
            "FROM (SELECT * FROM public.{table} {where} ORDER BY fid LIMIT %s) AS t"
        ).format(feature=self._feature(table), table=sql.Identifier(table), where=where)
        return query, args

    def item_sql(self, table: str, fid: str) -> tuple[sql.Composable, list[Any]]:
        try:
            key = int(fid)
        except ValueError as exc:
            raise BadRequest("feature id must be an integer") from exc
        query = sql.SQL("SELECT {feature} FROM public.{table} AS t WHERE t.fid = %s").format(
            feature=self._feature(table), table=sql.Identifier(table)
        )
        return query, [key]

    async def fetch(self, query: sql.Composable, args: list[Any]) -> bytes | None:
        async with self.pool.connection() as conn:
            cur = await conn.execute(query, args)
            row = await cur.fetchone()
        return row[0] if row else None

    # -- ASGI -------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        try:
            status, body, ctype = await self.route(scope)
        except BadRequest as exc:
            status, body, ctype = 400, json.dumps({"detail": str(exc)}).encode(), "json"
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", f"application/{ctype}".encode()),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def route(self, scope: Scope) -> tuple[int, bytes, str]:
        parts = scope["path"].strip("/").split("/")
        if scope["method"] != "GET" or not parts or parts[0] != "collections":
            return 404, b'{"detail": "not found"}', "json"
        if len(parts) == 1:
            listing = {"collections": [{"id": t, "title": t} for t in self.columns]}
            return 200, json.dumps(listing).encode(), "json"
        if parts[1] not in self.columns or len(parts) < 3 or parts[2] != "items":
            return 404, b'{"detail": "not found"}', "json"
        if len(parts) == 3:
            params = parse_qs(scope["query_string"].decode("latin-1"))
            body = await self.fetch(*self.items_sql(parts[1], params))
        elif len(parts) == 4:
            body = await self.fetch(*self.item_sql(parts[1], parts[3]))
        else:
            body = None
        if body is None:
            return 404, b'{"detail": "not found"}', "json"
        return 200, body, "geo+json"

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return


app = Floor(
    os.environ.get("FLOOR_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/gis_bench_features"),
    int(os.environ.get("FLOOR_POOL_MAX", "10")),
)
