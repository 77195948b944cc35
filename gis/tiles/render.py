"""Render one tile through a store: which layers show at a zoom, the tile's strong ETag
(from the layers' versions, so an ingest changes exactly that layer's tiles) and the
database's MVT bytes. Shared by the API and `gis tiles seed`."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

from gis.query.sqlparts import Dialect
from gis.query.tiles import TileRequest, tile_sql
from gis.store import Store
from layers.spec import LayerSpec


def shown_layers(
    specs: Sequence[LayerSpec], versions: Mapping[str, int], z: int
) -> list[LayerSpec]:
    """The requested layers that are loaded and drawn at zoom ``z`` (their spec's range)."""
    return [s for s in specs if s.name in versions and s.min_zoom <= z <= s.max_zoom]


def tile_etag(
    specs: Sequence[LayerSpec], versions: Mapping[str, int], tile: TileRequest, extra: str = ""
) -> str:
    """A strong ETag: the layers' versions, the tile address and any request variant."""
    key = ",".join(f"{s.name}:{versions.get(s.name, 0)}" for s in specs)
    return '"' + hashlib.sha256(f"{key}|{tile}|{extra}".encode()).hexdigest()[:32] + '"'


def _dialect(store: Store) -> Dialect:
    return "postgis" if store.kind == "postgis" else "duckdb"


async def render_tile(store: Store, shown: Sequence[LayerSpec], tile: TileRequest) -> bytes:
    """The tile's bytes (b"" when no feature is in it), built by the database."""
    sql = tile_sql(list(shown), tile, _dialect(store))
    row = await store.afetch_one(sql.text(), sql.params)
    return bytes(row[0]) if row and row[0] is not None else b""


def render_tile_sync(store: Store, shown: Sequence[LayerSpec], tile: TileRequest) -> bytes:
    """As render_tile, on the store's synchronous path (the CLI)."""
    sql = tile_sql(list(shown), tile, _dialect(store))
    row = store.fetch_one(sql.text(), sql.params)
    return bytes(row[0]) if row and row[0] is not None else b""
