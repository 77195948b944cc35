"""The application factory: settings and store are injected, so tests and workers choose."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api import problems
from api.routes import landing
from gis import __version__
from gis.settings import StoreSettings
from gis.store import Store, open_store


def create_app(settings: StoreSettings | None = None, store: Store | None = None) -> FastAPI:
    """Build the app. A given store is used as is (and not closed); otherwise one is
    opened from the settings at start-up and closed at shutdown."""
    settings = settings or StoreSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = store is None
        app.state.store = store if store is not None else open_store(settings)
        try:
            yield
        finally:
            if owned:
                app.state.store.close()

    app = FastAPI(
        title="GIS Publik",
        version=__version__,
        description="Public-information GIS service / Layanan informasi geospasial publik",
        lifespan=lifespan,
        docs_url="/api.html",
        openapi_url="/openapi.json",
    )
    problems.install(app)
    app.include_router(landing.router)
    return app
