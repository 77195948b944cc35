"""Layer versions for the tile hot path: exact, and shared by concurrent requests.

Every tile request needs the current versions of its layers (they make the ETag and the
cache key), and a remembered value would be wrong after an ingest by another process or
worker. So each request is answered by a query that *starts after the request arrived*;
but requests that arrive while no query has been sent yet share the next one (a batch).
A request never joins a query already sent, so it always sees every ingest committed
before it arrived, while a burst of N tile requests costs one small query instead of N.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from gis.store import Store
from layers.registry import LAYERS

#: Where a request's looked-up versions are kept (ASGI scope["state"]) for the route, so
#: a request the fast path could not answer does not ask twice.
VERSIONS_KEY = "gis_tile_versions"


class VersionLookup:
    """Per event loop (one per app): ``await lookup.get(names)``."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._open: asyncio.Future[dict[str, int]] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        #: Queries sent and requests answered: the batching ratio, for tests and benches.
        self.queries = 0
        self.requests = 0

    async def get(self, names: Sequence[str]) -> dict[str, int]:
        """The current versions of ``names`` that are loaded (others are absent)."""
        self.requests += 1
        batch = self._open
        if batch is None:
            loop = asyncio.get_running_loop()
            batch = self._open = loop.create_future()
            # The query runs as its own task: a cancelled request (a client gone) does
            # not cancel the answer others wait for.
            task = loop.create_task(self._query(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        everything = await asyncio.shield(batch)
        return {n: everything[n] for n in names if n in everything}

    async def _query(self, batch: asyncio.Future[dict[str, int]]) -> None:
        # The task starts a loop turn later: requests received meanwhile have joined.
        # Closed before the query is sent: later arrivals wait for a query of their own.
        self._open = None
        self.queries += 1
        try:
            batch.set_result(await self.store.alayer_versions(list(LAYERS)))
        except BaseException as exc:  # every waiter re-raises it
            batch.set_exception(exc)
            batch.exception()  # retrieved: no "never retrieved" warning without waiters
