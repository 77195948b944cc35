"""The OGC API Features Part 3 filter parameters (filter, filter-lang, filter-crs), parsed
once and compiled per layer: shared by the items and the vector tile routes, so a filter
means the same thing on a feature page and on a tile."""

from __future__ import annotations

from dataclasses import dataclass

import pyproj
from starlette.datastructures import QueryParams

from api.params import parse_crs
from gis.errors import InvalidInput
from gis.query import cql2
from layers.spec import LayerSpec

FILTER_PARAMS = frozenset({"filter", "filter-lang", "filter-crs"})


@dataclass(frozen=True)
class RequestFilter:
    """A parsed filter: its AST, the CRS of its geometries (None: CRS84) and a key that
    tells two requests' filters apart (for ETags and tile caches)."""

    ast: cql2.Expr
    crs: pyproj.CRS | None
    key: str


def parse_filter_params(q: QueryParams) -> RequestFilter | None:
    """filter / filter-lang / filter-crs checked and parsed (400 naming the parameter)."""
    text = q.get("filter")
    if text is None:
        if "filter-lang" in q or "filter-crs" in q:
            raise InvalidInput("filter-lang and filter-crs need a filter")
        return None
    lang = q.get("filter-lang", "cql2-text")
    if lang not in cql2.FILTER_LANGS:
        raise InvalidInput(
            f"filter-lang must be one of {', '.join(cql2.FILTER_LANGS)}, got {lang!r}"
        )
    crs = parse_crs(q.get("filter-crs"), "filter-crs")
    filter_crs = (
        None
        if q.get("filter-crs") is None
        else (
            pyproj.CRS.from_epsg(crs.epsg)
            if crs.epsg != 4326 or crs.lat_lon
            else pyproj.CRS("OGC:CRS84")
        )
    )
    try:
        ast = cql2.parse_filter(text, lang)
    except InvalidInput as exc:
        raise InvalidInput(f"filter: {exc.message}") from None
    return RequestFilter(ast, filter_crs, f"{lang}|{q.get('filter-crs', '')}|{text}")


def compile_request_filter(
    parsed: RequestFilter, spec: LayerSpec, dialect: cql2.Dialect, *, name_layer: bool = False
) -> tuple[str, tuple[object, ...]]:
    """The filter as this store's WHERE fragment for ``spec``; a filter that does not fit
    the layer (unknown property, wrong type) is a 400 naming the parameter (and the layer,
    when a request spans several)."""
    try:
        compiled = cql2.compile_filter(parsed.ast, spec, dialect, parsed.crs)
    except InvalidInput as exc:
        where = f" (layer {spec.name})" if name_layer else ""
        raise InvalidInput(f"filter{where}: {exc.message}") from None
    return compiled.sql, tuple(compiled.params)
