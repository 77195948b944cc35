"""A CQL2 AST checked against a layer spec and compiled to a WHERE-clause fragment.

Why here: this is the one place request filters become SQL. Identifiers come only from
the layer spec (whitelisted names, quoted by gis.store.ddl.quote); every literal is a bound
parameter with an explicit CAST, so neither driver has to guess a type and a '%' or a quote
in user text never touches the SQL string. Both dialects get the same semantics:

- Geometry literals are moved to EPSG:4326 lon/lat in Python before binding. Without a
  filter-crs they are CRS84 (lon/lat). With one, coordinates are in that CRS's own axis
  order, as OGC API Features Part 3 says: explicit EPSG:4326
  (http://www.opengis.net/def/crs/EPSG/0/4326) is lat/lon, CRS84 is lon/lat.
- Text ordering (<, >, BETWEEN) uses byte order on both stores (COLLATE "C" on PostGIS),
  so results do not depend on the server's locale.
- Dates are whole UTC days: a date field compared with a TIMESTAMP compares its midnight,
  UTC, never the session time zone.
- S_DWITHIN distances are geodesic metres on WGS 84. PostGIS uses geography; DuckDB
  measures in an azimuthal equidistant projection centred on the literal (exact from the
  centre, within 0.5 % when literal radius + distance <= DWITHIN_MAX_REACH_M, refused as
  CapabilityMissing beyond that).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Literal

import numpy as np
import pyproj
import shapely

from gis.crs import STORAGE_CRS, to_storage_transformer
from gis.errors import CapabilityMissing, InvalidInput
from gis.query.cql2_parse import (
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
)
from gis.store.ddl import quote
from layers.spec import LayerSpec

Dialect = Literal["postgis", "duckdb"]
Kind = Literal["text", "number", "boolean", "date", "datetime", "geometry", "interval"]

#: Largest literal radius + distance for S_DWITHIN on DuckDB (see the module docstring).
DWITHIN_MAX_REACH_M = 1_000_000.0

GEOMETRY_NAMES = ("geometry", "geom")

_FIELD_KINDS: dict[str, Kind] = {
    "text": "text",
    "integer": "number",
    "float": "number",
    "boolean": "boolean",
    "date": "date",
    "datetime": "datetime",
}
#: SQL type of each bound parameter: (PostGIS, DuckDB).
_CASTS = {
    "text": ("text", "VARCHAR"),
    "int": ("bigint", "BIGINT"),
    "float": ("double precision", "DOUBLE"),
    "boolean": ("boolean", "BOOLEAN"),
    "date": ("date", "DATE"),
    "datetime": ("timestamptz", "TIMESTAMPTZ"),
    "timestamp": ("timestamp", "TIMESTAMP"),
}
_SPATIAL_SQL = {
    "s_intersects": "ST_Intersects",
    "s_within": "ST_Within",
    "s_contains": "ST_Contains",
    "s_disjoint": "ST_Disjoint",
    "s_equals": "ST_Equals",
    "s_touches": "ST_Touches",
    "s_overlaps": "ST_Overlaps",
    "s_crosses": "ST_Crosses",
}
# OGC 21-065 table of temporal relations: (left bound, operator, right bound) terms,
# "s"/"e" = start/end of the left (a) or right (b) operand; combined with AND unless noted.
_TEMPORAL_RULES: dict[str, tuple[tuple[str, str, str], ...]] = {
    "t_after": (("as", ">", "be"),),
    "t_before": (("ae", "<", "bs"),),
    "t_contains": (("as", "<", "bs"), ("ae", ">", "be")),
    "t_disjoint": (("ae", "<", "bs"), ("as", ">", "be")),  # OR
    "t_during": (("as", ">", "bs"), ("ae", "<", "be")),
    "t_equals": (("as", "=", "bs"), ("ae", "=", "be")),
    "t_finishedby": (("as", "<", "bs"), ("ae", "=", "be")),
    "t_finishes": (("as", ">", "bs"), ("ae", "=", "be")),
    "t_intersects": (("as", "<=", "be"), ("ae", ">=", "bs")),
    "t_meets": (("ae", "=", "bs"),),
    "t_metby": (("as", "=", "be"),),
    "t_overlappedby": (("as", ">", "bs"), ("as", "<", "be"), ("ae", ">", "be")),
    "t_overlaps": (("as", "<", "bs"), ("ae", ">", "bs"), ("ae", "<", "be")),
    "t_startedby": (("as", "=", "bs"), ("ae", ">", "be")),
    "t_starts": (("as", "=", "bs"), ("ae", "<", "be")),
}
_PY_OPS: dict[str, Callable[[int, int], bool]] = {
    "=": operator.eq,
    "<": operator.lt,
    ">": operator.gt,
    "<=": operator.le,
    ">=": operator.ge,
}
_GEOD = pyproj.Geod(ellps="WGS84")


@dataclass(frozen=True)
class CompiledFilter:
    """A WHERE-clause fragment in the dialect's placeholder style, and its parameters."""

    sql: str
    params: list[object]


def queryables(spec: LayerSpec) -> tuple[str, ...]:
    """The property names a filter on this layer may use."""
    public = tuple(f.name for f in spec.fields if f.public)
    return ("id", *public, "geometry")


def compile_filter(
    ast: Expr, spec: LayerSpec, dialect: Dialect, filter_crs: pyproj.CRS | None = None
) -> CompiledFilter:
    """Check ``ast`` against ``spec`` and compile it; InvalidInput says what is wrong,
    CapabilityMissing what this store cannot do."""
    compiler = _Compiler(spec, dialect, filter_crs)
    return CompiledFilter(compiler.expr(ast), compiler.params)


def validate_filter(ast: Expr, spec: LayerSpec) -> None:
    """Raise InvalidInput unless ``ast`` is a valid filter on ``spec``."""
    compile_filter(ast, spec, "postgis")


@dataclass(frozen=True)
class _Term:
    """An operand resolved against the spec: a column (sql), a literal (value) or
    CASEI(inner). Literals are bound only when emitted, so parameters follow SQL order."""

    kind: Kind
    label: str
    sql: str | None = None
    value: object = None
    inner: _Term | None = None


class _Compiler:
    def __init__(self, spec: LayerSpec, dialect: Dialect, filter_crs: pyproj.CRS | None) -> None:
        self.spec = spec
        self.dialect = dialect
        self.params: list[object] = []
        self.to_lonlat = _lonlat_transform(filter_crs)

    # parameters

    def bind(self, value: object, cast: str) -> str:
        self.params.append(value)
        mark, sql_type = (
            ("%s", _CASTS[cast][0]) if self.dialect == "postgis" else ("?", _CASTS[cast][1])
        )
        return f"CAST({mark} AS {sql_type})"

    def bind_geometry(self, shape: shapely.Geometry) -> str:
        self.params.append(shapely.to_wkb(shape))
        if self.dialect == "postgis":
            return "ST_SetSRID(ST_GeomFromWKB(%s), 4326)"
        return "ST_GeomFromWKB(?)"

    # boolean structure

    def expr(self, node: Expr) -> str:
        if isinstance(node, And | Or):
            joiner = " AND " if isinstance(node, And) else " OR "
            return "(" + joiner.join(self.expr(a) for a in node.args) + ")"
        if isinstance(node, Not):
            return f"(NOT {self.expr(node.arg)})"
        if isinstance(node, Compare):
            return self._compare(node)
        if isinstance(node, Like):
            return self._like(node)
        if isinstance(node, Between):
            return self._group_sql(
                [node.value, node.low, node.high], "BETWEEN", "({} BETWEEN {} AND {})"
            )
        if isinstance(node, In):
            holes = ", ".join("{}" for _ in node.items)
            return self._group_sql([node.value, *node.items], "IN", f"({{}} IN ({holes}))")
        if isinstance(node, IsNull):
            return self._is_null(node)
        if isinstance(node, Spatial):
            return self._spatial(node)
        if isinstance(node, DWithin):
            return self._dwithin(node)
        if isinstance(node, Temporal):
            return self._temporal(node)
        return self._boolean(node)

    def _boolean(self, node: Property | Value) -> str:
        if isinstance(node, Value) and isinstance(node.value, bool):
            return "TRUE" if node.value else "FALSE"
        term = self.term(node)
        if term.kind != "boolean" or term.sql is None:
            raise InvalidInput(f"{term.label} is not a boolean expression")
        return term.sql

    # operands

    def term(self, node: Operand) -> _Term:
        if isinstance(node, Property):
            return self._property(node.name)
        if isinstance(node, Value):
            v = node.value
            kind: Kind = (
                "boolean" if isinstance(v, bool) else "text" if isinstance(v, str) else "number"
            )
            return _Term(kind, f"the value {_short(v)}", value=v)
        if isinstance(node, DateValue):
            return _Term("date", f"DATE('{node.value.isoformat()}')", value=node.value)
        if isinstance(node, TimestampValue):
            return _Term("datetime", f"TIMESTAMP('{node.value.isoformat()}')", value=node.value)
        if isinstance(node, Geometry):
            return _Term("geometry", "a geometry literal", value=node)
        if isinstance(node, Function):
            inner = self.term(node.arg)
            if inner.kind != "text":
                raise InvalidInput(f"CASEI needs text; {inner.label} is {inner.kind}")
            return _Term("text", f"CASEI({inner.label})", inner=inner)
        return _Term("interval", "an INTERVAL")

    def _property(self, name: str) -> _Term:
        fields = {f.name: f for f in self.spec.fields if f.public}
        if name in fields:
            f = fields[name]
            return _Term(_FIELD_KINDS[f.type], f"property {f.name!r}", sql=quote(f.name))
        if name in GEOMETRY_NAMES:
            return _Term("geometry", f"property {name!r}", sql='"geom"')
        if name == "id":
            return _Term("number", "property 'id'", sql='"fid"')
        raise InvalidInput(
            f"unknown property {_short(name)} in the filter; the queryables of layer "
            f"{self.spec.name!r} are: {', '.join(queryables(self.spec))}"
        )

    def emit(self, term: _Term, mode: str) -> str:
        """SQL for a term; ``mode`` is the common type of the comparison it is in."""
        if term.inner is not None:
            return f"lower({self.emit(term.inner, 'text')})"
        if term.sql is not None:
            if term.kind == "date" and mode == "timestamp":
                return f"CAST({term.sql} AS TIMESTAMP)"
            return term.sql
        return self._literal(term.value, mode)

    def _literal(self, value: object, mode: str) -> str:
        if isinstance(value, bool):
            return self.bind(value, "boolean")
        if isinstance(value, int):
            return self.bind(value, "int")
        if isinstance(value, float):
            return self.bind(value, "float")
        if isinstance(value, str):
            return self.bind(value, "text")
        if isinstance(value, datetime):
            if mode == "timestamp":
                return self.bind(value.astimezone(UTC).replace(tzinfo=None), "timestamp")
            return self.bind(value, "datetime")
        if isinstance(value, date):
            if mode == "datetime":
                return self.bind(datetime.combine(value, time(), UTC), "datetime")
            if mode == "timestamp":
                return self.bind(datetime.combine(value, time()), "timestamp")
            return self.bind(value, "date")
        assert isinstance(value, Geometry)
        return self.bind_geometry(self.to_lonlat(value.shape))

    def mode(self, terms: Sequence[_Term], what: str) -> str:
        """The common type of terms compared with one another, or InvalidInput."""
        kinds = {t.kind for t in terms}
        if kinds == {"date", "datetime"}:
            return _temporal_mode(terms)
        if len(kinds) > 1:
            a = terms[0]
            b = next(t for t in terms if t.kind != a.kind)
            raise InvalidInput(
                f"{what}: cannot compare {a.label} ({a.kind}) with {b.label} ({b.kind})"
                + _hint(a, b)
            )
        kind = kinds.pop()
        if kind in ("geometry", "interval"):
            raise InvalidInput(
                f"{what}: {kind}s are compared with the S_* or T_* functions, not {what}"
            )
        return kind

    # comparison predicates

    def _compare(self, node: Compare) -> str:
        return self._group_sql([node.left, node.right], node.op, f"({{}} {node.op} {{}})")

    def _group_sql(self, nodes: Sequence[Operand], what: str, template: str) -> str:
        terms = [self.term(n) for n in nodes]
        mode = self.mode(terms, what)
        collate = (
            ' COLLATE "C"'
            if mode == "text" and self.dialect == "postgis" and what not in ("=", "<>", "IN")
            else ""
        )
        return template.format(*(self.emit(t, mode) + collate for t in terms))

    def _like(self, node: Like) -> str:
        value, pattern = self.term(node.value), self.term(node.pattern)
        for t in (value, pattern):
            if t.kind != "text":
                raise InvalidInput(f"LIKE works on text; {t.label} is {t.kind}")
        literal = pattern.inner.value if pattern.inner is not None else pattern.value
        if isinstance(literal, str):
            _check_like_pattern(literal)
        return f"({self.emit(value, 'text')} LIKE {self.emit(pattern, 'text')} ESCAPE '\\')"

    def _is_null(self, node: IsNull) -> str:
        term = self.term(node.value)
        if term.sql is None:
            raise InvalidInput(f"IS NULL needs a property; {term.label} is a literal")
        return f"({term.sql} IS NULL)"

    # spatial predicates

    def _geometry(self, node: Operand, what: str) -> str:
        term = self.term(node)
        if term.kind != "geometry":
            raise InvalidInput(f"{what} needs geometries; {term.label} is {term.kind}")
        return term.sql if term.sql is not None else self._literal(term.value, "geometry")

    def _spatial(self, node: Spatial) -> str:
        what = node.op.upper()
        left = self._geometry(node.left, what)
        return f"{_SPATIAL_SQL[node.op]}({left}, {self._geometry(node.right, what)})"

    def _dwithin(self, node: DWithin) -> str:
        pair = (node.left, node.right)
        literals = [n for n in pair if isinstance(n, Geometry)]
        others = [n for n in pair if not isinstance(n, Geometry)]
        if len(literals) != 1:
            raise InvalidInput("S_DWITHIN needs the geometry property and one geometry literal")
        column = self._geometry(others[0], "S_DWITHIN")
        shape = self.to_lonlat(literals[0].shape)
        envelope = _search_envelope(shape, node.distance_m)
        parts = []
        if envelope is not None:  # lets the spatial index narrow the rows first
            box = self.bind_geometry(envelope)
            parts.append(
                f"{column} && {box}"
                if self.dialect == "postgis"
                else f"ST_Intersects({column}, {box})"
            )
        parts.append(self._distance_sql(column, shape, node.distance_m))
        return "(" + " AND ".join(parts) + ")"

    def _distance_sql(self, column: str, shape: shapely.Geometry, metres: float) -> str:
        if self.dialect == "postgis":
            lit = self.bind_geometry(shape)
            return (
                f"ST_DWithin({column}::geography, {lit}::geography, {self.bind(metres, 'float')})"
            )
        centre = shapely.centroid(shape)
        reach = _reach_m(shape, centre) + metres
        if reach > DWITHIN_MAX_REACH_M:
            raise CapabilityMissing(
                "S_DWITHIN on the embedded store measures distances accurately only within "
                f"{DWITHIN_MAX_REACH_M / 1000:.0f} km of the literal's centre (literal radius "
                f"+ distance here: {reach / 1000:.0f} km); use a smaller distance or literal, "
                "or the PostGIS store"
            )
        proj = f"+proj=aeqd +lat_0={centre.y!r} +lon_0={centre.x!r} +datum=WGS84 +units=m +no_defs"
        local = shapely.transform(shape, _projector(proj))
        projected = self.bind(proj, "text")
        return (
            f"ST_DWithin(ST_Transform({column}, 'EPSG:4326', {projected}, always_xy := true), "
            f"{self.bind_geometry(local)}, {self.bind(metres, 'float')})"
        )

    # temporal predicates

    def _temporal(self, node: Temporal) -> str:
        what = node.op.upper()
        if node.op == "t_during" and not isinstance(node.right, Interval):
            raise InvalidInput("T_DURING needs an INTERVAL as its second argument")
        a = self._bounds(node.left, what)
        b = self._bounds(node.right, what)
        terms = [t for t in (*a, *b) if t is not None]
        mode = self.mode(terms, what) if terms else "datetime"
        sides = {"as": a[0], "ae": a[1], "bs": b[0], "be": b[1]}
        parts = [
            self._relate(sides[x], x, op, sides[y], y, mode)
            for x, op, y in _TEMPORAL_RULES[node.op]
        ]
        joiner = " OR " if node.op == "t_disjoint" else " AND "
        return "(" + joiner.join(parts) + ")"

    def _bounds(self, node: Operand, what: str) -> tuple[_Term | None, _Term | None]:
        if isinstance(node, Interval):
            start = self._instant(node.start, what) if node.start is not None else None
            end = self._instant(node.end, what) if node.end is not None else None
            return (start, end)
        term = self._instant(node, what)
        return (term, term)

    def _instant(self, node: Operand, what: str) -> _Term:
        term = self.term(node)
        if term.kind not in ("date", "datetime"):
            raise InvalidInput(
                f"{what} needs dates, timestamps or intervals; {term.label} is {term.kind}"
            )
        return term

    def _relate(
        self, a: _Term | None, a_side: str, op: str, b: _Term | None, b_side: str, mode: str
    ) -> str:
        """One bound comparison; an open end ('..') is -inf (start) or +inf (end), which
        makes the comparison a constant: TRUE where the other side is known, else FALSE."""
        if a is not None and b is not None:
            return f"({self.emit(a, mode)} {op} {self.emit(b, mode)})"
        rank_a = 0 if a is not None else (-1 if a_side.endswith("s") else 1)
        rank_b = 0 if b is not None else (-1 if b_side.endswith("s") else 1)
        if not _PY_OPS[op](rank_a, rank_b):
            return "FALSE"
        known = a or b
        return f"({known.sql} IS NOT NULL)" if known is not None and known.sql else "TRUE"


# -- helpers --------------------------------------------------------------------------


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _hint(a: _Term, b: _Term) -> str:
    if {a.kind, b.kind} & {"date", "datetime"} and {a.kind, b.kind} & {"text"}:
        return "; write dates as DATE('2024-01-31') and instants as TIMESTAMP('...Z')"
    return ""


def _temporal_mode(terms: Sequence[_Term]) -> str:
    """Dates mixed with instants: compare as timestamptz when a datetime column is
    involved (date literals become UTC midnight), as UTC timestamps when a date column is
    (so the session time zone never matters)."""
    date_column = any(t.sql is not None and t.kind == "date" for t in terms)
    datetime_column = any(t.sql is not None and t.kind == "datetime" for t in terms)
    if date_column and datetime_column:
        raise InvalidInput("cannot compare a date property with a datetime property")
    return "timestamp" if date_column else "datetime"


def _check_like_pattern(pattern: str) -> None:
    """CQL2 LIKE escapes with a backslash; a trailing lone one is an error in SQL."""
    i = 0
    while i < len(pattern):
        if pattern[i] == "\\":
            if i + 1 == len(pattern):
                raise InvalidInput("LIKE pattern ends with a lone escape character '\\'")
            i += 1
        i += 1


def _lonlat_transform(crs: pyproj.CRS | None) -> Callable[[shapely.Geometry], shapely.Geometry]:
    """Literal geometries from the filter CRS (its own axis order) to EPSG:4326 lon/lat."""
    if crs is None:
        return _checked_lonlat
    swap = bool(crs.axis_info) and crs.axis_info[0].direction.lower() in ("north", "south")
    transformer = to_storage_transformer(crs)

    def apply(shape: shapely.Geometry) -> shapely.Geometry:
        if swap:
            shape = shapely.transform(shape, lambda c: c[:, ::-1])
        if transformer is not None:
            shape = shapely.transform(
                shape, lambda c: np.column_stack(transformer.transform(c[:, 0], c[:, 1]))
            )
        return _checked_lonlat(shape)

    return apply


def _checked_lonlat(shape: shapely.Geometry) -> shapely.Geometry:
    xy = shapely.get_coordinates(shape)
    ok = (
        np.isfinite(xy).all() and (np.abs(xy[:, 0]) <= 180).all() and (np.abs(xy[:, 1]) <= 90).all()
    )
    if not ok:
        raise InvalidInput(
            "a geometry literal lies outside lon/lat range after transformation; check the "
            "coordinates and their axis order against filter-crs (EPSG:4326 is lat/lon, "
            "CRS84 lon/lat)"
        )
    return shape


def _projector(proj: str) -> Callable[[np.ndarray], np.ndarray]:
    transformer = pyproj.Transformer.from_crs(STORAGE_CRS, pyproj.CRS(proj), always_xy=True)
    return lambda c: np.column_stack(transformer.transform(c[:, 0], c[:, 1]))


def _reach_m(shape: shapely.Geometry, centre: shapely.Point) -> float:
    """Largest geodesic distance from ``centre`` to a vertex of ``shape``."""
    xy = shapely.get_coordinates(shape)
    n = len(xy)
    _, _, dist = _GEOD.inv(np.full(n, centre.x), np.full(n, centre.y), xy[:, 0], xy[:, 1])
    return float(np.max(dist))


def _search_envelope(shape: shapely.Geometry, metres: float) -> shapely.Geometry | None:
    """A lon/lat box surely holding everything within ``metres`` of ``shape`` (1 %
    margin over the least metres per degree), or None near the poles and the antimeridian,
    where a box would not help."""
    minx, miny, maxx, maxy = (float(v) for v in shapely.bounds(shape))
    dlat = metres / 110_000.0 * 1.01
    low, high = miny - dlat, maxy + dlat
    if low <= -89.0 or high >= 89.0:
        return None
    dlon = metres / (111_000.0 * math.cos(math.radians(max(abs(low), abs(high))))) * 1.01
    if minx - dlon < -180.0 or maxx + dlon > 180.0:
        return None
    return shapely.box(minx - dlon, low, maxx + dlon, high)
