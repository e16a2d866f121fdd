"""One computation of the portfolio per (reader's scope, data version), shared by the requests
that need it: the portfolio page asks for the portfolio on two days, its clients, its account
managers and its trend at once, and each would otherwise read and fold every assignment again.
The data version is the read models' generation and applied offsets, so any event the projector
applies (or a rebuild swapped in) makes a new key: a cached answer is never older than the read
models it was computed from.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Iterator
from typing import Any

import asyncpg


async def data_version(pool: asyncpg.Pool, schema: str) -> tuple[Any, ...]:
    row = await pool.fetchrow(
        f"""SELECT (SELECT generation FROM {schema}.meta) AS generation,
                   (SELECT created_at FROM {schema}.meta) AS created,
                   (SELECT coalesce(sum(next_offset), 0) FROM {schema}.positions) AS applied"""
    )
    return (row["generation"], row["created"], row["applied"])


PAUSE_AT_MOST_S = 10.0
_pausing = 0
_was_enabled = True
_deadline: asyncio.TimerHandle | None = None


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic garbage collector held off while a portfolio is read and computed.

    The computation builds, and keeps, some hundred thousand small objects free of cycles,
    which die by reference counting. Left on, the collector scans the process's whole heap
    again and again as they pile up (measured: a third of the first load's time); held off, it
    looks at them once, afterwards. Nested and overlapping uses (concurrent requests) hold it
    off until the last one ends, and never longer than PAUSE_AT_MOST_S."""
    global _pausing, _was_enabled, _deadline
    if _pausing == 0:
        _was_enabled = gc.isenabled()
        gc.disable()
        if _was_enabled:
            # Never for long, even if a computation waits on an unreachable database.
            with contextlib.suppress(RuntimeError):  # no event loop: nothing waits
                _deadline = asyncio.get_running_loop().call_later(PAUSE_AT_MOST_S, gc.enable)
    _pausing += 1
    try:
        yield
    finally:
        _pausing -= 1
        if _pausing == 0:
            if _deadline is not None:
                _deadline.cancel()
                _deadline = None
            if _was_enabled:
                gc.enable()


class SingleFlight:
    """The last few results by key; concurrent callers of one key share one computation (run
    with the garbage collector held off)."""

    def __init__(self, size: int = 8) -> None:
        self.size = size
        self._entries: OrderedDict[Hashable, asyncio.Future[Any]] = OrderedDict()

    async def get(self, key: Hashable, compute: Callable[[], Awaitable[Any]]) -> Any:
        fut = self._entries.get(key)
        if fut is None:
            fut = asyncio.ensure_future(_paused(compute))
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

    def forget(self, stale: Callable[[Hashable], bool]) -> None:
        """Drops the results whose key is `stale` (those of read models since changed: a
        portfolio's results are large)."""
        for key in [k for k in self._entries if stale(k)]:
            del self._entries[key]


async def _paused(compute: Callable[[], Awaitable[Any]]) -> Any:
    with gc_paused():
        return await compute()
