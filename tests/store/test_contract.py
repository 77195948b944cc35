"""One contract, both stores: loads, versions, notices, atomicity, runs, rasters."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely

from gis.errors import IngestRejected, NotFound
from gis.ingest.clean import Cleaner, CleanOptions
from gis.ingest.source import Chunk
from gis.store.base import IngestRun, Mode, Notice, Store
from layers import get_layer

FACILITIES = get_layer("facilities")
DEMO = Notice("DEMO - data sintetis", "DEMO - synthetic data")


def make_run(
    mode: Mode = "replace", notice: Notice | None = None, layer: str = "facilities"
) -> IngestRun:
    return IngestRun(
        id=uuid.uuid4().hex,
        layer=layer,
        kind="vector",
        mode=mode,
        source_path="test.csv",
        source_sha256="0" * 64,
        source_format="csv",
        source_bytes=10,
        run_by="pytest",
        notice=notice,
    )


def facility_rows(names: list[str], ids: list[str] | None = None, lon0: float = 110.40):
    attrs = pd.DataFrame(
        {
            "name": names,
            "facility_type": ["shelter"] * len(names),
            "capacity": [str(10 * (i + 1)) for i in range(len(names))],
            "is_open": ["true"] * len(names),
        }
    )
    if ids is not None:
        attrs["kode"] = ids
    geoms = np.array(
        [shapely.Point(lon0 + i * 0.001, -6.95) for i in range(len(names))], dtype=object
    )
    options = CleanOptions(
        source_crs=pyproj.CRS.from_epsg(4326), id_field="kode" if ids is not None else None
    )
    cleaned = Cleaner(FACILITIES, options).clean(Chunk(0, attrs, geoms))
    assert cleaned.rejects.empty
    return cleaned.rows, cleaned.geometry


def load(
    store: Store, rows, geoms, mode: Mode = "replace", notice: Notice | None = None, chunks: int = 1
) -> int:
    run = make_run(mode, notice)
    with store.load(FACILITIES, run) as writer:
        for part in np.array_split(np.arange(len(rows)), chunks):
            writer.write(rows.iloc[part].reset_index(drop=True), geoms[part])
        run.status = "succeeded"
        return writer.commit(run)


def names(store: Store) -> list[str]:
    return [r[0] for r in store.read_features("facilities", ("name",))]


def test_empty_store(store: Store) -> None:
    assert store.layers() == []
    assert store.count("facilities") == 0
    assert store.runs() == []
    store.ping()


def test_replace_loads_and_bumps_version(store: Store) -> None:
    rows, geoms = facility_rows(["A", "B", "C"])
    assert load(store, rows, geoms, notice=DEMO) == 1
    info = store.layer("facilities")
    assert info is not None
    assert (info.version, info.feature_count, info.notice) == (1, 3, DEMO)
    assert info.bbox == pytest.approx((110.40, -6.95, 110.402, -6.95))
    got = list(store.read_features("facilities", ("name", "capacity", "is_open")))
    assert [(n, c, o) for n, c, o, _ in got] == [("A", 10, True), ("B", 20, True), ("C", 30, True)]
    assert got[1][3].equals(shapely.Point(110.40 + 1 * 0.001, -6.95))  # stored exactly

    rows2, geoms2 = facility_rows(["D"])
    assert load(store, rows2, geoms2) == 2
    assert names(store) == ["D"]
    info2 = store.layer("facilities")
    assert info2 is not None and info2.notice is None  # a real replace clears the demo notice


def test_replace_is_repeatable_many_times(store: Store) -> None:
    for i in range(4):
        rows, geoms = facility_rows([f"R{i}", f"S{i}"])
        load(store, rows, geoms)
    assert names(store) == ["R3", "S3"]
    assert store.layer("facilities").version == 4  # type: ignore[union-attr]


def test_append_adds_and_keeps_notice(store: Store) -> None:
    load(store, *facility_rows(["A"]), notice=DEMO)
    load(store, *facility_rows(["B", "C"]), mode="append")
    assert names(store) == ["A", "B", "C"]
    info = store.layer("facilities")
    assert info is not None and (info.version, info.feature_count, info.notice) == (2, 3, DEMO)


def test_upsert_updates_by_id_and_inserts_new(store: Store) -> None:
    load(store, *facility_rows(["A", "B"], ids=["1", "2"]))
    load(store, *facility_rows(["B2", "C"], ids=["2", "3"], lon0=110.5), mode="upsert")
    rows = {r[1]: (r[0], r[2]) for r in store.read_features("facilities", ("name", "ext_id"))}
    assert {k: v[0] for k, v in rows.items()} == {"1": "A", "2": "B2", "3": "C"}
    assert rows["2"][1].equals(shapely.Point(110.5, -6.95))  # geometry updated too
    assert store.count("facilities") == 3


def test_upsert_into_a_new_layer_creates_it(store: Store) -> None:
    load(store, *facility_rows(["A"], ids=["1"]), mode="upsert")
    assert names(store) == ["A"]


@pytest.mark.parametrize("mode", ["replace", "append", "upsert"])
def test_leaving_without_commit_changes_nothing(store: Store, mode: Mode) -> None:
    load(store, *facility_rows(["A", "B"], ids=["1", "2"]))
    rows, geoms = facility_rows(["X", "Y", "Z"], ids=["1" if mode == "upsert" else "7", "8", "9"])
    with store.load(FACILITIES, make_run(mode)) as writer:
        writer.write(rows, geoms)
    assert names(store) == ["A", "B"]
    assert store.layer("facilities").version == 1  # type: ignore[union-attr]


def test_append_of_an_existing_id_is_refused_and_changes_nothing(store: Store) -> None:
    load(store, *facility_rows(["A", "B"], ids=["1", "2"]))
    with pytest.raises(IngestRejected, match="already in the layer"):
        load(store, *facility_rows(["C", "B2"], ids=["3", "2"]), mode="append")
    assert names(store) == ["A", "B"]
    assert store.layer("facilities").version == 1  # type: ignore[union-attr]


def test_an_error_mid_load_changes_nothing(store: Store) -> None:
    load(store, *facility_rows(["A"]))
    rows, geoms = facility_rows(["X", "Y"])
    with pytest.raises(RuntimeError), store.load(FACILITIES, make_run()) as writer:
        writer.write(rows, geoms)
        raise RuntimeError("disk on fire")
    assert names(store) == ["A"]
    # and the store still works afterwards
    load(store, *facility_rows(["B"]))
    assert names(store) == ["B"]


def test_a_second_concurrent_ingest_of_a_layer_is_refused(store: Store) -> None:
    rows, geoms = facility_rows(["A"])
    with store.load(FACILITIES, make_run()) as writer:
        writer.write(rows, geoms)
        with (
            pytest.raises(IngestRejected, match="another ingest"),
            store.load(FACILITIES, make_run()),
        ):
            pass


def test_runs_are_recorded_including_failures(store: Store) -> None:
    load(store, *facility_rows(["A"]))
    failed = make_run()
    failed.status, failed.message = "failed", "bad file"
    store.record_run(failed)
    runs = store.runs("facilities")
    assert [(r.status, r.version) for r in runs] == [("failed", None), ("succeeded", 1)]
    assert runs[0].message == "bad file" and runs[1].features_loaded == 0  # set by caller
    assert store.runs("hazard_zones") == []


def test_replace_under_a_concurrent_reader_never_shows_a_partial_layer(store: Store) -> None:
    old_rows, old_geoms = facility_rows([f"old{i}" for i in range(300)])
    load(store, old_rows, old_geoms)
    new_rows, new_geoms = facility_rows([f"new{i}" for i in range(1000)])
    seen: set[int] = set()
    stop = threading.Event()
    errors: list[BaseException] = []

    def reader() -> None:
        try:
            while not stop.is_set():
                seen.add(store.count("facilities"))
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for _ in range(3):
            load(store, new_rows, new_geoms, chunks=20)
            load(store, old_rows, old_geoms, chunks=5)
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not errors, errors
    assert seen <= {300, 1000}, f"a reader saw a partial layer: {sorted(seen)}"
    assert 300 in seen


def test_datetime_and_date_round_trip(store: Store) -> None:
    spec = get_layer("flood_points")
    attrs = pd.DataFrame(
        {"observed_at": ["2026-02-01T07:00:00+07:00"], "status": ["verified"], "depth_cm": ["40"]}
    )
    cleaned = Cleaner(spec, CleanOptions(source_crs=pyproj.CRS.from_epsg(4326))).clean(
        Chunk(0, attrs, np.array([shapely.Point(110.4, -6.9)], dtype=object))
    )
    run = make_run(layer="flood_points")
    with store.load(spec, run) as writer:
        writer.write(cleaned.rows, cleaned.geometry)
        writer.commit(run)
    ((observed, depth, _),) = store.read_features("flood_points", ("observed_at", "depth_cm"))
    assert pd.Timestamp(observed) == pd.Timestamp("2026-02-01T00:00:00Z")
    assert depth == 40


def test_raster_round_trip_and_version(store: Store, tmp_path: Path) -> None:
    import rasterio
    from rasterio.io import MemoryFile
    from rasterio.transform import from_origin

    from gis.ingest.raster import read_raster
    from layers import get_raster

    path = tmp_path / "pop.tif"
    data = np.arange(20 * 10, dtype="float32").reshape(10, 20)
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=20,
        height=10,
        count=1,
        dtype="float32",
        crs="EPSG:4326",
        nodata=-1,
        transform=from_origin(110.4, -6.9, 0.001, 0.001),
    ) as ds:
        ds.write(data, 1)
    raster = read_raster(path)
    with pytest.raises(NotFound):
        store.get_raster("population")
    run = make_run(layer="population")
    run.kind = "raster"
    assert store.put_raster(get_raster("population"), raster, run) == 1
    assert store.put_raster(get_raster("population"), raster, make_run(layer="population")) == 2
    back = store.get_raster("population")
    with MemoryFile(back.data) as mem, mem.open() as ds:
        assert np.array_equal(ds.read(1), data)
    info = store.rasters()[0]
    assert (info.name, info.version, info.width, info.height) == ("population", 2, 20, 10)
    assert info.bounds_lonlat == pytest.approx((110.4, -6.91, 110.42, -6.9))


def test_head_revision_constant_is_the_alembic_head() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from gis.store.postgis import HEAD_REVISION, MIGRATIONS

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(cfg).get_current_head() == HEAD_REVISION


@pytest.mark.postgis
def test_postgis_migrate_is_idempotent_and_recorded(postgis_url: str) -> None:
    from conftest import reset_postgis
    from gis.store.postgis import HEAD_REVISION, PostgisStore

    reset_postgis(postgis_url)
    store = PostgisStore(postgis_url)
    try:
        store.migrate()
        store.migrate()
        assert store._revision() == HEAD_REVISION
        assert store.layers() == []
    finally:
        store.close()


def test_a_slow_read_times_out_and_the_store_stays_usable(
    store_kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    from conftest import reset_postgis
    from gis.errors import QueryTimeout
    from gis.store.embedded import EmbeddedStore
    from gis.store.postgis import PostgisStore

    slow: Store
    if store_kind == "postgis":
        url = request.getfixturevalue("postgis_url")
        reset_postgis(url)
        slow, query = PostgisStore(url, statement_timeout_ms=200), "SELECT pg_sleep(5)"
    else:
        slow = EmbeddedStore(tmp_path / "slow.duckdb", query_timeout_ms=200)
        query = "SELECT count(*) FROM range(100000000000)"
    try:
        started = time.monotonic()
        with pytest.raises(QueryTimeout):
            slow.fetch_one(query, [])
        assert time.monotonic() - started < 3
        assert slow.fetch_one("SELECT 41 + 1", []) == (42,)
    finally:
        slow.close()
