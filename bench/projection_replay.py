"""Replay benchmark of the margin projector against the real local Kafka and PostgreSQL.

    .venv/bin/python bench/projection_replay.py [--events N] [--contracts C] [--seed S]

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
import heapq
import json
import os
import platform
import pstats
import random
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# Run as a script: import this checkout's packages, whatever the venv's editable install says.
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition  # noqa: E402
from aiokafka.admin import AIOKafkaAdminClient  # noqa: E402
from aiokafka.partitioner import DefaultPartitioner  # noqa: E402

from events import catalogue as ev  # noqa: E402
from events.serialization import encode_event  # noqa: E402
from events.topics import topics  # noqa: E402
from services.kafka_admin import ensure_topics  # noqa: E402
from services.projector import store  # noqa: E402
from services.projector.worker import Projector  # noqa: E402
from services.settings import LOCAL_DATABASE_URL, LOCAL_KAFKA  # noqa: E402

CENT = Decimal("0.01")
TABLES = (
    "contracts",
    "terms_history",
    "assignments",
    "rate_history",
    "margin_impacts",
    "open_items",
    "positions",
)


def money(x: Decimal) -> Decimal:
    return x.quantize(CENT, rounding=ROUND_HALF_UP)


# -- generating a realistic log ---------------------------------------------------------------


@dataclass
class _Assignment:
    assignment_id: str
    staffer_id: str
    pay: Decimal
    bill: Decimal


@dataclass
class _Contract:
    """What the generator must know of one contract to keep its stream valid."""

    contract_id: str
    account_manager_id: str
    clock: datetime
    version: int = 0
    assignments: list[_Assignment] = field(default_factory=list)
    negotiations: dict[str, int] = field(default_factory=dict)  # open id -> proposals made
    raises: dict[str, tuple[_Assignment, Decimal]] = field(default_factory=dict)  # open ones
    next_id: int = 0

    def new_id(self, prefix: str) -> str:
        self.next_id += 1
        return f"{prefix}-{self.next_id}"


# The mix after a contract's set-up: relationship contacts and rate changes dominate.
_MIX = {
    "ClientContactLogged": 40,
    "RatesAdjusted": 22,
    "MarkupNegotiationOpened": 3,
    "MarkupProposed": 7,
    "MarkupAgreed": 5,
    "RaiseRequested": 4,
    "RaiseApproved": 4,
    "RaiseDeclined": 2,
    "BypassThreatReported": 3,
    "ClientComplaintLogged": 4,
    "AssignmentStarted": 1,
}
_CONTACT_NOTES = ["quarterly check-in", "weekly status call", "timesheet question", "site visit"]
_RATE_REASONS = ["annual review", "market adjustment", "overtime policy change", "cost of living"]


class Generator:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.kinds = list(_MIX)
        self.weights = list(_MIX.values())

    def uuid(self) -> uuid.UUID:
        return uuid.UUID(int=self.rng.getrandbits(128), version=4)

    def _event(self, c: _Contract, model: type[ev.EventBase], **fields: Any) -> ev.EventBase:
        c.clock += timedelta(minutes=self.rng.randint(60, 14 * 24 * 60))
        c.version += 1
        return model(
            event_id=self.uuid(),
            contract_id=c.contract_id,
            occurred_at=c.clock,
            recorded_by=c.account_manager_id,
            recorded_at=c.clock + timedelta(seconds=self.rng.randint(1, 90)),
            stream_version=c.version,
            **fields,
        )

    def _pct(self, lo: int, hi: int) -> Decimal:
        return Decimal(self.rng.randint(lo * 100, hi * 100)) / 100

    def contract(self, i: int, n_events: int) -> list[ev.EventBase]:
        rng = self.rng
        start = datetime(2021, 1, 1, 8, tzinfo=UTC) + timedelta(
            minutes=rng.randint(0, 3 * 365 * 24 * 60)
        )
        c = _Contract(f"C-{i:06d}", f"am.{rng.randint(1, 60):03d}", start)
        out = [
            self._event(
                c,
                ev.ContractSigned,
                client_id=f"CL-{rng.randint(1, max(1, i // 3 + 1)):05d}",
                client_name=f"Client {i} Logistics",
                account_manager_id=c.account_manager_id,
                start_date=start.date(),
                end_date=start.date() + timedelta(days=rng.choice([365, 730, 1095])),
                markup_floor_pct=self._pct(12, 22),
                burden_pct=self._pct(15, 30),
                msp_fee_pct=self._pct(0, 4) if rng.random() < 0.4 else None,
                min_assignment_weeks=rng.choice([None, 13, 26]),
                conversion_fee_pct=self._pct(10, 25),
                conversion_fee_waived_after_hours=rng.choice([None, Decimal(1040), Decimal(2080)]),
                non_solicit_months=rng.choice([6, 12, 18]),
            )
        ]
        for _ in range(min(rng.randint(1, 4), n_events - 1)):
            out.append(self._start(c))
        while len(out) < n_events:
            out.append(self._next(c))
        return out

    def _start(self, c: _Contract) -> ev.EventBase:
        rng = self.rng
        pay = money(Decimal(rng.randint(1800, 6000)) / 100)
        bill = money(pay * (1 + self._pct(20, 60) / 100))
        a = _Assignment(c.new_id("A"), f"S-{rng.randint(1, 99999):05d}", pay, bill)
        c.assignments.append(a)
        start = c.clock.date() + timedelta(days=rng.randint(1, 14))
        return self._event(
            c,
            ev.AssignmentStarted,
            assignment_id=a.assignment_id,
            staffer_id=a.staffer_id,
            staffer_name=f"Staffer {a.staffer_id}",
            job_title=rng.choice(["Forklift operator", "Picker", "Welder", "Accountant"]),
            pay_rate=pay,
            bill_rate=bill,
            hours_per_week=Decimal(rng.choice([20, 32, 37.5, 40, 45])),
            start_date=start,
            expected_end_date=start + timedelta(weeks=rng.randint(13, 104)),
            burden_pct=self._pct(15, 30) if rng.random() < 0.2 else None,
        )

    def _effective(self, c: _Contract) -> date:
        # Mostly in the coming days; sometimes back-dated, which the projector must handle.
        return c.clock.date() + timedelta(days=self.rng.randint(-10, 21))

    def _next(self, c: _Contract) -> ev.EventBase:
        rng = self.rng
        kind = rng.choices(self.kinds, self.weights)[0]
        # At most two negotiations and two raise requests open at a time on one contract.
        if kind == "MarkupNegotiationOpened" and len(c.negotiations) >= 2:
            kind = "MarkupProposed"
        if kind == "RaiseRequested" and len(c.raises) >= 2:
            kind = rng.choice(["RaiseApproved", "RaiseDeclined"])
        if kind == "RatesAdjusted":
            a = rng.choice(c.assignments)
            a.pay = money(a.pay * (1 + self._pct(0, 6) / 100))
            a.bill = money(a.bill * (1 + self._pct(-1, 7) / 100))
            a.bill = max(a.bill, a.pay + CENT)
            return self._event(
                c,
                ev.RatesAdjusted,
                assignment_id=a.assignment_id,
                pay_rate=a.pay,
                bill_rate=a.bill,
                effective_date=self._effective(c),
                reason=rng.choice(_RATE_REASONS),
            )
        if kind == "MarkupNegotiationOpened" or (
            kind in ("MarkupProposed", "MarkupAgreed") and not c.negotiations
        ):
            nid = c.new_id("N")
            c.negotiations[nid] = 0
            # A third of negotiations cover every active assignment of the contract.
            a = None if rng.random() < 0.33 else rng.choice(c.assignments)
            return self._event(
                c,
                ev.MarkupNegotiationOpened,
                negotiation_id=nid,
                assignment_id=a.assignment_id if a else None,
                initiated_by=rng.choice(["client", "agency"]),
                reason="procurement asks for a cheaper markup",
            )
        if kind == "MarkupProposed" or (kind == "MarkupAgreed" and c.negotiations):
            if kind == "MarkupAgreed":  # agree on one that has seen a proposal, if any has
                nid = max(c.negotiations, key=c.negotiations.__getitem__)
            else:
                nid = rng.choice(list(c.negotiations))
            if kind == "MarkupProposed" or c.negotiations[nid] == 0:
                c.negotiations[nid] += 1
                return self._event(
                    c,
                    ev.MarkupProposed,
                    negotiation_id=nid,
                    proposed_by=rng.choice(["client", "agency"]),
                    markup_pct=self._pct(15, 45),
                    note=rng.choice([None, "their first offer", "counter-offer"]),
                )
            del c.negotiations[nid]
            # The generator does not follow which assignments the agreement re-prices; the
            # next RatesAdjusted starts from its own idea of the rates, which is still valid.
            return self._event(
                c,
                ev.MarkupAgreed,
                negotiation_id=nid,
                markup_pct=self._pct(18, 40),
                effective_date=self._effective(c),
            )
        if kind == "RaiseRequested" or (
            kind in ("RaiseApproved", "RaiseDeclined") and not c.raises
        ):
            a = rng.choice(c.assignments)
            rid = c.new_id("R")
            requested = money(a.pay + Decimal(rng.randint(50, 300)) / 100)
            c.raises[rid] = (a, requested)
            return self._event(
                c,
                ev.RaiseRequested,
                raise_request_id=rid,
                assignment_id=a.assignment_id,
                requested_pay_rate=requested,
                requested_by=rng.choice(["staffer", "client", "agency"]),
                client_max_bill_rate=money(a.bill * Decimal("1.03"))
                if rng.random() < 0.4
                else None,
            )
        if kind == "RaiseApproved":
            rid = rng.choice(list(c.raises))
            a, requested = c.raises.pop(rid)
            a.pay = requested
            a.bill = max(money(a.bill * (1 + self._pct(0, 8) / 100)), a.pay + CENT)
            return self._event(
                c,
                ev.RaiseApproved,
                raise_request_id=rid,
                new_pay_rate=a.pay,
                new_bill_rate=a.bill,
                effective_date=self._effective(c),
            )
        if kind == "RaiseDeclined":
            rid = rng.choice(list(c.raises))
            del c.raises[rid]
            return self._event(
                c, ev.RaiseDeclined, raise_request_id=rid, reason="would put us in a loss position"
            )
        if kind == "BypassThreatReported":
            a = rng.choice(c.assignments)
            return self._event(
                c,
                ev.BypassThreatReported,
                assignment_id=a.assignment_id,
                staffer_id=a.staffer_id,
                kind=rng.choice(["threatened_move_to_other_agency", "direct_hire_attempt"]),
                description="client says another agency would place them for less",
            )
        if kind == "ClientComplaintLogged":
            return self._event(
                c,
                ev.ClientComplaintLogged,
                about=rng.choice(["recruiter_conduct", "candidate_quality", "billing", "other"]),
                legal_threat=rng.random() < 0.05,
                description="invoice double-counted overtime",
            )
        if kind == "AssignmentStarted":
            return self._start(c)
        return self._event(
            c,
            ev.ClientContactLogged,
            channel=rng.choice(["call", "email", "meeting", "visit"]),
            direction=rng.choice(["outbound", "inbound"]),
            responded=rng.random() < 0.7,
            note=rng.choice([None, *_CONTACT_NOTES]),
        )


def _split(total: int, parts: int, minimum: int, rng: random.Random) -> list[int]:
    """`total` events over `parts` contracts, each at least `minimum`, unevenly."""
    spare = total - parts * minimum
    weights = [rng.uniform(0.3, 1.7) for _ in range(parts)]
    scale = spare / sum(weights)
    counts = [minimum + int(w * scale) for w in weights]
    for k in range(total - sum(counts)):
        counts[k % parts] += 1
    return counts


def _writer_check(events: list[ev.EventBase]) -> None:
    """Every event passes the writer's own checks against the state before it."""
    from services.writer.decide import _against_state
    from services.writer.state import evolve

    state = None
    for e in events:
        if state is not None:
            refused = _against_state(state, e)  # type: ignore[arg-type]
            if refused is not None:
                raise AssertionError(f"generated an invalid event: {refused}")
        state = evolve(state, e)  # type: ignore[arg-type]


@dataclass
class Log:
    records: list[tuple[bytes, bytes]]  # (key, value) in log order
    bytes: int
    by_type: dict[str, int]


def generate(n: int, contracts: int, seed: int, check: bool) -> Log:
    rng = random.Random(seed)
    gen = Generator(rng)
    streams = []
    by_type: dict[str, int] = {}
    for i, count in enumerate(_split(n, contracts, 2, rng)):
        events = gen.contract(i, count)
        if check:
            _writer_check(events)
        stream = []
        for e in events:
            by_type[e.type] = by_type.get(e.type, 0) + 1
            stream.append((e.occurred_at, e.contract_id.encode(), encode_event(e)))
        streams.append(stream)
    # The log in time order; each contract's own events stay in stream order.
    merged = heapq.merge(*streams, key=lambda t: t[0])
    records = [(key, value) for _, key, value in merged]
    return Log(records, sum(len(v) for _, v in records), by_type)


# -- Kafka and PostgreSQL ---------------------------------------------------------------------


async def produce(bootstrap: str, topic: str, partitions: int, log: Log, compression: str) -> float:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        linger_ms=20,
        max_batch_size=1024 * 1024,
        max_request_size=8 * 1024 * 1024,
        compression_type=None if compression == "none" else compression,
    )
    await producer.start()
    t0 = time.perf_counter()
    try:
        partitioner = DefaultPartitioner()
        parts = list(range(partitions))
        builders: dict[int, Any] = {}
        sent = []
        for key, value in log.records:
            p = partitioner(key, parts, parts)  # what producer.send(key=...) would pick
            b = builders.get(p)
            if b is None:
                b = builders[p] = producer.create_batch()
            if b.append(key=key, value=value, timestamp=None) is None:
                sent.append(await producer.send_batch(b, topic, partition=p))
                b = builders[p] = producer.create_batch()
                b.append(key=key, value=value, timestamp=None)
        for p, b in builders.items():
            sent.append(await producer.send_batch(b, topic, partition=p))
        await asyncio.gather(*sent)
    finally:
        await producer.stop()
    return time.perf_counter() - t0


def _consumer(bootstrap: str) -> AIOKafkaConsumer:
    # The projector's own consumer settings, so that (a) and (b) read alike.
    return AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        isolation_level="read_committed",
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=8 * 1024 * 1024,
        fetch_max_bytes=64 * 1024 * 1024,
    )


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


async def replay(bootstrap: str, spec: Any, dead_letters: str, dsn: str, schema: str) -> Projector:
    p = Projector(bootstrap, spec, dsn, live=schema, dead_letters=dead_letters)
    await p.start()
    try:
        await p.run(asyncio.Event(), until_caught_up=True)
    finally:
        await p.stop()
    return p


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
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", LOCAL_KAFKA)
    dsn = os.environ.get("DATABASE_URL", LOCAL_DATABASE_URL)
    n, contracts = args.events, args.contracts or max(1, args.events // 50)
    if n < 2 * contracts:
        raise SystemExit("--events must be at least twice --contracts")
    tag = uuid.uuid4().hex[:12]
    prefix, schema = f"bench.{tag}", f"bench_{tag}"
    wanted = topics(prefix)
    spec = wanted.events

    t0 = time.perf_counter()
    log = generate(n, contracts, args.seed, check=not args.no_check)
    gen_s = time.perf_counter() - t0
    print(
        f"generated {n:,} events over {contracts:,} contracts in {gen_s:.1f} s "
        f"({log.bytes / n:.0f} bytes/event on average, {log.bytes / 2**20:.1f} MiB)"
    )
    mix = ", ".join(
        f"{k} {v / n:.1%}" for k, v in sorted(log.by_type.items(), key=lambda kv: -kv[1])
    )
    print(f"mix: {mix}")

    conn = await asyncpg.connect(dsn)
    await ensure_topics(bootstrap, wanted)
    try:
        pg_version = await conn.fetchval("SHOW server_version")
        produce_s = await produce(bootstrap, spec.name, spec.partitions, log, args.compression)
        print(f"produced to {spec.name} in {produce_s:.1f} s ({n / produce_s:,.0f} events/s)")
        del log

        bare_s = await bare_consume(bootstrap, spec.name, spec.partitions, n)

        await store.ensure_live_schema(conn, schema, spec.name)
        load_before = _load()
        profile = cProfile.Profile() if args.profile else None
        t0, c0 = time.perf_counter(), time.process_time()
        if profile is not None:
            profile.enable()
        p = await replay(bootstrap, spec, wanted.dead_letters.name, dsn, schema)
        if profile is not None:
            profile.disable()
        proj_s, proj_cpu = time.perf_counter() - t0, time.process_time() - c0
        load_after = _load()
        if profile is not None:
            profile.dump_stats(args.profile)
            print(f"\nprofile of (b) in {args.profile}; by own time (cProfile slows it down):")
            pstats.Stats(profile).sort_stats("tottime").print_stats(25)

        contracts_rows = await conn.fetchval(f"SELECT count(*) FROM {schema}.contracts")
        positions = await conn.fetchval(f"SELECT sum(next_offset)::bigint FROM {schema}.positions")
        tables = await digest(conn, schema)
    finally:
        if not args.keep:
            await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await conn.close()
        if not args.keep:
            admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
            await admin.start()
            try:
                await admin.delete_topics([t.name for t in wanted.all()])
            finally:
                await admin.close()

    info = machine(kafka_version(), pg_version)
    bare_rate, proj_rate = n / bare_s, n / proj_s
    print()
    print("machine: " + ", ".join(f"{k} {v}" for k, v in info.items()))
    print(f"{'':<28}{'seconds':>10}{'events/s':>12}")
    print(f"{'(a) bare consumer + json':<28}{bare_s:>10.2f}{bare_rate:>12,.0f}")
    print(f"{'(b) projector, caught up':<28}{proj_s:>10.2f}{proj_rate:>12,.0f}")
    print(f"projector / bare: {proj_rate / bare_rate:.0%}")
    waited = getattr(p.progress, "write_wait", float("nan"))
    print(
        f"projector: {proj_cpu:.1f} s of CPU in this process; waited {waited:.1f} s for "
        "PostgreSQL with nothing else to do"
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
        ("events applied", p.progress.applied, n),
        ("events poisoned", p.progress.poisoned, 0),
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
    ap.add_argument("--keep", action="store_true", help="keep the schema and topics afterwards")
    ap.add_argument("--profile", metavar="FILE", help="run (b) under cProfile, stats to FILE")
    return ap.parse_args(argv)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
