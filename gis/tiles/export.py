"""`gis tiles export`: a pyramid as one PMTiles v3 archive (https://docs.protomaps.com/pmtiles/).

One file that a static host, a CDN or a phone can serve with HTTP range requests, with no
database and no server process: for offline field work, and as a fallback when a surge
of visitors must not reach the database. Tiles come from the tile cache directory when
it has them for the current versions, and are rendered otherwise."""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pmtiles.tile import Compression, TileType, zxy_to_tileid
from pmtiles.writer import Writer

from gis import __version__
from gis.errors import InvalidInput
from gis.query.tiles import TileRequest
from gis.store import Store
from gis.tiles.cache import TileDirectory, tile_path
from gis.tiles.render import render_tile_sync, shown_layers
from gis.tiles.seed import Progress, Pyramid, render_pyramid
from layers.spec import LayerSpec

_FIELD_TYPES = {"text": "String", "integer": "Number", "float": "Number", "boolean": "Boolean",
                "date": "String", "datetime": "String"}  # fmt: skip


def vector_layers(specs: tuple[LayerSpec, ...]) -> list[dict[str, Any]]:
    """The TileJSON-style vector_layers entry of each layer, from its spec."""
    return [
        {
            "id": s.name,
            "description": f"{s.title.id} / {s.title.en}",
            "minzoom": s.min_zoom,
            "maxzoom": s.max_zoom,
            "fields": {f.name: _FIELD_TYPES[f.type] for f in s.fields if f.public},
        }
        for s in specs
    ]


@dataclass
class ExportResult:
    tiles: int = 0
    empty: int = 0
    from_cache: int = 0
    bytes: int = 0


def export_pmtiles(
    store: Store,
    pyramid: Pyramid,
    output: Path,
    progress: Progress,
    cache: TileDirectory | None = None,
    workers: int = 1,
) -> ExportResult:
    """Write the pyramid as a PMTiles v3 archive of gzip-compressed MVT tiles.

    Tiles are added in tile-id (Hilbert) order, so the archive is clustered; empty tiles
    are left out (a reader answers them as absent). The file appears whole or not at
    all: it is written under a temporary name and renamed."""
    if pyramid.tms != "WebMercatorQuad":
        raise InvalidInput("PMTiles holds WebMercatorQuad tiles only / PMTiles hanya untuk "
                           "WebMercatorQuad")  # fmt: skip
    names = pyramid.names
    result = ExportResult()
    order = sorted(pyramid.tiles(), key=lambda t: zxy_to_tileid(t.z, t.x, t.y))
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(f".{output.name}.{os.getpid()}.tmp")
    progress.start(f"exporting {'+'.join(names)}", len(order))
    try:
        with open(tmp, "wb") as f:
            writer = Writer(f)

            def cached(tile: TileRequest) -> bool:
                return cache is not None and cache.has(tile_path(names, pyramid.versions, tile))

            for tile, rendered in render_pyramid(store, pyramid, workers, cached, order):
                data = rendered
                if data is None:
                    data = _from_cache(store, cache, pyramid, tile)
                    result.from_cache += 1
                progress.advance(1)
                if not data:
                    result.empty += 1
                    continue
                packed = gzip.compress(data, compresslevel=6, mtime=0)
                writer.write_tile(zxy_to_tileid(tile.z, tile.x, tile.y), packed)
                result.tiles += 1
                result.bytes += len(packed)
            writer.finalize(_header(pyramid), metadata(store, pyramid))
        os.replace(tmp, output)
    finally:
        tmp.unlink(missing_ok=True)
        progress.stop()
    return result


def _from_cache(
    store: Store, cache: TileDirectory | None, pyramid: Pyramid, tile: TileRequest
) -> bytes:
    """A tile the cache directory holds; rendered after all if it vanished meanwhile
    (a concurrent `gis tiles prune`)."""
    path = tile_path(pyramid.names, pyramid.versions, tile)
    data = cache.read(path) if cache is not None else None
    if data is None:
        shown = shown_layers(pyramid.specs, pyramid.versions, tile.z)
        return render_tile_sync(store, shown, tile)
    return data


def _header(pyramid: Pyramid) -> dict[str, Any]:
    w, s, e, n = pyramid.bbox
    zooms = pyramid.drawn_zooms()
    z0, z1 = zooms[0], zooms[-1]
    return {
        "tile_type": TileType.MVT,
        "tile_compression": Compression.GZIP,
        "min_zoom": z0,
        "max_zoom": z1,
        "min_lon_e7": round(w * 1e7),
        "min_lat_e7": round(s * 1e7),
        "max_lon_e7": round(e * 1e7),
        "max_lat_e7": round(n * 1e7),
        "center_zoom": max(z0, min(z1, 12)),
        "center_lon_e7": round((w + e) / 2 * 1e7),
        "center_lat_e7": round((s + n) / 2 * 1e7),
    }


def metadata(store: Store, pyramid: Pyramid) -> dict[str, Any]:
    """The archive's JSON metadata: names, vector_layers from the specs, the layers'
    versions, and the DEMO notice in attribution when synthetic data is loaded."""
    infos = {i.name: i for i in store.layers()}
    notices = sorted({f"{i.notice.id} / {i.notice.en}" for n in pyramid.names
                      if (i := infos.get(n)) is not None and i.notice})  # fmt: skip
    specs = pyramid.specs
    return {
        "name": ", ".join(f"{s.title.id} / {s.title.en}" for s in specs),
        "description": " ".join(f"{s.description.id} / {s.description.en}" for s in specs),
        "attribution": " ".join(notices) or "GIS Publik",
        "type": "overlay",
        "format": "pbf",
        "generator": f"gis-publik {__version__}",
        "vector_layers": vector_layers(specs),
        "gis_publik": {
            "layers": pyramid.names,
            "versions": pyramid.versions,
            "notice": notices,
        },
    }
