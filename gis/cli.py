"""The `gis` command: the composition root. The one place in gis/ that may import api/
(lazily, inside the commands that serve)."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.table import Table

from gis.cli_analyze import analyze_app
from gis.cli_common import DataDirOption, console, guard, out, store_settings_for
from gis.cli_tiles import tiles_app
from gis.errors import InvalidInput
from gis.ingest.pipeline import IngestRequest, IngestResult, ingest
from gis.ingest.source import CsvOptions, file_digest
from gis.progress import make_progress
from gis.settings import IngestSettings, ServerSettings, StoreSettings
from gis.store import Notice, Store, open_store
from layers.registry import LAYERS, RASTERS

app = typer.Typer(
    help="Public-information GIS service: ingest layers, inspect them, serve the API.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
log = logging.getLogger("gis")

SAMPLE_DIR = Path(__file__).resolve().parents[1] / "data"


def _pairs(values: list[str], flag: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(f"{flag} expects name=value, got {item!r}")
        pairs[key.strip()] = value
    return pairs


def _classes(text: str | None) -> list[tuple[str, float]] | None:
    if text is None:
        return None
    classes: list[tuple[str, float]] = []
    for name, value in _pairs([p for p in text.split(",") if p.strip()], "--classify").items():
        try:
            classes.append((name, float(value)))
        except ValueError:
            raise InvalidInput(
                f"--classify threshold for {name!r} is not a number: {value!r}"
            ) from None
    return classes


@app.command("ingest")
def ingest_command(
    path: Annotated[
        Path,
        typer.Argument(
            help="File to load: GeoJSON, GeoJSONSeq, GeoPackage, "
            "zipped Shapefile, FlatGeobuf, GeoParquet, CSV or GeoTIFF."
        ),
    ],
    layer: Annotated[str | None, typer.Option(help=f"Target layer: {', '.join(LAYERS)}.")] = None,
    raster: Annotated[
        str | None, typer.Option(help=f"Keep a GeoTIFF whole as raster: {', '.join(RASTERS)}.")
    ] = None,
    mode: Annotated[
        Literal["replace", "append", "upsert"],
        typer.Option(
            help="replace swaps the layer atomically; append adds; upsert updates by --id-field."
        ),
    ] = "replace",
    source_crs: Annotated[
        str | None,
        typer.Option(help="CRS of the file when it has none (or a wrong one), e.g. EPSG:32749."),
    ] = None,
    source_layer: Annotated[
        str | None, typer.Option(help="Layer inside a GeoPackage or zip with several.")
    ] = None,
    id_field: Annotated[
        str | None, typer.Option(help="Column with stable feature ids (needed for upsert).")
    ] = None,
    field_map: Annotated[
        list[str] | None, typer.Option("--field-map", help="Rename a column: old=new (repeatable).")
    ] = None,
    set_value: Annotated[
        list[str] | None,
        typer.Option("--set", help="Set a field on every feature: field=value (repeatable)."),
    ] = None,
    invalid: Annotated[
        Literal["repair", "reject"],
        typer.Option(help="Invalid geometries: repair with make_valid, or reject."),
    ] = "repair",
    lon_field: Annotated[
        str | None, typer.Option(help="CSV longitude column (auto-detected).")
    ] = None,
    lat_field: Annotated[
        str | None, typer.Option(help="CSV latitude column (auto-detected).")
    ] = None,
    wkt_field: Annotated[
        str | None, typer.Option(help="CSV WKT geometry column (auto-detected).")
    ] = None,
    classify: Annotated[
        str | None,
        typer.Option(help="Raster to hazard_zones by lower bounds: low=0.1,medium=0.5,high=1.5."),
    ] = None,
    reject_report: Annotated[
        Path | None, typer.Option(help="Where to write the reject report (CSV).")
    ] = None,
    max_rejects: Annotated[
        int | None, typer.Option(help="Abort (changing nothing) past this many rejects.")
    ] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Load a file into a layer (or keep a raster), atomically, with a reject report."""

    def body() -> None:
        settings = store_settings_for(data_dir)
        request = IngestRequest(
            path=path,
            layer=layer,
            raster=raster,
            mode=mode,
            source_crs=source_crs,
            source_layer=source_layer,
            id_field=id_field,
            field_map=_pairs(field_map or [], "--field-map"),
            set_values=_pairs(set_value or [], "--set"),
            invalid=invalid,
            csv=CsvOptions(lon_field=lon_field, lat_field=lat_field, wkt_field=wkt_field),
            classify=_classes(classify),
            reject_report=reject_report,
            max_rejects=max_rejects,
        )
        limits = IngestSettings()
        store = open_store(settings)
        try:
            result = ingest(
                store,
                request,
                progress=make_progress(console, limits.progress_seconds),
                limits=limits,
                reject_dir=settings.data_dir / "rejects",
            )
        finally:
            store.close()
        _print_summary(result)

    guard(body)


def _print_summary(result: IngestResult) -> None:
    run = result.run
    table = Table(
        title=f"Ingest {run.layer} ({run.mode}) - version {run.version}", show_header=False
    )
    table.add_column("what", style="bold")
    table.add_column("value", justify="right")
    for label, value in (
        ("read", run.features_read),
        ("loaded", run.features_loaded),
        ("rejected", run.features_rejected),
        ("repaired", run.features_repaired),
    ):
        table.add_row(label, f"{value:,}")
    for reason, n in sorted(result.reasons.items()):
        table.add_row(f"  rejected: {reason}", f"{n:,}")
    table.add_row("source", f"{run.source_format}, sha256 {run.source_sha256[:12]}")
    if run.reject_report:
        table.add_row("reject report", run.reject_report)
    out.print(table)


@app.command("layers")
def layers_command(
    data_dir: DataDirOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List each layer with its feature count, version and last ingest."""

    def body() -> None:
        store = open_store(store_settings_for(data_dir))
        try:
            infos = {i.name: i for i in store.layers()}
            rasters = {r.name: r for r in store.rasters()}
        finally:
            store.close()
        if as_json:
            rows: list[dict[str, Any]] = [
                {
                    "name": n,
                    "features": i.feature_count if i else 0,
                    "version": i.version if i else 0,
                    "updated_at": i.updated_at.isoformat() if i and i.updated_at else None,
                    "synthetic": bool(i and i.notice),
                }
                for n, i in ((n, infos.get(n)) for n in LAYERS)
            ]
            out.print_json(json.dumps(rows))
            return
        table = Table(title="Layers")
        for col in ("layer", "title", "features", "version", "last ingest", "note"):
            table.add_column(col, justify="right" if col in ("features", "version") else "left")
        for name, spec in LAYERS.items():
            info = infos.get(name)
            table.add_row(
                name,
                spec.title.en,
                f"{info.feature_count:,}" if info else "0",
                str(info.version) if info else "-",
                info.updated_at.strftime("%Y-%m-%d %H:%M UTC")
                if info and info.updated_at
                else "never",
                "DEMO (synthetic)" if info and info.notice else "",
            )
        for name, rspec in RASTERS.items():
            r = rasters.get(name)
            table.add_row(
                f"{name} (raster)",
                rspec.title.en,
                f"{r.width}x{r.height} px" if r else "-",
                str(r.version) if r else "-",
                r.updated_at.strftime("%Y-%m-%d %H:%M UTC") if r and r.updated_at else "never",
                "DEMO (synthetic)" if r and r.notice else "",
            )
        out.print(table)

    guard(body)


@app.command("runs")
def runs_command(
    layer: Annotated[str | None, typer.Option(help="Only this layer's runs.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
    data_dir: DataDirOption = None,
) -> None:
    """Show the ingest history: source, hash, counts, outcome, who and when."""

    def body() -> None:
        store = open_store(store_settings_for(data_dir))
        try:
            runs = store.runs(layer, limit)
        finally:
            store.close()
        table = Table(title="Ingest runs")
        for col in (
            "started (UTC)",
            "layer",
            "mode",
            "status",
            "read",
            "loaded",
            "rejected",
            "version",
            "source",
            "by",
            "message",
        ):
            table.add_column(col)
        for r in runs:
            table.add_row(
                r.started_at.strftime("%Y-%m-%d %H:%M:%S"),
                r.layer,
                r.mode,
                r.status or "?",
                str(r.features_read),
                str(r.features_loaded),
                str(r.features_rejected),
                str(r.version or "-"),
                Path(r.source_path).name,
                r.run_by,
                (r.message or "")[:60],
            )
        out.print(table)

    guard(body)


def load_demo(store: Store, sample_dir: Path, reject_dir: Path) -> None:
    """Load every file of the sample manifest; files already loaded unchanged are skipped."""
    manifest = json.loads((sample_dir / "manifest.json").read_text(encoding="utf-8"))
    notice = Notice(**manifest["notice"])
    entries = [(e, "layer") for e in manifest["layers"]] + [
        (e, "raster") for e in manifest["rasters"]
    ]
    for entry, kind in entries:
        path = sample_dir / entry["file"]
        target = entry[kind]
        if _already_loaded(store, target, path):
            console.print(f"  {target}: up to date ({path.name})")
            continue
        request = IngestRequest(
            path=path,
            layer=target if kind == "layer" else None,
            raster=target if kind == "raster" else None,
            id_field=entry.get("id_field"),
            source_crs=entry.get("source_crs"),
            notice=notice,
        )
        result = ingest(store, request, progress=make_progress(console), reject_dir=reject_dir)
        console.print(f"  {target}: {result.run.features_loaded:,} loaded from {path.name}")


def _already_loaded(store: Store, target: str, path: Path) -> bool:
    """True when the target's last successful run loaded this very file (same sha256)."""
    last = next((r for r in store.runs(target, 5) if r.status == "succeeded"), None)
    return last is not None and last.source_sha256 == file_digest(path)[1]


@app.command("demo")
def demo_command(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    data_dir: DataDirOption = None,
    no_serve: Annotated[
        bool, typer.Option("--no-serve", help="Build the demo store and exit.")
    ] = False,
    sample_dir: Annotated[
        Path, typer.Option(help="Folder with manifest.json and the sample files.")
    ] = SAMPLE_DIR,
) -> None:
    """Build a store from the synthetic sample city in data/ and serve it."""

    def body() -> None:
        settings = store_settings_for(data_dir)
        where = "PostGIS" if settings.database_url else f"embedded store {settings.embedded_path}"
        console.print(f"[bold]Loading the synthetic DEMO city into the {where}[/]")
        store = open_store(settings)
        try:
            load_demo(store, sample_dir, settings.data_dir / "rejects")
        finally:
            store.close()
        if not no_serve:
            _serve(settings, host, port)

    guard(body)


@app.command("serve")
def serve_command(
    host: Annotated[
        str | None, typer.Option(help="Interface (GIS_HOST, default 127.0.0.1).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (GIS_PORT, default 8000).")] = None,
    workers: Annotated[
        int, typer.Option(min=1, max=64, help="Worker processes (PostGIS only; stateless).")
    ] = 1,
    access_log: Annotated[bool, typer.Option(help="Log every request.")] = True,
    data_dir: DataDirOption = None,
) -> None:
    """Serve the API under uvicorn on the configured store."""
    server = ServerSettings()
    guard(
        lambda: _serve(
            store_settings_for(data_dir),
            host or server.host,
            port or server.port,
            workers,
            access_log,
        )
    )


def _serve(
    settings: StoreSettings, host: str, port: int, workers: int = 1, access_log: bool = True
) -> None:
    import os

    import uvicorn

    if workers > 1 and not settings.database_url:
        raise InvalidInput("--workers > 1 needs PostGIS: the embedded store is one process")
    base = f"http://{host}:{port}"
    console.print(f"[bold green]Serving[/] on {base} ({workers} worker(s))")
    for label, path in (
        ("landing page", "/"),
        ("collections", "/collections"),
        ("API docs", "/api.html"),
        ("health", "/health"),
        ("ready", "/ready"),
    ):
        console.print(f"  {label:13} {base}{path}")
    if workers > 1:
        # Each worker builds its own app (and pool) from the environment.
        os.environ["GIS_DATA_DIR"] = str(settings.data_dir)
        uvicorn.run("api.app:create_app", factory=True, host=host, port=port,
                    workers=workers, log_level="info", access_log=access_log)  # fmt: skip
        return
    from api.app import create_app

    uvicorn.run(create_app(settings), host=host, port=port, log_level="info",
                access_log=access_log)  # fmt: skip


def main() -> None:  # pragma: no cover - console entry for `python -m gis.cli`
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr
    )
    app()


app.add_typer(tiles_app, name="tiles")
app.add_typer(analyze_app, name="analyze")


@app.callback()
def _configure() -> None:
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr
        )


if __name__ == "__main__":  # pragma: no cover
    main()
