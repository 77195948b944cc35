#!/usr/bin/env python
"""/risk latency under load: p50/p99 and requests/s at a fixed concurrency.

Builds (or reuses) a PostGIS database loaded with the demo city (``gis demo --no-serve``),
starts ``gis serve`` on it, checks one /risk answer, then fires /risk at random points
inside the demo extent from a closed-loop asyncio httpx client: ``--concurrency``
requests always in flight, a warm-up, then ``--duration`` timed seconds. Optionally the
same against the embedded (DuckDB) store. The goal of the issue: p99 under 100 ms at 50
concurrent requests.

Usage (repository root; PostgreSQL with PostGIS on 127.0.0.1:5432; a shared machine, so
serialise benchmarks with flock)::

    flock /tmp/bench.lock .venv/bin/python scripts/bench/risk.py
    flock /tmp/bench.lock .venv/bin/python scripts/bench/risk.py --workers 2 --embedded \
        --write-docs

Needs httpx (start-up checks) and psutil (``pip install -e '.[bench,test]'``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (
    REPO_ROOT,
    command_line,
    machine_info,
    markdown_table,
    update_doc_section,
)

HEADING = "## Spatial questions: /risk (scripts/bench/risk.py)"
ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
#: Inside the demo city's extent (data/README.md: near lon 110.40, lat -6.97).
EXTENT = (110.29, -7.06, 110.51, -6.90)
GIS = str(REPO_ROOT / ".venv" / "bin" / "gis")


@dataclass
class Result:
    label: str
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float]
    server_cpu: float

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    def pct(self, q: float) -> float:
        data = sorted(self.latencies_ms)
        return data[min(len(data) - 1, int(q * len(data)))]


def ensure_database(url: str, name: str) -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def load_demo(env: dict[str, str]) -> None:
    subprocess.run([GIS, "demo", "--no-serve"], env=env, check=True, capture_output=True)


def start_server(env: dict[str, str], port: int, workers: int) -> subprocess.Popen[bytes]:
    cmd = [GIS, "serve", "--port", str(port), "--workers", str(workers), "--no-access-log"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.terminate()
    sys.exit("the server did not come up in 30 s")


def urls(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    minx, miny, maxx, maxy = EXTENT
    return [
        f"/risk?lon={rng.uniform(minx, maxx):.6f}&lat={rng.uniform(miny, maxy):.6f}"
        for _ in range(n)
    ]


def check(base: str) -> None:
    body = httpx.get(base + "/risk?lon=110.40&lat=-6.97", timeout=10).json()
    if not (body.get("admin_areas") and body["nearest"]["shelter"]["facility"]):
        sys.exit(f"unexpected /risk answer: {str(body)[:300]}")


class Connection:
    """A minimal HTTP/1.1 keep-alive GET client on one socket. httpx costs more CPU per
    request than the server under test does; on a 2-core machine that the client shares
    with the server, a heavy client would measure itself."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        self.writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        await self.reader.readexactly(length)
        return status


async def load(
    port: int, targets: list[str], concurrency: int, warmup: float, duration: float
) -> tuple[int, int, list[float]]:
    latencies: list[float] = []
    errors = 0
    count = 0
    start = time.perf_counter()
    measure_from = start + warmup
    stop = measure_from + duration

    async def worker(k: int) -> None:
        nonlocal errors, count
        conn = Connection(port)
        i = k
        while (t0 := time.perf_counter()) < stop:
            try:
                ok = await conn.get(targets[i % len(targets)]) == 200
            except (OSError, ValueError, StopIteration, asyncio.IncompleteReadError):
                ok, conn = False, Connection(port)
            t1 = time.perf_counter()
            if t0 >= measure_from and t1 <= stop:
                count += 1
                if ok:
                    latencies.append((t1 - t0) * 1000)
                else:
                    errors += 1
            i += concurrency

    await asyncio.gather(*(worker(k) for k in range(concurrency)))
    return count, errors, latencies


def run(label: str, env: dict[str, str], args: argparse.Namespace, workers: int) -> list[Result]:
    """One server, one measurement per concurrency level."""
    port = free_port()
    proc = start_server(env, port, workers)
    base = f"http://127.0.0.1:{port}"
    results = []
    try:
        check(base)
        server = psutil.Process(proc.pid)
        tree = [server, *server.children(recursive=True)]
        for concurrency in args.concurrency:
            cpu0 = sum(p.cpu_times().user + p.cpu_times().system for p in tree)
            count, errors, lat = asyncio.run(
                load(port, urls(20_000, args.seed), concurrency, args.warmup, args.duration)
            )
            cpu1 = sum(p.cpu_times().user + p.cpu_times().system for p in tree)
            total = args.warmup + args.duration
            results.append(
                Result(f"{label}, {concurrency} in flight", count, errors, args.duration, lat,
                       (cpu1 - cpu0) / total)
            )  # fmt: skip
            print(report(results[-1:], args), flush=True)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return results


def report(results: list[Result], args: argparse.Namespace) -> str:
    rows = [
        [
            r.label,
            f"{r.rate:,.0f}",
            f"{r.pct(0.50):.1f}",
            f"{r.pct(0.99):.1f}",
            f"{statistics.fmean(r.latencies_ms):.1f}",
            str(r.errors),
            f"{r.server_cpu * 100:.0f} %",
        ]
        for r in results
    ]
    headers = ["server, requests in flight", "req/s", "p50 ms", "p99 ms", "mean ms"]
    table = markdown_table([*headers, "errors", "server CPU"], rows)
    info = machine_info()
    machine = ", ".join(f"{k}: {v}" for k, v in info.items())
    return (
        f"Command: `flock /tmp/bench.lock {command_line()}`\n\n"
        f"Random points inside the demo city ({EXTENT}); N requests in "
        f"flight (closed loop: a minimal asyncio HTTP/1.1 keep-alive client, one "
        "connection per request in flight, on the same machine), "
        f"{args.warmup:g} s warm-up, "
        f"{args.duration:g} s measured. Server CPU: 100 % = one core. Client and server "
        f"share the machine.\n\n{table}\n\nMachine: {machine}. "
        f"Date: {time.strftime('%Y-%m-%d', time.gmtime())}.\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default="gis_bench_risk")
    parser.add_argument(
        "--concurrency",
        type=lambda text: [int(c) for c in text.split(",")],
        default=[50],
        help="comma-separated requests in flight, e.g. 10,25,50",
    )
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--workers", default="1", help="comma-separated worker counts")
    parser.add_argument("--embedded", action="store_true", help="also the DuckDB store")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()

    url = ADMIN_URL.rsplit("/", 1)[0] + f"/{args.database}"
    ensure_database(url, args.database)
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("GIS_")}
    pg_env = {**base_env, "GIS_DATABASE_URL": url, "GIS_DATA_DIR": "/tmp/gis_bench_risk"}
    load_demo(pg_env)
    results = []
    for workers in (int(w) for w in args.workers.split(",")):
        results += run(f"PostGIS, {workers} worker(s)", pg_env, args, workers)
    if args.embedded:
        duck_env = {**base_env, "GIS_DATA_DIR": "/tmp/gis_bench_risk_duckdb"}
        load_demo(duck_env)
        results += run("DuckDB (embedded), 1 worker", duck_env, args, 1)
    text = report(results, args)
    print(text)
    if args.write_docs:
        update_doc_section(HEADING, text)


if __name__ == "__main__":
    main()
