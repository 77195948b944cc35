"""What every reader yields: chunks of features with their source positions.

Readers (gis.ingest.read for vector files, gis.ingest.raster for classified rasters)
produce a Source; gis.ingest.clean turns its chunks into rows that fit a layer spec, and
gis.ingest.load writes them. Chunks keep memory bounded whatever the file size.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd
import pyproj


@dataclass
class Chunk:
    """A batch of source features.

    ``offset`` is the 0-based index of the first feature in the source, so a reject can
    name the feature as the agency's file numbers it. ``attributes`` keeps the source's
    own column names (field mapping happens in clean). ``geometry`` is an object array of
    shapely geometries, with None where the source has no geometry.
    """

    offset: int
    attributes: pd.DataFrame
    geometry: np.ndarray

    def __len__(self) -> int:
        return len(self.geometry)


@dataclass(frozen=True)
class CsvOptions:
    """How to find geometry in a CSV: lon/lat columns or a WKT column (auto when None)."""

    lon_field: str | None = None
    lat_field: str | None = None
    wkt_field: str | None = None
    delimiter: str | None = None


class Source(Protocol):
    """An opened, safety-checked input file."""

    path: Path
    #: geojson, geojsonseq, gpkg, shapefile, flatgeobuf, geoparquet, csv, geotiff
    format: str
    #: The file's CRS, or None when the file does not declare one.
    crs: pyproj.CRS | None
    #: Number of features when cheaply known (drives the progress bar), else None.
    feature_count: int | None

    def chunks(self, size: int) -> Iterator[Chunk]:
        """Yield consecutive chunks of at most ``size`` features."""
        ...


def file_digest(path: Path) -> tuple[int, str]:
    """Size and sha256 of a file, read in blocks (recorded with every run)."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
            size += len(block)
    return size, digest.hexdigest()
