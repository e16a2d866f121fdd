"""The live path under load: an open-loop client at fixed arrival rates on POST /v1/events.

    .venv/bin/python -m bench.live_load --start-stack [--rates 50,100,200,300,500,1000]
        [--duration 10] [--batch-rate 2000 --batch-size 50] [--contracts 200] [--api-workers N]
    .venv/bin/python -m bench.live_load --url http://127.0.0.1:8000 --token TOKEN --am-id AM ...

Open loop: request i of a step is due at t0 + i / rate whatever the earlier ones are doing,
and its latency counts from that due time (a client that falls behind is not hidden). Each
event goes to one of `--contracts` contracts, round robin: rate changes (margin impacts),
inbound contacts and bypass threats (an alert each), all valid, so each must be answered
`accepted` with its `margin_impacts` and `alerts` (not null). Per step it prints the achieved
rate (answered events / time from the first due send to the last answer), p50/p90/p99/max,
how many answers were accepted and carried their impacts and alerts, how many were 202, and
the CPU milliseconds per event of each process, from /proc/<pid>/stat (children included: the
API's worker processes), of Kafka's JVM (shared with everyone on the machine) and of the
PostgreSQL backends of our own database (--start-stack only).

--start-stack runs writer, projector, risk agent and API from this checkout against
KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL under a topic prefix, projection schema, schema for the
API's tables (first on their search_path) and port of their own, and removes them afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp

from bench import pyspy
from bench.procfs import peak_rss_mib
from services.settings import LOCAL_DATABASE_URL, LOCAL_KAFKA
from simulation.examples import example
from simulation.own_stack import OwnStack

ROOT = Path(__file__).resolve().parent.parent

TICK = os.sysconf("SC_CLK_TCK")


# --- CPU of processes, from /proc ------------------------------------------------------------


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds used) of a live process."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            rest = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(rest[1]), (int(rest[11]) + int(rest[12])) / TICK


def _descendants(pids: set[int]) -> set[int]:
    parent: dict[int, int] = {}
    for d in os.listdir("/proc"):
        if d.isdigit() and (s := _stat(int(d))) is not None:
            parent[int(d)] = s[0]
    out, grew = set(pids), True
    while grew:
        more = {p for p, pp in parent.items() if pp in out and p not in out}
        out |= more
        grew = bool(more)
    return out


def kafka_pid() -> int | None:
    for d in os.listdir("/proc"):
        if d.isdigit():
            with contextlib.suppress(OSError), open(f"/proc/{d}/cmdline", "rb") as f:
                if b"kafka.Kafka" in f.read():
                    return int(d)
    return None


@dataclass
class Watched:
    """Named processes whose CPU is measured: fixed pids (with their children) and a function
    giving more pids at each reading (PostgreSQL backends come and go)."""

    pids: dict[str, int]
    pg_backends: Any = None  # async () -> set[int]

    async def cpu(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for name, pid in self.pids.items():
            out[name] = sum((_stat(p) or (0, 0.0))[1] for p in _descendants({pid}))
        if self.pg_backends is not None:
            with contextlib.suppress(Exception):
                backends = await self.pg_backends()
                out["postgres"] = sum((_stat(p) or (0, 0.0))[1] for p in backends)
        out["bench client"] = (_stat(os.getpid()) or (0, 0.0))[1]
        return out


# --- the load ---------------------------------------------------------------------------------


class Workload:
    """Valid events over `n` contracts of our own: each first signed and staffed (setup), then
    rate changes, inbound contacts and bypass threats in turn."""

    def __init__(self, n: int, am_id: str) -> None:
        self.tag = uuid.uuid4().hex[:8]
        self.am_id = am_id
        self.contracts = [f"LL-{self.tag}-{i}" for i in range(n)]
        self.kinds = itertools.cycle(
            ["RatesAdjusted", "ClientContactLogged", "BypassThreatReported"]
        )
        self.rr = itertools.cycle(self.contracts)
        self.k = 0

    def setup(self) -> list[dict[str, Any]]:
        out = []
        for c in self.contracts:
            out.append(example("ContractSigned", contract_id=c, account_manager_id=self.am_id))
            out.append(example("AssignmentStarted", contract_id=c))
        return out

    def next(self) -> dict[str, Any]:
        c, kind = next(self.rr), next(self.kinds)
        self.k += 1
        if kind == "RatesAdjusted":
            pay = Decimal("30.00") + Decimal(self.k % 1000) / 100
            return example(
                kind, contract_id=c, pay_rate=str(pay), bill_rate=str(pay * Decimal("1.25"))
            )
        if kind == "ClientContactLogged":
            return example(kind, contract_id=c, direction="inbound", responded=True)
        return example(kind, contract_id=c)


@dataclass
class Step:
    offered: float  # events a second
    batch: int
    duration: float
    latencies: list[float] = field(default_factory=list)  # seconds, one per request
    events: int = 0
    accepted: int = 0
    complete: int = 0  # accepted with impacts and alerts in the answer
    pending: int = 0  # 202
    other: dict[str, int] = field(default_factory=dict)
    elapsed: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)
    load: str = ""

    def pct(self, q: float) -> float:
        xs = sorted(self.latencies)
        return xs[min(len(xs) - 1, int(q * len(xs)))] * 1000 if xs else float("nan")


def _count(step: Step, status: int, body: dict[str, Any]) -> None:
    results = body.get("results", [body]) if isinstance(body, dict) else []
    for r in results:
        step.events += 1
        s = r.get("status")
        if s == "accepted":
            step.accepted += 1
            if r.get("margin_impacts") is not None and r.get("alerts") is not None:
                step.complete += 1
        elif s == "pending":
            step.pending += 1
        else:
            key = f"{s}:{r.get('code')}"
            step.other[key] = step.other.get(key, 0) + 1
    if not results:
        step.other[str(status)] = step.other.get(str(status), 0) + 1


async def _post(
    http: aiohttp.ClientSession, url: str, body: bytes, due: float, step: Step
) -> float:
    try:
        async with http.post(url, data=body) as r:
            data = await r.json(content_type=None)
            status = r.status
    except Exception as exc:
        step.other[type(exc).__name__] = step.other.get(type(exc).__name__, 0) + 1
        return time.monotonic()
    end = time.monotonic()
    step.latencies.append(end - due)
    _count(step, status, data)
    return end


# The code profiled: this checkout, or the one the live stack was run from.
PROFILED = (Path("/work/wt/live"), ROOT)


def summarise(raw: Path, top: int = 8) -> str:
    """Self time by library/module, and the hottest leaf functions, from py-spy's raw output."""
    by_lib: dict[str, int] = {}
    by_fn: dict[str, int] = {}
    total = 0
    for frames, n in pyspy.busy_samples(raw):
        leaf = frames[-1]
        total += n
        lib = pyspy.module_of(leaf, PROFILED)
        by_lib[lib] = by_lib.get(lib, 0) + n
        fn = pyspy.function_of(leaf, PROFILED)
        by_fn[fn] = by_fn.get(fn, 0) + n
    libs = ", ".join(
        f"{k} {100 * v / total:.0f}%" for k, v in sorted(by_lib.items(), key=lambda x: -x[1])[:top]
    )
    fns = ", ".join(
        f"{k} {100 * v / total:.0f}%" for k, v in sorted(by_fn.items(), key=lambda x: -x[1])[:top]
    )
    return f"{total} busy samples; by library: {libs}; hottest: {fns}"


def start_profiles(pids: dict[str, int], seconds: float, out: Path) -> list[Any]:
    out.mkdir(parents=True, exist_ok=True)
    spy = Path(sys.executable).with_name("py-spy")
    procs = []
    for name, pid in pids.items():
        if "kafka" in name:
            continue
        raw = out / f"{name}.txt"
        cmd = [
            str(spy),
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(int(seconds)),
            "--rate",
            "100",
            "--format",
            "raw",
            "--output",
            str(raw),
            "--subprocesses",
        ]
        procs.append(
            (name, raw, subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
        )
    return procs


async def run_step(
    http: aiohttp.ClientSession, url: str, work: Workload, step: Step, watched: Watched
) -> Step:
    n_req = max(1, int(step.offered * step.duration / step.batch))
    bodies: list[bytes] = []
    for _ in range(n_req):
        evs = [work.next() for _ in range(step.batch)]
        payload = evs[0] if step.batch == 1 else {"events": evs}
        bodies.append(json.dumps(payload).encode())
    interval = step.batch / step.offered
    cpu0 = await watched.cpu()
    t0 = time.monotonic() + 0.05
    tasks = []
    for i, body in enumerate(bodies):
        due = t0 + i * interval
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(_post(http, f"{url}/v1/events", body, due, step)))
    ends = await asyncio.gather(*tasks)
    step.elapsed = max(ends) - t0
    cpu1 = await watched.cpu()
    step.cpu = {k: cpu1[k] - cpu0.get(k, 0.0) for k in cpu1}
    step.load = f"{os.getloadavg()[0]:.2f}"
    return step


def report(step: Step) -> str:
    achieved = step.events / step.elapsed if step.elapsed else 0.0
    per_event = {k: 1000 * v / max(step.accepted, 1) for k, v in sorted(step.cpu.items()) if v >= 0}
    total = sum(v for k, v in per_event.items() if k != "bench client")
    cpu = " ".join(f"{k}={v:.2f}" for k, v in per_event.items())
    other = f" other={step.other}" if step.other else ""
    label = f"{step.offered:g}/s" + (f" in POSTs of {step.batch}" if step.batch > 1 else "")
    return (
        f"| {label} | {achieved:.0f}/s | {step.pct(0.5):.0f} | {step.pct(0.9):.0f} | "
        f"{step.pct(0.99):.0f} | {max(step.latencies, default=0) * 1000:.0f} | "
        f"{step.complete}/{step.events} ({step.pending} 202){other} | {total:.2f} | {cpu} | "
        f"{step.load} |"
    )


HEADER = (
    "| offered | achieved | p50 ms | p90 ms | p99 ms | max ms | with impacts+alerts / events |"
    " CPU ms/event (ours) | CPU ms/event by process | load 1 min |\n"
    "|---|---|---|---|---|---|---|---|---|---|"
)


# --- main -------------------------------------------------------------------------------------


async def setup_contracts(http: aiohttp.ClientSession, url: str, work: Workload) -> None:
    events = work.setup()
    for i in range(0, len(events), 100):
        body = json.dumps({"events": events[i : i + 100]}).encode()
        async with http.post(f"{url}/v1/events", data=body) as r:
            data = await r.json(content_type=None)
            bad = [x for x in data.get("results", []) if x.get("status") != "accepted"]
            if bad:
                raise RuntimeError(f"setup refused: {bad[:2]}")


async def main(args: argparse.Namespace) -> int:
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", LOCAL_KAFKA)
    dsn = os.environ.get("DATABASE_URL", LOCAL_DATABASE_URL)
    stack: OwnStack | None = None
    kpid = kafka_pid()
    try:
        if args.start_stack:
            stack = OwnStack(bootstrap, dsn, args.api_workers)
            await stack.start()
            url, token, am_id = stack.url, stack.token, stack.am_id
            pids = {n: p.pid for n, p in stack.procs.items()}
            watched = Watched(pids, stack.backends)
        else:
            url, token, am_id = args.url, args.token, args.am_id
            pids = dict(kv.split("=") for kv in args.pids.split(",")) if args.pids else {}
            watched = Watched({k: int(v) for k, v in pids.items()})
        if kpid is not None:
            watched.pids["kafka (shared)"] = kpid
        print(f"# live load {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())} UTC")
        print(
            f"# commit {_git('rev-parse', '--short', 'HEAD')}, {os.cpu_count()} cores, "
            f"load before {os.getloadavg()[0]:.2f}, api workers {args.api_workers or 'default'}"
        )
        work = Workload(args.contracts, am_id)
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        # Idle connections dropped before the server (uvicorn: 5 s) closes them under our feet.
        conn = aiohttp.TCPConnector(limit=0, limit_per_host=0, keepalive_timeout=2)
        timeout = aiohttp.ClientTimeout(total=60)
        async with aiohttp.ClientSession(headers=headers, connector=conn, timeout=timeout) as http:
            await setup_contracts(http, url, work)
            # warm-up
            await run_step(http, url, work, Step(20, 1, 3), watched)
            print(HEADER)
            steps = [Step(float(r), 1, args.duration) for r in args.rates.split(",") if r]
            if args.batch_rate:
                steps.append(Step(args.batch_rate, args.batch_size, args.duration))
            for st in steps:
                profiles = []
                if args.profile_rate and st.offered == args.profile_rate and st.batch == 1:
                    profiles = start_profiles(watched.pids, st.duration, Path(args.profile_dir))
                await run_step(http, url, work, st, watched)
                print(report(st), flush=True)
                for name, raw, proc in profiles:
                    _, err = proc.communicate(timeout=60)
                    if raw.exists():
                        print(f"# profile {name} at {st.offered:g}/s: {summarise(raw)}")
                    else:
                        print(f"# profile {name}: py-spy failed: {err.decode()[-300:]}")
                await asyncio.sleep(args.pause)
                if args.stop_p99_s and st.pct(0.99) > args.stop_p99_s * 1000 and st.batch == 1:
                    print(f"# p99 over {args.stop_p99_s} s: higher single-event rates skipped")
                    steps = [s for s in steps if s.batch > 1 and s is not st]
                    for bs in steps:
                        await run_step(http, url, work, bs, watched)
                        print(report(bs), flush=True)
                    break
        if args.hold:
            print(f"# holding the stack for {args.hold} s at {url}", flush=True)
            await asyncio.sleep(args.hold)
        peaks = {n: peak_rss_mib(int(pid)) or 0.0 for n, pid in watched.pids.items()}
        print("# peak RSS (VmHWM): " + ", ".join(f"{n} {m:,.0f} MiB" for n, m in peaks.items()))
    finally:
        if stack is not None:
            await stack.stop()
    return 0


def _git(*a: str) -> str:
    try:
        return subprocess.check_output(["git", *a], cwd=ROOT, text=True).strip()
    except Exception:
        return "?"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--start-stack", action="store_true", help="run a stack of our own")
    p.add_argument("--url", default="http://127.0.0.1:8000")
    p.add_argument("--token", default="")
    p.add_argument("--am-id", default="", help="the token's account manager (for the contracts)")
    p.add_argument("--pids", default="", help="name=pid,... of a running stack's processes")
    p.add_argument("--api-workers", type=int, default=None)
    p.add_argument("--rates", default="50,100,200,300,500,1000", help="events/s, one per POST")
    p.add_argument("--duration", type=float, default=10.0, help="seconds per step")
    p.add_argument("--batch-rate", type=float, default=2000.0, help="events/s in batched POSTs")
    p.add_argument("--batch-size", type=int, default=50)
    p.add_argument("--contracts", type=int, default=200)
    p.add_argument("--pause", type=float, default=3.0, help="seconds between steps")
    p.add_argument(
        "--stop-p99-s",
        type=float,
        default=5.0,
        help="skip higher single-event rates once a step's p99 exceeds this",
    )
    p.add_argument(
        "--profile-rate",
        type=float,
        default=0.0,
        help="py-spy every process of ours during the step at this rate",
    )
    p.add_argument("--profile-dir", default=str(ROOT / "var" / "profiles"))
    p.add_argument("--hold", type=float, default=0.0, help="keep the stack up N s at the end")
    return p.parse_args(argv)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
