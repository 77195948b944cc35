"""A tiny SQL builder: text pieces plus bound values, rendered with the placeholder of the
store's driver ('%s' for psycopg, '?' for DuckDB). Identifiers only ever come from layer
specs (whitelisted names), never from request text."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from gis.store.ddl import quote

Dialect = Literal["postgis", "duckdb"]


@dataclass
class Sql:
    dialect: Dialect
    parts: list[str] = field(default_factory=list)
    params: list[object] = field(default_factory=list)

    @property
    def mark(self) -> str:
        return "%s" if self.dialect == "postgis" else "?"

    def add(self, text: str, *values: object) -> Sql:
        """Append text in which each '{}' is a bound value."""
        if text.count("{}") != len(values):
            raise ValueError("placeholder count mismatch")
        self.parts.append(text.replace("{}", self.mark))
        self.params.extend(values)
        return self

    def ident(self, name: str) -> str:
        return quote(name)

    def text(self) -> str:
        return "".join(self.parts)
