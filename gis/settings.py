"""Settings, one class per concern, read from the environment with the GIS_ prefix."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class StoreSettings(BaseSettings):
    """Where the data lives. GIS_DATABASE_URL selects PostGIS; unset means embedded."""

    model_config = SettingsConfigDict(env_prefix="GIS_", extra="ignore")

    database_url: str | None = None
    data_dir: Path = Path("var")
    #: File name of the embedded DuckDB store inside data_dir.
    embedded_file: str = "gis.duckdb"
    pool_min: int = 1
    pool_max: int = 10
    statement_timeout_ms: int = 10_000

    @property
    def embedded_path(self) -> Path:
        return self.data_dir / self.embedded_file


class IngestSettings(BaseSettings):
    """Limits that protect the service from hostile or broken input files."""

    model_config = SettingsConfigDict(env_prefix="GIS_INGEST_", extra="ignore")

    max_bytes: int = 2 * 1024**3
    #: Uncompressed size and ratio limits for zip archives (zip bombs).
    max_unzipped_bytes: int = 4 * 1024**3
    max_zip_ratio: float = 200.0
    max_zip_entries: int = 1000
    chunk_size: int = Field(default=50_000, ge=1, le=1_000_000)
    #: How often plain (non-terminal) progress logs a line.
    progress_seconds: float = Field(default=5.0, gt=0)
    #: The service extent, lon/lat; coordinates outside are rejected.
    #: The default covers Indonesia with a margin.
    extent: tuple[float, float, float, float] = (92.0, -13.0, 143.0, 8.0)


class ServerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GIS_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    public_url: str | None = None
    #: Cache-Control max-age of data responses; ETags let clients revalidate cheaply.
    cache_seconds: int = Field(default=60, ge=0, le=86_400)
    #: Memory for rendered vector tiles (per worker process); 0 turns the cache off.
    tile_cache_bytes: int = Field(default=64 * 1024**2, ge=0)
    #: A directory where rendered tiles are also kept as files (shared by workers, kept
    #: across restarts, filled ahead by `gis tiles seed`); unset: memory only.
    tile_cache_dir: Path | None = None
    #: Origins whose web pages may read the API (CORS), comma-separated; "*" lets any
    #: site embed the public layers and tiles; empty turns CORS off.
    cors_origins: str = "*"
    #: Freeze the start-up heap out of the garbage collector's full passes (measured on
    #: /risk at 50 in flight: p99 150 -> 66-109 ms); off only to compare.
    gc_freeze: bool = True


@lru_cache
def store_settings() -> StoreSettings:
    return StoreSettings()


class TileSettings(BaseSettings):
    """Limits of `gis tiles seed` / `gis tiles export` (the cache itself: ServerSettings)."""

    model_config = SettingsConfigDict(env_prefix="GIS_TILES_", extra="ignore")

    #: A seed or export of more tiles than this is refused with a message (--max-tiles).
    max_tiles: int = Field(default=200_000, ge=1)
    #: Default highest zoom when none is given: deeper pyramids grow fourfold per zoom.
    default_max_zoom: int = Field(default=14, ge=0, le=24)
    #: Threads rendering tiles in parallel (each holds one database connection).
    workers: int = Field(default=4, ge=1, le=64)


@lru_cache
def ingest_settings() -> IngestSettings:
    return IngestSettings()
