#!/usr/bin/env python
"""Vector tile sizes on the benchmark data: max and mean bytes per layer per zoom.

Loads the files of ``scripts/make_sample_data.py --formats bench`` (flood_points 1,000,000
points, hazard_zones 100,000 polygons, admin_areas, facilities) into a PostGIS database
(default ``gis_bench_tiles``, created with the postgis extension when missing) with
``gis ingest`` (skipped when the table already holds the file's rows), then renders each
layer's tiles alone through the service's render path (gis.tiles.render: per-zoom
generalisation, the budget and its coarsening retries) over a viewport grid at each zoom:

- every tile over the data's extent when there are at most ``--grid`` x ``--grid``,
  otherwise ``--grid`` x ``--grid`` tiles evenly spread over it;
- plus the 3x3 tiles around the densest spot (the median flood point), where the largest
  tiles are.

For each layer and zoom it reports the tiles rendered, those with features, the mean and
the largest size, how many needed a coarsening retry (their first rendering was over the
layer's budget) and how many stayed over budget (should be 0), and the mean render time.

Usage (from the repository root; PostgreSQL with PostGIS on 127.0.0.1:5432)::

    python scripts/bench/tile_sizes.py --data /tmp/bench-data
    python scripts/bench/tile_sizes.py --data /tmp/bench-data --zooms 8,10,12,14,15 --write-docs
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # the sibling modules (this file runs as a script)
    REPO_ROOT,
    command_line,
    machine_info,
    markdown_table,
    update_doc_section,
)

sys.path.insert(0, str(REPO_ROOT))
from gis.query.tiles import TileRequest, tile_layers_sql
from gis.store.postgis import PostgisStore
from gis.tiles.render import render_tile_checked_sync
from layers.registry import get_layer
from layers.spec import LayerSpec

HEADING = "## Vector tile sizes (scripts/bench/tile_sizes.py)"
LAYERS = ("admin_areas", "hazard_zones", "facilities", "flood_points")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def prepare(admin_url: str, url: str, dbname: str, data: Path, reload: bool) -> None:
    """Create the database when missing; `gis ingest` each manifest file not yet loaded."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    manifest = json.loads((data / "manifest.json").read_text(encoding="utf-8"))
    gis = REPO_ROOT / ".venv" / "bin" / "gis"
    for entry in manifest["layers"]:
        path, layer = data / entry["file"], entry["layer"]
        if layer not in LAYERS or not path.is_file():
            continue
        with psycopg.connect(url, autocommit=True) as conn:
            exists = conn.execute("SELECT to_regclass(%s)", (f"public.{layer}",)).fetchone()
            rows = (
                conn.execute(
                    sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(layer))
                ).fetchone()
                if exists and exists[0]
                else None
            )
        if rows and rows[0] > 0 and not reload:
            log(f"{layer}: {rows[0]:,} rows already in {dbname}, reused")
            continue
        log(f"{layer}: gis ingest {path.name}")
        cmd = [str(gis), "ingest", str(path), "--layer", layer, "--mode", "replace"]
        if entry.get("id_field"):
            cmd += ["--id-field", entry["id_field"]]
        env = {**os.environ, "GIS_DATABASE_URL": url}
        subprocess.run(cmd, env=env, cwd=REPO_ROOT, check=True)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql.SQL("VACUUM ANALYZE {}").format(sql.Identifier(layer)))


def tile_xy(lon: float, lat: float, z: int) -> tuple[int, int]:
    import math

    n = 2**z
    lat = max(min(lat, 85.05), -85.05)
    fy = (1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n
    return min(int((lon + 180.0) / 360.0 * n), n - 1), min(int(fy), n - 1)


def viewport(
    z: int, bbox: tuple[float, float, float, float], dense: tuple[float, float], grid: int
) -> list[TileRequest]:
    x0, y0 = tile_xy(bbox[0], bbox[3], z)
    x1, y1 = tile_xy(bbox[2], bbox[1], z)

    def spread(a: int, b: int) -> list[int]:
        count = b - a + 1
        if count <= grid:
            return list(range(a, b + 1))
        return sorted({a + round(i * (count - 1) / (grid - 1)) for i in range(grid)})

    tiles = {(x, y) for x in spread(x0, x1) for y in spread(y0, y1)}
    cx, cy = tile_xy(*dense, z)
    tiles |= {(cx + dx, cy + dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1)}
    n = 2**z
    return [TileRequest(z, x, y) for x, y in sorted(tiles) if 0 <= x < n and 0 <= y < n]


@dataclass
class Row:
    layer: str
    z: int
    sizes: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    coarsened: int = 0
    over: int = 0


def measure(store: PostgisStore, spec: LayerSpec, tiles: list[TileRequest], row: Row) -> None:
    for tile in tiles:
        first = tile_layers_sql([spec], tile, "postgis")
        result = store.fetch_one(first.text(), first.params)
        first_size = len(bytes(result[0])) if result and result[0] is not None else 0
        started = time.perf_counter()
        rendered = render_tile_checked_sync(store, [spec], tile)
        row.seconds.append(time.perf_counter() - started)
        row.sizes.append(len(rendered.data))
        row.coarsened += first_size > spec.tiles.budget_bytes
        row.over += bool(rendered.over_budget)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("/tmp/bench-data"))
    parser.add_argument("--db", default="gis_bench_tiles")
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--zooms", default="8,10,12,14,15")
    parser.add_argument("--grid", type=int, default=8, help="tiles per side of the grid")
    parser.add_argument("--reload", action="store_true", help="ingest even when loaded")
    parser.add_argument("--write-docs", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args()
    url = args.admin_url.rsplit("/", 1)[0] + "/" + args.db
    prepare(args.admin_url, url, args.db, args.data, args.reload)
    zooms = [int(z) for z in args.zooms.split(",")]
    store = PostgisStore(url, pool_min=1, pool_max=2)
    with psycopg.connect(url) as conn:
        ext = conn.execute(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
            "(SELECT ST_Extent(geom)::geometry AS e FROM hazard_zones) s"
        ).fetchone()
        med = conn.execute(
            "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ST_X(geom)), "
            "percentile_cont(0.5) WITHIN GROUP (ORDER BY ST_Y(geom)) FROM flood_points"
        ).fetchone()
        counts = {
            name: conn.execute(
                sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(name))
            ).fetchone()[0]  # type: ignore[index]
            for name in LAYERS
        }
    assert ext is not None and med is not None
    bbox = (float(ext[0]), float(ext[1]), float(ext[2]), float(ext[3]))
    dense = (float(med[0]), float(med[1]))
    rows: list[Row] = []
    for name in LAYERS:
        spec = get_layer(name)
        for z in zooms:
            if not spec.min_zoom <= z <= spec.max_zoom:
                continue
            row = Row(name, z)
            measure(store, spec, viewport(z, bbox, dense, args.grid), row)
            rows.append(row)
            log(f"{name} z{z}: {len(row.sizes)} tiles, max {max(row.sizes, default=0):,} B, "
                f"coarsened {row.coarsened}, over {row.over}")  # fmt: skip
    store.close()
    table = markdown_table(
        ["Layer", "Zoom", "Tiles", "With features", "Mean bytes", "Max bytes", "Budget bytes",
         "Coarsened", "Over budget", "Mean ms"],
        [
            (r.layer, r.z, len(r.sizes), sum(1 for s in r.sizes if s),
             f"{statistics.fmean([s for s in r.sizes if s]) if any(r.sizes) else 0:,.0f}",
             f"{max(r.sizes, default=0):,}", f"{get_layer(r.layer).tiles.budget_bytes:,}",
             r.coarsened, r.over, f"{statistics.fmean(r.seconds) * 1000:,.0f}")
            for r in rows
        ],
        "lrrrrrrrrr",
    )  # fmt: skip
    info = machine_info()
    loaded = ", ".join(f"{n} {c:,}" for n, c in counts.items())
    data = " ".join([
        "Data: `gis ingest` of the `--formats bench` files into the PostGIS database",
        f"`{args.db}` ({loaded} features). Each layer's tiles are rendered alone through",
        "`gis.tiles.render` (the per-zoom generalisation, the budget and its coarsening",
        "retries; see [tiles.md](tiles.md)) over a viewport grid per zoom: up to",
        f"{args.grid}x{args.grid} tiles evenly spread over the hazard zones' extent, plus",
        "the 3x3 tiles around the median flood point (the densest spot).",
    ])  # fmt: skip
    columns = " ".join([
        "Sizes are the uncompressed MVT bytes of the tiles that have features. \"Coarsened\"",
        "counts the tiles whose first rendering was over the layer's budget and that were",
        "rendered again, coarser; \"Over budget\" those still over it after the last step",
        "(they would be served with an `X-Tile-Over-Budget` header). Mean ms is the whole",
        "render, every rendering included, on one connection with a warm database cache",
        f"(each tile was rendered once just before). Machine: {info['cpu']}, {info['nproc']}",
        f"cores, {info['ram']} RAM, load {info['load']}; PostgreSQL 15 + PostGIS 3.",
    ])  # fmt: skip
    body = f"""Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC with:

```sh
{command_line()}
```

{data}

{columns}

{table}
"""
    print(body)
    if args.write_docs:
        update_doc_section(HEADING, body)
        log("docs/benchmarks.md updated")


if __name__ == "__main__":
    main()
