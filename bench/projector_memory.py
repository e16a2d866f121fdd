"""The projector's start and peak memory against the length of the history, as processes.

    .venv/bin/python -m bench.projector_memory [--events N] [--cache 1000,10000]
                                               [--checkout PATH] [--seed S]

Generates N events (`simulation/histories.py`, N/50 contracts, 6 partitions) onto topics
of its own, then, with the projector code of `--checkout` (default: this one; give an older
checkout for a before/after), for each cache size:
1. `ledger projections rebuild` with one process: the whole log replayed by one projector,
   timed, and its peak RSS (the process's ru_maxrss);
2. `ledger serve projector` on the tables just built: the time from spawning it until it logs
   that it is projecting (connected, state loaded, consumer seeked), and its peak RSS by then.
Drops its schemas and topics at the end. Kafka and PostgreSQL as KAFKA_BOOTSTRAP_SERVERS /
DATABASE_URL. The machine is shared: it prints the 1-minute load average with each figure.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import select
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from bench.procfs import peak_rss_mib
from bench.projection_replay import cleanup
from events.topics import topics
from services.kafka_admin import ensure_topics
from services.settings import Settings
from simulation.histories import generate, produce

ROOT = Path(__file__).resolve().parent.parent

LEDGER = ["-c", "import sys; from services.cli import main; sys.exit(main())"]


def _env(checkout: Path, prefix: str, schema: str, cache: int) -> dict[str, str]:
    return os.environ | {
        "PYTHONPATH": str(checkout),
        "LEDGER_TOPIC_PREFIX": prefix,
        "LEDGER_PROJECTION_SCHEMA": schema,
        "LEDGER_REBUILD_PROCESSES": "1",
        "LEDGER_PROJECTOR_CACHE_CONTRACTS": str(cache),
    }


def _ledger(checkout: Path, env: dict[str, str], *command: str) -> subprocess.Popen[bytes]:
    """`ledger <command>` of `checkout`, its stderr piped to us."""
    return subprocess.Popen(
        [sys.executable, *LEDGER, *command],
        cwd=checkout, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip


def rebuild(checkout: Path, env: dict[str, str]) -> tuple[float, float]:
    t0 = time.perf_counter()
    p = _ledger(checkout, env, "projections", "rebuild")
    assert p.stderr is not None
    err, rss = b"", 0.0
    while p.poll() is None:  # the peak is read until the process ends (every 50 ms)
        rss = max(rss, peak_rss_mib(p.pid) or 0.0)
        if select.select([p.stderr], [], [], 0.05)[0]:
            err = (err + p.stderr.read1(65536))[-20000:]  # type: ignore[attr-defined]
    took = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit(f"rebuild failed ({p.returncode}): {err.decode()[-2000:]}")
    return took, rss


def start(checkout: Path, env: dict[str, str]) -> tuple[float, float]:
    t0 = time.perf_counter()
    p = _ledger(checkout, env, "serve", "projector")
    assert p.stderr is not None
    took, seen = None, b""
    deadline = t0 + 300
    while took is None and time.perf_counter() < deadline:
        ready, _, _ = select.select([p.stderr], [], [], 1.0)
        if ready:
            line = p.stderr.readline()
            seen += line
            if b"projecting" in line:
                took = time.perf_counter() - t0
            elif not line:
                break
    rss = peak_rss_mib(p.pid) or 0.0
    p.send_signal(signal.SIGTERM)
    p.wait()
    if took is None:
        raise SystemExit(f"the projector never said it was projecting: {seen.decode()[-2000:]}")
    return took, rss


async def main(args: argparse.Namespace) -> int:
    local = Settings()
    bootstrap, dsn = local.kafka_bootstrap_servers, local.dsn
    tag = uuid.uuid4().hex[:12]
    prefix, schema = f"bench.{tag}", f"bench_{tag}"
    wanted = topics(prefix)
    log = generate(args.events, max(1, args.events // 50), args.seed, check=False)
    await ensure_topics(bootstrap, wanted)
    await produce(bootstrap, wanted.events.name, wanted.events.partitions, log, "none")
    del log
    checkouts = [Path(c).resolve() for c in args.checkout] or [ROOT]
    schemas = [f"{schema}_{i}" for i in range(len(checkouts))]
    try:
        print(f"{args.events:,} events, {args.events // 50:,} contracts")
        print("| code | cache (contracts) | replay s | replay peak RSS MiB | start s | "
              "start peak RSS MiB | load (1 min) |")  # fmt: skip
        for _ in range(args.rounds):
            for checkout, s in zip(checkouts, schemas, strict=True):
                for cache in args.cache:
                    env = _env(checkout, prefix, s, cache)
                    replay_s, replay_rss = rebuild(checkout, env)
                    start_s, start_rss = start(checkout, env)
                    print(
                        f"| {checkout.name} | {cache:,} | {replay_s:.1f} | {replay_rss:.0f} | "
                        f"{start_s:.2f} | {start_rss:.0f} | {os.getloadavg()[0]:.2f} |",
                        flush=True,
                    )
    finally:
        for s in schemas:
            await cleanup(bootstrap, dsn, s, [])
        await cleanup(bootstrap, dsn, f"{schema}_none", [t.name for t in wanted.all()])
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--cache",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[10_000],
        help="LEDGER_PROJECTOR_CACHE_CONTRACTS values, comma-separated",
    )
    ap.add_argument(
        "--checkout", action="append", default=[], help="a checkout whose code to run (repeat)"
    )
    ap.add_argument("--rounds", type=int, default=1, help="runs of every checkout, alternately")
    return ap.parse_args(argv)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
