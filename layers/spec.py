"""Immutable layer specs.

A spec is the one source of truth for a layer: the store derives its DDL from it, the
ingest pipeline validates against it, and the API and maps derive queryables, legends and
styles from it. Adding a layer means adding a spec, never code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

FieldType = Literal["text", "integer", "float", "boolean", "date", "datetime"]
GeometryType = Literal["Point", "MultiLineString", "MultiPolygon"]

#: Identifiers that reach SQL must match this; specs are checked at import time.
IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]{0,40}$")

#: Columns every layer table has besides its spec fields; spec fields may not use them.
RESERVED_COLUMNS = frozenset({"fid", "ext_id", "geom"})


@dataclass(frozen=True)
class Bilingual:
    """A user-facing text in Bahasa Indonesia (id) and English (en)."""

    id: str
    en: str

    def get(self, lang: str) -> str:
        return self.en if lang == "en" else self.id


@dataclass(frozen=True)
class Field:
    """One attribute of a layer, with the rules ingest enforces per feature."""

    name: str
    type: FieldType
    title: Bilingual
    required: bool = False
    enum: tuple[str, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    max_length: int | None = 500
    #: Public fields are served by the API and tiles; private ones never leave the store.
    public: bool = True

    def __post_init__(self) -> None:
        if not IDENTIFIER.match(self.name) or self.name in RESERVED_COLUMNS:
            raise ValueError(f"invalid field name {self.name!r}")
        if self.enum is not None and self.type != "text":
            raise ValueError(f"{self.name}: enums are only for text fields")
        if (self.minimum is not None or self.maximum is not None) and self.type not in (
            "integer",
            "float",
        ):
            raise ValueError(f"{self.name}: ranges are only for numeric fields")


@dataclass(frozen=True)
class Style:
    """Default cartography: one colour, or one colour per value of a category field."""

    color: str
    fill_opacity: float = 0.5
    radius: int = 6
    category_field: str | None = None
    category_colors: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class TileRules:
    """How a layer is drawn in vector tiles: per-zoom generalisation and caching.

    Tolerances are in tile pixels (a 256-px tile; 1 px at zoom z is the tile's width over
    256), so a layer looks the same at every zoom while its tiles stay small."""

    #: A rendered tile of this layer must not exceed this many bytes (on the bench data).
    budget_bytes: int = 500_000
    #: Cache-Control max-age of this layer's tiles; None means the server default.
    cache_seconds: int | None = None


@dataclass(frozen=True)
class LayerSpec:
    """A vector layer: geometry type, typed fields, bilingual metadata, style, zooms."""

    name: str
    geometry_type: GeometryType
    title: Bilingual
    description: Bilingual
    fields: tuple[Field, ...]
    style: Style
    min_zoom: int = 0
    max_zoom: int = 22
    #: The field that holds the feature's time (OGC datetime filter), if any.
    time_field: str | None = None
    tiles: TileRules = field(default_factory=TileRules)
    extra: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        if not IDENTIFIER.match(self.name):
            raise ValueError(f"invalid layer name {self.name!r}")
        names = [f.name for f in self.fields]
        if len(set(names)) != len(names):
            raise ValueError(f"{self.name}: duplicate field names")
        if self.time_field is not None and self.time_field not in names:
            raise ValueError(f"{self.name}: time_field {self.time_field!r} is not a field")
        if self.style.category_field is not None and self.style.category_field not in names:
            raise ValueError(f"{self.name}: style category field is not a field")
        if not 0 <= self.min_zoom <= self.max_zoom <= 24:
            raise ValueError(f"{self.name}: bad zoom range")

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)


RasterKind = Literal["population", "flood_depth", "hazard_index"]


@dataclass(frozen=True)
class RasterSpec:
    """A raster kept as a whole for value-at-point and zonal statistics."""

    name: str
    kind: RasterKind
    title: Bilingual
    unit: str
    #: Values summed over zones (population) or sampled at points (depth).
    aggregation: Literal["sum", "mean"]

    def __post_init__(self) -> None:
        if not IDENTIFIER.match(self.name):
            raise ValueError(f"invalid raster name {self.name!r}")
