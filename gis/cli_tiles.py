"""`gis tiles ...`: pre-render (seed) and export vector tiles."""

from __future__ import annotations

import typer

tiles_app = typer.Typer(
    help="Vector tiles: seed the tile cache, export PMTiles.", no_args_is_help=True
)
