"""The service's hot read path: finding queries (:class:`rightsdb.queries.FindingReader`).

On SQLite a page is read at once on the event loop when it can be without waiting (no writer holds the
database, and the query takes under 2 ms: nearly always); otherwise, and always on PostgreSQL (a round trip
to a server), it is read on a few threads of this service's own, each with its own database connection,
handed over with ``loop.run_in_executor``. A hop to a thread and back costs more CPU than the query itself
(wakeups and the interpreter lock change hands twice), so the event loop keeps what it can do at once.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from rightsdb import Registry
from rightsdb.queries import FindingFilter, FindingReader

__all__ = ["Reads"]


class Reads:
    def __init__(self, registry: Registry, threads: int = 4) -> None:
        self.reader = FindingReader(registry)
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="reads")

    async def findings(
        self, flt: FindingFilter, after: int | None, limit: int
    ) -> tuple[list[dict[str, Any]], int | None]:
        """A page of findings (see :meth:`FindingReader.page`), read off the event loop."""
        page = self.reader.page_now(flt, after, limit)
        if page is not None:
            return page
        return await asyncio.get_running_loop().run_in_executor(self._pool, self.reader.page, flt, after, limit)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self.reader.close()
