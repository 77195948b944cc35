"""CQL2 (OGC 21-065) Text and CQL2 JSON parsed into one small immutable AST.

Why our own parser: the subset we serve is small, errors must say where and what in the
user's own text (never a traceback), and every limit below must hold before anything
reaches a database. Both encodings give equal ASTs, so one compiler (gis.query.cql2_sql)
serves both.

Supported: Basic CQL2 (= <> < > <= >=, AND/OR/NOT, IS [NOT] NULL, booleans), Advanced
Comparison ([NOT] LIKE with % _ and the escape \\, [NOT] BETWEEN, [NOT] IN), CASEI,
Property-Property comparisons, Spatial Functions (S_INTERSECTS, S_WITHIN, S_CONTAINS,
S_DISJOINT, S_EQUALS, S_TOUCHES, S_OVERLAPS, S_CROSSES) on WKT, BBOX and GeoJSON
literals, the S_DWITHIN extension (distance in metres, see DWithin) and every Temporal
Function (T_AFTER ... T_STARTS) on DATE, TIMESTAMP and INTERVAL (with '..' open ends).
Keywords are case-insensitive; property names are case-sensitive. Not supported:
ACCENTI, arithmetic, arrays (A_*), custom functions, 3D coordinates.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, is_dataclass
from datetime import UTC, date, datetime
from typing import Any, NoReturn

import shapely

from gis.errors import InvalidInput

#: Longest filter text accepted (characters). Bounds parse work per request.
MAX_TEXT_LENGTH = 20_000
#: Deepest nesting of parentheses, NOT and functions. Keeps recursion far from Python's limit.
MAX_DEPTH = 20
#: Most AST nodes in one filter. Bounds the size of the SQL a request can cause.
MAX_NODES = 500
#: Most vertices over all geometry literals. Bounds the geometry work per row.
MAX_VERTICES = 10_000

COMPARISON_OPS = ("=", "<>", "<", ">", "<=", ">=")
SPATIAL_OPS = frozenset(
    {
        "s_intersects",
        "s_within",
        "s_contains",
        "s_disjoint",
        "s_equals",
        "s_touches",
        "s_overlaps",
        "s_crosses",
    }
)
TEMPORAL_OPS = frozenset(
    {
        "t_after",
        "t_before",
        "t_contains",
        "t_disjoint",
        "t_during",
        "t_equals",
        "t_finishedby",
        "t_finishes",
        "t_intersects",
        "t_meets",
        "t_metby",
        "t_overlappedby",
        "t_overlaps",
        "t_startedby",
        "t_starts",
    }
)
#: S_DWITHIN units and their length in metres.
DISTANCE_UNITS = {"meters": 1.0, "metres": 1.0, "m": 1.0, "kilometers": 1000.0, "km": 1000.0}

_GEOMETRY_TYPES = {
    "point": "Point",
    "linestring": "LineString",
    "polygon": "Polygon",
    "multipoint": "MultiPoint",
    "multilinestring": "MultiLineString",
    "multipolygon": "MultiPolygon",
    "geometrycollection": "GeometryCollection",
}
#: How deep the coordinate arrays of each GeoJSON type nest (Point: [x, y] is 1).
_COORD_LEVELS = {
    "Point": 1,
    "LineString": 2,
    "MultiPoint": 2,
    "Polygon": 3,
    "MultiLineString": 3,
    "MultiPolygon": 4,
}
_INT64 = 2**63


# -- the AST -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Property:
    """A queryable by name; checked against the layer spec only when compiling."""

    name: str


@dataclass(frozen=True, slots=True)
class Value:
    """A string, number or boolean literal."""

    value: str | int | float | bool


@dataclass(frozen=True, slots=True)
class DateValue:
    value: date


@dataclass(frozen=True, slots=True)
class TimestampValue:
    """An instant; always timezone-aware (CQL2 timestamps carry Z or an offset)."""

    value: datetime


Bound = Property | DateValue | TimestampValue | None


@dataclass(frozen=True, slots=True)
class Interval:
    """INTERVAL(start, end); None is an open end ('..')."""

    start: Bound
    end: Bound


@dataclass(frozen=True, slots=True)
class Geometry:
    """A geometry literal in the filter CRS (lon/lat CRS84 unless filter-crs says else)."""

    shape: shapely.Geometry


@dataclass(frozen=True, slots=True)
class Function:
    """CASEI(x): case-insensitive comparison of text."""

    name: str
    arg: Operand


Operand = Property | Value | DateValue | TimestampValue | Interval | Geometry | Function


@dataclass(frozen=True, slots=True)
class Compare:
    op: str  # one of COMPARISON_OPS
    left: Operand
    right: Operand


@dataclass(frozen=True, slots=True)
class Like:
    value: Operand
    pattern: Operand


@dataclass(frozen=True, slots=True)
class Between:
    value: Operand
    low: Operand
    high: Operand


@dataclass(frozen=True, slots=True)
class In:
    value: Operand
    items: tuple[Operand, ...]


@dataclass(frozen=True, slots=True)
class IsNull:
    value: Operand


@dataclass(frozen=True, slots=True)
class Not:
    arg: Expr


@dataclass(frozen=True, slots=True)
class And:
    args: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Or:
    args: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Spatial:
    op: str  # one of SPATIAL_OPS
    left: Operand
    right: Operand


@dataclass(frozen=True, slots=True)
class DWithin:
    """S_DWITHIN(a, b, distance[, units]): an extension (CQL2 does not standardize it).
    The distance is geodesic on the WGS 84 ellipsoid, kept here in metres whatever the
    units the request used."""

    left: Operand
    right: Operand
    distance_m: float


@dataclass(frozen=True, slots=True)
class Temporal:
    op: str  # one of TEMPORAL_OPS
    left: Operand
    right: Operand


#: A boolean expression. A bare Property or boolean Value is a predicate too (is_open).
Expr = (
    (Compare | Like | Between | In | IsNull | Not | And | Or | Spatial | DWithin | Temporal)
    | Property
    | Value
)


def count_nodes(node: object) -> int:
    """AST nodes below and including ``node`` (a geometry literal counts as one)."""
    if isinstance(node, tuple):
        return sum(count_nodes(n) for n in node)
    if not is_dataclass(node) or isinstance(node, Geometry):
        return 1 if isinstance(node, Geometry) else 0
    return 1 + sum(count_nodes(getattr(node, f.name)) for f in fields(node))


def _check_size(ast: Expr) -> Expr:
    n = count_nodes(ast)
    if n > MAX_NODES:
        raise InvalidInput(f"filter has {n} nodes; at most {MAX_NODES} are allowed")
    return ast


# -- shared literal helpers ----------------------------------------------------------

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIMESTAMP = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$"
)


def parse_date(text: str) -> date:
    """A CQL2 date ('2024-01-31'); ValueError with a readable reason otherwise."""
    if not _DATE.match(text):
        raise ValueError(f"{text!r} is not a date (YYYY-MM-DD)")
    return date.fromisoformat(text)


def parse_timestamp(text: str) -> datetime:
    """A CQL2 timestamp with Z or an offset; naive times are refused (ambiguous)."""
    if not _TIMESTAMP.match(text):
        raise ValueError(
            f"{text!r} is not a timestamp (YYYY-MM-DDThh:mm:ss[.fff] with Z or an offset)"
        )
    fraction = re.search(r"\.(\d+)", text)
    if fraction and len(fraction.group(1)) > 6:  # Python keeps microseconds
        text = text.replace(fraction.group(0), fraction.group(0)[:7])
    value = datetime.fromisoformat(text.upper().replace("Z", "+00:00"))
    return value.astimezone(UTC)


def instant_from_string(text: str) -> DateValue | TimestampValue | None:
    """An interval end given as a string: a date, a timestamp or '..' (open)."""
    if text == "..":
        return None
    if _DATE.match(text):
        return DateValue(parse_date(text))
    return TimestampValue(parse_timestamp(text))


def number(text: str) -> int | float:
    """A finite number; integers must fit in 64 bits (they are bound as BIGINT)."""
    if re.fullmatch(r"[+-]?\d+", text):
        value = int(text) if len(text) < 30 else _INT64
        if not -_INT64 <= value < _INT64:
            raise ValueError(f"integer {text[:30]} is out of range")
        return value
    result = float(text)
    if not math.isfinite(result):
        raise ValueError(f"number {text[:30]} is out of range")
    return result


def make_geometry(kind: str, coords: Any) -> shapely.Geometry:
    """A shapely geometry from GeoJSON-style nested coordinates (already checked)."""
    if kind == "Point":
        return shapely.Point(coords)
    if kind == "LineString":
        return shapely.LineString(coords)
    if kind == "Polygon":
        return shapely.Polygon(coords[0], coords[1:])
    if kind == "MultiPoint":
        return shapely.MultiPoint(coords)
    if kind == "MultiLineString":
        return shapely.MultiLineString(coords)
    if kind == "MultiPolygon":
        return shapely.MultiPolygon([(p[0], p[1:]) for p in coords])
    raise ValueError(f"unsupported geometry type {kind}")


def bbox_geometry(values: Sequence[int | float]) -> shapely.Geometry:
    """BBOX(minx, miny, maxx, maxy) as a polygon; 3D boxes are refused."""
    if len(values) != 4:
        raise ValueError("a bbox needs exactly 4 numbers (minx, miny, maxx, maxy)")
    minx, miny, maxx, maxy = (float(v) for v in values)
    if minx > maxx or miny > maxy:
        raise ValueError("a bbox needs minx <= maxx and miny <= maxy")
    return shapely.box(minx, miny, maxx, maxy)


def checked_geometry(make: Any, *args: Any) -> Geometry:
    """Build a geometry literal; shapely's complaints become a ValueError we can place."""
    try:
        shape = make(*args)
    except (ValueError, TypeError, shapely.errors.GEOSException) as exc:
        raise ValueError(f"invalid geometry: {exc}") from None
    if shape.is_empty:
        raise ValueError("empty geometries are not supported")
    if not shape.is_valid:
        raise ValueError(f"invalid geometry: {shapely.is_valid_reason(shape)}")
    return Geometry(shape)


def distance_in_metres(distance: int | float, units: str) -> float:
    factor = DISTANCE_UNITS.get(units.lower())
    if factor is None:
        raise ValueError(f"unknown distance unit {units!r}; use one of {', '.join(DISTANCE_UNITS)}")
    if distance < 0:
        raise ValueError("S_DWITHIN needs a distance >= 0")
    return float(distance) * factor


# -- CQL2 Text ------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""(?P<ws>\s+)
    |(?P<number>[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
    |(?P<string>'(?:[^'\\]|''|\\.)*')
    |(?P<qident>"(?:[^"]|"")*")
    |(?P<ident>[A-Za-z_][A-Za-z0-9_.:]*)
    |(?P<punct><>|<=|>=|[(),=<>])""",
    re.X | re.S,
)
_RESERVED = frozenset({"AND", "OR", "NOT", "LIKE", "BETWEEN", "IN", "IS", "NULL"})


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # number, string, qident, ident, punct, end
    text: str
    pos: int


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            what = "unterminated string" if text[pos] in "'\"" else f"unexpected {text[pos]!r}"
            raise _text_error(pos, what)
        kind = m.lastgroup or ""
        if kind != "ws":
            tokens.append(_Token(kind, m.group(), pos))
        pos = m.end()
    tokens.append(_Token("end", "", len(text)))
    return tokens


def _text_error(pos: int, message: str) -> InvalidInput:
    return InvalidInput(f"filter (cql2-text) at position {pos + 1}: {message}")


def _unquote_string(raw: str) -> str:
    """'O''Brien' and 'O\\'Brien' both mean O'Brien; other backslashes stay (LIKE escapes)."""
    return re.sub(r"''|\\'", "'", raw[1:-1])


def parse_text(text: str) -> Expr:
    """Parse CQL2 Text; InvalidInput says at which character and what was expected."""
    if len(text) > MAX_TEXT_LENGTH:
        raise InvalidInput(
            f"filter is {len(text)} characters long; at most {MAX_TEXT_LENGTH} are allowed"
        )
    if not text.strip():
        raise InvalidInput("filter is empty")
    return _check_size(_TextParser(_tokenize(text)).parse())


class _TextParser:
    """Recursive descent over the token list, one method per grammar rule."""

    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
        self.i = 0
        self.depth = 0
        self.vertices = 0

    # token helpers

    @property
    def tok(self) -> _Token:
        return self.tokens[self.i]

    def _next(self) -> _Token:
        tok = self.tokens[self.i]
        if tok.kind != "end":
            self.i += 1
        return tok

    def _is_kw(self, word: str, offset: int = 0) -> bool:
        tok = self.tokens[min(self.i + offset, len(self.tokens) - 1)]
        return tok.kind == "ident" and tok.text.upper() == word

    def _is_punct(self, text: str, offset: int = 0) -> bool:
        tok = self.tokens[min(self.i + offset, len(self.tokens) - 1)]
        return tok.kind == "punct" and tok.text == text

    def _accept_kw(self, word: str) -> bool:
        if self._is_kw(word):
            self.i += 1
            return True
        return False

    def _accept(self, punct: str) -> bool:
        if self._is_punct(punct):
            self.i += 1
            return True
        return False

    def _expect(self, punct: str) -> None:
        if not self._accept(punct):
            self._fail(f"expected '{punct}'")

    def _expect_kw(self, word: str) -> None:
        if not self._accept_kw(word):
            self._fail(f"expected {word}")

    def _fail(self, expected: str, tok: _Token | None = None) -> NoReturn:
        tok = tok or self.tok
        found = "the end of the filter" if tok.kind == "end" else f"{tok.text[:40]!r}"
        raise _text_error(tok.pos, f"{expected} but found {found}")

    def _enter(self, opener: _Token) -> None:
        """One level deeper, for the parenthesis, NOT or function ``opener``."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _text_error(opener.pos, f"nesting deeper than {MAX_DEPTH} levels")

    # boolean structure

    def parse(self) -> Expr:
        expr = self._or()
        if self.tok.kind != "end":
            self._fail("expected AND, OR or the end of the filter")
        return expr

    def _or(self) -> Expr:
        args = [self._and()]
        while self._accept_kw("OR"):
            args.append(self._and())
        return args[0] if len(args) == 1 else Or(tuple(args))

    def _and(self) -> Expr:
        args = [self._not()]
        while self._accept_kw("AND"):
            args.append(self._not())
        return args[0] if len(args) == 1 else And(tuple(args))

    def _not(self) -> Expr:
        opener = self.tok
        if self._accept_kw("NOT"):
            self._enter(opener)
            arg = self._not()
            self.depth -= 1
            return Not(arg)
        return self._primary()

    def _primary(self) -> Expr:
        opener = self.tok
        if self._accept("("):
            self._enter(opener)
            expr = self._or()
            self._expect(")")
            self.depth -= 1
            return expr
        word = self.tok.text.lower() if self.tok.kind == "ident" else ""
        if self._is_punct("(", 1) and word in SPATIAL_OPS | TEMPORAL_OPS | {"s_dwithin"}:
            return self._function_predicate(word)
        return self._predicate(self._scalar())

    def _function_predicate(self, word: str) -> Expr:
        start = self._next()
        self._expect("(")
        self._enter(start)
        left = self._scalar()
        self._expect(",")
        right = self._scalar()
        node: Expr
        if word == "s_dwithin":
            node = self._dwithin_tail(left, right, start)
        elif word in SPATIAL_OPS:
            node = Spatial(word, left, right)
        else:
            node = Temporal(word, left, right)
        self._expect(")")
        self.depth -= 1
        return node

    def _dwithin_tail(self, left: Operand, right: Operand, start: _Token) -> DWithin:
        self._expect(",")
        tok = self.tok
        if tok.kind != "number":
            self._fail("expected a distance (a number)")
        self._next()
        units = "meters"
        if self._accept(","):
            unit_tok = self._next()
            if unit_tok.kind not in ("ident", "string"):
                self._fail("expected distance units (meters or kilometers)", unit_tok)
            units = _unquote_string(unit_tok.text) if unit_tok.kind == "string" else unit_tok.text
        try:
            return DWithin(left, right, distance_in_metres(number(tok.text), units))
        except ValueError as exc:
            raise _text_error(start.pos, f"S_DWITHIN: {exc}") from None

    def _predicate(self, left: Operand) -> Expr:
        tok = self.tok
        if tok.kind == "punct" and tok.text in COMPARISON_OPS:
            self._next()
            return Compare(tok.text, left, self._scalar())
        if self._accept_kw("IS"):
            negated = self._accept_kw("NOT")
            self._expect_kw("NULL")
            return Not(IsNull(left)) if negated else IsNull(left)
        negated = self._accept_kw("NOT")
        node: Expr
        if self._accept_kw("LIKE"):
            node = Like(left, self._scalar())
        elif self._accept_kw("BETWEEN"):
            low = self._scalar()
            self._expect_kw("AND")
            node = Between(left, low, self._scalar())
        elif self._accept_kw("IN"):
            node = In(left, self._list())
        elif negated:
            self._fail("expected LIKE, BETWEEN or IN after NOT")
        elif isinstance(left, Property) or (
            isinstance(left, Value) and isinstance(left.value, bool)
        ):
            return left  # a boolean property or TRUE/FALSE on its own
        else:
            self._fail("expected a comparison operator, LIKE, BETWEEN, IN or IS")
        return Not(node) if negated else node

    def _list(self) -> tuple[Operand, ...]:
        self._expect("(")
        items = [self._scalar()]
        while self._accept(","):
            items.append(self._scalar())
        self._expect(")")
        return tuple(items)

    # values

    def _scalar(self) -> Operand:
        tok = self.tok
        if tok.kind == "string":
            self._next()
            return Value(_unquote_string(tok.text))
        if tok.kind == "number":
            self._next()
            try:
                return Value(number(tok.text))
            except ValueError as exc:
                raise _text_error(tok.pos, str(exc)) from None
        if tok.kind == "qident":
            self._next()
            return Property(tok.text[1:-1].replace('""', '"'))
        if tok.kind == "ident":
            return self._word(tok)
        self._fail("expected a property name or a value")

    def _word(self, tok: _Token) -> Operand:
        word = tok.text.upper()
        if word in ("TRUE", "FALSE"):
            self._next()
            return Value(word == "TRUE")
        if word in _RESERVED:
            self._fail("expected a property name or a value")
        if not self._is_punct("(", 1):
            self._next()
            return Property(tok.text)
        if word in ("DATE", "TIMESTAMP"):
            return self._instant(word)
        if word == "INTERVAL":
            return self._interval()
        if word == "CASEI":
            self._next()
            self._expect("(")
            self._enter(tok)
            arg = self._scalar()
            self._expect(")")
            self.depth -= 1
            return Function("casei", arg)
        if word.lower() in _GEOMETRY_TYPES or word == "BBOX":
            return self._geometry_literal()
        raise _text_error(tok.pos, f"unknown function {tok.text[:40]!r}")

    def _instant(self, word: str) -> DateValue | TimestampValue:
        tok = self._next()
        self._expect("(")
        arg = self.tok
        if arg.kind != "string":
            self._fail(f"expected a quoted {word.lower()}")
        self._next()
        self._expect(")")
        try:
            text = _unquote_string(arg.text)
            if word == "DATE":
                return DateValue(parse_date(text))
            return TimestampValue(parse_timestamp(text))
        except ValueError as exc:
            raise _text_error(tok.pos, str(exc)) from None

    def _interval(self) -> Interval:
        start_tok = self._next()
        self._expect("(")
        start = self._interval_end()
        self._expect(",")
        end = self._interval_end()
        self._expect(")")
        if _bounds_reversed(start, end):
            raise _text_error(start_tok.pos, "INTERVAL start is after its end")
        return Interval(start, end)

    def _interval_end(self) -> Bound:
        tok = self.tok
        if tok.kind == "string":
            self._next()
            try:
                return instant_from_string(_unquote_string(tok.text))
            except ValueError as exc:
                raise _text_error(tok.pos, str(exc)) from None
        value = self._scalar()
        if isinstance(value, Property | DateValue | TimestampValue):
            return value
        self._fail("expected a date, a timestamp, '..' or a property", tok)

    # geometry literals (WKT and BBOX)

    def _geometry_literal(self) -> Geometry:
        tok = self._next()
        kind = tok.text.upper()
        try:
            if kind == "BBOX":
                return checked_geometry(bbox_geometry, self._numbers())
            name = _GEOMETRY_TYPES[kind.lower()]
            if name == "GeometryCollection":
                return checked_geometry(shapely.GeometryCollection, self._collection())
            return checked_geometry(make_geometry, name, self._wkt_body(name))
        except ValueError as exc:
            raise _text_error(tok.pos, f"{kind}: {exc}") from None

    def _numbers(self) -> list[int | float]:
        self._expect("(")
        values = [self._number()]
        while self._accept(","):
            values.append(self._number())
        self._expect(")")
        return values

    def _number(self) -> int | float:
        tok = self.tok
        if tok.kind != "number":
            self._fail("expected a number")
        self._next()
        return number(tok.text)

    def _collection(self) -> list[shapely.Geometry]:
        opener = self.tok
        self._expect("(")
        self._enter(opener)
        parts = []
        while True:
            tok = self.tok
            if tok.kind != "ident" or tok.text.lower() not in _GEOMETRY_TYPES:
                self._fail("expected a geometry")
            parts.append(self._geometry_literal().shape)
            if not self._accept(","):
                break
        self._expect(")")
        self.depth -= 1
        return parts

    def _wkt_body(self, name: str) -> Any:
        if self.tok.kind == "ident" and self.tok.text.upper() in ("Z", "M", "ZM", "EMPTY"):
            self._fail("expected '(' (3D, measured and empty geometries are not supported)")
        if name == "Point":
            self._expect("(")
            coord = self._coord()
            self._expect(")")
            return coord
        if name == "MultiPoint":
            return self._sequence(self._multipoint_member)
        levels = {"LineString": 0, "Polygon": 1, "MultiLineString": 1, "MultiPolygon": 2}
        return self._nested(levels[name])

    def _nested(self, level: int) -> list[Any]:
        if level == 0:
            return self._sequence(self._coord)
        return self._sequence(lambda: self._nested(level - 1))

    def _multipoint_member(self) -> tuple[float, float]:
        if self._accept("("):
            coord = self._coord()
            self._expect(")")
            return coord
        return self._coord()

    def _sequence(self, item: Any) -> list[Any]:
        self._expect("(")
        items = [item()]
        while self._accept(","):
            items.append(item())
        self._expect(")")
        return items

    def _coord(self) -> tuple[float, float]:
        start = self.tok
        x = self._number()
        y = self._number()
        if self.tok.kind == "number":
            self._fail("expected ',' or ')' (3D coordinates are not supported)")
        self.vertices += 1
        if self.vertices > MAX_VERTICES:
            raise _text_error(
                start.pos, f"geometry literals have more than {MAX_VERTICES} vertices"
            )
        return (float(x), float(y))


def _bounds_reversed(start: Bound, end: Bound) -> bool:
    """True when both ends are literals of the same kind and start > end."""
    if isinstance(start, DateValue) and isinstance(end, DateValue):
        return start.value > end.value
    if isinstance(start, TimestampValue) and isinstance(end, TimestampValue):
        return start.value > end.value
    return False


# -- CQL2 JSON ------------------------------------------------------------------------


def _json_error(path: str, message: str) -> InvalidInput:
    return InvalidInput(f"filter (cql2-json) at {path or '/'}: {message}")


def parse_json(document: str | Mapping[str, Any] | bool) -> Expr:
    """Parse CQL2 JSON given as text or as already-decoded JSON. Errors name the JSON
    Pointer of the offending member (e.g. /args/1/args/0)."""
    if isinstance(document, str):
        if len(document) > MAX_TEXT_LENGTH:
            raise InvalidInput(
                f"filter is {len(document)} characters long; at most {MAX_TEXT_LENGTH} are allowed"
            )
        try:
            document = json.loads(document)
        except RecursionError:
            raise InvalidInput(
                f"filter (cql2-json): nesting deeper than {MAX_DEPTH} levels"
            ) from None
        except ValueError as exc:
            raise InvalidInput(f"filter (cql2-json) is not JSON: {exc}") from None
    return _check_size(_JsonParser().expr(document, "", 0))


class _JsonParser:
    """Walks decoded JSON; ``path`` is the JSON Pointer used in error messages. ``depth``
    counts and/or/not and functions, as parentheses, NOT and functions count in text."""

    def __init__(self) -> None:
        self.vertices = 0

    def expr(self, node: Any, path: str, depth: int) -> Expr:
        if depth > MAX_DEPTH:
            raise _json_error(path, f"nesting deeper than {MAX_DEPTH} levels")
        if isinstance(node, bool):
            return Value(node)
        if isinstance(node, Mapping) and "op" in node:
            return self._op(node, path, depth)
        if isinstance(node, Mapping) and "property" in node:
            return self._property(node, path)
        raise _json_error(path, "expected a boolean expression ({'op': ..., 'args': [...]})")

    def _op(self, node: Mapping[str, Any], path: str, depth: int) -> Expr:
        op = node["op"]
        if not isinstance(op, str):
            raise _json_error(path + "/op", "op must be a string")
        op = op.lower()
        args = node.get("args")
        if not isinstance(args, list):
            raise _json_error(path + "/args", "args must be an array")
        if op in ("and", "or"):
            if len(args) < 2:
                raise _json_error(path + "/args", f"'{op}' needs at least 2 arguments")
            items = tuple(self.expr(a, f"{path}/args/{i}", depth + 1) for i, a in enumerate(args))
            return And(items) if op == "and" else Or(items)
        if op == "not":
            self._arity(args, 1, path, op)
            return Not(self.expr(args[0], path + "/args/0", depth + 1))
        return self._predicate(op, args, path, depth)

    def _predicate(self, op: str, args: list[Any], path: str, depth: int) -> Expr:
        def arg(i: int) -> Operand:
            return self.operand(args[i], f"{path}/args/{i}", depth)

        if op in COMPARISON_OPS:
            self._arity(args, 2, path, op)
            return Compare(op, arg(0), arg(1))
        if op == "like":
            self._arity(args, 2, path, op)
            return Like(arg(0), arg(1))
        if op == "between":
            self._arity(args, 3, path, op)
            return Between(arg(0), arg(1), arg(2))
        if op == "in":
            self._arity(args, 2, path, op)
            if not isinstance(args[1], list) or not args[1]:
                raise _json_error(path + "/args/1", "'in' needs a non-empty array of values")
            items = tuple(
                self.operand(v, f"{path}/args/1/{i}", depth) for i, v in enumerate(args[1])
            )
            return In(arg(0), items)
        if op == "isnull":
            self._arity(args, 1, path, op)
            return IsNull(arg(0))
        if op in SPATIAL_OPS:
            self._arity(args, 2, path, op)
            return Spatial(op, arg(0), arg(1))
        if op in TEMPORAL_OPS:
            self._arity(args, 2, path, op)
            return Temporal(op, arg(0), arg(1))
        if op == "s_dwithin":
            return self._dwithin(args, path, depth)
        raise _json_error(path + "/op", f"unknown op {op[:40]!r}")

    def _dwithin(self, args: list[Any], path: str, depth: int) -> DWithin:
        if len(args) not in (3, 4):
            raise _json_error(path + "/args", "'s_dwithin' needs 3 or 4 arguments")
        distance, units = args[2], args[3] if len(args) == 4 else "meters"
        if isinstance(distance, bool) or not isinstance(distance, int | float):
            raise _json_error(path + "/args/2", "expected a distance (a number)")
        if not isinstance(units, str):
            raise _json_error(path + "/args/3", "expected distance units (a string)")
        try:
            metres = distance_in_metres(distance, units)
        except ValueError as exc:
            raise _json_error(path, f"s_dwithin: {exc}") from None
        left = self.operand(args[0], path + "/args/0", depth)
        return DWithin(left, self.operand(args[1], path + "/args/1", depth), metres)

    @staticmethod
    def _arity(args: list[Any], n: int, path: str, op: str) -> None:
        if len(args) != n:
            raise _json_error(path + "/args", f"'{op}' needs {n} argument{'s' * (n > 1)}")

    def _property(self, node: Mapping[str, Any], path: str) -> Property:
        name = node["property"]
        if not isinstance(name, str) or not name:
            raise _json_error(path + "/property", "property must be a non-empty string")
        return Property(name)

    def operand(self, node: Any, path: str, depth: int) -> Operand:
        if depth > MAX_DEPTH:
            raise _json_error(path, f"nesting deeper than {MAX_DEPTH} levels")
        if isinstance(node, bool | str):
            return Value(node)
        if isinstance(node, int | float):
            try:
                return Value(number(str(node)) if isinstance(node, int) else _finite(node))
            except ValueError as exc:
                raise _json_error(path, str(exc)) from None
        if not isinstance(node, Mapping):
            raise _json_error(path, "expected a property, a value or a geometry")
        return self._object(node, path, depth)

    def _object(self, node: Mapping[str, Any], path: str, depth: int) -> Operand:
        try:
            if "property" in node:
                return self._property(node, path)
            if "date" in node:
                return DateValue(parse_date(_string(node["date"])))
            if "timestamp" in node:
                return TimestampValue(parse_timestamp(_string(node["timestamp"])))
            if "interval" in node:
                return self._interval(node["interval"], path + "/interval")
            if "bbox" in node:
                return checked_geometry(bbox_geometry, _numbers(node["bbox"]))
            if "type" in node:
                return self._geojson(node, path, depth)
        except ValueError as exc:
            raise _json_error(path, str(exc)) from None
        if node.get("op") == "casei":
            args = node.get("args")
            if not isinstance(args, list) or len(args) != 1:
                raise _json_error(path + "/args", "'casei' needs 1 argument")
            return Function("casei", self.operand(args[0], path + "/args/0", depth + 1))
        what = f"unknown function {node['op']!r}" if "op" in node else "unknown object"
        raise _json_error(path, f"{what}; expected a property, value or geometry"[:200])

    def _interval(self, value: Any, path: str) -> Interval:
        if not isinstance(value, list) or len(value) != 2:
            raise _json_error(path, "an interval is an array of 2 instants")
        ends: list[Bound] = []
        for i, item in enumerate(value):
            if isinstance(item, str):
                ends.append(instant_from_string(item))
                continue
            end = self.operand(item, f"{path}/{i}", 0)
            if not isinstance(end, Property | DateValue | TimestampValue):
                raise _json_error(f"{path}/{i}", "expected a date, a timestamp, '..' or property")
            ends.append(end)
        if _bounds_reversed(ends[0], ends[1]):
            raise _json_error(path, "interval start is after its end")
        return Interval(ends[0], ends[1])

    def _geojson(self, node: Mapping[str, Any], path: str, depth: int) -> Geometry:
        kind = node["type"]
        if depth > MAX_DEPTH:
            raise ValueError(f"nesting deeper than {MAX_DEPTH} levels")
        if kind == "GeometryCollection":
            members = node.get("geometries")
            if not isinstance(members, list) or not members:
                raise ValueError("a GeometryCollection needs a non-empty 'geometries' array")
            shapes = [
                self._geojson(_mapping(g), f"{path}/geometries/{i}", depth + 1).shape
                for i, g in enumerate(members)
            ]
            return checked_geometry(shapely.GeometryCollection, shapes)
        if not isinstance(kind, str) or kind not in _COORD_LEVELS:
            raise ValueError(f"unknown geometry type {str(kind)[:40]!r}")
        coords = self._coords(node.get("coordinates"), _COORD_LEVELS[kind])
        return checked_geometry(make_geometry, kind, coords)

    def _coords(self, value: Any, level: int) -> Any:
        """Checked nested coordinate arrays: numbers only, 2D only, the vertex limit."""
        if not isinstance(value, list) or not value:
            raise ValueError("coordinates must be non-empty arrays")
        if level > 1:
            return [self._coords(v, level - 1) for v in value]
        if len(value) != 2 or not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in value
        ):
            raise ValueError("a position must be 2 numbers (3D is not supported)")
        if not all(math.isfinite(v) for v in value):
            raise ValueError("coordinates must be finite numbers")
        self.vertices += 1
        if self.vertices > MAX_VERTICES:
            raise ValueError(f"geometry literals have more than {MAX_VERTICES} vertices")
        return (float(value[0]), float(value[1]))


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError("numbers must be finite")
    return value


def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("expected a string")
    return value


def _numbers(value: Any) -> list[int | float]:
    if not isinstance(value, list) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in value
    ):
        raise ValueError("a bbox is an array of numbers")
    return [_finite(float(v)) for v in value]


def _mapping(value: Any) -> Mapping[str, Any]:
    if not isinstance(value, Mapping) or "type" not in value:
        raise ValueError("expected a GeoJSON geometry object")
    return value
