"""Landing page (HTML or JSON), liveness and readiness."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from fastapi.templating import Jinja2Templates

from api.problems import problem
from gis import __version__
from gis.errors import InvalidInput, StoreUnavailable
from gis.store import Store
from layers.registry import LAYERS, RASTERS

router = APIRouter()
templates = Jinja2Templates(directory=str(Path(__file__).resolve().parents[1] / "templates"))

_ALLOWED = {"f"}


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def _format(request: Request) -> str:
    unknown = set(request.query_params) - _ALLOWED
    if unknown:
        raise InvalidInput(f"unknown query parameter(s): {', '.join(sorted(unknown))}")
    f = request.query_params.get("f")
    if f in ("json", "html"):
        return f
    if f is not None:
        raise InvalidInput(f"f must be json or html, got {f!r}")
    accept = request.headers.get("accept", "")
    return "html" if "text/html" in accept else "json"


def _landing_data(store: Store) -> dict[str, Any]:
    infos = {i.name: i for i in store.layers()}
    rasters = {r.name: r for r in store.rasters()}
    layers = []
    for name, spec in LAYERS.items():
        info = infos.get(name)
        layers.append(
            {
                "name": name,
                "title": {"id": spec.title.id, "en": spec.title.en},
                "description": {"id": spec.description.id, "en": spec.description.en},
                "geometry_type": spec.geometry_type,
                "feature_count": info.feature_count if info else 0,
                "version": info.version if info else 0,
                "bbox": list(info.bbox) if info and info.bbox else None,
                "updated_at": info.updated_at.isoformat() if info and info.updated_at else None,
                "notice": {"id": info.notice.id, "en": info.notice.en}
                if info and info.notice
                else None,
            }
        )
    raster_list = [
        {
            "name": name,
            "title": {"id": spec.title.id, "en": spec.title.en},
            "unit": spec.unit,
            "loaded": name in rasters,
            "size": [rasters[name].width, rasters[name].height] if name in rasters else None,
            "notice": (
                {"id": n.id, "en": n.en}
                if name in rasters and (n := rasters[name].notice)
                else None
            ),
        }
        for name, spec in RASTERS.items()
    ]
    notices = {i.notice for i in infos.values() if i.notice}
    notices |= {r.notice for r in rasters.values() if r.notice}
    return {
        "title": "GIS Publik",
        "description": {
            "id": "Layanan informasi geospasial publik: kawasan rawan bencana, titik banjir, "
            "fasilitas umum dan wilayah administrasi.",
            "en": "Public geospatial information: hazard zones, flood points, public "
            "facilities and administrative areas.",
        },
        "version": __version__,
        "store": store.kind,
        "notices": [{"id": n.id, "en": n.en} for n in sorted(notices, key=lambda n: n.id)],
        "layers": layers,
        "rasters": raster_list,
        "links": [
            {"rel": "self", "href": "/", "type": "application/json"},
            {"rel": "alternate", "href": "/?f=html", "type": "text/html"},
            {
                "rel": "service-desc",
                "href": "/api",
                "type": "application/vnd.oai.openapi+json;version=3.0",
            },
            {"rel": "service-doc", "href": "/api.html", "type": "text/html"},
            {"rel": "status", "href": "/health", "type": "application/json"},
            {
                "rel": "conformance",
                "href": "/conformance",
                "type": "application/json",
            },
            {"rel": "data", "href": "/collections", "type": "application/json"},
        ],
    }


@router.get("/", summary="Landing page / Halaman utama", response_model=None)
async def landing_page(request: Request) -> Response:
    fmt = _format(request)
    data = await run_in_threadpool(_landing_data, _store(request))
    if fmt == "html":
        return templates.TemplateResponse(request, "landing.html", {"d": data})
    return JSONResponse(data)


@router.get("/health", summary="Liveness: the process answers")
async def health() -> dict[str, str]:
    return {"status": "ok", "version": __version__}


@router.get("/ready", summary="Readiness: the store answers", response_model=None)
async def ready(request: Request) -> Response:
    store = _store(request)
    try:
        await run_in_threadpool(store.ping)
    except StoreUnavailable as exc:
        return problem(503, exc.code, "Store unavailable", exc.message)
    return JSONResponse({"status": "ready", "store": store.kind})
