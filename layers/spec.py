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
    #: A tile over budget is rendered again, coarser (see ``coarsen_steps``).
    budget_bytes: int = 500_000
    #: Cache-Control max-age of this layer's tiles; None means the server default.
    cache_seconds: int | None = None
    #: Lines and polygons are simplified (topology preserved) with this tolerance in
    #: pixels at the tile's zoom: detail finer than half a pixel is invisible, only bytes.
    simplify_px: float = 0.5
    #: Below ``detail_zoom``, polygons smaller than this many square pixels are not drawn
    #: as themselves (specks nobody can see or tap): those of one ``cluster_px`` cell and
    #: category value merge into one square of their total area, with ``feature_count``,
    #: so many small zones stay visible at low zoom without thousands of features. They
    #: come back one by one as one zooms in.
    min_area_px: float = 2.0
    #: Below ``detail_zoom``, points become one cluster per grid cell of this many pixels
    #: (and per value of the style's category field), with a ``point_count`` attribute, so
    #: a low-zoom tile of a million points stays small and still shows where they are.
    #: A power of two up to 256, so cells tile the tile exactly.
    cluster_px: int = 16
    #: From this zoom on every feature is in the tile with its attributes (no clustering,
    #: no merging of small polygons; only the sub-pixel simplification).
    detail_zoom: int = 14
    #: How many times a tile over ``budget_bytes`` is rendered again, each time with 4x
    #: the tolerance, minimum area and cluster cell (from ``detail_zoom`` on, the first
    #: retry applies the low-zoom rules as they are). A tile still over budget is served
    #: whole, never cut, with an ``X-Tile-Over-Budget`` header and a logged warning.
    coarsen_steps: int = 3

    def __post_init__(self) -> None:
        if self.cluster_px < 1 or self.cluster_px > 256 or self.cluster_px & (self.cluster_px - 1):
            raise ValueError("cluster_px must be a power of two from 1 to 256")
        if self.simplify_px < 0 or self.min_area_px < 0 or self.budget_bytes <= 0:
            raise ValueError("tile tolerances must be >= 0 and the budget > 0")
        if not 0 <= self.detail_zoom <= 25 or not 0 <= self.coarsen_steps <= 6:
            raise ValueError("detail_zoom must be 0..25 and coarsen_steps 0..6")


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
    #: Bilingual advice shown with a feature of this layer (e.g. a hazard zone at the
    #: citizen's location), keyed by a category value ("high") or, more specific,
    #: "<type>/<value>" ("flood/high"); see advice_for.
    advice: tuple[tuple[str, Bilingual], ...] = ()

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

    def advice_for(self, value: str, kind: str | None = None) -> Bilingual | None:
        """The most specific advice: "<kind>/<value>" first, then "<value>"."""
        table = dict(self.advice)
        return table.get(f"{kind}/{value}") or table.get(value)


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
