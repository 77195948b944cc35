"""What every `gis` command group shares: the consoles, the --data-dir option, the store
settings it implies, and the guard that turns a GisError into a readable message and a
non-zero exit (2 for bad input, 1 otherwise)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console

from gis.errors import GisError, InvalidInput
from gis.settings import StoreSettings
from gis.store import Store, open_store

#: Messages, progress and errors go to stderr; results (tables, CSV, JSON) to stdout.
console = Console(stderr=True)
out = Console()

T = TypeVar("T")

DataDirOption = Annotated[
    Path | None,
    typer.Option(
        "--data-dir", envvar="GIS_DATA_DIR", help="Data directory (embedded store, reject reports)."
    ),
]


def store_settings_for(data_dir: Path | None) -> StoreSettings:
    settings = StoreSettings()
    if data_dir is not None:
        settings = settings.model_copy(update={"data_dir": data_dir})
    return settings


def open_store_for(data_dir: Path | None) -> Store:
    return open_store(store_settings_for(data_dir))


def guard(fn: Callable[[], T]) -> T:
    """Run a command body; a GisError becomes a readable message and a non-zero exit."""
    try:
        return fn()
    except GisError as exc:
        console.print(f"[bold red]error:[/] {exc.message}", highlight=False)
        raise typer.Exit(2 if isinstance(exc, InvalidInput) else 1) from None
