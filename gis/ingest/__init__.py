"""Ingestion: read (formats, safety) -> clean (reproject, validate) -> load (store)."""
