"""The risk agent's first pass over a log it has never judged, against a bare consumer of the
same log in the same run.

    .venv/bin/python -m bench.risk_first_pass [--events N] [--contracts C] [--seed S]
                                              [--profile DIR] [--checkout DIR ...]

On a topic prefix and PostgreSQL schema of its own (the public tables migrated into a schema
that the agent's DATABASE_URL puts first on the search_path, so alerts and risk_progress stay
apart from the shared ones), all removed at the end:
1. generates N valid events over C contracts (simulation/histories.py, seeded) and produces
   them to the events topic, keyed by contract;
2. (a) a bare aiokafka consumer reads the topic and `json.loads` every value
   (`bench.projection_replay.bare_consume`, the projector's benchmark's own); (a') a Faust
   agent like the risk agent's that only decodes and acks (Faust's own cost, the ceiling of
   any Faust agent on this machine);
3. (b) starts `ledger serve risk` of this checkout on the prefix and waits until
   `risk_progress` shows every event judged (the sum of the contracts' judged versions is N:
   each contract's versions run 1..k). The rate is N over the time from the first batch
   judged to the last (the process's start-up and group join, ~1-2 s, printed apart); the
   wall time from the process start is printed too. Through Faust's stream
   (`LEDGER_RISK_BULK_FIRST_PASS=0`); with --bulk as `ledger serve risk` runs a first pass by
   default, in bulk before Faust starts (`bench/catch_up.py` times both from the start);
4. prints the alerts raised (count and an md5 of what identifies them: id, rule, contract,
   version, event ids, message; an alert of the idle timer may differ between runs, see
   services/risk/worker.py, so those are counted apart), the agent's CPU seconds and peak RSS;
5. with --profile DIR, py-spy records the agent during the pass (raw stacks in DIR) and a
   summary by module and by function (self and inclusive) is printed.

`risk_first_pass(settings, n_events)` is the measure alone, for `bench/catch_up.py`: the events
topic of `settings.topic_prefix` holds N events that no risk agent of that prefix has judged.

Kafka and PostgreSQL are taken from KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL, else the local
stack of `make up`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import pyspy
from bench.procfs import peak_rss_mib
from bench.projection_replay import bare_consume
from events.topics import topics
from projections.risk.rules import TIMER_RULES as RISK_TIMER_RULES
from services import db, kafka_admin
from services.settings import Settings
from simulation.histories import Log, generate, produce

ROOT = Path(__file__).resolve().parent.parent

TIMEOUT_S = 1800.0
# Whether and when the timer raises these depends on how far the event-time watermark had moved
# (services/risk/worker.py): they are counted, not digested.
TIMER_RULES = frozenset(RISK_TIMER_RULES)
# Leaf frames of a thread waiting, not working (an executor's idle workers too).
IDLE = (*pyspy.IDLE, "_worker (")


@dataclass
class FirstPass:
    events: int
    startup_s: float  # process start until the first batch is judged
    judging_s: float  # first batch judged until every event is
    cpu_s: float
    rss_mib: float
    alerts: int
    timer_alerts: int
    digest: str  # md5 of the alerts of the rules other than the timer's
    profile: str = ""

    @property
    def rate(self) -> float:
        return self.events / self.judging_s if self.judging_s > 0 else float("inf")

    @property
    def wall_rate(self) -> float:
        return self.events / (self.startup_s + self.judging_s)


def _cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def summarise(raw: Path, top: int = 12) -> str:
    """Self time by module and function, and inclusive time by function, of py-spy's raw
    output (idle leaves left out)."""
    self_mod: dict[str, int] = {}
    self_fn: dict[str, int] = {}
    incl_fn: dict[str, int] = {}
    total = 0
    for frames, k in pyspy.busy_samples(raw, IDLE):
        leaf = frames[-1]
        total += k
        module = pyspy.module_of(leaf)
        self_mod[module] = self_mod.get(module, 0) + k
        name = pyspy.function_of(leaf)
        self_fn[name] = self_fn.get(name, 0) + k
        for f in {pyspy.function_of(fr) for fr in frames}:
            incl_fn[f] = incl_fn.get(f, 0) + k

    def top_of(d: dict[str, int]) -> str:
        best = sorted(d.items(), key=lambda kv: -kv[1])[:top]
        return "\n".join(f"    {100 * v / total:5.1f}%  {k}" for k, v in best)

    if not total:
        return "no busy samples"
    # Inclusive: leave out the frames every stack has (the loop, the thread's run).
    incl = {k: v for k, v in incl_fn.items() if v < 0.9 * total}
    return (
        f"{total} busy samples\n  self time by module:\n{top_of(self_mod)}\n"
        f"  self time by function:\n{top_of(self_fn)}\n"
        f"  inclusive time by function (under 90%):\n{top_of(incl)}"
    )


def _dsn_with_path(dsn: str, schema: str) -> str:
    sep = "&" if "?" in dsn else "?"  # asyncpg passes an unknown parameter on as a setting
    return f"{dsn}{sep}search_path={schema}"


async def measure(
    settings: Settings,
    n_events: int,
    profile: Path | None = None,
    checkout: Path = ROOT,
    bulk: bool = False,
) -> FirstPass:
    """The first pass of `ledger serve risk` (of `checkout`'s code) over the `n_events` on the
    events topic of `settings.topic_prefix`, with PostgreSQL tables of its own (dropped at the
    end): through Faust's stream, or with `bulk` its bulk first pass (services/risk/bulk.py)."""
    public = "bench_riskpass_" + uuid.uuid4().hex[:10]
    dsn = _dsn_with_path(settings.dsn, public)
    async with db.connection(settings.dsn) as conn:
        await conn.execute(f'CREATE SCHEMA "{public}"')
    await db.migrate_dsn(dsn)
    (ROOT / "var" / "log").mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "DATABASE_URL": dsn,
        "LEDGER_TOPIC_PREFIX": settings.topic_prefix,
        "LEDGER_PROJECTION_SCHEMA": f"{public}_none",  # no read model: the sweep finds none
        "LEDGER_RISK_INSTANCE_ID": f"{public}-risk",
        # A checkout from before the bulk first pass ignores it.
        "LEDGER_RISK_BULK_FIRST_PASS": "1" if bulk else "0",
    }
    topic = settings.topics.events.name
    spy: subprocess.Popen[bytes] | None = None
    try:
        async with db.connection(dsn) as conn:
            with open(ROOT / "var" / "log" / f"{public}-risk.log", "ab") as logf:
                t0 = time.monotonic()
                proc = subprocess.Popen(
                    [sys.executable, "-m", "services.cli", "serve", "risk"],
                    cwd=checkout, env=env, stdout=logf, stderr=logf,
                )  # fmt: skip
            try:
                if profile is not None:
                    profile.mkdir(parents=True, exist_ok=True)
                    spy = subprocess.Popen(
                        [str(Path(sys.executable).with_name("py-spy")), "record", "--pid",
                         str(proc.pid), "--rate", "100", "--format", "raw", "--output",
                         str(profile / "risk.txt"), "--nonblocking"],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                    )  # fmt: skip
                judged_sql = """SELECT coalesce(sum(stream_version), 0)::bigint
                                FROM risk_progress WHERE events_topic = $1"""
                first = None
                while True:
                    judged = await conn.fetchval(judged_sql, topic)
                    now = time.monotonic()
                    if first is None and judged > 0:
                        first = now
                    if judged >= n_events:
                        break
                    if proc.poll() is not None:
                        raise RuntimeError(f"the risk agent exited ({proc.returncode}); var/log")
                    if now - t0 > TIMEOUT_S:
                        raise TimeoutError(f"{judged} of {n_events} judged in {TIMEOUT_S} s")
                    await asyncio.sleep(0.05)
                assert first is not None
                cpu, rss = _cpu_s(proc.pid), peak_rss_mib(proc.pid) or float("nan")
            finally:
                if spy is not None:
                    spy.send_signal(signal.SIGINT)
                    spy.wait(timeout=60)
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            alerts, timer_alerts, digest = await alerts_digest(conn)
    finally:
        async with db.connection(settings.dsn) as conn:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{public}" CASCADE')
    return FirstPass(
        events=n_events,
        startup_s=first - t0,
        judging_s=now - first,
        cpu_s=cpu,
        rss_mib=rss,
        alerts=alerts,
        timer_alerts=timer_alerts,
        digest=digest,
        profile=summarise(profile / "risk.txt") if profile is not None else "",
    )


async def alerts_digest(conn: Any) -> tuple[int, int, str]:
    """The alerts of the tables `conn` sees: how many, how many of the timer rules, and the md5
    of what identifies the others (id, rule, contract, version, event ids, message, basis)."""
    rows = await conn.fetch(
        """SELECT alert_id, rule, contract_id, stream_version, event_ids, message, basis
           FROM alerts ORDER BY alert_id"""
    )
    timer = [r for r in rows if r["rule"] in TIMER_RULES]
    lines = "\n".join(
        f"{r['alert_id']}|{r['rule']}|{r['contract_id']}|{r['stream_version']}|"
        f"{','.join(map(str, r['event_ids']))}|{r['message']}|{r['basis']}"
        for r in rows
        if r["rule"] not in TIMER_RULES
    )
    return len(rows), len(timer), str(await conn.fetchval("SELECT md5($1)", lines))


def _faust_decode_only(bootstrap: str, prefix: str, n_events: int, batch: int) -> None:
    """A Faust agent as the risk agent's (same transport, app settings and `noack_take`) that
    only decodes each event with `json.loads` and acks it: what Faust's consumer and stream
    cost alone. Prints the seconds from its first event to its `n_events`-th, then exits."""
    import json

    import faust

    from services.risk.transport import broker_urls

    app = faust.App(
        f"{prefix}-decode-only-{uuid.uuid4().hex[:6]}",  # a group of its own: from the start
        broker=broker_urls(bootstrap),
        store="memory://",
        web_enabled=False,
        topic_replication_factor=1,
        consumer_auto_offset_reset="earliest",
        key_serializer="raw",
        value_serializer="raw",
        **json.loads(os.environ.get("BENCH_FAUST_CONF", "{}")),  # settings to try
    )
    topic = app.topic(topics(prefix).events.name, key_type=bytes, value_type=bytes)
    seen: list[float] = []

    @app.agent(topic)
    async def decode(events: Any) -> None:
        count = 0
        async for got in events.noack_take(batch, within=0.01):
            if not seen:
                seen.append(time.monotonic())
            for e in got:
                json.loads(e.value)
                await events.ack(e)
            count += len(got)
            if count >= n_events:
                # fd 1: Faust's worker redirects sys.stdout to its log.
                os.write(1, f"{time.monotonic() - seen[0]:.3f}\n".encode())
                os._exit(0)

    worker = faust.Worker(app, loglevel="warning", quiet=True, redirect_stdouts=False)
    worker.spinner = None
    worker.execute_from_commandline()


def faust_decode_only(settings: Settings, n_events: int) -> float:
    """Events a second a decode-only Faust agent reads (`_faust_decode_only`), in a process of
    its own, over the events topic of `settings.topic_prefix`."""
    out = subprocess.run(
        [sys.executable, "-m", "bench.risk_first_pass", "--faust-decode-only",
         settings.topic_prefix, "--events", str(n_events), "--batch", str(settings.risk_batch)],
        cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT_S, check=True,
    )  # fmt: skip
    return n_events / float(out.stdout.strip().splitlines()[-1])


async def risk_first_pass(settings: Settings, n_events: int) -> float:
    """Events judged a second by the risk agent's first pass over the `n_events` on the events
    topic of `settings.topic_prefix` (from its first batch judged to its last)."""
    return (await measure(settings, n_events)).rate


async def one(
    local: Settings, log: Log, checkout: Path, profile: Path | None, bulk: bool = False
) -> tuple[float, float, FirstPass]:
    """The bare consumer's seconds, a decode-only Faust agent's events a second and the first
    pass of `checkout`'s agent, on a fresh prefix."""
    n = len(log.records)
    prefix = "bench-riskpass-" + uuid.uuid4().hex[:8]
    settings = local.model_copy(update={"topic_prefix": prefix})
    t = topics(prefix)
    bootstrap = local.kafka_bootstrap_servers
    try:
        await kafka_admin.ensure_topics(bootstrap, t)
        await produce(bootstrap, t.events.name, t.events.partitions, log, "none")
        bare_s = await bare_consume(bootstrap, t.events.name, t.events.partitions, n)
        faust_rate = await asyncio.to_thread(faust_decode_only, settings, n)
        return bare_s, faust_rate, await measure(settings, n, profile, checkout, bulk)
    finally:
        await kafka_admin.delete_topics(bootstrap, prefix)


async def main(args: argparse.Namespace) -> int:
    local = Settings()
    n, contracts = args.events, args.contracts or max(1, args.events // 50)
    log = generate(n, contracts, args.seed, check=False)
    print(f"generated {n:,} events over {contracts:,} contracts (seed {args.seed})")
    checkouts = [Path(c).resolve() for c in args.checkout] or [ROOT]
    for i, checkout in enumerate(checkouts):
        profile = Path(args.profile) / str(i) if args.profile else None
        load = os.getloadavg()
        bare_s, faust_rate, p = await one(local, log, checkout, profile, args.bulk)
        bare = n / bare_s
        print(
            f"\n== {checkout} (load average before {load[0]:.2f}, after {os.getloadavg()[0]:.2f})"
        )
        print(f"(a) bare consumer + json.loads: {bare_s:.2f} s, {bare:,.0f} events/s")
        print(
            f"(a') a Faust agent that only decodes (json.loads) and acks: {faust_rate:,.0f} "
            f"events/s = {faust_rate / bare:.1%} of (a)"
        )
        print(
            f"(b) risk agent first pass: {p.judging_s:.2f} s from the first batch judged, "
            f"{p.rate:,.0f} events/s = {p.rate / bare:.1%} of (a); start-up {p.startup_s:.2f} s "
            f"(wall {p.wall_rate:,.0f} events/s = {p.wall_rate / bare:.1%}); CPU {p.cpu_s:.1f} s "
            f"({1000 * p.cpu_s / n:.3f} ms/event), peak RSS {p.rss_mib:.0f} MiB"
        )
        print(
            f"alerts: {p.alerts:,} ({p.timer_alerts:,} of the timer rules); "
            f"the others' md5 {p.digest}"
        )
        if p.profile:
            print(f"py-spy profile of (b), raw stacks in {profile}:\n{p.profile}")
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--faust-decode-only", metavar="PREFIX", help=argparse.SUPPRESS)
    ap.add_argument("--batch", type=int, default=500, help=argparse.SUPPRESS)
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--contracts", type=int, default=None, help="contracts (default N/50)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--profile", default="", help="a directory for py-spy's raw stacks")
    ap.add_argument(
        "--bulk",
        action="store_true",
        help="(b) as `ledger serve risk` runs it by default: the first pass in bulk "
        "(services/risk/bulk.py; its rate counts from its first partition stored); "
        "without: through Faust's stream",
    )
    ap.add_argument(
        "--checkout",
        action="append",
        default=[],
        help="a checkout whose agent to measure (repeatable; default this one), each on a "
        "fresh prefix with the same log",
    )
    return ap.parse_args(argv)


if __name__ == "__main__":
    cli = parse_args()
    if cli.faust_decode_only:
        bootstrap = Settings().kafka_bootstrap_servers
        _faust_decode_only(bootstrap, cli.faust_decode_only, cli.events, cli.batch)
    sys.exit(asyncio.run(main(cli)))
