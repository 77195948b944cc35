#!/usr/bin/env python
"""Ingest benchmark: `gis ingest` versus ogr2ogr and geopandas.to_postgis, into PostGIS.

Loads the same benchmark files (flood_points: 1,000,000 points, hazard_zones: 100,000
polygons, FlatGeobuf, from ``scripts/make_sample_data.py --formats bench``) three ways,
each in a fresh subprocess, and ends every load with an indexed table whose row count is
checked (a load that loads nothing fails the benchmark):

1. ``gis ingest FILE --layer NAME`` (replace mode) with GIS_DATABASE_URL set;
2. ``ogr2ogr -f PostgreSQL ... --config PG_USE_COPY YES -gt 65536`` into schema ``ogr``;
3. ``geopandas.read_file(engine="pyogrio", use_arrow=True)`` then ``to_postgis(...,
   chunksize=50_000)`` into schema ``gpd``, plus a GiST index when none was made.

For information it also times ``gis ingest`` into the embedded DuckDB store. Reports wall
time, rows/s, peak RSS of the child process tree and CPU time (the PostgreSQL server's own
work is in the wall time, not in RSS or CPU), and how `gis ingest` compares.

Usage (from the repository root; PostgreSQL with PostGIS on 127.0.0.1:5432)::

    python scripts/bench/ingest.py                       # full size, generated to a temp dir
    python scripts/bench/ingest.py --points 100000 --polygons 10000    # quick
    python scripts/bench/ingest.py --data /tmp/bench-data --repeat 3 --write-docs

Needs psutil (``pip install -e '.[bench]'``) and GDAL's ogr2ogr (``apt-get install -y
gdal-bin``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pyogrio
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # the sibling module (this file runs as a script)
    REPO_ROOT,
    Measurement,
    Summary,
    command_line,
    fmt_bytes,
    fmt_rate,
    fmt_seconds,
    machine_info,
    markdown_table,
    package_versions,
    run_measured,
    update_doc_section,
)

DOC_HEADING = "## Ingest (scripts/bench/ingest.py)"
GENERATOR = REPO_ROOT / "scripts" / "make_sample_data.py"
OGR2OGR_INSTALL = "apt-get install -y gdal-bin"

GIS = "gis ingest"
OGR = "ogr2ogr"
GPD = "geopandas.to_postgis"
DUCK = "gis ingest (DuckDB)"
#: PostGIS schema each tool loads into, so their tables never collide.
SCHEMAS = {GIS: "public", OGR: "ogr", GPD: "gpd"}
#: The issue's targets for `gis ingest` into PostGIS.
TARGET_VS_OGR = 1.0
TARGET_VS_GPD = 3.0
TARGET_RSS = 10**9  # 1 GB

PACKAGES = (
    "gis-publik", "geopandas", "pyogrio", "pandas", "numpy", "shapely", "pyarrow", "pyproj",
    "psycopg", "psycopg-binary", "sqlalchemy", "geoalchemy2", "duckdb", "psutil",
)  # fmt: skip

#: The geopandas loader, run as ``python -c GEOPANDAS_LOADER URL FILE SCHEMA TABLE``.
#: GeoAlchemy2 usually creates a GiST index with the table (before the COPY); the index is
#: added afterwards only when that did not happen, so every tool ends with one.
GEOPANDAS_LOADER = """\
import sys
import geopandas
import sqlalchemy

url, path, schema, table = sys.argv[1:5]
gdf = geopandas.read_file(path, engine="pyogrio", use_arrow=True)
engine = sqlalchemy.create_engine(url)
gdf.to_postgis(table, engine, schema=schema, if_exists="replace", index=False,
               chunksize=50_000)
geom = gdf.geometry.name
with engine.begin() as conn:
    has_gist = conn.execute(sqlalchemy.text(
        "SELECT count(*) FROM pg_indexes WHERE schemaname = :s AND tablename = :t "
        "AND indexdef ILIKE '%USING gist%'"), {"s": schema, "t": table}).scalar()
    if not has_gist:
        conn.execute(sqlalchemy.text(
            f'CREATE INDEX "{table}_{geom}_gist" ON "{schema}"."{table}" USING gist ("{geom}")'))
print(f"rows={len(gdf)} gist_created_after={not has_gist}")
"""


@dataclass(frozen=True)
class Dataset:
    """One benchmark file and the layer it loads into."""

    layer: str
    file: str
    kind: str  # "points" or "polygons", also the generator's option name


DATASETS = (
    Dataset("flood_points", "flood_points.fgb", "points"),
    Dataset("hazard_zones", "hazard_zones.fgb", "polygons"),
)


@dataclass(frozen=True)
class Postgres:
    """Where the benchmark database lives."""

    host: str
    port: int
    user: str
    dbname: str

    def url(self, dbname: str | None = None, driver: str = "postgresql") -> str:
        return f"{driver}://{self.user}@{self.host}:{self.port}/{dbname or self.dbname}"

    def ogr_dsn(self) -> str:
        return f"PG:dbname={self.dbname} host={self.host} port={self.port} user={self.user}"

    def connect(self, dbname: str | None = None) -> psycopg.Connection:
        return psycopg.connect(self.url(dbname), autocommit=True)


@dataclass
class Results:
    """Measurements per (tool, layer), and what else the report says."""

    counts: dict[str, int]
    runs: dict[tuple[str, str], list[Measurement]] = field(default_factory=dict)
    generate: Measurement | None = None
    #: How geopandas got its GiST index: "with the table" (GeoAlchemy2) and/or "after".
    gpd_index: set[str] = field(default_factory=set)

    def add(self, tool: str, layer: str, m: Measurement) -> None:
        self.runs.setdefault((tool, layer), []).append(m)

    def summary(self, tool: str, layer: str) -> Summary | None:
        runs = self.runs.get((tool, layer))
        return Summary(runs) if runs else None


def log(message: str) -> None:
    """Progress goes to stderr; stdout carries only the final report."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def fail(message: str) -> None:
    sys.exit(f"FAILED: {message}")


# -- data -------------------------------------------------------------------------------


def generate_data(out: Path, points: int | None, polygons: int | None) -> Measurement:
    """Write the benchmark files with the sample data generator (timed, not counted)."""
    cmd = [sys.executable, str(GENERATOR), "--formats", "bench", "--out", str(out)]
    if points:
        cmd += ["--points", str(points)]
    if polygons:
        cmd += ["--polygons", str(polygons)]
    log(f"generating benchmark data: {' '.join(cmd[1:])}")
    m = run_measured(cmd, cwd=REPO_ROOT)
    m.check("the data generator")
    log(f"  generated in {m.wall_s:.1f} s (not counted)")
    return m


def feature_counts(data: Path, args: argparse.Namespace) -> dict[str, int]:
    """Features in each benchmark file; the loads are checked against these."""
    counts = {}
    for ds in DATASETS:
        path = data / ds.file
        if not path.is_file():
            fail(
                f"{path} is missing; generate it with: python {GENERATOR.relative_to(REPO_ROOT)}"
                f" --formats bench --out {data}"
            )
        counts[ds.layer] = int(pyogrio.read_info(path)["features"])
        wanted = getattr(args, ds.kind)
        if counts[ds.layer] <= 0:
            fail(f"{path} holds no feature")
        if wanted and counts[ds.layer] != wanted:
            fail(f"{path} holds {counts[ds.layer]:,} features, not the {wanted:,} asked for")
    return counts


# -- PostgreSQL -----------------------------------------------------------------------------


def create_database(pg: Postgres) -> None:
    """Drop and recreate the benchmark database with PostGIS and one schema per tool."""
    with pg.connect("postgres") as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(pg.dbname))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(pg.dbname)))
    with pg.connect() as conn:
        conn.execute("CREATE EXTENSION postgis")
        for schema in set(SCHEMAS.values()) - {"public"}:
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))


def drop_database(pg: Postgres) -> None:
    with pg.connect("postgres") as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(pg.dbname))
        )


def reset_table(pg: Postgres, schema: str, table: str) -> None:
    """Untimed, before each load: drop the target and flush dirty buffers, so no load pays
    for the previous one's writes."""
    with pg.connect() as conn:
        conn.execute(
            sql.SQL("DROP TABLE IF EXISTS {}.{}").format(
                sql.Identifier(schema), sql.Identifier(table)
            )
        )
        conn.execute("CHECKPOINT")


def verify_table(pg: Postgres, schema: str, table: str, expected: int, tool: str) -> None:
    """The load must have produced exactly the expected rows, with a GiST index."""
    with pg.connect() as conn:
        if conn.execute("SELECT to_regclass(%s)", (f'"{schema}"."{table}"',)).fetchone()[0] is None:
            fail(f"{tool} did not create {schema}.{table}")
        n = conn.execute(
            sql.SQL("SELECT count(*) FROM {}.{}").format(
                sql.Identifier(schema), sql.Identifier(table)
            )
        ).fetchone()[0]
        gist = conn.execute(
            "SELECT count(*) FROM pg_indexes WHERE schemaname = %s AND tablename = %s "
            "AND indexdef ILIKE '%%USING gist%%'",
            (schema, table),
        ).fetchone()[0]
    if n != expected:
        fail(f"{tool} loaded {n:,} rows into {schema}.{table}, expected {expected:,}")
    if not gist:
        fail(f"{tool} left {schema}.{table} without a GiST index")


def server_versions(pg: Postgres) -> dict[str, str]:
    with pg.connect() as conn:
        return {
            "postgresql": conn.execute("SHOW server_version").fetchone()[0],
            "postgis": conn.execute("SELECT postgis_lib_version()").fetchone()[0],
            "geos": conn.execute("SELECT postgis_geos_version()").fetchone()[0],
        }


# -- the three (four) loaders ---------------------------------------------------------------


def gis_executable() -> list[str]:
    """The `gis` console script of this Python environment."""
    script = Path(sys.executable).parent / "gis"
    if script.exists():
        return [str(script)]
    found = shutil.which("gis")
    if not found:
        fail("the `gis` command is not installed: pip install -e . in the repository")
    return [str(found)]


def child_env(**gis_vars: str | None) -> dict[str, str]:
    """This environment without GIS_* settings, plus the given ones (None: left unset)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIS_")}
    env.update({f"GIS_{k.upper()}": v for k, v in gis_vars.items() if v is not None})
    return env


def ogr2ogr_command(pg: Postgres, path: Path, layer: str, kind: str, schema: str) -> list[str]:
    """ogr2ogr with fair settings: COPY, 65536-row transactions, GiST index built."""
    return [
        "ogr2ogr", "-f", "PostgreSQL", pg.ogr_dsn(), str(path),
        "-nln", layer, "-overwrite",
        "-lco", f"SCHEMA={schema}", "-lco", "GEOMETRY_NAME=geom", "-lco", "SPATIAL_INDEX=GIST",
        *(["-nlt", "PROMOTE_TO_MULTI"] if kind == "polygons" else []),
        "-t_srs", "EPSG:4326", "--config", "PG_USE_COPY", "YES", "-gt", "65536",
    ]  # fmt: skip


def load_postgis(tool: str, pg: Postgres, ds: Dataset, path: Path, work: Path) -> Measurement:
    """One measured load of one file by one tool into PostGIS."""
    schema = SCHEMAS[tool]
    env = child_env(database_url=pg.url(), data_dir=str(work / "gis-data"))
    if tool == GIS:
        cmd = [*gis_executable(), "ingest", str(path), "--layer", ds.layer, "--mode", "replace"]
    elif tool == OGR:
        cmd = ogr2ogr_command(pg, path, ds.layer, ds.kind, schema)
    else:
        url = pg.url(driver="postgresql+psycopg")
        cmd = [sys.executable, "-c", GEOPANDAS_LOADER, url, str(path), schema, ds.layer]
    reset_table(pg, schema, ds.layer)
    m = run_measured(cmd, env=env, cwd=REPO_ROOT, log_dir=work / "logs")
    m.check(f"{tool} of {path.name}")
    return m


def load_embedded(ds: Dataset, path: Path, work: Path, expected: int) -> Measurement:
    """`gis ingest` into a fresh embedded DuckDB store; checked with `gis layers --json`."""
    data_dir = work / "duckdb"
    shutil.rmtree(data_dir, ignore_errors=True)
    env = child_env(data_dir=str(data_dir))
    cmd = [*gis_executable(), "ingest", str(path), "--layer", ds.layer, "--mode", "replace"]
    m = run_measured(cmd, env=env, cwd=REPO_ROOT, log_dir=work / "logs")
    m.check(f"{DUCK} of {path.name}")
    listing = subprocess.run(
        [*gis_executable(), "layers", "--json"], env=env, cwd=REPO_ROOT, capture_output=True,
        text=True, check=True,
    )  # fmt: skip
    layers = {row["name"]: row["features"] for row in json.loads(listing.stdout)}
    if layers.get(ds.layer) != expected:
        fail(f"{DUCK} holds {layers.get(ds.layer)} features in {ds.layer}, expected {expected:,}")
    shutil.rmtree(data_dir, ignore_errors=True)
    return m


def run_benchmark(
    args: argparse.Namespace, pg: Postgres, data: Path, work: Path, results: Results
) -> None:
    """All repeats; within one, each dataset by each tool in turn (interleaved, so slow
    drifts of the machine spread over all tools)."""
    tools = [GIS] + ([] if args.skip_ogr2ogr else [OGR]) + ([] if args.skip_geopandas else [GPD])
    for rep in range(1, args.repeat + 1):
        for ds in DATASETS:
            path, expected = data / ds.file, results.counts[ds.layer]
            for tool in tools:
                m = load_postgis(tool, pg, ds, path, work)
                verify_table(pg, SCHEMAS[tool], ds.layer, expected, tool)
                if tool == GPD:
                    after = "gist_created_after=True" in m.stdout
                    results.gpd_index.add("after" if after else "with the table")
                results.add(tool, ds.layer, m)
                log(
                    f"run {rep}/{args.repeat} {ds.layer:12} {tool:22} {m.wall_s:7.2f} s "
                    f"{fmt_bytes(m.peak_rss):>11} peak RSS  ({expected:,} rows checked)"
                )
            if not args.skip_embedded:
                m = load_embedded(ds, path, work, expected)
                results.add(DUCK, ds.layer, m)
                log(
                    f"run {rep}/{args.repeat} {ds.layer:12} {DUCK:22} {m.wall_s:7.2f} s "
                    f"{fmt_bytes(m.peak_rss):>11} peak RSS  ({expected:,} rows checked)"
                )


# -- the report ---------------------------------------------------------------------------


def speedup(results: Results, tool: str, layer: str | None) -> float | None:
    """How many times faster `gis ingest` (PostGIS) was than ``tool`` (best times); for
    layer None, over both datasets together."""
    layers = [layer] if layer else [ds.layer for ds in DATASETS]
    mine = [results.summary(GIS, x) for x in layers]
    theirs = [results.summary(tool, x) for x in layers]
    if any(s is None for s in mine + theirs):
        return None
    return sum(s.best_s for s in theirs if s) / sum(s.best_s for s in mine if s)


def results_table(results: Results, repeat: int) -> str:
    headers = ["Dataset", "Tool", "Rows", "Best s"]
    headers += ["Median s"] if repeat > 1 else []
    headers += ["Rows/s", "Peak RSS", "CPU s", "gis ingest speed-up"]
    rows = []
    for ds in DATASETS:
        for tool in (GIS, OGR, GPD, DUCK):
            s = results.summary(tool, ds.layer)
            if s is None:
                continue
            n = results.counts[ds.layer]
            ratio = speedup(results, tool, ds.layer) if tool in (OGR, GPD) else None
            row = [ds.layer, f"`{tool}`", f"{n:,}", fmt_seconds(s.best_s)]
            row += [fmt_seconds(s.median_s)] if repeat > 1 else []
            row += [fmt_rate(n, s.best_s), fmt_bytes(s.peak_rss), f"{s.cpu_s:,.1f}"]
            row += [f"{ratio:.2f}x" if ratio else ("(reference)" if tool == GIS else "-")]
            rows.append(row)
    align = "llrr" + ("r" if repeat > 1 else "") + "rrrr"
    return markdown_table(headers, rows, align)


def verdict_lines(results: Results) -> list[str]:
    """The issue's targets, each PASS or FAIL, and the one-line comparisons."""
    lines = []
    for label, layer in [*((ds.layer, ds.layer) for ds in DATASETS), ("both files", None)]:
        parts = [
            f"{ratio:.2f}x {tool}" if ratio >= 1 else f"{1 / ratio:.2f}x slower than {tool}"
            for tool in (OGR, GPD)
            if (ratio := speedup(results, tool, layer)) is not None
        ]
        if parts:
            lines.append(f"- {label}: gis ingest is {', '.join(parts)}.")
    checks = []
    vs_ogr, vs_gpd = speedup(results, OGR, None), speedup(results, GPD, None)
    if vs_ogr is not None:
        checks.append(
            (
                f"at least as fast as ogr2ogr (>= {TARGET_VS_OGR:.0f}x)",
                vs_ogr >= TARGET_VS_OGR,
                f"{vs_ogr:.2f}x",
            )
        )
    if vs_gpd is not None:
        checks.append(
            (
                f"{TARGET_VS_GPD:.0f}x geopandas.to_postgis",
                vs_gpd >= TARGET_VS_GPD,
                f"{vs_gpd:.2f}x",
            )
        )
    peak = max(s.peak_rss for ds in DATASETS if (s := results.summary(GIS, ds.layer)))
    checks.append(("peak RSS under 1 GB (10^9 bytes)", peak < TARGET_RSS, fmt_bytes(peak)))
    lines.append("")
    lines.append("Targets for `gis ingest` into PostGIS (both files, best times):")
    lines.append("")
    lines += [
        f"- {'PASS' if ok else 'FAIL'}: {what} - measured {value}" for what, ok, value in checks
    ]
    return lines


def environment_lines(pg_versions: dict[str, str]) -> list[str]:
    machine = machine_info()
    gdal_cli = subprocess.run(["ogr2ogr", "--version"], capture_output=True, text=True)
    packages = ", ".join(f"{k} {v}" for k, v in package_versions(PACKAGES).items())
    return [
        f"- Machine: {machine['cpu']}, {machine['nproc']} cores (nproc), {machine['ram']} RAM,"
        f" {machine['os']}; load average {machine['load']} (1, 5, 15 min) at the start",
        f"- PostgreSQL {pg_versions['postgresql']}, PostGIS {pg_versions['postgis']} "
        f"(GEOS {pg_versions['geos']}), on the same machine",
        f"- ogr2ogr: {gdal_cli.stdout.strip() or 'not run'}; pyogrio's GDAL: "
        f"{pyogrio.__gdal_version_string__}",
        f"- Python {machine['python']}: {packages}",
    ]


def how_lines(results: Results) -> list[str]:
    """One line per tool that ran: how it was called."""
    gpd_index = {
        "with the table": "created by GeoAlchemy2 with the table, before the COPY",
        "after": "created by the loader after to_postgis",
    }
    how = {
        GIS: "- `gis ingest FILE --layer NAME --mode replace` with `GIS_DATABASE_URL` set: "
        "sha256 of the file (on a thread), read + clean, COPY (CSV, hex WKB) streamed from a "
        "background thread into a staging table, then primary key, GiST, time and ext_id "
        "indexes, swap, ANALYZE, all in one transaction;",
        OGR: "- `ogr2ogr -f PostgreSQL PG:... FILE -nln NAME -lco SCHEMA=ogr -lco "
        "GEOMETRY_NAME=geom -lco SPATIAL_INDEX=GIST [-nlt PROMOTE_TO_MULTI for polygons] "
        "-t_srs EPSG:4326 --config PG_USE_COPY YES -gt 65536`;",
        GPD: "- `geopandas.read_file(FILE, engine='pyogrio', use_arrow=True).to_postgis(NAME, "
        "engine, schema='gpd', if_exists='replace', index=False, chunksize=50_000)` "
        "(SQLAlchemy + psycopg 3, COPY); GiST index: "
        + (" / ".join(gpd_index[k] for k in sorted(results.gpd_index)) or "-")
        + ";",
        DUCK: f"- `{DUCK}`: the same command with `GIS_DATABASE_URL` unset and a fresh "
        "`GIS_DATA_DIR`, for information (not a target).",
    }
    ran = {tool for tool, _ in results.runs}
    return [line for tool, line in how.items() if tool in ran]


def render(results: Results, args: argparse.Namespace, env_lines: list[str]) -> str:
    """The markdown report (printed, and the docs section with --write-docs)."""
    counts = ", ".join(f"{ds.layer} {results.counts[ds.layer]:,}" for ds in DATASETS)
    reps = f"best of {args.repeat} runs (median also shown)" if args.repeat > 1 else "one run"
    parts = [
        f"Measured {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')} with:",
        "",
        "```sh",
        command_line(),
        "```",
        "",
        f"Files: FlatGeobuf from `scripts/make_sample_data.py --formats bench` ({counts}); "
        f"{reps} per tool and file, each in a fresh process, row counts and GiST index checked"
        " after every load (not timed), a CHECKPOINT before each. Peak RSS is the peak "
        "resident memory of the loader's process tree (each process's VmHWM, sampled every "
        "50 ms); CPU s is the loader's user+system time. The PostgreSQL server's own work is "
        "in the wall time only, not in Peak RSS or CPU s. Speed-up: the other tool's time "
        "divided by `gis ingest`'s (above 1: `gis ingest` is faster).",
        "",
        results_table(results, args.repeat),
        "",
        *verdict_lines(results),
        "",
        "How each tool was run:",
        "",
        *how_lines(results),
        "",
        "Not quite the same work: ogr2ogr and geopandas copy the attributes as they are "
        "(`observed_at` and `valid_from` stay text) and index only the geometry (plus "
        "ogr2ogr's primary key), while `gis ingest` also hashes the file, type-checks and "
        "parses every field (timestamps to `timestamptz`), validates geometries and the "
        "extent, and builds the primary key, the `ext_id` unique index and the time index. "
        "The targets are set against the tools all the same, since that is what users "
        "compare with. Each `gis ingest` run also pays its fixed start-up (Python imports, "
        "connecting, about 0.8 s), which weighs on the small polygon file.",
    ]
    if results.generate is not None:
        g = results.generate
        parts += [
            "",
            f"Generating the files took {g.wall_s:.1f} s (peak RSS "
            f"{fmt_bytes(g.peak_rss)}), not counted above.",
        ]
    parts += ["", "Environment:", "", *env_lines]
    return "\n".join(parts) + "\n"


# -- command line -------------------------------------------------------------------------


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Benchmark `gis ingest` against ogr2ogr and geopandas.to_postgis "
        "(PostGIS), plus `gis ingest` into the embedded DuckDB store.",
    )
    p.add_argument(
        "--data",
        type=Path,
        help="reuse this directory of benchmark files "
        "(flood_points.fgb, hazard_zones.fgb); default: generate them",
    )
    p.add_argument(
        "--out",
        type=Path,
        help="where to generate the files (kept); default: a "
        "temporary directory, removed at the end unless --keep",
    )
    p.add_argument(
        "--points",
        type=positive_int,
        help="points to generate (default: the generator's 1,000,000)",
    )
    p.add_argument(
        "--polygons",
        type=positive_int,
        help="polygons to generate (default: the generator's 100,000)",
    )
    p.add_argument(
        "--repeat",
        type=positive_int,
        default=1,
        help="measurements per tool and "
        "file; the report shows the best and the median (default: 1)",
    )
    p.add_argument(
        "--write-docs",
        action="store_true",
        help=f"write the report into docs/benchmarks.md under '{DOC_HEADING[3:]}'",
    )
    p.add_argument("--skip-ogr2ogr", action="store_true", help="do not run ogr2ogr")
    p.add_argument("--skip-geopandas", action="store_true", help="do not run geopandas")
    p.add_argument(
        "--skip-embedded",
        action="store_true",
        help="do not run gis ingest into the embedded DuckDB store",
    )
    p.add_argument(
        "--keep",
        action="store_true",
        help="keep the benchmark database and generated files at the end",
    )
    p.add_argument("--pg-host", default="127.0.0.1", help="PostgreSQL host (default: %(default)s)")
    p.add_argument("--pg-port", type=int, default=5432, help="port (default: %(default)s)")
    p.add_argument(
        "--pg-user",
        default="postgres",
        help="user, which may create databases "
        "(default: %(default)s; a password comes from PGPASSWORD or ~/.pgpass)",
    )
    p.add_argument(
        "--db",
        default="gis_bench_ingest",
        help="benchmark database, dropped and recreated (default: %(default)s)",
    )
    args = p.parse_args(argv)
    if args.data and (args.points or args.polygons or args.out):
        p.error("--points, --polygons and --out generate data; --data reuses existing files")
    return args


def preflight(args: argparse.Namespace, pg: Postgres) -> None:
    """Fail early, with the fix, when a tool or the server is missing."""
    if not args.skip_ogr2ogr and shutil.which("ogr2ogr") is None:
        fail(f"ogr2ogr (GDAL) is not installed: {OGR2OGR_INSTALL} (or pass --skip-ogr2ogr)")
    try:
        with pg.connect("postgres"):
            pass
    except psycopg.Error as exc:
        fail(f"cannot connect to PostgreSQL at {pg.url('postgres')}: {exc}")


@contextmanager
def bench_data(args: argparse.Namespace, work: Path, results: Results) -> Iterator[Path]:
    """The directory with the files: --data as is, or freshly generated."""
    if args.data:
        yield args.data
        return
    out = args.out or work / "data"
    out.mkdir(parents=True, exist_ok=True)
    results.generate = generate_data(out, args.points, args.polygons)
    yield out


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    pg = Postgres(args.pg_host, args.pg_port, args.pg_user, args.db)
    preflight(args, pg)
    work = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    results = Results(counts={})
    try:
        with bench_data(args, work, results) as data:
            results.counts = feature_counts(data, args)
            log(f"files in {data}: " + ", ".join(f"{k} {v:,}" for k, v in results.counts.items()))
            create_database(pg)
            log(f"database {pg.dbname} recreated with PostGIS")
            env_lines = environment_lines(server_versions(pg))
            started = time.perf_counter()
            run_benchmark(args, pg, data, work, results)
            log(f"all loads done in {time.perf_counter() - started:.1f} s")
    finally:
        if args.keep:
            log(f"kept database {pg.dbname} and work directory {work}")
        else:
            drop_database(pg)
            shutil.rmtree(work, ignore_errors=True)
    report = render(results, args, env_lines)
    print(report)
    if args.write_docs:
        update_doc_section(DOC_HEADING, report)
        log(f"wrote the '{DOC_HEADING[3:]}' section of docs/benchmarks.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
