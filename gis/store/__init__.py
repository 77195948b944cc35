"""Stores: one interface (base.Store), PostGIS for production, DuckDB for zero set-up."""

from __future__ import annotations

from gis.settings import StoreSettings, store_settings
from gis.store.base import IngestRun, LayerInfo, Notice, RasterInfo, Store


def open_store(
    settings: StoreSettings | None = None, *, migrate: bool = True, serving: bool = False
) -> Store:
    """The store the settings select: PostGIS when GIS_DATABASE_URL is set, else the
    embedded DuckDB file in the data directory. ``serving`` applies the statement timeout
    (GIS_STATEMENT_TIMEOUT_MS) to reads; ingests run without one."""
    settings = settings or store_settings()
    timeout = settings.statement_timeout_ms if serving else 0
    store: Store
    if settings.database_url:
        from gis.store.postgis import PostgisStore

        store = PostgisStore(
            settings.database_url,
            pool_min=settings.pool_min,
            pool_max=settings.pool_max,
            statement_timeout_ms=timeout,
        )
    else:
        from gis.store.embedded import EmbeddedStore

        store = EmbeddedStore(settings.embedded_path, query_timeout_ms=timeout)
    if migrate:
        store.migrate()
    return store


__all__ = ["IngestRun", "LayerInfo", "Notice", "RasterInfo", "Store", "open_store"]
