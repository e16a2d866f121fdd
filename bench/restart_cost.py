# Long: one script, run as a file, that sets up, measures and cleans up four restarts.
"""What a restart costs as the log grows: writer takeover, projector start, risk agent start and
an audit read, each measured from outside the process (so the same script measures whatever
writer, projector, risk agent and API code is checked out).

    .venv/bin/python -m bench.restart_cost [--sizes 100000,1000000] [--contracts C] [--seed S]

For each N of --sizes, on topics (6 partitions) and PostgreSQL schemas of its own (the public
tables migrated into a schema that the processes' DATABASE_URL puts first on the search_path,
so alerts, risk_progress and tokens stay apart from the shared ones; and the projection schema),
all deleted at the end:
1. generates N valid events over C contracts with simulation/histories.py (seeded; C is fixed
   by --contracts, default 2,000, so a bigger N means longer histories, not more contracts; pass
   --contracts 0 for N/50) and produces them to the events topic, keyed by contract;
2. writer (unless --no-writer): puts a submission (a new contract's ContractSigned) on each
   partition of the submissions topic, starts `ledger serve writer` and times from the process
   start until all their verdicts are on the verdicts topic (it has taken its 6 partitions and
   decided); then SIGTERM and again (the restart, which is the takeover a deploy or crash
   costs); peak RSS is VmHWM from /proc/<pid>/status;
3. projector: `ledger serve projector` catches up with the whole log (its first run: a replay,
   timed until every partition's position is at the log's end); SIGTERM; a new contract is
   appended; restarted, timed until that contract is in its schema; SIGTERM;
4. risk agent: `ledger serve risk` judges the whole log (first run, timed until its group has
   committed every partition to the last event: the table is built and
   written to its changelog); SIGTERM; a new contract appended; restarted, timed until
   risk_progress shows it judged (its table recovered from the changelog first), after --settle
   seconds for the broker's cleaner; the changelog's configuration, the records written to it
   and the records still held (what the restart recovers) are printed too;
5. API: `ledger serve api`; GET /v1/events?contract_id= for a contract of about average
   length, median of 5 after one warm-up;
6. stops its processes, deletes its topics, drops its schemas.

Kafka and PostgreSQL are taken from KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL, else the local
stack of `make up`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from bench import procfs
from bench.projection_replay import kafka_version, machine
from events.messages import Submitter, decode_verdict, encode_submission
from events.serialization import encode_event
from events.topics import (
    Topics,
    TopicSpec,
    partition_of,
    topics,
)
from services import db, kafka_admin, tokens
from services.kafka_log import log_ends
from services.risk.worker import app_id, changelog_topic
from services.settings import Settings
from simulation.examples import example, stamped, submission
from simulation.histories import generate, produce
from simulation.ports import free_port

ROOT = Path(__file__).resolve().parent.parent

LEDGER = [sys.executable, "-m", "services.cli", "serve"]
TIMEOUT_S = 1800.0


@dataclass
class Figure:
    seconds: float
    rss_mib: float | None
    load: float

    def __str__(self) -> str:
        rss = "" if self.rss_mib is None else f", peak RSS {self.rss_mib:,.0f} MiB"
        return f"{self.seconds:.2f} s{rss} (load {self.load:.2f})"


class Run:
    """One N: its topics, schemas, processes."""

    def __init__(self, bootstrap: str, server_dsn: str, tag: str) -> None:
        self.bootstrap = bootstrap
        self.prefix = f"bench-restart-{tag}"
        self.public = f"bench_restart_{tag}_public"
        self.schema = f"bench_restart_{tag}"
        self.server_dsn = server_dsn
        # asyncpg passes an unknown DSN parameter on as a server setting.
        sep = "&" if "?" in server_dsn else "?"
        self.dsn = f"{server_dsn}{sep}search_path={self.public}"
        self.topics: Topics = topics(self.prefix)
        self.port = free_port()
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self._ends: dict[int, int] | None = None
        self.timeout_s = TIMEOUT_S
        (ROOT / "var" / "log").mkdir(parents=True, exist_ok=True)

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "DATABASE_URL": self.dsn,
            "LEDGER_TOPIC_PREFIX": self.prefix,
            "LEDGER_PROJECTION_SCHEMA": self.schema,
            "LEDGER_WRITER_GROUP": f"{self.prefix}.writer",
            "LEDGER_RISK_INSTANCE_ID": f"{self.prefix}-risk-1",
            "LEDGER_API_PORT": str(self.port),
            "LEDGER_VERDICT_TIMEOUT_S": "60",
        }

    def start(self, name: str) -> subprocess.Popen[bytes]:
        log = open(ROOT / "var" / "log" / f"{self.prefix}-{name}.log", "ab")  # noqa: SIM115
        proc = subprocess.Popen([*LEDGER, name], cwd=ROOT, env=self.env(), stdout=log, stderr=log)
        log.close()
        self.procs[name] = proc
        return proc

    def stop(self, name: str) -> None:
        proc = self.procs.pop(name)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    async def setup(self) -> None:
        async with db.connection(self.server_dsn) as conn:
            await conn.execute(f'CREATE SCHEMA "{self.public}"')
        await db.migrate_dsn(self.dsn)
        await kafka_admin.ensure_topics(self.bootstrap, self.topics)

    async def cleanup(self) -> None:
        for name in list(self.procs):
            self.stop(name)
        try:
            await kafka_admin.delete_topics(self.bootstrap, self.prefix)
        except Exception as exc:
            print(f"could not delete topics of {self.prefix}: {exc!r}", file=sys.stderr)
        try:
            async with db.connection(self.server_dsn) as conn:
                for name in (self.public, self.schema, f"{self.schema}_next", f"{self.schema}_old"):
                    await conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        except Exception as exc:
            print(f"could not drop schemas of {self.schema}: {exc!r}", file=sys.stderr)

    async def until(self, name: str, check: Callable[[], Awaitable[bool]], every: float) -> None:
        deadline = time.monotonic() + self.timeout_s
        while not await check():
            proc = self.procs.get(name)
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}; see var/log")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{name} did not get there in {self.timeout_s} s")
            await asyncio.sleep(every)

    async def timed_start(
        self, name: str, done: Callable[[], Awaitable[bool]], every: float = 0.02
    ) -> Figure:
        load = procfs.load()
        t0 = time.monotonic()
        proc = self.start(name)
        await self.until(name, done, every)
        return Figure(time.monotonic() - t0, procfs.peak_rss_mib(proc.pid), load)

    # -- events and submissions ---------------------------------------------------------------

    def new_contract(self) -> Any:
        cid = f"C-bench-{uuid.uuid4().hex[:10]}"
        return stamped([_example_signed(cid)])[0]

    async def append(self, event: Any) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all")
        await producer.start()
        try:
            await producer.send_and_wait(
                self.topics.events.name, encode_event(event), key=event.contract_id.encode()
            )
        finally:
            await producer.stop()

    async def submit_to_every_partition(self) -> set[uuid.UUID]:
        """A new contract's ContractSigned submitted to each partition: their verdicts all come
        once the writer has taken every partition, not only the first it loaded."""
        parts = self.topics.submissions.partitions
        cids: dict[int, str] = {}
        while len(cids) < parts:
            cid = f"C-bench-{uuid.uuid4().hex[:10]}"
            cids.setdefault(partition_of(cid, parts), cid)
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all")
        await producer.start()
        sids = set()
        try:
            for cid in cids.values():
                s = submission(
                    "ContractSigned",
                    submitter=Submitter(role="admin", principal="bench-restart"),
                    recorded_at=datetime.now(UTC),
                    contract_id=cid,
                )
                await producer.send_and_wait(
                    self.topics.submissions.name, encode_submission(s), key=cid.encode()
                )
                sids.add(s.submission_id)
        finally:
            await producer.stop()
        return sids

    async def caught_up(self, applied: Callable[[], Awaitable[dict[int, int]]]) -> bool:
        """Whether every partition's applied offset (as `applied` reads it) is at the events
        topic's end as it was first asked: a first run is over when all are, not when the
        partition of one late event is."""
        if self._ends is None:
            self._ends = await data_ends(self.bootstrap, self.topics.events)
        got = await applied()
        return all(got.get(p, 0) >= end for p, end in self._ends.items())

    def forget_ends(self) -> None:
        self._ends = None


def _example_signed(cid: str) -> dict[str, Any]:
    return example("ContractSigned", contract_id=cid, account_manager_id="am-bench")


class Verdicts:
    """The verdicts topic, read from its end at start."""

    def __init__(self, bootstrap: str, t: Topics) -> None:
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, enable_auto_commit=False, isolation_level="read_committed"
        )
        self.topic = t.verdicts.name
        self.partitions = t.verdicts.partitions
        self.seen: set[uuid.UUID] = set()

    async def start(self) -> None:
        await self.consumer.start()
        tps = [TopicPartition(self.topic, p) for p in range(self.partitions)]
        self.consumer.assign(tps)
        await self.consumer.seek_to_end(*tps)
        for tp in tps:
            await self.consumer.position(tp)

    async def has_all(self, sids: set[uuid.UUID]) -> bool:
        batches = await self.consumer.getmany(timeout_ms=20)
        for records in batches.values():
            for r in records:
                self.seen.add(decode_verdict(r.value).submission_id)
        return sids <= self.seen

    async def stop(self) -> None:
        await self.consumer.stop()


async def data_ends(bootstrap: str, topic: TopicSpec) -> dict[int, int]:
    """The offset after each partition's last event: its end, less a transaction marker (the
    writer's commits) that a consumer such as Faust never commits past."""
    ends = await log_ends(bootstrap, topic)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, isolation_level="read_committed")
    await consumer.start()
    try:
        out = {}
        for p, end in ends.items():
            tp = TopicPartition(topic.name, p)
            consumer.assign([tp])
            consumer.seek(tp, max(end - 4, 0))
            last = -1
            while (await consumer.position(tp)) < end:
                for r in (await consumer.getmany(tp, timeout_ms=500)).get(tp, []):
                    last = max(last, r.offset)
            out[p] = last + 1 if last >= 0 else end
        return out
    finally:
        await consumer.stop()


async def committed(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    """The offsets `group` has committed in each partition of `topic`."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return {tp.partition: meta.offset for tp, meta in offsets.items() if tp.topic == topic}


async def changelog_facts(bootstrap: str, prefix: str) -> str:
    name = changelog_topic(prefix)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        res = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name)])
        wanted = (
            "cleanup.policy",
            "segment.ms",
            "segment.bytes",
            "min.cleanable.dirty.ratio",
            "min.compaction.lag.ms",
        )
        configs = {}
        for r in res:
            for entry in r.resources[0][4]:
                if entry[0] in wanted:
                    configs[entry[0]] = entry[1]
        described = await admin.describe_topics([name])
        parts = [p["partition"] for p in described[0]["partitions"]]
    finally:
        await admin.close()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        tps = [TopicPartition(name, p) for p in parts]
        ends = await consumer.end_offsets(tps)
        starts = await consumer.beginning_offsets(tps)
        # What a start recovers: every record still in the topic, read as Faust reads it.
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        held = 0
        left = {tp: ends[tp] for tp in tps if ends[tp] > starts[tp]}
        while left:
            batches = await consumer.getmany(timeout_ms=500, max_records=50_000)
            for tp, records in batches.items():
                held += len(records)
                if records and records[-1].offset + 1 >= ends[tp]:
                    left.pop(tp, None)
    finally:
        await consumer.stop()
    written = sum(ends.values())
    shown = ", ".join(f"{k}={v}" for k, v in sorted(configs.items()))
    return f"{name}: {shown}; {written:,} records written, {held:,} still held"


async def one(args: argparse.Namespace, n: int, bootstrap: str, server_dsn: str) -> dict[str, Any]:
    contracts = args.contracts or max(1, n // 50)
    tag = uuid.uuid4().hex[:8]
    run = Run(bootstrap, server_dsn, tag)
    run.timeout_s = args.timeout
    out: dict[str, Any] = {"n": n, "contracts": contracts}
    t0 = time.perf_counter()
    log = generate(n, contracts, args.seed, check=args.check)
    lengths = Counter(key for key, _ in log.records)
    print(f"\nN={n:,}: generated over {contracts:,} contracts in {time.perf_counter() - t0:.0f} s")
    # The audit read's contract: the one of median length.
    audit_cid = sorted(lengths.items(), key=lambda kv: kv[1])[len(lengths) // 2][0].decode()
    out["audit_events"] = lengths[audit_cid.encode()]
    try:
        await run.setup()
        secs = await produce(bootstrap, run.topics.events.name, 6, log, "none")
        print(f"  produced in {secs:.0f} s")
        del log, lengths

        # -- writer ------------------------------------------------------------------------
        verdicts = Verdicts(bootstrap, run.topics)
        await verdicts.start()
        try:
            for label in () if args.no_writer else ("writer first start", "writer restart"):
                sids = await run.submit_to_every_partition()
                fig = await run.timed_start("writer", functools.partial(verdicts.has_all, sids))
                run.stop("writer")
                out[label] = fig
                print(f"  {label}: verdict after {fig}")
        finally:
            await verdicts.stop()
        if args.writer_only:
            return out

        async with db.connection(run.dsn) as conn:
            # -- projector -------------------------------------------------------------------
            async def projected(cid: str) -> bool:
                with contextlib.suppress(asyncpg.UndefinedTableError):
                    return bool(
                        await conn.fetchval(
                            f"SELECT count(*) FROM {run.schema}.contracts WHERE contract_id = $1",
                            cid,
                        )
                    )
                return False

            async def positions() -> dict[int, int]:
                with contextlib.suppress(asyncpg.UndefinedTableError):
                    rows = await conn.fetch(
                        f"SELECT partition, next_offset FROM {run.schema}.positions"
                    )
                    return {r["partition"]: r["next_offset"] for r in rows}
                return {}

            first = run.new_contract()
            await run.append(first)
            run.forget_ends()
            fig = await run.timed_start("projector", lambda: run.caught_up(positions), 0.2)
            out["projector first run"] = fig
            print(f"  projector first run (the whole log): {fig}")
            run.stop("projector")
            again = run.new_contract()
            await run.append(again)
            fig = await run.timed_start("projector", lambda: projected(again.contract_id))
            out["projector restart"] = fig
            print(f"  projector restart, new event applied after {fig}")
            run.stop("projector")

            # -- risk agent ------------------------------------------------------------------
            if not args.no_risk:

                async def judged(cid: str) -> bool:
                    return bool(
                        await conn.fetchval(
                            "SELECT count(*) FROM risk_progress"
                            " WHERE events_topic = $1 AND contract_id = $2",
                            run.topics.events.name,
                            cid,
                        )
                    )

                async def risk_offsets() -> dict[int, int]:
                    return await committed(bootstrap, app_id(run.prefix), run.topics.events.name)

                run.forget_ends()
                fig = await run.timed_start("risk", lambda: run.caught_up(risk_offsets), 0.5)
                out["risk first run"] = fig
                print(f"  risk agent first run (the whole log): {fig}")
                run.stop("risk")
                # Time for the broker's log cleaner to compact what it may (closed segments only).
                await asyncio.sleep(args.settle)
                facts = await changelog_facts(bootstrap, run.prefix)
                out["changelog"] = facts
                print(f"  changelog after {args.settle:.0f} s: {facts}")
                for label in ("risk restart", "risk restart again"):
                    later = run.new_contract()
                    await run.append(later)
                    fig = await run.timed_start(
                        "risk", functools.partial(judged, later.contract_id)
                    )
                    out[label] = fig
                    print(f"  {label}, new event judged after {fig}")
                    run.stop("risk")

            # -- API -------------------------------------------------------------------------
            # A caught-up projector runs beside the API: GET /v1/events waits (up to its
            # verdict timeout) for the projector to reach the log's end, and the risk agent's
            # restarts above appended events the stopped projector had not seen.
            last = run.new_contract()
            await run.append(last)
            await run.timed_start("projector", lambda: projected(last.contract_id))
            _, token = await tokens.create_token(conn, "admin", None)
        run.start("api")
        url = f"http://127.0.0.1:{run.port}"
        async with httpx.AsyncClient(base_url=url, timeout=120) as http:

            async def healthy() -> bool:
                try:
                    return (await http.get("/healthz")).status_code == 200
                except httpx.HTTPError:
                    return False

            await run.until("api", healthy, 0.2)
            headers = {"Authorization": f"Bearer {token}"}
            times = []
            load = procfs.load()
            for i in range(6):
                t = time.monotonic()
                r = await http.get("/v1/events", params={"contract_id": audit_cid}, headers=headers)
                if r.status_code != 200:
                    raise RuntimeError(f"GET /v1/events: {r.status_code} {r.text[:300]}")
                if i:
                    times.append(time.monotonic() - t)
            shown = len(r.json().get("events", []))
        fig = Figure(statistics.median(times), None, load)
        out["audit read"] = fig
        print(
            f"  GET /v1/events for a contract of {out['audit_events']} events"
            f" ({shown} returned): median {fig}"
        )
    finally:
        await run.cleanup()
    return out


def machine_line() -> str:
    m = machine(kafka_version(), "see DATABASE_URL")
    return f"{m['nproc']} × {m['cpu']}, {m['ram']}; {m['python']}; Kafka {m['kafka']}"


async def main(args: argparse.Namespace) -> int:
    settings = Settings()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"machine: {machine_line()}")
    results = [await one(args, n, settings.kafka_bootstrap_servers, settings.dsn) for n in sizes]
    rows = (
        "writer first start",
        "writer restart",
        "projector first run",
        "projector restart",
        "risk first run",
        "risk restart",
        "risk restart again",
        "audit read",
    )
    print("\n| figure | " + " | ".join(f"{r['n']:,} events" for r in results) + " |")
    print("|---|" + "---|" * len(results))
    for row in rows:
        print(f"| {row} | " + " | ".join(str(r.get(row, "-")) for r in results) + " |")
    for r in results:
        print(f"N={r['n']:,} ({r['contracts']:,} contracts): changelog {r.get('changelog', '-')}")
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sizes", default="100000,1000000", help="comma-separated event counts")
    ap.add_argument(
        "--contracts", type=int, default=2000, help="contracts in every log (0: N/50 each)"
    )
    ap.add_argument("--seed", type=int, default=1, help="the same seed generates the same log")
    ap.add_argument(
        "--settle",
        type=float,
        default=60.0,
        help="seconds between the risk agent's first run and its restart, for compaction",
    )
    ap.add_argument(
        "--no-risk", action="store_true", help="leave out the risk agent (the slow part)"
    )
    ap.add_argument(
        "--timeout", type=float, default=TIMEOUT_S, help="seconds a process may take to get there"
    )
    ap.add_argument(
        "--no-writer", action="store_true", help="leave out the writer (measured on its own)"
    )
    ap.add_argument("--check", action="store_true", help="check every event with the writer")
    ap.add_argument(
        "--writer-only", action="store_true", help="measure the writer alone (then clean up)"
    )
    return ap.parse_args(argv)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
