"""/api (OpenAPI 3.0 JSON) and /api.html (a plain, CDN-free HTML view of it)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from fastapi.templating import Jinja2Templates

from api.openapi import OAS_MEDIA, document
from api.params import reject_unknown
from gis.errors import InvalidInput

router = APIRouter()
templates = Jinja2Templates(directory=str(Path(__file__).resolve().parents[1] / "templates"))


def _doc(request: Request) -> dict[str, object]:
    return document(str(request.base_url).rstrip("/"))


@router.get("/api", include_in_schema=False)
async def api_document(request: Request) -> Response:
    reject_unknown(request.query_params, {"f"})
    f = request.query_params.get("f")
    if f == "html" or (f is None and "text/html" in request.headers.get("accept", "")):
        return templates.TemplateResponse(request, "api.html", {"d": _doc(request)})
    if f not in (None, "json"):
        raise InvalidInput(f"f must be json or html, got {f!r}")
    return JSONResponse(_doc(request), media_type=OAS_MEDIA)


@router.get("/api.html", include_in_schema=False)
async def api_html(request: Request) -> Response:
    reject_unknown(request.query_params, set())
    return templates.TemplateResponse(request, "api.html", {"d": _doc(request)})
