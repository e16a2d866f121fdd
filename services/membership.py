"""Which static membership (Kafka's `group.instance.id`) a process of a consumer group takes:
the first of `<id>`, `<id>-2`, `<id>-3`, … that no live process of the same group holds.

Two members under one instance id take the group from each other for as long as both run: each
join fences the other, which re-joins and fences the first (every partition rebalanced every
few seconds, offsets never committed, both working on everything). Two risk agents (or
projectors) started with the same settings on one host (the default id is `risk-<hostname>`,
`projector-<hostname>`) did exactly that. So a
process claims its id for its lifetime with a PostgreSQL session advisory lock, held by a
connection of its own: a process that dies releases it with its connection (at once when it is
killed: the kernel closes the socket), and one restarted takes its old id back, and with it its
partitions without waiting for a rebalance, which is what static membership is for.

A machine lost without closing its connections keeps its claims until PostgreSQL drops those
sessions (its TCP keepalive): a process started meanwhile on a machine of the same name takes
`<id>-2`, a new member, and the lost one's partitions move after its session timeout (10 s).

PostgreSQL away at start: the claim waits for it (the risk agent and the projector cannot store
anything without it anyway). Lost while running (PostgreSQL restarted): `keep` takes the same
id again; if another process has taken it meanwhile, this one exits non-zero for its supervisor
to restart it under a free id.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Final

import asyncpg

log = logging.getLogger("ledger.membership")

EXIT_CODE: Final = 75  # EX_TEMPFAIL: restarted, the process claims a free id
KEEP_EVERY_S: Final = 5.0
"""How often a running process calls `keep`."""
_RETRY_S: Final = 1.0


def lock_key(group: str, instance_id: str) -> int:
    """The advisory lock (a signed 64-bit key) of `instance_id` in `group`."""
    digest = hashlib.blake2b(f"{group}\0{instance_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def candidate(base: str, n: int) -> str:
    """The n-th id tried (1: `base` itself)."""
    return base if n == 1 else f"{base}-{n}"


class Membership:
    """The claim of one instance id of `group`, starting from `base`."""

    def __init__(self, dsn: str, group: str, base: str) -> None:
        self.dsn, self.group, self.base = dsn, group, base
        self.instance_id: str | None = None
        self._conn: asyncpg.Connection | None = None

    async def _connect(self) -> asyncpg.Connection:
        while True:
            try:
                return await asyncpg.connect(self.dsn, timeout=5)
            except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
                log.warning("PostgreSQL away (%s): the instance id waits", type(exc).__name__)
                await asyncio.sleep(_RETRY_S)

    async def _try(self, conn: asyncpg.Connection, instance_id: str) -> bool:
        key = lock_key(self.group, instance_id)
        return bool(await conn.fetchval("SELECT pg_try_advisory_lock($1)", key))

    async def claim(self) -> str:
        """The first free id from `base` on, held until this process ends."""
        conn = await self._connect()
        n = 1
        while not await self._try(conn, candidate(self.base, n)):
            n += 1
        self._conn, self.instance_id = conn, candidate(self.base, n)
        if n > 1:
            log.warning(
                "instance id %s is held by another live member of %s: this one is %s",
                self.base,
                self.group,
                self.instance_id,
            )
        return self.instance_id

    async def claim_within(self, timeout_s: float) -> str | None:
        """`claim`, or None (dynamic membership) when PostgreSQL does not answer within
        `timeout_s`: for a process that must start without it (the writer needs Kafka only)."""
        try:
            return await asyncio.wait_for(self.claim(), timeout_s)
        except TimeoutError:
            log.warning(
                "PostgreSQL did not answer within %.0f s: %s joins as a dynamic member",
                timeout_s,
                self.group,
            )
            return None

    async def keep(self) -> None:
        """Called every few seconds: the claim taken again if its connection was lost; exits
        the process if another has taken the id meanwhile."""
        assert self.instance_id is not None, "keep() before claim()"
        if self._conn is not None and not self._conn.is_closed():
            try:
                await asyncio.wait_for(self._conn.execute("SELECT 1"), 5)
                return
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
                self._conn.terminate()
        self._conn = None
        try:
            conn = await asyncpg.connect(self.dsn, timeout=5)
        except (OSError, asyncpg.PostgresError, TimeoutError):
            return  # PostgreSQL still away: again at the next call
        if await self._try(conn, self.instance_id):
            self._conn = conn
            log.info("instance id %s claimed again", self.instance_id)
            return
        await conn.close()
        log.error(
            "instance id %s of %s was taken by another process while PostgreSQL was away: "
            "exiting, to be restarted under a free one",
            self.instance_id,
            self.group,
        )
        os._exit(EXIT_CODE)

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    @asynccontextmanager
    async def held(self) -> AsyncIterator[None]:
        """For the block (a process's run): the claim, if one was taken, kept every
        KEEP_EVERY_S; then released, however the block ends."""
        keeping = asyncio.create_task(_keep_claimed(self)) if self.instance_id else None
        try:
            yield
        finally:
            if keeping is not None:
                keeping.cancel()
            await self.close()


async def _keep_claimed(claim: Membership) -> None:
    """`claim.keep()` every KEEP_EVERY_S, for as long as the process runs (a task)."""
    while True:
        await asyncio.sleep(KEEP_EVERY_S)
        try:
            await claim.keep()
        except Exception:
            log.exception("the instance id's claim not checked; again soon")
