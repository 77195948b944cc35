"""Open an agency's vector file as a stream of chunks (a gis.ingest.source.Source).

Every file goes through gis.ingest.safety first (local regular file, size limit, no VRT,
no network), then its format is taken from the extension *and* confirmed from the content,
so a renamed file is refused with a readable message instead of being handed to whichever
GDAL driver claims it. Reading is streamed in chunks, never the whole file at once:

======================  ==============  ==================================================
extensions              Source.format   read with
======================  ==============  ==================================================
.geojson .json          geojson         GDAL GeoJSON (Arrow stream)
.geojsonl .geojsons     geojsonseq      GDAL GeoJSONSeq (newline or RFC 8142 separated)
.geojsonseq .ndjson
.gpkg                   gpkg            GDAL GPKG, after a read-only SQLite audit
.zip (.shp)             shapefile       GDAL ESRI Shapefile, after a checked extraction
.fgb                    flatgeobuf      GDAL FlatGeobuf
.parquet .geoparquet    geoparquet      pyarrow ParquetFile.iter_batches
.csv .txt               csv             pyarrow streaming CSV reader
======================  ==============  ==================================================

Errors from the libraries, including those raised lazily while iterating chunks, become
IngestRejected naming the file and the format.
"""

from __future__ import annotations

import codecs
import json
import re
import sqlite3
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pyogrio
import pyproj
import shapely
import shapely.errors
from pyogrio.raw import open_arrow

from gis.errors import IngestRejected
from gis.ingest import safety
from gis.ingest.source import Chunk, CsvOptions, Source
from gis.settings import IngestSettings, ingest_settings

#: Lower-case extension -> Source.format.
FORMAT_BY_EXTENSION: dict[str, str] = {
    ".geojson": "geojson",
    ".json": "geojson",
    ".geojsonl": "geojsonseq",
    ".geojsons": "geojsonseq",
    ".geojsonseq": "geojsonseq",
    ".ndjson": "geojsonseq",
    ".gpkg": "gpkg",
    ".zip": "shapefile",
    ".shp": "shapefile",
    ".fgb": "flatgeobuf",
    ".parquet": "geoparquet",
    ".geoparquet": "geoparquet",
    ".csv": "csv",
    ".txt": "csv",
}

FORMAT_TITLES: dict[str, str] = {
    "geojson": "GeoJSON",
    "geojsonseq": "GeoJSON sequence",
    "gpkg": "GeoPackage",
    "shapefile": "Shapefile",
    "flatgeobuf": "FlatGeobuf",
    "geoparquet": "GeoParquet",
    "csv": "CSV",
}

#: The GDAL driver each GDAL-read format must open with; anything else is refused.
_GDAL_DRIVERS = {
    "geojson": "GeoJSON",
    "geojsonseq": "GeoJSONSeq",
    "gpkg": "GPKG",
    "shapefile": "ESRI Shapefile",
    "flatgeobuf": "FlatGeobuf",
}

#: What the underlying libraries raise for unreadable input (pyogrio's errors are
#: RuntimeErrors, pyarrow's ArrowInvalid is a ValueError, as is UnicodeDecodeError).
_LIBRARY_ERRORS: tuple[type[BaseException], ...] = (
    RuntimeError,
    OSError,
    ValueError,
    EOFError,
    pa.ArrowException,
    sqlite3.Error,
    zipfile.BadZipFile,
    shapely.errors.GEOSException,
)

_BOM_AND_SPACE = b"\xef\xbb\xbf \t\r\n"
_GEOJSON_TYPE = re.compile(rb'"type"\s*:\s*"Feature(?:Collection)?"')
_SHP_MAGIC = b"\x00\x00\x27\x0a"
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")

#: Column names recognised in a CSV, compared case-insensitively, in order of preference.
CSV_LON_NAMES = ("lon", "lng", "long", "longitude", "x", "bujur")
CSV_LAT_NAMES = ("lat", "latitude", "y", "lintang")
CSV_WKT_NAMES = ("wkt", "geometry", "geom", "the_geom")
_CSV_DELIMITERS = (",", ";", "\t", "|")
_CSV_BLOCK_BYTES = 1024 * 1024

_SHAPEFILE_PARTS = (".shx", ".dbf", ".prj", ".cpg")


@contextmanager
def open_source(
    path: Path | str,
    *,
    source_layer: str | None = None,
    limits: IngestSettings | None = None,
    csv: CsvOptions | None = None,
) -> Iterator[Source]:
    """Open a vector file for chunked reading; temporary files go when the block ends.

    ``source_layer`` picks a layer of a multi-layer GeoPackage or the shapefile (by stem)
    in a zip holding several; it is refused for formats without layers. ``csv`` says
    where a CSV's geometry is (ignored for other formats).

    CRS: what the file declares (GeoJSON is EPSG:4326 by definition; GeoParquet without
    a ``crs`` is OGC:CRS84 by its spec; a shapefile without .prj is None). A CSV with
    lon/lat columns gets EPSG:4326, the only sensible meaning of lon/lat; a CSV with WKT
    gets None, so the caller must say the CRS (--source-crs).
    """
    settings = limits or ingest_settings()
    resolved = safety.check_path(path, settings)
    fmt = detect_format(resolved)
    _sniff(resolved, fmt)
    if source_layer is not None and fmt not in ("gpkg", "shapefile"):
        raise IngestRejected(
            f"{resolved.name}: source_layer only applies to GeoPackages and zipped shapefiles"
        )
    safety.harden_gdal()
    with ExitStack() as stack:
        request = _Request(resolved, fmt, source_layer, settings, csv or CsvOptions(), stack)
        source = _OPENERS[fmt](request)
        try:
            yield source
        finally:
            source.closed = True


def detect_format(path: Path) -> str:
    """The Source.format for a file name, or IngestRejected listing what is supported."""
    fmt = FORMAT_BY_EXTENSION.get(path.suffix.lower())
    if fmt is None:
        supported = ", ".join(
            f"{title} ({' '.join(e for e, f in FORMAT_BY_EXTENSION.items() if f == key)})"
            for key, title in FORMAT_TITLES.items()
        )
        raise IngestRejected(
            f"{path.name}: unsupported file type {path.suffix or '(no extension)'!r}; "
            f"supported: {supported}"
        )
    return fmt


# --- Opening -------------------------------------------------------------------------


@dataclass
class _Request:
    path: Path
    format: str
    source_layer: str | None
    limits: IngestSettings
    csv: CsvOptions
    stack: ExitStack


@dataclass
class _BaseSource:
    path: Path
    format: str
    crs: pyproj.CRS | None
    feature_count: int | None
    closed: bool = field(default=False, init=False)

    def chunks(self, size: int) -> Iterator[Chunk]:
        raise NotImplementedError

    def _start(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"chunk size must be at least 1, not {size}")
        if self.closed:
            raise IngestRejected(f"{self.path.name}: read after the source was closed")


@contextmanager
def _reading(path: Path, fmt: str) -> Iterator[None]:
    """Turn library errors into IngestRejected naming the file and the format."""
    try:
        yield
    except _LIBRARY_ERRORS as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise IngestRejected(
            f"{path.name}: cannot read {FORMAT_TITLES[fmt]}: {message[:300]}"
        ) from exc


def _sniff(path: Path, fmt: str) -> None:
    """Refuse content that does not match the extension, saying what it looks like."""
    head = safety.read_head(path)
    if _CONTENT_CHECKS[fmt](path, head):
        return
    looks = _looks_like(head)
    if looks == "is JSON" and fmt in ("geojson", "geojsonseq"):
        looks = "is JSON without a GeoJSON Feature or FeatureCollection"
    raise IngestRejected(
        f"{path.name}: the extension says {FORMAT_TITLES[fmt]} but the content {looks}"
    )


def _is_geojson(path: Path, head: bytes) -> bool:
    # The type member may sit after a huge first geometry: when the head is only part of
    # the file, the GDAL driver check after opening has the last word.
    text = head.lstrip(_BOM_AND_SPACE)
    return text.startswith(b"{") and (
        bool(_GEOJSON_TYPE.search(text)) or len(head) == safety.HEAD_BYTES
    )


def _is_geojsonseq(path: Path, head: bytes) -> bool:
    return head.lstrip(_BOM_AND_SPACE).startswith((b"{", b"\x1e"))


def _is_gpkg(path: Path, head: bytes) -> bool:
    return head.startswith(safety.SQLITE_MAGIC)


def _is_shapefile(path: Path, head: bytes) -> bool:
    if path.suffix.lower() == ".shp":
        return head.startswith(_SHP_MAGIC)
    return head.startswith(_ZIP_MAGICS)


def _is_flatgeobuf(path: Path, head: bytes) -> bool:
    return _fgb_magic(head)


def _fgb_magic(head: bytes) -> bool:
    """'fgb', a major version byte, 'fgb', a patch byte."""
    return head[:3] == b"fgb" and head[4:7] == b"fgb"


def _is_parquet(path: Path, head: bytes) -> bool:
    return head.startswith(b"PAR1")


def _is_csv(path: Path, head: bytes) -> bool:
    return b"\x00" not in head and _looks_like(head) == "is text"


_CONTENT_CHECKS: dict[str, Callable[[Path, bytes], bool]] = {
    "geojson": _is_geojson,
    "geojsonseq": _is_geojsonseq,
    "gpkg": _is_gpkg,
    "shapefile": _is_shapefile,
    "flatgeobuf": _is_flatgeobuf,
    "geoparquet": _is_parquet,
    "csv": _is_csv,
}

_BINARY_MAGICS: tuple[tuple[tuple[bytes, ...], str], ...] = (
    (_ZIP_MAGICS, "is a zip archive"),
    ((safety.SQLITE_MAGIC,), "is an SQLite database"),
    ((b"PAR1",), "is a Parquet file"),
    ((_SHP_MAGIC,), "is a shapefile .shp"),
    ((b"%PDF",), "is a PDF document"),
    ((b"\xd0\xcf\x11\xe0",), "is an old Microsoft Office document"),
    ((b"II*\x00", b"MM\x00*"), "is a TIFF image"),
    ((b"\x1f\x8b",), "is gzip-compressed"),
)
_TEXT_MARKERS: tuple[tuple[tuple[bytes, ...], str], ...] = (
    ((b"{", b"["), "is JSON"),
    ((b"<",), "is XML or HTML"),
)


def _looks_like(head: bytes) -> str:
    """A few words on what a file's head looks like, for mismatch messages."""
    if _fgb_magic(head):
        return "is a FlatGeobuf file"
    text = head.lstrip(_BOM_AND_SPACE)
    for magics, name in _BINARY_MAGICS:
        if head.startswith(magics):
            return name
    for magics, name in _TEXT_MARKERS:
        if text.startswith(magics):
            return name
    if not text:
        return "is empty"
    return "is binary data" if b"\x00" in head else "is text"


# --- GDAL formats --------------------------------------------------------------------


@dataclass
class _GdalSource(_BaseSource):
    """A GeoJSON, GeoJSONSeq, GeoPackage, shapefile or FlatGeobuf layer, read by GDAL
    as an Arrow stream of WKB so memory holds one chunk at a time."""

    dataset: str = ""
    layer: str | None = None

    def chunks(self, size: int) -> Iterator[Chunk]:
        self._start(size)
        with (
            _reading(self.path, self.format),
            open_arrow(self.dataset, layer=self.layer, batch_size=size, use_pyarrow=True) as (
                meta,
                reader,
            ),
        ):
            geometry = meta["geometry_name"] or "wkb_geometry"
            for offset, table in _tables(reader, size):
                yield _chunk(offset, table, _wkb_geometry(table, geometry), (geometry,))


def _open_gdal(request: _Request, dataset: str, layer: str | None = None) -> _GdalSource:
    """Open ``dataset`` with GDAL, insisting on the driver the format calls for."""
    with _reading(request.path, request.format):
        info = pyogrio.read_info(dataset, layer=layer)
    expected = _GDAL_DRIVERS[request.format]
    if info["driver"] != expected:
        raise IngestRejected(
            f"{request.path.name}: GDAL reads the content as {info['driver']}, "
            f"not {FORMAT_TITLES[request.format]}"
        )
    count = int(info["features"])
    return _GdalSource(
        path=request.path,
        format=request.format,
        crs=_crs(request, info["crs"]),
        feature_count=count if count >= 0 else None,
        dataset=dataset,
        layer=layer,
    )


def _crs(request: _Request, text: str | None) -> pyproj.CRS | None:
    if not text:
        return None
    with _reading(request.path, request.format):
        return pyproj.CRS.from_user_input(text)


def _open_geojson(request: _Request) -> _GdalSource:
    safety.refuse_geojson_remote_crs(request.path)
    return _open_gdal(request, str(request.path))


def _open_geojsonseq(request: _Request) -> _GdalSource:
    # The prefix forces the GeoJSONSeq driver: GDAL takes a one-line file for GeoJSON.
    return _open_gdal(request, f"GeoJSONSeq:{request.path}")


def _open_flatgeobuf(request: _Request) -> _GdalSource:
    return _open_gdal(request, str(request.path))


def _open_gpkg(request: _Request) -> _GdalSource:
    safety.check_gpkg(request.path)
    with _reading(request.path, request.format):
        layers = [(str(name), kind) for name, kind in pyogrio.list_layers(request.path)]
    return _open_gdal(request, str(request.path), _gpkg_layer(request, layers))


def _gpkg_layer(request: _Request, layers: list[tuple[str, object]]) -> str:
    """The requested layer, or the only spatial one; several need source_layer."""
    names = [name for name, _ in layers]
    if request.source_layer is not None:
        if request.source_layer not in names:
            raise IngestRejected(
                f"{request.path.name}: no layer {request.source_layer!r}; "
                f"layers: {', '.join(names) or '(none)'}"
            )
        return request.source_layer
    candidates = [name for name, kind in layers if kind is not None] or names
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise IngestRejected(f"{request.path.name}: the GeoPackage has no layers")
    raise IngestRejected(
        f"{request.path.name}: the GeoPackage has {len(candidates)} layers; choose one "
        f"with source_layer: {', '.join(candidates)}"
    )


# --- Shapefiles ----------------------------------------------------------------------


def _open_shapefile(request: _Request) -> _GdalSource:
    if request.path.suffix.lower() == ".shp":
        shp = request.path
        _require_parts(request.path.name, shp.name, [_sibling(shp, s) for s in (".shx", ".dbf")])
    else:
        tmp = Path(request.stack.enter_context(tempfile.TemporaryDirectory(prefix="gis-zip-")))
        shp = _extract_shapefile(request, tmp)
    return _open_gdal(request, str(shp))


def _sibling(shp: Path, suffix: str) -> str | None:
    """The sidecar GDAL will find: same stem, suffix in lower or upper case."""
    for candidate in (shp.with_suffix(suffix), shp.with_suffix(suffix.upper())):
        if candidate.is_file():
            return candidate.name
    return None


def _require_parts(name: str, shp: str, parts: Sequence[object | None]) -> None:
    missing = [s for s, part in zip((".shx", ".dbf"), parts, strict=True) if part is None]
    if missing:
        raise IngestRejected(
            f"{name}: {shp} has no {' or '.join(missing)} alongside it; "
            "a shapefile needs its .shp, .shx and .dbf"
        )


def _extract_shapefile(request: _Request, dest: Path) -> Path:
    """Check the whole zip, then extract only the chosen shapefile's parts into dest."""
    name = request.path.name
    with _reading(request.path, request.format), zipfile.ZipFile(request.path) as zf:
        safety.check_zip(zf, request.limits, name)
        shp, parts = _pick_shapefile(zf.infolist(), request.source_layer, name)
        _require_parts(name, shp.filename, [parts.get(".shx"), parts.get(".dbf")])
        stem = PurePosixPath(shp.filename).stem
        budget = request.limits.max_unzipped_bytes
        for suffix, info in {".shp": shp, **parts}.items():
            budget -= safety.extract_member(zf, info, dest / f"{stem}{suffix}", budget)
    target = dest / f"{stem}.shp"
    for part in (target, target.with_suffix(".shx")):
        if not safety.read_head(part, 4).startswith(_SHP_MAGIC):
            raise IngestRejected(f"{name}: {part.name} in the zip is not a shapefile part")
    return target


def _pick_shapefile(
    infos: list[zipfile.ZipInfo], source_layer: str | None, name: str
) -> tuple[zipfile.ZipInfo, dict[str, zipfile.ZipInfo]]:
    """The .shp to read (by stem when there are several) and its sidecar entries."""
    files = [i for i in infos if not i.is_dir() and not _zip_junk(i.filename)]
    shps = [i for i in files if i.filename.lower().endswith(".shp")]
    if not shps:
        raise IngestRejected(f"{name}: no .shp file in the zip")
    keys = {_layer_key(i, shps): i for i in shps}
    if source_layer is not None:
        chosen = keys.get(source_layer) or next(
            (i for i in shps if PurePosixPath(i.filename).stem == source_layer), None
        )
        if chosen is None:
            raise IngestRejected(
                f"{name}: no shapefile {source_layer!r} in the zip; shapefiles: {', '.join(keys)}"
            )
    elif len(shps) == 1:
        chosen = shps[0]
    else:
        raise IngestRejected(
            f"{name}: the zip holds {len(shps)} shapefiles; choose one with source_layer: "
            f"{', '.join(keys)}"
        )
    return chosen, _sidecars(chosen, files)


def _zip_junk(filename: str) -> bool:
    """macOS resource forks (__MACOSX/, ._name) that look like shapefile parts."""
    path = PurePosixPath(filename)
    return "__MACOSX" in path.parts or path.name.startswith("._")


def _layer_key(info: zipfile.ZipInfo, shps: list[zipfile.ZipInfo]) -> str:
    """A shapefile's stem, or its path without .shp when stems repeat across folders."""
    stem = PurePosixPath(info.filename).stem
    if sum(PurePosixPath(i.filename).stem == stem for i in shps) > 1:
        return info.filename[: -len(".shp")]
    return stem


def _sidecars(shp: zipfile.ZipInfo, files: list[zipfile.ZipInfo]) -> dict[str, zipfile.ZipInfo]:
    base = shp.filename[: -len(".shp")].lower()
    return {
        suffix: info
        for suffix in _SHAPEFILE_PARTS
        for info in files
        if info.filename.lower() == base + suffix
    }


# --- GeoParquet ----------------------------------------------------------------------

_CRS84 = "OGC:CRS84"
_INDEX_COLUMN = re.compile(r"^__index_level_\d+__$")


@dataclass
class _ParquetSource(_BaseSource):
    """A GeoParquet file read batch by batch; memory is bounded by the row-group size."""

    geometry: str = ""
    drop: tuple[str, ...] = ()

    def chunks(self, size: int) -> Iterator[Chunk]:
        self._start(size)
        with _reading(self.path, self.format), pq.ParquetFile(self.path) as pf:
            for offset, table in _tables(pf.iter_batches(batch_size=size), size):
                yield _chunk(offset, table, _wkb_geometry(table, self.geometry), self.drop)


def _open_geoparquet(request: _Request) -> _ParquetSource:
    """Read the GeoParquet 'geo' metadata: primary column, WKB encoding, PROJJSON CRS."""
    name = request.path.name
    with _reading(request.path, request.format), pq.ParquetFile(request.path) as pf:
        schema = pf.schema_arrow
        rows = pf.metadata.num_rows
        raw = (schema.metadata or {}).get(b"geo")
        if raw is None:
            raise IngestRejected(f"{name}: not a GeoParquet file (no 'geo' metadata)")
        geo = json.loads(raw)
    columns = geo.get("columns") if isinstance(geo, dict) else None
    primary = geo.get("primary_column") if isinstance(geo, dict) else None
    if not isinstance(columns, dict) or primary not in columns or primary not in schema.names:
        raise IngestRejected(f"{name}: GeoParquet 'geo' metadata names no geometry column")
    column = columns[primary]
    encoding = str(column.get("encoding", "")).upper()
    if encoding != "WKB":
        raise IngestRejected(
            f"{name}: GeoParquet geometry encoding {encoding or '(none)'!r} is not supported; "
            "write it as WKB"
        )
    drop = [c for c in columns if c in schema.names]
    drop += [c for c in schema.names if _INDEX_COLUMN.match(c)]
    drop += _covering_columns(column)
    return _ParquetSource(
        path=request.path,
        format=request.format,
        crs=_geoparquet_crs(request, column),
        feature_count=rows,
        geometry=str(primary),
        drop=tuple(dict.fromkeys(drop)),
    )


def _geoparquet_crs(request: _Request, column: dict[str, object]) -> pyproj.CRS | None:
    """Absent means OGC:CRS84 and null means unknown, per the GeoParquet spec."""
    if "crs" not in column:
        return pyproj.CRS.from_user_input(_CRS84)
    value = column["crs"]
    if value is None:
        return None
    with _reading(request.path, request.format):
        if isinstance(value, dict):
            return pyproj.CRS.from_json_dict(value)
        return pyproj.CRS.from_user_input(value)


def _covering_columns(column: dict[str, object]) -> list[str]:
    """The GeoParquet 1.1 bbox covering column, which is not an attribute."""
    covering = column.get("covering")
    bbox = covering.get("bbox") if isinstance(covering, dict) else None
    if not isinstance(bbox, dict):
        return []
    return list(dict.fromkeys(str(p[0]) for p in bbox.values() if isinstance(p, list) and p))


# --- CSV -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _CsvGeometry:
    """Where a CSV's geometry is: lon/lat columns, or a WKT column."""

    lon: str | None = None
    lat: str | None = None
    wkt: str | None = None

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(c for c in (self.lon, self.lat, self.wkt) if c is not None)

    def build(self, table: pa.Table) -> np.ndarray:
        if self.wkt is not None:
            values = _column_values(table, self.wkt)
            return np.asarray(shapely.from_wkt(values, on_invalid="ignore"), dtype=object)
        assert self.lon is not None and self.lat is not None
        x = _numbers(_column_values(table, self.lon))
        y = _numbers(_column_values(table, self.lat))
        return _points(x, y)


@dataclass
class _CsvSource(_BaseSource):
    """A CSV streamed block by block, every column read as text (the cleaner types them)."""

    encoding: str = "utf8"
    delimiter: str = ","
    columns: tuple[str, ...] = ()
    geometry: _CsvGeometry = field(default_factory=_CsvGeometry)

    def chunks(self, size: int) -> Iterator[Chunk]:
        self._start(size)
        convert = pacsv.ConvertOptions(
            column_types=dict.fromkeys(self.columns, pa.string()), strings_can_be_null=True
        )
        with (
            _reading(self.path, self.format),
            _csv_reader(self.path, self.encoding, self.delimiter, convert) as reader,
        ):
            for offset, table in _tables(reader, size):
                yield _chunk(offset, table, self.geometry.build(table), self.geometry.columns)


def _csv_reader(
    path: Path, encoding: str, delimiter: str, convert: pacsv.ConvertOptions | None = None
) -> pacsv.CSVStreamingReader:
    return pacsv.open_csv(
        path,
        read_options=pacsv.ReadOptions(encoding=encoding, block_size=_CSV_BLOCK_BYTES),
        parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
        convert_options=convert,
    )


def _open_csv(request: _Request) -> _CsvSource:
    head = safety.read_head(request.path)
    encoding = _csv_encoding(head)
    delimiter = request.csv.delimiter or _csv_delimiter(head, encoding)
    with (
        _reading(request.path, request.format),
        _csv_reader(request.path, encoding, delimiter) as reader,
    ):
        columns = tuple(reader.schema.names)
    geometry = _csv_geometry(columns, request.csv, request.path.name)
    return _CsvSource(
        path=request.path,
        format=request.format,
        crs=pyproj.CRS.from_epsg(4326) if geometry.wkt is None else None,
        feature_count=None,
        encoding=encoding,
        delimiter=delimiter,
        columns=columns,
        geometry=geometry,
    )


def _csv_encoding(head: bytes) -> str:
    """UTF-8 when the head decodes as UTF-8, else Windows-1252 (Excel's default here)."""
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return "cp1252"
    return "utf8"


def _csv_delimiter(head: bytes, encoding: str) -> str:
    """The most frequent of , ; tab | in the header line (Excel in Indonesia writes ;)."""
    text = head.decode("utf-8" if encoding == "utf8" else encoding, errors="replace")
    header = text.lstrip("\ufeff").splitlines()[0] if text.strip() else ""
    counts = {d: header.count(d) for d in _CSV_DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _csv_geometry(columns: tuple[str, ...], options: CsvOptions, name: str) -> _CsvGeometry:
    """Named columns first, then lon/lat by common names, then a WKT column."""
    if options.wkt_field is not None:
        return _CsvGeometry(wkt=_find_column(columns, options.wkt_field, (), name))
    lon = _find_column(columns, options.lon_field, CSV_LON_NAMES, name)
    lat = _find_column(columns, options.lat_field, CSV_LAT_NAMES, name)
    if lon is not None and lat is not None:
        return _CsvGeometry(lon=lon, lat=lat)
    if options.lon_field is None and options.lat_field is None:
        wkt = _find_column(columns, None, CSV_WKT_NAMES, name)
        if wkt is not None:
            return _CsvGeometry(wkt=wkt)
    raise IngestRejected(
        f"{name}: no geometry columns found; columns: {', '.join(columns) or '(none)'}. "
        f"Expected longitude ({'/'.join(CSV_LON_NAMES)}) and latitude "
        f"({'/'.join(CSV_LAT_NAMES)}) columns or a WKT column ({'/'.join(CSV_WKT_NAMES)}), "
        "or name the columns explicitly"
    )


def _find_column(
    columns: tuple[str, ...], wanted: str | None, candidates: tuple[str, ...], name: str
) -> str | None:
    lookup: dict[str, str] = {}
    for column in columns:
        lookup.setdefault(column.strip().lower(), column)
    if wanted is not None:
        found = wanted if wanted in columns else lookup.get(wanted.strip().lower())
        if found is None:
            raise IngestRejected(
                f"{name}: no column {wanted!r}; columns: {', '.join(columns) or '(none)'}"
            )
        return found
    return next((lookup[c] for c in candidates if c in lookup), None)


def _numbers(values: np.ndarray) -> np.ndarray:
    """Floats from text; a decimal comma is accepted, anything unparseable is NaN."""
    text = pd.Series(values, dtype=object).str.strip().str.replace(",", ".", regex=False)
    return pd.to_numeric(text, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def _points(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Points where both coordinates are finite numbers, None elsewhere."""
    out = np.full(len(x), None, dtype=object)
    ok = np.isfinite(x) & np.isfinite(y)
    out[ok] = shapely.points(x[ok], y[ok])
    return out


# --- Chunks --------------------------------------------------------------------------


def _tables(batches: Iterable[pa.RecordBatch], size: int) -> Iterator[tuple[int, pa.Table]]:
    """Regroup record batches of any length into tables of exactly ``size`` rows (the
    last may be shorter), each with the offset of its first row."""
    pending: list[pa.RecordBatch] = []
    count = offset = 0
    for batch in batches:
        start = 0
        while start < batch.num_rows:
            take = min(size - count, batch.num_rows - start)
            pending.append(batch.slice(start, take))
            count += take
            start += take
            if count == size:
                yield offset, pa.Table.from_batches(pending)
                offset, pending, count = offset + count, [], 0
    if count:
        yield offset, pa.Table.from_batches(pending)


def _chunk(offset: int, table: pa.Table, geometry: np.ndarray, drop: tuple[str, ...]) -> Chunk:
    """A Chunk: the table's columns except ``drop`` become the attributes."""
    keep = [i for i, name in enumerate(table.column_names) if name not in drop]
    attributes = table.select(keep).to_pandas(ignore_metadata=True)
    return Chunk(offset=offset, attributes=attributes.reset_index(drop=True), geometry=geometry)


def _column_values(table: pa.Table, name: str) -> np.ndarray:
    """A column as an object array (None for nulls), extension types unwrapped."""
    column = table.column(name)
    if isinstance(column.type, pa.ExtensionType):
        column = pa.chunked_array([c.storage for c in column.chunks], type=column.type.storage_type)
    return np.asarray(column.to_numpy(zero_copy_only=False), dtype=object)


def _wkb_geometry(table: pa.Table, column: str) -> np.ndarray:
    """Shapely geometries from a WKB column; unparseable or missing ones are None, and
    so is every geometry of a table without one (a GeoPackage attribute table)."""
    if column not in table.column_names:
        return np.full(table.num_rows, None, dtype=object)
    values = _column_values(table, column)
    return np.asarray(shapely.from_wkb(values, on_invalid="ignore"), dtype=object)


_OPENERS: dict[str, Callable[[_Request], _BaseSource]] = {
    "geojson": _open_geojson,
    "geojsonseq": _open_geojsonseq,
    "gpkg": _open_gpkg,
    "shapefile": _open_shapefile,
    "flatgeobuf": _open_flatgeobuf,
    "geoparquet": _open_geoparquet,
    "csv": _open_csv,
}

__all__ = [
    "CSV_LAT_NAMES",
    "CSV_LON_NAMES",
    "CSV_WKT_NAMES",
    "FORMAT_BY_EXTENSION",
    "FORMAT_TITLES",
    "detect_format",
    "open_source",
]
