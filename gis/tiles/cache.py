"""The tile cache: an in-memory LRU in front of an optional directory of tile files.

Memory entries are keyed by the tile's ETag, which carries the versions of the tile's
layers, so an ingest makes that layer's old tiles unreachable (they age out) with no
purge, while other layers' tiles stay cached.

The directory (GIS_TILE_CACHE_DIR) is laid out by layer set, versions and tile address::

    <dir>/<layer>+<layer>/v<version>.<version>/<tms>/<z>/<x>/<y>.mvt

so a new layer version simply misses (a new folder), several workers and restarts share
the files, `gis tiles seed` fills it ahead, and `gis tiles prune` deletes the folders of
versions that are no longer current. Files are written to a temporary name and renamed,
so a reader never sees half a tile. An empty tile is kept too, as an empty file.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from gis.query.tiles import TileRequest
from layers.spec import LayerSpec

#: Memory entries are bounded by count too (one per this many bytes of the budget, at
#: least 16): each entry costs ~200 bytes besides its data, so many empty or tiny tiles
#: cannot grow the cache far beyond its budget.
BYTES_PER_ENTRY = 512

TILE_SUFFIX = ".mvt"


def tile_path(
    names: Sequence[str], versions: Mapping[str, int], tile: TileRequest
) -> PurePosixPath:
    """Where a tile lives under the cache directory. Layer names come from the registry
    (whitelisted identifiers), never from the request as typed."""
    layer_set = "+".join(names)
    version_dir = "v" + ".".join(str(versions.get(n, 0)) for n in names)
    return PurePosixPath(layer_set, version_dir, tile.tms, str(tile.z), str(tile.x),
                         f"{tile.y}{TILE_SUFFIX}")  # fmt: skip


class TileDirectory:
    """Tile files under one root: read, atomic write, and pruning of stale versions."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def read(self, rel: PurePosixPath) -> bytes | None:
        try:
            return (self.root / rel).read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None

    def has(self, rel: PurePosixPath) -> bool:
        return (self.root / rel).is_file()

    def write(self, rel: PurePosixPath, data: bytes) -> None:
        """Write to a temporary file beside the target, then rename: readers (other
        workers, a running seed) see the old state or the whole new tile, never a part."""
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            with open(tmp, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def prune(
        self, current: Callable[[Sequence[str]], Mapping[str, int] | None]
    ) -> tuple[int, int]:
        """Delete every version folder that is not the current one of its layer set.

        ``current(names)`` gives the layers' current versions, or None when the layer set
        is no longer valid (an unknown layer): its whole folder goes. Returns (folders
        deleted, bytes freed)."""
        removed = freed = 0
        if not self.root.is_dir():
            return 0, 0
        for set_dir in sorted(p for p in self.root.iterdir() if p.is_dir()):
            names = set_dir.name.split("+")
            versions = current(names)
            keep = None if versions is None else "v" + ".".join(
                str(versions.get(n, 0)) for n in names
            )  # fmt: skip
            stale = [set_dir] if keep is None else [
                p for p in set_dir.iterdir() if p.is_dir() and p.name != keep
            ]  # fmt: skip
            for folder in stale:
                freed += _size(folder)
                shutil.rmtree(folder, ignore_errors=True)
                removed += 1
        return removed, freed


def _size(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


@dataclass
class CacheStats:
    hits: int = 0
    disk_hits: int = 0
    misses: int = 0


class TileCache:
    """Memory LRU (``max_bytes``; 0 = off) in front of an optional TileDirectory."""

    def __init__(self, max_bytes: int, directory: Path | None = None) -> None:
        self.max_bytes = max_bytes
        self.directory = TileDirectory(directory) if directory is not None else None
        self.max_entries = max(16, max_bytes // BYTES_PER_ENTRY)
        self._tiles: OrderedDict[str, bytes] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.stats = CacheStats()

    def get(self, key: str, path: PurePosixPath | None = None) -> bytes | None:
        """The tile for ``key`` (memory), else from ``path`` in the directory (then kept
        in memory); None on a miss. b"" is a cached empty tile, not a miss."""
        if self.max_bytes:
            with self._lock:
                data = self._tiles.get(key)
                if data is not None:
                    self._tiles.move_to_end(key)
                    self.stats.hits += 1
                    return data
        if self.directory is not None and path is not None:
            data = self.directory.read(path)
            if data is not None:
                self.stats.disk_hits += 1
                self._remember(key, data)
                return data
        self.stats.misses += 1
        return None

    def put(self, key: str, data: bytes, path: PurePosixPath | None = None) -> None:
        """Keep a freshly rendered tile in memory and, given a path, in the directory."""
        self._remember(key, data)
        if self.directory is not None and path is not None:
            self.directory.write(path, data)

    def _remember(self, key: str, data: bytes) -> None:
        if not self.max_bytes or len(data) > self.max_bytes:
            return
        with self._lock:
            old = self._tiles.pop(key, None)
            if old is not None:
                self._bytes -= len(old)
            self._tiles[key] = data
            self._bytes += len(data)
            while self._bytes > self.max_bytes or len(self._tiles) > self.max_entries:
                _, evicted = self._tiles.popitem(last=False)
                self._bytes -= len(evicted)

    @property
    def enabled(self) -> bool:
        """False when there is neither memory nor a directory: every get misses."""
        return bool(self.max_bytes) or self.directory is not None

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._tiles)


def cache_max_age(specs: Sequence[LayerSpec], default: int) -> int:
    """Cache-Control max-age of a tile: the shortest of its layers' TileRules.cache_seconds
    (a layer that changes often keeps the whole tile fresh), else the server default."""
    own = [s.tiles.cache_seconds for s in specs if s.tiles.cache_seconds is not None]
    return min(own) if own else default
