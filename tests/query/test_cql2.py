"""CQL2 filtering: the parser (text and JSON agree, errors say where, limits hold) and the
compiled SQL run against real data in both stores, with identical expected results."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely

from conftest import make_store
from gis.errors import CapabilityMissing, InvalidInput
from gis.ingest.clean import Cleaner, CleanOptions
from gis.ingest.source import Chunk
from gis.query import cql2_parse
from gis.query.cql2 import (
    MAX_DEPTH,
    MAX_NODES,
    MAX_TEXT_LENGTH,
    MAX_VERTICES,
    And,
    Compare,
    DWithin,
    Geometry,
    Interval,
    Not,
    Property,
    Spatial,
    Temporal,
    TimestampValue,
    Value,
    compile_filter,
    parse_filter,
    parse_json,
    parse_text,
    queryables,
    validate_filter,
)
from gis.store.base import IngestRun, Store
from layers import Bilingual, Field, LayerSpec, Style, get_layer

FACILITIES = get_layer("facilities")
FLOOD_POINTS = get_layer("flood_points")
HAZARD_ZONES = get_layer("hazard_zones")
GEOD = pyproj.Geod(ellps="WGS84")

# -- test data: a few rows per layer, with known answers ----------------------------

#: ext_id, name, type, capacity, address, is_open, lon, lat
FACILITY_ROWS = [
    ("F1", "Posko Banjir Sukamaju", "shelter", "300", "Jl. Merdeka 1", "true", 110.400, -6.950),
    ("F2", "RSUD Kota", "hospital", "120", "Jl. Pemuda 2", "true", 110.410, -6.950),
    ("F3", "SD Negeri 1", "school", "80", "Jl. Sekolah", "false", 110.420, -6.960),
    ("F4", "Puskesmas 50% Sehat", "health_center", "", 'O\'Brien "Street"', "", 110.450, -6.990),
    ("F5", "Kantor Polisi_Sektor", "police", "25", "", "true", 110.500, -7.000),
]
#: ext_id, depth_cm, observed_at, status, lon, lat
FLOOD_ROWS = [
    ("P1", "30", "2024-01-10T08:00:00Z", "verified", 110.401, -6.951),
    ("P2", "120", "2024-02-01T00:00:00+07:00", "reported", 110.430, -6.970),  # 01-31 17:00Z
    ("P3", "", "2024-03-15T12:00:00Z", "receded", 110.460, -6.980),
    ("P4", "5", "2023-12-31T23:30:00Z", "rejected", 110.500, -7.000),
]
#: ext_id, hazard_type, hazard_class, valid_from, box (minx, miny, maxx, maxy)
HAZARD_ROWS = [
    ("H1", "flood", "high", "2020-01-01", (110.390, -6.960, 110.415, -6.945)),
    ("H2", "landslide", "medium", "2023-06-15", (110.440, -7.000, 110.470, -6.975)),
    ("H3", "flood", "low", "", (110.405, -6.955, 110.430, -6.940)),
]


def _load(store: Store, spec: LayerSpec, attrs: pd.DataFrame, geoms: list[Any]) -> None:
    options = CleanOptions(source_crs=pyproj.CRS.from_epsg(4326), id_field="kode")
    cleaned = Cleaner(spec, options).clean(Chunk(0, attrs, np.array(geoms, dtype=object)))
    assert cleaned.rejects.empty, cleaned.rejects
    run = IngestRun(
        id=uuid.uuid4().hex,
        layer=spec.name,
        kind="vector",
        mode="replace",
        source_path="test",
        source_sha256="0" * 64,
        source_format="csv",
        source_bytes=1,
        run_by="pytest",
    )
    with store.load(spec, run) as writer:
        writer.write(cleaned.rows, cleaned.geometry)
        run.status = "succeeded"
        writer.commit(run)


def load_sample(store: Store) -> None:
    cols = ["kode", "name", "facility_type", "capacity", "address", "is_open"]
    attrs = pd.DataFrame([r[:6] for r in FACILITY_ROWS], columns=cols)
    _load(store, FACILITIES, attrs, [shapely.Point(r[6], r[7]) for r in FACILITY_ROWS])
    cols = ["kode", "depth_cm", "observed_at", "status"]
    attrs = pd.DataFrame([r[:4] for r in FLOOD_ROWS], columns=cols)
    _load(store, FLOOD_POINTS, attrs, [shapely.Point(r[4], r[5]) for r in FLOOD_ROWS])
    cols = ["kode", "hazard_type", "hazard_class", "valid_from"]
    attrs = pd.DataFrame([r[:4] for r in HAZARD_ROWS], columns=cols)
    _load(store, HAZARD_ZONES, attrs, [shapely.box(*r[4]) for r in HAZARD_ROWS])


@pytest.fixture(
    scope="module", params=["embedded", pytest.param("postgis", marks=pytest.mark.postgis)]
)
def loaded(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Store]:
    """One store of each kind (conftest.make_store) with the sample rows, shared by the
    module: the rows are only read, and loading them per test would dominate run time."""
    store = make_store(str(request.param), tmp_path_factory.mktemp("cql2"), request)
    try:
        load_sample(store)
        yield store
    finally:
        store.close()


def run_sql(store: Store, layer: str, where: str, params: list[object], column: str) -> list:
    # The layer name is a test constant; the WHERE fragment is what is under test.
    query = f'SELECT {column} FROM "{layer}" WHERE {where} ORDER BY {column}'
    if store.kind == "postgis":
        with store.pool.connection() as conn:  # type: ignore[attr-defined]
            return [r[0] for r in conn.execute(query, params).fetchall()]
    cur = store._db.cursor()  # type: ignore[attr-defined]
    try:
        return [r[0] for r in cur.execute(query, params).fetchall()]
    finally:
        cur.close()


def select(
    store: Store,
    layer: str,
    document: str | dict[str, Any],
    filter_crs: pyproj.CRS | None = None,
    column: str = "ext_id",
) -> list:
    """The ext_ids (or another column) of the rows a filter selects, via compile_filter."""
    lang = "cql2-text" if isinstance(document, str) else "cql2-json"
    ast = parse_filter(document, lang)
    dialect = "postgis" if store.kind == "postgis" else "duckdb"
    compiled = compile_filter(ast, get_layer(layer), dialect, filter_crs)
    assert compiled.sql.count("%s" if dialect == "postgis" else "?") == len(compiled.params)
    return run_sql(store, layer, compiled.sql, compiled.params, column)


# -- parser: text and JSON give the same AST -----------------------------------------

P = {"property": "capacity"}
POLY = "POLYGON((110.39 -6.96, 110.42 -6.96, 110.42 -6.94, 110.39 -6.94, 110.39 -6.96))"
POLY_JSON = {
    "type": "Polygon",
    "coordinates": [
        [[110.39, -6.96], [110.42, -6.96], [110.42, -6.94], [110.39, -6.94], [110.39, -6.96]]
    ],
}
EQUIVALENT: list[tuple[str, Any]] = [
    ("capacity = 10", {"op": "=", "args": [P, 10]}),
    ("capacity <> 10.5", {"op": "<>", "args": [P, 10.5]}),
    ("capacity < -3", {"op": "<", "args": [P, -3]}),
    ("capacity >= 1e3", {"op": ">=", "args": [P, 1000.0]}),
    ("name = 'O''Brien'", {"op": "=", "args": [{"property": "name"}, "O'Brien"]}),
    ("\"name\" <= 'x'", {"op": "<=", "args": [{"property": "name"}, "x"]}),
    ("capacity > id", {"op": ">", "args": [P, {"property": "id"}]}),
    ("is_open = TRUE", {"op": "=", "args": [{"property": "is_open"}, True]}),
    ("is_open", {"property": "is_open"}),
    ("false", False),
    (
        "a = 1 and b = 2 AND c = 3",
        {
            "op": "and",
            "args": [
                {"op": "=", "args": [{"property": x}, i]} for x, i in (("a", 1), ("b", 2), ("c", 3))
            ],
        },
    ),
    (
        "a = 1 OR NOT b = 2",
        {
            "op": "or",
            "args": [
                {"op": "=", "args": [{"property": "a"}, 1]},
                {"op": "not", "args": [{"op": "=", "args": [{"property": "b"}, 2]}]},
            ],
        },
    ),
    ("name LIKE 'P%'", {"op": "like", "args": [{"property": "name"}, "P%"]}),
    (
        "name NOT LIKE 'a\\%'",
        {"op": "not", "args": [{"op": "like", "args": [{"property": "name"}, "a\\%"]}]},
    ),
    (
        "CASEI(name) LIKE casei('rs%')",
        {
            "op": "like",
            "args": [
                {"op": "casei", "args": [{"property": "name"}]},
                {"op": "casei", "args": ["rs%"]},
            ],
        },
    ),
    ("capacity IN (1, 2, 3)", {"op": "in", "args": [P, [1, 2, 3]]}),
    ("capacity NOT IN (1)", {"op": "not", "args": [{"op": "in", "args": [P, [1]]}]}),
    ("capacity BETWEEN 1 AND 5", {"op": "between", "args": [P, 1, 5]}),
    ("capacity IS NULL", {"op": "isNull", "args": [P]}),
    ("capacity IS NOT NULL", {"op": "not", "args": [{"op": "isNull", "args": [P]}]}),
    (
        f"S_INTERSECTS(geom, {POLY})",
        {"op": "s_intersects", "args": [{"property": "geom"}, POLY_JSON]},
    ),
    (
        "s_within(geometry, BBOX(110, -7, 111, -6))",
        {"op": "s_within", "args": [{"property": "geometry"}, {"bbox": [110, -7, 111, -6]}]},
    ),
    (
        "S_CONTAINS(geom, MULTIPOINT((110.4 -6.95), 110.5 -7))",
        {
            "op": "s_contains",
            "args": [
                {"property": "geom"},
                {"type": "MultiPoint", "coordinates": [[110.4, -6.95], [110.5, -7]]},
            ],
        },
    ),
    (
        "S_CROSSES(geom, LINESTRING(110 -7, 111 -6))",
        {
            "op": "s_crosses",
            "args": [
                {"property": "geom"},
                {"type": "LineString", "coordinates": [[110, -7], [111, -6]]},
            ],
        },
    ),
    (
        "S_DWITHIN(geom, POINT(110.4 -6.95), 1.5, kilometers)",
        {
            "op": "s_dwithin",
            "args": [
                {"property": "geom"},
                {"type": "Point", "coordinates": [110.4, -6.95]},
                1500,
                "meters",
            ],
        },
    ),
    (
        "T_DURING(observed_at, INTERVAL('2024-01-01', '..'))",
        {
            "op": "t_during",
            "args": [{"property": "observed_at"}, {"interval": ["2024-01-01", ".."]}],
        },
    ),
    (
        "t_intersects(observed_at, INTERVAL(DATE('2024-01-01'), '2024-02-01T00:00:00Z'))",
        {
            "op": "t_intersects",
            "args": [
                {"property": "observed_at"},
                {"interval": [{"date": "2024-01-01"}, {"timestamp": "2024-02-01T00:00:00Z"}]},
            ],
        },
    ),
    (
        "T_BEFORE(observed_at, TIMESTAMP('2024-01-01T07:00:00+07:00'))",
        {
            "op": "t_before",
            "args": [{"property": "observed_at"}, {"timestamp": "2024-01-01T00:00:00Z"}],
        },
    ),
]


@pytest.mark.parametrize(("text", "document"), EQUIVALENT, ids=[t for t, _ in EQUIVALENT])
def test_text_and_json_give_the_same_ast(text: str, document: Any) -> None:
    from_text = parse_text(text)
    assert from_text == parse_json(document)
    assert from_text == parse_json(json.dumps(document))  # JSON given as text, too


def test_ast_shape_and_precedence() -> None:
    ast = parse_text("a = 1 OR b = 2 AND NOT (c = 3 OR d = 4)")
    assert ast == parse_text("a = 1 OR (b = 2 AND (NOT (c = 3 OR d = 4)))")
    between = parse_text("x BETWEEN 1 AND 2 AND y = 3")
    assert isinstance(between, And) and len(between.args) == 2
    during = parse_text("T_DURING(t, INTERVAL('..', '..'))")
    assert isinstance(during, Temporal) and during.right == Interval(None, None)
    stamp = parse_text("t = TIMESTAMP('2024-01-01T07:00:00+07:00')")
    assert isinstance(stamp, Compare) and isinstance(stamp.right, TimestampValue)
    assert stamp.right.value.isoformat() == "2024-01-01T00:00:00+00:00"
    dwithin = parse_text("S_DWITHIN(geom, POINT(1 2), 250)")
    assert isinstance(dwithin, DWithin) and dwithin.distance_m == 250.0  # metres by default
    assert parse_text("NOT x") == Not(Property("x"))
    assert parse_text("is_open = fAlSe") == Compare("=", Property("is_open"), Value(False))
    gc = parse_text("S_INTERSECTS(geom, GEOMETRYCOLLECTION(POINT(1 2), LINESTRING(0 0, 1 1)))")
    assert isinstance(gc, Spatial) and isinstance(gc.right, Geometry)
    assert gc.right.shape.geom_type == "GeometryCollection"


@pytest.mark.parametrize(
    ("text", "position", "words"),
    [
        ("capacity > > 3", 12, "expected a property name or a value"),
        ("capacity = 3 capacity", 14, "expected AND, OR"),
        ("name LIKE", 10, "the end of the filter"),
        ("name = 'abc", 8, "unterminated string"),
        ("S_INTERSECTS(geom, POINT(1))", 27, "expected a number"),
        ("S_INTERSECTS(geom, POINT(1 2 3))", 30, "3D"),
        ("S_INTERSECTS(geom, POLYGON((0 0, 1 0, 0 0)))", 20, "POLYGON: invalid geometry"),
        ("t = DATE('2024-02-30')", 5, "day is out of range"),
        ("t = TIMESTAMP('2024-01-01T00:00:00')", 5, "with Z or an offset"),
        ("T_DURING(t, INTERVAL('2024-02-01', '2024-01-01'))", 13, "start is after"),
        ("x = FOO(1)", 5, "unknown function"),
        ("x NOT = 1", 7, "expected LIKE, BETWEEN or IN after NOT"),
        ("x = 1 AND", 10, "expected a property name or a value"),
        ("x ! 1", 3, "unexpected '!'"),
        ("S_DWITHIN(geom, POINT(1 2), 5, miles)", 1, "unknown distance unit"),
        ("x = 99999999999999999999", 5, "out of range"),
        ("x = 1", None, None),
    ],
)
def test_text_errors_say_where(text: str, position: int | None, words: str | None) -> None:
    if position is None:
        parse_text(text)
        return
    with pytest.raises(InvalidInput) as err:
        parse_text(text)
    assert f"at position {position}:" in err.value.message
    assert words is not None and words in err.value.message


@pytest.mark.parametrize(
    ("document", "path", "words"),
    [
        ({"op": "and", "args": [{"op": "=", "args": [P, 1]}]}, "/args", "at least 2"),
        (
            {"op": "and", "args": [{"op": "=", "args": [P, 1]}, {"op": "?", "args": []}]},
            "/args/1/op",
            "unknown op",
        ),
        ({"op": "=", "args": [P]}, "/args", "needs 2 arguments"),
        ({"op": "in", "args": [P, 3]}, "/args/1", "non-empty array"),
        ({"op": "=", "args": [P, None]}, "/args/1", "expected a property, a value"),
        ({"op": "=", "args": [P, {"date": "2024-1-1"}]}, "/args/1", "is not a date"),
        (
            {
                "op": "s_intersects",
                "args": [{"property": "geom"}, {"type": "Point", "coordinates": [1, 2, 3]}],
            },
            "/args/1",
            "3D",
        ),
        (
            {"op": "s_intersects", "args": [{"property": "geom"}, {"bbox": [1, 2, 3]}]},
            "/args/1",
            "4 numbers",
        ),
        (
            {"op": "t_after", "args": [{"property": "t"}, {"interval": ["x", ".."]}]},
            "/args/1",
            "not a timestamp",
        ),
        ({"op": "s_dwithin", "args": [{"property": "geom"}, POLY_JSON, -1]}, "/", "distance >= 0"),
        ({"args": []}, "/", "expected a boolean expression"),
        ("[1, 2", "", "is not JSON"),
    ],
)
def test_json_errors_name_the_member(document: Any, path: str, words: str) -> None:
    with pytest.raises(InvalidInput) as err:
        parse_json(document)
    if path:
        assert f"at {path}:" in err.value.message
    assert words in err.value.message


def test_every_prefix_fails_cleanly() -> None:
    """Truncated filters (every prefix of every battery entry) parse or raise InvalidInput,
    and what parses compiles or raises InvalidInput: never another exception."""
    outcomes = {"parsed": 0, "refused": 0}
    for text, _ in EQUIVALENT:
        for end in range(len(text) + 1):
            try:
                ast = parse_text(text[:end])
                outcomes["parsed"] += 1
                compile_filter(ast, FLOOD_POINTS, "duckdb")
            except InvalidInput:
                outcomes["refused"] += 1
    assert outcomes["parsed"] > len(EQUIVALENT) and outcomes["refused"] > 500


def test_limit_text_length() -> None:
    ok = "name = '" + "x" * (MAX_TEXT_LENGTH - 9) + "'"
    assert len(ok) == MAX_TEXT_LENGTH
    parse_text(ok)
    with pytest.raises(InvalidInput, match="characters long"):
        parse_text(ok + " ")
    with pytest.raises(InvalidInput, match="characters long"):
        parse_json(json.dumps({"op": "=", "args": [P, "x" * MAX_TEXT_LENGTH]}))


def test_limit_depth() -> None:
    def nested(n: int) -> str:
        return "(" * n + "x = 1" + ")" * n

    parse_text(nested(MAX_DEPTH))
    with pytest.raises(InvalidInput, match=f"at position {MAX_DEPTH + 1}: nesting deeper"):
        parse_text(nested(MAX_DEPTH + 1))
    with pytest.raises(InvalidInput, match="nesting deeper"):
        parse_text("NOT " * (MAX_DEPTH + 1) + "x")
    doc: Any = {"op": "=", "args": [P, 1]}
    for _ in range(MAX_DEPTH):
        doc = {"op": "not", "args": [doc]}
    parse_json(doc)
    with pytest.raises(InvalidInput, match="nesting deeper"):
        parse_json({"op": "not", "args": [doc]})
    with pytest.raises(
        InvalidInput, match="nesting deeper"
    ):  # deep enough for json.loads to give up
        parse_json('{"op": "not", "args": [' * 700 + "true" + "]}" * 700)


def test_limit_nodes() -> None:
    # x IN (n items) has 1 (In) + 1 (x) + n (values) nodes
    parse_text("x IN (" + ", ".join(["1"] * (MAX_NODES - 2)) + ")")
    with pytest.raises(InvalidInput, match=f"at most {MAX_NODES}"):
        parse_text("x IN (" + ", ".join(["1"] * (MAX_NODES - 1)) + ")")
    with pytest.raises(InvalidInput, match=f"at most {MAX_NODES}"):
        parse_json({"op": "in", "args": [P, list(range(MAX_NODES))]})


def test_limit_vertices(monkeypatch: pytest.MonkeyPatch) -> None:
    def line(n: int) -> dict[str, Any]:
        coords = [[110 + i * 1e-4, -7.0] for i in range(n)]
        geom = {"type": "LineString", "coordinates": coords}
        return {"op": "s_intersects", "args": [{"property": "geom"}, geom]}

    parse_json(line(MAX_VERTICES))
    with pytest.raises(InvalidInput, match=f"more than {MAX_VERTICES} vertices"):
        parse_json(line(MAX_VERTICES + 1))
    # Filter text is capped before the real vertex limit could be reached: use a small one.
    monkeypatch.setattr(cql2_parse, "MAX_VERTICES", 3)
    parse_text("S_INTERSECTS(geom, LINESTRING(0 0, 1 1, 2 2))")
    with pytest.raises(InvalidInput, match="at position 46: geometry literals have more than 3"):
        parse_text("S_INTERSECTS(geom, LINESTRING(0 0, 1 1, 2 2, 3 3))")


# -- validation against the layer spec (no database) ---------------------------------


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("nama = 'x'", "unknown property 'nama'"),
        ("capacity = '10'", "cannot compare property 'capacity' (number) with the value '10'"),
        ("capacity LIKE '1%'", "LIKE works on text"),
        ("name = 3", "cannot compare"),
        ("is_open = 1", "cannot compare"),
        ("S_INTERSECTS(name, POINT(110 -7))", "S_INTERSECTS needs geometries"),
        ("geom = POINT(110 -7)", "compared with the S_* or T_* functions"),
        ("T_AFTER(capacity, DATE('2024-01-01'))", "T_AFTER needs dates"),
        ("CASEI(capacity) = 'x'", "CASEI needs text"),
        ("capacity", "not a boolean expression"),
        ("'x' IS NULL", "IS NULL needs a property"),
        ("S_DWITHIN(geom, geom, 10)", "one geometry literal"),
        ("S_INTERSECTS(geom, POINT(-6.95 110.4))", "outside lon/lat range"),
    ],
)
def test_validation_errors(text: str, words: str) -> None:
    with pytest.raises(InvalidInput) as err:
        validate_filter(parse_text(text), FACILITIES)
    assert words in err.value.message


def test_like_pattern_with_a_lone_escape() -> None:
    # In CQL2 text \' is an escaped quote, so 'abc\' never ends; in JSON it can.
    with pytest.raises(InvalidInput, match="unterminated string"):
        parse_text("name LIKE 'abc\\'")
    ast = parse_json({"op": "like", "args": [{"property": "name"}, "abc\\"]})
    with pytest.raises(InvalidInput, match="lone escape"):
        validate_filter(ast, FACILITIES)
    validate_filter(parse_text("name LIKE 'abc\\\\'"), FACILITIES)  # escaped backslash


def test_unknown_property_lists_the_queryables() -> None:
    with pytest.raises(InvalidInput) as err:
        validate_filter(parse_text("kapasitas > 3"), FACILITIES)
    assert "id, name, facility_type, capacity, address, is_open, contact, source, geometry" in (
        err.value.message
    )
    assert queryables(FACILITIES)[0] == "id"


def test_private_fields_are_not_queryable() -> None:
    spec = LayerSpec(
        name="secret_layer",
        geometry_type="Point",
        title=Bilingual("x", "x"),
        description=Bilingual("x", "x"),
        fields=(
            Field("label", "text", Bilingual("x", "x")),
            Field("reporter_phone", "text", Bilingual("x", "x"), public=False),
        ),
        style=Style(color="#000000"),
    )
    validate_filter(parse_text("label = 'a'"), spec)
    with pytest.raises(InvalidInput, match="unknown property 'reporter_phone'"):
        validate_filter(parse_text("reporter_phone LIKE '08%'"), spec)


def test_mixing_date_and_datetime_properties_is_refused() -> None:
    spec = LayerSpec(
        name="timed",
        geometry_type="Point",
        title=Bilingual("x", "x"),
        description=Bilingual("x", "x"),
        fields=(
            Field("day", "date", Bilingual("x", "x")),
            Field("at", "datetime", Bilingual("x", "x")),
        ),
        style=Style(color="#000000"),
    )
    with pytest.raises(InvalidInput, match="date property with a datetime property"):
        validate_filter(parse_text("day < at"), spec)


def test_literals_are_parameters_never_sql_text() -> None:
    hostile = "x'); DROP TABLE facilities; -- 100%"
    ast = parse_json({"op": "=", "args": [{"property": "name"}, hostile]})
    for dialect, mark in (("postgis", "%s"), ("duckdb", "?")):
        compiled = compile_filter(ast, FACILITIES, dialect, None)  # type: ignore[arg-type]
        assert compiled.sql == f'("name" = CAST({mark} AS {"text" if mark == "%s" else "VARCHAR"}))'
        assert compiled.params == [hostile]


def test_geometry_literal_is_bound_as_wkb() -> None:
    ast = parse_text("S_INTERSECTS(geom, POINT(110.4 -6.95))")
    pg = compile_filter(ast, FACILITIES, "postgis")
    assert pg.sql == 'ST_Intersects("geom", ST_SetSRID(ST_GeomFromWKB(%s), 4326))'
    assert shapely.from_wkb(pg.params[0]).equals(shapely.Point(110.4, -6.95))
    duck = compile_filter(ast, FACILITIES, "duckdb")
    assert duck.sql == 'ST_Intersects("geom", ST_GeomFromWKB(?))'


def test_dwithin_beyond_duckdb_accuracy_is_a_capability_error() -> None:
    ast = parse_text("S_DWITHIN(geom, POINT(110.4 -6.95), 1200, km)")
    compile_filter(ast, FACILITIES, "postgis")
    with pytest.raises(CapabilityMissing, match="PostGIS"):
        compile_filter(ast, FACILITIES, "duckdb")


# -- execution against both stores ---------------------------------------------------

COMPARISONS = [
    ("capacity > 100", ["F1", "F2"]),
    ("capacity <> 120", ["F1", "F3", "F5"]),  # F4's NULL capacity matches nothing
    ("capacity <= 80.0", ["F3", "F5"]),
    ("name = 'RSUD Kota'", ["F2"]),
    ("name = 'Puskesmas 50% Sehat'", ["F4"]),
    ("address = 'O''Brien \"Street\"'", ["F4"]),
    ("name < 'Q'", ["F1", "F4", "F5"]),
    ("name >= 'a'", []),  # byte order on both stores, whatever the server's locale
    ("is_open = FALSE", ["F3"]),
    ("is_open", ["F1", "F2", "F5"]),
    ("NOT is_open", ["F3"]),
    ("capacity > id", ["F1", "F2", "F3", "F5"]),
    ("name <> address", ["F1", "F2", "F3", "F4"]),
    ("name LIKE 'P%'", ["F1", "F4"]),
    ("name LIKE '%50\\%%'", ["F4"]),
    ("name LIKE '%0%'", ["F4"]),
    ("name LIKE 'Kantor Polisi\\_%'", ["F5"]),
    ("name LIKE 'SD Negeri _'", ["F3"]),
    ("name LIKE 'p%'", []),  # LIKE is case-sensitive
    ("CASEI(name) LIKE CASEI('rsud%')", ["F2"]),
    ("CASEI(name) = casei('rsud KOTA')", ["F2"]),
    ("name NOT LIKE 'P%'", ["F2", "F3", "F5"]),
    ("facility_type IN ('shelter', 'school')", ["F1", "F3"]),
    ("facility_type NOT IN ('shelter', 'school')", ["F2", "F4", "F5"]),
    ("capacity IN (25, 80)", ["F3", "F5"]),
    ("capacity BETWEEN 25 AND 120", ["F2", "F3", "F5"]),
    ("capacity NOT BETWEEN 25 AND 120", ["F1"]),
    ("capacity IS NULL", ["F4"]),
    ("is_open IS NOT NULL", ["F1", "F2", "F3", "F5"]),
    ("address IS NULL", ["F5"]),
    ("(facility_type = 'shelter' OR capacity < 50) AND NOT is_open = FALSE", ["F1", "F5"]),
    ("facility_type = 'shelter' OR facility_type = 'police' OR capacity = 80", ["F1", "F3", "F5"]),
    ("NOT (capacity > 100 OR capacity IS NULL)", ["F3", "F5"]),
    ("TRUE", ["F1", "F2", "F3", "F4", "F5"]),
    ("FALSE OR name = 'SD Negeri 1'", ["F3"]),
]


@pytest.mark.parametrize(("text", "expected"), COMPARISONS, ids=[c[0] for c in COMPARISONS])
def test_comparison_filters(loaded: Store, text: str, expected: list[str]) -> None:
    assert select(loaded, "facilities", text) == expected


def test_id_is_the_fid(loaded: Store) -> None:
    fid = select(loaded, "facilities", "name = 'RSUD Kota'", column="fid")[0]
    assert select(loaded, "facilities", f"id = {fid}") == ["F2"]
    assert select(loaded, "facilities", {"op": "in", "args": [{"property": "id"}, [fid]]}) == ["F2"]


def test_json_filters_run_too(loaded: Store) -> None:
    doc = {
        "op": "and",
        "args": [
            {"op": "like", "args": [{"op": "casei", "args": [{"property": "name"}]}, "%a%"]},
            {"op": "between", "args": [{"property": "capacity"}, 100, 500]},
        ],
    }
    assert select(loaded, "facilities", doc) == ["F1", "F2"]


SPATIAL = [
    (
        "facilities",
        f"S_INTERSECTS(geom, {POLY.replace('-6.94', '-6.945').replace('110.42', '110.415')})",
        ["F1", "F2"],
    ),
    ("facilities", "S_WITHIN(geom, BBOX(110.395, -6.965, 110.425, -6.945))", ["F1", "F2", "F3"]),
    (
        "facilities",
        "S_INTERSECTS(BBOX(110.395, -6.965, 110.425, -6.945), geometry)",
        ["F1", "F2", "F3"],
    ),
    ("facilities", "S_EQUALS(geom, POINT(110.41 -6.95))", ["F2"]),
    ("facilities", "S_DISJOINT(geom, BBOX(110.395, -6.965, 110.425, -6.945))", ["F4", "F5"]),
    ("facilities", "S_INTERSECTS(geom, MULTIPOINT((110.45 -6.99), (110.5 -7)))", ["F4", "F5"]),
    ("hazard_zones", "S_CONTAINS(geom, POINT(110.45 -6.99))", ["H2"]),
    ("hazard_zones", "S_CONTAINS(geom, POINT(110.41 -6.95))", ["H1", "H3"]),
    ("hazard_zones", "S_DISJOINT(geom, POINT(110.41 -6.95))", ["H2"]),
    ("hazard_zones", "S_TOUCHES(geom, BBOX(110.47, -7.0, 110.48, -6.98))", ["H2"]),
    ("hazard_zones", "S_OVERLAPS(geom, BBOX(110.38, -6.97, 110.40, -6.95))", ["H1"]),
    ("hazard_zones", "S_CROSSES(geom, LINESTRING(110.38 -6.95, 110.40 -6.95))", ["H1"]),
    (
        "hazard_zones",
        "S_WITHIN(geom, BBOX(110.3, -7.1, 110.6, -6.9)) AND hazard_type = 'flood'",
        ["H1", "H3"],
    ),
    (
        "hazard_zones",
        "S_INTERSECTS(geom, POLYGON((110.0 -7.5, 111.0 -7.5, 111.0 -6.5, 110.0 -6.5, 110.0 -7.5), "
        "(110.38 -6.99, 110.435 -6.99, 110.435 -6.93, 110.38 -6.93, 110.38 -6.99)))",  # a hole
        ["H2"],
    ),
]


@pytest.mark.parametrize(("layer", "text", "expected"), SPATIAL, ids=[s[1][:60] for s in SPATIAL])
def test_spatial_filters(loaded: Store, layer: str, text: str, expected: list[str]) -> None:
    assert select(loaded, layer, text) == expected


def test_spatial_json_with_geojson(loaded: Store) -> None:
    doc = {"op": "s_intersects", "args": [{"property": "geometry"}, POLY_JSON]}
    assert select(loaded, "facilities", doc) == ["F1", "F2", "F3"]
    doc = {
        "op": "s_within",
        "args": [{"property": "geom"}, {"bbox": [110.395, -6.965, 110.425, -6.945]}],
    }
    assert select(loaded, "flood_points", doc) == ["P1"]


def _geodesic(lon: float, lat: float, rows: list[tuple[str, float, float]]) -> dict[str, float]:
    return {r[0]: GEOD.inv(lon, lat, r[1], r[2])[2] for r in rows}


@pytest.mark.parametrize("distance", [500.0, 1200.0, 2500.0, 6000.0, 12_000.0])
def test_dwithin_points_match_geodesic_distances(loaded: Store, distance: float) -> None:
    points = [(r[0], r[6], r[7]) for r in FACILITY_ROWS]
    dist = _geodesic(110.40, -6.95, points)
    # No facility lies within 0.5 % of the threshold, so the answer is not a rounding call.
    assert all(abs(d - distance) > 0.005 * distance for d in dist.values())
    expected = sorted(k for k, d in dist.items() if d <= distance)
    text = f"S_DWITHIN(geom, POINT(110.40 -6.95), {distance}, meters)"
    assert select(loaded, "facilities", text) == expected
    km = f"S_DWITHIN(POINT(110.40 -6.95), geom, {distance / 1000}, 'km')"
    assert select(loaded, "facilities", km) == expected


def test_dwithin_is_geodesic_not_degrees(loaded: Store) -> None:
    # F2 is 0.01 degrees east of F1: 1105.07 m on WGS 84 (1111.9 m along a meridian).
    assert GEOD.inv(110.40, -6.95, 110.41, -6.95)[2] == pytest.approx(1105.07, abs=0.01)
    assert select(loaded, "facilities", "S_DWITHIN(geom, POINT(110.40 -6.95), 1108, m)") == [
        "F1",
        "F2",
    ]
    assert select(loaded, "facilities", "S_DWITHIN(geom, POINT(110.40 -6.95), 1102, m)") == ["F1"]


@pytest.mark.parametrize(
    ("distance", "expected"),
    [(2000.0, []), (4000.0, ["H2"]), (9800.0, ["H2", "H3"]), (12_000.0, ["H1", "H2", "H3"])],
)
def test_dwithin_polygons(loaded: Store, distance: float, expected: list[str]) -> None:
    # Nearest distances from F5 (110.5, -7.0), on densified edges: H2 3.31 km, H3 9.20 km,
    # H1 10.38 km; every threshold is more than 5 % away from them.
    nearest = {}
    for ext_id, *_rest, box in HAZARD_ROWS:
        xy = shapely.get_coordinates(shapely.segmentize(shapely.box(*box).exterior, 1e-4))
        nearest[ext_id] = min(GEOD.inv(110.5, -7.0, x, y)[2] for x, y in xy)
    assert sorted(k for k, d in nearest.items() if d <= distance) == expected
    assert all(abs(d - distance) > 0.05 * distance for d in nearest.values())
    assert (
        select(loaded, "hazard_zones", f"S_DWITHIN(geom, POINT(110.5 -7.0), {distance})")
        == expected
    )
    line = {"type": "LineString", "coordinates": [[110.5, -7.0], [110.5, -7.01]]}
    doc = {"op": "s_dwithin", "args": [{"property": "geom"}, line, distance / 1000, "kilometers"]}
    assert select(loaded, "hazard_zones", doc) == expected


TEMPORAL = [
    (
        "flood_points",
        "T_INTERSECTS(observed_at, INTERVAL('2024-01-01T00:00:00Z', '..'))",
        ["P1", "P2", "P3"],
    ),
    ("flood_points", "T_DURING(observed_at, INTERVAL('..', '2024-02-01'))", ["P1", "P2", "P4"]),
    ("flood_points", "T_DURING(observed_at, INTERVAL('..', '..'))", ["P1", "P2", "P3", "P4"]),
    ("flood_points", "T_BEFORE(observed_at, TIMESTAMP('2024-01-01T07:00:00+07:00'))", ["P4"]),
    ("flood_points", "T_BEFORE(observed_at, TIMESTAMP('2024-01-01T06:00:00+07:00'))", []),
    ("flood_points", "T_AFTER(observed_at, DATE('2024-02-01'))", ["P3"]),
    ("flood_points", "T_EQUALS(observed_at, TIMESTAMP('2024-01-31T17:00:00Z'))", ["P2"]),
    ("flood_points", "T_DISJOINT(observed_at, INTERVAL('2024-01-01', '2024-02-01'))", ["P3", "P4"]),
    ("flood_points", "observed_at >= TIMESTAMP('2024-01-31T17:00:00Z')", ["P2", "P3"]),
    ("flood_points", "observed_at < DATE('2024-01-01')", ["P4"]),
    (
        "flood_points",
        "observed_at BETWEEN DATE('2024-01-01') AND TIMESTAMP('2024-02-01T00:00:00Z')",
        ["P1", "P2"],
    ),
    (
        "flood_points",
        "T_INTERSECTS(observed_at, INTERVAL('2024-01-31', '2024-01-31T17:00:00Z')) "
        "AND depth_cm > 100",
        ["P2"],
    ),
    (
        "hazard_zones",
        "T_DURING(valid_from, INTERVAL('2020-01-01', '2023-12-31'))",
        ["H2"],
    ),  # strict
    ("hazard_zones", "T_INTERSECTS(valid_from, INTERVAL('2020-01-01', '..'))", ["H1", "H2"]),
    ("hazard_zones", "T_INTERSECTS(valid_from, INTERVAL('..', '..'))", ["H1", "H2"]),  # not NULL
    ("hazard_zones", "T_AFTER(valid_from, TIMESTAMP('2023-06-14T23:59:59Z'))", ["H2"]),
    ("hazard_zones", "valid_from < TIMESTAMP('2023-06-15T00:00:01Z')", ["H1", "H2"]),
    ("hazard_zones", "valid_from = DATE('2023-06-15')", ["H2"]),
    (
        "hazard_zones",
        "T_STARTS(INTERVAL(valid_from, '2030-01-01'), INTERVAL('2020-01-01', '..'))",
        ["H1"],
    ),
]


@pytest.mark.parametrize(("layer", "text", "expected"), TEMPORAL, ids=[t[1][:60] for t in TEMPORAL])
def test_temporal_filters(loaded: Store, layer: str, text: str, expected: list[str]) -> None:
    assert select(loaded, layer, text) == expected


def test_temporal_json(loaded: Store) -> None:
    doc = {
        "op": "t_during",
        "args": [{"property": "observed_at"}, {"interval": ["2024-01-05T00:00:00Z", ".."]}],
    }
    assert select(loaded, "flood_points", doc) == ["P1", "P2", "P3"]


def test_filter_crs_utm(loaded: Store) -> None:
    utm = pyproj.CRS.from_epsg(32749)
    to_utm = pyproj.Transformer.from_crs(4326, utm, always_xy=True)
    (x0, x1), (y0, y1) = to_utm.transform([110.395, 110.415], [-6.955, -6.945])
    text = f"S_INTERSECTS(geom, BBOX({x0}, {y0}, {x1}, {y1}))"
    assert select(loaded, "facilities", text, filter_crs=utm) == ["F1", "F2"]
    fx, fy = to_utm.transform(110.5, -7.0)  # F5 in UTM: S_DWITHIN in metres still
    text = f"S_DWITHIN(geom, POINT({fx} {fy}), 4000)"
    assert select(loaded, "hazard_zones", text, filter_crs=utm) == ["H2"]


def test_filter_crs_axis_order(loaded: Store) -> None:
    latlon_box = "S_INTERSECTS(geom, BBOX(-6.955, 110.395, -6.945, 110.415))"
    epsg4326 = pyproj.CRS.from_user_input("http://www.opengis.net/def/crs/EPSG/0/4326")
    assert select(loaded, "facilities", latlon_box, filter_crs=epsg4326) == ["F1", "F2"]
    point = "S_EQUALS(geom, POINT(-6.95 110.41))"
    assert select(loaded, "facilities", point, filter_crs=epsg4326) == ["F2"]
    lonlat_box = "S_INTERSECTS(geom, BBOX(110.395, -6.955, 110.415, -6.945))"
    crs84 = pyproj.CRS.from_user_input("http://www.opengis.net/def/crs/OGC/1.3/CRS84")
    assert select(loaded, "facilities", lonlat_box, filter_crs=crs84) == ["F1", "F2"]
    assert select(loaded, "facilities", lonlat_box) == ["F1", "F2"]  # default: CRS84
    with pytest.raises(InvalidInput, match="axis order"):
        select(loaded, "facilities", latlon_box)  # lat/lon read as lon/lat: out of range


def test_hostile_input_is_refused_or_bound(loaded: Store) -> None:
    with pytest.raises(InvalidInput, match="unknown property"):
        select(loaded, "facilities", '"name""; DROP TABLE facilities; --" = \'x\'')
    with pytest.raises(InvalidInput, match="unknown property"):
        select(
            loaded,
            "facilities",
            {"op": "=", "args": [{"property": 'name"; DROP TABLE facilities; --'}, "x"]},
        )
    with pytest.raises(InvalidInput):
        select(loaded, "facilities", "name = 'x'; DROP TABLE facilities; --")
    hostile = "name = 'x''; DROP TABLE facilities; --' OR address = 'O''Brien \"Street\"'"
    assert select(loaded, "facilities", hostile) == ["F4"]
    assert select(loaded, "facilities", "name LIKE '%%' AND name LIKE '%''%'") == []
    assert select(
        loaded, "facilities", {"op": "like", "args": [{"property": "address"}, "%'%\"%"]}
    ) == ["F4"]
    assert select(loaded, "facilities", "TRUE") == ["F1", "F2", "F3", "F4", "F5"]  # still there
    assert loaded.count("facilities") == 5
