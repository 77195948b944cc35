"""OGC API Features Part 3 filtering: CQL2 Text and JSON, checked and compiled to SQL.

The one import for callers (the API's ``filter``, ``filter-lang`` and ``filter-crs``)::

    ast = parse_filter(text, "cql2-text")          # or "cql2-json"; InvalidInput on error
    where = compile_filter(ast, spec, "postgis", filter_crs)  # CompiledFilter(sql, params)

Parsing lives in gis.query.cql2_parse (grammar, AST, limits) and SQL in
gis.query.cql2_sql (spec checks, dialects); this module only joins them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from gis.errors import InvalidInput
from gis.query.cql2_parse import (
    COMPARISON_OPS,
    DISTANCE_UNITS,
    MAX_DEPTH,
    MAX_NODES,
    MAX_TEXT_LENGTH,
    MAX_VERTICES,
    SPATIAL_OPS,
    TEMPORAL_OPS,
    And,
    Between,
    Compare,
    DateValue,
    DWithin,
    Expr,
    Function,
    Geometry,
    In,
    Interval,
    IsNull,
    Like,
    Not,
    Operand,
    Or,
    Property,
    Spatial,
    Temporal,
    TimestampValue,
    Value,
    parse_json,
    parse_text,
)
from gis.query.cql2_sql import (
    DWITHIN_MAX_REACH_M,
    CompiledFilter,
    Dialect,
    compile_filter,
    queryables,
    validate_filter,
)

FilterLang = Literal["cql2-text", "cql2-json"]
FILTER_LANGS: tuple[FilterLang, ...] = ("cql2-text", "cql2-json")

__all__ = [
    "COMPARISON_OPS",
    "DISTANCE_UNITS",
    "DWITHIN_MAX_REACH_M",
    "FILTER_LANGS",
    "MAX_DEPTH",
    "MAX_NODES",
    "MAX_TEXT_LENGTH",
    "MAX_VERTICES",
    "SPATIAL_OPS",
    "TEMPORAL_OPS",
    "And",
    "Between",
    "Compare",
    "CompiledFilter",
    "DWithin",
    "DateValue",
    "Dialect",
    "Expr",
    "FilterLang",
    "Function",
    "Geometry",
    "In",
    "Interval",
    "IsNull",
    "Like",
    "Not",
    "Operand",
    "Or",
    "Property",
    "Spatial",
    "Temporal",
    "TimestampValue",
    "Value",
    "compile_filter",
    "parse_filter",
    "parse_json",
    "parse_text",
    "queryables",
    "validate_filter",
]


def parse_filter(document: str | Mapping[str, Any], lang: str = "cql2-text") -> Expr:
    """Parse a filter in ``lang`` (the OGC ``filter-lang`` values); InvalidInput on error."""
    if lang == "cql2-text":
        if not isinstance(document, str):
            raise InvalidInput("a cql2-text filter must be text")
        return parse_text(document)
    if lang == "cql2-json":
        return parse_json(document)
    raise InvalidInput(f"unknown filter-lang {lang[:40]!r}; use one of {', '.join(FILTER_LANGS)}")
