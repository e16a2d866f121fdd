"""Catching up with a whole log, every process in one run: how far each is from the bare consumer.

    .venv/bin/python -m bench.catch_up [--sizes 200000,1000000] [--contracts C] [--seed S]
                                       [--no-risk] [--no-writer] [--only bare,projector,...]

For each N of --sizes (add 5000000 for the long run), on topics (6 partitions) and PostgreSQL
schemas of its own (the public tables migrated into a schema of the run, so alerts,
risk_progress and memberships stay apart from the shared ones), all deleted at the end:

1. generates N valid events over C contracts (`simulation/histories.py`, seeded; C is N/50 by
   default, as the projector's replay bench) and produces them once to the events topic;
2. times, one after the other on that same log:
   - **bare**: an aiokafka consumer that reads every record and `json.loads` it (the projector's
     consumer settings; `bench/projection_replay.py`'s);
   - **projector**: `ledger serve projector` on empty tables, behind by the whole log (after an
     outage, or a new member), from the process's start until every partition's position in
     PostgreSQL is at the log's end;
   - **rebuild**: `ledger projections rebuild` (a process per core, then the swap), the
     command's wall-clock time;
   - **risk**: `ledger serve risk`, its first pass (no changelog yet, no committed offset:
     judged in bulk outside Faust's stream, services/risk/bulk.py), from the process's start
     until `risk_progress` holds each contract's last stream version (sum over contracts = N)
     and its group has committed the log's end; with `--risk-faust` also **risk-faust**, the
     same through Faust's stream (`LEDGER_RISK_BULK_FIRST_PASS=0`, as before the bulk pass),
     in a generation of its own (services/risk/generations.py) with the alerts and progress
     of the first cleared; each prints the md5 of its alerts (`bench/risk_first_pass.py`'s,
     the timer's left out): the two must be equal;
   - **writer**: `ledger serve writer` on a log it has never seen (no state topic), from the
     process's start until it has decided a new contract's submission on every partition (it
     has folded every partition's log and written its states);
3. then sends the writer a seeded set of submissions on existing contracts (old and recent ids
   again, a new event at the stream's version, one at a stale version) and prints a digest of
   its verdicts: identical for the same --seed/--events/--contracts whatever the fold's
   implementation, which is how a change of the fold is checked to decide exactly as before.

Each figure is printed as events/s and as a share of the bare consumer's rate, with the peak
RSS of the process (VmHWM) and the 1-minute load average when it started (the machine is
shared: a busy one skews every figure). The process figures include the interpreter's start
(about a second here), as an operator would see them. Processes' logs go to var/log/.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import hashlib
import os
import platform
import random
import resource
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer

from bench import procfs
from bench.projection_replay import bare_consume
from bench.restart_cost import Run, Verdicts, committed, data_ends, machine_line
from bench.risk_first_pass import alerts_digest
from events.messages import (
    Submission,
    Submitter,
    decode_verdict,
    encode_submission,
)
from events.serialization import decode_event
from events.topics import topics
from services import db
from services.settings import Settings
from simulation.examples import example
from simulation.histories import Log, generate, produce

ROOT = Path(__file__).resolve().parent.parent

STEPS = ("bare", "projector", "rebuild", "risk", "risk-faust", "writer")
DEFAULT_STEPS = tuple(s for s in STEPS if s != "risk-faust")
DIGEST_CONTRACTS = 120
"""Contracts the writer's verdict digest asks about (4 submissions each)."""


@dataclass
class Timed:
    seconds: float
    rss_mib: float | None
    load: float
    cpu_s: float | None = None
    """CPU seconds of the process (and of its children), start to stop: less skewed by a busy
    machine than the wall-clock time."""


def _children_cpu() -> float:
    """CPU seconds of this process's children that have ended (and been waited for)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


class CatchUp(Run):
    """One N's topics, schemas and processes (`bench/restart_cost.py`'s), plus what this bench
    times."""

    def __init__(self, bootstrap: str, server_dsn: str, tag: str) -> None:
        super().__init__(bootstrap, server_dsn, tag)
        self.prefix = f"bench-catchup-{tag}"
        self.public = f"bench_catchup_{tag}_public"
        self.schema = f"bench_catchup_{tag}"
        sep = "&" if "?" in server_dsn else "?"
        self.dsn = f"{server_dsn}{sep}search_path={self.public}"
        self.topics = topics(self.prefix)

    extra_env: dict[str, str] = {}  # noqa: RUF012 (replaced, never changed in place)

    def env(self) -> dict[str, str]:
        return {**super().env(), **self.extra_env}

    async def timed(self, name: str, done: Any, every: float) -> Timed:
        """`ledger serve name` from its start until `done()`; stopped after (SIGTERM)."""
        load, cpu = procfs.load(), _children_cpu()
        t0 = time.monotonic()
        proc = self.start(name)
        try:
            await self.until(name, done, every)
            timed = Timed(time.monotonic() - t0, procfs.peak_rss_mib(proc.pid), load)
        finally:
            self.stop(name)
        timed.cpu_s = _children_cpu() - cpu
        return timed

    async def rebuild(self) -> Timed:
        load, cpu = procfs.load(), _children_cpu()
        t0 = time.monotonic()
        log = open(ROOT / "var" / "log" / f"{self.prefix}-rebuild.log", "ab")  # noqa: SIM115
        try:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "services.cli", "projections", "rebuild",
                cwd=ROOT, env=self.env(), stdout=log, stderr=log,
            )  # fmt: skip
            code = await asyncio.wait_for(proc.wait(), self.timeout_s)
        finally:
            log.close()
        if code != 0:
            raise RuntimeError(f"ledger projections rebuild exited with {code}; see var/log")
        return Timed(time.monotonic() - t0, None, load, _children_cpu() - cpu)


async def _positions(conn: asyncpg.Connection, schema: str) -> dict[int, int]:
    with contextlib.suppress(asyncpg.UndefinedTableError):
        rows = await conn.fetch(f"SELECT partition, next_offset FROM {schema}.positions")
        return {r["partition"]: r["next_offset"] for r in rows}
    return {}


def digest_submissions(log: Log, seed: int) -> list[tuple[bytes, Submission]]:
    """Seeded submissions on existing contracts, in the order sent (keyed by contract): the
    contract's first event again (its id long sealed into a chunk), its last again (an id
    held inline), a new contact logged at the stream's version, and one at a stale version."""
    first: dict[bytes, bytes] = {}
    last: dict[bytes, bytes] = {}
    count: dict[bytes, int] = {}
    for key, value in log.records:
        first.setdefault(key, value)
        last[key] = value
        count[key] = count.get(key, 0) + 1
    rng = random.Random(seed)
    keys = sorted(first)
    chosen = sorted(rng.sample(keys, min(DIGEST_CONTRACTS, len(keys))))
    ns = uuid.UUID(int=seed)
    submitter = Submitter(role="admin", principal="bench-catch-up")

    def sid(*parts: object) -> uuid.UUID:
        return uuid.uuid5(ns, "/".join(map(str, parts)))

    out = []
    for key in chosen:
        cid = key.decode()
        version = count[key]
        for label, value in (("first", first[key]), ("last", last[key])):
            event = decode_event(value).model_copy(update={"stream_version": None})
            out.append((key, Submission(submission_id=sid(cid, label), submitter=submitter,
                                        event=event)))  # fmt: skip
        latest = decode_event(last[key])
        for label, expected in (("new", version), ("stale", version - 1)):
            event = decode_event(
                example(
                    "ClientContactLogged",
                    event_id=str(sid(cid, label, "event")),
                    contract_id=cid,
                    occurred_at=(latest.occurred_at + timedelta(days=1)).isoformat(),
                )
            ).model_copy(update={"recorded_by": submitter.principal, "recorded_at": _RECORDED})
            out.append(
                (
                    key,
                    Submission(
                        submission_id=sid(cid, label),
                        submitter=submitter,
                        expected_stream_version=expected,
                        event=event,
                    ),
                )
            )
    return out


_RECORDED = datetime(2030, 1, 1, tzinfo=UTC)


async def writer_digest(run: CatchUp, submissions: list[tuple[bytes, Submission]]) -> str:
    """The writer (started again: it takes its states back) decides `submissions`; the md5 of
    its verdicts (all but the time of decision), by submission."""
    verdicts = Verdicts(run.bootstrap, run.topics)
    await verdicts.start()
    got: dict[uuid.UUID, Any] = {}
    try:

        async def all_in() -> bool:
            batches = await verdicts.consumer.getmany(timeout_ms=50)
            for records in batches.values():
                for r in records:
                    v = decode_verdict(r.value)
                    got[v.submission_id] = v
            return all(s.submission_id in got for _, s in submissions)

        producer = AIOKafkaProducer(bootstrap_servers=run.bootstrap, acks="all", linger_ms=5)
        await producer.start()
        try:
            sent = [
                await producer.send(run.topics.submissions.name, encode_submission(s), key=key)
                for key, s in submissions
            ]
            await asyncio.gather(*sent)
        finally:
            await producer.stop()
        await run.timed("writer", all_in, 0.05)
    finally:
        await verdicts.stop()
    h = hashlib.md5()
    outcomes: dict[str, int] = {}
    for _, s in sorted(submissions, key=lambda ks: str(ks[1].submission_id)):
        v = got[s.submission_id]
        outcomes[v.code or v.outcome] = outcomes.get(v.code or v.outcome, 0) + 1
        line = f"{v.submission_id}|{v.outcome}|{v.code}|{v.stream_version}|{v.message}\n"
        h.update(line.encode())
    shown = ", ".join(f"{k} {n}" for k, n in sorted(outcomes.items()))
    return f"{h.hexdigest()} ({len(submissions)} verdicts: {shown})"


async def one(args: argparse.Namespace, n: int, bootstrap: str, server_dsn: str) -> dict[str, Any]:
    contracts = args.contracts or max(1, n // 50)
    steps = [s for s in STEPS if s in args.only.split(",")]
    run = CatchUp(bootstrap, server_dsn, uuid.uuid4().hex[:8])
    run.timeout_s = args.timeout
    out: dict[str, Any] = {"n": n, "contracts": contracts, "steps": steps}
    t0 = time.perf_counter()
    log = generate(n, contracts, args.seed, check=False)
    print(f"\nN={n:,}: generated over {contracts:,} contracts in {time.perf_counter() - t0:.0f} s")
    submissions = digest_submissions(log, args.seed) if "writer" in steps else []
    try:
        await run.setup()
        secs = await produce(bootstrap, run.topics.events.name, 6, log, "none")
        print(f"  produced in {secs:.0f} s")
        del log
        ends = await data_ends(bootstrap, run.topics.events)
        events_topic = run.topics.events.name

        if "bare" in steps:
            load, cpu = procfs.load(), _own_cpu()
            bare = await bare_consume(bootstrap, events_topic, 6, n)
            out["bare"] = Timed(bare, None, load, _own_cpu() - cpu)
            print(f"  bare consumer: {bare:.2f} s ({n / bare:,.0f} events/s, load {load:.2f})")
        async with db.connection(run.dsn) as conn:
            if "projector" in steps:

                async def projected() -> bool:
                    at = await _positions(conn, run.schema)
                    return all(at.get(p, 0) >= end for p, end in ends.items())

                out["projector"] = await run.timed("projector", projected, 0.1)
                print(f"  live projector's catch-up: {_shown(out['projector'], n)}")
            if "rebuild" in steps:
                out["rebuild"] = await run.rebuild()
                print(f"  ledger projections rebuild: {_shown(out['rebuild'], n)}")
            for step in ("risk", "risk-faust"):
                if step in steps:
                    out[step], out[f"{step}-digest"] = await risk_pass(run, conn, n, ends, step)
                    print(f"  {LABELS[step]}: {_shown(out[step], n)}; "
                          f"alerts {out[f'{step}-digest']}")  # fmt: skip
        if "writer" in steps:
            verdicts = Verdicts(bootstrap, run.topics)
            await verdicts.start()
            try:
                sids = await run.submit_to_every_partition()
                out["writer"] = await run.timed(
                    "writer", functools.partial(verdicts.has_all, sids), 0.05
                )
            finally:
                await verdicts.stop()
            print(f"  writer's first fold: {_shown(out['writer'], n)}")
            out["digest"] = await writer_digest(run, submissions)
            print(f"  writer's verdicts digest: {out['digest']}")
    finally:
        if not args.keep:
            await run.cleanup()
    return out


async def risk_pass(
    run: CatchUp, conn: asyncpg.Connection, n: int, ends: dict[int, int], step: str
) -> tuple[Timed, str]:
    """`ledger serve risk`'s first pass (`step` risk: in bulk; risk-faust: through Faust's
    stream), on a generation no agent has judged (the run's second pass takes the next), until
    every event is judged and the group has committed the log's end; and its alerts' digest."""
    from services.risk import generations
    from services.risk.names import app_id

    generation = await generations.current(conn, run.prefix)
    if await conn.fetchval("SELECT count(*) FROM risk_progress"):
        _, generation = await generations.begin(conn, run.prefix)
        await generations.swap(conn, run.prefix, generation)
        await conn.execute("DELETE FROM alerts; DELETE FROM risk_progress")
    group = app_id(run.prefix, generation)
    bulk = "1" if step == "risk" else "0"
    run.extra_env = {"LEDGER_RISK_BULK_FIRST_PASS": bulk}

    async def judged() -> bool:
        done = await conn.fetchval(
            "SELECT coalesce(sum(stream_version), 0)::bigint FROM risk_progress"
            " WHERE events_topic = $1",
            run.topics.events.name,
        )
        if done < n:
            return False
        at = await committed(run.bootstrap, group, run.topics.events.name)
        return all(at.get(p, 0) >= end for p, end in ends.items() if end)

    try:
        timed = await run.timed("risk", judged, 0.2)
    finally:
        run.extra_env = {}
    count, timer, digest = await alerts_digest(conn)
    return timed, f"{count:,} ({timer:,} of the timer rules), the others' md5 {digest}"


def _own_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _shown(t: Timed, n: int) -> str:
    rss = "" if t.rss_mib is None else f", peak RSS {t.rss_mib:,.0f} MiB"
    cpu = "" if t.cpu_s is None else f", {t.cpu_s:.1f} s CPU = {t.cpu_s / n * 1e6:.0f} µs/event"
    return f"{t.seconds:.2f} s ({n / t.seconds:,.0f} events/s{rss}{cpu}, load {t.load:.2f})"


LABELS = {
    "bare": "bare consumer + json.loads",
    "projector": "live projector's catch-up",
    "rebuild": "`ledger projections rebuild`",
    "risk": "risk agent's first pass (bulk)",
    "risk-faust": "risk agent's first pass through Faust's stream",
    "writer": "writer's first fold",
}


async def main(args: argparse.Namespace) -> int:
    settings = Settings()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"machine: {machine_line()}; uptime: {_uptime()}")
    results = []
    for n in sizes:
        results.append(await one(args, n, settings.kafka_bootstrap_servers, settings.dsn))
    print(f"\nafter: uptime: {_uptime()}")
    print(
        "\n| process | "
        + " | ".join(f"{r['n']:,} events ({r['contracts']:,} contracts)" for r in results)
        + " |"
    )
    print("|---|" + "---|" * len(results))
    for step in STEPS:
        cells = []
        for r in results:
            t: Timed | None = r.get(step)
            if t is None:
                cells.append("–")
                continue
            rate = r["n"] / t.seconds
            share = ""
            if "bare" in r and step != "bare":
                share = f", {rate / (r['n'] / r['bare'].seconds):.0%} of bare"
            rss = "" if t.rss_mib is None else f", {t.rss_mib:,.0f} MiB"
            cpu = "" if t.cpu_s is None else f", {t.cpu_s / r['n'] * 1e6:.0f} µs CPU/event"
            cells.append(f"{rate:,.0f}/s{share} ({t.seconds:.1f} s{cpu}{rss}, load {t.load:.1f})")
        print(f"| {LABELS[step]} | " + " | ".join(cells) + " |")
    for r in results:
        if "digest" in r:
            print(f"N={r['n']:,}: writer's verdicts digest {r['digest']}")
        for step in ("risk", "risk-faust"):
            if f"{step}-digest" in r:
                print(f"N={r['n']:,}: {LABELS[step]}: alerts {r[f'{step}-digest']}")
    print(f"python {platform.python_version()}")
    return 0


def _uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return f"load {os.getloadavg()}"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument(
        "--sizes", default="200000,1000000", help="comma-separated event counts (5000000: long)"
    )
    ap.add_argument("--contracts", type=int, default=0, help="contracts in every log (0: N/50)")
    ap.add_argument("--seed", type=int, default=1, help="the same seed generates the same log")
    ap.add_argument(
        "--only",
        default=",".join(DEFAULT_STEPS),
        help=f"the steps to time, of {','.join(STEPS)}",
    )
    ap.add_argument("--no-risk", action="store_true", help="leave out the risk agent's pass")
    ap.add_argument(
        "--risk-faust",
        action="store_true",
        help="also the risk agent's first pass through Faust's stream (the old path: slow)",
    )
    ap.add_argument("--timeout", type=float, default=3600.0, help="seconds a step may take")
    ap.add_argument("--keep", action="store_true", help="keep the topics and schemas")
    args = ap.parse_args(argv)
    if args.no_risk:
        args.only = ",".join(s for s in args.only.split(",") if s != "risk")
    if args.risk_faust and "risk-faust" not in args.only.split(","):
        args.only += ",risk-faust"
    return args


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
