"""Stores: one interface (base.Store), PostGIS for production, DuckDB for zero set-up."""

from __future__ import annotations

from gis.settings import StoreSettings, store_settings
from gis.store.base import IngestRun, LayerInfo, Notice, RasterInfo, Store


def open_store(settings: StoreSettings | None = None, *, migrate: bool = True) -> Store:
    """The store the settings select: PostGIS when GIS_DATABASE_URL is set, else the
    embedded DuckDB file in the data directory."""
    settings = settings or store_settings()
    store: Store
    if settings.database_url:
        from gis.store.postgis import PostgisStore

        store = PostgisStore(
            settings.database_url,
            pool_min=settings.pool_min,
            pool_max=settings.pool_max,
            statement_timeout_ms=0,
        )
    else:
        from gis.store.embedded import EmbeddedStore

        store = EmbeddedStore(settings.embedded_path)
    if migrate:
        store.migrate()
    return store


__all__ = ["IngestRun", "LayerInfo", "Notice", "RasterInfo", "Store", "open_store"]
