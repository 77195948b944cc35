"""`gis analyze ...`: the planner's questions (exposure per hazard class and area)."""

from __future__ import annotations

import typer

analyze_app = typer.Typer(
    help="Spatial analysis: exposure of facilities and population.", no_args_is_help=True
)
