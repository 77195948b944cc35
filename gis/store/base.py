"""The one Store interface. PostGIS (production) and DuckDB spatial (embedded) implement it,
and tests/store runs one contract suite against both."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol

import numpy as np
import pandas as pd

from layers.spec import LayerSpec, RasterSpec

if TYPE_CHECKING:
    from gis.ingest.raster import StoredRaster

Mode = Literal["replace", "append", "upsert"]
RunStatus = Literal["succeeded", "failed"]

DUPLICATE_ID_MESSAGE = (
    "a feature id is already in the layer ({detail}); use --mode upsert to update existing "
    "features, or replace the layer. Nothing was changed."
)


@dataclass(frozen=True)
class Notice:
    """A bilingual notice shown wherever a layer's data appears (e.g. 'synthetic data')."""

    id: str
    en: str


@dataclass
class IngestRun:
    """One recorded ingest: what was loaded, from where, by whom, and how it went."""

    id: str
    layer: str
    kind: Literal["vector", "raster"]
    mode: Mode
    source_path: str
    source_sha256: str
    source_format: str
    source_bytes: int
    run_by: str
    notice: Notice | None = None
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    finished_at: datetime | None = None
    status: RunStatus | None = None
    features_read: int = 0
    features_loaded: int = 0
    features_rejected: int = 0
    features_repaired: int = 0
    reject_report: str | None = None
    message: str | None = None
    version: int | None = None


@dataclass(frozen=True)
class LayerInfo:
    """What `gis layers` and the landing page show about a layer."""

    name: str
    version: int
    feature_count: int
    bbox: tuple[float, float, float, float] | None
    updated_at: datetime | None
    notice: Notice | None
    last_run_id: str | None


@dataclass(frozen=True)
class RasterInfo:
    name: str
    version: int
    width: int
    height: int
    crs_wkt: str
    bounds_lonlat: tuple[float, float, float, float]
    updated_at: datetime | None
    notice: Notice | None


class LayerWriter(Protocol):
    """Receives cleaned chunks inside one store transaction."""

    def write(self, rows: pd.DataFrame, geometry: np.ndarray) -> None:
        """Append rows (spec columns + ext_id) with EPSG:4326 shapely geometries."""
        ...

    def commit(self, run: IngestRun) -> int:
        """Make the load visible in one step, record the run, return the new version."""
        ...


class Store(ABC):
    """A place where layers live. Every method is safe to call from several threads."""

    kind: ClassVar[str]

    @abstractmethod
    def migrate(self) -> None:
        """Create or upgrade the metadata tables; idempotent."""

    @abstractmethod
    def ping(self) -> None:
        """Raise StoreUnavailable unless the store answers a trivial query."""

    @abstractmethod
    def load(self, spec: LayerSpec, run: IngestRun) -> AbstractContextManager[LayerWriter]:
        """A writer in one transaction. Leaving the block without ``commit`` rolls back,
        so a failure or a kill leaves the previous layer exactly as it was."""

    @abstractmethod
    def put_raster(self, spec: RasterSpec, raster: StoredRaster, run: IngestRun) -> int:
        """Replace a stored raster atomically, record the run, return the new version."""

    @abstractmethod
    def record_run(self, run: IngestRun) -> None:
        """Record a run that did not commit (failed), so the history shows it too."""

    @abstractmethod
    def layers(self) -> list[LayerInfo]:
        """Every layer that has data, by name."""

    def layer_versions(self, names: Sequence[str]) -> dict[str, int]:
        """The current version of each of ``names`` that has data (absent: not loaded).

        The tile hot path asks this for every request, cache hits included, so it must be
        cheap; it is still a query, not a remembered value, because an ingest in another
        process (or another worker) must show in the very next tile."""
        wanted = set(names)
        return {i.name: i.version for i in self.layers() if i.name in wanted}

    async def alayer_versions(self, names: Sequence[str]) -> dict[str, int]:
        """layer_versions for the event loop; this default runs it on a worker thread."""
        return await asyncio.to_thread(self.layer_versions, names)

    def overview_keys(self, names: Sequence[str]) -> dict[str, str]:
        """The key (gis.store.overviews.overview_key) of each named layer's tile overview,
        for the layers that have one. The tile hot path asks this for every render, so
        found keys are remembered: an overview, once built, is only ever replaced in the
        same transaction as its layer (every load rebuilds it), never left behind."""
        cache = self._overview_cache()
        missing = [n for n in names if n not in cache]
        if missing:
            cache.update(self._read_overview_keys(missing))
        return {n: cache[n] for n in names if n in cache}

    async def aoverview_keys(self, names: Sequence[str]) -> dict[str, str]:
        """overview_keys for the event loop: no I/O once every key is known."""
        cache = self._overview_cache()
        if any(n not in cache for n in names):
            return await asyncio.to_thread(self.overview_keys, names)
        return {n: cache[n] for n in names}

    def _overview_cache(self) -> dict[str, str]:
        cache: dict[str, str] | None = self.__dict__.get("_overview_keys")
        if cache is None:
            cache = self.__dict__["_overview_keys"] = {}
        return cache

    def _forget_overview(self, name: str) -> None:
        """Called when this store loads a layer: its overview may have a new key."""
        self._overview_cache().pop(name, None)

    def _read_overview_keys(self, names: Sequence[str]) -> dict[str, str]:
        """The stored overview keys of ``names`` (a store without overviews: none)."""
        return {}

    @abstractmethod
    def rasters(self) -> list[RasterInfo]: ...

    @abstractmethod
    def get_raster(self, name: str) -> StoredRaster:
        """A stored raster's bytes and metadata; NotFound when it was never loaded."""

    @abstractmethod
    def runs(self, layer: str | None = None, limit: int = 20) -> list[IngestRun]:
        """The most recent runs first."""

    @abstractmethod
    def count(self, layer: str) -> int:
        """The layer's current feature count, counted (not the cached figure)."""

    @abstractmethod
    def read_features(self, layer: str, columns: tuple[str, ...]) -> Iterator[tuple[Any, ...]]:
        """Rows (columns..., shapely geometry) in fid order: a plain read for tests and tools."""

    @abstractmethod
    def fetch_one(self, sql: str, params: Sequence[object]) -> tuple[Any, ...] | None:
        """Run one read-only query composed by gis.query (this store's placeholders) and
        return its first row."""

    async def afetch_one(self, sql: str, params: Sequence[object]) -> tuple[Any, ...] | None:
        """fetch_one for the event loop; this default runs it on a worker thread."""
        return await asyncio.to_thread(self.fetch_one, sql, params)

    async def aclose(self) -> None:  # noqa: B027 - optional hook, nothing to release by default
        """Release what afetch_one opened (called at API shutdown)."""

    @abstractmethod
    def stream(
        self, sql: str, params: Sequence[object], batch: int = 2000
    ) -> Iterator[list[tuple[Any, ...]]]:
        """Rows of a long read in batches, holding one connection, with flat memory."""

    @abstractmethod
    def close(self) -> None: ...

    def layer(self, name: str) -> LayerInfo | None:
        for info in self.layers():
            if info.name == name:
                return info
        return None
