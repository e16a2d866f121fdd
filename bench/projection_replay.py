"""Replay benchmark of the margin projector against the real local Kafka and PostgreSQL.

    .venv/bin/python -m bench.projection_replay [--events N] [--contracts C] [--seed S]
                                                [--hours-share 0.2]

In one run it
1. creates a unique topic prefix and a unique projection schema,
2. generates N valid events (every one built with the catalogue's pydantic models, and checked
   against the writer's own rules) spread over C contracts, with consecutive stream versions per
   contract, and produces them keyed by contract_id,
3. measures (a) a bare aiokafka consumer that only reads the topic and `json.loads` each value,
   and (b) the Projector replaying the whole topic into the fresh schema until caught up,
4. checks the result (contracts rows == C, sum of positions == N, nothing poisoned), prints a
   digest of the projected tables (identical for the same --events/--contracts/--seed whatever
   the projector's implementation, which is how an optimisation is checked to change nothing),
5. drops its schema and deletes its topics.

Kafka and PostgreSQL are taken from KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL, else the local
stack of `make up`.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import platform
import pstats
import resource
import sys
import time
import uuid
from datetime import date
from decimal import Decimal
from pathlib import Path

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from events.topics import topics
from services import kafka_log
from services.db import connection
from services.kafka_admin import ensure_topics
from services.projector import store
from services.projector.sharded import replay
from services.settings import Settings
from simulation.histories import REALISTIC, generate, produce, with_hours

ROOT = Path(__file__).resolve().parent.parent

CENT = Decimal("0.01")
TABLES = (*store.READ_MODEL_TABLES, "positions")


# -- the log ------------------------------------------------------------------------------------
# The generator is shared with the projector's tests: one definition of a realistic valid log.


def _consumer(bootstrap: str) -> AIOKafkaConsumer:
    # The projector's own consumer settings, so that (a) and (b) read alike.
    return AIOKafkaConsumer(bootstrap_servers=bootstrap, **kafka_log.WHOLE_LOG_READS)


async def bare_consume(bootstrap: str, topic: str, partitions: int, n: int) -> float:
    """Seconds to read the whole topic and json.loads every value."""
    t0 = time.perf_counter()
    consumer = _consumer(bootstrap)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        seen = 0
        loads = json.loads
        while seen < n:
            batches = await consumer.getmany(timeout_ms=200, max_records=20_000)
            for rs in batches.values():
                for r in rs:
                    loads(r.value)
                seen += len(rs)
        return time.perf_counter() - t0
    finally:
        await consumer.stop()


async def cleanup(bootstrap: str, dsn: str, schema: str, topic_names: list[str]) -> None:
    """Drops the schema and deletes the topics, each attempted even if the other fails (a run
    cut short by a restarted server must not leave either behind)."""
    try:
        async with connection(dsn) as conn:
            await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    except Exception as exc:
        print(f"could not drop schema {schema}: {exc!r}", file=sys.stderr)
    try:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            await admin.delete_topics(topic_names)
        finally:
            await admin.close()
    except Exception as exc:
        print(f"could not delete topics {topic_names}: {exc!r}", file=sys.stderr)


async def digest(conn: asyncpg.Connection, schema: str) -> dict[str, tuple[int, str]]:
    out = {}
    for table in TABLES:
        out[table] = tuple(
            await conn.fetchrow(
                f"SELECT count(*), md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), ''))"
                f" FROM {schema}.{table} t"
            )
        )
    return out


# -- the machine ------------------------------------------------------------------------------


def machine(kafka_version: str, pg_version: str) -> dict[str, str]:
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ram = "unknown"
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal"):
                ram = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    return {
        "nproc": str(len(os.sched_getaffinity(0))),
        "cpu": cpu,
        "ram": ram,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "kafka": kafka_version,
        "postgresql": pg_version,
    }


def _cpu() -> float:
    """CPU seconds of this process and of its children that have ended (the shards)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def on_topics(bootstrap: str, dsn: str, prefix: str, schema: str) -> Settings:
    """The settings of a projector of this run: its servers, topic prefix and schema."""
    return Settings(
        KAFKA_BOOTSTRAP_SERVERS=bootstrap,
        DATABASE_URL=dsn,
        LEDGER_TOPIC_PREFIX=prefix,
        LEDGER_PROJECTION_SCHEMA=schema,
    )


def _load() -> str:
    """The 1-minute load average: the machine is shared, and a busy one skews the numbers."""
    return f"{os.getloadavg()[0]:.2f}"


def kafka_version() -> str:
    # The local stack runs the broker from jars Maven resolved; elsewhere the version is not
    # something the Kafka protocol reports.
    jars = sorted((ROOT / "deploy/local/target/lib").glob("kafka-server-[0-9]*.jar"))
    if jars and "KAFKA_BOOTSTRAP_SERVERS" not in os.environ:
        return jars[-1].stem.removeprefix("kafka-server-")
    return "unknown (external broker)"


# -- main -------------------------------------------------------------------------------------


async def main(args: argparse.Namespace) -> int:
    local = Settings()
    bootstrap, dsn = local.kafka_bootstrap_servers, local.dsn
    n, contracts = args.events, args.contracts or max(1, args.events // 50)
    if n < 2 * contracts:
        raise SystemExit("--events must be at least twice --contracts")
    tag = uuid.uuid4().hex[:12]
    prefix, schema = f"bench.{tag}", f"bench_{tag}"
    wanted = topics(prefix)
    spec = wanted.events

    t0 = time.perf_counter()
    mix = with_hours(REALISTIC, args.hours_share) if args.hours_share else None
    log = generate(n, contracts, args.seed, check=not args.no_check, mix=mix)
    gen_s = time.perf_counter() - t0
    print(
        f"generated {n:,} events over {contracts:,} contracts in {gen_s:.1f} s "
        f"({log.bytes / n:.0f} bytes/event on average, {log.bytes / 2**20:.1f} MiB)"
    )
    shares = ", ".join(
        f"{k} {v / n:.1%}" for k, v in sorted(log.by_type.items(), key=lambda kv: -kv[1])
    )
    print(f"mix: {shares}")

    try:
        async with connection(dsn) as conn:
            await ensure_topics(bootstrap, wanted)
            pg_version = await conn.fetchval("SHOW server_version")
            produce_s = await produce(bootstrap, spec.name, spec.partitions, log, args.compression)
            print(f"produced to {spec.name} in {produce_s:.1f} s ({n / produce_s:,.0f} events/s)")
            del log

            bare_s = await bare_consume(bootstrap, spec.name, spec.partitions, n)

            await store.ensure_live_schema(conn, schema, spec.name)
            settings = on_topics(bootstrap, dsn, prefix, schema)
            load_before = _load()
            profile = cProfile.Profile() if args.profile else None
            c0 = _cpu()
            if profile is not None:
                profile.enable()
            p = await replay(settings, schema, args.processes)
            if profile is not None:
                profile.disable()
            proj_s, proj_cpu = p.seconds, _cpu() - c0
            load_after = _load()
            if profile is not None:
                profile.dump_stats(args.profile)
                print(f"\nprofile of (b) in {args.profile}; by own time (cProfile slows it down):")
                pstats.Stats(profile).sort_stats("tottime").print_stats(25)

            contracts_rows = await conn.fetchval(f"SELECT count(*) FROM {schema}.contracts")
            positions = await conn.fetchval(
                f"SELECT sum(next_offset)::bigint FROM {schema}.positions"
            )
            tables = await digest(conn, schema)
    finally:
        if not args.keep:
            await cleanup(bootstrap, dsn, schema, [t.name for t in wanted.all()])

    info = machine(kafka_version(), pg_version)
    bare_rate, proj_rate = n / bare_s, n / proj_s
    print()
    print("machine: " + ", ".join(f"{k} {v}" for k, v in info.items()))
    print(f"{'':<28}{'seconds':>10}{'events/s':>12}")
    print(f"{'(a) bare consumer + json':<28}{bare_s:>10.2f}{bare_rate:>12,.0f}")
    print(f"{'(b) projector, caught up':<28}{proj_s:>10.2f}{proj_rate:>12,.0f}")
    print(f"projector / bare: {proj_rate / bare_rate:.0%}")
    print(
        f"projector: {args.processes} process(es) in a consumer group, sharing the "
        f"{spec.partitions} partitions; {proj_cpu:.1f} s of CPU in all; (b) is timed from the "
        f"first process ready (connected, the group joined) to the last partition caught up; "
        f"{p.ready_after:.1f} s of process start-up and joining before that"
    )
    print(f"load average before / after: {load_before} / {load_after}")
    print()
    print("tables (rows, md5 of contents):")
    for table, (count, md5) in tables.items():
        print(f"  {table:<16}{count:>9,}  {md5}")
    ok = True
    for what, got, want in (
        ("contracts rows", contracts_rows, contracts),
        ("sum of positions", positions, n),
        ("events applied", p.applied, n),
        ("events poisoned", p.poisoned, 0),
    ):
        good = got == want
        ok &= good
        print(f"check {what}: {got:,} (want {want:,}) {'ok' if good else 'FAILED'}")
    print()
    today = date.today().isoformat()
    print("RESULTS.md row:")
    print(
        f"| {today} | {info['nproc']} × {info['cpu']}, {info['ram']}; Python "
        f"{platform.python_version()}, Kafka {info['kafka']}, PostgreSQL {info['postgresql']} "
        f"| {n:,} | {bare_rate:,.0f} | {proj_rate:,.0f} | |"
    )
    return 0 if ok else 1


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--events", type=int, default=200_000, help="events to generate (N)")
    ap.add_argument("--contracts", type=int, default=None, help="contracts (default N/50)")
    ap.add_argument("--seed", type=int, default=1, help="the same seed generates the same log")
    ap.add_argument(
        "--compression", choices=["none", "gzip", "lz4", "snappy", "zstd"], default="none"
    )
    ap.add_argument("--no-check", action="store_true", help="skip the writer's checks of the log")
    ap.add_argument(
        "--hours-share",
        type=float,
        default=0.0,
        help="the share of HoursReported in the mix after the set-up (e.g. 0.2; default none)",
    )
    ap.add_argument("--keep", action="store_true", help="keep the schema and topics afterwards")
    ap.add_argument(
        "--processes",
        type=int,
        default=os.cpu_count() or 1,
        help="projector processes for (b), as LEDGER_REBUILD_PROCESSES (default: one per core)",
    )
    ap.add_argument(
        "--profile", metavar="FILE", help="run (b) under cProfile, stats to FILE (--processes 1)"
    )
    return ap.parse_args(argv)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
