"""The core of the service: settings, stores, ingestion and queries. No web or map code."""

__version__ = "0.1.0"
