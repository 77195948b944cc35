"""One ingest, end to end: open (safely) -> clean per chunk -> load in one transaction.

Whatever goes wrong, the store is left as it was, and the run is recorded with its
outcome. The caller (the CLI) only chooses a progress display.
"""

from __future__ import annotations

import contextlib
import csv
import getpass
import logging
import threading
import uuid
from collections import Counter
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import pyproj

from gis.crs import parse_crs
from gis.errors import GisError, IngestRejected, InvalidInput
from gis.ingest.clean import CleanChunk, Cleaner, CleanOptions, InvalidPolicy
from gis.ingest.source import CsvOptions, Source, file_digest
from gis.settings import IngestSettings, ingest_settings
from gis.store.base import IngestRun, Mode, Notice, Store
from layers.registry import get_layer, get_raster

log = logging.getLogger(__name__)


class Progress(Protocol):
    """How a long ingest reports itself (a Rich bar on a terminal, log lines otherwise)."""

    def start(self, description: str, total: int | None) -> None: ...

    def advance(self, n: int) -> None: ...

    def stop(self) -> None: ...


class NoProgress:
    def start(self, description: str, total: int | None) -> None:
        pass

    def advance(self, n: int) -> None:
        pass

    def stop(self) -> None:
        pass


@dataclass
class IngestRequest:
    """Everything `gis ingest` was asked to do."""

    path: Path
    layer: str | None = None
    raster: str | None = None
    mode: Mode = "replace"
    source_crs: str | None = None
    source_layer: str | None = None
    id_field: str | None = None
    field_map: dict[str, str] = field(default_factory=dict)
    set_values: dict[str, str] = field(default_factory=dict)
    invalid: InvalidPolicy = "repair"
    csv: CsvOptions = field(default_factory=CsvOptions)
    #: (class name, lower threshold) pairs: classify a raster into hazard_zones polygons.
    classify: list[tuple[str, float]] | None = None
    notice: Notice | None = None
    reject_report: Path | None = None
    max_rejects: int | None = None


@dataclass
class IngestResult:
    run: IngestRun
    reasons: Counter[str]
    crs: str | None


def ingest(
    store: Store,
    request: IngestRequest,
    *,
    progress: Progress | None = None,
    limits: IngestSettings | None = None,
    reject_dir: Path = Path("var/rejects"),
) -> IngestResult:
    """Run one ingest. Raises a GisError (with the run recorded as failed) or returns the
    committed run."""
    limits = limits or ingest_settings()
    progress = progress or NoProgress()
    if (request.layer is None) == (request.raster is None):
        raise InvalidInput("name exactly one target: --layer NAME or --raster NAME")
    run = _new_run(request)
    digest = _BackgroundDigest(request.path)
    try:
        if request.raster is not None:
            result = _ingest_raster(store, request, run, limits, digest)
        else:
            result = _ingest_vector(store, request, run, limits, progress, reject_dir, digest)
    except GisError as exc:
        digest.apply(run)
        _fail(store, run, exc.message)
        raise
    except Exception as exc:
        digest.apply(run)
        _fail(store, run, f"{type(exc).__name__}: {exc}")
        raise IngestRejected(f"ingest failed, nothing was changed: {exc}") from exc
    finally:
        progress.stop()
    return result


class _BackgroundDigest:
    """The source's size and SHA-256, hashed on a thread while the file is being read
    (hashlib releases the GIL), so a large file is not read twice in a row."""

    def __init__(self, path: Path) -> None:
        self._result = (0, "")
        self._thread = threading.Thread(target=self._run, args=(path,), daemon=True)
        self._thread.start()

    def _run(self, path: Path) -> None:
        with contextlib.suppress(OSError):  # an unreadable path fails in the reader
            self._result = file_digest(path)

    def apply(self, run: IngestRun) -> None:
        self._thread.join()
        run.source_bytes, run.source_sha256 = self._result


def _new_run(request: IngestRequest) -> IngestRun:
    path = request.path
    target = request.layer or request.raster or ""
    return IngestRun(
        id=uuid.uuid4().hex,
        layer=target,
        kind="raster" if request.raster else "vector",
        mode=request.mode,
        source_path=str(path),
        source_sha256="",
        source_format="unknown",
        source_bytes=0,
        run_by=_who(),
        notice=request.notice,
    )


def _ingest_vector(
    store: Store,
    request: IngestRequest,
    run: IngestRun,
    limits: IngestSettings,
    progress: Progress,
    reject_dir: Path,
    digest: _BackgroundDigest,
) -> IngestResult:
    assert request.layer is not None
    spec = get_layer(request.layer)
    if request.mode == "upsert" and not request.id_field:
        raise InvalidInput("--mode upsert needs --id-field naming the column with stable ids")
    with _open(request, limits) as source:
        run.source_format = source.format
        crs = _resolve_crs(source, request)
        cleaner = Cleaner(
            spec,
            CleanOptions(
                source_crs=crs,
                field_map=request.field_map,
                set_values=request.set_values,
                id_field=request.id_field,
                invalid=request.invalid,
                extent=limits.extent,
            ),
        )
        report_path = request.reject_report or reject_dir / f"{spec.name}-{run.id}.csv"
        reasons: Counter[str] = Counter()
        progress.start(f"{spec.name} <- {request.path.name}", source.feature_count)
        with _RejectReport(report_path) as report, store.load(spec, run) as writer:
            for chunk in source.chunks(limits.chunk_size):
                cleaned = cleaner.clean(chunk)
                writer.write(cleaned.rows, cleaned.geometry)
                _tally(run, chunk_len=len(chunk), cleaned=cleaned, reasons=reasons)
                report.write(cleaned)
                progress.advance(len(chunk))
                _check_reject_budget(run, request.max_rejects)
            if run.features_loaded == 0 and run.mode == "replace":
                raise IngestRejected(
                    f"no valid feature in {request.path.name} ({run.features_rejected} "
                    f"rejected, see {report_path}); the layer {spec.name} was not changed"
                )
            run.reject_report = str(report_path) if run.features_rejected else None
            run.status = "succeeded"
            run.finished_at = datetime.now(UTC)
            digest.apply(run)
            writer.commit(run)
        return IngestResult(run=run, reasons=reasons, crs=crs.to_string() if crs else None)


def _ingest_raster(
    store: Store,
    request: IngestRequest,
    run: IngestRun,
    limits: IngestSettings,
    digest: _BackgroundDigest,
) -> IngestResult:
    from gis.ingest.raster import read_raster

    assert request.raster is not None
    spec = get_raster(request.raster)
    if request.mode != "replace":
        raise InvalidInput("rasters are always replaced whole; drop --mode")
    crs = parse_crs(request.source_crs) if request.source_crs else None
    raster = read_raster(request.path, limits=limits, source_crs=crs)
    run.source_format = "geotiff"
    run.features_read = run.features_loaded = 1
    run.status = "succeeded"
    run.finished_at = datetime.now(UTC)
    digest.apply(run)
    store.put_raster(spec, raster, run)
    return IngestResult(run=run, reasons=Counter(), crs=raster.crs_wkt)


def _open(request: IngestRequest, limits: IngestSettings) -> AbstractContextManager[Source]:
    if request.classify is not None:
        from gis.ingest.raster import classify_raster

        if request.layer != "hazard_zones":
            raise InvalidInput(
                "--classify turns a raster into hazard_zones; use --layer hazard_zones"
            )
        crs = parse_crs(request.source_crs) if request.source_crs else None
        return classify_raster(request.path, request.classify, limits=limits, source_crs=crs)
    from gis.ingest.read import open_source

    return open_source(
        request.path, source_layer=request.source_layer, limits=limits, csv=request.csv
    )


def _resolve_crs(source: Source, request: IngestRequest) -> pyproj.CRS:
    """The file's CRS, or --source-crs (which also overrides a wrong one in the file)."""
    if request.source_crs:
        return parse_crs(request.source_crs)
    if source.crs is None:
        raise IngestRejected(
            f"{request.path.name} does not say which coordinate reference system it uses; "
            "pass --source-crs (for example --source-crs EPSG:4326 for lon/lat, or "
            "EPSG:32749 for UTM zone 49S)"
        )
    return source.crs


def _tally(run: IngestRun, *, chunk_len: int, cleaned: CleanChunk, reasons: Counter[str]) -> None:
    run.features_read += chunk_len
    run.features_loaded += len(cleaned.rows)
    run.features_rejected += len(cleaned.rejects)
    run.features_repaired += cleaned.repaired
    reasons.update(cleaned.rejects["reason"].tolist())


def _check_reject_budget(run: IngestRun, max_rejects: int | None) -> None:
    if max_rejects is not None and run.features_rejected > max_rejects:
        raise IngestRejected(
            f"more than {max_rejects} features rejected (--max-rejects); nothing was changed"
        )


class _RejectReport:
    """The per-feature reject report, written as it goes (CSV: index, reason, field, detail).
    Removed at the end when nothing was rejected."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows = 0

    def __enter__(self) -> _RejectReport:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("w", newline="", encoding="utf-8")
        self._csv = csv.writer(self._file)
        self._csv.writerow(["feature_index", "reason", "field", "detail"])
        return self

    def write(self, cleaned: CleanChunk) -> None:
        if len(cleaned.rejects):
            self._csv.writerows(cleaned.rejects.itertuples(index=False, name=None))
            self.rows += len(cleaned.rejects)

    def __exit__(self, *exc: object) -> None:
        self._file.close()
        if self.rows == 0:
            self.path.unlink(missing_ok=True)


def _fail(store: Store, run: IngestRun, message: str) -> None:
    run.status = "failed"
    run.finished_at = datetime.now(UTC)
    run.message = message[:2000]
    run.version = None
    try:
        store.record_run(run)
    except Exception as exc:  # recording must never hide the real error
        log.warning("could not record the failed run %s: %s", run.id, exc)


def _who() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
