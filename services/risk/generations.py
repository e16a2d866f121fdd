"""Which generation of the risk agent's table and consumer group is in force (migration 0013,
`risk_generations`), and the lock one bulk pass of a topic prefix holds at a time.

A rebuild (`ledger risk rebuild`) judges the log into the generation after the highest ever
attempted, beside the live agents, then records it here; each running agent polls this row
from its timer (`GenerationWatch`: one indexed read every few seconds) and restarts into the
new generation when it changes (services/risk/worker.py, `run`).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import AsyncIterator
from typing import Final, NoReturn

import asyncpg

log = logging.getLogger("ledger.risk")

POLL_EVERY_S: Final = 5.0
RESTART_GRACE_S: Final = 30.0


async def current(conn: asyncpg.Connection | asyncpg.Pool, prefix: str) -> int:
    """The generation in force for `prefix` (0 when none was ever swapped in, or in a database
    not migrated to 0013 yet: an agent started before the upgrade's migration runs as before)."""
    try:
        found = await conn.fetchval(
            "SELECT generation FROM risk_generations WHERE topic_prefix = $1", prefix
        )
    except asyncpg.UndefinedTableError:
        return 0
    return int(found or 0)


async def begin(conn: asyncpg.Connection, prefix: str) -> tuple[int, int]:
    """A new generation to build: (the live one, the new one). The new one is past every one
    begun before, so that an abandoned rebuild's topics and offsets are never picked up."""
    row = await conn.fetchrow(
        """INSERT INTO risk_generations (topic_prefix, generation, attempted) VALUES ($1, 0, 1)
           ON CONFLICT (topic_prefix) DO UPDATE
           SET attempted = greatest(risk_generations.attempted, risk_generations.generation) + 1
           RETURNING generation, attempted""",
        prefix,
    )
    assert row is not None
    return int(row["generation"]), int(row["attempted"])


async def swap(conn: asyncpg.Connection, prefix: str, generation: int) -> None:
    """`generation` in force from now: the running agents restart into it."""
    await conn.execute(
        """UPDATE risk_generations SET generation = $2, swapped_at = now()
           WHERE topic_prefix = $1""",
        prefix,
        generation,
    )


def _lock_id(prefix: str) -> int:
    # Apart from the projector's rebuild locks (below 2**33): a range of its own.
    return int.from_bytes(hashlib.sha256(f"risk:{prefix}".encode()).digest()[:4], "big") + 2**34


@contextlib.asynccontextmanager
async def alone(conn: asyncpg.Connection, prefix: str, what: str) -> AsyncIterator[None]:
    """One bulk pass (a rebuild, a first pass) of a prefix's agents at a time: others wait
    here (a session lock: a process that dies releases it)."""
    key = _lock_id(prefix)
    if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", key):
        log.warning("%s: another bulk pass of %s is under way: waiting for its end", what, prefix)
        await conn.execute("SELECT pg_advisory_lock($1)", key)
    try:
        yield
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", key)


class GenerationWatch:
    """Whether the generation in force has moved away from the one this agent runs, asked of
    PostgreSQL at most every `POLL_EVERY_S` (the agent's timer calls it every tick)."""

    def __init__(self, prefix: str, running: int, every_s: float = POLL_EVERY_S) -> None:
        self.prefix = prefix
        self.running = running
        self.every_s = every_s
        self._next = time.monotonic() + every_s

    async def moved(self, pool: asyncpg.Pool) -> int | None:
        """The new generation once it differs from the running one; None otherwise."""
        now = time.monotonic()
        if now < self._next:
            return None
        self._next = now + self.every_s
        found = await current(pool, self.prefix)
        return found if found != self.running else None


def restart_into(generation: int) -> bool:
    """Stop this agent (Faust's own clean stop, as on SIGTERM: what it holds flushed, its
    offsets committed, its group left) so that `start_again` runs it in `generation`; or,
    should that stop not end within `RESTART_GRACE_S` (Faust waits for every event it handed
    out to be acked, and a batch may be waiting for the log's index), start again anyway:
    nothing of the old generation is needed any more (the new one judges again from its own
    offsets, what was stored raises nothing twice, and the outbox publishes what was not)."""
    log.warning("generation %d is in force now: restarting into it", generation)
    threading.Timer(RESTART_GRACE_S, start_again).start()
    os.kill(os.getpid(), signal.SIGTERM)
    return True


def start_again() -> NoReturn:
    """This process, started again from its own command line (a new interpreter: Faust's app
    and its services cannot be started twice in one process).

    In process rather than by exiting for the supervisor to restart: supervisord, compose and
    Kubernetes restart a process that exits, but not every way of running one does (a
    `ledger serve risk` in a terminal, a test's process), and a pod's restart counts as a crash
    in its back-off. The pid, the probes' port and the log stay the same."""
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])
