#!/usr/bin/env python
"""OGC API Features throughput: our service beside tipg, pygeoapi and a bare-ASGI floor.

Every server reads the same PostGIS tables (public.flood_points, 1,000,000 points, and
public.hazard_zones, 100,000 polygons, loaded once with ``gis ingest`` from the files of
``scripts/make_sample_data.py --formats bench``) and gets the same requests:

- ``items-10``, ``items-100``, ``items-1000``: flood_points ``/items?limit=N``;
- ``bbox-100``: a small bbox in the city (chosen from the data to hold 100-200 points),
  ``limit=100``;
- ``filter-100``: ``filter=status='verified' AND depth_cm > 100&filter-lang=cql2-text``,
  ``limit=100``;
- ``item``: one flood point by id, ``/items/{fid}``;
- ``zones-100``: hazard_zones ``/items?limit=100``.

Each response is validated once before it is timed (HTTP 200, GeoJSON, the expected
number of features, every feature inside the bbox / matching the filter); a server that
fails a case is marked FAIL for it. Then a closed-loop client (``wrk``, or an asyncio
httpx client) keeps a fixed number of requests in flight for a warm-up and a timed
period; the report has requests/s, p50 and p99 latency, ratios, and the CPU used by the
client, the server process and PostgreSQL (100 % = one core), so a saturated client shows.

Servers, one at a time and each alone on the machine while it is measured, all one
process (one uvicorn worker) with a pool of at most 10 database connections:

- ours: ``gis serve`` with GIS_DATABASE_URL (or ``--ours-url`` for one already running);
  when its ``GET /collections`` does not answer 200 it is marked 'not available yet';
- tipg and pygeoapi: pinned from PyPI into their own venv (bench-out/peers-venv), under
  uvicorn; pygeoapi with a generated config and OpenAPI document in bench-out/features;
- floor: scripts/bench/floor_app.py, a bare ASGI app whose one SQL statement per request
  builds the whole GeoJSON in PostgreSQL.

Usage (from the repository root; PostgreSQL with PostGIS on 127.0.0.1:5432; load goes to
127.0.0.1 only)::

    python scripts/bench/features.py --data /tmp/bench-data
    python scripts/bench/features.py --data /tmp/bench-data --servers tipg,floor --cases item
    python scripts/bench/features.py --data /tmp/bench-data --ours-url http://127.0.0.1:8000
    python scripts/bench/features.py --data /tmp/bench-data --keep --write-docs

Needs psutil and httpx (``pip install -e '.[bench,test]'``) and, by default, wrk
(``apt-get install -y wrk``; ``--client httpx`` does without).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import psutil
import pyogrio
import yaml
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # the sibling modules (this file runs as a script)
    REPO_ROOT,
    command_line,
    machine_info,
    markdown_table,
    package_versions,
    run_measured,
    update_doc_section,
)
from ingest import (
    DATASETS,
    Postgres,
    child_env,
    fail,
    generate_data,
    gis_executable,
    log,
    server_versions,
)

DOC_HEADING = "## Features API (scripts/bench/features.py)"
HERE = Path(__file__).resolve().parent
BENCH_OUT = REPO_ROOT / "bench-out"
WORK = BENCH_OUT / "features"
PEERS_VENV = BENCH_OUT / "peers-venv"

#: The peers, pinned: versions found to work together on Python 3.11 (pygeoapi 0.22+
#: needs Python 3.12).
PEER_REQUIREMENTS = (
    "tipg==1.6.1",
    "pygeoapi==0.21.0",
    "uvicorn[standard]==0.55.0",
    "fastapi==0.165.0",
    "starlette==1.10.0",
    "asyncpg==0.32.0",
    "psycopg2-binary==2.9.13",
    "SQLAlchemy==2.1.9",
    "GeoAlchemy2==0.20.0",
    "pygeofilter==0.4.0",
)
PEER_PACKAGES = ("tipg", "pygeoapi", "uvicorn", "fastapi", "starlette", "asyncpg",
                 "psycopg2-binary", "SQLAlchemy", "GeoAlchemy2", "pygeofilter", "uvloop",
                 "httptools")  # fmt: skip
OUR_PACKAGES = ("gis-publik", "fastapi", "starlette", "uvicorn", "uvloop", "httptools",
                "psycopg", "psycopg-binary", "psycopg-pool", "httpx", "psutil")  # fmt: skip

OURS, TIPG, PYGEOAPI, FLOOR = "ours", "tipg", "pygeoapi", "floor"
SERVERS = (OURS, TIPG, PYGEOAPI, FLOOR)
#: --write-docs needs a complete run of these.
REFERENCES = (TIPG, PYGEOAPI, FLOOR)
WORKERS = 1
POOL_MAX = 10
READY_TIMEOUT_S = 120.0
HEADERS = {"Accept": "application/geo+json, application/json", "Accept-Encoding": "identity"}

#: The issue's targets for our service, and the aim.
TARGET_VS_TIPG = 1.5
TARGET_VS_PYGEOAPI = 5.0
AIM_OF_FLOOR = 0.5

CQL_FILTER = "status='verified' AND depth_cm > 100"
CQL_SQL = "status = 'verified' AND depth_cm > 100"
#: The bbox case looks for a square around the points' centre holding this many points.
BBOX_POINTS = (100, 200)
#: Degrees a returned point may lie outside the bbox (see _in_box).
BBOX_SLACK = 2e-5

#: wrk prints its summary as one JSON line through this script.
WRK_LUA = """\
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRK_JSON {\\"requests\\": %d, \\"duration_us\\": %d, \\"errors\\": %d, "
    .. "\\"p50_us\\": %d, \\"p99_us\\": %d}\\n",
    summary.requests, summary.duration,
    e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


# -- cases ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One request, sent again and again; ``expected`` features per response."""

    name: str
    table: str
    what: str
    expected: int
    params: tuple[tuple[str, str], ...] = ()
    item: int | None = None
    #: Every returned feature must pass this (bbox, filter), else the case FAILs.
    check: Callable[[dict[str, Any]], bool] | None = field(default=None, compare=False)
    #: Standard-conforming variants of ``params`` tried, in order, when a server refuses
    #: ``params`` (with what the report says about it).
    fallbacks: tuple[tuple[tuple[tuple[str, str], ...], str], ...] = ()

    def paths(self, collection: str) -> list[tuple[str, str | None]]:
        """(path, note) to try in order; the note says what differs from the first."""
        base = f"/collections/{quote(collection, safe='')}/items"
        if self.item is not None:
            return [(f"{base}/{self.item}", None)]
        variants = [(self.params, None), *self.fallbacks]
        return [(f"{base}?{urlencode(p, quote_via=quote)}", note) for p, note in variants]


CASE_NAMES = ("items-10", "items-100", "items-1000", "bbox-100", "filter-100", "item",
              "zones-100")  # fmt: skip


def _one(pg: Postgres, query: str | sql.Composable, params: Sequence[Any] = ()) -> Any:
    """The first row of a query (fails when there is none)."""
    with pg.connect() as conn:
        row = conn.execute(query, params).fetchone()  # type: ignore[arg-type]
    if row is None:
        fail(f"no row from {query!r}")
    return row


def _count(pg: Postgres, where: sql.Composable, table: str = "flood_points") -> int:
    query = sql.SQL("SELECT count(*) FROM public.{} WHERE {}").format(sql.Identifier(table), where)
    return int(_one(pg, query)[0])


def find_bbox(pg: Postgres) -> tuple[tuple[float, float, float, float], int]:
    """A square around the centre of the points holding BBOX_POINTS points (bisection)."""
    x, y = _one(
        pg,
        "SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_Centroid(ST_Extent(geom)::geometry) AS c "
        "FROM public.flood_points) s",
    )
    low, high = 1e-5, 0.5
    best: tuple[tuple[float, float, float, float], int] | None = None
    for _ in range(40):
        half = (low + high) / 2
        x1, y1, x2, y2 = (round(v, 6) for v in (x - half, y - half, x + half, y + half))
        box = (x1, y1, x2, y2)
        n = _count(
            pg,
            sql.SQL("geom && ST_MakeEnvelope({}, 4326)").format(
                sql.SQL(", ").join(map(sql.Literal, box))
            ),
        )
        if n >= BBOX_POINTS[0]:
            best = (box, n)
        if BBOX_POINTS[0] <= n <= BBOX_POINTS[1]:
            break
        low, high = (half, high) if n < BBOX_POINTS[0] else (low, half)
    if best is None:
        fail(f"no bbox around the centre holds {BBOX_POINTS[0]} points")
    return best  # type: ignore[return-value]


def _in_box(box: Sequence[float]) -> Callable[[dict[str, Any]], bool]:
    """Inside the bbox, give or take BBOX_SLACK (a server filtering with the lossy float4
    index boxes alone, ``&&``, returns points up to ~1e-5 degrees outside)."""

    def check(feature: dict[str, Any]) -> bool:
        lon, lat = feature["geometry"]["coordinates"][:2]
        e = BBOX_SLACK
        return box[0] - e <= lon <= box[2] + e and box[1] - e <= lat <= box[3] + e

    return check


def _matches_filter(feature: dict[str, Any]) -> bool:
    props = feature.get("properties") or {}
    return props.get("status") == "verified" and float(props.get("depth_cm") or 0) > 100


def build_cases(pg: Postgres, names: Sequence[str]) -> list[Case]:
    """The cases, with their bbox, item id and expected counts taken from the data."""
    points = _count(pg, sql.SQL("TRUE"))
    zones = _count(pg, sql.SQL("TRUE"), "hazard_zones")
    box, in_box = find_bbox(pg)
    matching = _count(pg, sql.SQL(CQL_SQL))
    fid = int(
        _one(
            pg,
            "SELECT fid FROM public.flood_points ORDER BY fid OFFSET %s LIMIT 1",
            (points // 2,),
        )[0]
    )
    bbox = ",".join(f"{v:.6f}" for v in box)
    cases = [
        *(
            Case(
                f"items-{n}",
                "flood_points",
                f"flood_points `limit={n}`",
                min(n, points),
                (("limit", str(n)),),
            )
            for n in (10, 100, 1000)
        ),
        Case(
            "bbox-100",
            "flood_points",
            f"flood_points `bbox={bbox}&limit=100` ({in_box:,} points in the bbox)",
            min(100, in_box),
            (("bbox", bbox), ("limit", "100")),
            check=_in_box(box),
        ),
        Case(
            "filter-100",
            "flood_points",
            f"flood_points `filter={CQL_FILTER}&filter-lang=cql2-text&limit=100` "
            f"({matching:,} points match)",
            min(100, matching),
            (("filter", CQL_FILTER), ("filter-lang", "cql2-text"), ("limit", "100")),
            check=_matches_filter,
            fallbacks=(
                (
                    (("filter", CQL_FILTER), ("limit", "100")),
                    "refuses `filter-lang=cql2-text`; sent without `filter-lang` (the "
                    "standard's default for a GET filter)",
                ),
            ),
        ),
        Case("item", "flood_points", f"flood_points `/items/{fid}` (one feature)", 1, item=fid),
        Case(
            "zones-100",
            "hazard_zones",
            "hazard_zones `limit=100` (multipolygons)",
            min(100, zones),
            (("limit", "100"),),
        ),
    ]
    return [c for c in cases if c.name in names]


def validate(doc: Any, case: Case) -> str | None:
    """Why the response body is not what ``case`` asks for (None: it is)."""
    if not isinstance(doc, dict):
        return "not a JSON object"
    if case.item is not None:
        if doc.get("type") != "Feature" or not doc.get("geometry"):
            return f"type {doc.get('type')!r}, expected a Feature with a geometry"
        if str(doc.get("id")) != str(case.item):
            return f"id {doc.get('id')!r}, expected {case.item}"
        return None
    features = doc.get("features")
    if doc.get("type") != "FeatureCollection" or not isinstance(features, list):
        return f"type {doc.get('type')!r}, expected a FeatureCollection"
    if len(features) != case.expected:
        return f"{len(features)} features, expected {case.expected}"
    if "numberReturned" in doc and doc["numberReturned"] != len(features):
        return f"numberReturned {doc['numberReturned']} but {len(features)} features"
    if not all(isinstance(f, dict) and f.get("geometry") for f in features):
        return "a feature without a geometry"
    if case.check and not all(case.check(f) for f in features):
        return "a feature does not match the query (bbox/filter ignored?)"
    return None


def check_response(url: str, case: Case) -> str | None:
    """GET once and validate; the reason it fails, or None."""
    try:
        response = httpx.get(url, headers=HEADERS, timeout=120)
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"
    if response.status_code != 200:
        return f"HTTP {response.status_code}: {response.text[:120]!r}"
    try:
        doc = response.json()
    except ValueError:
        return f"not JSON: {response.text[:120]!r}"
    return validate(doc, case)


# -- data -------------------------------------------------------------------------------


def table_rows(pg: Postgres, table: str) -> int | None:
    if _one(pg, "SELECT to_regclass(%s)", (f"public.{table}",))[0] is None:
        return None
    return _count(pg, sql.SQL("TRUE"), table)


def prepare_database(pg: Postgres, data: Path, reload: bool) -> dict[str, int]:
    """Create the database when missing and load both files with `gis ingest` unless the
    tables already hold exactly the files' rows; then VACUUM ANALYZE (not timed)."""
    with pg.connect("postgres") as conn:
        if not conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (pg.dbname,)
        ).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(pg.dbname)))
    with pg.connect() as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    counts = {}
    for ds in DATASETS:
        path = data / ds.file
        if not path.is_file():
            fail(
                f"{path} is missing: python scripts/make_sample_data.py --formats bench "
                f"--out {data}"
            )
        counts[ds.layer] = expected = int(pyogrio.read_info(path)["features"])
        if not reload and table_rows(pg, ds.layer) == expected:
            log(f"{ds.layer}: {expected:,} rows already loaded in {pg.dbname}, reused")
            continue
        env = child_env(database_url=pg.url(), data_dir=str(WORK / "gis-data"))
        cmd = [*gis_executable(), "ingest", str(path), "--layer", ds.layer, "--mode", "replace"]
        log(f"{ds.layer}: loading {expected:,} features with gis ingest")
        m = run_measured(cmd, env=env, cwd=REPO_ROOT, log_dir=WORK / "logs")
        m.check(f"gis ingest of {path.name}")
        if (rows := table_rows(pg, ds.layer)) != expected:
            fail(f"gis ingest loaded {rows} rows into {ds.layer}, expected {expected:,}")
        with pg.connect() as conn:
            conn.execute(sql.SQL("VACUUM ANALYZE public.{}").format(sql.Identifier(ds.layer)))
        log(f"  loaded in {m.wall_s:.1f} s, vacuumed and analyzed")
    return counts


def drop_database(pg: Postgres) -> None:
    with pg.connect("postgres") as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(pg.dbname))
        )


# -- the peers' venv ------------------------------------------------------------------------


def ensure_peers_venv(venv: Path) -> Path:
    """A venv with the pinned peers (re-installed only when the pins change)."""
    stamp, wanted = venv / "bench-requirements.txt", "\n".join(PEER_REQUIREMENTS) + "\n"
    python = venv / "bin" / "python"
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return venv / "bin"
    log(f"installing the peers into {venv} (pip, PyPI)")
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    result = subprocess.run([*pip, *PEER_REQUIREMENTS], capture_output=True, text=True)
    if result.returncode != 0:
        fail(f"pip install of the peers failed:\n{result.stderr[-3000:]}")
    stamp.write_text(wanted)
    return venv / "bin"


def venv_versions(python: Path, names: Sequence[str]) -> dict[str, str]:
    """Installed versions of ``names`` in another environment."""
    code = (
        "import json, sys\nfrom importlib import metadata\nout = {}\n"
        "for n in sys.argv[1:]:\n"
        "    try: out[n] = metadata.version(n)\n"
        "    except metadata.PackageNotFoundError: out[n] = '-'\n"
        "print(json.dumps(out))"
    )
    result = subprocess.run([str(python), "-c", code, *names], capture_output=True, text=True)
    return json.loads(result.stdout) if result.returncode == 0 else {}


# -- servers --------------------------------------------------------------------------------


@dataclass
class Launch:
    """How to start one server."""

    command: list[str]
    env: dict[str, str]
    how: str


@dataclass
class Server:
    """A server under test: where it answers, and its collection id for each table."""

    name: str
    base_url: str
    how: str
    popen: subprocess.Popen[bytes] | None = None
    collections: dict[str, str] = field(default_factory=dict)
    #: None while usable; otherwise why it was not measured.
    problem: str | None = None
    #: Deviations worth a line in the report (a fallback request, ...).
    notes: list[str] = field(default_factory=list)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def uvicorn_args(app: str, port: int) -> list[str]:
    return [
        app,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(WORKERS),
        "--no-access-log",
        "--log-level",
        "warning",
    ]


def launch_ours(pg: Postgres, port: int, peers_bin: Path) -> Launch:
    env = child_env(database_url=pg.url(), data_dir=str(WORK / "gis-data"), pool_max=str(POOL_MAX))
    return Launch(
        [*gis_executable(), "serve", "--host", "127.0.0.1", "--port", str(port), "--no-access-log"],
        env,
        f"`gis serve --port P` with `GIS_DATABASE_URL` and `GIS_POOL_MAX={POOL_MAX}`: "
        "uvicorn, one process, access log off like the others",
    )


def launch_tipg(pg: Postgres, port: int, peers_bin: Path) -> Launch:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=pg.url(),
        TIPG_DB_SCHEMAS='["public"]',
        TIPG_DB_TABLES='["public.flood_points","public.hazard_zones"]',
        TIPG_DB_EXCLUDE_FUNCTION_SCHEMAS='["public"]',
        TIPG_MAX_FEATURES_PER_QUERY="10000",
        DB_MIN_CONN_SIZE="1",
        DB_MAX_CONN_SIZE=str(POOL_MAX),
    )
    return Launch(
        [str(peers_bin / "uvicorn"), *uvicorn_args("tipg.main:app", port)],
        env,
        f"`uvicorn tipg.main:app --workers {WORKERS} --no-access-log --log-level warning` "
        'with `DATABASE_URL`, `TIPG_DB_SCHEMAS=["public"]`, '
        '`TIPG_DB_TABLES=["public.flood_points","public.hazard_zones"]`, '
        '`TIPG_DB_EXCLUDE_FUNCTION_SCHEMAS=["public"]`, '
        f"`DB_MAX_CONN_SIZE={POOL_MAX}` (asyncpg pool)",
    )


def pygeoapi_config(pg: Postgres, port: int) -> dict[str, Any]:
    """pygeoapi's configuration: both tables through its PostgreSQL provider."""

    def resource_for(table: str, title: str) -> dict[str, Any]:
        return {
            "type": "collection",
            "title": title,
            "description": f"public.{table} (synthetic benchmark data)",
            "keywords": ["benchmark"],
            "extents": {
                "spatial": {
                    "bbox": [92, -13, 143, 8],
                    "crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84",
                }
            },
            "providers": [
                {
                    "type": "feature",
                    "name": "PostgreSQL",
                    "data": {
                        "host": pg.host,
                        "port": pg.port,
                        "dbname": pg.dbname,
                        "user": pg.user,
                        "password": os.environ.get("PGPASSWORD", ""),
                        "search_path": ["public"],
                    },
                    "id_field": "fid",
                    "table": table,
                    "geom_field": "geom",
                }
            ],
        }

    url = f"http://127.0.0.1:{port}"
    contact = {
        "name": "benchmark",
        "email": "bench@example.invalid",
        "url": url,
        "role": "pointOfContact",
    }
    return {
        "server": {
            "bind": {"host": "127.0.0.1", "port": port},
            "url": url,
            "mimetype": "application/json; charset=UTF-8",
            "encoding": "utf-8",
            "language": "en-US",
            "limits": {"default_items": 10, "max_items": 10000},
            "map": {
                "url": "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
                "attribution": "OpenStreetMap",
            },
        },
        "logging": {"level": "ERROR"},
        "metadata": {
            "identification": {
                "title": "features benchmark",
                "description": "scripts/bench/features.py",
                "keywords": ["benchmark"],
                "keywords_type": "theme",
                "terms_of_service": "none",
                "url": url,
            },
            "license": {"name": "CC-BY 4.0", "url": "https://creativecommons.org/licenses/by/4.0/"},
            "provider": {"name": "benchmark", "url": url},
            "contact": contact,
        },
        "resources": {
            "flood_points": resource_for("flood_points", "Flood points"),
            "hazard_zones": resource_for("hazard_zones", "Hazard zones"),
        },
    }


def launch_pygeoapi(pg: Postgres, port: int, peers_bin: Path) -> Launch:
    """Write the config, generate the OpenAPI document as pygeoapi's docs say, serve."""
    config, openapi = WORK / "pygeoapi-config.yml", WORK / "pygeoapi-openapi.yml"
    config.write_text(yaml.safe_dump(pygeoapi_config(pg, port), sort_keys=False))
    env = dict(os.environ, PYGEOAPI_CONFIG=str(config), PYGEOAPI_OPENAPI=str(openapi))
    result = subprocess.run(
        [
            str(peers_bin / "pygeoapi"),
            "openapi",
            "generate",
            str(config),
            "--output-file",
            str(openapi),
        ],
        env=env,
        capture_output=True,
        text=True,
        cwd=WORK,
    )
    if result.returncode != 0:
        fail(f"pygeoapi openapi generate failed:\n{result.stderr[-3000:]}")
    return Launch(
        [str(peers_bin / "uvicorn"), *uvicorn_args("pygeoapi.starlette_app:APP", port)],
        env,
        f"`uvicorn pygeoapi.starlette_app:APP --workers {WORKERS} --no-access-log "
        "--log-level warning` with `PYGEOAPI_CONFIG` (bench-out/features/pygeoapi-config.yml:"
        " PostgreSQL provider per table, `id_field: fid`, `geom_field: geom`, logging ERROR, "
        "max_items 10000) and `PYGEOAPI_OPENAPI` from `pygeoapi openapi generate`; "
        "SQLAlchemy + psycopg2, its default pool (5 + 10 overflow), requests run on "
        "Starlette's thread pool",
    )


def launch_floor(pg: Postgres, port: int, peers_bin: Path) -> Launch:
    env = dict(os.environ, FLOOR_DATABASE_URL=pg.url(), FLOOR_POOL_MAX=str(POOL_MAX))
    return Launch(
        [
            sys.executable,
            "-m",
            "uvicorn",
            *uvicorn_args("floor_app:app", port),
            "--app-dir",
            str(HERE),
        ],
        env,
        f"`uvicorn floor_app:app --workers {WORKERS} --no-access-log --log-level warning` "
        f"(scripts/bench/floor_app.py, this project's venv): psycopg AsyncConnectionPool of "
        f"{POOL_MAX}, one SQL statement per request builds the whole GeoJSON "
        "(`json_build_object`/`json_agg` over `ST_AsGeoJSON`, `ORDER BY fid LIMIT N`) and the "
        "database's bytes are returned untouched; no numberMatched",
    )


LAUNCHERS: dict[str, Callable[[Postgres, int, Path], Launch]] = {
    OURS: launch_ours,
    TIPG: launch_tipg,
    PYGEOAPI: launch_pygeoapi,
    FLOOR: launch_floor,
}


def wait_http(url: str, popen: subprocess.Popen[bytes] | None, timeout: float) -> int | str:
    """The first HTTP status ``url`` answers with, or why there was none."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if popen is not None and popen.poll() is not None:
            return f"the server exited with {popen.returncode} before answering"
        try:
            return httpx.get(url, headers=HEADERS, timeout=10).status_code
        except httpx.HTTPError:
            time.sleep(0.25)
    return f"no answer from {url} within {timeout:.0f} s"


def resolve_collections(server: Server) -> str | None:
    """Map each table to the server's collection id ('flood_points', 'public.flood_points');
    return a problem when /collections does not list both."""
    status = wait_http(f"{server.base_url}/collections", server.popen, READY_TIMEOUT_S)
    if not isinstance(status, int):
        return status
    if status != 200:
        return f"GET /collections answered {status}"
    listing = httpx.get(f"{server.base_url}/collections", headers=HEADERS, timeout=30).json()
    ids = [str(c.get("id")) for c in listing.get("collections", [])]
    for ds in DATASETS:
        found = [i for i in ids if i == ds.layer or i.endswith(f".{ds.layer}")]
        if not found:
            return f"GET /collections does not list {ds.layer} (has {ids[:6]})"
        server.collections[ds.layer] = found[0]
    return None


def start_server(name: str, pg: Postgres, peers_bin: Path, logs: Path) -> Server:
    """Start one server in its own process group and wait until /collections answers."""
    port = free_port()
    spec = LAUNCHERS[name](pg, port, peers_bin)
    logs.mkdir(parents=True, exist_ok=True)
    with (logs / f"{name}.log").open("wb") as out:
        popen = subprocess.Popen(
            spec.command,
            env=spec.env,
            cwd=WORK,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    server = Server(name, f"http://127.0.0.1:{port}", spec.how, popen)
    log(f"{name}: started (pid {popen.pid}) on {server.base_url}, log {logs / f'{name}.log'}")
    return server


def stop_server(server: Server) -> None:
    """SIGTERM the server's process group, SIGKILL after 15 s."""
    popen = server.popen
    if popen is None or popen.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(popen.pid, signal.SIGTERM)
    try:
        popen.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(popen.pid, signal.SIGKILL)
        popen.wait(timeout=5)
    log(f"{server.name}: stopped")


# -- load -----------------------------------------------------------------------------------


@dataclass
class Load:
    """One timed run of one case against one server. CPU is in cores (1.0 = one core)."""

    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int
    client_cpu: float
    server_cpu: float | None
    db_cpu: float | None
    #: Cores busy machine-wide minus the three above: anything else that ran meanwhile.
    other_cpu: float | None

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0


#: Per (server, case): a Load, or why there is none ("FAIL: ...", "not available yet ...").
Outcome = Load | str


def _proc_cpu(proc: psutil.Process) -> float:
    """CPU seconds of a process and of its reaped children."""
    t = proc.cpu_times()
    return t.user + t.system + t.children_user + t.children_system


def tree_cpu(pid: int) -> float:
    """CPU seconds of the process tree under ``pid``."""
    total = 0.0
    with contextlib.suppress(psutil.Error):
        root = psutil.Process(pid)
        for proc in [root, *root.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                total += _proc_cpu(proc)
    return total


def busy_cpu() -> float:
    """Non-idle CPU seconds of the whole machine, all cores."""
    t = psutil.cpu_times()
    return sum(t) - t.idle - getattr(t, "iowait", 0.0)


def postgres_cpu() -> float | None:
    """CPU seconds of all local postgres processes (None when none is visible)."""
    total, seen = 0.0, False
    for proc in psutil.process_iter(["name"]):
        if proc.info["name"] == "postgres":
            with contextlib.suppress(psutil.Error):
                total += _proc_cpu(proc)
                seen = True
    return total if seen else None


def wrk_run(url: str, seconds: float, concurrency: int, lua: Path) -> tuple[dict[str, Any], float]:
    """One wrk run (one thread, keep-alive): its summary and its CPU in cores."""
    header = [a for k, v in HEADERS.items() for a in ("-H", f"{k}: {v}")]
    cmd = [
        "wrk",
        "-t1",
        f"-c{concurrency}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "30s",
        *header,
        "-s",
        str(lua),
        url,
    ]
    m = run_measured(cmd, log_dir=WORK / "logs")
    m.check("wrk")
    line = next((x for x in m.stdout.splitlines() if x.startswith("WRK_JSON ")), None)
    if line is None:
        sys.exit(f"FAILED: wrk printed no summary:\n{m.stdout[-2000:]}")
    return json.loads(line.removeprefix("WRK_JSON ")), m.cpu_s / m.wall_s


async def _httpx_load(url: str, seconds: float, concurrency: int) -> tuple[list[float], int, float]:
    """Closed loop: ``concurrency`` tasks each send the next request when one completes."""
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30, headers=HEADERS) as client:
        started = time.perf_counter()
        deadline = started + seconds

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                try:
                    response = await client.get(url)
                    ok = response.status_code == 200
                except httpx.HTTPError:
                    ok = False
                if ok:
                    latencies.append(time.perf_counter() - t0)
                else:
                    errors += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return latencies, errors, time.perf_counter() - started


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of sorted values (0 for none)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def httpx_run(url: str, seconds: float, concurrency: int) -> tuple[dict[str, Any], float]:
    """The same summary as wrk_run, from the in-process httpx client (CPU of this process)."""
    before = resource.getrusage(resource.RUSAGE_SELF)
    latencies, errors, elapsed = asyncio.run(_httpx_load(url, seconds, concurrency))
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    latencies.sort()
    summary = {
        "requests": len(latencies) + errors,
        "duration_us": elapsed * 1e6,
        "errors": errors,
        "p50_us": percentile(latencies, 50) * 1e6,
        "p99_us": percentile(latencies, 99) * 1e6,
    }
    return summary, cpu / elapsed


#: Above this (cores), a report note says the client may have been the bottleneck / other
#: work on the machine may have disturbed the figures.
CLIENT_CPU_WARN = 0.9
OTHER_CPU_WARN = 0.25
#: Before each timed run the machine must idle below this (cores) for a second, waiting at
#: most --quiet-wait seconds: other work (a test suite, say) skews the figures.
QUIET_CPU = 0.2


def wait_until_quiet(max_wait: float) -> None:
    """Wait until the machine is nearly idle (servers idle between runs), at most
    ``max_wait`` seconds; log when it had to wait or gave up."""
    started = time.monotonic()
    while True:
        before = busy_cpu()
        time.sleep(1.0)
        busy = busy_cpu() - before
        waited = time.monotonic() - started
        if busy < QUIET_CPU:
            if waited > 1.5:
                log(f"  waited {waited:.0f} s for the machine to quieten")
            return
        if waited >= max_wait:
            log(f"  machine still busy ({busy:.0%} of a core) after {waited:.0f} s; going on")
            return


def note_disturbances(server: Server, case: Case, load: Load) -> None:
    """Flag a saturated load generator or other work competing for the CPU."""
    if load.client_cpu >= CLIENT_CPU_WARN:
        server.notes.append(
            f"`{case.name}`: the load generator used {load.client_cpu:.0%} of a core, so it "
            "may have been the bottleneck"
        )
        log(f"  WARNING: client CPU {load.client_cpu:.0%}: the client may be the bottleneck")
    if load.other_cpu is not None and load.other_cpu >= OTHER_CPU_WARN:
        server.notes.append(
            f"`{case.name}`: other processes used {load.other_cpu:.0%} of a core meanwhile"
        )
        log(f"  WARNING: other processes used {load.other_cpu:.0%} of a core meanwhile")


def measure(server: Server, case: Case, args: argparse.Namespace) -> Outcome:
    """Validate once (trying the case's fallbacks), warm up, then time ``case``."""
    problems: list[str] = []
    for path, note in case.paths(server.collections[case.table]):
        url = server.base_url + path
        if not (problem := check_response(url, case)):
            if note:
                server.notes.append(f"`{case.name}`: {note}; first answer: {problems[0]}")
            break
        problems.append(problem)
    else:
        log(f"{server.name:8} {case.name:11} FAIL: {problems[0]}")
        return f"FAIL: {problems[0]}"

    def run(seconds: float) -> tuple[dict[str, Any], float]:
        if args.client == "wrk":
            return wrk_run(url, seconds, args.concurrency, WORK / "summary.lua")
        return httpx_run(url, seconds, args.concurrency)

    if args.quiet_wait > 0:
        wait_until_quiet(args.quiet_wait)
    if args.warmup > 0:
        run(args.warmup)
    pid = server.popen.pid if server.popen else None
    server_before, db_before = (tree_cpu(pid) if pid else None), postgres_cpu()
    busy_before, started = busy_cpu(), time.perf_counter()
    summary, client_cpu = run(args.duration)
    busy = (busy_cpu() - busy_before) / (time.perf_counter() - started)
    seconds = summary["duration_us"] / 1e6
    server_after, db_after = (tree_cpu(pid) if pid else None), postgres_cpu()
    server_cpu = (
        None
        if server_before is None or server_after is None
        else (server_after - server_before) / seconds
    )
    db_cpu = None if db_before is None or db_after is None else (db_after - db_before) / seconds
    load = Load(
        requests=int(summary["requests"]),
        seconds=seconds,
        p50_ms=summary["p50_us"] / 1000,
        p99_ms=summary["p99_us"] / 1000,
        errors=int(summary["errors"]),
        client_cpu=client_cpu,
        server_cpu=server_cpu,
        db_cpu=db_cpu,
        # Without the server's pid (--ours-url) its CPU cannot be told from the rest.
        other_cpu=None
        if server_cpu is None
        else max(0.0, busy - client_cpu - server_cpu - (db_cpu or 0.0)),
    )
    log(
        f"{server.name:8} {case.name:11} {load.rps:9,.1f} req/s  p50 {load.p50_ms:8.1f} ms  "
        f"p99 {load.p99_ms:8.1f} ms  errors {load.errors}  client CPU {load.client_cpu:.0%}"
    )
    note_disturbances(server, case, load)
    if load.errors > 0.01 * max(load.requests, 1):
        return f"FAIL: {load.errors} of {load.requests} requests failed"
    return load


# -- the report -----------------------------------------------------------------------------


@dataclass
class Run:
    """Everything the report needs."""

    cases: list[Case]
    servers: dict[str, Server] = field(default_factory=dict)
    outcomes: dict[tuple[str, str], Outcome] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def load(self, server: str, case: str) -> Load | None:
        outcome = self.outcomes.get((server, case))
        return outcome if isinstance(outcome, Load) else None

    def ratio(self, server: str, other: str, case: str) -> float | None:
        mine, theirs = self.load(server, case), self.load(other, case)
        if mine is None or theirs is None or theirs.rps == 0:
            return None
        return mine.rps / theirs.rps


def _cores(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _ratio(value: float | None, suffix: str = "x") -> str:
    return "-" if value is None else f"{value:.2f}{suffix}"


TABLE_HEADERS = ("Case", "Server", "Req/s", "p50 ms", "p99 ms", "vs tipg", "vs pygeoapi",
                 "of floor", "Errors", "Client CPU", "Server CPU", "DB CPU",
                 "Other CPU")  # fmt: skip


def table_row(run: Run, case: Case, name: str) -> list[str]:
    """One server's figures for one case (its FAIL / 'not available' reason otherwise)."""
    outcome = run.outcomes.get((name, case.name), "-")
    if not isinstance(outcome, Load):
        return [case.name, name, outcome, *["-"] * (len(TABLE_HEADERS) - 3)]
    ratios = [
        _ratio(run.ratio(name, other, case.name), suffix) if name != other else "-"
        for other, suffix in ((TIPG, "x"), (PYGEOAPI, "x"), (FLOOR, ""))
    ]
    cpu = [outcome.client_cpu, outcome.server_cpu, outcome.db_cpu, outcome.other_cpu]
    return [
        case.name, name, f"{outcome.rps:,.1f}", f"{outcome.p50_ms:,.1f}",
        f"{outcome.p99_ms:,.1f}", *ratios, str(outcome.errors), *map(_cores, cpu),
    ]  # fmt: skip


def results_table(run: Run) -> str:
    rows = [
        table_row(run, case, name) for case in run.cases for name in SERVERS if name in run.servers
    ]
    return markdown_table(TABLE_HEADERS, rows, "ll" + "r" * (len(TABLE_HEADERS) - 2))


def target_lines(run: Run) -> list[str]:
    """The issue's targets for our service, each PASS or FAIL, and the aim."""
    ours = run.servers.get(OURS)
    if ours is None:
        return ["Our server was not part of this run (`--servers`); targets not evaluated."]
    if ours.problem:
        return [f"Our server: not available yet ({ours.problem}); targets not evaluated."]

    def worst(values: dict[str, float | None]) -> tuple[str, float | None]:
        if any(v is None for v in values.values()) or not values:
            missing = [k for k, v in values.items() if v is None]
            return ", ".join(missing) or "-", None
        case = min(values, key=lambda k: values[k] or 0.0)
        return case, values[case]

    names = [c.name for c in run.cases]
    checks = []
    for label, other, target in (
        ("tipg", TIPG, TARGET_VS_TIPG),
        ("pygeoapi", PYGEOAPI, TARGET_VS_PYGEOAPI),
    ):
        case, value = worst({n: run.ratio(OURS, other, n) for n in names})
        ok = value is not None and value >= target
        shown = f"lowest {value:.2f}x ({case})" if value is not None else f"no figure for {case}"
        checks.append(
            f"- {'PASS' if ok else 'FAIL'}: >= {target:g}x {label} throughput on every case"
            f" - {shown}"
        )
    p99 = {
        n: (o.p99_ms / t.p99_ms) if (o := run.load(OURS, n)) and (t := run.load(TIPG, n)) else None
        for n in names
    }
    case, value = max(p99.items(), key=lambda kv: kv[1] or math.inf)
    ok = all(v is not None and v <= 1.0 for v in p99.values())
    shown = (
        f"worst {value:.2f}x tipg's p99 ({case})" if value is not None else f"no figure ({case})"
    )
    checks.append(f"- {'PASS' if ok else 'FAIL'}: p99 no worse than tipg on every case - {shown}")
    case, value = worst({n: run.ratio(OURS, FLOOR, n) for n in names})
    reached = value is not None and value >= AIM_OF_FLOOR
    shown = f"lowest {value:.2f} of the floor ({case})" if value is not None else "no figure"
    checks.append(f"- aim {'reached' if reached else 'not reached'}: half the floor - {shown}")
    return ["Targets for our service (from the issue):", "", *checks]


def environment_lines(pg_versions: dict[str, str], peers_bin: Path, client: str) -> list[str]:
    machine = machine_info()
    peers = venv_versions(peers_bin / "python", PEER_PACKAGES)
    ours = package_versions(OUR_PACKAGES)
    lines = [
        f"- Machine: {machine['cpu']}, {machine['nproc']} cores (nproc), {machine['ram']} RAM,"
        f" {machine['os']}; load average {machine['load']} (1, 5, 15 min) at the start",
        f"- PostgreSQL {pg_versions['postgresql']}, PostGIS {pg_versions['postgis']} "
        f"(GEOS {pg_versions['geos']}), on the same machine",
        "- Peers' venv (bench-out/peers-venv): " + ", ".join(f"{k} {v}" for k, v in peers.items()),
        f"- This project's venv (ours, floor, client), Python {machine['python']}: "
        + ", ".join(f"{k} {v}" for k, v in ours.items()),
    ]
    if client == "wrk":
        version = subprocess.run(["wrk", "--version"], capture_output=True, text=True)
        lines.append(f"- Load generator: {(version.stdout or version.stderr).splitlines()[0]}")
    return lines


def notes_lines(run: Run) -> list[str]:
    """What the run flagged: fallback requests, a busy machine, a saturated client."""
    notes = [f"- {s.name}, {note}" for s in run.servers.values() for note in s.notes]
    return ["", "Flagged during the run:", "", *notes] if notes else []


CLIENT_CHOICE = (
    " The Client CPU column shows wrk far from a full core; the script's asyncio httpx "
    "client (`--client httpx`) saturates one core at a few hundred requests/s here, below "
    "the floor, hence wrk."
)


def render(run: Run, args: argparse.Namespace, env_lines: list[str]) -> str:
    """The markdown report (printed, and the docs section with --write-docs)."""
    client = (
        "`wrk -t1` (one thread, keep-alive, a Lua `done` hook for p50/p99)"
        if args.client == "wrk"
        else "an asyncio httpx client in the harness process (keep-alive)"
    )
    parts = [
        f"Measured {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')} with:",
        "",
        "```sh",
        command_line(),
        "```",
        "",
        "Data: `gis ingest` of the `--formats bench` files into one database (public."
        f"flood_points {run.counts.get('flood_points', 0):,} points, public.hazard_zones "
        f"{run.counts.get('hazard_zones', 0):,} polygons, GiST on geom, VACUUM ANALYZE), read "
        f"by every server. Load: {client}, {args.concurrency} requests in flight, "
        f"{args.warmup:g} s warm-up then {args.duration:g} s timed per case, to 127.0.0.1; "
        "`Accept: application/geo+json`, no compression. Each response was validated once "
        "before timing (HTTP 200, the expected feature count, features inside the bbox / "
        "matching the filter). The servers ran one at a time, each alone, one process each "
        f"(one uvicorn worker), at most {POOL_MAX} database connections. Ratios are of "
        "requests/s; CPU columns are cores used over the timed run (100 % = one core of "
        f"{os.cpu_count()}): the load generator, the server's process tree, all "
        "PostgreSQL processes, and the rest of the machine (other work running meanwhile)."
        + (CLIENT_CHOICE if args.client == "wrk" else ""),
        "",
        "Cases:",
        "",
        *(f"- `{c.name}`: {c.what}" for c in run.cases),
        "",
        results_table(run),
        "",
        *target_lines(run),
        "",
        "How each server was run:",
        "",
        *(f"- {s.name}: {s.how}" for s in run.servers.values()),
        *notes_lines(run),
        "",
        "Not quite the same work: tipg and pygeoapi run a `COUNT(*)` of the matching rows on "
        "every items request for `numberMatched` (on 1,000,000 rows that scan is most of "
        "their time, filtered or not) and build every feature as Python objects before "
        "serialising; the floor returns no `numberMatched` and never parses the JSON "
        "PostgreSQL builds. Our service's choices are in its code (api/routes/features.py). "
        "tipg and the floor order by `fid`.",
        "",
        "Environment:",
        "",
        *env_lines,
    ]
    return "\n".join(parts) + "\n"


# -- command line -------------------------------------------------------------------------


def csv_of(allowed: Sequence[str]) -> Callable[[str], list[str]]:
    def parse(text: str) -> list[str]:
        items = [x.strip() for x in text.split(",") if x.strip()]
        unknown = [x for x in items if x not in allowed]
        if unknown or not items:
            raise argparse.ArgumentTypeError(f"choose from {', '.join(allowed)}")
        return items

    return parse


def positive(kind: type[int] | type[float]) -> Callable[[str], Any]:
    def parse(text: str) -> int | float:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError("must be positive")
        return value

    return parse


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="OGC API Features throughput of our service, tipg, pygeoapi and a "
        "bare-ASGI floor on the same PostGIS tables.",
    )
    p.add_argument(
        "--data",
        type=Path,
        help="directory with flood_points.fgb and hazard_zones.fgb; default: "
        "generate them into bench-out/bench-data",
    )
    p.add_argument(
        "--servers",
        type=csv_of(SERVERS),
        default=list(SERVERS),
        help=f"comma-separated, in running order (default: {','.join(SERVERS)})",
    )
    p.add_argument(
        "--ours-url",
        help="measure our service already running at this base URL "
        "(e.g. http://127.0.0.1:8000) instead of starting `gis serve`",
    )
    p.add_argument(
        "--cases",
        type=csv_of(CASE_NAMES),
        default=list(CASE_NAMES),
        help=f"comma-separated (default: {','.join(CASE_NAMES)})",
    )
    p.add_argument(
        "--duration",
        type=positive(float),
        default=10.0,
        help="timed seconds per case (default: %(default)s)",
    )
    p.add_argument(
        "--warmup",
        type=float,
        default=2.0,
        help="warm-up seconds per case, not counted (default: %(default)s)",
    )
    p.add_argument(
        "--quiet-wait",
        type=float,
        default=60.0,
        help="before each timed case, wait up to this many seconds for the machine to idle "
        f"(under {QUIET_CPU * 100:.0f}%% of a core); 0: do not wait (default: %(default)s)",
    )
    p.add_argument(
        "--concurrency",
        type=positive(int),
        default=16,
        help="requests in flight (default: %(default)s)",
    )
    p.add_argument(
        "--client",
        choices=("wrk", "httpx"),
        default="wrk" if shutil.which("wrk") else "httpx",
        help="load generator (default: wrk when installed, else httpx)",
    )
    p.add_argument(
        "--write-docs",
        action="store_true",
        help=f"write the report into docs/benchmarks.md under '{DOC_HEADING[3:]}' "
        "(only when tipg, pygeoapi and the floor all ran)",
    )
    p.add_argument(
        "--keep",
        action="store_true",
        help="keep the benchmark database (the next run skips the load)",
    )
    p.add_argument(
        "--reload",
        action="store_true",
        help="re-load the tables even when they already hold the files' rows",
    )
    p.add_argument("--pg-host", default="127.0.0.1", help="PostgreSQL host (default: %(default)s)")
    p.add_argument("--pg-port", type=int, default=5432, help="port (default: %(default)s)")
    p.add_argument("--pg-user", default="postgres", help="user (default: %(default)s)")
    p.add_argument(
        "--db",
        default="gis_bench_features",
        help="benchmark database, created when missing (default: %(default)s)",
    )
    args = p.parse_args(argv)
    if args.warmup < 0:
        p.error("--warmup must be 0 or more")
    if args.client == "wrk" and shutil.which("wrk") is None:
        p.error("wrk is not installed: apt-get install -y wrk (or --client httpx)")
    return args


def bench_data(args: argparse.Namespace) -> Path:
    if args.data:
        return args.data
    out = BENCH_OUT / "bench-data"
    if not all((out / ds.file).is_file() for ds in DATASETS):
        out.mkdir(parents=True, exist_ok=True)
        generate_data(out, None, None)
    return out


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM unwinds like Ctrl-C, so the servers are stopped either way."""

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def bench_server(
    name: str, run: Run, args: argparse.Namespace, pg: Postgres, peers_bin: Path
) -> None:
    """Start (or reach) one server, measure every case, stop it."""
    if name == OURS and args.ours_url:
        server = Server(
            OURS,
            args.ours_url.rstrip("/"),
            f"already running at {args.ours_url} "
            "(`--ours-url`; how it was started is not known to the script)",
        )
    else:
        server = start_server(name, pg, peers_bin, WORK / "logs")
    run.servers[name] = server
    try:
        server.problem = resolve_collections(server)
        if server.problem:
            label = "not available yet" if name == OURS else "FAIL"
            log(f"{name}: {label}: {server.problem}")
            for case in run.cases:
                run.outcomes[(name, case.name)] = f"{label} ({server.problem})"
            return
        for case in run.cases:
            run.outcomes[(name, case.name)] = measure(server, case, args)
    finally:
        stop_server(server)


def complete_for_docs(run: Run) -> list[str]:
    """Why the run may not go into the docs (empty: it may)."""
    missing = []
    for name in REFERENCES:
        server = run.servers.get(name)
        if server is None or server.problem:
            missing.append(f"{name} did not run" + (f" ({server.problem})" if server else ""))
        elif not any(run.load(name, c.name) for c in run.cases):
            missing.append(f"{name} has no measured case")
    return missing


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    pg = Postgres(args.pg_host, args.pg_port, args.pg_user, args.db)
    WORK.mkdir(parents=True, exist_ok=True)
    (WORK / "summary.lua").write_text(WRK_LUA)
    data = bench_data(args)
    peers_bin = (
        ensure_peers_venv(PEERS_VENV)
        if {TIPG, PYGEOAPI} & set(args.servers)
        else PEERS_VENV / "bin"
    )
    with sigterm_as_interrupt():
        try:
            counts = prepare_database(pg, data, args.reload)
            run = Run(cases=build_cases(pg, args.cases), counts=counts)
            env_lines = environment_lines(server_versions(pg), peers_bin, args.client)
            for name in args.servers:
                bench_server(name, run, args, pg, peers_bin)
        finally:
            if args.keep:
                log(f"kept database {pg.dbname}")
            else:
                drop_database(pg)
    report = render(run, args, env_lines)
    print(report)
    if args.write_docs:
        if missing := complete_for_docs(run):
            log("not writing docs/benchmarks.md: " + "; ".join(missing))
            return 1
        update_doc_section(DOC_HEADING, report)
        log(f"wrote the '{DOC_HEADING[3:]}' section of docs/benchmarks.md")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # the servers were stopped on the way out
        log("interrupted")
        sys.exit(130)
