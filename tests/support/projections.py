"""Helpers for the projector's tests: a history on a topic of its own, and table dumps."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition

from events.topics import TopicSpec
from services.projector import store
from services.projector.worker import Projector
from tests.support.services import LEDGER, ROOT
from tests.support.stack import Stack

TABLES = (
    "contracts",
    "terms_history",
    "assignments",
    "rate_history",
    "margin_impacts",
    "open_items",
)


async def dump(dsn: str, schema: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every read-model table, in a canonical order."""
    conn = await asyncpg.connect(dsn)
    try:
        return {
            t: [
                tuple(r) for r in await conn.fetch(f"SELECT * FROM {schema}.{t} ORDER BY {t}::text")
            ]
            for t in TABLES
        }
    finally:
        await conn.close()


async def replay(bootstrap: str, events: TopicSpec, dsn: str, schema: str) -> Projector:
    """A clean replay of the whole topic into fresh tables in `schema`."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await store.ensure_live_schema(conn, schema, events.name)
    finally:
        await conn.close()
    p = Projector(bootstrap, events, dsn, live=schema)
    await p.start()
    try:
        await p.run(asyncio.Event(), until_caught_up=True)
    finally:
        await p.stop()
    return p


async def drop(dsn: str, *schemas: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        for s in schemas:
            await conn.execute(f"DROP SCHEMA IF EXISTS {s} CASCADE")
    finally:
        await conn.close()


async def log_end(bootstrap: str, events: TopicSpec) -> int:
    """The sum of the topic's end offsets (records and transaction markers)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        tps = [TopicPartition(events.name, p) for p in range(events.partitions)]
        return sum((await consumer.end_offsets(tps)).values())
    finally:
        await consumer.stop()


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
    conn = await asyncpg.connect(dsn)
    try:
        return {
            t: [
                tuple(r)
                for r in await conn.fetch(
                    f"SELECT * FROM {schema}.{t} WHERE contract_id = ANY($1) ORDER BY {t}::text",
                    contract_ids,
                )
            ]
            for t in TABLES
        }
    finally:
        await conn.close()


def start_projector(
    stack: Stack, prefix: str, schema: str, name: str, **env: str
) -> tuple[subprocess.Popen[bytes], Path]:
    """`ledger serve projector` on topics of `prefix` into `schema` (its group: the prefix's),
    logging to var/log/test-<prefix>-<name>.log; `env` overrides settings. Returns the process
    and its log."""
    log = ROOT / "var" / "log" / f"test-{prefix}-{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    out = open(log, "ab")  # noqa: SIM115
    proc = subprocess.Popen(
        [*LEDGER, "serve", "projector"],
        cwd=ROOT,
        env={
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": stack.bootstrap,
            "DATABASE_URL": stack.dsn,
            "LEDGER_TOPIC_PREFIX": prefix,
            "LEDGER_PROJECTION_SCHEMA": schema,
            "LEDGER_PROJECTOR_INSTANCE_ID": f"{prefix}-{name}",
            **env,
        },
        stdout=out,
        stderr=out,
    )
    return proc, log


def assigned(log: Path) -> set[int] | None:
    """The partitions a projector's log says it was last assigned (None: none yet)."""
    found = re.findall(r"ledger\.projector: assigned: \[([0-9, ]*)\]", log.read_text())
    if not found:
        return None
    return {int(p) for p in found[-1].split(",") if p.strip()}


async def wait_split(logs: list[Path], partitions: int, timeout_s: float = 30) -> list[set[int]]:
    """Until the projectors logging to `logs` own every partition between them, each some."""
    deadline = time.monotonic() + timeout_s
    while True:
        owned = [assigned(log) or set() for log in logs]
        if all(owned) and sorted(p for o in owned for p in o) == list(range(partitions)):
            return owned
        assert time.monotonic() < deadline, f"the partitions were not split: {owned}"
        await asyncio.sleep(0.2)


def stop(*procs: subprocess.Popen[bytes]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
