"""The application factory: settings and store are injected, so tests and workers choose."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette_compress import CompressMiddleware

from api import problems
from api.routes import analysis, docs, features, landing, risk, tiles
from api.tile_fast_path import TileFastPath
from gis import __version__
from gis.settings import ServerSettings, StoreSettings
from gis.store import Store, open_store
from gis.tiles.cache import TileCache
from gis.tiles.versions import VersionLookup


def create_app(
    settings: StoreSettings | None = None,
    store: Store | None = None,
    server: ServerSettings | None = None,
) -> FastAPI:
    """Build the app. A given store is used as is (and not closed); otherwise one is
    opened from the settings at start-up and closed at shutdown."""
    settings = settings or StoreSettings()
    server = server or ServerSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = store is None
        app.state.store = store if store is not None else open_store(settings, serving=True)
        app.state.tile_versions = VersionLookup(app.state.store)
        if server.gc_freeze:
            # The start-up heap (numpy, pandas, shapely, pyproj modules: ~100k objects)
            # never dies; frozen, the collector stops walking it, and a full collection
            # no longer stalls every request in flight for tens of milliseconds.
            gc.collect()
            gc.freeze()
        try:
            yield
        finally:
            await app.state.store.aclose()
            if owned:
                app.state.store.close()

    app = FastAPI(
        title="GIS Publik",
        version=__version__,
        description="Public-information GIS service / Layanan informasi geospasial publik",
        lifespan=lifespan,
        # FastAPI's own docs load Swagger UI from a CDN; ours are served locally (api/docs.py).
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.cache_seconds = server.cache_seconds
    #: Layers known to have a table (a table, once made, stays: replaces swap it).
    app.state.loaded_layers = set()
    app.state.tile_cache = TileCache(server.tile_cache_bytes, server.tile_cache_dir)
    problems.install(app)
    # Plain XYZ tiles answered before routing; added first, so it runs inside compression.
    app.add_middleware(TileFastPath)
    # brotli, zstd or gzip, by the client's Accept-Encoding
    app.add_middleware(CompressMiddleware, minimum_size=1024)
    origins = [o.strip() for o in server.cors_origins.split(",") if o.strip()]
    if origins:
        # Public data: web maps on other sites (Leaflet, MapLibre, apps) read it directly.
        # No cookies or credentials are involved, so "*" is safe.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "HEAD", "POST", "OPTIONS"],
            allow_headers=["Accept", "Content-Type", "If-None-Match"],
            expose_headers=["ETag", "Content-Crs", "Link", "X-Tile-Cache"],
            max_age=3600,
        )
    app.include_router(landing.router)
    app.include_router(docs.router)
    app.include_router(features.router)
    app.include_router(tiles.router)
    app.include_router(risk.router)
    app.include_router(analysis.router)
    return app
