"""Errors as application/problem+json (RFC 9457) with stable types; never a stack trace."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from gis.errors import (
    CapabilityMissing,
    GisError,
    IngestRejected,
    InvalidInput,
    NotFound,
    QueryTimeout,
    StoreUnavailable,
)

log = logging.getLogger("gis.api")

PROBLEM_BASE = "https://gis-publik.example/problems/"

STATUS: list[tuple[type[GisError], int]] = [
    (NotFound, 404),
    (InvalidInput, 400),
    (IngestRejected, 422),
    (StoreUnavailable, 503),
    (QueryTimeout, 503),
    (CapabilityMissing, 501),
]


def problem(status: int, code: str, title: str, detail: str, **extra: object) -> JSONResponse:
    body = {"type": PROBLEM_BASE + code, "title": title, "status": status, "detail": detail}
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type="application/problem+json")


def install(app: FastAPI) -> None:
    @app.exception_handler(GisError)
    async def gis_error(_: Request, exc: GisError) -> JSONResponse:
        status = next((s for cls, s in STATUS if isinstance(exc, cls)), 500)
        return problem(status, exc.code, type(exc).__name__, exc.message)

    @app.exception_handler(RequestValidationError)
    async def validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "query")
        return problem(
            400,
            "invalid-parameter",
            "Invalid parameter",
            f"{where}: {first.get('msg', 'invalid')}",
            parameter=where,
        )

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        code = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
        return problem(exc.status_code, code, str(exc.detail), str(exc.detail))

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return problem(
            500,
            "internal-error",
            "Internal error",
            "the server could not answer; the error was logged",
        )
