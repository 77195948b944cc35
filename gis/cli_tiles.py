"""`gis tiles ...`: pre-render (seed) the tile cache directory, prune its stale versions,
and export a PMTiles archive. Messages are bilingual; an error is one readable line and
a non-zero exit (2 for bad input), like the rest of `gis`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated

import typer

from gis.cli_common import DataDirOption, console, guard, open_store_for, out
from gis.errors import InvalidInput
from gis.progress import make_progress
from gis.settings import TileSettings
from gis.store import Store
from gis.tiles.cache import TileDirectory
from gis.tiles.seed import Pyramid, parse_bbox, parse_layers, parse_tms, parse_zooms, plan
from layers.registry import LAYERS

tiles_app = typer.Typer(
    help="Vector tiles: seed the tile cache, export PMTiles.", no_args_is_help=True
)

LayersOption = Annotated[
    str, typer.Option("--layers", help=f"Layers, comma-separated: {', '.join(LAYERS)}.")
]
ZoomOption = Annotated[
    str | None,
    typer.Option(
        "--zoom", help="Zoom or range, e.g. 0-14 (default: the layers' ranges, capped at 14)."
    ),
]
BboxOption = Annotated[
    str | None,
    typer.Option("--bbox", help="west,south,east,north in degrees (default: the data's extent)."),
]
MaxTilesOption = Annotated[
    int | None,
    typer.Option("--max-tiles", min=1, help="Refuse more tiles than this (GIS_TILES_MAX_TILES)."),
]
WorkersOption = Annotated[
    int | None,
    typer.Option(
        "--workers", min=1, max=64, help="Tiles rendered in parallel (GIS_TILES_WORKERS)."
    ),
]
CacheDirOption = Annotated[
    Path | None,
    typer.Option(
        "--cache-dir", envvar="GIS_TILE_CACHE_DIR", help="The tile cache directory the API reads."
    ),
]


def _plan(
    store: Store, layers: str, zoom: str | None, bbox: str | None, tms: str, max_tiles: int | None
) -> Pyramid:
    limits = TileSettings()
    return plan(
        store,
        parse_layers(layers),
        parse_zooms(zoom) if zoom is not None else None,
        parse_bbox(bbox) if bbox is not None else None,
        parse_tms(tms),
        max_tiles or limits.max_tiles,
        limits.default_max_zoom,
    )


def _describe(p: Pyramid) -> str:
    zooms = p.drawn_zooms()
    w, s, e, n = p.bbox
    return (
        f"{p.count():,} tiles of {'+'.join(p.names)}, zoom {zooms[0]}-{zooms[-1]}, "
        f"bbox {w:.5f},{s:.5f},{e:.5f},{n:.5f} ({p.tms})"
    )


@tiles_app.command("seed")
def seed_command(
    layers: LayersOption,
    zoom: ZoomOption = None,
    bbox: BboxOption = None,
    tms: Annotated[str, typer.Option("--tms", help="Tile matrix set.")] = "WebMercatorQuad",
    max_tiles: MaxTilesOption = None,
    workers: WorkersOption = None,
    force: Annotated[
        bool, typer.Option("--force", help="Render again tiles the cache already holds.")
    ] = False,
    cache_dir: CacheDirOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Pre-render tiles into the cache directory / Isi cache tile terlebih dahulu.

    Renders the pyramid into GIS_TILE_CACHE_DIR, at the paths the API reads, so the first
    visitors after an ingest or in a surge are served from files, not the database."""
    from gis.tiles.seed import seed

    def body() -> None:
        if cache_dir is None:
            raise InvalidInput(
                "no tile cache directory: set GIS_TILE_CACHE_DIR (the API reads the same) or "
                "give --cache-dir / direktori cache tile belum diatur"
            )
        store = open_store_for(data_dir)
        try:
            pyramid = _plan(store, layers, zoom, bbox, tms, max_tiles)
            console.print(f"Seeding / mengisi {_describe(pyramid)} into {cache_dir}")
            result = seed(
                store,
                pyramid,
                TileDirectory(cache_dir),
                workers or TileSettings().workers,
                make_progress(console, unit="tiles"),
                force=force,
            )
        finally:
            store.close()
        out.print(
            f"seeded {result.rendered:,} tiles ({result.empty:,} empty, "
            f"{result.bytes / 1e6:.1f} MB), {result.present:,} already cached / "
            f"{result.rendered:,} tile dibuat, {result.present:,} sudah ada",
            highlight=False,
        )

    guard(body)


@tiles_app.command("export")
def export_command(
    layers: LayersOption,
    output: Annotated[Path, typer.Option("--output", "-o", help="The .pmtiles file to write.")],
    zoom: ZoomOption = None,
    bbox: BboxOption = None,
    max_tiles: MaxTilesOption = None,
    workers: WorkersOption = None,
    cache_dir: CacheDirOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Export a PMTiles archive / Ekspor arsip PMTiles untuk pemakaian luring.

    One PMTiles v3 file (WebMercatorQuad, gzip MVT) for offline use, static hosting or a
    surge fallback; tiles the cache directory holds are reused."""
    from gis.tiles.export import export_pmtiles

    def body() -> None:
        if output.suffix != ".pmtiles":
            raise InvalidInput(f"--output should end in .pmtiles, got {output.name!r}")
        store = open_store_for(data_dir)
        try:
            pyramid = _plan(store, layers, zoom, bbox, "WebMercatorQuad", max_tiles)
            console.print(f"Exporting / mengekspor {_describe(pyramid)} to {output}")
            cache = TileDirectory(cache_dir) if cache_dir is not None else None
            result = export_pmtiles(
                store,
                pyramid,
                output,
                make_progress(console, unit="tiles"),
                cache=cache,
                workers=workers or TileSettings().workers,
            )
        finally:
            store.close()
        out.print(
            f"wrote {output}: {result.tiles:,} tiles ({result.empty:,} empty left out, "
            f"{result.from_cache:,} from the cache), {output.stat().st_size / 1e6:.1f} MB / "
            f"{result.tiles:,} tile ditulis",
            highlight=False,
        )

    guard(body)


@tiles_app.command("prune")
def prune_command(cache_dir: CacheDirOption = None, data_dir: DataDirOption = None) -> None:
    """Delete stale cached tiles / Hapus tile cache dari versi layer yang usang.

    Removes the cache folders of layer versions that are no longer current (after
    ingests) and of layers that no longer exist."""

    def body() -> None:
        if cache_dir is None:
            raise InvalidInput("no tile cache directory: set GIS_TILE_CACHE_DIR or --cache-dir")
        store = open_store_for(data_dir)
        try:
            versions = {i.name: i.version for i in store.layers()}
        finally:
            store.close()

        def current(names: Sequence[str]) -> Mapping[str, int] | None:
            if not names or any(n not in LAYERS for n in names):
                return None
            return versions

        removed, freed = TileDirectory(cache_dir).prune(current)
        out.print(
            f"pruned {removed} stale version folder(s), {freed / 1e6:.1f} MB freed / "
            f"{removed} folder versi usang dihapus",
            highlight=False,
        )

    guard(body)
