"""`ledger import placements` of Bullhorn-shaped files, timed, against a stack of our own.

    .venv/bin/python -m bench.import [--placements 5000,50000] [--via gateway,api]
        [--lanes 8] [--changes 2]

For each size it writes a file with `simulation.bullhorn` (each placement with 1 to
`--changes` later rate rows, some ended, no bad rows: about 2.9 events a placement) and a
mapping giving every client default terms, starts a
writer, projector, risk agent and API of this checkout on a topic prefix, projection schema
and API tables of their own (`simulation.own_stack`), and runs, as a user would, in a
separate process each: the dry run, the import (through POST /v1/events with an admin token,
or through the submission gateway), and the import again (which must append nothing). Each
line: wall time, rows/s and events/s, and the peak RSS of the importing process (from
wait4's rusage of that process alone). The 1-minute load average is printed before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from services.settings import LOCAL_DATABASE_URL, LOCAL_KAFKA
from simulation import bullhorn
from simulation.own_stack import OwnStack

ROOT = Path(__file__).resolve().parent.parent

MAPPING = """source: bench
account_manager: am-bench
as_of: 2026-12-01
default_terms:
  {markup_floor_pct: 15, burden_pct: 12, conversion_fee_pct: 15, non_solicit_months: 12}
"""


def load() -> str:
    return f"{os.getloadavg()[0]:.2f}"


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, int, str]:
    """(seconds, peak RSS in MiB of that process, its standard output); its CPU seconds are
    kept in `cpu`."""
    out_path = ROOT / "var" / "bench-import.out"
    t0 = time.perf_counter()
    with out_path.open("w") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    cpu[0] = usage.ru_utime + usage.ru_stime
    proc.returncode = os.waitstatus_to_exitcode(status)
    text = out_path.read_text()
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"{cmd[4:6]} exited {proc.returncode}: {text[-2000:]}")
    return seconds, usage.ru_maxrss // 1024, text


cpu = [0.0]


def total(text: str, pattern: str) -> int:
    m = re.search(pattern, text)
    return int(m.group(1).replace(",", "")) if m else -1


async def bench(
    placements: int, changes: int, clients: int, via: str, lanes: str, bootstrap: str, dsn: str
) -> None:
    data = ROOT / "var" / "bench"
    data.mkdir(parents=True, exist_ok=True)
    csv_path = data / f"bullhorn-{placements}-{changes}-{clients}.csv"
    mapping = data / "bullhorn-mapping.yaml"
    mapping.write_text(MAPPING)
    if not csv_path.exists():
        with csv_path.open("w", newline="") as f:
            # Each placement has 1 to `changes` later rate rows (on average (1 + changes) / 2
            # more rows); with 0, one in five has one.
            rows = placements * (3 + changes) // 2 if changes else placements * 6 // 5
            bullhorn.write(f, rows, seed=placements, changes=changes, clients=clients)
    rows = sum(1 for _ in csv_path.open()) - 1
    stack = OwnStack(bootstrap, dsn, name="imp", processes=("writer", "projector", "risk", "api"))
    await stack.start()
    try:
        env = {**stack.env(), "LEDGER_API_URL": stack.url, "LEDGER_TOKEN": stack.admin_token}
        base = [sys.executable, "-m", "services.cli", "import", "placements", str(csv_path),
                "--mapping", str(mapping), "--no-progress", "--lanes", lanes]  # fmt: skip

        def line(events: str, step: str, s: float, per_s: str, rss: int, before: str) -> None:
            cells = [f"{placements:,}", f"{rows:,}", events, step, f"{s:.1f}", f"{rows / s:,.0f}",
                     per_s, str(rss), f"{cpu[0]:.1f}", f"{before} / {load()}"]  # fmt: skip
            print("| " + " | ".join(cells) + " |", flush=True)

        before = load()
        s, rss, out = timed([*base, "--dry-run"], env)
        events = sum(
            total(out, rf"  {t}\s+([\d,]+)")
            for t in ("ContractSigned", "AssignmentStarted", "RatesAdjusted", "AssignmentEnded")
        )
        line(f"{events:,}", "dry run", s, f"{events / s:,.0f}", rss, before)
        before = load()
        s, rss, out = timed([*base, "--via", via], env)
        appended = total(out, r"  total\s+([\d,]+)")
        step = f"import via {via} ({lanes} lanes)"
        line(f"{appended:,}", step, s, f"{appended / s:,.0f}", rss, before)
        before = load()
        s, rss, out = timed([*base, "--via", via], env)
        again = total(out, r"  total\s+([\d,]+)")
        line(f"{again:,} appended", f"rerun via {via}", s, "-", rss, before)
    finally:
        await stack.stop()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--placements", default="5000,50000")
    p.add_argument("--via", default="gateway")
    p.add_argument(
        "--changes", type=int, default=2, help="later rate rows a placement has, at most"
    )
    p.add_argument("--clients", type=int, default=20, help="clients (contracts) of the book")
    p.add_argument("--lanes", default="8", help="lanes of the import (batches in flight)")
    args = p.parse_args()
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", LOCAL_KAFKA)
    dsn = os.environ.get("DATABASE_URL", LOCAL_DATABASE_URL)
    print("| placements | rows | events | step | s | rows/s | events/s | peak RSS MiB | CPU s "
          "| load |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|")
    for via in args.via.split(","):
        for n in (int(x) for x in args.placements.split(",")):
            asyncio.run(bench(n, args.changes, args.clients, via, args.lanes, bootstrap, dsn))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
