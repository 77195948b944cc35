"""Column definitions derived from a layer spec. The spec's names are whitelisted by
layers.spec.IDENTIFIER, so they are the only identifiers that reach DDL and queries."""

from __future__ import annotations

from typing import Literal

from layers.spec import Field, LayerSpec

Dialect = Literal["postgis", "duckdb"]

_TYPES: dict[str, dict[Dialect, str]] = {
    "text": {"postgis": "TEXT", "duckdb": "VARCHAR"},
    "integer": {"postgis": "INTEGER", "duckdb": "INTEGER"},
    "float": {"postgis": "DOUBLE PRECISION", "duckdb": "DOUBLE"},
    "boolean": {"postgis": "BOOLEAN", "duckdb": "BOOLEAN"},
    "date": {"postgis": "DATE", "duckdb": "DATE"},
    "datetime": {"postgis": "TIMESTAMPTZ", "duckdb": "TIMESTAMPTZ"},
}


def column_type(f: Field, dialect: Dialect) -> str:
    return _TYPES[f.type][dialect]


def attribute_columns(spec: LayerSpec) -> tuple[str, ...]:
    """The columns a writer fills, in order: spec fields then ext_id."""
    return (*spec.field_names, "ext_id")


def quote(name: str) -> str:
    """Quote an identifier that a spec whitelisted (never request data)."""
    if not name.replace("_", "").isalnum() or '"' in name:
        raise ValueError(f"refusing identifier {name!r}")
    return f'"{name}"'


def served_value(f: Field, dialect: Dialect, *, text_dates: bool = False) -> str:
    """A field's column as the service serves it, the same text on both stores: timestamps
    as RFC 3339 in UTC; with ``text_dates``, dates as ISO text on DuckDB (whose MVT encoder
    takes no DATE; PostgreSQL's text output of a date is already ISO)."""
    col = quote(f.name)
    if f.type == "datetime":
        if dialect == "postgis":
            return f"to_char({col} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
        return f"strftime(timezone('UTC', {col}), '%Y-%m-%dT%H:%M:%SZ')"
    if text_dates and f.type == "date" and dialect == "duckdb":
        return f"CAST({col} AS VARCHAR)"
    return col


def mvt_value(f: Field, dialect: Dialect) -> str:
    """A field as a vector-tile attribute (tiles drawn on the fly and tile overviews)."""
    return served_value(f, dialect, text_dates=True)
