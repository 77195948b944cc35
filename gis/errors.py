"""Domain exceptions. Each has a stable code; the API maps codes to HTTP statuses and the
CLI maps them to a readable message and a non-zero exit."""

from __future__ import annotations


class GisError(Exception):
    """Base of every error the service raises on purpose. ``code`` is stable."""

    code = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(GisError):
    code = "not-found"


class InvalidInput(GisError):
    code = "invalid-input"


class LayerUnknown(NotFound):
    code = "layer-unknown"

    def __init__(self, name: str, known: tuple[str, ...], kind: str = "layer") -> None:
        super().__init__(f"unknown {kind} {name!r}; known: {', '.join(known)}")
        self.name = name


class IngestRejected(GisError):
    """A source file that cannot be ingested at all: nothing was changed."""

    code = "ingest-rejected"


class UnsafeInput(IngestRejected):
    """A file refused for safety: network path, VRT, zip bomb, path traversal, triggers."""

    code = "unsafe-input"


class StoreUnavailable(GisError):
    code = "store-unavailable"


class CapabilityMissing(GisError):
    """The selected store cannot do this; said plainly instead of faking it."""

    code = "capability-missing"


class QueryTimeout(GisError):
    """A read took longer than the statement timeout; the store is fine, try again."""

    code = "query-timeout"
