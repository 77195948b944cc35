"""The OpenAPI 3.0 document (the OGC 'oas30' conformance class means 3.0, while FastAPI
writes 3.1). Built from the layer catalog, so every collection's parameters and
queryables are described; served at /api, with a plain HTML view at /api.html (no CDN)."""

from __future__ import annotations

from typing import Any

from api.params import SUPPORTED_CRS
from gis import __version__
from gis.query.features import DEFAULT_LIMIT, MAX_LIMIT
from layers.catalog import FACILITY_TYPES, HAZARD_CLASSES, HAZARD_TYPES
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
    paths.update(citizen_paths())
    paths.update(planner_paths())
    paths.update(tile_paths())
    return {
        "openapi": "3.0.3",
        "info": {"title": "GIS Publik", "version": __version__,
                 "description": "Layanan informasi geospasial publik / public geospatial "
                                "information "
                                "(OGC API Features, OGC API Tiles, vector tiles)."},
        "servers": [{"url": base_url}],
        "paths": paths,
    }  # fmt: skip


def citizen_paths() -> dict[str, Any]:
    """/risk and /facilities/nearest (docs/api.md, "Spatial questions: citizens")."""
    number = {"type": "number"}
    lon = _param("lon", "Longitude, WGS 84 decimal degrees (inside the service extent).", number)
    lat = _param("lat", "Latitude, WGS 84 decimal degrees (inside the service extent).", number)
    risk_params = [
        lon,
        lat,
        _param("address_code", "Admin area code instead of lon/lat (404 if unknown).",
               {"type": "string", "maxLength": 20}),
        _param("radius_m", "Flood reports within this many metres.",
               {"type": "integer", "minimum": 1, "maximum": 10000, "default": 1000}),
        _param("hours", "Flood reports of the last this many hours before at.",
               {"type": "integer", "minimum": 1, "maximum": 720, "default": 24}),
        _param("at", "End of the flood-report window (RFC 3339; default now).",
               {"type": "string", "format": "date-time"}),
    ]  # fmt: skip
    nearest_params = [
        {**lon, "required": True},
        {**lat, "required": True},
        {**_param("type", "Facility type.", {"type": "string", "enum": list(FACILITY_TYPES)}),
         "required": True},
        _param("limit", "How many (1-50).",
               {"type": "integer", "minimum": 1, "maximum": 50, "default": 5}),
        _param("open", "Only open facilities.", {"type": "boolean", "default": False}),
        _param("min_capacity", "Smallest capacity (people).", {"type": "integer", "minimum": 0}),
        _param("exclude_hazard_class", "Leave out facilities inside zones of these classes.",
               {"type": "array", "items": {"type": "string", "enum": list(HAZARD_CLASSES)}},
               "form"),
        _param("hazard_type", "Only zones of this hazard type count for exclude_hazard_class.",
               {"type": "string", "enum": list(HAZARD_TYPES)}),
    ]  # fmt: skip
    return {
        "/risk": {"get": {
            "summary": "Risiko di suatu lokasi / Risk at a place", "operationId": "getRisk",
            "parameters": risk_params,
            "responses": {"200": _json("Hazards, admin areas, rasters, nearest facilities, "
                                       "flood reports"), "400": PROBLEM, "404": PROBLEM}}},
        "/facilities/nearest": {"get": {
            "summary": "Fasilitas terdekat / Nearest facilities",
            "operationId": "getNearestFacilities", "parameters": nearest_params,
            "responses": {"200": _json("Facilities, nearest first, geodesic metres"),
                          "400": PROBLEM}}},
    }  # fmt: skip


def planner_paths() -> dict[str, Any]:
    """/analysis/exposure, /analysis/within, /analysis/summary (docs/api.md, "Spatial
    questions: planners")."""
    from layers.catalog import ADMIN_LEVELS, HAZARD_TYPES

    hazard = {"type": "string", "enum": list(HAZARD_TYPES)}
    level = {"type": "string", "enum": list(ADMIN_LEVELS)}
    area = _param("area_code", "Admin area code (404 when unknown).", {"type": "string"})
    exposure_params = [
        {**_param("hazard_type", "Hazard type.", hazard), "required": True},
        _param(
            "admin_level",
            "Level of the areas reported (default district, or the level of area_code).",
            level,
        ),
        _param(
            "area_code",
            "Only areas at or under this area code (404 when unknown).",
            {"type": "string"},
        ),
        _param("f", "Encoding.", {"type": "string", "enum": ["json", "csv"], "default": "json"}),
    ]
    body_schema = {
        "type": "object",
        "required": ["layers"],
        "properties": {
            "geometry": {
                "type": "object",
                "description": "GeoJSON Polygon or MultiPolygon "
                "(CRS84); at most 10,000 vertices and 10,000 km².",
            },
            "area_code": {"type": "string", "maxLength": 20},
            "layers": {"type": "array", "items": {"type": "string"}, "minItems": 1},
            "limit": {"type": "integer", "minimum": 0, "maximum": 10000, "default": 100},
        },
    }
    return {
        "/analysis/exposure": {"get": {
            "summary": "Keterpaparan per wilayah dan kelas bahaya / Exposure per area and "
                       "hazard class", "operationId": "getExposure",
            "parameters": exposure_params,
            "responses": {"200": {"description": "Facilities by type, shelter capacity and "
                                                 "population per area and class",
                                  "content": {"application/json": {"schema": {"type": "object"}},
                                              "text/csv": {"schema": {"type": "string"}}}},
                          "400": PROBLEM, "404": PROBLEM}}},
        "/analysis/within": {"post": {
            "summary": "Fitur di dalam poligon / Features inside a polygon or area",
            "operationId": "postWithin",
            "requestBody": {"required": True,
                            "content": {"application/json": {"schema": body_schema}}},
            "responses": {"200": _json("Counts and features per layer"), "400": PROBLEM,
                          "404": PROBLEM}}},
        "/analysis/summary": {"get": {
            "summary": "Ringkasan rencana kontinjensi / Contingency-plan summary of an area",
            "operationId": "getAreaSummary",
            "parameters": [{**area, "required": True},
                           _param("hazard_type", "Only this hazard type (default: all).",
                                  hazard)],
            "responses": {"200": _json("Land shares, facilities and population per class"),
                          "400": PROBLEM, "404": PROBLEM}}},
    }  # fmt: skip


def _path_param(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": schema}  # fmt: skip


def tile_paths() -> dict[str, Any]:
    """Vector tiles (docs/tiles.md): XYZ tiles, TileJSON, MapLibre style, the OGC API Tiles
    tile matrix sets and each collection's tilesets and tiles, with the CQL2 filter."""
    filters = [p for p in ITEM_PARAMETERS if p["name"] in ("filter", "filter-lang", "filter-crs")]
    layer_list = _path_param(
        "layers",
        "Comma-separated layer names, 1 to 10, drawn first to last: "
        + ", ".join(LAYERS) + ".",
        {"type": "string", "pattern": "^[a-z][a-z0-9_]*(,[a-z][a-z0-9_]*)*$"},
    )  # fmt: skip
    integer = {"type": "integer", "minimum": 0}
    tms = _path_param(
        "tileMatrixSetId",
        "Tile matrix set.",
        {"type": "string", "enum": ["WebMercatorQuad", "WorldCRS84Quad"]},
    )
    mvt = {
        "description": "Mapbox Vector Tile 2.1 (one MVT layer per requested layer)",
        "content": {
            "application/vnd.mapbox-vector-tile": {"schema": {"type": "string", "format": "binary"}}
        },
    }
    tile_responses = {
        "200": mvt,
        "204": {"description": "No feature in this tile, or outside the layers' zoom range"},
        "304": {"description": "Not modified (If-None-Match)"},
        "400": PROBLEM,
        "404": PROBLEM,
    }
    filter_note = (
        " The optional CQL2 filter keeps only matching features (and clusters of "
        "them); for several layers it must be valid on each."
    )
    paths: dict[str, Any] = {
        "/tiles/{layers}/{z}/{x}/{y}.mvt": {"get": {
            "summary": "Vector tile (XYZ, WebMercatorQuad) / Petak vektor",
            "description": "Generalised per zoom (docs/tiles.md)." + filter_note,
            "operationId": "getXyzTile",
            "parameters": [layer_list, _path_param("z", "Zoom 0-24.", integer),
                           _path_param("x", "Column.", integer),
                           _path_param("y", "Row (from the top).", integer), *filters],
            "responses": tile_responses}},
        "/tiles/{layers}/tilejson.json": {"get": {
            "summary": "TileJSON 3.0.0", "operationId": "getTileJson",
            "parameters": [layer_list], "responses": {"200": _json("TileJSON"),
                                                      "400": PROBLEM, "404": PROBLEM}}},
        "/styles/{layers}/style.json": {"get": {
            "summary": "MapLibre style / Gaya peta MapLibre", "operationId": "getStyle",
            "parameters": [layer_list], "responses": {"200": _json("MapLibre style"),
                                                      "400": PROBLEM, "404": PROBLEM}}},
        "/tileMatrixSets": {"get": {
            "summary": "Tile matrix sets", "operationId": "getTileMatrixSets",
            "responses": {"200": _json("Tile matrix sets")}}},
        "/tileMatrixSets/{tileMatrixSetId}": {"get": {
            "summary": "A tile matrix set definition (OGC 2D TMS 2.0)",
            "operationId": "getTileMatrixSet", "parameters": [tms],
            "responses": {"200": _json("Tile matrix set"), "404": PROBLEM}}},
    }  # fmt: skip
    for name in LAYERS:
        base = f"/collections/{name}/tiles"
        paths[base] = {
            "get": {
                "summary": f"Vector tilesets of {name}",
                "operationId": f"tilesets_{name}",
                "responses": {"200": _json("Tilesets"), "404": PROBLEM},
            }
        }
        paths[f"{base}/{{tileMatrixSetId}}"] = {
            "get": {
                "summary": f"Vector tileset of {name}",
                "operationId": f"tileset_{name}",
                "parameters": [tms],
                "responses": {"200": _json("Tileset"), "404": PROBLEM},
            }
        }
        paths[f"{base}/{{tileMatrixSetId}}/{{tileMatrix}}/{{tileRow}}/{{tileCol}}"] = {"get": {
            "summary": f"Vector tile of {name} (OGC API Tiles)",
            "description": "Generalised per zoom (docs/tiles.md)." + filter_note,
            "operationId": f"tile_{name}",
            "parameters": [tms, _path_param("tileMatrix", "Zoom level.", integer),
                           _path_param("tileRow", "Row.", integer),
                           _path_param("tileCol", "Column.", integer), *filters],
            "responses": tile_responses}}  # fmt: skip
    return paths
