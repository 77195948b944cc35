#!/usr/bin/env python
"""Vector-tile throughput: our service (cold and warm) beside tipg and a bare-ASGI floor.

One PostGIS database (gis_bench_tiles) holds the ``--formats bench`` data loaded with
`gis ingest` (flood_points: 1,000,000 points; hazard_zones: 100,000 polygons). For each
layer and zoom (8, 12, 15) a viewport of GRIDxGRID tiles around the data's centre is
requested round-robin by a closed-loop client (wrk with a Lua script, or httpx):

- ``ours-cold``: `gis serve` with the tile cache off (GIS_TILE_CACHE_BYTES=0, no
  directory): every request renders in PostGIS;
- ``tipg``: tipg pinned from PyPI (bench-out/peers-venv, as scripts/bench/features.py),
  its /collections/{id}/tiles/WebMercatorQuad/{z}/{x}/{y};
- ``floor``: scripts/bench/floor_tiles_app.py, a bare ASGI app that renders with *our
  current* code (gis.tiles.render.render_tile: tile SQL and budget re-renders, imported)
  through a psycopg pool, with no version lookup, ETag or cache;
- ``ours-warm``: `gis serve` with the memory cache on, after one priming pass.

Every tile is validated before timing: HTTP 200 (an MVT that decodes, with the layer) or
204 (empty); ours and the floor must return the same features (same SQL), tipg's feature
counts are shown beside them (tipg does not generalise, so it may carry more features).
Reported: tiles/s and p99 per layer and zoom, CPU of client, server and PostgreSQL, and
the ratios ours/tipg (target >= 1.3), ours/floor (>= 1/1.3) and warm/cold (>= 20).

Run one benchmark at a time on a small machine::

    flock /tmp/bench.lock python scripts/bench/tiles.py --data /tmp/bench-data --write-docs

Needs psutil, httpx, mapbox-vector-tile and (by default) wrk.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import mapbox_vector_tile

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import features  # the sibling script: its venv, database, server and CPU machinery
from common import REPO_ROOT, command_line, run_measured, update_doc_section
from features import (
    POOL_MAX,
    WRK_LUA,
    Server,
    busy_cpu,
    ensure_peers_venv,
    environment_lines,
    free_port,
    percentile,
    postgres_cpu,
    prepare_database,
    sigterm_as_interrupt,
    stop_server,
    tree_cpu,
    uvicorn_args,
    wait_http,
    wait_until_quiet,
)
from ingest import Postgres, child_env, gis_executable, log, server_versions

DOC_HEADING = "## Vector tiles (scripts/bench/tiles.py)"
WORK = REPO_ROOT / "bench-out" / "tiles"
features.WORK = WORK  # the shared helpers write their logs and data there
HERE = Path(__file__).resolve().parent

COLD, TIPG, FLOOR, WARM = "ours-cold", "tipg", "floor", "ours-warm"
SERVERS = (COLD, TIPG, FLOOR, WARM)
TARGET_VS_TIPG = 1.3
TARGET_VS_FLOOR = 1 / 1.3
TARGET_WARM = 20.0
LAYERS = ("flood_points", "hazard_zones")
HEADERS = {"Accept-Encoding": "identity"}
#: A tile may take long cold (z8 holds the whole city); no server should cut it short.
STATEMENT_TIMEOUT_MS = 120_000


@dataclass(frozen=True)
class Case:
    layer: str
    z: int
    tiles: tuple[tuple[int, int], ...]

    @property
    def name(self) -> str:
        return f"{self.layer} z{self.z}"

    def paths(self, server: str) -> list[str]:
        if server == TIPG:
            return [f"/collections/public.{self.layer}/tiles/WebMercatorQuad/{self.z}/{x}/{y}"
                    for x, y in self.tiles]  # fmt: skip
        return [f"/tiles/{self.layer}/{self.z}/{x}/{y}.mvt" for x, y in self.tiles]


@dataclass
class Load:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int
    client_cpu: float
    server_cpu: float | None
    db_cpu: float | None

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


@dataclass
class Run:
    cases: list[Case]
    counts: dict[str, int]
    loads: dict[tuple[str, str], Load | str] = field(default_factory=dict)
    #: features per tile, per (server, case): the validation's record
    features: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    how: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def tile_xy(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    y = (1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n
    return int((lon + 180.0) / 360.0 * n), int(y)


def build_cases(pg: Postgres, zooms: Sequence[int], grid: int) -> list[Case]:
    """A grid x grid viewport around the data's centre at each zoom, for each layer."""
    with pg.connect() as conn:
        row = conn.execute(
            "SELECT min(minx), min(miny), max(maxx), max(maxy) FROM gis_layer"
        ).fetchone()
    assert row is not None and row[0] is not None, "no layer loaded"
    lon, lat = (row[0] + row[2]) / 2, (row[1] + row[3]) / 2
    cases = []
    for layer in LAYERS:
        for z in zooms:
            cx, cy = tile_xy(lon, lat, z)
            lo = grid // 2
            tiles = tuple((x, y) for y in range(cy - lo, cy - lo + grid)
                          for x in range(cx - lo, cx - lo + grid))  # fmt: skip
            cases.append(Case(layer, z, tiles))
    return cases


# -- servers ----------------------------------------------------------------------------------


def launch(name: str, pg: Postgres, port: int, peers_bin: Path) -> tuple[list[str], dict, str]:
    if name in (COLD, WARM):
        cache = "0" if name == COLD else str(512 * 1024**2)
        env = child_env(database_url=pg.url(), data_dir=str(WORK / "gis-data"),
                        pool_max=str(POOL_MAX), tile_cache_bytes=cache,
                        statement_timeout_ms=str(STATEMENT_TIMEOUT_MS))  # fmt: skip
        cmd = [*gis_executable(), "serve", "--host", "127.0.0.1", "--port", str(port),
               "--no-access-log"]  # fmt: skip
        how = (f"`gis serve` (uvicorn, one process, access log off), `GIS_POOL_MAX={POOL_MAX}`, "
               f"`GIS_TILE_CACHE_BYTES={cache}`, no `GIS_TILE_CACHE_DIR`, "
               f"`GIS_STATEMENT_TIMEOUT_MS={STATEMENT_TIMEOUT_MS}`")  # fmt: skip
        if name == WARM:
            how += (
                ", after one priming pass over the same tiles (hits are answered by "
                "api/tile_fast_path.py ahead of the router)"
            )
        return cmd, env, how
    if name == TIPG:
        env = dict(os.environ)
        env.update(
            DATABASE_URL=pg.url(),
            TIPG_DB_SCHEMAS='["public"]',
            TIPG_DB_TABLES='["public.flood_points","public.hazard_zones"]',
            TIPG_DB_EXCLUDE_FUNCTION_SCHEMAS='["public"]',
            TIPG_SET_MVT_LAYERNAME="true",
            DB_MIN_CONN_SIZE="1",
            DB_MAX_CONN_SIZE=str(POOL_MAX),
        )
        cmd = [str(peers_bin / "uvicorn"), *uvicorn_args("tipg.main:app", port)]
        how = ("`uvicorn tipg.main:app --workers 1 --no-access-log`, `DATABASE_URL`, "
               "`TIPG_DB_TABLES` of both tables, `TIPG_SET_MVT_LAYERNAME=true`, "
               f"`DB_MAX_CONN_SIZE={POOL_MAX}`; its MVT defaults otherwise (at most 10,000 "
               "features per tile, a 256-px buffer, no generalisation)")  # fmt: skip
        return cmd, env, how
    env = dict(os.environ, FLOOR_DATABASE_URL=pg.url(), FLOOR_POOL_MAX=str(POOL_MAX))
    env.pop("PYTHONPATH", None)
    cmd = [sys.executable, "-m", "uvicorn", *uvicorn_args("floor_tiles_app:app", port),
           "--app-dir", str(HERE)]  # fmt: skip
    how = (
        "`uvicorn floor_tiles_app:app` (scripts/bench/floor_tiles_app.py): a bare ASGI app "
        "rendering with our current `render_tile` (tile SQL and budget re-renders) through "
        f"a psycopg AsyncConnectionPool of {POOL_MAX}, returning the database's bytes; no "
        "cache, no ETag, no version lookup"
    )
    return cmd, env, how


def start(name: str, pg: Postgres, peers_bin: Path, run: Run) -> Server:
    port = free_port()
    cmd, env, how = launch(name, pg, port, peers_bin)
    run.how[name] = how
    logs = WORK / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with (logs / f"{name}.log").open("wb") as out:
        popen = subprocess.Popen(cmd, env=env, cwd=WORK, stdout=out, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    server = Server(name, f"http://127.0.0.1:{port}", how, popen)
    probe = run.cases[-1].paths(name)[0]
    status = wait_http(server.base_url + probe, popen, 120)
    if not isinstance(status, int) or status >= 400:
        server.problem = f"not ready: {status}"
    log(f"{name}: started on {server.base_url} ({server.problem or 'ready'})")
    return server


# -- validation and load ----------------------------------------------------------------------


def validate(server: Server, case: Case) -> list[int] | str:
    """Fetch every tile once: 200 with a decodable MVT holding the layer, or 204. Returns
    the feature count per tile (0 for 204), or a problem. Also primes a cache."""
    counts = []
    with httpx.Client(timeout=300, headers=HEADERS) as client:
        for path in case.paths(server.name):
            r = client.get(server.base_url + path)
            if r.status_code == 204 or (r.status_code == 200 and not r.content):
                counts.append(0)
                continue
            if r.status_code != 200:
                return f"{path} answered {r.status_code}: {r.text[:200]}"
            try:
                layers = mapbox_vector_tile.decode(r.content)
            except Exception as exc:
                return f"{path}: not a vector tile ({exc})"
            # tipg names its layer "default"; ours and the floor use the layer's name.
            layer = layers.get(case.layer) or layers.get("default")
            if layer is None and layers:
                return f"{path}: no layer {case.layer!r} in {sorted(layers)}"
            counts.append(len(layer["features"]) if layer else 0)
    return counts


WRK_REQUESTS = """\
local paths = {{{paths}}}
local i = 0
request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end
"""


def wrk_run(base: str, paths: list[str], seconds: float, concurrency: int) -> tuple[dict, float]:
    lua = WORK / "tiles.lua"
    lua.write_text(WRK_REQUESTS.format(paths=", ".join(json.dumps(p) for p in paths)) + WRK_LUA)
    cmd = ["wrk", "-t1", f"-c{concurrency}", f"-d{max(1, round(seconds))}s", "--timeout", "60s",
           "-H", "Accept-Encoding: identity", "-s", str(lua), base + paths[0]]  # fmt: skip
    m = run_measured(cmd, log_dir=WORK / "logs")
    m.check("wrk")
    line = next((x for x in m.stdout.splitlines() if x.startswith("WRK_JSON ")), None)
    if line is None:
        sys.exit(f"FAILED: wrk printed no summary:\n{m.stdout[-2000:]}")
    return json.loads(line.removeprefix("WRK_JSON ")), m.cpu_s / m.wall_s


def httpx_run(base: str, paths: list[str], seconds: float, concurrency: int) -> tuple[dict, float]:
    import asyncio
    import resource

    async def load() -> tuple[list[float], int, float]:
        latencies: list[float] = []
        errors, counter = 0, 0
        limits = httpx.Limits(max_connections=concurrency)
        async with httpx.AsyncClient(limits=limits, timeout=60, headers=HEADERS) as client:
            started = time.perf_counter()
            deadline = started + seconds

            async def worker() -> None:
                nonlocal errors, counter
                while time.perf_counter() < deadline:
                    counter += 1
                    t0 = time.perf_counter()
                    try:
                        ok = (await client.get(base + paths[counter % len(paths)])).is_success
                    except httpx.HTTPError:
                        ok = False
                    if ok:
                        latencies.append(time.perf_counter() - t0)
                    else:
                        errors += 1

            await asyncio.gather(*(worker() for _ in range(concurrency)))
            return latencies, errors, time.perf_counter() - started

    before = resource.getrusage(resource.RUSAGE_SELF)
    latencies, errors, elapsed = asyncio.run(load())
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    latencies.sort()
    return {"requests": len(latencies) + errors, "duration_us": elapsed * 1e6, "errors": errors,
            "p50_us": percentile(latencies, 50) * 1e6,
            "p99_us": percentile(latencies, 99) * 1e6}, cpu / elapsed  # fmt: skip


def measure(server: Server, case: Case, args: argparse.Namespace) -> Load:
    paths = case.paths(server.name)
    runner = wrk_run if args.client == "wrk" else httpx_run
    if args.quiet_wait > 0:
        wait_until_quiet(args.quiet_wait)
    if args.warmup > 0:
        runner(server.base_url, paths, args.warmup, args.concurrency)
    pid = server.popen.pid if server.popen else None
    s0, d0, b0 = (tree_cpu(pid) if pid else None), postgres_cpu(), busy_cpu()
    summary, client_cpu = runner(server.base_url, paths, args.duration, args.concurrency)
    seconds = summary["duration_us"] / 1e6
    s1, d1 = (tree_cpu(pid) if pid else None), postgres_cpu()
    load = Load(
        requests=int(summary["requests"]), seconds=seconds,
        p50_ms=summary["p50_us"] / 1000, p99_ms=summary["p99_us"] / 1000,
        errors=int(summary["errors"]), client_cpu=client_cpu,
        server_cpu=None if s0 is None or s1 is None else (s1 - s0) / seconds,
        db_cpu=None if d0 is None or d1 is None else (d1 - d0) / seconds,
    )  # fmt: skip
    _ = busy_cpu() - b0
    log(f"{server.name:9} {case.name:16} {load.rps:9,.1f} tiles/s  p50 {load.p50_ms:8.1f} ms  "
        f"p99 {load.p99_ms:8.1f} ms  errors {load.errors}")  # fmt: skip
    return load


def bench_server(name: str, run: Run, args: argparse.Namespace, pg: Postgres, bin_: Path) -> None:
    server = start(name, pg, bin_, run)
    try:
        for case in run.cases:
            key = (name, case.name)
            if server.problem:
                run.loads[key] = f"FAIL: {server.problem}"
                continue
            checked = validate(server, case)
            if isinstance(checked, str):
                log(f"{name:9} {case.name:16} FAIL: {checked}")
                run.loads[key] = f"FAIL: {checked}"
                continue
            run.features[key] = checked
            if name == WARM:
                checked = validate(server, case)  # the second pass must be served warm
            load = measure(server, case, args)
            bad = load.errors > 0.01 * max(load.requests, 1)
            run.loads[key] = f"FAIL: {load.errors} errors" if bad else load
    finally:
        stop_server(server)


# -- report -----------------------------------------------------------------------------------


def _load(run: Run, server: str, case: Case) -> Load | None:
    v = run.loads.get((server, case.name))
    return v if isinstance(v, Load) else None


def _ratio(a: Load | None, b: Load | None) -> float | None:
    return a.rps / b.rps if a and b and b.rps else None


def _fmt(v: float | None, suffix: str = "x") -> str:
    return "-" if v is None else f"{v:.2f}{suffix}"


def results_table(run: Run) -> list[str]:
    head = ["Layer, zoom", "Server", "Tiles/s", "p50 ms", "p99 ms", "Features/tile",
            "Server CPU", "PostgreSQL CPU", "Client CPU"]  # fmt: skip
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for case in run.cases:
        for name in SERVERS:
            v = run.loads.get((name, case.name))
            feats = run.features.get((name, case.name))
            ftxt = f"{sum(feats) / len(feats):,.0f}" if feats else "-"
            if isinstance(v, Load):
                cells = [f"{v.rps:,.1f}", f"{v.p50_ms:,.1f}", f"{v.p99_ms:,.1f}", ftxt,
                         _fmt(v.server_cpu and v.server_cpu * 100, " %"),
                         _fmt(v.db_cpu and v.db_cpu * 100, " %"),
                         _fmt(v.client_cpu * 100, " %")]  # fmt: skip
            else:
                cells = [v or "not run", "", "", ftxt, "", "", ""]
            rows.append(f"| {case.name} | {name} | " + " | ".join(cells) + " |")
    return rows


def ratio_lines(run: Run) -> list[str]:
    head = ["Layer, zoom", "ours/tipg", "ours/floor", "warm/cold"]
    rows = ["| " + " | ".join(head) + " |", "|---|---|---|---|"]
    all_r: dict[str, list[float]] = {"tipg": [], "floor": [], "warm": []}
    for case in run.cases:
        cold = _load(run, COLD, case)
        r = {"tipg": _ratio(cold, _load(run, TIPG, case)),
             "floor": _ratio(cold, _load(run, FLOOR, case)),
             "warm": _ratio(_load(run, WARM, case), cold)}  # fmt: skip
        for k, v in r.items():
            if v is not None:
                all_r[k].append(v)
        rows.append(f"| {case.name} | {_fmt(r['tipg'])} | {_fmt(r['floor'])} | "
                    f"{_fmt(r['warm'])} |")  # fmt: skip

    def geo(values: list[float]) -> float | None:
        return math.exp(sum(map(math.log, values)) / len(values)) if values else None

    lines = ["", *rows, ""]
    for key, label, target in (("tipg", "ours/tipg", TARGET_VS_TIPG),
                               ("floor", "ours/floor", TARGET_VS_FLOOR),
                               ("warm", "warm/cold", TARGET_WARM)):  # fmt: skip
        values = all_r[key]
        if not values:
            lines.append(f"- {label}: no figure")
            continue
        g, worst = geo(values), min(values)
        ok = worst >= target
        lines.append(f"- {'PASS' if ok else 'MISS'}: {label} >= {target:.2f} on every case "
                     f"(geometric mean {g:.2f}x, worst {worst:.2f}x)")  # fmt: skip
    return lines


def validation_lines(run: Run) -> list[str]:
    """Ours and the floor run the same SQL: their per-tile feature counts must agree."""
    lines = []
    for case in run.cases:
        ours, floor = run.features.get((COLD, case.name)), run.features.get((FLOOR, case.name))
        if ours is not None and floor is not None and ours != floor:
            lines.append(f"- MISMATCH {case.name}: ours {ours} vs floor {floor}")
    return lines or ["- ours-cold and the floor returned the same feature counts "
                     "on every tile"]  # fmt: skip


def render(run: Run, args: argparse.Namespace, env_lines: list[str]) -> str:
    client = ("`wrk -t1` (one thread, keep-alive, a Lua script cycling over the viewport's "
              "tiles)" if args.client == "wrk" else "an asyncio httpx client")  # fmt: skip
    parts = [
        f"Measured {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')} with:",
        "",
        "```sh",
        command_line(),
        "```",
        "",
        f"Data: `gis ingest` of the `--formats bench` files into one database "
        f"(flood_points {run.counts.get('flood_points', 0):,} points, hazard_zones "
        f"{run.counts.get('hazard_zones', 0):,} polygons, VACUUM ANALYZE; each load also "
        "builds the layer's tile overview, see [tiles.md](tiles.md#how-low-zooms-stay-fast); "
        "`--reload` loads again, e.g. after a change of the overviews). Requests: for each "
        f"layer and zoom, the {args.grid}x{args.grid} tiles around the data's centre, "
        f"round-robin; load: {client}, {args.concurrency} in flight, {args.warmup:g} s "
        f"warm-up then {args.duration:g} s timed per case; no compression. Empty tiles (204) "
        "count as tiles served. Servers ran one at a time, one process each. CPU is in cores "
        f"(100 % = one of {os.cpu_count()}).",
        "",
        *results_table(run),
        *ratio_lines(run),
        "",
        "Validation before timing:",
        "",
        *validation_lines(run),
        "- Not the same work: tipg stops at 10,000 features per tile (its default, so a "
        "dense low-zoom tile is cut short, silently) and does not generalise; ours and the "
        "floor draw every feature through the layers' per-zoom generalisation "
        "(simplification, thinning, clustering). `Features/tile` shows the difference.",
        "- Below the detail zoom (z8 and z12 here) ours and the floor read the clusters, "
        "merged small polygons and simplified shapes from the layers' overviews, prepared "
        "by `gis ingest`; z15 reads the rows (and clusters its tiles over budget from the "
        "overview). A tile over its layer's budget is rendered "
        "again one step coarser (hazard_zones z12 near the centre: about 21,000 zones, "
        "~700 KB, then ~1 KB).",
        "",
        "How each server was run:",
        "",
        *(f"- {k}: {v}" for k, v in run.how.items()),
        "",
        "Environment:",
        "",
        *env_lines,
        *(["", *run.notes] if run.notes else []),
    ]
    return "\n".join(parts) + "\n"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--data", type=Path, default=Path("/tmp/bench-data"))
    p.add_argument("--db", default="gis_bench_tiles")
    p.add_argument("--pg-host", default="127.0.0.1")
    p.add_argument("--pg-port", type=int, default=5432)
    p.add_argument("--pg-user", default="postgres")
    p.add_argument("--zooms", default="8,12,15")
    p.add_argument("--grid", type=int, default=4)
    p.add_argument("--servers", default=",".join(SERVERS))
    p.add_argument("--duration", type=float, default=8.0)
    p.add_argument("--warmup", type=float, default=2.0)
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--quiet-wait", type=float, default=20.0)
    p.add_argument("--client", choices=("wrk", "httpx"),
                   default="wrk" if shutil.which("wrk") else "httpx")  # fmt: skip
    p.add_argument("--reload", action="store_true", help="ingest the data again")
    p.add_argument("--write-docs", action="store_true")
    args = p.parse_args(argv)
    args.zooms = [int(z) for z in args.zooms.split(",")]
    args.servers = [s for s in args.servers.split(",") if s]
    if unknown := set(args.servers) - set(SERVERS):
        p.error(f"unknown servers {sorted(unknown)}; choose from {', '.join(SERVERS)}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    pg = Postgres(args.pg_host, args.pg_port, args.pg_user, args.db)
    WORK.mkdir(parents=True, exist_ok=True)
    peers_bin = ensure_peers_venv(features.PEERS_VENV) if TIPG in args.servers else Path()
    counts = prepare_database(pg, args.data, args.reload)
    run = Run(cases=build_cases(pg, args.zooms, args.grid), counts=counts)
    env_lines = environment_lines(server_versions(pg), peers_bin or features.PEERS_VENV / "bin",
                                  args.client)  # fmt: skip
    with sigterm_as_interrupt():  # the servers are stopped on Ctrl-C or SIGTERM too
        for name in args.servers:
            bench_server(name, run, args, pg, peers_bin)
    report = render(run, args, env_lines)
    print(report)
    if args.write_docs:
        update_doc_section(DOC_HEADING, report)
        log(f"wrote the '{DOC_HEADING[3:]}' section of docs/benchmarks.md")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        log("interrupted")
        sys.exit(130)
