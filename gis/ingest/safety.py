"""Checks that run before any library parses an input file.

Ingest reads files that strangers upload, through GDAL, SQLite and zipfile. Each of those
can be made to do more than read a local file: GDAL follows ``/vsicurl/`` paths, connection
strings and VRT files that point anywhere; a GeoJSON ``crs`` link makes GDAL fetch a URL; a
zip can write outside its directory or expand to terabytes; a GeoPackage carries SQL
triggers. Every check here refuses with :class:`~gis.errors.UnsafeInput` (a deliberate
attack or a dangerous construct) or :class:`~gis.errors.IngestRejected` (a file that
simply cannot be read), before the file reaches the library that would act on it.
"""

from __future__ import annotations

import os
import re
import sqlite3
import stat
import zipfile
from functools import cache
from pathlib import Path, PurePosixPath
from urllib.parse import quote

import pyogrio

from gis.errors import IngestRejected, UnsafeInput
from gis.settings import IngestSettings

#: How much of a file the content sniffers look at.
HEAD_BYTES = 64 * 1024

#: GDAL configuration that keeps GDAL off the network while it reads local files.
#: - CPL_VSIL_CURL_ALLOWED_EXTENSIONS: /vsicurl/ and its cousins only open URLs ending in
#:   this impossible extension, i.e. none (belt and braces: check_path already refuses
#:   /vsi paths).
#: - GDAL_HTTP_PROXY and the timeouts: CPLHTTPFetch (used e.g. when a GeoJSON "crs" is a
#:   link) goes through a proxy on a closed local port and fails at once. A ``no_proxy``
#:   environment variable bypasses a proxy, which is why GeoJSON is also scanned for such
#:   links (refuse_geojson_remote_crs).
#: - GDAL_DISABLE_READDIR_ON_OPEN=EMPTY_DIR: GDAL does not list the directory of the file
#:   it opens (it probes the sidecar files it needs by name instead).
#: - OGR_GEOJSON_MAX_OBJ_SIZE: the largest single GeoJSON object, in MB (GDAL's default,
#:   stated so it cannot be raised by the environment).
GDAL_CONFIG: dict[str, str] = {
    "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".invalid",
    "GDAL_HTTP_PROXY": "127.0.0.1:9",
    "GDAL_HTTP_CONNECTTIMEOUT": "1",
    "GDAL_HTTP_TIMEOUT": "1",
    "GDAL_HTTP_MAX_RETRY": "0",
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    "OGR_GEOJSON_MAX_OBJ_SIZE": "200",
}

#: 'PG:', 'GPKG:', 'WFS:', 'ESRI Shapefile:', 'http:' ... GDAL reads a leading
#: 'NAME:' as a driver prefix or URL scheme.
_DRIVER_PREFIX = re.compile(r"^[A-Za-z][A-Za-z0-9_+. -]*:")
_VRT_SUFFIXES = frozenset({".vrt", ".ovf"})
_VRT_MARKERS = (b"<OGRVRTDataSource", b"<VRTDataset")
#: The smallest zip entry whose compression ratio matters; tiny entries can compress
#: extremely well (a padded .prj, an empty .dbf) without being able to harm anyone.
_RATIO_FLOOR_BYTES = 1024 * 1024
_S_IFLNK = 0o120000


@cache
def harden_gdal() -> None:
    """Apply GDAL_CONFIG once per process (it is global GDAL state, pyogrio's copy only)."""
    pyogrio.set_gdal_config_options(GDAL_CONFIG)


def human_bytes(size: float) -> str:
    """A byte count people can read: '2.0 GiB'."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def check_path(path: Path | str, limits: IngestSettings) -> Path:
    """The resolved local path of an acceptable input file, or a refusal.

    Both the path as given and the resolved path are checked, because GDAL interprets the
    string it is handed: ``/tmp/../vsicurl/http:/x`` must not become a download.
    """
    raw = os.fspath(path)
    _refuse_gdal_path(raw)
    resolved = Path(raw).expanduser().resolve()
    _refuse_gdal_path(str(resolved))
    if resolved.suffix.lower() in _VRT_SUFFIXES:
        raise UnsafeInput(f"{resolved.name}: VRT files are refused (they can point anywhere)")
    try:
        st = resolved.stat()
    except (FileNotFoundError, NotADirectoryError):
        raise IngestRejected(f"{Path(raw).name}: file not found") from None
    except OSError as exc:
        raise IngestRejected(f"{Path(raw).name}: cannot open: {exc.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise IngestRejected(f"{resolved.name}: not a regular file")
    if st.st_size > limits.max_bytes:
        raise IngestRejected(
            f"{resolved.name}: file is {human_bytes(st.st_size)}, "
            f"over the {human_bytes(limits.max_bytes)} limit"
        )
    try:
        head = read_head(resolved)
    except OSError as exc:
        raise IngestRejected(f"{resolved.name}: cannot open: {exc.strerror}") from None
    refuse_vrt_content(head, resolved.name)
    return resolved


def _refuse_gdal_path(text: str) -> None:
    lowered = text.lower()
    if lowered.startswith("/vsi") or "://" in text or "\x00" in text or _DRIVER_PREFIX.match(text):
        raise UnsafeInput(
            f"{text!r}: only local file paths are accepted "
            "(no URLs, GDAL virtual file systems or connection strings)"
        )


def read_head(path: Path, size: int = HEAD_BYTES) -> bytes:
    """The first ``size`` bytes of a file, for content sniffing."""
    with path.open("rb") as f:
        return f.read(size)


def refuse_vrt_content(head: bytes, name: str) -> None:
    """Refuse a VRT whatever its name: GDAL picks drivers by content, not by extension."""
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n")[:4096]
    if any(marker in start for marker in _VRT_MARKERS):
        raise UnsafeInput(f"{name}: the file is a GDAL VRT, which is refused")


# --- GeoJSON -------------------------------------------------------------------------

_CRS_KEY = b'"crs"'
_LINK_TYPE = re.compile(rb'"type"\s*:\s*"\s*(?:link|url)', re.IGNORECASE)
#: A \u escape of an ASCII letter: no honest writer does this, and it could spell "crs".
_ESCAPED_LETTER = re.compile(rb"\\u00(?:4[1-9a-f]|5[0-9a]|6[1-9a-f]|7[0-9a])", re.IGNORECASE)
_SCAN_BLOCK = 8 * 1024 * 1024
_SCAN_OVERLAP = 4096


def refuse_geojson_remote_crs(path: Path) -> None:
    """Refuse a GeoJSON whose "crs" is a link or URL: GDAL would fetch it over HTTP.

    The old GeoJSON 2008 spec allowed ``"crs": {"type": "link", ...}``; GDAL resolves it
    with an HTTP request (a server-side request forgery vector). The whole file is scanned
    in blocks, since the member may come after the features.
    """
    carry = b""
    with path.open("rb") as f:
        while block := f.read(_SCAN_BLOCK):
            data = carry + block
            if _ESCAPED_LETTER.search(data):
                raise UnsafeInput(
                    f"{path.name}: GeoJSON with \\u-escaped ASCII letters is refused "
                    "(they can hide a remote CRS link); re-export the file"
                )
            _check_crs_members(data, path.name)
            carry = data[-_SCAN_OVERLAP:]


def _check_crs_members(data: bytes, name: str) -> None:
    at = data.find(_CRS_KEY)
    while at != -1:
        if _LINK_TYPE.search(data, at, at + _SCAN_OVERLAP):
            raise UnsafeInput(
                f"{name}: the GeoJSON 'crs' is a link, which GDAL would fetch over the "
                "network; remove it and give the CRS with --source-crs"
            )
        at = data.find(_CRS_KEY, at + 1)


# --- GeoPackage ----------------------------------------------------------------------

SQLITE_MAGIC = b"SQLite format 3\x00"

#: SQL functions the standard GeoPackage triggers call (rtree maintenance, GDAL's
#: feature counts, the spec's tile-matrix constraints). Anything else is refused.
_TRIGGER_FUNCTIONS = frozenset(
    {"st_isempty", "st_minx", "st_maxx", "st_miny", "st_maxy", "raise", "lower"}
)
#: Keywords that legitimately precede '(' in those triggers.
_TRIGGER_KEYWORDS = frozenset(
    {"in", "values", "not", "and", "or", "where", "when", "select", "then", "else", "is"}
)
_SQL_TOKEN = re.compile(
    r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|`(?:[^`]|``)*`|\[[^\]]*\]|[A-Za-z_][\w$]*|\S"
)
_SQL_IDENTIFIER = re.compile(r"[A-Za-z_][\w$]*")
_RTREE_SUFFIX = re.compile(r"^(?P<column>.+)_(?:insert|update\d|delete)$")


def check_gpkg(path: Path) -> None:
    """Refuse a GeoPackage that is not SQLite, has no gpkg_contents, or has odd triggers.

    The brief was "refuse any trigger", but every GeoPackage GDAL or QGIS writes carries
    standard triggers (rtree spatial-index maintenance, the spec's gpkg_tile_matrix
    constraints, GDAL's feature counts), so refusing all of them would refuse every real
    file. Triggers only fire on writes and GDAL opens read-only; still, only those
    standard families are accepted, recognised by name *and* by what their body does
    (writes only to the table that family maintains, calls only the functions those
    triggers use). Any other trigger is refused.
    """
    if not read_head(path, len(SQLITE_MAGIC)).startswith(SQLITE_MAGIC):
        raise IngestRejected(f"{path.name}: not a GeoPackage (no SQLite header)")
    rows = _sqlite_schema(path)
    if not any(kind == "table" and name == "gpkg_contents" for kind, name, _, _ in rows):
        raise IngestRejected(f"{path.name}: not a GeoPackage (no gpkg_contents table)")
    bad = sorted(
        name
        for kind, name, table, sql in rows
        if kind == "trigger" and not _standard_trigger(name, table, sql or "")
    )
    if bad:
        raise UnsafeInput(
            f"{path.name}: GeoPackage contains triggers that are not standard GeoPackage "
            f"triggers, refused: {', '.join(bad)}"
        )


def _sqlite_schema(path: Path) -> list[tuple[str, str, str, str | None]]:
    """sqlite_master's tables and triggers, read through a read-only connection."""
    uri = f"file:{quote(str(path))}?mode=ro"
    try:
        con = sqlite3.connect(uri, uri=True)
        try:
            con.execute("PRAGMA trusted_schema = OFF")
            return con.execute(
                "SELECT type, name, tbl_name, sql FROM sqlite_master "
                "WHERE type IN ('table', 'trigger')"
            ).fetchall()
        finally:
            con.close()
    except sqlite3.Error as exc:
        raise IngestRejected(f"{path.name}: unreadable GeoPackage: {exc}") from None


def _standard_trigger(name: str, table: str, sql: str) -> bool:
    """Whether a trigger is one of the standard GeoPackage/GDAL trigger families."""
    tokens = [m.group(0) for m in _SQL_TOKEN.finditer(sql)]
    lowered = [t.lower() for t in tokens]
    if "begin" not in lowered or not _calls(tokens) <= _TRIGGER_FUNCTIONS:
        return False
    targets = _write_targets(tokens[lowered.index("begin") + 1 :])
    if name.startswith("gpkg_") and table.startswith("gpkg_"):
        return not targets  # the spec's constraint triggers only RAISE
    if name.startswith(f"rtree_{table}_"):
        match = _RTREE_SUFFIX.match(name.removeprefix(f"rtree_{table}_"))
        if match is None:
            return False
        return targets <= {f"rtree_{table}_{match['column']}".lower()}
    if name in (f"trigger_insert_feature_count_{table}", f"trigger_delete_feature_count_{table}"):
        return targets <= {"gpkg_ogr_contents"}
    return False


def _calls(tokens: list[str]) -> set[str]:
    """Names called as functions: bare identifiers before '(' that are not keywords or
    the table of an ``INSERT INTO t (columns)``."""
    return {
        tokens[i].lower()
        for i in range(len(tokens) - 1)
        if tokens[i + 1] == "("
        and _SQL_IDENTIFIER.fullmatch(tokens[i])
        and tokens[i].lower() not in _TRIGGER_KEYWORDS
        and not (i and tokens[i - 1].lower() == "into")
    }


def _write_targets(body: list[str]) -> set[str]:
    """Tables written by INSERT/REPLACE INTO, UPDATE [OR x] and DELETE FROM statements."""
    lowered = [t.lower() for t in body]
    targets: set[str] = set()
    for i, word in enumerate(lowered):
        if word in ("into", "update") or (word == "from" and lowered[i - 1] == "delete"):
            at = i + 1
            if word == "update" and at < len(body) and lowered[at] == "or":
                at += 2
            if at < len(body):
                targets.add(_unquote(body[at]).lower())
    return targets


def _unquote(token: str) -> str:
    return token[1:-1] if token[:1] in "\"'`[" else token


# --- Zip archives --------------------------------------------------------------------


def check_zip(zf: zipfile.ZipFile, limits: IngestSettings, name: str) -> None:
    """Refuse traversal, links, encryption, too many entries and zip bombs, before extracting.

    Sizes come from the central directory; extract_member re-counts the bytes it really
    writes, so a lying directory cannot get past the limits either.
    """
    infos = zf.infolist()
    if len(infos) > limits.max_zip_entries:
        raise UnsafeInput(
            f"{name}: {len(infos)} entries in the zip, over the {limits.max_zip_entries} limit"
        )
    for info in infos:
        _check_member(info, limits, name)
    total = sum(i.file_size for i in infos)
    packed = sum(i.compress_size for i in infos)
    if total > limits.max_unzipped_bytes:
        raise UnsafeInput(
            f"{name}: the zip expands to {human_bytes(total)}, "
            f"over the {human_bytes(limits.max_unzipped_bytes)} limit"
        )
    if total >= _RATIO_FLOOR_BYTES and total > limits.max_zip_ratio * max(packed, 1):
        raise UnsafeInput(
            f"{name}: the zip compresses {total / max(packed, 1):.0f}:1, over the "
            f"{limits.max_zip_ratio:.0f}:1 limit (zip bomb)"
        )


def _check_member(info: zipfile.ZipInfo, limits: IngestSettings, name: str) -> None:
    entry = info.filename
    parts = PurePosixPath(entry.replace("\\", "/")).parts
    if entry.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", entry) or ".." in parts:
        raise UnsafeInput(f"{name}: zip entry {entry!r} points outside the archive")
    if (info.external_attr >> 16) & 0o170000 == _S_IFLNK:
        raise UnsafeInput(f"{name}: zip entry {entry!r} is a symbolic link")
    if info.flag_bits & 0x1:
        raise IngestRejected(f"{name}: zip entry {entry!r} is encrypted")
    if info.file_size >= _RATIO_FLOOR_BYTES and info.file_size > limits.max_zip_ratio * max(
        info.compress_size, 1
    ):
        raise UnsafeInput(
            f"{name}: zip entry {entry!r} compresses "
            f"{info.file_size / max(info.compress_size, 1):.0f}:1, over the "
            f"{limits.max_zip_ratio:.0f}:1 limit (zip bomb)"
        )


def extract_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, budget: int) -> int:
    """Extract one checked entry to ``target`` (a name the caller chose, never the entry's
    own path) and return the bytes written.

    Writing stops with UnsafeInput as soon as more than ``budget`` bytes came out, whatever
    the central directory claimed.
    """
    written = 0
    with zf.open(info) as src, target.open("wb") as out:
        while block := src.read(1024 * 1024):
            written += len(block)
            if written > budget:
                raise UnsafeInput(f"zip entry {info.filename!r} expands beyond the size limit")
            out.write(block)
    return written


__all__ = [
    "GDAL_CONFIG",
    "HEAD_BYTES",
    "SQLITE_MAGIC",
    "check_gpkg",
    "check_path",
    "check_zip",
    "extract_member",
    "harden_gdal",
    "human_bytes",
    "read_head",
    "refuse_geojson_remote_crs",
    "refuse_vrt_content",
]
