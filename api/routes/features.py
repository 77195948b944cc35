"""OGC API Features Part 1 (+ Part 2 CRS): conformance, collections, items, item,
queryables. Handlers parse, call gis.query, and return the database's JSON bytes."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response, StreamingResponse
from fastapi.templating import Jinja2Templates

from api.filters import compile_request_filter, parse_filter_params
from api.params import (
    SUPPORTED_CRS,
    crs_uri,
    parse_bbox,
    parse_bool,
    parse_crs,
    parse_datetime,
    parse_int,
    parse_limit,
    parse_properties,
    parse_sortby,
    reject_unknown,
)
from api.svg import preview
from gis.errors import InvalidInput, NotFound
from gis.query import features as fq
from gis.query.sqlparts import Sql
from gis.store import LayerInfo, Store
from layers.registry import LAYERS, get_layer
from layers.spec import LayerSpec

router = APIRouter()
templates = Jinja2Templates(directory=str(Path(__file__).resolve().parents[1] / "templates"))

GEOJSON = "application/geo+json"
#: Encodings streamed row by row from a server-side cursor: a whole layer downloads with
#: flat memory. Without a limit they return every matching feature.
STREAMED = {"geojsonseq": "application/geo+json-seq", "csv": "text/csv; charset=utf-8"}
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables-query-parameters",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
    "http://www.opengis.net/spec/cql2/1.0/conf/advanced-comparison-operators",
    "http://www.opengis.net/spec/cql2/1.0/conf/case-insensitive-comparison",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions-plus",
    "http://www.opengis.net/spec/cql2/1.0/conf/spatial-functions",
    "http://www.opengis.net/spec/cql2/1.0/conf/temporal-functions",
    "http://www.opengis.net/spec/cql2/1.0/conf/property-property",
]
ITEMS_PARAMS = {
    "f",
    "limit",
    "offset",
    "bbox",
    "bbox-crs",
    "datetime",
    "crs",
    "properties",
    "sortby",
    "skipGeometry",
    "filter",
    "filter-lang",
    "filter-crs",
}
_TYPES = {
    "text": "string",
    "integer": "integer",
    "float": "number",
    "boolean": "boolean",
    "date": "string",
    "datetime": "string",
}


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def _format(request: Request, allowed: set[str]) -> str:
    reject_unknown(request.query_params, allowed | {"f"})
    f = request.query_params.get("f")
    if f is None:
        return "html" if "text/html" in request.headers.get("accept", "") else "json"
    if f in ("json", "geojson"):
        return "json"
    if f == "html" or (f in STREAMED and "limit" in allowed):
        return f
    raise InvalidInput(
        f"f must be one of json, html{', geojsonseq, csv' if 'limit' in allowed else ''}; got {f!r}"
    )


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


async def _layer_info(store: Store, name: str) -> LayerInfo | None:
    infos = await run_in_threadpool(store.layers)
    return next((i for i in infos if i.name == name), None)


@router.get("/conformance", summary="Conformance classes")
async def conformance(request: Request) -> Response:
    fmt = _format(request, set())
    body = {"conformsTo": CONFORMANCE}
    if fmt == "html":
        return templates.TemplateResponse(request, "conformance.html", {"d": body})
    return JSONResponse(body)


def _collection(base: str, spec: LayerSpec, info: LayerInfo | None) -> dict[str, Any]:
    href = f"{base}/collections/{spec.name}"
    description = f"{spec.description.id} / {spec.description.en}"
    if info and info.notice:
        description = f"{info.notice.id} / {info.notice.en} — {description}"
    return {
        "id": spec.name,
        "title": f"{spec.title.id} / {spec.title.en}",
        "description": description,
        "itemType": "feature",
        "extent": {
            "spatial": {
                "bbox": [list(info.bbox)] if info and info.bbox else [],
                "crs": SUPPORTED_CRS[0],
            }
        },
        "crs": list(SUPPORTED_CRS),
        "storageCrs": SUPPORTED_CRS[0],
        "synthetic": bool(info and info.notice),
        "links": [
            {"rel": "self", "type": "application/json", "href": href},
            {"rel": "alternate", "type": "text/html", "href": f"{href}?f=html"},
            {"rel": "items", "type": GEOJSON, "href": f"{href}/items"},
            {"rel": "items", "type": "text/html", "href": f"{href}/items?f=html"},
            {
                "rel": "http://www.opengis.net/def/rel/ogc/1.0/queryables",
                "type": "application/schema+json",
                "href": f"{href}/queryables",
            },
        ],
    }


@router.get("/collections", summary="Feature collections / Lapisan data")
async def collections(request: Request) -> Response:
    fmt = _format(request, set())
    infos = {i.name: i for i in await run_in_threadpool(_store(request).layers)}
    base = _base(request)
    body = {
        "collections": [_collection(base, spec, infos.get(n)) for n, spec in LAYERS.items()],
        "links": [
            {"rel": "self", "type": "application/json", "href": f"{base}/collections"},
            {"rel": "alternate", "type": "text/html", "href": f"{base}/collections?f=html"},
        ],
    }
    if fmt == "html":
        return templates.TemplateResponse(request, "collections.html", {"d": body})
    return JSONResponse(body)


@router.get("/collections/{collection_id}", summary="One feature collection")
async def collection(request: Request, collection_id: str) -> Response:
    fmt = _format(request, set())
    spec = get_layer(collection_id)
    info = await _layer_info(_store(request), spec.name)
    body = _collection(_base(request), spec, info)
    if fmt == "html":
        return templates.TemplateResponse(
            request, "collections.html", {"d": {"collections": [body]}}
        )
    return JSONResponse(body)


@router.get("/collections/{collection_id}/queryables", summary="Queryable properties")
async def queryables(request: Request, collection_id: str) -> Response:
    _format(request, set())
    spec = get_layer(collection_id)
    props: dict[str, Any] = {
        "geometry": {"$ref": f"https://geojson.org/schema/{spec.geometry_type}.json"}
    }
    for f in spec.fields:
        if not f.public:
            continue
        prop: dict[str, Any] = {"title": f"{f.title.id} / {f.title.en}", "type": _TYPES[f.type]}
        if f.type in ("date", "datetime"):
            prop["format"] = "date" if f.type == "date" else "date-time"
        if f.enum:
            prop["enum"] = list(f.enum)
        if f.minimum is not None:
            prop["minimum"] = f.minimum
        if f.maximum is not None:
            prop["maximum"] = f.maximum
        props[f.name] = prop
    body = {
        "$schema": "https://json-schema.org/draft/2019-09/schema",
        "$id": f"{_base(request)}/collections/{spec.name}/queryables",
        "type": "object",
        "title": f"{spec.title.id} / {spec.title.en}",
        "properties": props,
        "additionalProperties": False,
    }
    return JSONResponse(body, media_type="application/schema+json")


def _filter(
    request: Request, spec: LayerSpec, dialect: fq.Dialect
) -> tuple[str, tuple[object, ...]] | None:
    """filter / filter-lang / filter-crs (Part 3) compiled to this store's SQL."""
    parsed = parse_filter_params(request.query_params)
    return None if parsed is None else compile_request_filter(parsed, spec, dialect)


def _items_query(request: Request, spec: LayerSpec, dialect: fq.Dialect) -> fq.ItemsQuery:
    q = request.query_params
    return fq.ItemsQuery(
        filter_sql=_filter(request, spec, dialect),
        spec=spec,
        limit=parse_limit(q.get("limit")),
        offset=parse_int(q.get("offset"), "offset", 0, 0),
        envelopes=parse_bbox(q.get("bbox"), q.get("bbox-crs")),
        interval=parse_datetime(q.get("datetime"), spec),
        properties=parse_properties(q.get("properties"), spec),
        sortby=parse_sortby(q.get("sortby"), spec),
        skip_geometry=parse_bool(q.get("skipGeometry"), "skipGeometry"),
        crs=parse_crs(q.get("crs")),
    )


def _etag(request: Request, version: int, fmt: str) -> str:
    """Strong ETag from the layer version and the request: an ingest changes it."""
    key = f"{version}|{request.url.path}|{sorted(request.query_params.multi_items())}|{fmt}"
    return '"' + hashlib.sha256(key.encode()).hexdigest()[:32] + '"'


def _cached(request: Request, etag: str) -> Response | None:
    if etag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers={"ETag": etag})
    return None


def _page_links(
    request: Request, query: fq.ItemsQuery, matched: int | None, returned: int
) -> list[dict[str, str]]:
    url = request.url
    links = [
        {"rel": "self", "type": GEOJSON, "href": str(url)},
        {"rel": "alternate", "type": "text/html", "href": str(url.include_query_params(f="html"))},
        {
            "rel": "collection",
            "type": "application/json",
            "href": f"{_base(request)}/collections/{query.spec.name}",
        },
    ]
    more = returned == query.limit if matched is None else query.offset + returned < matched
    if more:
        nxt = url.include_query_params(offset=query.offset + query.limit, limit=query.limit)
        links.append({"rel": "next", "type": GEOJSON, "href": str(nxt)})
    if query.offset > 0:
        prev = url.include_query_params(
            offset=max(0, query.offset - query.limit), limit=query.limit
        )
        links.append({"rel": "prev", "type": GEOJSON, "href": str(prev)})
    return links


@router.get("/collections/{collection_id}/items", summary="Features of a collection")
async def items(request: Request, collection_id: str) -> Response:
    fmt = _format(request, ITEMS_PARAMS)
    spec = get_layer(collection_id)
    store = _store(request)
    dialect = _dialect(store)
    query = _items_query(request, spec, dialect)
    info: LayerInfo | None = None
    if fmt != "json":
        info = await _layer_info(store, spec.name)
        etag = _etag(request, info.version if info else 0, fmt)
        if (not_modified := _cached(request, etag)) is not None:
            return not_modified
        if fmt in STREAMED:
            return _streamed(request, store, query, fmt, info, etag)
    elif "if-none-match" in request.headers:
        row = await store.afetch_one(*_args(fq.version_sql(spec.name, dialect)))
        etag = _etag(request, row[0] if row else 0, fmt)
        if (not_modified := _cached(request, etag)) is not None:
            return not_modified
    page = await _page(request, store, query)
    version, matched, features, returned = page
    links = _page_links(request, query, matched, returned)
    headers = {
        "ETag": _etag(request, version, fmt),
        "Content-Crs": f"<{crs_uri(query.crs)}>",
        **_cache_headers(request),
    }
    if fmt == "html":
        parsed = json.loads(features)
        data = {
            "spec": spec,
            "map": preview(parsed, spec) if query.crs == fq.OutputCrs() else None,
            "features": parsed,
            "matched": matched,
            "returned": returned,
            "links": links,
            "notice": info.notice if info else None,
        }
        return templates.TemplateResponse(request, "items.html", {"d": data}, headers=headers)
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = (
        b'{"type":"FeatureCollection","features":'
        + features.encode()
        + ("" if matched is None else f',"numberMatched":{matched}').encode()
        + f',"numberReturned":{returned},"timeStamp":"{stamp}",'
        f'"links":{json.dumps(links)}}}'.encode()
    )
    return Response(body, media_type=GEOJSON, headers=headers)


async def _page(
    request: Request, store: Store, query: fq.ItemsQuery
) -> tuple[int, int | None, str, int]:
    """(version, matched or None past the count cap, features JSON, returned) in one
    query; a layer that was never loaded has no table yet and is an empty collection."""
    if not await _loaded(request, store, query.spec.name):
        return 0, 0, "[]", 0
    row = await store.afetch_one(*_args(fq.items_sql(query, _dialect(store))))
    assert row is not None  # an aggregate always answers one row
    matched: int | None = int(row[1] or 0)
    if fq.is_filtered(query) and matched is not None and matched > fq.MATCH_COUNT_CAP:
        matched = None
    return int(row[0] or 0), matched, row[2], int(row[3])


async def _loaded(request: Request, store: Store, name: str) -> bool:
    loaded: set[str] = request.app.state.loaded_layers
    if name not in loaded:
        loaded.update(i.name for i in await run_in_threadpool(store.layers))
    return name in loaded


def _args(sql: Sql) -> tuple[str, list[object]]:
    return sql.text(), sql.params


@router.get("/collections/{collection_id}/items/{feature_id}", summary="One feature")
async def item(request: Request, collection_id: str, feature_id: str) -> Response:
    fmt = _format(request, {"crs", "properties", "skipGeometry"})
    spec = get_layer(collection_id)
    if not feature_id.isdigit() or len(feature_id) > 18:
        raise NotFound(f"no feature {feature_id!r} in {spec.name}")
    q = request.query_params
    query = fq.ItemsQuery(
        spec=spec,
        crs=parse_crs(q.get("crs")),
        properties=parse_properties(q.get("properties"), spec),
        skip_geometry=parse_bool(q.get("skipGeometry"), "skipGeometry"),
    )
    store = _store(request)
    dialect = _dialect(store)
    if "if-none-match" in request.headers:
        vrow = await store.afetch_one(*_args(fq.version_sql(spec.name, dialect)))
        not_modified = _cached(request, _etag(request, vrow[0] if vrow else 0, fmt))
        if not_modified is not None:
            return not_modified
    row = None
    if await _loaded(request, store, spec.name):
        one = fq.item_sql(query, int(feature_id), dialect)
        row = await store.afetch_one(*_args(one))
    if row is None:
        raise NotFound(f"no feature {feature_id!r} in {spec.name}")
    headers = {
        "ETag": _etag(request, int(row[0] or 0), fmt),
        "Content-Crs": f"<{crs_uri(query.crs)}>",
        **_cache_headers(request),
    }
    if fmt == "html":
        info = await _layer_info(store, spec.name)
        feature = [json.loads(row[1])]
        data = {
            "spec": spec,
            "map": preview(feature, spec) if query.crs == fq.OutputCrs() else None,
            "features": feature,
            "matched": 1,
            "returned": 1,
            "links": [],
            "notice": info.notice if info else None,
        }
        return templates.TemplateResponse(request, "items.html", {"d": data}, headers=headers)
    base = f"{_base(request)}/collections/{spec.name}"
    links = json.dumps(
        [
            {"rel": "self", "type": GEOJSON, "href": f"{base}/items/{feature_id}"},
            {"rel": "collection", "type": "application/json", "href": base},
        ]
    )
    body = row[1].encode()[:-1] + f',"links":{links}}}'.encode()
    return Response(body, media_type=GEOJSON, headers=headers)


def _streamed(
    request: Request,
    store: Store,
    query: fq.ItemsQuery,
    fmt: str,
    info: LayerInfo | None,
    etag: str,
) -> Response:
    limit_text = request.query_params.get("limit")
    limit = None if limit_text is None else parse_int(limit_text, "limit", 0, 1)
    dialect = _dialect(store)
    if fmt == "geojsonseq":
        sql = fq.feature_rows_sql(query, dialect, limit)
        body = _geojsonseq(store, sql.text(), sql.params) if info else iter(())
    else:
        sql = fq.table_rows_sql(query, dialect, limit)
        header = ["id", *(f.name for f in query.fields), "wkt"]
        body = _csv(store, sql.text(), sql.params, header) if info else _csv_header(header)
    headers = {"ETag": etag, "Content-Crs": f"<{crs_uri(query.crs)}>", **_cache_headers(request)}
    if fmt == "csv":
        headers["Content-Disposition"] = f'attachment; filename="{query.spec.name}.csv"'
    return StreamingResponse(body, media_type=STREAMED[fmt], headers=headers)


def _geojsonseq(store: Store, sql: str, params: list[object]) -> Iterator[bytes]:
    """RFC 8142: each feature is RS + JSON + LF."""
    for rows in store.stream(sql, params):
        yield b"".join(b"\x1e" + row[0].encode() + b"\n" for row in rows)


def _csv_header(header: list[str]) -> Iterator[bytes]:
    yield (",".join(header) + "\r\n").encode()


def _csv(store: Store, sql: str, params: list[object], header: list[str]) -> Iterator[bytes]:
    yield from _csv_header(header)
    for rows in store.stream(sql, params):
        buf = io.StringIO()
        csv.writer(buf).writerows(rows)
        yield buf.getvalue().encode()


def _dialect(store: Store) -> fq.Dialect:
    return "postgis" if store.kind == "postgis" else "duckdb"


def _cache_headers(request: Request) -> dict[str, str]:
    seconds: int = request.app.state.cache_seconds
    return {"Cache-Control": f"public, max-age={seconds}"}
