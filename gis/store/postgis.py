"""The production store: PostgreSQL 15 + PostGIS 3 through psycopg 3.

Schema of the metadata tables is managed by Alembic (gis/store/migrations); layer tables
are derived from the layer specs with GeoAlchemy2 (gis/store/sql_types). Loads use COPY.
A replace loads into a staging table and swaps it in within the same transaction, so
readers see the old layer until the commit and the new one after, never an empty one.
"""

from __future__ import annotations

import contextlib
import io
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import psycopg
import pyarrow as pa
import pyarrow.csv as pa_csv
import shapely
from psycopg import sql
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from gis.errors import IngestRejected, NotFound, QueryTimeout, StoreUnavailable
from gis.store import overviews
from gis.store.base import DUPLICATE_ID_MESSAGE, IngestRun, LayerInfo, Notice, RasterInfo, Store
from gis.store.ddl import attribute_columns
from gis.store.sql_types import create_table_sql
from layers.spec import LayerSpec, RasterSpec

if TYPE_CHECKING:
    from gis.ingest.raster import StoredRaster

_RUN_COLUMNS = (
    "id", "layer", "kind", "mode", "source_path", "source_sha256", "source_format",
    "source_bytes", "run_by", "started_at", "finished_at", "status", "features_read",
    "features_loaded", "features_rejected", "features_repaired", "reject_report", "message",
    "version",
)  # fmt: skip


#: The newest revision in gis/store/migrations/versions (checked by the tests).
HEAD_REVISION = "0001"
MIGRATIONS = Path(__file__).parent / "migrations"


def sqlalchemy_url(url: str) -> str:
    """The SQLAlchemy form of a libpq URL, pinned to the psycopg 3 driver."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    raise StoreUnavailable("GIS_DATABASE_URL must start with postgresql://")


def libpq_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


class PostgisStore(Store):
    kind = "postgis"

    def __init__(
        self, url: str, *, pool_min: int = 1, pool_max: int = 4, statement_timeout_ms: int = 0
    ) -> None:
        self.url = libpq_url(url)
        kwargs: dict[str, Any] = {"autocommit": False}
        if statement_timeout_ms:
            kwargs["options"] = f"-c statement_timeout={int(statement_timeout_ms)}"
        self._async_kwargs = {**kwargs, "autocommit": True}  # reads: no BEGIN/COMMIT trips
        self._async_sizes = (pool_min, pool_max)
        self._apool: AsyncConnectionPool | None = None
        try:
            self.pool = ConnectionPool(
                self.url,
                min_size=pool_min,
                max_size=pool_max,
                kwargs=kwargs,
                open=True,
                timeout=10,
                name="gis-store",
            )
            self.pool.wait(timeout=10)
        except Exception as exc:
            raise StoreUnavailable(f"cannot connect to PostGIS: {_first_line(exc)}") from None

    # -- lifecycle -----------------------------------------------------------------

    def migrate(self) -> None:
        """Upgrade to the newest migration. Alembic (0.4 s to load) runs only when the
        recorded revision is not HEAD_REVISION; tests check that constant is the head."""
        if self._revision() == HEAD_REVISION:
            return
        from alembic import command
        from alembic.config import Config

        with self.pool.connection() as conn:
            has_postgis = conn.execute(
                "SELECT 1 FROM pg_extension WHERE extname = 'postgis'"
            ).fetchone()
            if not has_postgis:
                try:
                    conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
                except psycopg.Error as exc:
                    raise StoreUnavailable(
                        "the database lacks the postgis extension and it cannot be created: "
                        f"{_first_line(exc)}"
                    ) from None
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.set_main_option("sqlalchemy.url", sqlalchemy_url(self.url).replace("%", "%%"))
        command.upgrade(cfg, "head")

    def _revision(self) -> str | None:
        with self.pool.connection() as conn:
            if not _table_exists(conn, "gis_alembic_version"):
                return None
            row = conn.execute("SELECT version_num FROM gis_alembic_version").fetchone()
            return str(row[0]) if row else None

    def ping(self) -> None:
        try:
            with self.pool.connection(timeout=5) as conn:
                conn.execute("SELECT postgis_lib_version()").fetchone()
        except Exception as exc:
            raise StoreUnavailable(f"PostGIS is not answering: {_first_line(exc)}") from None

    def close(self) -> None:
        self.pool.close()

    # -- loading -------------------------------------------------------------------

    @contextmanager
    def load(self, spec: LayerSpec, run: IngestRun) -> Iterator[_PostgisWriter]:
        self._forget_overview(spec.name)
        with self.pool.connection() as conn:
            try:
                with conn.transaction():
                    writer = _PostgisWriter(conn, spec, run)
                    writer.begin()
                    try:
                        yield writer
                    finally:
                        # The COPY thread must let go of the connection before rollback.
                        with contextlib.suppress(Exception):
                            writer.finish_copy()
                    if not writer.committed:
                        raise _Abandoned()
            except _Abandoned:
                pass

    def put_raster(self, spec: RasterSpec, raster: StoredRaster, run: IngestRun) -> int:
        with self.pool.connection() as conn, conn.transaction():
            _lock_layer(conn, f"raster:{spec.name}")
            row = conn.execute(
                """
                INSERT INTO gis_raster (name, version, kind, data, crs_wkt, width, height,
                    band_count, dtype, nodata, minx, miny, maxx, maxy, res_x, res_y, sha256,
                    updated_at, notice_id, notice_en)
                VALUES (%s, 1, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,
                    now(), %s, %s)
                ON CONFLICT (name) DO UPDATE SET version = gis_raster.version + 1,
                    kind = excluded.kind, data = excluded.data, crs_wkt = excluded.crs_wkt,
                    width = excluded.width, height = excluded.height,
                    band_count = excluded.band_count, dtype = excluded.dtype,
                    nodata = excluded.nodata, minx = excluded.minx, miny = excluded.miny,
                    maxx = excluded.maxx, maxy = excluded.maxy, res_x = excluded.res_x,
                    res_y = excluded.res_y, sha256 = excluded.sha256, updated_at = now(),
                    notice_id = excluded.notice_id, notice_en = excluded.notice_en
                RETURNING version
                """,
                (
                    spec.name,
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
                ),
            ).fetchone()
            assert row is not None
            run.version = int(row[0])
            _insert_run(conn, run)
            return run.version

    def record_run(self, run: IngestRun) -> None:
        with self.pool.connection() as conn, conn.transaction():
            _insert_run(conn, run)

    # -- reading -------------------------------------------------------------------

    def layers(self) -> list[LayerInfo]:
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT name, version, feature_count, minx, miny, maxx, maxy, updated_at, "
                "notice_id, notice_en, last_run_id FROM gis_layer ORDER BY name"
            ).fetchall()
        return [_layer_info(r) for r in rows]

    #: One row, one index probe: the versions of the named layers as two arrays.
    _VERSIONS_SQL = "SELECT array_agg(name), array_agg(version) FROM gis_layer WHERE name = ANY(%s)"

    def layer_versions(self, names: Sequence[str]) -> dict[str, int]:
        row = self.fetch_one(self._VERSIONS_SQL, (list(names),))
        return _versions(row)

    async def alayer_versions(self, names: Sequence[str]) -> dict[str, int]:
        """On the API's async pool: one round trip, no thread hop."""
        row = await self.afetch_one(self._VERSIONS_SQL, (list(names),))
        return _versions(row)

    def _read_overview_keys(self, names: Sequence[str]) -> dict[str, str]:
        tables = {f"{n}__ovc": n for n in names}
        row = self.fetch_one(
            "SELECT array_agg(c.relname::text), array_agg(obj_description(c.oid, 'pg_class')) "
            "FROM pg_class c WHERE c.relname = ANY(%s) "
            "AND c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'",
            (list(tables),),
        )
        if row is None or row[0] is None:
            return {}
        return {tables[t]: k for t, k in zip(row[0], row[1], strict=True) if k}

    def rasters(self) -> list[RasterInfo]:
        with self.pool.connection() as conn:
            rows = conn.execute(
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

        with self.pool.connection() as conn:
            r = conn.execute(
                "SELECT data, crs_wkt, width, height, band_count, dtype, nodata, minx, miny, "
                "maxx, maxy, res_x, res_y, sha256 FROM gis_raster WHERE name = %s",
                (name,),
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
        query = sql.SQL(
            "SELECT {} FROM gis_ingest_run {} ORDER BY started_at DESC LIMIT %s"
        ).format(
            sql.SQL(", ").join(map(sql.Identifier, _RUN_COLUMNS)),
            sql.SQL("WHERE layer = %s") if layer else sql.SQL(""),
        )
        params: tuple[Any, ...] = (layer, limit) if layer else (limit,)
        with self.pool.connection() as conn:
            rows = conn.execute(query, params).fetchall()
        return [IngestRun(**dict(zip(_RUN_COLUMNS, r, strict=True))) for r in rows]

    async def afetch_one(self, sql_text: str, params: Sequence[object]) -> tuple[Any, ...] | None:
        """On an async pool of autocommit connections: the API's reads never leave the
        event loop and take one round trip each."""
        pool = self._apool or await self._open_async_pool()
        try:
            async with pool.connection() as conn:
                cur = await conn.execute(sql_text, params)
                return await cur.fetchone()
        except psycopg.errors.QueryCanceled:
            raise QueryTimeout(
                "the query took too long and was cancelled; try a smaller request (limit, bbox)"
            ) from None

    async def _open_async_pool(self) -> AsyncConnectionPool:
        # Opened in the serving event loop (an async pool belongs to one loop). Two first
        # requests may race here; the loser closes its pool.
        pool = AsyncConnectionPool(
            self.url, min_size=self._async_sizes[0], max_size=self._async_sizes[1],
            kwargs=self._async_kwargs, open=False, timeout=10, name="gis-api",
        )  # fmt: skip
        await pool.open(wait=True, timeout=10)
        if self._apool is not None:
            await pool.close()
            return self._apool
        self._apool = pool
        return pool

    async def aclose(self) -> None:
        if self._apool is not None:
            await self._apool.close()
            self._apool = None

    def fetch_one(self, sql_text: str, params: Sequence[object]) -> tuple[Any, ...] | None:
        try:
            with self.pool.connection() as conn:
                return conn.execute(sql_text, params).fetchone()
        except psycopg.errors.QueryCanceled:
            raise QueryTimeout(
                "the query took too long and was cancelled; try a smaller request (limit, bbox)"
            ) from None

    def stream(
        self, sql_text: str, params: Sequence[object], batch: int = 2000
    ) -> Iterator[list[tuple[Any, ...]]]:
        # A server-side cursor: the result never sits whole in this process.
        with (
            self.pool.connection() as conn,
            conn.transaction(),
            conn.cursor(name=f"gis_stream_{threading.get_ident()}") as cur,
        ):
            cur.itersize = batch
            cur.execute(sql_text, params)
            while rows := cur.fetchmany(batch):
                yield rows

    def count(self, layer: str) -> int:
        with self.pool.connection() as conn:
            if not _table_exists(conn, layer):
                return 0
            row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(layer)))
            return int(row.fetchone()[0])  # type: ignore[index]

    def read_features(self, layer: str, columns: tuple[str, ...]) -> Iterator[tuple[Any, ...]]:
        query = sql.SQL("SELECT {}, ST_AsBinary(geom) FROM {} ORDER BY fid").format(
            sql.SQL(", ").join(map(sql.Identifier, columns)), sql.Identifier(layer)
        )
        with self.pool.connection() as conn:
            rows = conn.execute(query).fetchall()
        for r in rows:
            yield (*r[:-1], shapely.from_wkb(bytes(r[-1])))


_CSV_OPTIONS = pa_csv.WriteOptions(include_header=False)


Batch = tuple[pd.DataFrame, np.ndarray]


class _CopyStream:
    """One COPY for the whole load, run by a background thread that encodes and sends the
    chunks it is handed, so reading and cleaning chunk n+1 overlaps encoding and storing
    chunk n. The queue is bounded, which keeps memory flat: the producer waits when the
    COPY is behind."""

    def __init__(
        self,
        conn: psycopg.Connection,
        statement: sql.Composed,
        encode: Callable[[pd.DataFrame, np.ndarray], bytes],
        depth: int = 2,
    ) -> None:
        self._encode = encode
        self._queue: queue.Queue[Batch | None] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._failed = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(conn, statement), name="gis-copy", daemon=True
        )
        self._thread.start()

    def _run(self, conn: psycopg.Connection, statement: sql.Composed) -> None:
        try:
            with conn.cursor() as cur, cur.copy(statement) as copy:
                while (batch := self._queue.get()) is not None:
                    copy.write(self._encode(*batch))
        except BaseException as exc:  # handed to the producer thread
            self._error = exc
            self._failed.set()

    def put(self, batch: Batch) -> None:
        """Queue a chunk; raises the COPY's error as soon as there is one."""
        self._offer(batch)
        self._raise()

    def close(self) -> None:
        """End the COPY, wait for it, and raise its error if it failed."""
        self._offer(None)
        self._thread.join()
        self._raise()

    def _offer(self, item: Batch | None) -> None:
        # Never block for good: a failed COPY thread no longer takes from the queue.
        while not self._failed.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def _raise(self) -> None:
        if self._error is not None:
            raise _duplicate_as_rejected(self._error)


def _duplicate_as_rejected(exc: BaseException) -> BaseException:
    if isinstance(exc, psycopg.errors.UniqueViolation):
        detail = exc.diag.message_detail or _first_line(exc)
        return IngestRejected(DUPLICATE_ID_MESSAGE.format(detail=detail))
    return exc


class _Abandoned(Exception):
    """Raised inside the load transaction to roll it back when the caller did not commit."""


class _PostgisWriter:
    """COPYs cleaned chunks into the target (staging for replace, a temp table for upsert)."""

    def __init__(self, conn: psycopg.Connection, spec: LayerSpec, run: IngestRun) -> None:
        self.conn = conn
        self.spec = spec
        self.run = run
        self.committed = False
        self.columns = (*attribute_columns(spec), "geom")
        self.staging = f"{spec.name}__s{run.id[:8]}"
        self._stream: _CopyStream | None = None
        self._written = 0
        self._extents: list[np.ndarray] = []

    def begin(self) -> None:
        _lock_layer(self.conn, self.spec.name)
        exists = _table_exists(self.conn, self.spec.name)
        if self.run.mode == "replace" or not exists:
            self.target = self.staging
            self.conn.execute(create_table_sql(self.spec, self.staging))
            # Keys are built once after the COPY: far cheaper than per row during it.
            self.conn.execute(
                sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(
                    sql.Identifier(self.staging), sql.Identifier(f"{self.staging}_pkey")
                )
            )
        elif self.run.mode == "upsert":
            self.target = f"{self.staging}_up"
            self.conn.execute(
                sql.SQL(
                    "CREATE TEMP TABLE {} ON COMMIT DROP AS SELECT {} FROM {} WITH NO DATA"
                ).format(
                    sql.Identifier(self.target),
                    sql.SQL(", ").join(map(sql.Identifier, self.columns)),
                    sql.Identifier(self.spec.name),
                )
            )
        else:
            self.target = self.spec.name
        self._swap = self.target == self.staging

    def write(self, rows: pd.DataFrame, geometry: np.ndarray) -> None:
        if len(rows) == 0:
            return
        if self._stream is None:
            copy = sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT csv)").format(
                sql.Identifier(self.target),
                sql.SQL(", ").join(map(sql.Identifier, self.columns)),
            )
            self._stream = _CopyStream(self.conn, copy, self._encode)
        self._stream.put((rows, geometry))
        self._written += len(rows)
        self._extents.append(shapely.total_bounds(geometry))

    def _bounds(self) -> tuple[float | None, ...]:
        if not self._extents:
            return (None,) * 4
        boxes = np.vstack(self._extents)
        return (*boxes[:, :2].min(axis=0).tolist(), *boxes[:, 2:].max(axis=0).tolist())

    def _encode(self, rows: pd.DataFrame, geometry: np.ndarray) -> bytes:
        """A chunk as COPY CSV (Arrow's writer; hex WKB, which the typed geometry column
        gives SRID 4326). Runs on the COPY thread, beside the next chunk's cleaning."""
        frame = rows.loc[:, list(attribute_columns(self.spec))]
        table = pa.Table.from_pandas(frame, preserve_index=False).append_column(
            "geom", pa.array(shapely.to_wkb(geometry, hex=True))
        )
        buf = io.BytesIO()
        pa_csv.write_csv(table, buf, _CSV_OPTIONS)
        return buf.getvalue()

    def finish_copy(self) -> None:
        """End the COPY (if any) and surface its error; the connection is free after."""
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.close()

    def commit(self, run: IngestRun) -> int:
        self.finish_copy()
        name = sql.Identifier(self.spec.name)
        if self._swap:
            self._index_and_swap()
        else:
            if self.run.mode == "upsert":
                self._merge_upsert()
            self._build_overview(self.spec.name)
            self._swap_overview()
        self.conn.execute(sql.SQL("ANALYZE {}").format(name))
        if self._swap:  # the table holds exactly what was written: no scan needed
            count, bbox = self._written, self._bounds()
        else:
            row = self.conn.execute(
                sql.SQL(
                    "SELECT n, ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) "
                    "FROM (SELECT count(*) AS n, ST_Extent(geom) AS e FROM {}) s"
                ).format(name)
            ).fetchone()
            count, bbox = (int(row[0]), tuple(row[1:])) if row else (0, (None,) * 4)
        version = _bump_layer(self.conn, self.spec.name, count, bbox, run)
        run.version = version
        _insert_run(self.conn, run)
        self.committed = True
        return version

    def _index_and_swap(self) -> None:
        staging, name = self.staging, self.spec.name
        self.conn.execute(
            sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} PRIMARY KEY (fid)").format(
                sql.Identifier(staging), sql.Identifier(f"{staging}_pkey")
            )
        )
        # Partial: most layers have no ids, and an index of nulls only costs build time.
        self.conn.execute(
            sql.SQL("CREATE UNIQUE INDEX {} ON {} (ext_id) WHERE ext_id IS NOT NULL").format(
                sql.Identifier(f"{staging}_ext_id_key"), sql.Identifier(staging)
            )
        )
        self.conn.execute(
            sql.SQL("CREATE INDEX {} ON {} USING gist (geom)").format(
                sql.Identifier(f"{staging}_geom_idx"), sql.Identifier(staging)
            )
        )
        if self.spec.time_field:
            self.conn.execute(
                sql.SQL("CREATE INDEX {} ON {} ({})").format(
                    sql.Identifier(f"{staging}_time_idx"),
                    sql.Identifier(staging),
                    sql.Identifier(self.spec.time_field),
                )
            )
        # Built from the staging rows while readers still use the old layer and overview.
        self._build_overview(staging)
        # The only moment readers wait: an exclusive lock held for a drop and renames.
        self._swap_overview()
        self.conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(name)))
        self.conn.execute(
            sql.SQL("ALTER TABLE {} RENAME TO {}").format(
                sql.Identifier(staging), sql.Identifier(name)
            )
        )
        renames = [
            ("CONSTRAINT", f"{staging}_pkey", f"{name}_pkey"),
            ("INDEX", f"{staging}_ext_id_key", f"{name}_ext_id_key"),
            ("INDEX", f"{staging}_geom_idx", f"{name}_geom_idx"),
        ]
        if self.spec.time_field:
            renames.append(("INDEX", f"{staging}_time_idx", f"{name}_time_idx"))
        for kind, old, new in renames:
            stmt = (
                "ALTER TABLE {t} RENAME CONSTRAINT {o} TO {n}"
                if kind == "CONSTRAINT"
                else "ALTER INDEX {o} RENAME TO {n}"
            )
            self.conn.execute(
                sql.SQL(stmt).format(
                    t=sql.Identifier(name), o=sql.Identifier(old), n=sql.Identifier(new)
                )
            )

    def _build_overview(self, source: str) -> None:
        """The tile overview of ``source`` (gis.store.overviews) into staging tables, in
        this load's transaction: it becomes visible with the rows it was built from."""
        spec, suffix = self.spec, f"__s{self.run.id[:8]}"
        self._overview: list[tuple[str, str]] = []
        if not overviews.has_overview(spec):
            return
        cells = overviews.cells_table(spec)
        geoms = overviews.geoms_table(spec)
        for stmt in overviews.build_sql(spec, source, cells + suffix, geoms + suffix, "postgis"):
            self.conn.execute(stmt)  # spec identifiers and numbers only
        self._overview.append((cells + suffix, cells))
        if spec.geometry_type != "Point":
            self._overview.append((geoms + suffix, geoms))
        for staged, _ in self._overview:
            self.conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(staged)))

    def _swap_overview(self) -> None:
        """Replace the layer's overview tables by the staged ones (or drop them when the
        spec needs none), and record which tile rules they were built for."""
        spec = self.spec
        for table in (overviews.cells_table(spec), overviews.geoms_table(spec)):
            self.conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(table)))
        for staged, final in self._overview:
            self.conn.execute(
                sql.SQL("ALTER TABLE {} RENAME TO {}").format(
                    sql.Identifier(staged), sql.Identifier(final)
                )
            )
        if self._overview:
            self.conn.execute(
                sql.SQL("COMMENT ON TABLE {} IS {}").format(
                    sql.Identifier(overviews.cells_table(spec)),
                    sql.Literal(overviews.overview_key(spec)),
                )
            )

    def _merge_upsert(self) -> None:
        cols = [c for c in self.columns if c != "ext_id"]
        self.conn.execute(
            sql.SQL(
                "INSERT INTO {t} ({all}) SELECT {all} FROM {s} "
                "ON CONFLICT (ext_id) WHERE ext_id IS NOT NULL DO UPDATE SET {sets}"
            ).format(
                t=sql.Identifier(self.spec.name),
                s=sql.Identifier(self.target),
                all=sql.SQL(", ").join(map(sql.Identifier, self.columns)),
                sets=sql.SQL(", ").join(
                    sql.SQL("{} = excluded.{}").format(sql.Identifier(c), sql.Identifier(c))
                    for c in cols
                ),
            )
        )


def _lock_layer(conn: psycopg.Connection, key: str) -> None:
    got = conn.execute("SELECT pg_try_advisory_xact_lock(hashtext(%s))", (key,)).fetchone()
    if not got or not got[0]:
        raise IngestRejected(f"another ingest of {key!r} is running; try again when it ends")


def _table_exists(conn: psycopg.Connection, name: str) -> bool:
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (f'public."{name}"',)).fetchone()
    return bool(row and row[0])


def _bump_layer(conn: psycopg.Connection, name: str, count: int, bbox: Any, run: IngestRun) -> int:
    """Bump the version; a replace sets the notice, an append keeps a synthetic notice."""
    keep_notice = run.mode != "replace" and run.notice is None
    row = conn.execute(
        """
        INSERT INTO gis_layer (name, version, feature_count, minx, miny, maxx, maxy,
            updated_at, notice_id, notice_en, last_run_id)
        VALUES (%s, 1, %s, %s, %s, %s, %s, now(), %s, %s, %s)
        ON CONFLICT (name) DO UPDATE SET version = gis_layer.version + 1,
            feature_count = excluded.feature_count, minx = excluded.minx,
            miny = excluded.miny, maxx = excluded.maxx, maxy = excluded.maxy,
            updated_at = now(),
            notice_id = CASE WHEN %s THEN gis_layer.notice_id ELSE excluded.notice_id END,
            notice_en = CASE WHEN %s THEN gis_layer.notice_en ELSE excluded.notice_en END,
            last_run_id = excluded.last_run_id
        RETURNING version
        """,
        (name, count, *bbox, *_notice_values(run.notice), run.id, keep_notice, keep_notice),
    ).fetchone()
    assert row is not None
    return int(row[0])


def _insert_run(conn: psycopg.Connection, run: IngestRun) -> None:
    values = {c: getattr(run, c) for c in _RUN_COLUMNS}
    conn.execute(
        sql.SQL("INSERT INTO gis_ingest_run ({}) VALUES ({})").format(
            sql.SQL(", ").join(map(sql.Identifier, _RUN_COLUMNS)),
            sql.SQL(", ").join(sql.Placeholder() * len(_RUN_COLUMNS)),
        ),
        tuple(values.values()),
    )


def _notice_values(notice: Notice | None) -> tuple[str | None, str | None]:
    return (notice.id, notice.en) if notice else (None, None)


def _notice(id_text: str | None, en_text: str | None) -> Notice | None:
    return Notice(id_text, en_text or id_text) if id_text else None


def _versions(row: tuple[Any, ...] | None) -> dict[str, int]:
    if row is None or row[0] is None:
        return {}
    return {str(n): int(v) for n, v in zip(row[0], row[1], strict=True)}


def _layer_info(r: tuple) -> LayerInfo:
    bbox = (r[3], r[4], r[5], r[6]) if r[3] is not None else None
    return LayerInfo(r[0], r[1], r[2], bbox, r[7], _notice(r[8], r[9]), r[10])


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
