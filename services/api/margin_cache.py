"""One computation of the portfolio's assignment margins per (day, reader's scope, data version),
shared by the requests that need it: the portfolio page asks for the portfolio, its clients and
its account managers as of the same day at once, and each would otherwise fold every
assignment again. The data version is the read models' generation and applied offsets, so any
event the projector applies (or a rebuild swapped in) makes a new key: a cached answer is never
older than the read models it was computed from.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

import asyncpg


async def data_version(pool: asyncpg.Pool, schema: str) -> tuple[Any, ...]:
    row = await pool.fetchrow(
        f"""SELECT (SELECT generation FROM {schema}.meta) AS generation,
                   (SELECT created_at FROM {schema}.meta) AS created,
                   (SELECT coalesce(sum(next_offset), 0) FROM {schema}.positions) AS applied"""
    )
    return (row["generation"], row["created"], row["applied"])


class SingleFlight:
    """The last few results by key; concurrent callers of one key share one computation."""

    def __init__(self, size: int = 8) -> None:
        self.size = size
        self._entries: OrderedDict[Hashable, asyncio.Future[Any]] = OrderedDict()

    async def get(self, key: Hashable, compute: Callable[[], Awaitable[Any]]) -> Any:
        fut = self._entries.get(key)
        if fut is None:
            fut = asyncio.ensure_future(compute())
            self._entries[key] = fut
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
            try:
                return await fut
            except BaseException:
                if self._entries.get(key) is fut:
                    del self._entries[key]  # a failure is not remembered
                raise
        self._entries.move_to_end(key)
        return await asyncio.shield(fut)
