"""The embedded store: one DuckDB file with the spatial extension, no server.

The spatial extension is LOADed from the duckdb-extension-spatial wheel (same version as
duckdb, pinned in pyproject); nothing is ever INSTALLed from the network.

DuckDB cannot rename a table that has an index, so a layer is a view over a versioned data
table (``facilities`` -> ``facilities__v7``). A replace builds the next table, repoints the
view and drops the old table in one transaction: readers see the old or the new layer.

One process at a time may open the file for writing (DuckDB's rule): stop `gis serve` to
ingest into the embedded store, or use PostGIS.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import pandas as pd
import shapely

from gis.errors import IngestRejected, NotFound, QueryTimeout, StoreUnavailable
from gis.store import overviews
from gis.store.base import DUPLICATE_ID_MESSAGE, IngestRun, LayerInfo, Notice, RasterInfo, Store
from gis.store.ddl import attribute_columns, column_type, quote
from layers.spec import LayerSpec, RasterSpec

if TYPE_CHECKING:
    from gis.ingest.raster import StoredRaster

_RUN_COLUMNS = (
    "id", "layer", "kind", "mode", "source_path", "source_sha256", "source_format",
    "source_bytes", "run_by", "started_at", "finished_at", "status", "features_read",
    "features_loaded", "features_rejected", "features_repaired", "reject_report", "message",
    "version",
)  # fmt: skip

_METADATA_DDL = """
CREATE TABLE IF NOT EXISTS gis_layer (
    name VARCHAR PRIMARY KEY, version INTEGER NOT NULL, feature_count BIGINT NOT NULL,
    minx DOUBLE, miny DOUBLE, maxx DOUBLE, maxy DOUBLE, updated_at TIMESTAMPTZ,
    notice_id VARCHAR, notice_en VARCHAR, last_run_id VARCHAR, data_table VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS gis_ingest_run (
    id VARCHAR PRIMARY KEY, layer VARCHAR NOT NULL, kind VARCHAR NOT NULL,
    mode VARCHAR NOT NULL, source_path VARCHAR NOT NULL, source_sha256 VARCHAR NOT NULL,
    source_format VARCHAR NOT NULL, source_bytes BIGINT NOT NULL, run_by VARCHAR NOT NULL,
    started_at TIMESTAMPTZ NOT NULL, finished_at TIMESTAMPTZ, status VARCHAR,
    features_read BIGINT NOT NULL, features_loaded BIGINT NOT NULL,
    features_rejected BIGINT NOT NULL, features_repaired BIGINT NOT NULL,
    reject_report VARCHAR, message VARCHAR, version INTEGER);
CREATE TABLE IF NOT EXISTS gis_raster (
    name VARCHAR PRIMARY KEY, version INTEGER NOT NULL, kind VARCHAR NOT NULL,
    data BLOB NOT NULL, crs_wkt VARCHAR NOT NULL, width INTEGER NOT NULL,
    height INTEGER NOT NULL, band_count INTEGER NOT NULL, dtype VARCHAR NOT NULL,
    nodata DOUBLE, minx DOUBLE NOT NULL, miny DOUBLE NOT NULL, maxx DOUBLE NOT NULL,
    maxy DOUBLE NOT NULL, res_x DOUBLE NOT NULL, res_y DOUBLE NOT NULL,
    sha256 VARCHAR NOT NULL, updated_at TIMESTAMPTZ, notice_id VARCHAR, notice_en VARCHAR);
"""


def spatial_extension_path() -> Path:
    """The spatial extension file shipped inside the duckdb-extension-spatial wheel."""
    import duckdb_extension_spatial

    root = Path(duckdb_extension_spatial.__file__).parent / "extensions"
    wanted = root / f"v{duckdb.__version__}" / "spatial.duckdb_extension"
    if not wanted.is_file():
        found = sorted(root.glob("*/spatial.duckdb_extension"))
        raise StoreUnavailable(
            f"duckdb {duckdb.__version__} needs duckdb-extension-spatial of the same version; "
            f"found {[p.parent.name for p in found]}. Reinstall the project to fix the pins."
        )
    return wanted


class EmbeddedStore(Store):
    kind = "embedded"

    def __init__(
        self, path: Path | str, *, read_only: bool = False, query_timeout_ms: int = 0
    ) -> None:
        self.path = Path(path)
        self.query_timeout_ms = query_timeout_ms
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        # Never fetch extensions from the network: the spatial one comes from its wheel.
        config: dict[str, str | bool | int | float | list[str]] = {
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
        }
        try:
            self._db = duckdb.connect(str(path), read_only=read_only, config=config)
        except duckdb.IOException as exc:
            raise StoreUnavailable(
                f"cannot open the embedded store {path}: {exc}. Is another `gis` process "
                "(gis serve or gis demo) using it? Stop it first, or use PostGIS "
                "(GIS_DATABASE_URL) to ingest while serving."
            ) from None
        self._db.execute(f"LOAD '{spatial_extension_path()}'")
        self._write_lock = threading.Lock()

    @contextmanager
    def _cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        cur = self._db.cursor()
        try:
            yield cur
        finally:
            cur.close()

    def migrate(self) -> None:
        with self._cursor() as cur:
            cur.execute(_METADATA_DDL)

    def ping(self) -> None:
        try:
            with self._cursor() as cur:
                cur.execute("SELECT ST_AsText(ST_Point(0, 0))").fetchone()
        except duckdb.Error as exc:
            raise StoreUnavailable(f"embedded store is not answering: {exc}") from None

    def close(self) -> None:
        self._db.close()

    # -- loading -------------------------------------------------------------------

    @contextmanager
    def load(self, spec: LayerSpec, run: IngestRun) -> Iterator[_DuckWriter]:
        if not self._write_lock.acquire(blocking=False):
            raise IngestRejected(f"another ingest into this store is running ({spec.name})")
        self._forget_overview(spec.name)
        try:
            with self._cursor() as cur:
                cur.execute("BEGIN TRANSACTION")
                try:
                    writer = _DuckWriter(cur, spec, run)
                    yield writer
                    if writer.committed:
                        cur.execute("COMMIT")
                    else:
                        cur.execute("ROLLBACK")
                except BaseException:
                    cur.execute("ROLLBACK")
                    raise
        finally:
            self._write_lock.release()

    def put_raster(self, spec: RasterSpec, raster: StoredRaster, run: IngestRun) -> int:
        with self._write_lock, self._cursor() as cur:
            cur.execute("BEGIN TRANSACTION")
            try:
                row = cur.execute("SELECT version FROM gis_raster WHERE name = ?", [spec.name])
                current = row.fetchone()
                version = (current[0] if current else 0) + 1
                cur.execute("DELETE FROM gis_raster WHERE name = ?", [spec.name])
                cur.execute(
                    "INSERT INTO gis_raster VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
                    "?, ?, now(), ?, ?)",
                    [
                        spec.name,
                        version,
                        spec.kind,
                        raster.data,
                        raster.crs_wkt,
                        raster.width,
                        raster.height,
                        raster.band_count,
                        raster.dtype,
                        raster.nodata,
                        *raster.bounds_lonlat,
                        *raster.resolution,
                        raster.sha256,
                        *_notice_values(run.notice),
                    ],
                )
                run.version = version
                _insert_run(cur, run)
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise
        return version

    def record_run(self, run: IngestRun) -> None:
        with self._cursor() as cur:
            _insert_run(cur, run)

    # -- reading -------------------------------------------------------------------

    def layers(self) -> list[LayerInfo]:
        with self._cursor() as cur:
            rows = cur.execute(
                "SELECT name, version, feature_count, minx, miny, maxx, maxy, updated_at, "
                "notice_id, notice_en, last_run_id FROM gis_layer ORDER BY name"
            ).fetchall()
        return [
            LayerInfo(
                r[0],
                r[1],
                r[2],
                (r[3], r[4], r[5], r[6]) if r[3] is not None else None,
                r[7],
                _notice(r[8], r[9]),
                r[10],
            )
            for r in rows
        ]

    def layer_versions(self, names: Sequence[str]) -> dict[str, int]:
        wanted = set(names)
        with self._cursor() as cur:
            rows = cur.execute("SELECT name, version FROM gis_layer").fetchall()
        return {str(n): int(v) for n, v in rows if n in wanted}

    def _read_overview_keys(self, names: Sequence[str]) -> dict[str, str]:
        tables = {f"{n}__ovc": n for n in names}
        with self._cursor() as cur:
            rows = cur.execute(
                "SELECT table_name, comment FROM duckdb_tables() "
                "WHERE table_name IN (SELECT unnest(?))",
                [list(tables)],
            ).fetchall()
        return {tables[t]: k for t, k in rows if k}

    def rasters(self) -> list[RasterInfo]:
        with self._cursor() as cur:
            rows = cur.execute(
                "SELECT name, version, width, height, crs_wkt, minx, miny, maxx, maxy, "
                "updated_at, notice_id, notice_en FROM gis_raster ORDER BY name"
            ).fetchall()
        return [
            RasterInfo(
                r[0], r[1], r[2], r[3], r[4], (r[5], r[6], r[7], r[8]), r[9], _notice(r[10], r[11])
            )
            for r in rows
        ]

    def get_raster(self, name: str) -> StoredRaster:
        from gis.ingest.raster import StoredRaster

        with self._cursor() as cur:
            r = cur.execute(
                "SELECT data, crs_wkt, width, height, band_count, dtype, nodata, minx, miny, "
                "maxx, maxy, res_x, res_y, sha256 FROM gis_raster WHERE name = ?",
                [name],
            ).fetchone()
        if r is None:
            raise NotFound(f"raster {name!r} has not been loaded")
        return StoredRaster(
            data=bytes(r[0]),
            crs_wkt=r[1],
            width=r[2],
            height=r[3],
            band_count=r[4],
            dtype=r[5],
            nodata=r[6],
            bounds_lonlat=(r[7], r[8], r[9], r[10]),
            resolution=(r[11], r[12]),
            sha256=r[13],
        )

    def runs(self, layer: str | None = None, limit: int = 20) -> list[IngestRun]:
        where = "WHERE layer = ?" if layer else ""
        params: list[Any] = [layer, limit] if layer else [limit]
        with self._cursor() as cur:
            rows = cur.execute(
                f"SELECT {', '.join(_RUN_COLUMNS)} FROM gis_ingest_run {where} "
                "ORDER BY started_at DESC LIMIT ?",
                params,
            ).fetchall()
        return [IngestRun(**dict(zip(_RUN_COLUMNS, r, strict=True))) for r in rows]

    def fetch_one(self, sql: str, params: Sequence[object]) -> tuple[Any, ...] | None:
        """DuckDB has no statement timeout: a timer interrupts the cursor instead."""
        with self._cursor() as cur:
            timer = None
            if self.query_timeout_ms:
                timer = threading.Timer(self.query_timeout_ms / 1000, cur.interrupt)
                timer.start()
            try:
                return cur.execute(sql, list(params)).fetchone()
            except duckdb.InterruptException:
                raise QueryTimeout(
                    "the query took too long and was cancelled; try a smaller request (limit, bbox)"
                ) from None
            finally:
                if timer is not None:
                    timer.cancel()

    def stream(
        self, sql: str, params: Sequence[object], batch: int = 2000
    ) -> Iterator[list[tuple[Any, ...]]]:
        with self._cursor() as cur:
            cur.execute(sql, list(params))
            while rows := cur.fetchmany(batch):
                yield rows

    def count(self, layer: str) -> int:
        with self._cursor() as cur:
            if not _view_exists(cur, layer):
                return 0
            row = cur.execute(f"SELECT count(*) FROM {quote(layer)}").fetchone()
        return int(row[0]) if row else 0

    def read_features(self, layer: str, columns: tuple[str, ...]) -> Iterator[tuple[Any, ...]]:
        cols = ", ".join(quote(c) for c in columns)
        with self._cursor() as cur:
            rows = cur.execute(
                f"SELECT {cols}, ST_AsWKB(geom) FROM {quote(layer)} ORDER BY fid"
            ).fetchall()
        for r in rows:
            yield (*r[:-1], shapely.from_wkb(bytes(r[-1])))


class _DuckWriter:
    """Inserts cleaned chunks into the layer's next data table (replace) or current one."""

    def __init__(self, cur: duckdb.DuckDBPyConnection, spec: LayerSpec, run: IngestRun) -> None:
        self.cur = cur
        self.spec = spec
        self.run = run
        self.committed = False
        current = cur.execute(
            "SELECT data_table FROM gis_layer WHERE name = ?", [spec.name]
        ).fetchone()
        self.old_table: str | None = current[0] if current else None
        if run.mode == "replace" or self.old_table is None:
            self.table = f"{spec.name}__r{run.id[:12]}"
            self._create_table()
        else:
            self.table = self.old_table
        self._casts = ", ".join(
            f"CAST({quote(f.name)} AS {column_type(f, 'duckdb')})" for f in spec.fields
        )

    def _create_table(self) -> None:
        seq = quote(f"{self.spec.name}_fid_seq")
        self.cur.execute(f"CREATE SEQUENCE IF NOT EXISTS {seq}")
        cols = ", ".join(f"{quote(f.name)} {column_type(f, 'duckdb')}" for f in self.spec.fields)
        self.cur.execute(
            f"CREATE TABLE {quote(self.table)} (fid BIGINT PRIMARY KEY DEFAULT nextval('"
            f"{self.spec.name}_fid_seq'), {cols}, ext_id VARCHAR UNIQUE, geom GEOMETRY NOT NULL)"
        )

    def write(self, rows: pd.DataFrame, geometry: np.ndarray) -> None:
        if len(rows) == 0:
            return
        chunk = rows.loc[:, list(attribute_columns(self.spec))].copy()
        chunk["__wkb"] = shapely.to_wkb(geometry)
        names = ", ".join(quote(c) for c in (*attribute_columns(self.spec), "geom"))
        self.cur.register("__chunk", chunk)
        try:
            if self.run.mode == "upsert" and self.table == self.old_table:
                updates = ", ".join(
                    f"{quote(c)} = excluded.{quote(c)}" for c in (*self.spec.field_names, "geom")
                )
                conflict = f" ON CONFLICT (ext_id) DO UPDATE SET {updates}"
            else:
                conflict = ""
            self.cur.execute(
                f"INSERT INTO {quote(self.table)} ({names}) SELECT {self._casts}, "
                f"CAST(ext_id AS VARCHAR), ST_GeomFromWKB(__wkb) FROM __chunk{conflict}"
            )
        except duckdb.ConstraintException as exc:
            raise IngestRejected(DUPLICATE_ID_MESSAGE.format(detail=exc)) from None
        finally:
            self.cur.unregister("__chunk")

    def commit(self, run: IngestRun) -> int:
        table, view = quote(self.table), quote(self.spec.name)
        if self.table != self.old_table:
            self.cur.execute(
                f"CREATE INDEX {quote(self.table + '_geom_idx')} ON {table} USING RTREE (geom)"
            )
            self.cur.execute(f"CREATE OR REPLACE VIEW {view} AS SELECT * FROM {table}")
            if self.old_table is not None:
                self.cur.execute(f"DROP TABLE IF EXISTS {quote(self.old_table)}")
        self._build_overview()
        stats = self.cur.execute(
            f"SELECT count(*), min(ST_XMin(geom)), min(ST_YMin(geom)), max(ST_XMax(geom)), "
            f"max(ST_YMax(geom)) FROM {table}"
        ).fetchone()
        assert stats is not None
        count, bbox = int(stats[0]), tuple(stats[1:5])
        version = self._bump(count, bbox, run)
        run.version = version
        _insert_run(self.cur, run)
        self.committed = True
        return version

    def _build_overview(self) -> None:
        """Rebuild the layer's tile overview (gis.store.overviews) from the rows being
        committed, in this transaction: readers see the old layer with the old overview
        until the commit, then both new ones."""
        spec = self.spec
        cells, geoms = overviews.cells_table(spec), overviews.geoms_table(spec)
        for table in (cells, geoms):
            self.cur.execute(f"DROP TABLE IF EXISTS {quote(table)}")
        if not overviews.has_overview(spec):
            return
        for stmt in overviews.build_sql(spec, self.table, cells, geoms, "duckdb"):
            self.cur.execute(stmt)  # spec identifiers and numbers only
        key = overviews.overview_key(spec)  # hex digits and dashes: safe as a literal
        self.cur.execute(f"COMMENT ON TABLE {quote(cells)} IS '{key}'")

    def _bump(self, count: int, bbox: tuple, run: IngestRun) -> int:
        row = self.cur.execute(
            "SELECT version, notice_id, notice_en FROM gis_layer WHERE name = ?", [self.spec.name]
        ).fetchone()
        version = (row[0] if row else 0) + 1
        notice = _notice_values(run.notice)
        if row and run.mode != "replace" and run.notice is None:
            notice = (row[1], row[2])
        self.cur.execute("DELETE FROM gis_layer WHERE name = ?", [self.spec.name])
        self.cur.execute(
            "INSERT INTO gis_layer VALUES (?, ?, ?, ?, ?, ?, ?, now(), ?, ?, ?, ?)",
            [self.spec.name, version, count, *bbox, *notice, run.id, self.table],
        )
        return version


def _view_exists(cur: duckdb.DuckDBPyConnection, name: str) -> bool:
    row = cur.execute(
        "SELECT count(*) FROM duckdb_views() WHERE view_name = ? AND NOT internal", [name]
    ).fetchone()
    return bool(row and row[0])


def _insert_run(cur: duckdb.DuckDBPyConnection, run: IngestRun) -> None:
    placeholders = ", ".join("?" * len(_RUN_COLUMNS))
    cur.execute(
        f"INSERT INTO gis_ingest_run ({', '.join(_RUN_COLUMNS)}) VALUES ({placeholders})",
        [getattr(run, c) for c in _RUN_COLUMNS],
    )


def _notice_values(notice: Notice | None) -> tuple[str | None, str | None]:
    return (notice.id, notice.en) if notice else (None, None)


def _notice(id_text: str | None, en_text: str | None) -> Notice | None:
    return Notice(id_text, en_text or id_text) if id_text else None
