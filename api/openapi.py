"""The OpenAPI 3.0 document (the OGC 'oas30' conformance class means 3.0, while FastAPI
writes 3.1). Built from the layer catalog, so every collection's parameters and
queryables are described; served at /api, with a plain HTML view at /api.html (no CDN)."""

from __future__ import annotations

from typing import Any

from api.params import SUPPORTED_CRS
from gis import __version__
from gis.query.features import DEFAULT_LIMIT, MAX_LIMIT
from layers.registry import LAYERS

OAS_MEDIA = "application/vnd.oai.openapi+json;version=3.0"


def _param(
    name: str, description: str, schema: dict[str, Any], style: str | None = None
) -> dict[str, Any]:
    p: dict[str, Any] = {"name": name, "in": "query", "required": False,
                         "description": description, "schema": schema}  # fmt: skip
    if style:
        p.update({"style": style, "explode": False})
    return p


ITEM_PARAMETERS = [
    _param("f", "Encoding: json (GeoJSON), html, geojsonseq (RFC 8142, streamed; all features "
           "without a limit) or csv (WKT geometry, streamed).",
           {"type": "string", "enum": ["json", "html", "geojsonseq", "csv"]}),
    _param("limit", f"Page size (clamped to {MAX_LIMIT}).",
           {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT}),
    _param("offset", "Features to skip (the next link sets it).",
           {"type": "integer", "minimum": 0, "default": 0}),
    _param("bbox", "minx,miny,maxx,maxy in bbox-crs (CRS84 by default); west > east crosses "
           "the antimeridian.", {"type": "array", "items": {"type": "number"}, "minItems": 4,
                                 "maxItems": 6}, "form"),
    _param("bbox-crs", "CRS of bbox.", {"type": "string", "enum": list(SUPPORTED_CRS)}),
    _param("datetime", "RFC 3339 instant or interval (a/b, ../b, a/..) on the layer's time field.",
           {"type": "string"}),
    _param("crs", "Output CRS.", {"type": "string", "enum": list(SUPPORTED_CRS)}),
    _param("properties", "Comma-separated properties to return.",
           {"type": "array", "items": {"type": "string"}}, "form"),
    _param("sortby", "Comma-separated properties, '-' prefix for descending.",
           {"type": "array", "items": {"type": "string"}}, "form"),
    _param("skipGeometry", "Leave out geometries.", {"type": "boolean", "default": False}),
    _param("filter", "CQL2 filter (OGC API Features Part 3).", {"type": "string"}),
    _param("filter-lang", "Language of filter.",
           {"type": "string", "enum": ["cql2-text", "cql2-json"], "default": "cql2-text"}),
    _param("filter-crs", "CRS of geometry literals in filter.",
           {"type": "string", "enum": list(SUPPORTED_CRS)}),
]  # fmt: skip


def _json(description: str, media: str = "application/json") -> dict[str, Any]:
    return {"description": description, "content": {media: {"schema": {"type": "object"}}}}


PROBLEM = {"description": "Problem (RFC 9457)",
           "content": {"application/problem+json": {"schema": {"type": "object"}}}}  # fmt: skip


def document(base_url: str) -> dict[str, Any]:
    paths: dict[str, Any] = {
        "/": {"get": {"summary": "Landing page", "operationId": "getLandingPage",
                      "responses": {"200": _json("Landing page")}}},
        "/conformance": {"get": {"summary": "Conformance classes", "operationId": "getConformance",
                                 "responses": {"200": _json("Conformance")}}},
        "/collections": {"get": {"summary": "Collections", "operationId": "getCollections",
                                 "responses": {"200": _json("Collections")}}},
        "/health": {"get": {"summary": "Liveness", "responses": {"200": _json("Alive")}}},
        "/ready": {"get": {"summary": "Readiness (store answers)",
                           "responses": {"200": _json("Ready"), "503": PROBLEM}}},
    }  # fmt: skip
    for name, spec in LAYERS.items():
        base = f"/collections/{name}"
        title = f"{spec.title.id} / {spec.title.en}"
        paths[base] = {
            "get": {
                "summary": title,
                "operationId": f"describe_{name}",
                "responses": {"200": _json("Collection"), "404": PROBLEM},
            }
        }
        paths[f"{base}/queryables"] = {
            "get": {
                "summary": f"Queryables of {name}",
                "operationId": f"queryables_{name}",
                "responses": {"200": _json("JSON Schema", "application/schema+json")},
            }
        }
        paths[f"{base}/items"] = {
            "get": {
                "summary": f"Features of {name}",
                "operationId": f"items_{name}",
                "parameters": ITEM_PARAMETERS,
                "responses": {"200": _json("Features", "application/geo+json"), "400": PROBLEM},
            }
        }
        paths[f"{base}/items/{{featureId}}"] = {
            "get": {
                "summary": f"One feature of {name}",
                "operationId": f"item_{name}",
                "parameters": [
                    {
                        "name": "featureId",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "integer"},
                    },
                    *[
                        p
                        for p in ITEM_PARAMETERS
                        if p["name"] in ("f", "crs", "properties", "skipGeometry")
                    ],
                ],
                "responses": {"200": _json("Feature", "application/geo+json"), "404": PROBLEM},
            }
        }
    return {
        "openapi": "3.0.3",
        "info": {"title": "GIS Publik", "version": __version__,
                 "description": "Layanan informasi geospasial publik / public geospatial "
                                "information "
                                "(OGC API Features)."},
        "servers": [{"url": base_url}],
        "paths": paths,
    }  # fmt: skip
