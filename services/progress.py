"""How the API learns that an event has been projected and judged, without polling.

The projector and the risk agent send a PostgreSQL NOTIFY on one channel in the same
transaction as their batch write (`notify`): it is delivered when, and only if, the batch
commits. Its payload is small: what progressed (`projected:<schema>` or `judged:<events
topic>`), never the data.

Each API process keeps one `Progress`: a dedicated connection LISTENing on the channel, and one
checker that, when woken, reads the progress of every waiting request's contracts in ONE query
and resolves the requests whose events have been reached; each then reads its impacts and
alerts once. While the listening connection is away (PostgreSQL restarting), it reconnects in
the background and the checker falls back to a slow poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

import asyncpg

log = logging.getLogger("ledger.progress")

CHANNEL = "ledger_progress"
# How often the checker looks anyway while the listener is connected (a safety net, nothing
# is missed while connected) and while it is not (the fallback poll).
SAFETY_S = 2.0
FALLBACK_S = 0.25


async def notify(conn: asyncpg.Connection, kind: str, key: str) -> None:
    """In the caller's transaction: tell the listeners that `kind` (projected, judged)
    progressed for `key` (the projection schema, the events topic)."""
    await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, f"{kind}:{key}")


Key = tuple[str, int]  # (contract_id, stream_version)


@dataclass(eq=False)
class _Waiter:
    want: set[Key]
    projected: set[Key] = field(default_factory=set)
    judged: set[Key] = field(default_factory=set)
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def update(self, projected: dict[str, int], judged: dict[str, int]) -> None:
        self.projected |= {(c, v) for c, v in self.want if projected.get(c, 0) >= v}
        self.judged |= {(c, v) for c, v in self.want if judged.get(c, 0) >= v}
        if self.projected == self.want and self.judged == self.want:
            self.done.set()


class Progress:
    def __init__(self, dsn: str, pool: asyncpg.Pool, schema: str, events_topic: str) -> None:
        self.dsn, self.pool, self.schema, self.events_topic = dsn, pool, schema, events_topic
        self._mine = {f"projected:{schema}", f"judged:{events_topic}"}
        self._waiters: set[_Waiter] = set()
        self._dirty = asyncio.Event()
        self.connected = False
        self.backend_pid: int | None = None  # the listening connection's server process
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._listen(), name="progress-listener"),
            asyncio.create_task(self._check_loop(), name="progress-checker"),
            asyncio.create_task(self._tick(), name="progress-tick"),
        ]

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t

    async def read(self, db: Any, contract_ids: list[str]) -> tuple[dict[str, int], dict[str, int]]:
        """The stream version up to which each contract is projected, and judged."""
        rows = await db.fetch(
            f"""SELECT true AS projected, contract_id, stream_version FROM {self.schema}.contracts
                 WHERE contract_id = ANY($1)
                UNION ALL
                SELECT false, contract_id, stream_version FROM risk_progress
                 WHERE events_topic = $2 AND contract_id = ANY($1)""",
            contract_ids,
            self.events_topic,
        )
        projected = {r["contract_id"]: r["stream_version"] for r in rows if r["projected"]}
        judged = {r["contract_id"]: r["stream_version"] for r in rows if not r["projected"]}
        return projected, judged

    async def reached(self, want: set[Key], wait_s: float) -> tuple[set[Key], set[Key]]:
        """Of `want`, the events projected and those judged, waiting at most `wait_s` for all.
        The first look is the caller's own (PostgreSQL away: it raises, as any read does)."""
        w = _Waiter(want)
        self._waiters.add(w)  # before the first look: a commit after it wakes the checker
        try:
            w.update(*await self.read(self.pool, sorted({c for c, _ in want})))
            if not w.done.is_set() and wait_s > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(w.done.wait(), wait_s)
            return set(w.projected), set(w.judged)
        finally:
            self._waiters.discard(w)

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        if payload in self._mine and self._waiters:
            self._dirty.set()

    async def _check_loop(self) -> None:
        """One query for every waiting request, each time something progressed."""
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            waiters = [w for w in self._waiters if not w.done.is_set()]
            if not waiters:
                continue
            try:
                projected, judged = await self.read(
                    self.pool, sorted({c for w in waiters for c, _ in w.want})
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("progress check failed (%s); again soon", type(exc).__name__)
                await asyncio.sleep(FALLBACK_S)
                self._dirty.set()
                continue
            for w in waiters:
                w.update(projected, judged)

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(FALLBACK_S if not self.connected else SAFETY_S)
            if self._waiters:
                self._dirty.set()

    async def _listen(self) -> None:
        """Keeps a connection LISTENing; reconnects when it is lost."""
        while True:
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(self.dsn, timeout=5)
                lost = asyncio.Event()
                conn.add_termination_listener(lambda _c, lost=lost: lost.set())
                await conn.add_listener(CHANNEL, self._on_notify)
                self.backend_pid = conn.get_server_pid()
                self.connected = True
                self._dirty.set()  # what committed while we were away
                while not lost.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(lost.wait(), 5)
                    if not lost.is_set():  # a connection silently gone answers no ping
                        await asyncio.wait_for(conn.execute("SELECT 1"), 3)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("progress listener: PostgreSQL away (%s); again in 1 s", exc)
            finally:
                self.connected = False
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(conn.close(), 2)
            await asyncio.sleep(1)
