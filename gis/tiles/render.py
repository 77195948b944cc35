"""Render one tile through a store: which layers show at a zoom, the tile's strong ETag
(from the layers' versions, so an ingest changes exactly that layer's tiles) and the
database's MVT bytes. Shared by the API and `gis tiles seed`."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gis.query.sqlparts import Dialect, Sql
from gis.query.tiles import CompiledSql, TileRequest, over_budget, tile_layers_sql
from gis.store import Store
from gis.store.overviews import overview_key
from layers.spec import LayerSpec

log = logging.getLogger(__name__)


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


@dataclass(frozen=True)
class RenderedTile:
    """A tile's bytes and the layers that stayed over their budget even at the coarsest
    step (served anyway, and said so: never silently cut)."""

    data: bytes
    over_budget: tuple[str, ...] = ()


def _parts(row: tuple[Any, ...] | None, n: int) -> list[bytes]:
    if row is None:
        return [b""] * n
    return [bytes(v) if v is not None else b"" for v in row]


def _plan(shown: Sequence[LayerSpec], parts: list[bytes], steps: list[int]) -> list[int] | None:
    """The layers to render again one step coarser, or None when all are done."""
    again = [i for i in over_budget(shown, parts) if steps[i] < shown[i].tiles.coarsen_steps]
    for i in again:
        steps[i] += 1
    return again or None


def _done(shown: Sequence[LayerSpec], parts: list[bytes]) -> RenderedTile:
    late = tuple(shown[i].name for i in over_budget(shown, parts))
    if late:
        log.warning("tile over budget after coarsening: %s", ", ".join(late))
    return RenderedTile(b"".join(parts), late)


def _current(shown: Sequence[LayerSpec], keys: Mapping[str, str]) -> frozenset[str]:
    """The layers whose stored overview was built for their spec's tile rules."""
    return frozenset(s.name for s in shown if keys.get(s.name) == overview_key(s))


def _steps(
    shown: Sequence[LayerSpec],
    tile: TileRequest,
    dialect: Dialect,
    filters: Mapping[str, CompiledSql] | None,
    usable: frozenset[str],
) -> Generator[Sql, tuple[Any, ...] | None, RenderedTile]:
    """The render as a conversation: yields each statement, is sent its row, returns the
    tile. One query in the normal case; a layer over budget is rendered again, coarser, up
    to its ``coarsen_steps``. The async and sync paths only run the statements."""
    sql = tile_layers_sql(shown, tile, dialect, filters, overviews=usable)
    parts = _parts((yield sql), len(shown))
    steps = [0] * len(shown)
    while (again := _plan(shown, parts, steps)) is not None:
        sql = tile_layers_sql([shown[i] for i in again], tile, dialect, filters,
                              [steps[i] for i in again], usable)  # fmt: skip
        redone = _parts((yield sql), len(again))
        for i, data in zip(again, redone, strict=True):
            parts[i] = data
    return _done(shown, parts)


async def render_tile_checked(
    store: Store,
    shown: Sequence[LayerSpec],
    tile: TileRequest,
    filters: Mapping[str, CompiledSql] | None = None,
    *,
    overviews: bool = True,
) -> RenderedTile:
    """The tile, each layer held to its spec's budget (see _steps). Low zooms read the
    layers' overviews where current (``overviews=False``: always the rows)."""
    usable = (
        _current(shown, await store.aoverview_keys([s.name for s in shown]))
        if overviews
        else frozenset()
    )
    steps = _steps(shown, tile, _dialect(store), filters, usable)
    sql = next(steps)
    try:
        while True:
            sql = steps.send(await store.afetch_one(sql.text(), sql.params))
    except StopIteration as done:
        result: RenderedTile = done.value
        return result


def render_tile_checked_sync(
    store: Store,
    shown: Sequence[LayerSpec],
    tile: TileRequest,
    filters: Mapping[str, CompiledSql] | None = None,
    *,
    overviews: bool = True,
) -> RenderedTile:
    """As render_tile_checked, on the store's synchronous path (the CLI)."""
    usable = (
        _current(shown, store.overview_keys([s.name for s in shown])) if overviews else frozenset()
    )
    steps = _steps(shown, tile, _dialect(store), filters, usable)
    sql = next(steps)
    try:
        while True:
            sql = steps.send(store.fetch_one(sql.text(), sql.params))
    except StopIteration as done:
        result: RenderedTile = done.value
        return result


async def render_tile(
    store: Store,
    shown: Sequence[LayerSpec],
    tile: TileRequest,
    filters: Mapping[str, CompiledSql] | None = None,
) -> bytes:
    """The tile's bytes (b"" when no feature is in it), built by the database."""
    return (await render_tile_checked(store, shown, tile, filters)).data


def render_tile_sync(
    store: Store,
    shown: Sequence[LayerSpec],
    tile: TileRequest,
    filters: Mapping[str, CompiledSql] | None = None,
) -> bytes:
    """As render_tile, on the store's synchronous path (the CLI)."""
    return render_tile_checked_sync(store, shown, tile, filters).data
