"""An in-memory LRU of rendered tiles, keyed by the tile's ETag. The ETag carries the
versions of the tile's layers, so an ingest makes that layer's old tiles unreachable (they
age out) with no purge, while other layers' tiles stay cached."""

from __future__ import annotations

import threading
from collections import OrderedDict


class TileCache:
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._tiles: OrderedDict[str, bytes] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        with self._lock:
            data = self._tiles.get(key)
            if data is not None:
                self._tiles.move_to_end(key)
            return data

    def put(self, key: str, data: bytes) -> None:
        if len(data) > self.max_bytes:
            return
        with self._lock:
            old = self._tiles.pop(key, None)
            if old is not None:
                self._bytes -= len(old)
            self._tiles[key] = data
            self._bytes += len(data)
            while self._bytes > self.max_bytes:
                _, evicted = self._tiles.popitem(last=False)
                self._bytes -= len(evicted)

    @property
    def size_bytes(self) -> int:
        return self._bytes
