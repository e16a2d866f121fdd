"""Helpers for the projector's tests: a history on a topic of its own, and table dumps."""

from __future__ import annotations

import asyncio
import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg

from events.topics import TopicSpec
from services.db import connection
from services.kafka_log import log_ends
from services.projector import store
from services.projector.worker import Projector
from tests.support.services import serve
from tests.support.stack import Stack

# Where an event sits in one topic (the same log produced twice, or with every event twice,
# puts it elsewhere): the audit index's copy is compared without it.
_COLUMNS = {"event_log": "contract_id, stream_version, event_id, event_type, occurred_at, "
            "recorded_at, body"}  # fmt: skip


async def dump(dsn: str, schema: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every read-model table, in a canonical order."""
    async with connection(dsn) as conn:
        return {
            t: [
                tuple(r)
                for r in await conn.fetch(
                    f"SELECT {_COLUMNS.get(t, '*')} FROM {schema}.{t} t ORDER BY t::text"
                )
            ]
            for t in store.READ_MODEL_TABLES
        }


async def replay(
    bootstrap: str, events: TopicSpec, dsn: str, schema: str, **projector: Any
) -> Projector:
    """A clean replay of the whole topic into fresh tables in `schema` (`projector`: more
    arguments of the Projector, e.g. its cache size)."""
    async with connection(dsn) as conn:
        await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await store.ensure_live_schema(conn, schema, events.name)
    p = Projector(bootstrap, events, dsn, live=schema, **projector)
    await p.start()
    try:
        await p.run(asyncio.Event(), until_caught_up=True)
    finally:
        await p.stop()
    return p


async def drop(dsn: str, *schemas: str) -> None:
    async with connection(dsn) as conn:
        for s in schemas:
            await conn.execute(f"DROP SCHEMA IF EXISTS {s} CASCADE")


async def log_end(bootstrap: str, events: TopicSpec) -> int:
    """The sum of the topic's end offsets (records and transaction markers)."""
    return sum((await log_ends(bootstrap, events)).values())


async def caught_up(
    bootstrap: str, dsn: str, events: TopicSpec, schema: str, timeout_s: float
) -> None:
    """Until the projector of `schema` has applied the whole of `events` as it is now (the
    test fails, saying where it stopped, after `timeout_s`)."""
    end = await log_end(bootstrap, events)
    async with connection(dsn) as conn:
        deadline = time.monotonic() + timeout_s
        while (done := await applied(conn, schema)) < end:
            assert time.monotonic() < deadline, f"the projector stopped at {done} of {end}"
            await asyncio.sleep(0.2)


async def applied(conn: asyncpg.Connection, schema: str) -> int:
    """The sum of the projector's positions in `schema` (0 before its tables exist)."""
    try:
        return int(
            await conn.fetchval(f"SELECT coalesce(sum(next_offset), 0) FROM {schema}.positions")
        )
    except asyncpg.UndefinedTableError:
        return 0


async def dump_contracts(
    dsn: str, schema: str, contract_ids: list[str]
) -> dict[str, list[tuple[Any, ...]]]:
    """Every read-model row of these contracts, in a canonical order."""
    async with connection(dsn) as conn:
        return {
            t: [
                tuple(r)
                for r in await conn.fetch(
                    f"SELECT * FROM {schema}.{t} WHERE contract_id = ANY($1) ORDER BY {t}::text",
                    contract_ids,
                )
            ]
            for t in store.READ_MODEL_TABLES
        }


def start_projector(
    stack: Stack, prefix: str, schema: str, name: str, **env: str
) -> tuple[subprocess.Popen[bytes], Path]:
    """`ledger serve projector` on topics of `prefix` into `schema` (its group: the prefix's),
    logging to var/log/test-<prefix>-<name>.log; `env` overrides settings. Returns the process
    and its log."""
    own = {"LEDGER_PROJECTION_SCHEMA": schema, "LEDGER_PROJECTOR_INSTANCE_ID": f"{prefix}-{name}"}
    return serve("projector", stack, prefix, name, **(own | env))


def assigned(log: Path) -> set[int] | None:
    """The partitions a projector's log says it was last assigned (None: none yet)."""
    found = re.findall(r"ledger\.projector: assigned: \[([0-9, ]*)\]", log.read_text())
    if not found:
        return None
    return {int(p) for p in found[-1].split(",") if p.strip()}


async def wait_split(
    logs: list[Path],
    partitions: int,
    timeout_s: float = 30,
    parse: Callable[[Path], set[int] | None] = assigned,
) -> list[set[int]]:
    """Until the processes logging to `logs` own every partition between them, each some
    (`parse`: what a log says its process owns; default, a projector's)."""
    deadline = time.monotonic() + timeout_s
    while True:
        owned = [parse(log) or set() for log in logs]
        if all(owned) and sorted(p for o in owned for p in o) == list(range(partitions)):
            return owned
        assert time.monotonic() < deadline, f"the partitions were not split: {owned}"
        await asyncio.sleep(0.2)
