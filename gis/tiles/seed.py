"""Tile pyramids: which tiles a (layers, zooms, bbox) request covers, and `gis tiles seed`,
which renders them ahead into the tile cache directory so the first visitors after an
ingest (or a surge) are served from files instead of the database.

Shared with the PMTiles export (gis.tiles.export), which walks the same pyramid."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

from gis.errors import InvalidInput
from gis.query.tiles import MAX_ZOOM, TILE_MATRIX_SETS, TileMatrixSet, TileRequest
from gis.store import Store
from gis.tiles.cache import TileDirectory, tile_path
from gis.tiles.render import render_tile_sync, shown_layers
from layers.registry import get_layer
from layers.spec import LayerSpec

Bbox = tuple[float, float, float, float]
#: Web Mercator's latitude limit: tiles stop here.
MERCATOR_LAT = 85.0511287798


class Progress(Protocol):
    def start(self, description: str, total: int | None) -> None: ...
    def advance(self, n: int) -> None: ...
    def stop(self) -> None: ...


def parse_layers(text: str) -> list[LayerSpec]:
    """'a,b' to specs, in the given order; unknown names raise LayerUnknown."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names or len(set(names)) != len(names):
        raise InvalidInput(
            f"--layers wants distinct layer names separated by commas, got {text!r} / "
            f"--layers berisi nama layer berbeda, dipisah koma"
        )
    return [get_layer(n) for n in names]


def parse_zooms(text: str) -> tuple[int, int]:
    """'12' or '0-14' to an inclusive range."""
    lo, sep, hi = text.strip().partition("-")
    try:
        z0, z1 = int(lo), int(hi) if sep else int(lo)
    except ValueError:
        raise InvalidInput(
            f"--zoom wants a zoom or a range like 0-14, got {text!r} / "
            f"--zoom berisi satu zoom atau rentang seperti 0-14"
        ) from None
    if not 0 <= z0 <= z1 <= MAX_ZOOM:
        raise InvalidInput(
            f"--zoom must lie within 0-{MAX_ZOOM}, low to high, got {text!r} / "
            f"--zoom harus di antara 0-{MAX_ZOOM}, dari rendah ke tinggi"
        )
    return z0, z1


def parse_bbox(text: str) -> Bbox:
    """'west,south,east,north' in lon/lat degrees."""
    parts = text.split(",")
    try:
        if len(parts) != 4:
            raise ValueError
        w, s, e, n = (float(p) for p in parts)
    except ValueError:
        raise InvalidInput(
            f"--bbox wants west,south,east,north in degrees, got {text!r} / "
            f"--bbox berisi barat,selatan,timur,utara dalam derajat"
        ) from None
    if not (-180 <= w < e <= 180 and -90 <= s < n <= 90) or any(map(math.isnan, (w, s, e, n))):
        raise InvalidInput(
            f"--bbox must have west < east within -180..180 and south < north within -90..90, "
            f"got {text!r} / --bbox tidak sah"
        )
    return w, s, e, n


def parse_tms(text: str) -> TileMatrixSet:
    for t in TILE_MATRIX_SETS:
        if t == text:
            return t
    raise InvalidInput(f"--tms must be one of {', '.join(TILE_MATRIX_SETS)}, got {text!r}")


def tile_span(bbox: Bbox, z: int, tms: TileMatrixSet) -> tuple[range, range]:
    """The columns and rows of the tiles at zoom ``z`` that the bbox touches."""
    w, s, e, n = bbox
    if tms == "WorldCRS84Quad":
        size = 180.0 / 2**z
        cols, rows = 2 ** (z + 1), 2**z
        x0, x1 = math.floor((w + 180.0) / size), math.floor((e + 180.0) / size)
        y0, y1 = math.floor((90.0 - n) / size), math.floor((90.0 - s) / size)
    else:
        cols = rows = 2**z
        x0, x1 = math.floor((w + 180.0) / 360.0 * cols), math.floor((e + 180.0) / 360.0 * cols)
        y0, y1 = _merc_row(n, rows), _merc_row(s, rows)
    x0, x1 = max(0, min(x0, cols - 1)), max(0, min(x1, cols - 1))
    y0, y1 = max(0, min(y0, rows - 1)), max(0, min(y1, rows - 1))
    return range(x0, x1 + 1), range(y0, y1 + 1)


def _merc_row(lat: float, rows: int) -> int:
    lat = max(-MERCATOR_LAT, min(MERCATOR_LAT, lat))
    r = math.radians(lat)
    return math.floor((1.0 - math.asinh(math.tan(r)) / math.pi) / 2.0 * rows)


@dataclass(frozen=True)
class Pyramid:
    """The tiles of some layers over a bbox and a zoom range (zooms where none of the
    layers is drawn are left out, as the API answers 204 there without a query)."""

    specs: tuple[LayerSpec, ...]
    versions: dict[str, int]
    zooms: tuple[int, int]
    bbox: Bbox
    tms: TileMatrixSet = "WebMercatorQuad"

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.specs]

    def drawn_zooms(self) -> list[int]:
        z0, z1 = self.zooms
        return [z for z in range(z0, z1 + 1) if shown_layers(self.specs, self.versions, z)]

    def count(self) -> int:
        total = 0
        for z in self.drawn_zooms():
            xs, ys = tile_span(self.bbox, z, self.tms)
            total += len(xs) * len(ys)
        return total

    def tiles(self) -> Iterator[TileRequest]:
        for z in self.drawn_zooms():
            xs, ys = tile_span(self.bbox, z, self.tms)
            for x in xs:
                for y in ys:
                    yield TileRequest(z, x, y, self.tms)


def plan(
    store: Store,
    specs: Sequence[LayerSpec],
    zooms: tuple[int, int] | None,
    bbox: Bbox | None,
    tms: TileMatrixSet,
    max_tiles: int,
    default_max_zoom: int,
) -> Pyramid:
    """Resolve the defaults (bbox: the loaded layers' extent; zooms: the layers' spec
    ranges, capped at ``default_max_zoom``) and refuse pyramids over ``max_tiles``."""
    infos = {i.name: i for i in store.layers()}
    loaded = [s for s in specs if s.name in infos]
    if not loaded:
        raise InvalidInput(
            f"none of {', '.join(s.name for s in specs)} has data yet: load it with "
            "`gis ingest` first / layer belum berisi data: muat dulu dengan `gis ingest`"
        )
    if bbox is None:
        boxes = [b for s in loaded if (b := infos[s.name].bbox) is not None]
        if not boxes:
            raise InvalidInput("the layers have no extent; give --bbox / berikan --bbox")
        bbox = (min(b[0] for b in boxes), min(b[1] for b in boxes),
                max(b[2] for b in boxes), max(b[3] for b in boxes))  # fmt: skip
    if zooms is None:
        lo = min(s.min_zoom for s in loaded)
        zooms = (min(lo, default_max_zoom), min(max(s.max_zoom for s in loaded), default_max_zoom))
    versions = {s.name: infos[s.name].version for s in loaded}
    pyramid = Pyramid(tuple(specs), versions, zooms, bbox, tms)
    if not pyramid.drawn_zooms():
        raise InvalidInput(
            f"no layer is drawn at zooms {zooms[0]}-{zooms[1]} (spec ranges: "
            + ", ".join(f"{s.name} {s.min_zoom}-{s.max_zoom}" for s in specs)
            + ") / tidak ada layer yang tampil pada zoom itu"
        )
    count = pyramid.count()
    if count > max_tiles:
        raise InvalidInput(
            f"{count:,} tiles is more than the limit of {max_tiles:,}: narrow --bbox or "
            f"--zoom, or raise --max-tiles / {count:,} tile melebihi batas {max_tiles:,}: "
            "persempit --bbox atau --zoom, atau naikkan --max-tiles"
        )
    return pyramid


@dataclass
class SeedResult:
    rendered: int = 0
    empty: int = 0
    #: Already in the directory for the current versions (not rendered again).
    present: int = 0
    bytes: int = 0


def render_pyramid(
    store: Store,
    pyramid: Pyramid,
    workers: int,
    skip: Callable[[TileRequest], bool] | None = None,
    tiles: Iterable[TileRequest] | None = None,
) -> Iterator[tuple[TileRequest, bytes | None]]:
    """Every tile of the pyramid (or ``tiles``) with its bytes, in that order, rendered on
    ``workers`` threads (each holds one store connection; the database does the work).
    Tiles for which ``skip`` is true come back with None, unrendered."""

    def one(tile: TileRequest) -> tuple[TileRequest, bytes | None]:
        if skip is not None and skip(tile):
            return tile, None
        return tile, render_tile_sync(store, shown_layers(pyramid.specs, pyramid.versions,
                                                           tile.z), tile)  # fmt: skip

    todo = pyramid.tiles() if tiles is None else tiles
    if workers <= 1:
        yield from map(one, todo)
        return
    with ThreadPoolExecutor(workers, thread_name_prefix="gis-tiles") as pool:
        # Bounded look-ahead: never more than a few batches of tiles in flight.
        window = workers * 8
        pending: deque[Future[tuple[TileRequest, bytes | None]]] = deque()
        for tile in todo:
            pending.append(pool.submit(one, tile))
            if len(pending) >= window:
                yield pending.popleft().result()
        for future in pending:
            yield future.result()


def seed(
    store: Store,
    pyramid: Pyramid,
    directory: TileDirectory,
    workers: int,
    progress: Progress,
    force: bool = False,
) -> SeedResult:
    """Render the pyramid into the cache directory, at the same paths the API reads.
    Tiles already there for the current versions are kept unless ``force``."""
    result = SeedResult()
    names = pyramid.names

    def present(tile: TileRequest) -> bool:
        return not force and directory.has(tile_path(names, pyramid.versions, tile))

    progress.start(f"seeding {'+'.join(names)}", pyramid.count())
    try:
        for tile, data in render_pyramid(store, pyramid, workers, present):
            if data is None:
                result.present += 1
            else:
                directory.write(tile_path(names, pyramid.versions, tile), data)
                result.rendered += 1
                result.empty += not data
                result.bytes += len(data)
            progress.advance(1)
    finally:
        progress.stop()
    return result
