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
