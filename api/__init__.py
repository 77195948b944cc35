"""The HTTP API (FastAPI). Handlers orchestrate: parse, call gis.query/gis.store, render."""
